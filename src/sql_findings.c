/*
 * sql_findings.c: the parts of areas written in SQL.  Checks that read the history tables or system views are best
 * written in SQL (apes.query_findings(), apes.server_findings(), apes.maintenance_findings() in sql/); their rows
 * arrive here through SPI, one finding per row, in the shape of apes.findings().
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "parser/parse_func.h"
#include "utils/regproc.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "apes.h"

/* A severity or confidence by name (by_name: apes_severity_by_name() or apes_confidence_by_name()); anything else is
 * an error naming the column (the SQL side is wrong). */
static int
apes_level_by_name(const char *fn, const char *name, int (*by_name) (const char *), const char *column,
				   const char *valid)
{
	int			level = name != NULL ? by_name(name) : -1;

	if (level < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s() returned %s \"%s\"", fn, column, name ? name : "(null)"),
				 errdetail("It must be one of %s.", valid)));
	return level;
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
 * The rows of one SQL function of an area (fn: its qualified name, e.g. "apes.query_findings") as findings, typed
 * columns read as their types: check ids matched against the registry's lines of that area, unknown severities or
 * confidences errors; copied into the caller's memory context.
 */
void
apes_collect_sql_findings(const char *area, const char *fn, List **out)
{
	MemoryContext caller = CurrentMemoryContext;
	int			rc;

	/*
	 * A library newer than the extension's SQL (before ALTER EXTENSION UPDATE) may call a function the installed
	 * version does not have yet: that part of the area is left out until the update.
	 */
	if (!OidIsValid(LookupFuncName(apes_qualified_name_list(fn), 0, NULL, true)))
		return;
	if ((rc = SPI_connect()) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));
	rc = SPI_execute(psprintf("SELECT check_id, severity, object_name, summary, wasted_bytes, confidence, evidence,"
							  " fix_sql FROM %s()", fn), true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	if (SPI_tuptable->tupdesc->natts != 8 || SPI_gettypeid(SPI_tuptable->tupdesc, 5) != INT8OID ||
		SPI_gettypeid(SPI_tuptable->tupdesc, 7) != JSONBOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s() does not return the columns of apes.findings()", fn)));

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

		if (check == NULL || strcmp(check->area, area) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("%s() returned check id \"%s\", which is not a check of the %s area",
							fn, id ? id : "(null)", area)));
		f = apes_new_finding((ApesCheckId) (check - apes_checks),
							 apes_level_by_name(fn, apes_spi_text(tup, desc, 2), apes_severity_by_name, "severity",
												"critical, warning or info"),
							 apes_spi_text(tup, desc, 3));
		f->summary = apes_spi_text(tup, desc, 4);
		d = SPI_getbinval(tup, desc, 5, &isnull);
		f->wasted_bytes = isnull ? -1 : DatumGetInt64(d);
		f->confidence = apes_level_by_name(fn, apes_spi_text(tup, desc, 6), apes_confidence_by_name, "confidence",
											   "high, medium or low");
		d = SPI_getbinval(tup, desc, 7, &isnull);
		f->evidence = isnull ? NULL : DatumGetJsonbPCopy(d);
		f->fix_sql = apes_spi_text(tup, desc, 8);
		*out = lappend(*out, f);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
}
