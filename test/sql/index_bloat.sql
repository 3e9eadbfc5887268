-- apes.index_bloat: what a REINDEX would give back (btree) and free space (other access methods), and bad input.
-- Output shows counts the test controls, ratios and booleans, never raw sizes.
SET client_min_messages = warning;
CREATE SCHEMA ib;
CREATE EXTENSION IF NOT EXISTS pgstattuple;
RESET client_min_messages;
SET pg_apes_health.sample_seed = 1;

CREATE TABLE ib.t (id int, k int, t text, a int[], r int4range) WITH (autovacuum_enabled = off);
INSERT INTO ib.t SELECT g, g % 10, md5(g::text), ARRAY[g % 10, g % 7], int4range(g, g + 10)
  FROM generate_series(1, 100000) g;
CREATE INDEX t_id ON ib.t (id);
CREATE INDEX t_k ON ib.t (k);                 -- deduplicated: posting lists
CREATE INDEX t_gin ON ib.t USING gin (a);
CREATE INDEX t_gist ON ib.t USING gist (r);
CREATE INDEX t_hash ON ib.t USING hash (id);
CREATE INDEX t_brin ON ib.t USING brin (id);

-- a fresh btree: no waste beyond its fillfactor; the same leaf pages pgstatindex counts; every TID of a posting list
SELECT b.access_method, b.method, b.leaf_pages = s.leaf_pages AS leaf_pages_match, b.live_items,
       b.wasted_pct < 2 AS fresh, b.measure
  FROM apes.index_bloat('ib.t_id', exact => true) b, pgstatindex('ib.t_id') s;
SELECT live_items, wasted_pct < 5 AS fresh FROM apes.index_bloat('ib.t_k', exact => true);

-- delete 90% and vacuum: the leaf pages stay, nearly empty; a REINDEX would give back most of the index
DELETE FROM ib.t WHERE id % 10 <> 0;
VACUUM ib.t;
-- pgstatindex's leaf density d against the fillfactor (90) predicts leaf_pages / pages * (1 - d / 90)
SELECT b.live_items, b.wasted_pct > 80 AS bloated, b.wasted_bytes < b.total_bytes AS below_total,
       abs(b.wasted_pct - 100.0 * b.leaf_pages / b.pages * (1 - s.avg_leaf_density / 90)) < 1 AS agrees_with_pgstatindex
  FROM apes.index_bloat('ib.t_id', exact => true) b, pgstatindex('ib.t_id') s;

-- other access methods: free space and deleted pages, labelled; BRIN: not applicable
SELECT access_method, method, live_items IS NULL AS no_items, wasted_pct BETWEEN 0 AND 100 AS pct_ok, measure
  FROM (SELECT * FROM apes.index_bloat('ib.t_gin') UNION ALL SELECT * FROM apes.index_bloat('ib.t_gist')
        UNION ALL SELECT * FROM apes.index_bloat('ib.t_hash')) x ORDER BY 1;
SELECT access_method, method, pages_scanned, wasted_pct IS NULL AS no_pct, measure FROM apes.index_bloat('ib.t_brin');

-- sampling on a larger index: fewer pages read, close to exact, interval ordered
CREATE TABLE ib.big (t text) WITH (autovacuum_enabled = off);
INSERT INTO ib.big SELECT md5(g::text) FROM generate_series(1, 200000) g;
CREATE INDEX big_t ON ib.big (t);
DELETE FROM ib.big WHERE (hashtext(t) & 1) = 0;
VACUUM ib.big;
WITH e AS (SELECT wasted_pct FROM apes.index_bloat('ib.big_t', exact => true)),
     s AS (SELECT * FROM apes.index_bloat('ib.big_t'))
SELECT s.method, s.pages_scanned < s.pages AS fewer_pages, abs(s.wasted_pct - e.wasted_pct) < 3 AS close,
       s.wasted_pct_low <= s.wasted_pct AND s.wasted_pct <= s.wasted_pct_high AS ordered
  FROM e, s;

-- bad input
SELECT * FROM apes.index_bloat(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM apes.index_bloat('ib.t_id', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM apes.index_bloat('ib.t');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE ib.p (a int) PARTITION BY RANGE (a);
CREATE INDEX p_a ON ib.p (a);
SELECT * FROM apes.index_bloat('ib.p_a');
\echo :LAST_ERROR_SQLSTATE
CREATE INDEX t_invalid ON ib.t (k);
UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'ib.t_invalid'::regclass;
SELECT * FROM apes.index_bloat('ib.t_invalid');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY sqlstate
SELECT * FROM apes.index_bloat(4294967295::oid);
\set VERBOSITY default

RESET pg_apes_health.sample_seed;
SET client_min_messages = warning;
DROP SCHEMA ib CASCADE;
RESET client_min_messages;
