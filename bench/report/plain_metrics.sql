-- pg_apes_health report benchmark, the reference for apes.metrics(): the same figures as plain SQL over the same
-- views (what a postgres_exporter configuration without the extension's function would run), findings from
-- apes.findings() (there is no plain SQL for them), each part limited to 10 objects plus the rest.  One statement,
-- counted, so that one timing covers it all.
SELECT count(*) AS rows, sum(v) AS checksum FROM (
    SELECT count(*)::float8 + coalesce(sum(f.wasted_bytes), 0) AS v
      FROM apes.findings() f GROUP BY f.area, f.check_id, f.severity
    UNION ALL
    SELECT count(*)::float8
      FROM (SELECT a.datname, a.application_name, a.state,
                   dense_rank() OVER (ORDER BY a.datname, a.application_name) AS rk
              FROM pg_stat_activity a WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()) a
     GROUP BY CASE WHEN a.rk <= 10 THEN a.datname END, CASE WHEN a.rk <= 10 THEN a.application_name END, a.state
    UNION ALL
    SELECT extract(epoch FROM clock_timestamp() - max(s.taken_at))::float8 FROM apes.snapshot s
    UNION ALL
    SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::float8 FROM pg_stat_replication r
    UNION ALL
    SELECT coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), l.restart_lsn), 0)::float8 FROM pg_replication_slots l
    UNION ALL
    SELECT (a.archived_count + a.failed_count)::float8 FROM pg_stat_archiver a
    UNION ALL
    SELECT (q.last_value - q.min_value)::float8 / nullif(q.max_value - q.min_value, 0)
      FROM pg_sequences q WHERE q.last_value IS NOT NULL
    UNION ALL
    SELECT sum(s.total_exec_time)
      FROM (SELECT p.total_exec_time, row_number() OVER (ORDER BY p.total_exec_time DESC) AS rk
              FROM public.pg_stat_statements(false) p
             WHERE p.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())) s
     GROUP BY CASE WHEN s.rk <= 10 THEN s.rk END
) x;
