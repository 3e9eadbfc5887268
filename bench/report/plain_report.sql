-- pg_apes_health report benchmark, the reference: the history behind apes.report_html()'s charts and statement table,
-- as a DBA would write it in plain SQL over the history tables: every snapshot of the period (no slicing), deltas
-- with lag(), the same top 10s.  One statement (a union of the parts, counted) so that one timing covers it all.
-- psql variables: since, until (timestamptz literals).  The findings part of the report has no plain-SQL
-- equivalent; run.sh times apes.health_json() beside this as the reference for it.
SELECT count(*) AS rows, sum(v) AS checksum FROM (
    -- database sizes at each snapshot, the 10 largest at the end
    WITH s AS MATERIALIZED (SELECT snapshot_id, taken_at, server_start, pgss_reset FROM apes.snapshot
                             WHERE taken_at BETWEEN :'since' AND :'until'),
         last AS (SELECT max(snapshot_id) AS id FROM s)
    SELECT d.size_bytes::float8 AS v
      FROM s JOIN apes.server_database_history d USING (snapshot_id)
     WHERE d.datid IN (SELECT x.datid FROM apes.server_database_history x, last
                        WHERE x.snapshot_id = last.id ORDER BY x.size_bytes DESC NULLS LAST LIMIT 10)
    UNION ALL
    -- the 10 largest tables and indexes at the last snapshot that has them, at every snapshot
    SELECT r.total_bytes::float8
      FROM (SELECT snapshot_id FROM apes.snapshot WHERE taken_at BETWEEN :'since' AND :'until') s
      JOIN apes.relation_history r USING (snapshot_id)
     WHERE r.relid IN (SELECT x.relid FROM apes.relation_history x
                        WHERE x.snapshot_id = (SELECT max(h.snapshot_id) FROM apes.relation_history h
                                                JOIN apes.snapshot t USING (snapshot_id)
                                               WHERE t.taken_at BETWEEN :'since' AND :'until')
                        ORDER BY x.total_bytes DESC NULLS LAST LIMIT 10)
    UNION ALL
    -- execution time per snapshot interval of the period's 10 statements with the most time
    SELECT (h.total_exec_time - lag(h.total_exec_time) OVER w)
           / extract(epoch FROM s.taken_at - lag(s.taken_at) OVER w)
      FROM apes.snapshot s
      JOIN apes.statement_history h USING (snapshot_id)
     WHERE s.taken_at BETWEEN :'since' AND :'until'
       AND (h.dbid, h.userid, h.queryid, h.toplevel) IN (
             SELECT e.dbid, e.userid, e.queryid, e.toplevel
               FROM apes.statement_history e
               LEFT JOIN apes.statement_history b
                      ON b.snapshot_id = (SELECT min(snapshot_id) FROM apes.snapshot WHERE taken_at >= :'since')
                     AND (b.dbid, b.userid, b.queryid, b.toplevel) = (e.dbid, e.userid, e.queryid, e.toplevel)
              WHERE e.snapshot_id = (SELECT max(snapshot_id) FROM apes.snapshot WHERE taken_at <= :'until')
              ORDER BY e.total_exec_time - coalesce(b.total_exec_time, 0) DESC LIMIT 10)
    WINDOW w AS (PARTITION BY h.dbid, h.userid, h.queryid, h.toplevel ORDER BY s.taken_at)
    UNION ALL
    -- connections by state per application at each snapshot
    SELECT sum(p.sessions)::float8
      FROM apes.snapshot s JOIN apes.pool_history p USING (snapshot_id)
     WHERE s.taken_at BETWEEN :'since' AND :'until'
     GROUP BY s.snapshot_id, p.application
    UNION ALL
    -- findings open at each snapshot, by severity
    SELECT count(f.*)::float8
      FROM apes.snapshot s
      JOIN apes.finding_history f ON f.first_seen <= s.taken_at AND (f.resolved_at IS NULL OR f.resolved_at > s.taken_at)
     WHERE s.taken_at BETWEEN :'since' AND :'until'
     GROUP BY s.snapshot_id, f.severity
    UNION ALL
    -- WAL and checkpoints between snapshots
    SELECT pg_wal_lsn_diff(h.wal_lsn, lag(h.wal_lsn) OVER (ORDER BY s.taken_at))::float8
           + (h.checkpoints_timed - lag(h.checkpoints_timed) OVER (ORDER BY s.taken_at))
      FROM apes.snapshot s JOIN apes.server_history h USING (snapshot_id)
     WHERE s.taken_at BETWEEN :'since' AND :'until'
    UNION ALL
    -- the period's top statements with their deltas and texts
    SELECT q.total_exec_ms
      FROM (SELECT e.total_exec_time - coalesce(b.total_exec_time, 0) AS total_exec_ms,
                   e.calls - coalesce(b.calls, 0) AS calls, t.query
              FROM apes.statement_history e
              LEFT JOIN apes.statement_history b
                     ON b.snapshot_id = (SELECT min(snapshot_id) FROM apes.snapshot WHERE taken_at >= :'since')
                    AND (b.dbid, b.userid, b.queryid, b.toplevel) = (e.dbid, e.userid, e.queryid, e.toplevel)
              LEFT JOIN apes.statement_text t ON (t.dbid, t.userid, t.queryid) = (e.dbid, e.userid, e.queryid)
             WHERE e.snapshot_id = (SELECT max(snapshot_id) FROM apes.snapshot WHERE taken_at <= :'until')
             ORDER BY 1 DESC LIMIT 10) q
) x;
