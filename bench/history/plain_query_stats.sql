-- pg_apes_health history benchmark: the plain-SQL reference for apes.query_stats($1, $2) over a period inside the
-- history (both bounds given).  What a DBA would write against the same history tables: the latest snapshot at or
-- before each bound (the start in the end's series: same server start, same pg_stat_statements reset), the two
-- snapshots' rows joined on the statement key, the deltas (a statement missing at the start, or whose counters went
-- down, counts from zero), the derived figures, the stored text; largest total time first.  Run as a superuser (or a
-- role that sees every text): unlike apes.query_stats() it applies no privilege rule to the texts.
--
-- bench/history/query_stats.sql runs it with EXECUTE ... USING since, until.  On its own:
--   psql -d apes_hist -c "PREPARE q(timestamptz, timestamptz) AS $(cat bench/history/plain_query_stats.sql)" \
--        -c "EXECUTE q(now() - interval '1 day', now())"
WITH e AS (SELECT s.snapshot_id, s.taken_at, s.server_start, s.pgss_reset
             FROM apes.snapshot s
            WHERE s.taken_at <= $2 AND s.pgss_status = 'ok'
            ORDER BY s.taken_at DESC LIMIT 1),
     b AS (SELECT s.snapshot_id, s.taken_at
             FROM apes.snapshot s, e
            WHERE s.taken_at <= $1 AND s.snapshot_id < e.snapshot_id AND s.pgss_status = 'ok'
              AND s.server_start = e.server_start AND s.pgss_reset IS NOT DISTINCT FROM e.pgss_reset
            ORDER BY s.taken_at DESC LIMIT 1),
     d AS (SELECT h1.dbid, h1.userid, h1.queryid, h1.toplevel, f.fresh AS is_new,
                  h1.calls - CASE WHEN f.fresh THEN 0 ELSE h0.calls END AS calls,
                  h1.total_exec_time - CASE WHEN f.fresh THEN 0 ELSE h0.total_exec_time END AS total_exec_time,
                  h1.sumsq_exec_time - CASE WHEN f.fresh THEN 0 ELSE h0.sumsq_exec_time END AS sumsq_exec_time,
                  h1.total_plan_time - CASE WHEN f.fresh THEN 0 ELSE h0.total_plan_time END AS total_plan_time,
                  h1.rows - CASE WHEN f.fresh THEN 0 ELSE h0.rows END AS rows,
                  h1.shared_blks_hit - CASE WHEN f.fresh THEN 0 ELSE h0.shared_blks_hit END AS shared_blks_hit,
                  h1.shared_blks_read - CASE WHEN f.fresh THEN 0 ELSE h0.shared_blks_read END AS shared_blks_read,
                  h1.temp_blks_written - CASE WHEN f.fresh THEN 0 ELSE h0.temp_blks_written END AS temp_blks_written,
                  h1.wal_bytes - CASE WHEN f.fresh THEN 0 ELSE h0.wal_bytes END AS wal_bytes
             FROM e
             JOIN apes.statement_history h1 ON h1.snapshot_id = e.snapshot_id
             LEFT JOIN (b JOIN apes.statement_history h0 ON h0.snapshot_id = b.snapshot_id)
                    ON h0.dbid = h1.dbid AND h0.userid = h1.userid AND h0.queryid = h1.queryid
                   AND h0.toplevel = h1.toplevel
            CROSS JOIN LATERAL (SELECT h0.calls IS NULL OR h0.calls > h1.calls AS fresh) f)
SELECT d.dbid, d.userid, d.queryid, d.toplevel, t.query, d.calls,
       d.total_exec_time AS total_exec_ms,
       d.total_exec_time / d.calls AS mean_exec_ms,
       sqrt(greatest(d.sumsq_exec_time / d.calls - (d.total_exec_time / d.calls) ^ 2, 0)) AS stddev_exec_ms,
       CASE WHEN d.total_plan_time + d.total_exec_time > 0
            THEN d.total_plan_time / (d.total_plan_time + d.total_exec_time) END AS plan_share,
       d.rows::double precision / d.calls AS rows_per_call,
       CASE WHEN d.shared_blks_hit + d.shared_blks_read > 0
            THEN d.shared_blks_hit::double precision / (d.shared_blks_hit + d.shared_blks_read) END AS shared_hit_ratio,
       d.shared_blks_read, d.temp_blks_written, d.wal_bytes,
       (SELECT b.taken_at FROM b) AS period_start, (SELECT e.taken_at FROM e) AS period_end, d.is_new
  FROM d
  LEFT JOIN apes.statement_text t ON t.dbid = d.dbid AND t.userid = d.userid AND t.queryid = d.queryid
 WHERE d.calls > 0
 ORDER BY d.total_exec_time DESC, d.queryid
