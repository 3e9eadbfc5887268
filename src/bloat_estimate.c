/*
 * bloat_estimate.c: apes.bloat_estimates(): every table, TOAST table and index of the database, screened for bloat
 * from the catalogs alone, without reading a page.
 *
 * The model is the one every catalog estimator uses (expected pages from row counts and average widths), done with
 * what those SQL queries get wrong fixed: alignment padding between columns, the fillfactor, TOAST kept apart from
 * its table, index widths from the index's own columns (expression statistics included), and a row count that
 * follows the relation's current size (reltuples / relpages, the planner's own density) rather than a stale total.
 * What cannot be fixed is flagged: no statistics, stale statistics, statistics the caller may not see (they are not
 * used then: pg_stats' own rule), TOAST-heavy rows, btree deduplication, access methods without a model, TOAST chunk
 * sizes, tiny relations.  A row is an estimate and says so; apes.table_bloat() and apes.index_bloat() measure.
 */
#include "postgres.h"

#include <math.h>

#include "access/heaptoast.h"
#include "access/htup_details.h"
#include "access/itup.h"
#include "access/nbtree.h"
#include "catalog/pg_am.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "commands/defrem.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rls.h"
#include "utils/syscache.h"

#include "apes.h"
#include "bloat.h"

#define APES_EST_NCOLS 11
#define APES_SMALL_PAGES 10
#define APES_WIDE_COLUMN 500	/* average stored width above which values vary too much for a mean */

static const char *const flag_names[APES_EST_NFLAGS] = {
	"no_statistics", "stale_statistics", "statistics_not_visible", "toast_heavy", "btree_deduplication",
	"no_model_for_access_method", "toast_chunk_sizes_unknown", "small_relation"
};

/* The name of one reliability flag bit (0 .. APES_EST_NFLAGS - 1). */
const char *
apes_estimate_flag_name(int bit)
{
	return flag_names[bit];
}

/* The flags as a text[] (empty when the estimate is as good as the model gets). */
Datum
apes_estimate_flags_datum(int flags)
{
	Datum		elems[APES_EST_NFLAGS];
	int			n = 0;

	for (int b = 0; b < APES_EST_NFLAGS; b++)
		if (flags & (1 << b))
			elems[n++] = CStringGetTextDatum(flag_names[b]);
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* Tables, matviews and indexes get their columns loaded for an estimate. */
bool
apes_estimate_wanted(ApesRel *rel)
{
	return rel->relkind == RELKIND_RELATION || rel->relkind == RELKIND_MATVIEW || rel->relkind == RELKIND_INDEX;
}

/* Bytes an alignment code stands for. */
static int
apes_align_bytes(char typalign)
{
	switch (typalign)
	{
		case TYPALIGN_DOUBLE:
			return ALIGNOF_DOUBLE;
		case TYPALIGN_INT:
			return ALIGNOF_INT;
		case TYPALIGN_SHORT:
			return ALIGNOF_SHORT;
		default:
			return 1;
	}
}

/* Does acl (owned by owner) grant SELECT to user, directly or through a role? */
static bool
apes_acl_select(Acl *acl, Oid user, Oid owner)
{
	return acl != NULL && (aclmask(acl, user, owner, ACL_SELECT, ACLMASK_ANY) & ACL_SELECT) != 0;
}

/*
 * May the caller see this table's column statistics?  pg_stats' rule: SELECT on the column (or the table), and no
 * row-level security in force for the caller.  Decided the way pg_class_aclcheck() and pg_attribute_aclcheck() decide
 * it, but from the catalog copy: a syscache look-up per table would leave thousands of pg_class rows in the backend's
 * CacheMemoryContext for the rest of the session.  *memo: -1 not yet known, 1 the whole table, 0 not the table,
 * 2 nothing (row-level security).  index_null_heavy (index_health.c) applies the same rule.
 */
bool
apes_stats_visible(ApesRel *rel, AttrNumber attnum, int *memo)
{
	Oid			user = GetUserId();

	if (*memo < 0)
	{
		Acl		   *acl = rel->relacl != NULL ? rel->relacl : acldefault(OBJECT_TABLE, rel->relowner);

		/* check_enable_rls() reads the syscache: only for the rare table with row-level security */
		if (rel->rowsecurity && check_enable_rls(rel->oid, InvalidOid, true) == RLS_ENABLED)
			*memo = 2;
		else
			*memo = superuser_arg(user) || apes_acl_select(acl, user, rel->relowner) ||
				has_privs_of_role(user, ROLE_PG_READ_ALL_DATA);
		if (acl != rel->relacl)
			pfree(acl);
	}
	if (*memo == 1)
		return true;
	if (*memo == 2 || attnum <= 0 || attnum > rel->relnatts || rel->columns == NULL)
		return false;
	/* a column's default privileges grant nothing: only an attacl can */
	return apes_acl_select(rel->columns[attnum - 1].acl, user, rel->relowner);
}

/*
 * Add one column's expected stored bytes to *data: alignment padding first (short varlenas are not aligned), each
 * weighted by the share of rows where the column is not null.  type: the column as stored (its length, alignment);
 * stats: where its statistics live (the table's column for a plain index column).  Sets flags for what is missing.
 */
static void
apes_add_column(double *data, bool *nulls, ApesColumn *type, ApesColumn *stats, bool visible, int *flags)
{
	double		width;
	double		present;
	int			align;
	double		padded;

	if (visible && stats->has_stats)
	{
		width = stats->width;
		present = 1.0 - stats->nullfrac;
	}
	else
	{
		/* the planner's own fallback for a column without statistics */
		width = get_typavgwidth(type->typid, type->typmod);
		present = 1.0;
		*flags |= visible ? APES_EST_NO_STATS : APES_EST_HIDDEN;
	}
	if (present < 1.0)
		*nulls = true;
	if (type->typlen == -1 && width > APES_WIDE_COLUMN)
		*flags |= APES_EST_TOAST_HEAVY;
	align = (type->typlen == -1 && width <= VARATT_SHORT_MAX) ? 1 : apes_align_bytes(type->typalign);
	padded = ceil(*data / align) * align;
	*data += present * (padded - *data + width);
}

/* Rows changed since the last ANALYZE are many, or it never ran. */
static bool
apes_stats_stale(Oid relid, float4 reltuples)
{
	PgStat_StatTabEntry *tab = apes_fetch_tabentry(relid);

	if (tab == NULL)
		return false;
	return apes_mod_since_analyze(tab) > 50 + 0.2 * Max(reltuples, 0);
}

/*
 * Fill in the size, expected size and waste of an estimate: rows follow the current size at the density VACUUM or
 * ANALYZE last saw (reltuples / relpages), and a fresh copy holds per_page of them on each page (plus overhead
 * pages).  Unknown when the relation was never vacuumed or analyzed.
 */
static void
apes_estimate_finish(ApesBloatEstimate *e, int32 relpages, float4 reltuples, double per_page, double overhead_pages,
					 double overhead_ratio)
{
	double		pages = (double) e->bytes / BLCKSZ;

	e->est_tuples = -1;
	e->expected_pages = -1;
	e->wasted_bytes = -1;
	e->wasted_pct = 0;
	if (pages < APES_SMALL_PAGES)
		e->flags |= APES_EST_SMALL;
	if (relpages <= 0 || reltuples < 0 || per_page <= 0)
	{
		if (pages > 0)
			e->flags |= APES_EST_NO_STATS;
		else
		{
			e->wasted_bytes = 0;
			e->expected_pages = 0;
			e->est_tuples = 0;
		}
		return;
	}
	e->est_tuples = reltuples / relpages * pages;
	e->expected_pages = ceil(e->est_tuples / per_page);
	e->expected_pages += ceil(e->expected_pages * overhead_ratio) + overhead_pages;
	e->wasted_bytes = (int64) Max(0.0, pages - e->expected_pages) * BLCKSZ;
	e->wasted_pct = pages > 0 ? 100.0 * e->wasted_bytes / e->bytes : 0;
}

/* Average stored bytes of one heap tuple of the table, with its line pointer. */
static double
apes_heap_tuple_bytes(ApesRel *t, int *flags)
{
	double		data = 0;
	bool		nulls = false;
	int			visible = -1;
	double		header;

	for (int i = 0; i < t->relnatts; i++)
	{
		ApesColumn *c = &t->columns[i];

		if (c->attnum == 0)
			continue;			/* dropped */
		apes_add_column(&data, &nulls, c, c, apes_stats_visible(t, c->attnum, &visible), flags);
	}
	header = MAXALIGN(SizeofHeapTupleHeader + (nulls ? BITMAPLEN(t->relnatts) : 0));
	return ceil((header + data) / MAXIMUM_ALIGNOF) * MAXIMUM_ALIGNOF + sizeof(ItemIdData);
}

/* Estimate a table (or matview) and its TOAST table (toast->relid is InvalidOid when it has none). */
void
apes_estimate_table(ApesRel *table, ApesBloatEstimate *heap, ApesBloatEstimate *toast)
{
	double		tuple;
	double		usable;

	memset(heap, 0, sizeof(ApesBloatEstimate));
	memset(toast, 0, sizeof(ApesBloatEstimate));
	heap->rel = toast->rel = table;
	heap->relid = table->oid;
	heap->kind = table->relkind == RELKIND_MATVIEW ? "matview" : "table";
	heap->bytes = apes_rel_bytes(table);
	toast->kind = "toast";
	toast->relid = InvalidOid;

	if (table->columns == NULL)
		heap->flags |= APES_EST_NO_STATS;
	tuple = table->columns ? apes_heap_tuple_bytes(table, &heap->flags) : 0;
	if (apes_stats_stale(table->oid, table->reltuples))
		heap->flags |= APES_EST_STALE;
	/* a fresh load fills a page until the fillfactor's reserve is all that is left */
	usable = BLCKSZ - SizeOfPageHeaderData - (BLCKSZ * (100 - table->fillfactor) / 100);
	apes_estimate_finish(heap, table->relpages, table->reltuples,
						 tuple > 0 ? Min(floor(usable / tuple), MaxHeapTuplesPerPage) : 0, 0, 0);

	if (table->toast == NULL)
		return;
	toast->relid = table->toast->oid;
	toast->bytes = apes_rel_bytes(table->toast);
	toast->flags = APES_EST_TOAST_CHUNKS;
	/* chunks are cut so that EXTERN_TUPLES_PER_PAGE full ones fill a page */
	apes_estimate_finish(toast, table->toast->relpages, table->toast->reltuples, EXTERN_TUPLES_PER_PAGE, 0, 0);
	if (toast->bytes > heap->bytes / 10 && toast->bytes > 0)
		heap->flags |= APES_EST_TOAST_HEAVY;
}

/* Might btree deduplication pack the index's entries: enabled, not unique, and a leading column with repeats. */
static bool
apes_dedup_likely(ApesRel *index, ApesColumn *lead)
{
	ApesIndex  *ix = index->index;

	if (!index->dedup || ix->unique || lead == NULL || !lead->has_stats)
		return false;
	if (lead->ndistinct < 0)
		return lead->ndistinct > -0.5;
	return lead->ndistinct < 0.5 * Max(ix->table->reltuples, 1);
}

/*
 * Estimate an index.  btree: a fresh build fills leaf pages to the fillfactor (the same target apes.index_bloat()
 * measures against) with tuples of IndexTupleData, a null bitmap where needed and the key and INCLUDE columns, and
 * adds internal pages at 70% and the metapage.  Other access methods: no model, flagged.
 */
void
apes_estimate_index(ApesRel *index, ApesBloatEstimate *est)
{
	ApesIndex  *ix = index->index;
	ApesRel    *table = ix->table;
	double		data = 0;
	bool		nulls = false;
	int			visible = -1;
	double		tuple;
	double		leaf_target;
	double		per_leaf;
	double		per_internal;
	ApesColumn *lead = NULL;

	memset(est, 0, sizeof(ApesBloatEstimate));
	est->rel = index;
	est->relid = index->oid;
	est->kind = "index";
	est->bytes = apes_rel_bytes(index);
	if (index->relam != BTREE_AM_OID || index->columns == NULL || table->columns == NULL)
	{
		est->flags = index->relam != BTREE_AM_OID ? APES_EST_NO_MODEL : APES_EST_NO_STATS;
		est->est_tuples = est->expected_pages = -1;
		est->wasted_bytes = -1;
		return;
	}
	for (int k = 0; k < ix->natts && k < index->relnatts; k++)
	{
		ApesColumn *type = &index->columns[k];
		int16		attnum = ix->keys[k];
		ApesColumn *stats;
		bool		vis;

		if (attnum > 0 && attnum <= table->relnatts)
		{
			stats = &table->columns[attnum - 1];
			vis = apes_stats_visible(table, attnum, &visible);
		}
		else
		{
			/* an expression: ANALYZE keeps its statistics under the index; seen by whoever sees the table */
			stats = type;
			vis = apes_stats_visible(table, 0, &visible);
		}
		if (k == 0)
			lead = stats;
		apes_add_column(&data, &nulls, type, stats, vis, &est->flags);
	}
	est->flags &= ~APES_EST_TOAST_HEAVY;	/* wide values cannot be indexed by btree anyway */
	if (apes_stats_stale(table->oid, table->reltuples))
		est->flags |= APES_EST_STALE;
	if (apes_dedup_likely(index, lead))
		est->flags |= APES_EST_DEDUP;

	tuple = ceil((MAXALIGN(sizeof(IndexTupleData) + (nulls ? sizeof(IndexAttributeBitMapData) : 0)) + data) /
				 MAXIMUM_ALIGNOF) * MAXIMUM_ALIGNOF + sizeof(ItemIdData);
	leaf_target = (BLCKSZ - SizeOfPageHeaderData - MAXALIGN(sizeof(BTPageOpaqueData))) * index->fillfactor / 100.0;
	per_leaf = Max(1.0, floor(leaf_target / tuple));
	per_internal = Max(2.0, floor((BLCKSZ - SizeOfPageHeaderData) * BTREE_NONLEAF_FILLFACTOR / 100.0 / tuple));
	/* internal pages: one per per_internal pages below, a geometric series; plus the metapage */
	apes_estimate_finish(est, index->relpages, index->reltuples, per_leaf, 1, 1.0 / (per_internal - 1));
}

PG_FUNCTION_INFO_V1(apes_bloat_estimates);

/* Emit one estimate row. */
static void
apes_emit_estimate(ReturnSetInfo *rsinfo, ApesBloatEstimate *e, Oid table, const char *am)
{
	Datum		values[APES_EST_NCOLS];
	bool		nulls[APES_EST_NCOLS] = {0};
	int			i = 0;

	values[i++] = ObjectIdGetDatum(e->relid);
	values[i++] = CStringGetTextDatum(e->kind);
	values[i++] = ObjectIdGetDatum(table);
	values[i++] = CStringGetTextDatum(am);
	values[i++] = Int64GetDatum(e->bytes);
	nulls[i] = e->est_tuples < 0;
	values[i++] = Int64GetDatum((int64) llround(Max(e->est_tuples, 0)));
	nulls[i] = e->expected_pages < 0;
	values[i++] = Int64GetDatum((int64) Max(e->expected_pages, 0) * BLCKSZ);
	nulls[i] = e->wasted_bytes < 0;
	values[i++] = Int64GetDatum(e->wasted_bytes);
	nulls[i] = e->wasted_bytes < 0;
	values[i++] = Float8GetDatum(e->wasted_pct);
	values[i++] = apes_estimate_flags_datum(e->flags);
	values[i++] = BoolGetDatum(e->flags == 0);
	Assert(i == APES_EST_NCOLS);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * apes.bloat_estimates(): one row per table, matview, TOAST table and index of the user schemas, from the catalogs
 * and statistics only.  No user relation is opened or locked (sizes come from stat(), as for every report).
 */
Datum
apes_bloat_estimates(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ApesCatalog *cat;
	int			stats;
	MemoryContext rowcxt;
	MemoryContext old;

	apes_init_materialized_srf(fcinfo);
	stats = apes_stats_begin();
	cat = apes_catalog_load();
	apes_catalog_load_columns(cat, apes_estimate_wanted);
	/* what one relation's rows need lives only until they are in the tuplestore */
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "apes estimate row", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(rowcxt);
	for (int i = 0; i < cat->nrels; i++)
	{
		ApesRel    *r = cat->relarray[i];
		ApesBloatEstimate heap;
		ApesBloatEstimate toast;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(rowcxt);
		if (r->relkind == RELKIND_RELATION || r->relkind == RELKIND_MATVIEW)
		{
			char	   *am = get_am_name(r->relam);

			apes_estimate_table(r, &heap, &toast);
			apes_emit_estimate(rsinfo, &heap, r->oid, am ? am : "?");
			if (OidIsValid(toast.relid))
				apes_emit_estimate(rsinfo, &toast, r->oid, "heap");
		}
		else if (r->relkind == RELKIND_INDEX && r->index != NULL && r->index->valid)
		{
			char	   *am = get_am_name(r->relam);

			apes_estimate_index(r, &heap);
			apes_emit_estimate(rsinfo, &heap, r->index->table->oid, am ? am : "?");
		}
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(rowcxt);
	apes_stats_end(stats);
	apes_catalog_free(cat);
	return (Datum) 0;
}
