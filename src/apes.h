/*
 * apes.h: what the areas of pg_apes_health share: the finding shape, the evidence builder and the settings.
 *
 * Areas (index_health.c, later bloat, queries, connections) meet only here: each one appends ApesFinding rows to a
 * list, and findings.c merges, orders and renders them.  An area never calls another area.
 */
#ifndef APES_H
#define APES_H

#include "postgres.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "checks.h"
#include "compat.h"

#ifndef APES_VERSION
#error "APES_VERSION comes from the control file through the Makefile"
#endif

/* Severity, most urgent first (the order reports use). */
typedef enum ApesSeverity
{
	APES_CRITICAL = 0,
	APES_WARNING,
	APES_INFO
} ApesSeverity;

/* How far a finding can be trusted; the reason is always in the evidence. */
typedef enum ApesConfidence
{
	APES_HIGH = 0,
	APES_MEDIUM,
	APES_LOW
} ApesConfidence;

/* One finding of any area: the public shape of apes.findings(). */
typedef struct ApesFinding
{
	ApesCheckId check;			/* its line in the registry (checks.h) */
	const char *check_id;		/* the registry's id: stable, part of the public API */
	const char *area;			/* "index", ...: the registry's, or the failed area's for area_failed */
	ApesSeverity severity;
	char	   *object_name;	/* schema-qualified, quoted as PostgreSQL would */
	char	   *summary;		/* one line a person can act on */
	int64		wasted_bytes;	/* < 0 when not meaningful (NULL) */
	ApesConfidence confidence;
	Jsonb	   *evidence;		/* the numbers behind the verdict */
	char	   *fix_sql;		/* NULL where no DDL applies */
	char	   *undo_sql;		/* NULL where no DDL applies */
	/*
	 * What only a shown finding needs (summary, evidence, DDL, confidence) may be left to details(f, bulk), which a
	 * rendering calls once, through apes_finding_details(), for the findings it shows (bulk: it renders every
	 * finding, so what the details load into the session's caches should not stay there): a report that shows 50 of
	 * 100,000 findings deparses 50 indexes.  Ordering and counting use only the fields above it fills at once:
	 * check_id, area, severity, object_name and wasted_bytes.
	 */
	void		(*details) (struct ApesFinding *f, bool bulk);
	void	   *details_arg;
	bool		acknowledged;	/* an active acknowledgement covers it (acknowledge.c) */
} ApesFinding;

struct ApesCatalog;

/* An area's collector: appends its findings (ApesFinding *) to *out. */
typedef void (*ApesCollector) (struct ApesCatalog *cat, List **out);

/* Totals over a list of findings, for the verdict. */
#define APES_NSEVERITIES 3
typedef struct ApesTotals
{
	int			by_severity[APES_NSEVERITIES];
	int			by_check[APES_NCHECKS];	/* findings of each check (ApesCheckId) */
	int			total;
	int64		wasted_bytes;
	int			acknowledged;	/* findings left out by acknowledgement */
} ApesTotals;

/* findings.c */
extern List *apes_collect_all(struct ApesCatalog **catp, int shown_limit);
extern int	apes_area_count(void);
extern int	apes_area_index(const char *name);
extern const char *apes_area_name(int i);
extern ApesTotals apes_totals(List *findings);
extern List *apes_unacknowledged(List *findings);
extern MemoryContext apes_details_context(void);
extern void apes_forget_details(ApesFinding *f);
extern const char *apes_status(ApesTotals *t);
extern char *apes_verdict(ApesTotals *t);
extern ApesFinding *apes_new_finding(ApesCheckId check, ApesSeverity severity, const char *object_name);
extern void apes_finding_details(ApesFinding *f, bool bulk);
extern bool apes_error_ends_call(int sqlerrcode);
extern bool apes_run_guarded(void (*fn) (void *arg), void *arg, ErrorData **error);
extern bool apes_run_released(void (*fn) (void *arg), void *arg, ErrorData **error);
extern const char *apes_severity_name(ApesSeverity s);
extern int	apes_severity_by_name(const char *name);
extern int	apes_confidence_by_name(const char *name);
extern const char *apes_confidence_name(ApesConfidence c);
extern char *apes_size_pretty(int64 bytes);

/* evidence.c: a thin layer over the server's jsonb builder (pushJsonbValue). */
typedef struct ApesJson
{
	JsonbParseState *state;
	JsonbValue *result;
} ApesJson;

extern void apes_json_begin(ApesJson *j);
extern Jsonb *apes_json_end(ApesJson *j);
extern void apes_json_key(ApesJson *j, const char *key);
extern void apes_json_text(ApesJson *j, const char *key, const char *value);
extern void apes_json_int(ApesJson *j, const char *key, int64 value);
extern void apes_json_float(ApesJson *j, const char *key, double value);
extern void apes_json_bool(ApesJson *j, const char *key, bool value);
extern void apes_json_null(ApesJson *j, const char *key);
extern void apes_json_jsonb(ApesJson *j, const char *key, Jsonb *value);
extern void apes_json_begin_object(ApesJson *j, const char *key);
extern void apes_json_end_object(ApesJson *j);
extern void apes_json_begin_array(ApesJson *j, const char *key);
extern void apes_json_end_array(ApesJson *j);

/* pg_apes_health.c: settings (documented in docs/settings.md). */
extern int	apes_unused_index_min_size_kb;
extern int	apes_stats_trusted_age_s;
extern int	apes_report_limit;
extern char *apes_exclude_schemas;
extern int	apes_sample_seed;
extern int	apes_horizon_max_age_s;
extern int	apes_horizon_max_xid_age;
extern int	apes_bloat_time_budget_ms;
extern int	apes_bloat_min_size_kb;
extern int	apes_bloat_min_pct;
extern int	apes_history_retention_s;
extern int	apes_query_slow_mean_ms;
extern int	apes_query_min_calls;
extern int	apes_regression_window_s;
extern int	apes_pool_warn_pct;
extern int	apes_pool_critical_pct;
extern int	apes_idle_in_xact_max_s;
extern int	apes_long_xact_max_s;
extern int	apes_blocked_min_wait_s;
extern int	apes_churn_max_per_s;
extern char *apes_pgbouncer_dsn;
extern int	apes_pgbouncer_timeout_ms;
extern int	apes_statement_max_s;
extern int	apes_server_window_s;
extern int	apes_slot_retained_max_mb;
extern int	apes_replication_lag_max_s;
extern int	apes_replication_lag_max_mb;
extern int	apes_archive_failing_max_s;
extern int	apes_deadlocks_max;
extern int	apes_rollback_max_pct;
extern int	apes_temp_bytes_max_mb;
extern int	apes_disk_warn_pct;
extern int	apes_disk_critical_pct;
extern int	apes_disk_days_min;
extern int	apes_autovacuum_behind_min_s;
extern int	apes_sequence_max_pct;
extern int	apes_growth_max_per_day_mb;
extern int	apes_metrics_top_n;
extern int	apes_report_top_n;
extern int	apes_simulation_time_budget_ms;
extern int	apes_simulation_statements;
extern double apes_keep_cost_ratio;
extern int	apes_missing_index_min_gain_pct;
extern int	apes_missing_index_min_share_pct;
extern char *apes_standby_dsns;
extern int	apes_standby_timeout_ms;
extern int	apes_rarely_used_max_scans;
extern int	apes_rarely_used_writes_per_scan;
extern int	apes_null_heavy_min_pct;
extern int	apes_null_heavy_min_size_kb;

/* index_health.c */
extern void apes_collect_index_findings(struct ApesCatalog *cat, List **out);

/* bloat_findings.c: the 'bloat' area (calls vacuum_health.c's collector too) */
extern void apes_collect_bloat_findings(struct ApesCatalog *cat, List **out);

/* sql_findings.c: an area's checks written in SQL, read through SPI */
extern void apes_collect_sql_findings(const char *area, const char *fn, List **out);

/* query_findings.c and table_usage.c: the 'query' area */
extern void apes_collect_query_findings(struct ApesCatalog *cat, List **out);
extern void apes_collect_table_usage_findings(struct ApesCatalog *cat, List **out);
struct ApesRel;
struct PgStat_StatTabEntry;
extern bool apes_seq_scan_heavy(struct ApesRel *r, struct PgStat_StatTabEntry *tab, double *per_scan,
								int64 *idx_scans);

/* pool_findings.c and pgbouncer.c: the 'pool' area */
extern void apes_collect_pool_findings(struct ApesCatalog *cat, List **out);
extern void apes_collect_pgbouncer_findings(List **out);

/* role_settings.c: the value of a setting a new session of a role in a database starts with */
extern char *apes_session_setting(Oid database, Oid role, const char *name, const char **source);

/* server_health.c: the 'server' area */
extern void apes_collect_server_findings(struct ApesCatalog *cat, List **out);

/* maintenance.c: the 'maintenance' area */
extern void apes_collect_maintenance_findings(struct ApesCatalog *cat, List **out);

/* acknowledge.c: mark the findings an active acknowledgement covers; returns how many */
extern int	apes_mark_acknowledged(List *findings);

/* vacuum_health.c */
extern void apes_collect_vacuum_findings(struct ApesCatalog *cat, List **out);

#endif							/* APES_H */
