-- pg_apes_health history benchmark: the targets table (run.sh step 4), from bench.result.

\set ON_ERROR_STOP 1
\set QUIET on
\pset footer off
SET client_min_messages = warning;

\echo '== results (targets: apes.snapshot() <=' :t_snapshot_ms 'ms and <=' :t_wal_mb 'MB of WAL; apes.query_stats() <=' :t_qs_ms 'ms;'
\echo '   apes.purge() of one day no more than' :t_purge_growth 'x slower on the long history than on the short one)'
SELECT section, item,
       CASE WHEN value IS NULL THEN ''
            WHEN abs(value) >= 100 THEN round(value::numeric)::text
            ELSE round(value::numeric, 2)::text END || CASE WHEN unit = '' THEN '' ELSE ' ' || unit END AS value,
       coalesce(target, '') AS target,
       CASE WHEN met IS NULL THEN '' WHEN met THEN 'met' ELSE 'NOT MET' END AS verdict,
       coalesce(note, '') AS note
  FROM bench.result ORDER BY ord;

SELECT CASE WHEN bool_and(met) FILTER (WHERE met IS NOT NULL) THEN 'ALL TARGETS MET' ELSE 'TARGETS NOT MET' END
       AS bench_verdict,
       count(*) FILTER (WHERE met) AS n_met, count(*) FILTER (WHERE NOT met) AS n_missed
  FROM bench.result \gset
\echo 'BENCH VERDICT:' :bench_verdict '(' :n_met 'met,' :n_missed 'not met)'
