/*
 * index_health.c: the index-health checks.  Check ids are public API:
 *
 *   index_invalid     invalid indexes (not those a running CREATE INDEX / REINDEX is still building)
 *   index_duplicate   two indexes that are the same index
 *   index_redundant   an index another index makes unnecessary (prefix, INCLUDE, implied predicate, uniqueness)
 *   index_unused      no scans since the statistics window began (the standbys' scans added)
 *   index_rarely_used a few scans in the window against many writes to its table
 *   index_null_heavy  an index mostly on NULLs of its leading column: a partial index would be smaller
 *   fk_missing_index  foreign keys whose referencing columns lead no valid btree index
 *   index_missing     (index_advice.c) indexes the top statements' predicates ask for, tried as hypothetical indexes
 *
 * Every drop this area proposes (unused, rarely used, redundant, duplicate) is checked against the plans of the top
 * statements that read the index's table (index_advice.c, workload.c), within pg_apes_health.simulation_time_budget:
 * a drop that makes one of them much costlier becomes "keep".
 *
 * Everything is decided on the catalog structures loaded by catalog.c: attribute numbers, operator classes,
 * collations, sort options, expression and predicate node trees compared with equal(), and predicate implication by
 * the planner's own predicate_implied_by().  Index definition text is produced only for the fix and undo DDL, by
 * pg_get_indexdef().  The checks open no user relation; only pg_get_indexdef(), for the DDL of a finding, opens the
 * finding's table, and only when its AccessShareLock is free right now (released at once), so a report never waits
 * behind DDL.
 *
 * Partitions: an index attached to a partitioned index is never proposed for dropping on its own; the partitioned
 * parent carries the finding and the DDL (without CONCURRENTLY, which partitioned indexes do not support).
 */
#include "postgres.h"

#include "access/amapi.h"
#include "access/stratnum.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_index.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/progress.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/relcache.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "apes.h"
#include "advice.h"
#include "bloat.h"
#include "catalog.h"


/* What the checks of one report share: the catalog and which indexes already carry a drop proposal. */
typedef struct IndexCheckState
{
	ApesCatalog *cat;
	List	  **out;
	List	   *building;		/* table oids with a CREATE INDEX / REINDEX in progress */
	HTAB	   *fk_children;	/* conparentid -> the FKs partitions inherited (built on first use) */
	List	   *fk_proposed;	/* ProposedFkIndex: indexes fk_missing_index already proposes */
	ApesWorkload *workload;		/* the statements run here, read on first need; NULL when simulations are off */
	bool		workload_tried;
	TimestampTz sim_start;		/* when the simulation budget started */
} IndexCheckState;

/* The FKs that partitions inherited from one FK. */
typedef struct FkChildren
{
	Oid			parent;
	List	   *children;
} FkChildren;

/* An index fk_missing_index proposes: a later FK on the same table and columns is served by it too. */
typedef struct ProposedFkIndex
{
	Oid			table;
	Bitmapset  *columns;
	const char *fkname;
} ProposedFkIndex;

/*
 * What a deferred finding needs to fill in its details when a rendering shows it (ApesFinding.details): the index,
 * the one it was compared with, and for index_unused what the statistics said.
 */
typedef struct IndexFindingArgs
{
	ApesIndex  *idx;
	ApesIndex  *other;			/* index_duplicate: the keeper; index_redundant: the covering index */
	int64		idx_scans;		/* scans of idx and of other, read while the statistics snapshot is open */
	int64		other_scans;
	int64		scans;			/* index_unused: */
	int64		tuples;
	TimestampTz since;
	const char *basis;
	double		age_days;
	bool		age_unknown;	/* index_unused: nothing said when the index was made */
	ApesForeignKey *fk;			/* the foreign key the unused index supports, or NULL */
	ApesDropSim *sim;			/* a proposed drop: what it would do to the workload's plans */
	List	   *nodes;			/* index_unused, index_rarely_used: the standbys (ApesStandbyNode) */
	int64	   *node_scans;		/* their scans of the index, by node (-1: the node could not be read) */
	int64		writes;			/* index_rarely_used: rows the table took in the window */
	AttrNumber	null_col;		/* index_null_heavy: the leading column, and its share of NULLs */
	double		null_frac;
} IndexFindingArgs;

static void apes_sim_summary(ApesFinding *f, IndexFindingArgs *a, const char *verdict);

/* ---------- helpers: names, sizes, statistics, DDL ---------- */

/* Bytes of an index or table, human-readable, through the server's pg_size_pretty(). */
static char *
apes_pretty(int64 bytes)
{
	return text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty, Int64GetDatum(bytes))));
}

/* The catalog's page count of an index, partitions added up (no I/O; used to pre-filter). */
static int64
apes_catalog_pages(ApesRel *rel)
{
	int64		pages = Max(rel->relpages, 0);
	ListCell   *lc;

	foreach(lc, rel->children)
		pages += apes_catalog_pages((ApesRel *) lfirst(lc));
	return pages;
}

/* Index scans and tuples read since the statistics window began; partitioned indexes add up their partitions. */
static void
apes_index_usage(ApesRel *rel, int64 *scans, int64 *tuples)
{
	if (rel->relkind == RELKIND_PARTITIONED_INDEX)
	{
		ListCell   *lc;

		foreach(lc, rel->children)
			apes_index_usage((ApesRel *) lfirst(lc), scans, tuples);
	}
	else
	{
		PgStat_StatTabEntry *e = apes_fetch_tabentry(rel->oid);

		if (e != NULL)
		{
			*scans += e->numscans;
			*tuples += e->tuples_returned;
		}
	}
}

/* Index scans since the statistics window began. */
static int64
apes_index_scans(ApesRel *rel)
{
	int64		scans = 0;
	int64		tuples = 0;

	apes_index_usage(rel, &scans, &tuples);
	return scans;
}

/*
 * Let the session's caches go of what deparsing one index loaded: the table's relcache entry (the deparser opens the
 * table for its column names), the pg_class and pg_index rows of both, and the pg_attribute rows of the index's
 * columns.  Done in bulk renderings (findings(), a snapshot), not in the reports that show 50 findings per group,
 * where the entries are few and may be the session's own.  Without it a rendering of the DDL of 100,000 indexes
 * leaves some 3 kB per table in CacheMemoryContext for the rest of the session (300 MB), as
 * SELECT pg_get_indexdef(...) over as many indexes does.  This is what a local invalidation does: entries in use are
 * only marked, and anything evicted is read again from the catalogs when next needed; nothing changes meaning.
 */
static void
apes_forget_cached(ApesIndex *idx)
{
	Oid			tableoid = idx->table->oid;
	Oid			indexoid = idx->oid;

	for (int k = 0; k < idx->natts; k++)
		if (idx->keys[k] != 0)
			SysCacheInvalidate(ATTNUM, GetSysCacheHashValue2(ATTNUM, ObjectIdGetDatum(tableoid),
															 Int16GetDatum(idx->keys[k])));
	RelationCacheInvalidateEntry(tableoid);
	SysCacheInvalidate(RELOID, GetSysCacheHashValue1(RELOID, ObjectIdGetDatum(tableoid)));
	SysCacheInvalidate(RELOID, GetSysCacheHashValue1(RELOID, ObjectIdGetDatum(indexoid)));
	SysCacheInvalidate(INDEXRELID, GetSysCacheHashValue1(INDEXRELID, ObjectIdGetDatum(indexoid)));
}

/*
 * The index's definition as the server prints it (pg_get_indexdef_string: with its tablespace), computed once per
 * report, or NULL when it cannot be had without waiting.  The deparser opens the table (AccessShareLock) and reads
 * the index's catalog rows, so both the table and the index are locked first, each only if that can be done at once
 * (never queueing behind DDL), the index's existence is checked under those locks, and both are released right
 * after, so no lock accumulates over a report.  It is printed under an empty search_path, so the DDL means the same
 * whatever the caller's search_path is.  In bulk, the cache entries deparsing loaded are let go (apes_forget_cached).
 */
static char *
apes_indexdef(ApesRel *rel, bool bulk)
{
	Oid			tableoid = rel->index->table->oid;
	char	   *def = NULL;

	if (rel->indexdef != NULL)
		return rel->indexdef;
	if (!ConditionalLockRelationOid(tableoid, AccessShareLock))
		return NULL;
	if (ConditionalLockRelationOid(rel->oid, AccessShareLock))
	{
		/* dropped before the lock was had? (its pg_class and pg_index rows go in one transaction) */
		if (SearchSysCacheExists1(INDEXRELID, ObjectIdGetDatum(rel->oid)))
		{
			/* under an empty search_path (as pg_dump does) every name outside pg_catalog comes out qualified */
			int			nestlevel = NewGUCNestLevel();

			(void) set_config_option("search_path", "", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
			def = pg_get_indexdef_string(rel->oid);
			AtEOXact_GUC(false, nestlevel);
		}
		UnlockRelationOid(rel->oid, AccessShareLock);
	}
	UnlockRelationOid(tableoid, AccessShareLock);
	if (bulk)
		apes_forget_cached(rel->index);
	if (def != NULL)
		rel->indexdef = MemoryContextStrdup(rel->index->cxt, def);	/* kept as long as the catalog */
	return rel->indexdef;
}

/*
 * DDL that recreates an index, from its definition: built CONCURRENTLY for a plain index; for a partitioned index on
 * the whole partition tree (the server prints "ON ONLY" for those).  The definition starts with
 * CREATE [UNIQUE] INDEX <name> ON [ONLY] ..., and the edit is made right there, never inside a quoted name.
 */
static char *
apes_index_create_sql(ApesRel *rel, bool bulk)
{
	char	   *def = apes_indexdef(rel, bulk);
	const char *head = rel->index->unique ? "CREATE UNIQUE INDEX " : "CREATE INDEX ";
	const char *qname = quote_identifier(rel->relname);
	const char *after;

	if (def == NULL)
		return NULL;
	if (strncmp(def, head, strlen(head)) != 0 || strncmp(def + strlen(head), qname, strlen(qname)) != 0)
		return psprintf("%s;", def);	/* not the expected shape: leave it as the server printed it */
	after = def + strlen(head) + strlen(qname);
	if (rel->relkind == RELKIND_PARTITIONED_INDEX)
	{
		if (strncmp(after, " ON ONLY ", 9) == 0)
			return psprintf("%s%s ON %s;", head, qname, after + 9);
		return psprintf("%s;", def);
	}
	return psprintf("%sCONCURRENTLY %s%s;", head, qname, after);
}

/* DDL that drops an index: concurrently, except for partitioned indexes, which do not support it. */
static char *
apes_index_drop_sql(ApesRel *rel)
{
	return psprintf("DROP INDEX %s%s;",
					rel->relkind == RELKIND_PARTITIONED_INDEX ? "" : "CONCURRENTLY ",
					apes_qualified_name(rel));
}

/*
 * Give a finding the DDL to drop an index and to recreate it.  Without the definition (the table is locked by DDL
 * right now) there is no undo, so there is no fix either: the summary says to run the report again.
 */
static void
apes_set_drop_ddl(ApesFinding *f, ApesRel *rel, bool bulk)
{
	f->undo_sql = apes_index_create_sql(rel, bulk);
	if (f->undo_sql != NULL)
		f->fix_sql = apes_index_drop_sql(rel);
	else
		f->summary = psprintf("%s (no DDL now: the table is locked by another session's DDL; run the report again later)",
							  f->summary);
}

/* Leave a finding's details to details(f, bulk), with the indexes they are about. */
static IndexFindingArgs *
apes_defer_details(ApesFinding *f, void (*details) (ApesFinding *f, bool bulk), ApesIndex *idx, ApesIndex *other)
{
	IndexFindingArgs *a = palloc0(sizeof(IndexFindingArgs));

	a->idx = idx;
	a->other = other;
	/* the details come after the report's statistics snapshot has ended: what they show is read now */
	a->idx_scans = apes_index_scans(idx->rel);
	a->other_scans = other != NULL ? apes_index_scans(other->rel) : 0;
	f->details = details;
	f->details_arg = a;
	return a;
}

/* How much a keeper is worth keeping: what would break if it were dropped; higher is keep. */
static int
apes_keep_rank(ApesIndex *idx)
{
	int			rank = 0;

	if (idx->rel->ispartition)
		rank += 100;			/* attached to a partitioned index: only the parent can go */
	if (OidIsValid(idx->constraint_oid) || OidIsValid(idx->fk_referencing))
		rank += 50;				/* backs a constraint, or a foreign key depends on it */
	if (idx->primary)
		rank += 25;
	if (idx->replident)
		rank += 20;
	if (idx->clustered)
		rank += 10;
	return rank;
}

/* Index scans in the statistics window, fetched once per report. */
static int64
apes_cached_scans(ApesIndex *idx)
{
	if (!idx->scans_known)
	{
		idx->scans = apes_index_scans(idx->rel);
		idx->scans_known = true;
	}
	return idx->scans;
}

/*
 * True when a should be kept in preference to b: it ranks higher (apes_keep_rank), or ranks the same and has more
 * scans (the one the planner picks stays, so plans do not change), or both and it is older.
 */
static bool
apes_keep_first(ApesIndex *a, ApesIndex *b)
{
	int			ra = apes_keep_rank(a);
	int			rb = apes_keep_rank(b);
	int64		sa;
	int64		sb;

	if (ra != rb)
		return ra > rb;
	sa = apes_cached_scans(a);
	sb = apes_cached_scans(b);
	if (sa != sb)
		return sa > sb;
	return a->rel->oid < b->rel->oid;
}

/*
 * Record that a proposed drop relies on this index staying, and on every partitioned index above it (dropping one
 * of those would drop it too), so no later check proposes dropping them.
 */
static void
apes_mark_relied_on(ApesCatalog *cat, ApesIndex *idx)
{
	while (idx != NULL)
	{
		ApesRel    *parent;

		idx->relied_on = true;
		if (!idx->rel->ispartition || !OidIsValid(idx->rel->parent))
			break;
		parent = apes_rel(cat, idx->rel->parent);
		idx = parent != NULL ? parent->index : NULL;
	}
}

/* True when nothing depends on the index, so dropping it alone is safe DDL. */
static bool
apes_index_droppable(ApesIndex *idx)
{
	return !idx->rel->ispartition && !OidIsValid(idx->constraint_oid) && !OidIsValid(idx->fk_referencing) &&
		!idx->replident && !idx->clustered && !idx->exclusion;
}

/* True when the index can serve queries: valid, ready and live. */
static bool
apes_index_usable(ApesIndex *idx)
{
	return idx->valid && idx->ready && idx->live;
}

/* True when the oid is in the list. */
static bool
apes_oid_member(List *l, Oid oid)
{
	return list_member_oid(l, oid);
}

/* ---------- structural comparison ---------- */

/* The expression of key position pos (whose attnum is 0), or NULL. */
static Node *
apes_key_expr(ApesIndex *idx, int pos)
{
	List	   *exprs = apes_index_exprs(idx);
	int			n = 0;

	for (int i = 0; i < pos; i++)
		if (idx->keys[i] == 0)
			n++;
	return (n < list_length(exprs)) ? (Node *) list_nth(exprs, n) : NULL;
}

/*
 * True when key position pa of a and pb of b index the same column or the same expression, the same way.  The
 * caller has loaded both indexes' details (apes_index_detail).
 */
static bool
apes_same_key(ApesIndex *a, int pa, ApesIndex *b, int pb)
{
	if (a->keys[pa] != b->keys[pb])
		return false;
	if (pa < a->nkeyatts && pb < b->nkeyatts)
	{
		if (a->opclass[pa] != b->opclass[pb] || a->collation[pa] != b->collation[pb] ||
			a->option[pa] != b->option[pb])
			return false;
	}
	if (a->keys[pa] == 0)
		return equal(apes_key_expr(a, pa), apes_key_expr(b, pb));
	return true;
}

/* True when the two predicates are the same node tree (both NIL for non-partial indexes). */
static bool
apes_same_pred(ApesIndex *a, ApesIndex *b)
{
	return equal(apes_index_pred(a), apes_index_pred(b));
}

/*
 * True when a and b are the same index: access method, keys, INCLUDE, opclasses, collations, sort options, storage
 * parameters (BRIN's pages_per_range or btree's deduplicate_items make another index; written the same, in any
 * order), predicate.
 */
static bool
apes_identical(ApesIndex *a, ApesIndex *b)
{
	if (strcmp(a->rel->options ? a->rel->options : "", b->rel->options ? b->rel->options : "") != 0)
		return false;
	if (a->rel->relam != b->rel->relam || a->natts != b->natts || a->nkeyatts != b->nkeyatts ||
		a->unique != b->unique || a->nulls_not_distinct != b->nulls_not_distinct || a->immediate != b->immediate ||
		memcmp(a->keys, b->keys, sizeof(int16) * a->natts) != 0)
		return false;
	if (!apes_index_detail(a) || !apes_index_detail(b))
		return false;
	for (int i = 0; i < a->natts; i++)
		if (!apes_same_key(a, i, b, i))
			return false;
	return apes_same_pred(a, b);
}

/* The key position of b that is the plain column of expression e (through binary-compatible casts), or -1. */
static int
apes_key_position(ApesIndex *b, Node *e)
{
	while (e != NULL && IsA(e, RelabelType))
		e = (Node *) ((RelabelType *) e)->arg;
	if (e == NULL || !IsA(e, Var) || ((Var *) e)->varno != 1 || ((Var *) e)->varattno <= 0)
		return -1;
	for (int i = 0; i < b->nkeyatts; i++)
		if (b->keys[i] == ((Var *) e)->varattno)
			return i;
	return -1;
}

/* True when operator op, comparing key position pos of b under collation coll, is one b's operator family searches. */
static bool
apes_key_operator(ApesIndex *b, int pos, Oid op, Oid coll)
{
	if (!OidIsValid(op) || !op_in_opfamily(op, get_opclass_family(b->opclass[pos])))
		return false;
	return !OidIsValid(b->collation[pos]) || b->collation[pos] == coll;
}

/*
 * True when b can use condition c as an index condition: "key op constant" (either way round) or "key op ANY
 * (array)" with an operator of the key's operator family and the key's collation, "key IS [NOT] NULL", or a boolean
 * key tested for true or false; a key here is a plain key column of b.  What a partial index's predicate filters
 * keeps its selectivity in b only through such conditions.
 */
static bool
apes_index_can_search(ApesIndex *b, Node *c)
{
	IndexAmRoutine *am = GetIndexAmRoutineByAmId(b->rel->relam, true);
	int			pos;

	if (am == NULL || contain_volatile_functions(c))
		return false;
	if (IsA(c, OpExpr) && list_length(((OpExpr *) c)->args) == 2)
	{
		OpExpr	   *op = (OpExpr *) c;
		Node	   *l = linitial(op->args);
		Node	   *r = lsecond(op->args);

		if ((pos = apes_key_position(b, l)) >= 0 && !contain_var_clause(r))
			return apes_key_operator(b, pos, op->opno, op->inputcollid);
		if ((pos = apes_key_position(b, r)) >= 0 && !contain_var_clause(l))
			return apes_key_operator(b, pos, get_commutator(op->opno), op->inputcollid);
		return false;
	}
	if (IsA(c, ScalarArrayOpExpr))
	{
		ScalarArrayOpExpr *sa = (ScalarArrayOpExpr *) c;

		return am->amsearcharray && sa->useOr && list_length(sa->args) == 2 &&
			(pos = apes_key_position(b, linitial(sa->args))) >= 0 && !contain_var_clause(lsecond(sa->args)) &&
			apes_key_operator(b, pos, sa->opno, sa->inputcollid);
	}
	if (IsA(c, NullTest))
		return am->amsearchnulls && !((NullTest *) c)->argisrow &&
			apes_key_position(b, (Node *) ((NullTest *) c)->arg) >= 0;
	if (is_notclause(c))
		c = (Node *) get_notclausearg((Expr *) c);
	if (IsA(c, BooleanTest))
		c = (Node *) ((BooleanTest *) c)->arg;
	return exprType(c) == BOOLOID && (pos = apes_key_position(b, c)) >= 0 &&
		get_opclass_family(b->opclass[pos]) == BOOL_BTREE_FAM_OID;
}

/*
 * True when b serves every query a serves as selectively: b indexes every row a indexes (b has no predicate, the
 * same one, or one a's predicate implies), and each condition of a's predicate that b's does not imply is one b can
 * search by its keys (apes_index_can_search).  "a (k) WHERE flag" is not served by "b (k)": b would read every row
 * with that k to find the few flagged ones.
 */
static bool
apes_rows_covered(ApesIndex *a, ApesIndex *b)
{
	List	   *pa = apes_index_pred(a);
	List	   *pb = apes_index_pred(b);
	ListCell   *lc;

	if (pa == NIL)
		return pb == NIL;
	if (equal(pa, pb))
		return true;
	if (pb != NIL && !predicate_implied_by(pb, pa, false))
		return false;
	foreach(lc, pa)
	{
		Node	   *c = lfirst(lc);

		if (pb != NIL && predicate_implied_by(list_make1(c), pb, false))
			continue;
		if (!apes_index_can_search(b, c))
			return false;
	}
	return true;
}

/* True when b contains column attnum among all its columns (keys or INCLUDE). */
static bool
apes_has_column(ApesIndex *b, int16 attnum)
{
	for (int i = 0; i < b->natts; i++)
		if (b->keys[i] == attnum)
			return true;
	return false;
}

/*
 * True when index b makes index a unnecessary: same access method; a's keys are a leading prefix of b's (btree) or
 * equal to them (other access methods), with the same opclasses, collations and sort options; a's INCLUDE columns
 * are in b; every row of a is in b; and if a is unique, b enforces the same uniqueness.
 */
static bool
apes_covers(ApesIndex *b, ApesIndex *a)
{
	if (a == b || a->rel->relam != b->rel->relam || !apes_index_usable(b))
		return false;
	if (a->rel->relam == BTREE_AM_OID ? a->nkeyatts > b->nkeyatts : a->nkeyatts != b->nkeyatts)
		return false;
	if (memcmp(a->keys, b->keys, sizeof(int16) * a->nkeyatts) != 0)
		return false;
	if (!apes_index_detail(a) || !apes_index_detail(b))
		return false;
	for (int i = 0; i < a->nkeyatts; i++)
		if (!apes_same_key(a, i, b, i))
			return false;
	for (int i = a->nkeyatts; i < a->natts; i++)
		if (!apes_has_column(b, a->keys[i]))
			return false;
	if (a->unique &&
		!(b->unique && b->nkeyatts == a->nkeyatts && b->nulls_not_distinct == a->nulls_not_distinct &&
		  (b->immediate || !a->immediate)))
		return false;
	return apes_rows_covered(a, b);
}

/* ---------- index_invalid ---------- */

/*
 * True when the index is still invalid now.  The catalog copy may predate a CREATE INDEX CONCURRENTLY that finished
 * after it was read (and so is no longer in the progress array): the syscache, after taking in pending
 * invalidations, has the current row.
 */
static bool
apes_still_invalid(ApesIndex *idx)
{
	HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(idx->oid));
	bool		invalid;

	if (!HeapTupleIsValid(tup))
		return false;			/* dropped meanwhile */
	invalid = !((Form_pg_index) GETSTRUCT(tup))->indisvalid;
	ReleaseSysCache(tup);
	return invalid;
}

/*
 * The name REINDEX CONCURRENTLY gives its copies: ChooseRelationName(<index>, NULL, "ccnew" or "ccold"), that is
 * <index>_ccnew, maybe with a number, with <index> cut short so that the whole fits in NAMEDATALEN, where <index> is
 * an index of the same table.  Each candidate original's copy name is made by the server's own makeObjectName() and
 * compared, so a long name cut to fit still matches, and a user's index that merely ends in _ccnew does not.  suffix
 * is "ccnew" or "ccold".
 */
static bool
apes_is_cc_copy(ApesIndex *idx, const char *suffix)
{
	const char *name = idx->rel->relname;
	size_t		len = strlen(name);
	size_t		end = len;
	size_t		slen = strlen(suffix);
	char	   *label;
	ListCell   *lc;

	while (end > 0 && name[end - 1] >= '0' && name[end - 1] <= '9')
		end--;
	if (end < slen + 2 || name[end - slen - 1] != '_' || strncmp(name + end - slen, suffix, slen) != 0)
		return false;
	label = psprintf("%s%s", suffix, name + end);	/* "ccnew" and the number ChooseRelationName added, if any */
	foreach(lc, idx->table->indexes)
	{
		const char *other = ((ApesIndex *) lfirst(lc))->rel->relname;

		if (lfirst(lc) != idx && strcmp(makeObjectName(other, NULL, label), name) == 0)
			return true;
	}
	return false;
}

/* index_invalid: every invalid index that no running build explains. */
static void
apes_check_invalid(IndexCheckState *st)
{
	AcceptInvalidationMessages();	/* so apes_still_invalid() sees builds that finished since the catalog pass */
	for (int i = 0; i < st->cat->nindexes; i++)
	{
		ApesIndex  *idx = st->cat->indexes[i];
		ApesRel    *rel = idx->rel;
		char	   *name;
		int64		bytes;
		ApesFinding *f;
		ApesJson	ev;
		const char *kind;

		CHECK_FOR_INTERRUPTS();
		if (idx->valid || apes_oid_member(st->building, idx->table->oid) || !apes_still_invalid(idx))
			continue;

		name = apes_qualified_name(rel);
		bytes = apes_rel_bytes(rel);
		f = apes_new_finding(APES_CHECK_index_invalid, APES_WARNING, name);
		f->wasted_bytes = bytes;

		if (apes_is_cc_copy(idx, "ccnew"))
		{
			kind = "reindex_concurrently_leftover_new";
			f->summary = psprintf("invalid index %s is the unfinished new copy left by a failed REINDEX CONCURRENTLY; drop it (the original index is intact)", name);
			f->fix_sql = apes_index_drop_sql(rel);
		}
		else if (apes_is_cc_copy(idx, "ccold"))
		{
			kind = "reindex_concurrently_leftover_old";
			f->summary = psprintf("invalid index %s is the old copy left by an interrupted REINDEX CONCURRENTLY; drop it (the rebuilt index replaced it)", name);
			f->fix_sql = apes_index_drop_sql(rel);
		}
		else if (rel->relkind == RELKIND_PARTITIONED_INDEX)
		{
			kind = "partitioned_index_incomplete";
			f->summary = psprintf("partitioned index %s is invalid: some partition has no index attached to it; create the missing partition indexes and ALTER INDEX ... ATTACH PARTITION them", name);
		}
		else if (!idx->live)
		{
			kind = "interrupted_drop_concurrently";
			f->summary = psprintf("invalid index %s is left over from an interrupted DROP INDEX CONCURRENTLY; finish the drop", name);
			f->fix_sql = apes_index_drop_sql(rel);
		}
		else
		{
			kind = idx->ready ? "failed_validation" : "failed_build";
			if (idx->unique && idx->ready)
			{
				f->severity = APES_CRITICAL;
				f->summary = psprintf("invalid unique index %s (%s) checks every write for duplicates but no query can use it; a failed unique build usually means duplicate rows: remove them, then rebuild it",
									  name, apes_pretty(bytes));
			}
			else if (idx->unique)
				f->summary = psprintf("invalid unique index %s never finished building, most likely because of duplicate rows; remove them and rebuild it, or drop it",
									  name);
			else if (idx->ready)
				f->summary = psprintf("invalid index %s (%s) is maintained on every write but no query can use it; rebuild it",
									  name, apes_pretty(bytes));
			else
				f->summary = psprintf("invalid index %s never finished building; rebuild it, or drop it", name);
			f->fix_sql = psprintf("REINDEX INDEX CONCURRENTLY %s;", name);
		}
		/* no undo: a REINDEX loses nothing, and neither does dropping an index no query could use */

		apes_json_begin(&ev);
		apes_json_text(&ev, "table", apes_qualified_name(idx->table));
		apes_json_text(&ev, "kind", kind);
		apes_json_int(&ev, "index_bytes", bytes);
		apes_json_bool(&ev, "unique", idx->unique);
		apes_json_bool(&ev, "ready", idx->ready);
		apes_json_bool(&ev, "live", idx->live);
		apes_json_text(&ev, "definition", apes_indexdef(rel, false));
		apes_json_text(&ev, "confidence_reason", "no CREATE INDEX or REINDEX is running on the table (pg_stat_progress_create_index)");
		f->evidence = apes_json_end(&ev);
		*st->out = lappend(*st->out, f);
	}
}

/* ---------- index_duplicate ---------- */

/* The summary, DDL and evidence of an index_duplicate finding (its ApesFinding.details). */
static void
apes_duplicate_details(ApesFinding *f, bool bulk)
{
	IndexFindingArgs *a = f->details_arg;
	ApesIndex  *idx = a->idx;
	ApesIndex  *keeper = a->other;
	char	   *name = f->object_name;
	char	   *kname = apes_qualified_name(keeper->rel);
	int64		bytes = f->wasted_bytes;
	ApesJson	ev;

	if (a->sim != NULL && apes_drop_sim_keep(a->sim))
		apes_sim_summary(f, a, psprintf("it duplicates %s, yet a top statement's plan gets costlier without it", kname));
	else if (apes_index_droppable(idx))
	{
		f->summary = psprintf("index %s (%s) is a duplicate of %s; drop it", name, apes_pretty(bytes), kname);
		apes_sim_summary(f, a, NULL);
		apes_set_drop_ddl(f, idx->rel, bulk);
	}
	else
		f->summary = psprintf("index %s (%s) is a duplicate of %s but something depends on it (%s); remove that dependency first",
							  name, apes_pretty(bytes), kname,
							  OidIsValid(idx->constraint_oid) ? "a constraint" :
							  OidIsValid(idx->fk_referencing) ? "a foreign key" :
							  idx->replident ? "replica identity" : "CLUSTER");
	apes_json_begin(&ev);
	apes_json_text(&ev, "table", apes_qualified_name(idx->table));
	apes_json_text(&ev, "duplicate_of", kname);
	apes_json_text(&ev, "keeper_constraint", keeper->constraint_name);
	apes_json_text(&ev, "constraint", idx->constraint_name);
	apes_json_int(&ev, "index_bytes", bytes);
	apes_json_int(&ev, "index_scans", a->idx_scans);
	apes_json_int(&ev, "keeper_scans", a->other_scans);
	apes_json_text(&ev, "definition", apes_indexdef(idx->rel, bulk));
	if (a->sim != NULL)
		apes_drop_sim_evidence(&ev, a->sim);
	apes_json_text(&ev, "confidence_reason", "same access method, key and INCLUDE columns, operator classes, collations, sort options, expressions and predicate");
	f->evidence = apes_json_end(&ev);
}

/* index_duplicate: for each index, the best identical index to keep instead, if any. */
static void
apes_check_duplicates(IndexCheckState *st)
{
	for (int i = 0; i < st->cat->nindexes; i++)
	{
		ApesIndex  *idx = st->cat->indexes[i];
		ApesIndex  *keeper = NULL;
		ListCell   *lc;

		CHECK_FOR_INTERRUPTS();
		if (!apes_index_usable(idx) || idx->rel->ispartition || list_length(idx->table->indexes) < 2)
			continue;
		foreach(lc, idx->table->indexes)
		{
			ApesIndex  *other = lfirst(lc);

			if (other == idx || !apes_index_usable(other) || !apes_identical(idx, other) ||
				!apes_keep_first(other, idx))
				continue;
			if (keeper == NULL || apes_keep_first(other, keeper))
				keeper = other;
		}
		if (keeper != NULL)
		{
			ApesFinding *f = apes_new_finding(APES_CHECK_index_duplicate, APES_WARNING, apes_qualified_name(idx->rel));

			f->wasted_bytes = apes_rel_bytes(idx->rel);
			apes_defer_details(f, apes_duplicate_details, idx, keeper);
			if (apes_index_droppable(idx))
			{
				idx->proposed = true;
				apes_mark_relied_on(st->cat, keeper);
			}
			else
				f->severity = APES_INFO;
			*st->out = lappend(*st->out, f);
		}
	}
}

/* ---------- index_redundant ---------- */

/* How good a name cover is for idx: the same predicate first, then how much it must be kept (apes_keep_rank). */
static int
apes_cover_rank(ApesIndex *idx, ApesIndex *cover)
{
	return (apes_same_pred(idx, cover) ? 1000 : 0) + apes_keep_rank(cover);
}

/* The index that best covers idx (see apes_covers), or NULL; equivalent pairs report only the lesser of the two. */
static ApesIndex *
apes_find_cover(IndexCheckState *st, ApesIndex *idx)
{
	ApesIndex  *best = NULL;
	ListCell   *lc;

	foreach(lc, idx->table->indexes)
	{
		ApesIndex  *other = lfirst(lc);

		if (other == idx || other->proposed)
			continue;
		if (!apes_covers(other, idx))
			continue;
		/* equivalent indexes cover each other: only the one worth less is redundant */
		if (apes_covers(idx, other) && apes_keep_first(idx, other))
			continue;
		/*
		 * prefer the same predicate (the index that serves the same queries the same way), then what must be kept,
		 * then the widest index: the one a chain of redundant indexes ends in
		 */
		if (best == NULL || apes_cover_rank(idx, other) > apes_cover_rank(idx, best) ||
			(apes_cover_rank(idx, other) == apes_cover_rank(idx, best) && other->natts > best->natts))
			best = other;
	}
	return best;
}

/* The summary, DDL, confidence and evidence of an index_redundant finding (its ApesFinding.details). */
static void
apes_redundant_details(ApesFinding *f, bool bulk)
{
	IndexFindingArgs *a = f->details_arg;
	ApesIndex  *idx = a->idx;
	ApesIndex  *cover = a->other;
	char	   *name = f->object_name;
	char	   *cname = apes_qualified_name(cover->rel);
	int64		bytes = f->wasted_bytes;
	int64		cbytes = apes_rel_bytes(cover->rel);
	ApesJson	ev;

	if (a->sim != NULL && apes_drop_sim_keep(a->sim))
		apes_sim_summary(f, a, psprintf("%s covers it, but a top statement's plan gets costlier without it", cname));
	else
	{
		f->summary = psprintf("index %s (%s) is redundant: %s serves the same queries%s; drop it",
							  name, apes_pretty(bytes), cname,
							  idx->unique ? " and enforces the same uniqueness" : "");
		apes_sim_summary(f, a, NULL);
		apes_set_drop_ddl(f, idx->rel, bulk);
	}

	apes_json_begin(&ev);
	apes_json_text(&ev, "table", apes_qualified_name(idx->table));
	apes_json_text(&ev, "covered_by", cname);
	apes_json_text(&ev, "covering_constraint", cover->constraint_name);
	apes_json_int(&ev, "index_bytes", bytes);
	apes_json_int(&ev, "covering_index_bytes", cbytes);
	apes_json_int(&ev, "index_scans", a->idx_scans);
	apes_json_bool(&ev, "predicate_implied", apes_index_pred(idx) != NIL && !apes_same_pred(idx, cover));
	apes_json_text(&ev, "definition", apes_indexdef(idx->rel, bulk));
	if (a->sim != NULL)
		apes_drop_sim_evidence(&ev, a->sim);
	apes_json_text(&ev, "confidence_reason",
				   psprintf("%s%s",
							bytes > 0 && cbytes > 4 * bytes ?
							"the covering index is more than 4 times larger, so queries that use this index may get slower without it" :
							"key columns are a leading prefix of the covering index with the same operator classes, collations and sort options",
							a->sim != NULL && a->sim->not_run != NULL ? "; the drop was not checked against the workload's plans: confidence lowered" : ""));
	f->evidence = apes_json_end(&ev);
}

/* index_redundant: droppable indexes that another index makes unnecessary. */
static void
apes_check_redundant(IndexCheckState *st)
{
	for (int i = 0; i < st->cat->nindexes; i++)
	{
		ApesIndex  *idx = st->cat->indexes[i];
		ApesIndex  *cover;
		ApesFinding *f;

		CHECK_FOR_INTERRUPTS();
		/* an index an earlier finding names as its cover stays (its own cover would not have the same filter) */
		if (!apes_index_usable(idx) || !apes_index_droppable(idx) || list_length(idx->table->indexes) < 2 ||
			idx->proposed || idx->named_cover)
			continue;
		cover = apes_find_cover(st, idx);
		if (cover == NULL)
			continue;

		f = apes_new_finding(APES_CHECK_index_redundant, APES_WARNING, apes_qualified_name(idx->rel));
		f->wasted_bytes = apes_rel_bytes(idx->rel);
		/* a much wider covering index can make the queries of the narrow one slower */
		if (f->wasted_bytes > 0 && apes_rel_bytes(cover->rel) > 4 * f->wasted_bytes)
			f->confidence = APES_MEDIUM;
		apes_defer_details(f, apes_redundant_details, idx, cover);
		idx->proposed = true;
		cover->named_cover = true;
		apes_mark_relied_on(st->cat, cover);
		*st->out = lappend(*st->out, f);
	}
}

/* ---------- index_unused ---------- */

/* True when column attnum is among the first n of keys. */
static bool
apes_attnum_in(int16 attnum, const int16 *keys, int n)
{
	for (int i = 0; i < n; i++)
		if (keys[i] == attnum)
			return true;
	return false;
}

/*
 * True when the index's first key columns are exactly the foreign key's columns, in any order: as many leading
 * columns as the key has distinct columns (FOREIGN KEY (a, a) is allowed), each one of the key's, and every one of
 * the key's among them.
 */
static bool
apes_index_leads_with_fk(ApesIndex *idx, ApesForeignKey *fk)
{
	int			ndistinct = 0;

	for (int k = 0; k < fk->nkeys; k++)
		if (!apes_attnum_in(fk->keys[k], fk->keys, k))
			ndistinct++;
	if (ndistinct == 0 || ndistinct > idx->nkeyatts)
		return false;
	for (int k = 0; k < fk->nkeys; k++)
		if (!apes_attnum_in(fk->keys[k], idx->keys, ndistinct))
			return false;
	for (int c = 0; c < ndistinct; c++)
		if (!apes_attnum_in(idx->keys[c], fk->keys, fk->nkeys))
			return false;
	return true;
}

static bool apes_fk_index_searchable(ApesForeignKey *fk, ApesIndex *idx, int n);
static int	apes_fk_ndistinct(ApesForeignKey *fk);

/* The foreign key of the table that this index supports (its leading columns are the FK's, searchable), or NULL. */
static ApesForeignKey *
apes_supported_fk(ApesIndex *idx)
{
	ListCell   *lc;

	foreach(lc, idx->table->fks)
	{
		ApesForeignKey *fk = lfirst(lc);

		if (apes_index_leads_with_fk(idx, fk) && apes_fk_index_searchable(fk, idx, apes_fk_ndistinct(fk)))
			return fk;
	}
	return NULL;
}

/* Confidence of "never scanned", from the length of the window since the given time. */
static ApesConfidence
apes_window_confidence(ApesCatalog *cat, TimestampTz since, double *age_days)
{
	long		secs;
	int			usecs;

	TimestampDifference(since, cat->now, &secs, &usecs);
	*age_days = secs / 86400.0;
	if (secs >= apes_stats_trusted_age_s)
		return APES_HIGH;
	if (secs >= apes_stats_trusted_age_s / 4)
		return APES_MEDIUM;
	return APES_LOW;
}

/*
 * True when the index may reach min_bytes.  The catalog's page count decides when it is large enough, or when the
 * table has not changed since its last VACUUM or ANALYZE refreshed that count; otherwise (a table written to since)
 * the count may be stale and the file size decides.  Partitioned indexes always ask the files of their partitions.
 */
static bool
apes_index_may_reach(ApesIndex *idx, int64 min_bytes)
{
	PgStat_StatTabEntry *t;

	if (min_bytes <= 0 || apes_catalog_pages(idx->rel) * BLCKSZ >= min_bytes)
		return true;
	if (idx->rel->relkind != RELKIND_PARTITIONED_INDEX)
	{
		t = apes_fetch_tabentry(idx->table->oid);
		if (t == NULL || apes_mod_since_analyze(t) == 0)
			return false;
	}
	return apes_rel_bytes(idx->rel) >= min_bytes;
}

/* What the kept history (apes.snapshot, apes.relation_history) says of index scans, read through SPI. */
typedef struct UnusedHistory
{
	bool		tried;			/* looked for history already */
	bool		available;		/* there are snapshots the caller may read */
	TimestampTz oldest;			/* the oldest snapshot */
	int64		oldest_id;
	SPIPlanPtr	plan;			/* "was this index in the oldest snapshot, and ever seen scanned?" */
	SPIPlanPtr	usage_plan;		/* an index's scans and its table's writes, per statistics series */
} UnusedHistory;

/* Open the history for index_unused: false when there is none or the caller may not read it. */
static bool
apes_history_open(UnusedHistory *h)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			snap;
	Oid			rh;
	Oid			argtypes[2] = {OIDOID, INT8OID};
	bool		isnull;

	if (h->tried)
		return h->available;
	h->tried = true;
	snap = get_relname_relid("snapshot", get_namespace_oid("apes", true));
	rh = get_relname_relid("relation_history", get_namespace_oid("apes", true));
	if (!OidIsValid(snap) || !OidIsValid(rh) ||
		pg_class_aclcheck(snap, GetUserId(), ACL_SELECT) != ACLCHECK_OK ||
		pg_class_aclcheck(rh, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		return false;
	if (SPI_connect() != SPI_OK_CONNECT)
		return false;
	/* SPI_connect() switched to SPI's own memory, which SPI_finish() frees: findings must outlive it */
	MemoryContextSwitchTo(caller);
	if (SPI_execute("SELECT taken_at, snapshot_id FROM apes.snapshot ORDER BY taken_at, snapshot_id LIMIT 1", true,
					1) != SPI_OK_SELECT || SPI_processed != 1)
	{
		SPI_finish();
		return false;
	}
	h->oldest = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	h->oldest_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	SPI_freetuptable(SPI_tuptable);
	/*
	 * Counters only grow within a statistics series (same server start, same reset), so an index scanned in a series
	 * shows it at that series' last snapshot: one primary-key look-up per series.
	 */
	/* every operator and function qualified: the query runs under the caller's search_path */
	h->plan = SPI_prepare("SELECT EXISTS (SELECT 1 FROM apes.relation_history h"
						  " WHERE h.snapshot_id OPERATOR(pg_catalog.=) $2 AND h.relid OPERATOR(pg_catalog.=) $1),"
						  " EXISTS (SELECT 1 FROM apes.relation_history h"
						  " WHERE h.relid OPERATOR(pg_catalog.=) $1 AND h.idx_scan OPERATOR(pg_catalog.>) 0"
						  " AND h.snapshot_id OPERATOR(pg_catalog.=) ANY (SELECT pg_catalog.max(s.snapshot_id)"
						  " FROM apes.snapshot s GROUP BY s.server_start, s.db_stats_reset))",
						  2, argtypes);
	/*
	 * Per statistics series (server start, reset): whether it holds the oldest or the newest snapshot, and the
	 * index's scans and its table's writes at its first and last snapshots.  A relation whose counters were all zero
	 * is not stored: absent is zero.
	 */
	h->usage_plan = SPI_prepare("SELECT ser.server_start, ser.db_stats_reset,"
								" ser.first_id OPERATOR(pg_catalog.=) (SELECT pg_catalog.min(s.snapshot_id) FROM apes.snapshot s),"
								" ser.last_id OPERATOR(pg_catalog.=) (SELECT pg_catalog.max(s.snapshot_id) FROM apes.snapshot s),"
								" COALESCE(fi.idx_scan, 0), COALESCE(li.idx_scan, 0),"
								" COALESCE(ft.n_tup_ins OPERATOR(pg_catalog.+) ft.n_tup_upd OPERATOR(pg_catalog.+) ft.n_tup_del, 0),"
								" COALESCE(lt.n_tup_ins OPERATOR(pg_catalog.+) lt.n_tup_upd OPERATOR(pg_catalog.+) lt.n_tup_del, 0)"
								" FROM (SELECT s.server_start, s.db_stats_reset, pg_catalog.min(s.snapshot_id) AS first_id,"
								" pg_catalog.max(s.snapshot_id) AS last_id FROM apes.snapshot s"
								" GROUP BY s.server_start, s.db_stats_reset) ser"
								" LEFT JOIN apes.relation_history fi ON fi.snapshot_id OPERATOR(pg_catalog.=) ser.first_id AND fi.relid OPERATOR(pg_catalog.=) $1"
								" LEFT JOIN apes.relation_history li ON li.snapshot_id OPERATOR(pg_catalog.=) ser.last_id AND li.relid OPERATOR(pg_catalog.=) $1"
								" LEFT JOIN apes.relation_history ft ON ft.snapshot_id OPERATOR(pg_catalog.=) ser.first_id AND ft.relid OPERATOR(pg_catalog.=) $2"
								" LEFT JOIN apes.relation_history lt ON lt.snapshot_id OPERATOR(pg_catalog.=) ser.last_id AND lt.relid OPERATOR(pg_catalog.=) $2",
								2, (Oid[]) {OIDOID, OIDOID});
	MemoryContextSwitchTo(caller);
	h->available = h->plan != NULL;
	if (!h->available)
		SPI_finish();
	return h->available;
}

/*
 * True when the history covers the index from its oldest snapshot on and no snapshot saw it scanned: an index the
 * oldest snapshot did not record is younger than the history, which then says nothing of it.
 */
static bool
apes_history_unscanned(UnusedHistory *h, Oid indexoid)
{
	MemoryContext caller = CurrentMemoryContext;
	Datum		args[2] = {ObjectIdGetDatum(indexoid), Int64GetDatum(h->oldest_id)};
	bool		isnull;
	bool		unscanned = false;	/* cannot tell: do not claim a longer window */

	if (SPI_execute_plan(h->plan, args, NULL, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
		unscanned = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) &&
			!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	SPI_freetuptable(SPI_tuptable);		/* one result per index would otherwise stay until the call ends */
	/* every SPI call leaves SPI's memory current; the findings built after it must not live there */
	MemoryContextSwitchTo(caller);
	return unscanned;
}

/* The leaf indexes of an index (a partitioned index's partitions' indexes, down the tree), added to *out. */
static void
apes_leaf_indexes(ApesRel *rel, List **out)
{
	ListCell   *lc;

	if (rel->relkind != RELKIND_PARTITIONED_INDEX)
	{
		*out = lappend_oid(*out, rel->oid);
		return;
	}
	foreach(lc, rel->children)
		apes_leaf_indexes((ApesRel *) lfirst(lc), out);
}

/* A standby's scans of an index (all its leaves), or -1 when the standby could not be read. */
static int64
apes_node_index_scans(ApesStandbyNode *node, ApesRel *rel)
{
	List	   *leaves = NIL;
	ListCell   *lc;
	int64		scans = 0;

	if (node->error != NULL)
		return -1;
	apes_leaf_indexes(rel, &leaves);
	foreach(lc, leaves)
		scans += apes_standby_scans(node, lfirst_oid(lc));
	return scans;
}

/* The names of the standbys that could not be read, with why: "standby 2 (timed out)", or NULL when none. */
static char *
apes_unread_nodes(List *nodes)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, nodes)
	{
		ApesStandbyNode *node = lfirst(lc);

		if (node->error != NULL)
		{
			/* a summary is one line: libpq's message only to its first line break (the evidence has it all) */
			int			len = strcspn(node->error, "\r\n");

			appendStringInfo(&buf, "%s%s (%.*s)", buf.len > 0 ? ", " : "", node->name, len, node->error);
		}
	}
	return buf.len > 0 ? buf.data : NULL;
}

/* Where the scans were counted, for a summary: " on this server and its 2 standbys", or a hint to count them. */
static char *
apes_nodes_phrase(IndexFindingArgs *a)
{
	char	   *unread = apes_unread_nodes(a->nodes);
	int			read = 0;
	ListCell   *lc;

	if (a->nodes == NIL)
		return " on this server (a standby counts its own: pg_apes_health.standby_dsns adds them)";
	foreach(lc, a->nodes)
		read += ((ApesStandbyNode *) lfirst(lc))->error == NULL;
	if (unread == NULL)
		return psprintf(" on this server and its %d standby%s", read, read == 1 ? "" : "s");
	return psprintf(" on this server and %d of its %d standbys; could not read %s, whose scans are unknown", read,
					list_length(a->nodes), unread);
}

/* Scans per node and the nodes that could not be read, in the evidence. */
static void
apes_nodes_evidence(ApesJson *ev, IndexFindingArgs *a, int64 local)
{
	ListCell   *lc;

	apes_json_begin_object(ev, "scans_per_node");
	apes_json_int(ev, "this server", local);
	foreach(lc, a->nodes)
	{
		ApesStandbyNode *node = lfirst(lc);

		if (node->error == NULL)
			apes_json_int(ev, node->name, a->node_scans[foreach_current_index(lc)]);
	}
	apes_json_end_object(ev);
	apes_json_begin_array(ev, "nodes_unread");
	foreach(lc, a->nodes)
	{
		ApesStandbyNode *node = lfirst(lc);

		if (node->error != NULL)
		{
			apes_json_begin_object(ev, NULL);
			apes_json_text(ev, "node", node->name);
			apes_json_text(ev, "error", node->error);
			apes_json_end_object(ev);
		}
	}
	apes_json_end_array(ev);
}

/* The simulation's verdict as the end of a drop finding's summary, and "keep" as its start when it says so. */
static void
apes_sim_summary(ApesFinding *f, IndexFindingArgs *a, const char *verdict)
{
	if (a->sim != NULL && apes_drop_sim_keep(a->sim))
		f->summary = psprintf("keep index %s: %s; %s", f->object_name, verdict, apes_drop_sim_phrase(a->sim));
	else if (a->sim != NULL)
		f->summary = psprintf("%s; %s", f->summary, apes_drop_sim_phrase(a->sim));
}

/* The summary, DDL and evidence of an index_unused finding (its ApesFinding.details). */
static void
apes_unused_details(ApesFinding *f, bool bulk)
{
	IndexFindingArgs *a = f->details_arg;
	ApesIndex  *idx = a->idx;
	char	   *name = f->object_name;
	int64		bytes = apes_rel_bytes(idx->rel);
	bool		keep = a->sim != NULL && apes_drop_sim_keep(a->sim);
	char	   *unread = apes_unread_nodes(a->nodes);
	ApesJson	ev;

	if (a->fk != NULL)
	{
		/* dropping it would only turn this finding into fk_missing_index: no DDL */
		f->summary = psprintf("index %s (%s) has not been scanned in %.1f days of statistics%s, but it supports foreign key %s: deletes and key updates of the referenced table need it, so keep it unless that table never changes",
							  name, apes_pretty(bytes), a->age_days, apes_nodes_phrase(a),
							  quote_identifier(a->fk->name));
		if (a->sim != NULL)
			f->summary = psprintf("%s; %s", f->summary, apes_drop_sim_phrase(a->sim));
	}
	else if (keep)
		apes_sim_summary(f, a, psprintf("it has not been scanned in %.1f days of statistics%s, but the workload still plans it (a rare job, counters reset, or a standby)",
										a->age_days, apes_nodes_phrase(a)));
	else
	{
		f->summary = psprintf("index %s (%s) has not been scanned in %.1f days of statistics%s; drop it unless a rare job needs it",
							  name, apes_pretty(bytes), a->age_days, apes_nodes_phrase(a));
		apes_sim_summary(f, a, NULL);
		apes_set_drop_ddl(f, idx->rel, bulk);
	}

	apes_json_begin(&ev);
	apes_json_text(&ev, "table", apes_qualified_name(idx->table));
	apes_json_int(&ev, "index_bytes", bytes);
	apes_json_int(&ev, "index_scans", a->scans);
	apes_json_int(&ev, "tuples_read", a->tuples);
	apes_json_text(&ev, "stats_since", timestamptz_to_str(a->since));
	apes_json_text(&ev, "stats_since_basis", a->basis);
	apes_json_float(&ev, "stats_age_days", a->age_days);
	apes_json_text(&ev, "supports_foreign_key", a->fk != NULL ? a->fk->name : NULL);
	apes_json_bool(&ev, "partitioned", idx->rel->relkind == RELKIND_PARTITIONED_INDEX);
	apes_json_bool(&ev, "index_age_known", !a->age_unknown);
	apes_nodes_evidence(&ev, a, a->scans);
	if (a->sim != NULL)
		apes_drop_sim_evidence(&ev, a->sim);
	apes_json_text(&ev, "confidence_reason",
				   psprintf("statistics cover %.1f days (basis: %s); %.1f days or more is trusted fully (pg_apes_health.stats_trusted_age); counters are per server%s%s%s%s",
							a->age_days, a->basis, apes_stats_trusted_age_s / 86400.0,
							a->nodes != NIL ? ", the standbys' are added" : ", standbys keep their own",
							a->age_unknown ? "; the file system does not say when the index was made, so it may be younger than the statistics: confidence lowered" : "",
							unread != NULL ? psprintf("; could not read %s: confidence lowered", unread) : "",
							a->sim != NULL && a->sim->not_run != NULL ? "; the drop was not checked against the workload's plans: confidence lowered" : ""));
	f->evidence = apes_json_end(&ev);
}

/* The summary, DDL and evidence of an index_rarely_used finding (its ApesFinding.details). */
static void
apes_rarely_details(ApesFinding *f, bool bulk)
{
	IndexFindingArgs *a = f->details_arg;
	ApesIndex  *idx = a->idx;
	char	   *name = f->object_name;
	int64		bytes = apes_rel_bytes(idx->rel);
	bool		keep = a->sim != NULL && apes_drop_sim_keep(a->sim);
	char	   *unread = apes_unread_nodes(a->nodes);
	ApesJson	ev;

	if (keep)
		apes_sim_summary(f, a, psprintf("it was scanned only %lld times in %.1f days%s while its table took %lld row writes, but a top statement needs it",
										(long long) a->scans, a->age_days, apes_nodes_phrase(a), (long long) a->writes));
	else
	{
		f->summary = psprintf("index %s (%s) was scanned only %lld times in %.1f days%s while its table took %lld row writes, each of which updates it (%.0f writes per scan); drop it unless those few scans matter",
							  name, apes_pretty(bytes), (long long) a->scans, a->age_days, apes_nodes_phrase(a),
							  (long long) a->writes, (double) a->writes / Max(a->scans, 1));
		apes_sim_summary(f, a, NULL);
		apes_set_drop_ddl(f, idx->rel, bulk);
	}
	apes_json_begin(&ev);
	apes_json_text(&ev, "table", apes_qualified_name(idx->table));
	apes_json_int(&ev, "index_bytes", bytes);
	apes_json_int(&ev, "index_scans", a->scans);
	apes_json_int(&ev, "table_writes", a->writes);
	apes_json_float(&ev, "writes_per_scan", (double) a->writes / Max(a->scans, 1));
	apes_json_text(&ev, "window_since", timestamptz_to_str(a->since));
	apes_json_text(&ev, "window_basis", a->basis);
	apes_json_float(&ev, "window_days", a->age_days);
	apes_json_bool(&ev, "partitioned", idx->rel->relkind == RELKIND_PARTITIONED_INDEX);
	apes_nodes_evidence(&ev, a, a->idx_scans);
	if (a->sim != NULL)
		apes_drop_sim_evidence(&ev, a->sim);
	apes_json_text(&ev, "confidence_reason",
				   psprintf("scans and writes over %.1f days (basis: %s); %.1f days or more is trusted fully (pg_apes_health.stats_trusted_age)%s%s",
							a->age_days, a->basis, apes_stats_trusted_age_s / 86400.0,
							unread != NULL ? psprintf("; could not read %s: confidence lowered", unread) : "",
							a->sim != NULL && a->sim->not_run != NULL ? "; the drop was not checked against the workload's plans: confidence lowered" : ""));
	f->evidence = apes_json_end(&ev);
}

/*
 * Scans of an index and writes to its table over the kept history, when the history is longer than the statistics
 * window: every statistics series (a server start, a reset) adds what its counters grew by (the oldest from its
 * first snapshot, the later ones from zero), and the current counters add what came since the last snapshot (all of
 * them when a reset or restart came after it).  False when the history cannot say.
 */
static bool
apes_history_usage(UnusedHistory *h, ApesIndex *idx, int64 scans_now, int64 writes_now, int64 *scans,
				   int64 *writes)
{
	MemoryContext caller = CurrentMemoryContext;
	Datum		args[2] = {ObjectIdGetDatum(idx->oid), ObjectIdGetDatum(idx->table->oid)};
	PgStat_StatDBEntry *db = pgstat_fetch_stat_dbentry(MyDatabaseId);
	TimestampTz reset = db != NULL ? db->stat_reset_timestamp : 0;
	bool		ok = false;

	*scans = *writes = 0;
	if (h->usage_plan == NULL)
		return false;
	if (SPI_execute_plan(h->usage_plan, args, NULL, true, 0) == SPI_OK_SELECT && SPI_processed > 0)
	{
		ok = true;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			bool		oldest = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
			bool		newest = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
			int64		first_scans = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
			int64		last_scans = DatumGetInt64(SPI_getbinval(tup, desc, 6, &isnull));
			int64		first_writes = DatumGetInt64(SPI_getbinval(tup, desc, 7, &isnull));
			int64		last_writes = DatumGetInt64(SPI_getbinval(tup, desc, 8, &isnull));

			*scans += last_scans - (oldest ? first_scans : 0);
			*writes += last_writes - (oldest ? first_writes : 0);
			if (newest)
			{
				TimestampTz start = DatumGetTimestampTz(SPI_getbinval(tup, desc, 1, &isnull));
				Datum		r = SPI_getbinval(tup, desc, 2, &isnull);
				bool		same = start == PgStartTime && (isnull ? reset == 0 : DatumGetTimestampTz(r) == reset);

				/* the same series still counting: what came since the last snapshot; else all since the reset */
				*scans += same ? scans_now - last_scans : scans_now;
				*writes += same ? writes_now - last_writes : writes_now;
			}
		}
	}
	SPI_freetuptable(SPI_tuptable);
	MemoryContextSwitchTo(caller);
	return ok && *scans >= 0 && *writes >= 0;
}

/*
 * index_rarely_used for one candidate with scans: at most pg_apes_health.rarely_used_max_scans scans (all nodes) in
 * the window, against at least pg_apes_health.rarely_used_writes_per_scan row writes to its table per scan.  The
 * window is the history's, when it is longer than the statistics' and the index is older than it; else the
 * statistics window.  An index younger than the window is not judged: the counters cannot say how many of its
 * table's writes came after it was made.
 */
static void
apes_check_rarely_used(IndexCheckState *st, ApesIndex *idx, UnusedHistory *hist, int64 local_scans, int64 standby_scans,
					   List *nodes, int64 *node_scans, int64 bytes)
{
	int64		writes = apes_table_writes(idx->table);
	int64		scans = local_scans;
	TimestampTz since = st->cat->stats_since;
	const char *basis = st->cat->stats_since_basis;
	TimestampTz born = apes_rel_born(idx->rel);
	double		days;
	ApesConfidence conf;
	ApesFinding *f;
	IndexFindingArgs *a;
	int64		hscans;
	int64		hwrites;

	if (idx->rel->relkind == RELKIND_INDEX && apes_history_open(hist) && hist->oldest < since &&
		born != 0 && born < hist->oldest && apes_history_usage(hist, idx, local_scans, writes, &hscans, &hwrites))
	{
		since = hist->oldest;
		basis = "history";
		scans = hscans;
		writes = hwrites;
	}
	else if (born > since)
		return;					/* younger than the window: the writes it has taken are not known */
	scans += standby_scans;
	if (scans <= 0 || scans > apes_rarely_used_max_scans ||
		(double) writes < (double) apes_rarely_used_writes_per_scan * scans)
		return;
	conf = apes_window_confidence(st->cat, since, &days);
	if (apes_unread_nodes(nodes) != NULL && conf < APES_LOW)
		conf++;
	f = apes_new_finding(APES_CHECK_index_rarely_used, APES_INFO, apes_qualified_name(idx->rel));
	f->wasted_bytes = bytes;
	f->confidence = conf;
	a = apes_defer_details(f, apes_rarely_details, idx, NULL);
	a->scans = scans;
	a->writes = writes;
	a->since = since;
	a->basis = basis;
	a->age_days = days;
	a->nodes = nodes;
	a->node_scans = node_scans;
	idx->proposed = true;		/* a DROP is proposed: no later check proposes another fix for it */
	*st->out = lappend(*st->out, f);
}

/*
 * index_unused and index_rarely_used: droppable, non-unique indexes of at least the configured size with no scans,
 * or only a few, in the window.  The standbys of pg_apes_health.standby_dsns are asked once for the scans of every
 * candidate (this server's scans at most rarely_used_max_scans) and their scans added.  With kept history, an index
 * no snapshot ever saw scanned is judged over the whole history when that is longer than the statistics window
 * (snapshots see scans only as counters at snapshot time: a restart between two snapshots hides the scans made since
 * the first).
 */
static void
apes_check_unused(IndexCheckState *st)
{
	int64		min_bytes = (int64) apes_unused_index_min_size_kb * 1024;
	UnusedHistory hist = {0};
	List	   *cands = NIL;
	List	   *leaves = NIL;
	List	   *nodes;
	ListCell   *lc;

	for (int i = 0; i < st->cat->nindexes; i++)
	{
		ApesIndex  *idx = st->cat->indexes[i];

		CHECK_FOR_INTERRUPTS();
		if (!apes_index_usable(idx) || idx->unique || !apes_index_droppable(idx) || idx->proposed ||
			idx->relied_on || apes_cached_scans(idx) > apes_rarely_used_max_scans ||
			!apes_index_may_reach(idx, min_bytes))
			continue;
		cands = lappend(cands, idx);
		apes_leaf_indexes(idx->rel, &leaves);
	}
	nodes = apes_standby_read(leaves);

	foreach(lc, cands)
	{
		ApesIndex  *idx = lfirst(lc);
		int64		scans = 0;
		int64		tuples = 0;
		int64		standby_scans = 0;
		int64	   *node_scans = palloc0(sizeof(int64) * Max(list_length(nodes), 1));
		int64		bytes;
		ApesForeignKey *fk;
		ApesFinding *f;
		IndexFindingArgs *a;
		TimestampTz since;
		const char *basis;
		double		age_days;
		bool		age_unknown;
		ApesConfidence conf;
		ListCell   *nc;

		CHECK_FOR_INTERRUPTS();
		apes_index_usage(idx->rel, &scans, &tuples);
		foreach(nc, nodes)
		{
			node_scans[foreach_current_index(nc)] = apes_node_index_scans(lfirst(nc), idx->rel);
			standby_scans += Max(node_scans[foreach_current_index(nc)], 0);
		}
		bytes = apes_rel_bytes(idx->rel);
		if (bytes < min_bytes)
			continue;
		if (scans + standby_scans > 0)
		{
			apes_check_rarely_used(st, idx, &hist, scans, standby_scans, nodes, node_scans, bytes);
			continue;
		}

		/*
		 * The longer of the statistics window and a history that recorded the index from its start and never saw
		 * it scanned; else the statistics window, cut to the index's own age (the birth of its file): an index made
		 * an hour ago was not "unscanned for 30 days".  With no age known, confidence is one step lower.
		 */
		since = st->cat->stats_since;
		basis = st->cat->stats_since_basis;
		age_unknown = false;
		if (idx->rel->relkind == RELKIND_INDEX && apes_history_open(&hist) && hist.oldest < since &&
			apes_history_unscanned(&hist, idx->oid))
		{
			since = hist.oldest;
			basis = "history";
		}
		else
		{
			TimestampTz born = apes_rel_born(idx->rel);

			if (born == 0)
				age_unknown = true;
			else if (born > since)
			{
				since = born;
				basis = "index_created";
			}
		}
		conf = apes_window_confidence(st->cat, since, &age_days);
		if (age_unknown && conf < APES_LOW)
			conf++;
		if (apes_unread_nodes(nodes) != NULL && conf < APES_LOW)
			conf++;

		fk = apes_supported_fk(idx);
		f = apes_new_finding(APES_CHECK_index_unused, fk != NULL ? APES_INFO : APES_WARNING,
							 apes_qualified_name(idx->rel));
		f->wasted_bytes = bytes;
		f->confidence = conf;
		a = apes_defer_details(f, apes_unused_details, idx, NULL);
		a->scans = scans;
		a->tuples = tuples;
		a->since = since;
		a->basis = basis;
		a->age_days = age_days;
		a->age_unknown = age_unknown;
		a->fk = fk;
		a->nodes = nodes;
		a->node_scans = node_scans;
		if (fk == NULL)
			idx->proposed = true;	/* a DROP is proposed: no later check proposes another fix for it */
		*st->out = lappend(*st->out, f);
	}
	if (hist.available)
		SPI_finish();
}

/* ---------- index_null_heavy ---------- */

/* The tables whose columns' statistics index_null_heavy reads (apes_catalog_load_columns). */
static bool
apes_null_heavy_wanted(ApesRel *rel)
{
	return rel->index_columns;
}

/*
 * DDL that builds the index again as a partial index without the rows whose leading column is NULL, under another
 * name: the server's definition with the name replaced, CONCURRENTLY, and the predicate (the definition ends with its
 * storage parameters and tablespace: a WHERE comes last).  NULL without a definition.
 */
static char *
apes_partial_create_sql(ApesRel *rel, const char *newname, const char *colname, bool bulk)
{
	char	   *def = apes_indexdef(rel, bulk);
	const char *head = rel->index->unique ? "CREATE UNIQUE INDEX " : "CREATE INDEX ";
	const char *qname = quote_identifier(rel->relname);

	if (def == NULL || strncmp(def, head, strlen(head)) != 0 ||
		strncmp(def + strlen(head), qname, strlen(qname)) != 0)
		return NULL;
	return psprintf("%sCONCURRENTLY %s%s WHERE (%s IS NOT NULL);", head, quote_identifier(newname),
					def + strlen(head) + strlen(qname), quote_identifier(colname));
}

/* The summary, DDL and evidence of an index_null_heavy finding (its ApesFinding.details). */
static void
apes_null_heavy_details(ApesFinding *f, bool bulk)
{
	IndexFindingArgs *a = f->details_arg;
	ApesIndex  *idx = a->idx;
	int64		bytes = apes_rel_bytes(idx->rel);
	char	   *col = get_attname(idx->table->oid, a->null_col, true);
	char	   *newname;
	char	   *create;
	char	   *recreate;
	ApesJson	ev;

	if (col == NULL)
		col = "?column?";		/* dropped since the catalog pass */
	newname = ChooseRelationName(idx->rel->relname, NULL, "notnull", idx->rel->nspoid, false);
	f->summary = psprintf("index %s (%s): %.0f%% of its rows have no value in its leading column %s; a partial index WHERE %s IS NOT NULL would leave them out (about %s smaller); only a query searching for %s IS NULL would lose it",
						  f->object_name, apes_pretty(bytes), 100.0 * a->null_frac, quote_identifier(col),
						  quote_identifier(col), apes_pretty(f->wasted_bytes), quote_identifier(col));
	create = apes_partial_create_sql(idx->rel, newname, col, bulk);
	recreate = apes_index_create_sql(idx->rel, bulk);
	if (create != NULL && recreate != NULL)
	{
		f->fix_sql = psprintf("%s\n%s", create, apes_index_drop_sql(idx->rel));
		f->undo_sql = psprintf("%s\nDROP INDEX CONCURRENTLY %s;", recreate,
							   quote_qualified_identifier(idx->rel->nspname, newname));
	}
	else
		f->summary = psprintf("%s (no DDL now: the table is locked by another session's DDL; run the report again later)",
							  f->summary);
	apes_json_begin(&ev);
	apes_json_text(&ev, "table", apes_qualified_name(idx->table));
	apes_json_text(&ev, "column", col);
	apes_json_float(&ev, "null_frac", a->null_frac);
	apes_json_int(&ev, "index_bytes", bytes);
	apes_json_int(&ev, "estimated_saving_bytes", f->wasted_bytes);
	apes_json_text(&ev, "definition", apes_indexdef(idx->rel, bulk));
	apes_json_text(&ev, "confidence_reason", "pg_stats.null_frac of the leading column, from the table's last ANALYZE; the saving is the NULL rows' share of the index");
	f->evidence = apes_json_end(&ev);
}

/*
 * index_null_heavy: a usable, non-partial btree of at least pg_apes_health.null_heavy_min_size whose leading column
 * (a plain column) is NULL in at least pg_apes_health.null_heavy_min_pct percent of the rows, by pg_stats.null_frac,
 * read only where the caller may see the statistics as pg_stats shows them (apes_stats_visible: SELECT on the column
 * or table, no row-level security).  Left out: indexes backing a constraint (a constraint's index cannot be partial),
 * NULLS NOT DISTINCT (a partial index would change what it forbids), partitions' and partitioned indexes, and indexes
 * an earlier finding proposes to drop or relies on.
 */
static void
apes_check_null_heavy(IndexCheckState *st)
{
	int64		min_bytes = (int64) apes_null_heavy_min_size_kb * 1024;
	List	   *cands = NIL;
	ListCell   *lc;

	for (int i = 0; i < st->cat->nindexes; i++)
	{
		ApesIndex  *idx = st->cat->indexes[i];

		CHECK_FOR_INTERRUPTS();
		if (!apes_index_usable(idx) || idx->rel->relam != BTREE_AM_OID || idx->pred_text != NULL ||
			idx->keys[0] <= 0 || idx->proposed || idx->relied_on || OidIsValid(idx->constraint_oid) ||
			idx->exclusion || idx->nulls_not_distinct || idx->rel->ispartition ||
			idx->rel->relkind != RELKIND_INDEX || idx->table->relkind != RELKIND_RELATION ||
			!apes_index_may_reach(idx, min_bytes) || apes_rel_bytes(idx->rel) < min_bytes)
			continue;
		idx->table->index_columns = true;
		cands = lappend(cands, idx);
	}
	if (cands == NIL)
		return;
	apes_catalog_load_columns(st->cat, apes_null_heavy_wanted);
	foreach(lc, cands)
	{
		ApesIndex  *idx = lfirst(lc);
		ApesRel    *table = idx->table;
		ApesColumn *c;
		int			memo = -1;
		ApesFinding *f;
		IndexFindingArgs *a;

		CHECK_FOR_INTERRUPTS();
		if (table->columns == NULL || idx->keys[0] > table->relnatts)
			continue;
		c = &table->columns[idx->keys[0] - 1];
		if (c->attnum == 0 || c->notnull || !c->has_stats || c->nullfrac * 100.0 < apes_null_heavy_min_pct ||
			!apes_stats_visible(table, c->attnum, &memo))
			continue;
		f = apes_new_finding(APES_CHECK_index_null_heavy, APES_INFO, apes_qualified_name(idx->rel));
		f->wasted_bytes = (int64) (apes_rel_bytes(idx->rel) * c->nullfrac);
		a = apes_defer_details(f, apes_null_heavy_details, idx, NULL);
		a->null_col = c->attnum;
		a->null_frac = c->nullfrac;
		*st->out = lappend(*st->out, f);
	}
}

/* ---------- simulations: what the proposed drops would do to the workload's plans ---------- */

/*
 * The workload (pg_stat_statements, as the caller may see it), read on first need; the simulation budget
 * (pg_apes_health.simulation_time_budget) starts then.  NULL when the budget is 0: no simulation runs.
 */
static ApesWorkload *
apes_index_workload(IndexCheckState *st)
{
	if (!st->workload_tried)
	{
		st->workload_tried = true;
		st->sim_start = GetCurrentTimestamp();
		if (apes_simulation_time_budget_ms > 0)
			st->workload = apes_workload_load(CurrentMemoryContext,
											  TimestampTzPlusMilliseconds(st->sim_start,
																		  apes_simulation_time_budget_ms));
	}
	return st->workload;
}

/* Findings by size, largest first: the ones reports show first are simulated first. */
static int
apes_finding_size_cmp(const ListCell *a, const ListCell *b)
{
	int64		x = ((ApesFinding *) lfirst(a))->wasted_bytes;
	int64		y = ((ApesFinding *) lfirst(b))->wasted_bytes;

	return x > y ? -1 : x < y ? 1 : 0;
}

/*
 * Simulate the drop of every index an index_unused, index_rarely_used, index_redundant or index_duplicate finding
 * names, largest first, until the budget is spent, or, for a rendering that shows pg_apes_health.report_limit
 * findings per group, until that many drops are confirmed: the smaller ones rank below them and are not shown.  A drop
 * that makes a top statement costlier than pg_apes_health.keep_cost_ratio makes the finding a "keep": info, nothing
 * reclaimed, no DDL.  A drop not checked (no pg_stat_statements, budget spent) lowers the finding's confidence by a
 * step, except for a duplicate (its twin serves every plan it served) and for those left out because no rendering
 * shows them.
 */
static void
apes_simulate_drops(IndexCheckState *st)
{
	List	   *todo = NIL;
	ApesWorkload *w = apes_index_workload(st);
	int			confirmed = 0;
	ListCell   *lc;

	foreach(lc, *st->out)
	{
		ApesFinding *f = lfirst(lc);

		if ((f->check == APES_CHECK_index_unused || f->check == APES_CHECK_index_rarely_used ||
			 f->check == APES_CHECK_index_redundant || f->check == APES_CHECK_index_duplicate) &&
			f->details_arg != NULL)
			todo = lappend(todo, f);
	}
	list_sort(todo, apes_finding_size_cmp);
	foreach(lc, todo)
	{
		ApesFinding *f = lfirst(lc);
		IndexFindingArgs *a = f->details_arg;

		CHECK_FOR_INTERRUPTS();
		if (st->cat->shown_limit > 0 && confirmed >= st->cat->shown_limit)
		{
			a->sim = apes_drop_sim_not_run("not simulated for this report: it ranks below the findings the report shows (apes.findings() and apes.simulate_drop() check it)");
			continue;
		}
		if (w == NULL)
			a->sim = apes_drop_sim_not_run("the simulation budget is 0 (pg_apes_health.simulation_time_budget)");
		else if (w->unavailable != NULL)
			a->sim = apes_drop_sim_not_run(w->unavailable);
		else if (!apes_workload_time_left(w))
			a->sim = apes_drop_sim_not_run("the simulation budget was spent on larger indexes first (pg_apes_health.simulation_time_budget); apes.simulate_drop() checks this one alone");
		else
			a->sim = apes_drop_simulation(w, a->idx->oid, apes_simulation_statements);
		if (apes_drop_sim_keep(a->sim))
		{
			f->severity = APES_INFO;
			f->wasted_bytes = -1;
		}
		else if (a->sim->not_run != NULL && f->check != APES_CHECK_index_duplicate && f->confidence < APES_LOW)
			f->confidence++;
		else if (a->sim->not_run == NULL && f->severity == APES_WARNING)
			confirmed++;
	}
}

/* ---------- fk_missing_index ---------- */

/*
 * NOT NULL tests of the FK columns: the only rows a referential-action lookup ever searches.  NIL when a column has
 * vanished (the table was dropped since the catalog pass).
 */
static List *
apes_fk_not_null_clauses(ApesForeignKey *fk)
{
	List	   *clauses = NIL;

	for (int k = 0; k < fk->nkeys; k++)
	{
		HeapTuple	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(fk->table->oid), Int16GetDatum(fk->keys[k]));
		Form_pg_attribute att;
		NullTest   *nt;

		if (!HeapTupleIsValid(tup))
			return NIL;
		att = (Form_pg_attribute) GETSTRUCT(tup);
		nt = makeNode(NullTest);
		nt->arg = (Expr *) makeVar(1, fk->keys[k], att->atttypid, att->atttypmod, att->attcollation, 0);
		nt->nulltesttype = IS_NOT_NULL;
		nt->argisrow = false;
		nt->location = -1;
		clauses = lappend(clauses, nt);
		ReleaseSysCache(tup);
	}
	return clauses;
}

/*
 * The collation the referential actions' lookup compares FK column k under: the referencing column's, unless the
 * referenced column's collation differs and is nondeterministic (the lookup then names it, as ri_triggers.c does).
 */
static Oid
apes_fk_lookup_collation(ApesForeignKey *fk, int k)
{
	Oid			typid;
	int32		typmod;
	Oid			fkcoll;
	Oid			pkcoll;

	get_atttypetypmodcoll(fk->table->oid, fk->keys[k], &typid, &typmod, &fkcoll);
	if (fk->reftable == NULL)
		return fkcoll;
	get_atttypetypmodcoll(fk->reftable->oid, fk->refkeys[k], &typid, &typmod, &pkcoll);
	if (OidIsValid(pkcoll) && pkcoll != fkcoll && !get_collation_isdeterministic(pkcoll))
		return pkcoll;
	return fkcoll;
}

/*
 * True when the lookup "$1 = fkcol" of FK column k (conpfeqop, the referenced side on the left) can be an index
 * condition on key position pos of idx: the operator, turned round, is in the position's operator family, and the
 * position's collation is the lookup's.  An int4 column referencing a numeric key is compared as numeric (the
 * column is cast), which an int4 index cannot search; a COLLATE "C" index cannot search a default-collation lookup.
 */
static bool
apes_fk_key_searchable(ApesForeignKey *fk, int k, ApesIndex *idx, int pos)
{
	return apes_key_operator(idx, pos, get_commutator(fk->pfeqop[k]), apes_fk_lookup_collation(fk, k));
}

/* True when every FK column among idx's first n key columns is one the FK's lookup can search there. */
static bool
apes_fk_index_searchable(ApesForeignKey *fk, ApesIndex *idx, int n)
{
	for (int pos = 0; pos < n; pos++)
		for (int k = 0; k < fk->nkeys; k++)
			if (fk->keys[k] == idx->keys[pos] && !apes_fk_key_searchable(fk, k, idx, pos))
				return false;
	return true;
}

/* The number of distinct columns of the FK. */
static int
apes_fk_ndistinct(ApesForeignKey *fk)
{
	int			ndistinct = 0;

	for (int k = 0; k < fk->nkeys; k++)
		if (!apes_attnum_in(fk->keys[k], fk->keys, k))
			ndistinct++;
	return ndistinct;
}

/* True when the index has no predicate, or one the FK columns being NOT NULL imply (*notnull is built once). */
static bool
apes_fk_rows_indexed(ApesForeignKey *fk, ApesIndex *idx, List **notnull)
{
	if (apes_index_pred(idx) == NIL)
		return true;
	if (*notnull == NIL)
		*notnull = apes_fk_not_null_clauses(fk);
	return *notnull != NIL && predicate_implied_by(apes_index_pred(idx), *notnull, false);
}

/*
 * A usable btree index of the FK's table that the lookup can search by some of the FK's columns but not all: its
 * leading key columns (the most of them) are FK columns it can search, and it indexes every row the FK can
 * reference.  *ncols is how many lead.  NULL when there is none.
 */
static ApesIndex *
apes_fk_partial_index(ApesForeignKey *fk, int *ncols)
{
	ListCell   *lc;
	List	   *notnull = NIL;
	ApesIndex  *best = NULL;

	*ncols = 0;
	foreach(lc, fk->table->indexes)
	{
		ApesIndex  *idx = lfirst(lc);
		int			n = 0;

		if (!apes_index_usable(idx) || idx->rel->relam != BTREE_AM_OID)
			continue;
		while (n < idx->nkeyatts && apes_attnum_in(idx->keys[n], fk->keys, fk->nkeys) &&
			   apes_fk_index_searchable(fk, idx, n + 1))
			n++;
		if (n > *ncols && apes_fk_rows_indexed(fk, idx, &notnull))
		{
			best = idx;
			*ncols = n;
		}
	}
	return best;
}

/*
 * True when an index of this table serves the lookups of the foreign key's referential actions: a usable btree
 * index that leads with exactly the FK's columns, in any order, or a hash index on exactly its column; whose
 * operator families and collations are the lookup's (apes_fk_key_searchable); and that indexes every row the FK can
 * reference (no predicate, or one the FK columns being NOT NULL imply).
 */
static bool
apes_table_has_fk_index(ApesForeignKey *fk)
{
	ListCell   *lc;
	List	   *notnull = NIL;

	foreach(lc, fk->table->indexes)
	{
		ApesIndex  *idx = lfirst(lc);

		if (!apes_index_usable(idx) || !apes_index_leads_with_fk(idx, fk))
			continue;
		if (idx->rel->relam != BTREE_AM_OID && !(idx->rel->relam == HASH_AM_OID && idx->nkeyatts == fk->nkeys))
			continue;
		if (apes_fk_index_searchable(fk, idx, apes_fk_ndistinct(fk)) && apes_fk_rows_indexed(fk, idx, &notnull))
			return true;
	}
	return false;
}

/* The foreign keys that partitions inherited from this one (their conparentid), from a map built on first use. */
static List *
apes_fk_children(IndexCheckState *st, ApesForeignKey *fk)
{
	FkChildren *e;

	if (st->fk_children == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(FkChildren);
		ctl.hcxt = CurrentMemoryContext;
		st->fk_children = hash_create("apes fk children", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		for (int i = 0; i < st->cat->nfks; i++)
		{
			ApesForeignKey *c = st->cat->fks[i];
			bool		found;

			if (!OidIsValid(c->parent))
				continue;
			e = hash_search(st->fk_children, &c->parent, HASH_ENTER, &found);
			if (!found)
				e->children = NIL;
			e->children = lappend(e->children, c);
		}
	}
	e = hash_search(st->fk_children, &fk->oid, HASH_FIND, NULL);
	return e != NULL ? e->children : NIL;
}

/* The FK's columns as a set. */
static Bitmapset *
apes_fk_columns(ApesForeignKey *fk)
{
	Bitmapset  *cols = NULL;

	for (int k = 0; k < fk->nkeys; k++)
		cols = bms_add_member(cols, fk->keys[k]);
	return cols;
}

/* The FK whose proposed index, earlier in this report, already serves an FK on the same table and columns. */
static const char *
apes_fk_already_proposed(IndexCheckState *st, ApesForeignKey *fk)
{
	Bitmapset  *cols = apes_fk_columns(fk);
	ListCell   *lc;

	foreach(lc, st->fk_proposed)
	{
		ProposedFkIndex *p = lfirst(lc);

		if (p->table == fk->table->oid && bms_equal(p->columns, cols))
			return p->fkname;
	}
	return NULL;
}

/*
 * True when the foreign key's lookups are served by an index: on its table, or, for a partitioned table without
 * one, on every partition (through the FK each partition inherits, whose columns are numbered the partition's way).
 */
static bool
apes_fk_has_index(IndexCheckState *st, ApesForeignKey *fk)
{
	ListCell   *lc;
	bool		any = false;

	if (apes_table_has_fk_index(fk))
		return true;
	if (fk->table->relkind != RELKIND_PARTITIONED_TABLE)
		return false;
	foreach(lc, apes_fk_children(st, fk))
	{
		CHECK_FOR_INTERRUPTS();
		if (!apes_fk_has_index(st, (ApesForeignKey *) lfirst(lc)))
			return false;
		any = true;
	}
	return any;
}

/*
 * An index that serves the FK's lookups by some of its columns (apes_fk_partial_index): on its table, or, for a
 * partitioned table, one on a partition when every partition has one or a full index.  *ncols is how many columns
 * it searches by.
 */
static ApesIndex *
apes_fk_partly_served(IndexCheckState *st, ApesForeignKey *fk, int *ncols)
{
	ApesIndex  *idx = apes_fk_partial_index(fk, ncols);
	ListCell   *lc;

	if (idx != NULL || fk->table->relkind != RELKIND_PARTITIONED_TABLE)
		return idx;
	foreach(lc, apes_fk_children(st, fk))
	{
		ApesForeignKey *c = lfirst(lc);
		int			n;
		ApesIndex  *ci;

		CHECK_FOR_INTERRUPTS();
		if (apes_fk_has_index(st, c))
			continue;
		ci = apes_fk_partly_served(st, c, &n);
		if (ci == NULL)
			return NULL;
		if (idx == NULL || n < *ncols)
		{
			idx = ci;
			*ncols = n;
		}
	}
	return idx;
}

/* The name of a referential action, for the evidence. */
static const char *
apes_fk_action(char action)
{
	switch (action)
	{
		case FKCONSTR_ACTION_CASCADE:
			return "cascade";
		case FKCONSTR_ACTION_SETNULL:
			return "set null";
		case FKCONSTR_ACTION_SETDEFAULT:
			return "set default";
		case FKCONSTR_ACTION_RESTRICT:
			return "restrict";
		default:
			return "no action";
	}
}

/* fk_missing_index: foreign keys (the top-level constraint of a partition tree) without a supporting index. */
static void
apes_check_fk_missing(IndexCheckState *st)
{
	for (int i = 0; i < st->cat->nfks; i++)
	{
		ApesForeignKey *fk = st->cat->fks[i];
		ApesRel    *table = fk->table;
		bool		partitioned = table->relkind == RELKIND_PARTITIONED_TABLE;
		StringInfoData cols;
		StringInfoData namecols;
		char	   *tname;
		const char *served_by;
		ApesIndex  *partly;
		int			partly_cols;
		bool		gone = false;
		ApesFinding *f;
		ApesJson	ev;

		CHECK_FOR_INTERRUPTS();
		if (OidIsValid(fk->parent) || fk->nkeys == 0 || apes_fk_has_index(st, fk))
			continue;

		initStringInfo(&cols);
		initStringInfo(&namecols);
		for (int k = 0; k < fk->nkeys && !gone; k++)
		{
			char	   *att;

			if (apes_attnum_in(fk->keys[k], fk->keys, k))
				continue;		/* FOREIGN KEY (a, a): the index needs the column once */
			att = get_attname(table->oid, fk->keys[k], true);
			gone = att == NULL;		/* the table was dropped since the catalog pass */
			if (!gone)
			{
				appendStringInfo(&cols, "%s%s", cols.len > 0 ? ", " : "", quote_identifier(att));
				appendStringInfo(&namecols, "%s%s", namecols.len > 0 ? "_" : "", att);
			}
		}
		if (gone)
			continue;
		tname = apes_qualified_name(table);
		served_by = apes_fk_already_proposed(st, fk);
		partly = apes_fk_partly_served(st, fk, &partly_cols);

		f = apes_new_finding(APES_CHECK_fk_missing_index, partly != NULL ? APES_INFO : APES_WARNING, tname);
		if (partly != NULL)
			f->summary = psprintf("foreign key %s on %s (%s) has no index leading with all its columns; index %s serves its lookups by %d of them, so a delete or key update in %s reads the rows of %s that share those: create the index if they are many%s",
								  quote_identifier(fk->name), tname, cols.data, apes_qualified_name(partly->rel),
								  partly_cols, fk->reftable ? apes_qualified_name(fk->reftable) : "the referenced table",
								  tname,
								  partitioned ? " (on a partitioned table this blocks writes while it builds; to avoid that, build each partition's index CONCURRENTLY, then attach it to an index created ON ONLY the parent)" : "");
		else
			f->summary = psprintf("foreign key %s on %s (%s) has no index its lookups can use; every delete or key update in %s scans %s: create the index%s",
								  quote_identifier(fk->name), tname, cols.data,
								  fk->reftable ? apes_qualified_name(fk->reftable) : "the referenced table", tname,
								  partitioned ? " (on a partitioned table this blocks writes while it builds; to avoid that, build each partition's index CONCURRENTLY, then attach it to an index created ON ONLY the parent)" : "");
		if (served_by != NULL)
			f->summary = psprintf("%s (the index proposed for foreign key %s serves this one too)",
								  f->summary, quote_identifier(served_by));
		else
		{
			ProposedFkIndex *p = palloc(sizeof(ProposedFkIndex));
			char	   *idxname = ChooseRelationName(table->relname, namecols.data, "idx", table->nspoid, false);

			f->fix_sql = psprintf("CREATE INDEX %s%s ON %s (%s);", partitioned ? "" : "CONCURRENTLY ",
								  quote_identifier(idxname), tname, cols.data);
			f->undo_sql = psprintf("DROP INDEX %s%s;", partitioned ? "" : "CONCURRENTLY ",
								   quote_qualified_identifier(table->nspname, idxname));
			p->table = table->oid;
			p->columns = apes_fk_columns(fk);
			p->fkname = fk->name;
			st->fk_proposed = lappend(st->fk_proposed, p);
		}

		apes_json_begin(&ev);
		apes_json_text(&ev, "constraint", fk->name);
		apes_json_text(&ev, "columns", cols.data);
		apes_json_text(&ev, "referenced_table", fk->reftable ? apes_qualified_name(fk->reftable) : NULL);
		apes_json_int(&ev, "table_bytes", apes_rel_bytes(table));
		if (fk->reftable != NULL)
			apes_json_int(&ev, "referenced_table_bytes", apes_rel_bytes(fk->reftable));
		else
			apes_json_null(&ev, "referenced_table_bytes");
		apes_json_text(&ev, "on_delete", apes_fk_action(fk->deltype));
		apes_json_text(&ev, "on_update", apes_fk_action(fk->updtype));
		apes_json_bool(&ev, "partitioned", partitioned);
		apes_json_text(&ev, "served_by_index_proposed_for", served_by);
		apes_json_text(&ev, "partly_served_by", partly != NULL ? apes_qualified_name(partly->rel) : NULL);
		if (partly != NULL)
			apes_json_int(&ev, "partly_served_columns", partly_cols);
		else
			apes_json_null(&ev, "partly_served_columns");
		apes_json_text(&ev, "confidence_reason", "no valid btree index on the referencing table (or, for a partitioned table, on every partition) leads with the foreign key's columns with the operator family and collation the lookup compares them by");
		f->evidence = apes_json_end(&ev);
		*st->out = lappend(*st->out, f);
	}
}

/* The index area: every check, in an order where drop proposals never overlap. */
void
apes_collect_index_findings(ApesCatalog *cat, List **out)
{
	IndexCheckState st;

	st.cat = cat;
	st.out = out;
	st.building = apes_progress_relations(PROGRESS_COMMAND_CREATE_INDEX);
	st.fk_children = NULL;
	st.fk_proposed = NIL;

	st.workload = NULL;
	st.workload_tried = false;

	apes_check_invalid(&st);
	apes_check_duplicates(&st);
	apes_check_redundant(&st);
	apes_check_unused(&st);
	apes_check_null_heavy(&st);
	apes_check_fk_missing(&st);
	/* the workload's plans: index_missing within half the simulation budget, then the drops with the rest */
	if (apes_index_workload(&st) != NULL)
		apes_check_missing(cat, st.workload,
						   TimestampTzPlusMilliseconds(st.sim_start, apes_simulation_time_budget_ms / 2), out);
	apes_simulate_drops(&st);
}
