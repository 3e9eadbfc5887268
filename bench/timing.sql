-- pg_apes_health benchmark: the timing harness.  Run by bench/run.sh in ONE psql session in the database
-- apes_bench after the catalog is built; expects these psql variables:
--   runs        measured runs per contender (a warm-up run 0 comes first and is not counted)
--   with_ext    true/false: time apes.findings('index') and apes.health_json() too
--   queries     path of a generated file that fills bench_query with the plain-SQL checks
--   jit         value for the jit setting of this session
--   n_tables, n_invalid, n_filled   what was planted, for the expected counts
--
-- Every statement is run by EXECUTE inside a procedure, timed with clock_timestamp() on the server (no client or
-- network in the numbers) and followed by a COMMIT, so each one runs in its own transaction like a client
-- statement would (fresh snapshot, fresh statistics snapshot).  Contenders are interleaved within each run:
--   findings, health_json, plain_sql (its five queries one after the other), findings, health_json, ...
-- The plain-SQL queries are wrapped as SELECT count(*), sum(length(...)) FROM (<query>) q: the sum makes the server
-- really build summary, fix_sql and undo_sql (an unreferenced column of a subquery would not be computed), as
-- apes.findings() has to.

\set ON_ERROR_STOP 1
\set QUIET on
\pset footer off
SET client_min_messages = warning;
SET jit = :'jit';

CREATE TEMP TABLE bench_query (ord int, label text, sql text);
\i :queries

CREATE TEMP TABLE bench_timing (run int, label text, part text, ms float8, nrows bigint, nchars bigint);

CREATE PROCEDURE pg_temp.bench_run(runs int, with_ext bool)
LANGUAGE plpgsql AS $bench$
DECLARE
    labels text[];
    sqls   text[];
    r      int;
    j      int;
    t0     timestamptz;
    n      bigint;
    c      bigint;
BEGIN
    SELECT array_agg(label ORDER BY ord), array_agg(sql ORDER BY ord) INTO labels, sqls FROM bench_query;
    COMMIT;
    FOR r IN 0 .. runs LOOP                     -- run 0 is the warm-up
        IF with_ext THEN
            t0 := clock_timestamp();
            EXECUTE $q$SELECT count(*) FROM apes.findings('index')$q$ INTO n;
            INSERT INTO bench_timing
                 VALUES (r, 'findings', 'findings', 1000 * extract(epoch FROM clock_timestamp() - t0), n, NULL);
            COMMIT;

            t0 := clock_timestamp();
            EXECUTE $q$SELECT length(apes.health_json()::text)$q$ INTO c;
            INSERT INTO bench_timing
                 VALUES (r, 'health_json', 'health_json', 1000 * extract(epoch FROM clock_timestamp() - t0), 1, c);
            COMMIT;
        END IF;

        FOR j IN 1 .. array_length(labels, 1) LOOP
            t0 := clock_timestamp();
            EXECUTE format('SELECT count(*), coalesce(sum(coalesce(length(summary), 0) + coalesce(length(fix_sql), 0)'
                           ' + coalesce(length(undo_sql), 0)), 0) FROM (%s) q', sqls[j])
               INTO n, c;
            INSERT INTO bench_timing
                 VALUES (r, 'plain_sql', labels[j], 1000 * extract(epoch FROM clock_timestamp() - t0), n, c);
            COMMIT;
        END LOOP;
    END LOOP;
END
$bench$;

\echo
\echo '== timing:' :runs 'measured runs per contender, interleaved, after one warm-up run (jit =' :jit ')'
CALL pg_temp.bench_run(:runs, :with_ext);

-- One row per contender and run; the plain-SQL time of a run is the sum of its five queries.
CREATE TEMP VIEW per_run AS
    SELECT run, label, sum(ms) AS ms FROM bench_timing WHERE run > 0 GROUP BY run, label;

CREATE TEMP VIEW med AS
    SELECT label,
           (SELECT round(sum(w.ms)::numeric) FROM bench_timing w WHERE w.run = 0 AND w.label = p.label) AS warmup,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS median, min(ms) AS min, max(ms) AS max,
           count(*) AS runs, string_agg(round(ms::numeric)::text, ' ' ORDER BY run) AS each_run
      FROM per_run p GROUP BY label;

\echo
\echo '-- server-side wall time per call, ms'
SELECT CASE label WHEN 'findings'    THEN 'apes.findings(''index'')'
                  WHEN 'health_json' THEN 'apes.health_json()'
                  ELSE 'plain SQL, 5 queries' END                  AS contender,
       round(median::numeric, 1) AS median_ms, round(min::numeric, 1) AS min_ms, round(max::numeric, 1) AS max_ms,
       runs, warmup AS warmup_ms, each_run AS "ms of runs 1..N"
  FROM med
 ORDER BY CASE label WHEN 'findings' THEN 1 WHEN 'health_json' THEN 2 ELSE 3 END;

\echo '-- plain SQL, per query, ms'
SELECT part AS check_id,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms))::numeric, 1) AS median_ms,
       round(min(ms)::numeric, 1) AS min_ms, round(max(ms)::numeric, 1) AS max_ms
  FROM bench_timing b JOIN bench_query q ON q.label = b.part
 WHERE b.run > 0 AND b.label = 'plain_sql'
 GROUP BY part, q.ord ORDER BY q.ord;

\if :with_ext
\echo '-- targets: each call <= 200 ms, and >= 5x faster than the plain SQL (ratio of medians)'
SELECT t.target, round(t.value::numeric, 2) AS value,
       CASE WHEN t.met THEN 'met' ELSE 'NOT MET' END AS verdict
  FROM (SELECT 1 AS ord, 'findings(''index'') median <= 200 ms' AS target, f.median AS value, f.median <= 200 AS met
          FROM med f WHERE f.label = 'findings'
        UNION ALL
        SELECT 2, 'health_json() median <= 200 ms', h.median, h.median <= 200
          FROM med h WHERE h.label = 'health_json'
        UNION ALL
        SELECT 3, 'plain_sql median / findings median >= 5', p.median / nullif(f.median, 0),
               p.median / nullif(f.median, 0) >= 5
          FROM med p, med f WHERE p.label = 'plain_sql' AND f.label = 'findings'
        UNION ALL
        SELECT 4, 'plain_sql median / health_json median >= 5', p.median / nullif(h.median, 0),
               p.median / nullif(h.median, 0) >= 5
          FROM med p, med h WHERE p.label = 'plain_sql' AND h.label = 'health_json') t
 ORDER BY t.ord;

SELECT CASE WHEN bool_and(ok) THEN 'ALL TARGETS MET' ELSE 'TARGETS NOT MET' END AS bench_verdict
  FROM (SELECT f.median <= 200 AND h.median <= 200
               AND p.median >= 5 * f.median AND p.median >= 5 * h.median AS ok
          FROM med f, med h, med p
         WHERE f.label = 'findings' AND h.label = 'health_json' AND p.label = 'plain_sql') v
\gset
\echo 'BENCH VERDICT:' :bench_verdict
\else
\echo '(extension not installed in this run: BENCH_SKIP_EXT=1, no targets checked)'
\endif

\echo
\echo '-- findings per check: planted by the builder, found by the plain SQL, found by apes.findings(''index'')'
\echo '-- (the plain SQL and the extension may differ where the extension is stricter)'
CREATE TEMP TABLE planted (ord int, check_id text, planted bigint);
INSERT INTO planted
SELECT 1, 'index_invalid', :n_invalid
UNION ALL SELECT 2, 'index_duplicate',  count(*) FILTER (WHERE k % 20 = 0) FROM generate_series(0, :n_tables - 1) k
UNION ALL SELECT 3, 'index_redundant',  count(*) FILTER (WHERE k % 20 = 1) FROM generate_series(0, :n_tables - 1) k
UNION ALL SELECT 4, 'index_unused', 3 * :n_filled
UNION ALL SELECT 5, 'fk_missing_index', count(*) FILTER (WHERE k % 10 = 3) FROM generate_series(0, :n_tables - 1) k;

CREATE TEMP TABLE ext_counts (check_id text, n bigint);
\if :with_ext
INSERT INTO ext_counts SELECT check_id, count(*) FROM apes.findings('index') GROUP BY check_id;
\endif

SELECT coalesce(p.check_id, e.check_id) AS check_id,
       p.planted,
       s.nrows AS plain_sql,
       CASE WHEN :with_ext THEN coalesce(e.n, 0) END AS extension
  FROM planted p
  FULL JOIN ext_counts e ON e.check_id = p.check_id
  LEFT JOIN (SELECT part, nrows FROM bench_timing
              WHERE label = 'plain_sql' AND run = (SELECT max(run) FROM bench_timing)) s
         ON s.part = coalesce(p.check_id, e.check_id)
 ORDER BY coalesce(p.ord, 99), 1;
