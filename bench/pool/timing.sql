-- pg_apes_health pool benchmark: the timing harness.  Run by bench/pool/run.sh in ONE psql session (database
-- apes_pool) while the benchmark's client sessions are held open; expects these psql variables:
--   runs       measured runs per contender
--   warmup     warm-up runs per contender, not counted
--   target_ms  target for the median of each apes call, ms
--
-- Every statement runs through EXECUTE inside a procedure, is timed with clock_timestamp() on the server (no client
-- or network in the numbers) and is followed by a COMMIT: each runs in its own transaction like a client statement,
-- so each reads the backend status array afresh (PostgreSQL keeps its local copy of the array, used by
-- pg_stat_activity and by the extension alike, until the end of the transaction).  The timings are kept in PL/pgSQL
-- arrays, not written per run, so the timed transactions assign no transaction id.  The order within a run is
-- apes.pools, plain.pools, apes.connection_capacity(), plain.connection_capacity, apes.blocking, plain.blocking, and
-- a floor that is no contender: pg_stat_get_backend_idset(), which only makes the copy of the backend status array
-- that every other statement here also makes (it returns the backend ids).
-- Each is wrapped as SELECT count(*), sum(length(q::text)) FROM (<query>) q: the whole-row reference makes the server
-- compute every column (an unreferenced column of a subquery would be dropped) and convert it to text, as sending the
-- rows to a client would.

\set ON_ERROR_STOP 1
\set QUIET on
\pset footer off
SET client_min_messages = warning;
SET jit = off;

CREATE TEMP TABLE bench_contender (ord int, label text, pair text, side text, sql text);
INSERT INTO bench_contender VALUES
    (1, 'apes.pools',                  'pools',    'apes',  'SELECT * FROM apes.pools'),
    (2, 'plain.pools',                 'pools',    'plain', 'SELECT * FROM plain.pools'),
    (3, 'apes.connection_capacity()',  'capacity', 'apes',  'SELECT * FROM apes.connection_capacity()'),
    (4, 'plain.connection_capacity',   'capacity', 'plain', 'SELECT * FROM plain.connection_capacity'),
    (5, 'apes.blocking',               'blocking', 'apes',  'SELECT * FROM apes.blocking'),
    (6, 'plain.blocking',              'blocking', 'plain', 'SELECT * FROM plain.blocking'),
    -- not a contender: the cost of the per-transaction copy of the backend status array alone, which both sides pay
    (7, 'floor: status array copy',    'floor',    'floor', 'SELECT * FROM pg_stat_get_backend_idset()');

CREATE TEMP TABLE bench_timing (run int, ord int, ms float8, nrows bigint, nchars bigint);

CREATE PROCEDURE pg_temp.bench_run(runs int, warmup int)
LANGUAGE plpgsql AS $bench$
DECLARE
    sqls   text[];
    k      int;
    r      int;
    j      int;
    t0     timestamptz;
    t1     timestamptz;
    n      bigint;
    c      bigint;
    o_run  int[] := '{}';
    o_ord  int[] := '{}';
    o_ms   float8[] := '{}';
    o_n    bigint[] := '{}';
    o_c    bigint[] := '{}';
BEGIN
    SELECT array_agg(sql ORDER BY ord) INTO sqls FROM bench_contender;
    k := array_length(sqls, 1);
    COMMIT;
    FOR r IN 1 - warmup .. runs LOOP            -- runs <= 0 are the warm-up
        FOR j IN 1 .. k LOOP
            t0 := clock_timestamp();
            EXECUTE format('SELECT count(*), coalesce(sum(length(q::text)), 0) FROM (%s) q', sqls[j]) INTO n, c;
            t1 := clock_timestamp();
            COMMIT;
            o_run := o_run || r;
            o_ord := o_ord || j;
            o_ms  := o_ms || 1000 * extract(epoch FROM t1 - t0)::float8;
            o_n   := o_n || n;
            o_c   := o_c || c;
        END LOOP;
    END LOOP;
    INSERT INTO bench_timing SELECT * FROM unnest(o_run, o_ord, o_ms, o_n, o_c);
    COMMIT;
END
$bench$;

\echo
\echo '== timing:' :runs 'measured runs per contender, interleaved, after' :warmup 'warm-up runs (server side, ms)'
CALL pg_temp.bench_run(:runs, :warmup);

CREATE TEMP VIEW stat AS
    SELECT c.ord, c.label, c.pair, c.side,
           percentile_cont(0.5)  WITHIN GROUP (ORDER BY t.ms) AS median,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY t.ms) AS p95,
           min(t.ms) AS min, max(t.ms) AS max, count(*) AS runs,
           min(t.nrows) AS rows_min, max(t.nrows) AS rows_max, max(t.nchars) AS chars
      FROM bench_timing t JOIN bench_contender c USING (ord)
     WHERE t.run > 0
     GROUP BY c.ord, c.label, c.pair, c.side;

SELECT label AS contender, round(median::numeric, 3) AS median_ms, round(p95::numeric, 3) AS p95_ms,
       round(min::numeric, 3) AS min_ms, round(max::numeric, 3) AS max_ms, runs,
       CASE WHEN rows_min = rows_max THEN rows_min::text ELSE rows_min || '..' || rows_max END AS rows
  FROM stat ORDER BY ord;

\echo '-- apes against the plain SQL (ratio = plain median / apes median; > 1: the extension is faster)'
SELECT a.pair, round(a.median::numeric, 3) AS apes_median_ms, round(p.median::numeric, 3) AS plain_median_ms,
       round((p.median / nullif(a.median, 0))::numeric, 2) AS ratio_median,
       round(a.p95::numeric, 3) AS apes_p95_ms, round(p.p95::numeric, 3) AS plain_p95_ms,
       round((p.p95 / nullif(a.p95, 0))::numeric, 2) AS ratio_p95
  FROM stat a JOIN stat p ON p.pair = a.pair AND p.side = 'plain'
 WHERE a.side = 'apes' ORDER BY a.ord;

\echo '-- targets: each apes call <=' :target_ms 'ms (median)'
SELECT a.label || ' median <= ' || :target_ms || ' ms' AS target, round(a.median::numeric, 3) AS value_ms,
       CASE WHEN a.median <= :target_ms THEN 'met' ELSE 'NOT MET' END AS verdict
  FROM stat a WHERE a.side = 'apes' ORDER BY a.ord;

SELECT CASE WHEN bool_and(median <= :target_ms) THEN 'ALL TARGETS MET' ELSE 'TARGETS NOT MET' END AS timing_verdict
  FROM stat WHERE side = 'apes'
\gset
\echo 'TIMING VERDICT:' :timing_verdict
-- one machine-readable line per contender, for run.sh's summary
SELECT string_agg(format('TIMING %s median=%s p95=%s', label, round(median::numeric, 3), round(p95::numeric, 3)),
                  E'\n' ORDER BY ord) AS lines
  FROM stat
\gset
\echo :lines
