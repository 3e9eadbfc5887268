/*
 * pgbouncer.c: PgBouncer's own view of its pools, read through libpq from inside the backend (as pg_cron and
 * dblink link libpq) from its admin console, when pg_apes_health.pgbouncer_dsn is set:
 *
 *   apes.pgbouncer_pools()   SHOW POOLS joined with SHOW STATS, one row per pool
 *   pooler_clients_waiting   finding: clients queued for a server connection
 *
 * The host name lookup, the connection and both commands run under one deadline (pg_apes_health.pgbouncer_timeout)
 * while waiting on the process latch (remote.c), so a dead or slow pooler or resolver never hangs a query and a
 * cancel request is honoured; the connection is closed on every path, errors included.  What libpq says of a failure
 * reaches superusers only (it may quote the connection string).
 */
#include "postgres.h"

#include "funcapi.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "apes.h"
#include "remote.h"

#define APES_PGB_NCOLS 13

/* A column of a result by name as an integer (0 when PgBouncer's version has no such column). */
static int64
apes_pgb_int(PGresult *res, int row, const char *col)
{
	int			c = PQfnumber(res, col);

	return c < 0 || PQgetisnull(res, row, c) ? 0 : strtoll(PQgetvalue(res, row, c), NULL, 10);
}

/* A column of a result by name as text (NULL when missing). */
static char *
apes_pgb_text(PGresult *res, int row, const char *col)
{
	int			c = PQfnumber(res, col);

	return c < 0 || PQgetisnull(res, row, c) ? NULL : PQgetvalue(res, row, c);
}

/* SHOW POOLS and SHOW STATS, or false with *err set.  The connection is closed whatever happens. */
static bool
apes_pgb_read(PGresult **pools, PGresult **stats, char **err)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), apes_pgbouncer_timeout_ms);
	PGconn	   *volatile conn;

	*pools = *stats = NULL;
	*err = NULL;
	conn = apes_remote_connect(apes_pgbouncer_dsn, deadline, err);
	if (conn == NULL)
		return false;
	/* *pools and *stats are the caller's variables: set by apes_remote_query(), still set here after an error */
	PG_TRY();
	{
		apes_remote_query(conn, "SHOW POOLS", deadline, pools, err);
		if (*pools != NULL)
			apes_remote_query(conn, "SHOW STATS", deadline, stats, err);
	}
	PG_CATCH();
	{
		PQclear(*pools);
		PQclear(*stats);
		*pools = *stats = NULL;
		PQfinish(conn);
		PG_RE_THROW();
	}
	PG_END_TRY();
	PQfinish(conn);
	if (*pools == NULL || *stats == NULL)
	{
		PQclear(*pools);
		PQclear(*stats);
		*pools = *stats = NULL;
		return false;
	}
	return true;
}

/* The SHOW STATS row of a database, or -1. */
static int
apes_pgb_stats_row(PGresult *stats, const char *database)
{
	for (int r = 0; r < PQntuples(stats); r++)
	{
		char	   *db = apes_pgb_text(stats, r, "database");

		if (db != NULL && database != NULL && strcmp(db, database) == 0)
			return r;
	}
	return -1;
}

/* One row of apes.pgbouncer_pools() per pool of SHOW POOLS, with its database's SHOW STATS averages. */
static void
apes_pgb_emit_pools(ReturnSetInfo *rsinfo, PGresult *pools, PGresult *stats)
{
	for (int r = 0; r < PQntuples(pools); r++)
	{
		Datum		values[APES_PGB_NCOLS];
		bool		nulls[APES_PGB_NCOLS] = {0};
		char	   *db = apes_pgb_text(pools, r, "database");
		char	   *user = apes_pgb_text(pools, r, "user");
		char	   *mode = apes_pgb_text(pools, r, "pool_mode");
		int			s = apes_pgb_stats_row(stats, db);
		int			i = 0;

		nulls[i] = db == NULL;
		values[i++] = db ? CStringGetTextDatum(db) : (Datum) 0;
		nulls[i] = user == NULL;
		values[i++] = user ? CStringGetTextDatum(user) : (Datum) 0;
		nulls[i] = mode == NULL;
		values[i++] = mode ? CStringGetTextDatum(mode) : (Datum) 0;
		values[i++] = Int32GetDatum((int32) apes_pgb_int(pools, r, "cl_active"));
		values[i++] = Int32GetDatum((int32) apes_pgb_int(pools, r, "cl_waiting"));
		values[i++] = Int32GetDatum((int32) apes_pgb_int(pools, r, "sv_active"));
		values[i++] = Int32GetDatum((int32) apes_pgb_int(pools, r, "sv_idle"));
		values[i++] = Int32GetDatum((int32) apes_pgb_int(pools, r, "sv_used"));
		values[i++] = Int32GetDatum((int32) apes_pgb_int(pools, r, "sv_login"));
		values[i++] = Float8GetDatum(apes_pgb_int(pools, r, "maxwait") + apes_pgb_int(pools, r, "maxwait_us") / 1e6);
		nulls[i] = s < 0;
		values[i++] = Int64GetDatum(s < 0 ? 0 : apes_pgb_int(stats, s, "avg_wait_time"));
		nulls[i] = s < 0;
		values[i++] = Int64GetDatum(s < 0 ? 0 : apes_pgb_int(stats, s, "avg_query_time"));
		nulls[i] = s < 0;
		values[i++] = Int64GetDatum(s < 0 ? 0 : apes_pgb_int(stats, s, "avg_xact_time"));
		Assert(i == APES_PGB_NCOLS);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

PG_FUNCTION_INFO_V1(apes_pgbouncer_pools);

/* apes.pgbouncer_pools(): PgBouncer's pools; empty (with a notice) when pg_apes_health.pgbouncer_dsn is not set. */
Datum
apes_pgbouncer_pools(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PGresult   *pools;
	PGresult   *stats;
	char	   *err;

	apes_init_materialized_srf(fcinfo);
	if (apes_pgbouncer_dsn == NULL || apes_pgbouncer_dsn[0] == '\0')
	{
		ereport(NOTICE,
				(errmsg("pg_apes_health.pgbouncer_dsn is not set"),
				 errhint("Set it (as a superuser) to a connection string for PgBouncer's admin console, e.g. 'host=127.0.0.1 port=6432 dbname=pgbouncer user=stats'.")));
		return (Datum) 0;
	}
	if (!apes_pgb_read(&pools, &stats, &err))
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not read PgBouncer's pools: %s", apes_remote_error_for_caller(err)),
				 errhint("Check pg_apes_health.pgbouncer_dsn; the user must be in PgBouncer's admin_users or stats_users.")));
	/* the results are malloc()ed by libpq: freed on the error path too (no memory context would free them) */
	PG_TRY();
	{
		apes_pgb_emit_pools(rsinfo, pools, stats);
	}
	PG_FINALLY();
	{
		PQclear(pools);
		PQclear(stats);
	}
	PG_END_TRY();
	return (Datum) 0;
}

/* pooler_clients_waiting for each pool of SHOW POOLS with clients waiting. */
static void
apes_pgb_waiting_findings(PGresult *pools, List **out)
{
	ApesFinding *f;

	for (int r = 0; r < PQntuples(pools); r++)
	{
		int64		waiting = apes_pgb_int(pools, r, "cl_waiting");
		double		maxwait = apes_pgb_int(pools, r, "maxwait") + apes_pgb_int(pools, r, "maxwait_us") / 1e6;
		char	   *db = apes_pgb_text(pools, r, "database");
		char	   *user = apes_pgb_text(pools, r, "user");
		ApesJson	ev;

		if (waiting <= 0)
			continue;
		f = apes_new_finding(APES_CHECK_pooler_clients_waiting, maxwait >= 5 ? APES_CRITICAL : APES_WARNING,
							 psprintf("pgbouncer pool %s/%s", db ? db : "?", user ? user : "?"));
		f->summary = psprintf("%lld clients wait in PgBouncer for a server connection (the longest %.1f s): the pool is too small for the load, or its server connections are held by slow or idle-in-transaction sessions",
							  (long long) waiting, maxwait);
		apes_json_begin(&ev);
		apes_json_int(&ev, "cl_waiting", waiting);
		apes_json_int(&ev, "cl_active", apes_pgb_int(pools, r, "cl_active"));
		apes_json_int(&ev, "sv_active", apes_pgb_int(pools, r, "sv_active"));
		apes_json_int(&ev, "sv_idle", apes_pgb_int(pools, r, "sv_idle"));
		apes_json_float(&ev, "maxwait_seconds", maxwait);
		f->evidence = apes_json_end(&ev);
		*out = lappend(*out, f);
	}
}

/* pooler_clients_waiting (and pooler_unreachable, pooler_not_monitored): PgBouncer's queue, for the pool area. */
void
apes_collect_pgbouncer_findings(List **out)
{
	PGresult   *pools;
	PGresult   *stats;
	char	   *err;
	ApesFinding *f;

	if (apes_pgbouncer_dsn == NULL || apes_pgbouncer_dsn[0] == '\0')
	{
		f = apes_new_finding(APES_CHECK_pooler_not_monitored, APES_INFO, "pg_apes_health.pgbouncer_dsn");
		f->summary = pstrdup("PgBouncer is not monitored: if clients reach this server through PgBouncer, set pg_apes_health.pgbouncer_dsn to its admin console so its queue is checked too");
		*out = lappend(*out, f);
		return;
	}
	if (!apes_pgb_read(&pools, &stats, &err))
	{
		f = apes_new_finding(APES_CHECK_pooler_unreachable, APES_WARNING, "pg_apes_health.pgbouncer_dsn");
		f->summary = psprintf("PgBouncer's admin console could not be read: %s", apes_remote_error_for_caller(err));
		*out = lappend(*out, f);
		return;
	}
	PG_TRY();
	{
		apes_pgb_waiting_findings(pools, out);
	}
	PG_FINALLY();
	{
		PQclear(pools);
		PQclear(stats);
	}
	PG_END_TRY();
}
