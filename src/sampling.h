/*
 * sampling.h: choosing pages to read and turning per-page observations into estimates with confidence intervals.
 *
 * The sample is a prefix of a random permutation of the relation's pages, drawn lazily (sampling.c): its cost and
 * memory follow the pages read, never the relation's size, and any prefix is a simple random sample without
 * replacement, so a scan stopped by a deadline still estimates without bias.  Pages fall into strata (for heaps:
 * all-visible pages, which cannot hold dead tuples, and the others) as they are drawn; the stratum sizes come from
 * the caller (the visibility map's counts), and the estimate is the post-stratified mean with the finite population
 * correction; the 95% interval uses Student's t for the smaller strata.  Heap and index bloat both use it, and it
 * knows nothing about pages beyond "a value per page".
 */
#ifndef APES_SAMPLING_H
#define APES_SAMPLING_H

#include "postgres.h"
#include "common/pg_prng.h"
#include "datatype/timestamp.h"
#include "storage/block.h"

#define APES_MAX_STRATA 2
#define APES_MAX_SAMPLE_PAGES 100000000

/* One stratum: its size and the sums of the values observed on its sampled pages. */
typedef struct ApesStratum
{
	int64		npages;			/* N_h */
	int64		nsampled;		/* n_h: pages of the stratum observed so far */
	double		sum;			/* sum of the observed values */
	double		sumsq;			/* sum of their squares */
} ApesStratum;

/* A sampling plan over the pages 0 .. nblocks - 1 of a relation. */
typedef struct ApesSample
{
	ApesStratum strata[APES_MAX_STRATA];
	int			nstrata;
	pg_prng_state prng;
	BlockNumber nblocks;		/* the population */
	int64		ndrawn;			/* positions of the permutation drawn so far */
	struct apes_moved_hash *moved;	/* the lazy permutation's displaced positions (sampling.c) */
	TimestampTz deadline;		/* stop reading once it has passed (0: no deadline) */
	bool		stopped;		/* the deadline stopped a visit before its end */
	bool		final;			/* drawn in one sorted pass: no more pages can be added */
} ApesSample;

/* An estimate of the population mean of the per-page value, with its 95% interval. */
typedef struct ApesEstimate
{
	double		mean;
	double		low;
	double		high;
	int64		nsampled;
} ApesEstimate;

/* Reads one sampled page and records it with apes_sample_observe() in the page's stratum. */
typedef void (*ApesPageVisitor) (void *arg, BlockNumber blk);

extern int64 apes_sample_pages_arg(bool isnull, int32 arg);
extern void apes_sample_init(ApesSample *s, int nstrata, uint64 seed, BlockNumber nblocks, TimestampTz deadline);
extern void apes_sample_visit(ApesSample *s, int64 n, ApesPageVisitor visit, void *arg);
extern void apes_sample_observe(ApesSample *s, int stratum, double value);
extern ApesEstimate apes_sample_estimate(ApesSample *s);
extern ApesEstimate apes_strata_estimate(ApesStratum *strata, int nstrata);
extern int64 apes_sample_size_for(ApesSample *s, double halfwidth, int64 floor_n);

#endif							/* APES_SAMPLING_H */
