/*
 * compat.h: every PostgreSQL-version difference pg_apes_health depends on, in one place.
 *
 * Tested on PostgreSQL 15 and 18 (make test runs every suite on each; 17 too where its source package can be had).  The
 * shims for 14 and 16 follow the server's release notes and headers and compile, but are not claimed: no test runs them.
 */
#ifndef APES_COMPAT_H
#define APES_COMPAT_H

#include "postgres.h"
#include "funcapi.h"
#include "utils/guc.h"

#if PG_VERSION_NUM < 140000
#error "pg_apes_health needs PostgreSQL 14 or later"
#endif

/*
 * Materialized set-returning functions: PostgreSQL 15 has InitMaterializedSRF (its 15.0 name SetSingleFuncCall stays
 * as an alias); before 15 the same steps are spelled out here.
 */
#if PG_VERSION_NUM >= 150000
#define apes_init_materialized_srf(fcinfo) InitMaterializedSRF((fcinfo), 0)
#else
#include "miscadmin.h"
#include "utils/tuplestore.h"
static inline void
apes_init_materialized_srf(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext old;
	TupleDesc	tupdesc;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) || (rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("return type must be a row type")));
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setDesc = CreateTupleDescCopy(tupdesc);
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(old);
}
#endif

/* Reserving the GUC prefix: MarkGUCPrefixReserved in 15, EmitWarningsOnPlaceholders before. */
#if PG_VERSION_NUM >= 150000
#define apes_reserve_guc_prefix(p) MarkGUCPrefixReserved(p)
#else
#define apes_reserve_guc_prefix(p) EmitWarningsOnPlaceholders(p)
#endif

/* UNIQUE NULLS NOT DISTINCT arrived in 15. */
#if PG_VERSION_NUM >= 150000
#define apes_index_nulls_not_distinct(form) ((form)->indnullsnotdistinct)
#else
#define apes_index_nulls_not_distinct(form) false
#endif

/*
 * Path of a permanent relation's main fork, palloc'd: RelFileNode became RelFileLocator in 16, and relpathperm()
 * returns a RelPathStr in 18.  Temporary relations are never sized this way (their schemas are skipped).
 */
#include "common/relpath.h"
#if PG_VERSION_NUM >= 180000
#define apes_relpath(spc, db, num) pstrdup(relpathperm(((RelFileLocator) {(spc), (db), (num)}), MAIN_FORKNUM).str)
#elif PG_VERSION_NUM >= 160000
#include "storage/relfilelocator.h"
#define apes_relpath(spc, db, num) relpathperm(((RelFileLocator) {(spc), (db), (num)}), MAIN_FORKNUM)
#else
#include "storage/relfilenode.h"
#define apes_relpath(spc, db, num) relpathperm(((RelFileNode) {(spc), (db), (num)}), MAIN_FORKNUM)
#endif

/* Per-index scan counts in the cumulative statistics: the shared-memory statistics system arrived in 15. */
#if PG_VERSION_NUM >= 150000
#define apes_fetch_tabentry(relid) pgstat_fetch_stat_tabentry_ext(false, (relid))
#else
#define apes_fetch_tabentry(relid) pgstat_fetch_stat_tabentry(relid)
#endif

/* Local copies of other backends' status (progress of CREATE INDEX): renamed in 16. */
#if PG_VERSION_NUM >= 160000
#define apes_local_beentry(i) pgstat_get_local_beentry_by_index(i)
#else
#define apes_local_beentry(i) pgstat_fetch_stat_local_beentry(i)
#endif

/* Rows changed since the last ANALYZE: the field was renamed in 16. */
#if PG_VERSION_NUM >= 160000
#define apes_mod_since_analyze(tabentry) ((tabentry)->mod_since_analyze)
#else
#define apes_mod_since_analyze(tabentry) ((tabentry)->changes_since_analyze)
#endif

/* Slots kept for superusers: superuser_reserved_connections, plus reserved_connections from 16. */
#include "postmaster/postmaster.h"
#if PG_VERSION_NUM >= 160000
#define apes_reserved_connections() (SuperuserReservedConnections + ReservedConnections)
#else
#define apes_reserved_connections() (ReservedBackends)
#endif

/* Live and dead tuple counts, and the last ANALYZE times: renamed in 16. */
#if PG_VERSION_NUM >= 160000
#define apes_live_tuples(tabentry) ((tabentry)->live_tuples)
#define apes_dead_tuples(tabentry) ((tabentry)->dead_tuples)
#define apes_last_analyze(tabentry) ((tabentry)->last_analyze_time)
#define apes_last_autoanalyze(tabentry) ((tabentry)->last_autoanalyze_time)
#else
#define apes_live_tuples(tabentry) ((tabentry)->n_live_tuples)
#define apes_dead_tuples(tabentry) ((tabentry)->n_dead_tuples)
#define apes_last_analyze(tabentry) ((tabentry)->analyze_timestamp)
#define apes_last_autoanalyze(tabentry) ((tabentry)->autovac_analyze_timestamp)
#endif

/*
 * Free space of a heap page, counted as the same server's pgstattuple counts it, so that exact mode equals
 * pgstattuple() to the byte on every version: what the free space map would record (PageGetHeapFreeSpace: less one
 * line pointer, none when the page has no line pointer left) before 17, the exact gap between pd_lower and pd_upper
 * from 17 on (pgstattuple changed in 17).
 */
#include "storage/bufpage.h"
#if PG_VERSION_NUM >= 170000
#define apes_heap_page_free_space(page) PageGetExactFreeSpace(page)
#else
#define apes_heap_page_free_space(page) PageGetHeapFreeSpace(page)
#endif

/* The cluster's oldest datfrozenxid (XidGenLock held): in TransamVariables from 17, ShmemVariableCache before. */
#if PG_VERSION_NUM >= 170000
#define apes_transam_oldest_xid() (TransamVariables->oldestXid)
#else
#define apes_transam_oldest_xid() (ShmemVariableCache->oldestXid)
#endif

/* A table's last (auto)vacuum in its statistics entry: renamed in 16. */
#if PG_VERSION_NUM >= 160000
#define apes_last_vacuum(tabentry) ((tabentry)->last_vacuum_time)
#define apes_last_autovacuum(tabentry) ((tabentry)->last_autovacuum_time)
#else
#define apes_last_vacuum(tabentry) ((tabentry)->vacuum_timestamp)
#define apes_last_autovacuum(tabentry) ((tabentry)->autovac_vacuum_timestamp)
#endif

/* autovacuum_vacuum_max_threshold (18): the reloption (-2 unset), and the server's setting (-1 off); none before. */
#if PG_VERSION_NUM >= 180000
#define apes_av_vac_max_threshold(stdopts) ((stdopts)->autovacuum.vacuum_max_threshold)
#define apes_server_av_vac_max_threshold() (autovacuum_vac_max_thresh)
#else
#define apes_av_vac_max_threshold(stdopts) (-2)
#define apes_server_av_vac_max_threshold() (-1)
#endif

/* A qualified name as a list of names: stringToQualifiedNameList() took a soft-error context from 16. */
#if PG_VERSION_NUM >= 160000
#define apes_qualified_name_list(s) stringToQualifiedNameList((s), NULL)
#else
#define apes_qualified_name_list(s) stringToQualifiedNameList(s)
#endif

/* EXECUTE privilege on a function: object_aclcheck() from 16, pg_proc_aclcheck() before. */
#include "catalog/pg_proc.h"
#include "utils/acl.h"
#if PG_VERSION_NUM >= 160000
#define apes_proc_aclcheck(proc, role) object_aclcheck(ProcedureRelationId, (proc), (role), ACL_EXECUTE)
#else
#define apes_proc_aclcheck(proc, role) pg_proc_aclcheck((proc), (role), ACL_EXECUTE)
#endif

/* MERGE arrived in 15. */
#if PG_VERSION_NUM >= 150000
#define apes_is_merge_stmt(node) IsA((node), MergeStmt)
#define apes_merge_target(node) (((MergeStmt *) (node))->relation)
#else
#define apes_is_merge_stmt(node) false
#define apes_merge_target(node) ((RangeVar *) NULL)
#endif

#endif							/* APES_COMPAT_H */
