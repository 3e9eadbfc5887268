/*
 * heap_bloat.c: apes.table_bloat(rel, sample_pages, exact): bloat of a table and of its TOAST table, measured on
 * real pages.
 *
 * Pages are read the way contrib's pgstattuple does it safely: the relation under AccessShareLock (the table before
 * its TOAST table), every page through a BAS_BULKREAD ring (a scan never evicts the hot set), a shared content lock
 * per page, CHECK_FOR_INTERRUPTS before each page.  Each tuple is classified by HeapTupleSatisfiesVacuum() against
 * the relation's oldest non-removable xid: DEAD (VACUUM can remove it now), RECENTLY_DEAD (still visible to some
 * snapshot: a long transaction holds it), or live.
 *
 * Sampled mode reads a random sample of pages (sampling.c), post-stratified: all-visible pages (visibility map)
 * cannot hold dead tuples and form their own stratum, whose size the visibility map counts.  Without sample_pages, a
 * pilot of 300 pages sizes the sample for a 95% interval of about +-1 percentage point on wasted_pct; relations of
 * up to 1,000 pages are read whole.  A report's scan stops at its deadline: what was read is still a random sample.
 */
#include "postgres.h"

#include <math.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/visibilitymap.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "storage/lmgr.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "apes.h"
#include "bloat.h"
#include "sampling.h"

#define APES_BLOAT_NCOLS 17
#define APES_PILOT_PAGES 300
#define APES_READ_WHOLE_PAGES 1000
/* tables larger than this (256 GB of 8 kB pages) are sampled as one stratum: counting their visibility map would
 * read more than a thousand map pages before the first sampled one, without an interrupt check */
#define APES_STRATIFY_MAX_PAGES (UINT64CONST(1) << 25)

/* What one page holds, in tuples and bytes. */
typedef struct PageObservation
{
	double		live_tuples;
	double		dead_tuples;
	double		rdead_tuples;
	double		live_bytes;
	double		dead_bytes;
	double		rdead_bytes;
	double		free_bytes;
	double		wasted_bytes;
} PageObservation;

#define APES_NMETRICS (sizeof(PageObservation) / sizeof(double))

/* One relation's scan: the sampling plan and, per stratum, the sums of every metric over the pages read. */
typedef struct BloatScan
{
	Relation	rel;
	BufferAccessStrategy strategy;
	TransactionId oldest_xmin;
	ApesXidBounds bounds;		/* the ids a tuple may carry (page_check.c) */
	int			reserve;		/* free bytes per page the fillfactor keeps on purpose */
	BlockNumber nblocks;
	Buffer		vmbuffer;		/* the visibility map page last looked at, pinned */
	ApesSample	sample;
	double		sums[APES_MAX_STRATA][APES_NMETRICS];
	int64		pages_read;
} BloatScan;

/* Classify the tuples of one heap page (share lock held) into live, dead and recently dead, and its free space. */
static void
apes_observe_heap_page(BloatScan *bs, Buffer buf, BlockNumber blk, PageObservation *po)
{
	Page		page = BufferGetPage(buf);
	OffsetNumber maxoff;

	memset(po, 0, sizeof(PageObservation));
	if (PageIsNew(page))
	{
		po->free_bytes = BLCKSZ - SizeOfPageHeaderData;
		po->wasted_bytes = Max(po->free_bytes - bs->reserve, 0);
		return;
	}
	apes_check_heap_page(bs->rel, blk, page);

	maxoff = PageGetMaxOffsetNumber(page);
	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off = OffsetNumberNext(off))
	{
		ItemId		id = PageGetItemId(page, off);
		HeapTupleData tup;
		unsigned	len;

		if (!ItemIdIsNormal(id))
			continue;			/* unused, redirected or dead line pointers hold no tuple */
		len = ItemIdGetLength(id);
		apes_check_item(bs->rel, blk, page, off, SizeofHeapTupleHeader);

		tup.t_data = (HeapTupleHeader) PageGetItem(page, id);
		tup.t_len = len;
		apes_check_heap_tuple(bs->rel, blk, off, tup.t_data, len, &bs->bounds);
		tup.t_tableOid = RelationGetRelid(bs->rel);
		ItemPointerSet(&tup.t_self, blk, off);
		switch (HeapTupleSatisfiesVacuum(&tup, bs->oldest_xmin, buf))
		{
			case HEAPTUPLE_DEAD:
				po->dead_tuples++;
				po->dead_bytes += len;
				break;
			case HEAPTUPLE_RECENTLY_DEAD:
				po->rdead_tuples++;
				po->rdead_bytes += len;
				break;
			default:			/* live, or being inserted or deleted right now */
				po->live_tuples++;
				po->live_bytes += len;
				break;
		}
	}
	po->free_bytes = apes_heap_page_free_space(page);
	po->wasted_bytes = po->dead_bytes + po->rdead_bytes + Max(po->free_bytes - bs->reserve, 0);
}

/*
 * Read one page through the ring and add what it holds to its stratum (an ApesPageVisitor): with two strata, 0 when
 * the visibility map says all-visible, else 1.
 */
static void
apes_read_heap_page(void *arg, BlockNumber blk)
{
	BloatScan  *bs = (BloatScan *) arg;
	Buffer		buf;
	PageObservation po;
	double	   *v = (double *) &po;
	int			stratum = 0;

	CHECK_FOR_INTERRUPTS();
	if (bs->sample.nstrata > 1)
		stratum = (visibilitymap_get_status(bs->rel, blk, &bs->vmbuffer) & VISIBILITYMAP_ALL_VISIBLE) ? 0 : 1;
	buf = ReadBufferExtended(bs->rel, MAIN_FORKNUM, blk, RBM_NORMAL, bs->strategy);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	apes_observe_heap_page(bs, buf, blk, &po);
	UnlockReleaseBuffer(buf);

	for (int m = 0; m < APES_NMETRICS; m++)
		bs->sums[stratum][m] += v[m];
	apes_sample_observe(&bs->sample, stratum, po.wasted_bytes / BLCKSZ);
	bs->pages_read++;
}

/*
 * Scan a heap or TOAST relation: everything when exact or small, else a random sample of sample_pages pages, or of
 * the size a pilot says gives about +-1 point; a sample stops at the deadline when one is given (0: none).
 */
static void
apes_bloat_scan(BloatScan *bs, Relation rel, int64 sample_pages, bool exact, TimestampTz deadline)
{
	bool		whole;

	memset(bs, 0, sizeof(BloatScan));
	bs->rel = rel;
	bs->vmbuffer = InvalidBuffer;
	bs->strategy = GetAccessStrategy(BAS_BULKREAD);
	bs->oldest_xmin = GetOldestNonRemovableTransactionId(rel);
	apes_xid_bounds_init(&bs->bounds, rel);
	bs->reserve = RelationGetTargetPageFreeSpace(rel, HEAP_DEFAULT_FILLFACTOR);
	bs->nblocks = RelationGetNumberOfBlocks(rel);
	whole = exact || (sample_pages <= 0 && bs->nblocks <= APES_READ_WHOLE_PAGES) ||
		(sample_pages > 0 && sample_pages >= bs->nblocks);

	/* stratum 0: all-visible pages (no dead tuples possible); stratum 1: the others */
	apes_sample_init(&bs->sample, whole || bs->nblocks > APES_STRATIFY_MAX_PAGES ? 1 : 2,
					 (uint64) apes_sample_seed, bs->nblocks, deadline);
	if (bs->sample.nstrata > 1)
	{
		BlockNumber all_visible = 0;
		BlockNumber all_frozen = 0;

		visibilitymap_count(rel, &all_visible, &all_frozen);
		bs->sample.strata[0].npages = Min(all_visible, bs->nblocks);
		bs->sample.strata[1].npages = bs->nblocks - bs->sample.strata[0].npages;
	}
	if (whole)
		apes_sample_visit(&bs->sample, bs->nblocks, apes_read_heap_page, bs);
	else if (sample_pages > 0)
		apes_sample_visit(&bs->sample, sample_pages, apes_read_heap_page, bs);
	else
	{
		/* a pilot sample, then as many more pages as its variance says +-1 point needs */
		apes_sample_visit(&bs->sample, APES_PILOT_PAGES, apes_read_heap_page, bs);
		apes_sample_visit(&bs->sample, apes_sample_size_for(&bs->sample, 0.01, APES_PILOT_PAGES),
						  apes_read_heap_page, bs);
	}
	if (BufferIsValid(bs->vmbuffer))
		ReleaseBuffer(bs->vmbuffer);
}

/*
 * Estimate of a metric's total over the relation: the sum of N_h times each sampled stratum's mean, scaled up to the
 * whole relation when the sample missed a stratum (the others' per-page mean stands for it).
 */
static double
apes_metric_total(BloatScan *bs, int metric)
{
	double		total = 0.0;
	double		seen_pages = 0.0;

	for (int h = 0; h < bs->sample.nstrata; h++)
	{
		ApesStratum *st = &bs->sample.strata[h];

		if (st->nsampled > 0)
		{
			double		npages = Max(st->npages, st->nsampled);	/* as apes_strata_estimate() counts it */

			total += npages * bs->sums[h][metric] / st->nsampled;
			seen_pages += npages;
		}
	}
	return seen_pages > 0 ? total * bs->nblocks / seen_pages : 0.0;
}

/* What a partitioned table's total row adds up: every leaf's strata (summaries only) and metric totals. */
typedef struct BloatTotal
{
	MemoryContext cxt;			/* where strata lives: it must outlive each leaf's memory context */
	ApesStratum *strata;
	int			nstrata;
	int			capacity;
	double		metrics[APES_NMETRICS];
	int64		nblocks;
	int64		pages_read;
} BloatTotal;

/* Emit one result row. */
static void
apes_emit_row(ReturnSetInfo *rsinfo, Oid relid, const char *kind, int64 nblocks, int64 pages_read,
			  const double *metrics, ApesEstimate e)
{
	Datum		values[APES_BLOAT_NCOLS];
	bool		nulls[APES_BLOAT_NCOLS] = {0};
	bool		exact = pages_read == nblocks;
	int			i = 0;

	values[i++] = ObjectIdGetDatum(relid);
	values[i++] = CStringGetTextDatum(kind);
	values[i++] = Int64GetDatum(nblocks * BLCKSZ);
	values[i++] = Int64GetDatum(nblocks);
	values[i++] = Int64GetDatum(pages_read);
	values[i++] = CStringGetTextDatum(exact ? "exact" : "sampled");
	for (int m = 0; m < APES_NMETRICS; m++)
		values[i++] = Int64GetDatum((int64) llround(metrics[m]));
	if (nblocks == 0)
	{
		nulls[i] = nulls[i + 1] = nulls[i + 2] = true;
		i += 3;
	}
	else
	{
		values[i++] = Float8GetDatum(100.0 * e.mean);
		values[i++] = Float8GetDatum(exact ? 100.0 * e.mean : Max(0.0, 100.0 * e.low));
		values[i++] = Float8GetDatum(exact ? 100.0 * e.mean : Min(100.0, 100.0 * e.high));
	}
	Assert(i == APES_BLOAT_NCOLS);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* Emit the row of one scanned relation, and add its strata and totals to *total when given. */
static void
apes_emit_scan(ReturnSetInfo *rsinfo, BloatScan *bs, const char *kind, BloatTotal *total)
{
	double		metrics[APES_NMETRICS];

	for (int m = 0; m < APES_NMETRICS; m++)
		metrics[m] = apes_metric_total(bs, m);
	apes_emit_row(rsinfo, RelationGetRelid(bs->rel), kind, bs->nblocks, bs->pages_read, metrics,
				  apes_sample_estimate(&bs->sample));
	if (total == NULL)
		return;
	for (int h = 0; h < bs->sample.nstrata; h++)
	{
		if (total->nstrata == total->capacity)
		{
			total->capacity = Max(16, total->capacity * 2);
			total->strata = total->strata == NULL ?
				MemoryContextAlloc(total->cxt, sizeof(ApesStratum) * total->capacity) :
				repalloc(total->strata, sizeof(ApesStratum) * total->capacity);
		}
		total->strata[total->nstrata++] = bs->sample.strata[h];
	}
	for (int m = 0; m < APES_NMETRICS; m++)
		total->metrics[m] += metrics[m];
	total->nblocks += bs->nblocks;
	total->pages_read += bs->pages_read;
}

/*
 * Measure a table (already opened and checked) and its TOAST table, one row each.  Lock: AccessShareLock on the
 * TOAST table, taken after the table's.
 */
static void
apes_measure_table(ReturnSetInfo *rsinfo, Relation rel, int64 sample_pages, bool exact, BloatTotal *total)
{
	BloatScan	bs;

	apes_bloat_scan(&bs, rel, sample_pages, exact, 0);
	apes_emit_scan(rsinfo, &bs, rel->rd_rel->relkind == RELKIND_TOASTVALUE ? "toast" : "heap", total);
	FreeAccessStrategy(bs.strategy);
	if (OidIsValid(rel->rd_rel->reltoastrelid))
	{
		Relation	toast = relation_open(rel->rd_rel->reltoastrelid, AccessShareLock);

		apes_bloat_scan(&bs, toast, sample_pages, exact, 0);
		apes_emit_scan(rsinfo, &bs, "toast", total);
		FreeAccessStrategy(bs.strategy);
		relation_close(toast, AccessShareLock);
	}
}

/*
 * A partitioned table: one pair of rows per leaf partition, then a 'total' row over all of them (its interval
 * combines every leaf's strata).  Locks: the parent's AccessShareLock is held (the caller's); each partition is
 * locked with AccessShareLock only while it is measured, so a long roll-up never holds hundreds of locks that DDL on
 * one partition would queue behind.  Partitions dropped meanwhile are skipped, foreign ones with a notice.  Each leaf
 * is measured in its own memory context.
 */
static void
apes_measure_partitioned(ReturnSetInfo *rsinfo, Relation parent, int64 sample_pages, bool exact)
{
	List	   *children = find_all_inheritors(RelationGetRelid(parent), NoLock, NULL);
	MemoryContext leafcxt = AllocSetContextCreate(CurrentMemoryContext, "apes leaf", ALLOCSET_DEFAULT_SIZES);
	BloatTotal	total;
	ListCell   *lc;

	memset(&total, 0, sizeof(BloatTotal));
	total.cxt = CurrentMemoryContext;
	foreach(lc, children)
	{
		Oid			childoid = lfirst_oid(lc);
		Relation	child;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		if (childoid == RelationGetRelid(parent) || get_rel_relkind(childoid) == RELKIND_PARTITIONED_TABLE)
			continue;
		child = try_relation_open(childoid, AccessShareLock);
		if (child == NULL)
			continue;			/* dropped meanwhile */
		if (child->rd_rel->relkind == RELKIND_FOREIGN_TABLE)
			ereport(NOTICE,
					(errmsg("skipping foreign partition \"%s\"", RelationGetRelationName(child))));
		else if (child->rd_rel->relkind == RELKIND_RELATION)
		{
			old = MemoryContextSwitchTo(leafcxt);
			apes_measure_table(rsinfo, child, sample_pages, exact, &total);
			MemoryContextSwitchTo(old);
			MemoryContextReset(leafcxt);
		}
		relation_close(child, AccessShareLock);
	}
	apes_emit_row(rsinfo, RelationGetRelid(parent), "total", total.nblocks, total.pages_read, total.metrics,
				  apes_strata_estimate(total.strata, total.nstrata));
	MemoryContextDelete(leafcxt);
}

/* Refuse what cannot be measured here: relation kinds without heap pages, and other sessions' temporary tables. */
static void
apes_check_table_kind(Relation rel)
{
	char		relkind = rel->rd_rel->relkind;

	if (relkind != RELKIND_RELATION && relkind != RELKIND_MATVIEW && relkind != RELKIND_TOASTVALUE &&
		relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot measure the bloat of relation \"%s\"", RelationGetRelationName(rel)),
				 errdetail_relkind_not_supported(relkind)));
	if (RELATION_IS_OTHER_TEMP(rel))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot access temporary tables of other sessions")));
}

PG_FUNCTION_INFO_V1(apes_table_bloat);

/*
 * apes.table_bloat(rel regclass, sample_pages integer DEFAULT NULL, exact boolean DEFAULT false): one row for the
 * table and one for its TOAST table; for a partitioned table, those of every leaf and a total.  Lock: AccessShareLock
 * on the table, then on its partitions and TOAST tables.
 */
Datum
apes_table_bloat(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid;
	int64		sample_pages;
	bool		exact = !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	Relation	rel;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation must not be null")));
	relid = PG_GETARG_OID(0);
	sample_pages = apes_sample_pages_arg(PG_ARGISNULL(1), PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1));

	apes_init_materialized_srf(fcinfo);
	rel = try_relation_open(relid, AccessShareLock);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	apes_check_table_kind(rel);
	if (RecoveryInProgress() && rel->rd_rel->relpersistence == RELPERSISTENCE_UNLOGGED)
	{
		ereport(NOTICE,
				(errmsg("skipping unlogged relation \"%s\" during recovery", RelationGetRelationName(rel))));
		relation_close(rel, AccessShareLock);
		return (Datum) 0;
	}

	if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
		apes_measure_partitioned(rsinfo, rel, sample_pages, exact);
	else
		apes_measure_table(rsinfo, rel, sample_pages, exact, NULL);
	relation_close(rel, AccessShareLock);
	return (Datum) 0;
}

/* Copy a finished scan into a measurement. */
static void
apes_scan_to_measure(BloatScan *bs, ApesBloatMeasure *m)
{
	m->nblocks = bs->nblocks;
	m->pages_read = bs->pages_read;
	m->dead_bytes = apes_metric_total(bs, offsetof(PageObservation, dead_bytes) / sizeof(double));
	m->rdead_bytes = apes_metric_total(bs, offsetof(PageObservation, rdead_bytes) / sizeof(double));
	m->wasted_bytes = apes_metric_total(bs, offsetof(PageObservation, wasted_bytes) / sizeof(double));
	m->e = apes_sample_estimate(&bs->sample);
}

/*
 * Measure one relation for a report, never waiting: AccessShareLock only if it can be had at once (a report must not
 * queue behind VACUUM FULL or DDL), released when done, like the relation itself.
 */
static ApesMeasureResult
apes_measure_one_quick(Oid relid, int64 sample_pages, TimestampTz deadline, ApesBloatMeasure *m, Oid *toastoid)
{
	Relation	rel;
	BloatScan	bs;

	m->nblocks = -1;
	if (!ConditionalLockRelationOid(relid, AccessShareLock))
		return APES_MEASURE_LOCKED;
	rel = try_relation_open(relid, NoLock);
	if (rel == NULL)
	{
		UnlockRelationOid(relid, AccessShareLock);
		return APES_MEASURE_SKIPPED;
	}
	if ((rel->rd_rel->relkind != RELKIND_RELATION && rel->rd_rel->relkind != RELKIND_MATVIEW &&
		 rel->rd_rel->relkind != RELKIND_TOASTVALUE) || RELATION_IS_OTHER_TEMP(rel) ||
		(RecoveryInProgress() && rel->rd_rel->relpersistence == RELPERSISTENCE_UNLOGGED))
	{
		relation_close(rel, AccessShareLock);
		return APES_MEASURE_SKIPPED;
	}
	if (toastoid != NULL)
		*toastoid = rel->rd_rel->reltoastrelid;
	apes_bloat_scan(&bs, rel, sample_pages, false, deadline);
	FreeAccessStrategy(bs.strategy);
	relation_close(rel, AccessShareLock);
	if (bs.sample.stopped && bs.pages_read < APES_MIN_STOPPED_PAGES)
		return APES_MEASURE_OUT_OF_TIME;
	apes_scan_to_measure(&bs, m);
	return APES_MEASURED;
}

/*
 * A table and its TOAST table, sampled (sample_pages per relation, all of a smaller one) for a report.  Lock:
 * AccessShareLock on the table, then on its TOAST table, each only if free now and only while it is read.
 */
ApesMeasureResult
apes_measure_table_quick(Oid relid, int64 sample_pages, TimestampTz deadline, ApesBloatMeasure *heap,
						 ApesBloatMeasure *toast)
{
	ApesMeasureResult r;
	Oid			toastoid = InvalidOid;

	toast->nblocks = -1;
	r = apes_measure_one_quick(relid, sample_pages, deadline, heap, &toastoid);
	if (r == APES_MEASURED && OidIsValid(toastoid) &&
		apes_measure_one_quick(toastoid, sample_pages, deadline, toast, NULL) == APES_MEASURE_OUT_OF_TIME)
		return APES_MEASURED_BUT_TOAST;
	return r;
}
