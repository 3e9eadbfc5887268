/*
 * pool.c: connection pools as the server sees them, read in C from the backend status array (what pg_stat_activity
 * shows, without building and parsing its rows):
 *
 *   apes.connection_capacity()  slots against max_connections (reserved slots apart), per database and per role
 *   apes.pools()                client backends grouped into pools: (database, role, application, client address)
 *   apes.blocking()             each backend waiting on a lock, its blockers and its root blocker
 *
 * Privacy follows pg_stat_activity: the state, client address and transaction details of another role's session are
 * shown only to members of pg_read_all_stats (or of that role); other sessions are counted, as hidden.  The caller's
 * own backend is left out of the pools.
 */
#include "postgres.h"

#include "access/transam.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "common/ip.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/postmaster.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "apes.h"
#include "pool.h"

#define APES_BACKEND_TYPES 32	/* kinds of other backends listed (BackendType and background worker types) */
#define APES_POOL_WAIT_KINDS 16	/* distinct wait events listed per pool */
#define APES_READ_ONCE(var) ((uint32) (*((volatile uint32 *) &(var))))

/* A backend state as pg_stat_activity names it. */
const char *
apes_state_name(BackendState state)
{
	switch (state)
	{
		case STATE_IDLE:
			return "idle";
		case STATE_RUNNING:
			return "active";
		case STATE_IDLEINTRANSACTION:
			return "idle in transaction";
		case STATE_FASTPATH:
			return "fastpath function call";
		case STATE_IDLEINTRANSACTION_ABORTED:
			return "idle in transaction (aborted)";
		case STATE_DISABLED:
			return "disabled";
		default:
			return "unknown";
	}
}

/* May the caller see the details of a session of this role?  pg_stat_activity's rule. */
bool
apes_may_see_session(Oid role)
{
	return has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS) || has_privs_of_role(GetUserId(), role);
}

/* The client address of a session as text ("NULL" for Unix sockets and unknown), into buf. */
static void
apes_client_addr(PgBackendStatus *be, char *buf, size_t len)
{
	char		port[NI_MAXSERV];

	buf[0] = '\0';
	if (be->st_clientaddr.salen == 0 ||
		(be->st_clientaddr.addr.ss_family != AF_INET && be->st_clientaddr.addr.ss_family != AF_INET6))
		return;
	if (pg_getnameinfo_all(&be->st_clientaddr.addr, be->st_clientaddr.salen, buf, len, port, sizeof(port),
						   NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		buf[0] = '\0';
	else
		clean_ipv6_addr(be->st_clientaddr.addr.ss_family, buf);
}

/* Read every backend's status once: the sessions a report works on. */
List *
apes_read_sessions(void)
{
	List	   *out = NIL;
	int			n = pgstat_fetch_stat_numbackends();
	TimestampTz now = GetCurrentTimestamp();

	for (int i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *local = apes_local_beentry(i);
		PgBackendStatus *be;
		ApesSession *s;
		PGPROC	   *proc;

		CHECK_FOR_INTERRUPTS();
		if (local == NULL)
			continue;
		be = &local->backendStatus;
		if (be->st_procpid <= 0)
			continue;
		s = palloc0(sizeof(ApesSession));
		s->pid = be->st_procpid;
		s->type = be->st_backendType;
		s->role = be->st_userid;
		s->database = be->st_databaseid;
		s->visible = apes_may_see_session(be->st_userid);
		s->self = be->st_procpid == MyProcPid;
		strlcpy(s->application, be->st_appname, sizeof(s->application));
		s->connected_secs = -1;
		if (s->visible)
		{
			s->backend_start = be->st_proc_start_timestamp;
			s->connected_secs = be->st_proc_start_timestamp ? (now - be->st_proc_start_timestamp) / 1e6 : 0;
			s->state = be->st_state;
			apes_client_addr(be, s->client_addr, sizeof(s->client_addr));
			s->xact_secs = be->st_xact_start_timestamp ? (now - be->st_xact_start_timestamp) / 1e6 : -1;
			s->state_secs = be->st_state_start_timestamp ? (now - be->st_state_start_timestamp) / 1e6 : -1;
			s->xmin = TransactionIdIsValid(local->backend_xmin) ? local->backend_xmin : local->backend_xid;
			proc = BackendPidGetProc(be->st_procpid);
			if (proc != NULL)
			{
				uint32		w = APES_READ_ONCE(proc->wait_event_info);

				if (w != 0)
				{
					const char *type = pgstat_get_wait_event_type(w);
					const char *event = pgstat_get_wait_event(w);

					strlcpy(s->wait_type, type ? type : "", sizeof(s->wait_type));
					strlcpy(s->wait_event, event ? event : "", sizeof(s->wait_event));
				}
				else if (proc->waitStatus == PROC_WAIT_STATUS_WAITING)
				{
					/* its deadlock check clears the wait event for a moment; it still waits on a lock */
					strlcpy(s->wait_type, "Lock", sizeof(s->wait_type));
					strlcpy(s->wait_event, "deadlock check", sizeof(s->wait_event));
				}
			}
		}
		else
			s->state = STATE_UNDEFINED;
		out = lappend(out, s);
	}
	return out;
}

/* The pool key of a session: database, role, application, client address. */
typedef struct PoolKey
{
	Oid			database;
	Oid			role;
	char		application[NAMEDATALEN];
	char		client_addr[64];
} PoolKey;

/* One pool's counts. */
typedef struct PoolEntry
{
	PoolKey		key;
	int			sessions;
	int			active;
	int			idle;
	int			idle_in_xact;
	int			idle_in_xact_aborted;
	int			waiting;
	int			hidden;
	double		oldest_xact_secs;
	double		oldest_iit_secs;
	int32		oldest_xmin_age;
	double		youngest_secs;
	int			nwaits;			/* distinct wait events seen, with how many sessions wait on each */
	char	   *wait_names[APES_POOL_WAIT_KINDS];
	int			wait_counts[APES_POOL_WAIT_KINDS];
	int			other_waits;	/* sessions waiting on yet other events */
} PoolEntry;

/* "Lock:transactionid (3), IO:DataFileRead (1)": each wait event once, with its count. */
static char *
apes_pool_waits(PoolEntry *p)
{
	StringInfoData buf;

	if (p->nwaits == 0)
		return NULL;
	initStringInfo(&buf);
	for (int k = 0; k < p->nwaits; k++)
		appendStringInfo(&buf, "%s%s (%d)", k > 0 ? ", " : "", p->wait_names[k], p->wait_counts[k]);
	if (p->other_waits > 0)
		appendStringInfo(&buf, ", other (%d)", p->other_waits);
	return buf.data;
}

/* Add a session to its pool. */
static void
apes_pool_add(PoolEntry *p, ApesSession *s)
{
	p->sessions++;
	/* connection ages of sessions the caller may not see stay hidden, as pg_stat_activity's backend_start does */
	if (s->visible && (p->youngest_secs < 0 || s->connected_secs < p->youngest_secs))
		p->youngest_secs = s->connected_secs;
	if (!s->visible)
	{
		p->hidden++;
		return;
	}
	switch (s->state)
	{
		case STATE_RUNNING:
			p->active++;
			break;
		case STATE_IDLE:
			p->idle++;
			break;
		case STATE_IDLEINTRANSACTION:
			p->idle_in_xact++;
			p->oldest_iit_secs = Max(p->oldest_iit_secs, s->state_secs);
			break;
		case STATE_IDLEINTRANSACTION_ABORTED:
			p->idle_in_xact_aborted++;
			p->oldest_iit_secs = Max(p->oldest_iit_secs, s->state_secs);
			break;
		default:
			break;
	}
	if (s->state == STATE_RUNNING && s->wait_type[0] != '\0' && strcmp(s->wait_type, "Activity") != 0 &&
		strcmp(s->wait_type, "Client") != 0)
	{
		char	   *ev = psprintf("%s:%s", s->wait_type, s->wait_event);
		int			k;

		p->waiting++;
		for (k = 0; k < p->nwaits && strcmp(p->wait_names[k], ev) != 0; k++)
			;
		if (k < APES_POOL_WAIT_KINDS)
		{
			if (k == p->nwaits)
			{
				p->wait_names[k] = ev;
				p->wait_counts[k] = 0;
				p->nwaits++;
			}
			p->wait_counts[k]++;
		}
		else
			p->other_waits++;
	}
	if (s->xact_secs >= 0)
		p->oldest_xact_secs = Max(p->oldest_xact_secs, s->xact_secs);
	if (TransactionIdIsNormal(s->xmin))
		p->oldest_xmin_age = Max(p->oldest_xmin_age,
								 (int32) (ReadNextTransactionId() - s->xmin));
}

/* Pools of the client backends (the caller's own left out): a list of PoolEntry, in no particular order. */
static List *
apes_build_pools(List *sessions, HTAB **htabp)
{
	HASHCTL		ctl;
	HTAB	   *h;
	HASH_SEQ_STATUS seq;
	PoolEntry  *p;
	ListCell   *lc;
	List	   *out = NIL;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(PoolKey);
	ctl.entrysize = sizeof(PoolEntry);
	ctl.hcxt = CurrentMemoryContext;
	h = hash_create("apes pools", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	foreach(lc, sessions)
	{
		ApesSession *s = lfirst(lc);
		PoolKey		key;
		bool		found;

		if (s->type != B_BACKEND || s->self)
			continue;
		memset(&key, 0, sizeof(key));
		key.database = s->database;
		key.role = s->role;
		strlcpy(key.application, s->application, sizeof(key.application));
		strlcpy(key.client_addr, s->client_addr, sizeof(key.client_addr));
		p = hash_search(h, &key, HASH_ENTER, &found);
		if (!found)
		{
			memset(((char *) p) + sizeof(PoolKey), 0, sizeof(PoolEntry) - sizeof(PoolKey));
			p->youngest_secs = -1;
		}
		apes_pool_add(p, s);
	}
	hash_seq_init(&seq, h);
	while ((p = hash_seq_search(&seq)) != NULL)
		out = lappend(out, p);
	*htabp = h;
	return out;
}

/* Seconds as an interval Datum. */
static Datum
apes_secs_interval(double secs)
{
	Interval   *iv = palloc0(sizeof(Interval));

	iv->time = (TimeOffset) (secs * USECS_PER_SEC);
	return IntervalPGetDatum(iv);
}

PG_FUNCTION_INFO_V1(apes_pools);

/* apes.pools(): one row per pool of client backends. */
Datum
apes_pools(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HTAB	   *h;
	ListCell   *lc;
	List	   *pools;

	apes_init_materialized_srf(fcinfo);
	pools = apes_build_pools(apes_read_sessions(), &h);
	foreach(lc, pools)
	{
		PoolEntry  *p = lfirst(lc);
		Datum		values[16];
		bool		nulls[16] = {0};
		char	   *db = OidIsValid(p->key.database) ? get_database_name(p->key.database) : NULL;
		char	   *role = OidIsValid(p->key.role) ? GetUserNameFromId(p->key.role, true) : NULL;
		char	   *waits;
		int			i = 0;

		nulls[i] = db == NULL;
		values[i++] = db ? CStringGetTextDatum(db) : (Datum) 0;
		nulls[i] = role == NULL;
		values[i++] = role ? CStringGetTextDatum(role) : (Datum) 0;
		values[i++] = CStringGetTextDatum(p->key.application);
		nulls[i] = p->key.client_addr[0] == '\0';
		values[i] = nulls[i] ? (Datum) 0 : CStringGetTextDatum(p->key.client_addr);
		i++;
		values[i++] = Int32GetDatum(p->sessions);
		values[i++] = Int32GetDatum(p->active);
		values[i++] = Int32GetDatum(p->idle);
		values[i++] = Int32GetDatum(p->idle_in_xact);
		values[i++] = Int32GetDatum(p->idle_in_xact_aborted);
		values[i++] = Int32GetDatum(p->waiting);
		waits = apes_pool_waits(p);
		nulls[i] = waits == NULL;
		values[i] = waits ? CStringGetTextDatum(waits) : (Datum) 0;
		i++;
		nulls[i] = p->oldest_xact_secs <= 0;
		values[i++] = apes_secs_interval(p->oldest_xact_secs);
		nulls[i] = p->oldest_iit_secs <= 0;
		values[i++] = apes_secs_interval(p->oldest_iit_secs);
		nulls[i] = p->oldest_xmin_age <= 0;
		values[i++] = Int32GetDatum(p->oldest_xmin_age);
		nulls[i] = p->youngest_secs < 0;
		values[i++] = apes_secs_interval(p->youngest_secs);
		values[i++] = Int32GetDatum(p->hidden);
		Assert(i == 16);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* Client backends per database or per role: oids[] with counts[] (at most cap distinct keys). */
void
apes_count_by(List *sessions, bool by_role, Oid *oids, int *counts, int *n, int cap)
{
	ListCell   *lc;

	*n = 0;
	foreach(lc, sessions)
	{
		ApesSession *s = lfirst(lc);
		Oid			key = by_role ? s->role : s->database;
		int			j;

		if (s->type != B_BACKEND || !OidIsValid(key))
			continue;
		for (j = 0; j < *n && oids[j] != key; j++)
			;
		if (j == *n)
		{
			if (*n == cap)
				continue;
			oids[j] = key;
			counts[j] = 0;
			(*n)++;
		}
		counts[j]++;
	}
}

/* The server row of apes.connection_capacity(): client backends against the usable slots. */
ApesCapacity
apes_capacity(List *sessions)
{
	ApesCapacity c = {0};
	ListCell   *lc;

	c.max_connections = MaxConnections;
	c.reserved = apes_reserved_connections();
	c.usable = Max(MaxConnections - c.reserved, 0);
	foreach(lc, sessions)
	{
		ApesSession *s = lfirst(lc);

		if (s->type == B_BACKEND)
			c.in_use++;
		else
			c.other++;
	}
	c.headroom = c.usable - c.in_use;
	c.pct = c.usable > 0 ? 100.0 * c.in_use / c.usable : 100.0;
	return c;
}

/* The other (non-client) backends by type, as {"autovacuum worker": 2, ...}. */
static Jsonb *
apes_other_backends(List *sessions)
{
	ApesJson	j;
	const char *names[APES_BACKEND_TYPES] = {0};
	int			counts[APES_BACKEND_TYPES] = {0};
	ListCell   *lc;

	foreach(lc, sessions)
	{
		ApesSession *s = lfirst(lc);

		const char *name;
		int			t;

		if (s->type == B_BACKEND || (int) s->type < 0)
			continue;
		/* background workers by their own type name (as pg_stat_activity shows them), others by backend type */
		name = s->type == B_BG_WORKER ? GetBackgroundWorkerTypeByPid(s->pid) : NULL;
		name = pstrdup(name ? name : GetBackendTypeDesc(s->type));
		for (t = 0; t < APES_BACKEND_TYPES && names[t] != NULL && strcmp(names[t], name) != 0; t++)
			;
		if (t == APES_BACKEND_TYPES)
			continue;
		names[t] = name;
		counts[t]++;
	}
	apes_json_begin(&j);
	for (int t = 0; t < APES_BACKEND_TYPES && names[t] != NULL; t++)
		apes_json_int(&j, names[t], counts[t]);
	return apes_json_end(&j);
}

/*
 * Emit one row of apes.connection_capacity().  limit < 0 (no limit of its own): NULL, and headroom and utilisation
 * are against the server's usable slots.
 */
static void
apes_capacity_row(ReturnSetInfo *rsinfo, const char *scope, const char *name, int limit, int reserved, int in_use,
				  int usable, Jsonb *other)
{
	Datum		values[8];
	bool		nulls[8] = {0};
	int			cap = limit >= 0 ? limit - reserved : usable;

	values[0] = CStringGetTextDatum(scope);
	nulls[1] = name == NULL;
	values[1] = name ? CStringGetTextDatum(name) : (Datum) 0;
	nulls[2] = limit < 0;
	values[2] = Int32GetDatum(limit);
	values[3] = Int32GetDatum(reserved);
	values[4] = Int32GetDatum(in_use);
	values[5] = Int32GetDatum(cap - in_use);
	values[6] = Float8GetDatum(cap > 0 ? 100.0 * in_use / cap : 100.0);
	nulls[7] = other == NULL;
	values[7] = other ? JsonbPGetDatum(other) : (Datum) 0;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* Per database (datconnlimit) or role (rolconnlimit) limits, from the syscache; -1 means none. */
int
apes_connlimit(Oid oid, bool is_role)
{
	HeapTuple	tup = SearchSysCache1(is_role ? AUTHOID : DATABASEOID, ObjectIdGetDatum(oid));
	int			limit = -1;

	if (HeapTupleIsValid(tup))
	{
		limit = is_role ? ((Form_pg_authid) GETSTRUCT(tup))->rolconnlimit :
			((Form_pg_database) GETSTRUCT(tup))->datconnlimit;
		ReleaseSysCache(tup);
	}
	return limit;
}

PG_FUNCTION_INFO_V1(apes_connection_capacity);

/*
 * apes.connection_capacity(): the server (max_connections, reserved slots, client backends; other backends listed
 * apart), then each database and role with sessions, against its connection limit if it has one.
 */
Datum
apes_connection_capacity(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *sessions;
	ApesCapacity c;
	Oid			oids[1024];
	int			counts[1024];
	int			n;

	apes_init_materialized_srf(fcinfo);
	sessions = apes_read_sessions();
	c = apes_capacity(sessions);
	apes_capacity_row(rsinfo, "server", NULL, c.max_connections, c.reserved, c.in_use, c.usable,
					  apes_other_backends(sessions));
	for (int pass = 0; pass < 2; pass++)
	{
		bool		by_role = pass == 1;

		apes_count_by(sessions, by_role, oids, counts, &n, lengthof(oids));
		for (int j = 0; j < n; j++)
		{
			int			limit = apes_connlimit(oids[j], by_role);
			char	   *name = by_role ? GetUserNameFromId(oids[j], true) : get_database_name(oids[j]);

			if (name == NULL)
				continue;
			apes_capacity_row(rsinfo, by_role ? "role" : "database", name, limit, 0, counts[j], c.usable, NULL);
		}
	}
	return (Datum) 0;
}

/* The lock a backend waits for: type, mode and since when, from the lock manager's status (pg_locks' source). */
static bool
apes_waited_lock(LockData *locks, int pid, const char **type, const char **mode, TimestampTz *since)
{
	for (int i = 0; i < locks->nelements; i++)
	{
		LockInstanceData *l = &locks->locks[i];

		if (l->pid != pid || l->waitLockMode == NoLock)
			continue;
		*type = l->locktag.locktag_type <= LOCKTAG_LAST_TYPE ? LockTagTypeNames[l->locktag.locktag_type] : "?";
		*mode = GetLockmodeName(l->locktag.locktag_lockmethodid, l->waitLockMode);
		*since = l->waitStart;
		return true;
	}
	return false;
}

/* The session with this pid, or NULL. */
static ApesSession *
apes_session_by_pid(List *sessions, int pid)
{
	ListCell   *lc;

	foreach(lc, sessions)
		if (((ApesSession *) lfirst(lc))->pid == pid)
			return lfirst(lc);
	return NULL;
}

/*
 * Blocked backends (waiting on a heavyweight lock) with their blockers (pg_blocking_pids(), asked only for them) and
 * root blocker (followed through blockers that are blocked themselves; in a deadlock cycle, where the cycle closes).
 */
List *
apes_read_blocking(List *sessions)
{
	List	   *out = NIL;
	ListCell   *lc;
	LockData   *locks = NULL;

	foreach(lc, sessions)
	{
		ApesSession *s = lfirst(lc);
		ArrayType  *arr;
		Datum	   *elems;
		int			n;

		CHECK_FOR_INTERRUPTS();
		if (!s->visible || strcmp(s->wait_type, "Lock") != 0)
			continue;
		arr = DatumGetArrayTypeP(DirectFunctionCall1(pg_blocking_pids, Int32GetDatum(s->pid)));
		deconstruct_array(arr, INT4OID, 4, true, TYPALIGN_INT, &elems, NULL, &n);
		if (n == 0)
			continue;			/* granted meanwhile */
		s->nblockers = n;
		s->blockers = palloc(sizeof(int) * n);
		for (int i = 0; i < n; i++)
			s->blockers[i] = DatumGetInt32(elems[i]);
		if (locks == NULL)
			locks = GetLockStatusData();
		if (!apes_waited_lock(locks, s->pid, &s->lock_type, &s->lock_mode, &s->wait_since))
			s->lock_type = s->lock_mode = NULL;
		out = lappend(out, s);
	}
	/* root blockers: follow the first blocker while it is blocked itself */
	foreach(lc, out)
	{
		ApesSession *s = lfirst(lc);
		int			root = s->blockers[0];

		for (int hops = 0; hops < list_length(out); hops++)
		{
			ApesSession *b = apes_session_by_pid(sessions, root);

			if (b == NULL || b->nblockers == 0 || b->blockers[0] == s->pid)
				break;
			root = b->blockers[0];
		}
		s->root_blocker = root;
	}
	foreach(lc, out)
	{
		ApesSession *s = lfirst(lc);
		ListCell   *lc2;

		foreach(lc2, out)
			if (((ApesSession *) lfirst(lc2))->root_blocker == s->root_blocker)
				s->root_holds++;
	}
	return out;
}

PG_FUNCTION_INFO_V1(apes_blocking);

/* apes.blocking(): one row per blocked backend, with its blockers and root blocker. */
Datum
apes_blocking(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *sessions;
	ListCell   *lc;
	TimestampTz now = GetCurrentTimestamp();

	apes_init_materialized_srf(fcinfo);
	sessions = apes_read_sessions();
	foreach(lc, apes_read_blocking(sessions))
	{
		ApesSession *s = lfirst(lc);
		ApesSession *root = apes_session_by_pid(sessions, s->root_blocker);
		Datum		values[13];
		bool		nulls[13] = {0};
		Datum	   *pids = palloc(sizeof(Datum) * s->nblockers);
		char	   *role = GetUserNameFromId(s->role, true);
		char	   *rrole = root ? GetUserNameFromId(root->role, true) : NULL;
		int			i = 0;

		for (int b = 0; b < s->nblockers; b++)
			pids[b] = Int32GetDatum(s->blockers[b]);
		values[i++] = Int32GetDatum(s->pid);
		nulls[i] = role == NULL;
		values[i++] = role ? CStringGetTextDatum(role) : (Datum) 0;
		values[i++] = CStringGetTextDatum(s->application);
		nulls[i] = s->wait_since == 0;
		values[i++] = apes_secs_interval(s->wait_since ? (now - s->wait_since) / 1e6 : 0);
		nulls[i] = s->lock_type == NULL;
		values[i++] = s->lock_type ? CStringGetTextDatum(s->lock_type) : (Datum) 0;
		nulls[i] = s->lock_mode == NULL;
		values[i++] = s->lock_mode ? CStringGetTextDatum(s->lock_mode) : (Datum) 0;
		values[i++] = PointerGetDatum(construct_array(pids, s->nblockers, INT4OID, 4, true, TYPALIGN_INT));
		values[i++] = Int32GetDatum(s->root_blocker);
		nulls[i] = rrole == NULL;
		values[i++] = rrole ? CStringGetTextDatum(rrole) : (Datum) 0;
		nulls[i] = s->root_blocker != 0 && (root == NULL || !root->visible);
		values[i] = nulls[i] ? (Datum) 0 :
			CStringGetTextDatum(s->root_blocker == 0 ? "prepared transaction" : apes_state_name(root->state));
		i++;
		nulls[i] = root == NULL || !root->visible || root->xact_secs < 0;
		values[i] = nulls[i] ? (Datum) 0 : apes_secs_interval(root->xact_secs);
		i++;
		nulls[i] = root == NULL;
		values[i++] = root ? CStringGetTextDatum(root->application) : (Datum) 0;
		values[i++] = Int32GetDatum(s->root_holds);
		Assert(i == 13);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
