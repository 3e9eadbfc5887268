/*
 * bloat.h: what the bloat modules share: a measurement of one relation's pages (heap_bloat.c, index_bloat.c), a
 * catalog-only estimate (bloat_estimate.c), and the findings built from both (bloat_findings.c).
 */
#ifndef APES_BLOAT_H
#define APES_BLOAT_H

#include "postgres.h"

#include "access/htup_details.h"
#include "storage/bufpage.h"
#include "utils/rel.h"

#include "catalog.h"
#include "sampling.h"

/* A measurement of one relation's pages, sampled or exact. */
typedef struct ApesBloatMeasure
{
	int64		nblocks;		/* pages of the relation; -1 when it was not measured */
	int64		pages_read;
	double		dead_bytes;		/* removable now (heap only) */
	double		rdead_bytes;	/* deleted but still visible to some snapshot (heap only) */
	double		wasted_bytes;	/* estimate of the whole relation's waste */
	ApesEstimate e;				/* wasted fraction with its 95% interval */
} ApesBloatMeasure;

/* How a quick measurement went. */
typedef enum ApesMeasureResult
{
	APES_MEASURED,
	APES_MEASURE_LOCKED,		/* a lock could not be had without waiting */
	APES_MEASURE_SKIPPED,		/* gone, or not measurable now (unlogged during recovery, another kind) */
	APES_MEASURE_OUT_OF_TIME,	/* the deadline came before enough pages were read */
	APES_MEASURED_BUT_TOAST		/* the table measured, its TOAST table not: the deadline came first */
} ApesMeasureResult;

/* A sample the deadline stopped is still used when it read at least this many pages. */
#define APES_MIN_STOPPED_PAGES 30

/* The transaction and multixact ids a heap tuple of one relation may carry (page_check.c). */
typedef struct ApesXidBounds
{
	TransactionId oldest_xid;	/* relfrozenxid, or the cluster's oldest where the relation has none */
	TransactionId next_xid;		/* read again when a tuple seems newer */
	MultiXactId oldest_mxid;	/* relminmxid, or the cluster's oldest */
	MultiXactId next_mxid;		/* read again when a tuple seems newer */
} ApesXidBounds;

/* page_check.c: checks of what the page readers read (errors XX001/XX002 name the relation and block) */
extern void apes_page_corrupted(Relation rel, BlockNumber blk, const char *what);
extern void apes_check_page_header(Relation rel, BlockNumber blk, Page page);
extern void apes_check_heap_page(Relation rel, BlockNumber blk, Page page);
extern void apes_check_index_page(Relation idx, BlockNumber blk, Page page);
extern void apes_check_item(Relation rel, BlockNumber blk, Page page, OffsetNumber off, Size min_len);
extern void apes_xid_bounds_init(ApesXidBounds *b, Relation rel);
extern void apes_check_heap_tuple(Relation rel, BlockNumber blk, OffsetNumber off, HeapTupleHeader tup,
								  unsigned len, ApesXidBounds *b);

/*
 * heap_bloat.c: a table and its TOAST table, never waiting for a lock, reading until the deadline at most;
 * toast->nblocks < 0 when there is none or it was not measured.
 */
extern ApesMeasureResult apes_measure_table_quick(Oid relid, int64 sample_pages, TimestampTz deadline,
												  ApesBloatMeasure *heap, ApesBloatMeasure *toast);

/* index_bloat.c: a valid btree index, never waiting for a lock, reading until the deadline at most. */
extern ApesMeasureResult apes_measure_index_quick(Oid indexoid, int64 sample_pages, TimestampTz deadline,
												  ApesBloatMeasure *m);

/* Why a catalog estimate may be wrong: bits of ApesBloatEstimate.flags, named by apes_estimate_flag_names(). */
#define APES_EST_NO_STATS		0x01	/* never analyzed, or columns without statistics */
#define APES_EST_STALE			0x02	/* many rows changed since the last ANALYZE */
#define APES_EST_HIDDEN			0x04	/* the caller may not see some column's statistics */
#define APES_EST_TOAST_HEAVY	0x08	/* wide, TOASTed or compressed values: widths vary a lot */
#define APES_EST_DEDUP			0x10	/* btree deduplication likely packs duplicates tighter than the model */
#define APES_EST_NO_MODEL		0x20	/* no size model for this access method */
#define APES_EST_TOAST_CHUNKS	0x40	/* TOAST: last chunks of values are shorter than the model's full chunks */
#define APES_EST_SMALL			0x80	/* too few pages for a percentage to mean much */
#define APES_EST_NFLAGS 8

/* A catalog-only estimate of one relation's bloat. */
typedef struct ApesBloatEstimate
{
	ApesRel    *rel;			/* the table or index (for TOAST: the owning table) */
	Oid			relid;			/* the relation estimated (for TOAST: the TOAST table) */
	const char *kind;			/* "table", "matview", "toast" or "index" */
	int64		bytes;			/* current size on disk */
	double		est_tuples;		/* -1 when unknown */
	double		expected_pages; /* pages a fresh copy would take; -1 when unknown */
	int64		wasted_bytes;	/* -1 when unknown */
	double		wasted_pct;
	int			flags;
} ApesBloatEstimate;

/* bloat_estimate.c */
extern bool apes_stats_visible(ApesRel *rel, AttrNumber attnum, int *memo);
extern bool apes_estimate_wanted(ApesRel *rel);
extern void apes_estimate_table(ApesRel *table, ApesBloatEstimate *heap, ApesBloatEstimate *toast);
extern void apes_estimate_index(ApesRel *index, ApesBloatEstimate *est);
extern const char *apes_estimate_flag_name(int bit);
extern Datum apes_estimate_flags_datum(int flags);

#endif							/* APES_BLOAT_H */
