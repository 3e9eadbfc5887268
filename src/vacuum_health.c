/*
 * vacuum_health.c: the "bloat" area's checks that need no page reads.  Check ids are public API:
 *
 *   vacuum_horizon_held   a session has held back the cleanup horizon longer than pg_apes_health.horizon_max_age
 *   xid_wraparound        a database's oldest unfrozen transaction ID is far along toward wraparound
 *   mxid_wraparound       the same for multixact IDs
 *
 * Sessions come from the backend status array (the source of pg_stat_activity), databases from pg_database (a heap
 * scan under AccessShareLock); ages are computed by the server's xid_age() and mxid_age().  Prepared transactions,
 * replication slots and standby feedback are listed by the apes.vacuum_horizon view.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/heapam.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "apes.h"
#include "catalog.h"

#define AREA "bloat"
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

/* vacuum_horizon_held: client sessions whose snapshot or transaction is older than the configured age. */
static void
apes_check_horizon(ApesCatalog *cat, List **out)
{
	int			n = pgstat_fetch_stat_numbackends();

	for (int i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *local = apes_local_beentry(i);
		PgBackendStatus *be;
		TransactionId xid;
		long		secs;
		int			usecs;
		ApesFinding *f;
		ApesJson	ev;
		const char *role;

		CHECK_FOR_INTERRUPTS();
		if (local == NULL)
			continue;
		be = &local->backendStatus;
		xid = TransactionIdIsValid(local->backend_xid) ? local->backend_xid : local->backend_xmin;
		if (be->st_procpid == MyProcPid || !TransactionIdIsValid(xid) || be->st_xact_start_timestamp == 0)
			continue;
		TimestampDifference(be->st_xact_start_timestamp, cat->now, &secs, &usecs);
		if (apes_horizon_max_age_s <= 0 || secs < apes_horizon_max_age_s)
			continue;

		role = GetUserNameFromId(be->st_userid, true);
		f = apes_new_finding("vacuum_horizon_held", AREA,
							 secs >= 6L * apes_horizon_max_age_s ? APES_CRITICAL : APES_WARNING,
							 psprintf("pid %d", be->st_procpid));
		f->summary = psprintf("session pid %d (role %s%s) has held back the cleanup horizon for %s%s: VACUUM cannot remove any row deleted since then, in any table; end its transaction, or the session",
							  be->st_procpid, role ? role : "?",
							  be->st_appname[0] ? psprintf(", application %s", be->st_appname) : "",
							  apes_duration(secs),
							  be->st_state == STATE_IDLEINTRANSACTION ? " while idle in transaction" : "");
		f->fix_sql = psprintf("SELECT pg_terminate_backend(%d);", be->st_procpid);

		apes_json_begin(&ev);
		apes_json_int(&ev, "pid", be->st_procpid);
		apes_json_text(&ev, "role", role);
		apes_json_text(&ev, "application", be->st_appname);
		apes_json_text(&ev, "transaction_start", timestamptz_to_str(be->st_xact_start_timestamp));
		apes_json_int(&ev, "held_seconds", secs);
		apes_json_int(&ev, "xid_age", DatumGetInt32(DirectFunctionCall1(xid_age, TransactionIdGetDatum(xid))));
		apes_json_bool(&ev, "idle_in_transaction", be->st_state == STATE_IDLEINTRANSACTION);
		apes_json_text(&ev, "see_also", "SELECT * FROM apes.vacuum_horizon");
		apes_json_text(&ev, "confidence_reason", "the session's transaction start and snapshot, from the backend status array");
		f->evidence = apes_json_end(&ev);
		*out = lappend(*out, f);
	}
}

/* One wraparound finding for a database, when its age passes the warning threshold. */
static void
apes_wraparound_finding(List **out, const char *check_id, const char *what, const char *datname, int32 age,
						int32 freeze_max_age)
{
	int64		warn = Max((int64) 2 * freeze_max_age, 400000000);
	ApesFinding *f;
	ApesJson	ev;

	if (age < warn)
		return;
	f = apes_new_finding(check_id, AREA, age >= APES_WRAP_CRITICAL ? APES_CRITICAL : APES_WARNING,
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
		apes_wraparound_finding(out, "xid_wraparound", "transaction", NameStr(db->datname),
								DatumGetInt32(DirectFunctionCall1(xid_age, TransactionIdGetDatum(db->datfrozenxid))),
								xid_freeze);
		apes_wraparound_finding(out, "mxid_wraparound", "multixact", NameStr(db->datname),
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
	apes_check_horizon(cat, out);
	apes_check_wraparound(out);
}
