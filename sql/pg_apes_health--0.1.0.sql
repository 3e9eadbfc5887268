/* pg_apes_health 0.1.0: first install script.
 *
 * Safety rules for this file (see docs/security.md):
 *  - no CREATE OR REPLACE and no IF NOT EXISTS: a pre-planted object makes the install fail instead of being adopted;
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

-- Default deny, then read-only reporting for pg_monitor.
REVOKE ALL ON FUNCTION apes.findings(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.health_report() FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.health_json() FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.version() FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.table_bloat(regclass, integer, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.index_bloat(regclass, integer, boolean) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION apes.findings(text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.health_report() TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.health_json() TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.version() TO pg_monitor;

-- Page readers, like pgstattuple: pg_stat_scan_tables (a member of pg_monitor).
GRANT USAGE ON SCHEMA apes TO pg_stat_scan_tables;
GRANT EXECUTE ON FUNCTION apes.table_bloat(regclass, integer, boolean) TO pg_stat_scan_tables;
GRANT EXECUTE ON FUNCTION apes.index_bloat(regclass, integer, boolean) TO pg_stat_scan_tables;
