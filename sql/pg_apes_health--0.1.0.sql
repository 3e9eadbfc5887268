/* pg_apes_health 0.1.0: first install script.
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
LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION apes.findings(text) IS
    'health findings of every area, or of one area (index); one shape for all checks';

-- The readable report for psql: a verdict line, then findings by severity and area.
CREATE FUNCTION apes.health_report()
RETURNS text
AS 'MODULE_PATHNAME', 'apes_health_report'
LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION apes.health_report() IS 'health report as text, for people';

-- The same report as one jsonb document, for tools.
CREATE FUNCTION apes.health_json()
RETURNS jsonb
AS 'MODULE_PATHNAME', 'apes_health_json'
LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION apes.health_json() IS 'health report as jsonb, for tools and monitoring endpoints';

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
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

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
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

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

-- Default deny, then read-only reporting for pg_monitor.
REVOKE ALL ON FUNCTION apes.findings(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.health_report() FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.health_json() FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.version() FROM PUBLIC;
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
GRANT SELECT ON apes.vacuum_horizon TO pg_monitor;
GRANT SELECT ON apes.wraparound TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.bloat_estimates() TO pg_monitor;
GRANT SELECT ON apes.bloat_estimates TO pg_monitor;

-- Page readers, like pgstattuple: pg_stat_scan_tables (a member of pg_monitor).
GRANT USAGE ON SCHEMA apes TO pg_stat_scan_tables;
GRANT EXECUTE ON FUNCTION apes.table_bloat(regclass, integer, boolean) TO pg_stat_scan_tables;
GRANT EXECUTE ON FUNCTION apes.index_bloat(regclass, integer, boolean) TO pg_stat_scan_tables;
