/*
 * pool_findings.c: the 'pool' area of apes.findings(), from one read of the backend status array (pool.c):
 *
 *   connections_near_limit   client backends against the usable slots (warning / critical thresholds are settings)
 *   database_connlimit_near  a database near its CONNECTION LIMIT
 *   role_connlimit_near      a role near its CONNECTION LIMIT
 *   idle_in_transaction      a session idle in transaction for longer than pg_apes_health.idle_in_transaction_max
 *   long_transaction         an active transaction older than pg_apes_health.long_transaction_max
 *   long_statement           one statement running longer than pg_apes_health.statement_max, whatever its transaction
 *   blocked_sessions         a root blocker holding up sessions that waited longer than pg_apes_health.blocked_min_wait
 *   config_idle_in_transaction_timeout  idle_in_transaction_session_timeout is off while such sessions exist
 *   connection_churn, sessions_abandoned  from pg_stat_database's session counters over the last hour (SQL, via SPI)
 *   pooler_clients_waiting   clients queued in PgBouncer, when pg_apes_health.pgbouncer_dsn is set (pgbouncer.c)
 *
 * A session that holds back the cleanup horizon is the bloat area's vacuum_horizon_held; it is not repeated here.
 */
#include "postgres.h"

#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "apes.h"
#include "catalog.h"
#include "pool.h"


/* A duration in seconds as PostgreSQL prints an interval. */
static char *
apes_secs_text(double secs)
{
	return psprintf("%ld:%02ld:%02ld", (long) secs / 3600, ((long) secs / 60) % 60, (long) secs % 60);
}

/* Severity of a share of slots in use, by the two thresholds. */
static ApesSeverity
apes_slots_severity(double pct)
{
	return pct >= apes_pool_critical_pct ? APES_CRITICAL : APES_WARNING;
}

/* connections_near_limit, database_connlimit_near, role_connlimit_near. */
static void
apes_check_capacity(List *sessions, List **out)
{
	ApesCapacity c = apes_capacity(sessions);
	ApesFinding *f;
	ApesJson	ev;

	if (c.pct >= apes_pool_warn_pct)
	{
		f = apes_new_finding(APES_CHECK_connections_near_limit, apes_slots_severity(c.pct), "(server)");
		f->summary = psprintf("%d of %d usable connection slots are in use (%.0f%%; max_connections %d, %d reserved for superusers): new connections will soon be refused; put a pooler in front or shrink the application pools",
							  c.in_use, c.usable, c.pct, c.max_connections, c.reserved);
		apes_json_begin(&ev);
		apes_json_int(&ev, "max_connections", c.max_connections);
		apes_json_int(&ev, "reserved", c.reserved);
		apes_json_int(&ev, "client_backends", c.in_use);
		apes_json_int(&ev, "headroom", c.headroom);
		apes_json_float(&ev, "utilisation_pct", c.pct);
		f->evidence = apes_json_end(&ev);
		*out = lappend(*out, f);
	}
	/* databases, then roles, with a connection limit: client backends counted once by apes_count_by() */
	for (int pass = 0; pass < 2; pass++)
	{
		bool		by_role = pass == 1;
		Oid			oids[1024];
		int			counts[1024];
		int			nkeys;

		apes_count_by(sessions, by_role, oids, counts, &nkeys, lengthof(oids));
		for (int j = 0; j < nkeys; j++)
		{
			int			limit = apes_connlimit(oids[j], by_role);
			int			n = counts[j];
			double		pct;
			char	   *name;

			if (limit <= 0)
				continue;
			pct = 100.0 * n / limit;
			if (pct < apes_pool_warn_pct)
				continue;
			name = by_role ? GetUserNameFromId(oids[j], true) : get_database_name(oids[j]);
			if (name == NULL)
				continue;
			f = apes_new_finding(by_role ? APES_CHECK_role_connlimit_near : APES_CHECK_database_connlimit_near,
								 apes_slots_severity(pct), quote_identifier(name));
			f->summary = psprintf("%s %s has %d of its %d connections (%.0f%%)", by_role ? "role" : "database",
								  quote_identifier(name), n, limit, pct);
			f->fix_sql = psprintf("ALTER %s %s CONNECTION LIMIT %d;  -- or shrink its pools",
								  by_role ? "ROLE" : "DATABASE", quote_identifier(name), limit * 2);
			apes_json_begin(&ev);
			apes_json_int(&ev, "connection_limit", limit);
			apes_json_int(&ev, "in_use", n);
			apes_json_float(&ev, "utilisation_pct", pct);
			f->evidence = apes_json_end(&ev);
			*out = lappend(*out, f);
		}
	}
}

/* The evidence common to session findings. */
static Jsonb *
apes_session_evidence(ApesSession *s, double secs)
{
	ApesJson	ev;

	apes_json_begin(&ev);
	apes_json_int(&ev, "pid", s->pid);
	apes_json_text(&ev, "role", GetUserNameFromId(s->role, true));
	apes_json_text(&ev, "database", OidIsValid(s->database) ? get_database_name(s->database) : NULL);
	apes_json_text(&ev, "application", s->application);
	if (s->client_addr[0] != '\0')
		apes_json_text(&ev, "client_addr", s->client_addr);
	apes_json_text(&ev, "state", apes_state_name(s->state));
	apes_json_float(&ev, "seconds", secs);
	if (s->xact_secs >= 0)
		apes_json_float(&ev, "transaction_seconds", s->xact_secs);
	else
		apes_json_null(&ev, "transaction_seconds");	/* an aborted transaction loses its start time */
	return apes_json_end(&ev);
}

/* A visible client session (not the caller's) idle in transaction for idle_in_transaction_max or longer. */
static bool
apes_long_idle_in_transaction(ApesSession *s)
{
	return s->type == B_BACKEND && s->visible && !s->self &&
		(s->state == STATE_IDLEINTRANSACTION || s->state == STATE_IDLEINTRANSACTION_ABORTED) &&
		apes_idle_in_xact_max_s > 0 && s->state_secs >= apes_idle_in_xact_max_s;
}

/* idle_in_transaction, long_transaction and long_statement, per visible client session. */
static void
apes_check_transactions(List *sessions, List **out)
{
	ListCell   *lc;

	foreach(lc, sessions)
	{
		ApesSession *s = lfirst(lc);
		ApesFinding *f;
		bool		iit;

		if (s->type != B_BACKEND || !s->visible || s->self)
			continue;
		iit = s->state == STATE_IDLEINTRANSACTION || s->state == STATE_IDLEINTRANSACTION_ABORTED;
		if (apes_long_idle_in_transaction(s))
		{
			f = apes_new_finding(APES_CHECK_idle_in_transaction, APES_WARNING, psprintf("pid %d", s->pid));
			f->summary = psprintf("session pid %d (%s, application %s) has been idle in transaction%s for %s: it holds its locks and snapshot while the application does something else; fix the code path that leaves transactions open",
								  s->pid, GetUserNameFromId(s->role, true), s->application[0] ? s->application : "none",
								  s->state == STATE_IDLEINTRANSACTION_ABORTED ? " (aborted)" : "",
								  apes_secs_text(s->state_secs));
			f->fix_sql = psprintf("SELECT pg_terminate_backend(%d);", s->pid);
			f->evidence = apes_session_evidence(s, s->state_secs);
			*out = lappend(*out, f);
		}
		else if (!iit && s->state == STATE_RUNNING && apes_long_xact_max_s > 0 && s->xact_secs >= apes_long_xact_max_s)
		{
			f = apes_new_finding(APES_CHECK_long_transaction, APES_WARNING, psprintf("pid %d", s->pid));
			f->summary = psprintf("session pid %d (%s, application %s) has had a transaction open for %s",
								  s->pid, GetUserNameFromId(s->role, true), s->application[0] ? s->application : "none",
								  apes_secs_text(s->xact_secs));
			f->fix_sql = psprintf("SELECT pg_cancel_backend(%d);", s->pid);
			f->evidence = apes_session_evidence(s, s->xact_secs);
			*out = lappend(*out, f);
		}
		if (s->state == STATE_RUNNING && apes_statement_max_s > 0 && s->state_secs >= apes_statement_max_s)
		{
			/* the statement itself, whatever its transaction's age: a long transaction may be many short ones */
			f = apes_new_finding(APES_CHECK_long_statement, APES_WARNING, psprintf("pid %d", s->pid));
			f->summary = psprintf("session pid %d (%s, application %s) has been running one statement for %s%s",
								  s->pid, GetUserNameFromId(s->role, true), s->application[0] ? s->application : "none",
								  apes_secs_text(s->state_secs),
								  s->wait_type[0] ? psprintf(", now waiting on %s:%s", s->wait_type, s->wait_event) : "");
			f->fix_sql = psprintf("SELECT pg_cancel_backend(%d);", s->pid);
			f->evidence = apes_session_evidence(s, s->state_secs);
			*out = lappend(*out, f);
		}
	}
}

/* blocked_sessions: one finding per root blocker whose blocked sessions waited long enough. */
static void
apes_check_blocked(List *sessions, List **out)
{
	List	   *blocked = apes_read_blocking(sessions);
	List	   *roots = NIL;
	ListCell   *lc;
	TimestampTz now = GetCurrentTimestamp();

	foreach(lc, blocked)
	{
		ApesSession *s = lfirst(lc);
		ApesFinding *f;
		ApesJson	ev;
		ListCell   *lc2;
		double		longest = 0;

		if (list_member_int(roots, s->root_blocker))
			continue;
		foreach(lc2, blocked)
		{
			ApesSession *t = lfirst(lc2);

			if (t->root_blocker == s->root_blocker && t->wait_since)
				longest = Max(longest, (now - t->wait_since) / 1e6);
		}
		if (longest < apes_blocked_min_wait_s)
			continue;
		roots = lappend_int(roots, s->root_blocker);
		if (s->root_blocker == 0)
		{
			/* pg_blocking_pids() reports locks of prepared transactions as pid 0 */
			f = apes_new_finding(APES_CHECK_blocked_sessions, s->root_holds >= 10 ? APES_CRITICAL : APES_WARNING,
								 "prepared transaction");
			f->summary = psprintf("a prepared transaction holds up %d session%s (the longest waiting %s): it keeps its locks until COMMIT PREPARED or ROLLBACK PREPARED; see pg_prepared_xacts",
								  s->root_holds, s->root_holds == 1 ? "" : "s", apes_secs_text(longest));
			f->fix_sql = pstrdup("SELECT gid, prepared, owner, database FROM pg_prepared_xacts ORDER BY prepared;\n"
								 "-- then, for the one holding the locks: ROLLBACK PREPARED '<gid>'; (or COMMIT PREPARED)");
		}
		else
		{
			f = apes_new_finding(APES_CHECK_blocked_sessions, s->root_holds >= 10 ? APES_CRITICAL : APES_WARNING,
								 psprintf("pid %d", s->root_blocker));
			f->summary = psprintf("session pid %d holds up %d session%s (the longest waiting %s): see apes.blocking",
								  s->root_blocker, s->root_holds, s->root_holds == 1 ? "" : "s",
								  apes_secs_text(longest));
			f->fix_sql = psprintf("SELECT pg_terminate_backend(%d);", s->root_blocker);
		}
		apes_json_begin(&ev);
		apes_json_int(&ev, "root_blocker_pid", s->root_blocker);
		apes_json_int(&ev, "blocked_sessions", s->root_holds);
		apes_json_float(&ev, "longest_wait_seconds", longest);
		apes_json_text(&ev, "see_also", "SELECT * FROM apes.blocking");
		f->evidence = apes_json_end(&ev);
		*out = lappend(*out, f);
	}
}

/* A group of long-idle-in-transaction sessions with the same database and role, and the timeout they started with. */
typedef struct IitGroup
{
	Oid			database;
	Oid			role;
	int			sessions;
	char	   *timeout;		/* NULL when unknown */
	const char *source;
} IitGroup;

/* True for a setting value that means no timeout ("0", in any unit). */
static bool
apes_timeout_off(const char *value)
{
	int			ms;

	return value != NULL && parse_int(value, &ms, GUC_UNIT_MS, NULL) && ms == 0;
}

/* The statement that turns the timeout on where a group's "off" comes from. */
static char *
apes_iit_fix(IitGroup *g)
{
	const char *role = g->role ? GetUserNameFromId(g->role, true) : NULL;
	const char *db = g->database ? get_database_name(g->database) : NULL;

	if (strcmp(g->source, "role in database") == 0 && role && db)
		return psprintf("ALTER ROLE %s IN DATABASE %s SET idle_in_transaction_session_timeout = '10min';",
						quote_identifier(role), quote_identifier(db));
	if (strcmp(g->source, "role") == 0 && role)
		return psprintf("ALTER ROLE %s SET idle_in_transaction_session_timeout = '10min';", quote_identifier(role));
	if (strcmp(g->source, "database") == 0 && db)
		return psprintf("ALTER DATABASE %s SET idle_in_transaction_session_timeout = '10min';", quote_identifier(db));
	if (strcmp(g->source, "all roles") == 0)
		return pstrdup("ALTER ROLE ALL SET idle_in_transaction_session_timeout = '10min';");
	return pstrdup("ALTER SYSTEM SET idle_in_transaction_session_timeout = '10min';\nSELECT pg_reload_conf();");
}

/*
 * config_idle_in_transaction_timeout: sessions sit idle in transaction (as idle_in_transaction reports them) and the
 * setting they started with, by their role and database (role_settings.c), is off.  The caller's own setting is not
 * theirs.  Groups whose setting cannot be known (the caller's own value hides the server's) are listed, not judged.
 */
static void
apes_check_iit_timeout(List *sessions, List **out)
{
	IitGroup   *groups = NULL;
	int			ngroups = 0;
	int			off_sessions = 0;
	int			unknown = 0;
	StringInfoData fix;
	ListCell   *lc;
	ApesFinding *f;
	ApesJson	ev;

	foreach(lc, sessions)
	{
		ApesSession *s = lfirst(lc);
		int			g;

		if (!apes_long_idle_in_transaction(s))
			continue;
		for (g = 0; g < ngroups; g++)
			if (groups[g].database == s->database && groups[g].role == s->role)
				break;
		if (g == ngroups)
		{
			groups = ngroups == 0 ? palloc(sizeof(IitGroup) * 8) :
				(ngroups % 8 == 0 ? repalloc(groups, sizeof(IitGroup) * (ngroups + 8)) : groups);
			groups[g].database = s->database;
			groups[g].role = s->role;
			groups[g].sessions = 0;
			groups[g].timeout = apes_session_setting(s->database, s->role, "idle_in_transaction_session_timeout",
													 &groups[g].source);
			ngroups++;
		}
		groups[g].sessions++;
	}
	for (int g = 0; g < ngroups; g++)
	{
		if (apes_timeout_off(groups[g].timeout))
			off_sessions += groups[g].sessions;
		else if (groups[g].timeout == NULL)
			unknown += groups[g].sessions;
	}
	if (off_sessions == 0)
		return;

	f = apes_new_finding(APES_CHECK_config_idle_in_transaction_timeout, APES_INFO, "idle_in_transaction_session_timeout");
	f->summary = psprintf("idle_in_transaction_session_timeout is off for %d session%s sitting idle in transaction (by their role's, database's and the server's settings): a timeout ends such sessions before they hold locks and the cleanup horizon for long",
						  off_sessions, off_sessions == 1 ? "" : "s");
	if (unknown > 0)
		f->confidence = APES_MEDIUM;
	initStringInfo(&fix);
	apes_json_begin(&ev);
	apes_json_int(&ev, "sessions_without_timeout", off_sessions);
	apes_json_int(&ev, "sessions_setting_unknown", unknown);
	apes_json_begin_array(&ev, "by_role_and_database");
	for (int g = 0; g < ngroups; g++)
	{
		apes_json_begin_object(&ev, NULL);
		apes_json_text(&ev, "role", GetUserNameFromId(groups[g].role, true));
		apes_json_text(&ev, "database", get_database_name(groups[g].database));
		apes_json_int(&ev, "sessions", groups[g].sessions);
		apes_json_text(&ev, "timeout", groups[g].timeout);
		apes_json_text(&ev, "from", groups[g].source);
		apes_json_end_object(&ev);
		if (apes_timeout_off(groups[g].timeout))
		{
			char	   *stmt = apes_iit_fix(&groups[g]);

			if (strstr(fix.data, stmt) == NULL)
				appendStringInfo(&fix, "%s%s", fix.len > 0 ? "\n" : "", stmt);
		}
	}
	apes_json_end_array(&ev);
	apes_json_text(&ev, "note", "a session may still have set its own value, which no other session can see");
	f->evidence = apes_json_end(&ev);
	f->fix_sql = fix.data;
	*out = lappend(*out, f);
}

/* connection_churn and sessions_abandoned: over the last hour of pg_stat_database, through apes.connection_churn(). */
static void
apes_check_churn(List **out)
{
	MemoryContext caller = CurrentMemoryContext;
	bool		isnull;
	double		per_sec;
	double		mean;
	double		abandoned;
	double		seconds;

	if (SPI_connect() != SPI_OK_CONNECT)
		return;
	if (SPI_execute("SELECT sessions_per_second, mean_session_seconds, abandoned_per_minute, seconds"
					" FROM apes.connection_churn(pg_catalog.now() OPERATOR(pg_catalog.-) interval '1 hour')",
					true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
	{
		SPI_finish();
		return;
	}
	per_sec = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	per_sec = isnull ? 0 : per_sec;
	mean = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	mean = isnull ? -1 : mean;
	abandoned = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	abandoned = isnull ? 0 : abandoned;
	seconds = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull));
	SPI_finish();

	MemoryContextSwitchTo(caller);
	if (seconds >= 60 && per_sec >= apes_churn_max_per_s && mean >= 0 && mean < 10)
	{
		ApesFinding *f = apes_new_finding(APES_CHECK_connection_churn, APES_WARNING, "(database)");

		f->summary = psprintf("%.1f new sessions per second living %.1f s on average: something connects per request instead of pooling (every connection costs a process fork and authentication)",
							  per_sec, mean);
		*out = lappend(*out, f);
	}
	if (seconds >= 60 && abandoned >= 1)
	{
		ApesFinding *f = apes_new_finding(APES_CHECK_sessions_abandoned, APES_WARNING, "(database)");

		f->summary = psprintf("%.1f sessions per minute end without a proper disconnect (pg_stat_database.sessions_abandoned): clients or pools drop connections, or the network cuts them",
							  abandoned);
		*out = lappend(*out, f);
	}
}

/* The pool area's collector. */
void
apes_collect_pool_findings(ApesCatalog *cat, List **out)
{
	List	   *sessions = apes_read_sessions();

	apes_check_capacity(sessions, out);
	apes_check_transactions(sessions, out);
	apes_check_blocked(sessions, out);
	apes_check_iit_timeout(sessions, out);
	apes_check_churn(out);
	apes_collect_pgbouncer_findings(out);
}
