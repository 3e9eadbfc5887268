/*
 * pg_apes_health.c: module entry point and settings.
 *
 * The library needs no shared memory and no hooks, so it loads on first use; shared_preload_libraries is not needed.
 * Settings are user-settable thresholds under the reserved prefix pg_apes_health (documented in docs/settings.md).
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/varlena.h"
#include "utils/guc.h"

#include "apes.h"
#include "advice.h"

#if PG_VERSION_NUM >= 180000
PG_MODULE_MAGIC_EXT(.name = "pg_apes_health", .version = APES_VERSION);
#else
PG_MODULE_MAGIC;
#endif

int			apes_unused_index_min_size_kb = 1024;
int			apes_stats_trusted_age_s = 30 * 86400;
int			apes_report_limit = 50;
char	   *apes_exclude_schemas = NULL;
int			apes_sample_seed = 0;
int			apes_horizon_max_age_s = 3600;
int			apes_horizon_max_xid_age = 10000000;
int			apes_bloat_time_budget_ms = 100;
int			apes_bloat_min_size_kb = 10 * 1024;
int			apes_bloat_min_pct = 30;
int			apes_history_retention_s = 30 * 86400;
int			apes_query_slow_mean_ms = 100;
int			apes_query_min_calls = 100;
int			apes_regression_window_s = 86400;
int			apes_pool_warn_pct = 80;
int			apes_pool_critical_pct = 95;
int			apes_idle_in_xact_max_s = 300;
int			apes_long_xact_max_s = 3600;
int			apes_blocked_min_wait_s = 30;
int			apes_churn_max_per_s = 5;
char	   *apes_pgbouncer_dsn = NULL;
int			apes_pgbouncer_timeout_ms = 2000;
int			apes_statement_max_s = 300;
int			apes_server_window_s = 86400;
int			apes_slot_retained_max_mb = 1024;
int			apes_replication_lag_max_s = 300;
int			apes_replication_lag_max_mb = 1024;
int			apes_archive_failing_max_s = 3600;
int			apes_deadlocks_max = 5;
int			apes_rollback_max_pct = 10;
int			apes_temp_bytes_max_mb = 10240;
int			apes_disk_warn_pct = 85;
int			apes_disk_critical_pct = 95;
int			apes_disk_days_min = 7;
int			apes_autovacuum_behind_min_s = 3600;
int			apes_sequence_max_pct = 75;
int			apes_growth_max_per_day_mb = 1024;
int			apes_metrics_top_n = 10;
int			apes_report_top_n = 10;
int			apes_simulation_time_budget_ms = 100;
int			apes_simulation_statements = 20;
double		apes_keep_cost_ratio = 1.5;
int			apes_missing_index_min_gain_pct = 50;
int			apes_missing_index_min_share_pct = 10;
char	   *apes_standby_dsns = NULL;
int			apes_standby_timeout_ms = 2000;
int			apes_rarely_used_max_scans = 50;
int			apes_rarely_used_writes_per_scan = 1000;
int			apes_null_heavy_min_pct = 50;
int			apes_null_heavy_min_size_kb = 1024;

void		_PG_init(void);

/* A list of schema names parses (SplitIdentifierString), or the setting is refused with the reason. */
static bool
apes_check_exclude_schemas(char **newval, void **extra, GucSource source)
{
	char	   *raw = pstrdup(*newval);
	List	   *names = NIL;
	bool		ok = SplitIdentifierString(raw, ',', &names);

	if (!ok)
		GUC_check_errdetail("List syntax is invalid.");
	list_free(names);
	pfree(raw);
	return ok;
}

/*
 * pg_apes_health.standby_dsns is a list of connection strings, each parsed by libpq, or refused with the reason
 * (without the string: it may hold a password).
 */
static bool
apes_check_standby_dsns(char **newval, void **extra, GucSource source)
{
	List	   *dsns = NIL;
	char	   *err = NULL;
	bool		ok = apes_standby_dsn_list(*newval, &dsns, &err);

	if (!ok)
		GUC_check_errdetail("%s", err);
	return ok;
}

/* Register the settings. */
void
_PG_init(void)
{
	DefineCustomIntVariable("pg_apes_health.unused_index_min_size",
							"Smallest index that index_unused reports.",
							"Smaller never-scanned indexes cost little and are left out of reports.",
							&apes_unused_index_min_size_kb,
							1024, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.stats_trusted_age",
							"How long the statistics must have been counting for \"never used\" to be trusted fully.",
							"Shorter windows lower the confidence of usage-based findings: high at this age, medium at a quarter of it, low below.",
							&apes_stats_trusted_age_s,
							30 * 86400, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.report_limit",
							"Most findings health_report() and health_json() list per severity and area (0 lists all).",
							"The counts always cover every finding; apes.findings() always returns all of them.",
							&apes_report_limit,
							50, 0, INT_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomStringVariable("pg_apes_health.exclude_schemas",
							   "Schemas that reports leave out, as a comma-separated list of names.",
							   "For schemas whose objects are managed elsewhere (an extension's, a vendor's). System and temporary schemas are always left out.",
							   &apes_exclude_schemas,
							   "",
							   PGC_USERSET, GUC_LIST_INPUT,
							   apes_check_exclude_schemas, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.sample_seed",
							"Seed for choosing sampled pages (0 chooses a new random seed each time).",
							"A fixed seed makes sampled measurements repeatable, for tests and benchmarks.",
							&apes_sample_seed,
							0, 0, INT_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.horizon_max_age",
							"How long a session may hold back the cleanup horizon before vacuum_horizon_held reports it.",
							"Six times as long makes the finding critical. 0 turns the check off.",
							&apes_horizon_max_age_s,
							3600, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.horizon_max_xid_age",
							"How many transactions a holder may hold back the cleanup horizon by before vacuum_horizon_held reports it, however long it has held it.",
							"Judges holders whose time is unknown or hidden (replication slots, standby feedback, other roles' sessions). Six times as many makes the finding critical. 0 turns this part off.",
							&apes_horizon_max_xid_age,
							10000000, 0, INT_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.bloat_time_budget",
							"Time apes.findings('bloat') may spend measuring sampled pages of the largest bloat candidates.",
							"Candidates left when it is spent are judged from catalog estimates, and a bloat_measurement_incomplete finding says so. 0 measures nothing.",
							&apes_bloat_time_budget_ms,
							100, 0, 3600 * 1000,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.bloat_min_size",
							"Smallest wasted space that table_bloat, toast_bloat and index_bloat report.",
							"Relations smaller than this are not bloat candidates at all.",
							&apes_bloat_min_size_kb,
							10 * 1024, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.bloat_min_pct",
							"Smallest share of a relation, in percent, that must be wasted for a bloat finding.",
							"Half the relation or 10 GB makes the finding a warning; less is info.",
							&apes_bloat_min_pct,
							30, 0, 100,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.history_retention",
							"How long apes.purge() keeps snapshots.",
							"apes.schedule() runs apes.purge() daily; older snapshots are removed in batches.",
							&apes_history_retention_s,
							30 * 86400, 3600, INT_MAX,
							PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.query_slow_mean",
							"Mean execution time from which query_slow reports a statement (ten times as much: a warning).",
							NULL,
							&apes_query_slow_mean_ms,
							100, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.query_min_calls",
							"Fewest calls in the period for query_slow, query_plan_heavy and query_regression to judge a statement.",
							NULL,
							&apes_query_min_calls,
							100, 2, INT_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.regression_window",
							"The recent period query_regression compares with the seven periods of the same length before it.",
							NULL,
							&apes_regression_window_s,
							86400, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.pool_warn_pct",
							"Share of usable connection slots (or of a database's or role's limit) in use from which the pool area warns.",
							NULL, &apes_pool_warn_pct, 80, 1, 100, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.pool_critical_pct",
							"Share of usable connection slots in use from which the finding is critical.",
							NULL, &apes_pool_critical_pct, 95, 1, 100, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.idle_in_transaction_max",
							"How long a session may sit idle in transaction before idle_in_transaction reports it (0 turns it off).",
							NULL, &apes_idle_in_xact_max_s, 300, 0, INT_MAX, PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.long_transaction_max",
							"How long an active transaction may run before long_transaction reports it (0 turns it off).",
							NULL, &apes_long_xact_max_s, 3600, 0, INT_MAX, PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.blocked_min_wait",
							"How long a session must have waited on a lock before blocked_sessions reports its root blocker.",
							NULL, &apes_blocked_min_wait_s, 30, 0, INT_MAX, PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.churn_max_per_second",
							"New sessions per second (living under 10 s on average) from which connection_churn reports a pool that does not pool.",
							NULL, &apes_churn_max_per_s, 5, 1, INT_MAX, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("pg_apes_health.pgbouncer_dsn",
							   "Connection string of PgBouncer's admin console, for apes.pgbouncer_pools() and pooler_clients_waiting.",
							   "Superusers only: it may hold a password. The user must be in PgBouncer's admin_users or stats_users.",
							   &apes_pgbouncer_dsn, "", PGC_SUSET, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.pgbouncer_timeout",
							"Deadline for connecting to PgBouncer and reading its pools.",
							NULL, &apes_pgbouncer_timeout_ms, 2000, 100, 60000, PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.statement_max",
							"How long a statement may run before long_statement reports it. 0 turns the check off.",
							NULL, &apes_statement_max_s, 300, 0, INT_MAX, PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.server_window",
							"The window over which the server and maintenance areas judge counters and trends (deadlocks, rollbacks, checkpoints, disk growth, settings changed).",
							"Deltas start at the latest snapshot at or before its beginning; without history, counters since their reset are used and the evidence says so.",
							&apes_server_window_s, 86400, 60, INT_MAX, PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.slot_retained_max",
							"WAL a replication slot may retain before replication_slot_retaining_wal reports it.",
							"An inactive slot is reported from one segment (16 MB); wal_status unreserved or lost, or half the free space of pg_wal's filesystem, is critical.",
							&apes_slot_retained_max_mb, 1024, 1, INT_MAX, PGC_USERSET, GUC_UNIT_MB, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.replication_lag_max",
							"Replay lag of a standby from which replication_lag reports it.",
							NULL, &apes_replication_lag_max_s, 300, 1, INT_MAX, PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.replication_lag_max_bytes",
							"WAL a standby may have left to replay before replication_lag reports it.",
							NULL, &apes_replication_lag_max_mb, 1024, 1, INT_MAX, PGC_USERSET, GUC_UNIT_MB, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.archive_failing_max",
							"How long archiving may fail after its last success before archiving_failing is critical.",
							NULL, &apes_archive_failing_max_s, 3600, 1, INT_MAX, PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.deadlocks_max",
							"Deadlocks in a database over the window from which deadlocks reports it.",
							NULL, &apes_deadlocks_max, 5, 1, INT_MAX, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.rollback_max_pct",
							"Share of a database's transactions, in percent, that may roll back over the window (of at least 1,000) before rollback_ratio_high reports it.",
							NULL, &apes_rollback_max_pct, 10, 1, 100, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.temp_bytes_max",
							"Temporary file bytes a database may write over the window before temp_files_heavy reports it.",
							NULL, &apes_temp_bytes_max_mb, 10240, 1, INT_MAX, PGC_USERSET, GUC_UNIT_MB, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.disk_warn_pct",
							"How full, in percent, the filesystem of the data directory or pg_wal may be before disk_space_low reports it.",
							NULL, &apes_disk_warn_pct, 85, 1, 100, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.disk_critical_pct",
							"How full, in percent, a filesystem may be before disk_space_low is critical.",
							NULL, &apes_disk_critical_pct, 95, 1, 100, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.disk_days_min",
							"Days to full, at the rate the history recorded, under which disk_space_low reports a filesystem (critical under one day).",
							NULL, &apes_disk_days_min, 7, 0, INT_MAX, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.autovacuum_behind_min",
							"How long a table with dead rows past twice its autovacuum threshold may go without a vacuum before autovacuum_behind reports it.",
							NULL, &apes_autovacuum_behind_min_s, 3600, 0, INT_MAX, PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.sequence_max_pct",
							"Share of its maximum, in percent, a sequence may use before sequence_exhaustion reports it (90 or more, or under 30 days left at the recorded rate: critical).",
							NULL, &apes_sequence_max_pct, 75, 1, 100, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.growth_max_per_day",
							"Bytes a day a relation may grow by over the window before relation_growth_fast reports it.",
							NULL, &apes_growth_max_per_day_mb, 1024, 1, INT_MAX, PGC_USERSET, GUC_UNIT_MB, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.metrics_top_n",
							"Most objects apes.metrics() gives a series of their own, per metric (connection pools, standbys, replication slots, sequences, statements).",
							"The rest are summed into one series labelled other (for lags and shares: the largest of the rest), so the number of series stays bounded. 0 puts every object in the other series.",
							&apes_metrics_top_n, 10, 0, 1000, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.report_top_n",
							"Most statements, relations, databases and applications apes.report_html() charts and lists.",
							NULL, &apes_report_top_n, 10, 1, 100, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.simulation_time_budget",
							"Time a report may spend planning the workload's statements: drop simulations of index findings and missing-index suggestions.",
							"Half of it at most goes to index_missing, the rest to simulating drops, largest indexes first; findings beyond it say the simulation did not run. 0 turns both off.",
							&apes_simulation_time_budget_ms,
							100, 0, 3600 * 1000,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.simulation_statements",
							"How many of the top statements (by total time) that read an index's table a drop simulation plans.",
							"index_missing looks at as many of the top statements of each table.",
							&apes_simulation_statements,
							20, 1, 10000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomRealVariable("pg_apes_health.keep_cost_ratio",
							 "How many times costlier a statement's plan may get without an index before its drop finding says to keep it.",
							 "Applies to index_unused, index_rarely_used, index_redundant and index_duplicate findings whose simulation ran.",
							 &apes_keep_cost_ratio,
							 1.5, 1.0, 1e9,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.missing_index_min_gain",
							"Share of a statement's estimated cost, in percent, a hypothetical index must save for index_missing to count the statement as helped.",
							NULL,
							&apes_missing_index_min_gain_pct,
							50, 1, 100,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.missing_index_min_share",
							"Share of the time of the statements reading a table, in percent, that the statements an index would help must take for index_missing to suggest it.",
							NULL,
							&apes_missing_index_min_share_pct,
							10, 0, 100,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomStringVariable("pg_apes_health.standby_dsns",
							   "Connection strings of the standbys whose index scans index_unused and index_rarely_used add, separated by semicolons.",
							   "Superusers only: they may hold passwords. Each connects to this database's name on the standby; a role in pg_monitor is enough there.",
							   &apes_standby_dsns, "", PGC_SUSET, GUC_SUPERUSER_ONLY,
							   apes_check_standby_dsns, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.standby_timeout",
							"Deadline for connecting to one standby and reading its index scans.",
							NULL, &apes_standby_timeout_ms, 2000, 100, 60000, PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.rarely_used_max_scans",
							"Most index scans (all nodes together) in the window for index_rarely_used to report an index.",
							NULL, &apes_rarely_used_max_scans, 50, 1, INT_MAX, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.rarely_used_writes_per_scan",
							"Fewest rows written to the table (inserted, updated, deleted) per index scan in the window for index_rarely_used to report an index.",
							NULL, &apes_rarely_used_writes_per_scan, 1000, 1, INT_MAX, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.null_heavy_min_pct",
							"Share of NULLs, in percent, in an index's leading column (pg_stats.null_frac) from which index_null_heavy reports it.",
							NULL, &apes_null_heavy_min_pct, 50, 1, 100, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_apes_health.null_heavy_min_size",
							"Smallest index that index_null_heavy reports.",
							NULL, &apes_null_heavy_min_size_kb, 1024, 0, INT_MAX, PGC_USERSET, GUC_UNIT_KB, NULL, NULL, NULL);
	apes_reserve_guc_prefix("pg_apes_health");
	/* the planner hook of drop simulation and hypothetical indexes: inert unless this backend plans a scenario */
	apes_workload_init();
}

PG_FUNCTION_INFO_V1(apes_version);

/* apes.version(): the version of the loaded library. */
Datum
apes_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(APES_VERSION));
}
