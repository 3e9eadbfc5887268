-- The demo database (test/demo.sql, loaded by `make demo`) reports exactly its planted problems, none of its
-- near-misses.  pg_stat_statements (preloaded) is readable here, as in make demo: its index advice is checked against
-- the statements it runs.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
RESET client_min_messages;
-- the free space of the machine's disk is not the test's: disk_space_low judged on no filesystem
SET pg_apes_health.disk_warn_pct = 100;
SET pg_apes_health.disk_days_min = 0;
-- the index advice may take its time here (a loaded machine must not turn a keep verdict into "not simulated")
SET pg_apes_health.simulation_time_budget = '1min';
\set ECHO none
\i test/demo.sql
\set ECHO all
SELECT check_id, severity, object_name, confidence
  FROM apes.findings()
 WHERE object_name LIKE 'shop.%'
 ORDER BY check_id, object_name;
SELECT apes.health_json()->'checks' AS checks;
SET client_min_messages = warning;
DROP SCHEMA shop CASCADE;
RESET client_min_messages;
