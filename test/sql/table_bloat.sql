-- apes.table_bloat: measured bloat of a table and its TOAST table, exact and sampled, and every bad input.
-- Sizes depend on the platform, so the output shows counts the test controls, ratios and booleans.
SET client_min_messages = warning;
CREATE SCHEMA tb;
CREATE EXTENSION IF NOT EXISTS pgstattuple;
RESET client_min_messages;
SET pg_apes_health.sample_seed = 1;

-- an empty table: one heap row with no pages, and one TOAST row
CREATE TABLE tb.empty (id int, t text) WITH (autovacuum_enabled = off);
SELECT kind, pages, pages_scanned, method, live_tuples, wasted_pct IS NULL AS no_pct
  FROM apes.table_bloat('tb.empty');

-- a table with every third row deleted: exact counts, and sampled agrees with exact and with pgstattuple
CREATE TABLE tb.t (id int, pad text) WITH (autovacuum_enabled = off, toast.autovacuum_enabled = off);
INSERT INTO tb.t SELECT g, repeat('x', 100) FROM generate_series(1, 150000) g;
VACUUM (ANALYZE) tb.t;
DELETE FROM tb.t WHERE id % 3 = 0;
SELECT kind, method, pages_scanned = pages AS read_all, live_tuples, dead_tuples, recently_dead_tuples,
       wasted_pct = wasted_pct_low AND wasted_pct = wasted_pct_high AS exact_interval
  FROM apes.table_bloat('tb.t', exact => true) WHERE kind = 'heap';
-- the same numbers pgstattuple reads, to the byte
SELECT b.live_tuples = s.tuple_count AS live_matches, b.dead_tuples = s.dead_tuple_count AS dead_matches,
       b.live_bytes = s.tuple_len AS live_bytes_match, b.dead_bytes = s.dead_tuple_len AS dead_bytes_match,
       b.free_bytes = s.free_space AS free_matches
  FROM apes.table_bloat('tb.t', exact => true) b, pgstattuple('tb.t') s WHERE b.kind = 'heap';
-- sampled: fewer pages, within 1.5 points of exact, an ordered interval
WITH e AS (SELECT wasted_pct FROM apes.table_bloat('tb.t', exact => true) WHERE kind = 'heap'),
     s AS (SELECT * FROM apes.table_bloat('tb.t') WHERE kind = 'heap')
SELECT s.method, s.pages_scanned < s.pages AS fewer_pages, abs(s.wasted_pct - e.wasted_pct) < 1.5 AS close,
       s.wasted_pct_low <= s.wasted_pct AND s.wasted_pct <= s.wasted_pct_high AS ordered
  FROM e, s;
-- the 95% interval holds the exact value for about 95% of seeds: at least 32 of 40 (below that is very unlikely)
CREATE FUNCTION tb.coverage(seeds int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  ex float8;
  r record;
  covered int := 0;
BEGIN
  SELECT wasted_pct INTO ex FROM apes.table_bloat('tb.t', exact => true) WHERE kind = 'heap';
  FOR i IN 1..seeds LOOP
    PERFORM set_config('pg_apes_health.sample_seed', i::text, true);
    SELECT * INTO r FROM apes.table_bloat('tb.t') WHERE kind = 'heap';
    IF ex BETWEEN r.wasted_pct_low AND r.wasted_pct_high THEN
      covered := covered + 1;
    END IF;
  END LOOP;
  RETURN covered;
END $$;
SELECT tb.coverage(40) >= 32 AS interval_covers_exact;
-- an explicit sample size is honoured (split over the all-visible and other pages)
SELECT method, pages_scanned BETWEEN 200 AND 204 AS about_200 FROM apes.table_bloat('tb.t', 200) WHERE kind = 'heap';
-- a sample at least as large as the table reads it all, exactly
SELECT method FROM apes.table_bloat('tb.t', 100000000) WHERE kind = 'heap';

-- TOAST: deleted out-of-line values are dead TOAST chunks
CREATE TABLE tb.toasty (id int, big text) WITH (autovacuum_enabled = off, toast.autovacuum_enabled = off);
ALTER TABLE tb.toasty ALTER COLUMN big SET STORAGE EXTERNAL;
INSERT INTO tb.toasty SELECT g, repeat(md5(g::text), 200) FROM generate_series(1, 200) g;
DELETE FROM tb.toasty WHERE id % 2 = 0;
SELECT kind, method, dead_tuples > 0 AS has_dead, wasted_pct > 30 AS bloated
  FROM apes.table_bloat('tb.toasty', exact => true) ORDER BY kind;

-- fillfactor: the free space it keeps on purpose is not waste
CREATE TABLE tb.ff (id int, pad text) WITH (fillfactor = 70, autovacuum_enabled = off);
INSERT INTO tb.ff SELECT g, repeat('y', 100) FROM generate_series(1, 20000) g;
SELECT free_bytes > 0.2 * total_bytes AS lots_free, wasted_pct < 5 AS not_waste
  FROM apes.table_bloat('tb.ff', exact => true) WHERE kind = 'heap';

-- a materialized view works
CREATE MATERIALIZED VIEW tb.mv AS SELECT g AS id FROM generate_series(1, 100) g;
SELECT kind, live_tuples FROM apes.table_bloat('tb.mv') ORDER BY kind;

-- bad input: clear errors, never a crash
SELECT * FROM apes.table_bloat(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM apes.table_bloat('tb.t', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM apes.table_bloat('tb.t', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM apes.table_bloat('tb.t', 2147483647);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM apes.table_bloat(0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM apes.table_bloat(4294967295::oid);
\echo :LAST_ERROR_SQLSTATE
CREATE INDEX t_id ON tb.t (id);
SELECT * FROM apes.table_bloat('tb.t_id');
\echo :LAST_ERROR_SQLSTATE
CREATE VIEW tb.v AS SELECT 1 AS x;
SELECT * FROM apes.table_bloat('tb.v');
\echo :LAST_ERROR_SQLSTATE
CREATE SEQUENCE tb.s;
SELECT * FROM apes.table_bloat('tb.s');
\echo :LAST_ERROR_SQLSTATE
-- a partitioned table: a pair of rows per leaf (two levels deep here), then a total over all of them
CREATE TABLE tb.parted (k int, v text) PARTITION BY LIST (k);
CREATE TABLE tb.parted_1 PARTITION OF tb.parted FOR VALUES IN (1) WITH (autovacuum_enabled = off);
CREATE TABLE tb.parted_2 PARTITION OF tb.parted FOR VALUES IN (2, 3) PARTITION BY LIST (k);
CREATE TABLE tb.parted_2a PARTITION OF tb.parted_2 FOR VALUES IN (2) WITH (autovacuum_enabled = off);
CREATE TABLE tb.parted_2b PARTITION OF tb.parted_2 FOR VALUES IN (3) WITH (autovacuum_enabled = off);
INSERT INTO tb.parted SELECT 1 + g % 3, 'v' FROM generate_series(1, 3000) g;
DELETE FROM tb.parted WHERE k = 2;
SELECT relation, kind, method, live_tuples, dead_tuples
  FROM apes.table_bloat('tb.parted', exact => true) WHERE kind <> 'toast' ORDER BY kind = 'total', relation::text;
SELECT count(*) AS toast_rows FROM apes.table_bloat('tb.parted', exact => true) WHERE kind = 'toast';
SELECT t.wasted_bytes = (SELECT sum(wasted_bytes) FROM apes.table_bloat('tb.parted', exact => true) WHERE kind <> 'total')
         AS total_adds_up,
       t.wasted_pct BETWEEN 0 AND 100 AS pct_in_range
  FROM apes.table_bloat('tb.parted', exact => true) t WHERE t.kind = 'total';
-- the total's percentage comes from every leaf's strata, kept across leaves: it is the byte-weighted mean
WITH r AS (SELECT * FROM apes.table_bloat('tb.parted', exact => true))
SELECT abs((SELECT wasted_pct FROM r WHERE kind = 'total') -
           100.0 * (SELECT sum(wasted_bytes) FROM r WHERE kind <> 'total')
                 / (SELECT sum(total_bytes) FROM r WHERE kind <> 'total')) < 0.01 AS total_pct_consistent;
-- many leaves (more strata than the first allocation holds), sampled: a consistent, ordered total
CREATE TABLE tb.many (k int, v text) PARTITION BY LIST (k);
SELECT format('CREATE TABLE tb.many_%s PARTITION OF tb.many FOR VALUES IN (%s) WITH (autovacuum_enabled = off)', g, g)
  FROM generate_series(1, 12) g \gexec
INSERT INTO tb.many SELECT g % 12 + 1, repeat('z', 200) FROM generate_series(1, 120000) g;
DELETE FROM tb.many WHERE k % 3 = 0;
SELECT count(*) FILTER (WHERE kind = 'heap') AS heap_rows, count(*) FILTER (WHERE kind = 'total') AS total_rows,
       bool_and(wasted_pct_low <= wasted_pct AND wasted_pct <= wasted_pct_high) FILTER (WHERE kind = 'total') AS ordered,
       bool_and(wasted_pct BETWEEN 20 AND 40) FILTER (WHERE kind = 'total') AS plausible
  FROM apes.table_bloat('tb.many', 50);
-- a dropped table's oid
CREATE TABLE tb.gone (a int);
SELECT 'tb.gone'::regclass::oid AS gone_oid \gset
DROP TABLE tb.gone;
\set VERBOSITY sqlstate
SELECT * FROM apes.table_bloat(:gone_oid);
\set VERBOSITY default

RESET pg_apes_health.sample_seed;
SET client_min_messages = warning;
DROP SCHEMA tb CASCADE;
RESET client_min_messages;
