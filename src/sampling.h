/*
 * sampling.h: choosing pages to read and turning per-page observations into estimates with confidence intervals.
 *
 * Pages are split into strata (for heaps: all-visible pages, which cannot hold dead tuples, and the others). Each
 * stratum gets a simple random sample without replacement (pg_prng); estimates are stratified means with the finite
 * population correction, and the 95% interval uses Student's t for the smaller strata. Heap and index bloat both use
 * it, and it knows nothing about pages beyond "a value per page".
 */
#ifndef APES_SAMPLING_H
#define APES_SAMPLING_H

#include "postgres.h"
#include "common/pg_prng.h"
#include "storage/block.h"

#define APES_MAX_STRATA 2
#define APES_MAX_SAMPLE_PAGES 100000000

/* One stratum: its pages, and the sums of the observed per-page values. */
typedef struct ApesStratum
{
	BlockNumber *blocks;		/* every page of the stratum */
	int64		npages;			/* N_h */
	int64		nsampled;		/* n_h: pages observed so far (the first n_h of blocks[] after shuffling) */
	double		sum;			/* sum of the observed values */
	double		sumsq;			/* sum of their squares */
} ApesStratum;

/* A sampling plan over a relation's pages. */
typedef struct ApesSample
{
	ApesStratum strata[APES_MAX_STRATA];
	int			nstrata;
	pg_prng_state prng;
} ApesSample;

/* An estimate of the population mean of the per-page value, with its 95% interval. */
typedef struct ApesEstimate
{
	double		mean;
	double		low;
	double		high;
	int64		nsampled;
} ApesEstimate;

/* Reads one sampled page and records it with apes_sample_observe(). */
typedef void (*ApesPageVisitor) (void *arg, int stratum, BlockNumber blk);

extern void apes_sample_visit(ApesSample *s, const int64 *want, ApesPageVisitor visit, void *arg);
extern int64 apes_sample_pages_arg(bool isnull, int32 arg);
extern void apes_sample_init(ApesSample *s, int nstrata, uint64 seed);
extern void apes_sample_add_page(ApesSample *s, int stratum, BlockNumber blk);
extern void apes_sample_shuffle(ApesSample *s);
extern int64 apes_sample_allocate(ApesSample *s, int64 n, int64 *per_stratum);
extern void apes_sample_observe(ApesSample *s, int stratum, double value);
extern ApesEstimate apes_sample_estimate(ApesSample *s);
extern ApesEstimate apes_strata_estimate(ApesStratum *strata, int nstrata);
extern int64 apes_sample_size_for(ApesSample *s, double halfwidth, int64 floor_n);
extern int64 apes_sample_total_pages(ApesSample *s);

#endif							/* APES_SAMPLING_H */
