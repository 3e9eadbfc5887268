-- apes.bloat_estimates (catalog-only screening, with reliability flags) and the bloat findings of
-- apes.findings('bloat'): measured within the time budget, estimated beyond it, and said so.
-- Every table here is under 400 pages, so a report reads it whole and the numbers do not depend on a seed; the
-- output shows booleans and ranges, never sizes.
SET client_min_messages = warning;
CREATE SCHEMA bf;
DROP ROLE IF EXISTS regress_bf_monitor;
DROP ROLE IF EXISTS regress_bf_plain;
RESET client_min_messages;
SET pg_apes_health.bloat_min_size = '256kB';

-- no bloat: a fresh table whose columns need alignment padding (int2, int8, int4, int2, int8)
CREATE TABLE bf.fresh (id int PRIMARY KEY, a int2, b int8, c int4, d int2, e int8, t text)
    WITH (autovacuum_enabled = off);
INSERT INTO bf.fresh SELECT g, 1, 2, 3, 4, 5, md5(g::text) FROM generate_series(1, 20000) g;
CREATE INDEX fresh_a_idx ON bf.fresh (a);                       -- one value: btree deduplication packs it
CREATE INDEX fresh_gin_idx ON bf.fresh USING gin ((ARRAY[id])); -- no size model for GIN
-- no bloat: fillfactor 70 keeps free space on purpose
CREATE TABLE bf.ff70 (id int, v text) WITH (fillfactor = 70, autovacuum_enabled = off);
INSERT INTO bf.ff70 SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
-- bloat: three rows in four deleted and vacuumed (free space), and its indexes
CREATE TABLE bf.freed (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
INSERT INTO bf.freed SELECT g, md5(g::text) FROM generate_series(1, 40000) g;
CREATE INDEX freed_v_idx ON bf.freed (v);
DELETE FROM bf.freed WHERE id % 4 <> 0;
VACUUM bf.freed;
-- bloat in TOAST: documents stored out of line, four in five deleted and vacuumed
CREATE TABLE bf.docs (id int PRIMARY KEY, body text) WITH (autovacuum_enabled = off, toast.autovacuum_enabled = off);
ALTER TABLE bf.docs ALTER COLUMN body SET STORAGE EXTERNAL;
INSERT INTO bf.docs SELECT g, (SELECT string_agg(md5(g::text || '-' || i), '') FROM generate_series(1, 100) i)
  FROM generate_series(1, 600) g;
DELETE FROM bf.docs WHERE id % 5 <> 0;
VACUUM bf.docs;
-- never analyzed nor vacuumed
CREATE TABLE bf.unanalyzed (id int) WITH (autovacuum_enabled = off);
INSERT INTO bf.unanalyzed SELECT generate_series(1, 20000);
-- bloat by dead rows: half deleted after ANALYZE, not vacuumed
CREATE TABLE bf.dead (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
INSERT INTO bf.dead SELECT g, md5(g::text) FROM generate_series(1, 30000) g;
SELECT pg_stat_force_next_flush();
ANALYZE bf.fresh, bf.ff70, bf.freed, bf.docs, bf.dead;
DELETE FROM bf.dead WHERE id % 2 = 0;
SELECT pg_stat_force_next_flush();

-- estimates: no bloat where there is none (padding and fillfactor are not bloat), three quarters where planted
SELECT relation, kind, est_wasted_pct < 3 AS no_bloat, reliability
  FROM apes.bloat_estimates
 WHERE relation IN ('bf.fresh'::regclass, 'bf.fresh_pkey', 'bf.ff70')
 ORDER BY relation::text;
SELECT relation, kind, est_wasted_pct BETWEEN 65 AND 80 AS three_quarters, reliable, basis
  FROM apes.bloat_estimates
 WHERE relation IN ('bf.freed'::regclass, 'bf.freed_pkey', 'bf.freed_v_idx')
 ORDER BY relation::text;
-- what makes an estimate unreliable is flagged
SELECT relation, est_wasted_bytes IS NULL AS no_number, reliability
  FROM apes.bloat_estimates
 WHERE relation IN ('bf.fresh_a_idx'::regclass, 'bf.fresh_gin_idx', 'bf.unanalyzed', 'bf.dead', 'bf.docs')
 ORDER BY relation::text;
-- TOAST tables are rows of their own, named after their table
SELECT table_name, kind, reliability, est_wasted_pct > 50 AS mostly_wasted
  FROM apes.bloat_estimates WHERE kind = 'toast' AND table_name = 'bf.docs'::regclass;
-- partitioned parents have no pages of their own and no row; the leaves have
CREATE TABLE bf.parted (id int) PARTITION BY RANGE (id);
CREATE TABLE bf.parted_1 PARTITION OF bf.parted FOR VALUES FROM (0) TO (100);
SELECT relation, kind FROM apes.bloat_estimates WHERE relation::text LIKE 'bf.parted%' ORDER BY 1;

-- statistics the caller may not see (pg_stats' rule: SELECT on the column) are not used, and flagged
CREATE ROLE regress_bf_monitor IN ROLE pg_monitor;
SET ROLE regress_bf_monitor;
SELECT relation, reliability FROM apes.bloat_estimates WHERE relation::text = 'bf.freed';
RESET ROLE;
GRANT SELECT (id) ON bf.freed TO regress_bf_monitor;
SET ROLE regress_bf_monitor;
SELECT relation, reliability FROM apes.bloat_estimates WHERE relation::text = 'bf.freed';
RESET ROLE;
GRANT SELECT ON bf.freed TO regress_bf_monitor;
SET ROLE regress_bf_monitor;
SELECT relation, reliability FROM apes.bloat_estimates WHERE relation::text = 'bf.freed';
RESET ROLE;

-- findings, measured: the planted bloat, with the fix that fits its kind; the fresh tables are near-misses
SELECT check_id, severity, object_name, confidence, evidence->>'basis' AS basis, evidence->>'method' AS method,
       split_part(fix_sql, E'\n', 1) AS fix_first_line
  FROM apes.findings('bloat') WHERE object_name LIKE 'bf.%'
 ORDER BY check_id, object_name;
SELECT object_name, summary LIKE 'wastes 7_% of % (every page read): mostly free space%' AS free_space,
       fix_sql LIKE '%ACCESS EXCLUSIVE%pg_repack%VACUUM (FULL, VERBOSE, ANALYZE) bf.freed;' AS warns_and_names_alternatives,
       (evidence->>'wasted_pct')::float8 BETWEEN 65 AND 80 AS three_quarters
  FROM apes.findings('bloat') WHERE check_id = 'table_bloat' AND object_name = 'bf.freed';
SELECT object_name, summary LIKE '%mostly dead rows VACUUM can remove now' AS dead_rows,
       (evidence->>'dead_bytes')::bigint > 0 AS has_dead_bytes
  FROM apes.findings('bloat') WHERE check_id = 'table_bloat' AND object_name = 'bf.dead';
SELECT count(*) AS incomplete FROM apes.findings('bloat') WHERE check_id = 'bloat_measurement_incomplete';

-- no time to measure: reliable estimates only, with low confidence, and a finding that says measuring stopped
SET pg_apes_health.bloat_time_budget = 0;
SELECT check_id, object_name, confidence, evidence->>'basis' AS basis
  FROM apes.findings('bloat') WHERE object_name LIKE 'bf.%'
 ORDER BY check_id, object_name;
SELECT severity, object_name, (evidence->>'measured')::int AS measured, evidence->>'may_read_pages' AS may_read,
       summary LIKE '%bloat_time_budget (0 ms) ran out%' AS says_budget
  FROM apes.findings('bloat') WHERE check_id = 'bloat_measurement_incomplete';
RESET pg_apes_health.bloat_time_budget;

-- a role that may run findings but not read pages (no pg_stat_scan_tables) gets estimates only, and is told why
CREATE ROLE regress_bf_plain;
GRANT USAGE ON SCHEMA apes TO regress_bf_plain;
GRANT EXECUTE ON FUNCTION apes.findings(text) TO regress_bf_plain;
SET ROLE regress_bf_plain;
SELECT check_id, (evidence->>'measured')::int AS measured, evidence->>'may_read_pages' AS may_read,
       summary LIKE '%needs the privileges of pg_stat_scan_tables%' AS says_why
  FROM apes.findings('bloat') WHERE check_id = 'bloat_measurement_incomplete';
RESET ROLE;

-- a higher threshold silences them; the settings are validated
SET pg_apes_health.bloat_min_pct = 90;
SELECT count(*) AS bloat_findings FROM apes.findings('bloat') WHERE object_name LIKE 'bf.%';
RESET pg_apes_health.bloat_min_pct;
-- (SQLSTATEs only: the server's wording of the range changed in 18)
\set VERBOSITY sqlstate
SET pg_apes_health.bloat_min_pct = 101;
SET pg_apes_health.bloat_time_budget = -1;
\set VERBOSITY default

-- in a query whose plan would otherwise be parallel: measuring runs each relation in a subtransaction, which a
-- parallel operation forbids, so the reports and page readers are PARALLEL UNSAFE and such a query is planned serial
SELECT p.proname, p.proparallel FROM pg_proc p
 WHERE p.pronamespace = 'apes'::regnamespace
   AND p.proname IN ('findings', 'health_report', 'health_json', 'table_bloat', 'index_bloat')
 ORDER BY 1;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
CREATE FUNCTION bf.plan_has_gather(q text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  l text;
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
    IF l LIKE '%Gather%' THEN
      RETURN true;
    END IF;
  END LOOP;
  RETURN false;
END $$;
-- the near-miss: the scan alone gets a Gather; with a report in the same query it does not
SELECT bf.plan_has_gather('SELECT count(*) FROM bf.freed') AS scan_alone_parallel,
       bf.plan_has_gather('SELECT (SELECT count(*) FROM bf.freed), (SELECT count(*) FROM apes.findings(''bloat''))')
         AS with_report_parallel;
SELECT (SELECT count(*) FROM bf.freed) > 0 AS scanned,
       (SELECT count(*) FROM apes.findings('bloat') WHERE check_id = 'table_bloat') > 0 AS findings,
       length(apes.health_json()::text) > 0 AS json, length(apes.health_report()) > 0 AS report,
       (SELECT count(*) FROM apes.table_bloat('bf.freed')) > 0 AS table_bloat,
       (SELECT count(*) FROM apes.index_bloat('bf.freed_v_idx')) > 0 AS index_bloat;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- clean up
REVOKE ALL ON SCHEMA apes FROM regress_bf_plain;
REVOKE ALL ON FUNCTION apes.findings(text) FROM regress_bf_plain;
SET client_min_messages = warning;
DROP SCHEMA bf CASCADE;
DROP ROLE regress_bf_monitor;
DROP ROLE regress_bf_plain;
RESET client_min_messages;
