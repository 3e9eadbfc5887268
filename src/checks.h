/*
 * checks.h: the one registry of every check pg_apes_health can report.
 *
 * Each line: the check id (stable, part of the public API), its area, the severity it usually reports (a finding
 * may raise or lower it; the evidence says why), one line saying what it finds, the settings that govern it, and
 * where its rules are documented.  Everything else reads this list: apes_new_finding() takes an id from it (the area
 * comes from here), health_json()'s "checks" counts it, the view apes.checks shows it, docs/checks.md is generated
 * from that view (make docs; a test compares), and the query area's SQL rows are matched against it.
 *
 * Adding a check: one line here, in its area's block; then its collector, its test, its line in the area's
 * documentation, and `make docs`.
 */
#ifndef APES_CHECKS_H
#define APES_CHECKS_H

/* X(id, area, default severity, description, settings, documentation) */
#define APES_CHECK_LIST(X) \
	X(index_invalid, "index", WARNING, \
	  "an index a failed or interrupted CREATE INDEX CONCURRENTLY or REINDEX left invalid: maintained on writes, used by no query", \
	  "", "docs/index_health.md#index_invalid") \
	X(index_duplicate, "index", WARNING, \
	  "two indexes of a table that are the same index: one can go", \
	  "pg_apes_health.simulation_time_budget, pg_apes_health.keep_cost_ratio", "docs/index_health.md#index_duplicate") \
	X(index_redundant, "index", WARNING, \
	  "an index another index of the table serves as well (a leading prefix of it, as selective); a drop a top statement needs is a keep", \
	  "pg_apes_health.simulation_time_budget, pg_apes_health.keep_cost_ratio", "docs/index_health.md#index_redundant") \
	X(index_unused, "index", WARNING, \
	  "an index no query has scanned since the statistics or the history began, or since it was made (standbys' scans added); a drop a top statement needs is a keep", \
	  "pg_apes_health.unused_index_min_size, pg_apes_health.stats_trusted_age, pg_apes_health.standby_dsns, pg_apes_health.simulation_time_budget, pg_apes_health.keep_cost_ratio", "docs/index_health.md#index_unused") \
	X(fk_missing_index, "index", WARNING, \
	  "a foreign key whose referencing columns no index serves: every delete or key update of the referenced table scans this one", \
	  "", "docs/index_health.md#fk_missing_index") \
	X(index_missing, "index", WARNING, \
	  "a btree index the top statements' own predicates ask for: shown to the planner as a hypothetical index, it makes them much cheaper", \
	  "pg_apes_health.missing_index_min_gain, pg_apes_health.missing_index_min_share, pg_apes_health.simulation_statements, pg_apes_health.simulation_time_budget", \
	  "docs/index_advice.md#index_missing") \
	X(index_rarely_used, "index", INFO, \
	  "an index scanned only a few times in the window (standbys' scans added) while its table took many writes", \
	  "pg_apes_health.rarely_used_max_scans, pg_apes_health.rarely_used_writes_per_scan, pg_apes_health.unused_index_min_size, pg_apes_health.standby_dsns, pg_apes_health.keep_cost_ratio", \
	  "docs/index_advice.md#index_rarely_used") \
	X(index_null_heavy, "index", INFO, \
	  "an index whose leading column is mostly NULL: a partial index WHERE the column IS NOT NULL would be smaller", \
	  "pg_apes_health.null_heavy_min_pct, pg_apes_health.null_heavy_min_size", "docs/index_advice.md#index_null_heavy") \
	X(table_bloat, "bloat", WARNING, \
	  "a table or materialized view whose pages, measured, hold much dead or free space", \
	  "pg_apes_health.bloat_min_size, pg_apes_health.bloat_min_pct, pg_apes_health.bloat_time_budget", \
	  "docs/bloat.md#findings-apesfindingsbloat") \
	X(toast_bloat, "bloat", WARNING, \
	  "a table's TOAST table whose pages, measured, hold much dead or free space", \
	  "pg_apes_health.bloat_min_size, pg_apes_health.bloat_min_pct, pg_apes_health.bloat_time_budget", \
	  "docs/bloat.md#findings-apesfindingsbloat") \
	X(index_bloat, "bloat", WARNING, \
	  "a btree index a REINDEX would shrink by much, measured against a fresh build", \
	  "pg_apes_health.bloat_min_size, pg_apes_health.bloat_min_pct, pg_apes_health.bloat_time_budget", \
	  "docs/bloat.md#findings-apesfindingsbloat") \
	X(bloat_measurement_incomplete, "bloat", INFO, \
	  "measuring stopped before every candidate was measured (time budget, locks held, or privileges); the rest judged from estimates", \
	  "pg_apes_health.bloat_time_budget", "docs/bloat.md#findings-apesfindingsbloat") \
	X(bloat_measurement_failed, "bloat", WARNING, \
	  "measuring one relation failed with an unexpected error; the report goes on without its numbers", \
	  "", "docs/bloat.md#findings-apesfindingsbloat") \
	X(page_corrupted, "bloat", CRITICAL, \
	  "measuring met a damaged page or tuple header (XX001, XX002)", \
	  "", "docs/bloat.md#findings-apesfindingsbloat") \
	X(vacuum_horizon_held, "bloat", WARNING, \
	  "a session, prepared transaction, replication slot or standby holds back the cleanup horizon: VACUUM cannot remove rows deleted since", \
	  "pg_apes_health.horizon_max_age, pg_apes_health.horizon_max_xid_age", "docs/bloat.md#findings-apesfindingsbloat") \
	X(xid_wraparound, "bloat", WARNING, \
	  "a database or table nears transaction id wraparound", \
	  "", "docs/bloat.md#findings-apesfindingsbloat") \
	X(mxid_wraparound, "bloat", WARNING, \
	  "a database or table nears multixact id wraparound", \
	  "", "docs/bloat.md#findings-apesfindingsbloat") \
	X(query_regression, "query", WARNING, \
	  "a statement significantly slower in the last window than in the seven before it", \
	  "pg_apes_health.regression_window, pg_apes_health.query_min_calls", "docs/history.md#findings-apesfindingsquery") \
	X(query_slow, "query", INFO, \
	  "a statement whose mean execution time is long over the last day", \
	  "pg_apes_health.query_slow_mean, pg_apes_health.query_min_calls", "docs/history.md#findings-apesfindingsquery") \
	X(query_temp_spill, "query", INFO, \
	  "a statement writing 100 MB or more of temporary files over the last day", \
	  "", "docs/history.md#findings-apesfindingsquery") \
	X(query_low_cache_hit, "query", INFO, \
	  "a statement whose shared block reads mostly miss the buffer cache", \
	  "", "docs/history.md#findings-apesfindingsquery") \
	X(query_plan_heavy, "query", INFO, \
	  "a statement spending half its time or more in planning", \
	  "pg_apes_health.query_min_calls", "docs/history.md#findings-apesfindingsquery") \
	X(pgss_evictions, "query", WARNING, \
	  "pg_stat_statements evicted entries during the last day: statements are being lost", \
	  "", "docs/history.md#findings-apesfindingsquery") \
	X(pgss_unavailable, "query", INFO, \
	  "pg_stat_statements is not installed or not preloaded: no statement history", \
	  "", "docs/history.md#findings-apesfindingsquery") \
	X(table_seq_scan_heavy, "query", WARNING, \
	  "a sizeable table read mostly by large sequential scans", \
	  "", "docs/history.md#findings-apesfindingsquery") \
	X(cache_hit_low, "query", INFO, \
	  "a sizeable table whose page reads mostly miss shared buffers", \
	  "", "docs/history.md#findings-apesfindingsquery") \
	X(stats_stale, "query", INFO, \
	  "a table with many rows changed since its last ANALYZE (one never analyzed is never_analyzed)", \
	  "", "docs/history.md#findings-apesfindingsquery") \
	X(connections_near_limit, "pool", WARNING, \
	  "client connections near max_connections (less the reserved slots)", \
	  "pg_apes_health.pool_warn_pct, pg_apes_health.pool_critical_pct", "docs/pools.md#findings-apesfindingspool") \
	X(database_connlimit_near, "pool", WARNING, \
	  "a database's connections near its CONNECTION LIMIT", \
	  "pg_apes_health.pool_warn_pct, pg_apes_health.pool_critical_pct", "docs/pools.md#findings-apesfindingspool") \
	X(role_connlimit_near, "pool", WARNING, \
	  "a role's connections near its CONNECTION LIMIT", \
	  "pg_apes_health.pool_warn_pct, pg_apes_health.pool_critical_pct", "docs/pools.md#findings-apesfindingspool") \
	X(idle_in_transaction, "pool", WARNING, \
	  "a session idle in transaction for long: it holds its locks and snapshot", \
	  "pg_apes_health.idle_in_transaction_max", "docs/pools.md#findings-apesfindingspool") \
	X(long_transaction, "pool", WARNING, \
	  "a transaction open for long", \
	  "pg_apes_health.long_transaction_max", "docs/pools.md#findings-apesfindingspool") \
	X(blocked_sessions, "pool", WARNING, \
	  "a session blocking others that have waited long", \
	  "pg_apes_health.blocked_min_wait", "docs/pools.md#findings-apesfindingspool") \
	X(config_idle_in_transaction_timeout, "pool", INFO, \
	  "sessions sit idle in transaction under no idle_in_transaction_session_timeout (their role's and database's settings applied)", \
	  "", "docs/pools.md#findings-apesfindingspool") \
	X(connection_churn, "pool", WARNING, \
	  "many short sessions per second over the last hour: clients connect per request instead of pooling", \
	  "pg_apes_health.churn_max_per_second", "docs/pools.md#findings-apesfindingspool") \
	X(sessions_abandoned, "pool", WARNING, \
	  "sessions ending without a proper disconnect over the last hour", \
	  "", "docs/pools.md#findings-apesfindingspool") \
	X(pooler_clients_waiting, "pool", WARNING, \
	  "clients queued in PgBouncer for a server connection", \
	  "pg_apes_health.pgbouncer_dsn", "docs/pools.md#findings-apesfindingspool") \
	X(pooler_unreachable, "pool", WARNING, \
	  "PgBouncer's admin console could not be read", \
	  "pg_apes_health.pgbouncer_dsn, pg_apes_health.pgbouncer_timeout", "docs/pools.md#findings-apesfindingspool") \
	X(pooler_not_monitored, "pool", INFO, \
	  "PgBouncer is not monitored: pg_apes_health.pgbouncer_dsn is not set", \
	  "pg_apes_health.pgbouncer_dsn", "docs/pools.md#findings-apesfindingspool") \
	X(long_statement, "pool", WARNING, \
	  "a statement running for long right now, whatever the age of its transaction", \
	  "pg_apes_health.statement_max", "docs/pools.md#findings-apesfindingspool") \
	X(replication_slot_retaining_wal, "server", WARNING, \
	  "a replication slot that keeps much WAL (or has lost WAL it needed): an inactive or lagging consumer can fill the disk", \
	  "pg_apes_health.slot_retained_max", "docs/server.md#replication_slot_retaining_wal") \
	X(replication_lag, "server", WARNING, \
	  "a standby far behind in time or bytes, a synchronous standby missing (commits wait), or replay paused", \
	  "pg_apes_health.replication_lag_max, pg_apes_health.replication_lag_max_bytes", "docs/server.md#replication_lag") \
	X(archiving_failing, "server", WARNING, \
	  "WAL archiving fails since its last success: segments pile up in pg_wal and point-in-time recovery stops", \
	  "pg_apes_health.archive_failing_max", "docs/server.md#archiving_failing") \
	X(checkpoint_pressure, "server", WARNING, \
	  "requested checkpoints outnumber timed ones over the window: max_wal_size is too small for the write load", \
	  "pg_apes_health.server_window", "docs/server.md#checkpoint_pressure") \
	X(checksum_failures, "server", CRITICAL, \
	  "data checksum failures in a database: pages damaged on disk", \
	  "", "docs/server.md#checksum_failures") \
	X(deadlocks, "server", WARNING, \
	  "deadlocks in a database over the window", \
	  "pg_apes_health.deadlocks_max, pg_apes_health.server_window", "docs/server.md#deadlocks") \
	X(rollback_ratio_high, "server", WARNING, \
	  "a high share of a database's transactions rolled back over the window", \
	  "pg_apes_health.rollback_max_pct, pg_apes_health.server_window", "docs/server.md#rollback_ratio_high") \
	X(standby_conflicts, "server", WARNING, \
	  "queries on a standby cancelled by recovery conflicts over the window", \
	  "pg_apes_health.server_window", "docs/server.md#standby_conflicts") \
	X(temp_files_heavy, "server", WARNING, \
	  "a database writing much to temporary files over the window", \
	  "pg_apes_health.temp_bytes_max, pg_apes_health.server_window", "docs/server.md#temp_files_heavy") \
	X(disk_space_low, "server", WARNING, \
	  "the filesystem of the data directory or pg_wal nearly full, or full within days at the rate the history recorded", \
	  "pg_apes_health.disk_warn_pct, pg_apes_health.disk_critical_pct, pg_apes_health.disk_days_min", \
	  "docs/server.md#disk_space_low") \
	X(settings_risky, "server", WARNING, \
	  "a setting that is wrong on any server: fsync, full_page_writes, autovacuum or track_counts off, MD5 passwords, and a few more", \
	  "", "docs/server.md#settings_risky") \
	X(settings_changed, "server", INFO, \
	  "a setting whose value changed within the window, or since the latest snapshot", \
	  "pg_apes_health.server_window", "docs/server.md#settings_changed") \
	X(restart_pending, "server", WARNING, \
	  "a setting changed in the configuration that waits for a restart", \
	  "", "docs/server.md#restart_pending") \
	X(sequence_exhaustion, "maintenance", WARNING, \
	  "a sequence, identity or serial column past a share of its maximum (the column's type's, when smaller than the sequence's)", \
	  "pg_apes_health.sequence_max_pct, pg_apes_health.server_window", "docs/maintenance.md#sequence_exhaustion") \
	X(autovacuum_behind, "maintenance", WARNING, \
	  "dead rows past twice a table's own autovacuum threshold, no vacuum for a while and none running: autovacuum does not keep up", \
	  "pg_apes_health.autovacuum_behind_min", "docs/maintenance.md#autovacuum_behind") \
	X(autovacuum_disabled, "maintenance", WARNING, \
	  "autovacuum turned off on a table with rows", \
	  "", "docs/maintenance.md#autovacuum_disabled") \
	X(autovacuum_workers_saturated, "maintenance", WARNING, \
	  "every autovacuum worker busy at most snapshots of the window: tables wait their turn", \
	  "pg_apes_health.server_window", "docs/maintenance.md#autovacuum_workers_saturated") \
	X(never_analyzed, "maintenance", INFO, \
	  "a table with rows that ANALYZE has never seen: the planner guesses", \
	  "", "docs/maintenance.md#never_analyzed") \
	X(never_vacuumed, "maintenance", INFO, \
	  "a table of 10,000 rows or more that VACUUM has never seen: no visibility map, rows not frozen", \
	  "", "docs/maintenance.md#never_vacuumed") \
	X(table_without_primary_key, "maintenance", INFO, \
	  "a table without a primary key (a warning when a publication replicates its updates and deletes)", \
	  "", "docs/maintenance.md#table_without_primary_key") \
	X(constraint_not_valid, "maintenance", WARNING, \
	  "a CHECK or foreign key constraint left NOT VALID: existing rows were never checked", \
	  "", "docs/maintenance.md#constraint_not_valid") \
	X(trigger_disabled, "maintenance", WARNING, \
	  "a disabled trigger (critical when it is a foreign key's: the key is not enforced)", \
	  "", "docs/maintenance.md#trigger_disabled") \
	X(fk_type_mismatch, "maintenance", WARNING, \
	  "a foreign key column whose type differs from the column it references", \
	  "", "docs/maintenance.md#fk_type_mismatch") \
	X(relation_growth_fast, "maintenance", WARNING, \
	  "a relation growing faster than a setting's bytes a day over the window", \
	  "pg_apes_health.growth_max_per_day, pg_apes_health.server_window", "docs/maintenance.md#relation_growth_fast") \
	X(area_failed, "*", CRITICAL, \
	  "an area's checks failed with an unexpected error; the other areas are still reported (the finding takes the failed area's name)", \
	  "", "docs/architecture.md#when-a-check-fails")

/* The checks, in registry order: APES_CHECK_index_invalid, ... */
typedef enum ApesCheckId
{
#define APES_CHECK_ENUM(id, area, sev, desc, settings, doc) APES_CHECK_##id,
	APES_CHECK_LIST(APES_CHECK_ENUM)
#undef APES_CHECK_ENUM
	APES_NCHECKS
} ApesCheckId;

/* One line of the registry. */
typedef struct ApesCheck
{
	const char *id;
	const char *area;			/* "*" for a check any area may report */
	int			severity;		/* an ApesSeverity */
	const char *description;
	const char *settings;		/* comma-separated setting names, or "" */
	const char *doc;			/* file and anchor of its rules */
} ApesCheck;

extern const ApesCheck apes_checks[APES_NCHECKS];

/* The check with this id, or NULL (checks.c). */
extern const ApesCheck *apes_check_by_name(const char *id);

#endif							/* APES_CHECKS_H */
