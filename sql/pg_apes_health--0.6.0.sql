/* pg_apes_health 0.6.0: install script (updates: pg_apes_health--0.1.0--0.2.0.sql, then
 * pg_apes_health--0.2.0--0.3.0.sql, then pg_apes_health--0.3.0--0.4.0.sql, then pg_apes_health--0.4.0--0.5.0.sql,
 * then pg_apes_health--0.5.0--0.6.0.sql).
 *
 * Safety rules for this file (see docs/security.md):
 *  - no replacing creation and no "if it does not exist yet" clauses: a pre-planted object makes the install fail
 *    instead of being adopted;
 *  - every catalog object and operator is schema-qualified; C functions do not depend on search_path;
 *  - nothing is granted to PUBLIC; read-only reporting goes to pg_monitor.
 */
\echo Use "CREATE EXTENSION pg_apes_health" to load this file. \quit

-- The schema comes from the control file (schema = apes).  If it existed before the install, it must be owned by a
-- superuser: a schema owned by an ordinary role would let that role plant objects beside ours.
DO $guard$
BEGIN
    IF NOT (SELECT r.rolsuper
              FROM pg_catalog.pg_namespace n
              JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
             WHERE n.nspname OPERATOR(pg_catalog.=) 'apes') THEN
        RAISE EXCEPTION 'schema "apes" is owned by a role that is not a superuser'
            USING ERRCODE = '42501',
                  HINT = 'Drop or re-own schema "apes" before installing pg_apes_health.';
    END IF;
END
$guard$;

REVOKE ALL ON SCHEMA apes FROM PUBLIC;
GRANT USAGE ON SCHEMA apes TO pg_monitor;

COMMENT ON SCHEMA apes IS 'pg_apes_health: database health reporting';

-- One row per finding, for every area (or the one named).  Reads catalogs and cumulative statistics only.
CREATE FUNCTION apes.findings(area text DEFAULT NULL)
RETURNS TABLE (
    check_id     text,
    area         text,
    severity     text,
    object_name  text,
    summary      text,
    wasted_bytes bigint,
    confidence   text,
    evidence     jsonb,
    fix_sql      text,
    undo_sql     text
)
AS 'MODULE_PATHNAME', 'apes_findings'
LANGUAGE C STABLE PARALLEL UNSAFE;

COMMENT ON FUNCTION apes.findings(text) IS
    'health findings of every area, or of one area (index); one shape for all checks';

-- The readable report for psql: a verdict line, then findings by severity and area.
CREATE FUNCTION apes.health_report()
RETURNS text
AS 'MODULE_PATHNAME', 'apes_health_report'
LANGUAGE C STABLE PARALLEL UNSAFE;

COMMENT ON FUNCTION apes.health_report() IS 'health report as text, for people';

-- The same report as one jsonb document, for tools.
CREATE FUNCTION apes.health_json()
RETURNS jsonb
AS 'MODULE_PATHNAME', 'apes_health_json'
LANGUAGE C STABLE PARALLEL UNSAFE;

COMMENT ON FUNCTION apes.health_json() IS 'health report as jsonb, for tools and monitoring endpoints';

-- The registry of checks: every check id any area can report, with its area, usual severity, what it finds, the
-- settings that govern it and where its rules are documented (src/checks.h; docs/checks.md is generated from it).
CREATE FUNCTION apes.checks()
RETURNS TABLE (check_id text, area text, default_severity text, description text, settings text[],
               documentation text)
AS 'MODULE_PATHNAME', 'apes_checks_list'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE VIEW apes.checks AS SELECT * FROM apes.checks();

COMMENT ON VIEW apes.checks IS 'every check pg_apes_health can report: area, usual severity, description, settings, documentation';

-- The version of the loaded library (the SQL-level version is pg_extension.extversion).
CREATE FUNCTION apes.version()
RETURNS text
AS 'MODULE_PATHNAME', 'apes_version'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION apes.version() IS 'version of the loaded pg_apes_health library';

-- Bloat of a table and of its TOAST table, measured on real pages (sampled with a 95% interval, or exact).
-- Reads pages: granted to pg_stat_scan_tables (which pg_monitor includes), like contrib's pgstattuple.
CREATE FUNCTION apes.table_bloat(rel regclass, sample_pages integer DEFAULT NULL, exact boolean DEFAULT false)
RETURNS TABLE (
    relation             regclass,
    kind                 text,
    total_bytes          bigint,
    pages                bigint,
    pages_scanned        bigint,
    method               text,
    live_tuples          bigint,
    dead_tuples          bigint,
    recently_dead_tuples bigint,
    live_bytes           bigint,
    dead_bytes           bigint,
    recently_dead_bytes  bigint,
    free_bytes           bigint,
    wasted_bytes         bigint,
    wasted_pct           double precision,
    wasted_pct_low       double precision,
    wasted_pct_high      double precision
)
AS 'MODULE_PATHNAME', 'apes_table_bloat'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION apes.table_bloat(regclass, integer, boolean) IS
    'dead, recently dead and free space of a table and its TOAST table, from a sample of pages (95% interval) or every page';

-- Bloat of an index, measured on its pages: btree against a fresh build; other access methods free space only.
CREATE FUNCTION apes.index_bloat(idx regclass, sample_pages integer DEFAULT NULL, exact boolean DEFAULT false)
RETURNS TABLE (
    index            regclass,
    access_method    text,
    total_bytes      bigint,
    pages            bigint,
    pages_scanned    bigint,
    method           text,
    leaf_pages       bigint,
    deleted_pages    bigint,
    empty_pages      bigint,
    live_items       bigint,
    live_bytes       bigint,
    free_bytes       bigint,
    wasted_bytes     bigint,
    wasted_pct       double precision,
    wasted_pct_low   double precision,
    wasted_pct_high  double precision,
    measure          text
)
AS 'MODULE_PATHNAME', 'apes_index_bloat'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION apes.index_bloat(regclass, integer, boolean) IS
    'what a REINDEX would give back (btree) or free and deleted space (GIN, GiST, hash, SP-GiST), sampled or exact';

-- Bloat of every table, TOAST table and index, estimated from the catalogs and statistics only (no page is read):
-- for ranking candidates cheaply.  Each row says why its estimate may be wrong (reliability); an empty list means
-- the model's inputs are sound, not that the number is a measurement.
CREATE FUNCTION apes.bloat_estimates()
RETURNS TABLE (
    relation          regclass,
    kind              text,
    table_name        regclass,
    access_method     text,
    total_bytes       bigint,
    est_tuples        bigint,
    expected_bytes    bigint,
    est_wasted_bytes  bigint,
    est_wasted_pct    double precision,
    reliability       text[],
    reliable          boolean
)
AS 'MODULE_PATHNAME', 'apes_bloat_estimates'
LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION apes.bloat_estimates() IS
    'catalog-only bloat estimates of every table, TOAST table and index, with reliability flags';

CREATE VIEW apes.bloat_estimates AS
SELECT e.relation, e.kind, e.table_name, e.access_method, e.total_bytes,
       pg_catalog.pg_size_pretty(e.total_bytes) AS total_size,
       e.est_tuples, e.expected_bytes, e.est_wasted_bytes,
       pg_catalog.pg_size_pretty(e.est_wasted_bytes) AS est_wasted_size,
       pg_catalog.round(e.est_wasted_pct::numeric, 1) AS est_wasted_pct,
       e.reliability, e.reliable, 'catalog estimate'::text AS basis
  FROM apes.bloat_estimates() e
 ORDER BY e.est_wasted_bytes DESC NULLS LAST, e.total_bytes DESC, e.relation::oid;

COMMENT ON VIEW apes.bloat_estimates IS
    'catalog-only bloat estimates, largest first: candidates to measure with apes.table_bloat() and apes.index_bloat()';

-- What holds back the cleanup horizon now: the oldest snapshots and transactions of backends, prepared
-- transactions, replication slots and standby feedback, oldest first.  Built on pg_stat_activity,
-- pg_prepared_xacts, pg_replication_slots and pg_stat_replication, so what a caller sees of other roles' sessions
-- is what those views show it (their own privilege checks run as the caller).
CREATE VIEW apes.vacuum_horizon AS
SELECT h.holder_kind, h.holder, h.pid, h.role, h.application, h.state, h.horizon_xid,
       pg_catalog.age(h.horizon_xid) AS xid_age, h.since,
       pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) h.since AS held_for, h.detail
  FROM (
    SELECT 'backend'::text AS holder_kind, ('pid ' OPERATOR(pg_catalog.||) a.pid::text) AS holder, a.pid,
           a.usename AS role, a.application_name::text AS application, a.state,
           CASE WHEN a.backend_xid IS NULL THEN a.backend_xmin
                WHEN a.backend_xmin IS NULL THEN a.backend_xid
                WHEN pg_catalog.age(a.backend_xid) OPERATOR(pg_catalog.>) pg_catalog.age(a.backend_xmin) THEN a.backend_xid
                ELSE a.backend_xmin END AS horizon_xid,
           a.xact_start AS since,
           ('backend_type ' OPERATOR(pg_catalog.||) a.backend_type OPERATOR(pg_catalog.||)
            CASE WHEN a.state OPERATOR(pg_catalog.~~) 'idle in transaction%' THEN ': idle in transaction, holding its snapshot'
                 ELSE '' END) AS detail
      FROM pg_catalog.pg_stat_activity a
     WHERE (a.backend_xmin IS NOT NULL OR a.backend_xid IS NOT NULL)
       AND a.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
    UNION ALL
    SELECT 'prepared_transaction', p.gid, NULL, p.owner, NULL, 'prepared', p.transaction, p.prepared,
           'database ' OPERATOR(pg_catalog.||) p.database::text OPERATOR(pg_catalog.||) ': COMMIT PREPARED or ROLLBACK PREPARED it'
      FROM pg_catalog.pg_prepared_xacts p
    UNION ALL
    SELECT 'replication_slot', s.slot_name::text, s.active_pid, NULL, s.plugin::text,
           CASE WHEN s.active THEN 'active' ELSE 'inactive' END, s.xmin, NULL,
           s.slot_type OPERATOR(pg_catalog.||) ' slot holds xmin' OPERATOR(pg_catalog.||)
           CASE WHEN s.active THEN '' ELSE ' while nobody consumes it: drop it if it is abandoned' END
      FROM pg_catalog.pg_replication_slots s WHERE s.xmin IS NOT NULL
    UNION ALL
    SELECT 'replication_slot_catalog', s.slot_name::text, s.active_pid, NULL, s.plugin::text,
           CASE WHEN s.active THEN 'active' ELSE 'inactive' END, s.catalog_xmin, NULL,
           s.slot_type OPERATOR(pg_catalog.||) ' slot holds catalog_xmin (only system catalogs are held back)'
      FROM pg_catalog.pg_replication_slots s WHERE s.catalog_xmin IS NOT NULL
    UNION ALL
    SELECT 'standby_feedback', r.application_name::text, r.pid, r.usename, r.application_name::text, r.state,
           r.backend_xmin, r.backend_start,
           'hot_standby_feedback from a standby: its long queries hold the primary''s horizon'
      FROM pg_catalog.pg_stat_replication r WHERE r.backend_xmin IS NOT NULL
  ) h
 ORDER BY pg_catalog.age(h.horizon_xid) DESC;

COMMENT ON VIEW apes.vacuum_horizon IS 'what keeps VACUUM from removing dead rows right now, oldest first';

-- How far each database, and the oldest tables of this one, are from transaction ID and multixact wraparound.
CREATE VIEW apes.wraparound AS
SELECT 'database'::text AS scope, d.datname::text AS name,
       pg_catalog.age(d.datfrozenxid) AS xid_age, pg_catalog.mxid_age(d.datminmxid) AS mxid_age,
       pg_catalog.round(100.0 OPERATOR(pg_catalog.*) pg_catalog.age(d.datfrozenxid) OPERATOR(pg_catalog./) 2147483647, 2)
         AS xid_pct_of_wraparound,
       pg_catalog.round(100.0 OPERATOR(pg_catalog.*) pg_catalog.age(d.datfrozenxid) OPERATOR(pg_catalog./)
         pg_catalog.current_setting('autovacuum_freeze_max_age')::bigint, 2) AS xid_pct_of_freeze_max_age
  FROM pg_catalog.pg_database d
 WHERE d.datallowconn
UNION ALL
SELECT 'table', t.name, t.xid_age, t.mxid_age,
       pg_catalog.round(100.0 OPERATOR(pg_catalog.*) t.xid_age OPERATOR(pg_catalog./) 2147483647, 2),
       pg_catalog.round(100.0 OPERATOR(pg_catalog.*) t.xid_age OPERATOR(pg_catalog./)
         pg_catalog.current_setting('autovacuum_freeze_max_age')::bigint, 2)
  FROM (SELECT pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||)
               pg_catalog.quote_ident(c.relname) AS name,
               pg_catalog.age(c.relfrozenxid) AS xid_age, pg_catalog.mxid_age(c.relminmxid) AS mxid_age
          FROM pg_catalog.pg_class c
          JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
         WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'm', 't']::"char"[])
           AND c.relfrozenxid OPERATOR(pg_catalog.<>) '0'::xid
         ORDER BY pg_catalog.age(c.relfrozenxid) DESC
         LIMIT 10) t;

COMMENT ON VIEW apes.wraparound IS 'transaction ID and multixact ID age per database and for the ten oldest tables here';

-- =====================================================================================================================
-- History: snapshots of the cumulative statistics, kept in the database (docs/history.md).
-- Written only by apes.snapshot() and apes.purge(), which only superusers (or roles they grant) may run.
-- =====================================================================================================================

-- One row per snapshot, with what identifies its series: deltas are only taken between snapshots of one series
-- (same server start, same statistics resets).
CREATE TABLE apes.snapshot (
    snapshot_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    taken_at        timestamptz NOT NULL,
    server_start    timestamptz NOT NULL,
    db_stats_reset  timestamptz,
    pgss_status     text NOT NULL,       -- ok, not installed, not loaded
    pgss_reset      timestamptz,
    pgss_dealloc    bigint,
    statements      integer NOT NULL,
    relations       integer NOT NULL,
    duration_ms     double precision NOT NULL,
    findings        integer              -- findings seen (apes.finding_history); NULL: not recorded
);
CREATE INDEX snapshot_taken_at_idx ON apes.snapshot (taken_at);
COMMENT ON TABLE apes.snapshot IS 'one row per apes.snapshot(): when, and the identity of its statistics series';

-- The history tables carry no foreign keys: only apes.snapshot() writes them and apes.purge() removes child rows
-- with their snapshot (a foreign-key check per inserted row cost 90 ms a snapshot on 18,000 rows, bench/history).

-- pg_stat_statements counters per snapshot, for this database's statements.  sumsq_exec_time = calls * (stddev^2 + mean^2) rebuilds a period's
-- standard deviation from two snapshots.
CREATE TABLE apes.statement_history (
    snapshot_id          bigint NOT NULL,
    dbid                 oid NOT NULL,
    userid               oid NOT NULL,
    queryid              bigint NOT NULL,
    toplevel             boolean NOT NULL,
    calls                bigint NOT NULL,
    total_exec_time      double precision NOT NULL,
    sumsq_exec_time      double precision NOT NULL,
    plans                bigint NOT NULL,
    total_plan_time      double precision NOT NULL,
    rows                 bigint NOT NULL,
    shared_blks_hit      bigint NOT NULL,
    shared_blks_read     bigint NOT NULL,
    shared_blks_dirtied  bigint NOT NULL,
    shared_blks_written  bigint NOT NULL,
    temp_blks_read       bigint NOT NULL,
    temp_blks_written    bigint NOT NULL,
    blk_read_time        double precision NOT NULL,
    blk_write_time       double precision NOT NULL,
    wal_bytes            numeric NOT NULL,
    PRIMARY KEY (snapshot_id, dbid, userid, queryid, toplevel)
);
COMMENT ON TABLE apes.statement_history IS 'pg_stat_statements counters at each snapshot';

-- Query texts, stored once per (database, user, queryid).  Row-level security shows a text only to the roles
-- pg_stat_statements would show it to: members of pg_read_all_stats and the statement's own user.
CREATE TABLE apes.statement_text (
    dbid        oid NOT NULL,
    userid      oid NOT NULL,
    queryid     bigint NOT NULL,
    query       text,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,    -- refreshed at most once a day by apes.snapshot(); purge goes by it
    PRIMARY KEY (dbid, userid, queryid)
);
ALTER TABLE apes.statement_text ENABLE ROW LEVEL SECURITY;
CREATE POLICY statement_text_visible ON apes.statement_text FOR SELECT
    USING (pg_catalog.pg_has_role(CURRENT_USER, 'pg_read_all_stats', 'USAGE')
           OR userid OPERATOR(pg_catalog.=) (SELECT r.oid FROM pg_catalog.pg_roles r
                                              WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER));
COMMENT ON TABLE apes.statement_text IS 'query texts of pg_stat_statements, once per statement; visible as pg_stat_statements shows them';

-- Per-table and per-index usage counters and sizes (and the catalog bloat estimate) at each snapshot.  Relations
-- whose counters are all zero are not stored: absent means never used.
CREATE TABLE apes.relation_history (
    snapshot_id       bigint NOT NULL,
    relid             oid NOT NULL,
    kind              "char" NOT NULL,   -- r table, m matview, i index
    table_relid       oid NOT NULL,      -- the table (for an index: its table)
    seq_scan          bigint,
    seq_tup_read      bigint,
    idx_scan          bigint,
    idx_tup_fetch     bigint,
    n_tup_ins         bigint,
    n_tup_upd         bigint,
    n_tup_del         bigint,
    n_tup_hot_upd     bigint,
    n_live_tup        bigint,
    n_dead_tup        bigint,
    n_mod_since_analyze bigint,
    blks_read         bigint,
    blks_hit          bigint,
    total_bytes       bigint,
    est_wasted_bytes  bigint,
    PRIMARY KEY (snapshot_id, relid)
);
COMMENT ON TABLE apes.relation_history IS 'table and index usage counters, sizes and bloat estimates at each snapshot';

-- Database-level counters at each snapshot (pg_stat_database), for this database.
CREATE TABLE apes.database_history (
    snapshot_id               bigint PRIMARY KEY,
    numbackends               integer,
    xact_commit               bigint,
    xact_rollback             bigint,
    blks_read                 bigint,
    blks_hit                  bigint,
    temp_files                bigint,
    temp_bytes                bigint,
    deadlocks                 bigint,
    sessions                  bigint,
    sessions_abandoned        bigint,
    sessions_fatal            bigint,
    sessions_killed           bigint,
    session_time              double precision,
    active_time               double precision,
    idle_in_transaction_time  double precision
);
COMMENT ON TABLE apes.database_history IS 'pg_stat_database counters of this database at each snapshot';

-- Where pg_stat_statements is usable: 'ok', 'not installed' (no extension in this database) or 'not loaded'
-- (not in shared_preload_libraries); and the schema it lives in.
CREATE FUNCTION apes.pgss_status(OUT status text, OUT schema_name name)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    SELECT n.nspname INTO schema_name
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_stat_statements';
    IF schema_name IS NULL THEN
        status := 'not installed';
    ELSIF (SELECT count(*) FROM pg_settings WHERE name = 'pg_stat_statements.max') = 0 THEN
        status := 'not loaded';   -- its settings exist only once the library is preloaded
    ELSE
        status := 'ok';
    END IF;
END
$$;
COMMENT ON FUNCTION apes.pgss_status() IS 'whether pg_stat_statements can be read here, and its schema';

-- pg_stat_statements' I/O timing columns under the names of the installed version, in the order of
-- apes.statement_history (blk_read_time, blk_write_time): version 1.11 (PostgreSQL 17) renamed them
-- shared_blk_read_time and shared_blk_write_time and counts local buffers apart (local_blk_*_time); their sum is what
-- blk_*_time counted before, so a series read across a major-version upgrade keeps its meaning.  Decided from the
-- columns of the view itself, not from a version number.  Every query of this extension that reads
-- pg_stat_statements' counters takes its select list from here.
CREATE FUNCTION apes.pgss_io_time_columns(schema_name name)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN count(*) OPERATOR(pg_catalog.=) 4
                THEN 's.shared_blk_read_time + s.local_blk_read_time, s.shared_blk_write_time + s.local_blk_write_time'
                ELSE 's.blk_read_time, s.blk_write_time' END
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = pg_catalog.to_regclass(pg_catalog.quote_ident(schema_name) OPERATOR(pg_catalog.||) '.pg_stat_statements')
       AND a.attname OPERATOR(pg_catalog.=) ANY (ARRAY['shared_blk_read_time', 'local_blk_read_time',
                                                        'shared_blk_write_time', 'local_blk_write_time']::name[])
       AND NOT a.attisdropped
$$;
COMMENT ON FUNCTION apes.pgss_io_time_columns(name) IS
    'the select list of pg_stat_statements'' I/O timing columns in the installed version (renamed in 1.11, PostgreSQL 17)';

-- Take one snapshot: returns its id, or NULL (with a NOTICE) on a standby, in a read-only transaction, or while
-- another snapshot is running.  One transaction: a failure leaves nothing behind.  The statistics are read as one
-- snapshot (stats_fetch_consistency): every counter from the same moment, and no per-relation reference to the shared
-- statistics left in the session (the default "cache" mode keeps one per relation read, for the session's life).
CREATE FUNCTION apes.snapshot()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET stats_fetch_consistency = snapshot
AS $$
DECLARE
    started   timestamptz := clock_timestamp();
    pgss      record;
    id        bigint;
    nstmts    integer := 0;
    nrels     integer := 0;
    nfindings integer;
    ss_reset  timestamptz;
    ss_dealloc bigint;
    mydb      oid := (SELECT oid FROM pg_database WHERE datname = current_database());
BEGIN
    IF pg_is_in_recovery() THEN
        RAISE NOTICE 'apes.snapshot() does nothing on a standby: history is kept on the primary';
        RETURN NULL;
    END IF;
    IF current_setting('transaction_read_only')::boolean THEN
        RAISE NOTICE 'apes.snapshot() does nothing in a read-only transaction';
        RETURN NULL;
    END IF;
    -- one snapshot at a time per database; a second caller returns at once
    IF NOT pg_try_advisory_xact_lock(hashtext('pg_apes_health snapshot')::bigint) THEN
        RAISE NOTICE 'another apes.snapshot() is running in this database; this one does nothing';
        RETURN NULL;
    END IF;

    pgss := apes.pgss_status();
    IF pgss.status = 'ok' THEN
        EXECUTE format('SELECT stats_reset, dealloc FROM %I.pg_stat_statements_info', pgss.schema_name)
           INTO ss_reset, ss_dealloc;
    END IF;

    INSERT INTO apes.snapshot (taken_at, server_start, db_stats_reset, pgss_status, pgss_reset, pgss_dealloc,
                               statements, relations, duration_ms)
    SELECT started, pg_postmaster_start_time(), d.stats_reset, pgss.status, ss_reset, ss_dealloc, 0, 0, 0
      FROM pg_stat_database d WHERE d.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
    RETURNING snapshot_id INTO id;

    IF pgss.status = 'ok' THEN
        EXECUTE format($q$
            INSERT INTO apes.statement_history
            SELECT $1, s.dbid, s.userid, s.queryid, s.toplevel, s.calls, s.total_exec_time,
                   s.calls * (s.stddev_exec_time ^ 2 + s.mean_exec_time ^ 2), s.plans, s.total_plan_time, s.rows,
                   s.shared_blks_hit, s.shared_blks_read, s.shared_blks_dirtied, s.shared_blks_written,
                   s.temp_blks_read, s.temp_blks_written, %s, s.wal_bytes
              FROM %I.pg_stat_statements(false) s
             WHERE s.queryid IS NOT NULL AND s.dbid = $2$q$, apes.pgss_io_time_columns(pgss.schema_name),
                   pgss.schema_name) USING id, mydb;
        GET DIAGNOSTICS nstmts = ROW_COUNT;
        -- texts only for statements not seen before (reading texts costs a pass over the texts file)
        IF EXISTS (SELECT 1 FROM apes.statement_history h
                    WHERE h.snapshot_id = id
                      AND NOT EXISTS (SELECT 1 FROM apes.statement_text t
                                       WHERE t.dbid = h.dbid AND t.userid = h.userid AND t.queryid = h.queryid)) THEN
            EXECUTE format($q$
                INSERT INTO apes.statement_text (dbid, userid, queryid, query, first_seen, last_seen)
                SELECT DISTINCT ON (s.dbid, s.userid, s.queryid) s.dbid, s.userid, s.queryid, s.query, $1, $1
                  FROM %I.pg_stat_statements(true) s
                 WHERE s.queryid IS NOT NULL AND s.dbid = $2
                   AND NOT EXISTS (SELECT 1 FROM apes.statement_text t
                                    WHERE t.dbid = s.dbid AND t.userid = s.userid AND t.queryid = s.queryid)
                ON CONFLICT DO NOTHING$q$, pgss.schema_name) USING started, mydb;
        END IF;
        -- texts still in use: last_seen moves at most once a day, so the purge can go by it alone
        UPDATE apes.statement_text t SET last_seen = started
          FROM apes.statement_history h
         WHERE h.snapshot_id = id AND t.dbid = h.dbid AND t.userid = h.userid AND t.queryid = h.queryid
           AND t.last_seen < started - interval '1 day';
    END IF;

    -- tables and indexes of the user schemas: counters in one pass over pg_class with the pg_stat_get_*() functions
    -- (the statistics views join pg_class and pg_index again per relation), sizes and bloat estimates from one call
    -- of apes.bloat_estimates() (stat() of the files: no user relation is locked).  Never-used relations (all
    -- counters zero) are not stored.
    INSERT INTO apes.relation_history
    WITH e AS MATERIALIZED (SELECT relation, total_bytes, est_wasted_bytes FROM apes.bloat_estimates()),
         ix AS (SELECT x.indrelid, sum(pg_stat_get_numscans(x.indexrelid)) AS scans,
                       sum(pg_stat_get_tuples_fetched(x.indexrelid)) AS fetched
                  FROM pg_index x GROUP BY x.indrelid),
         r AS (SELECT c.oid, c.relkind, CASE WHEN c.relkind = 'i' THEN x.indrelid ELSE c.oid END AS table_relid,
                      pg_stat_get_numscans(c.oid) AS scans, pg_stat_get_tuples_returned(c.oid) AS returned,
                      pg_stat_get_tuples_fetched(c.oid) AS fetched, pg_stat_get_tuples_inserted(c.oid) AS ins,
                      pg_stat_get_tuples_updated(c.oid) AS upd, pg_stat_get_tuples_deleted(c.oid) AS del,
                      pg_stat_get_tuples_hot_updated(c.oid) AS hot, pg_stat_get_live_tuples(c.oid) AS live,
                      pg_stat_get_dead_tuples(c.oid) AS dead, pg_stat_get_mod_since_analyze(c.oid) AS mods,
                      pg_stat_get_blocks_fetched(c.oid) - pg_stat_get_blocks_hit(c.oid) AS blks_read,
                      pg_stat_get_blocks_hit(c.oid) AS blks_hit
                 FROM pg_class c
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 LEFT JOIN pg_index x ON x.indexrelid = c.oid
                WHERE c.relkind IN ('r', 'm', 'i')
                  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
                  AND n.nspname !~ '^pg_toast_temp_' AND n.nspname !~ '^pg_temp_')
    SELECT id, r.oid, r.relkind, r.table_relid,
           CASE WHEN r.relkind <> 'i' THEN r.scans END, CASE WHEN r.relkind <> 'i' THEN r.returned END,
           CASE WHEN r.relkind = 'i' THEN r.scans ELSE coalesce(ix.scans, 0) END,
           CASE WHEN r.relkind = 'i' THEN r.fetched ELSE r.fetched + coalesce(ix.fetched, 0) END,
           CASE WHEN r.relkind <> 'i' THEN r.ins END, CASE WHEN r.relkind <> 'i' THEN r.upd END,
           CASE WHEN r.relkind <> 'i' THEN r.del END, CASE WHEN r.relkind <> 'i' THEN r.hot END,
           CASE WHEN r.relkind <> 'i' THEN r.live END, CASE WHEN r.relkind <> 'i' THEN r.dead END,
           CASE WHEN r.relkind <> 'i' THEN r.mods END, r.blks_read, r.blks_hit, e.total_bytes, e.est_wasted_bytes
      FROM r
      LEFT JOIN e ON e.relation = r.oid
      LEFT JOIN ix ON ix.indrelid = r.oid AND r.relkind <> 'i'
     WHERE r.scans + coalesce(ix.scans, 0) + r.ins + r.upd + r.del + r.blks_read + r.blks_hit > 0;
    GET DIAGNOSTICS nrels = ROW_COUNT;

    INSERT INTO apes.pool_history
    SELECT id, p.database, p.role, p.application, p.client_addr, p.sessions, p.active, p.idle_in_transaction,
           p.waiting
      FROM apes.pools() p;

    INSERT INTO apes.database_history
    SELECT id, d.numbackends, d.xact_commit, d.xact_rollback, d.blks_read, d.blks_hit, d.temp_files, d.temp_bytes,
           d.deadlocks, d.sessions, d.sessions_abandoned, d.sessions_fatal, d.sessions_killed, d.session_time,
           d.active_time, d.idle_in_transaction_time
      FROM pg_stat_database d WHERE d.datname = current_database();

    -- the findings of this moment (apes.finding_history); a failure there costs the findings, not the snapshot
    BEGIN
        nfindings := apes.record_findings(started);
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'apes.snapshot(): findings not recorded: %', SQLERRM;
    END;

    UPDATE apes.snapshot
       SET statements = nstmts, relations = nrels, findings = nfindings,
           duration_ms = extract(epoch FROM clock_timestamp() - started) * 1000
     WHERE snapshot_id = id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION apes.snapshot() IS
    'record pg_stat_statements, table and index usage and sizes, database counters and the findings; returns the snapshot id';

-- Remove snapshots older than the retention (pg_apes_health.history_retention unless given), oldest first, in
-- batches of 50 snapshots, with their rows; returns how many were removed.  Texts not seen for a day before the
-- cutoff go too (statement_text.last_seen): the cost follows what is removed, not the size of the history.
CREATE FUNCTION apes.purge(older_than interval DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cutoff   timestamptz;
    batch    bigint[];
    removed  bigint := 0;
BEGIN
    IF pg_is_in_recovery() OR current_setting('transaction_read_only')::boolean THEN
        RAISE NOTICE 'apes.purge() does nothing on a standby or in a read-only transaction';
        RETURN 0;
    END IF;
    IF older_than IS NULL THEN
        PERFORM apes.version();   -- loads the library, which defines the setting
        older_than := make_interval(secs => (SELECT setting::bigint FROM pg_settings
                                              WHERE name = 'pg_apes_health.history_retention'));
    END IF;
    IF older_than < interval '0' THEN
        RAISE EXCEPTION 'older_than must not be negative' USING ERRCODE = '22023';
    END IF;
    cutoff := clock_timestamp() - older_than;
    LOOP
        SELECT array_agg(snapshot_id) INTO batch
          FROM (SELECT snapshot_id FROM apes.snapshot WHERE taken_at < cutoff ORDER BY snapshot_id LIMIT 50) s;
        EXIT WHEN batch IS NULL;
        DELETE FROM apes.statement_history WHERE snapshot_id = ANY (batch);
        DELETE FROM apes.relation_history WHERE snapshot_id = ANY (batch);
        DELETE FROM apes.database_history WHERE snapshot_id = ANY (batch);
        DELETE FROM apes.pool_history WHERE snapshot_id = ANY (batch);
        DELETE FROM apes.snapshot WHERE snapshot_id = ANY (batch);
        removed := removed + cardinality(batch);
    END LOOP;
    -- episodes of findings resolved before the cutoff (open ones, and those resolved since, stay)
    DELETE FROM apes.finding_history WHERE resolved_at < cutoff;
    -- a text still in use has a last_seen at most a day older than its newest snapshot, all kept ones >= cutoff
    DELETE FROM apes.statement_text WHERE last_seen < cutoff - interval '1 day';
    RETURN removed;
END
$$;
COMMENT ON FUNCTION apes.purge(interval) IS 'remove snapshots older than the retention; returns how many';

-- pg_cron jobs: a snapshot on the given schedule and a daily purge, for this database.  pg_cron must be installed
-- in this database (cron.database_name); elsewhere the error's hint gives the statements to run there.
CREATE FUNCTION apes.schedule(schedule text DEFAULT '*/15 * * * *')
RETURNS TABLE (job_name text, job_id bigint, job_schedule text, command text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    db        text := current_database();
    snap_name text := 'pg_apes_health snapshot ' || current_database();
    purge_name text := 'pg_apes_health purge ' || current_database();
    cron_db   text := current_setting('cron.database_name', true);
BEGIN
    IF schedule IS NULL THEN
        RAISE EXCEPTION 'schedule must not be null' USING ERRCODE = '22004';
    END IF;
    IF (SELECT count(*) FROM pg_extension WHERE extname = 'pg_cron') = 0 THEN
        IF cron_db IS NOT NULL AND cron_db <> db THEN
            RAISE EXCEPTION 'pg_cron is installed in database "%", not in "%"', cron_db, db
                USING ERRCODE = '55000',
                      HINT = format('Run there: SELECT cron.schedule_in_database(%L, %L, %L, %L); '
                                    'SELECT cron.schedule_in_database(%L, %L, %L, %L);',
                                    snap_name, schedule, 'SELECT apes.snapshot()', db,
                                    purge_name, '17 3 * * *', 'SELECT apes.purge()', db);
        END IF;
        RAISE EXCEPTION 'pg_cron is not available in this database'
            USING ERRCODE = '55000',
                  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name, restart, and run CREATE EXTENSION pg_cron; or call apes.snapshot() from any scheduler.';
    END IF;
    job_name := snap_name; job_schedule := schedule; command := 'SELECT apes.snapshot()';
    EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, $4)' INTO job_id USING job_name, job_schedule, command, db;
    RETURN NEXT;
    job_name := purge_name; job_schedule := '17 3 * * *'; command := 'SELECT apes.purge()';
    EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, $4)' INTO job_id USING job_name, job_schedule, command, db;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION apes.schedule(text) IS 'create (or update) the pg_cron jobs that take snapshots and purge old ones';

CREATE FUNCTION apes.unschedule()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    removed integer := 0;
    k       integer;
    j       text;
BEGIN
    IF (SELECT count(*) FROM pg_extension WHERE extname = 'pg_cron') = 0 THEN
        RAISE EXCEPTION 'pg_cron is not available in this database' USING ERRCODE = '55000',
              HINT = 'Remove the jobs in the database where pg_cron is installed, with cron.unschedule().';
    END IF;
    FOREACH j IN ARRAY ARRAY['pg_apes_health snapshot ' || current_database(),
                             'pg_apes_health purge ' || current_database()] LOOP
        EXECUTE 'SELECT count(cron.unschedule(jobid))::integer FROM cron.job WHERE jobname = $1' INTO k USING j;
        removed := removed + k;
    END LOOP;
    RETURN removed;
END
$$;
COMMENT ON FUNCTION apes.unschedule() IS 'remove the pg_cron jobs apes.schedule() created for this database; returns how many';

-- =====================================================================================================================
-- Query performance analysis over the history (docs/history.md).
-- =====================================================================================================================

-- pg_stat_statements now, for this database, in the shape of apes.statement_history (snapshot_id 0).  55000 when it
-- cannot be read.
CREATE FUNCTION apes.statements_now()
RETURNS SETOF apes.statement_history
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pgss record := apes.pgss_status();
BEGIN
    IF pgss.status <> 'ok' THEN
        RAISE EXCEPTION 'pg_stat_statements is %', pgss.status
            USING ERRCODE = '55000',
                  HINT = CASE pgss.status
                         WHEN 'not installed' THEN 'Run CREATE EXTENSION pg_stat_statements in this database.'
                         ELSE 'Add pg_stat_statements to shared_preload_libraries and restart the server.' END;
    END IF;
    RETURN QUERY EXECUTE format($q$
        SELECT 0::bigint, s.dbid, s.userid, s.queryid, s.toplevel, s.calls, s.total_exec_time,
               s.calls * (s.stddev_exec_time ^ 2 + s.mean_exec_time ^ 2), s.plans, s.total_plan_time, s.rows,
               s.shared_blks_hit, s.shared_blks_read, s.shared_blks_dirtied, s.shared_blks_written,
               s.temp_blks_read, s.temp_blks_written, %s, s.wal_bytes
          FROM %I.pg_stat_statements(false) s
         WHERE s.queryid IS NOT NULL
           AND s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())$q$,
        apes.pgss_io_time_columns(pgss.schema_name), pgss.schema_name);
END
$$;

-- Query texts pg_stat_statements holds now, as it shows them to the caller (its own privilege rule applies).
CREATE FUNCTION apes.statement_texts_now()
RETURNS TABLE (dbid oid, userid oid, queryid bigint, query text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pgss record := apes.pgss_status();
BEGIN
    IF pgss.status = 'ok' THEN
        RETURN QUERY EXECUTE format('SELECT DISTINCT ON (s.dbid, s.userid, s.queryid) s.dbid, s.userid, s.queryid, s.query
                                       FROM %I.pg_stat_statements(true) s
                                      WHERE s.queryid IS NOT NULL
                                        AND s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())',
                                    pgss.schema_name);
    END IF;
END
$$;

-- The two ends of a period: the latest snapshot at or before each bound (the start moves to the first snapshot of
-- the end's series when a restart or a reset lies between), or 0 for the end when it is now (live counters).
-- basis: 'delta' between two points, 'cumulative' when there is no usable start; flags name what to distrust.
CREATE FUNCTION apes.period_bounds(since timestamptz, until timestamptz,
                                   OUT start_id bigint, OUT end_id bigint, OUT period_start timestamptz,
                                   OUT period_end timestamptz, OUT basis text, OUT flags text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e_start  timestamptz;
    e_reset  timestamptz;
    e_dealloc bigint;
    s        record;
    pgss     record := apes.pgss_status();
BEGIN
    flags := '{}';
    IF until IS NULL THEN
        end_id := 0;
        period_end := clock_timestamp();
        e_start := pg_postmaster_start_time();
        IF pgss.status = 'ok' THEN
            EXECUTE format('SELECT stats_reset, dealloc FROM %I.pg_stat_statements_info', pgss.schema_name)
               INTO e_reset, e_dealloc;
        END IF;
    ELSE
        SELECT * INTO s FROM apes.snapshot WHERE taken_at <= until AND pgss_status = 'ok'
         ORDER BY taken_at DESC LIMIT 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no snapshot at or before %', until USING ERRCODE = '22023',
                  HINT = 'Take snapshots with apes.snapshot(), or schedule them with apes.schedule().';
        END IF;
        end_id := s.snapshot_id; period_end := s.taken_at;
        e_start := s.server_start; e_reset := s.pgss_reset; e_dealloc := s.pgss_dealloc;
        IF since IS NOT NULL AND period_end <= since THEN
            -- no snapshot inside (since, until]: any delta would describe a period before since
            RAISE EXCEPTION 'no snapshot between % and %', since, until
                USING ERRCODE = '22023',
                      HINT = format('The nearest snapshot before is at %s; widen the period or take snapshots more often.',
                                    period_end);
        END IF;
    END IF;

    -- the start: the latest snapshot at or before since (any, if since is null: the oldest), in the end's series
    SELECT * INTO s FROM apes.snapshot
     WHERE pgss_status = 'ok' AND (since IS NULL OR taken_at <= since)
       AND (end_id = 0 OR snapshot_id < end_id)
     ORDER BY CASE WHEN since IS NULL THEN taken_at END ASC, taken_at DESC LIMIT 1;
    IF FOUND AND (s.server_start IS DISTINCT FROM e_start OR s.pgss_reset IS DISTINCT FROM e_reset) THEN
        flags := flags || 'reset_in_period'::text;
        SELECT * INTO s FROM apes.snapshot
         WHERE pgss_status = 'ok' AND server_start = e_start AND pgss_reset IS NOT DISTINCT FROM e_reset
           AND (end_id = 0 OR snapshot_id < end_id)
         ORDER BY taken_at LIMIT 1;
    ELSIF NOT FOUND AND since IS NOT NULL THEN
        SELECT * INTO s FROM apes.snapshot
         WHERE pgss_status = 'ok' AND taken_at > since AND server_start = e_start
           AND pgss_reset IS NOT DISTINCT FROM e_reset AND (end_id = 0 OR snapshot_id < end_id)
         ORDER BY taken_at LIMIT 1;
        IF FOUND THEN
            flags := flags || 'period_starts_later'::text;
        END IF;
    END IF;
    IF FOUND THEN
        start_id := s.snapshot_id; period_start := s.taken_at; basis := 'delta';
        IF coalesce(e_dealloc, 0) > coalesce(s.pgss_dealloc, 0) THEN
            flags := flags || 'evictions_in_period'::text;
        END IF;
    ELSE
        start_id := NULL; period_start := coalesce(e_reset, e_start); basis := 'cumulative';
        IF coalesce(e_dealloc, 0) > 0 THEN
            flags := flags || 'evictions_in_period'::text;
        END IF;
    END IF;
END
$$;

-- Per statement, what changed between two points (start_id NULL: since the counters began; end_id 0: now).  A
-- statement missing at the start counts from zero (is_new); so does one whose entry was reset or evicted and came
-- back (restarted): any cumulative counter lower at the end than at the start, not only calls
-- (pg_stat_statements_reset() of one statement, then more calls than before, leaves calls higher but time lower).
CREATE FUNCTION apes.statement_deltas(start_id bigint, end_id bigint)
RETURNS TABLE (dbid oid, userid oid, queryid bigint, toplevel boolean, is_new boolean, restarted boolean,
               calls bigint, total_exec_time double precision, sumsq_exec_time double precision, plans bigint,
               total_plan_time double precision, rows bigint, shared_blks_hit bigint, shared_blks_read bigint,
               temp_blks_written bigint, wal_bytes numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH e AS (SELECT * FROM apes.statement_history h WHERE h.snapshot_id = end_id AND end_id <> 0
               UNION ALL
               SELECT * FROM apes.statements_now() WHERE end_id = 0),
         b AS (SELECT * FROM apes.statement_history h WHERE h.snapshot_id = start_id)
    SELECT e.dbid, e.userid, e.queryid, e.toplevel, y.fresh, y.fresh AND b.calls IS NOT NULL,
           e.calls - CASE WHEN y.fresh THEN 0 ELSE b.calls END,
           e.total_exec_time - CASE WHEN y.fresh THEN 0 ELSE b.total_exec_time END,
           e.sumsq_exec_time - CASE WHEN y.fresh THEN 0 ELSE b.sumsq_exec_time END,
           e.plans - CASE WHEN y.fresh THEN 0 ELSE b.plans END,
           e.total_plan_time - CASE WHEN y.fresh THEN 0 ELSE b.total_plan_time END,
           e.rows - CASE WHEN y.fresh THEN 0 ELSE b.rows END,
           e.shared_blks_hit - CASE WHEN y.fresh THEN 0 ELSE b.shared_blks_hit END,
           e.shared_blks_read - CASE WHEN y.fresh THEN 0 ELSE b.shared_blks_read END,
           e.temp_blks_written - CASE WHEN y.fresh THEN 0 ELSE b.temp_blks_written END,
           e.wal_bytes - CASE WHEN y.fresh THEN 0 ELSE b.wal_bytes END
      FROM e
      LEFT JOIN b ON b.dbid = e.dbid AND b.userid = e.userid AND b.queryid = e.queryid AND b.toplevel = e.toplevel
      CROSS JOIN LATERAL (SELECT b.calls IS NULL OR b.calls > e.calls OR b.total_exec_time > e.total_exec_time
                                 OR b.sumsq_exec_time > e.sumsq_exec_time OR b.plans > e.plans
                                 OR b.total_plan_time > e.total_plan_time OR b.rows > e.rows
                                 OR b.shared_blks_hit > e.shared_blks_hit OR b.shared_blks_read > e.shared_blks_read
                                 OR b.temp_blks_written > e.temp_blks_written OR b.wal_bytes > e.wal_bytes
                                 AS fresh) y
     WHERE e.calls - CASE WHEN y.fresh THEN 0 ELSE b.calls END > 0
$$;

-- A statement's text as the caller may see it: pg_stat_statements' rule (pg_read_all_stats, or one's own).
CREATE FUNCTION apes.statement_query(dbid oid, userid oid, queryid bigint)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN pg_has_role(CURRENT_USER, 'pg_read_all_stats', 'USAGE')
                  OR userid = (SELECT r.oid FROM pg_roles r WHERE r.rolname = CURRENT_USER)
                THEN (SELECT t.query FROM apes.statement_text t
                       WHERE t.dbid = statement_query.dbid AND t.userid = statement_query.userid
                         AND t.queryid = statement_query.queryid)
                ELSE '<insufficient privilege>' END
$$;

-- How findings name a statement: "query <queryid> (<database>/<role>)", nested ones said so.
CREATE FUNCTION apes.statement_name(dbid oid, userid oid, queryid bigint, toplevel boolean)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('query %s (%s/%s%s)', queryid,
                  coalesce((SELECT d.datname::text FROM pg_database d WHERE d.oid = dbid), dbid::text),
                  coalesce((SELECT r.rolname::text FROM pg_roles r WHERE r.oid = userid), userid::text),
                  CASE WHEN toplevel THEN '' ELSE ', nested' END)
$$;

-- Per statement over a period: deltas between the snapshots bounding it (until NULL: up to now), or cumulative
-- values when there is no history yet (basis says which), with the period's own standard deviation.
CREATE FUNCTION apes.query_stats(since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL)
RETURNS TABLE (dbid oid, userid oid, queryid bigint, toplevel boolean, query text, calls bigint,
               total_exec_ms double precision, mean_exec_ms double precision, stddev_exec_ms double precision,
               plan_share double precision, rows_per_call double precision, shared_hit_ratio double precision,
               shared_blks_read bigint, temp_blks_written bigint, wal_bytes numeric,
               period_start timestamptz, period_end timestamptz, basis text, flags text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p       record;
    allowed boolean := pg_has_role(CURRENT_USER, 'pg_read_all_stats', 'USAGE');
    me      oid := (SELECT r.oid FROM pg_roles r WHERE r.rolname = CURRENT_USER);
BEGIN
    IF since IS NOT NULL AND until IS NOT NULL AND since > until THEN
        RAISE EXCEPTION 'since (%) is after until (%)', since, until USING ERRCODE = '22023';
    END IF;
    p := apes.period_bounds(since, until);
    -- texts as pg_stat_statements shows them: decided once for the caller, then joined (stored, else live)
    RETURN QUERY
    WITH d AS MATERIALIZED (SELECT * FROM apes.statement_deltas(p.start_id, p.end_id)),
         live AS MATERIALIZED (SELECT * FROM apes.statement_texts_now()
                                WHERE EXISTS (SELECT 1 FROM d
                                               WHERE NOT EXISTS (SELECT 1 FROM apes.statement_text t
                                                                  WHERE t.dbid = d.dbid AND t.userid = d.userid
                                                                    AND t.queryid = d.queryid)))
    SELECT d.dbid, d.userid, d.queryid, d.toplevel,
           CASE WHEN allowed OR d.userid = me THEN coalesce(t.query, l.query) ELSE '<insufficient privilege>' END,
           d.calls,
           d.total_exec_time, d.total_exec_time / d.calls,
           sqrt(greatest(d.sumsq_exec_time / d.calls - (d.total_exec_time / d.calls) ^ 2, 0)),
           CASE WHEN d.total_plan_time + d.total_exec_time > 0
                THEN d.total_plan_time / (d.total_plan_time + d.total_exec_time) END,
           d.rows::double precision / d.calls,
           CASE WHEN d.shared_blks_hit + d.shared_blks_read > 0
                THEN d.shared_blks_hit::double precision / (d.shared_blks_hit + d.shared_blks_read) END,
           d.shared_blks_read, d.temp_blks_written, d.wal_bytes,
           p.period_start, p.period_end, p.basis,
           p.flags || CASE WHEN d.restarted AND p.basis = 'delta' THEN ARRAY['statement_restarted']
                           WHEN d.is_new AND p.basis = 'delta' THEN ARRAY['new_statement'] ELSE '{}'::text[] END
      FROM d
      LEFT JOIN apes.statement_text t ON t.dbid = d.dbid AND t.userid = d.userid AND t.queryid = d.queryid
      LEFT JOIN live l ON l.dbid = d.dbid AND l.userid = d.userid AND l.queryid = d.queryid
     ORDER BY d.total_exec_time DESC, d.queryid;
END
$$;
COMMENT ON FUNCTION apes.query_stats(timestamptz, timestamptz) IS
    'per statement over a period: calls, time, its standard deviation, planning share, rows, cache hits, temp, WAL';

-- Upper tail of Student's t distribution, P(T > t) with df degrees of freedom (src/student_t.c: the server has none).
CREATE FUNCTION apes.t_upper_tail(t double precision, df double precision)
RETURNS double precision
AS 'MODULE_PATHNAME', 'apes_t_upper_tail'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Statements whose mean execution time got worse from the baseline period to the current one, ranked by the extra
-- time they cost in the current period.  Welch's t-test on the two periods' means, with sample variances rebuilt
-- from the snapshots and Welch-Satterthwaite degrees of freedom; the p-value is the t distribution's upper tail.
-- Statements with fewer than min_calls calls in either period are not judged; "significant" (p < 0.001) needs at
-- least 10 calls in each and some variance (flags say few_calls or zero_variance otherwise).
CREATE FUNCTION apes.query_regressions(baseline tstzrange, current tstzrange, min_calls integer DEFAULT 50)
RETURNS TABLE (dbid oid, userid oid, queryid bigint, toplevel boolean, query text,
               baseline_calls bigint, baseline_mean_ms double precision, baseline_stddev_ms double precision,
               current_calls bigint, current_mean_ms double precision, current_stddev_ms double precision,
               slowdown double precision, extra_total_ms double precision, t_statistic double precision,
               degrees_of_freedom double precision, p_value double precision, significant boolean, flags text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b       record;
    c       record;
    allowed boolean := pg_has_role(CURRENT_USER, 'pg_read_all_stats', 'USAGE');
    me      oid := (SELECT r.oid FROM pg_roles r WHERE r.rolname = CURRENT_USER);
BEGIN
    IF baseline IS NULL OR current IS NULL OR isempty(baseline) OR isempty(current) THEN
        RAISE EXCEPTION 'baseline and current must be non-empty periods' USING ERRCODE = '22023';
    END IF;
    IF min_calls IS NULL OR min_calls < 2 THEN
        RAISE EXCEPTION 'min_calls must be at least 2' USING ERRCODE = '22023';
    END IF;
    b := apes.period_bounds(lower(baseline), upper(baseline));
    c := apes.period_bounds(lower(current), CASE WHEN upper_inf(current) THEN NULL ELSE upper(current) END);
    IF b.basis <> 'delta' OR c.basis <> 'delta' THEN
        RAISE EXCEPTION 'not enough history: each period needs a snapshot at or before its start'
            USING ERRCODE = '22023',
                  HINT = 'Take snapshots with apes.snapshot() (or schedule them with apes.schedule()) and wait.';
    END IF;
    RETURN QUERY
    WITH bd AS (SELECT * FROM apes.statement_deltas(b.start_id, b.end_id)),
         cd AS (SELECT * FROM apes.statement_deltas(c.start_id, c.end_id)),
         m AS (SELECT cd.dbid, cd.userid, cd.queryid, cd.toplevel,
                      bd.calls AS n1, bd.total_exec_time / bd.calls AS m1,
                      greatest((bd.sumsq_exec_time - bd.total_exec_time ^ 2 / bd.calls) / (bd.calls - 1), 0) AS v1,
                      cd.calls AS n2, cd.total_exec_time / cd.calls AS m2,
                      greatest((cd.sumsq_exec_time - cd.total_exec_time ^ 2 / cd.calls) / (cd.calls - 1), 0) AS v2
                 FROM cd JOIN bd USING (dbid, userid, queryid, toplevel)
                WHERE bd.calls >= min_calls AND cd.calls >= min_calls),
         w AS (SELECT m.*, m.v1 / m.n1 AS e1, m.v2 / m.n2 AS e2 FROM m WHERE m.m2 > m.m1),
         t AS (SELECT w.*,
                      CASE WHEN w.e1 + w.e2 > 0 THEN (w.m2 - w.m1) / sqrt(w.e1 + w.e2) END AS tt,
                      CASE WHEN w.e1 + w.e2 > 0
                           THEN (w.e1 + w.e2) ^ 2 / (w.e1 ^ 2 / (w.n1 - 1) + w.e2 ^ 2 / (w.n2 - 1)) END AS df
                 FROM w),
         p AS (SELECT t.*, CASE WHEN t.tt IS NOT NULL THEN apes.t_upper_tail(t.tt, t.df) END AS pv FROM t)
    SELECT p.dbid, p.userid, p.queryid, p.toplevel,
           CASE WHEN allowed OR p.userid = me
                THEN (SELECT x.query FROM apes.statement_text x
                       WHERE x.dbid = p.dbid AND x.userid = p.userid AND x.queryid = p.queryid)
                ELSE '<insufficient privilege>' END,
           p.n1, p.m1, sqrt(p.v1), p.n2, p.m2, sqrt(p.v2),
           CASE WHEN p.m1 > 0 THEN p.m2 / p.m1 END, (p.m2 - p.m1) * p.n2, p.tt, p.df, p.pv,
           coalesce(p.pv < 0.001 AND p.n1 >= 10 AND p.n2 >= 10, false),
           b.flags || c.flags
             || CASE WHEN p.n1 < 10 OR p.n2 < 10 THEN ARRAY['few_calls'] ELSE '{}'::text[] END
             || CASE WHEN p.tt IS NULL THEN ARRAY['zero_variance'] ELSE '{}'::text[] END
      FROM p
     ORDER BY (p.m2 - p.m1) * p.n2 DESC, p.queryid;
END
$$;
COMMENT ON FUNCTION apes.query_regressions(tstzrange, tstzrange, integer) IS
    'statements slower in the current period than in the baseline, by extra time, with Welch''s t-test';

-- The query area's findings, for apes.findings('query') (which renders them with the other areas'): the last day of
-- history (or the cumulative counters when there is none yet), the thresholds from the pg_apes_health settings.
CREATE FUNCTION apes.query_findings()
RETURNS TABLE (check_id text, severity text, object_name text, summary text, wasted_bytes bigint, confidence text,
               evidence jsonb, fix_sql text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pgss       record := apes.pgss_status();
    slow_ms    double precision;
    min_calls  bigint;
    p          record;
    dealloc    bigint;
    pmax       text;
    day_ago    timestamptz := clock_timestamp() - interval '1 day';
    win        interval;
BEGIN
    IF pgss.status <> 'ok' THEN
        check_id := 'pgss_unavailable'; severity := 'info'; object_name := '(database)';
        confidence := 'high';
        summary := format('pg_stat_statements is %s here: query analysis is off (the other areas work)', pgss.status);
        evidence := jsonb_build_object('status', pgss.status);
        fix_sql := CASE pgss.status WHEN 'not installed' THEN 'CREATE EXTENSION pg_stat_statements;'
                   ELSE 'ALTER SYSTEM SET shared_preload_libraries = ''pg_stat_statements''; -- keep the others; restart' END;
        RETURN NEXT;
        RETURN;
    END IF;
    PERFORM apes.version();   -- loads the library, which defines the settings
    SELECT setting::double precision INTO slow_ms FROM pg_settings WHERE name = 'pg_apes_health.query_slow_mean';
    SELECT setting::bigint INTO min_calls FROM pg_settings WHERE name = 'pg_apes_health.query_min_calls';
    p := apes.period_bounds(day_ago, NULL);

    -- evictions: statements were dropped from pg_stat_statements, so what follows covers only part of the load
    EXECUTE format('SELECT dealloc FROM %I.pg_stat_statements_info', pgss.schema_name) INTO dealloc;
    IF 'evictions_in_period' = ANY (p.flags) THEN
        pmax := current_setting('pg_stat_statements.max');
        check_id := 'pgss_evictions'; severity := 'warning'; object_name := '(server)'; confidence := 'high';
        summary := format('pg_stat_statements evicted statements (%s since its reset; pg_stat_statements.max = %s): query figures cover only part of the load; raise the maximum',
                          dealloc, pmax);
        evidence := jsonb_build_object('dealloc', dealloc, 'max', pmax::bigint, 'period_start', p.period_start);
        fix_sql := format('ALTER SYSTEM SET pg_stat_statements.max = %s; -- takes effect at the next restart',
                          pmax::bigint * 2);
        RETURN NEXT;
    END IF;

    RETURN QUERY
    WITH q AS (SELECT * FROM apes.query_stats(day_ago, NULL))
    -- query_slow: high mean time and many calls
    SELECT 'query_slow', CASE WHEN q.mean_exec_ms >= 10 * slow_ms THEN 'warning' ELSE 'info' END,
           apes.statement_name(q.dbid, q.userid, q.queryid, q.toplevel),
           format('%s calls averaging %s ms (%s s in all) since %s: %s', q.calls, round(q.mean_exec_ms::numeric, 1),
                  round((q.total_exec_ms / 1000)::numeric, 1), to_char(q.period_start, 'YYYY-MM-DD HH24:MI'),
                  coalesce(left(regexp_replace(q.query, '\s+', ' ', 'g'), 80), 'text not recorded yet')),
           NULL::bigint, CASE WHEN q.basis = 'delta' THEN 'high' ELSE 'medium' END,
           jsonb_build_object('queryid', q.queryid, 'dbid', q.dbid, 'userid', q.userid, 'calls', q.calls,
                              'mean_exec_ms', q.mean_exec_ms, 'stddev_exec_ms', q.stddev_exec_ms,
                              'total_exec_ms', q.total_exec_ms, 'basis', q.basis, 'flags', q.flags,
                              'period_start', q.period_start, 'period_end', q.period_end),
           NULL::text
      FROM q WHERE q.mean_exec_ms >= slow_ms AND q.calls >= min_calls
    UNION ALL
    -- query_temp_spill: sorts and hashes that write temporary files
    SELECT 'query_temp_spill', 'info', apes.statement_name(q.dbid, q.userid, q.queryid, q.toplevel),
           format('wrote %s of temporary files in %s calls since %s (work_mem = %s): %s',
                  pg_size_pretty(q.temp_blks_written * current_setting('block_size')::bigint), q.calls,
                  to_char(q.period_start, 'YYYY-MM-DD HH24:MI'), current_setting('work_mem'),
                  coalesce(left(regexp_replace(q.query, '\s+', ' ', 'g'), 80), 'text not recorded yet')),
           NULL, 'high',
           jsonb_build_object('queryid', q.queryid, 'temp_blks_written', q.temp_blks_written, 'calls', q.calls,
                              'basis', q.basis),
           NULL
      FROM q WHERE q.temp_blks_written * current_setting('block_size')::bigint >= 100 * 1024 * 1024
    UNION ALL
    -- query_low_cache_hit: most of its reads miss shared buffers
    SELECT 'query_low_cache_hit', 'info', apes.statement_name(q.dbid, q.userid, q.queryid, q.toplevel),
           format('only %s%% of its shared block reads hit the buffer cache (%s read from outside) since %s: %s',
                  round((100 * q.shared_hit_ratio)::numeric, 1),
                  pg_size_pretty(q.shared_blks_read * current_setting('block_size')::bigint),
                  to_char(q.period_start, 'YYYY-MM-DD HH24:MI'),
                  coalesce(left(regexp_replace(q.query, '\s+', ' ', 'g'), 80), 'text not recorded yet')),
           NULL, 'medium',
           jsonb_build_object('queryid', q.queryid, 'shared_hit_ratio', q.shared_hit_ratio,
                              'shared_blks_read', q.shared_blks_read, 'calls', q.calls, 'basis', q.basis),
           NULL
      FROM q WHERE q.shared_hit_ratio < 0.9 AND q.shared_blks_read >= 10000
    UNION ALL
    -- query_plan_heavy: planning takes more time than execution
    SELECT 'query_plan_heavy', 'info', apes.statement_name(q.dbid, q.userid, q.queryid, q.toplevel),
           format('planning takes %s%% of its time over %s calls since %s; prepared statements would plan it once: %s',
                  round((100 * q.plan_share)::numeric, 0), q.calls, to_char(q.period_start, 'YYYY-MM-DD HH24:MI'),
                  coalesce(left(regexp_replace(q.query, '\s+', ' ', 'g'), 80), 'text not recorded yet')),
           NULL, 'high',
           jsonb_build_object('queryid', q.queryid, 'plan_share', q.plan_share, 'calls', q.calls, 'basis', q.basis),
           NULL
      FROM q WHERE q.plan_share >= 0.5 AND q.calls >= min_calls;

    -- query_regression: the last pg_apes_health.regression_window (1 day) against the seven before it, once two
    -- snapshots are older than the window (the baseline then starts at the oldest snapshot it has)
    SELECT make_interval(secs => setting::double precision) INTO win
      FROM pg_settings WHERE name = 'pg_apes_health.regression_window';
    IF (SELECT count(*) FROM apes.snapshot
         WHERE pgss_status = 'ok' AND taken_at <= clock_timestamp() - win) >= 2 THEN
        BEGIN
        RETURN QUERY
        SELECT 'query_regression', 'warning', apes.statement_name(r.dbid, r.userid, r.queryid, r.toplevel),
               format('%s times slower: %s ms mean over the last %s against %s ms before, %s s more in all (Welch''s t = %s): %s',
                      round(r.slowdown::numeric, 1),
                      round(r.current_mean_ms::numeric, CASE WHEN r.current_mean_ms < 1 THEN 3 ELSE 1 END), win,
                      round(r.baseline_mean_ms::numeric, CASE WHEN r.baseline_mean_ms < 1 THEN 3 ELSE 1 END),
                      round((r.extra_total_ms / 1000)::numeric, 1),
                      round(r.t_statistic::numeric, 1),
                      coalesce(left(regexp_replace(r.query, '\s+', ' ', 'g'), 80), 'text not recorded yet')),
               NULL::bigint, 'high',
               jsonb_build_object('queryid', r.queryid, 'baseline_mean_ms', r.baseline_mean_ms,
                                  'current_mean_ms', r.current_mean_ms, 'baseline_calls', r.baseline_calls,
                                  'current_calls', r.current_calls, 't_statistic', r.t_statistic,
                                  'p_value', r.p_value, 'flags', r.flags, 'window', win::text),
               NULL::text
          FROM apes.query_regressions(tstzrange(clock_timestamp() - 8 * win, clock_timestamp() - win),
                                      tstzrange(clock_timestamp() - win, NULL), min_calls::integer) r
         WHERE r.significant AND r.slowdown >= 1.5 AND r.extra_total_ms >= 1000;
        EXCEPTION WHEN invalid_parameter_value THEN
            NULL;   -- no snapshot inside the baseline: nothing to compare yet
        END;
    END IF;
END
$$;
COMMENT ON FUNCTION apes.query_findings() IS 'the query area of apes.findings(), as rows';

-- =====================================================================================================================
-- Connection pools (docs/pools.md): read in C from the backend status array.
-- =====================================================================================================================

-- Slots: the server (max_connections less the reserved slots, client backends; other backends listed apart), then
-- each database and role with sessions (connection_limit NULL: no limit of its own, measured against the server).
CREATE FUNCTION apes.connection_capacity()
RETURNS TABLE (scope text, name text, connection_limit integer, reserved integer, in_use integer, headroom integer,
               utilisation_pct double precision, other_backends jsonb)
AS 'MODULE_PATHNAME', 'apes_connection_capacity'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION apes.connection_capacity() IS
    'connection slots in use against max_connections (reserved slots apart), per database and per role';

-- Pools: client backends sharing (database, role, application, client address); the caller's own session left out.
CREATE FUNCTION apes.pools()
RETURNS TABLE (database text, role text, application text, client_addr text, sessions integer, active integer,
               idle integer, idle_in_transaction integer, idle_in_transaction_aborted integer, waiting integer,
               wait_events text, oldest_transaction_age interval, oldest_idle_in_transaction_age interval,
               oldest_xmin_age integer, youngest_connection_age interval, hidden_sessions integer)
AS 'MODULE_PATHNAME', 'apes_pools'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION apes.pools() IS 'client backends grouped into pools, with their states, waits and ages';

CREATE VIEW apes.pools AS
SELECT * FROM apes.pools() p ORDER BY p.sessions DESC, p.database, p.role, p.application, p.client_addr;
COMMENT ON VIEW apes.pools IS 'client backends grouped into pools (database, role, application, client address)';

-- The blocking tree: each backend waiting on a heavyweight lock, its blockers and its root blocker.
CREATE FUNCTION apes.blocking()
RETURNS TABLE (blocked_pid integer, blocked_role text, blocked_application text, wait_duration interval,
               lock_type text, lock_mode text, blocking_pids integer[], root_blocker_pid integer,
               root_blocker_role text, root_blocker_state text, root_blocker_transaction_age interval,
               root_blocker_application text, root_blocks integer)
AS 'MODULE_PATHNAME', 'apes_blocking'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION apes.blocking() IS 'blocked backends with their blockers and root blocker';

CREATE VIEW apes.blocking AS
SELECT * FROM apes.blocking() b ORDER BY b.root_blocks DESC, b.root_blocker_pid, b.wait_duration DESC NULLS LAST;
COMMENT ON VIEW apes.blocking IS 'who blocks whom, root blockers holding up the most sessions first';

-- PgBouncer's pools (SHOW POOLS with SHOW STATS), read from its admin console at pg_apes_health.pgbouncer_dsn;
-- empty, with a notice, when that is not set.  Times are PgBouncer's averages in microseconds.
CREATE FUNCTION apes.pgbouncer_pools()
RETURNS TABLE (database text, "user" text, pool_mode text, cl_active integer, cl_waiting integer,
               sv_active integer, sv_idle integer, sv_used integer, sv_login integer,
               maxwait_seconds double precision, avg_wait_us bigint, avg_query_us bigint, avg_xact_us bigint)
AS 'MODULE_PATHNAME', 'apes_pgbouncer_pools'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION apes.pgbouncer_pools() IS 'PgBouncer''s pools: clients active and waiting, servers, waits';

-- Pools at each snapshot, for churn and trends.
CREATE TABLE apes.pool_history (
    snapshot_id          bigint NOT NULL,
    database             text,
    role                 text,
    application          text NOT NULL,
    client_addr          text,
    sessions             integer NOT NULL,
    active               integer NOT NULL,
    idle_in_transaction  integer NOT NULL,
    waiting              integer NOT NULL
);
CREATE INDEX pool_history_snapshot_idx ON apes.pool_history (snapshot_id);
COMMENT ON TABLE apes.pool_history IS 'connection pools at each snapshot';

-- Session churn over a period, from pg_stat_database's session counters at the snapshots bounding it (until now:
-- the live counters): new sessions per second, mean session lifetime, abandoned/fatal/killed per minute, busy ratio.
CREATE FUNCTION apes.connection_churn(since timestamptz DEFAULT NULL)
RETURNS TABLE (period_start timestamptz, period_end timestamptz, seconds double precision, sessions bigint,
               sessions_per_second double precision, mean_session_seconds double precision,
               abandoned_per_minute double precision, fatal_per_minute double precision,
               killed_per_minute double precision, busy_ratio double precision, basis text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s  record;
    d  apes.database_history%ROWTYPE;
    e  record;
BEGIN
    SELECT sn.snapshot_id, sn.taken_at, sn.server_start, sn.db_stats_reset INTO s
      FROM apes.snapshot sn
     WHERE sn.server_start = pg_postmaster_start_time()
       AND sn.db_stats_reset IS NOT DISTINCT FROM (SELECT stats_reset FROM pg_stat_database
                                                    WHERE datname = current_database())
       AND (since IS NULL OR sn.taken_at <= since)
     ORDER BY CASE WHEN since IS NULL THEN sn.taken_at END ASC, sn.taken_at DESC LIMIT 1;
    SELECT * INTO e FROM pg_stat_database WHERE datname = current_database();
    IF s.snapshot_id IS NULL THEN
        -- no snapshot in this series yet: since the server started (or the counters were reset)
        period_start := coalesce(e.stats_reset, pg_postmaster_start_time());
        basis := 'cumulative';
    ELSE
        period_start := s.taken_at;
        basis := 'delta';
        SELECT * INTO d FROM apes.database_history WHERE snapshot_id = s.snapshot_id;
    END IF;
    period_end := clock_timestamp();
    seconds := extract(epoch FROM period_end - period_start);
    sessions := e.sessions - coalesce(d.sessions, 0);
    sessions_per_second := CASE WHEN seconds > 0 THEN sessions / seconds END;
    mean_session_seconds := CASE WHEN sessions > 0
                                 THEN (e.session_time - coalesce(d.session_time, 0)) / 1000 / sessions END;
    abandoned_per_minute := CASE WHEN seconds > 0
                                 THEN (e.sessions_abandoned - coalesce(d.sessions_abandoned, 0)) * 60 / seconds END;
    fatal_per_minute := CASE WHEN seconds > 0
                             THEN (e.sessions_fatal - coalesce(d.sessions_fatal, 0)) * 60 / seconds END;
    killed_per_minute := CASE WHEN seconds > 0
                              THEN (e.sessions_killed - coalesce(d.sessions_killed, 0)) * 60 / seconds END;
    busy_ratio := CASE WHEN e.session_time - coalesce(d.session_time, 0) > 0
                       THEN (e.active_time - coalesce(d.active_time, 0))
                            / (e.session_time - coalesce(d.session_time, 0)) END;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION apes.connection_churn(timestamptz) IS
    'new sessions per second, mean session lifetime, abandoned/fatal/killed sessions per minute, busy ratio';

-- =====================================================================================================================
-- Findings history (0.2.0): one row per episode of a finding, from the snapshot that first saw it to the one that no
-- longer did, so a report can say what is new, what was resolved and how long a problem has been there.  A snapshot
-- writes only what changed: a finding still there at the same severity costs nothing (a snapshot of 2,000 unchanged
-- findings writes no row).  Summaries, fixes and undos are not stored: a summary may quote a statement's text, which
-- only apes.statement_text keeps (behind row-level security).
-- =====================================================================================================================

CREATE TABLE apes.finding_history (
    check_id       text NOT NULL,
    area           text NOT NULL,
    severity       text NOT NULL,
    object_name    text,
    first_seen     timestamptz NOT NULL,   -- the snapshot that first saw it at this severity
    resolved_at    timestamptz,            -- the first snapshot that no longer saw it (at this severity); NULL: open
    wasted_bytes   bigint,                 -- wasted_bytes, confidence and evidence as first seen
    confidence     text,
    evidence       jsonb
);
CREATE INDEX finding_history_open_idx ON apes.finding_history (check_id, object_name) WHERE resolved_at IS NULL;
COMMENT ON TABLE apes.finding_history IS
    'episodes of findings: seen by the snapshots from first_seen until resolved_at (NULL: still seen)';

-- Every finding of now, as apes.findings() returns it, with details (summary, evidence, DDL) only for those whose key
-- (check, severity, object; a NULL object is '') is not among the known ones (element i of each array makes one
-- key): one collection gives a snapshot the keys of every finding and the evidence of the new ones, from the same
-- moment.  Internal to apes.snapshot().
CREATE FUNCTION apes.findings_new(known_check_ids text[], known_severities text[], known_object_names text[])
RETURNS TABLE (check_id text, area text, severity text, object_name text, summary text, wasted_bytes bigint,
               confidence text, evidence jsonb, fix_sql text, undo_sql text)
AS 'MODULE_PATHNAME', 'apes_findings_new'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION apes.findings_new(text[], text[], text[]) IS
    'every finding, with details only for those not among the known keys (used by apes.record_findings())';

-- Record the findings of now, at a snapshot taken at taken: open an episode for each finding no open episode
-- covers (same check, object and severity), close the open episodes of findings no longer there.  Returns how many
-- findings there are now.  Called by apes.snapshot().
-- One collection (apes.findings_new()) gives every current finding, with the details an episode keeps (evidence) for
-- the new ones only, so a snapshot deparses the indexes of new findings alone, and closing and opening judge the
-- same moment.  Episodes are matched on (check, object, severity) by equality, with a NULL object as '': a hashable
-- key, so matching costs one pass over each side (IS NOT DISTINCT FROM cannot be hashed and made it quadratic: 8 s
-- for 10,000 open findings).
CREATE FUNCTION apes.record_findings(taken timestamptz)
RETURNS integer
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    WITH open AS MATERIALIZED (
             SELECT DISTINCT h.check_id, h.severity, coalesce(h.object_name, '') AS object_key
               FROM apes.finding_history h
              WHERE h.resolved_at IS NULL),
         known AS (   -- the open keys as three arrays in one order: element i of each is one key
             SELECT array_agg(o.check_id ORDER BY o.check_id, o.severity, o.object_key) AS check_ids,
                    array_agg(o.severity ORDER BY o.check_id, o.severity, o.object_key) AS severities,
                    array_agg(o.object_key ORDER BY o.check_id, o.severity, o.object_key) AS object_keys
               FROM open o),
         cur AS MATERIALIZED (
             SELECT DISTINCT ON (f.check_id, coalesce(f.object_name, ''), f.severity)
                    f.check_id, f.area, f.severity, f.object_name, coalesce(f.object_name, '') AS object_key,
                    f.wasted_bytes, f.confidence, f.evidence
               FROM known k, apes.findings_new(k.check_ids, k.severities, k.object_keys) f
              ORDER BY f.check_id, coalesce(f.object_name, ''), f.severity, f.wasted_bytes DESC NULLS LAST),
         closed AS (
             UPDATE apes.finding_history h SET resolved_at = taken
              WHERE h.resolved_at IS NULL
                AND NOT EXISTS (SELECT 1 FROM cur c
                                 WHERE c.check_id = h.check_id AND c.object_key = coalesce(h.object_name, '')
                                   AND c.severity = h.severity)
             RETURNING 1),
         opened AS (   -- (data-modifying WITH parts always run, read or not; both see the table as it was)
             INSERT INTO apes.finding_history
             SELECT c.check_id, c.area, c.severity, c.object_name, taken, NULL, c.wasted_bytes, c.confidence,
                    c.evidence
               FROM cur c
              WHERE NOT EXISTS (SELECT 1 FROM open o
                                 WHERE o.check_id = c.check_id AND o.object_key = c.object_key
                                   AND o.severity = c.severity)
             RETURNING 1)
    SELECT count(*)::integer FROM cur;
$$;
COMMENT ON FUNCTION apes.record_findings(timestamptz) IS
    'record the current findings as episodes of apes.finding_history (called by apes.snapshot())';

-- What changed since a moment (default: a day ago): the findings now against those the last snapshot taken at or
-- before it saw.  change is new, resolved, escalated (more severe now) or eased; first_seen: since when the newest
-- snapshots have seen it at this severity (NULL: no snapshot has seen it yet).
CREATE FUNCTION apes.finding_changes(since timestamptz DEFAULT NULL)
RETURNS TABLE (change text, check_id text, area text, severity text, previous_severity text, object_name text,
               summary text, first_seen timestamptz, baseline_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    since_at  timestamptz := coalesce(since, now() - interval '1 day');
    base_at   timestamptz;
    ranks     text[] := ARRAY['critical', 'warning', 'info'];
BEGIN
    SELECT s.taken_at INTO base_at
      FROM apes.snapshot s
     WHERE s.taken_at <= since_at AND s.findings IS NOT NULL
     ORDER BY s.taken_at DESC LIMIT 1;
    IF base_at IS NULL THEN
        RAISE EXCEPTION 'no snapshot with findings was taken at or before %', since_at
            USING ERRCODE = '22023',
                  HINT = 'apes.snapshot() records the findings; apes.schedule() takes a snapshot every 15 minutes.';
    END IF;
    RETURN QUERY
    WITH cur AS (SELECT f.check_id, f.area, f.severity, f.object_name, f.summary,
                        coalesce(f.object_name, '') AS object_key
                   FROM apes.findings() f),
         old AS (SELECT h.check_id, min(h.area) AS area, coalesce(h.object_name, '') AS object_key,
                        min(h.object_name) AS object_name, min(array_position(ranks, h.severity)) AS severity_rank
                   FROM apes.finding_history h
                  WHERE h.first_seen <= base_at AND (h.resolved_at IS NULL OR h.resolved_at > base_at)
                  GROUP BY h.check_id, coalesce(h.object_name, '')),
         seen AS (SELECT h.check_id, coalesce(h.object_name, '') AS object_key, h.severity, min(h.first_seen) AS first_seen
                    FROM apes.finding_history h WHERE h.resolved_at IS NULL
                   GROUP BY 1, 2, 3)
    SELECT CASE WHEN o.check_id IS NULL THEN 'new'
                WHEN c.check_id IS NULL THEN 'resolved'
                WHEN array_position(ranks, c.severity) < o.severity_rank THEN 'escalated'
                ELSE 'eased' END,
           coalesce(c.check_id, o.check_id), coalesce(c.area, o.area),
           coalesce(c.severity, ranks[o.severity_rank]),
           ranks[o.severity_rank], coalesce(c.object_name, o.object_name), c.summary, s.first_seen, base_at
      FROM cur c
      FULL JOIN old o ON o.check_id = c.check_id AND o.object_key = c.object_key
      LEFT JOIN seen s ON s.check_id = c.check_id AND s.object_key = c.object_key AND s.severity = c.severity
     WHERE o.check_id IS NULL OR c.check_id IS NULL OR array_position(ranks, c.severity) <> o.severity_rank
     ORDER BY 1, 2, 6;
END
$$;
COMMENT ON FUNCTION apes.finding_changes(timestamptz) IS
    'findings new, resolved, escalated or eased since a moment (default a day ago), against the snapshot before it';

-- History privileges: writing (snapshot, purge, schedule) is for superusers and the roles they grant; reading the
-- history and the analysis is for pg_monitor, query texts as pg_stat_statements shows them (row-level security).
REVOKE ALL ON apes.snapshot, apes.statement_history, apes.statement_text, apes.relation_history,
              apes.database_history, apes.pool_history, apes.finding_history FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.connection_capacity() FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.pools() FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.blocking() FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.pgbouncer_pools() FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.connection_churn(timestamptz) FROM PUBLIC;
REVOKE ALL ON apes.pools, apes.blocking FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.snapshot() FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.purge(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.schedule(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.unschedule() FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.pgss_status() FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.pgss_io_time_columns(name) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.statements_now() FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.statement_texts_now() FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.period_bounds(timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.statement_deltas(bigint, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.statement_query(oid, oid, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.statement_name(oid, oid, bigint, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.query_stats(timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.t_upper_tail(double precision, double precision) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.query_regressions(tstzrange, tstzrange, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.query_findings() FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.findings_new(text[], text[], text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.record_findings(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.finding_changes(timestamptz) FROM PUBLIC;

GRANT SELECT ON apes.snapshot, apes.statement_history, apes.statement_text, apes.relation_history,
                apes.database_history, apes.pool_history, apes.finding_history TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.connection_capacity() TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.pools() TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.blocking() TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.pgbouncer_pools() TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.connection_churn(timestamptz) TO pg_monitor;
GRANT SELECT ON apes.pools, apes.blocking TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.pgss_status() TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.pgss_io_time_columns(name) TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.statements_now() TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.statement_texts_now() TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.period_bounds(timestamptz, timestamptz) TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.statement_deltas(bigint, bigint) TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.statement_query(oid, oid, bigint) TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.statement_name(oid, oid, bigint, boolean) TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.query_stats(timestamptz, timestamptz) TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.t_upper_tail(double precision, double precision) TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.query_regressions(tstzrange, tstzrange, integer) TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.query_findings() TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.finding_changes(timestamptz) TO pg_monitor;

-- History tables are configuration-like data: pg_dump keeps them with the extension.
SELECT pg_catalog.pg_extension_config_dump('apes.snapshot', '');
SELECT pg_catalog.pg_extension_config_dump('apes.statement_history', '');
SELECT pg_catalog.pg_extension_config_dump('apes.statement_text', '');
SELECT pg_catalog.pg_extension_config_dump('apes.relation_history', '');
SELECT pg_catalog.pg_extension_config_dump('apes.database_history', '');
SELECT pg_catalog.pg_extension_config_dump('apes.pool_history', '');
SELECT pg_catalog.pg_extension_config_dump('apes.finding_history', '');

-- Default deny, then read-only reporting for pg_monitor.
REVOKE ALL ON FUNCTION apes.findings(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.health_report() FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.health_json() FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.version() FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.checks() FROM PUBLIC;
REVOKE ALL ON apes.checks FROM PUBLIC;
REVOKE ALL ON apes.vacuum_horizon FROM PUBLIC;
REVOKE ALL ON apes.wraparound FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.table_bloat(regclass, integer, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.index_bloat(regclass, integer, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.bloat_estimates() FROM PUBLIC;
REVOKE ALL ON apes.bloat_estimates FROM PUBLIC;

GRANT EXECUTE ON FUNCTION apes.findings(text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.health_report() TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.health_json() TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.version() TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.checks() TO pg_monitor;
GRANT SELECT ON apes.checks TO pg_monitor;
GRANT SELECT ON apes.vacuum_horizon TO pg_monitor;
GRANT SELECT ON apes.wraparound TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.bloat_estimates() TO pg_monitor;
GRANT SELECT ON apes.bloat_estimates TO pg_monitor;

-- Page readers, like pgstattuple: pg_stat_scan_tables (a member of pg_monitor).
GRANT USAGE ON SCHEMA apes TO pg_stat_scan_tables;
GRANT EXECUTE ON FUNCTION apes.table_bloat(regclass, integer, boolean) TO pg_stat_scan_tables;
GRANT EXECUTE ON FUNCTION apes.index_bloat(regclass, integer, boolean) TO pg_stat_scan_tables;

-- ==== issue 15: index advice ====
-- What dropping an index would do to the plans of the top statements of this database that read its table (by total
-- time in pg_stat_statements), each planned as a generic plan with the index and without it; nothing is executed.
-- A statement is planned and shown only when the caller may read every relation it reads (others: status 'hidden',
-- nothing else shown), and only statements whose text pg_stat_statements shows the caller are looked at.  Each
-- statement is planned in a subtransaction, as its own role, under the caller's statement_timeout.
CREATE FUNCTION apes.simulate_drop(idx regclass, statements integer DEFAULT 20)
RETURNS TABLE (
    rank          integer,
    queryid       bigint,
    role          name,
    calls         bigint,
    total_time_ms double precision,
    status        text,
    reason        text,
    uses_index    boolean,
    cost_with     double precision,
    cost_without  double precision,
    cost_ratio    double precision,
    query         text
)
AS 'MODULE_PATHNAME', 'apes_simulate_drop'
LANGUAGE C STABLE STRICT PARALLEL UNSAFE;

COMMENT ON FUNCTION apes.simulate_drop(regclass, integer) IS
    'the top statements reading the index''s table, planned with and without the index: would dropping it make any costlier?';

REVOKE ALL ON FUNCTION apes.simulate_drop(regclass, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apes.simulate_drop(regclass, integer) TO pg_monitor;
-- ==== end of issue 15 ====
