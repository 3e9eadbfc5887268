/*
 * query_findings.c: the 'query' area of apes.findings().
 *
 * Statement-level checks (query_slow, query_temp_spill, query_low_cache_hit, query_plan_heavy, query_regression,
 * pgss_evictions, pgss_unavailable) need the history tables and pg_stat_statements, which SQL reads best: they live
 * in apes.query_findings() (sql/) and arrive here through SPI, one finding per row.  The table-level checks read the
 * cumulative statistics directly (table_usage.c).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"

#include "apes.h"
#include "catalog.h"

#define AREA "query"

/* The stable check ids the SQL side may return (a finding keeps a pointer to one of these). */
static const char *const query_check_ids[] = {
	"query_slow", "query_temp_spill", "query_low_cache_hit", "query_plan_heavy", "query_regression",
	"pgss_evictions", "pgss_unavailable", NULL
};

/* The check id constant equal to name, or NULL. */
static const char *
apes_query_check_id(const char *name)
{
	for (int i = 0; query_check_ids[i] != NULL; i++)
		if (strcmp(query_check_ids[i], name) == 0)
			return query_check_ids[i];
	return NULL;
}

/* Text of column col of the current SPI row, or NULL. */
static char *
apes_spi_text(HeapTuple tup, TupleDesc desc, int col)
{
	return SPI_getvalue(tup, desc, col);
}

/* Statement-level findings: rows of apes.query_findings(), copied into the caller's memory context. */
void
apes_collect_query_findings(ApesCatalog *cat, List **out)
{
	MemoryContext caller = CurrentMemoryContext;
	int			rc;

	apes_collect_table_usage_findings(cat, out);

	if ((rc = SPI_connect()) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));
	rc = SPI_execute("SELECT check_id, severity, object_name, summary, wasted_bytes, confidence, evidence, fix_sql"
					 " FROM apes.query_findings()", true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		const char *check_id = apes_query_check_id(apes_spi_text(tup, desc, 1));
		char	   *severity = apes_spi_text(tup, desc, 2);
		char	   *confidence = apes_spi_text(tup, desc, 6);
		char	   *wasted = apes_spi_text(tup, desc, 5);
		bool		isnull;
		Datum		evidence = SPI_getbinval(tup, desc, 7, &isnull);
		MemoryContext old;
		ApesFinding *f;

		if (check_id == NULL)
			elog(ERROR, "apes.query_findings() returned an unknown check id");
		old = MemoryContextSwitchTo(caller);
		f = apes_new_finding(check_id, AREA,
							 strcmp(severity, "critical") == 0 ? APES_CRITICAL :
							 strcmp(severity, "warning") == 0 ? APES_WARNING : APES_INFO,
							 apes_spi_text(tup, desc, 3));
		f->summary = pstrdup(apes_spi_text(tup, desc, 4));
		f->wasted_bytes = wasted ? strtoll(wasted, NULL, 10) : -1;
		f->confidence = strcmp(confidence, "high") == 0 ? APES_HIGH :
			strcmp(confidence, "medium") == 0 ? APES_MEDIUM : APES_LOW;
		f->evidence = isnull ? NULL : DatumGetJsonbP(datumCopy(evidence, false, -1));
		f->fix_sql = apes_spi_text(tup, desc, 8) ? pstrdup(apes_spi_text(tup, desc, 8)) : NULL;
		*out = lappend(*out, f);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
}
