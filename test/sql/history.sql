-- History: snapshots, the delta maths against hand-computed values, series breaks (reset, restart), evictions,
-- regressions (planted and synthetic), privacy of query texts, retention, pg_stat_statements absent, scheduling
-- errors.  The cluster preloads pg_stat_statements with track = all (test/cluster.sh).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
DROP ROLE IF EXISTS regress_hist_reader;
RESET client_min_messages;

-- a real snapshot: an id, this series, pg_stat_statements read, one row of database counters
SELECT apes.snapshot() IS NOT NULL AS took;
SELECT pgss_status, statements > 0 AS has_statements, server_start = pg_postmaster_start_time() AS this_series,
       duration_ms >= 0 AS timed
  FROM apes.snapshot ORDER BY snapshot_id DESC LIMIT 1;
SELECT count(*) AS database_rows FROM apes.database_history
 WHERE snapshot_id = (SELECT max(snapshot_id) FROM apes.snapshot);
-- query texts are stored once per statement
SELECT count(*) = count(DISTINCT (dbid, userid, queryid)) AS stored_once FROM apes.statement_text;

-- a read-only transaction takes no snapshot, and says so
BEGIN READ ONLY;
SELECT apes.snapshot() AS in_read_only;
COMMIT;

-- a planted slowdown between three real snapshots: the same look-up with an index, then without it
CREATE TABLE hist_w (id int PRIMARY KEY, v text);
INSERT INTO hist_w SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
CREATE INDEX hist_w_v ON hist_w (v);
ANALYZE hist_w;
SELECT apes.snapshot() AS s1 \gset
SELECT taken_at AS t1 FROM apes.snapshot WHERE snapshot_id = :s1 \gset
DO $$ BEGIN FOR i IN 1..200 LOOP PERFORM count(*) FROM hist_w WHERE v = md5(i::text); END LOOP; END $$;
SELECT apes.snapshot() AS s2 \gset
SELECT taken_at AS t2 FROM apes.snapshot WHERE snapshot_id = :s2 \gset
DROP INDEX hist_w_v;
DO $$ BEGIN FOR i IN 1..200 LOOP PERFORM count(*) FROM hist_w WHERE v = md5(i::text); END LOOP; END $$;
SELECT apes.snapshot() AS s3 \gset
SELECT taken_at AS t3 FROM apes.snapshot WHERE snapshot_id = :s3 \gset
SELECT query, toplevel, baseline_calls, current_calls, slowdown > 3 AS much_slower, significant
  FROM apes.query_regressions(tstzrange(:'t1', :'t2', '[]'), tstzrange(:'t2', :'t3', '[]'))
 WHERE query LIKE '%hist_w%';
-- the same period through query_stats: 200 calls, a delta between two snapshots
SELECT query, calls, basis, flags FROM apes.query_stats(:'t2', :'t3') WHERE query LIKE '%FROM hist_w WHERE%';

-- synthetic history with hand-computed answers (a series of its own, in 2020)
-- statement 42: 10 calls of mean 10 ms, stddev 2 (sum of squares 10 * (4 + 100) = 1040), then 10 calls of 10 ms and
-- 10 of 30 ms: over the hour, 20 calls, 400 ms, mean 20, stddev 10.  Statement 43 appears in the hour; statement 44
-- goes down (evicted and back), so it counts from zero.  Statement 48 was reset alone (pg_stat_statements_reset()
-- of one queryid) and ran 50 fast calls since: more calls than before, but less time, so it counts from zero too
-- (50 calls, 72 ms), never 10 calls of -328 ms.
INSERT INTO apes.snapshot (taken_at, server_start, db_stats_reset, pgss_status, pgss_reset, pgss_dealloc,
                           statements, relations, duration_ms)
VALUES ('2020-01-01 00:00+00', '2019-12-31 00:00+00', NULL, 'ok', '2019-12-31 00:00+00', 0, 2, 0, 1),
       ('2020-01-01 01:00+00', '2019-12-31 00:00+00', NULL, 'ok', '2019-12-31 00:00+00', 0, 3, 0, 1),
       ('2020-01-01 02:00+00', '2019-12-31 00:00+00', NULL, 'ok', '2020-01-01 01:30+00', 0, 1, 0, 1),   -- reset
       ('2020-01-01 03:00+00', '2020-01-01 02:30+00', NULL, 'ok', '2020-01-01 02:30+00', 0, 1, 0, 1),   -- restart
       ('2020-01-01 04:00+00', '2020-01-01 02:30+00', NULL, 'ok', '2020-01-01 02:30+00', 3, 1, 0, 1);   -- evictions
CREATE TEMP TABLE syn AS
SELECT snapshot_id AS id, taken_at FROM apes.snapshot WHERE taken_at < '2021-01-01' ORDER BY taken_at;
INSERT INTO apes.statement_history
SELECT s.id, 1, 10, q.queryid, true, q.calls, q.total, q.sumsq, 0, 0, q.calls, 100, 0, 0, 0, 0, 0, 0, 0, 0
  FROM syn s
  JOIN (VALUES ('2020-01-01 00:00+00'::timestamptz, 42::bigint, 10::bigint, 100::float8, 1040::float8),
               ('2020-01-01 00:00+00', 44, 50, 500, 5000),
               ('2020-01-01 00:00+00', 48, 40, 400, 4000),
               ('2020-01-01 01:00+00', 48, 50, 72, 110),
               ('2020-01-01 01:00+00', 42, 30, 500, 11040),
               ('2020-01-01 01:00+00', 43, 7, 70, 700),
               ('2020-01-01 01:00+00', 44, 5, 50, 500),
               ('2020-01-01 02:00+00', 42, 5, 50, 500),
               ('2020-01-01 03:00+00', 42, 4, 40, 400),
               ('2020-01-01 04:00+00', 42, 9, 90, 900)) q(taken_at, queryid, calls, total, sumsq)
    ON q.taken_at = s.taken_at;
SELECT queryid, calls, total_exec_ms, mean_exec_ms, stddev_exec_ms, rows_per_call, basis, flags
  FROM apes.query_stats('2020-01-01 00:00+00', '2020-01-01 01:00+00') WHERE dbid = 1 ORDER BY queryid;
-- a reset inside the period: no snapshot of the new series before the end, so cumulative values, flagged
SELECT queryid, calls, basis, flags
  FROM apes.query_stats('2020-01-01 00:00+00', '2020-01-01 02:00+00') WHERE dbid = 1 ORDER BY queryid;
-- a restart: the same
SELECT queryid, calls, basis, flags
  FROM apes.query_stats('2020-01-01 02:00+00', '2020-01-01 03:00+00') WHERE dbid = 1 ORDER BY queryid;
-- evictions inside the period are flagged; a start before the series moves to its first snapshot
SELECT queryid, calls, basis, flags
  FROM apes.query_stats('2020-01-01 03:00+00', '2020-01-01 04:00+00') WHERE dbid = 1 ORDER BY queryid;
SELECT queryid, calls, basis, flags
  FROM apes.query_stats('2020-01-01 00:30+00', '2020-01-01 04:00+00') WHERE dbid = 1 ORDER BY queryid;

-- index_unused with history: an index the oldest snapshot recorded and no snapshot saw scanned is judged over the
-- whole history (since 2020 here, so high confidence); one the last 2020 snapshot of its series saw scanned keeps
-- the statistics window; one no snapshot recorded (made after the history began) is judged only since it was made
-- (its file's birth: seconds, so low confidence), never "unscanned since 2020"
SET pg_apes_health.unused_index_min_size = 0;
CREATE TABLE hist_u (a int, b int, c int);
INSERT INTO hist_u SELECT g, g, g FROM generate_series(1, 1000) g;
CREATE INDEX hist_u_a ON hist_u (a);
CREATE INDEX hist_u_b ON hist_u (b);
CREATE INDEX hist_u_c ON hist_u (c);
INSERT INTO apes.relation_history (snapshot_id, relid, kind, table_relid, idx_scan)
SELECT id, 'hist_u_a'::regclass, 'i', 'hist_u'::regclass, 0 FROM syn ORDER BY taken_at LIMIT 1;
INSERT INTO apes.relation_history (snapshot_id, relid, kind, table_relid, idx_scan)
SELECT id, 'hist_u_b'::regclass, 'i', 'hist_u'::regclass, 5 FROM syn WHERE taken_at = '2020-01-01 02:00+00';
SELECT object_name, confidence,
       CASE WHEN evidence->>'stats_since_basis' IN ('stats_reset', 'server_start') THEN 'statistics window'
            ELSE evidence->>'stats_since_basis' END AS basis,
       (evidence->>'stats_age_days')::float8 > 365 AS over_a_year
  FROM apes.findings('index') WHERE check_id = 'index_unused' AND object_name LIKE 'public.hist_u%' ORDER BY 1;
RESET pg_apes_health.unused_index_min_size;
DROP TABLE hist_u;

-- a synthetic regression, Welch's t by hand: 100 calls of mean 10 ms, variance 4, then 100 calls of mean 12 ms,
-- variance 9 (population variances, as pg_stat_statements keeps them; the sample variances are 100/99 of them):
-- t = 2 / sqrt(4/99 + 9/99) = 5.519 with 169 * 99 / 97 = 172.48 degrees of freedom; statement 46 keeps its speed and 47
-- gets faster
INSERT INTO apes.snapshot (taken_at, server_start, db_stats_reset, pgss_status, pgss_reset, pgss_dealloc,
                           statements, relations, duration_ms)
VALUES ('2020-02-01 00:00+00', '2020-02-01 00:00+00', NULL, 'ok', '2020-02-01 00:00+00', 0, 3, 0, 1),
       ('2020-02-01 01:00+00', '2020-02-01 00:00+00', NULL, 'ok', '2020-02-01 00:00+00', 0, 3, 0, 1),
       ('2020-02-01 02:00+00', '2020-02-01 00:00+00', NULL, 'ok', '2020-02-01 00:00+00', 0, 3, 0, 1);
INSERT INTO apes.statement_history
SELECT s.snapshot_id, 1, 10, q.queryid, true, q.calls, q.total, q.sumsq, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
  FROM apes.snapshot s
  JOIN (VALUES ('2020-02-01 00:00+00'::timestamptz, 45::bigint, 1::bigint, 10::float8, 100::float8),
               ('2020-02-01 01:00+00', 45, 101, 1010, 10500),
               ('2020-02-01 02:00+00', 45, 201, 2210, 25800),
               ('2020-02-01 00:00+00', 46, 1, 10, 100),
               ('2020-02-01 01:00+00', 46, 101, 1010, 10500),
               ('2020-02-01 02:00+00', 46, 201, 2010, 20900),
               ('2020-02-01 00:00+00', 47, 1, 10, 100),
               ('2020-02-01 01:00+00', 47, 101, 1010, 10500),
               ('2020-02-01 02:00+00', 47, 201, 1510, 13000)) q(taken_at, queryid, calls, total, sumsq)
    ON q.taken_at = s.taken_at;
SELECT queryid, baseline_calls, baseline_mean_ms, baseline_stddev_ms, current_calls, current_mean_ms,
       current_stddev_ms, slowdown, extra_total_ms, round(t_statistic::numeric, 3) AS t,
       round(degrees_of_freedom::numeric, 2) AS df, p_value < 1e-7 AS tiny_p,
       significant
  FROM apes.query_regressions('[2020-02-01 00:00+00, 2020-02-01 01:00+00]',
                              '[2020-02-01 01:00+00, 2020-02-01 02:00+00]')
 WHERE dbid = 1;
-- fewer calls than min_calls: not judged
SELECT count(*) AS judged
  FROM apes.query_regressions('[2020-02-01 00:00+00, 2020-02-01 01:00+00]',
                              '[2020-02-01 01:00+00, 2020-02-01 02:00+00]', 101)
 WHERE dbid = 1;

-- Student's t upper tail against published tables (two-sided 5% and 1%, one-sided 0.05% critical values) and the
-- closed forms for 1 degree of freedom (Cauchy: 1/2 - atan(t)/pi) and 2 (1/2 - t / (2 sqrt(t^2 + 2)))
SELECT t, df, round(apes.t_upper_tail(t, df)::numeric, 4) AS upper_tail
  FROM (VALUES (12.706, 1), (4.303, 2), (2.228, 10), (2.042, 30), (1.960, 1e9), (63.657, 1), (9.925, 2),
               (3.169, 10), (2.750, 30), (2.576, 1e9), (3.291, 1e9), (0, 7), (-2.228, 10)) v(t, df);
SELECT bool_and(abs(apes.t_upper_tail(t, 1) - (0.5 - atan(t) / pi())) < 1e-12) AS cauchy,
       bool_and(abs(apes.t_upper_tail(t, 2) - (0.5 - t / (2 * sqrt(t * t + 2)))) < 1e-12) AS two_df
  FROM generate_series(-20, 20, 0.25) t;
SELECT apes.t_upper_tail(1, 0);
SELECT apes.t_upper_tail('NaN', 3) AS nan, apes.t_upper_tail('Infinity', 3) AS inf, apes.t_upper_tail('-Infinity', 3) AS minus_inf;
SELECT apes.t_upper_tail(1, 'NaN');

-- few calls (issue 13, defect 7): statement 49 ran 1, 2, 3 ms, then 4, 5, 6 ms.  Sample variances 1 and 1, Welch's
-- t = 3 / sqrt(1/3 + 1/3) = 3.674 with 4 degrees of freedom: p = 0.0107 (the t distribution's tail: the normal one
-- with population variances gave t = 4.5, p = 3.4e-6, "significant").  Not significant, and flagged few_calls.
-- Statement 50 ran every call in exactly 1 ms, then in 2 ms: no variance, so no test (it was "infinitely
-- significant"): flagged zero_variance, not significant.
INSERT INTO apes.snapshot (taken_at, server_start, db_stats_reset, pgss_status, pgss_reset, pgss_dealloc,
                           statements, relations, duration_ms)
VALUES ('2020-03-01 00:00+00', '2020-03-01 00:00+00', NULL, 'ok', '2020-03-01 00:00+00', 0, 0, 0, 1),
       ('2020-03-01 01:00+00', '2020-03-01 00:00+00', NULL, 'ok', '2020-03-01 00:00+00', 0, 2, 0, 1),
       ('2020-03-01 02:00+00', '2020-03-01 00:00+00', NULL, 'ok', '2020-03-01 00:00+00', 0, 2, 0, 1);
INSERT INTO apes.statement_history
SELECT s.snapshot_id, 1, 10, q.queryid, true, q.calls, q.total, q.sumsq, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
  FROM apes.snapshot s
  JOIN (VALUES ('2020-03-01 01:00+00'::timestamptz, 49::bigint, 3::bigint, 6::float8, 14::float8),
               ('2020-03-01 02:00+00', 49, 6, 21, 91),
               ('2020-03-01 01:00+00', 50, 10, 10, 10),
               ('2020-03-01 02:00+00', 50, 20, 30, 50)) q(taken_at, queryid, calls, total, sumsq)
    ON q.taken_at = s.taken_at;
SELECT queryid, baseline_calls, baseline_stddev_ms, current_calls, current_stddev_ms,
       round(t_statistic::numeric, 3) AS t, round(degrees_of_freedom::numeric, 2) AS df,
       round(p_value::numeric, 4) AS p, significant, flags
  FROM apes.query_regressions('[2020-03-01 00:00+00, 2020-03-01 01:00+00]',
                              '[2020-03-01 01:00+00, 2020-03-01 02:00+00]', 2)
 WHERE dbid = 1 ORDER BY queryid;

-- bad input
SELECT * FROM apes.query_stats('2020-01-02', '2020-01-01');
SELECT * FROM apes.query_stats(NULL, '1999-01-01');
SELECT * FROM apes.query_regressions('empty', '[2020-01-01, 2020-01-02]');
SELECT * FROM apes.query_regressions('[2020-01-01, 2020-01-02]', '[2020-01-02, 2020-01-03]', 1);
SELECT * FROM apes.query_regressions('[1999-01-01, 1999-01-02]', '[1999-01-02, 1999-01-03]');
SELECT apes.purge('-1 day');
-- a period with no snapshot inside it would describe the time before it: refused
SELECT * FROM apes.query_stats('2020-01-01 00:10+00', '2020-01-01 00:20+00');

-- query texts: only pg_read_all_stats members and the statement's own role see them (pg_stat_statements' rule)
CREATE ROLE regress_hist_reader;
GRANT USAGE ON SCHEMA apes TO regress_hist_reader;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA apes TO regress_hist_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA apes TO regress_hist_reader;
INSERT INTO apes.statement_text VALUES (1, 10, 42, 'SELECT secret FROM t', '2020-01-01 00:00+00', '2020-01-01 01:00+00');
SELECT query FROM apes.query_stats('2020-01-01 00:00+00', '2020-01-01 01:00+00') WHERE dbid = 1 AND queryid = 42;
SET ROLE regress_hist_reader;
SELECT query FROM apes.query_stats('2020-01-01 00:00+00', '2020-01-01 01:00+00') WHERE dbid = 1 AND queryid = 42;
SELECT count(*) AS texts_visible FROM apes.statement_text;
RESET ROLE;
GRANT pg_read_all_stats TO regress_hist_reader;
SET ROLE regress_hist_reader;
SELECT query FROM apes.query_stats('2020-01-01 00:00+00', '2020-01-01 01:00+00') WHERE dbid = 1 AND queryid = 42;
RESET ROLE;

-- retention: the synthetic years-old snapshots go, with the texts nothing refers to any more; recent ones stay
SELECT apes.purge('1 year') AS removed;
SELECT count(*) AS old_left FROM apes.snapshot WHERE taken_at < '2021-01-01';
SELECT count(*) AS old_statement_rows FROM apes.statement_history WHERE dbid = 1;
SELECT count(*) AS old_texts FROM apes.statement_text WHERE dbid = 1;
SELECT count(*) > 0 AS recent_kept FROM apes.snapshot;

-- pg_cron lives in another database here (cron.database_name = postgres): a clear error saying what to run there
SELECT * FROM apes.schedule();
SELECT apes.unschedule();
SELECT * FROM apes.schedule(NULL);

-- pg_stat_statements absent: snapshots still work, the query functions say why they cannot
SET client_min_messages = warning;
DROP EXTENSION pg_stat_statements;
RESET client_min_messages;
SELECT apes.snapshot() IS NOT NULL AS took;
SELECT pgss_status, statements FROM apes.snapshot ORDER BY snapshot_id DESC LIMIT 1;
SELECT * FROM apes.query_stats();
SELECT check_id, severity, fix_sql FROM apes.findings('query') WHERE check_id LIKE 'pgss%';

-- clean up
DROP TABLE hist_w;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA apes FROM regress_hist_reader;
REVOKE ALL ON ALL TABLES IN SCHEMA apes FROM regress_hist_reader;
REVOKE ALL ON SCHEMA apes FROM regress_hist_reader;
DROP ROLE regress_hist_reader;
