-- pg_apes_health bloat benchmark: the scenario generator.  Run by bench/bloat/run.sh (psql, database apes_bloat)
-- after the extensions are created; builds schema bl with one table per bloat pattern and registers each one in
-- bench.scenario (table) and bench.scenario_index (its btree indexes).  psql variables:
--   pages      size in heap pages of the tables used for the coverage runs (default 20000, ~160 MB each)
--   mid_pages  size of the mid-size tables (default 6000, ~47 MB: below shared_buffers/4 = 8192 pages, so a plain
--              pgstattuple() of such a table reads it without a ring buffer: the cache contrast uses it)
--
-- Every table is created with autovacuum off.  The row layout (id int, v int, pad text of 100 bytes) puts 58 rows on
-- a page, so rows = 58 * pages.  Deletions are deterministic (id arithmetic or hashint4), never random().
-- Nothing here VACUUMs after the final DML unless the scenario says so; run.sh adds the vacuumed states later.
\set ON_ERROR_STOP 1
\set QUIET on
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
SET maintenance_work_mem = '256MB';

DROP SCHEMA IF EXISTS bl CASCADE;
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bl;
CREATE SCHEMA bench;

CREATE TABLE bench.scenario (
    ord      int PRIMARY KEY,
    name     text UNIQUE NOT NULL,
    rel      regclass NOT NULL,
    state    text NOT NULL,           -- 'after DML, no VACUUM' or 'after DML + VACUUM'
    pass     int NOT NULL DEFAULT 1,  -- measurement pass: 1 = as built, 2 = after the VACUUM step
    descr    text NOT NULL,
    coverage_target bool NOT NULL DEFAULT false,  -- the coverage target (>= 95 of 100 seeds) applies to it
    speed_target    bool NOT NULL DEFAULT false,  -- the speed targets apply to it (set by run.sh)
    note     text
);
CREATE TABLE bench.scenario_index (
    scenario text NOT NULL REFERENCES bench.scenario (name),
    idx      regclass NOT NULL,
    ord      int NOT NULL,
    PRIMARY KEY (scenario, idx)
);

\if :{?pages}
\else
\set pages 20000
\endif
\if :{?mid_pages}
\else
\set mid_pages 6000
\endif
SELECT 58 * :pages AS rows, 58 * :mid_pages AS mid_rows \gset

-- A table of the common layout, filled with n rows in id order.
CREATE PROCEDURE bench.make_table(t text, n bigint, opts text DEFAULT '')
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TABLE bl.%I (id int PRIMARY KEY, v int NOT NULL, pad text NOT NULL)
                    WITH (autovacuum_enabled = off, toast.autovacuum_enabled = off%s)', t, opts);
    EXECUTE format('INSERT INTO bl.%I SELECT g, g, repeat(''x'', 100) FROM generate_series(1, %s) g', t, n);
END $$;

\echo '   fresh: loaded, no DML, no VACUUM'
CALL bench.make_table('fresh', :mid_rows);
INSERT INTO bench.scenario VALUES (1, 'fresh', 'bl.fresh', 'as loaded, no VACUUM', 1,
    'freshly loaded, no bloat (mid-size: also the cache-contrast table)');

\echo '   uniform_del: every 3rd row deleted'
CALL bench.make_table('uniform_del', :rows);
VACUUM (ANALYZE) bl.uniform_del;
DELETE FROM bl.uniform_del WHERE id % 3 = 0;
INSERT INTO bench.scenario VALUES (2, 'uniform_del', 'bl.uniform_del', 'after DML, no VACUUM', 1,
    'loaded, VACUUMed, then every 3rd row deleted (33% of rows, on every page)', true);

\echo '   clustered_del: whole id ranges deleted (VM set before the delete)'
CALL bench.make_table('clustered_del', :rows);
VACUUM (ANALYZE) bl.clustered_del;
DELETE FROM bl.clustered_del WHERE (id - 1) / 10000 % 5 = 0;
INSERT INTO bench.scenario VALUES (3, 'clustered_del', 'bl.clustered_del', 'after DML, no VACUUM', 1,
    'loaded, VACUUMed, then 20% of rows deleted in whole ranges of 10,000 ids (~172 pages each)', true);

\echo '   clustered_novm: the same deletes on a table never vacuumed (empty visibility map: no stratification)'
CALL bench.make_table('clustered_novm', :rows);
DELETE FROM bl.clustered_novm WHERE (id - 1) / 10000 % 5 = 0;
INSERT INTO bench.scenario VALUES (4, 'clustered_novm', 'bl.clustered_novm', 'after DML, no VACUUM', 1,
    'as clustered_del but never vacuumed: the visibility map is empty, so the sample has one stratum');

\echo '   skewed_tail: 2% of rows deleted in 4 ranges, never vacuumed'
CALL bench.make_table('skewed_tail', :rows);
DELETE FROM bl.skewed_tail WHERE (id - 1) / (:rows / 200) IN (17, 71, 123, 180);
INSERT INTO bench.scenario VALUES (5, 'skewed_tail', 'bl.skewed_tail', 'after DML, no VACUUM', 1,
    'never vacuumed, 2% of rows deleted in 4 ranges of 0.5%: a rare, clustered tail (the pilot sees ~6 such pages)');

\echo '   nonhot_upd: 30% of rows updated on an indexed column'
CALL bench.make_table('nonhot_upd', 58 * 10000);
CREATE INDEX nonhot_upd_v ON bl.nonhot_upd (v);
VACUUM (ANALYZE) bl.nonhot_upd;
UPDATE bl.nonhot_upd SET v = v + 1 WHERE id % 10 < 3;
INSERT INTO bench.scenario VALUES (6, 'nonhot_upd', 'bl.nonhot_upd', 'after DML, no VACUUM', 1,
    'VACUUMed, then 30% of rows updated on an indexed column (non-HOT: new versions appended, both indexes grow)');

\echo '   hot_upd: 10% of rows updated in place (HOT), room made by a vacuumed delete'
CALL bench.make_table('hot_upd', :mid_rows);
VACUUM bl.hot_upd;
DELETE FROM bl.hot_upd WHERE id % 5 = 0;
VACUUM (ANALYZE) bl.hot_upd;
BEGIN;
UPDATE bl.hot_upd SET pad = repeat('y', 100) WHERE id % 10 = 1;
SELECT pg_stat_get_xact_tuples_updated('bl.hot_upd'::regclass) AS upd,
       pg_stat_get_xact_tuples_hot_updated('bl.hot_upd'::regclass) AS hot \gset hotupd_
COMMIT;
INSERT INTO bench.scenario VALUES (7, 'hot_upd', 'bl.hot_upd', 'after DML, no VACUUM', 1,
    '20% deleted + VACUUM (free room on every page), then 10% of rows updated on a non-indexed column',
    false, false, format('%s of %s updates were HOT', :hotupd_hot, :hotupd_upd));

\echo '   ff70_upd: fillfactor 70, 25% of rows updated (HOT, into the reserve)'
CALL bench.make_table('ff70_upd', :mid_rows, ', fillfactor = 70');
VACUUM (ANALYZE) bl.ff70_upd;
BEGIN;
UPDATE bl.ff70_upd SET pad = repeat('y', 100) WHERE id % 4 = 0;
SELECT pg_stat_get_xact_tuples_updated('bl.ff70_upd'::regclass) AS upd,
       pg_stat_get_xact_tuples_hot_updated('bl.ff70_upd'::regclass) AS hot \gset ffupd_
COMMIT;
INSERT INTO bench.scenario VALUES (8, 'ff70_upd', 'bl.ff70_upd', 'after DML, no VACUUM', 1,
    'fillfactor 70, VACUUMed, then 25% of rows updated on a non-indexed column (HOT, into the 30% reserve)',
    false, false, format('%s of %s updates were HOT', :ffupd_hot, :ffupd_upd));

\echo '   wide: ~1 kB rows, 25% deleted'
CREATE TABLE bl.wide (id int PRIMARY KEY, v int NOT NULL, pad text NOT NULL)
    WITH (autovacuum_enabled = off, toast.autovacuum_enabled = off);
-- 32 md5 hex strings = 1,024 bytes: stored inline (under the 2 kB TOAST threshold), 7 rows a page
INSERT INTO bl.wide
SELECT g, g, (SELECT string_agg(md5(g::text || '/' || k), '') FROM generate_series(1, 32) k)
  FROM generate_series(1, 7 * :mid_pages) g;
VACUUM (ANALYZE) bl.wide;
DELETE FROM bl.wide WHERE abs(hashint4(id)) % 4 = 0;
INSERT INTO bench.scenario VALUES (9, 'wide', 'bl.wide', 'after DML, no VACUUM', 1,
    '~1 kB rows (7 a page), VACUUMed, then 25% of rows deleted (hash-scattered)');

\echo '   toast: 3.9 kB incompressible values (2 TOAST chunks each), 30% deleted'
CREATE TABLE bl.toast (id int PRIMARY KEY, v int NOT NULL, doc text NOT NULL)
    WITH (autovacuum_enabled = off, toast.autovacuum_enabled = off);
ALTER TABLE bl.toast ALTER COLUMN doc SET STORAGE EXTERNAL;   -- out of line, never compressed
INSERT INTO bl.toast
SELECT g, g, (SELECT string_agg(md5(g::text || ':' || k), '') FROM generate_series(1, 122) k)
  FROM generate_series(1, 2 * :mid_pages * 2) g;   -- 4 chunks a TOAST page: ~2 * mid_pages TOAST pages
VACUUM (ANALYZE) bl.toast;
DELETE FROM bl.toast WHERE abs(hashint4(id)) % 10 < 3;
INSERT INTO bench.scenario VALUES (10, 'toast', 'bl.toast', 'after DML, no VACUUM', 1,
    '3,904-byte incompressible values stored out of line (STORAGE EXTERNAL), VACUUMed, then 30% of rows deleted');

\echo '   hot, mid: the cache test''s tables (not measured for bloat)'
CALL bench.make_table('hot', 58 * 8000);     -- ~8,000 pages: 25% of shared_buffers
VACUUM (ANALYZE) bl.hot;
-- CREATE TABLE AS writes through a 16 MB ring, so little of mid stays in shared_buffers; ~7,000 pages, under the
-- shared_buffers/4 limit above which a sequential scan (and so pgstattuple) uses a ring
CREATE TABLE bl.mid WITH (autovacuum_enabled = off) AS
    SELECT g AS id, g AS v, repeat('x', 100) AS pad FROM generate_series(1, 58 * 7000) g;
VACUUM (ANALYZE) bl.mid;

-- every btree of each scenario's table (primary key first), and the TOAST table's own index
INSERT INTO bench.scenario_index
SELECT s.name, i.indexrelid, row_number() OVER (PARTITION BY s.name ORDER BY NOT i.indisprimary, i.indexrelid)
  FROM bench.scenario s JOIN pg_index i ON i.indrelid = s.rel;
INSERT INTO bench.scenario_index
SELECT s.name, i.indexrelid, 10
  FROM bench.scenario s JOIN pg_class c ON c.oid = s.rel JOIN pg_index i ON i.indrelid = c.reltoastrelid
 WHERE s.name = 'toast';
