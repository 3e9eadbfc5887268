/*
 * standby_usage.c: index scans counted on the standbys, when pg_apes_health.standby_dsns names them.
 *
 * A standby keeps its own cumulative statistics: an index that only the reports running there scan looks unused on
 * the primary.  index_unused and index_rarely_used add each standby's scans of their candidates, read through libpq
 * (remote.c: host names looked up, connection and commands all under pg_apes_health.standby_timeout, on the latch, so
 * a cancel or statement_timeout is honoured at once; the connection is closed on every path).  A node is read only
 * when it is a standby (in recovery) of this very cluster (same system identifier), connected to this database's
 * name: a primary listed by mistake would count its scans twice, another cluster's OIDs mean other indexes.  What
 * libpq says of a failure reaches superusers only (it may quote the connection string).
 */
#include "postgres.h"

#include "access/xlog.h"
#include "commands/dbcommands.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "apes.h"
#include "advice.h"
#include "remote.h"

/*
 * Split pg_apes_health.standby_dsns into its connection strings: separated by semicolons outside quoted values
 * (key='a;b' keeps its semicolon), blanks around each trimmed, empty ones skipped; each must parse as a libpq
 * connection string.  False, with *err set, when one does not.  Safe in a GUC check hook: it raises no error.
 */
bool
apes_standby_dsn_list(const char *value, List **dsns, char **err)
{
	StringInfoData cur;
	bool		quoted = false;
	int			n = 0;

	*dsns = NIL;
	initStringInfo(&cur);
	for (const char *p = value ? value : "";; p++)
	{
		if (*p == '\0' || (*p == ';' && !quoted))
		{
			char	   *s = cur.data;
			char	   *e = s + cur.len;

			while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
				s++;
			while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
				e--;
			if (e > s)
			{
				char	   *dsn = pnstrdup(s, e - s);
				char	   *perr = NULL;
				PQconninfoOption *opts = PQconninfoParse(dsn, &perr);

				n++;
				if (opts == NULL)
				{
					*err = psprintf("connection string %d is not valid: %s", n, perr ? pchomp(perr) : "out of memory");
					if (perr)
						PQfreemem(perr);
					return false;
				}
				PQconninfoFree(opts);
				*dsns = lappend(*dsns, dsn);
			}
			if (*p == '\0')
				break;
			resetStringInfo(&cur);
			continue;
		}
		if (quoted && *p == '\\' && p[1] != '\0')
		{
			appendStringInfoChar(&cur, *p++);
			appendStringInfoChar(&cur, *p);
			continue;
		}
		if (*p == '\'')
			quoted = !quoted;
		appendStringInfoChar(&cur, *p);
	}
	return true;
}

/* A value quoted for a key='value' connection string. */
static void
apes_append_conn_value(StringInfo buf, const char *v)
{
	appendStringInfoChar(buf, '\'');
	for (; *v; v++)
	{
		if (*v == '\'' || *v == '\\')
			appendStringInfoChar(buf, '\\');
		appendStringInfoChar(buf, *v);
	}
	appendStringInfoChar(buf, '\'');
}

/*
 * The connection string with its database set to this one's name (the same list serves every database of the
 * server) and pg_apes_health as the fallback application name; NULL when it does not parse.
 */
static char *
apes_dsn_for_this_database(const char *dsn)
{
	char	   *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(dsn, &perr);
	StringInfoData buf;

	if (opts == NULL)
	{
		if (perr)
			PQfreemem(perr);
		return NULL;
	}
	initStringInfo(&buf);
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
	{
		if (o->val == NULL || strcmp(o->keyword, "dbname") == 0 || strcmp(o->keyword, "fallback_application_name") == 0)
			continue;
		appendStringInfo(&buf, "%s=", o->keyword);
		apes_append_conn_value(&buf, o->val);
		appendStringInfoChar(&buf, ' ');
	}
	PQconninfoFree(opts);
	appendStringInfoString(&buf, "fallback_application_name='pg_apes_health' dbname=");
	apes_append_conn_value(&buf, get_database_name(MyDatabaseId));
	return buf.data;
}

/* The query reading a standby's scans of the given indexes. */
static char *
apes_standby_scans_sql(List *indexoids)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT s.indexrelid, s.idx_scan FROM pg_catalog.pg_stat_all_indexes s"
						   " WHERE s.indexrelid OPERATOR(pg_catalog.=) ANY ('{");
	foreach(lc, indexoids)
		appendStringInfo(&buf, "%s%u", foreach_current_index(lc) > 0 ? "," : "", lfirst_oid(lc));
	appendStringInfoString(&buf, "}'::pg_catalog.oid[])");
	return buf.data;
}

/*
 * Read one standby: that it is a standby of this cluster, since when its statistics count, and its scans of the
 * indexes.  On failure node->error says why (for the caller's eyes).  The connection and results are freed on every
 * path, errors included.
 */
static void
apes_standby_read_one(ApesStandbyNode *node, const char *dsn, List *indexoids)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), apes_standby_timeout_ms);
	char	   *conninfo = apes_dsn_for_this_database(dsn);
	char	   *err = NULL;
	PGconn	   *volatile conn;
	PGresult   *volatile who = NULL;
	PGresult   *volatile scans = NULL;

	if (conninfo == NULL)
	{
		node->error = pstrdup("the connection string is not valid (a superuser sees why)");
		return;
	}
	conn = apes_remote_connect(conninfo, deadline, &err);
	if (conn == NULL)
	{
		node->error = apes_remote_error_for_caller(err);
		return;
	}
	PG_TRY();
	{
		/* who and scans themselves are set as rows arrive: a cancel while the rest is read leaves them to clear */
		apes_remote_query(conn, "SELECT pg_catalog.pg_is_in_recovery(),"
						  " (SELECT c.system_identifier FROM pg_catalog.pg_control_system() c),"
						  " pg_catalog.date_part('epoch', GREATEST(pg_catalog.pg_postmaster_start_time(),"
						  " (SELECT d.stats_reset FROM pg_catalog.pg_stat_database d"
						  " WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())))",
						  deadline, (PGresult **) &who, &err);
		if (who != NULL && PQntuples(who) == 1)
			apes_remote_query(conn, apes_standby_scans_sql(indexoids), deadline, (PGresult **) &scans, &err);
	}
	PG_CATCH();
	{
		PQclear(who);
		PQclear(scans);
		PQfinish(conn);
		PG_RE_THROW();
	}
	PG_END_TRY();
	PQfinish(conn);
	if (who == NULL || PQntuples(who) != 1)
		node->error = apes_remote_error_for_caller(err ? err : "no answer");
	else if (strcmp(PQgetvalue(who, 0, 0), "t") != 0)
		node->error = pstrdup("it is not in recovery: not a standby (a primary's scans are this server's own)");
	else if (strtou64(PQgetvalue(who, 0, 1), NULL, 10) != GetSystemIdentifier())
		node->error = pstrdup("it is not a standby of this server (another system identifier)");
	else if (scans == NULL)
		node->error = apes_remote_error_for_caller(err ? err : "no answer");
	else
	{
		node->stats_since = PQgetisnull(who, 0, 2) ? 0 :
			(TimestampTz) ((strtod(PQgetvalue(who, 0, 2), NULL) -
							((POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)) * USECS_PER_SEC);
		node->n = PQntuples(scans);
		node->oids = palloc(sizeof(Oid) * Max(node->n, 1));
		node->scans = palloc(sizeof(int64) * Max(node->n, 1));
		for (int i = 0; i < node->n; i++)
		{
			node->oids[i] = (Oid) strtoul(PQgetvalue(scans, i, 0), NULL, 10);
			node->scans[i] = PQgetisnull(scans, i, 1) ? 0 : strtoi64(PQgetvalue(scans, i, 1), NULL, 10);
		}
	}
	PQclear(who);
	PQclear(scans);
}

/*
 * Every standby of pg_apes_health.standby_dsns, in order, with its scans of the given indexes (leaf indexes: a
 * partitioned index has no scans of its own); NIL when none is set or there is nothing to ask about.  Each node is
 * read under its own deadline, so a dead one costs pg_apes_health.standby_timeout, not the report.
 */
List *
apes_standby_read(List *indexoids)
{
	List	   *dsns = NIL;
	List	   *nodes = NIL;
	char	   *err = NULL;
	ListCell   *lc;

	if (apes_standby_dsns == NULL || apes_standby_dsns[0] == '\0' || indexoids == NIL)
		return NIL;
	if (!apes_standby_dsn_list(apes_standby_dsns, &dsns, &err))
		dsns = NIL;				/* the check hook accepted it: cannot happen */
	foreach(lc, dsns)
	{
		ApesStandbyNode *node = palloc0(sizeof(ApesStandbyNode));

		CHECK_FOR_INTERRUPTS();
		node->name = psprintf("standby %d", foreach_current_index(lc) + 1);
		apes_standby_read_one(node, lfirst(lc), indexoids);
		nodes = lappend(nodes, node);
	}
	return nodes;
}

/* The scans a standby counted of an index (0 when it never recorded any). */
int64
apes_standby_scans(ApesStandbyNode *node, Oid indexoid)
{
	for (int i = 0; i < node->n; i++)
		if (node->oids[i] == indexoid)
			return node->scans[i];
	return 0;
}
