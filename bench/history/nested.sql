-- pg_apes_health history benchmark: where the time of one apes.snapshot() or apes.purge() goes, statement by
-- statement.  auto_explain logs (as NOTICEs, to this client) every statement the function runs that takes at least
-- :min_ms ms, with its plan, its actual rows and its triggers (the foreign-key checks); run.sh keeps the duration,
-- statement, Insert/Delete and trigger lines.  The call runs in a transaction that is rolled back.
--   -v what=snapshot     SELECT apes.snapshot()
--   -v what=purge        apes.purge() of the oldest day (as purge.sql times it)

\set ON_ERROR_STOP 1
\set QUIET on
SET jit = :'jit';
LOAD 'auto_explain';
SET auto_explain.log_min_duration = :'min_ms';
SET auto_explain.log_analyze = on;
SET auto_explain.log_timing = on;
SET auto_explain.log_triggers = on;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_level = notice;
SET client_min_messages = notice;

SELECT :'what' = 'snapshot' AS is_snapshot \gset
BEGIN;
\if :is_snapshot
SELECT apes.snapshot() \g /dev/null
\else
SELECT clock_timestamp() - taken_at + (SELECT step / 2 FROM bench.series) AS older_than
  FROM apes.snapshot
 WHERE snapshot_id = (SELECT min(snapshot_id) FROM apes.snapshot) + (SELECT per_day FROM bench.series) \gset
SELECT apes.purge(:'older_than'::interval) \g /dev/null
\endif
ROLLBACK;
