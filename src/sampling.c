/*
 * sampling.c: stratified simple random sampling of pages, and its estimator.
 *
 * The estimate of the mean per-page value is the stratified mean  sum_h W_h * ybar_h  with W_h = N_h / N, and its
 * variance  sum_h W_h^2 * (1 - n_h / N_h) * s_h^2 / n_h  (Cochran, Sampling Techniques, 5.3 and 5.7). A stratum read
 * whole contributes no variance. The 95% interval is mean +- t * sqrt(variance), with t taken at the effective
 * degrees of freedom of Satterthwaite's approximation (at least 1), so small samples get wider intervals.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"
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

/* An empty plan with nstrata strata and a random generator: seeded when seed != 0, from a strong source otherwise. */
void
apes_sample_init(ApesSample *s, int nstrata, uint64 seed)
{
	memset(s, 0, sizeof(ApesSample));
	s->nstrata = nstrata;
	if (seed != 0)
		pg_prng_seed(&s->prng, seed);
	else if (!pg_prng_strong_seed(&s->prng))
		pg_prng_seed(&s->prng, (uint64) MyProcPid ^ (uint64) GetCurrentTimestamp());
}

/* Put a page into a stratum (pages arrive in block order). */
void
apes_sample_add_page(ApesSample *s, int stratum, BlockNumber blk)
{
	ApesStratum *st = &s->strata[stratum];

	if (st->blocks == NULL)
		st->blocks = palloc(sizeof(BlockNumber) * 1024);
	else if ((st->npages & (st->npages - 1)) == 0 && st->npages >= 1024)
		st->blocks = repalloc_huge(st->blocks, sizeof(BlockNumber) * st->npages * 2);
	st->blocks[st->npages++] = blk;
}

/* Shuffle each stratum's pages (Fisher-Yates), so that any prefix of blocks[] is a simple random sample. */
void
apes_sample_shuffle(ApesSample *s)
{
	for (int h = 0; h < s->nstrata; h++)
	{
		ApesStratum *st = &s->strata[h];

		for (int64 i = st->npages - 1; i > 0; i--)
		{
			int64		j = (int64) pg_prng_uint64_range(&s->prng, 0, (uint64) i);
			BlockNumber t = st->blocks[i];

			st->blocks[i] = st->blocks[j];
			st->blocks[j] = t;
		}
	}
}

/* Pages in all strata. */
int64
apes_sample_total_pages(ApesSample *s)
{
	int64		n = 0;

	for (int h = 0; h < s->nstrata; h++)
		n += s->strata[h].npages;
	return n;
}

/*
 * Split a total sample of n pages over the strata in proportion to their sizes (at least 2 pages from any stratum
 * that has 2, never more than it has).  Returns the total allocated; per_stratum[h] gets each share.
 */
int64
apes_sample_allocate(ApesSample *s, int64 n, int64 *per_stratum)
{
	int64		total = apes_sample_total_pages(s);
	int64		sum = 0;

	for (int h = 0; h < s->nstrata; h++)
	{
		ApesStratum *st = &s->strata[h];
		int64		share = total > 0 ? (int64) ceil((double) n * st->npages / total) : 0;

		share = Max(share, Min(2, st->npages));
		per_stratum[h] = Min(share, st->npages);
		sum += per_stratum[h];
	}
	return sum;
}

/* Block numbers in ascending order, so that a sample is read in file order. */
static int
apes_block_cmp(const void *a, const void *b)
{
	BlockNumber x = *(const BlockNumber *) a;
	BlockNumber y = *(const BlockNumber *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/*
 * Visit the next pages of each stratum's shuffled list, up to want[h] pages in all, in block order; the visitor
 * reads the page and calls apes_sample_observe() once for it.
 */
void
apes_sample_visit(ApesSample *s, const int64 *want, ApesPageVisitor visit, void *arg)
{
	for (int h = 0; h < s->nstrata; h++)
	{
		ApesStratum *st = &s->strata[h];
		int64		from = st->nsampled;
		int64		to = Min(want[h], st->npages);
		BlockNumber *batch;

		if (to <= from)
			continue;
		batch = palloc(sizeof(BlockNumber) * (to - from));
		memcpy(batch, st->blocks + from, sizeof(BlockNumber) * (to - from));
		qsort(batch, to - from, sizeof(BlockNumber), apes_block_cmp);
		for (int64 i = 0; i < to - from; i++)
			visit(arg, h, batch[i]);
		pfree(batch);
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
	double		var = 0.0;
	double		df_num = 0.0;
	double		df_den = 0.0;

	for (int h = 0; h < nstrata; h++)
		total += strata[h].npages;
	if (total <= 0)
		return e;
	for (int h = 0; h < nstrata; h++)
	{
		ApesStratum *st = &strata[h];
		double		w = st->npages / total;
		double		fpc;
		double		a;

		if (st->nsampled == 0)
			continue;
		e.mean += w * st->sum / st->nsampled;
		e.nsampled += st->nsampled;
		fpc = 1.0 - (double) st->nsampled / st->npages;
		a = w * w * fpc * apes_stratum_variance(st) / st->nsampled;
		var += a;
		if (st->nsampled > 1 && a > 0)
		{
			df_num += a;
			df_den += a * a / (st->nsampled - 1);
		}
	}
	if (var > 0)
	{
		double		df = df_den > 0 ? df_num * df_num / df_den : 1.0;
		double		half = apes_t975(df) * sqrt(var);

		e.low = e.mean - half;
		e.high = e.mean + half;
	}
	else
		e.low = e.high = e.mean;
	return e;
}

/*
 * Total sample size that brings the 95% half-width down to halfwidth, from the variances observed so far
 * (proportional allocation, with the finite population correction), never below floor_n.
 */
int64
apes_sample_size_for(ApesSample *s, double halfwidth, int64 floor_n)
{
	double		total = (double) apes_sample_total_pages(s);
	double		sw2 = 0.0;
	double		n0;
	double		n;

	if (total <= 0)
		return 0;
	for (int h = 0; h < s->nstrata; h++)
		sw2 += (s->strata[h].npages / total) * apes_stratum_variance(&s->strata[h]);
	n0 = 1.959964 * 1.959964 * sw2 / (halfwidth * halfwidth);
	n = n0 / (1.0 + n0 / total);
	return Max((int64) ceil(n), floor_n);
}
