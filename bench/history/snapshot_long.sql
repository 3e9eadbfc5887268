-- pg_apes_health history benchmark: apes.snapshot() on top of the full synthetic history (run.sh step 3, last).
-- The same measurement as snapshot.sql (CHECKPOINT first, time, WAL, bytes), 3 runs: what a snapshot costs once
-- the history tables and their indexes are large, as they are after weeks of snapshots.  The synthetic relation
-- history holds the relations these snapshots store, over its last :rel_days days.

\set ON_ERROR_STOP 1
\set QUIET on
\pset footer off
SET client_min_messages = warning;
SET jit = :'jit';

CREATE TABLE bench.snap_long_run (LIKE bench.snap_run);
CREATE TABLE bench.snap_long_run_wal (LIKE bench.snap_run_wal);

CREATE PROCEDURE pg_temp.snap_long_runs(runs int)
LANGUAGE plpgsql AS $p$
DECLARE
    r   int;
    id  bigint;
    t0  timestamptz;
    t1  timestamptz;
    l0  pg_lsn;
    l1  pg_lsn;
    s0  record;
    s1  record;
BEGIN
    FOR r IN 1 .. runs LOOP
        EXECUTE 'CHECKPOINT';
        COMMIT;
        l0 := pg_current_wal_lsn();
        s0 := bench.hist_size();
        COMMIT;
        t0 := clock_timestamp();
        id := apes.snapshot();
        COMMIT;
        t1 := clock_timestamp();
        l1 := pg_current_wal_lsn();
        s1 := bench.hist_size();
        INSERT INTO bench.snap_long_run
        SELECT r, id, 1000 * extract(epoch FROM t1 - t0), l0, l1, pg_wal_lsn_diff(l1, l0),
               s.statements, s.relations, s.duration_ms,
               s1.snapshot - s0.snapshot, s1.statement_history - s0.statement_history,
               s1.statement_text - s0.statement_text, s1.relation_history - s0.relation_history,
               s1.database_history - s0.database_history, s1.total - s0.total
          FROM apes.snapshot s WHERE s.snapshot_id = id;
        INSERT INTO bench.snap_long_run_wal SELECT r, w.* FROM bench.wal_by_relation(l0, l1) w;
        COMMIT;
    END LOOP;
END
$p$;

SELECT count(*) AS nsnap, round(count(*) / (1440.0 / :interval_min), 1) AS ndays,
       (SELECT pg_size_pretty(total) FROM bench.hist_size()) AS hsize,
       coalesce(pg_size_pretty(pg_relation_size(to_regclass('apes.relation_history_relid_idx'))), 'none') AS relid_idx
  FROM apes.snapshot \gset
\echo '   history:' :ndays 'days,' :nsnap 'snapshots,' :hsize '(relation_history_relid_idx' :relid_idx ')'
\echo '   timing 3 snapshots on top of it (each after a CHECKPOINT) ...'
CALL pg_temp.snap_long_runs(3);

SELECT run, snapshot_id AS id, round(ms::numeric, 1) AS ms, statements, relations,
       round(wal / 1048576.0, 2) AS wal_mb, round(d_statement / 1024.0) AS statement_kb,
       round(d_text / 1024.0) AS text_kb, round(d_relation / 1024.0) AS relation_kb, round(d_total / 1024.0) AS total_kb
  FROM bench.snap_long_run ORDER BY run;

\echo '-- WAL of the median-WAL run, by relation (pg_walinspect; FPI = full-page images)'
SELECT run AS wal_run FROM bench.snap_long_run ORDER BY wal, run OFFSET 1 LIMIT 1 \gset
SELECT relation, records, round(record_bytes / 1024) AS kb, round(fpi_bytes / 1024) AS fpi_kb, fpis
  FROM bench.snap_long_run_wal WHERE run = :wal_run AND record_bytes >= 8192 ORDER BY record_bytes DESC;

INSERT INTO bench.result
SELECT 20, 'snapshot', format('apes.snapshot() median on top of %s days of history', :ndays), m.ms, 'ms',
       '<= ' || :t_snapshot_ms, m.ms <= :t_snapshot_ms, NULL
  FROM (SELECT bench.median(array_agg(ms)) AS ms FROM bench.snap_long_run) m
UNION ALL
SELECT 21, 'snapshot', format('WAL per snapshot on top of %s days of history (median, after a CHECKPOINT)', :ndays),
       m.wal / 1048576, 'MB', '<= ' || :t_wal_mb, m.wal / 1048576 <= :t_wal_mb,
       CASE WHEN to_regclass('apes.relation_history_relid_idx') IS NULL
            THEN format('full-page images in all: %s MB (%s pages); no relation_history_relid_idx',
                        (SELECT round(sum(a.fpi_bytes) / 1048576, 1) FROM bench.snap_long_run_wal a
                          WHERE a.run = :wal_run),
                        (SELECT sum(a.fpis) FROM bench.snap_long_run_wal a WHERE a.run = :wal_run))
            ELSE format('of which full-page images of relation_history_relid_idx: %s MB (%s pages)',
                        round(w.fpi_bytes / 1048576, 1), w.fpis) END
  FROM (SELECT bench.median(array_agg(wal::float8)) AS wal FROM bench.snap_long_run) m
  LEFT JOIN bench.snap_long_run_wal w ON w.run = :wal_run AND w.relation = 'apes.relation_history_relid_idx';
