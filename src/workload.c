/*
 * workload.c: the statements this database runs, as pg_stat_statements shows them to the caller, planned by the
 * server's planner as generic plans, with an index hidden from the planner or a hypothetical index shown to it.
 * Nothing is ever executed.
 *
 * Reading: pg_stat_statements is read once per call, by calling its function as the caller (who must hold EXECUTE on
 * it), so its own privacy rule applies: the text of another role's statement reaches the caller only when the caller
 * is a member of pg_read_all_stats; the others are only counted.  The statements are ranked by total time (execution
 * and planning).
 *
 * Finding the statements that read a table: those whose text names the table, a table of its inheritance tree or a
 * view over any of them (pg_depend), as the server's own SQL scanner reads the text (for the first few tables a
 * search of lower-cased texts finds the candidates the scanner confirms; past that every text is scanned once and
 * filed under its names), confirmed by analysis.  Only those are parsed, so the cost follows the tables asked about,
 * not the size of the workload.
 *
 * Analyzing and planning one statement: in a subtransaction of its own (an error skips that statement, with the
 * message as the reason; a cancel or the caller's statement_timeout ends the call), the normalized text is parsed
 * with its $n parameters' types left to the server's variable-parameter analysis, rewritten (views expanded, rules
 * applied), and planned as a generic plan (no parameter values), exactly as a prepared statement's generic plan is.
 * It runs as the statement's own role with SECURITY_RESTRICTED_OPERATION, under the search_path a session of that role
 * in this database starts with: names resolve as they did for that role, and what planning evaluates (immutable
 * functions folded, selectivity estimators) runs with that role's rights, never the caller's.  Locks: the locks the
 * statement itself would take (AccessShareLock on what it reads, RowExclusiveLock on the target of an INSERT, UPDATE,
 * DELETE or MERGE, RowShareLock under FOR UPDATE), and what they bring (indexes, partitions, a view's relations), are
 * taken before parse analysis without waiting (apes_prelock): one another session's DDL holds skips the statement at
 * once.  lock_timeout = 1 ms is the fallback for what cannot be foreseen (a SQL function the planner inlines).  All
 * are released when the subtransaction ends, before the next statement.  pg_stat_statements' tracking is off
 * meanwhile: planning what it recorded must not record anything.
 *
 * Privacy: a statement is planned only when the caller may SELECT every relation it reads (the table, or all its
 * columns) and no row-level security applies to the caller there: a plan's row estimates tell what a table holds.
 * Others are counted, never shown.
 *
 * The planner sees the scenario through get_relation_info_hook, installed when the library loads and doing nothing
 * unless this backend is planning a scenario right now (apes_active_scenario, reset on every exit path).
 */
#include "postgres.h"

#include <math.h>

#include "access/amapi.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/transam.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/pg_am.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "common/keywords.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/plannodes.h"
#include "optimizer/optimizer.h"
#include "optimizer/plancat.h"
#include "optimizer/tlist.h"
#include "parser/analyze.h"
#include "parser/parse_func.h"
#include "parser/parse_type.h"
#include "parser/parser.h"
#include "parser/parsetree.h"
#include "parser/scanner.h"
#include "rewrite/prs2lock.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lmgr.h"
#include "storage/bufpage.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#include "apes.h"
#include "workload.h"

#define APES_MAX_SEARCH_COLS 32		/* columns remembered per statement */
#define APES_MAX_VIEW_DEPTH 8			/* views over views followed this deep */
#define APES_TOKEN_INDEX_AFTER 8		/* tables asked about before every text is filed under its names */

/* The scenario the planner is shown right now, or NULL: the hook does nothing then. */
static ApesScenario *apes_active_scenario = NULL;
static get_relation_info_hook_type apes_prev_get_relation_info = NULL;

/* A name and the statements (indexes into stmts) whose text holds it. */
typedef struct ApesTokenEntry
{
	char		name[NAMEDATALEN];
	List	   *stmts;
} ApesTokenEntry;

/* One statement's run in a subtransaction: what to do and what came of it. */
typedef struct ApesStmtRun
{
	ApesWorkload *w;
	ApesStatement *s;
	bool		analyze;		/* first time: privileges, relations, columns, the plan as it is */
	ApesScenario *scen;			/* then (or instead) the plan of this scenario, when it can differ */
	bool		scen_planned;	/* out: the scenario was planned */
	double		scen_cost;
	bool		scen_uses_hypo;
	const char *skip;			/* out: why the statement cannot be planned */
} ApesStmtRun;

/* ---------- the planner hook ---------- */

/*
 * The size of a btree of this many tuples of these widths, built at the default fill factor: leaf pages, then one
 * level above another until a level fits a page (the root); *height counts the levels above the leaves, as the
 * metapage does.  Deduplication and suffix truncation are not modelled: a real index may be smaller.
 */
void
apes_btree_estimate(double tuples, int ncols, const int32 *widths, int64 *pages, int *height)
{
	Size		usable = BLCKSZ - SizeOfPageHeaderData - MAXALIGN(sizeof(BTPageOpaqueData));
	double		data = 0;
	double		item;
	double		per_leaf;
	double		per_inner;
	double		level;
	double		total;

	for (int i = 0; i < ncols; i++)
		data += Max(widths[i], 1);
	/* tuple header, data MAXALIGNed, and its line pointer */
	item = MAXALIGN(sizeof(IndexTupleData) + (Size) data) + sizeof(ItemIdData);
	per_leaf = Max(floor(usable * BTREE_DEFAULT_FILLFACTOR / 100.0 / item), 1);
	per_inner = Max(floor(usable * BTREE_NONLEAF_FILLFACTOR / 100.0 / item), 2);
	level = Max(ceil(Max(tuples, 0) / per_leaf), 1);
	total = level;
	*height = 0;
	while (level > 1)
	{
		level = ceil(level / per_inner);
		total += level;
		(*height)++;
	}
	*pages = (int64) total + 1;		/* and the metapage */
}

/* Average stored width of a column: its statistics, else its type's guess. */
int32
apes_column_width(Oid relid, AttrNumber attnum, Oid typid, int32 typmod)
{
	int32		width = get_attavgwidth(relid, attnum);

	return width > 0 ? width : get_typavgwidth(typid, typmod);
}

/*
 * True when every column can be the key of a default btree: it exists, is not dropped, and its type has a default
 * btree operator class.
 */
bool
apes_hypo_columns_ok(Oid table, int ncols, const AttrNumber *cols)
{
	for (int i = 0; i < ncols; i++)
	{
		HeapTuple	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(table), Int16GetDatum(cols[i]));
		bool		ok;

		if (!HeapTupleIsValid(tup))
			return false;
		ok = !((Form_pg_attribute) GETSTRUCT(tup))->attisdropped &&
			OidIsValid(GetDefaultOpClass(((Form_pg_attribute) GETSTRUCT(tup))->atttypid, BTREE_AM_OID));
		ReleaseSysCache(tup);
		if (!ok)
			return false;
	}
	return true;
}

/*
 * The planner's description of the hypothetical index on one table (or leaf partition) of the plan, as
 * get_relation_info() describes a real btree: default operator classes, the columns' collations, ascending, NULLS
 * LAST, every column returnable; size and height from the table's row estimate and its columns' statistics.  NULL
 * when a column is missing there.  The table is locked already (the planner opened it); it is opened without a lock.
 */
static IndexOptInfo *
apes_hypo_info(RelOptInfo *rel, Oid relid, ApesHypoIndex *h, Oid fake_oid)
{
	IndexAmRoutine *am = GetIndexAmRoutineByAmId(BTREE_AM_OID, false);
	IndexOptInfo *info = makeNode(IndexOptInfo);
	Relation	heap = table_open(relid, NoLock);
	int32		widths[INDEX_MAX_KEYS];
	int64		pages;
	List	   *tlist = NIL;

	info->indexoid = fake_oid;
	info->reltablespace = rel->reltablespace;
	info->rel = rel;
	info->ncolumns = info->nkeycolumns = h->ncols;
	info->indexkeys = palloc(sizeof(int) * h->ncols);
	info->indexcollations = palloc(sizeof(Oid) * h->ncols);
	info->opfamily = palloc(sizeof(Oid) * h->ncols);
	info->opcintype = palloc(sizeof(Oid) * h->ncols);
	info->canreturn = palloc(sizeof(bool) * h->ncols);
	info->reverse_sort = palloc0(sizeof(bool) * h->ncols);
	info->nulls_first = palloc0(sizeof(bool) * h->ncols);
	info->opclassoptions = palloc0(sizeof(bytea *) * h->ncols);
	for (int i = 0; i < h->ncols; i++)
	{
		AttrNumber	attnum = get_attnum(relid, h->colnames[i]);
		Form_pg_attribute att;
		Oid			opclass;

		if (attnum <= 0)
		{
			table_close(heap, NoLock);
			return NULL;
		}
		att = TupleDescAttr(RelationGetDescr(heap), attnum - 1);
		opclass = GetDefaultOpClass(att->atttypid, BTREE_AM_OID);
		if (!OidIsValid(opclass))
		{
			table_close(heap, NoLock);
			return NULL;
		}
		info->indexkeys[i] = attnum;
		info->opfamily[i] = get_opclass_family(opclass);
		info->opcintype[i] = get_opclass_input_type(opclass);
		info->indexcollations[i] = att->attcollation;
		info->canreturn[i] = true;
		widths[i] = apes_column_width(relid, attnum, att->atttypid, att->atttypmod);
		tlist = lappend(tlist, makeTargetEntry((Expr *) makeVar(rel->relid, attnum, att->atttypid, att->atttypmod,
																 att->attcollation, 0),
											   i + 1, NULL, false));
	}
	table_close(heap, NoLock);
	info->relam = BTREE_AM_OID;
	info->sortopfamily = info->opfamily;
	info->indexprs = NIL;
	info->indpred = NIL;
	info->indextlist = tlist;
	info->indrestrictinfo = NIL;
	info->predOK = false;
	info->unique = false;
	info->immediate = true;
	info->hypothetical = true;	/* the planner never reads it (no get_actual_variable_range on it) */
	info->amcanorderbyop = am->amcanorderbyop;
	info->amoptionalkey = am->amoptionalkey;
	info->amsearcharray = am->amsearcharray;
	info->amsearchnulls = am->amsearchnulls;
	info->amhasgettuple = am->amgettuple != NULL;
	info->amhasgetbitmap = am->amgetbitmap != NULL;
	info->amcanparallel = am->amcanparallel;
	info->amcanmarkpos = am->ammarkpos != NULL && am->amrestrpos != NULL;
	info->amcostestimate = am->amcostestimate;
	info->tuples = rel->tuples;
	apes_btree_estimate(rel->tuples, h->ncols, widths, &pages, &info->tree_height);
	info->pages = (BlockNumber) Min(pages, (int64) MaxBlockNumber);
	return info;
}

/*
 * get_relation_info_hook: nothing unless this backend is planning a scenario; then the hidden indexes leave the
 * relation's index list and the hypothetical one joins it, on this backend's planner only.
 */
static void
apes_get_relation_info(PlannerInfo *root, Oid relationObjectId, bool inhparent, RelOptInfo *rel)
{
	ApesScenario *scen = apes_active_scenario;

	if (apes_prev_get_relation_info)
		apes_prev_get_relation_info(root, relationObjectId, inhparent, rel);
	if (scen == NULL)
		return;
	if (scen->hidden != NIL)
	{
		ListCell   *lc;

		foreach(lc, rel->indexlist)
		{
			IndexOptInfo *info = lfirst(lc);

			if (list_member_oid(scen->hidden, info->indexoid))
				rel->indexlist = foreach_delete_current(rel->indexlist, lc);
		}
	}
	if (scen->hypo != NULL && !inhparent && list_member_oid(scen->hypo->tables, relationObjectId))
	{
		IndexOptInfo *info = apes_hypo_info(rel, relationObjectId, scen->hypo, scen->hypo->oid);

		if (info != NULL)
			rel->indexlist = lcons(info, rel->indexlist);
	}
}

/* Install the planner hook (from _PG_init), after whatever hook was there before. */
void
apes_workload_init(void)
{
	apes_prev_get_relation_info = get_relation_info_hook;
	get_relation_info_hook = apes_get_relation_info;
}

/* ---------- reading pg_stat_statements ---------- */

/* An OID below the first user OID that no relation has: the one hypothetical indexes are shown under. */
static Oid
apes_free_fake_oid(void)
{
	for (Oid oid = FirstNormalObjectId - 1; oid > FirstGenbkiObjectId; oid--)
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(oid)))
			return oid;
	return InvalidOid;
}

/* Statements (indexes into the array arg) by total time, the most first (ties by queryid: the same order twice). */
static int
apes_stmt_time_cmp(const void *a, const void *b, void *arg)
{
	const ApesStatement *x = &((ApesStatement *) arg)[*(const int *) a];
	const ApesStatement *y = &((ApesStatement *) arg)[*(const int *) b];

	if (x->total_ms != y->total_ms)
		return x->total_ms > y->total_ms ? -1 : 1;
	if (x->queryid != y->queryid)
		return x->queryid < y->queryid ? -1 : 1;
	return x->userid < y->userid ? -1 : x->userid > y->userid ? 1 : 0;
}

/* A statement's place in the array, by (role, queryid), while its rows are added up. */
typedef struct ApesStmtKey
{
	Oid			userid;
	int64		queryid;
} ApesStmtKey;

/* A hash entry: the statement's key and its index among the statements found. */
typedef struct ApesStmtSlot
{
	ApesStmtKey key;
	int			index;
} ApesStmtSlot;

/* The schema an extension lives in (pg_extension, AccessShareLock), or InvalidOid. */
static Oid
apes_extension_schema(Oid extoid)
{
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			nsp = InvalidOid;

	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	if ((tup = systable_getnext(scan)) != NULL)
		nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return nsp;
}

/* The number of the result column called name, or an error: pg_stat_statements of another shape. */
static AttrNumber
apes_result_column(TupleDesc desc, const char *name)
{
	for (int i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped && strcmp(NameStr(TupleDescAttr(desc, i)->attname), name) == 0)
			return i + 1;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("pg_stat_statements() returns no column \"%s\"", name),
			 errhint("pg_apes_health reads pg_stat_statements 1.9 or later (PostgreSQL 14 and later).")));
	return 0;					/* keep compiler quiet */
}

/*
 * Read this database's statements from pg_stat_statements (an apes_run_guarded() callback), as the caller: its
 * function pg_stat_statements(true), found in the extension's schema, called directly (fmgr, materialize mode) once
 * the caller is known to hold EXECUTE on it, so its own privacy rule applies to every row and no executor or SPI copy
 * of 5,000 rows and texts is made.  The rows of one statement (toplevel and nested) are added up here, the toplevel
 * row's text preferred (a statement run under EXPLAIN also has a nested row whose text is the whole EXPLAIN); rows
 * without a queryid are the statements whose text the caller may not see.
 */
static void
apes_read_statements(void *arg)
{
	ApesWorkload *w = (ApesWorkload *) arg;
	Oid			extoid;
	Oid			nsp;
	Oid			funcoid;
	Oid			argtype = BOOLOID;
	FmgrInfo	flinfo;
	ReturnSetInfo rsinfo = {T_ReturnSetInfo};
	LOCAL_FCINFO(fcinfo, 1);
	TupleTableSlot *slot;
	AttrNumber	a_userid,
				a_dbid,
				a_toplevel,
				a_queryid,
				a_query,
				a_calls,
				a_exec,
				a_plan;
	HASHCTL		ctl;
	HTAB	   *slots;
	List	   *top = NIL;
	ApesStatement *found_stmts;
	int		   *order;
	int			n = 0;
	int			cap = 64;

	if (GetConfigOption("pg_stat_statements.max", true, false) == NULL)
	{
		w->unavailable = "pg_stat_statements is not loaded (shared_preload_libraries)";
		return;
	}
	extoid = get_extension_oid("pg_stat_statements", true);
	nsp = OidIsValid(extoid) ? apes_extension_schema(extoid) : InvalidOid;
	if (!OidIsValid(nsp))
	{
		w->unavailable = "pg_stat_statements is not installed in this database";
		return;
	}
	funcoid = LookupFuncName(list_make2(makeString(get_namespace_name(nsp)), makeString("pg_stat_statements")), 1,
							 &argtype, true);
	if (!OidIsValid(funcoid))
	{
		w->unavailable = "pg_stat_statements has no function pg_stat_statements(boolean)";
		return;
	}
	if (apes_proc_aclcheck(funcoid, GetUserId()) != ACLCHECK_OK)
	{
		w->unavailable = "you may not execute pg_stat_statements()";
		return;
	}
	fmgr_info(funcoid, &flinfo);
	rsinfo.econtext = CreateStandaloneExprContext();
	rsinfo.allowedModes = SFRM_Materialize;
	rsinfo.returnMode = SFRM_ValuePerCall;
	InitFunctionCallInfoData(*fcinfo, &flinfo, 1, InvalidOid, NULL, (Node *) &rsinfo);
	fcinfo->args[0].value = BoolGetDatum(true);
	fcinfo->args[0].isnull = false;
	(void) FunctionCallInvoke(fcinfo);
	if (rsinfo.returnMode != SFRM_Materialize || rsinfo.setResult == NULL || rsinfo.setDesc == NULL)
		elog(ERROR, "pg_stat_statements() returned no result set");
	a_userid = apes_result_column(rsinfo.setDesc, "userid");
	a_dbid = apes_result_column(rsinfo.setDesc, "dbid");
	a_toplevel = apes_result_column(rsinfo.setDesc, "toplevel");
	a_queryid = apes_result_column(rsinfo.setDesc, "queryid");
	a_query = apes_result_column(rsinfo.setDesc, "query");
	a_calls = apes_result_column(rsinfo.setDesc, "calls");
	a_exec = apes_result_column(rsinfo.setDesc, "total_exec_time");
	a_plan = apes_result_column(rsinfo.setDesc, "total_plan_time");

	ctl.keysize = sizeof(ApesStmtKey);
	ctl.entrysize = sizeof(ApesStmtSlot);
	ctl.hcxt = CurrentMemoryContext;
	slots = hash_create("apes workload statements", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	found_stmts = palloc0(sizeof(ApesStatement) * cap);
	slot = MakeSingleTupleTableSlot(rsinfo.setDesc, &TTSOpsMinimalTuple);
	while (tuplestore_gettupleslot(rsinfo.setResult, true, false, slot))
	{
		bool		isnull;
		bool		found;
		bool		toplevel;
		Datum		d;
		ApesStmtKey key;
		ApesStmtSlot *e;
		ApesStatement *s;

		CHECK_FOR_INTERRUPTS();
		d = slot_getattr(slot, a_dbid, &isnull);
		if (isnull || DatumGetObjectId(d) != MyDatabaseId)
			continue;
		d = slot_getattr(slot, a_queryid, &isnull);
		if (isnull)
		{
			w->hidden_texts++;
			continue;
		}
		memset(&key, 0, sizeof(key));
		key.queryid = DatumGetInt64(d);
		key.userid = DatumGetObjectId(slot_getattr(slot, a_userid, &isnull));
		e = hash_search(slots, &key, HASH_ENTER, &found);
		if (!found)
		{
			if (n == cap)
			{
				found_stmts = repalloc(found_stmts, sizeof(ApesStatement) * cap * 2);
				memset(found_stmts + cap, 0, sizeof(ApesStatement) * cap);
				cap *= 2;
			}
			e->index = n++;
			found_stmts[e->index].userid = key.userid;
			found_stmts[e->index].queryid = key.queryid;
			top = lappend_int(top, 0);
		}
		s = &found_stmts[e->index];
		s->total_ms += DatumGetFloat8(slot_getattr(slot, a_exec, &isnull)) +
			DatumGetFloat8(slot_getattr(slot, a_plan, &isnull));
		s->calls += DatumGetInt64(slot_getattr(slot, a_calls, &isnull));
		toplevel = DatumGetBool(slot_getattr(slot, a_toplevel, &isnull));
		d = slot_getattr(slot, a_query, &isnull);
		if (!isnull && (s->query == NULL || (toplevel && !list_nth_int(top, e->index))))
		{
			MemoryContext old = MemoryContextSwitchTo(w->cxt);

			if (s->query != NULL)
				pfree(s->query);	/* a nested row's text, replaced by the toplevel one */
			s->query = TextDatumGetCString(d);	/* one copy, in the workload's memory */
			MemoryContextSwitchTo(old);
			list_nth_cell(top, e->index)->int_value = toplevel;
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	tuplestore_end(rsinfo.setResult);
	FreeExprContext(rsinfo.econtext, true);
	hash_destroy(slots);
	/* by total time: an order of indexes sorted, then the statements copied once into the workload in that order */
	order = palloc(sizeof(int) * Max(n, 1));
	for (int i = 0; i < n; i++)
		order[i] = i;
	qsort_arg(order, n, sizeof(int), apes_stmt_time_cmp, found_stmts);
	w->nstmts = n;
	w->stmts = MemoryContextAlloc(w->cxt, sizeof(ApesStatement) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		w->stmts[i] = found_stmts[order[i]];
		w->stmts[i].rank = i + 1;
		if (w->stmts[i].query == NULL)
		{
			/* pg_stat_statements lost the text (its file was garbage-collected): nothing to plan */
			w->stmts[i].state = APES_STMT_SKIPPED;
			w->stmts[i].skip_reason = "pg_stat_statements holds no text for it";
		}
	}
	pfree(found_stmts);
	pfree(order);
	list_free(top);
}

/*
 * The workload of one call, in a memory context under parent: this database's statements by total time, as
 * pg_stat_statements shows them to the caller.  w->unavailable says why there are none when pg_stat_statements
 * cannot be read.  deadline (0 for none) is what apes_workload_time_left() checks.
 */
ApesWorkload *
apes_workload_load(MemoryContext parent, TimestampTz deadline)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "apes workload", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	ApesWorkload *w = palloc0(sizeof(ApesWorkload));
	ErrorData  *edata;

	w->cxt = cxt;
	w->deadline = deadline;
	w->caller = GetUserId();
	w->scratch = AllocSetContextCreate(cxt, "apes workload statement", ALLOCSET_DEFAULT_SIZES);
	w->fake_oid = apes_free_fake_oid();
	if (!apes_run_guarded(apes_read_statements, w, &edata))
	{
		w->unavailable = psprintf("pg_stat_statements could not be read: %s", edata->message);
		w->nstmts = 0;
	}
	MemoryContextSwitchTo(old);
	return w;
}

/* True while the workload's time budget lasts (always without one); once false, it stays false. */
bool
apes_workload_time_left(ApesWorkload *w)
{
	if (!w->out_of_time && w->deadline != 0 && GetCurrentTimestamp() >= w->deadline)
		w->out_of_time = true;
	return !w->out_of_time;
}

/* ---------- which statements name a table ---------- */

/* True when c may start an identifier (as the server's scanner says: a letter, an underscore or a high-bit byte). */
static inline bool
apes_ident_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || IS_HIGHBIT_SET(c);
}

/*
 * Scan one statement's text with the server's SQL scanner, and file the statement under every name it holds: each
 * identifier (down-cased as the server does, or as written when quoted) and each keyword that is not reserved (a
 * table may be called "data").  Strings, comments, numbers, parameters and operators are not names.
 */
static void
apes_index_text(ApesWorkload *w, int i)
{
	const char *query = w->stmts[i].query;
	core_yy_extra_type yyextra;
	core_YYSTYPE yylval;
	YYLTYPE		yylloc;
	core_yyscan_t scanner = scanner_init(query, &yyextra, &ScanKeywords, ScanKeywordTokens);

	yyextra.escape_string_warning = false;
	for (;;)
	{
		int			tok = core_yylex(&yylval, &yylloc, scanner);
		const char *at;
		char		key[NAMEDATALEN];
		ApesTokenEntry *e;
		bool		found;

		if (tok == 0)
			break;
		if (tok < 256)
			continue;			/* a one-character token: punctuation */
		at = query + yylloc;
		if (*at != '"')
		{
			int			kw;

			/* strings with a prefix (E'', B'', X'', N'', U&'') and U&"" identifiers are not plain names */
			if (!apes_ident_start((unsigned char) *at) || (at[1] == '\'' && strchr("eEbBxXnN", at[0]) != NULL) ||
				(at[1] == '&' && (at[0] == 'u' || at[0] == 'U')))
				continue;
			kw = ScanKeywordLookup(yylval.str, &ScanKeywords);
			if (kw >= 0 && ScanKeywordCategories[kw] == RESERVED_KEYWORD)
				continue;
		}
		/* an identifier's or keyword's text: the scanner's yylval.str (keywords share that storage) */
		memset(key, 0, sizeof(key));
		strlcpy(key, yylval.str, sizeof(key));
		e = hash_search(w->tokens, key, HASH_ENTER, &found);
		if (!found)
			e->stmts = NIL;
		if (e->stmts == NIL || llast_int(e->stmts) != i)
			e->stmts = lappend_int(e->stmts, i);
	}
	scanner_finish(scanner);
}

/* True when the text holds one of the names (an identifier or keyword token equal to it), by the server's scanner. */
static bool
apes_text_names_any(const char *query, List *names)
{
	core_yy_extra_type yyextra;
	core_YYSTYPE yylval;
	YYLTYPE		yylloc;
	core_yyscan_t scanner = scanner_init(query, &yyextra, &ScanKeywords, ScanKeywordTokens);
	bool		found = false;

	yyextra.escape_string_warning = false;
	while (!found)
	{
		int			tok = core_yylex(&yylval, &yylloc, scanner);
		const char *at = query + yylloc;
		ListCell   *lc;

		if (tok == 0)
			break;
		if (tok < 256 || (*at != '"' && !apes_ident_start((unsigned char) *at)))
			continue;
		foreach(lc, names)
			found |= strncmp(yylval.str, lfirst(lc), NAMEDATALEN - 1) == 0;
	}
	scanner_finish(scanner);
	return found;
}

/* A copy of s with its ASCII letters in lower case (identifiers down-cased as the server does, quoted ones too). */
static char *
apes_ascii_lower(const char *s)
{
	char	   *out = pstrdup(s);

	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p += 'a' - 'A';
	return out;
}

/* Which texts name a table, without the index of names: a pass over every text, the scanner only on the few hits. */
typedef struct ApesMentionRun
{
	ApesWorkload *w;
	List	   *names;
	List	   *lower_names;
	Bitmapset **hits;
	int			next;
} ApesMentionRun;

/* Look at every text from run->next on (an apes_run_guarded() callback). */
static void
apes_mention_texts(void *arg)
{
	ApesMentionRun *run = (ApesMentionRun *) arg;
	MemoryContext old = MemoryContextSwitchTo(run->w->cxt);

	for (; run->next < run->w->nstmts; run->next++)
	{
		const char *query = run->w->stmts[run->next].query;
		bool		maybe = false;
		ListCell   *lc;

		CHECK_FOR_INTERRUPTS();
		if (query == NULL)
			continue;
		if (run->w->lower == NULL)
			run->w->lower = palloc0(sizeof(char *) * run->w->nstmts);
		if (run->w->lower[run->next] == NULL)
			run->w->lower[run->next] = apes_ascii_lower(query);
		/* a first look, ignoring case, at a copy in lower case; the scanner then confirms the few hits */
		foreach(lc, run->lower_names)
			maybe |= strstr(run->w->lower[run->next], lfirst(lc)) != NULL;
		if (maybe && apes_text_names_any(query, run->names))
			*run->hits = bms_add_member(*run->hits, run->next);
	}
	MemoryContextSwitchTo(old);
}

/* Progress of filing texts under their names (an apes_run_guarded() argument). */
typedef struct ApesTokenRun
{
	ApesWorkload *w;
	int			next;
} ApesTokenRun;

/* File every text from run->next on (an apes_run_guarded() callback). */
static void
apes_index_texts(void *arg)
{
	ApesTokenRun *run = (ApesTokenRun *) arg;
	MemoryContext old = MemoryContextSwitchTo(run->w->cxt);

	for (; run->next < run->w->nstmts; run->next++)
	{
		CHECK_FOR_INTERRUPTS();
		if (run->w->stmts[run->next].query != NULL)
			apes_index_text(run->w, run->next);
	}
	MemoryContextSwitchTo(old);
}

/*
 * File every statement under the names its text holds, once per call.  A text the scanner rejects (it raises an
 * error) is a candidate for every table instead, and the next ones are filed on.
 */
static void
apes_build_tokens(ApesWorkload *w)
{
	HASHCTL		ctl;
	ApesTokenRun run = {w, 0};
	ErrorData  *edata;

	ctl.keysize = NAMEDATALEN;
	ctl.entrysize = sizeof(ApesTokenEntry);
	ctl.hcxt = w->cxt;
	w->tokens = hash_create("apes workload names", 1024, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	while (!apes_run_guarded(apes_index_texts, &run, &edata))
	{
		FreeErrorData(edata);
		w->stmts[run.next].unscanned = true;
		run.next++;
	}
	/* the lower-case copies the first searches made are of no more use */
	if (w->lower != NULL)
	{
		for (int i = 0; i < w->nstmts; i++)
			if (w->lower[i] != NULL)
				pfree(w->lower[i]);
		pfree(w->lower);
		w->lower = NULL;
	}
}

/* The tables an inheritance tree puts above table (parents, their parents...), added to *out. */
static void
apes_add_ancestors(Oid table, List **out)
{
	Relation	rel = table_open(InheritsRelationId, AccessShareLock);
	List	   *queue = list_make1_oid(table);

	while (queue != NIL)
	{
		Oid			child = linitial_oid(queue);
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tup;

		queue = list_delete_first(queue);
		ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(child));
		scan = systable_beginscan(rel, InheritsRelidSeqnoIndexId, true, NULL, 1, &key);
		while ((tup = systable_getnext(scan)) != NULL)
		{
			Oid			parent = ((Form_pg_inherits) GETSTRUCT(tup))->inhparent;

			if (!list_member_oid(*out, parent))
			{
				*out = lappend_oid(*out, parent);
				queue = lappend_oid(queue, parent);
			}
		}
		systable_endscan(scan);
	}
	table_close(rel, AccessShareLock);
}

/*
 * The relations through which a statement may read table: the table, its inheritance ancestors (a statement on a
 * parent scans its partitions) and descendants (a partitioned index serves its partitions' statements).  Reads
 * pg_inherits (AccessShareLock); no relation of the tree is locked.
 */
static List *
apes_related_tables(Oid table)
{
	List	   *related = find_all_inheritors(table, NoLock, NULL);

	apes_add_ancestors(table, &related);
	return related;
}

/* The view a rewrite rule belongs to (pg_rewrite, AccessShareLock), or InvalidOid. */
static Oid
apes_rule_view(Relation rewrite, Oid ruleoid)
{
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			view = InvalidOid;

	ScanKeyInit(&key, Anum_pg_rewrite_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(ruleoid));
	scan = systable_beginscan(rewrite, RewriteOidIndexId, true, NULL, 1, &key);
	if ((tup = systable_getnext(scan)) != NULL)
		view = ((Form_pg_rewrite) GETSTRUCT(tup))->ev_class;
	systable_endscan(scan);
	return view;
}

/*
 * Add to *names the names of the views that read relation relid, and of the views over those, down to a few levels
 * (pg_depend's entries of their rewrite rules; pg_depend and pg_rewrite read under AccessShareLock).  Materialized
 * views are left out: a statement reading one does not read the table.
 */
static void
apes_add_view_names(Oid relid, List **names, List **seen, int depth)
{
	Relation	depend;
	Relation	rewrite;
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *views = NIL;
	ListCell   *lc;

	if (depth >= APES_MAX_VIEW_DEPTH)
		return;
	depend = table_open(DependRelationId, AccessShareLock);
	rewrite = table_open(RewriteRelationId, AccessShareLock);
	ScanKeyInit(&keys[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RelationRelationId));
	ScanKeyInit(&keys[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(depend, DependReferenceIndexId, true, NULL, 2, keys);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);
		Oid			view;

		CHECK_FOR_INTERRUPTS();
		if (d->classid != RewriteRelationId)
			continue;
		view = apes_rule_view(rewrite, d->objid);
		if (OidIsValid(view) && view != relid && !list_member_oid(*seen, view) &&
			get_rel_relkind(view) == RELKIND_VIEW)
		{
			*seen = lappend_oid(*seen, view);
			views = lappend_oid(views, view);
		}
	}
	systable_endscan(scan);
	table_close(rewrite, AccessShareLock);
	table_close(depend, AccessShareLock);
	foreach(lc, views)
	{
		char	   *name = get_rel_name(lfirst_oid(lc));

		if (name != NULL)
			*names = lappend(*names, name);
		apes_add_view_names(lfirst_oid(lc), names, seen, depth + 1);
	}
}

/*
 * The statements (by rank) whose text names table, a relation of its inheritance tree or a view over any of them: the
 * only ones that can read it (a statement reading it through a SQL function it calls is missed).  *related gets the
 * relations of its inheritance tree, for apes_workload_reads().  Statements whose text the caller may not see are not
 * among them.
 */
List *
apes_workload_mentioning(ApesWorkload *w, Oid table, List **related)
{
	MemoryContext old = MemoryContextSwitchTo(w->cxt);
	List	   *names = NIL;
	List	   *seen = NIL;
	Bitmapset  *hits = NULL;
	List	   *out = NIL;
	ListCell   *lc;
	int			i;

	*related = apes_related_tables(table);
	foreach(lc, *related)
	{
		char	   *name = get_rel_name(lfirst_oid(lc));

		if (name != NULL)
			names = lappend(names, name);
		apes_add_view_names(lfirst_oid(lc), &names, &seen, 0);
	}
	/*
	 * The first few tables: a case-insensitive search of every text for the names, the scanner on the hits.  Once
	 * more are asked about (a report's many findings), every text is scanned once and filed under its names.
	 */
	if (w->tokens == NULL && w->tables_asked++ < APES_TOKEN_INDEX_AFTER)
	{
		ApesMentionRun run = {w, names, NIL, &hits, 0};
		ErrorData  *edata;

		foreach(lc, names)
			run.lower_names = lappend(run.lower_names, apes_ascii_lower(lfirst(lc)));

		while (!apes_run_guarded(apes_mention_texts, &run, &edata))
		{
			FreeErrorData(edata);
			w->stmts[run.next].unscanned = true;	/* the scanner rejects it: a candidate for every table */
			run.next++;
		}
	}
	else
	{
		if (w->tokens == NULL)
			apes_build_tokens(w);
		foreach(lc, names)
		{
			char		key[NAMEDATALEN];
			ApesTokenEntry *e;
			ListCell   *sc;

			memset(key, 0, sizeof(key));
			strlcpy(key, (char *) lfirst(lc), sizeof(key));
			e = hash_search(w->tokens, key, HASH_FIND, NULL);
			if (e != NULL)
				foreach(sc, e->stmts)
					hits = bms_add_member(hits, lfirst_int(sc));
		}
	}
	for (i = 0; i < w->nstmts; i++)
		if (w->stmts[i].unscanned)
			hits = bms_add_member(hits, i);
	i = -1;
	while ((i = bms_next_member(hits, i)) >= 0)
		out = lappend(out, &w->stmts[i]);
	MemoryContextSwitchTo(old);
	return out;
}

/* True when the analyzed statement reads a relation of related (apes_workload_mentioning()'s list). */
bool
apes_workload_reads(ApesStatement *s, List *related)
{
	for (int i = 0; i < s->nrelids; i++)
		if (list_member_oid(related, s->relids[i]))
			return true;
	return false;
}

/* True when the statement's plan as it is scans an index of the list. */
bool
apes_workload_uses(ApesStatement *s, List *indexes)
{
	for (int i = 0; i < s->nused; i++)
		if (list_member_oid(indexes, s->used[i]))
			return true;
	return false;
}

/* ---------- analyzing one statement ---------- */

/*
 * The text with its typed literals made casts: pg_stat_statements turns interval '1 day' into interval $1, which does
 * not parse; $1::interval means the same.  A word directly before a parameter is never valid SQL otherwise, so a word
 * naming a type there is rewritten (found by the server's scanner, looked up as a type name under the statement's
 * search_path, without parsing: BETWEEN $1 stays); anything else is left as it is.  NULL when nothing was rewritten.
 */
static char *
apes_cast_typed_literals(const char *query)
{
	core_yy_extra_type yyextra;
	core_YYSTYPE yylval;
	YYLTYPE		yylloc;
	core_yyscan_t scanner = scanner_init(query, &yyextra, &ScanKeywords, ScanKeywordTokens);
	StringInfoData out;
	int			copied = 0;
	int			word_at = -1;	/* where the word before this token starts, and its text */
	char	   *word = NULL;
	bool		changed = false;

	yyextra.escape_string_warning = false;
	initStringInfo(&out);
	for (;;)
	{
		int			tok = core_yylex(&yylval, &yylloc, scanner);
		const char *at = query + yylloc;

		if (tok == 0)
			break;
		if (tok >= 256 && *at == '$' && isdigit((unsigned char) at[1]) && word != NULL)
		{
			Type		type = LookupTypeName(NULL, makeTypeName(word), NULL, true);
			int			end = yylloc + 1;

			while (isdigit((unsigned char) query[end]))
				end++;
			if (type != NULL)
			{
				ReleaseSysCache(type);
				appendBinaryStringInfo(&out, query + copied, word_at - copied);
				appendStringInfo(&out, "%.*s::%s", end - yylloc, at, quote_identifier(word));
				copied = end;
				changed = true;
			}
		}
		word = NULL;
		if (tok >= 256 && apes_ident_start((unsigned char) *at) && !(at[1] == '\'' || at[1] == '&'))
		{
			int			kw = ScanKeywordLookup(yylval.str, &ScanKeywords);

			if (kw < 0 || ScanKeywordCategories[kw] != RESERVED_KEYWORD)
			{
				word = pstrdup(yylval.str);
				word_at = yylloc;
			}
		}
	}
	scanner_finish(scanner);
	if (!changed)
		return NULL;
	appendStringInfoString(&out, query + copied);
	return out.data;
}

/* What the caller may read: SELECT on the table or on all its columns, and no row-level security in force. */
static bool
apes_rel_readable(Oid relid, Oid caller)
{
	if (pg_class_aclcheck(relid, caller, ACL_SELECT) != ACLCHECK_OK &&
		pg_attribute_aclcheck_all(relid, caller, ACL_SELECT, ACLMASK_ALL) != ACLCHECK_OK)
		return false;
	return check_enable_rls(relid, caller, true) != RLS_ENABLED;
}

/* A walker's state: whose privileges, and whether every relation so far passed. */
typedef struct ApesReadableCtx
{
	Oid			caller;
	bool		ok;
} ApesReadableCtx;

/* Walk a query tree (every level: subqueries, CTEs, sublinks) and check each relation it names. */
static bool
apes_readable_walker(Node *node, ApesReadableCtx *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->rtekind == RTE_RELATION && !apes_rel_readable(rte->relid, ctx->caller))
		{
			ctx->ok = false;
			return true;
		}
		return false;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, apes_readable_walker, ctx, QTW_EXAMINE_RTES_BEFORE);
	return expression_tree_walker(node, apes_readable_walker, ctx);
}

/* A walker's state: the relations found, and the INSERT targets to leave out. */
typedef struct ApesRelidsCtx
{
	List	   *relids;
	List	   *targets;		/* RangeTblEntry pointers */
} ApesRelidsCtx;

/*
 * Walk a rewritten query tree and collect the relations it reads.  The target of an INSERT is written, not read (no
 * index of it makes the INSERT cheaper): it counts only where the statement also reads it.
 */
static bool
apes_relids_walker(Node *node, ApesRelidsCtx *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->rtekind == RTE_RELATION && !list_member_ptr(ctx->targets, rte))
			ctx->relids = list_append_unique_oid(ctx->relids, rte->relid);
		return false;
	}
	if (IsA(node, Query))
	{
		Query	   *q = (Query *) node;

		if (q->commandType == CMD_INSERT && q->resultRelation > 0)
			ctx->targets = lappend(ctx->targets, rt_fetch(q->resultRelation, q->rtable));
		return query_tree_walker(q, apes_relids_walker, ctx, QTW_EXAMINE_RTES_BEFORE);
	}
	return expression_tree_walker(node, apes_relids_walker, ctx);
}

/* Where apes_mentions_walker() is: the range-table index looked for and how deep in sublinks. */
typedef struct ApesMentionsCtx
{
	int			varno;
	int			depth;
} ApesMentionsCtx;

/* True when the expression uses a column of range-table entry varno of the query level it is in. */
static bool
apes_mentions_walker(Node *node, ApesMentionsCtx *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
		return ((Var *) node)->varno == ctx->varno && ((Var *) node)->varlevelsup == ctx->depth;
	if (IsA(node, Query))
	{
		bool		found;

		ctx->depth++;
		found = query_tree_walker((Query *) node, apes_mentions_walker, ctx, 0);
		ctx->depth--;
		return found;
	}
	return expression_tree_walker(node, apes_mentions_walker, ctx);
}

/* A plain column of the query level's own relations (through binary-compatible casts), or NULL. */
static Var *
apes_plain_var(Node *n)
{
	while (n != NULL && IsA(n, RelabelType))
		n = (Node *) ((RelabelType *) n)->arg;
	if (n != NULL && IsA(n, Var) && ((Var *) n)->varlevelsup == 0 && ((Var *) n)->varattno > 0)
		return (Var *) n;
	return NULL;
}

/* 'e' when op is the equality of a default btree over the type, 'r' for its <, <=, >, >=, else 0. */
static char
apes_btree_kind(Oid opno, Oid type)
{
	Oid			opclass = GetDefaultOpClass(type, BTREE_AM_OID);
	int			strategy;

	if (!OidIsValid(opclass) || !OidIsValid(opno))
		return 0;
	strategy = get_op_opfamily_strategy(opno, get_opclass_family(opclass));
	return strategy == BTEqualStrategyNumber ? 'e' : strategy > 0 ? 'r' : 0;
}

/* Remember that the statement searches (or sorts) relation column v of query q by kind. */
static void
apes_add_col(Query *q, Var *v, char kind, List **cols)
{
	RangeTblEntry *rte;
	ListCell   *lc;
	ApesSearchCol *c;

	if (v->varno < 1 || v->varno > list_length(q->rtable) || list_length(*cols) >= APES_MAX_SEARCH_COLS)
		return;
	rte = rt_fetch(v->varno, q->rtable);
	if (rte->rtekind != RTE_RELATION)
		return;
	foreach(lc, *cols)
	{
		c = lfirst(lc);
		if (c->relid == rte->relid && c->attnum == v->varattno && c->kind == kind)
			return;
	}
	c = palloc(sizeof(ApesSearchCol));
	c->relid = rte->relid;
	c->attnum = v->varattno;
	c->kind = kind;
	*cols = lappend(*cols, c);
}

/* The side of a two-argument clause that is a column of relation varno, if the other side does not use it too. */
static bool
apes_column_side(Node *col, Node *other, Var **v)
{
	ApesMentionsCtx ctx;

	*v = apes_plain_var(col);
	if (*v == NULL)
		return false;
	ctx.varno = (*v)->varno;
	ctx.depth = 0;
	return !apes_mentions_walker(other, &ctx) && !contain_volatile_functions(other);
}

/*
 * One condition of a WHERE or JOIN clause: "column op expression" (either way round; the expression may be a
 * parameter, a constant, or another relation's column, as in a join) with a btree operator of the column's type,
 * "column = ANY (...)", "column IS NULL".  Other conditions (LIKE, functions of the column) no plain btree serves.
 */
static void
apes_note_clause(Query *q, Node *c, List **cols)
{
	Var		   *v;

	if (IsA(c, OpExpr) && list_length(((OpExpr *) c)->args) == 2)
	{
		OpExpr	   *op = (OpExpr *) c;
		Node	   *l = linitial(op->args);
		Node	   *r = lsecond(op->args);
		char		kind = 0;

		if (apes_column_side(l, r, &v))
			kind = apes_btree_kind(op->opno, v->vartype);
		else if (apes_column_side(r, l, &v))
			kind = apes_btree_kind(get_commutator(op->opno), v->vartype);
		if (kind != 0)
			apes_add_col(q, v, kind, cols);
	}
	else if (IsA(c, ScalarArrayOpExpr))
	{
		ScalarArrayOpExpr *sa = (ScalarArrayOpExpr *) c;

		if (sa->useOr && list_length(sa->args) == 2 && apes_column_side(linitial(sa->args), lsecond(sa->args), &v) &&
			apes_btree_kind(sa->opno, v->vartype) == 'e')
			apes_add_col(q, v, 'e', cols);
	}
	else if (IsA(c, NullTest) && ((NullTest *) c)->nulltesttype == IS_NULL && !((NullTest *) c)->argisrow &&
			 (v = apes_plain_var((Node *) ((NullTest *) c)->arg)) != NULL)
		apes_add_col(q, v, 'e', cols);
}

/* The conditions ANDed in a qualification, each passed to apes_note_clause(). */
static void
apes_note_quals(Query *q, Node *quals, List **cols)
{
	if (quals == NULL)
		return;
	if (is_andclause(quals))
	{
		ListCell   *lc;

		foreach(lc, ((BoolExpr *) quals)->args)
			apes_note_quals(q, lfirst(lc), cols);
		return;
	}
	if (IsA(quals, List))
	{
		ListCell   *lc;

		foreach(lc, (List *) quals)
			apes_note_quals(q, lfirst(lc), cols);
		return;
	}
	apes_note_clause(q, quals, cols);
}

/* Every qualification of a join tree: WHERE, and each JOIN's ON. */
static void
apes_note_jointree(Query *q, Node *node, List **cols)
{
	ListCell   *lc;

	if (node == NULL)
		return;
	if (IsA(node, FromExpr))
	{
		apes_note_quals(q, ((FromExpr *) node)->quals, cols);
		foreach(lc, ((FromExpr *) node)->fromlist)
			apes_note_jointree(q, lfirst(lc), cols);
	}
	else if (IsA(node, JoinExpr))
	{
		apes_note_quals(q, ((JoinExpr *) node)->quals, cols);
		apes_note_jointree(q, ((JoinExpr *) node)->larg, cols);
		apes_note_jointree(q, ((JoinExpr *) node)->rarg, cols);
	}
}

/* Walk every query level and note the columns each searches by, and its first ORDER BY column. */
static bool
apes_cols_walker(Node *node, List **cols)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *q = (Query *) node;

		apes_note_jointree(q, (Node *) q->jointree, cols);
		if (q->sortClause != NIL)
		{
			TargetEntry *tle = get_sortgroupclause_tle(linitial(q->sortClause), q->targetList);
			Var		   *v = apes_plain_var((Node *) tle->expr);

			if (v != NULL)
				apes_add_col(q, v, 's', cols);
		}
		return query_tree_walker(q, apes_cols_walker, cols, 0);
	}
	return expression_tree_walker(node, apes_cols_walker, cols);
}

/* The indexes a plan scans and the tables it reads sequentially, in the plan tree below p. */
static void
apes_plan_walk(PlannedStmt *ps, Plan *p, List **used, List **seq)
{
	ListCell   *lc;
	List	   *children = NIL;

	if (p == NULL)
		return;
	check_stack_depth();
	switch (nodeTag(p))
	{
		case T_IndexScan:
			*used = list_append_unique_oid(*used, ((IndexScan *) p)->indexid);
			break;
		case T_IndexOnlyScan:
			*used = list_append_unique_oid(*used, ((IndexOnlyScan *) p)->indexid);
			break;
		case T_BitmapIndexScan:
			*used = list_append_unique_oid(*used, ((BitmapIndexScan *) p)->indexid);
			break;
		case T_SeqScan:
			{
				Index		rti = ((Scan *) p)->scanrelid;

				if (rti > 0 && rti <= list_length(ps->rtable))
					*seq = list_append_unique_oid(*seq, rt_fetch(rti, ps->rtable)->relid);
				break;
			}
		case T_Append:
			children = ((Append *) p)->appendplans;
			break;
		case T_MergeAppend:
			children = ((MergeAppend *) p)->mergeplans;
			break;
		case T_BitmapAnd:
			children = ((BitmapAnd *) p)->bitmapplans;
			break;
		case T_BitmapOr:
			children = ((BitmapOr *) p)->bitmapplans;
			break;
		case T_SubqueryScan:
			children = list_make1(((SubqueryScan *) p)->subplan);
			break;
		case T_CustomScan:
			children = ((CustomScan *) p)->custom_plans;
			break;
		default:
			break;
	}
	foreach(lc, children)
		apes_plan_walk(ps, lfirst(lc), used, seq);
	apes_plan_walk(ps, p->lefttree, used, seq);
	apes_plan_walk(ps, p->righttree, used, seq);
}

/* An OID list as a sorted array in memory context cxt. */
static Oid *
apes_oid_array(MemoryContext cxt, List *l, int *n)
{
	Oid		   *out = MemoryContextAlloc(cxt, sizeof(Oid) * Max(list_length(l), 1));
	ListCell   *lc;

	*n = 0;
	foreach(lc, l)
		out[(*n)++] = lfirst_oid(lc);
	qsort(out, *n, sizeof(Oid), oid_cmp);
	return out;
}

/*
 * Plan a rewritten query as a generic plan (no parameter values), the planner shown scen (NULL: the database as it
 * is).  The scenario is active only while the planner runs, and reset on every way out, errors and cancels included.
 */
static PlannedStmt *
apes_plan_scenario(ApesWorkload *w, Query *query, const char *text, ApesScenario *scen)
{
	PlannedStmt *volatile ps = NULL;

	if (scen != NULL && scen->hypo != NULL)
		scen->hypo->oid = w->fake_oid;
	apes_active_scenario = scen;
	PG_TRY();
	{
		ps = pg_plan_query(query, text, CURSOR_OPT_PARALLEL_OK, NULL);
	}
	PG_FINALLY();
	{
		apes_active_scenario = NULL;
	}
	PG_END_TRY();
	w->plans++;
	return ps;
}

/* True when the plan of a scenario can differ from the plan as it is: see ApesScenario. */
static bool
apes_scenario_matters(ApesScenario *scen, ApesStatement *s)
{
	return scen->hypo != NULL || scen->force || apes_workload_uses(s, scen->hidden);
}

/* Total cost of a planned scenario, and whether its plan scans the hypothetical index. */
static void
apes_scenario_result(ApesStmtRun *r, PlannedStmt *ps)
{
	List	   *used = NIL;
	List	   *seq = NIL;
	ListCell   *lc;

	r->scen_planned = true;
	r->scen_cost = ps->planTree->total_cost;
	apes_plan_walk(ps, ps->planTree, &used, &seq);
	foreach(lc, ps->subplans)
		apes_plan_walk(ps, lfirst(lc), &used, &seq);
	r->scen_uses_hypo = r->scen->hypo != NULL && list_member_oid(used, r->w->fake_oid);
}

/* The relations a raw statement names, and the lock mode it will take on each (a walker's state). */
typedef struct ApesPrelockCtx
{
	List	   *rangevars;		/* RangeVar * */
	List	   *modes;			/* int: its lock mode */
	List	   *targets;		/* RangeVar *: INSERT, UPDATE, DELETE, MERGE targets */
	bool		locking;		/* a FOR UPDATE / FOR SHARE clause somewhere */
} ApesPrelockCtx;

/* Walk a raw parse tree (every level: subqueries, CTEs, sublinks) and note the relations it names. */
static bool
apes_prelock_walker(Node *node, ApesPrelockCtx *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, InsertStmt))
		ctx->targets = lappend(ctx->targets, ((InsertStmt *) node)->relation);
	else if (IsA(node, UpdateStmt))
		ctx->targets = lappend(ctx->targets, ((UpdateStmt *) node)->relation);
	else if (IsA(node, DeleteStmt))
		ctx->targets = lappend(ctx->targets, ((DeleteStmt *) node)->relation);
	else if (apes_is_merge_stmt(node))
		ctx->targets = lappend(ctx->targets, apes_merge_target(node));
	else if (IsA(node, SelectStmt) && ((SelectStmt *) node)->lockingClause != NIL)
		ctx->locking = true;
	else if (IsA(node, RangeVar))
	{
		ctx->rangevars = lappend(ctx->rangevars, node);
		return false;
	}
	return raw_expression_tree_walker(node, apes_prelock_walker, ctx);
}

static void apes_prelock_rel(Oid relid, LOCKMODE mode, int depth);

/* Lock a relation in mode if that can be had at once, else the 55P03 error that skips the statement. */
static void
apes_prelock_oid(Oid relid, LOCKMODE mode, int depth)
{
	if (!ConditionalLockRelationOid(relid, mode))
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("could not obtain lock on relation with OID %u", relid)));
	if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		apes_prelock_rel(relid, mode, depth);
}

/* Take at once what a rewrite rule's query will lock (a view's relations), or fail. */
static bool
apes_prelock_rule_walker(Node *node, int *depth)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->rtekind == RTE_RELATION && !CheckRelationOidLockedByMe(rte->relid, rte->rellockmode, true))
			apes_prelock_oid(rte->relid, rte->rellockmode, *depth + 1);
		return false;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, apes_prelock_rule_walker, depth, QTW_EXAMINE_RTES_BEFORE);
	return expression_tree_walker(node, apes_prelock_rule_walker, depth);
}

/*
 * With relid locked: take at once the locks parse analysis, the rewriter and the planner will take because of it,
 * or fail with 55P03: its indexes (the planner opens every one, AccessShareLock), its inheritance children (the planner
 * expands them, in the parent's mode) and, for a view, the relations its rule reads, in their modes.
 */
static void
apes_prelock_rel(Oid relid, LOCKMODE mode, int depth)
{
	Relation	rel;
	List	   *children = NIL;
	ListCell   *lc;

	if (depth > APES_MAX_VIEW_DEPTH)
		return;
	rel = relation_open(relid, NoLock);
	if (rel->rd_rel->relhasindex)
		foreach(lc, RelationGetIndexList(rel))
			if (!ConditionalLockRelationOid(lfirst_oid(lc), AccessShareLock))
				ereport(ERROR,
						(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
						 errmsg("could not obtain lock on index with OID %u", lfirst_oid(lc))));
	if (rel->rd_rel->relkind == RELKIND_VIEW && rel->rd_rules != NULL)
		for (int i = 0; i < rel->rd_rules->numLocks; i++)
			foreach(lc, rel->rd_rules->rules[i]->actions)
				(void) query_tree_walker(lfirst_node(Query, lc), apes_prelock_rule_walker, &depth,
										 QTW_EXAMINE_RTES_BEFORE);
	if (rel->rd_rel->relhassubclass)
		children = find_inheritance_children(relid, NoLock);
	relation_close(rel, NoLock);
	foreach(lc, children)
		apes_prelock_oid(lfirst_oid(lc), mode, depth + 1);
}

/*
 * Take, before parse analysis and without waiting, every lock the statement will take (the mode it takes on each
 * relation it names: RowExclusiveLock on an INSERT, UPDATE, DELETE or MERGE target, RowShareLock under FOR UPDATE or
 * FOR SHARE, AccessShareLock otherwise; then what those bring, apes_prelock_rel): a lock held by another session's DDL
 * skips the statement at once (55P03) instead of a wait.  Names resolve as parse analysis will resolve them (the
 * statement's role and search_path are in force); a name that is no relation (a CTE) is left to parse analysis.
 */
static void
apes_prelock(RawStmt *raw)
{
	ApesPrelockCtx ctx = {NIL, NIL, NIL, false};
	ListCell   *lc;

	(void) apes_prelock_walker(raw->stmt, &ctx);
	foreach(lc, ctx.rangevars)
	{
		RangeVar   *rv = lfirst(lc);
		LOCKMODE	mode = list_member_ptr(ctx.targets, rv) ? RowExclusiveLock :
			ctx.locking ? RowShareLock : AccessShareLock;
		Oid			relid;

		CHECK_FOR_INTERRUPTS();
		/* a plain name may be a CTE's, schema-qualified never: look it up only where it can be a relation */
		relid = RangeVarGetRelidExtended(rv, mode, RVR_MISSING_OK | RVR_NOWAIT, NULL, NULL);
		if (OidIsValid(relid))
			apes_prelock_rel(relid, mode, 0);
	}
}

/*
 * The part of one statement's run that happens as its role: parse analysis with inferred parameter types, the
 * caller's privileges (first time), rewriting, what it reads and searches by (first time), the plan as it is (first
 * time), the scenario's plan.  Returns why the statement cannot be planned, or NULL.
 */
static const char *
apes_stmt_as_role(ApesStmtRun *r)
{
	ApesWorkload *w = r->w;
	ApesStatement *s = r->s;
	Oid		   *ptypes = NULL;
	int			nparams = 0;
	char	   *text = apes_cast_typed_literals(s->query);
	List	   *raws;
	RawStmt    *raw;
	Query	   *query;
	List	   *rewritten;
	bool		readable = true;

	if (text == NULL)
		text = s->query;
	raws = raw_parser(text, RAW_PARSE_DEFAULT);
	if (list_length(raws) != 1)
		return list_length(raws) == 0 ? "it is empty" : "it holds several statements";
	raw = linitial_node(RawStmt, raws);
	if (!IsA(raw->stmt, SelectStmt) && !IsA(raw->stmt, InsertStmt) && !IsA(raw->stmt, UpdateStmt) &&
		!IsA(raw->stmt, DeleteStmt) && !apes_is_merge_stmt(raw->stmt))
	{
		s->utility = true;
		return "a utility statement";
	}
	apes_prelock(raw);
	query = parse_analyze_varparams(raw, text, &ptypes, &nparams, NULL);
	for (int i = 0; i < nparams; i++)
		if (ptypes[i] == UNKNOWNOID)
			return psprintf("the type of parameter $%d cannot be inferred", i + 1);
	if (query->commandType == CMD_UTILITY)
	{
		s->utility = true;
		return "a utility statement";
	}
	if (r->analyze)
	{
		ApesReadableCtx ctx = {w->caller, true};

		(void) query_tree_walker(query, apes_readable_walker, &ctx, QTW_EXAMINE_RTES_BEFORE);
		readable = ctx.ok;
	}
	rewritten = QueryRewrite(query);
	if (list_length(rewritten) != 1)
		return "rules rewrite it into several statements";
	query = linitial_node(Query, rewritten);
	if (query->commandType == CMD_UTILITY)
		return "rules rewrite it into a utility statement";
	if (r->analyze)
	{
		ApesRelidsCtx rctx = {NIL, NIL};
		List	   *cols = NIL;
		ListCell   *lc;
		int			k = 0;

		(void) apes_relids_walker((Node *) query, &rctx);
		s->relids = apes_oid_array(w->cxt, rctx.relids, &s->nrelids);
		(void) apes_cols_walker((Node *) query, &cols);
		s->cols = MemoryContextAlloc(w->cxt, sizeof(ApesSearchCol) * Max(list_length(cols), 1));
		foreach(lc, cols)
			s->cols[k++] = *(ApesSearchCol *) lfirst(lc);
		s->ncols = k;
		if (!readable)
		{
			s->state = APES_STMT_HIDDEN;
			return NULL;
		}
	}
	if (r->analyze)
	{
		Query	   *copy = r->scen != NULL ? copyObject(query) : NULL;
		PlannedStmt *ps = apes_plan_scenario(w, query, text, NULL);
		List	   *used = NIL;
		List	   *seq = NIL;
		ListCell   *lc;

		apes_plan_walk(ps, ps->planTree, &used, &seq);
		foreach(lc, ps->subplans)
			apes_plan_walk(ps, lfirst(lc), &used, &seq);
		s->cost = ps->planTree->total_cost;
		s->used = apes_oid_array(w->cxt, used, &s->nused);
		s->seqscanned = apes_oid_array(w->cxt, seq, &s->nseqscanned);
		s->state = APES_STMT_READY;
		if (copy != NULL && apes_scenario_matters(r->scen, s))
			apes_scenario_result(r, apes_plan_scenario(w, copy, text, r->scen));
	}
	else
		apes_scenario_result(r, apes_plan_scenario(w, query, text, r->scen));
	return NULL;
}

/* A role's search_path, as its sessions in this database start with it. */
typedef struct ApesRolePath
{
	Oid			role;
	char	   *path;
} ApesRolePath;

/*
 * The search_path sessions of a role start with in this database (role_settings.c), or the caller's own default when
 * that is unknown; looked up once per role and call.
 */
static char *
apes_role_search_path(ApesWorkload *w, Oid role)
{
	const char *source;
	char	   *path;
	ApesRolePath *rp;
	MemoryContext old;
	ListCell   *lc;

	foreach(lc, w->role_paths)
		if (((ApesRolePath *) lfirst(lc))->role == role)
			return ((ApesRolePath *) lfirst(lc))->path;
	path = apes_session_setting(MyDatabaseId, role, "search_path", &source);
	old = MemoryContextSwitchTo(w->cxt);	/* kept for the call, not the statement's scratch memory */
	rp = palloc(sizeof(ApesRolePath));
	rp->role = role;
	rp->path = pstrdup(path != NULL ? path : GetConfigOptionResetString("search_path"));
	w->role_paths = lappend(w->role_paths, rp);
	MemoryContextSwitchTo(old);
	return rp->path;
}

/*
 * One statement's run (an apes_run_released() callback), in the workload's scratch memory: as the statement's role
 * with SECURITY_RESTRICTED_OPERATION, under that role's search_path, lock_timeout = 1 ms and pg_stat_statements'
 * tracking off, the parse, analysis and plans (apes_stmt_as_role).  Role and settings are restored on the way out; on
 * an error the subtransaction's abort restores them.
 */
static void
apes_stmt_run(void *arg)
{
	ApesStmtRun *r = (ApesStmtRun *) arg;
	ApesStatement *s = r->s;
	MemoryContext old = MemoryContextSwitchTo(r->w->scratch);
	Oid			save_user;
	int			save_sec;
	int			nest;

	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(s->userid)))
	{
		r->skip = "its role no longer exists";
		MemoryContextSwitchTo(old);
		return;
	}
	/* the settings first: a security-restricted operation may not change some */
	nest = NewGUCNestLevel();
	(void) set_config_option("search_path", apes_role_search_path(r->w, s->userid), PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("lock_timeout", "1", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	if (GetConfigOption("pg_stat_statements.track", true, false) != NULL)
		(void) set_config_option("pg_stat_statements.track", "none", PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, 0, false);
	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(s->userid, save_sec | SECURITY_RESTRICTED_OPERATION);
	r->skip = apes_stmt_as_role(r);
	SetUserIdAndSecContext(save_user, save_sec);
	AtEOXact_GUC(false, nest);
	MemoryContextSwitchTo(old);
}

/* Why an error skips a statement, in the workload's memory. */
static const char *
apes_error_reason(ApesWorkload *w, ErrorData *edata)
{
	if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE)
		return "a relation it reads is locked by another session right now";
	return MemoryContextStrdup(w->cxt, psprintf("it does not plan here: %s", edata->message));
}

/*
 * Run one statement in a subtransaction, rolled back once it is planned so that its locks go before the next one;
 * false, with the reason in r->skip, when it could not be planned.
 */
static bool
apes_stmt_guarded(ApesStmtRun *r)
{
	ErrorData  *edata;
	bool		ok = apes_run_released(apes_stmt_run, r, &edata);	/* its locks go with it */

	if (!ok)
	{
		r->skip = apes_error_reason(r->w, edata);
		FreeErrorData(edata);
	}
	else if (r->skip != NULL)
		r->skip = MemoryContextStrdup(r->w->cxt, r->skip);	/* out of the scratch memory, reset now */
	MemoryContextReset(r->w->scratch);
	return r->skip == NULL;
}

/*
 * Analyze a statement the first time it is needed: what it reads, what it searches by, whether the caller may see
 * its plan, and its generic plan as the database is; scen, if given, is planned in the same pass when it matters.
 */
static void
apes_analyze(ApesWorkload *w, ApesStatement *s, ApesStmtRun *r)
{
	if (!apes_stmt_guarded(r))
	{
		s->state = APES_STMT_SKIPPED;
		s->skip_reason = r->skip;
	}
	w->analyzed++;
}

/* Analyze a statement the first time it is needed (see apes_analyze); s->state says how it went. */
void
apes_workload_analyze(ApesWorkload *w, ApesStatement *s)
{
	ApesStmtRun r = {w, s, true, NULL, false, 0, false, NULL};

	if (s->state == APES_STMT_NEW)
		apes_analyze(w, s, &r);
}

/*
 * The total cost of the statement's generic plan with the planner shown scen, and whether it scans the hypothetical
 * index.  False when the statement cannot be planned (s->state says why, or *why when only this plan failed).  A
 * scenario whose hidden indexes the plan as it is does not scan is not planned again: its plan would be the same.
 */
bool
apes_workload_plan(ApesWorkload *w, ApesStatement *s, ApesScenario *scen, double *cost, bool *uses,
				   const char **why)
{
	ApesStmtRun r = {w, s, s->state == APES_STMT_NEW, scen, false, 0, false, NULL};

	*why = NULL;
	*uses = false;
	*cost = 0;
	if (s->state == APES_STMT_NEW)
		apes_analyze(w, s, &r);
	if (s->state != APES_STMT_READY)
		return false;
	if (!r.scen_planned)
	{
		if (!apes_scenario_matters(scen, s))
		{
			*cost = s->cost;
			return true;
		}
		r.analyze = false;
		r.skip = NULL;
		if (!apes_stmt_guarded(&r))
		{
			*why = r.skip;
			return false;
		}
	}
	*cost = r.scen_cost;
	*uses = r.scen_uses_hypo;
	return true;
}
