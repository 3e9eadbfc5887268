-- The demo database (test/demo.sql, loaded by `make demo`) reports exactly its planted problems, none of its
-- near-misses.
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
