/*
 * findings.c: the one findings model every area reports through, and its three renderings:
 *
 *   apes.findings(area)    one row per finding
 *   apes.health_report()   text for people: a verdict, then findings by severity and area, largest first
 *   apes.health_json()     the same as one jsonb document, for tools
 *
 * The catalog is loaded once per call (catalog.c) and handed to each area's collector; the rows are then ordered:
 * severity, area, wasted bytes (largest first), object name, check id.
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "commands/dbcommands.h"
#include "catalog/pg_type.h"
#include "access/xact.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "apes.h"
#include "catalog.h"

/*
 * An area: its name, its collector, and whether it reads the catalog pass and the cumulative statistics (a report of
 * areas that do not skips both).  Its checks are the registry's lines of that area (checks.h).
 */
typedef struct ApesArea
{
	const char *name;
	ApesCollector collect;
	bool		needs_catalog;
} ApesArea;

static const ApesArea apes_areas[] = {
	{"index", apes_collect_index_findings, true},
	{"bloat", apes_collect_bloat_findings, true},
	{"query", apes_collect_query_findings, true},
	{"pool", apes_collect_pool_findings, false},
	{"server", apes_collect_server_findings, false},
	{"maintenance", apes_collect_maintenance_findings, true},
};

#define APES_NAREAS lengthof(apes_areas)

static const char *const severity_names[] = {"critical", "warning", "info"};
static const char *const confidence_names[] = {"high", "medium", "low"};

/* The index of name in a table of three level names, or -1. */
static int
apes_level_index(const char *const *names, const char *name)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

/* The severity named ("critical", "warning", "info"), or -1. */
int
apes_severity_by_name(const char *name)
{
	return apes_level_index(severity_names, name);
}

/* The confidence named ("high", "medium", "low"), or -1. */
int
apes_confidence_by_name(const char *name)
{
	return apes_level_index(confidence_names, name);
}

/* The name of a severity. */
const char *
apes_severity_name(ApesSeverity s)
{
	return severity_names[s];
}

/* The name of a confidence level. */
const char *
apes_confidence_name(ApesConfidence c)
{
	return confidence_names[c];
}

/* A new finding of a registered check, with high confidence and no size, summary, evidence or DDL yet. */
ApesFinding *
apes_new_finding(ApesCheckId check, ApesSeverity severity, const char *object_name)
{
	ApesFinding *f = palloc0(sizeof(ApesFinding));

	Assert(check >= 0 && check < APES_NCHECKS);
	f->check = check;
	f->check_id = apes_checks[check].id;
	f->area = apes_checks[check].area;
	f->severity = severity;
	f->object_name = pstrdup(object_name);
	f->wasted_bytes = -1;
	f->confidence = APES_HIGH;
	return f;
}

/* Fill in what a finding left for later (see ApesFinding.details), once; bulk for renderings of every finding. */
void
apes_finding_details(ApesFinding *f, bool bulk)
{
	void		(*details) (ApesFinding *f, bool bulk) = f->details;

	if (details == NULL)
		return;
	f->details = NULL;
	details(f, bulk);
}

/* "index, ..." : the valid area names, for error hints. */
static char *
apes_area_list(void)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < APES_NAREAS; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "", apes_areas[i].name);
	return buf.data;
}

/* The index of the area named in the areas table (apes_area_name() names it back), or -1. */
int
apes_area_index(const char *name)
{
	for (int i = 0; i < APES_NAREAS; i++)
		if (strcmp(apes_areas[i].name, name) == 0)
			return i;
	return -1;
}

/* The area named, or an error (22023) whose hint lists the valid ones; NULL means every area. */
static const ApesArea *
apes_lookup_area(const char *name)
{
	int			i;

	if (name == NULL)
		return NULL;
	if ((i = apes_area_index(name)) >= 0)
		return &apes_areas[i];
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown area \"%s\"", name),
			 errhint("Valid areas are: %s; NULL means all of them.", apes_area_list())));
	return NULL;				/* keep compiler quiet */
}

/* Report order: severity, area, wasted bytes (largest first, none last), object name, check id. */
static int
apes_finding_cmp(const ListCell *a, const ListCell *b)
{
	const ApesFinding *x = lfirst(a);
	const ApesFinding *y = lfirst(b);
	int			c;

	if (x->severity != y->severity)
		return x->severity < y->severity ? -1 : 1;
	if ((c = strcmp(x->area, y->area)) != 0)
		return c;
	if (x->wasted_bytes != y->wasted_bytes)
		return x->wasted_bytes > y->wasted_bytes ? -1 : 1;
	if ((c = strcmp(x->object_name, y->object_name)) != 0)
		return c;
	return strcmp(x->check_id, y->check_id);
}

/* True for the errors a check must never turn into a finding: cancels, timeouts, shutdowns (class 57), and lack of
 * resources (class 53). */
bool
apes_error_ends_call(int sqlerrcode)
{
	return ERRCODE_TO_CATEGORY(sqlerrcode) == ERRCODE_OPERATOR_INTERVENTION ||
		ERRCODE_TO_CATEGORY(sqlerrcode) == ERRCODE_INSUFFICIENT_RESOURCES;
}

/*
 * Run fn(arg) inside a subtransaction, committed when fn finished (keep) or rolled back either way.  True when it
 * finished; false, with *error set (a copy in the caller's memory context), when it raised an error a report turns
 * into a finding; an error that must end the call (apes_error_ends_call()) is raised again once the subtransaction is
 * rolled back.  What fn allocated in the caller's memory context survives either way; fn may switch to a context of
 * its own.
 */
static bool
apes_run_sub(void (*fn) (void *arg), void *arg, ErrorData **error, bool keep)
{
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

	*error = NULL;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller);
	PG_TRY();
	{
		fn(arg);
		if (keep)
			ReleaseCurrentSubTransaction();
		else
			RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = owner;
		if (apes_error_ends_call(edata->sqlerrcode))
			ReThrowError(edata);
		*error = edata;
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/* Run fn(arg) in a subtransaction that is committed when it finishes (its locks then pass to the caller's). */
bool
apes_run_guarded(void (*fn) (void *arg), void *arg, ErrorData **error)
{
	return apes_run_sub(fn, arg, error, true);
}

/*
 * Run fn(arg) in a subtransaction that is rolled back even when it finishes: the locks it took are released at once
 * (a committed subtransaction hands them to its parent, which keeps them to its end).  For work that writes nothing
 * and keeps its results in the caller's memory.
 */
bool
apes_run_released(void (*fn) (void *arg), void *arg, ErrorData **error)
{
	return apes_run_sub(fn, arg, error, false);
}

/* One area's collector with its catalog and output list, for apes_run_guarded(). */
typedef struct ApesAreaRun
{
	const ApesArea *area;
	ApesCatalog *cat;
	List	   *found;
} ApesAreaRun;

/* Run an area's collector (an apes_run_guarded() callback). */
static void
apes_run_area(void *arg)
{
	ApesAreaRun *run = (ApesAreaRun *) arg;

	run->area->collect(run->cat, &run->found);
}

/*
 * Run one area's collector inside a subtransaction and append its findings to *out: an unexpected error in one area
 * becomes an area_failed finding about it (with the error, which also goes to the server log), and the other areas
 * are still reported.  Findings the area made before failing are dropped: the area's verdict would be partial.
 */
static void
apes_collect_area(const ApesArea *area, ApesCatalog *cat, List **out)
{
	ApesAreaRun run = {area, cat, NIL};
	ErrorData  *edata;
	ApesFinding *f;
	ApesJson	ev;

	if (apes_run_guarded(apes_run_area, &run, &edata))
	{
		*out = list_concat(*out, run.found);
		return;
	}
	f = apes_new_finding(APES_CHECK_area_failed, APES_CRITICAL, psprintf("(area %s)", area->name));
	f->area = area->name;
	f->summary = psprintf("the %s checks failed: %s (SQLSTATE %s); the other areas are reported, and the error is in the server log",
						  area->name, edata->message, unpack_sql_state(edata->sqlerrcode));
	apes_json_begin(&ev);
	apes_json_text(&ev, "sqlstate", unpack_sql_state(edata->sqlerrcode));
	apes_json_text(&ev, "message", edata->message);
	apes_json_text(&ev, "detail", edata->detail);
	apes_json_text(&ev, "context", edata->context);
	f->evidence = apes_json_end(&ev);
	/* the error itself goes to the server log, with its context, as LOG */
	edata->elevel = LOG;
	ThrowErrorData(edata);
	FreeErrorData(edata);
	*out = lappend(*out, f);
}

/*
 * Every finding of one area (or of all when area is NULL), in report order; the caller frees *catp when done.
 * shown_limit: how many findings per severity and area the caller shows (0: all of them).
 */
static List *
apes_collect(const ApesArea *area, ApesCatalog **catp, int shown_limit)
{
	bool		need_catalog = area == NULL || area->needs_catalog;
	int			stats = need_catalog ? apes_stats_begin() : -1;
	ApesCatalog *cat = need_catalog ? apes_catalog_load() : apes_catalog_empty();
	List	   *out = NIL;

	cat->shown_limit = shown_limit;

	for (int i = 0; i < APES_NAREAS; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (area == NULL || area == &apes_areas[i])
			apes_collect_area(&apes_areas[i], cat, &out);
	}
	apes_stats_end(stats);
	list_sort(out, apes_finding_cmp);
	apes_mark_acknowledged(out);
	*catp = cat;
	return out;
}

/*
 * Every finding of every area, in report order, for a rendering that shows shown_limit findings per severity and
 * area (0: all); the caller frees *catp when done.
 */
List *
apes_collect_all(ApesCatalog **catp, int shown_limit)
{
	return apes_collect(NULL, catp, shown_limit);
}

/* How many areas there are (apes_area_name() names each). */
int
apes_area_count(void)
{
	return APES_NAREAS;
}

/* The name of area i, 0 <= i < apes_area_count(), in the order reports list them. */
const char *
apes_area_name(int i)
{
	Assert(i >= 0 && i < APES_NAREAS);
	return apes_areas[i].name;
}

/* The key of a finding for apes.findings_new(): check id, severity and object, separated by a unit separator. */
static char *
apes_finding_key(const char *check_id, const char *severity, const char *object_name)
{
	return psprintf("%s\x1f%s\x1f%s", check_id, severity, object_name);
}

/*
 * Put findings into the result, each with its details, which live (with the row's datums) only until the row is in
 * the tuplestore, and are cleared from the finding then.  When known (sorted keys) is given, a finding whose key is
 * among them comes without details: summary '', no evidence, no DDL.  The details are asked for in bulk: one call
 * over 100,000 findings must not leave what they loaded in the session's caches.
 */
static void
apes_put_findings(ReturnSetInfo *rsinfo, List *findings, char **known, int nknown)
{
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext, "apes finding row", ALLOCSET_DEFAULT_SIZES);
	ListCell   *lc;

	foreach(lc, findings)
	{
		ApesFinding *f = lfirst(lc);
		Datum		values[11];
		bool		nulls[11] = {0};
		int			i = 0;
		bool		details = true;
		MemoryContext old = MemoryContextSwitchTo(rowcxt);

		CHECK_FOR_INTERRUPTS();
		if (known != NULL)
		{
			char	   *key = apes_finding_key(f->check_id, apes_severity_name(f->severity), f->object_name);

			details = bsearch(&key, known, nknown, sizeof(char *), pg_qsort_strcmp) == NULL;
		}
		if (details)
			apes_finding_details(f, true);
		values[i++] = CStringGetTextDatum(f->check_id);
		values[i++] = CStringGetTextDatum(f->area);
		values[i++] = CStringGetTextDatum(apes_severity_name(f->severity));
		values[i++] = CStringGetTextDatum(f->object_name);
		values[i++] = CStringGetTextDatum(details && f->summary ? f->summary : "");
		nulls[i] = f->wasted_bytes < 0;
		values[i++] = Int64GetDatum(f->wasted_bytes);
		values[i++] = CStringGetTextDatum(apes_confidence_name(f->confidence));
		nulls[i] = !details || f->evidence == NULL;
		values[i] = nulls[i] ? (Datum) 0 : PointerGetDatum(f->evidence);
		i++;
		nulls[i] = !details || f->fix_sql == NULL;
		values[i] = nulls[i] ? (Datum) 0 : CStringGetTextDatum(f->fix_sql);
		i++;
		nulls[i] = !details || f->undo_sql == NULL;
		values[i] = nulls[i] ? (Datum) 0 : CStringGetTextDatum(f->undo_sql);
		i++;
		values[i++] = BoolGetDatum(f->acknowledged);	/* an 11th column: 0.6.0's apes.findings() */
		Assert(i == 11);
		MemoryContextSwitchTo(old);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextReset(rowcxt);
		if (details && f->details_arg != NULL)
		{
			/* what details() put in the row's memory is gone: nothing may point at it */
			f->summary = f->fix_sql = f->undo_sql = NULL;
			f->evidence = NULL;
		}
	}
	MemoryContextDelete(rowcxt);
}

/* Set up a 10-column result like apes.findings()'s, or an error naming the function. */
static void
apes_findings_result(FunctionCallInfo fcinfo, const char *fname)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	apes_init_materialized_srf(fcinfo);
	/* 10 columns before 0.6.0 (and apes.findings_new()), 11 with acknowledged since */
	if (rsinfo->setDesc->natts != 10 && rsinfo->setDesc->natts != 11)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s must return 10 or 11 columns, not %d", fname, rsinfo->setDesc->natts)));
}

PG_FUNCTION_INFO_V1(apes_findings);

/* apes.findings(area text DEFAULT NULL): one row per finding. */
Datum
apes_findings(PG_FUNCTION_ARGS)
{
	const ApesArea *area = apes_lookup_area(PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0)));
	ApesCatalog *cat;
	List	   *findings;

	apes_findings_result(fcinfo, "apes.findings()");
	findings = apes_collect(area, &cat, 0);
	apes_put_findings((ReturnSetInfo *) fcinfo->resultinfo, findings, NULL, 0);
	apes_catalog_free(cat);
	return (Datum) 0;
}

/* The text elements of a one-dimensional text[] argument (NULL elements as ''); *n gets their number. */
static char **
apes_text_array_arg(FunctionCallInfo fcinfo, int argno, int *n)
{
	Datum	   *elems;
	bool	   *elemnulls;
	char	  **out;

	if (PG_ARGISNULL(argno))
	{
		*n = 0;
		return NULL;
	}
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(argno), TEXTOID, -1, false, TYPALIGN_INT, &elems, &elemnulls, n);
	out = palloc(sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
		out[i] = elemnulls[i] ? "" : TextDatumGetCString(elems[i]);
	return out;
}

PG_FUNCTION_INFO_V1(apes_findings_new);

/*
 * apes.findings_new(known_check_ids text[], known_severities text[], known_object_names text[]): every finding, as
 * apes.findings() returns it, but with details (summary, evidence, DDL) only for the findings whose key is not among
 * the known ones (element i of each array makes one key; NULL arrays: none known).  One collection serves a
 * snapshot: the keys of all findings, and the evidence of the new ones, from the same moment.  Arrays of different
 * lengths are an error (22023).
 */
Datum
apes_findings_new(PG_FUNCTION_ARGS)
{
	int			nchecks;
	int			nsev;
	int			nobj;
	char	  **checks = apes_text_array_arg(fcinfo, 0, &nchecks);
	char	  **sevs = apes_text_array_arg(fcinfo, 1, &nsev);
	char	  **objs = apes_text_array_arg(fcinfo, 2, &nobj);
	char	  **known;
	ApesCatalog *cat;
	List	   *findings;

	if (nchecks != nsev || nchecks != nobj)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("known_check_ids, known_severities and known_object_names must have the same number of elements"),
				 errdetail("They have %d, %d and %d.", nchecks, nsev, nobj)));
	apes_findings_result(fcinfo, "apes.findings_new()");
	known = palloc(sizeof(char *) * Max(nchecks, 1));
	for (int i = 0; i < nchecks; i++)
		known[i] = apes_finding_key(checks[i], sevs[i], objs[i]);
	qsort(known, nchecks, sizeof(char *), pg_qsort_strcmp);
	findings = apes_collect(NULL, &cat, 0);
	apes_put_findings((ReturnSetInfo *) fcinfo->resultinfo, findings, known, nchecks);
	apes_catalog_free(cat);
	return (Datum) 0;
}

/* The findings without the acknowledged ones (the list the reports render; apes_totals() counts those left out). */
List *
apes_unacknowledged(List *findings)
{
	List	   *out = NIL;
	ListCell   *lc;

	foreach(lc, findings)
	{
		ApesFinding *f = lfirst(lc);

		if (!f->acknowledged)
			out = lappend(out, f);
	}
	return out;
}

/*
 * Count findings by severity and by check and add up what they would reclaim, the acknowledged ones apart (and only
 * there).
 */
ApesTotals
apes_totals(List *findings)
{
	ApesTotals	t = {0};
	ListCell   *lc;

	foreach(lc, findings)
	{
		ApesFinding *f = lfirst(lc);

		if (f->acknowledged)
		{
			t.acknowledged++;
			continue;
		}
		t.by_severity[f->severity]++;
		t.by_check[f->check]++;
		t.total++;
		if (f->wasted_bytes > 0)
			t.wasted_bytes += f->wasted_bytes;
	}
	return t;
}

/* "critical", "warning" or "ok": the worst severity found (info alone is ok). */
const char *
apes_status(ApesTotals *t)
{
	if (t->by_severity[APES_CRITICAL] > 0)
		return "critical";
	if (t->by_severity[APES_WARNING] > 0)
		return "warning";
	return "ok";
}

/* Bytes through the server's pg_size_pretty(). */
char *
apes_size_pretty(int64 bytes)
{
	return text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty, Int64GetDatum(bytes))));
}

/*
 * Append label and text (SQL) as one line, or several with the continuation lines indented under the text's start:
 * a newline inside a quoted identifier never starts a line at the label's column.
 */
static void
apes_append_indented(StringInfo buf, const char *label, const char *text)
{
	int			indent = strlen(label);

	appendStringInfoString(buf, label);
	for (const char *p = text; *p; p++)
	{
		appendStringInfoChar(buf, *p);
		if (*p == '\n')
			appendStringInfoSpaces(buf, indent);
	}
	appendStringInfoChar(buf, '\n');
}

/*
 * Append text for a person on one line: control characters (a newline in an identifier, say) are shown escaped
 * (\n, \r, \t, \xNN), so that no name or summary can start a line of its own, such as a "fix:" line.
 */
static void
apes_append_one_line(StringInfo buf, const char *text)
{
	for (const unsigned char *p = (const unsigned char *) text; *p; p++)
	{
		if (*p == '\n')
			appendStringInfoString(buf, "\\n");
		else if (*p == '\r')
			appendStringInfoString(buf, "\\r");
		else if (*p == '\t')
			appendStringInfoString(buf, "\\t");
		else if (*p < 0x20 || *p == 0x7f)
			appendStringInfo(buf, "\\x%02x", *p);
		else
			appendStringInfoChar(buf, (char) *p);
	}
}

/* The one-line verdict every report starts with. */
char *
apes_verdict(ApesTotals *t)
{
	char	   *acked = t->acknowledged == 0 ? "" :
		psprintf("; %d acknowledged finding%s not counted", t->acknowledged, t->acknowledged == 1 ? "" : "s");

	if (t->total == 0)
		return psprintf("OK: no findings%s", acked);
	return psprintf("%s: %d finding%s (%d critical, %d warning, %d info); %s could be reclaimed%s",
					t->by_severity[APES_CRITICAL] > 0 ? "CRITICAL" :
					t->by_severity[APES_WARNING] > 0 ? "WARNING" : "OK",
					t->total, t->total == 1 ? "" : "s",
					t->by_severity[APES_CRITICAL], t->by_severity[APES_WARNING], t->by_severity[APES_INFO],
					apes_size_pretty(t->wasted_bytes), acked);
}

/*
 * Run a shown finding's details in a memory context of their own, made for it by the caller: what the details and
 * their rendering allocate (deparsed DDL, the jsonb builder's scratch, some 14 kB a finding) goes when the caller
 * deletes the context, not at the end of the call; the finding's detail fields are cleared then.
 */
MemoryContext
apes_details_context(void)
{
	return AllocSetContextCreate(CurrentMemoryContext, "apes finding details", ALLOCSET_SMALL_SIZES);
}

/* Forget a finding's details once their memory context is gone. */
void
apes_forget_details(ApesFinding *f)
{
	f->summary = f->fix_sql = f->undo_sql = NULL;
	f->evidence = NULL;
}

PG_FUNCTION_INFO_V1(apes_health_report);

/* apes.health_report(): the verdict, then findings grouped by severity and area, the largest first. */
Datum
apes_health_report(PG_FUNCTION_ARGS)
{
	ApesCatalog *cat;
	List	   *all = apes_collect(NULL, &cat, apes_report_limit);
	ApesTotals	t = apes_totals(all);
	List	   *findings = apes_unacknowledged(all);
	StringInfoData buf;
	ListCell   *lc;
	ApesFinding *prev = NULL;
	int			shown = 0;
	int			omitted = 0;
	MemoryContext tmp;
	MemoryContext old;

	initStringInfo(&buf);
	appendStringInfo(&buf, "pg_apes_health %s: database ", APES_VERSION);
	apes_append_one_line(&buf, quote_identifier(get_database_name(MyDatabaseId)));
	appendStringInfo(&buf, "\n%s\n", apes_verdict(&t));

	foreach(lc, findings)
	{
		ApesFinding *f = lfirst(lc);
		bool		new_group = prev == NULL || prev->severity != f->severity || strcmp(prev->area, f->area) != 0;

		CHECK_FOR_INTERRUPTS();
		if (new_group)
		{
			if (omitted > 0)
				appendStringInfo(&buf, "  ... and %d more: SELECT * FROM apes.findings('%s') WHERE severity = '%s';\n",
								 omitted, prev->area, apes_severity_name(prev->severity));
			appendStringInfo(&buf, "\n== %s: %s ==\n", apes_severity_name(f->severity), f->area);
			shown = omitted = 0;
		}
		prev = f;
		if (apes_report_limit > 0 && shown >= apes_report_limit)
		{
			omitted++;
			continue;
		}
		shown++;
		tmp = apes_details_context();
		old = MemoryContextSwitchTo(tmp);
		apes_finding_details(f, false);	/* and the rendering's scratch (sizes, lines) in tmp too */
		appendStringInfo(&buf, "* [%s] ", f->check_id);
		apes_append_one_line(&buf, f->object_name);
		if (f->wasted_bytes >= 0)
			appendStringInfo(&buf, " (%s)", apes_size_pretty(f->wasted_bytes));
		if (f->confidence != APES_HIGH)
			appendStringInfo(&buf, " [confidence: %s]", apes_confidence_name(f->confidence));
		appendStringInfoString(&buf, "\n    ");
		apes_append_one_line(&buf, f->summary ? f->summary : "");
		appendStringInfoChar(&buf, '\n');
		if (f->fix_sql != NULL)
			apes_append_indented(&buf, "    fix:  ", f->fix_sql);
		if (f->undo_sql != NULL)
			apes_append_indented(&buf, "    undo: ", f->undo_sql);
		MemoryContextSwitchTo(old);
		MemoryContextDelete(tmp);
		apes_forget_details(f);
	}
	if (omitted > 0)
		appendStringInfo(&buf, "  ... and %d more: SELECT * FROM apes.findings('%s') WHERE severity = '%s';\n",
						 omitted, prev->area, apes_severity_name(prev->severity));
	if (t.acknowledged > 0)
		appendStringInfo(&buf, "\n%d acknowledged finding%s not shown: SELECT * FROM apes.findings() WHERE acknowledged; SELECT * FROM apes.acknowledgements;\n",
						 t.acknowledged, t.acknowledged == 1 ? "" : "s");
	apes_catalog_free(cat);
	PG_RETURN_TEXT_P(cstring_to_text(buf.data));
}

/* The fields of one finding, pushed into the object j has open. */
static void
apes_json_finding_fields(ApesJson *j, ApesFinding *f)
{
	apes_json_text(j, "check_id", f->check_id);
	apes_json_text(j, "area", f->area);
	apes_json_text(j, "severity", apes_severity_name(f->severity));
	apes_json_text(j, "object_name", f->object_name);
	apes_json_text(j, "summary", f->summary);
	if (f->wasted_bytes >= 0)
		apes_json_int(j, "wasted_bytes", f->wasted_bytes);
	else
		apes_json_null(j, "wasted_bytes");
	apes_json_text(j, "confidence", apes_confidence_name(f->confidence));
	apes_json_jsonb(j, "evidence", f->evidence);
	apes_json_text(j, "fix_sql", f->fix_sql);
	apes_json_text(j, "undo_sql", f->undo_sql);
}

/*
 * One shown finding as an element of the findings array: its details and its object are built in a context of their
 * own and only the finished jsonb is kept (its copy in the caller's context, which the document points into).
 */
static void
apes_json_finding(ApesJson *j, ApesFinding *f)
{
	MemoryContext tmp = apes_details_context();
	MemoryContext old = MemoryContextSwitchTo(tmp);
	ApesJson	one;
	Jsonb	   *built;
	Jsonb	   *kept;

	apes_finding_details(f, false);
	apes_json_begin(&one);
	apes_json_finding_fields(&one, f);
	built = apes_json_end(&one);
	MemoryContextSwitchTo(old);
	kept = palloc(VARSIZE(built));
	memcpy(kept, built, VARSIZE(built));
	MemoryContextDelete(tmp);
	apes_forget_details(f);
	apes_json_jsonb(j, NULL, kept);
}

PG_FUNCTION_INFO_V1(apes_health_json);

/* apes.health_json(): the report as one jsonb document. */
Datum
apes_health_json(PG_FUNCTION_ARGS)
{
	ApesCatalog *cat;
	List	   *all = apes_collect(NULL, &cat, apes_report_limit);
	ApesTotals	t = apes_totals(all);
	List	   *findings = apes_unacknowledged(all);
	ApesJson	j;
	Jsonb	   *result;
	ListCell   *lc;
	ApesFinding *prev = NULL;
	int			shown = 0;
	int			omitted = 0;

	apes_json_begin(&j);
	apes_json_text(&j, "version", APES_VERSION);
	apes_json_text(&j, "database", get_database_name(MyDatabaseId));
	apes_json_text(&j, "generated_at", timestamptz_to_str(cat->now));
	apes_json_text(&j, "status", apes_status(&t));
	apes_json_text(&j, "verdict", apes_verdict(&t));
	apes_json_begin_object(&j, "counts");
	for (int s = 0; s < APES_NSEVERITIES; s++)
		apes_json_int(&j, severity_names[s], t.by_severity[s]);
	apes_json_int(&j, "total", t.total);
	apes_json_int(&j, "acknowledged", t.acknowledged);
	apes_json_end_object(&j);
	apes_json_int(&j, "wasted_bytes", t.wasted_bytes);
	apes_json_begin_object(&j, "checks");
	for (int c = 0; c < APES_NCHECKS; c++)
		apes_json_int(&j, apes_checks[c].id, t.by_check[c]);
	apes_json_end_object(&j);
	apes_json_text(&j, "stats_since", timestamptz_to_str(cat->stats_since));

	apes_json_begin_array(&j, "findings");
	foreach(lc, findings)
	{
		ApesFinding *f = lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		if (prev == NULL || prev->severity != f->severity || strcmp(prev->area, f->area) != 0)
			shown = 0;
		prev = f;
		if (apes_report_limit > 0 && shown >= apes_report_limit)
		{
			omitted++;
			continue;
		}
		shown++;
		apes_json_finding(&j, f);
	}
	apes_json_end_array(&j);
	apes_json_int(&j, "omitted", omitted);
	result = apes_json_end(&j);
	apes_catalog_free(cat);
	PG_RETURN_JSONB_P(result);
}
