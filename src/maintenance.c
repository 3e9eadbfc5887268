/*
 * maintenance.c: the 'maintenance' area: what keeps tables healthy.
 *
 * Per table, from the one catalog pass and the statistics snapshot (no user relation is opened):
 *   autovacuum_behind          dead rows past twice the table's own autovacuum threshold (its reloptions, else the
 *                              server's), no (auto)vacuum for pg_apes_health.autovacuum_behind_min, no worker on it now
 *   autovacuum_disabled        autovacuum_enabled = false on a table with rows
 *   never_analyzed             a table with rows no ANALYZE has ever seen, made over autovacuum_behind_min ago
 *   never_vacuumed             a table of 10,000 rows or more no VACUUM has ever seen, made as long ago
 *   table_without_primary_key  a table without a primary key: info; warning when a publication replicates its
 *                              updates and deletes and its replica identity cannot identify rows
 *   fk_type_mismatch           a foreign key column whose type differs from the column it references
 * The rest is SQL, apes.maintenance_findings() (sql/), read through SPI (sql_findings.c): sequence_exhaustion,
 * constraint_not_valid, trigger_disabled, autovacuum_workers_saturated, relation_growth_fast.
 * docs/maintenance.md has the rules.
 */
#include "postgres.h"

#include "catalog/pg_class.h"
#include "commands/progress.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/autovacuum.h"
#include "utils/backend_status.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "apes.h"
#include "catalog.h"

#define APES_NEVER_VACUUMED_MIN_ROWS 10000
#define APES_NEVER_ANALYZED_WARN_ROWS 10000

/* The dead-row count from which autovacuum vacuums this table, as autovacuum.c computes it. */
static double
apes_autovacuum_threshold(ApesRel *r)
{
	double		base = r->av_vac_threshold >= 0 ? r->av_vac_threshold : autovacuum_vac_thresh;
	double		scale = r->av_vac_scale >= 0 ? r->av_vac_scale : autovacuum_vac_scale;
	int			max = r->av_vac_max_threshold >= -1 ? r->av_vac_max_threshold : apes_server_av_vac_max_threshold();
	double		threshold = base + scale * Max(r->reltuples, 0);

	if (max >= 0 && threshold > max)
		threshold = max;
	return threshold;
}

/* The later of a table's last manual and last automatic vacuum, 0 when never. */
static TimestampTz
apes_last_any_vacuum(PgStat_StatTabEntry *tab)
{
	return Max(apes_last_vacuum(tab), apes_last_autovacuum(tab));
}

/* Rows a table holds, by its statistics or by its catalog estimate, whichever is larger. */
static double
apes_table_rows(ApesRel *r, PgStat_StatTabEntry *tab)
{
	return Max((double) Max(r->reltuples, 0), tab != NULL ? (double) apes_live_tuples(tab) : 0.0);
}

/*
 * What a per-table finding's details need, copied out of the statistics snapshot (gone by the time a rendering asks
 * for the details): a finding keeps these few numbers, and builds its summary, evidence and DDL only when shown.
 */
typedef struct MaintTable
{
	ApesRel    *rel;
	double		live;
	double		dead;
	double		rows;
	double		changed;		/* rows changed since the last ANALYZE */
	double		threshold;		/* autovacuum's dead-row threshold */
	TimestampTz last_vacuum;
	TimestampTz last_autovacuum;
	TimestampTz last_analyze;
	bool		published;		/* table_without_primary_key: a publication replicates its updates or deletes */
} MaintTable;

/* A timestamp as text, or NULL for 0 (never). */
static const char *
apes_time_or_null(TimestampTz t)
{
	return t != 0 ? timestamptz_to_str(t) : NULL;
}

/* The evidence every per-table maintenance finding carries. */
static Jsonb *
apes_table_evidence(MaintTable *m)
{
	ApesJson	ev;

	apes_json_begin(&ev);
	apes_json_int(&ev, "n_live_tup", (int64) m->live);
	apes_json_int(&ev, "n_dead_tup", (int64) m->dead);
	apes_json_float(&ev, "reltuples", m->rel->reltuples);
	apes_json_int(&ev, "n_mod_since_analyze", (int64) m->changed);
	apes_json_float(&ev, "autovacuum_threshold", m->threshold);
	apes_json_bool(&ev, "autovacuum_enabled", m->rel->av_enabled);
	apes_json_text(&ev, "last_vacuum", apes_time_or_null(Max(m->last_vacuum, m->last_autovacuum)));
	apes_json_text(&ev, "last_autovacuum", apes_time_or_null(m->last_autovacuum));
	apes_json_text(&ev, "last_analyze", apes_time_or_null(m->last_analyze));
	return apes_json_end(&ev);
}

/* Summary, evidence and DDL of a per-table maintenance finding, when a rendering shows it (ApesFinding.details). */
static void
apes_table_details(ApesFinding *f, bool bulk)
{
	MaintTable *m = f->details_arg;
	char	   *name = f->object_name;
	TimestampTz last = Max(m->last_vacuum, m->last_autovacuum);

	switch (f->check)
	{
		case APES_CHECK_autovacuum_behind:
			f->summary = psprintf("%s has %.0f dead rows, %.1f times its autovacuum threshold of %.0f, and %s: autovacuum does not keep up (too few workers, cost limits, or a held horizon); VACUUM it, and tune its autovacuum settings",
								  name, m->dead, m->dead / Max(m->threshold, 1), m->threshold,
								  last == 0 ? "has never been vacuumed" :
								  psprintf("was last vacuumed at %s", timestamptz_to_str(last)));
			f->fix_sql = psprintf("VACUUM (VERBOSE, ANALYZE) %s;", name);
			break;
		case APES_CHECK_autovacuum_disabled:
			f->summary = psprintf("autovacuum is disabled on %s (%.0f rows, %.0f dead): its dead rows stay until someone vacuums it, and only anti-wraparound vacuums still run",
								  name, m->rows, m->dead);
			f->fix_sql = psprintf("ALTER TABLE %s RESET (autovacuum_enabled);", name);
			f->undo_sql = psprintf("ALTER TABLE %s SET (autovacuum_enabled = false);", name);
			break;
		case APES_CHECK_never_analyzed:
			f->summary = psprintf("%s has never been analyzed (%.0f rows changed): the planner guesses its size and contents",
								  name, Max(m->rows, m->changed));
			f->fix_sql = psprintf("ANALYZE %s;", name);
			break;
		default:				/* never_vacuumed */
			f->summary = psprintf("%s (%.0f rows) has never been vacuumed: its visibility map is empty, so index-only scans read the table, and its rows are not frozen yet",
								  name, m->rows);
			f->fix_sql = psprintf("VACUUM (ANALYZE) %s;", name);
			break;
	}
	f->evidence = apes_table_evidence(m);
}

/* A per-table finding whose details wait until a rendering shows it. */
static ApesFinding *
apes_table_finding(ApesCheckId check, ApesSeverity severity, ApesRel *r, PgStat_StatTabEntry *tab, List **out)
{
	ApesFinding *f = apes_new_finding(check, severity, apes_qualified_name(r));
	MaintTable *m = palloc(sizeof(MaintTable));

	m->rel = r;
	m->live = tab ? apes_live_tuples(tab) : 0;
	m->dead = tab ? apes_dead_tuples(tab) : 0;
	m->rows = apes_table_rows(r, tab);
	m->changed = tab ? apes_mod_since_analyze(tab) : 0;
	m->threshold = apes_autovacuum_threshold(r);
	m->last_vacuum = tab ? apes_last_vacuum(tab) : 0;
	m->last_autovacuum = tab ? apes_last_autovacuum(tab) : 0;
	m->last_analyze = tab ? Max(apes_last_analyze(tab), apes_last_autoanalyze(tab)) : 0;
	f->details = apes_table_details;
	f->details_arg = m;
	*out = lappend(*out, f);
	return f;
}

/* autovacuum_behind: dead rows past twice its threshold, no vacuum for a while, and no worker on it now. */
static void
apes_check_autovacuum_behind(ApesCatalog *cat, ApesRel *r, PgStat_StatTabEntry *tab, List *vacuuming,
							 List **out)
{
	double		threshold = apes_autovacuum_threshold(r);
	TimestampTz last = apes_last_any_vacuum(tab);
	ApesFinding *f;

	if (!r->av_enabled || apes_dead_tuples(tab) < 2 * threshold || list_member_oid(vacuuming, r->oid))
		return;
	if (last != 0 && !TimestampDifferenceExceeds(last, cat->now, apes_autovacuum_behind_min_s * 1000))
		return;
	f = apes_table_finding(APES_CHECK_autovacuum_behind, APES_WARNING, r, tab, out);
	/* never vacuumed: it may have crossed the threshold a moment ago; a vacuum long ago says autovacuum had time */
	f->confidence = last == 0 ? APES_MEDIUM : APES_HIGH;
}

/* autovacuum_disabled: autovacuum_enabled = false on a table with rows. */
static void
apes_check_autovacuum_disabled(ApesRel *r, PgStat_StatTabEntry *tab, List **out)
{
	if (!r->av_enabled && apes_table_rows(r, tab) > 0)
		apes_table_finding(APES_CHECK_autovacuum_disabled, APES_WARNING, r, tab, out);
}

/*
 * True when pg_statistic has no row for the table's first columns: ANALYZE has never run on it (the statistics'
 * timestamps alone would say so after any reset of the cumulative statistics too).
 */
static bool
apes_no_column_statistics(ApesRel *r)
{
	for (int16 att = 1; att <= Min(r->relnatts, 3); att++)
		if (SearchSysCacheExists3(STATRELATTINH, ObjectIdGetDatum(r->oid), Int16GetDatum(att), BoolGetDatum(false)))
			return false;
	return true;
}

/*
 * never_analyzed and never_vacuumed: a table with rows that no ANALYZE (no statistics timestamps, no pg_statistic
 * rows), or no VACUUM (no timestamps, an empty visibility map), has ever seen.
 */
static void
apes_check_never(ApesCatalog *cat, ApesRel *r, PgStat_StatTabEntry *tab, List **out)
{
	double		rows = apes_table_rows(r, tab);
	TimestampTz born;

	if (tab == NULL || (rows <= 0 && apes_mod_since_analyze(tab) <= 0))
		return;
	/* a table made (or rewritten) less than autovacuum_behind_min ago: autovacuum has not had its chance yet */
	born = apes_rel_born(r);
	if (born != 0 && !TimestampDifferenceExceeds(born, cat->now, apes_autovacuum_behind_min_s * 1000))
		return;
	if (Max(apes_last_analyze(tab), apes_last_autoanalyze(tab)) == 0 && r->relnatts > 0 && apes_no_column_statistics(r))
		apes_table_finding(APES_CHECK_never_analyzed,
						   Max(rows, apes_mod_since_analyze(tab)) >= APES_NEVER_ANALYZED_WARN_ROWS ? APES_WARNING : APES_INFO,
						   r, tab, out);
	if (apes_last_any_vacuum(tab) == 0 && r->relallvisible == 0 && rows >= APES_NEVER_VACUUMED_MIN_ROWS)
		apes_table_finding(APES_CHECK_never_vacuumed, APES_INFO, r, tab, out);
}

/* The tables a publication replicates (every table when one publication is FOR ALL TABLES: *all set). */
static List *
apes_published_tables(bool *all)
{
	MemoryContext caller = CurrentMemoryContext;
	List	   *rels = NIL;

	*all = false;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_publication)", true, 1) == SPI_OK_SELECT &&
		strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "t") == 0)
	{
		if (SPI_execute("SELECT p.puballtables FROM pg_catalog.pg_publication p WHERE p.puballtables"
						" AND (p.pubupdate OR p.pubdelete) LIMIT 1", true, 1) == SPI_OK_SELECT && SPI_processed > 0)
			*all = true;
		else if (SPI_execute("SELECT r.prrelid FROM pg_catalog.pg_publication_rel r"
							 " JOIN pg_catalog.pg_publication p ON p.oid OPERATOR(pg_catalog.=) r.prpubid"
							 " WHERE p.pubupdate OR p.pubdelete"
							 " UNION SELECT c.oid FROM pg_catalog.pg_publication_namespace n"
							 " JOIN pg_catalog.pg_publication p ON p.oid OPERATOR(pg_catalog.=) n.pnpubid"
							 " JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.pnnspid"
							 " WHERE p.pubupdate OR p.pubdelete", true, 0) == SPI_OK_SELECT)
		{
			MemoryContext old = MemoryContextSwitchTo(caller);

			for (uint64 i = 0; i < SPI_processed; i++)
			{
				bool		isnull;
				Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

				if (!isnull)
					rels = lappend_oid(rels, DatumGetObjectId(d));
			}
			MemoryContextSwitchTo(old);
		}
	}
	SPI_finish();
	return rels;
}

/* True when the table has a primary key (its pg_index rows in the catalog pass). */
static bool
apes_has_primary_key(ApesRel *r)
{
	ListCell   *lc;

	foreach(lc, r->indexes)
		if (((ApesIndex *) lfirst(lc))->primary)
			return true;
	return false;
}

/* Summary, evidence and DDL of table_without_primary_key, when a rendering shows it. */
static void
apes_primary_key_details(ApesFinding *f, bool bulk)
{
	ApesRel    *r = ((MaintTable *) f->details_arg)->rel;
	bool		published = ((MaintTable *) f->details_arg)->published;
	char	   *name = f->object_name;
	ApesJson	ev;

	f->summary = f->severity == APES_WARNING ?
		psprintf("%s has no primary key and no usable replica identity, and a publication replicates its updates and deletes: every UPDATE and DELETE on it fails; add a primary key, or set REPLICA IDENTITY",
				 name) :
		psprintf("%s has no primary key: rows cannot be told apart reliably (logical replication, tools that edit rows, deduplication)%s",
				 name, published ? ", though its replica identity lets a publication replicate it" : "");
	f->fix_sql = psprintf("-- choose the key column(s), then:\n-- ALTER TABLE %s ADD PRIMARY KEY (...);", name);
	apes_json_begin(&ev);
	apes_json_bool(&ev, "published", published);
	apes_json_text(&ev, "replica_identity", r->relreplident == REPLICA_IDENTITY_DEFAULT ? "default" :
				   r->relreplident == REPLICA_IDENTITY_NOTHING ? "nothing" :
				   r->relreplident == REPLICA_IDENTITY_FULL ? "full" : "index");
	f->evidence = apes_json_end(&ev);
}

/*
 * table_without_primary_key: info; a warning when a publication replicates the table's updates or deletes and its
 * replica identity cannot identify a row (default without a key, or nothing): they fail on the publisher.
 */
static void
apes_check_primary_key(ApesRel *r, bool all_published, List *published_tables, List **out)
{
	bool		published;
	bool		identity_ok;
	ApesFinding *f;
	MaintTable *m;

	if (r->ispartition || apes_has_primary_key(r))
		return;
	published = all_published || list_member_oid(published_tables, r->oid);	/* for the few without a key */
	identity_ok = r->relreplident == REPLICA_IDENTITY_FULL || r->relreplident == REPLICA_IDENTITY_INDEX;
	f = apes_new_finding(APES_CHECK_table_without_primary_key, published && !identity_ok ? APES_WARNING : APES_INFO,
						 apes_qualified_name(r));
	m = palloc0(sizeof(MaintTable));
	m->rel = r;
	m->published = published;
	f->details = apes_primary_key_details;
	f->details_arg = m;
	*out = lappend(*out, f);
}

/*
 * fk_type_mismatch: a foreign key column whose type differs from the column it references (types from the syscache,
 * which the index area's foreign key checks have loaded already).
 */
static void
apes_check_fk_types(ApesCatalog *cat, List **out)
{
	for (int i = 0; i < cat->nfks; i++)
	{
		ApesForeignKey *fk = cat->fks[i];

		CHECK_FOR_INTERRUPTS();
		if (fk->reftable == NULL || OidIsValid(fk->parent))
			continue;			/* referenced table in a skipped schema; a partition's clone (its parent reports) */
		for (int k = 0; k < fk->nkeys; k++)
		{
			Oid			coltype = get_atttype(fk->table->oid, fk->keys[k]);
			Oid			reftype = get_atttype(fk->reftable->oid, fk->refkeys[k]);
			char	   *name;
			char	   *col;
			char	   *refcol;
			bool		overflow;
			ApesFinding *f;
			ApesJson	ev;

			if (!OidIsValid(coltype) || !OidIsValid(reftype) || coltype == reftype)
				continue;
			name = psprintf("%s.%s", apes_qualified_name(fk->table), quote_identifier(fk->name));
			col = apes_attname(fk->table, fk->keys[k]);
			refcol = apes_attname(fk->reftable, fk->refkeys[k]);
			overflow = (coltype == INT2OID || coltype == INT4OID) && reftype == INT8OID;
			f = apes_new_finding(APES_CHECK_fk_type_mismatch, APES_WARNING, name);
			f->summary = psprintf("foreign key %s: %s.%s is %s but references %s.%s, which is %s: every check and join casts, indexes may not be used for it%s",
								  quote_identifier(fk->name), apes_qualified_name(fk->table), quote_identifier(col),
								  format_type_be(coltype), apes_qualified_name(fk->reftable),
								  quote_identifier(refcol), format_type_be(reftype),
								  overflow ? ", and the referencing column overflows once the key passes its range" : "");
			f->fix_sql = psprintf("-- rewrites the table and its indexes under an ACCESS EXCLUSIVE lock:\nALTER TABLE %s ALTER COLUMN %s TYPE %s;",
								  apes_qualified_name(fk->table), quote_identifier(col), format_type_be(reftype));
			apes_json_begin(&ev);
			apes_json_text(&ev, "constraint", fk->name);
			apes_json_text(&ev, "column", col);
			apes_json_text(&ev, "column_type", format_type_be(coltype));
			apes_json_text(&ev, "referenced_table", apes_qualified_name(fk->reftable));
			apes_json_text(&ev, "referenced_column", refcol);
			apes_json_text(&ev, "referenced_type", format_type_be(reftype));
			f->evidence = apes_json_end(&ev);
			*out = lappend(*out, f);
			break;				/* one finding per key */
		}
	}
}

/* The maintenance area's collector: the per-table checks, then the rows of apes.maintenance_findings(). */
void
apes_collect_maintenance_findings(ApesCatalog *cat, List **out)
{
	List	   *vacuuming = apes_progress_relations(PROGRESS_COMMAND_VACUUM);
	bool		all_published;
	List	   *published = apes_published_tables(&all_published);

	for (int i = 0; i < cat->nrels; i++)
	{
		ApesRel    *r = cat->relarray[i];
		PgStat_StatTabEntry *tab;

		CHECK_FOR_INTERRUPTS();
		if (r->relkind == RELKIND_RELATION || r->relkind == RELKIND_PARTITIONED_TABLE)
			apes_check_primary_key(r, all_published, published, out);
		if (r->relkind != RELKIND_RELATION)
			continue;
		tab = apes_fetch_tabentry(r->oid);
		apes_check_autovacuum_disabled(r, tab, out);
		apes_check_never(cat, r, tab, out);
		if (tab != NULL)
			apes_check_autovacuum_behind(cat, r, tab, vacuuming, out);
	}
	apes_check_fk_types(cat, out);
	apes_collect_sql_findings("maintenance", "apes.maintenance_findings", out);
}
