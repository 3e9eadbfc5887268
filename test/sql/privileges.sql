-- Privileges: nothing for PUBLIC, read-only reporting for pg_monitor, every object checked.
CREATE ROLE regress_apes_nobody LOGIN;
CREATE ROLE regress_apes_monitor LOGIN IN ROLE pg_monitor;

-- No ACL of the schema or of any function names PUBLIC (grantee 0).
SELECT count(*) AS public_grants
  FROM (SELECT (aclexplode(nspacl)).grantee FROM pg_namespace WHERE nspname = 'apes'
        UNION ALL
        SELECT (aclexplode(proacl)).grantee FROM pg_proc WHERE pronamespace = 'apes'::regnamespace) g
 WHERE grantee = 0;

-- Every function of the extension: denied to a role without grants, allowed to pg_monitor members.
SELECT p.oid::regprocedure AS function,
       has_function_privilege('regress_apes_nobody', p.oid, 'EXECUTE') AS nobody,
       has_function_privilege('regress_apes_monitor', p.oid, 'EXECUTE') AS monitor
  FROM pg_proc p
 WHERE p.oid IN (SELECT objid FROM pg_depend
                  WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_apes_health')
                    AND classid = 'pg_proc'::regclass AND deptype = 'e')
 ORDER BY p.oid::regprocedure::text;
SELECT c.oid::regclass AS view,
       has_table_privilege('regress_apes_nobody', c.oid, 'SELECT') AS nobody,
       has_table_privilege('regress_apes_monitor', c.oid, 'SELECT') AS monitor
  FROM pg_class c WHERE c.relnamespace = 'apes'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p') ORDER BY c.oid::regclass::text;
SELECT has_schema_privilege('regress_apes_nobody', 'apes', 'USAGE') AS nobody_usage,
       has_schema_privilege('regress_apes_monitor', 'apes', 'USAGE') AS monitor_usage;

-- Calls as a role without grants fail with permission denied (42501).
SET ROLE regress_apes_nobody;
SELECT count(*) FROM apes.findings();
\echo :LAST_ERROR_SQLSTATE
SELECT apes.health_report() IS NOT NULL;
\echo :LAST_ERROR_SQLSTATE
SELECT apes.health_json() IS NOT NULL;
\echo :LAST_ERROR_SQLSTATE
SELECT apes.version() IS NOT NULL;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- The same calls as a pg_monitor member work.
SET ROLE regress_apes_monitor;
SELECT count(*) >= 0 AS findings FROM apes.findings();
SELECT apes.health_report() LIKE 'pg_apes_health %' AS report;
SELECT apes.health_json() ? 'verdict' AS json;
SELECT apes.version() IS NOT NULL AS version;
SELECT count(*) >= 0 AS horizon FROM apes.vacuum_horizon;
SELECT count(*) > 0 AS wraparound FROM apes.wraparound;
RESET ROLE;

-- Page readers are for pg_stat_scan_tables (as pgstattuple's are); its members alone get nothing else.
CREATE ROLE regress_apes_scanner LOGIN IN ROLE pg_stat_scan_tables;
CREATE TABLE public.priv_t (a int);
SET ROLE regress_apes_scanner;
SELECT kind, pages FROM apes.table_bloat('public.priv_t') ORDER BY kind;
SELECT count(*) FROM apes.findings();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE regress_apes_nobody;
SELECT * FROM apes.table_bloat('public.priv_t');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP TABLE public.priv_t;
DROP ROLE regress_apes_scanner;

-- A pg_monitor member sees findings on tables it has no privilege on (catalogs are public), as pg_stat_user_indexes does.
CREATE SCHEMA pv;
REVOKE ALL ON SCHEMA pv FROM PUBLIC;
CREATE TABLE pv.secret (a int);
CREATE INDEX secret_a ON pv.secret (a);
CREATE INDEX secret_a2 ON pv.secret (a);
SET ROLE regress_apes_monitor;
SELECT check_id, object_name FROM apes.findings('index') WHERE object_name LIKE 'pv.%';
RESET ROLE;
DROP SCHEMA pv CASCADE;

DROP ROLE regress_apes_nobody;
DROP ROLE regress_apes_monitor;
