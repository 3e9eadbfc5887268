/*
 * bloat_findings.c: the 'bloat' area of apes.findings(): table_bloat, toast_bloat and index_bloat, plus what
 * vacuum_health.c reports (the held horizon, wraparound).
 *
 * Cheap first, then measured: every table and btree index at least pg_apes_health.bloat_min_size big is estimated
 * from the catalogs (bloat_estimate.c) and ranked by what it might waste (the estimate, or the dead-tuple share the
 * cumulative statistics count, whichever is larger).  The largest candidates are then measured on a sample of their
 * pages, one after the other, until pg_apes_health.bloat_time_budget is spent; a relation whose lock is not free at
 * once is not waited for.  What was not measured is reported from a reliable estimate with low confidence, and a
 * bloat_measurement_incomplete finding says how far measuring got.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_am.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "apes.h"
#include "bloat.h"
#include "catalog.h"

#define APES_FINDING_SAMPLE_PAGES 400	/* per relation measured for a report: about +-3 points */
#define APES_BLOAT_WARNING_PCT 50.0
#define APES_BLOAT_WARNING_BYTES (INT64CONST(10) * 1024 * 1024 * 1024)

/* A relation that may be bloated: its estimate, its rank, and what measuring it gave. */
typedef struct BloatCandidate
{
	ApesRel    *rel;			/* table or index */
	ApesBloatEstimate est;		/* heap or index */
	ApesBloatEstimate toast;	/* tables: their TOAST table (relid invalid when none) */
	double		score;			/* bytes it might waste: the order of measuring */
	bool		measured;
	bool		skipped;		/* gone or not measurable: no finding at all */
	char	   *corrupt;		/* the error a damaged page raised while measuring, else NULL */
	char	   *failed;			/* any other error measuring raised, else NULL */
	int			failed_code;	/* its SQLSTATE */
	bool		toast_late;		/* measured, but the budget ran out before its TOAST table */
	ApesBloatMeasure m;
	ApesBloatMeasure mtoast;
} BloatCandidate;

/*
 * Might this relation be as big as bloat_min_size?  A report must not stat() the files of tens of thousands of
 * relations, so the catalog's relpages (what VACUUM, ANALYZE or CREATE INDEX last saw) decides first, with half the
 * minimum as margin; a table never vacuumed nor analyzed counts when the cumulative statistics saw rows in it
 * (table->bloat_active, set once per table).
 */
static bool
apes_might_be_big(ApesRel *r, ApesRel *table)
{
	return (int64) Max(r->relpages, 0) * BLCKSZ >= (int64) apes_bloat_min_size_kb * 1024 / 2 || table->bloat_active;
}

/* A table never vacuumed nor analyzed in which the cumulative statistics saw rows: relpages says nothing of it. */
static bool
apes_unknown_but_used(ApesRel *table)
{
	PgStat_StatTabEntry *tab;

	if (table->relpages > 0 && table->reltuples >= 0)
		return false;
	tab = apes_fetch_tabentry(table->oid);
	return tab != NULL && apes_live_tuples(tab) + apes_dead_tuples(tab) > 0;
}

/*
 * Mark the relations big enough to waste the reportable minimum (ApesRel.bloat_candidate): tables (with their TOAST
 * tables) first, then valid btree indexes, which use their tables' marks.  Returns how many.
 */
static int
apes_mark_candidates(ApesCatalog *cat)
{
	int64		min_bytes = (int64) apes_bloat_min_size_kb * 1024;
	int			n = 0;

	for (int i = 0; i < cat->nrels; i++)
	{
		ApesRel    *r = cat->relarray[i];

		CHECK_FOR_INTERRUPTS();
		if (r->relkind != RELKIND_RELATION && r->relkind != RELKIND_MATVIEW)
			continue;
		r->bloat_active = apes_unknown_but_used(r);
		r->bloat_candidate = (apes_might_be_big(r, r) && apes_rel_bytes(r) >= min_bytes) ||
			(r->toast != NULL && apes_might_be_big(r->toast, r) && apes_rel_bytes(r->toast) >= min_bytes);
		n += r->bloat_candidate;
	}
	for (int i = 0; i < cat->nrels; i++)
	{
		ApesRel    *r = cat->relarray[i];

		CHECK_FOR_INTERRUPTS();
		if (r->relkind != RELKIND_INDEX || r->relam != BTREE_AM_OID || r->index == NULL || !r->index->valid)
			continue;
		r->bloat_candidate = apes_might_be_big(r, r->index->table) && apes_rel_bytes(r) >= min_bytes;
		if (r->bloat_candidate)
		{
			r->index->table->bloat_columns = true;	/* an index's widths come from its table's statistics */
			n++;
		}
	}
	return n;
}

/* Columns are loaded for candidates and for the tables of candidate indexes. */
static bool
apes_bloat_columns_wanted(ApesRel *r)
{
	return r->bloat_candidate || r->bloat_columns;
}

/* Bytes the cumulative statistics' dead-tuple count suggests a table wastes (0 when it has no counts). */
static double
apes_dead_share_bytes(ApesRel *r, int64 bytes)
{
	PgStat_StatTabEntry *tab = apes_fetch_tabentry(r->oid);
	double		live;
	double		dead;

	if (tab == NULL)
		return 0;
	live = apes_live_tuples(tab);
	dead = apes_dead_tuples(tab);
	return live + dead > 0 ? bytes * dead / (live + dead) : 0;
}

/* Largest possible waste first. */
static int
apes_candidate_cmp(const void *a, const void *b)
{
	const BloatCandidate *x = a;
	const BloatCandidate *y = b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->rel->oid < y->rel->oid ? -1 : x->rel->oid > y->rel->oid;
}

/* A relation's estimated waste, for ranking: the estimate when it has one, else a quarter of its size. */
static double
apes_estimate_score(ApesBloatEstimate *e)
{
	if (e->relid == InvalidOid)
		return 0;
	if (e->wasted_bytes >= 0 && (e->flags & (APES_EST_NO_STATS | APES_EST_HIDDEN | APES_EST_STALE)) == 0)
		return e->wasted_bytes;
	return e->bytes / 4.0;
}

/* Build, estimate and rank the candidates. */
static BloatCandidate *
apes_bloat_candidates(ApesCatalog *cat, int *ncand)
{
	BloatCandidate *cands = palloc0(sizeof(BloatCandidate) * Max(apes_mark_candidates(cat), 1));
	int			n = 0;

	apes_catalog_load_columns(cat, apes_bloat_columns_wanted);
	for (int i = 0; i < cat->nrels; i++)
	{
		ApesRel    *r = cat->relarray[i];
		BloatCandidate *c = &cands[n];

		CHECK_FOR_INTERRUPTS();
		if (!r->bloat_candidate)
			continue;
		c->rel = r;
		if (r->relkind == RELKIND_INDEX)
		{
			apes_estimate_index(r, &c->est);
			c->score = apes_estimate_score(&c->est);
		}
		else
		{
			apes_estimate_table(r, &c->est, &c->toast);
			c->score = Max(apes_estimate_score(&c->est), apes_dead_share_bytes(r, c->est.bytes)) +
				apes_estimate_score(&c->toast);
		}
		n++;
	}
	qsort(cands, n, sizeof(BloatCandidate), apes_candidate_cmp);
	*ncand = n;
	return cands;
}

/* Enough waste to report: at least bloat_min_pct of the relation and bloat_min_size bytes. */
static bool
apes_bloat_reportable(double wasted_bytes, double wasted_pct)
{
	return wasted_pct >= apes_bloat_min_pct && wasted_bytes >= (double) apes_bloat_min_size_kb * 1024;
}

/* Severity of a reportable waste: a warning at half the relation or 10 GB, else info. */
static ApesSeverity
apes_bloat_severity(double wasted_bytes, double wasted_pct)
{
	return (wasted_pct >= APES_BLOAT_WARNING_PCT || wasted_bytes >= APES_BLOAT_WARNING_BYTES) ?
		APES_WARNING : APES_INFO;
}

/* "62% of 120 MB (95% interval 60-64%)" or "about 62% of 120 MB (catalog estimate)". */
static char *
apes_bloat_share_text(double pct, int64 bytes, const ApesBloatMeasure *m)
{
	char	   *size = apes_size_pretty(bytes);

	if (m == NULL)
		return psprintf("about %.0f%% of %s (catalog estimate)", pct, size);
	if (m->pages_read >= m->nblocks)
		return psprintf("%.0f%% of %s (every page read)", pct, size);
	return psprintf("%.0f%% of %s (95%% interval %.0f-%.0f%%, %lld of %lld pages read)", pct, size,
					Max(0.0, 100.0 * m->e.low), Min(100.0, 100.0 * m->e.high), (long long) m->pages_read,
					(long long) m->nblocks);
}

/* The evidence of a table, TOAST or index bloat finding. */
static Jsonb *
apes_bloat_evidence(const char *kind, int64 bytes, const ApesBloatMeasure *m, ApesBloatEstimate *e)
{
	ApesJson	j;

	apes_json_begin(&j);
	apes_json_text(&j, "kind", kind);
	apes_json_text(&j, "basis", m != NULL ? "measured" : "catalog estimate");
	apes_json_int(&j, "total_bytes", bytes);
	if (m != NULL)
	{
		apes_json_text(&j, "method", m->pages_read >= m->nblocks ? "exact" : "sampled");
		apes_json_int(&j, "pages", m->nblocks);
		apes_json_int(&j, "pages_scanned", m->pages_read);
		apes_json_float(&j, "wasted_pct", 100.0 * m->e.mean);
		apes_json_float(&j, "wasted_pct_low", Max(0.0, 100.0 * m->e.low));
		apes_json_float(&j, "wasted_pct_high", Min(100.0, 100.0 * m->e.high));
		apes_json_int(&j, "wasted_bytes", (int64) m->wasted_bytes);
		if (strcmp(kind, "index") != 0)
		{
			apes_json_int(&j, "dead_bytes", (int64) m->dead_bytes);
			apes_json_int(&j, "recently_dead_bytes", (int64) m->rdead_bytes);
			apes_json_int(&j, "free_bytes_beyond_fillfactor",
						  (int64) Max(0.0, m->wasted_bytes - m->dead_bytes - m->rdead_bytes));
		}
	}
	if (e != NULL)
	{
		apes_json_begin_object(&j, "estimate");
		apes_json_int(&j, "wasted_bytes", e->wasted_bytes);
		apes_json_float(&j, "wasted_pct", e->wasted_pct);
		apes_json_begin_array(&j, "reliability");
		for (int b = 0; b < APES_EST_NFLAGS; b++)
			if (e->flags & (1 << b))
				apes_json_text(&j, NULL, apes_estimate_flag_name(b));
		apes_json_end_array(&j);
		apes_json_end_object(&j);
	}
	return apes_json_end(&j);
}

/*
 * What to do about a table's measured waste, by its largest part: dead tuples (VACUUM removes them now), recently
 * dead ones (a snapshot holds them: no DDL helps until it ends), or free space VACUUM already made (only a rewrite
 * gives it back, and VACUUM FULL locks the table out for the whole rewrite).
 */
static void
apes_table_fix(ApesFinding *f, const char *what, const char *table, const ApesBloatMeasure *m)
{
	double		free_excess = Max(0.0, m->wasted_bytes - m->dead_bytes - m->rdead_bytes);

	if (m->rdead_bytes >= m->dead_bytes && m->rdead_bytes >= free_excess)
	{
		f->summary = psprintf("%s: mostly recently dead rows that VACUUM may not remove yet; see apes.vacuum_horizon",
							  what);
		return;
	}
	if (m->dead_bytes >= free_excess)
	{
		f->summary = psprintf("%s: mostly dead rows VACUUM can remove now", what);
		f->fix_sql = psprintf("VACUUM (VERBOSE, ANALYZE) %s;", table);
		return;
	}
	f->summary = psprintf("%s: mostly free space VACUUM keeps for reuse; only a rewrite returns it", what);
	f->fix_sql = psprintf("-- VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock: no reads or writes until it"
						  " ends, and it needs room for a full copy.\n"
						  "-- Online alternatives: pg_repack (--table) or pg_squeeze.\n"
						  "VACUUM (FULL, VERBOSE, ANALYZE) %s;", table);
}

/* A table_bloat or toast_bloat finding from a measurement (m) or, failing that, a reliable estimate (m NULL). */
static void
apes_table_finding(List **out, ApesRel *table, bool toast, const ApesBloatMeasure *m, ApesBloatEstimate *e)
{
	char	   *name = apes_qualified_name(table);
	double		pct = m ? 100.0 * m->e.mean : e->wasted_pct;
	double		bytes = m ? m->wasted_bytes : e->wasted_bytes;
	int64		total = m ? m->nblocks * BLCKSZ : e->bytes;
	ApesFinding *f;
	char	   *what;

	if (!apes_bloat_reportable(bytes, pct))
		return;
	if (m == NULL && e->flags != 0)
		return;					/* an unreliable estimate is no finding */
	f = apes_new_finding(toast ? APES_CHECK_toast_bloat : APES_CHECK_table_bloat, apes_bloat_severity(bytes, pct), name);
	f->wasted_bytes = (int64) bytes;
	what = psprintf("%s %s", toast ? "its TOAST table wastes" : "wastes", apes_bloat_share_text(pct, total, m));
	if (m != NULL)
	{
		apes_table_fix(f, what, name, m);
		f->confidence = (m->pages_read >= m->nblocks || (m->e.high - m->e.low) / 2 <= 0.05) ? APES_HIGH : APES_MEDIUM;
	}
	else
	{
		f->summary = psprintf("%s; measure it with apes.table_bloat()", what);
		f->confidence = APES_LOW;
	}
	f->evidence = apes_bloat_evidence(toast ? "toast" : "table", total, m, e);
	*out = lappend(*out, f);
}

/* An index_bloat finding from a measurement or a reliable estimate. */
static void
apes_index_finding(List **out, ApesRel *index, const ApesBloatMeasure *m, ApesBloatEstimate *e)
{
	char	   *name = apes_qualified_name(index);
	double		pct = m ? 100.0 * m->e.mean : e->wasted_pct;
	double		bytes = m ? m->wasted_bytes : e->wasted_bytes;
	int64		total = m ? m->nblocks * BLCKSZ : e->bytes;
	ApesFinding *f;

	if (!apes_bloat_reportable(bytes, pct) || (m == NULL && e->flags != 0))
		return;
	f = apes_new_finding(APES_CHECK_index_bloat, apes_bloat_severity(bytes, pct), name);
	f->wasted_bytes = (int64) bytes;
	f->summary = psprintf("a REINDEX would give back %s", apes_bloat_share_text(pct, total, m));
	f->fix_sql = psprintf("REINDEX INDEX CONCURRENTLY %s;", name);
	f->confidence = m == NULL ? APES_LOW :
		(m->pages_read >= m->nblocks || (m->e.high - m->e.low) / 2 <= 0.05) ? APES_HIGH : APES_MEDIUM;
	f->evidence = apes_bloat_evidence("index", total, m, e);
	*out = lappend(*out, f);
}

/* One candidate's measurement, for apes_run_guarded(). */
typedef struct CandidateRun
{
	BloatCandidate *c;
	MemoryContext scratch;		/* its page lists are large: a context of their own */
	TimestampTz deadline;
	ApesMeasureResult result;
} CandidateRun;

/* Measure a candidate in the scratch context (an apes_run_guarded() callback). */
static void
apes_measure_run(void *arg)
{
	CandidateRun *run = (CandidateRun *) arg;
	BloatCandidate *c = run->c;
	MemoryContext caller = MemoryContextSwitchTo(run->scratch);

	if (c->rel->relkind == RELKIND_INDEX)
		run->result = apes_measure_index_quick(c->rel->oid, APES_FINDING_SAMPLE_PAGES, run->deadline, &c->m);
	else
		run->result = apes_measure_table_quick(c->rel->oid, APES_FINDING_SAMPLE_PAGES, run->deadline, &c->m,
											   &c->mtoast);
	MemoryContextSwitchTo(caller);
}

/*
 * Measure one candidate in its own memory context (its page lists are large), inside a subtransaction: a damaged page
 * (XX001, XX002) becomes a page_corrupted finding about that relation, any other error a bloat_measurement_failed
 * finding, instead of failing the whole report; only a cancel, a timeout or a lack of resources is raised again
 * (apes_error_ends_call()).  Results are kept in *c.
 */
static ApesMeasureResult
apes_measure_candidate(BloatCandidate *c, MemoryContext scratch, TimestampTz deadline)
{
	CandidateRun run = {c, scratch, deadline, APES_MEASURE_SKIPPED};
	ApesMeasureResult r;
	ErrorData  *edata;

	if (!apes_run_guarded(apes_measure_run, &run, &edata))
	{
		if (edata->sqlerrcode == ERRCODE_DATA_CORRUPTED || edata->sqlerrcode == ERRCODE_INDEX_CORRUPTED)
			c->corrupt = edata->detail ? psprintf("%s: %s", edata->message, edata->detail) : pstrdup(edata->message);
		else
		{
			c->failed = pstrdup(edata->message);
			c->failed_code = edata->sqlerrcode;
		}
		FreeErrorData(edata);
	}
	r = run.result;
	if (r == APES_MEASURED_BUT_TOAST)
	{
		c->toast_late = true;
		r = APES_MEASURED;
	}
	c->measured = r == APES_MEASURED && c->corrupt == NULL && c->failed == NULL;
	c->skipped = r == APES_MEASURE_SKIPPED && c->corrupt == NULL && c->failed == NULL;
	MemoryContextReset(scratch);
	return c->corrupt || c->failed ? APES_MEASURE_SKIPPED : r;
}

/* bloat_measurement_failed: measuring a relation raised an unexpected error; the report goes on without it. */
static void
apes_failed_finding(List **out, BloatCandidate *c)
{
	char	   *name = apes_qualified_name(c->rel);
	ApesFinding *f = apes_new_finding(APES_CHECK_bloat_measurement_failed, APES_WARNING, name);
	ApesJson	ev;

	f->summary = psprintf("%s could not be measured: %s (SQLSTATE %s); its bloat is not reported", name, c->failed,
						  unpack_sql_state(c->failed_code));
	f->confidence = APES_LOW;
	apes_json_begin(&ev);
	apes_json_text(&ev, "error", c->failed);
	apes_json_text(&ev, "sqlstate", unpack_sql_state(c->failed_code));
	f->evidence = apes_json_end(&ev);
	*out = lappend(*out, f);
}

/* page_corrupted: a damaged page met while measuring; the report goes on without that relation's numbers. */
static void
apes_corrupt_finding(List **out, BloatCandidate *c)
{
	char	   *name = apes_qualified_name(c->rel);
	ApesFinding *f = apes_new_finding(APES_CHECK_page_corrupted, APES_CRITICAL, name);
	ApesJson	ev;

	f->summary = psprintf("%s has a damaged page (%s): check it with pg_amcheck, then %s", name, c->corrupt,
						  c->rel->relkind == RELKIND_INDEX ? "rebuild it" :
						  "restore the damaged data from a backup or a replica");
	if (c->rel->relkind == RELKIND_INDEX)
		f->fix_sql = psprintf("REINDEX INDEX CONCURRENTLY %s;", name);
	apes_json_begin(&ev);
	apes_json_text(&ev, "error", c->corrupt);
	apes_json_text(&ev, "see_also", "pg_amcheck --heapallindexed");
	f->evidence = apes_json_end(&ev);
	*out = lappend(*out, f);
}

/* The bloat_measurement_incomplete finding: how far measuring got, and why it stopped. */
static void
apes_incomplete_finding(List **out, int ncand, int measured, int locked, int unmeasured, double elapsed_ms,
						bool may_read)
{
	ApesFinding *f = apes_new_finding(APES_CHECK_bloat_measurement_incomplete, APES_INFO, "(database)");
	ApesJson	j;

	if (!may_read)
		f->summary = psprintf("bloat was not measured on any of %d candidates: reading pages needs the privileges of "
							  "pg_stat_scan_tables; catalog estimates only", ncand);
	else
		f->summary = psprintf("bloat measured on %d of %d candidates%s%s; the rest are judged from catalog estimates: "
							  "measure them with apes.table_bloat() and apes.index_bloat()",
							  measured, ncand,
							  unmeasured > 0 ? psprintf(", then pg_apes_health.bloat_time_budget (%d ms) ran out",
														apes_bloat_time_budget_ms) : "",
							  locked > 0 ? psprintf(", %d skipped because their lock was not free", locked) : "");
	f->confidence = APES_HIGH;
	apes_json_begin(&j);
	apes_json_int(&j, "candidates", ncand);
	apes_json_int(&j, "measured", measured);
	apes_json_int(&j, "not_measured_budget", unmeasured);
	apes_json_int(&j, "not_measured_locked", locked);
	apes_json_int(&j, "budget_ms", apes_bloat_time_budget_ms);
	apes_json_bool(&j, "may_read_pages", may_read);
	apes_json_float(&j, "elapsed_ms", elapsed_ms);
	f->evidence = apes_json_end(&j);
	*out = lappend(*out, f);
}

/* The bloat area's collector. */
void
apes_collect_bloat_findings(ApesCatalog *cat, List **out)
{
	MemoryContext scratch;
	BloatCandidate *cands;
	int			ncand;
	int			measured = 0;
	int			locked = 0;
	int			unmeasured = 0;
	instr_time	start;
	instr_time	now;
	double		elapsed_ms = 0;
	TimestampTz deadline;
	/* reading pages is for pg_stat_scan_tables, as for apes.table_bloat(); others get estimates only */
	bool		may_read = has_privs_of_role(GetUserId(), ROLE_PG_STAT_SCAN_TABLES);

	apes_collect_vacuum_findings(cat, out);

	INSTR_TIME_SET_CURRENT(start);
	/* the budget holds inside a measurement too: a sample stops at the deadline, whatever the relation's size */
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), apes_bloat_time_budget_ms);
	cands = apes_bloat_candidates(cat, &ncand);
	scratch = AllocSetContextCreate(CurrentMemoryContext, "apes bloat measure", ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < ncand; i++)
	{
		BloatCandidate *c = &cands[i];

		CHECK_FOR_INTERRUPTS();
		INSTR_TIME_SET_CURRENT(now);
		INSTR_TIME_SUBTRACT(now, start);
		elapsed_ms = INSTR_TIME_GET_MILLISEC(now);
		if (!may_read || elapsed_ms >= apes_bloat_time_budget_ms)
		{
			unmeasured++;
			continue;
		}
		switch (apes_measure_candidate(c, scratch, deadline))
		{
			case APES_MEASURED:
			case APES_MEASURED_BUT_TOAST:
				measured++;
				unmeasured += c->toast_late;	/* its TOAST table is judged from the estimate */
				break;
			case APES_MEASURE_OUT_OF_TIME:
				unmeasured++;
				break;
			case APES_MEASURE_LOCKED:
				locked++;
				break;
			case APES_MEASURE_SKIPPED:
				break;
		}
	}
	MemoryContextDelete(scratch);
	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	elapsed_ms = INSTR_TIME_GET_MILLISEC(now);

	for (int i = 0; i < ncand; i++)
	{
		BloatCandidate *c = &cands[i];

		if (c->corrupt != NULL)
		{
			apes_corrupt_finding(out, c);
			continue;
		}
		if (c->failed != NULL)
		{
			apes_failed_finding(out, c);
			continue;
		}
		if (c->skipped)
			continue;
		if (c->rel->relkind == RELKIND_INDEX)
		{
			apes_index_finding(out, c->rel, c->measured ? &c->m : NULL, &c->est);
			continue;
		}
		apes_table_finding(out, c->rel, false, c->measured ? &c->m : NULL, &c->est);
		if (OidIsValid(c->toast.relid))
			apes_table_finding(out, c->rel, true, c->measured && c->mtoast.nblocks >= 0 ? &c->mtoast : NULL,
							   &c->toast);
	}
	if (unmeasured > 0 || locked > 0)
		apes_incomplete_finding(out, ncand, measured, locked, unmeasured, elapsed_ms, may_read);
}
