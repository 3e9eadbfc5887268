-- pg_apes_health history benchmark: apes.snapshot() on the live statistics (run.sh step 2).
--
-- Run 0 is the first snapshot of an empty history: it also stores every statement's text.  Runs 1..:runs are the
-- steady state (texts already stored).  Each run:
--   CHECKPOINT (as in production: snapshots every 15 minutes, checkpoint_timeout 5 minutes, so every snapshot is the
--   first change of its pages after a checkpoint and pays their full-page images), COMMIT;
--   LSN and history sizes before; SELECT apes.snapshot(); COMMIT; LSN and sizes after.
-- Times are server-side (clock_timestamp() around the call and its COMMIT), WAL is pg_current_wal_lsn() difference,
-- bytes are pg_total_relation_size() differences of the five history tables.

\set ON_ERROR_STOP 1
\set QUIET on
\pset footer off
SET client_min_messages = warning;
SET jit = :'jit';

CREATE TABLE bench.snap_run (
    run int, snapshot_id bigint, ms float8, lsn0 pg_lsn, lsn1 pg_lsn, wal bigint,
    statements int, relations int, duration_ms float8,
    d_snapshot bigint, d_statement bigint, d_text bigint, d_relation bigint, d_database bigint, d_total bigint
);

CREATE TABLE bench.snap_run_wal (run int, relation text, records bigint, record_bytes numeric, fpi_bytes numeric,
                                 fpis bigint);

CREATE PROCEDURE pg_temp.snap_runs(runs int)
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
    FOR r IN 0 .. runs LOOP
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
        INSERT INTO bench.snap_run
        SELECT r, id, 1000 * extract(epoch FROM t1 - t0), l0, l1, pg_wal_lsn_diff(l1, l0),
               s.statements, s.relations, s.duration_ms,
               s1.snapshot - s0.snapshot, s1.statement_history - s0.statement_history,
               s1.statement_text - s0.statement_text, s1.relation_history - s0.relation_history,
               s1.database_history - s0.database_history, s1.total - s0.total
          FROM apes.snapshot s WHERE s.snapshot_id = id;
        INSERT INTO bench.snap_run_wal SELECT r, w.* FROM bench.wal_by_relation(l0, l1) w;
        COMMIT;
    END LOOP;
END
$p$;

-- apes.query_stats() up to now (live counters) before any snapshot: no text is stored yet, every text comes from
-- pg_stat_statements itself.  Timed again after the snapshots, when the texts are stored.
SELECT count(*) AS live_statements FROM public.pg_stat_statements \gset
SELECT round(bench.time_ms('SELECT count(*), sum(length(query)) FROM apes.query_stats()', 3)::numeric, 1) AS qs_live_before \gset
\echo '   apes.query_stats() with no history yet (' :live_statements 'live statements, no stored text):' :qs_live_before 'ms (median of 3)'

\echo '   timing' :runs 'snapshots after a first one (each after a CHECKPOINT) ...'
CALL pg_temp.snap_runs(:runs);

SELECT round(bench.time_ms('SELECT count(*), sum(length(query)) FROM apes.query_stats()', 3)::numeric, 1) AS qs_live_after \gset
\echo '   apes.query_stats() since the first snapshot, up to now (texts stored):' :qs_live_after 'ms (median of 3)'
INSERT INTO bench.result VALUES
(38, 'query_stats', format('apes.query_stats() up to now, no history yet (%s live statements, no stored text)',
                           :live_statements), :qs_live_before, 'ms', NULL, NULL,
     'informational; the texts come from apes.statement_texts_now()'),
(39, 'query_stats', 'apes.query_stats() up to now, after the first snapshots (texts stored)', :qs_live_after, 'ms',
     NULL, NULL, 'informational');

\echo
\echo '-- each apes.snapshot() (run 0: first snapshot, stores the texts too; ms: server-side incl. COMMIT)'
SELECT run, snapshot_id AS id, round(ms::numeric, 1) AS ms, round(duration_ms::numeric, 1) AS own_duration_ms,
       statements, relations, round(wal / 1048576.0, 2) AS wal_mb,
       round(d_statement / 1024.0) AS statement_kb, round(d_text / 1024.0) AS text_kb,
       round(d_relation / 1024.0) AS relation_kb, round(d_total / 1024.0) AS total_kb
  FROM bench.snap_run ORDER BY run;

CREATE TEMP VIEW snap_med AS
SELECT bench.median(array_agg(ms)) AS ms, min(ms) AS min_ms, max(ms) AS max_ms,
       bench.median(array_agg(wal::float8)) AS wal,
       bench.median(array_agg(statements::float8)) AS statements,
       bench.median(array_agg(relations::float8)) AS relations,
       bench.median(array_agg(d_statement::float8)) AS d_statement,
       bench.median(array_agg(d_relation::float8)) AS d_relation,
       bench.median(array_agg(d_total::float8)) AS d_total,
       bench.median(array_agg(d_statement::float8 / nullif(statements, 0))) AS per_statement,
       bench.median(array_agg(d_relation::float8 / nullif(relations, 0))) AS per_relation,
       count(*) AS runs
  FROM bench.snap_run WHERE run > 0;

INSERT INTO bench.result
SELECT 10, 'snapshot', 'apes.snapshot() median, steady state, ' || m.statements || ' statements, '
                       || m.relations || ' relations', m.ms, 'ms', '<= ' || :t_snapshot_ms, m.ms <= :t_snapshot_ms,
       format('min %s, max %s over %s runs; first snapshot (with texts) %s ms', round(m.min_ms::numeric),
              round(m.max_ms::numeric), m.runs, (SELECT round(ms::numeric) FROM bench.snap_run WHERE run = 0))
  FROM snap_med m
UNION ALL
SELECT 11, 'snapshot', 'WAL per snapshot (median, after a CHECKPOINT)', m.wal / 1048576, 'MB',
       '<= ' || :t_wal_mb, m.wal / 1048576 <= :t_wal_mb,
       format('first snapshot %s MB', (SELECT round(wal / 1048576.0, 2) FROM bench.snap_run WHERE run = 0))
  FROM snap_med m
UNION ALL
SELECT 12, 'snapshot', 'bytes stored per snapshot (median, all history tables)', m.d_total / 1048576, 'MB', NULL, NULL,
       format('first snapshot %s MB, of which statement texts %s MB',
              (SELECT round(d_total / 1048576.0, 2) FROM bench.snap_run WHERE run = 0),
              (SELECT round(d_text / 1048576.0, 2) FROM bench.snap_run WHERE run = 0))
  FROM snap_med m
UNION ALL
SELECT 13, 'snapshot', 'statement_history bytes per snapshot per 1,000 statements', 1000 * m.per_statement, 'kB/1000',
       NULL, NULL, format('%s bytes a statement (heap + primary key)', round(m.per_statement::numeric))
  FROM snap_med m
UNION ALL
SELECT 14, 'snapshot', 'relation_history bytes per snapshot per 1,000 relations', 1000 * m.per_relation, 'kB/1000',
       NULL, NULL, format('%s bytes a relation (heap + 2 indexes)', round(m.per_relation::numeric))
  FROM snap_med m
UNION ALL
SELECT 15, 'snapshot', 'projected history size, 30 days of 15-minute snapshots', m.d_total * 2880 / 1073741824.0,
       'GB', NULL, NULL, format('%s GB statements + %s GB relations',
                               round((m.d_statement * 2880 / 1073741824.0)::numeric, 2),
                               round((m.d_relation * 2880 / 1073741824.0)::numeric, 2))
  FROM snap_med m;
UPDATE bench.result SET value = value / 1024 WHERE ord IN (13, 14);   -- bytes per 1,000 -> kB per 1,000

\echo
\echo '-- WAL of the median-WAL steady run, by relation (pg_walinspect; FPI = full-page images)'
SELECT run AS wal_run FROM bench.snap_run WHERE run > 0 ORDER BY wal, run
 OFFSET (SELECT (count(*) - 1) / 2 FROM bench.snap_run WHERE run > 0) LIMIT 1 \gset
SELECT relation, records, round(record_bytes / 1024) AS kb, round(fpi_bytes / 1024) AS fpi_kb, fpis
  FROM bench.snap_run_wal WHERE run = :wal_run AND record_bytes >= 8192 ORDER BY record_bytes DESC;

\if :explain
\echo
\echo '-- where the time goes: the parts of a snapshot, run alone (median of 3, ms); parts 3-6 read the same relations'
\echo '-- four ways (3: what apes.snapshot() did up to commit dd11e7c; 6 plus one bloat estimate: what it does since 7e4fc5c)'
CREATE TEMP TABLE part (ord int, part text, sql text);
INSERT INTO part VALUES
(1, 'statements: SELECT of the INSERT INTO statement_history (pg_stat_statements(false))', $q$
SELECT s.dbid, s.userid, s.queryid, s.toplevel, s.calls, s.total_exec_time,
       s.calls * (s.stddev_exec_time ^ 2 + s.mean_exec_time ^ 2), s.plans, s.total_plan_time, s.rows,
       s.shared_blks_hit, s.shared_blks_read, s.shared_blks_dirtied, s.shared_blks_written,
       s.temp_blks_read, s.temp_blks_written, s.blk_read_time, s.blk_write_time, s.wal_bytes
  FROM public.pg_stat_statements(false) s WHERE s.queryid IS NOT NULL$q$),
(2, 'apes.bloat_estimates(), one call', $q$SELECT * FROM apes.bloat_estimates()$q$),
(3, 'relations: 4 statistics views, apes.bloat_estimates() joined in each UNION branch', $q$
SELECT 1, t.relid, c.relkind, t.relid, t.seq_scan, t.seq_tup_read, t.idx_scan, t.idx_tup_fetch, t.n_tup_ins,
       t.n_tup_upd, t.n_tup_del, t.n_tup_hot_upd, t.n_live_tup, t.n_dead_tup, t.n_mod_since_analyze,
       io.heap_blks_read, io.heap_blks_hit, e.total_bytes, e.est_wasted_bytes
  FROM pg_stat_user_tables t
  JOIN pg_class c ON c.oid = t.relid
  LEFT JOIN pg_statio_user_tables io ON io.relid = t.relid
  LEFT JOIN apes.bloat_estimates() e ON e.relation = t.relid
 WHERE c.relkind IN ('r', 'm')
   AND (t.seq_scan + coalesce(t.idx_scan, 0) + t.n_tup_ins + t.n_tup_upd + t.n_tup_del
        + coalesce(io.heap_blks_read, 0) + coalesce(io.heap_blks_hit, 0)) > 0
UNION ALL
SELECT 1, i.indexrelid, 'i', i.relid, NULL, NULL, i.idx_scan, i.idx_tup_fetch, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, io.idx_blks_read, io.idx_blks_hit, e.total_bytes, e.est_wasted_bytes
  FROM pg_stat_user_indexes i
  LEFT JOIN pg_statio_user_indexes io ON io.indexrelid = i.indexrelid
  LEFT JOIN apes.bloat_estimates() e ON e.relation = i.indexrelid
 WHERE (i.idx_scan + coalesce(io.idx_blks_read, 0) + coalesce(io.idx_blks_hit, 0)) > 0$q$),
(4, 'relations: 4 statistics views, apes.bloat_estimates() once (MATERIALIZED CTE)', $q$
WITH e AS MATERIALIZED (SELECT relation, total_bytes, est_wasted_bytes FROM apes.bloat_estimates())
SELECT 1, t.relid, c.relkind, t.relid, t.seq_scan, t.seq_tup_read, t.idx_scan, t.idx_tup_fetch, t.n_tup_ins,
       t.n_tup_upd, t.n_tup_del, t.n_tup_hot_upd, t.n_live_tup, t.n_dead_tup, t.n_mod_since_analyze,
       io.heap_blks_read, io.heap_blks_hit, e.total_bytes, e.est_wasted_bytes
  FROM pg_stat_user_tables t
  JOIN pg_class c ON c.oid = t.relid
  LEFT JOIN pg_statio_user_tables io ON io.relid = t.relid
  LEFT JOIN e ON e.relation = t.relid
 WHERE c.relkind IN ('r', 'm')
   AND (t.seq_scan + coalesce(t.idx_scan, 0) + t.n_tup_ins + t.n_tup_upd + t.n_tup_del
        + coalesce(io.heap_blks_read, 0) + coalesce(io.heap_blks_hit, 0)) > 0
UNION ALL
SELECT 1, i.indexrelid, 'i', i.relid, NULL, NULL, i.idx_scan, i.idx_tup_fetch, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, io.idx_blks_read, io.idx_blks_hit, e.total_bytes, e.est_wasted_bytes
  FROM pg_stat_user_indexes i
  LEFT JOIN pg_statio_user_indexes io ON io.indexrelid = i.indexrelid
  LEFT JOIN e ON e.relation = i.indexrelid
 WHERE (i.idx_scan + coalesce(io.idx_blks_read, 0) + coalesce(io.idx_blks_hit, 0)) > 0$q$),
(5, 'relations: 4 statistics views, no bloat estimate', $q$
SELECT 1, t.relid, c.relkind, t.relid, t.seq_scan, t.seq_tup_read, t.idx_scan, t.idx_tup_fetch, t.n_tup_ins,
       t.n_tup_upd, t.n_tup_del, t.n_tup_hot_upd, t.n_live_tup, t.n_dead_tup, t.n_mod_since_analyze,
       io.heap_blks_read, io.heap_blks_hit
  FROM pg_stat_user_tables t
  JOIN pg_class c ON c.oid = t.relid
  LEFT JOIN pg_statio_user_tables io ON io.relid = t.relid
 WHERE c.relkind IN ('r', 'm')
   AND (t.seq_scan + coalesce(t.idx_scan, 0) + t.n_tup_ins + t.n_tup_upd + t.n_tup_del
        + coalesce(io.heap_blks_read, 0) + coalesce(io.heap_blks_hit, 0)) > 0
UNION ALL
SELECT 1, i.indexrelid, 'i', i.relid, NULL, NULL, i.idx_scan, i.idx_tup_fetch, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, io.idx_blks_read, io.idx_blks_hit
  FROM pg_stat_user_indexes i
  LEFT JOIN pg_statio_user_indexes io ON io.indexrelid = i.indexrelid
 WHERE (i.idx_scan + coalesce(io.idx_blks_read, 0) + coalesce(io.idx_blks_hit, 0)) > 0$q$),
(6, 'relations: one pass over pg_class (pg_stat_get_*()), no bloat estimate', $q$
SELECT 1, c.oid, c.relkind, coalesce(x.indrelid, c.oid),
       CASE WHEN c.relkind <> 'i' THEN pg_stat_get_numscans(c.oid) END,
       CASE WHEN c.relkind <> 'i' THEN pg_stat_get_tuples_returned(c.oid) END,
       CASE WHEN c.relkind = 'i' THEN pg_stat_get_numscans(c.oid) ELSE ix.idx_scan END,
       CASE WHEN c.relkind = 'i' THEN pg_stat_get_tuples_fetched(c.oid) ELSE ix.idx_tup_fetch END,
       CASE WHEN c.relkind <> 'i' THEN pg_stat_get_tuples_inserted(c.oid) END,
       CASE WHEN c.relkind <> 'i' THEN pg_stat_get_tuples_updated(c.oid) END,
       CASE WHEN c.relkind <> 'i' THEN pg_stat_get_tuples_deleted(c.oid) END,
       CASE WHEN c.relkind <> 'i' THEN pg_stat_get_tuples_hot_updated(c.oid) END,
       CASE WHEN c.relkind <> 'i' THEN pg_stat_get_live_tuples(c.oid) END,
       CASE WHEN c.relkind <> 'i' THEN pg_stat_get_dead_tuples(c.oid) END,
       CASE WHEN c.relkind <> 'i' THEN pg_stat_get_mod_since_analyze(c.oid) END,
       pg_stat_get_blocks_fetched(c.oid) - pg_stat_get_blocks_hit(c.oid), pg_stat_get_blocks_hit(c.oid)
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_index x ON x.indexrelid = c.oid AND c.relkind = 'i'
  LEFT JOIN LATERAL (SELECT sum(pg_stat_get_numscans(i.indexrelid))::bigint AS idx_scan,
                            sum(pg_stat_get_tuples_fetched(i.indexrelid))::bigint AS idx_tup_fetch
                       FROM pg_index i WHERE i.indrelid = c.oid AND c.relkind <> 'i') ix ON true
 WHERE c.relkind IN ('r', 'm', 'i')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
   AND pg_stat_get_numscans(c.oid) + pg_stat_get_blocks_fetched(c.oid)
       + CASE WHEN c.relkind <> 'i' THEN pg_stat_get_tuples_inserted(c.oid) + pg_stat_get_tuples_updated(c.oid)
                                         + pg_stat_get_tuples_deleted(c.oid) + coalesce(ix.idx_scan, 0) ELSE 0 END > 0$q$);

SELECT ord, part, round(bench.time_ms(sql)::numeric, 1) AS median_ms,
       bench.count_rows(sql) AS rows,
       (SELECT count(*) FROM bench.explain(sql, 'Function Scan on bloat_estimates', 'ANALYZE, COSTS OFF, TIMING OFF') l
         WHERE l ~ 'Function Scan') AS bloat_estimates_calls
  FROM part ORDER BY ord;

-- (The foreign-key cost measured here before 2026-11-28 08:35 is gone: the history tables no longer carry foreign keys.)

\echo '-- plan of part 3: the two calls of apes.bloat_estimates() and what they cost'
SELECT * FROM bench.explain((SELECT sql FROM part WHERE ord = 3),
                            '(Function Scan|Append|Hash (Left|Right) Join|->  Hash  )', 'ANALYZE, COSTS OFF');
\endif
