#!/usr/bin/env python3
"""Offline simulation of apes.table_bloat()'s sampled mode on the benchmark's real page values.

    BENCH_EXPORT_DIR=/tmp/bloat bench/bloat/run.sh          # writes /tmp/bloat/pages.csv (and report.txt)
    bench/bloat/simulate.py /tmp/bloat/pages.csv [trials] [designs] [scenarios]

pages.csv has one line per page of every sampled relation: scenario, relation, all_visible (0/1) and the page's
value (wasted bytes / BLCKSZ), rebuilt with pageinspect by measure.sql and checked against apes' exact total by
report.sql.  This script re-implements the sampling of src/sampling.c and src/heap_bloat.c (two strata from the
visibility map, Fisher-Yates prefixes, proportional allocation with at least 2 pages a stratum, a 300-page pilot,
then n = n0 / (1 + n0/N) with n0 = 1.96^2 * sum W_h s_h^2 / 0.01^2, at least 300; stratified mean, variance
sum W_h^2 (1 - n_h/N_h) s_h^2 / n_h, Student t at Satterthwaite's degrees of freedom), so that the coverage of its
95% interval can be measured on thousands of samples, and alternatives compared on the same pages:

    apes         the extension as it is (its coverage here should match the 100-seed run of the benchmark)
    pilotK       the pilot is K pages from EACH stratum (or the whole stratum), not K in total; the rest as apes
    fixedN       no pilot: N pages in total, allocated as apes does (separates the stopping rule's effect)

Pure Python (no numpy); 1,000 trials of the 20,000-page tables take a few seconds per design.
"""
import csv
import math
import random
import sys
from collections import defaultdict

T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]
Z = 1.959964


def t975(df):
    df = max(df, 1.0)
    if df <= 30:
        return T975[int(math.floor(df)) - 1]
    return Z + (Z ** 3 + Z) / (4 * df) + (5 * Z ** 5 + 16 * Z ** 3 + 3 * Z) / (96 * df * df)


def variance(xs):
    n = len(xs)
    if n < 2:
        return 0.0
    m = sum(xs) / n
    return max(sum((x - m) ** 2 for x in xs) / (n - 1), 0.0)


def estimate(strata, obs):
    """Stratified mean and 95% half-width, as apes_strata_estimate()."""
    total = sum(len(s) for s in strata)
    mean = var = num = den = 0.0
    for s, o in zip(strata, obs):
        if not o:
            continue
        w = len(s) / total
        mean += w * sum(o) / len(o)
        a = w * w * (1 - len(o) / len(s)) * variance(o) / len(o)
        var += a
        if len(o) > 1 and a > 0:
            num += a
            den += a * a / (len(o) - 1)
    if var <= 0:
        return mean, 0.0
    return mean, t975(num * num / den if den > 0 else 1.0) * math.sqrt(var)


def allocate(strata, n):
    total = sum(len(s) for s in strata)
    return [min(max(math.ceil(n * len(s) / total), min(2, len(s))), len(s)) for s in strata]


def one_sample(strata, rng, design):
    total = sum(len(s) for s in strata)
    # a random prefix of each stratum is a simple random sample; 10,000 pages is more than any design reads here
    perm = [rng.sample(s, min(len(s), 10000)) for s in strata]
    if design.startswith('fixed'):
        obs = [p[:w] for p, w in zip(perm, allocate(strata, int(design[5:])))]
        return estimate(strata, obs) + (sum(map(len, obs)),)
    if design.startswith('pilot'):
        want = [min(int(design[5:]), len(s)) for s in strata]
    else:
        want = allocate(strata, 300)
    obs = [p[:w] for p, w in zip(perm, want)]
    sw2 = sum(len(s) / total * variance(o) for s, o in zip(strata, obs))
    n0 = Z * Z * sw2 / (0.01 * 0.01)
    n = max(math.ceil(n0 / (1 + n0 / total)), 300)
    want = [max(a, b) for a, b in zip(want, allocate(strata, n))]
    obs = [p[:w] for p, w in zip(perm, want)]
    return estimate(strata, obs) + (sum(map(len, obs)),)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    trials = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    designs = sys.argv[3].split(',') if len(sys.argv) > 3 else ['apes', 'pilot1000']
    wanted = sys.argv[4].split(',') if len(sys.argv) > 4 else None
    pages = defaultdict(lambda: ([], []))
    for scenario, rel, av, value in csv.reader(open(sys.argv[1])):
        pages[(scenario, rel)][0 if av in ('1', 't', 'true') else 1].append(float(value))
    print(f"{'scenario':20s} {'relation':24s} {'design':10s} {'coverage':>8s} {'mean half':>9s} {'MAE':>6s} "
          f"{'bias':>7s} {'max err':>7s} {'pages':>6s}")
    for (scenario, rel), strata in sorted(pages.items()):
        if wanted and scenario not in wanted:
            continue
        strata = [s for s in strata]
        exact = sum(map(sum, strata)) / sum(map(len, strata))
        for design in designs:
            rng = random.Random(20261128)
            covered, errs, halves, read = 0, [], [], 0
            for _ in range(trials):
                m, h, n = one_sample(strata, rng, design)
                covered += m - h <= exact <= m + h
                errs.append(100 * (m - exact))
                halves.append(100 * h)
                read += n
            print(f"{scenario:20s} {rel:24s} {design:10s} {100 * covered / trials:7.1f}% {sum(halves) / trials:9.3f} "
                  f"{sum(map(abs, errs)) / trials:6.3f} {sum(errs) / trials:+7.3f} {max(map(abs, errs)):7.3f} "
                  f"{read / trials:6.0f}")


if __name__ == '__main__':
    main()
