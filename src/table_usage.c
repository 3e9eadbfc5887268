/*
 * table_usage.c: table-level signals of the 'query' area, from the cumulative statistics (what pg_stat_user_tables
 * and pg_statio_user_tables show), read directly for every table of the one catalog pass:
 *
 *   table_seq_scan_heavy  a large table read mostly by sequential scans of many rows each: a missing index?
 *   cache_hit_low         a large table whose page reads mostly miss shared buffers
 *   stats_stale           a table changed a lot since its last ANALYZE, or never analyzed: the planner works blind
 *
 * The counters cover the statistics window (since the last reset or server start); the evidence says how long.
 */
#include "postgres.h"

#include "catalog/pg_class.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "apes.h"
#include "catalog.h"

#define APES_USAGE_MIN_PAGES 1280		/* 10 MB: smaller tables are cheap to scan and to cache */
#define APES_SEQ_MIN_SCANS 50
#define APES_SEQ_MIN_ROWS_PER_SCAN 10000
#define APES_HIT_MIN_READS 100000		/* blocks read from outside shared buffers (800 MB) */
#define APES_HIT_MAX_RATIO 0.8
#define APES_STALE_MIN_ROWS 10000

/* Index scans of all the table's indexes in the statistics window. */
static int64
apes_table_index_scans(ApesRel *table)
{
	int64		scans = 0;
	ListCell   *lc;

	foreach(lc, table->indexes)
	{
		PgStat_StatTabEntry *ix = apes_fetch_tabentry(((ApesIndex *) lfirst(lc))->oid);

		if (ix != NULL)
			scans += ix->numscans;
	}
	return scans;
}

/* Days the statistics have been counting, for the evidence. */
static double
apes_window_days(ApesCatalog *cat)
{
	long		secs;
	int			usecs;

	TimestampDifference(cat->stats_since, cat->now, &secs, &usecs);
	return secs / 86400.0;
}

/*
 * The table_seq_scan_heavy signal: a table of at least 10 MB read by many sequential scans of many rows each, more
 * than by index scans; *per_scan and *idx_scans get the numbers.  index_missing (index_advice.c) looks for the
 * statements behind the same signal.
 */
bool
apes_seq_scan_heavy(ApesRel *r, PgStat_StatTabEntry *tab, double *per_scan, int64 *idx_scans)
{
	if (tab == NULL || tab->numscans < APES_SEQ_MIN_SCANS)
		return false;
	/* relpages first: no stat() for the many small tables */
	if (r->relpages < APES_USAGE_MIN_PAGES / 2 || apes_rel_bytes(r) < (int64) APES_USAGE_MIN_PAGES * BLCKSZ)
		return false;
	*per_scan = (double) tab->tuples_returned / tab->numscans;
	if (*per_scan < APES_SEQ_MIN_ROWS_PER_SCAN)
		return false;
	*idx_scans = apes_table_index_scans(r);
	return *idx_scans < tab->numscans;
}

/* table_seq_scan_heavy: many sequential scans of many rows each, more than index scans. */
static void
apes_check_seq_scans(ApesCatalog *cat, ApesRel *r, PgStat_StatTabEntry *tab, List **out)
{
	int64		idx_scans;
	double		per_scan;
	ApesFinding *f;
	ApesJson	ev;
	char	   *name;

	if (!apes_seq_scan_heavy(r, tab, &per_scan, &idx_scans))
		return;
	name = apes_qualified_name(r);
	f = apes_new_finding(APES_CHECK_table_seq_scan_heavy, APES_WARNING, name);
	f->confidence = APES_MEDIUM;
	f->summary = psprintf("%s (%s) was read by %lld sequential scans of %.0f rows each on average, against %lld index "
						  "scans: find the queries filtering it (apes.query_stats()) and index their predicates",
						  name, apes_size_pretty(apes_rel_bytes(r)), (long long) tab->numscans, per_scan,
						  (long long) idx_scans);
	apes_json_begin(&ev);
	apes_json_int(&ev, "seq_scan", tab->numscans);
	apes_json_int(&ev, "seq_tup_read", tab->tuples_returned);
	apes_json_float(&ev, "rows_per_seq_scan", per_scan);
	apes_json_int(&ev, "idx_scan", idx_scans);
	apes_json_int(&ev, "table_bytes", apes_rel_bytes(r));
	apes_json_float(&ev, "stats_window_days", apes_window_days(cat));
	apes_json_text(&ev, "confidence_reason", "sequential scans may be the right plan (reports, small result sets of a large share of rows); the counters cannot say which queries ran them");
	f->evidence = apes_json_end(&ev);
	*out = lappend(*out, f);
}

/* cache_hit_low: most page reads of the table came from outside shared buffers. */
static void
apes_check_cache_hits(ApesCatalog *cat, ApesRel *r, PgStat_StatTabEntry *tab, List **out)
{
	int64		reads = tab->blocks_fetched - tab->blocks_hit;
	double		ratio;
	ApesFinding *f;
	ApesJson	ev;
	char	   *name;

	if (reads < APES_HIT_MIN_READS || tab->blocks_fetched <= 0)
		return;
	ratio = (double) tab->blocks_hit / tab->blocks_fetched;
	if (ratio >= APES_HIT_MAX_RATIO)
		return;
	name = apes_qualified_name(r);
	f = apes_new_finding(APES_CHECK_cache_hit_low, APES_INFO, name);
	f->confidence = APES_MEDIUM;
	f->summary = psprintf("only %.0f%% of the page reads of %s hit shared buffers (%s read from the OS cache or disk): "
						  "its working set does not fit, or sequential scans churn it",
						  100.0 * ratio, name, apes_size_pretty(reads * BLCKSZ));
	apes_json_begin(&ev);
	apes_json_int(&ev, "heap_blks_read", reads);
	apes_json_int(&ev, "heap_blks_hit", tab->blocks_hit);
	apes_json_float(&ev, "hit_ratio", ratio);
	apes_json_float(&ev, "stats_window_days", apes_window_days(cat));
	apes_json_text(&ev, "confidence_reason", "reads that miss shared buffers may still hit the OS page cache");
	f->evidence = apes_json_end(&ev);
	*out = lappend(*out, f);
}

/* stats_stale: many rows changed since the last ANALYZE (more than autovacuum's default would allow). */
static void
apes_check_stale_stats(ApesCatalog *cat, ApesRel *r, PgStat_StatTabEntry *tab, List **out)
{
	int64		changed = apes_mod_since_analyze(tab);
	double		rows = Max(r->reltuples, 0);
	TimestampTz last = Max(apes_last_analyze(tab), apes_last_autoanalyze(tab));
	bool		never = last == 0 && r->reltuples < 0;
	ApesFinding *f;
	ApesJson	ev;
	char	   *name;

	/* a table never analyzed at all is the maintenance area's never_analyzed */
	if (never || changed < APES_STALE_MIN_ROWS || changed < 0.2 * rows + 50)
		return;
	name = apes_qualified_name(r);
	f = apes_new_finding(APES_CHECK_stats_stale, changed >= rows ? APES_WARNING : APES_INFO, name);
	f->summary = psprintf("%lld rows of %s (about %.0f%%) changed since its last ANALYZE at %s: plans use old statistics",
						  (long long) changed, name, rows > 0 ? 100.0 * changed / rows : 100.0,
						  last != 0 ? timestamptz_to_str(last) : "an unknown time (the statistics were reset)");
	f->fix_sql = psprintf("ANALYZE %s;", name);
	apes_json_begin(&ev);
	apes_json_int(&ev, "n_mod_since_analyze", changed);
	apes_json_float(&ev, "reltuples", r->reltuples);
	if (last == 0)
		apes_json_null(&ev, "last_analyze");
	else
		apes_json_text(&ev, "last_analyze", timestamptz_to_str(last));
	f->evidence = apes_json_end(&ev);
	*out = lappend(*out, f);
}

/* The table-level checks, on every ordinary table and matview of at least 10 MB (stats_stale: every size). */
void
apes_collect_table_usage_findings(ApesCatalog *cat, List **out)
{
	for (int i = 0; i < cat->nrels; i++)
	{
		ApesRel    *r = cat->relarray[i];
		PgStat_StatTabEntry *tab;

		CHECK_FOR_INTERRUPTS();
		if (r->relkind != RELKIND_RELATION && r->relkind != RELKIND_MATVIEW)
			continue;
		tab = apes_fetch_tabentry(r->oid);
		if (tab == NULL)
			continue;
		apes_check_stale_stats(cat, r, tab, out);
		/* relpages first: no stat() for the many small tables */
		if (r->relpages < APES_USAGE_MIN_PAGES / 2 || apes_rel_bytes(r) < (int64) APES_USAGE_MIN_PAGES * BLCKSZ)
			continue;
		apes_check_seq_scans(cat, r, tab, out);
		apes_check_cache_hits(cat, r, tab, out);
	}
}
