/*
 * report_html.c: apes.report_html(since, until), the report for people as one self-contained HTML document.
 *
 * The document has, in order: the verdict and the findings as apes.health_report() gives them (the same collection,
 * apes_collect_all(), the same limit per severity and area), with their counts per severity and per check; then
 * charts of the period from the snapshots (apes.report_series(), SQL: database and relation sizes, statement time,
 * connections by state per application, findings by severity, WAL, checkpoints); then the period's top statements
 * with their deltas (apes.query_stats(), whose rule on query texts is pg_stat_statements').
 *
 * Self-contained: inline CSS and SVG, no script, font, image or link to anything outside, and a Content-Security-Policy
 * that refuses every request, so it opens from a mail attachment or a file on a machine with no network.  Every chart
 * has axis titles with units, a <title> and a <desc> (what it shows and each series' last, least and largest value)
 * and its figures in a table below it.  The page reads on a phone (the charts scale, tables scroll) and prints.
 *
 * Every text that comes from the database (names, summaries, SQL, query texts, which are user input) reaches the
 * document through one function, apes_html(), which escapes & < > " ' and writes everything outside printable ASCII
 * as a character reference: the document is ASCII whatever the database's and the client's encodings.  Numbers are
 * formatted by functions of this file alone (the server's snprintf, independent of locale), times in the session's
 * time zone, so the same history gives the same document.  The history parts run guarded: a failure there is shown
 * in its place and the findings are still reported.
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "apes.h"
#include "catalog.h"

/* Chart geometry, in SVG user units (the SVG scales to the page's width). */
#define CH_W		640.0
#define CH_H		250.0
#define CH_LEFT		64.0
#define CH_RIGHT	14.0
#define CH_TOP		14.0
#define CH_BOTTOM	46.0
#define CH_MAX_SERIES_COLORS 10

/* Series colours (Okabe-Ito and Tableau tones, distinguishable for most colour vision). */
static const char *const apes_palette[CH_MAX_SERIES_COLORS] = {
	"#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#7f7f7f", "#bcbd22", "#8c564b", "#17becf"
};

/* What the y values of a chart are. */
typedef enum ApesUnit
{
	APES_UNIT_BYTES,			/* bytes, shown in B, kB, MB, ... */
	APES_UNIT_BYTES_PER_MIN,	/* bytes per minute */
	APES_UNIT_COUNT,			/* a number of things */
	APES_UNIT_RATE				/* a plain rate, with its unit in the title */
} ApesUnit;

/* One kind of chart: the key apes.report_series() gives it, its title, y axis title, unit and drawing. */
typedef struct ApesChartSpec
{
	const char *key;
	const char *title;
	const char *y_title;		/* the quantity; the unit is added (bytes) or part of it */
	ApesUnit	unit;
	bool		stacked;		/* stacked bars; else lines */
	const char *about;			/* one sentence: what the chart shows */
} ApesChartSpec;

static const ApesChartSpec apes_chart_specs[] = {
	{"db_size", "Database sizes", "size", APES_UNIT_BYTES, false,
	"Size of each database at each snapshot (the largest at the end of the period)."},
	{"relation_size", "Largest tables and indexes", "size", APES_UNIT_BYTES, false,
	"Size of the largest tables and indexes of this database at each snapshot."},
	{"statement_time", "Execution time of the top statements", "seconds per minute", APES_UNIT_RATE, false,
	"Seconds spent executing each of the period's top statements, per minute of the interval between snapshots."},
	{"connections", "Connections", "sessions", APES_UNIT_COUNT, true,
	"Client sessions of the application at each snapshot, by state."},
	{"findings", "Findings by severity", "findings", APES_UNIT_COUNT, true,
	"Findings open at each snapshot, by severity."},
	{"wal", "WAL written", "WAL per minute", APES_UNIT_BYTES_PER_MIN, false,
	"Write-ahead log written per minute between snapshots (server-wide)."},
	{"checkpoints", "Checkpoints", "checkpoints per hour", APES_UNIT_RATE, false,
	"Checkpoints per hour between snapshots, timed and requested (requested ones mean max_wal_size is too small)."},
};

#define APES_NCHART_SPECS lengthof(apes_chart_specs)

/* One series of a chart: its name and points (y is NaN where there is no value: a gap). */
typedef struct ApesSeries
{
	int			no;
	char	   *name;
	int			npoints;
	int			cap;
	TimestampTz *x;
	double	   *y;
} ApesSeries;

/* One chart to draw: its kind, facet (connections: the application; NULL facet_set: none) and series. */
typedef struct ApesChart
{
	const ApesChartSpec *spec;
	bool		has_facet;
	char	   *facet;			/* NULL with has_facet: the other applications */
	List	   *series;
} ApesChart;

/* The history part of a report: the period, its snapshots, the charts and the top statements. */
typedef struct ApesHistory
{
	TimestampTz since;
	TimestampTz until;
	int64		nsnapshots;		/* in the period */
	bool		any_snapshot;	/* in the whole history */
	TimestampTz first;
	TimestampTz last;
	List	   *charts;
	List	   *statements;		/* ApesStatementRow * */
	char	   *statements_note;	/* why there is no statement table, or NULL */
	MemoryContext cxt;			/* where the results go */
} ApesHistory;

/* One row of the top statements table. */
typedef struct ApesStatementRow
{
	char	   *name;
	char	   *query;
	int64		calls;
	double		total_ms;
	double		mean_ms;
	double		stddev_ms;
	double		rows_per_call;
	double		hit_ratio;		/* NaN: no block read */
	int64		temp_blks;
	double		wal_bytes;
	char	   *basis;
	char	   *flags;
} ApesStatementRow;

/*
 * Append text from the database to HTML, escaped: & < > " ' as entities, tab, newline and printable ASCII as they
 * are, every other character as a numeric character reference (the text is read as UTF-8 after conversion from the
 * server's encoding; a byte that is not valid there, and control characters, become U+FFFD).  The one way text from
 * the database reaches the document.
 */
static void
apes_html(StringInfo buf, const char *text)
{
	const unsigned char *p;
	const unsigned char *end;
	char	   *utf8;

	if (text == NULL)
		return;
	utf8 = GetDatabaseEncoding() == PG_UTF8 ? (char *) text : pg_server_to_any(text, strlen(text), PG_UTF8);
	p = (const unsigned char *) utf8;
	end = p + strlen(utf8);
	while (p < end)
	{
		unsigned char c = *p;

		if (c == '&')
			appendStringInfoString(buf, "&amp;");
		else if (c == '<')
			appendStringInfoString(buf, "&lt;");
		else if (c == '>')
			appendStringInfoString(buf, "&gt;");
		else if (c == '"')
			appendStringInfoString(buf, "&quot;");
		else if (c == '\'')
			appendStringInfoString(buf, "&#39;");
		else if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f))
			appendStringInfoChar(buf, (char) c);
		else if (c < 0x80)
			appendStringInfoString(buf, "&#xFFFD;");	/* a control character */
		else
		{
			int			len = pg_utf_mblen(p);

			if (len > 1 && p + len <= end && pg_utf8_islegal(p, len))
			{
				pg_wchar	u = utf8_to_unicode(p);

				appendStringInfo(buf, "&#x%X;", (unsigned int) u);
				p += len;
				continue;
			}
			appendStringInfoString(buf, "&#xFFFD;");
		}
		p++;
	}
	if (utf8 != text)
		pfree(utf8);
}

/* A number with a fixed count of decimals (the server's snprintf: no locale). */
static char *
apes_num(double v, int decimals)
{
	if (isnan(v))
		return pstrdup("-");
	return psprintf("%.*f", decimals, v == 0 ? 0.0 : v);
}

/* A number with as many decimals as make sense for its size: 1234, 12.3, 0.123, 0.0012. */
static char *
apes_num_auto(double v)
{
	double		a = fabs(v);

	if (isnan(v))
		return pstrdup("-");
	if (a >= 100 || a == 0)
		return apes_num(v, 0);
	if (a >= 10)
		return apes_num(v, 1);
	if (a >= 1)
		return apes_num(v, 2);
	return apes_num(v, Min(6, 2 - (int) floor(log10(a))));
}

static const char *const apes_byte_units[] = {"bytes", "kB", "MB", "GB", "TB", "PB"};

/* The power of 1024 bytes a value is best shown in (0: bytes, 1: kB, ...). */
static int
apes_bytes_power(double v)
{
	int			k = 0;

	v = fabs(v);
	while (v >= 1024 && k < (int) lengthof(apes_byte_units) - 1)
	{
		v /= 1024;
		k++;
	}
	return k;
}

/* Bytes for people: 512 bytes, 12.3 MB, 1.20 GB. */
static char *
apes_bytes(double v)
{
	int			k;

	if (isnan(v))
		return pstrdup("-");
	k = apes_bytes_power(v);
	return psprintf("%s %s", apes_num_auto(v / pow(1024, k)), apes_byte_units[k]);
}

/* A value of a chart's unit for people (the summaries and tables). */
static char *
apes_unit_value(ApesUnit unit, double v)
{
	switch (unit)
	{
		case APES_UNIT_BYTES:
			return apes_bytes(v);
		case APES_UNIT_BYTES_PER_MIN:
			return isnan(v) ? pstrdup("-") : psprintf("%s/min", apes_bytes(v));
		default:
			return apes_num_auto(v);
	}
}

/* A moment in the session's time zone, as "YYYY-MM-DD HH:MI" (with_zone: and its abbreviation). */
static char *
apes_time(TimestampTz t, bool with_zone)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz;
	const char *tzn = NULL;

	if (TIMESTAMP_NOT_FINITE(t) || timestamp2tm(t, &tz, &tm, &fsec, &tzn, NULL) != 0)
		return pstrdup(TIMESTAMP_IS_NOBEGIN(t) ? "-infinity" : "infinity");
	return psprintf("%04d-%02d-%02d %02d:%02d%s%s", tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min,
					with_zone && tzn ? " " : "", with_zone && tzn ? tzn : "");
}

/* A tick label on the time axis, as short as the period allows. */
static char *
apes_time_tick(TimestampTz t, double period_secs)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz;
	const char *tzn = NULL;

	if (timestamp2tm(t, &tz, &tm, &fsec, &tzn, NULL) != 0)
		return pstrdup("");
	if (period_secs <= 600)
		return psprintf("%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (period_secs <= 36 * 3600)
		return psprintf("%02d:%02d", tm.tm_hour, tm.tm_min);
	if (period_secs <= 10 * 86400)
		return psprintf("%02d-%02d %02d:%02d", tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min);
	return psprintf("%04d-%02d-%02d", tm.tm_year, tm.tm_mon, tm.tm_mday);
}

/* The session's time zone abbreviation at a moment (for axis titles), or "". */
static const char *
apes_zone(TimestampTz t)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz;
	const char *tzn = NULL;

	if (TIMESTAMP_NOT_FINITE(t) || timestamp2tm(t, &tz, &tm, &fsec, &tzn, NULL) != 0 || tzn == NULL)
		return "";
	return pstrdup(tzn);
}

/* A step of 1, 2 or 5 times a power of ten that divides range into about target parts. */
static double
apes_nice_step(double range, int target)
{
	double		raw = range / target;
	double		mag = pow(10, floor(log10(raw)));
	double		f = raw / mag;

	return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/* Append an SVG coordinate (one decimal; 0 for what is not a finite number, which no coordinate should be). */
static void
apes_svg_num(StringInfo buf, double v)
{
	appendStringInfoString(buf, apes_num(isfinite(v) ? v : 0, 1));
}

/* The chart of a kind (and facet) in a list, made when missing. */
static ApesChart *
apes_chart_get(List **charts, const ApesChartSpec *spec, bool has_facet, const char *facet)
{
	ListCell   *lc;
	ApesChart  *c;

	foreach(lc, *charts)
	{
		c = lfirst(lc);
		if (c->spec == spec && c->has_facet == has_facet &&
			((c->facet == NULL && facet == NULL) || (c->facet && facet && strcmp(c->facet, facet) == 0)))
			return c;
	}
	c = palloc0(sizeof(ApesChart));
	c->spec = spec;
	c->has_facet = has_facet;
	c->facet = facet ? pstrdup(facet) : NULL;
	*charts = lappend(*charts, c);
	return c;
}

/* The series numbered no of a chart, made (named name) when missing. */
static ApesSeries *
apes_series_get(ApesChart *c, int no, const char *name)
{
	ListCell   *lc;
	ApesSeries *s;

	foreach(lc, c->series)
	{
		s = lfirst(lc);
		if (s->no == no)
			return s;
	}
	s = palloc0(sizeof(ApesSeries));
	s->no = no;
	s->name = pstrdup(name ? name : "");
	s->cap = 16;
	s->x = palloc(sizeof(TimestampTz) * s->cap);
	s->y = palloc(sizeof(double) * s->cap);
	c->series = lappend(c->series, s);
	return s;
}

/* Add a point to a series. */
static void
apes_series_add(ApesSeries *s, TimestampTz x, double y)
{
	if (s->npoints == s->cap)
	{
		s->cap *= 2;
		s->x = repalloc(s->x, sizeof(TimestampTz) * s->cap);
		s->y = repalloc(s->y, sizeof(double) * s->cap);
	}
	s->x[s->npoints] = x;
	s->y[s->npoints] = y;
	s->npoints++;
}

/* The chart kind a key of apes.report_series() names, or NULL. */
static const ApesChartSpec *
apes_chart_spec(const char *key)
{
	for (int i = 0; i < APES_NCHART_SPECS; i++)
		if (strcmp(apes_chart_specs[i].key, key) == 0)
			return &apes_chart_specs[i];
	return NULL;
}

/* Read the history part: the period's snapshots and chart series (an apes_run_guarded() callback). */
static void
apes_read_history(void *arg)
{
	ApesHistory *h = (ApesHistory *) arg;
	Oid			argtypes[3] = {TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID};
	Datum		args[3];
	int			ret;
	MemoryContext old;

	args[0] = TimestampTzGetDatum(h->since);
	args[1] = TimestampTzGetDatum(h->until);
	args[2] = Int32GetDatum(apes_report_top_n);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute_with_args("SELECT pg_catalog.count(*), pg_catalog.min(s.taken_at), pg_catalog.max(s.taken_at), "
								"EXISTS (SELECT 1 FROM apes.snapshot a) FROM apes.snapshot s "
								"WHERE s.taken_at OPERATOR(pg_catalog.>=) $1 AND s.taken_at OPERATOR(pg_catalog.<=) $2",
								2, argtypes, args, NULL, true, 0);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "reading apes.snapshot failed: %s", SPI_result_code_string(ret));
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		h->nsnapshots = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		h->first = DatumGetTimestampTz(SPI_getbinval(tup, desc, 2, &isnull));
		if (isnull)
			h->first = 0;
		h->last = DatumGetTimestampTz(SPI_getbinval(tup, desc, 3, &isnull));
		if (isnull)
			h->last = 0;
		h->any_snapshot = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
	}
	if (h->nsnapshots > 0)
	{
		ret = SPI_execute_with_args("SELECT r.chart, r.facet, r.series_no, r.series, r.x, r.y "
									"FROM apes.report_series($1, $2, $3) r",
									3, argtypes, args, NULL, true, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "apes.report_series() failed: %s", SPI_result_code_string(ret));
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		facet_null;
			bool		isnull;
			char	   *key = SPI_getvalue(tup, desc, 1);
			char	   *facet = SPI_getvalue(tup, desc, 2);
			int			no = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
			char	   *name = SPI_getvalue(tup, desc, 4);
			TimestampTz x = DatumGetTimestampTz(SPI_getbinval(tup, desc, 5, &isnull));
			Datum		y = SPI_getbinval(tup, desc, 6, &isnull);
			const ApesChartSpec *spec = key ? apes_chart_spec(key) : NULL;
			ApesChart  *c;

			CHECK_FOR_INTERRUPTS();
			if (spec == NULL)
				elog(ERROR, "apes.report_series() returned a row of an unknown chart \"%s\"", key ? key : "NULL");
			(void) SPI_getbinval(tup, desc, 2, &facet_null);
			old = MemoryContextSwitchTo(h->cxt);
			c = apes_chart_get(&h->charts, spec, strcmp(spec->key, "connections") == 0, facet_null ? NULL : facet);
			apes_series_add(apes_series_get(c, no, name), x, isnull ? get_float8_nan() : DatumGetFloat8(y));
			MemoryContextSwitchTo(old);
		}
	}
	SPI_finish();
}

/* Read the period's top statements from apes.query_stats() (an apes_run_guarded() callback). */
static void
apes_read_statements(void *arg)
{
	ApesHistory *h = (ApesHistory *) arg;
	Oid			argtypes[3] = {TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID};
	Datum		args[3];
	int			ret;

	args[0] = TimestampTzGetDatum(h->since);
	args[1] = TimestampTzGetDatum(h->until);
	args[2] = Int32GetDatum(apes_report_top_n);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute_with_args("SELECT apes.statement_name(q.dbid, q.userid, q.queryid, q.toplevel), q.query, "
								"q.calls, q.total_exec_ms, q.mean_exec_ms, q.stddev_exec_ms, q.rows_per_call, "
								"q.shared_hit_ratio, q.temp_blks_written, q.wal_bytes::pg_catalog.float8, q.basis, "
								"pg_catalog.array_to_string(q.flags, ', ') "
								"FROM apes.query_stats($1, $2) q LIMIT $3",
								3, argtypes, args, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "apes.query_stats() failed: %s", SPI_result_code_string(ret));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(h->cxt);
		ApesStatementRow *row = palloc0(sizeof(ApesStatementRow));
		bool		isnull;
		Datum		d;

		row->name = SPI_getvalue(tup, desc, 1);
		row->query = SPI_getvalue(tup, desc, 2);
		row->calls = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
		row->total_ms = DatumGetFloat8(SPI_getbinval(tup, desc, 4, &isnull));
		row->mean_ms = DatumGetFloat8(SPI_getbinval(tup, desc, 5, &isnull));
		d = SPI_getbinval(tup, desc, 6, &isnull);
		row->stddev_ms = isnull ? get_float8_nan() : DatumGetFloat8(d);
		d = SPI_getbinval(tup, desc, 7, &isnull);
		row->rows_per_call = isnull ? get_float8_nan() : DatumGetFloat8(d);
		d = SPI_getbinval(tup, desc, 8, &isnull);
		row->hit_ratio = isnull ? get_float8_nan() : DatumGetFloat8(d);
		row->temp_blks = DatumGetInt64(SPI_getbinval(tup, desc, 9, &isnull));
		d = SPI_getbinval(tup, desc, 10, &isnull);
		row->wal_bytes = isnull ? get_float8_nan() : DatumGetFloat8(d);
		row->basis = SPI_getvalue(tup, desc, 11);
		row->flags = SPI_getvalue(tup, desc, 12);
		h->statements = lappend(h->statements, row);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
}

/* The fixed style sheet: phone-first, a grid of charts from 700 px, print without backgrounds. */
static const char *const apes_report_css =
"*{box-sizing:border-box}"
"body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;margin:0;padding:0.75rem;"
"color:#1b1f24;background:#fff;line-height:1.4;font-size:15px}"
"main{max-width:1200px;margin:0 auto}"
"h1{font-size:1.35rem;margin:0.2rem 0}h2{font-size:1.15rem;margin:1.6rem 0 0.5rem;border-bottom:1px solid #d0d7de}"
"h3{font-size:1rem;margin:1rem 0 0.4rem}h4{font-size:0.95rem;margin:0 0 0.2rem;font-weight:600;overflow-wrap:anywhere}"
".meta{color:#57606a;font-size:0.85rem;margin:0.2rem 0}"
".verdict{border-left:6px solid #2da44e;padding:0.5rem 0.8rem;background:#f6f8fa;margin:0.8rem 0}"
".verdict.critical{border-color:#cf222e}.verdict.warning{border-color:#d4a72c}"
".verdict p{margin:0 0 0.4rem;font-weight:600;overflow-wrap:anywhere}"
".counts{list-style:none;padding:0;margin:0;display:flex;flex-wrap:wrap;gap:0.4rem 1rem}"
".counts .n{font-weight:700;font-size:1.1rem}"
".sev-critical{color:#cf222e}.sev-warning{color:#9a6700}.sev-info{color:#0969da}"
".finding{border:1px solid #d0d7de;border-radius:6px;padding:0.5rem 0.7rem;margin:0.4rem 0;break-inside:avoid}"
".finding p{margin:0.2rem 0;overflow-wrap:anywhere}"
".tag{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:0.85em;color:#57606a}"
"pre{background:#f6f8fa;padding:0.4rem 0.6rem;margin:0.3rem 0;overflow-x:auto;white-space:pre-wrap;"
"overflow-wrap:anywhere;font-size:0.82rem}"
"pre .lbl{color:#57606a;user-select:none}"
".more{color:#57606a;font-size:0.9rem}"
".charts{display:grid;grid-template-columns:1fr;gap:1rem}"
"@media (min-width:700px){.charts{grid-template-columns:repeat(2,minmax(0,1fr))}}"
"figure.chart{margin:0;border:1px solid #d0d7de;border-radius:6px;padding:0.5rem;break-inside:avoid}"
"figure.chart figcaption{font-weight:600;font-size:0.95rem;overflow-wrap:anywhere}"
"figure.chart .about{color:#57606a;font-size:0.8rem;margin:0.1rem 0 0.3rem}"
"svg.plot{display:block;width:100%;height:auto}"
".legend{list-style:none;padding:0;margin:0.3rem 0 0;font-size:0.8rem;display:flex;flex-wrap:wrap;gap:0.2rem 0.8rem}"
".legend li{overflow-wrap:anywhere}.legend svg{display:inline;width:0.8em;height:0.8em;vertical-align:-0.05em;margin-right:0.3em}"
"details{font-size:0.8rem;margin-top:0.3rem}"
".scroll{overflow-x:auto}"
"table{border-collapse:collapse;font-size:0.82rem;width:100%}"
"th,td{border-bottom:1px solid #d0d7de;padding:0.25rem 0.4rem;text-align:right;vertical-align:top}"
"th:first-child,td:first-child,td.text,th.text{text-align:left}"
"td.text{overflow-wrap:anywhere}#statements td.text{min-width:12rem}"
"td code{font-size:0.95em;white-space:pre-wrap}"
"footer{margin-top:2rem;color:#57606a;font-size:0.8rem}"
"@media print{body{font-size:10pt;padding:0}.charts{display:block}figure.chart{margin:0 0 0.6rem;"
"page-break-inside:avoid}.verdict,pre{background:none}details{display:none}"
"*{-webkit-print-color-adjust:exact;print-color-adjust:exact}h2{page-break-after:avoid}}";

/* A small coloured square (a legend swatch), drawn in SVG so that it prints without background colours. */
static void
apes_swatch(StringInfo buf, const char *color)
{
	appendStringInfo(buf, "<svg width=\"10\" height=\"10\" viewBox=\"0 0 10 10\" aria-hidden=\"true\"><rect width=\"10\" height=\"10\" fill=\"%s\"/></svg>",
					 color);
}

/* The colour of series number i of a chart (states and severities have their own). */
static const char *
apes_series_color(const ApesChart *c, const ApesSeries *s, int i)
{
	if (strcmp(c->spec->key, "findings") == 0)
		return s->no == 1 ? "#cf222e" : s->no == 2 ? "#d4a72c" : "#0969da";
	if (strcmp(c->spec->key, "connections") == 0)
		return s->no == 1 ? "#2da44e" : s->no == 2 ? "#d4a72c" : "#8c959f";
	return apes_palette[i % CH_MAX_SERIES_COLORS];
}

/* The chart's heading: its title, and for connections the application. */
static void
apes_chart_title(StringInfo buf, const ApesChart *c)
{
	appendStringInfoString(buf, c->spec->title);
	if (c->has_facet)
	{
		appendStringInfoString(buf, ": ");
		if (c->facet == NULL)
			appendStringInfoString(buf, "other applications");
		else if (c->facet[0] == '\0')
			appendStringInfoString(buf, "no application name");
		else
			apes_html(buf, c->facet);
	}
}

/* The y axis title with its unit; for bytes, the unit chosen for the ticks. */
static char *
apes_y_title(const ApesChartSpec *spec, int power)
{
	if (spec->unit == APES_UNIT_BYTES || spec->unit == APES_UNIT_BYTES_PER_MIN)
		return psprintf("%s (%s)", spec->y_title, apes_byte_units[power]);
	return pstrdup(spec->y_title);
}

/*
 * Draw one chart as a <figure>: heading, what it shows, the SVG (axes with ticks and titles, gridlines, lines or
 * stacked bars, "no data" when there is nothing), the legend and a table of each series' figures.  The SVG has a
 * <title> and a <desc> saying the same in words.
 */
static void
apes_draw_chart(StringInfo buf, const ApesChart *c, int id, TimestampTz since, TimestampTz until)
{
	const ApesChartSpec *spec = c->spec;
	double		span = (double) Max(until - since, 1);	/* microseconds; a period of one moment is one long */
	double		period = span / USECS_PER_SEC;
	double		plot_w = CH_W - CH_LEFT - CH_RIGHT;
	double		plot_h = CH_H - CH_TOP - CH_BOTTOM;
	double		ymax = 0;
	int			npoints = 0;
	bool		any = false;
	int			power = 0;
	double		scale = 1;
	double		step;
	double		top;
	ListCell   *lc;
	int			i;
	StringInfoData desc;

	/* the largest value (of the stacked sums for stacked charts) */
	foreach(lc, c->series)
	{
		ApesSeries *s = lfirst(lc);

		npoints = Max(npoints, s->npoints);
		for (int k = 0; k < s->npoints; k++)
			if (!isnan(s->y[k]))
			{
				any = true;
				if (!spec->stacked)
					ymax = Max(ymax, s->y[k]);
			}
	}
	if (spec->stacked)
		for (int k = 0; k < npoints; k++)
		{
			double		sum = 0;

			foreach(lc, c->series)
			{
				ApesSeries *s = lfirst(lc);

				if (k < s->npoints && !isnan(s->y[k]))
					sum += s->y[k];
			}
			ymax = Max(ymax, sum);
		}
	if (spec->unit == APES_UNIT_BYTES || spec->unit == APES_UNIT_BYTES_PER_MIN)
	{
		power = apes_bytes_power(ymax);
		scale = pow(1024, power);
	}
	if (ymax <= 0)
		ymax = spec->unit == APES_UNIT_COUNT ? 4 : scale;
	step = apes_nice_step(ymax / scale, 4);
	if (spec->unit == APES_UNIT_COUNT && step < 1)
		step = 1;
	top = ceil(ymax / scale / step - 1e-9) * step;

	/* the words: what it shows, and each series' last, least and largest value */
	initStringInfo(&desc);
	apes_html(&desc, spec->about);
	if (!any)
		appendStringInfoString(&desc, " No data in this period.");
	else
		foreach(lc, c->series)
		{
			ApesSeries *s = lfirst(lc);
			double		mn = get_float8_nan(),
						mx = get_float8_nan(),
						last = get_float8_nan();

			for (int k = 0; k < s->npoints; k++)
				if (!isnan(s->y[k]))
				{
					mn = isnan(mn) ? s->y[k] : Min(mn, s->y[k]);
					mx = isnan(mx) ? s->y[k] : Max(mx, s->y[k]);
					last = s->y[k];
				}
			appendStringInfoChar(&desc, ' ');
			apes_html(&desc, s->name);
			appendStringInfo(&desc, ": last %s, least %s, largest %s.", apes_unit_value(spec->unit, last),
							 apes_unit_value(spec->unit, mn), apes_unit_value(spec->unit, mx));
		}

	appendStringInfo(buf, "<figure class=\"chart\" id=\"chart-%d\" data-chart=\"%s\"><figcaption>", id, spec->key);
	apes_chart_title(buf, c);
	appendStringInfoString(buf, "</figcaption><p class=\"about\">");
	apes_html(buf, spec->about);
	appendStringInfoString(buf, "</p>\n");
	appendStringInfo(buf, "<svg class=\"plot\" viewBox=\"0 0 %d %d\" role=\"img\" aria-labelledby=\"chart-%d-t chart-%d-d\" "
					 "font-size=\"11\" font-family=\"system-ui,sans-serif\">", (int) CH_W, (int) CH_H, id, id);
	appendStringInfo(buf, "<title id=\"chart-%d-t\">", id);
	apes_chart_title(buf, c);
	appendStringInfo(buf, "</title><desc id=\"chart-%d-d\">%s</desc>\n", id, desc.data);

	/* gridlines and y ticks */
	for (double v = 0; v <= top + step / 2; v += step)
	{
		double		y = CH_TOP + plot_h - (top > 0 ? v / top : 0) * plot_h;

		appendStringInfo(buf, "<line x1=\"%s\" y1=\"", apes_num(CH_LEFT, 1));
		apes_svg_num(buf, y);
		appendStringInfo(buf, "\" x2=\"%s\" y2=\"", apes_num(CH_LEFT + plot_w, 1));
		apes_svg_num(buf, y);
		appendStringInfo(buf, "\" stroke=\"%s\" stroke-width=\"1\"/>", v == 0 ? "#57606a" : "#e1e4e8");
		appendStringInfo(buf, "<text x=\"%s\" y=\"", apes_num(CH_LEFT - 5, 1));
		apes_svg_num(buf, y + 4);
		appendStringInfo(buf, "\" text-anchor=\"end\" fill=\"#57606a\">%s</text>\n",
						 apes_num(v, step >= 1 ? 0 : Min(6, (int) ceil(-log10(step)))));
	}
	/* x ticks: five moments evenly over the period */
	for (i = 0; i <= 4; i++)
	{
		double		x = CH_LEFT + plot_w * i / 4;
		TimestampTz t = since + (TimestampTz) ((double) (until - since) * i / 4);	/* 0 when since = until */

		appendStringInfoString(buf, "<line x1=\"");
		apes_svg_num(buf, x);
		appendStringInfo(buf, "\" y1=\"%s\" x2=\"", apes_num(CH_TOP + plot_h, 1));
		apes_svg_num(buf, x);
		appendStringInfo(buf, "\" y2=\"%s\" stroke=\"#57606a\" stroke-width=\"1\"/>", apes_num(CH_TOP + plot_h + 4, 1));
		appendStringInfoString(buf, "<text x=\"");
		apes_svg_num(buf, x);
		appendStringInfo(buf, "\" y=\"%s\" text-anchor=\"%s\" fill=\"#57606a\">", apes_num(CH_TOP + plot_h + 16, 1),
						 i == 0 ? "start" : i == 4 ? "end" : "middle");
		apes_html(buf, apes_time_tick(t, period));
		appendStringInfoString(buf, "</text>\n");
	}
	/* axis titles */
	appendStringInfo(buf, "<text x=\"%s\" y=\"%s\" text-anchor=\"middle\" fill=\"#1b1f24\">time (",
					 apes_num(CH_LEFT + plot_w / 2, 1), apes_num(CH_H - 6, 1));
	apes_html(buf, apes_zone(until));
	appendStringInfoString(buf, ")</text>");
	appendStringInfo(buf, "<text transform=\"translate(13 %s) rotate(-90)\" text-anchor=\"middle\" fill=\"#1b1f24\">",
					 apes_num(CH_TOP + plot_h / 2, 1));
	apes_html(buf, apes_y_title(spec, power));
	appendStringInfoString(buf, "</text>\n");

	if (!any)
		appendStringInfo(buf, "<text x=\"%s\" y=\"%s\" text-anchor=\"middle\" font-size=\"16\" fill=\"#57606a\" "
						 "class=\"no-data\">no data</text>\n",
						 apes_num(CH_LEFT + plot_w / 2, 1), apes_num(CH_TOP + plot_h / 2, 1));
	else if (spec->stacked)
	{
		/* stacked bars, one per point, as wide as the points' spacing allows */
		double		bar = Max(1.0, Min(14.0, plot_w / Max(npoints, 1) * 0.7));
		ApesSeries *first = linitial(c->series);

		for (int k = 0; k < first->npoints; k++)
		{
			double		x = CH_LEFT + plot_w * (double) (first->x[k] - since) / span;
			double		base = 0;

			CHECK_FOR_INTERRUPTS();
			i = 0;
			foreach(lc, c->series)
			{
				ApesSeries *s = lfirst(lc);
				double		v = k < s->npoints && !isnan(s->y[k]) ? s->y[k] : 0;
				double		y0 = CH_TOP + plot_h - base / top * plot_h;
				double		y1 = CH_TOP + plot_h - (base + v) / top * plot_h;

				if (v > 0)
				{
					appendStringInfoString(buf, "<rect x=\"");
					apes_svg_num(buf, x - bar / 2);
					appendStringInfoString(buf, "\" y=\"");
					apes_svg_num(buf, y1);
					appendStringInfo(buf, "\" width=\"%s\" height=\"", apes_num(bar, 1));
					apes_svg_num(buf, y0 - y1);
					appendStringInfo(buf, "\" fill=\"%s\"/>", apes_series_color(c, s, i));
				}
				base += v;
				i++;
			}
			appendStringInfoChar(buf, '\n');
		}
	}
	else
	{
		/* lines, broken where a value is missing; a point with no neighbour is a dot */
		i = 0;
		foreach(lc, c->series)
		{
			ApesSeries *s = lfirst(lc);
			const char *color = apes_series_color(c, s, i);
			bool		open = false;

			CHECK_FOR_INTERRUPTS();
			for (int k = 0; k < s->npoints; k++)
			{
				double		x = CH_LEFT + plot_w * (double) (s->x[k] - since) / span;
				double		y = isnan(s->y[k]) ? 0 : CH_TOP + plot_h - (s->y[k] / scale) / top * plot_h;
				bool		prev = k > 0 && !isnan(s->y[k - 1]);
				bool		next = k + 1 < s->npoints && !isnan(s->y[k + 1]);

				if (isnan(s->y[k]))
				{
					if (open)
						appendStringInfoString(buf, "\"/>\n");
					open = false;
					continue;
				}
				if (!prev && !next)
				{
					appendStringInfoString(buf, "<circle cx=\"");
					apes_svg_num(buf, x);
					appendStringInfoString(buf, "\" cy=\"");
					apes_svg_num(buf, y);
					appendStringInfo(buf, "\" r=\"2.5\" fill=\"%s\"/>\n", color);
					continue;
				}
				if (!open)
				{
					appendStringInfo(buf, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" "
									 "stroke-linejoin=\"round\" points=\"", color);
					open = true;
				}
				else
					appendStringInfoChar(buf, ' ');
				apes_svg_num(buf, x);
				appendStringInfoChar(buf, ',');
				apes_svg_num(buf, y);
			}
			if (open)
				appendStringInfoString(buf, "\"/>\n");
			i++;
		}
	}
	appendStringInfoString(buf, "</svg>\n");

	/* legend, then the figures as a table */
	if (c->series != NIL)
	{
		appendStringInfoString(buf, "<ul class=\"legend\">");
		i = 0;
		foreach(lc, c->series)
		{
			ApesSeries *s = lfirst(lc);

			appendStringInfoString(buf, "<li>");
			apes_swatch(buf, apes_series_color(c, s, i));
			apes_html(buf, s->name);
			appendStringInfoString(buf, "</li>");
			i++;
		}
		appendStringInfoString(buf, "</ul>\n");
	}
	appendStringInfo(buf, "<details><summary>Figures</summary><p>%s</p></details></figure>\n", desc.data);
	pfree(desc.data);
}

/* "... and N more": how to list the findings of a group the report left out. */
static void
apes_report_more(StringInfo buf, int omitted, const ApesFinding *last)
{
	appendStringInfo(buf, "<p class=\"more\">... and %d more: <code>", omitted);
	apes_html(buf, psprintf("SELECT * FROM apes.findings('%s') WHERE severity = '%s';", last->area,
							apes_severity_name(last->severity)));
	appendStringInfoString(buf, "</code></p>\n");
}

/* One shown finding as an article: check, object, size, confidence, summary, fix and undo. */
static void
apes_report_finding(StringInfo buf, ApesFinding *f)
{
	appendStringInfoString(buf, "<article class=\"finding\" data-check=\"");
	apes_html(buf, f->check_id);
	appendStringInfoString(buf, "\"><h4><span class=\"tag\">[");
	apes_html(buf, f->check_id);
	appendStringInfoString(buf, "]</span> ");
	apes_html(buf, f->object_name);
	if (f->wasted_bytes >= 0)
		appendStringInfo(buf, " <span class=\"tag\">(%s)</span>", apes_size_pretty(f->wasted_bytes));
	if (f->confidence != APES_HIGH)
		appendStringInfo(buf, " <span class=\"tag\">[confidence: %s]</span>", apes_confidence_name(f->confidence));
	appendStringInfoString(buf, "</h4><p>");
	apes_html(buf, f->summary ? f->summary : "");
	appendStringInfoString(buf, "</p>");
	if (f->fix_sql != NULL)
	{
		appendStringInfoString(buf, "<pre class=\"fix\"><span class=\"lbl\">fix:  </span>");
		apes_html(buf, f->fix_sql);
		appendStringInfoString(buf, "</pre>");
	}
	if (f->undo_sql != NULL)
	{
		appendStringInfoString(buf, "<pre class=\"undo\"><span class=\"lbl\">undo: </span>");
		apes_html(buf, f->undo_sql);
		appendStringInfoString(buf, "</pre>");
	}
	appendStringInfoString(buf, "</article>\n");
}

/* The findings part: verdict and counts, then the findings by severity and area (at most report_limit per group). */
static void
apes_report_findings(StringInfo buf, List *all)
{
	ApesTotals	t = apes_totals(all);
	List	   *findings = apes_unacknowledged(all);
	ListCell   *lc;
	ApesFinding *prev = NULL;
	int			shown = 0;
	int			omitted = 0;
	bool		any_check = false;
	MemoryContext tmp;
	MemoryContext old;

	appendStringInfo(buf, "<section class=\"verdict %s\" id=\"verdict\"><p class=\"verdict-line\">", apes_status(&t));
	apes_html(buf, apes_verdict(&t));
	appendStringInfoString(buf, "</p><ul class=\"counts\">");
	for (int s = 0; s < APES_NSEVERITIES; s++)
		appendStringInfo(buf, "<li class=\"sev-%s\" data-severity=\"%s\"><span class=\"n\">%d</span> %s</li>",
						 apes_severity_name(s), apes_severity_name(s), t.by_severity[s], apes_severity_name(s));
	appendStringInfo(buf, "<li data-severity=\"total\"><span class=\"n\">%d</span> in all</li>", t.total);
	appendStringInfo(buf, "<li data-wasted-bytes=\"" INT64_FORMAT "\"><span class=\"n\">%s</span> could be reclaimed</li>",
					 t.wasted_bytes, apes_bytes((double) t.wasted_bytes));
	if (t.acknowledged > 0)
		appendStringInfo(buf, "<li data-severity=\"acknowledged\"><span class=\"n\">%d</span> acknowledged, not shown</li>",
						 t.acknowledged);
	appendStringInfoString(buf, "</ul></section>\n");

	/* the count of every check that found something */
	appendStringInfoString(buf, "<section id=\"checks\"><h2>Findings by check</h2>");
	for (int c = 0; c < APES_NCHECKS; c++)
		if (t.by_check[c] > 0)
		{
			if (!any_check)
				appendStringInfoString(buf, "<div class=\"scroll\"><table><thead><tr><th class=\"text\">check</th>"
									   "<th class=\"text\">area</th><th>findings</th></tr></thead><tbody>");
			any_check = true;
			appendStringInfoString(buf, "<tr data-check=\"");
			apes_html(buf, apes_checks[c].id);
			appendStringInfoString(buf, "\"><td class=\"text\"><code>");
			apes_html(buf, apes_checks[c].id);
			appendStringInfoString(buf, "</code></td><td class=\"text\">");
			apes_html(buf, apes_checks[c].area);
			appendStringInfo(buf, "</td><td>%d</td></tr>", t.by_check[c]);
		}
	if (any_check)
		appendStringInfoString(buf, "</tbody></table></div>");
	else
		appendStringInfoString(buf, "<p>No check found anything.</p>");
	appendStringInfoString(buf, "</section>\n<section id=\"findings\"><h2>Findings</h2>\n");

	foreach(lc, findings)
	{
		ApesFinding *f = lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		if (prev == NULL || prev->severity != f->severity || strcmp(prev->area, f->area) != 0)
		{
			if (omitted > 0)
				apes_report_more(buf, omitted, prev);
			if (prev != NULL)
				appendStringInfoString(buf, "</section>\n");
			appendStringInfo(buf, "<section class=\"group\"><h3 class=\"sev-%s\">%s: ",
							 apes_severity_name(f->severity), apes_severity_name(f->severity));
			apes_html(buf, f->area);
			appendStringInfoString(buf, "</h3>\n");
			shown = omitted = 0;
		}
		prev = f;
		if (apes_report_limit > 0 && shown >= apes_report_limit)
		{
			omitted++;
			continue;
		}
		shown++;
		tmp = apes_details_context();	/* the details and their rendering's scratch go with it */
		old = MemoryContextSwitchTo(tmp);
		apes_finding_details(f, false);
		apes_report_finding(buf, f);
		MemoryContextSwitchTo(old);
		MemoryContextDelete(tmp);
		apes_forget_details(f);
	}
	if (omitted > 0)
		apes_report_more(buf, omitted, prev);
	if (prev != NULL)
		appendStringInfoString(buf, "</section>\n");
	else
		appendStringInfoString(buf, "<p>No findings.</p>\n");
	if (t.acknowledged > 0)
	{
		appendStringInfo(buf, "<p class=\"more\">%d acknowledged finding%s not shown: <code>", t.acknowledged,
						 t.acknowledged == 1 ? "" : "s");
		apes_html(buf, "SELECT * FROM apes.findings() WHERE acknowledged; SELECT * FROM apes.acknowledgements;");
		appendStringInfoString(buf, "</code></p>\n");
	}
	appendStringInfoString(buf, "</section>\n");
}

/* A failure of a part of the report, said in its place. */
static void
apes_report_error(StringInfo buf, const char *what, ErrorData *edata)
{
	appendStringInfo(buf, "<p class=\"error\">%s could not be read: ", what);
	apes_html(buf, edata->message);
	appendStringInfo(buf, " (SQLSTATE %s).</p>\n", unpack_sql_state(edata->sqlerrcode));
}

/* The history part: what the period holds, the charts in a fixed order, the top statements. */
static void
apes_report_history(StringInfo buf, ApesHistory *h, ErrorData *series_error, ErrorData *stmt_error)
{
	int			id = 0;

	appendStringInfoString(buf, "<section id=\"history\"><h2>History</h2>\n<p class=\"period\">");
	appendStringInfo(buf, "From %s to ", apes_time(h->since, false));
	apes_html(buf, apes_time(h->until, true));
	appendStringInfoString(buf, ": ");
	if (series_error != NULL)
		appendStringInfoString(buf, "the history could not be read.");
	else if (h->nsnapshots == 0)
		appendStringInfoString(buf, h->any_snapshot ?
							   "no snapshot was taken in this period, so there is nothing to chart: choose another period (apes.report_html(since, until))." :
							   "no snapshot has been taken yet, so there is no history to chart: take snapshots with apes.snapshot(), or every 15 minutes with apes.schedule().");
	else
	{
		appendStringInfo(buf, INT64_FORMAT " snapshot%s, the first at ", h->nsnapshots, h->nsnapshots == 1 ? "" : "s");
		apes_html(buf, apes_time(h->first, false));
		appendStringInfoString(buf, ", the last at ");
		apes_html(buf, apes_time(h->last, false));
		appendStringInfoChar(buf, '.');
	}
	appendStringInfoString(buf, "</p>\n");
	if (series_error != NULL)
		apes_report_error(buf, "The history", series_error);

	appendStringInfoString(buf, "<div class=\"charts\">\n");
	for (int k = 0; k < APES_NCHART_SPECS; k++)
	{
		const ApesChartSpec *spec = &apes_chart_specs[k];
		bool		drawn = false;
		ListCell   *lc;

		foreach(lc, h->charts)
		{
			ApesChart  *c = lfirst(lc);

			if (c->spec == spec)
			{
				apes_draw_chart(buf, c, ++id, h->since, h->until);
				drawn = true;
			}
		}
		if (!drawn)
		{
			ApesChart	empty = {spec, false, NULL, NIL};

			apes_draw_chart(buf, &empty, ++id, h->since, h->until);
		}
	}
	appendStringInfoString(buf, "</div>\n</section>\n");

	appendStringInfoString(buf, "<section id=\"statements\"><h2>Top statements of the period</h2>\n");
	if (stmt_error != NULL)
	{
		appendStringInfoString(buf, "<p>No statement statistics for this period: ");
		apes_html(buf, stmt_error->message);
		if (stmt_error->hint)
		{
			appendStringInfoChar(buf, ' ');
			apes_html(buf, stmt_error->hint);
		}
		appendStringInfoString(buf, "</p>\n");
	}
	else if (h->statements == NIL)
		appendStringInfoString(buf, "<p>No statement ran in this period.</p>\n");
	else
	{
		ListCell   *lc;
		int			rank = 0;

		appendStringInfoString(buf, "<p class=\"meta\">Changes over the period (apes.query_stats()), by total "
							   "execution time; query texts as pg_stat_statements shows them to you.</p>"
							   "<div class=\"scroll\"><table><thead><tr><th>#</th><th class=\"text\">statement</th>"
							   "<th>calls</th><th>total</th><th>mean</th><th>stddev</th><th>rows/call</th>"
							   "<th>cache hits</th><th>temp written</th><th>WAL</th><th class=\"text\">notes</th>"
							   "</tr></thead><tbody>\n");
		foreach(lc, h->statements)
		{
			ApesStatementRow *r = lfirst(lc);
			char	   *query = r->query ? r->query : "text not recorded";
			int			len = strlen(query);

			CHECK_FOR_INTERRUPTS();
			appendStringInfo(buf, "<tr><td>%d</td><td class=\"text\"><span class=\"tag\">", ++rank);
			apes_html(buf, r->name);
			appendStringInfoString(buf, "</span><br/><code>");
			if (len > 300)
			{
				/* a long text is cut at a character boundary (apes.query_stats() has it whole) */
				int			cut = pg_mbcliplen(query, len, 300);
				char	   *part = pnstrdup(query, cut);

				apes_html(buf, part);
				appendStringInfoString(buf, " ...");
			}
			else
				apes_html(buf, query);
			appendStringInfo(buf, "</code></td><td>" INT64_FORMAT "</td><td>%s s</td><td>%s ms</td><td>%s ms</td>"
							 "<td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class=\"text\">",
							 r->calls, apes_num(r->total_ms / 1000, 2), apes_num_auto(r->mean_ms),
							 apes_num_auto(r->stddev_ms), apes_num_auto(r->rows_per_call),
							 isnan(r->hit_ratio) ? "-" : psprintf("%s%%", apes_num(100 * r->hit_ratio, 1)),
							 apes_bytes((double) r->temp_blks * BLCKSZ), apes_bytes(r->wal_bytes));
			apes_html(buf, r->basis);
			if (r->flags && r->flags[0])
			{
				appendStringInfoString(buf, ", ");
				apes_html(buf, r->flags);
			}
			appendStringInfoString(buf, "</td></tr>\n");
		}
		appendStringInfoString(buf, "</tbody></table></div>\n");
	}
	appendStringInfoString(buf, "</section>\n");
}

PG_FUNCTION_INFO_V1(apes_report_html);

/*
 * apes.report_html(since DEFAULT now() - 1 day, until DEFAULT now()): the report as one self-contained HTML
 * document.  NULL until is now, NULL since a day before until; since '-infinity' is the oldest snapshot; until
 * 'infinity' is now.  since after until is an error (22023).
 */
Datum
apes_report_html(PG_FUNCTION_ARGS)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	ApesHistory h = {0};
	ApesCatalog *cat;
	List	   *findings;
	StringInfoData buf;
	ErrorData  *series_error = NULL;
	ErrorData  *stmt_error = NULL;
	char	   *dbname = get_database_name(MyDatabaseId);

	h.until = PG_ARGISNULL(1) ? now : PG_GETARG_TIMESTAMPTZ(1);
	if (TIMESTAMP_IS_NOEND(h.until))
		h.until = now;
	if (TIMESTAMP_IS_NOBEGIN(h.until))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("until must not be -infinity")));
	h.since = PG_ARGISNULL(0) ? h.until - USECS_PER_DAY : PG_GETARG_TIMESTAMPTZ(0);
	if (TIMESTAMP_IS_NOEND(h.since) || h.since > h.until)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("since must not be after until"),
				 errhint("The period is [since, until]; the defaults are the last day.")));
	if (TIMESTAMP_IS_NOBEGIN(h.since))
	{
		/* from the oldest snapshot (a day before until when there is none) */
		int			ret;
		bool		isnull;
		Datum		d;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		ret = SPI_execute("SELECT pg_catalog.min(s.taken_at) FROM apes.snapshot s", true, 1);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "reading apes.snapshot failed: %s", SPI_result_code_string(ret));
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		h.since = isnull ? h.until - USECS_PER_DAY : Min(DatumGetTimestampTz(d), h.until);
		SPI_finish();
	}
	h.cxt = CurrentMemoryContext;

	findings = apes_collect_all(&cat, apes_report_limit);
	if (!apes_run_guarded(apes_read_history, &h, &series_error))
		h.charts = NIL;			/* what was read before the error is partial */
	if (series_error == NULL && h.nsnapshots > 0 && !apes_run_guarded(apes_read_statements, &h, &stmt_error))
		h.statements = NIL;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
						   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
						   "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
						   "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\"/>\n");
	appendStringInfo(&buf, "<meta name=\"generator\" content=\"pg_apes_health %s\"/>\n<title>Health report: ", APES_VERSION);
	apes_html(&buf, dbname);
	appendStringInfo(&buf, "</title>\n<style>%s</style>\n</head>\n<body>\n<main>\n<header><h1>Health report: ",
					 apes_report_css);
	apes_html(&buf, dbname);
	appendStringInfo(&buf, "</h1><p class=\"meta\">pg_apes_health %s, generated ", APES_VERSION);
	apes_html(&buf, apes_time(now, true));
	appendStringInfoString(&buf, "; history from ");
	apes_html(&buf, apes_time(h.since, false));
	appendStringInfoString(&buf, " to ");
	apes_html(&buf, apes_time(h.until, true));
	appendStringInfoString(&buf, "</p></header>\n");

	apes_report_findings(&buf, findings);
	apes_catalog_free(cat);
	apes_report_history(&buf, &h, series_error, stmt_error);

	appendStringInfo(&buf, "<footer>pg_apes_health %s. This page is self-contained: it loads no script, font, image "
					 "or style from anywhere.</footer>\n</main>\n</body>\n</html>\n", APES_VERSION);
	PG_RETURN_TEXT_P(cstring_to_text(buf.data));
}
