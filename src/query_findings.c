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
#include "utils/jsonb.h"

#include "apes.h"
#include "catalog.h"

/* A severity or confidence by name; an error naming the column for anything else (the SQL side is wrong). */
static int
apes_level_by_name(const char *name, const char *const *names, const char *column)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("apes.query_findings() returned %s \"%s\"", column, name),
			 errdetail("It must be one of %s, %s or %s.", names[0], names[1], names[2])));
	return 0;					/* keep compiler quiet */
}

/* Column col of the current SPI row as text (a copy in the current memory context), or NULL. */
static char *
apes_spi_text(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * Statement-level findings: rows of apes.query_findings(), typed columns read as their types (check ids matched
 * against the registry's query area; unknown severities or confidences are errors), copied into the caller's memory
 * context.
 */
void
apes_collect_query_findings(ApesCatalog *cat, List **out)
{
	static const char *const severities[] = {"critical", "warning", "info"};
	static const char *const confidences[] = {"high", "medium", "low"};
	MemoryContext caller = CurrentMemoryContext;
	int			rc;

	apes_collect_table_usage_findings(cat, out);

	if ((rc = SPI_connect()) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));
	rc = SPI_execute("SELECT check_id, severity, object_name, summary, wasted_bytes, confidence, evidence, fix_sql"
					 " FROM apes.query_findings()", true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	if (SPI_tuptable->tupdesc->natts != 8 || SPI_gettypeid(SPI_tuptable->tupdesc, 5) != INT8OID ||
		SPI_gettypeid(SPI_tuptable->tupdesc, 7) != JSONBOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("apes.query_findings() does not return the columns of apes.findings()")));

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(caller);
		char	   *id = apes_spi_text(tup, desc, 1);
		const ApesCheck *check = id ? apes_check_by_name(id) : NULL;
		bool		isnull;
		Datum		d;
		ApesFinding *f;

		if (check == NULL || strcmp(check->area, "query") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("apes.query_findings() returned check id \"%s\", which is not a check of the query area",
							id ? id : "(null)")));
		f = apes_new_finding((ApesCheckId) (check - apes_checks),
							 apes_level_by_name(apes_spi_text(tup, desc, 2), severities, "severity"),
							 apes_spi_text(tup, desc, 3));
		f->summary = apes_spi_text(tup, desc, 4);
		d = SPI_getbinval(tup, desc, 5, &isnull);
		f->wasted_bytes = isnull ? -1 : DatumGetInt64(d);
		f->confidence = apes_level_by_name(apes_spi_text(tup, desc, 6), confidences, "confidence");
		d = SPI_getbinval(tup, desc, 7, &isnull);
		f->evidence = isnull ? NULL : DatumGetJsonbPCopy(d);
		f->fix_sql = apes_spi_text(tup, desc, 8);
		*out = lappend(*out, f);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
}
