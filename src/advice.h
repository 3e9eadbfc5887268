/*
 * advice.h: index advice checked against the workload (index_advice.c) and index usage on standbys
 * (standby_usage.c), for the index area (index_health.c).
 */
#ifndef APES_ADVICE_H
#define APES_ADVICE_H

#include "postgres.h"
#include "nodes/pg_list.h"
#include "utils/timestamp.h"

#include "apes.h"
#include "catalog.h"
#include "workload.h"

/* One statement of a drop simulation. */
typedef struct ApesDropSimRow
{
	ApesStatement *s;
	char		status;			/* 'p' planned, 's' skipped, 'h' hidden (the caller may not read what it reads) */
	const char *reason;			/* skipped, hidden: why */
	bool		uses;			/* planned: its plan as it is scans the index */
	double		cost_with;
	double		cost_without;
} ApesDropSimRow;

/* What dropping one index would do to the plans of the top statements reading its table. */
typedef struct ApesDropSim
{
	const char *not_run;		/* why it could not run (no pg_stat_statements, no budget), or NULL */
	const char *stopped;		/* why it stopped before the statements wanted, or NULL */
	int			wanted;			/* statements reading the table it would check */
	List	   *rows;			/* ApesDropSimRow, by rank */
	int			checked;		/* statements found reading the table (planned or hidden) */
	int			planned;
	int			hidden;
	int			skipped;
	int			changed;		/* plans that scanned the index, and so change without it */
	int			hidden_texts;	/* statements whose text the caller may not see: never looked at */
	double		worst_ratio;	/* the highest cost without / cost with */
	ApesDropSimRow *worst;		/* its statement, when above 1 */
} ApesDropSim;

/* index_advice.c */
extern ApesDropSim *apes_drop_simulation(ApesWorkload *w, Oid index, int nstatements);
extern ApesDropSim *apes_drop_sim_not_run(const char *why);
extern bool apes_drop_sim_keep(ApesDropSim *sim);
extern char *apes_drop_sim_phrase(ApesDropSim *sim);
extern void apes_drop_sim_evidence(ApesJson *j, ApesDropSim *sim);
extern char *apes_statement_label(ApesStatement *s);
extern int64 apes_table_writes(ApesRel *r);
extern void apes_check_missing(ApesCatalog *cat, ApesWorkload *w, TimestampTz deadline, List **out);

/* standby_usage.c: one standby's scans of the indexes asked about */
typedef struct ApesStandbyNode
{
	char	   *name;			/* "standby 1", ... in pg_apes_health.standby_dsns' order */
	char	   *error;			/* why it could not be read (for the caller's eyes), or NULL */
	TimestampTz stats_since;	/* its statistics count from then (0: unknown) */
	int			n;
	Oid		   *oids;
	int64	   *scans;
} ApesStandbyNode;

extern bool apes_standby_dsn_list(const char *value, List **dsns, char **err);
extern List *apes_standby_read(List *indexoids);
extern int64 apes_standby_scans(ApesStandbyNode *node, Oid indexoid);

#endif							/* APES_ADVICE_H */
