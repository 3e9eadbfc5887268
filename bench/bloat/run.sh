#!/usr/bin/env bash
# pg_apes_health bloat benchmark: accuracy, interval coverage, speed and cache behaviour of apes.table_bloat() and
# apes.index_bloat() against pgstattuple(), pgstattuple_approx() and pgstatindex().  See bench/bloat/README.md.
#
#   bench/bloat/run.sh                  needs `make install` done first (uses the installed extension)
#   BENCH_BIG=0 bench/bloat/run.sh      quick run without the 1.3 GB pgbench table (about 1 minute; full run ~2)
#
# Outside a cluster it re-executes itself inside a throwaway pg_virtualenv cluster (PostgreSQL 15); inside, it builds
# the database apes_bloat with one table per bloat pattern (scenarios.sql) and, unless BENCH_BIG=0, pgbench_accounts at
# scale 100 with 20% of its rows deleted and 10% updated; measures each (measure.sql); measures uniform_del again after
# an index scan, and three tables again after a VACUUM; runs the cache test; prints the report and the summary of
# targets (report.sql).
#
# Environment (all optional):
#   BENCH_BIG=1          1: build and measure the pgbench table (scale BENCH_SCALE=100: ~1.3 GB); 0: skip it
#   BENCH_PAGES=20000    heap pages of the coverage tables (uniform_del, clustered_del, clustered_novm, skewed_tail)
#   BENCH_MID_PAGES=6000 heap pages of the mid-size tables (fresh, hot_upd, ff70_upd, wide; toast gets 2x in TOAST)
#   BENCH_RUNS=7         measured timing runs per contender (plus one warm-up run each)
#   BENCH_SEEDS=100      seeds of the coverage runs (pg_apes_health.sample_seed = 1 .. BENCH_SEEDS)
#   BENCH_SEED=1         seed of the accuracy table and of the timed sampled calls
#   BENCH_TOL=1.5        accuracy target: |sampled - exact| wasted_pct, in points
#   BENCH_COV=95         coverage target: % of seeds whose 95% interval holds the exact value
#   BENCH_STRICT=1       exit 1 when a target is not met (default 0: only report)
#   BENCH_EXPORT_DIR=dir write dir/report.txt and dir/pages.csv (every sampled relation's per-page values, the
#                        input of bench/bloat/simulate.py)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"

if [[ -z "${PGPORT:-}" || -z "${APES_BENCH_INNER:-}" ]]; then
    command -v pg_virtualenv >/dev/null || { echo "bench: pg_virtualenv not found (apt-get install postgresql-common)" >&2; exit 1; }
    export APES_BENCH_INNER=1
    # -t: cluster files in a temporary directory even as root.  shared_buffers=256MB: the 1.3 GB table is 5x the
    # buffer pool (so every full scan goes through a ring) and the cache test's tables fit.  fsync=off only speeds up
    # the build.  autovacuum=off: the scenarios keep exactly the bloat that was made, and no worker starts mid-timing.
    exec pg_virtualenv -t -v 15 \
        -o shared_preload_libraries=pg_stat_statements \
        -o shared_buffers=256MB \
        -o maintenance_work_mem=256MB \
        -o max_parallel_workers_per_gather=0 \
        -o fsync=off \
        -o autovacuum=off \
        "$SELF" "$@"
fi

BIG=${BENCH_BIG:-1}
SCALE=${BENCH_SCALE:-100}
PAGES=${BENCH_PAGES:-20000}
MID_PAGES=${BENCH_MID_PAGES:-6000}
RUNS=${BENCH_RUNS:-7}
SEEDS=${BENCH_SEEDS:-100}
SEED=${BENCH_SEED:-1}
TOL=${BENCH_TOL:-1.5}
COV=${BENCH_COV:-95}
STRICT=${BENCH_STRICT:-0}
EXPORT_DIR=${BENCH_EXPORT_DIR:-}
DB=apes_bloat
PGBENCH=${PGBENCH:-/usr/lib/postgresql/15/bin/pgbench}

for v in SCALE PAGES MID_PAGES RUNS SEEDS SEED COV; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "bench: BENCH_$v must be a positive integer" >&2; exit 1; }
done
[[ "$TOL" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "bench: BENCH_TOL must be a number" >&2; exit 1; }

WORK=$(mktemp -d /tmp/apes_bloat.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

PSQL=(psql -X -q -v ON_ERROR_STOP=1)
T_START=$(date +%s.%N)
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
step() { printf '   %-58s %7s s (total %s s)\n' "$1" "$(since "$2")" "$(since "$T_START")"; }

echo "== pg_apes_health bloat benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "   server: $("${PSQL[@]}" -d postgres -Atc 'SELECT version()')"
echo "   host:   $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo);" \
     "load at start:$(uptime | sed 's/.*load average://')"
echo "   settings: shared_buffers=$("${PSQL[@]}" -d postgres -Atc 'SHOW shared_buffers'), big=$BIG (scale $SCALE)," \
     "pages=$PAGES mid_pages=$MID_PAGES runs=$RUNS seeds=$SEEDS seed=$SEED tol=$TOL cov=$COV%"

# ---------------------------------------------------------------------------------------------------------------------
# 1. database, extensions, scenarios
"${PSQL[@]}" -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
export PGDATABASE=$DB
if ! "${PSQL[@]}" -Atc "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_apes_health'" | grep -q 1; then
    echo "bench: extension pg_apes_health is not installed for $(pg_config --version); run 'make install' first." >&2
    exit 1
fi
"${PSQL[@]}" -c "SET client_min_messages = warning" \
    -c "CREATE EXTENSION pg_stat_statements" -c "CREATE EXTENSION pgstattuple" -c "CREATE EXTENSION pg_buffercache" \
    -c "CREATE EXTENSION pg_prewarm" -c "CREATE EXTENSION pageinspect" -c "CREATE EXTENSION pg_visibility" \
    -c "CREATE EXTENSION pg_apes_health"
echo "   extension: pg_apes_health $("${PSQL[@]}" -Atc "SELECT extversion FROM pg_extension WHERE extname = 'pg_apes_health'")" \
     "(library $("${PSQL[@]}" -Atc 'SELECT apes.version()'))"

echo
echo "== building the scenarios"
t=$(now)
"${PSQL[@]}" -v pages="$PAGES" -v mid_pages="$MID_PAGES" -f "$HERE/scenarios.sql"
step "scenario tables built" "$t"

if [[ "$BIG" == 1 ]]; then
    t=$(now)
    # server-side generation (G), then VACUUM (v) and primary keys (p), as pgbench -i does by default
    "$PGBENCH" -i -s "$SCALE" --unlogged-tables -q -I dtGvp "$DB" >"$WORK/pgbench.log" 2>&1 \
        || { cat "$WORK/pgbench.log" >&2; exit 1; }
    step "pgbench -i -s $SCALE --unlogged-tables" "$t"
    t=$(now)
    # 20% of the rows deleted and another 10% updated (abalance: not indexed), chosen by a hash of aid so they are
    # scattered over every page; no VACUUM afterwards (pass 3 adds one).
    "${PSQL[@]}" <<'SQL'
SET client_min_messages = warning;
ALTER TABLE pgbench_accounts SET (autovacuum_enabled = off);
DELETE FROM pgbench_accounts WHERE abs(hashint4(aid)) % 5 = 0;
UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE abs(hashint4(aid)) % 10 = 1;
INSERT INTO bench.scenario VALUES (20, 'pgbench', 'pgbench_accounts', 'after DML, no VACUUM', 1,
    format('pgbench scale %s accounts (VACUUMed by pgbench -i), then 20%% of rows deleted and 10%% updated (abalance)',
           (SELECT count(*) FROM pgbench_branches)), false, true);
INSERT INTO bench.scenario_index VALUES ('pgbench', 'pgbench_accounts_pkey', 1);
SQL
    step "pgbench_accounts: 20% deleted, 10% updated" "$t"
else
    "${PSQL[@]}" -c "UPDATE bench.scenario SET speed_target = true WHERE name = 'uniform_del'"
fi

"${PSQL[@]}" -f "$HERE/measure.sql"

# ---------------------------------------------------------------------------------------------------------------------
# 2. measuring: accuracy, coverage, timing; pass 1 as built, pass 2 after an index scan (uniform_del), pass 3 after a
#    VACUUM of uniform_del, clustered_del and pgbench_accounts
measure_pass() {
    local pass=$1 name t
    for name in $("${PSQL[@]}" -Atc "SELECT name FROM bench.scenario WHERE pass = $pass ORDER BY ord"); do
        t=$(now)
        "${PSQL[@]}" -c "SET pg_apes_health.sample_seed = $SEED" \
            -c "CALL bench.accuracy('$name', $SEED)" \
            -c "CALL bench.page_values('$name')" \
            -c "CALL bench.coverage('$name', $SEEDS, $SEED)" \
            -c "CALL bench.timing('$name', $RUNS)"
        step "$name" "$t"
    done
}

echo
echo "== pass 1: accuracy, $SEEDS-seed coverage, $RUNS timing runs per scenario (as built)"
measure_pass 1

echo
echo "== pass 2: uniform_del after an index scan visited its dead rows (their index entries are now LP_DEAD)"
t=$(now)
"${PSQL[@]}" <<'SQL'
SET client_min_messages = warning;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) FROM bl.uniform_del WHERE id > 0 \gset
INSERT INTO bench.scenario
SELECT ord + 40, name || '+idxscan', rel, 'after DML and an index scan, no VACUUM', 2,
       descr || '; then an index-only scan over the whole key range', false, false, note
  FROM bench.scenario WHERE name = 'uniform_del';
INSERT INTO bench.scenario_index SELECT scenario || '+idxscan', idx, ord FROM bench.scenario_index
 WHERE scenario = 'uniform_del';
SQL
step "index scan" "$t"
measure_pass 2

echo
echo "== pass 3: after a plain VACUUM"
t=$(now)
"${PSQL[@]}" <<'SQL'
SET client_min_messages = warning;
VACUUM bl.uniform_del;
VACUUM bl.clustered_del;
INSERT INTO bench.scenario
SELECT ord + 50, name || '+vac', rel, 'after DML + VACUUM', 3, descr || '; then VACUUM', false, speed_target, note
  FROM bench.scenario WHERE name IN ('uniform_del', 'clustered_del');
INSERT INTO bench.scenario_index SELECT scenario || '+vac', idx, ord FROM bench.scenario_index
 WHERE scenario IN ('uniform_del', 'clustered_del');
SQL
if [[ "$BIG" == 1 ]]; then
    "${PSQL[@]}" <<'SQL'
SET client_min_messages = warning;
VACUUM pgbench_accounts;
INSERT INTO bench.scenario
SELECT ord + 50, name || '+vac', rel, 'after DML + VACUUM', 3, descr || '; then VACUUM', false, speed_target, note
  FROM bench.scenario WHERE name = 'pgbench';
INSERT INTO bench.scenario_index VALUES ('pgbench+vac', 'pgbench_accounts_pkey', 1);
SQL
fi
step "VACUUM" "$t"
measure_pass 3

# ---------------------------------------------------------------------------------------------------------------------
# 3. cache: a prewarmed hot table, then scans of the largest table and of a mid-size table (under shared_buffers/4,
#    where a sequential scan, and so pgstattuple, does not use a ring)
echo
echo "== cache test"
t=$(now)
if [[ "$BIG" == 1 ]]; then BIGREL=pgbench_accounts; else BIGREL=bl.uniform_del; fi
"${PSQL[@]}" <<SQL
SET pg_apes_health.sample_seed = $SEED;
SELECT pg_prewarm('bl.hot') \gset
CALL bench.cache_step(1, 'apes sampled of $BIGREL', '$BIGREL', 'SELECT count(*) FROM apes.table_bloat(''$BIGREL'')');
CALL bench.cache_step(2, 'apes exact of $BIGREL', '$BIGREL',
                      'SELECT count(*) FROM apes.table_bloat(''$BIGREL'', exact => true)');
CALL bench.cache_step(3, 'apes exact of bl.mid', 'bl.mid', 'SELECT count(*) FROM apes.table_bloat(''bl.mid'', exact => true)');
CALL bench.cache_step(4, 'pgstattuple of bl.mid', 'bl.mid', 'SELECT count(*) FROM pgstattuple(''bl.mid'')');
CALL bench.cache_step(5, 'pgstattuple of $BIGREL', '$BIGREL', 'SELECT count(*) FROM pgstattuple(''$BIGREL'')');
SQL
step "cache test" "$t"

# ---------------------------------------------------------------------------------------------------------------------
# 4. report
"${PSQL[@]}" -v seed="$SEED" -v seeds="$SEEDS" -v runs="$RUNS" -v tol="$TOL" -v cov_pct="$COV" \
    -f "$HERE/report.sql" | tee "$WORK/report.out"
echo
echo "   total $(since "$T_START") s; load at end:$(uptime | sed 's/.*load average://')"

if [[ -n "$EXPORT_DIR" ]]; then
    mkdir -p "$EXPORT_DIR"
    cp "$WORK/report.out" "$EXPORT_DIR/report.txt"
    "${PSQL[@]}" -c "\\copy (SELECT scenario, relid::text, all_visible::int, value FROM bench.pages ORDER BY scenario, relid::text, blk) TO '$EXPORT_DIR/pages.csv' CSV"
    echo "   exported $EXPORT_DIR/report.txt and $EXPORT_DIR/pages.csv"
fi

if [[ "$STRICT" == 1 ]] && ! grep -q 'BENCH VERDICT: ALL TARGETS MET' "$WORK/report.out"; then
    echo "bench: targets not met (BENCH_STRICT=1)" >&2
    exit 1
fi
