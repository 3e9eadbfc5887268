-- pg_apes_health report benchmark: the history tables bench/history/synth.sql does not write, for every snapshot it
-- wrote (run.sh runs this after it): server_history (WAL position and checkpoints), server_database_history (three
-- databases and their sizes), pool_history (:pools pools a snapshot, sessions following the time of day) and
-- finding_history (:open_findings episodes open since the first snapshot, and :churn_findings a day that open and
-- are resolved one to three days later).  Values follow simple rules (documented with each insert) so the charts
-- have something to draw; the report's cost depends on the number of rows it reads, not on the values.

\set ON_ERROR_STOP 1
\set QUIET on
SET client_min_messages = warning;
SET session_replication_role = replica;

-- WAL: 40 MB to 80 MB per 15 minutes (with the time of day), a timed checkpoint every 30 minutes, a requested one
-- every 12 hours
INSERT INTO apes.server_history (snapshot_id, wal_lsn, checkpoints_timed, checkpoints_req, checkpointer_reset,
                                 archived_count, failed_count, slots_retained_bytes, autovacuum_workers,
                                 autovacuum_max_workers)
SELECT s.snapshot_id,
       ('0/0'::pg_lsn + (sum(60e6 + 20e6 * sin(2 * pi() * extract(hour FROM s.taken_at) / 24))
                           OVER (ORDER BY s.snapshot_id))::numeric(20, 0)),
       s.snapshot_id / 2, s.snapshot_id / 48, NULL, 0, 0, 0, 0, 3
  FROM apes.snapshot s;

-- three databases, this one growing by 1 GB a day from 50 GB
INSERT INTO apes.server_database_history (snapshot_id, datid, datname, size_bytes)
SELECT s.snapshot_id, d.datid, d.datname, d.base + s.snapshot_id * d.growth
  FROM apes.snapshot s
 CROSS JOIN (VALUES ((SELECT oid FROM pg_database WHERE datname = current_database()), current_database()::name,
                     50e9::bigint, (1e9 / 96)::bigint),
                    (5::oid, 'postgres'::name, 8000000::bigint, 0::bigint),
                    (99999::oid, 'reporting'::name, 12e9::bigint, (1e8 / 96)::bigint)) AS d(datid, datname, base, growth);

-- pools: application app_k for k < :pools / 2, two roles each; sessions with the time of day
INSERT INTO apes.pool_history (snapshot_id, database, role, application, client_addr, sessions, active,
                               idle_in_transaction, waiting)
SELECT s.snapshot_id, current_database(), 'role_' || (p % 2), 'app_' || (p / 2), '10.0.0.' || p,
       greatest(1, (10 + 8 * sin(2 * pi() * extract(hour FROM s.taken_at) / 24) + p % 5)::int),
       (3 + 2 * sin(2 * pi() * extract(hour FROM s.taken_at) / 24))::int, p % 3, 0
  FROM apes.snapshot s CROSS JOIN generate_series(0, :pools - 1) p;

-- findings: the open ones, and a daily churn of episodes resolved one to three days later
INSERT INTO apes.finding_history (check_id, area, severity, object_name, first_seen, resolved_at, wasted_bytes,
                                  confidence)
SELECT CASE i % 3 WHEN 0 THEN 'index_duplicate' WHEN 1 THEN 'fk_missing_index' ELSE 'index_unused' END, 'index',
       CASE WHEN i % 50 = 0 THEN 'critical' WHEN i % 5 = 0 THEN 'info' ELSE 'warning' END,
       format('s%s.t%s_idx', i % 10, lpad(i::text, 5, '0')), (SELECT min(taken_at) FROM apes.snapshot), NULL,
       8192 * (i % 100), 'high'
  FROM generate_series(1, :open_findings) i;
INSERT INTO apes.finding_history (check_id, area, severity, object_name, first_seen, resolved_at, wasted_bytes,
                                  confidence)
SELECT 'query_slow', 'query', CASE WHEN j % 4 = 0 THEN 'warning' ELSE 'info' END,
       format('query %s (bench/bench)', d * 1000 + j), s.taken_at,
       (SELECT e.taken_at FROM apes.snapshot e WHERE e.snapshot_id = s.snapshot_id + 96 * (1 + j % 3)),
       NULL, 'high'
  FROM generate_series(0, (SELECT count(*) / 96 - 1 FROM apes.snapshot)::int) d
 CROSS JOIN generate_series(0, :churn_findings - 1) j
  JOIN apes.snapshot s ON s.snapshot_id = (SELECT min(snapshot_id) FROM apes.snapshot) + d * 96 + (j * 7) % 96;

VACUUM (ANALYZE) apes.server_history, apes.server_database_history, apes.pool_history, apes.finding_history;
SELECT (SELECT count(*) FROM apes.server_history) AS server_rows,
       (SELECT count(*) FROM apes.server_database_history) AS database_rows,
       (SELECT count(*) FROM apes.pool_history) AS pool_rows,
       (SELECT count(*) FROM apes.finding_history) AS finding_episodes,
       (SELECT count(*) FROM apes.finding_history WHERE resolved_at IS NULL) AS open_episodes;
