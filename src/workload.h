/*
 * workload.h: the statements this database runs (pg_stat_statements), planned by the server's own planner with an
 * index hidden from it or a hypothetical index shown to it (workload.c).  Nothing is ever executed.
 *
 * Index advice (index_advice.c) checks its verdicts against these plans: a drop that would make a top statement
 * costlier, a missing index that would make one cheaper.
 */
#ifndef APES_WORKLOAD_H
#define APES_WORKLOAD_H

#include "postgres.h"
#include "nodes/pg_list.h"
#include "utils/timestamp.h"

/* How far a statement of the workload got. */
typedef enum ApesStmtState
{
	APES_STMT_NEW = 0,			/* not analyzed yet */
	APES_STMT_SKIPPED,			/* it could not be analyzed or planned: skip_reason says why */
	APES_STMT_HIDDEN,			/* the caller may not read every relation it reads: counted, never planned or shown */
	APES_STMT_READY				/* analyzed, and planned as the server is now */
} ApesStmtState;

/* A column a statement searches or sorts one of its tables by (index_missing takes its candidates from these). */
typedef struct ApesSearchCol
{
	Oid			relid;
	int16		attnum;
	char		kind;			/* 'e' equality, IN or IS NULL; 'r' a range; 's' the first ORDER BY column */
} ApesSearchCol;

/* One statement of this database in pg_stat_statements (its rows for every toplevel value added up). */
typedef struct ApesStatement
{
	int			rank;			/* 1: the most total time (execution and planning) in this database */
	Oid			userid;
	int64		queryid;
	int64		calls;
	double		total_ms;
	char	   *query;			/* the normalized text, $n where the constants were */
	ApesStmtState state;
	const char *skip_reason;	/* APES_STMT_SKIPPED: why */
	bool		utility;		/* a utility statement: it reads no table the planner plans */
	bool		unscanned;		/* its text could not be scanned for names: a candidate for every table */
	Oid		   *relids;			/* the relations it reads once rewritten (views expanded), sorted */
	int			nrelids;
	double		cost;			/* APES_STMT_READY: total cost of its generic plan */
	Oid		   *used;			/* the indexes that plan scans */
	int			nused;
	Oid		   *seqscanned;		/* the tables that plan reads by sequential scans */
	int			nseqscanned;
	ApesSearchCol *cols;		/* the columns it searches or sorts its tables by */
	int			ncols;
} ApesStatement;

/* The workload of one call: pg_stat_statements read once, each statement analyzed at most once. */
typedef struct ApesWorkload
{
	MemoryContext cxt;
	const char *unavailable;	/* why there is no workload (pg_stat_statements missing), or NULL */
	ApesStatement *stmts;		/* by rank */
	int			nstmts;
	int			hidden_texts;	/* statements whose text pg_stat_statements does not show the caller */
	Oid			caller;			/* whose privileges decide what is planned and shown */
	struct HTAB *tokens;		/* name -> the statements whose text holds it; built once many tables are asked */
	int			tables_asked;	/* tables whose statements were looked for so far */
	char	  **lower;			/* the texts with their letters in lower case, made on first look */
	List	   *role_paths;		/* the search_path of each role met (ApesRolePath, workload.c) */
	TimestampTz deadline;		/* the time budget's end, or 0 for none */
	bool		out_of_time;	/* the budget ran out */
	Oid			fake_oid;		/* the OID a hypothetical index gets (no relation has it) */
	MemoryContext scratch;		/* for one statement's parse and plan trees */
	int			analyzed;		/* statements analyzed so far */
	int			plans;			/* plans made so far */
} ApesWorkload;

/* An index that does not exist, shown to the planner: a btree on plain columns of one table. */
typedef struct ApesHypoIndex
{
	Oid			table;
	Oid			oid;			/* the OID it is shown under (the workload's fake_oid: no relation has it) */
	List	   *tables;			/* OIDs the planner is shown it on: the table, or its leaf partitions */
	int			ncols;
	char	   *colnames[INDEX_MAX_KEYS];	/* by name: a partition may number its columns otherwise */
} ApesHypoIndex;

/* What the planner sees differently in one plan. */
typedef struct ApesScenario
{
	List	   *hidden;			/* index OIDs it does not see */
	ApesHypoIndex *hypo;		/* a hypothetical index it sees, or NULL */
	bool		force;			/* plan it even when the plan as it is uses no hidden index (a unique one proves
								 * uniqueness without being scanned) */
} ApesScenario;

extern void apes_workload_init(void);
extern ApesWorkload *apes_workload_load(MemoryContext parent, TimestampTz deadline);
extern bool apes_workload_time_left(ApesWorkload *w);
extern List *apes_workload_mentioning(ApesWorkload *w, Oid table, List **related);
extern bool apes_workload_reads(ApesStatement *s, List *related);
extern void apes_workload_analyze(ApesWorkload *w, ApesStatement *s);
extern bool apes_workload_plan(ApesWorkload *w, ApesStatement *s, ApesScenario *scen, double *cost, bool *uses,
							   const char **why);
extern bool apes_workload_uses(ApesStatement *s, List *indexes);
extern bool apes_hypo_columns_ok(Oid table, int ncols, const AttrNumber *cols);
extern int32 apes_column_width(Oid relid, AttrNumber attnum, Oid typid, int32 typmod);
extern void apes_btree_estimate(double tuples, int ncols, const int32 *widths, int64 *pages, int *height);

#endif							/* APES_WORKLOAD_H */
