-- pg_apes_health history benchmark: apes.query_stats() against the plain SQL (plain_query_stats.sql) on the full
-- synthetic history (run.sh step 3), in ONE session; apes.query_regressions() too (no target).
--
-- Periods, inside the history (both bounds given, so neither side reads the live pg_stat_statements):
--   day: the last day, [last snapshot - 1 day, last snapshot]
--   all: the whole history, [first snapshot, last snapshot]
-- Every statement runs by EXECUTE inside a procedure, timed with clock_timestamp() on the server and followed by a
-- COMMIT; run 0 is a warm-up, runs 1..:runs are interleaved (ext day, plain day, ext all, plain all, regressions).
-- Both sides are wrapped the same way, SELECT count(*), sums of the computed columns and of length(query), so every
-- column is computed; the sums double as a check that both return the same rows.

\set ON_ERROR_STOP 1
\set QUIET on
\pset footer off
SET client_min_messages = warning;
SET jit = :'jit';

\set plain_sql `cat :plain`

CREATE TEMP TABLE contender (ord int, label text, sql text, since timestamptz, until timestamptz);
SELECT min(taken_at) AS first_at, max(taken_at) AS last_at FROM apes.snapshot \gset

INSERT INTO contender
SELECT ord, label,
       format('SELECT count(*), coalesce(sum(calls), 0), coalesce(sum(total_exec_ms), 0),
                      coalesce(sum(mean_exec_ms + stddev_exec_ms + coalesce(plan_share, 0) + rows_per_call
                                   + coalesce(shared_hit_ratio, 0)), 0),
                      coalesce(sum(length(query)), 0)
                 FROM (%s) q', CASE WHEN label LIKE 'apes%' THEN 'SELECT * FROM apes.query_stats($1, $2)'
                                    ELSE :'plain_sql' END),
       CASE WHEN label LIKE '%day' THEN :'last_at'::timestamptz - interval '1 day' ELSE :'first_at'::timestamptz END,
       :'last_at'::timestamptz
  FROM (VALUES (1, 'apes_day'), (2, 'plain_day'), (3, 'apes_all'), (4, 'plain_all')) v(ord, label);
INSERT INTO contender
SELECT 5, 'regressions',
       'SELECT count(*), coalesce(sum(current_calls), 0), coalesce(sum(extra_total_ms), 0),
               count(*) FILTER (WHERE significant), coalesce(sum(length(query)), 0)
          FROM apes.query_regressions(tstzrange($1 - interval ''7 days'', $1), tstzrange($1, $2, ''[]''))',
       :'last_at'::timestamptz - interval '1 day', :'last_at'::timestamptz;

CREATE TABLE bench.qs_timing (run int, label text, ms float8, nrows bigint, calls numeric, total float8,
                              derived float8, text_chars bigint);

CREATE PROCEDURE pg_temp.qs_runs(runs int)
LANGUAGE plpgsql AS $p$
DECLARE
    c  record;
    r  int;
    t0 timestamptz;
    n  bigint;
    k  numeric;
    tt float8;
    dv float8;
    tc bigint;
BEGIN
    FOR r IN 0 .. runs LOOP
        FOR c IN SELECT * FROM contender ORDER BY ord LOOP
            t0 := clock_timestamp();
            EXECUTE c.sql INTO n, k, tt, dv, tc USING c.since, c.until;
            INSERT INTO bench.qs_timing
                 VALUES (r, c.label, 1000 * extract(epoch FROM clock_timestamp() - t0), n, k, tt, dv, tc);
            COMMIT;
        END LOOP;
    END LOOP;
END
$p$;

\echo '   history:' :'first_at' '..' :'last_at'
\echo '   timing' :runs 'interleaved runs of each contender after a warm-up ...'
CALL pg_temp.qs_runs(:runs);

\echo
\echo '-- server-side wall time per call, ms (each median over the measured runs)'
CREATE TEMP VIEW qs_med AS
SELECT label, bench.median(array_agg(ms)) AS median, min(ms) AS min, max(ms) AS max, count(*) AS runs,
       (SELECT round(w.ms::numeric) FROM bench.qs_timing w WHERE w.run = 0 AND w.label = t.label) AS warmup,
       string_agg(round(ms::numeric)::text, ' ' ORDER BY run) AS each_run
  FROM bench.qs_timing t WHERE run > 0 GROUP BY label;
SELECT c.label AS contender, round(m.median::numeric, 1) AS median_ms, round(m.min::numeric, 1) AS min_ms,
       round(m.max::numeric, 1) AS max_ms, m.warmup AS warmup_ms, m.each_run AS "ms of runs 1..N"
  FROM contender c JOIN qs_med m USING (label) ORDER BY c.ord;

\echo '-- what each returned (last run): rows, sum of calls, sum of total ms, sum of derived columns, text chars'
SELECT t.label AS contender, t.nrows AS rows, t.calls AS sum_calls, round(t.total::numeric, 1) AS sum_total_ms,
       round(t.derived::numeric, 3) AS sum_derived, t.text_chars
  FROM bench.qs_timing t JOIN contender c USING (label)
 WHERE t.run = :runs ORDER BY c.ord;

SELECT bool_and(a.nrows = p.nrows AND a.calls = p.calls AND abs(a.total - p.total) <= 1e-6 * abs(p.total)
                AND abs(a.derived - p.derived) <= 1e-6 * abs(p.derived) AND a.text_chars = p.text_chars) AS same
  FROM bench.qs_timing a JOIN bench.qs_timing p ON p.run = a.run AND p.label = replace(a.label, 'apes', 'plain')
 WHERE a.label LIKE 'apes%' \gset
\echo '-- apes.query_stats() and the plain SQL return the same rows and figures:' :same

-- expected regressions: statements 3x slower over the last day that have at least min_calls (50) calls in both
-- periods.  Baseline: snapshots b0 (7 days before b1) .. b1 (a day before the last); a statement that appears after
-- b0 counts from its first snapshot.
SELECT count(*) AS planted_regressions
  FROM bench.stmt t, bench.series s,
       LATERAL (SELECT s.n - 1 - s.per_day AS b1, s.n - 1 - 8 * s.per_day AS b0) b
 WHERE t.regressed AND t.last_i >= s.n - 1 AND t.first_i <= b.b1
   AND t.rate * (b.b1 - greatest(t.first_i - 1, b.b0)) >= 50 \gset
SELECT nrows AS found_regressions, derived::bigint AS significant_regressions
  FROM bench.qs_timing WHERE label = 'regressions' AND run = :runs \gset
\echo '-- apes.query_regressions(last 7 days before the last day, last day): rows' :found_regressions ', significant' :significant_regressions ', planted' :planted_regressions

INSERT INTO bench.result
SELECT 30, 'query_stats', 'apes.query_stats() median, last day (' || a.nrows || ' statements)', m.median, 'ms',
       '<= ' || :t_qs_ms, m.median <= :t_qs_ms,
       format('plain SQL %s ms: apes / plain = %s', round(p.median::numeric, 1),
              round((m.median / nullif(p.median, 0))::numeric, 2))
  FROM qs_med m, qs_med p, bench.qs_timing a
 WHERE m.label = 'apes_day' AND p.label = 'plain_day' AND a.label = 'apes_day' AND a.run = :runs
UNION ALL
SELECT 31, 'query_stats', 'apes.query_stats() median, whole history (' || a.nrows || ' statements)', m.median, 'ms',
       '<= ' || :t_qs_ms, m.median <= :t_qs_ms,
       format('plain SQL %s ms: apes / plain = %s', round(p.median::numeric, 1),
              round((m.median / nullif(p.median, 0))::numeric, 2))
  FROM qs_med m, qs_med p, bench.qs_timing a
 WHERE m.label = 'apes_all' AND p.label = 'plain_all' AND a.label = 'apes_all' AND a.run = :runs
UNION ALL
SELECT 32, 'query_stats', 'plain-SQL deltas median, last day', p.median, 'ms', NULL, NULL, NULL
  FROM qs_med p WHERE p.label = 'plain_day'
UNION ALL
SELECT 33, 'query_stats', 'plain-SQL deltas median, whole history', p.median, 'ms', NULL, NULL, NULL
  FROM qs_med p WHERE p.label = 'plain_all'
UNION ALL
SELECT 34, 'query_stats', 'ratio apes.query_stats() / plain SQL, last day', m.median / nullif(p.median, 0), 'x',
       NULL, NULL, 'above 1: the extension is slower'
  FROM qs_med m, qs_med p WHERE m.label = 'apes_day' AND p.label = 'plain_day'
UNION ALL
SELECT 35, 'query_stats', 'ratio apes.query_stats() / plain SQL, whole history', m.median / nullif(p.median, 0), 'x',
       NULL, NULL, NULL
  FROM qs_med m, qs_med p WHERE m.label = 'apes_all' AND p.label = 'plain_all'
UNION ALL
SELECT 36, 'query_stats', 'apes.query_stats() and the plain SQL agree', NULL, '', 'same rows', :'same'::boolean,
       'row count, sum of calls, of total time, of the derived columns, of text lengths'
UNION ALL
SELECT 37, 'query_stats', 'apes.query_regressions() median, last day against the week before', m.median, 'ms',
       NULL, NULL, format('%s significant of %s planted', :significant_regressions, :planted_regressions)
  FROM qs_med m WHERE m.label = 'regressions';

\if :explain
\echo
\echo '-- where apes.query_stats() spends its time (last day), its parts run alone (median of 3, ms)'
SELECT start_id, end_id FROM apes.period_bounds(:'last_at'::timestamptz - interval '1 day', :'last_at') \gset
CREATE TEMP TABLE part (ord int, part text, sql text);
INSERT INTO part VALUES
(1, 'apes.period_bounds()', format('SELECT * FROM apes.period_bounds(%L, %L)',
                                   :'last_at'::timestamptz - interval '1 day', :'last_at')),
(2, 'apes.statement_deltas()', format('SELECT count(*) FROM apes.statement_deltas(%s, %s)', :start_id, :end_id)),
(3, 'apes.statement_deltas() + apes.statement_query() per row',
    format('SELECT count(*), sum(length(apes.statement_query(dbid, userid, queryid)))
              FROM apes.statement_deltas(%s, %s)', :start_id, :end_id)),
(4, 'apes.statement_deltas() + the text by a join',
    format('SELECT count(*), sum(length(t.query)) FROM apes.statement_deltas(%s, %s) d
              LEFT JOIN apes.statement_text t USING (dbid, userid, queryid)', :start_id, :end_id)),
(5, 'apes.query_stats()', format('SELECT count(*) FROM apes.query_stats(%L, %L)',
                                 :'last_at'::timestamptz - interval '1 day', :'last_at'));
SELECT ord, part, round(bench.time_ms(sql)::numeric, 1) AS median_ms FROM part ORDER BY ord;
\endif
