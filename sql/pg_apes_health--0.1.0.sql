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

-- Default deny, then read-only reporting for pg_monitor.
REVOKE ALL ON FUNCTION apes.findings(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.health_report() FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.health_json() FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.version() FROM PUBLIC;

GRANT EXECUTE ON FUNCTION apes.findings(text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.health_report() TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.health_json() TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.version() TO pg_monitor;
