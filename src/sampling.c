/*
 * sampling.c: simple random sampling of pages, post-stratified, and its estimator.
 *
 * The pages read are a prefix of a random permutation of all pages, drawn lazily (apes_sample_draw), so a sample
 * costs what it reads on a relation of any size, and each stratum's pages among them are a simple random sample of
 * that stratum.  The estimate of the mean per-page value is the stratified mean  sum_h W_h * ybar_h  with
 * W_h = N_h / N, and its variance  sum_h W_h^2 * (1 - n_h / N_h) * s_h^2 / n_h  (Cochran, Sampling Techniques, 5.3,
 * 5.7 and 5A.9 for post-stratification). A stratum read whole contributes no variance; one the sample missed is
 * given the other strata's mean and the whole range its weight could move the mean by. The 95% interval is
 * mean +- t * sqrt(variance), with t taken at the effective degrees of freedom of Satterthwaite's approximation (at
 * least 1), so small samples get wider intervals.
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/sampling.h"
#include "utils/timestamp.h"

#include "sampling.h"

/*
 * The sample_pages argument of the page readers, checked: 0 (size it automatically) when it is NULL; else between 1
 * and APES_MAX_SAMPLE_PAGES, or a 22023 error whose hint gives the two other ways.
 */
int64
apes_sample_pages_arg(bool isnull, int32 arg)
{
	if (isnull)
		return 0;
	if (arg < 1 || arg > APES_MAX_SAMPLE_PAGES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sample_pages must be between 1 and %d", APES_MAX_SAMPLE_PAGES),
				 errhint("Leave it NULL to size the sample for about +-1 percentage point at 95%%, or pass exact => true to read every page.")));
	return arg;
}

/* The lazy permutation's displaced positions: position -> the block now there (simplehash, like catalog.c's). */
typedef struct ApesMoved
{
	uint32		pos;
	uint32		blk;
	char		status;
} ApesMoved;

#define SH_PREFIX apes_moved
#define SH_ELEMENT_TYPE ApesMoved
#define SH_KEY_TYPE uint32
#define SH_KEY pos
#define SH_HASH_KEY(tb, key) murmurhash32(key)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

#define APES_VISIT_BATCH 32			/* pages drawn, sorted and read between two deadline checks */
#define APES_LAZY_MAX_PAGES 65536	/* larger one-shot samples use the server's BlockSampler instead */

/*
 * An empty plan over nblocks pages with nstrata strata (all pages in stratum 0 until the caller sets the sizes) and
 * a random generator: seeded when seed != 0, from a strong source otherwise.  deadline 0: none.
 */
void
apes_sample_init(ApesSample *s, int nstrata, uint64 seed, BlockNumber nblocks, TimestampTz deadline)
{
	memset(s, 0, sizeof(ApesSample));
	s->nstrata = nstrata;
	s->nblocks = nblocks;
	s->strata[0].npages = nblocks;
	s->deadline = deadline;
	if (seed != 0)
		pg_prng_seed(&s->prng, seed);
	else if (!pg_prng_strong_seed(&s->prng))
		pg_prng_seed(&s->prng, (uint64) MyProcPid ^ (uint64) GetCurrentTimestamp());
}

/* The block at a position of the permutation: the one a swap put there, else the position's own. */
static BlockNumber
apes_block_at(ApesSample *s, uint32 pos)
{
	ApesMoved  *m = apes_moved_lookup(s->moved, pos);

	return m != NULL ? m->blk : (BlockNumber) pos;
}

/*
 * The next page of a random permutation of all pages, by Fisher-Yates done lazily (Durstenfeld's swap, with only the
 * positions a swap touched kept in a hash): memory and time follow the pages drawn, not the relation's size.
 */
static BlockNumber
apes_sample_draw(ApesSample *s)
{
	uint32		i = (uint32) s->ndrawn;
	uint32		j = (uint32) pg_prng_uint64_range(&s->prng, i, (uint64) s->nblocks - 1);
	BlockNumber at_i = apes_block_at(s, i);
	BlockNumber at_j = j == i ? at_i : apes_block_at(s, j);
	bool		found;

	if (j != i)
		apes_moved_insert(s->moved, j, &found)->blk = at_i;
	apes_moved_delete(s->moved, i);		/* position i is never looked at again */
	s->ndrawn++;
	return at_j;
}

/* Block numbers in ascending order, so that a batch is read in file order. */
static int
apes_block_cmp(const void *a, const void *b)
{
	BlockNumber x = *(const BlockNumber *) a;
	BlockNumber y = *(const BlockNumber *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/* Has the plan's deadline passed?  Then the visit stops, and says so in s->stopped. */
static bool
apes_deadline_passed(ApesSample *s)
{
	if (s->deadline == 0 || GetCurrentTimestamp() < s->deadline)
		return false;
	s->stopped = true;
	return true;
}

/* Every page, in block order (an exact scan: no plan to keep). */
static void
apes_visit_all(ApesSample *s, ApesPageVisitor visit, void *arg)
{
	for (BlockNumber blk = 0; blk < s->nblocks; blk++)
		visit(arg, blk);		/* the visitor checks for interrupts */
	s->ndrawn = s->nblocks;
	s->final = true;
}

/*
 * A large sample in one pass, with the server's own sampler (Knuth's Algorithm S, as ANALYZE uses it): pages in
 * block order, constant memory; no pages can be added afterwards.
 */
static void
apes_visit_block_sampler(ApesSample *s, int64 n, ApesPageVisitor visit, void *arg)
{
	BlockSamplerData bs;

	BlockSampler_Init(&bs, s->nblocks, (int) n, pg_prng_uint32(&s->prng));
	while (BlockSampler_HasMore(&bs))
	{
		visit(arg, BlockSampler_Next(&bs));		/* the visitor checks for interrupts */
		s->ndrawn++;
	}
	s->final = true;
}

/*
 * Read the sample up to n pages in all (never more than the relation has): the next pages of the permutation, in
 * sorted batches, checking for interrupts and the deadline between batches, so that a stopped sample is still a
 * prefix of the permutation.  An exact read of every page without a deadline goes in block order, and a large
 * one-shot sample through BlockSampler.
 */
void
apes_sample_visit(ApesSample *s, int64 n, ApesPageVisitor visit, void *arg)
{
	BlockNumber batch[APES_VISIT_BATCH];
	int64		target = Min(n, (int64) s->nblocks);

	if (s->final || s->stopped || target <= s->ndrawn)
		return;
	if (s->ndrawn == 0 && s->deadline == 0 && target == s->nblocks)
	{
		apes_visit_all(s, visit, arg);
		return;
	}
	if (s->ndrawn == 0 && s->deadline == 0 && target > APES_LAZY_MAX_PAGES)
	{
		apes_visit_block_sampler(s, target, visit, arg);
		return;
	}
	if (s->moved == NULL)
		s->moved = apes_moved_create(CurrentMemoryContext, Min(target, APES_LAZY_MAX_PAGES), NULL);
	while (s->ndrawn < target)
	{
		int			k = (int) Min(target - s->ndrawn, APES_VISIT_BATCH);

		CHECK_FOR_INTERRUPTS();
		if (apes_deadline_passed(s))
			return;
		for (int i = 0; i < k; i++)
			batch[i] = apes_sample_draw(s);
		qsort(batch, k, sizeof(BlockNumber), apes_block_cmp);
		for (int i = 0; i < k; i++)
			visit(arg, batch[i]);
	}
}

/* Record the value observed on the next sampled page of a stratum. */
void
apes_sample_observe(ApesSample *s, int stratum, double value)
{
	ApesStratum *st = &s->strata[stratum];

	st->nsampled++;
	st->sum += value;
	st->sumsq += value * value;
}

/*
 * The variance s_h^2 used for a stratum: its sample variance, but, while part of the stratum is unread, never less
 * than that of a stratum where a rare kind of page the sample missed differs from the rest as much as a page can
 * (per-page values lie in [0, 1]): a share p = 3/n of such pages (the rule of three: the 95% upper bound for something
 * never seen in n draws).  Without this floor a sample of identical pages claims zero variance and a zero-width
 * interval, which the benchmark caught missing the truth on tables with a thin band of half-emptied pages between
 * deleted ranges (bench/bloat).  Fully read strata have no sampling error and keep their true variance.
 */
static double
apes_stratum_variance(ApesStratum *st)
{
	double		n = (double) st->nsampled;
	double		var;
	double		mean;
	double		p;
	double		d;

	if (st->nsampled < 1)
		return 0.0;
	var = st->nsampled < 2 ? 0.0 : Max((st->sumsq - st->sum * st->sum / n) / (n - 1.0), 0.0);
	if (st->nsampled >= st->npages)
		return var;
	if (st->nsampled < 2)
		return 0.25;			/* one page says nothing of the spread: the largest a value in [0, 1] can have */
	mean = st->sum / n;
	p = Min(1.0, 3.0 / n);
	d = Max(mean, 1.0 - mean);
	return Max(var, p * (1.0 - p) * d * d);
}

/* Two-sided 95% quantile of Student's t with df degrees of freedom (exact table to 30, then a series). */
static double
apes_t975(double df)
{
	static const double table[] = {
		12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
		2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
		2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042
	};

	if (df < 1.0)
		df = 1.0;
	if (df <= 30.0)
		return table[(int) floor(df) - 1];
	/* Cornish-Fisher expansion around the normal quantile 1.959964 */
	return 1.959964 + (1.959964 * 1.959964 * 1.959964 + 1.959964) / (4.0 * df) +
		(5.0 * pow(1.959964, 5) + 16.0 * pow(1.959964, 3) + 3.0 * 1.959964) / (96.0 * df * df);
}

/* The stratified mean of the observed values, with its 95% interval. */
ApesEstimate
apes_sample_estimate(ApesSample *s)
{
	return apes_strata_estimate(s->strata, s->nstrata);
}

/*
 * The stratified mean over any set of strata, with its 95% interval: the strata of one sample, or those of several
 * relations' samples taken independently (a partitioned table's leaves), which is the same estimator.
 */
ApesEstimate
apes_strata_estimate(ApesStratum *strata, int nstrata)
{
	ApesEstimate e = {0, 0, 0, 0};
	double		total = 0.0;
	double		seen = 0.0;		/* weight of the strata the sample reached */
	double		unseen;
	double		half;
	double		var = 0.0;
	double		df_num = 0.0;
	double		df_den = 0.0;

	/* a stratum never holds fewer pages than were read in it (the visibility map can change during a scan) */
	for (int h = 0; h < nstrata; h++)
		total += Max(strata[h].npages, strata[h].nsampled);
	if (total <= 0)
		return e;
	for (int h = 0; h < nstrata; h++)
	{
		ApesStratum *st = &strata[h];
		double		npages = Max(st->npages, st->nsampled);
		double		w = npages / total;
		double		fpc;
		double		a;

		if (st->nsampled == 0)
			continue;
		seen += w;
		e.mean += w * st->sum / st->nsampled;
		e.nsampled += st->nsampled;
		fpc = Max(0.0, 1.0 - (double) st->nsampled / npages);
		a = w * w * fpc * apes_stratum_variance(st) / st->nsampled;
		var += a;
		if (st->nsampled > 1 && a > 0)
		{
			df_num += a;
			df_den += a * a / (st->nsampled - 1);
		}
	}
	if (e.nsampled == 0)
		return e;
	/* strata the sample missed get the others' mean; the interval widens by all that their weight could move it */
	unseen = Max(0.0, 1.0 - seen);
	e.mean /= seen;
	var /= seen * seen;			/* the variance of the mean over the strata seen, renormalised as that mean is */
	half = var > 0 ? apes_t975(df_den > 0 ? df_num * df_num / df_den : 1.0) * sqrt(var) : 0.0;
	e.low = e.mean - half - unseen * e.mean;
	e.high = e.mean + half + unseen * (1.0 - e.mean);
	return e;
}

/*
 * Total sample size that brings the 95% half-width down to halfwidth, from the variances observed so far
 * (proportional allocation, with the finite population correction), never below floor_n.
 */
int64
apes_sample_size_for(ApesSample *s, double halfwidth, int64 floor_n)
{
	double		total = (double) s->nblocks;
	double		sw2 = 0.0;
	double		n0;
	double		n;

	if (total <= 0)
		return 0;
	for (int h = 0; h < s->nstrata; h++)
	{
		ApesStratum *st = &s->strata[h];

		/* a stratum not reached yet has an unknown spread: the largest possible */
		sw2 += (st->npages / total) * (st->nsampled > 0 ? apes_stratum_variance(st) : st->npages > 0 ? 0.25 : 0.0);
	}
	n0 = 1.959964 * 1.959964 * sw2 / (halfwidth * halfwidth);
	n = n0 / (1.0 + n0 / total);
	return Max((int64) ceil(n), floor_n);
}
