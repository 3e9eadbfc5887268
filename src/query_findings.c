/*
 * query_findings.c: the 'query' area of apes.findings().
 *
 * Statement-level checks (query_slow, query_temp_spill, query_low_cache_hit, query_plan_heavy, query_regression,
 * pgss_evictions, pgss_unavailable) need the history tables and pg_stat_statements, which SQL reads best: they live
 * in apes.query_findings() (sql/) and arrive here through SPI, one finding per row.  The table-level checks read the
 * cumulative statistics directly (table_usage.c).
 */
#include "postgres.h"

#include "apes.h"
#include "catalog.h"

/* The query area: the table-level checks in C, then the statement-level ones of apes.query_findings(). */
void
apes_collect_query_findings(ApesCatalog *cat, List **out)
{
	apes_collect_table_usage_findings(cat, out);
	apes_collect_sql_findings("query", "apes.query_findings", out);
}
