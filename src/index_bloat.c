/*
 * index_bloat.c: apes.index_bloat(idx, sample_pages, exact): bloat of an index, measured on its pages.
 *
 * btree: each leaf page's used space (index tuples with their line pointers; a deduplicated posting list counts
 * once, with all its TIDs in live_items) is compared with what a fresh build at the index's fillfactor would put on
 * a page; the shortfall, plus every deleted, half-dead or empty page, is what a REINDEX would give back.  Internal
 * pages and the metapage count as needed.  GIN, GiST, hash and SP-GiST: free space and deleted or empty pages only,
 * labelled so (no fresh-build model for them).  BRIN and other access methods: one row saying not applicable.
 *
 * Locks: AccessShareLock on the table, then on the index (the order the server uses), with the index's table
 * re-checked after locking, as amcheck does.  Pages go through a BAS_BULKREAD ring, share-locked one at a time,
 * CHECK_FOR_INTERRUPTS before each.  Sampling (sampling.c) draws a simple random sample of pages, in memory and
 * time that follow the pages read; a report's scan stops at its deadline.
 */
#include "postgres.h"

#include <math.h>

#include "access/gin_private.h"
#include "access/gist.h"
#include "access/hash.h"
#include "access/nbtree.h"
#include "access/relation.h"
#include "access/spgist_private.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "commands/defrem.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "apes.h"
#include "bloat.h"
#include "sampling.h"

#define APES_IBLOAT_NCOLS 17
#define APES_READ_WHOLE_PAGES 1000
#define APES_PILOT_PAGES 300

/* What a scan of an index adds up. */
typedef struct IndexPageScan
{
	Relation	idx;
	BufferAccessStrategy strategy;
	int			target;			/* bytes a fresh btree build puts on a leaf page */
	ApesSample	sample;
	double		leaf_pages;
	double		deleted_pages;
	double		empty_pages;
	double		live_items;
	double		live_bytes;
	double		free_bytes;
	int64		pages_read;
} IndexPageScan;

/* True for the access methods whose pages this file knows. */
static bool
apes_index_am_known(Oid am)
{
	return am == BTREE_AM_OID || am == GIN_AM_OID || am == GIST_AM_OID || am == HASH_AM_OID || am == SPGIST_AM_OID;
}

/* True when a non-btree page (its special space checked) is deleted or unused, by its access method's own flags. */
static bool
apes_page_deleted(Oid am, Page page)
{
	switch (am)
	{
		case GIN_AM_OID:
			return GinPageIsDeleted(page);
		case GIST_AM_OID:
			return GistPageIsDeleted(page);
		case SPGIST_AM_OID:
			return SpGistPageIsDeleted(page);
		case HASH_AM_OID:
			return (HashPageGetOpaque(page)->hasho_flag & LH_PAGE_TYPE) == LH_UNUSED_PAGE;
		default:
			return false;
	}
}

/* The wasted fraction of one btree page, adding its contents to the scan's totals; every item is checked first. */
static double
apes_observe_btree_page(IndexPageScan *st, Page page, BlockNumber blk)
{
	BTPageOpaque opaque = BTPageGetOpaque(page);
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	double		used = 0.0;

	if (P_ISDELETED(opaque) || P_ISHALFDEAD(opaque))
	{
		st->deleted_pages++;
		return 1.0;
	}
	if (P_ISMETA(opaque) || !P_ISLEAF(opaque))
		return 0.0;
	st->leaf_pages++;
	if (maxoff < P_FIRSTDATAKEY(opaque))
	{
		st->empty_pages++;
		return 1.0;
	}
	for (OffsetNumber off = P_FIRSTDATAKEY(opaque); off <= maxoff; off = OffsetNumberNext(off))
	{
		ItemId		id = PageGetItemId(page, off);
		IndexTuple	itup;

		if (!ItemIdIsUsed(id) || ItemIdIsDead(id))
			continue;			/* LP_DEAD items are garbage VACUUM or the next split removes */
		if (!ItemIdHasStorage(id))
			continue;
		apes_check_item(st->idx, blk, page, off, sizeof(IndexTupleData));
		itup = (IndexTuple) PageGetItem(page, id);
		if (IndexTupleSize(itup) > ItemIdGetLength(id) ||
			(BTreeTupleIsPosting(itup) &&
			 BTreeTupleGetPostingOffset(itup) + BTreeTupleGetNPosting(itup) * sizeof(ItemPointerData) >
			 IndexTupleSize(itup)))
			apes_page_corrupted(st->idx, blk, psprintf("Index tuple %u is longer than its line pointer says.", off));
		used += MAXALIGN(IndexTupleSize(itup)) + sizeof(ItemIdData);
		st->live_items += BTreeTupleIsPosting(itup) ? BTreeTupleGetNPosting(itup) : 1;
	}
	st->live_bytes += used;
	st->free_bytes += PageGetExactFreeSpace(page);
	return Max(0.0, (st->target - used) / st->target);
}

/* The wasted fraction of one page of another access method: its free space, or all of it when deleted or empty. */
static double
apes_observe_other_page(IndexPageScan *st, Page page)
{
	Oid			am = st->idx->rd_rel->relam;
	double		free;

	if (apes_page_deleted(am, page))
	{
		st->deleted_pages++;
		return 1.0;
	}
	free = PageGetExactFreeSpace(page);
	st->free_bytes += free;
	if (PageGetMaxOffsetNumber(page) == 0 && !(am == HASH_AM_OID || am == GIN_AM_OID))
		st->empty_pages++;
	return free / BLCKSZ;
}

/* Read one index page through the ring and record it (an ApesPageVisitor). */
static void
apes_read_index_page(void *arg, BlockNumber blk)
{
	IndexPageScan *st = (IndexPageScan *) arg;
	Buffer		buf;
	Page		page;
	double		wasted;

	CHECK_FOR_INTERRUPTS();
	buf = ReadBufferExtended(st->idx, MAIN_FORKNUM, blk, RBM_NORMAL, st->strategy);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	if (PageIsNew(page))
	{
		st->empty_pages++;
		wasted = 1.0;
	}
	else
	{
		/* header, special space size and page id, before the access method's opaque data is read */
		apes_check_index_page(st->idx, blk, page);
		wasted = st->idx->rd_rel->relam == BTREE_AM_OID ? apes_observe_btree_page(st, page, blk) :
			apes_observe_other_page(st, page);
	}
	UnlockReleaseBuffer(buf);
	apes_sample_observe(&st->sample, 0, wasted);
	st->pages_read++;
}

/* Scale a page-count total observed on the sample to the whole index. */
static int64
apes_scale(IndexPageScan *st, double observed, BlockNumber nblocks)
{
	if (st->pages_read == 0)
		return 0;
	return (int64) llround(observed * nblocks / st->pages_read);
}

/*
 * Read an index's pages (all of them when exact or small, else a simple random sample of sample_pages, or of the
 * size a 300-page pilot says +-1 point needs) into *st; a sample stops at the deadline when one is given (0: none).
 */
static void
apes_index_scan(IndexPageScan *st, Relation idx, BlockNumber nblocks, int64 sample_pages, bool exact,
				TimestampTz deadline)
{
	bool		whole;

	memset(st, 0, sizeof(IndexPageScan));
	st->idx = idx;
	st->strategy = GetAccessStrategy(BAS_BULKREAD);
	st->target = (BLCKSZ - SizeOfPageHeaderData - MAXALIGN(sizeof(BTPageOpaqueData))) *
		(idx->rd_rel->relam == BTREE_AM_OID ? BTGetFillFactor(idx) : 100) / 100;
	whole = exact || (sample_pages <= 0 && nblocks <= APES_READ_WHOLE_PAGES) ||
		(sample_pages > 0 && sample_pages >= nblocks);
	apes_sample_init(&st->sample, 1, (uint64) apes_sample_seed, nblocks, deadline);
	if (whole)
		apes_sample_visit(&st->sample, nblocks, apes_read_index_page, st);
	else if (sample_pages > 0)
		apes_sample_visit(&st->sample, sample_pages, apes_read_index_page, st);
	else
	{
		apes_sample_visit(&st->sample, APES_PILOT_PAGES, apes_read_index_page, st);
		apes_sample_visit(&st->sample, apes_sample_size_for(&st->sample, 0.01, APES_PILOT_PAGES),
						  apes_read_index_page, st);
	}
	FreeAccessStrategy(st->strategy);
}

PG_FUNCTION_INFO_V1(apes_index_bloat);

/*
 * apes.index_bloat(idx regclass, sample_pages integer DEFAULT NULL, exact boolean DEFAULT false).
 * Lock: AccessShareLock on the index's table, then on the index.
 */
Datum
apes_index_bloat(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			indexoid;
	Oid			tableoid;
	int64		sample_pages;
	bool		exact = !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	Relation	table = NULL;
	Relation	idx;
	IndexPageScan st;
	BlockNumber nblocks;
	Datum		values[APES_IBLOAT_NCOLS];
	bool		nulls[APES_IBLOAT_NCOLS] = {0};
	ApesEstimate e;
	bool		whole;
	int			i = 0;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("index must not be null")));
	indexoid = PG_GETARG_OID(0);
	sample_pages = apes_sample_pages_arg(PG_ARGISNULL(1), PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1));
	apes_init_materialized_srf(fcinfo);

	/* the table first, then the index, and check the index still belongs to it once both are locked */
	tableoid = IndexGetRelation(indexoid, true);
	if (OidIsValid(tableoid))
		table = try_relation_open(tableoid, AccessShareLock);
	idx = try_relation_open(indexoid, AccessShareLock);
	if (idx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", indexoid)));
	if (idx->rd_rel->relkind != RELKIND_INDEX)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot measure the bloat of \"%s\" as an index", RelationGetRelationName(idx)),
				 idx->rd_rel->relkind == RELKIND_PARTITIONED_INDEX ?
				 errdetail("A partitioned index has no pages of its own; measure the indexes of its partitions.") :
				 errdetail_relkind_not_supported(idx->rd_rel->relkind)));
	if (table == NULL || IndexGetRelation(indexoid, false) != tableoid)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the table of index \"%s\" changed while it was being opened", RelationGetRelationName(idx))));
	if (RELATION_IS_OTHER_TEMP(idx))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot access temporary indexes of other sessions")));
	if (!idx->rd_index->indisvalid)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index \"%s\" is not valid", RelationGetRelationName(idx)),
				 errhint("REINDEX it, or drop it: apes.findings('index') reports it as index_invalid.")));
	if (RecoveryInProgress() && idx->rd_rel->relpersistence == RELPERSISTENCE_UNLOGGED)
	{
		ereport(NOTICE,
				(errmsg("skipping unlogged index \"%s\" during recovery", RelationGetRelationName(idx))));
		relation_close(idx, AccessShareLock);
		relation_close(table, AccessShareLock);
		return (Datum) 0;
	}

	nblocks = RelationGetNumberOfBlocks(idx);
	values[i++] = ObjectIdGetDatum(indexoid);
	values[i++] = CStringGetTextDatum(get_am_name(idx->rd_rel->relam));
	values[i++] = Int64GetDatum((int64) nblocks * BLCKSZ);
	values[i++] = Int64GetDatum((int64) nblocks);
	if (!apes_index_am_known(idx->rd_rel->relam))
	{
		for (; i < APES_IBLOAT_NCOLS - 1; i++)
			nulls[i] = true;
		values[4] = Int64GetDatum(0);
		nulls[4] = false;
		values[5] = CStringGetTextDatum("not applicable");
		nulls[5] = false;
		values[i++] = CStringGetTextDatum("no page-level measure for this access method");
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		relation_close(idx, AccessShareLock);
		relation_close(table, AccessShareLock);
		return (Datum) 0;
	}

	apes_index_scan(&st, idx, nblocks, sample_pages, exact, 0);
	e = apes_sample_estimate(&st.sample);
	whole = st.pages_read == nblocks;

	values[i++] = Int64GetDatum(st.pages_read);
	values[i++] = CStringGetTextDatum(whole ? "exact" : "sampled");
	values[i++] = Int64GetDatum(apes_scale(&st, st.leaf_pages, nblocks));
	values[i++] = Int64GetDatum(apes_scale(&st, st.deleted_pages, nblocks));
	values[i++] = Int64GetDatum(apes_scale(&st, st.empty_pages, nblocks));
	if (idx->rd_rel->relam == BTREE_AM_OID)
	{
		values[i++] = Int64GetDatum(apes_scale(&st, st.live_items, nblocks));
		values[i++] = Int64GetDatum(apes_scale(&st, st.live_bytes, nblocks));
	}
	else
	{
		nulls[i++] = true;
		nulls[i++] = true;
	}
	values[i++] = Int64GetDatum(apes_scale(&st, st.free_bytes, nblocks));
	values[i++] = Int64GetDatum((int64) llround(e.mean * nblocks * BLCKSZ));
	if (nblocks == 0)
	{
		nulls[i++] = true;
		nulls[i++] = true;
	}
	else
	{
		values[i++] = Float8GetDatum(100.0 * e.mean);
		values[i++] = Float8GetDatum(whole ? 100.0 * e.mean : Max(0.0, 100.0 * e.low));
	}
	/* the upper bound sits with the note, last but one */
	values[i] = nblocks == 0 ? (Datum) 0 : Float8GetDatum(whole ? 100.0 * e.mean : Min(100.0, 100.0 * e.high));
	nulls[i] = nblocks == 0;
	i++;
	values[i++] = CStringGetTextDatum(idx->rd_rel->relam == BTREE_AM_OID ?
									  "leaf pages against a fresh build at the index's fillfactor" :
									  "free space and deleted or empty pages only");
	Assert(i == APES_IBLOAT_NCOLS);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	relation_close(idx, AccessShareLock);
	relation_close(table, AccessShareLock);
	return (Datum) 0;
}

/*
 * Measure a valid btree index for a report (sample_pages pages, all of a smaller one), never waiting.  Locks:
 * AccessShareLock on the table, then on the index, each only if free now, both released when done.
 */
ApesMeasureResult
apes_measure_index_quick(Oid indexoid, int64 sample_pages, TimestampTz deadline, ApesBloatMeasure *m)
{
	Oid			tableoid = IndexGetRelation(indexoid, true);
	ApesMeasureResult r = APES_MEASURE_SKIPPED;
	Relation	idx;
	IndexPageScan st;

	m->nblocks = -1;
	if (!OidIsValid(tableoid))
		return APES_MEASURE_SKIPPED;
	if (!ConditionalLockRelationOid(tableoid, AccessShareLock))
		return APES_MEASURE_LOCKED;
	if (!ConditionalLockRelationOid(indexoid, AccessShareLock))
	{
		UnlockRelationOid(tableoid, AccessShareLock);
		return APES_MEASURE_LOCKED;
	}
	idx = try_relation_open(indexoid, NoLock);
	if (idx != NULL && idx->rd_rel->relkind == RELKIND_INDEX && idx->rd_rel->relam == BTREE_AM_OID &&
		idx->rd_index->indisvalid && idx->rd_index->indrelid == tableoid && !RELATION_IS_OTHER_TEMP(idx) &&
		!(RecoveryInProgress() && idx->rd_rel->relpersistence == RELPERSISTENCE_UNLOGGED))
	{
		BlockNumber nblocks = RelationGetNumberOfBlocks(idx);

		apes_index_scan(&st, idx, nblocks, sample_pages, false, deadline);
		if (st.sample.stopped && st.pages_read < APES_MIN_STOPPED_PAGES)
			r = APES_MEASURE_OUT_OF_TIME;
		else
		{
			m->nblocks = nblocks;
			m->pages_read = st.pages_read;
			m->e = apes_sample_estimate(&st.sample);
			m->wasted_bytes = m->e.mean * m->nblocks * BLCKSZ;
			m->dead_bytes = m->rdead_bytes = 0;
			r = APES_MEASURED;
		}
	}
	if (idx != NULL)
		relation_close(idx, NoLock);
	UnlockRelationOid(indexoid, AccessShareLock);
	UnlockRelationOid(tableoid, AccessShareLock);
	return r;
}
