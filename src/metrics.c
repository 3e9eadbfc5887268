/*
 * metrics.c: the report for fleets, in Prometheus' text exposition format (version 0.0.4):
 *
 *   apes.metrics()                    every family as text: HELP and TYPE lines, then its samples
 *   apes.metric_samples(families)     the same samples as rows (labels as jsonb), for postgres_exporter's custom
 *                                     queries (contrib/postgres_exporter/queries.yaml is generated from the families)
 *   apes.metric_families()            the families: name, type, help, label names, postgres_exporter's split of the
 *                                     name into namespace and column
 *
 * The findings come from the one findings model (apes_collect_all()), counted for every check of the registry; the
 * figures read from the system views (apes.pools(), pg_stat_replication, pg_replication_slots, pg_stat_archiver,
 * pg_sequences, pg_stat_statements) come from apes.metric_rows(), SQL, which also keeps their number bounded: per
 * object, the first pg_apes_health.metrics_top_n objects get series of their own and the rest one series labelled
 * "other".  Label values are escaped as the format asks (backslash, double quote, newline) by one function, numbers
 * written by one function, the shortest text that reads back as the same double (the server's own routine), so the
 * same figures always give the same text.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "apes.h"
#include "catalog.h"

#define APES_METRIC_MAX_LABELS 3

/* Where a family's samples come from. */
typedef enum ApesMetricSource
{
	APES_MS_BUILD,				/* the library itself */
	APES_MS_FINDINGS,			/* one collection of the findings model */
	APES_MS_SQL					/* apes.metric_rows() */
} ApesMetricSource;

/* One metric family: its name, type, help text, label names (in output order) and source. */
typedef struct ApesMetricFamily
{
	const char *name;
	const char *type;			/* "gauge" or "counter" */
	const char *column;			/* postgres_exporter names a metric <namespace>_<column>: the name's last part */
	const char *labels[APES_METRIC_MAX_LABELS + 1]; /* NULL-terminated */
	ApesMetricSource source;
	const char *help;
} ApesMetricFamily;

/* Every family, in the order apes.metrics() writes them. */
static const ApesMetricFamily apes_metric_families_list[] = {
	{"apes_build_info", "gauge", "info", {"version", NULL}, APES_MS_BUILD,
	"pg_apes_health library version (the value is always 1)"},
	{"apes_findings", "gauge", "findings", {"area", "check", "severity", NULL}, APES_MS_FINDINGS,
	"Findings of apes.findings() now, by area, check and severity: every check of the registry, zeros included; acknowledged findings are left out"},
	{"apes_wasted_bytes", "gauge", "wasted_bytes", {"area", "check", "severity", NULL}, APES_MS_FINDINGS,
	"Bytes the findings would give back if fixed, by area, check and severity (the same series as apes_findings; sum by area for an area's)"},
	{"apes_report_acknowledged_findings", "gauge", "acknowledged_findings", {NULL}, APES_MS_FINDINGS,
	"Findings left out of apes_findings and apes_wasted_bytes because they are acknowledged (apes.acknowledgements)"},
	{"apes_report_duration_seconds", "gauge", "duration_seconds", {NULL}, APES_MS_FINDINGS,
	"Seconds this call spent computing the findings"},
	{"apes_snapshot_age_seconds", "gauge", "age_seconds", {NULL}, APES_MS_SQL,
	"Seconds since the latest apes.snapshot() (+Inf when there is none)"},
	{"apes_client_connections", "gauge", "connections", {"database", "application", "state", NULL}, APES_MS_SQL,
	"Client connections by database, application and state, the caller's own left out; hidden: a session of another role whose state the caller may not see (the first pg_apes_health.metrics_top_n pools by sessions, the rest summed as database and application other)"},
	{"apes_replication_lag_seconds", "gauge", "seconds", {"standby", NULL}, APES_MS_SQL,
	"Replay lag of each standby in seconds, 0 when it has replayed everything (other: the largest lag of the rest)"},
	{"apes_replication_lag_bytes", "gauge", "bytes", {"standby", NULL}, APES_MS_SQL,
	"WAL bytes each standby has yet to replay (other: the largest of the rest)"},
	{"apes_replication_slot_retained_bytes", "gauge", "retained_bytes", {"slot", "wal_status", NULL}, APES_MS_SQL,
	"WAL bytes each replication slot keeps from removal, with its wal_status (other: the rest summed by wal_status)"},
	{"apes_archiver_archived_total", "counter", "archived_total", {NULL}, APES_MS_SQL,
	"WAL files archived since the archiver's statistics were reset"},
	{"apes_archiver_failed_total", "counter", "failed_total", {NULL}, APES_MS_SQL,
	"Failed attempts to archive a WAL file since the archiver's statistics were reset"},
	{"apes_archiver_last_success_age_seconds", "gauge", "last_success_age_seconds", {NULL}, APES_MS_SQL,
	"Seconds since a WAL file was last archived (NaN when none ever was)"},
	{"apes_sequence_used_ratio", "gauge", "used_ratio", {"sequence", NULL}, APES_MS_SQL,
	"Share of each sequence's range already used, 0 to 1, for the sequences whose value the caller may read (other: the largest share of the rest)"},
	{"apes_statement_exec_seconds_total", "counter", "exec_seconds_total", {"queryid", "user", NULL}, APES_MS_SQL,
	"Execution time of this database's statements in pg_stat_statements, by queryid and role (the first pg_apes_health.metrics_top_n by time, the rest summed as other)"},
	{"apes_statement_calls_total", "counter", "calls_total", {"queryid", "user", NULL}, APES_MS_SQL,
	"Calls of this database's statements in pg_stat_statements, by queryid and role (the same statements as apes_statement_exec_seconds_total)"},
};

#define APES_NFAMILIES lengthof(apes_metric_families_list)

/* One sample: its family, label values (as many as the family has names) and value. */
typedef struct ApesSample
{
	int			family;
	char	  **labels;
	double		value;
} ApesSample;

/* The index of the family with this name, or -1. */
static int
apes_metric_family_index(const char *name)
{
	for (int i = 0; i < APES_NFAMILIES; i++)
		if (strcmp(apes_metric_families_list[i].name, name) == 0)
			return i;
	return -1;
}

/* How many labels a family has. */
static int
apes_metric_nlabels(const ApesMetricFamily *fam)
{
	int			n = 0;

	while (fam->labels[n] != NULL)
		n++;
	return n;
}

/* "apes_build_info, ...": the family names, for error hints. */
static char *
apes_metric_family_names(void)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < APES_NFAMILIES; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "", apes_metric_families_list[i].name);
	return buf.data;
}

/*
 * The families a text[] argument asks for, as flags indexed like the family list: NULL asks for every family; an
 * unknown name is an error (22023) whose hint lists the families.
 */
static void
apes_metric_wanted(FunctionCallInfo fcinfo, int argno, bool *wanted)
{
	Datum	   *elems;
	bool	   *elemnulls;
	int			n;

	if (PG_ARGISNULL(argno))
	{
		for (int i = 0; i < APES_NFAMILIES; i++)
			wanted[i] = true;
		return;
	}
	memset(wanted, 0, sizeof(bool) * APES_NFAMILIES);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(argno), TEXTOID, -1, false, TYPALIGN_INT, &elems, &elemnulls, &n);
	for (int k = 0; k < n; k++)
	{
		char	   *name = elemnulls[k] ? NULL : TextDatumGetCString(elems[k]);
		int			i = name ? apes_metric_family_index(name) : -1;

		if (i < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown metric \"%s\"", name ? name : "NULL"),
					 errhint("Valid metrics are: %s; NULL means all of them.", apes_metric_family_names())));
		wanted[i] = true;
	}
}

/* Append a sample of a family with n label values to its list. */
static void
apes_metric_add(List **samples, int family, double value, int n, const char *const *labels)
{
	ApesSample *s = palloc(sizeof(ApesSample));

	Assert(n == apes_metric_nlabels(&apes_metric_families_list[family]));
	s->family = family;
	s->value = value;
	s->labels = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
		s->labels[i] = pstrdup(labels[i]);
	samples[family] = lappend(samples[family], s);
}

/*
 * The families of the findings model, from one collection (in a memory context of its own, gone when counted):
 * findings and their wasted bytes by area, check and severity for every check of the registry (area_failed once per
 * area), the acknowledged findings (counted apart, in no other family), and the collection's duration.
 */
static void
apes_metric_findings(List **samples, const bool *wanted)
{
	int			fam_findings = apes_metric_family_index("apes_findings");
	int			fam_wasted = apes_metric_family_index("apes_wasted_bytes");
	int			fam_duration = apes_metric_family_index("apes_report_duration_seconds");
	int			fam_acked = apes_metric_family_index("apes_report_acknowledged_findings");
	int			acknowledged = 0;
	int			nareas = apes_area_count();
	int		   *counts = palloc0(sizeof(int) * APES_NCHECKS * APES_NSEVERITIES);
	int		   *failed = palloc0(sizeof(int) * nareas * APES_NSEVERITIES);
	int64	   *wasted = palloc0(sizeof(int64) * APES_NCHECKS * APES_NSEVERITIES);
	int64	   *failed_wasted = palloc0(sizeof(int64) * nareas * APES_NSEVERITIES);
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "apes metrics findings", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;
	TimestampTz start;
	ApesCatalog *cat;
	List	   *findings;
	ListCell   *lc;
	double		seconds;

	old = MemoryContextSwitchTo(cxt);
	start = GetCurrentTimestamp();
	findings = apes_collect_all(&cat, 0);	/* every finding is counted */
	foreach(lc, findings)
	{
		ApesFinding *f = lfirst(lc);
		int64		bytes = Max(f->wasted_bytes, 0);

		if (f->acknowledged)
			acknowledged++;
		else if (f->check == APES_CHECK_area_failed)
		{
			int			a = apes_area_index(f->area);

			if (a >= 0)
			{
				failed[a * APES_NSEVERITIES + f->severity]++;
				failed_wasted[a * APES_NSEVERITIES + f->severity] += bytes;
			}
		}
		else
		{
			counts[f->check * APES_NSEVERITIES + f->severity]++;
			wasted[f->check * APES_NSEVERITIES + f->severity] += bytes;
		}
	}
	apes_catalog_free(cat);
	seconds = (double) (GetCurrentTimestamp() - start) / USECS_PER_SEC;
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);

	/* one series per check and severity, in registry order; area_failed once per area */
	for (int c = 0; c < APES_NCHECKS; c++)
	{
		const ApesCheck *check = &apes_checks[c];
		bool		any_area = strcmp(check->area, "*") == 0;

		for (int a = 0; a < (any_area ? nareas : 1); a++)
			for (int s = 0; s < APES_NSEVERITIES; s++)
			{
				int			k = (any_area ? a : c) * APES_NSEVERITIES + s;
				const char *labels[3];

				labels[0] = any_area ? apes_area_name(a) : check->area;
				labels[1] = check->id;
				labels[2] = apes_severity_name(s);
				if (wanted[fam_findings])
					apes_metric_add(samples, fam_findings, any_area ? failed[k] : counts[k], 3, labels);
				if (wanted[fam_wasted])
					apes_metric_add(samples, fam_wasted, (double) (any_area ? failed_wasted[k] : wasted[k]), 3, labels);
			}
	}
	if (wanted[fam_acked])
		apes_metric_add(samples, fam_acked, acknowledged, 0, NULL);
	if (wanted[fam_duration])
		apes_metric_add(samples, fam_duration, seconds, 0, NULL);
}

/*
 * The families read from the system views, through apes.metric_rows() (SQL: it also limits each family to the
 * first pg_apes_health.metrics_top_n objects).  Its rows are checked against the family list: a row of an unknown
 * family, or with another number of labels, is an internal error.
 */
static void
apes_metric_sql(List **samples, const bool *wanted)
{
	MemoryContext outer = CurrentMemoryContext;
	Datum	   *names = palloc(sizeof(Datum) * APES_NFAMILIES);
	int			n = 0;
	Oid			argtypes[2] = {TEXTARRAYOID, INT4OID};
	Datum		args[2];
	int			ret;

	for (int i = 0; i < APES_NFAMILIES; i++)
		if (wanted[i] && apes_metric_families_list[i].source == APES_MS_SQL)
			names[n++] = CStringGetTextDatum(apes_metric_families_list[i].name);
	if (n == 0)
		return;
	args[0] = PointerGetDatum(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[1] = Int32GetDatum(apes_metrics_top_n);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute_with_args("SELECT m.metric, m.labels, m.value FROM apes.metric_rows($1, $2) m",
								2, argtypes, args, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "apes.metric_rows() failed: %s", SPI_result_code_string(ret));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *metric = SPI_getvalue(tup, desc, 1);
		Datum		labels = SPI_getbinval(tup, desc, 2, &isnull);
		Datum		value;
		int			family = metric ? apes_metric_family_index(metric) : -1;
		Datum	   *elems = NULL;
		bool	   *elemnulls = NULL;
		int			nelems = 0;
		const char **values;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		if (family < 0 || apes_metric_families_list[family].source != APES_MS_SQL)
			elog(ERROR, "apes.metric_rows() returned a row of an unknown metric \"%s\"", metric ? metric : "NULL");
		if (!isnull)
			deconstruct_array(DatumGetArrayTypeP(labels), TEXTOID, -1, false, TYPALIGN_INT,
							  &elems, &elemnulls, &nelems);
		if (nelems != apes_metric_nlabels(&apes_metric_families_list[family]))
			elog(ERROR, "apes.metric_rows() returned %d labels for metric \"%s\"", nelems, metric);
		values = palloc(sizeof(char *) * Max(nelems, 1));
		for (int k = 0; k < nelems; k++)
			values[k] = elemnulls[k] ? "" : TextDatumGetCString(elems[k]);
		value = SPI_getbinval(tup, desc, 3, &isnull);
		old = MemoryContextSwitchTo(outer);
		apes_metric_add(samples, family, isnull ? get_float8_nan() : DatumGetFloat8(value), nelems, values);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
}

/* Every sample of the wanted families, as lists indexed like the family list. */
static List **
apes_metric_collect(const bool *wanted)
{
	List	  **samples = palloc0(sizeof(List *) * APES_NFAMILIES);
	bool		any_findings = false;

	for (int i = 0; i < APES_NFAMILIES; i++)
		if (wanted[i] && apes_metric_families_list[i].source == APES_MS_FINDINGS)
			any_findings = true;
	if (wanted[apes_metric_family_index("apes_build_info")])
	{
		const char *labels[1] = {APES_VERSION};

		apes_metric_add(samples, apes_metric_family_index("apes_build_info"), 1, 1, labels);
	}
	if (any_findings)
		apes_metric_findings(samples, wanted);
	apes_metric_sql(samples, wanted);
	return samples;
}

/*
 * Append text escaped as the exposition format asks: backslash and newline always, the double quote too inside a
 * label value (quoted); HELP text leaves double quotes as they are.
 */
static void
apes_metric_escape(StringInfo buf, const char *s, bool quoted)
{
	for (const char *p = s; *p; p++)
	{
		if (*p == '\\')
			appendStringInfoString(buf, "\\\\");
		else if (*p == '\n')
			appendStringInfoString(buf, "\\n");
		else if (*p == '"' && quoted)
			appendStringInfoString(buf, "\\\"");
		else
			appendStringInfoChar(buf, *p);
	}
}

/*
 * Append a sample value: NaN, +Inf, -Inf as the format spells them, any other number as the shortest decimal text
 * that reads back as the same double (the server's float8 output routine, independent of extra_float_digits), so a
 * value always has the same text; negative zero is written 0.
 */
static void
apes_metric_number(StringInfo buf, double v)
{
	char		num[DOUBLE_SHORTEST_DECIMAL_LEN];

	if (isnan(v))
		appendStringInfoString(buf, "NaN");
	else if (isinf(v))
		appendStringInfoString(buf, v > 0 ? "+Inf" : "-Inf");
	else
	{
		double_to_shortest_decimal_buf(v == 0 ? 0.0 : v, num);
		appendStringInfoString(buf, num);
	}
}

PG_FUNCTION_INFO_V1(apes_metrics);

/*
 * apes.metrics(): every family in Prometheus' text exposition format: for each, its HELP and TYPE lines, then one
 * line per sample, labels in the family's order.
 */
Datum
apes_metrics(PG_FUNCTION_ARGS)
{
	bool		wanted[APES_NFAMILIES];
	List	  **samples;
	StringInfoData buf;

	for (int i = 0; i < APES_NFAMILIES; i++)
		wanted[i] = true;
	samples = apes_metric_collect(wanted);
	initStringInfo(&buf);
	for (int i = 0; i < APES_NFAMILIES; i++)
	{
		const ApesMetricFamily *fam = &apes_metric_families_list[i];
		ListCell   *lc;

		appendStringInfo(&buf, "# HELP %s ", fam->name);
		apes_metric_escape(&buf, fam->help, false);
		appendStringInfo(&buf, "\n# TYPE %s %s\n", fam->name, fam->type);
		foreach(lc, samples[i])
		{
			ApesSample *s = lfirst(lc);

			CHECK_FOR_INTERRUPTS();
			appendStringInfoString(&buf, fam->name);
			for (int k = 0; fam->labels[k] != NULL; k++)
			{
				appendStringInfo(&buf, "%s%s=\"", k == 0 ? "{" : ",", fam->labels[k]);
				apes_metric_escape(&buf, s->labels[k], true);
				appendStringInfoChar(&buf, '"');
				if (fam->labels[k + 1] == NULL)
					appendStringInfoChar(&buf, '}');
			}
			appendStringInfoChar(&buf, ' ');
			apes_metric_number(&buf, s->value);
			appendStringInfoChar(&buf, '\n');
		}
	}
	PG_RETURN_TEXT_P(cstring_to_text(buf.data));
}

PG_FUNCTION_INFO_V1(apes_metric_samples);

/*
 * apes.metric_samples(families text[] DEFAULT NULL): the samples of apes.metrics() as rows (metric, labels jsonb,
 * value), for the families named (NULL: all), computing only what they need: postgres_exporter's queries
 * (contrib/postgres_exporter/queries.yaml) read the labels by name.
 */
Datum
apes_metric_samples(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		wanted[APES_NFAMILIES];
	List	  **samples;

	apes_metric_wanted(fcinfo, 0, wanted);
	apes_init_materialized_srf(fcinfo);
	if (rsinfo->setDesc->natts != 3)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("apes.metric_samples() must return 3 columns, not %d", rsinfo->setDesc->natts)));
	samples = apes_metric_collect(wanted);
	for (int i = 0; i < APES_NFAMILIES; i++)
	{
		const ApesMetricFamily *fam = &apes_metric_families_list[i];
		ListCell   *lc;

		foreach(lc, samples[i])
		{
			ApesSample *s = lfirst(lc);
			Datum		values[3];
			bool		nulls[3] = {0};
			ApesJson	j;

			CHECK_FOR_INTERRUPTS();
			apes_json_begin(&j);
			for (int k = 0; fam->labels[k] != NULL; k++)
				apes_json_text(&j, fam->labels[k], s->labels[k]);
			values[0] = CStringGetTextDatum(fam->name);
			values[1] = JsonbPGetDatum(apes_json_end(&j));
			values[2] = Float8GetDatum(s->value);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(apes_metric_families);

/*
 * apes.metric_families(): every family apes.metrics() writes: metric, type, help, labels (text[], in output order),
 * and the namespace and column postgres_exporter's custom queries name it by (metric = namespace || '_' || column).
 */
Datum
apes_metric_families(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	apes_init_materialized_srf(fcinfo);
	if (rsinfo->setDesc->natts != 6)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("apes.metric_families() must return 6 columns, not %d", rsinfo->setDesc->natts)));
	for (int i = 0; i < APES_NFAMILIES; i++)
	{
		const ApesMetricFamily *fam = &apes_metric_families_list[i];
		int			nlabels = apes_metric_nlabels(fam);
		Datum	   *labels = palloc(sizeof(Datum) * Max(nlabels, 1));
		size_t		nslen = strlen(fam->name) - strlen(fam->column) - 1;
		Datum		values[6];
		bool		nulls[6] = {0};

		Assert(strlen(fam->name) > strlen(fam->column) + 1 && fam->name[nslen] == '_' &&
			   strcmp(fam->name + nslen + 1, fam->column) == 0);
		for (int k = 0; k < nlabels; k++)
			labels[k] = CStringGetTextDatum(fam->labels[k]);
		values[0] = CStringGetTextDatum(fam->name);
		values[1] = CStringGetTextDatum(fam->type);
		values[2] = CStringGetTextDatum(fam->help);
		values[3] = PointerGetDatum(construct_array(labels, nlabels, TEXTOID, -1, false, TYPALIGN_INT));
		values[4] = PointerGetDatum(cstring_to_text_with_len(fam->name, nslen));
		values[5] = CStringGetTextDatum(fam->column);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
