-- pg_apes_health history benchmark: apes.purge() of the oldest day (the daily job's work), run with -v phase=small
-- (on the most recent :small_days days) and -v phase=full (on all :days days).
--
-- Each run: CHECKPOINT; then, in one transaction, apes.purge(older_than) with older_than chosen so that the cutoff
-- falls half an interval before the first snapshot of the second day: exactly one day's snapshots go; ROLLBACK, so
-- every run (and the later steps) see the same history.  Run 0 is a warm-up; runs 1..:purge_runs are measured.
-- Then the DELETE of the texts no snapshot uses, by NOT EXISTS over statement_history (apes.purge() up to commit
-- dd11e7c), alone, with its buffers and temporary files; run.sh then shows every statement of one more purge of
-- the installed version under auto_explain (nested.sql).

\set ON_ERROR_STOP 1
\set QUIET on
\pset footer off
SET client_min_messages = warning;
SET jit = :'jit';

CREATE TABLE IF NOT EXISTS bench.purge_run (phase text, run int, ms float8, removed bigint, wal bigint,
                                            snapshots bigint, statement_rows bigint, history_bytes bigint);

CREATE PROCEDURE pg_temp.purge_runs(phase text, runs int)
LANGUAGE plpgsql AS $p$
DECLARE
    r        int;
    first_id bigint;
    per_day  int;
    keep_at  timestamptz;
    step     interval;
    t0       timestamptz;
    ms       float8;
    n        bigint;
    l0       pg_lsn;
    l1       pg_lsn;
    nsnap    bigint;
    nrows    bigint;
    nbytes   bigint;
BEGIN
    SELECT s.per_day, s.step INTO per_day, step FROM bench.series s;
    SELECT min(snapshot_id), count(*) INTO first_id, nsnap FROM apes.snapshot;
    SELECT count(*) INTO nrows FROM apes.statement_history;
    SELECT total INTO nbytes FROM bench.hist_size();
    SELECT taken_at INTO keep_at FROM apes.snapshot WHERE snapshot_id = first_id + per_day;   -- first one kept
    COMMIT;
    FOR r IN 0 .. runs LOOP
        EXECUTE 'CHECKPOINT';
        COMMIT;
        l0 := pg_current_wal_lsn();
        t0 := clock_timestamp();
        -- cutoff = clock_timestamp() - older_than = keep_at - step / 2
        n := apes.purge(clock_timestamp() - keep_at + step / 2);
        ms := 1000 * extract(epoch FROM clock_timestamp() - t0);
        l1 := pg_current_wal_lsn();
        ROLLBACK;
        INSERT INTO bench.purge_run VALUES (phase, r, ms, n, pg_wal_lsn_diff(l1, l0), nsnap, nrows, nbytes);
        COMMIT;
        IF n <> per_day THEN
            RAISE EXCEPTION 'apes.purge() removed % snapshots, expected %', n, per_day;
        END IF;
    END LOOP;
END
$p$;

SELECT count(*) AS nsnap, round(count(*) / (1440.0 / :interval_min), 1) AS ndays FROM apes.snapshot \gset
\echo '   history:' :ndays 'days,' :nsnap 'snapshots; timing' :purge_runs 'purges of its oldest day after a warm-up ...'
CALL pg_temp.purge_runs(:'phase', :purge_runs);

SELECT run, round(ms::numeric) AS ms, removed AS snapshots_removed, round(wal / 1048576.0, 1) AS wal_mb
  FROM bench.purge_run WHERE phase = :'phase' ORDER BY run;

\if :explain
\echo '-- the texts no snapshot uses any more, found by NOT EXISTS over statement_history as apes.purge() did up to'
\echo '-- commit dd11e7c (EXPLAIN ANALYZE, rolled back, after the DELETE of the oldest day''s statement rows)'
SELECT array_agg(snapshot_id ORDER BY snapshot_id) AS day_ids
  FROM (SELECT snapshot_id FROM apes.snapshot ORDER BY snapshot_id LIMIT (SELECT per_day FROM bench.series)) s \gset
BEGIN;
SELECT count(*) FROM bench.explain(format('DELETE FROM apes.statement_history WHERE snapshot_id = ANY (%L::bigint[])',
                                          :'day_ids'), '^$', 'ANALYZE') \g /dev/null
SELECT * FROM bench.explain('DELETE FROM apes.statement_text t
                              WHERE NOT EXISTS (SELECT 1 FROM apes.statement_history h
                                                 WHERE h.dbid = t.dbid AND h.userid = t.userid AND h.queryid = t.queryid)',
                            '.', 'ANALYZE, BUFFERS, COSTS OFF');
ROLLBACK;
\endif

SELECT :'phase' = 'full' AS is_full \gset
\if :is_full
INSERT INTO bench.result
SELECT 41, 'purge', format('apes.purge() of 1 day out of %s days (median)', round(f.snapshots / s.per_day::numeric)),
       f.ms, 'ms', NULL::text, NULL::boolean,
       format('%s statement rows of %s deleted; %s MB of WAL', f.rows_removed, f.statement_rows,
              round((f.wal / 1048576)::numeric, 1))
  FROM (SELECT bench.median(array_agg(ms)) AS ms, bench.median(array_agg(wal::float8)) AS wal,
               max(snapshots) AS snapshots, max(statement_rows) AS statement_rows,
               max(statement_rows) / max(snapshots) * max(removed) AS rows_removed
          FROM bench.purge_run WHERE phase = 'full' AND run > 0) f, bench.series s
UNION ALL
SELECT 40, 'purge', format('apes.purge() of 1 day out of %s days (median)', round(m.snapshots / s.per_day::numeric)),
       m.ms, 'ms', NULL::text, NULL::boolean, format('%s MB of WAL', round((m.wal / 1048576)::numeric, 1))
  FROM (SELECT bench.median(array_agg(ms)) AS ms, bench.median(array_agg(wal::float8)) AS wal,
               max(snapshots) AS snapshots
          FROM bench.purge_run WHERE phase = 'small' AND run > 0) m, bench.series s
UNION ALL
SELECT 42, 'purge', 'purge time growth: long history / short history (same work: one day)',
       f.ms / nullif(m.ms, 0), 'x', '<= ' || :t_purge_growth, f.ms / nullif(m.ms, 0) <= :t_purge_growth,
       format('history %s / %s = %sx as large', pg_size_pretty(f.bytes), pg_size_pretty(m.bytes),
              round(f.bytes::numeric / m.bytes, 1))
  FROM (SELECT bench.median(array_agg(ms)) AS ms, max(history_bytes) AS bytes
          FROM bench.purge_run WHERE phase = 'full' AND run > 0) f,
       (SELECT bench.median(array_agg(ms)) AS ms, max(history_bytes) AS bytes
          FROM bench.purge_run WHERE phase = 'small' AND run > 0) m;
\endif
