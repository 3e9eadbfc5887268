-- pg_apes_health history benchmark: synthetic history (run.sh step 3), written straight into the extension's
-- tables.  Run twice, with -v phase=small then -v phase=full:
--   small: empties the history (the real snapshots of step 2 go), then writes the most recent :small_days days;
--   full:  writes the older days, so the history covers :days days.
-- Snapshot i (0 <= i < N = :days * 1440 / :interval_min) has snapshot_id i + 1 and is taken at
-- t_end - (N - 1 - i) * :interval_min minutes, t_end being a minute before the small phase began: the history ends
-- just before now, so apes.purge()'s cutoff (clock_timestamp() - older_than) falls inside it.  All snapshots share
-- this server's start time and pg_stat_statements reset time: one series.
--
-- Statements: :n_stmts in each snapshot, :churn of them replaced each day (statement q is present on day d when
-- churn * d <= q < churn * d + n_stmts), so a purged day takes the texts of :churn statements with it.  Statement q's
-- counters grow linearly from its first snapshot: calls = rate * n after n intervals, mean time 0.05 .. 20 ms; one
-- statement in 97 is 3 times slower over the last day (apes.query_regressions() should find those).
-- Relations: the relations the last real snapshot stored, in each of the last :rel_days days' snapshots.
-- Database: one row per snapshot.

\set ON_ERROR_STOP 1
\set QUIET on
\pset footer off
SET client_min_messages = warning;
SET jit = off;
SET work_mem = '64MB';
-- Bulk load: no foreign-key checks (session_replication_role = replica skips the RI triggers, as pg_restore
-- --disable-triggers does; every row written references a snapshot written just before it).
SET session_replication_role = replica;

SELECT :'phase' = 'small' AS is_small \gset

\if :is_small
-- The relations a real snapshot stores (the last one of step 2), before the history is emptied.
CREATE TABLE bench.rel_tmpl AS
SELECT relid, kind, table_relid, total_bytes, est_wasted_bytes
  FROM apes.relation_history WHERE snapshot_id = (SELECT max(snapshot_id) FROM bench.snap_run);

-- every table of the extension's schema: the history tables, whichever this version of the extension has
SELECT string_agg(c.oid::regclass::text, ', ') AS apes_tables FROM pg_class c
 WHERE c.relnamespace = 'apes'::regnamespace AND c.relkind = 'r' \gset
TRUNCATE :apes_tables;

CREATE TABLE bench.series AS
SELECT (:days * (1440 / :interval_min))::int AS n,                          -- snapshots in all
       (1440 / :interval_min)::int AS per_day,
       date_trunc('minute', now()) - interval '1 minute' AS t_end,
       make_interval(mins => :interval_min) AS step,
       pg_postmaster_start_time() AS server_start,
       (SELECT stats_reset FROM public.pg_stat_statements_info) AS pgss_reset,
       (SELECT dealloc FROM public.pg_stat_statements_info) AS pgss_dealloc,
       (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()) AS db_stats_reset,
       (SELECT oid FROM pg_database WHERE datname = current_database()) AS dbid,
       (SELECT oid FROM pg_roles WHERE rolname = current_user) AS userid;

-- One row per synthetic statement, with its window of snapshots and its per-interval rates.
CREATE TABLE bench.stmt AS
SELECT q, queryid, first_i, least(last_i, n - 1) AS last_i,
       1 + h1 % 400 AS rate,                                  -- calls per interval
       0.05 + (h2 % 2000) / 100.0 AS mean_ms,                 -- mean execution time
       q % 97 = 3 AS regressed,                               -- 3x slower over the last day
       h1, h2
  FROM (SELECT q, ('x' || substr(md5('apes bench q' || q), 1, 16))::bit(64)::bigint AS queryid,
               CASE WHEN q < :n_stmts THEN 0 ELSE ((q - :n_stmts) / :churn + 1) * per_day END AS first_i,
               CASE WHEN :churn = 0 THEN n - 1 ELSE (q / greatest(:churn, 1) + 1) * per_day - 1 END AS last_i,
               abs(hashint4(q)) AS h1, abs(hashint4(q + 1000003)) AS h2, n
          FROM generate_series(0, :n_stmts + :churn * (:days - 1) - 1) q, bench.series) x;
CREATE INDEX ON bench.stmt (first_i, last_i);
ANALYZE bench.stmt;

\endif

CREATE OR REPLACE PROCEDURE bench.gen_history(lo int, hi int)     -- snapshots lo .. hi - 1, one day per transaction
LANGUAGE plpgsql AS $p$
DECLARE
    s     bench.series;
    a     int;
    b     int;
    rel_from int;
    has_last_seen boolean := EXISTS (SELECT 1 FROM pg_attribute
                                      WHERE attrelid = 'apes.statement_text'::regclass AND attname = 'last_seen'
                                        AND NOT attisdropped);
BEGIN
    SELECT * INTO s FROM bench.series;
    rel_from := s.n - current_setting('bench.rel_days')::int * s.per_day;
    a := lo;
    WHILE a < hi LOOP
        b := least(a + s.per_day, hi);     -- [a, b)
        INSERT INTO apes.snapshot (snapshot_id, taken_at, server_start, db_stats_reset, pgss_status, pgss_reset,
                                   pgss_dealloc, statements, relations, duration_ms)
        OVERRIDING SYSTEM VALUE
        SELECT i + 1, s.t_end - (s.n - 1 - i) * s.step, s.server_start, s.db_stats_reset, 'ok', s.pgss_reset,
               s.pgss_dealloc,
               (SELECT count(*) FROM bench.stmt t WHERE i BETWEEN t.first_i AND t.last_i),
               CASE WHEN i >= rel_from THEN (SELECT count(*) FROM bench.rel_tmpl) ELSE 0 END, 1000
          FROM generate_series(a, b - 1) i;

        INSERT INTO apes.statement_history
        SELECT i + 1, s.dbid, s.userid, t.queryid, true,
               t.rate * k.n,
               t.rate * t.mean_ms * (k.n - k.reg + 3 * k.reg),
               t.rate * 1.25 * t.mean_ms ^ 2 * (k.n - k.reg + 9 * k.reg),
               0, 0,
               t.rate * k.n * (t.h1 % 10),
               t.rate * k.n * (2 + t.h2 % 50), t.rate * k.n * (t.h1 % 3), t.rate * k.n * (t.h2 % 2), 0,
               0, CASE WHEN t.q % 500 = 1 THEN t.rate * k.n * 100 ELSE 0 END, 0, 0,
               (t.rate * k.n * (t.h2 % 300))::numeric
          FROM generate_series(a, b - 1) i
          JOIN bench.stmt t ON i BETWEEN t.first_i AND t.last_i
         CROSS JOIN LATERAL (SELECT i - t.first_i + 1 AS n,
                                    CASE WHEN t.regressed
                                         THEN greatest(0, i - greatest(s.n - s.per_day, t.first_i) + 1)
                                         ELSE 0 END AS reg) k;

        IF b > rel_from THEN
            INSERT INTO apes.relation_history
            SELECT i + 1, r.relid, r.kind, r.table_relid,
                   CASE WHEN r.kind <> 'i' THEN i END, CASE WHEN r.kind <> 'i' THEN 10 * i END,
                   i * (r.relid::bigint % 5), i * (r.relid::bigint % 3),
                   CASE WHEN r.kind <> 'i' THEN i % 7 END, CASE WHEN r.kind <> 'i' THEN 0 END,
                   CASE WHEN r.kind <> 'i' THEN 0 END, CASE WHEN r.kind <> 'i' THEN 0 END,
                   CASE WHEN r.kind <> 'i' THEN 0 END, CASE WHEN r.kind <> 'i' THEN 0 END,
                   CASE WHEN r.kind <> 'i' THEN 0 END,
                   i % 11, 3 * i, r.total_bytes, r.est_wasted_bytes
              FROM generate_series(greatest(a, rel_from), b - 1) i, bench.rel_tmpl r;
        END IF;

        INSERT INTO apes.database_history
        SELECT i + 1, 5, 1000 * i, i, 10 * i, 1000 * i, 0, 0, 0, i, 0, 0, 0, 1e6 * i, 1e5 * i, 1e3 * i
          FROM generate_series(a, b - 1) i;

        -- texts, with last_seen (the time of the statement's last snapshot) where this version has that column
        EXECUTE format($i$
            INSERT INTO apes.statement_text (dbid, userid, queryid, query, first_seen%s)
            SELECT $1, $2, t.queryid,
                   format('SELECT /* synthetic statement %%s */ id, a, b FROM s%%s.t%%s WHERE a = $1 AND b > $2',
                          t.q, t.q %% 10, lpad((t.q %% 10000)::text, 5, '0')),
                   $3 - ($4 - 1 - t.first_i) * $5%s
              FROM bench.stmt t
             WHERE t.first_i < $6 AND t.last_i >= $7
            ON CONFLICT DO NOTHING$i$,
            CASE WHEN has_last_seen THEN ', last_seen' ELSE '' END,
            CASE WHEN has_last_seen THEN ', $3 - ($4 - 1 - t.last_i) * $5' ELSE '' END)
        USING s.dbid, s.userid, s.t_end, s.n, s.step, b, a;
        COMMIT;
        a := b;
    END LOOP;
END
$p$;

SELECT set_config('bench.rel_days', :'rel_days', false) \g /dev/null
SELECT n - :small_days * per_day AS small_lo, n AS n_all FROM bench.series \gset

\if :is_small
CALL bench.gen_history(:small_lo, :n_all);
\else
CALL bench.gen_history(0, :small_lo);
\endif
SELECT setval(pg_get_serial_sequence('apes.snapshot', 'snapshot_id'), :n_all) \g /dev/null

-- what autovacuum would have done after so many inserts: hint bits, visibility map, planner statistics
SELECT string_agg(c.oid::regclass::text, ', ') AS apes_tables FROM pg_class c
 WHERE c.relnamespace = 'apes'::regnamespace AND c.relkind = 'r' \gset
VACUUM (ANALYZE) :apes_tables;
CHECKPOINT;

SELECT count(*) AS snapshots, min(taken_at)::timestamp(0) AS first_taken_at, max(taken_at)::timestamp(0) AS last_taken_at,
       (SELECT count(*) FROM apes.statement_history) AS statement_rows,
       (SELECT count(*) FROM apes.statement_text) AS texts,
       (SELECT count(*) FROM apes.relation_history) AS relation_rows,
       (SELECT pg_size_pretty(total) FROM bench.hist_size()) AS history_size,
       pg_size_pretty(pg_total_relation_size('apes.statement_history')) AS statement_history_size,
       pg_size_pretty(pg_total_relation_size('apes.relation_history')) AS relation_history_size
  FROM apes.snapshot;
