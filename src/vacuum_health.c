/*
 * vacuum_health.c: the "bloat" area's checks that need no page reads.  Check ids are public API:
 *
 *   vacuum_horizon_held   a session, prepared transaction, replication slot or standby's feedback holds back the cleanup
 *                         horizon: for longer than pg_apes_health.horizon_max_age, or by more than
 *                         pg_apes_health.horizon_max_xid_age transactions
 *   xid_wraparound        a database's oldest unfrozen transaction ID is far along toward wraparound
 *   mxid_wraparound       the same for multixact IDs
 *
 * Sessions come from the backend status array (the source of pg_stat_activity), databases from pg_database (a heap
 * scan under AccessShareLock), prepared transactions, slots and standbys from the server's views through SPI; ages are
 * computed by the server's xid_age() and mxid_age().  apes.vacuum_horizon lists every holder, held long or not.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/heapam.h"
#include "catalog/pg_database.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "apes.h"
#include "catalog.h"
#include "pool.h"

#define APES_WRAP_CRITICAL 1500000000

/* A duration in seconds as the server prints intervals ("02:13:05", "3 days 04:00:00"). */
static char *
apes_duration(long secs)
{
	Interval	iv;

	memset(&iv, 0, sizeof(iv));
	iv.time = (TimeOffset) secs * USECS_PER_SEC;
	return DatumGetCString(DirectFunctionCall1(interval_out,
											   DirectFunctionCall1(interval_justify_hours, IntervalPGetDatum(&iv))));
}

/* The age in transactions of xid (the server's xid_age()). */
static int32
apes_xid_age(TransactionId xid)
{
	return DatumGetInt32(DirectFunctionCall1(xid_age, TransactionIdGetDatum(xid)));
}

/* Seconds from t to the report's time, 0 when t is unknown. */
static long
apes_secs_since(ApesCatalog *cat, TimestampTz t)
{
	long		secs;
	int			usecs;

	if (t == 0)
		return 0;
	TimestampDifference(t, cat->now, &secs, &usecs);
	return secs;
}

/*
 * True when a horizon held for secs (0: unknown) by an xid age old is worth a finding: no transaction has begun
 * since it (age 0) holds nothing back; past horizon_max_xid_age transactions it always is; else the time decides.
 */
static bool
apes_horizon_worth(long secs, int32 age)
{
	if (age <= 0)
		return false;
	if (apes_horizon_max_xid_age > 0 && age >= apes_horizon_max_xid_age)
		return true;
	return apes_horizon_max_age_s > 0 && secs >= apes_horizon_max_age_s;
}

/* warning, or critical at six times the age or the transactions allowed. */
static ApesSeverity
apes_horizon_severity(long secs, int32 age)
{
	if ((apes_horizon_max_age_s > 0 && secs >= 6L * apes_horizon_max_age_s) ||
		(apes_horizon_max_xid_age > 0 && (int64) age >= 6 * (int64) apes_horizon_max_xid_age))
		return APES_CRITICAL;
	return APES_WARNING;
}

/* A vacuum_horizon_held finding's evidence, begun with what every holder has. */
static void
apes_horizon_evidence_begin(ApesJson *ev, const char *kind, TransactionId xid, int32 age, long secs,
							const char *since_basis)
{
	apes_json_begin(ev);
	apes_json_text(ev, "holder_kind", kind);
	apes_json_int(ev, "horizon_xid", xid);
	apes_json_int(ev, "xid_age", age);
	if (since_basis != NULL)
	{
		apes_json_int(ev, "held_seconds", secs);
		apes_json_text(ev, "held_since_basis", since_basis);
	}
	else
	{
		apes_json_null(ev, "held_seconds");
		apes_json_null(ev, "held_since_basis");
	}
	apes_json_int(ev, "horizon_max_xid_age", apes_horizon_max_xid_age);
	apes_json_text(ev, "see_also", "SELECT * FROM apes.vacuum_horizon");
}

/*
 * How long a backend has held the horizon it holds, and from what: its own xid since its transaction began (an upper
 * bound: the xid came with its first write); a snapshot kept while idle in the transaction (REPEATABLE READ or
 * SERIALIZABLE) since the transaction began; the snapshot of a running statement since the statement began (READ
 * COMMITTED takes one per statement; a session's transaction start says nothing of it).
 */
static long
apes_backend_held(ApesCatalog *cat, LocalPgBackendStatus *local, bool by_xid, const char **basis)
{
	PgBackendStatus *be = &local->backendStatus;

	if (by_xid || be->st_state != STATE_RUNNING)
	{
		*basis = "transaction_start";
		return apes_secs_since(cat, be->st_xact_start_timestamp);
	}
	*basis = "statement_start";
	return apes_secs_since(cat, be->st_activity_start_timestamp);
}

/*
 * vacuum_horizon_held, sessions: client backends whose xid or snapshot (backend_xmin) is the older end of the cleanup
 * horizon, judged by what holds it: its age in transactions, and how long that xid or snapshot has been held.  A
 * session of a role the caller may not see (pg_stat_activity's rule) is judged by its xid age alone and shown with
 * what pg_stat_activity shows everyone: pid, role, application and the xids.
 */
static void
apes_check_horizon_sessions(ApesCatalog *cat, List **out)
{
	int			n = pgstat_fetch_stat_numbackends();

	for (int i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *local = apes_local_beentry(i);
		PgBackendStatus *be;
		TransactionId xid;
		bool		by_xid;
		bool		visible;
		int32		age;
		long		secs = 0;
		const char *basis = NULL;
		ApesFinding *f;
		ApesJson	ev;
		const char *role;

		CHECK_FOR_INTERRUPTS();
		if (local == NULL)
			continue;
		be = &local->backendStatus;
		/* a walsender's xmin is its standby's feedback: apes_check_horizon_others() reports it as such */
		if (be->st_procpid == MyProcPid || be->st_procpid <= 0 || be->st_backendType == B_WAL_SENDER)
			continue;
		by_xid = TransactionIdIsValid(local->backend_xid) &&
			(!TransactionIdIsValid(local->backend_xmin) ||
			 TransactionIdPrecedes(local->backend_xid, local->backend_xmin));
		xid = by_xid ? local->backend_xid : local->backend_xmin;
		if (!TransactionIdIsValid(xid))
			continue;
		age = apes_xid_age(xid);
		visible = apes_may_see_session(be->st_userid);
		if (visible)
			secs = apes_backend_held(cat, local, by_xid, &basis);
		if (!apes_horizon_worth(secs, age))
			continue;

		role = GetUserNameFromId(be->st_userid, true);
		f = apes_new_finding(APES_CHECK_vacuum_horizon_held, apes_horizon_severity(secs, age),
							 psprintf("pid %d", be->st_procpid));
		if (visible)
			f->summary = psprintf("session pid %d (role %s%s) has held back the cleanup horizon for %s%s (%d transactions since): VACUUM cannot remove any row deleted since then, in any table; end its transaction, or the session",
								  be->st_procpid, role ? role : "?",
								  be->st_appname[0] ? psprintf(", application %s", be->st_appname) : "",
								  apes_duration(secs),
								  be->st_state == STATE_IDLEINTRANSACTION ? " while idle in transaction" : "", age);
		else
			f->summary = psprintf("session pid %d (role %s%s) holds back the cleanup horizon by %d transactions: VACUUM cannot remove any row deleted since; its transaction's start and state are shown to members of pg_read_all_stats",
								  be->st_procpid, role ? role : "?",
								  be->st_appname[0] ? psprintf(", application %s", be->st_appname) : "", age);
		f->fix_sql = psprintf("SELECT pg_terminate_backend(%d);", be->st_procpid);

		apes_horizon_evidence_begin(&ev, "backend", xid, age, secs, basis);
		apes_json_int(&ev, "pid", be->st_procpid);
		apes_json_text(&ev, "role", role);
		apes_json_text(&ev, "application", be->st_appname);
		apes_json_text(&ev, "held_by", by_xid ? "transaction_id" : "snapshot");
		if (visible)
		{
			apes_json_text(&ev, "transaction_start", be->st_xact_start_timestamp ?
						   timestamptz_to_str(be->st_xact_start_timestamp) : NULL);
			apes_json_bool(&ev, "idle_in_transaction", be->st_state == STATE_IDLEINTRANSACTION);
		}
		apes_json_bool(&ev, "details_visible", visible);
		apes_json_text(&ev, "confidence_reason", visible ?
					   "the session's xid or snapshot xmin and its age, from the backend status array; held since its transaction start (an xid, or a snapshot kept while idle) or its statement start (a running statement's snapshot)" :
					   "the session's xid or snapshot xmin and its age, which pg_stat_activity shows everyone; its times are not shown to this role, so only the xid age judges it");
		f->evidence = apes_json_end(&ev);
		*out = lappend(*out, f);
	}
}

/* One vacuum_horizon_held finding about a prepared transaction, a replication slot or a standby's feedback. */
static void
apes_horizon_other_finding(List **out, const char *kind, const char *object, TransactionId xid, int32 age,
						   long secs, const char *basis, char *summary, char *fix, const char *detail_key,
						   const char *detail)
{
	ApesFinding *f = apes_new_finding(APES_CHECK_vacuum_horizon_held, apes_horizon_severity(secs, age), object);
	ApesJson	ev;

	f->summary = summary;
	f->fix_sql = fix;
	apes_horizon_evidence_begin(&ev, kind, xid, age, secs, basis);
	apes_json_text(&ev, detail_key, detail);
	apes_json_text(&ev, "confidence_reason", "the holder's xmin and its age, from the server's own view of it");
	f->evidence = apes_json_end(&ev);
	*out = lappend(*out, f);
}

/*
 * vacuum_horizon_held, the other holders (what apes.vacuum_horizon lists besides sessions): prepared transactions
 * (held since they were prepared), replication slots' xmin and catalog_xmin, and hot_standby_feedback of standbys
 * (both judged by their xid age: the server records no time for them), read from the server's views through SPI.
 */
static void
apes_check_horizon_others(ApesCatalog *cat, List **out)
{
	MemoryContext caller = CurrentMemoryContext;
	uint64		nrows;
	SPITupleTable *tt;

	if (SPI_connect() != SPI_OK_CONNECT)
		return;
	/* every operator and function qualified: the query runs under the caller's search_path */
	if (SPI_execute("SELECT 'prepared', p.gid, p.transaction, p.prepared, p.database::text, NULL::text, NULL::boolean"
					" FROM pg_catalog.pg_prepared_xacts p"
					" UNION ALL SELECT 'slot', s.slot_name::text, s.xmin, NULL, s.slot_type, s.database::text, s.active"
					" FROM pg_catalog.pg_replication_slots s WHERE s.xmin IS NOT NULL"
					" UNION ALL SELECT 'slot_catalog', s.slot_name::text, s.catalog_xmin, NULL, s.slot_type,"
					" s.database::text, s.active"
					" FROM pg_catalog.pg_replication_slots s WHERE s.catalog_xmin IS NOT NULL"
					" UNION ALL SELECT 'standby', r.application_name, r.backend_xmin, NULL, r.client_addr::text, NULL, NULL"
					" FROM pg_catalog.pg_stat_replication r WHERE r.backend_xmin IS NOT NULL",
					true, 0) != SPI_OK_SELECT)
	{
		SPI_finish();
		return;
	}
	nrows = SPI_processed;
	tt = SPI_tuptable;
	MemoryContextSwitchTo(caller);
	for (uint64 r = 0; r < nrows; r++)
	{
		HeapTuple	tup = tt->vals[r];
		TupleDesc	desc = tt->tupdesc;
		char	   *kind = SPI_getvalue(tup, desc, 1);
		char	   *name = SPI_getvalue(tup, desc, 2);
		bool		isnull;
		TransactionId xid = DatumGetTransactionId(SPI_getbinval(tup, desc, 3, &isnull));
		Datum		prepared = SPI_getbinval(tup, desc, 4, &isnull);
		char	   *what = SPI_getvalue(tup, desc, 5);
		char	   *db = SPI_getvalue(tup, desc, 6);
		char	   *active = SPI_getvalue(tup, desc, 7);

		int32		age;
		long		secs;

		CHECK_FOR_INTERRUPTS();
		if (kind == NULL || name == NULL || !TransactionIdIsNormal(xid))
			continue;
		age = apes_xid_age(xid);
		secs = (strcmp(kind, "prepared") == 0 && !isnull) ? apes_secs_since(cat, DatumGetTimestampTz(prepared)) : 0;
		if (!apes_horizon_worth(secs, age))
			continue;
		if (strcmp(kind, "prepared") == 0)
			apes_horizon_other_finding(out, "prepared_transaction",
									   psprintf("prepared transaction %s", quote_literal_cstr(name)), xid, age, secs,
									   "prepared",
									   psprintf("prepared transaction %s (database %s) has held back the cleanup horizon for %s (%d transactions since): VACUUM cannot remove any row deleted since, in any database; COMMIT PREPARED or ROLLBACK PREPARED it in that database once the transaction manager that prepared it is known to be gone",
												quote_literal_cstr(name), what ? quote_identifier(what) : "?",
												apes_duration(secs), age),
									   psprintf("ROLLBACK PREPARED %s;", quote_literal_cstr(name)),
									   "database", what);
		else if (strcmp(kind, "standby") == 0)
			apes_horizon_other_finding(out, "standby_feedback", psprintf("standby %s", quote_identifier(name)),
									   xid, age, 0, NULL,
									   psprintf("standby %s (hot_standby_feedback) holds back the cleanup horizon by %d transactions: its long queries keep VACUUM here from removing rows; shorten them, or turn hot_standby_feedback off on it and let max_standby_streaming_delay cancel them",
												quote_identifier(name), age),
									   NULL, "client_addr", what);
		else
		{
			bool		catalog = strcmp(kind, "slot_catalog") == 0;
			bool		inactive = active != NULL && strcmp(active, "f") == 0;

			apes_horizon_other_finding(out, catalog ? "replication_slot_catalog" : "replication_slot",
									   psprintf("replication slot %s", quote_identifier(name)), xid, age, 0, NULL,
									   psprintf("%s replication slot %s%s holds back the cleanup horizon%s by %d transactions: %s",
												what ? what : "", quote_identifier(name),
												inactive ? " (inactive)" : "",
												catalog ? " of the system catalogs" : "", age,
												inactive ? "nothing consumes it; drop it if it is abandoned" :
												"its consumer lags; let it catch up, or drop the slot if it is abandoned"),
									   inactive ? psprintf("SELECT pg_drop_replication_slot(%s);", quote_literal_cstr(name)) : NULL,
									   "database", db);
		}
	}
	SPI_finish();
	MemoryContextSwitchTo(caller);
}

/* One wraparound finding for a database, when its age passes the warning threshold. */
static void
apes_wraparound_finding(List **out, ApesCheckId check, const char *what, const char *datname, int32 age,
						int32 freeze_max_age)
{
	int64		warn = Max((int64) 2 * freeze_max_age, 400000000);
	ApesFinding *f;
	ApesJson	ev;

	if (age < warn)
		return;
	f = apes_new_finding(check, age >= APES_WRAP_CRITICAL ? APES_CRITICAL : APES_WARNING,
						 quote_identifier(datname));
	f->summary = psprintf("database %s is %d %s IDs old (%.0f%% of the way to wraparound): anti-wraparound VACUUM is not keeping up; find what blocks it (apes.vacuum_horizon) and VACUUM (FREEZE) its oldest tables",
						  quote_identifier(datname), age, what, 100.0 * age / 2147483647.0);
	apes_json_begin(&ev);
	apes_json_int(&ev, "age", age);
	apes_json_int(&ev, "warning_age", warn);
	apes_json_int(&ev, "critical_age", APES_WRAP_CRITICAL);
	apes_json_int(&ev, "freeze_max_age", freeze_max_age);
	apes_json_text(&ev, "see_also", "SELECT * FROM apes.wraparound");
	apes_json_text(&ev, "confidence_reason", "pg_database's oldest unfrozen ID, aged by the server's own age function");
	f->evidence = apes_json_end(&ev);
	*out = lappend(*out, f);
}

/* xid_wraparound and mxid_wraparound: every database that accepts connections.  Lock: AccessShareLock on pg_database. */
static void
apes_check_wraparound(List **out)
{
	int32		xid_freeze = atoi(GetConfigOption("autovacuum_freeze_max_age", false, false));
	int32		mxid_freeze = atoi(GetConfigOption("autovacuum_multixact_freeze_max_age", false, false));
	Relation	rel = table_open(DatabaseRelationId, AccessShareLock);
	TableScanDesc scan = table_beginscan_catalog(rel, 0, NULL);
	HeapTuple	tup;

	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		CHECK_FOR_INTERRUPTS();
		if (!db->datallowconn)
			continue;
		apes_wraparound_finding(out, APES_CHECK_xid_wraparound, "transaction", NameStr(db->datname),
								DatumGetInt32(DirectFunctionCall1(xid_age, TransactionIdGetDatum(db->datfrozenxid))),
								xid_freeze);
		apes_wraparound_finding(out, APES_CHECK_mxid_wraparound, "multixact", NameStr(db->datname),
								DatumGetInt32(DirectFunctionCall1(mxid_age, TransactionIdGetDatum(db->datminmxid))),
								mxid_freeze);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
}

/* The bloat area's checks that read no pages. */
void
apes_collect_vacuum_findings(ApesCatalog *cat, List **out)
{
	apes_check_horizon_sessions(cat, out);
	apes_check_horizon_others(cat, out);
	apes_check_wraparound(out);
}
