/*
 * index_advice.c: index advice checked against the plans of the statements this database runs (workload.c):
 *
 *   apes.simulate_drop(idx, statements)   the top statements reading the index's table, planned with the index and
 *                                         without it: per statement, whether it used it and what it would cost
 *   drop simulations                      the same for every index_unused, index_rarely_used, index_redundant and
 *                                         index_duplicate finding (index_health.c), within a time budget; a drop
 *                                         that makes a statement costlier than pg_apes_health.keep_cost_ratio
 *                                         turns the finding into "keep"
 *   index_missing                         candidate btree indexes from the top statements' own predicates on the
 *                                         tables they scan sequentially, shown to the planner as hypothetical
 *                                         indexes; kept when they make the statements much cheaper
 *
 * Nothing here executes a statement, builds an index or opens a user relation: parse analysis and planning (in
 * workload.c) take the locks the statements themselves would, never waiting.
 */
#include "postgres.h"

#include <math.h>

#include "access/table.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_statistic.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "advice.h"

#define APES_MISSING_MAX_CANDIDATES 8	/* candidates planned per table, the most promising first */
#define APES_MISSING_MAX_PER_TABLE 2	/* indexes suggested per table */
#define APES_MISSING_MAX_EQ 3			/* equality columns in one candidate */
#define APES_SIM_SHOWN 5				/* statements listed in a finding's evidence */
#define APES_MISSING_MIN_TABLE_BYTES (8 * BLCKSZ)	/* smaller tables: a sequential scan is the plan they want */

/* ---------- drop simulation ---------- */

/* "query <queryid> (<database>/<role>)": how findings name a statement (as apes.statement_name() does). */
char *
apes_statement_label(ApesStatement *s)
{
	char	   *role = GetUserNameFromId(s->userid, true);

	return psprintf("query " INT64_FORMAT " (%s/%s)", s->queryid, get_database_name(MyDatabaseId),
					role != NULL ? role : psprintf("%u", s->userid));
}

/* A simulation that did not run, and why. */
ApesDropSim *
apes_drop_sim_not_run(const char *why)
{
	ApesDropSim *sim = palloc0(sizeof(ApesDropSim));

	sim->not_run = why;
	sim->worst_ratio = 1.0;
	return sim;
}

/* A new row of a simulation, appended. */
static ApesDropSimRow *
apes_sim_row(ApesDropSim *sim, ApesStatement *s, char status, const char *reason)
{
	ApesDropSimRow *row = palloc0(sizeof(ApesDropSimRow));

	row->s = s;
	row->status = status;
	row->reason = reason;
	sim->rows = lappend(sim->rows, row);
	return row;
}

/*
 * Plan the top statements (by total time) that read the index's table, up to nstatements of them, with the index
 * and without it (the planner does not see it, nor, for a partitioned index, its partitions' indexes).  A statement
 * whose plan as it is does not scan the index keeps its plan without it and is not planned again, unless the index
 * is unique (uniqueness proves things without a scan).  Statements that cannot be analyzed (utility statements,
 * parameters of unknown type...) are rows with the reason and do not count towards nstatements; statements the
 * caller may not read are counted, not shown.  Stops when the workload's time budget runs out.
 */
ApesDropSim *
apes_drop_simulation(ApesWorkload *w, Oid index, int nstatements)
{
	ApesDropSim *sim;
	Oid			table = IndexGetRelation(index, true);
	HeapTuple	tup;
	List	   *hidden;
	List	   *related;
	List	   *stmts;
	ApesScenario scen = {0};
	ListCell   *lc;

	if (w == NULL)
		return apes_drop_sim_not_run("the time budget for simulations is 0 (pg_apes_health.simulation_time_budget)");
	if (w->unavailable != NULL)
		return apes_drop_sim_not_run(w->unavailable);
	if (!OidIsValid(table) || !(tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(index))))
		return apes_drop_sim_not_run("the index no longer exists");
	scen.force = ((Form_pg_index) GETSTRUCT(tup))->indisunique;
	ReleaseSysCache(tup);
	sim = apes_drop_sim_not_run(NULL);
	sim->wanted = nstatements;
	sim->hidden_texts = w->hidden_texts;
	hidden = get_rel_relkind(index) == RELKIND_PARTITIONED_INDEX ? find_all_inheritors(index, NoLock, NULL) :
		list_make1_oid(index);
	scen.hidden = hidden;
	stmts = apes_workload_mentioning(w, table, &related);
	foreach(lc, stmts)
	{
		ApesStatement *s = lfirst(lc);
		ApesDropSimRow *row;
		double		cost;
		bool		uses_hypo;
		const char *why;
		bool		ok;

		CHECK_FOR_INTERRUPTS();
		if (sim->checked >= nstatements)
			break;
		if (!apes_workload_time_left(w))
		{
			sim->stopped = "the time budget ran out (pg_apes_health.simulation_time_budget)";
			break;
		}
		ok = apes_workload_plan(w, s, &scen, &cost, &uses_hypo, &why);
		if (s->state == APES_STMT_SKIPPED)
		{
			apes_sim_row(sim, s, 's', s->skip_reason);
			sim->skipped++;
			continue;
		}
		if (!apes_workload_reads(s, related))
			continue;			/* its text names the table's name, but it reads another relation of that name */
		sim->checked++;
		if (s->state == APES_STMT_HIDDEN)
		{
			apes_sim_row(sim, s, 'h', "the caller may not read every relation it reads");
			sim->hidden++;
			continue;
		}
		if (!ok)
		{
			apes_sim_row(sim, s, 's', why);
			sim->skipped++;
			continue;
		}
		row = apes_sim_row(sim, s, 'p', NULL);
		row->uses = apes_workload_uses(s, hidden);
		row->cost_with = s->cost;
		row->cost_without = cost;
		sim->planned++;
		if (row->uses)
			sim->changed++;
		if (s->cost > 0 && cost / s->cost > sim->worst_ratio)
		{
			sim->worst_ratio = cost / s->cost;
			sim->worst = row;
		}
	}
	return sim;
}

/* True when the simulation found a statement the drop would make costlier than pg_apes_health.keep_cost_ratio. */
bool
apes_drop_sim_keep(ApesDropSim *sim)
{
	return sim->not_run == NULL && sim->worst != NULL && sim->worst_ratio > apes_keep_cost_ratio;
}

/* What the simulation says, as a clause for a finding's summary. */
char *
apes_drop_sim_phrase(ApesDropSim *sim)
{
	if (sim->not_run != NULL)
		return psprintf("not checked against the workload: %s", sim->not_run);
	if (apes_drop_sim_keep(sim))
		return psprintf("without it %s would cost %.1f times more (estimated cost %.2f -> %.2f)",
						apes_statement_label(sim->worst->s), sim->worst_ratio, sim->worst->cost_with,
						sim->worst->cost_without);
	if (sim->checked == 0)
		return psprintf("no top statement in pg_stat_statements reads its table%s%s%s",
						sim->skipped > 0 ? psprintf(" (%d name it but cannot be planned)", sim->skipped) : "",
						sim->hidden_texts > 0 ? psprintf(" (%d statements are not visible to you)", sim->hidden_texts) : "",
						sim->stopped != NULL ? " (the time budget ran out)" : "");
	return psprintf("the workload agrees: none of the %d top statement%s reading its table gets more than %.1f times costlier without it (%d scan%s it)%s%s",
					sim->checked, sim->checked == 1 ? "" : "s", sim->worst_ratio, sim->changed,
					sim->changed == 1 ? "s" : "",
					sim->hidden > 0 ? psprintf("; %d not planned: you may not read all they read", sim->hidden) : "",
					sim->stopped != NULL ? "; the time budget ran out before all were checked" : "");
}

/* One statement of a simulation in the evidence. */
static void
apes_sim_row_json(ApesJson *j, ApesDropSimRow *row)
{
	char	   *role = GetUserNameFromId(row->s->userid, true);

	apes_json_begin_object(j, NULL);
	apes_json_int(j, "queryid", row->s->queryid);
	apes_json_text(j, "role", role);
	apes_json_int(j, "calls", row->s->calls);
	apes_json_float(j, "total_time_ms", row->s->total_ms);
	apes_json_bool(j, "uses_index", row->uses);
	apes_json_float(j, "cost_with", row->cost_with);
	apes_json_float(j, "cost_without", row->cost_without);
	apes_json_float(j, "cost_ratio", row->cost_with > 0 ? row->cost_without / row->cost_with : 1.0);
	apes_json_end_object(j);
}

/*
 * The simulation as the "simulation" object of a finding's evidence: how many statements it checked, planned, could
 * not plan (with the reasons) or could not show; how many plans changed; the worst cost ratio and the statements
 * whose plans changed (queryid and role: apes.statement_query() or apes.simulate_drop() show their texts to those
 * who may see them).
 */
void
apes_drop_sim_evidence(ApesJson *j, ApesDropSim *sim)
{
	ListCell   *lc;
	int			shown = 0;
	List	   *reasons = NIL;
	List	   *counts = NIL;

	apes_json_begin_object(j, "simulation");
	apes_json_bool(j, "ran", sim->not_run == NULL);
	if (sim->not_run != NULL)
	{
		apes_json_text(j, "reason", sim->not_run);
		apes_json_end_object(j);
		return;
	}
	apes_json_int(j, "statements_wanted", sim->wanted);
	apes_json_int(j, "statements_checked", sim->checked);
	apes_json_int(j, "statements_planned", sim->planned);
	apes_json_int(j, "statements_hidden", sim->hidden);
	apes_json_int(j, "statements_skipped", sim->skipped);
	apes_json_int(j, "statements_not_visible", sim->hidden_texts);
	apes_json_int(j, "plans_changed", sim->changed);
	apes_json_float(j, "worst_cost_ratio", sim->worst_ratio);
	apes_json_float(j, "keep_cost_ratio", apes_keep_cost_ratio);
	apes_json_bool(j, "keep", apes_drop_sim_keep(sim));
	apes_json_bool(j, "complete", sim->stopped == NULL);
	apes_json_text(j, "stopped", sim->stopped);
	apes_json_begin_array(j, "changed_statements");
	foreach(lc, sim->rows)
	{
		ApesDropSimRow *row = lfirst(lc);

		if (row->status == 'p' && row->uses && shown++ < APES_SIM_SHOWN)
			apes_sim_row_json(j, row);
	}
	apes_json_end_array(j);
	/* skipped statements, counted by reason */
	foreach(lc, sim->rows)
	{
		ApesDropSimRow *row = lfirst(lc);
		ListCell   *rc;
		bool		found = false;

		if (row->status != 's')
			continue;
		foreach(rc, reasons)
		{
			if (strcmp(lfirst(rc), row->reason) == 0)
			{
				list_nth_cell(counts, foreach_current_index(rc))->int_value++;
				found = true;
				break;
			}
		}
		if (!found)
		{
			reasons = lappend(reasons, (char *) row->reason);
			counts = lappend_int(counts, 1);
		}
	}
	apes_json_begin_object(j, "skip_reasons");
	foreach(lc, reasons)
		apes_json_int(j, lfirst(lc), list_nth_int(counts, foreach_current_index(lc)));
	apes_json_end_object(j);
	apes_json_end_object(j);
}

#define APES_SIMULATE_DROP_COLS 12

PG_FUNCTION_INFO_V1(apes_simulate_drop);

/*
 * apes.simulate_drop(idx regclass, statements integer DEFAULT 20): the top statements of this database (by total
 * time in pg_stat_statements) that read the index's table, each planned as a generic plan with the index and
 * without it; nothing is executed.  One row per statement: planned (costs with and without, their ratio, whether the
 * plan as it is scans the index), skipped (why it cannot be planned), or hidden (it reads a relation the caller may
 * not read: counted, nothing shown).  Statements whose text pg_stat_statements does not show the caller are never
 * looked at; a notice says how many.  Each statement is planned in a subtransaction under the caller's
 * statement_timeout.  No lock on the index; each statement's planning takes the locks it would (workload.c).
 */
Datum
apes_simulate_drop(PG_FUNCTION_ARGS)
{
	Oid			index = PG_GETARG_OID(0);
	int32		nstatements = PG_GETARG_INT32(1);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char		relkind = get_rel_relkind(index);
	ApesWorkload *w;
	ApesDropSim *sim;
	ListCell   *lc;

	if (nstatements < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("statements must be at least 1, not %d", nstatements)));
	if (relkind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", index)));
	if (relkind != RELKIND_INDEX && relkind != RELKIND_PARTITIONED_INDEX)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an index", get_rel_name(index)),
				 errdetail_relkind_not_supported(relkind)));
	apes_init_materialized_srf(fcinfo);
	if (rsinfo->setDesc->natts != APES_SIMULATE_DROP_COLS)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("apes.simulate_drop() must return %d columns, not %d", APES_SIMULATE_DROP_COLS,
						rsinfo->setDesc->natts)));
	w = apes_workload_load(CurrentMemoryContext, 0);
	if (w->unavailable != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot simulate dropping \"%s\": %s", get_rel_name(index), w->unavailable),
				 errhint("The simulation plans the statements pg_stat_statements recorded: add it to shared_preload_libraries and run CREATE EXTENSION pg_stat_statements in this database.")));
	sim = apes_drop_simulation(w, index, nstatements);
	if (sim->not_run != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot simulate dropping \"%s\": %s", get_rel_name(index), sim->not_run)));
	if (sim->hidden_texts > 0)
		ereport(NOTICE,
				(errmsg("%d statements of this database are not visible to you in pg_stat_statements; they were not checked",
						sim->hidden_texts),
				 errhint("Members of pg_read_all_stats see every statement's text; others see their own role's.")));
	foreach(lc, sim->rows)
	{
		ApesDropSimRow *row = lfirst(lc);
		ApesStatement *s = row->s;
		Datum		values[APES_SIMULATE_DROP_COLS];
		bool		nulls[APES_SIMULATE_DROP_COLS];
		bool		shown = row->status != 'h';
		bool		planned = row->status == 'p';
		char	   *role = shown ? GetUserNameFromId(s->userid, true) : NULL;
		int			i = 0;

		CHECK_FOR_INTERRUPTS();
		memset(nulls, 0, sizeof(nulls));
		nulls[i] = !shown;
		values[i++] = Int32GetDatum(s->rank);
		nulls[i] = !shown;
		values[i++] = Int64GetDatum(s->queryid);
		nulls[i] = role == NULL;
		values[i++] = role != NULL ? DirectFunctionCall1(namein, CStringGetDatum(role)) : (Datum) 0;
		nulls[i] = !shown;
		values[i++] = Int64GetDatum(s->calls);
		nulls[i] = !shown;
		values[i++] = Float8GetDatum(s->total_ms);
		values[i++] = CStringGetTextDatum(row->status == 'p' ? "planned" : row->status == 's' ? "skipped" : "hidden");
		nulls[i] = row->reason == NULL;
		values[i++] = row->reason != NULL ? CStringGetTextDatum(row->reason) : (Datum) 0;
		nulls[i] = !planned;
		values[i++] = BoolGetDatum(row->uses);
		nulls[i] = !planned;
		values[i++] = Float8GetDatum(row->cost_with);
		nulls[i] = !planned;
		values[i++] = Float8GetDatum(row->cost_without);
		nulls[i] = !planned || row->cost_with <= 0;
		values[i++] = Float8GetDatum(row->cost_with > 0 ? row->cost_without / row->cost_with : 0);
		nulls[i] = !shown || s->query == NULL;
		values[i++] = shown && s->query != NULL ? CStringGetTextDatum(s->query) : (Datum) 0;
		Assert(i == APES_SIMULATE_DROP_COLS);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ---------- index_missing ---------- */

/* A statement a candidate index would make cheaper. */
typedef struct ApesMissingHelp
{
	ApesStatement *s;
	double		before;
	double		after;
} ApesMissingHelp;

/* A candidate index: plain columns of one table, equality columns first, then at most one range or sort column. */
typedef struct ApesMissingCand
{
	ApesRel    *table;
	int			ncols;
	AttrNumber	cols[INDEX_MAX_KEYS];
	bool		last_ordered;	/* its last column is a range or sort column (order matters there) */
	double		weight;			/* total time of the statements whose predicates suggest it */
	List	   *helped;			/* ApesMissingHelp */
	double		helped_ms;
	double		saved_share;	/* the cost the helped statements lose, weighted by their time */
} ApesMissingCand;

/* What index_missing found for one table: its statements and their time. */
typedef struct ApesMissingTable
{
	ApesRel    *table;
	List	   *related;
	List	   *reading;		/* READY statements reading it */
	double		table_ms;		/* time of all the top statements reading it (those not planned too) */
	int			checked;
	int			hidden;
	bool		seq_heavy;
} ApesMissingTable;

/* The partitioned table at the top of a partition's tree, or the relation itself. */
static ApesRel *
apes_table_root(ApesCatalog *cat, ApesRel *r)
{
	while (r != NULL && r->ispartition && OidIsValid(r->parent))
	{
		ApesRel    *p = apes_rel(cat, r->parent);

		if (p == NULL)
			break;
		r = p;
	}
	return r;
}

/* The column's number of distinct values from its statistics (negative: a fraction of the rows), or 0 unknown. */
static double
apes_col_ndistinct(ApesRel *table, AttrNumber attnum)
{
	HeapTuple	tup = SearchSysCache3(STATRELATTINH, ObjectIdGetDatum(table->oid), Int16GetDatum(attnum),
									  BoolGetDatum(table->relkind == RELKIND_PARTITIONED_TABLE));
	double		nd = 0;

	if (HeapTupleIsValid(tup))
	{
		nd = ((Form_pg_statistic) GETSTRUCT(tup))->stadistinct;
		if (nd < 0)
			nd = -nd * Max(table->reltuples, 1);
		ReleaseSysCache(tup);
	}
	return nd;
}

/* Order equality columns: the most distinct values first (the most selective leads). */
static void
apes_sort_by_ndistinct(ApesRel *table, AttrNumber *cols, int n)
{
	double		nd[INDEX_MAX_KEYS];

	for (int i = 0; i < n; i++)
		nd[i] = apes_col_ndistinct(table, cols[i]);
	for (int i = 1; i < n; i++)
		for (int k = i; k > 0 && nd[k] > nd[k - 1]; k--)
		{
			double		t = nd[k];
			AttrNumber	a = cols[k];

			nd[k] = nd[k - 1];
			cols[k] = cols[k - 1];
			nd[k - 1] = t;
			cols[k - 1] = a;
		}
}

/* Add a candidate (or the statement's time to the same one already there). */
static void
apes_add_candidate(List **cands, ApesRel *table, const AttrNumber *cols, int n, bool last_ordered, double ms)
{
	ListCell   *lc;
	ApesMissingCand *c;

	if (n <= 0 || n > INDEX_MAX_KEYS || !apes_hypo_columns_ok(table->oid, n, cols))
		return;
	foreach(lc, *cands)
	{
		c = lfirst(lc);
		if (c->ncols == n && memcmp(c->cols, cols, sizeof(AttrNumber) * n) == 0)
		{
			c->weight += ms;
			return;
		}
	}
	c = palloc0(sizeof(ApesMissingCand));
	c->table = table;
	c->ncols = n;
	memcpy(c->cols, cols, sizeof(AttrNumber) * n);
	c->last_ordered = last_ordered;
	c->weight = ms;
	*cands = lappend(*cands, c);
}

/*
 * The candidates one statement's predicates on the table suggest: each equality column alone, each range column
 * alone, the equality columns together (most distinct first), and those followed by the first range or sort column.
 */
static void
apes_candidates_from(ApesRel *table, ApesStatement *s, List **cands)
{
	AttrNumber	eq[INDEX_MAX_KEYS];
	AttrNumber	range[INDEX_MAX_KEYS];
	AttrNumber	cols[INDEX_MAX_KEYS];
	AttrNumber	sort = 0;
	int			neq = 0;
	int			nrange = 0;
	int			n;

	for (int k = 0; k < s->ncols; k++)
	{
		ApesSearchCol *c = &s->cols[k];

		if (c->relid != table->oid)
			continue;
		if (c->kind == 'e' && neq < APES_MISSING_MAX_EQ)
			eq[neq++] = c->attnum;
		else if (c->kind == 'r' && nrange < INDEX_MAX_KEYS)
			range[nrange++] = c->attnum;
		else if (c->kind == 's' && sort == 0)
			sort = c->attnum;
	}
	apes_sort_by_ndistinct(table, eq, neq);
	for (int i = 0; i < neq; i++)
		apes_add_candidate(cands, table, &eq[i], 1, false, s->total_ms);
	for (int i = 0; i < nrange; i++)
		apes_add_candidate(cands, table, &range[i], 1, true, s->total_ms);
	if (neq == 0 && nrange == 0 && sort != 0)
		apes_add_candidate(cands, table, &sort, 1, true, s->total_ms);
	if (neq >= 2)
		apes_add_candidate(cands, table, eq, neq, false, s->total_ms);
	if (neq >= 1 && (nrange > 0 || sort != 0))
	{
		AttrNumber	last = nrange > 0 ? range[0] : sort;
		bool		dup = false;

		for (int i = 0; i < neq; i++)
			dup |= eq[i] == last;
		if (!dup)
		{
			memcpy(cols, eq, sizeof(AttrNumber) * neq);
			n = neq;
			cols[n++] = last;
			apes_add_candidate(cands, table, cols, n, true, s->total_ms);
		}
	}
}

/*
 * True when an existing usable btree index already serves the candidate: its first key columns are the candidate's
 * columns (the equality columns in any order, an ordered last column in its place), and it has no predicate.  A
 * candidate that is a prefix of an existing index is served by it.
 */
static bool
apes_candidate_served(ApesMissingCand *c)
{
	ListCell   *lc;

	foreach(lc, c->table->indexes)
	{
		ApesIndex  *idx = lfirst(lc);
		bool		all = true;

		if (!idx->valid || !idx->ready || !idx->live || idx->rel->relam != BTREE_AM_OID ||
			idx->pred_text != NULL || idx->nkeyatts < c->ncols)
			continue;
		for (int i = 0; i < c->ncols && all; i++)
		{
			bool		in = false;

			for (int k = 0; k < c->ncols; k++)
				in |= idx->keys[k] == c->cols[i];
			all = in;
		}
		if (all && (!c->last_ordered || idx->keys[c->ncols - 1] == c->cols[c->ncols - 1]))
			return true;
	}
	return false;
}

/* True when the statement searches or sorts the table by the candidate's leading column. */
static bool
apes_statement_searches(ApesStatement *s, ApesMissingCand *c)
{
	for (int k = 0; k < s->ncols; k++)
		if (s->cols[k].relid == c->table->oid && s->cols[k].attnum == c->cols[0])
			return true;
	return false;
}

/* The candidate as a hypothetical index the planner is shown: on the table, or on each of its leaf partitions. */
static ApesHypoIndex *
apes_candidate_hypo(ApesMissingCand *c)
{
	ApesHypoIndex *h = palloc0(sizeof(ApesHypoIndex));

	h->table = c->table->oid;
	if (c->table->relkind == RELKIND_PARTITIONED_TABLE)
	{
		ListCell   *lc;

		foreach(lc, find_all_inheritors(c->table->oid, NoLock, NULL))
			if (get_rel_relkind(lfirst_oid(lc)) == RELKIND_RELATION)
				h->tables = lappend_oid(h->tables, lfirst_oid(lc));
	}
	else
		h->tables = list_make1_oid(c->table->oid);
	h->ncols = c->ncols;
	for (int i = 0; i < c->ncols; i++)
		h->colnames[i] = get_attname(c->table->oid, c->cols[i], false);
	return h;
}

/*
 * Plan the statements reading the table that search it by the candidate's leading column, with the candidate shown
 * to the planner: a statement is helped when its plan scans the candidate and costs at least
 * pg_apes_health.missing_index_min_gain percent less.
 */
static void
apes_evaluate_candidate(ApesWorkload *w, ApesMissingTable *mt, ApesMissingCand *c)
{
	ApesScenario scen = {NIL, apes_candidate_hypo(c), false};
	ListCell   *lc;
	double		saved = 0;

	foreach(lc, mt->reading)
	{
		ApesStatement *s = lfirst(lc);
		double		after;
		bool		uses;
		const char *why;

		CHECK_FOR_INTERRUPTS();
		if (!apes_statement_searches(s, c))
			continue;
		if (!apes_workload_time_left(w))
			break;
		if (!apes_workload_plan(w, s, &scen, &after, &uses, &why) || !uses || s->cost <= 0)
			continue;
		if ((1.0 - after / s->cost) * 100.0 >= apes_missing_index_min_gain_pct)
		{
			ApesMissingHelp *h = palloc(sizeof(ApesMissingHelp));

			h->s = s;
			h->before = s->cost;
			h->after = after;
			c->helped = lappend(c->helped, h);
			c->helped_ms += s->total_ms;
			saved += s->total_ms * (1.0 - after / s->cost);
		}
	}
	c->saved_share = c->helped_ms > 0 ? saved / c->helped_ms : 0;
}

/* Candidates by weight, heaviest first. */
static int
apes_cand_weight_cmp(const ListCell *a, const ListCell *b)
{
	double		x = ((ApesMissingCand *) lfirst(a))->weight;
	double		y = ((ApesMissingCand *) lfirst(b))->weight;

	return x > y ? -1 : x < y ? 1 : 0;
}

/* Kept candidates by the time they would save, then the narrower first. */
static int
apes_cand_saved_cmp(const ListCell *a, const ListCell *b)
{
	ApesMissingCand *x = lfirst(a);
	ApesMissingCand *y = lfirst(b);
	double		sx = x->helped_ms * x->saved_share;
	double		sy = y->helped_ms * y->saved_share;

	if (sx != sy)
		return sx > sy ? -1 : 1;
	return x->ncols - y->ncols;
}

/* True when every statement c helps is helped by a chosen candidate already. */
static bool
apes_helps_nothing_new(ApesMissingCand *c, List *chosen)
{
	ListCell   *lc;

	foreach(lc, c->helped)
	{
		ApesStatement *s = ((ApesMissingHelp *) lfirst(lc))->s;
		bool		seen = false;
		ListCell   *cc;

		foreach(cc, chosen)
		{
			ListCell   *hc;

			foreach(hc, ((ApesMissingCand *) lfirst(cc))->helped)
				seen |= ((ApesMissingHelp *) lfirst(hc))->s == s;
		}
		if (!seen)
			return false;
	}
	return true;
}

/*
 * Rows written to the table (and its partitions) in the statistics window: inserted, updated, deleted; what every
 * index of it pays for (index_missing, index_rarely_used).
 */
int64
apes_table_writes(ApesRel *r)
{
	int64		writes = 0;

	if (r->relkind == RELKIND_PARTITIONED_TABLE)
	{
		ListCell   *lc;

		foreach(lc, r->children)
			writes += apes_table_writes(lfirst(lc));
	}
	else
	{
		PgStat_StatTabEntry *t = apes_fetch_tabentry(r->oid);

		if (t != NULL)
			writes = t->tuples_inserted + t->tuples_updated + t->tuples_deleted;
	}
	return writes;
}

/* Rows of the table (and its partitions) as the catalog estimates them. */
static double
apes_table_rows(ApesRel *r)
{
	double		rows = 0;

	if (r->relkind == RELKIND_PARTITIONED_TABLE)
	{
		ListCell   *lc;

		foreach(lc, r->children)
			rows += apes_table_rows(lfirst(lc));
		return rows;
	}
	return Max(r->reltuples, 0);
}

/* "a, b": the candidate's column names, quoted for SQL; *plain gets them joined by "_" for an index name. */
static char *
apes_candidate_columns(ApesMissingCand *c, char **plain)
{
	StringInfoData buf;
	StringInfoData raw;

	initStringInfo(&buf);
	initStringInfo(&raw);
	for (int i = 0; i < c->ncols; i++)
	{
		char	   *name = get_attname(c->table->oid, c->cols[i], false);

		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "", quote_identifier(name));
		appendStringInfo(&raw, "%s%s", i > 0 ? "_" : "", name);
	}
	*plain = raw.data;
	return buf.data;
}

/* The index_missing finding for a kept candidate. */
static ApesFinding *
apes_missing_finding(ApesCatalog *cat, ApesMissingTable *mt, ApesMissingCand *c)
{
	ApesRel    *t = c->table;
	bool		partitioned = t->relkind == RELKIND_PARTITIONED_TABLE;
	char	   *plain;
	char	   *cols = apes_candidate_columns(c, &plain);
	char	   *tname = apes_qualified_name(t);
	char	   *idxname = ChooseRelationName(t->relname, plain, "idx", t->nspoid, false);
	ApesMissingHelp *top = linitial(c->helped);
	int32		widths[INDEX_MAX_KEYS];
	int64		pages;
	int			height;
	int64		writes = apes_table_writes(t);
	long		secs;
	int			usecs;
	double		days;
	ApesFinding *f;
	ApesJson	ev;
	ListCell   *lc;

	for (int i = 0; i < c->ncols; i++)
	{
		Oid			typid;
		int32		typmod;
		Oid			coll;

		get_atttypetypmodcoll(t->oid, c->cols[i], &typid, &typmod, &coll);
		widths[i] = apes_column_width(t->oid, c->cols[i], typid, typmod);
	}
	apes_btree_estimate(apes_table_rows(t), c->ncols, widths, &pages, &height);
	TimestampDifference(cat->stats_since, cat->now, &secs, &usecs);
	days = Max(secs / 86400.0, 1.0 / 24);
	f = apes_new_finding(APES_CHECK_index_missing, APES_WARNING, psprintf("%s (%s)", tname, cols));
	f->confidence = APES_MEDIUM;
	f->summary = psprintf("an index on %s (%s) would cut the estimated cost of %d top statement%s by %.0f%% (%s: %.2f -> %.2f); they take %.0f%% of the time of the statements reading the table; estimated size %s; the table took %s, each of which would update this index too",
						  tname, cols, list_length(c->helped), list_length(c->helped) == 1 ? "" : "s",
						  100.0 * c->saved_share, apes_statement_label(top->s), top->before, top->after,
						  mt->table_ms > 0 ? 100.0 * c->helped_ms / mt->table_ms : 100.0,
						  apes_size_pretty(pages * BLCKSZ),
						  secs >= 86400 ? psprintf("%.0f row writes a day over %.1f days", writes / days, secs / 86400.0) :
						  secs >= 3600 ? psprintf("%lld row writes in the %.1f hours the statistics cover",
												  (long long) writes, secs / 3600.0) :
						  psprintf("%lld row writes in the %ld minutes the statistics cover", (long long) writes,
								   Max(secs / 60, 1)));
	if (partitioned)
		f->summary = psprintf("%s (on a partitioned table this blocks writes while it builds; to avoid that, build each partition's index CONCURRENTLY, then attach it to an index created ON ONLY the parent)",
							  f->summary);
	f->fix_sql = psprintf("CREATE INDEX %s%s ON %s USING btree (%s);", partitioned ? "" : "CONCURRENTLY ",
						  quote_identifier(idxname), tname, cols);
	f->undo_sql = psprintf("DROP INDEX %s%s;", partitioned ? "" : "CONCURRENTLY ",
						   quote_qualified_identifier(t->nspname, idxname));
	apes_json_begin(&ev);
	apes_json_text(&ev, "table", tname);
	apes_json_begin_array(&ev, "columns");
	for (int i = 0; i < c->ncols; i++)
		apes_json_text(&ev, NULL, get_attname(t->oid, c->cols[i], false));
	apes_json_end_array(&ev);
	apes_json_begin_array(&ev, "statements_helped");
	foreach(lc, c->helped)
	{
		ApesMissingHelp *h = lfirst(lc);

		apes_json_begin_object(&ev, NULL);
		apes_json_int(&ev, "queryid", h->s->queryid);
		apes_json_text(&ev, "role", GetUserNameFromId(h->s->userid, true));
		apes_json_int(&ev, "calls", h->s->calls);
		apes_json_float(&ev, "total_time_ms", h->s->total_ms);
		apes_json_float(&ev, "cost_before", h->before);
		apes_json_float(&ev, "cost_after", h->after);
		apes_json_end_object(&ev);
	}
	apes_json_end_array(&ev);
	apes_json_float(&ev, "cost_saved_share", c->saved_share);
	apes_json_float(&ev, "helped_share_of_table_time", mt->table_ms > 0 ? c->helped_ms / mt->table_ms : 1.0);
	apes_json_int(&ev, "statements_checked", mt->checked);
	apes_json_int(&ev, "statements_hidden", mt->hidden);
	apes_json_int(&ev, "estimated_index_bytes", pages * BLCKSZ);
	apes_json_int(&ev, "estimated_tree_height", height);
	apes_json_float(&ev, "table_rows", apes_table_rows(t));
	apes_json_int(&ev, "table_bytes", apes_rel_bytes(t));
	apes_json_int(&ev, "table_writes", writes);
	apes_json_float(&ev, "table_writes_per_day", writes / days);
	apes_json_float(&ev, "stats_window_days", secs / 86400.0);
	apes_json_bool(&ev, "seq_scan_heavy", mt->seq_heavy);
	apes_json_bool(&ev, "partitioned", partitioned);
	apes_json_text(&ev, "confidence_reason", "costs are the planner's estimates for generic plans (parameter values unknown, so each predicate's selectivity is its column's average), with the index's size estimated from the table's statistics: no index was built");
	f->evidence = apes_json_end(&ev);
	return f;
}

/*
 * index_missing for one table: its top statements (up to pg_apes_health.simulation_statements), their predicates'
 * candidates not already served by an index, each planned as a hypothetical index; a candidate is kept when the
 * statements it helps take at least pg_apes_health.missing_index_min_share percent of the table's time.  At most two
 * per table, the second only when it helps statements the first does not.
 */
static void
apes_missing_for_table(ApesCatalog *cat, ApesWorkload *w, ApesRel *table, bool seq_heavy, List **out)
{
	ApesMissingTable mt = {0};
	List	   *stmts;
	List	   *cands = NIL;
	List	   *kept = NIL;
	List	   *chosen = NIL;
	ListCell   *lc;
	int			n = 0;

	mt.table = table;
	mt.seq_heavy = seq_heavy;
	stmts = apes_workload_mentioning(w, table->oid, &mt.related);
	foreach(lc, stmts)
	{
		ApesStatement *s = lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		if (mt.checked >= apes_simulation_statements || !apes_workload_time_left(w))
			break;
		apes_workload_analyze(w, s);
		if (s->state == APES_STMT_SKIPPED || !apes_workload_reads(s, mt.related))
			continue;
		mt.checked++;
		mt.table_ms += s->total_ms;
		if (s->state == APES_STMT_HIDDEN)
			mt.hidden++;
		else
			mt.reading = lappend(mt.reading, s);
	}
	foreach(lc, mt.reading)
		apes_candidates_from(table, lfirst(lc), &cands);
	foreach(lc, cands)
		if (apes_candidate_served(lfirst(lc)))
			cands = foreach_delete_current(cands, lc);
	list_sort(cands, apes_cand_weight_cmp);
	foreach(lc, cands)
	{
		ApesMissingCand *c = lfirst(lc);

		if (n++ >= APES_MISSING_MAX_CANDIDATES || !apes_workload_time_left(w))
			break;
		apes_evaluate_candidate(w, &mt, c);
		if (c->helped != NIL && c->helped_ms * 100.0 >= mt.table_ms * apes_missing_index_min_share_pct)
			kept = lappend(kept, c);
	}
	list_sort(kept, apes_cand_saved_cmp);
	foreach(lc, kept)
	{
		ApesMissingCand *c = lfirst(lc);

		if (list_length(chosen) >= APES_MISSING_MAX_PER_TABLE || apes_helps_nothing_new(c, chosen))
			continue;
		chosen = lappend(chosen, c);
		*out = lappend(*out, apes_missing_finding(cat, &mt, c));
	}
}

/* Add a table to the list once (its partitioned root stands for a partition). */
static void
apes_add_missing_table(ApesCatalog *cat, List **tables, ApesRel *r)
{
	r = apes_table_root(cat, r);
	if (r != NULL && (r->relkind == RELKIND_RELATION || r->relkind == RELKIND_PARTITIONED_TABLE ||
					  r->relkind == RELKIND_MATVIEW))
		*tables = list_append_unique_ptr(*tables, r);
}

/*
 * index_missing: for the tables the top statements (pg_apes_health.simulation_statements of them, by total time)
 * read by sequential scans, and the tables the statistics call sequential-scan heavy (table_seq_scan_heavy), the
 * indexes their statements' predicates ask for, tried as hypothetical indexes until the deadline.
 */
void
apes_check_missing(ApesCatalog *cat, ApesWorkload *w, TimestampTz deadline, List **out)
{
	TimestampTz saved = w != NULL ? w->deadline : 0;
	List	   *tables = NIL;
	List	   *heavy = NIL;
	ListCell   *lc;

	if (w == NULL || w->unavailable != NULL || w->nstmts == 0)
		return;
	w->deadline = deadline;
	w->out_of_time = false;
	/*
	 * The top statements that read a table sequentially (one of a few pages or more: a sequential scan of a tiny
	 * table is the right plan), pg_apes_health.simulation_statements of them: statements that scan nothing (a
	 * monitoring job's own report calls, say) do not take their places.
	 */
	for (int i = 0, found = 0; i < w->nstmts && found < apes_simulation_statements; i++)
	{
		ApesStatement *s = &w->stmts[i];
		bool		scans = false;

		CHECK_FOR_INTERRUPTS();
		if (!apes_workload_time_left(w))
			break;
		apes_workload_analyze(w, s);
		if (s->state != APES_STMT_READY)
			continue;
		for (int k = 0; k < s->nseqscanned; k++)
		{
			ApesRel    *r = apes_rel(cat, s->seqscanned[k]);

			if (r != NULL && apes_rel_bytes(r) >= APES_MISSING_MIN_TABLE_BYTES)
			{
				apes_add_missing_table(cat, &tables, r);
				scans = true;
			}
		}
		found += scans;
	}
	for (int i = 0; i < cat->nrels; i++)
	{
		ApesRel    *r = cat->relarray[i];
		double		per_scan;
		int64		idx_scans;

		CHECK_FOR_INTERRUPTS();
		if ((r->relkind == RELKIND_RELATION || r->relkind == RELKIND_MATVIEW) &&
			apes_seq_scan_heavy(r, apes_fetch_tabentry(r->oid), &per_scan, &idx_scans))
		{
			apes_add_missing_table(cat, &tables, r);
			heavy = lappend(heavy, apes_table_root(cat, r));
		}
	}
	foreach(lc, tables)
	{
		CHECK_FOR_INTERRUPTS();
		if (!apes_workload_time_left(w))
			break;
		apes_missing_for_table(cat, w, lfirst(lc), list_member_ptr(heavy, lfirst(lc)), out);
	}
	/* the drop simulations that follow have the rest of the budget */
	w->deadline = saved;
	w->out_of_time = false;
}
