/*
 * remote.c: connections from this backend to another server through libpq (PgBouncer's admin console, standbys),
 * under one deadline that nothing may outlast: not a host name lookup, not a connection, not a reply.
 *
 * libpq resolves host names with getaddrinfo(), which blocks for as long as the resolver takes (seconds, during a DNS
 * outage) and cannot be interrupted.  So a host name is resolved here first, by glibc's asynchronous getaddrinfo_a()
 * (a helper thread of glibc's own, with every signal blocked, that calls nothing of PostgreSQL), polled while the
 * backend waits on its latch; the addresses found are handed to libpq as hostaddr, beside the name (kept for TLS and
 * .pgpass).  A lookup the deadline cut short is left to finish in its thread: its request is malloc()ed and kept in a
 * list until glibc is done with it, and a later lookup of the same name waits on it instead of starting another.
 * Answers are kept for a minute.  Connecting and every command then run non-blocking on the socket, waiting on the
 * latch, so a cancel request or statement_timeout is honoured at once.
 *
 * What libpq says when it fails may quote the connection string (a password among it): only superusers, who may read
 * the setting, see it; others get what kind of failure it was (apes_remote_error_for_caller()).
 */
#include "postgres.h"

#include <netdb.h>
#include <sys/socket.h>

#include "libpq-fe.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "apes.h"
#include "remote.h"

#define APES_DNS_MAX_ADDRS 4	/* addresses tried per host name */
#define APES_DNS_CACHE_MS 60000
#define APES_DNS_POLL_MS 5

/* A lookup handed to glibc: everything it may write to is malloc()ed and lives until glibc is done. */
typedef struct ApesLookup
{
	struct gaicb cb;
	struct addrinfo hints;
	char	   *name;
	struct ApesLookup *next;
} ApesLookup;

/* An answer kept for a while: the numeric addresses of one name. */
typedef struct ApesDnsAnswer
{
	char	   *name;
	char	   *addrs[APES_DNS_MAX_ADDRS];
	int			naddrs;
	TimestampTz at;
	struct ApesDnsAnswer *next;
} ApesDnsAnswer;

static ApesLookup *apes_lookups = NULL;		/* lookups glibc may still be working on */
static ApesDnsAnswer *apes_answers = NULL;	/* in TopMemoryContext */

/* Milliseconds left before the deadline (at least 0). */
long
apes_ms_left(TimestampTz deadline)
{
	long		ms = (long) ((deadline - GetCurrentTimestamp()) / 1000);

	return Max(ms, 0);
}

/* Wait for the socket (or the latch: then check for interrupts) until the deadline; false on timeout. */
static bool
apes_wait_socket(PGconn *conn, bool for_read, TimestampTz deadline)
{
	for (;;)
	{
		long		ms = apes_ms_left(deadline);
		int			rc;

		if (ms <= 0)
			return false;
		rc = WaitLatchOrSocket(MyLatch,
							   WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH |
							   (for_read ? WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE),
							   PQsocket(conn), ms, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
			continue;
		}
		return (rc & (WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE)) != 0;
	}
}

static ApesDnsAnswer *apes_keep_answer(ApesLookup *l);

/*
 * Free the lookups glibc has finished with, keeping the answer of each that succeeded: one the deadline cut short
 * finishes in its own time, and the next call within the cache's minute connects without a lookup.
 */
static void
apes_reap_lookups(void)
{
	ApesLookup **p = &apes_lookups;

	while (*p != NULL)
	{
		ApesLookup *l = *p;

		if (gai_error(&l->cb) == EAI_INPROGRESS)
		{
			p = &l->next;
			continue;
		}
		*p = l->next;
		if (gai_error(&l->cb) == 0)
			(void) apes_keep_answer(l);
		if (l->cb.ar_result != NULL)
			freeaddrinfo(l->cb.ar_result);
		free(l->name);
		free(l);
	}
}

/* The lookup of name in progress, or a new one started; NULL with *err set when glibc refuses to start it. */
static ApesLookup *
apes_start_lookup(const char *name, char **err)
{
	ApesLookup *l;
	struct gaicb *list[1];
	int			rc;

	for (l = apes_lookups; l != NULL; l = l->next)
		if (strcmp(l->name, name) == 0)
			return l;
	l = calloc(1, sizeof(ApesLookup));
	if (l == NULL || (l->name = strdup(name)) == NULL)
	{
		free(l);
		*err = pstrdup("out of memory");
		return NULL;
	}
	l->hints.ai_family = AF_UNSPEC;
	l->hints.ai_socktype = SOCK_STREAM;
	l->cb.ar_name = l->name;
	l->cb.ar_request = &l->hints;
	list[0] = &l->cb;
	if ((rc = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL)) != 0)
	{
		*err = psprintf("could not look up host name \"%s\": %s", name, gai_strerror(rc));
		free(l->name);
		free(l);
		return NULL;
	}
	l->next = apes_lookups;
	apes_lookups = l;
	return l;
}

/* A kept answer for name no older than a minute, or NULL. */
static ApesDnsAnswer *
apes_cached_answer(const char *name)
{
	TimestampTz now = GetCurrentTimestamp();

	for (ApesDnsAnswer *a = apes_answers; a != NULL; a = a->next)
		if (strcmp(a->name, name) == 0 && !TimestampDifferenceExceeds(a->at, now, APES_DNS_CACHE_MS))
			return a;
	return NULL;
}

/* Keep the numeric addresses of a finished lookup as the answer for its name (replacing an older one). */
static ApesDnsAnswer *
apes_keep_answer(ApesLookup *l)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	ApesDnsAnswer *a = NULL;

	for (ApesDnsAnswer *x = apes_answers; x != NULL; x = x->next)
		if (strcmp(x->name, l->name) == 0)
			a = x;
	if (a == NULL)
	{
		a = palloc0(sizeof(ApesDnsAnswer));
		a->name = pstrdup(l->name);
		a->next = apes_answers;
		apes_answers = a;
	}
	for (int i = 0; i < a->naddrs; i++)
		pfree(a->addrs[i]);
	a->naddrs = 0;
	for (struct addrinfo *ai = l->cb.ar_result; ai != NULL && a->naddrs < APES_DNS_MAX_ADDRS; ai = ai->ai_next)
	{
		char		host[NI_MAXHOST];
		bool		seen = false;

		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), NULL, 0, NI_NUMERICHOST) != 0)
			continue;
		for (int i = 0; i < a->naddrs; i++)
			seen |= strcmp(a->addrs[i], host) == 0;
		if (!seen)
			a->addrs[a->naddrs++] = pstrdup(host);
	}
	a->at = GetCurrentTimestamp();
	MemoryContextSwitchTo(old);
	return a;
}

/*
 * The numeric addresses of a host name, looked up before the deadline (waiting on the latch, interrupts honoured),
 * or NULL with *err set: the lookup failed or the deadline came first.
 */
static ApesDnsAnswer *
apes_resolve(const char *name, TimestampTz deadline, char **err)
{
	ApesDnsAnswer *a;
	ApesLookup *l;
	int			rc;

	apes_reap_lookups();
	if ((a = apes_cached_answer(name)) != NULL)
		return a;
	if ((l = apes_start_lookup(name, err)) == NULL)
		return NULL;
	while ((rc = gai_error(&l->cb)) == EAI_INPROGRESS)
	{
		long		ms = apes_ms_left(deadline);

		if (ms <= 0)
		{
			gai_cancel(&l->cb);	/* if glibc has not begun it; else it finishes in its thread */
			*err = psprintf("timed out looking up host name \"%s\"", name);
			return NULL;
		}
		if (WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, Min(ms, APES_DNS_POLL_MS),
					  PG_WAIT_EXTENSION) & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	if (rc != 0)
	{
		*err = psprintf("could not look up host name \"%s\": %s", name, gai_strerror(rc));
		apes_reap_lookups();
		return NULL;
	}
	apes_reap_lookups();		/* keeps its answer */
	a = apes_cached_answer(name);
	if (a == NULL || a->naddrs == 0)
	{
		*err = psprintf("host name \"%s\" has no address", name);
		return NULL;
	}
	return a;
}

/* True when a host entry needs no lookup: empty, a Unix socket folder, or a numeric address. */
static bool
apes_host_is_literal(const char *host)
{
	struct addrinfo hints = {0};
	struct addrinfo *res = NULL;
	bool		numeric;

	if (host[0] == '\0' || host[0] == '/' || host[0] == '@')
		return true;
	hints.ai_flags = AI_NUMERICHOST;
	hints.ai_socktype = SOCK_STREAM;
	numeric = getaddrinfo(host, NULL, &hints, &res) == 0;
	if (res != NULL)
		freeaddrinfo(res);
	return numeric;
}

/* Split a comma-separated libpq list (host, port) into its elements. */
static List *
apes_split_list(const char *s)
{
	List	   *out = NIL;
	char	   *copy = pstrdup(s ? s : "");
	char	   *p = copy;

	for (;;)
	{
		char	   *comma = strchr(p, ',');

		if (comma)
			*comma = '\0';
		out = lappend(out, p);
		if (!comma)
			break;
		p = comma + 1;
	}
	return out;
}

/* Join strings with commas. */
static char *
apes_join_list(List *items)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, items)
		appendStringInfo(&buf, "%s%s", foreach_current_index(lc) > 0 ? "," : "", (char *) lfirst(lc));
	return buf.data;
}

/*
 * Start a non-blocking connection for dsn with its host names already resolved before the deadline: each name
 * becomes one host entry per address, with hostaddr set (and port repeated where a list of ports was given).  NULL
 * with *err set when the string does not parse or a lookup fails.
 */
static PGconn *
apes_start_connection(const char *dsn, TimestampTz deadline, char **err)
{
	char	   *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(dsn, &perr);
	const char **keys;
	const char **vals;
	int			nopts = 0;
	int			n = 0;
	const char *host = NULL;
	const char *hostaddr = NULL;
	const char *port = NULL;
	List	   *hosts;
	List	   *ports;
	List	   *new_hosts = NIL;
	List	   *new_addrs = NIL;
	List	   *new_ports = NIL;
	bool		resolved = false;
	ListCell   *lc;
	PGconn	   *conn;

	if (opts == NULL)
	{
		*err = psprintf("the connection string is not valid: %s", perr ? pchomp(perr) : "out of memory");
		if (perr)
			PQfreemem(perr);
		return NULL;
	}
	/* the options set, copied out of libpq's malloc()ed array (a lookup may raise an error) */
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
		nopts++;
	keys = palloc0(sizeof(char *) * (nopts + 4));
	vals = palloc0(sizeof(char *) * (nopts + 4));
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
	{
		if (o->val == NULL)
			continue;
		keys[n] = pstrdup(o->keyword);
		vals[n] = pstrdup(o->val);
		if (strcmp(o->keyword, "host") == 0)
			host = vals[n];
		else if (strcmp(o->keyword, "hostaddr") == 0)
			hostaddr = vals[n];
		else if (strcmp(o->keyword, "port") == 0)
			port = vals[n];
		n++;
	}
	PQconninfoFree(opts);

	hosts = apes_split_list(host);
	ports = apes_split_list(port);
	if (hostaddr == NULL || hostaddr[0] == '\0')
	{
		foreach(lc, hosts)
		{
			char	   *h = lfirst(lc);
			int			i = foreach_current_index(lc);
			char	   *p = list_length(ports) > 1 && i < list_length(ports) ? list_nth(ports, i) : "";
			ApesDnsAnswer *a;

			if (apes_host_is_literal(h))
			{
				new_hosts = lappend(new_hosts, h);
				new_addrs = lappend(new_addrs, "");
				new_ports = lappend(new_ports, p);
				continue;
			}
			if ((a = apes_resolve(h, deadline, err)) == NULL)
				return NULL;
			for (int k = 0; k < a->naddrs; k++)
			{
				new_hosts = lappend(new_hosts, h);
				new_addrs = lappend(new_addrs, pstrdup(a->addrs[k]));
				new_ports = lappend(new_ports, p);
			}
			resolved = true;
		}
	}
	if (resolved)
	{
		int			kept = 0;

		/* host, hostaddr (and a list of ports) replaced by the resolved lists */
		for (int i = 0; i < n; i++)
			if (strcmp(keys[i], "host") != 0 && strcmp(keys[i], "hostaddr") != 0 &&
				!(strcmp(keys[i], "port") == 0 && list_length(ports) > 1))
			{
				keys[kept] = keys[i];
				vals[kept++] = vals[i];
			}
		n = kept;
		keys[n] = "host";
		vals[n++] = apes_join_list(new_hosts);
		keys[n] = "hostaddr";
		vals[n++] = apes_join_list(new_addrs);
		if (list_length(ports) > 1)
		{
			keys[n] = "port";
			vals[n++] = apes_join_list(new_ports);
		}
	}
	keys[n] = vals[n] = NULL;
	conn = PQconnectStartParams(keys, vals, 0);
	if (conn == NULL)
		*err = pstrdup("out of memory");
	return conn;
}

/*
 * Connect within the deadline; NULL with *err set on failure (the connection already closed).  A cancel or
 * statement_timeout while waiting raises an error, and the connection is closed on that path too.
 */
PGconn *
apes_remote_connect(const char *dsn, TimestampTz deadline, char **err)
{
	PGconn	   *volatile conn = apes_start_connection(dsn, deadline, err);
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	volatile bool timed_out = false;

	if (conn == NULL)
		return NULL;
	PG_TRY();
	{
		while (PQstatus(conn) != CONNECTION_BAD && st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED)
		{
			if (!apes_wait_socket(conn, st == PGRES_POLLING_READING, deadline))
			{
				timed_out = true;
				break;
			}
			st = PQconnectPoll(conn);
		}
	}
	PG_CATCH();
	{
		PQfinish(conn);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (timed_out)
	{
		PQfinish(conn);
		*err = pstrdup("timed out");
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK)
	{
		*err = pchomp(PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

/*
 * Run one command within the deadline: its result in *res, or *res NULL with *err set.  *res is the caller's, set as
 * soon as the rows arrive: a cancel or statement_timeout while the rest of the reply is awaited raises an error, and
 * the caller frees *res on that path (a PGresult is malloc()ed: no memory context would free it).
 */
void
apes_remote_query(PGconn *conn, const char *sql, TimestampTz deadline, PGresult **res, char **err)
{
	PGresult   *r;

	*res = NULL;
	if (!PQsendQuery(conn, sql))
	{
		*err = pchomp(PQerrorMessage(conn));
		return;
	}
	for (;;)
	{
		while (PQisBusy(conn))
		{
			if (!apes_wait_socket(conn, true, deadline))
			{
				PQclear(*res);
				*res = NULL;
				*err = pstrdup("timed out");
				return;
			}
			if (!PQconsumeInput(conn))
			{
				PQclear(*res);
				*res = NULL;
				*err = pchomp(PQerrorMessage(conn));
				return;
			}
		}
		r = PQgetResult(conn);
		if (r == NULL)
			break;
		if (*res == NULL && PQresultStatus(r) == PGRES_TUPLES_OK)
			*res = r;
		else
		{
			if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
				*err = pchomp(PQresultErrorMessage(r));
			PQclear(r);
		}
	}
	if (*res == NULL && *err == NULL)
		*err = psprintf("%s returned no rows", sql);
}

/*
 * What a failure may say to the caller: all of it to a superuser (who may read the connection string anyway); to
 * anyone else only its kind, as libpq's text can quote the connection string, a password among it.
 */
char *
apes_remote_error_for_caller(const char *err)
{
	if (superuser())
		return pstrdup(err);
	if (strncmp(err, "timed out looking up", 20) == 0)
		return pstrdup("timed out looking up a host name (a superuser sees which)");
	if (strncmp(err, "timed out", 9) == 0)
		return pstrdup(err);	/* our own words: "timed out" */
	if (strncmp(err, "the connection string is not valid", 34) == 0)
		return pstrdup("the connection string is not valid (a superuser sees why)");
	if (strncmp(err, "could not look up host name", 27) == 0 || strncmp(err, "host name \"", 11) == 0)
		return pstrdup("a host name could not be looked up (a superuser sees which, and why)");
	return pstrdup("the connection or a command failed (a superuser sees libpq's message)");
}
