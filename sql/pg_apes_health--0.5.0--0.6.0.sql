/* pg_apes_health 0.5.0 -> 0.6.0: the server and maintenance areas, acknowledgements and growth (issue 14), index
 * advice checked against the workload's plans (issue 15), an HTML report and Prometheus metrics (issue 16).
 *
 * Safety: dropped and replaced functions are members of this extension, so this cannot adopt a planted object; the
 * new ones are created plainly, so a planted one makes the update fail.
 * test/upgrade_test.sh checks that an update from 0.1.0 gives the same objects and privileges as a fresh install.
 */
\echo Use "ALTER EXTENSION pg_apes_health UPDATE TO '0.6.0'" to load this file. \quit

-- ==== issue 14: server history ====
-- What the server and maintenance areas judge over time, kept by apes.snapshot() beside the rest of the history.

-- The filesystems holding the data directory and pg_wal (statvfs() from the backend; pg_wal may be a link to
-- another filesystem): sizes in bytes, free space as an unprivileged process sees it.
CREATE FUNCTION apes.filesystems()
RETURNS TABLE (kind text, path text, total_bytes bigint, free_bytes bigint, used_pct double precision)
AS 'MODULE_PATHNAME', 'apes_filesystems'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION apes.filesystems() IS 'free space of the filesystems of the data directory and pg_wal';

-- The checkpointer's counters in one shape on every version: pg_stat_checkpointer from 17 (backends' own fsyncs in
-- pg_stat_io), pg_stat_bgwriter before.
CREATE FUNCTION apes.checkpoint_counters(OUT checkpoints_timed bigint, OUT checkpoints_req bigint,
                                         OUT write_time double precision, OUT sync_time double precision,
                                         OUT buffers_checkpoint bigint, OUT buffers_backend_fsync bigint,
                                         OUT stats_reset timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF to_regclass('pg_catalog.pg_stat_checkpointer') IS NOT NULL THEN
        EXECUTE $q$SELECT c.num_timed, c.num_requested, c.write_time, c.sync_time, c.buffers_written,
                          (SELECT sum(i.fsyncs)::bigint FROM pg_catalog.pg_stat_io i
                            WHERE i.backend_type OPERATOR(pg_catalog.=) 'client backend'),
                          c.stats_reset
                     FROM pg_catalog.pg_stat_checkpointer c$q$
           INTO checkpoints_timed, checkpoints_req, write_time, sync_time, buffers_checkpoint,
                buffers_backend_fsync, stats_reset;
    ELSE
        EXECUTE $q$SELECT b.checkpoints_timed, b.checkpoints_req, b.checkpoint_write_time, b.checkpoint_sync_time,
                          b.buffers_checkpoint, b.buffers_backend_fsync, b.stats_reset
                     FROM pg_catalog.pg_stat_bgwriter b$q$
           INTO checkpoints_timed, checkpoints_req, write_time, sync_time, buffers_checkpoint,
                buffers_backend_fsync, stats_reset;
    END IF;
END
$$;
COMMENT ON FUNCTION apes.checkpoint_counters() IS
    'checkpoints timed and requested, their write and sync time, and backends'' own fsyncs, on every version';

-- Server-wide counters at each snapshot: WAL position, checkpoints, archiver, filesystems, autovacuum workers.
CREATE TABLE apes.server_history (
    snapshot_id            bigint PRIMARY KEY,
    wal_lsn                pg_lsn,
    checkpoints_timed      bigint,
    checkpoints_req        bigint,
    checkpoint_write_time  double precision,
    checkpoint_sync_time   double precision,
    buffers_checkpoint     bigint,
    buffers_backend_fsync  bigint,
    checkpointer_reset     timestamptz,
    archived_count         bigint,
    failed_count           bigint,
    last_archived_time     timestamptz,
    last_failed_time       timestamptz,
    archiver_reset         timestamptz,
    data_fs_bytes          bigint,
    data_fs_free_bytes     bigint,
    wal_fs_bytes           bigint,
    wal_fs_free_bytes      bigint,
    slots_retained_bytes   numeric,
    autovacuum_workers     integer,   -- autovacuum workers running at the moment
    autovacuum_max_workers integer
);
COMMENT ON TABLE apes.server_history IS 'server-wide counters at each snapshot: WAL, checkpoints, archiver, disk, autovacuum';

-- Every database's counters and size at each snapshot (database_history keeps this database's in more detail).
CREATE TABLE apes.server_database_history (
    snapshot_id        bigint NOT NULL,
    datid              oid NOT NULL,
    datname            name NOT NULL,
    xact_commit        bigint,
    xact_rollback      bigint,
    deadlocks          bigint,
    conflicts          bigint,
    temp_files         bigint,
    temp_bytes         bigint,
    checksum_failures  bigint,
    checksum_last_failure timestamptz,
    stats_reset        timestamptz,
    size_bytes         bigint,           -- NULL where the snapshot's role may not measure it
    PRIMARY KEY (snapshot_id, datid)
);
COMMENT ON TABLE apes.server_database_history IS 'pg_stat_database counters and the size of every database at each snapshot';

-- Server settings, kept as changes: a row when a setting's value differs from its latest row (the first snapshot
-- keeps every setting).  The value at a snapshot is the latest row at or before it.
CREATE TABLE apes.settings_history (
    snapshot_id  bigint NOT NULL,
    name         text NOT NULL,
    setting      text,
    unit         text,
    source       text,
    PRIMARY KEY (snapshot_id, name)
);
CREATE INDEX settings_history_name_idx ON apes.settings_history (name, snapshot_id);
COMMENT ON TABLE apes.settings_history IS 'pg_settings values, one row per setting each time its value changed';

-- Sequences of this database at each snapshot whose value moved since their latest row, for days-to-exhaustion.
CREATE TABLE apes.sequence_history (
    snapshot_id  bigint NOT NULL,
    seqrelid     oid NOT NULL,
    last_value   bigint,
    PRIMARY KEY (snapshot_id, seqrelid)
);
COMMENT ON TABLE apes.sequence_history IS 'sequence values at the snapshots where they moved';

REVOKE ALL ON FUNCTION apes.filesystems() FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.checkpoint_counters() FROM PUBLIC;
REVOKE ALL ON apes.server_history, apes.server_database_history, apes.settings_history, apes.sequence_history FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apes.filesystems() TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.checkpoint_counters() TO pg_monitor;
GRANT SELECT ON apes.server_history, apes.server_database_history, apes.settings_history, apes.sequence_history
    TO pg_monitor;
SELECT pg_catalog.pg_extension_config_dump('apes.server_history', '');
SELECT pg_catalog.pg_extension_config_dump('apes.server_database_history', '');
SELECT pg_catalog.pg_extension_config_dump('apes.settings_history', '');
SELECT pg_catalog.pg_extension_config_dump('apes.sequence_history', '');

-- ==== functions replaced in 0.6.0 (their text is the install script's) ====
CREATE OR REPLACE FUNCTION apes.snapshot()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET stats_fetch_consistency = snapshot
AS $$
DECLARE
    started   timestamptz := clock_timestamp();
    pgss      record;
    id        bigint;
    nstmts    integer := 0;
    nrels     integer := 0;
    nfindings integer;
    ss_reset  timestamptz;
    ss_dealloc bigint;
    mydb      oid := (SELECT oid FROM pg_database WHERE datname = current_database());
BEGIN
    IF pg_is_in_recovery() THEN
        RAISE NOTICE 'apes.snapshot() does nothing on a standby: history is kept on the primary';
        RETURN NULL;
    END IF;
    IF current_setting('transaction_read_only')::boolean THEN
        RAISE NOTICE 'apes.snapshot() does nothing in a read-only transaction';
        RETURN NULL;
    END IF;
    -- one snapshot at a time per database; a second caller returns at once
    IF NOT pg_try_advisory_xact_lock(hashtext('pg_apes_health snapshot')::bigint) THEN
        RAISE NOTICE 'another apes.snapshot() is running in this database; this one does nothing';
        RETURN NULL;
    END IF;

    pgss := apes.pgss_status();
    IF pgss.status = 'ok' THEN
        EXECUTE format('SELECT stats_reset, dealloc FROM %I.pg_stat_statements_info', pgss.schema_name)
           INTO ss_reset, ss_dealloc;
    END IF;

    INSERT INTO apes.snapshot (taken_at, server_start, db_stats_reset, pgss_status, pgss_reset, pgss_dealloc,
                               statements, relations, duration_ms)
    SELECT started, pg_postmaster_start_time(), d.stats_reset, pgss.status, ss_reset, ss_dealloc, 0, 0, 0
      FROM pg_stat_database d WHERE d.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
    RETURNING snapshot_id INTO id;

    IF pgss.status = 'ok' THEN
        EXECUTE format($q$
            INSERT INTO apes.statement_history
            SELECT $1, s.dbid, s.userid, s.queryid, s.toplevel, s.calls, s.total_exec_time,
                   s.calls * (s.stddev_exec_time ^ 2 + s.mean_exec_time ^ 2), s.plans, s.total_plan_time, s.rows,
                   s.shared_blks_hit, s.shared_blks_read, s.shared_blks_dirtied, s.shared_blks_written,
                   s.temp_blks_read, s.temp_blks_written, %s, s.wal_bytes
              FROM %I.pg_stat_statements(false) s
             WHERE s.queryid IS NOT NULL AND s.dbid = $2$q$, apes.pgss_io_time_columns(pgss.schema_name),
                   pgss.schema_name) USING id, mydb;
        GET DIAGNOSTICS nstmts = ROW_COUNT;
        -- texts only for statements not seen before (reading texts costs a pass over the texts file)
        IF EXISTS (SELECT 1 FROM apes.statement_history h
                    WHERE h.snapshot_id = id
                      AND NOT EXISTS (SELECT 1 FROM apes.statement_text t
                                       WHERE t.dbid = h.dbid AND t.userid = h.userid AND t.queryid = h.queryid)) THEN
            EXECUTE format($q$
                INSERT INTO apes.statement_text (dbid, userid, queryid, query, first_seen, last_seen)
                SELECT DISTINCT ON (s.dbid, s.userid, s.queryid) s.dbid, s.userid, s.queryid, s.query, $1, $1
                  FROM %I.pg_stat_statements(true) s
                 WHERE s.queryid IS NOT NULL AND s.dbid = $2
                   AND NOT EXISTS (SELECT 1 FROM apes.statement_text t
                                    WHERE t.dbid = s.dbid AND t.userid = s.userid AND t.queryid = s.queryid)
                ON CONFLICT DO NOTHING$q$, pgss.schema_name) USING started, mydb;
        END IF;
        -- texts still in use: last_seen moves at most once a day, so the purge can go by it alone
        UPDATE apes.statement_text t SET last_seen = started
          FROM apes.statement_history h
         WHERE h.snapshot_id = id AND t.dbid = h.dbid AND t.userid = h.userid AND t.queryid = h.queryid
           AND t.last_seen < started - interval '1 day';
    END IF;

    -- tables and indexes of the user schemas: counters in one pass over pg_class with the pg_stat_get_*() functions
    -- (the statistics views join pg_class and pg_index again per relation), sizes and bloat estimates from one call
    -- of apes.bloat_estimates() (stat() of the files: no user relation is locked).  Never-used relations (all
    -- counters zero) are not stored.
    INSERT INTO apes.relation_history
    WITH e AS MATERIALIZED (SELECT relation, total_bytes, est_wasted_bytes FROM apes.bloat_estimates()),
         ix AS (SELECT x.indrelid, sum(pg_stat_get_numscans(x.indexrelid)) AS scans,
                       sum(pg_stat_get_tuples_fetched(x.indexrelid)) AS fetched
                  FROM pg_index x GROUP BY x.indrelid),
         r AS (SELECT c.oid, c.relkind, CASE WHEN c.relkind = 'i' THEN x.indrelid ELSE c.oid END AS table_relid,
                      pg_stat_get_numscans(c.oid) AS scans, pg_stat_get_tuples_returned(c.oid) AS returned,
                      pg_stat_get_tuples_fetched(c.oid) AS fetched, pg_stat_get_tuples_inserted(c.oid) AS ins,
                      pg_stat_get_tuples_updated(c.oid) AS upd, pg_stat_get_tuples_deleted(c.oid) AS del,
                      pg_stat_get_tuples_hot_updated(c.oid) AS hot, pg_stat_get_live_tuples(c.oid) AS live,
                      pg_stat_get_dead_tuples(c.oid) AS dead, pg_stat_get_mod_since_analyze(c.oid) AS mods,
                      pg_stat_get_blocks_fetched(c.oid) - pg_stat_get_blocks_hit(c.oid) AS blks_read,
                      pg_stat_get_blocks_hit(c.oid) AS blks_hit
                 FROM pg_class c
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 LEFT JOIN pg_index x ON x.indexrelid = c.oid
                WHERE c.relkind IN ('r', 'm', 'i')
                  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
                  AND n.nspname !~ '^pg_toast_temp_' AND n.nspname !~ '^pg_temp_')
    SELECT id, r.oid, r.relkind, r.table_relid,
           CASE WHEN r.relkind <> 'i' THEN r.scans END, CASE WHEN r.relkind <> 'i' THEN r.returned END,
           CASE WHEN r.relkind = 'i' THEN r.scans ELSE coalesce(ix.scans, 0) END,
           CASE WHEN r.relkind = 'i' THEN r.fetched ELSE r.fetched + coalesce(ix.fetched, 0) END,
           CASE WHEN r.relkind <> 'i' THEN r.ins END, CASE WHEN r.relkind <> 'i' THEN r.upd END,
           CASE WHEN r.relkind <> 'i' THEN r.del END, CASE WHEN r.relkind <> 'i' THEN r.hot END,
           CASE WHEN r.relkind <> 'i' THEN r.live END, CASE WHEN r.relkind <> 'i' THEN r.dead END,
           CASE WHEN r.relkind <> 'i' THEN r.mods END, r.blks_read, r.blks_hit, e.total_bytes, e.est_wasted_bytes
      FROM r
      LEFT JOIN e ON e.relation = r.oid
      LEFT JOIN ix ON ix.indrelid = r.oid AND r.relkind <> 'i'
     WHERE r.scans + coalesce(ix.scans, 0) + r.ins + r.upd + r.del + r.blks_read + r.blks_hit > 0;
    GET DIAGNOSTICS nrels = ROW_COUNT;

    INSERT INTO apes.pool_history
    SELECT id, p.database, p.role, p.application, p.client_addr, p.sessions, p.active, p.idle_in_transaction,
           p.waiting
      FROM apes.pools() p;

    INSERT INTO apes.database_history
    SELECT id, d.numbackends, d.xact_commit, d.xact_rollback, d.blks_read, d.blks_hit, d.temp_files, d.temp_bytes,
           d.deadlocks, d.sessions, d.sessions_abandoned, d.sessions_fatal, d.sessions_killed, d.session_time,
           d.active_time, d.idle_in_transaction_time
      FROM pg_stat_database d WHERE d.datname = current_database();

    -- the server: WAL position, checkpoints, archiver, filesystems, replication slots, autovacuum workers
    INSERT INTO apes.server_history
    SELECT id, CASE WHEN NOT pg_is_in_recovery() THEN pg_current_wal_lsn() END,
           c.checkpoints_timed, c.checkpoints_req, c.write_time, c.sync_time, c.buffers_checkpoint,
           c.buffers_backend_fsync, c.stats_reset,
           a.archived_count, a.failed_count, a.last_archived_time, a.last_failed_time, a.stats_reset,
           (SELECT f.total_bytes FROM apes.filesystems() f WHERE f.kind = 'data'),
           (SELECT f.free_bytes FROM apes.filesystems() f WHERE f.kind = 'data'),
           (SELECT f.total_bytes FROM apes.filesystems() f WHERE f.kind = 'wal'),
           (SELECT f.free_bytes FROM apes.filesystems() f WHERE f.kind = 'wal'),
           (SELECT sum(pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)) FROM pg_replication_slots s
             WHERE s.restart_lsn IS NOT NULL),
           (SELECT count(*) FROM pg_stat_get_activity(NULL) x WHERE x.backend_type = 'autovacuum worker'),
           current_setting('autovacuum_max_workers')::integer
      FROM apes.checkpoint_counters() c, pg_stat_archiver a;

    -- every database's counters and size (a size only where this role may measure it, as pg_database_size allows)
    INSERT INTO apes.server_database_history
    SELECT id, d.datid, d.datname, d.xact_commit, d.xact_rollback, d.deadlocks, d.conflicts, d.temp_files,
           d.temp_bytes, d.checksum_failures, d.checksum_last_failure, d.stats_reset,
           CASE WHEN has_database_privilege(d.datid, 'CONNECT') OR pg_has_role('pg_read_all_stats', 'USAGE')
                THEN pg_database_size(d.datid) END
      FROM pg_stat_database d JOIN pg_database b ON b.oid = d.datid
     WHERE NOT b.datistemplate;

    -- settings whose value (before any session's SET: reset_val) changed since their latest row
    INSERT INTO apes.settings_history
    SELECT id, s.name, s.reset_val, s.unit, s.source
      FROM pg_settings s
     WHERE NOT EXISTS (SELECT 1
                         FROM (SELECT h.setting FROM apes.settings_history h
                                WHERE h.name = s.name ORDER BY h.snapshot_id DESC LIMIT 1) l
                        WHERE l.setting IS NOT DISTINCT FROM s.reset_val);

    -- sequences of this database whose value moved (values only where this role may read them)
    INSERT INTO apes.sequence_history
    SELECT id, v.seqrelid, v.last_value
      FROM (SELECT q.seqrelid,
                   CASE WHEN has_sequence_privilege(q.seqrelid, 'SELECT,USAGE')
                        THEN pg_sequence_last_value(q.seqrelid) END AS last_value
              FROM pg_sequence q) v
     WHERE v.last_value IS NOT NULL
       AND NOT EXISTS (SELECT 1
                         FROM (SELECT h.last_value FROM apes.sequence_history h
                                WHERE h.seqrelid = v.seqrelid ORDER BY h.snapshot_id DESC LIMIT 1) l
                        WHERE l.last_value = v.last_value);

    -- the findings of this moment (apes.finding_history); a failure there costs the findings, not the snapshot
    BEGIN
        nfindings := apes.record_findings(started);
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'apes.snapshot(): findings not recorded: %', SQLERRM;
    END;

    UPDATE apes.snapshot
       SET statements = nstmts, relations = nrels, findings = nfindings,
           duration_ms = extract(epoch FROM clock_timestamp() - started) * 1000
     WHERE snapshot_id = id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION apes.snapshot() IS
    'record pg_stat_statements, table and index usage and sizes, database counters and the findings; returns the snapshot id';

CREATE OR REPLACE FUNCTION apes.purge(older_than interval DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cutoff   timestamptz;
    batch    bigint[];
    removed  bigint := 0;
BEGIN
    IF pg_is_in_recovery() OR current_setting('transaction_read_only')::boolean THEN
        RAISE NOTICE 'apes.purge() does nothing on a standby or in a read-only transaction';
        RETURN 0;
    END IF;
    IF older_than IS NULL THEN
        PERFORM apes.version();   -- loads the library, which defines the setting
        older_than := make_interval(secs => (SELECT setting::bigint FROM pg_settings
                                              WHERE name = 'pg_apes_health.history_retention'));
    END IF;
    IF older_than < interval '0' THEN
        RAISE EXCEPTION 'older_than must not be negative' USING ERRCODE = '22023';
    END IF;
    cutoff := clock_timestamp() - older_than;
    LOOP
        SELECT array_agg(snapshot_id) INTO batch
          FROM (SELECT snapshot_id FROM apes.snapshot WHERE taken_at < cutoff ORDER BY snapshot_id LIMIT 50) s;
        EXIT WHEN batch IS NULL;
        DELETE FROM apes.statement_history WHERE snapshot_id = ANY (batch);
        DELETE FROM apes.relation_history WHERE snapshot_id = ANY (batch);
        DELETE FROM apes.database_history WHERE snapshot_id = ANY (batch);
        DELETE FROM apes.pool_history WHERE snapshot_id = ANY (batch);
        DELETE FROM apes.server_history WHERE snapshot_id = ANY (batch);
        DELETE FROM apes.server_database_history WHERE snapshot_id = ANY (batch);
        DELETE FROM apes.sequence_history WHERE snapshot_id = ANY (batch);
        -- a setting's latest row stays: it is its value at every later snapshot
        DELETE FROM apes.settings_history h
         WHERE h.snapshot_id = ANY (batch)
           AND EXISTS (SELECT 1 FROM apes.settings_history n WHERE n.name = h.name AND n.snapshot_id > h.snapshot_id);
        DELETE FROM apes.snapshot WHERE snapshot_id = ANY (batch);
        removed := removed + cardinality(batch);
    END LOOP;
    -- episodes of findings resolved before the cutoff (open ones, and those resolved since, stay)
    DELETE FROM apes.finding_history WHERE resolved_at < cutoff;
    -- a text still in use has a last_seen at most a day older than its newest snapshot, all kept ones >= cutoff
    DELETE FROM apes.statement_text WHERE last_seen < cutoff - interval '1 day';
    RETURN removed;
END
$$;
COMMENT ON FUNCTION apes.purge(interval) IS 'remove snapshots older than the retention; returns how many';

-- ==== end of the replaced functions ====

-- ==== issue 16: HTML report and metrics ====
-- ---------------------------------------------------------------------------------------------------------------------
-- Prometheus metrics (docs/metrics.md): apes.metrics() is the text exposition format, apes.metric_samples() the same
-- samples as rows for postgres_exporter's custom queries (contrib/postgres_exporter/queries.yaml).
-- ---------------------------------------------------------------------------------------------------------------------

-- The metric families: name, type, help, label names, and how postgres_exporter's custom queries name each one
-- (metric = exporter_namespace || '_' || exporter_column).
CREATE FUNCTION apes.metric_families()
RETURNS TABLE (metric text, type text, help text, labels text[], exporter_namespace text, exporter_column text)
AS 'MODULE_PATHNAME', 'apes_metric_families'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION apes.metric_families() IS 'the metric families apes.metrics() writes, with their help text and labels';

-- The figures of apes.metrics() read from system views, as (metric, label values in the family's order, value), for
-- the families named; per object, the first top_n objects get series of their own and the rest one series labelled
-- 'other' (summed; for lags and shares, the largest).  An object named 'other' itself goes into that series.
-- Internal to apes.metrics() and apes.metric_samples(), which check each row against the families.
CREATE FUNCTION apes.metric_rows(families text[], top_n integer)
RETURNS TABLE (metric text, labels text[], value double precision)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_custom_plan   -- plans for the period and families asked, never a generic one kept
AS $$
DECLARE
    pgss     record;
    here_lsn pg_lsn;
BEGIN
    IF top_n IS NULL OR top_n < 0 THEN
        RAISE EXCEPTION 'top_n must be 0 or more' USING ERRCODE = '22023';
    END IF;
    families := coalesce(families, '{}');

    IF 'apes_snapshot_age_seconds' = ANY (families) THEN
        RETURN QUERY
        SELECT 'apes_snapshot_age_seconds', '{}'::text[],
               coalesce(extract(epoch FROM clock_timestamp() - (SELECT max(s.taken_at) FROM apes.snapshot s))::float8,
                        'Infinity'::float8);
    END IF;

    IF 'apes_client_connections' = ANY (families) THEN
        RETURN QUERY
        WITH p AS (SELECT coalesce(x.database, '') AS db, x.application AS app, sum(x.sessions) AS sessions,
                          sum(x.active) AS active, sum(x.idle) AS idle, sum(x.idle_in_transaction) AS iit,
                          sum(x.idle_in_transaction_aborted) AS iita, sum(x.hidden_sessions) AS hidden
                     FROM apes.pools() x
                    GROUP BY 1, 2),
             r AS (SELECT p.*, NOT (p.db = 'other' AND p.app = 'other')
                               AND row_number() OVER (PARTITION BY p.db = 'other' AND p.app = 'other'
                                                      ORDER BY p.sessions DESC, p.db, p.app) <= top_n AS top
                     FROM p),
             g AS (SELECT CASE WHEN r.top THEN r.db ELSE 'other' END AS db,
                          CASE WHEN r.top THEN r.app ELSE 'other' END AS app, NOT r.top AS is_other,
                          sum(r.sessions) AS sessions, sum(r.active) AS active, sum(r.idle) AS idle,
                          sum(r.iit) AS iit, sum(r.iita) AS iita, sum(r.hidden) AS hidden
                     FROM r GROUP BY 1, 2, 3)
        SELECT 'apes_client_connections', ARRAY[g.db, g.app, s.state], s.n::float8
          FROM g
         CROSS JOIN LATERAL (VALUES (1, 'active', g.active), (2, 'idle', g.idle), (3, 'idle_in_transaction', g.iit),
                                    (4, 'idle_in_transaction_aborted', g.iita), (5, 'hidden', g.hidden),
                                    (6, 'unknown', g.sessions - g.active - g.idle - g.iit - g.iita - g.hidden))
                             AS s(ord, state, n)
         ORDER BY g.is_other, g.sessions DESC, g.db, g.app, s.ord;
    END IF;

    IF families && ARRAY['apes_replication_lag_seconds', 'apes_replication_lag_bytes',
                         'apes_replication_slot_retained_bytes'] THEN
        here_lsn := CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END;
    END IF;

    IF families && ARRAY['apes_replication_lag_seconds', 'apes_replication_lag_bytes'] THEN
        RETURN QUERY
        WITH s AS (SELECT coalesce(w.application_name, '') AS standby,
                          max(greatest(pg_wal_lsn_diff(here_lsn, w.replay_lsn), 0))::float8 AS bytes,
                          max(extract(epoch FROM w.replay_lag))::float8 AS secs
                     FROM pg_stat_replication w
                    GROUP BY 1),
             r AS (SELECT s.standby, s.bytes,
                          coalesce(s.secs, CASE WHEN s.bytes = 0 THEN 0 END) AS secs,
                          s.standby <> 'other'
                          AND row_number() OVER (PARTITION BY s.standby = 'other'
                                                 ORDER BY s.bytes DESC NULLS LAST, s.standby) <= top_n AS top
                     FROM s),
             g AS (SELECT CASE WHEN r.top THEN r.standby ELSE 'other' END AS standby, NOT r.top AS is_other,
                          max(r.bytes) AS bytes, max(r.secs) AS secs
                     FROM r GROUP BY 1, 2)
        SELECT x.metric, ARRAY[g.standby], x.v
          FROM g
         CROSS JOIN LATERAL (VALUES (1, 'apes_replication_lag_seconds', g.secs),
                                    (2, 'apes_replication_lag_bytes', g.bytes)) AS x(ord, metric, v)
         WHERE x.metric = ANY (families)
         ORDER BY x.ord, g.is_other, g.bytes DESC NULLS LAST, g.standby;
    END IF;

    IF 'apes_replication_slot_retained_bytes' = ANY (families) THEN
        RETURN QUERY
        WITH s AS (SELECT l.slot_name::text AS slot, coalesce(l.wal_status, 'none') AS status,
                          coalesce(greatest(pg_wal_lsn_diff(here_lsn, l.restart_lsn), 0), 0)::float8 AS bytes
                     FROM pg_replication_slots l),
             r AS (SELECT s.*, s.slot <> 'other'
                               AND row_number() OVER (PARTITION BY s.slot = 'other'
                                                      ORDER BY s.bytes DESC, s.slot) <= top_n AS top
                     FROM s)
        SELECT 'apes_replication_slot_retained_bytes', ARRAY[g.slot, g.status], g.bytes
          FROM (SELECT CASE WHEN r.top THEN r.slot ELSE 'other' END AS slot, r.status, NOT r.top AS is_other,
                       sum(r.bytes) AS bytes
                  FROM r GROUP BY 1, 2, 3) g
         ORDER BY g.is_other, g.bytes DESC, g.slot, g.status;
    END IF;

    IF families && ARRAY['apes_archiver_archived_total', 'apes_archiver_failed_total',
                         'apes_archiver_last_success_age_seconds'] THEN
        RETURN QUERY
        SELECT x.metric, '{}'::text[], x.v
          FROM pg_stat_archiver a
         CROSS JOIN LATERAL (VALUES (1, 'apes_archiver_archived_total', a.archived_count::float8),
                                    (2, 'apes_archiver_failed_total', a.failed_count::float8),
                                    (3, 'apes_archiver_last_success_age_seconds',
                                     extract(epoch FROM clock_timestamp() - a.last_archived_time)::float8))
                             AS x(ord, metric, v)
         WHERE x.metric = ANY (families)
         ORDER BY x.ord;
    END IF;

    IF 'apes_sequence_used_ratio' = ANY (families) THEN
        RETURN QUERY
        WITH s AS (SELECT quote_ident(q.schemaname) || '.' || quote_ident(q.sequencename) AS seq,
                          (CASE WHEN q.max_value = q.min_value THEN 1
                                WHEN q.increment_by > 0
                                THEN (q.last_value::numeric - q.min_value) / (q.max_value::numeric - q.min_value)
                                ELSE (q.max_value::numeric - q.last_value) / (q.max_value::numeric - q.min_value)
                           END)::float8 AS used
                     FROM pg_sequences q
                    WHERE q.last_value IS NOT NULL),
             r AS (SELECT s.*, s.seq <> 'other'
                               AND row_number() OVER (PARTITION BY s.seq = 'other'
                                                      ORDER BY s.used DESC, s.seq) <= top_n AS top
                     FROM s)
        SELECT 'apes_sequence_used_ratio', ARRAY[g.seq], g.used
          FROM (SELECT CASE WHEN r.top THEN r.seq ELSE 'other' END AS seq, NOT r.top AS is_other,
                       max(r.used) AS used
                  FROM r GROUP BY 1, 2) g
         ORDER BY g.is_other, g.used DESC, g.seq;
    END IF;

    IF families && ARRAY['apes_statement_exec_seconds_total', 'apes_statement_calls_total'] THEN
        pgss := apes.pgss_status();
        IF pgss.status = 'ok' THEN
            -- this database's statements, as apes.snapshot() keeps them; nested and top-level executions together
            RETURN QUERY EXECUTE format($q$
                WITH s AS (SELECT x.queryid, x.userid, sum(x.total_exec_time::numeric) / 1000 AS secs,
                                  sum(x.calls) AS calls
                             FROM %I.pg_stat_statements(false) x
                            WHERE x.dbid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
                            GROUP BY x.queryid, x.userid),
                     r AS (SELECT s.*, s.queryid IS NOT NULL
                                       AND row_number() OVER (PARTITION BY s.queryid IS NULL
                                                              ORDER BY s.secs DESC, s.queryid, s.userid) <= $1 AS top
                             FROM s),
                     g AS (SELECT CASE WHEN r.top THEN r.queryid::text ELSE 'other' END AS qid,
                                  CASE WHEN r.top THEN coalesce((SELECT a.rolname::text FROM pg_roles a
                                                                  WHERE a.oid = r.userid), r.userid::text)
                                       ELSE 'other' END AS usr,
                                  NOT r.top AS is_other, sum(r.secs) AS secs, sum(r.calls) AS calls
                             FROM r GROUP BY 1, 2, 3)
                SELECT x.metric, ARRAY[g.qid, g.usr], x.v::float8
                  FROM g
                 CROSS JOIN LATERAL (VALUES (1, 'apes_statement_exec_seconds_total', g.secs),
                                            (2, 'apes_statement_calls_total', g.calls)) AS x(ord, metric, v)
                 WHERE x.metric = ANY ($2)
                 ORDER BY x.ord, g.is_other, g.secs DESC, g.qid, g.usr$q$, pgss.schema_name)
            USING top_n, families;
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION apes.metric_rows(text[], integer) IS
    'the figures of apes.metrics() read from system views, top_n objects per family (used by apes.metrics())';

-- Every metric family in Prometheus' text exposition format (version 0.0.4): findings by area, check and severity,
-- wasted bytes by area, the duration of the findings, snapshot age, client connections, replication, slots,
-- archiving, sequences, statements; per-object series bounded by pg_apes_health.metrics_top_n.
CREATE FUNCTION apes.metrics()
RETURNS text
AS 'MODULE_PATHNAME', 'apes_metrics'
LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION apes.metrics() IS 'health metrics in Prometheus'' text exposition format';

-- The samples of apes.metrics() as rows, for the families named (NULL: all), computing only what they need.
CREATE FUNCTION apes.metric_samples(families text[] DEFAULT NULL)
RETURNS TABLE (metric text, labels jsonb, value double precision)
AS 'MODULE_PATHNAME', 'apes_metric_samples'
LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION apes.metric_samples(text[]) IS
    'the samples of apes.metrics() as rows (labels as jsonb), for postgres_exporter''s custom queries';

REVOKE ALL ON FUNCTION apes.metric_families() FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.metric_rows(text[], integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.metrics() FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.metric_samples(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apes.metric_families() TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.metric_rows(text[], integer) TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.metrics() TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.metric_samples(text[]) TO pg_monitor;

-- ---------------------------------------------------------------------------------------------------------------------
-- The HTML report (docs/report.md): apes.report_html() renders the findings and charts over a period of the history.
-- ---------------------------------------------------------------------------------------------------------------------

-- Episodes of findings resolved after a moment, found without reading the others: the report's findings-over-time
-- chart reads the episodes open during its period (the open ones through finding_history_open_idx).
CREATE INDEX finding_history_resolved_idx ON apes.finding_history (resolved_at) WHERE resolved_at IS NOT NULL;

-- The series of the report's charts over a period, from the snapshots in it: at most 200 points (the last snapshot
-- of each of 200 equal slices of the period), so the cost follows the period and the top_n objects shown, not the
-- length of the history or the size of the catalog.  One row per point of a series:
--   db_size          every database's size (server_database_history), the top_n largest at the end
--   relation_size    the top_n largest tables and indexes at the end (relation_history)
--   statement_time   execution seconds per minute of the top_n statements of the period (as apes.query_stats()
--                    ranks them), between consecutive points of one statistics series
--   connections      sessions by state (facet: the application; NULL: the other applications together)
--   findings         findings open at each point, by severity (finding_history)
--   wal              WAL bytes written per minute (server_history.wal_lsn)
--   checkpoints      checkpoints per hour, timed and requested
-- A rate needs two points of one series (same server start, no reset between): otherwise it is NULL, a gap.
-- Internal to apes.report_html().
CREATE FUNCTION apes.report_series(since timestamptz, until timestamptz, top_n integer)
RETURNS TABLE (chart text, facet text, series_no integer, series text, x timestamptz, y double precision)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_custom_plan   -- plans for the period and families asked, never a generic one kept
AS $$
DECLARE
    slice    double precision;
    base     record;
    p_ord    integer[];    -- the points 1, 2, ..., after the snapshot before them (0) when there is one
    p_id     bigint[];
    p_at     timestamptz[];
    p_start  timestamptz[];
    p_reset  timestamptz[];
    last_id  bigint;
    start_id bigint;
    end_id   bigint;
BEGIN
    IF since IS NULL OR until IS NULL OR NOT isfinite(since) OR NOT isfinite(until) OR since > until THEN
        RAISE EXCEPTION 'the period must have finite bounds, since before until' USING ERRCODE = '22023';
    END IF;
    IF top_n IS NULL OR top_n < 1 THEN
        RAISE EXCEPTION 'top_n must be 1 or more' USING ERRCODE = '22023';
    END IF;
    -- the points: the last snapshot of each of 200 slices of the period (an index range scan of the period)
    slice := greatest(extract(epoch FROM until - since)::float8 / 200, 1e-6);
    SELECT array_agg(q.ord ORDER BY q.ord), array_agg(q.snapshot_id ORDER BY q.ord), array_agg(q.taken_at ORDER BY q.ord),
           array_agg(q.server_start ORDER BY q.ord), array_agg(q.pgss_reset ORDER BY q.ord)
      INTO p_ord, p_id, p_at, p_start, p_reset
      FROM (SELECT row_number() OVER (ORDER BY d.taken_at)::integer AS ord, d.*
              FROM (SELECT DISTINCT ON (floor(extract(epoch FROM s.taken_at - since)::float8 / slice))
                           s.snapshot_id, s.taken_at, s.server_start, s.pgss_reset
                      FROM apes.snapshot s
                     WHERE s.taken_at >= since AND s.taken_at <= until
                     ORDER BY floor(extract(epoch FROM s.taken_at - since)::float8 / slice), s.taken_at DESC) d) q;
    IF p_id IS NULL THEN
        RETURN;
    END IF;
    -- the snapshot before the first point, where the first rate starts: point 0
    SELECT s.snapshot_id, s.taken_at, s.server_start, s.pgss_reset INTO base
      FROM apes.snapshot s WHERE s.taken_at < p_at[1] ORDER BY s.taken_at DESC LIMIT 1;
    IF FOUND THEN
        p_ord := 0 || p_ord;
        p_id := base.snapshot_id || p_id;
        p_at := base.taken_at || p_at;
        p_start := base.server_start || p_start;
        p_reset := base.pgss_reset || p_reset;
    END IF;
    -- Each query below reads the points as pp (unnest of the arrays) and looks each series up at each point by
    -- primary key: per point, not over the history.

    -- database sizes: the top_n largest at the last point that has them
    SELECT max(h.snapshot_id) INTO last_id FROM apes.server_database_history h WHERE h.snapshot_id = ANY (p_id);
    IF last_id IS NOT NULL THEN
        RETURN QUERY
        WITH pp AS (SELECT * FROM unnest(p_ord, p_id, p_at) AS u(ord, snapshot_id, taken_at)),
             top AS (SELECT h.datid, h.datname::text AS name, row_number() OVER (ORDER BY h.size_bytes DESC, h.datname) AS rk
                       FROM apes.server_database_history h
                      WHERE h.snapshot_id = last_id AND h.size_bytes IS NOT NULL
                      ORDER BY h.size_bytes DESC, h.datname LIMIT top_n)
        SELECT 'db_size', NULL::text, t.rk::integer, t.name, pp.taken_at,
               (SELECT h.size_bytes::float8 FROM apes.server_database_history h
                 WHERE h.snapshot_id = pp.snapshot_id AND h.datid = t.datid)
          FROM top t CROSS JOIN pp
         WHERE pp.ord >= 1
         ORDER BY t.rk, pp.taken_at;
    END IF;

    -- tables and indexes: the top_n largest at the last point that has relation history
    SELECT max(u.id) INTO last_id FROM unnest(p_id) u(id)
     WHERE EXISTS (SELECT 1 FROM apes.relation_history h WHERE h.snapshot_id = u.id);
    IF last_id IS NOT NULL THEN
        RETURN QUERY
        WITH pp AS (SELECT * FROM unnest(p_ord, p_id, p_at) AS u(ord, snapshot_id, taken_at)),
             top AS MATERIALIZED (   -- names looked up once per relation
                    SELECT r.relid, r.rk,
                            coalesce((SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
                                        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                       WHERE c.oid = r.relid),
                                     format('relation %s (dropped)', r.relid)) AS name
                       FROM (SELECT h.relid, row_number() OVER (ORDER BY h.total_bytes DESC, h.relid) AS rk
                               FROM apes.relation_history h
                              WHERE h.snapshot_id = last_id AND h.total_bytes IS NOT NULL
                              ORDER BY h.total_bytes DESC, h.relid LIMIT top_n) r)
        SELECT 'relation_size', NULL::text, t.rk::integer, t.name, pp.taken_at,
               (SELECT h.total_bytes::float8 FROM apes.relation_history h
                 WHERE h.snapshot_id = pp.snapshot_id AND h.relid = t.relid)
          FROM top t CROSS JOIN pp
         WHERE pp.ord >= 1
         ORDER BY t.rk, pp.taken_at;
    END IF;

    -- statements: the period's top_n by execution time, bounded as apes.query_stats() bounds the period; a rate
    -- only between two points of one statistics series, and only when the counter did not go down
    BEGIN
        SELECT b.start_id, b.end_id INTO start_id, end_id FROM apes.period_bounds(since, until) b;
    EXCEPTION WHEN invalid_parameter_value THEN
        NULL;   -- no snapshot with statements in the period
    END;
    IF start_id IS NOT NULL AND end_id IS NOT NULL AND end_id <> 0 THEN
        RETURN QUERY
        WITH pp AS (SELECT * FROM unnest(p_ord, p_id, p_at, p_start, p_reset)
                                 AS u(ord, snapshot_id, taken_at, server_start, pgss_reset)),
             top AS MATERIALIZED (   -- texts looked up once per statement
                    SELECT d.*,
                            format('%s: %s', d.queryid,
                                   left(regexp_replace(coalesce(apes.statement_query(d.dbid, d.userid, d.queryid),
                                                                'text not recorded'), '\s+', ' ', 'g'), 60)) AS name
                       FROM (SELECT e.dbid, e.userid, e.queryid, e.toplevel,
                                    row_number() OVER (ORDER BY e.total_exec_time DESC, e.queryid) AS rk
                               FROM apes.statement_deltas(start_id, end_id) e
                              ORDER BY e.total_exec_time DESC, e.queryid LIMIT top_n) d),
             v AS MATERIALIZED (   -- one look-up per statement and point
                  SELECT t.rk, t.name, pp.ord, pp.taken_at, pp.server_start, pp.pgss_reset,
                          (SELECT h.total_exec_time FROM apes.statement_history h
                            WHERE h.snapshot_id = pp.snapshot_id AND h.dbid = t.dbid AND h.userid = t.userid
                              AND h.queryid = t.queryid AND h.toplevel = t.toplevel) AS total_exec_time
                     FROM top t CROSS JOIN pp),
             r AS (SELECT v.*, lag(v.total_exec_time) OVER w AS prev_time, lag(v.taken_at) OVER w AS prev_at,
                          lag(v.server_start) OVER w AS prev_start, lag(v.pgss_reset) OVER w AS prev_reset
                     FROM v WINDOW w AS (PARTITION BY v.rk ORDER BY v.ord))
        SELECT 'statement_time', NULL::text, r.rk::integer, r.name, r.taken_at,
               CASE WHEN r.prev_at IS NOT NULL AND r.server_start = r.prev_start
                         AND r.pgss_reset IS NOT DISTINCT FROM r.prev_reset
                         AND coalesce(r.total_exec_time, 0) >= coalesce(r.prev_time, 0)
                    THEN (coalesce(r.total_exec_time, 0) - coalesce(r.prev_time, 0)) / 1000
                         / (extract(epoch FROM r.taken_at - r.prev_at)::float8 / 60) END
          FROM r
         WHERE r.ord >= 1
         ORDER BY r.rk, r.taken_at;
    END IF;

    -- connections by state, per application (the top_n by their largest number of sessions), from pool_history:
    -- each point's pools read by the point (OFFSET 0 keeps the lookup per point)
    RETURN QUERY
    WITH pp AS (SELECT * FROM unnest(p_ord, p_id, p_at) AS u(ord, snapshot_id, taken_at)),
         ph AS MATERIALIZED (
             SELECT pp.snapshot_id, a.*
               FROM pp CROSS JOIN LATERAL (SELECT h.application, sum(h.sessions) AS sessions, sum(h.active) AS active,
                                                  sum(h.idle_in_transaction) AS iit
                                             FROM apes.pool_history h WHERE h.snapshot_id = pp.snapshot_id
                                            GROUP BY h.application OFFSET 0) a
              WHERE pp.ord >= 1),
         top AS (SELECT ph.application, row_number() OVER (ORDER BY max(ph.sessions) DESC, ph.application) AS rk
                   FROM ph GROUP BY ph.application ORDER BY max(ph.sessions) DESC, ph.application LIMIT top_n),
         facets AS (SELECT t.application AS facet, t.rk FROM top t
                    UNION ALL
                    SELECT NULL, top_n + 1
                     WHERE EXISTS (SELECT 1 FROM ph WHERE ph.application NOT IN (SELECT t.application FROM top t))),
         g AS (SELECT f.facet, f.rk, pp.taken_at, coalesce(sum(ph.sessions), 0) AS sessions,
                      coalesce(sum(ph.active), 0) AS active, coalesce(sum(ph.iit), 0) AS iit
                 FROM facets f CROSS JOIN pp
                 LEFT JOIN ph ON ph.snapshot_id = pp.snapshot_id
                             AND (ph.application = f.facet
                                  OR (f.facet IS NULL AND ph.application NOT IN (SELECT t.application FROM top t)))
                WHERE pp.ord >= 1
                GROUP BY 1, 2, 3)
    SELECT 'connections', g.facet, s.no, s.state, g.taken_at, s.n::float8
      FROM g CROSS JOIN LATERAL (VALUES (1, 'active', g.active), (2, 'idle in transaction', g.iit),
                                        (3, 'idle', g.sessions - g.active - g.iit)) AS s(no, state, n)
     ORDER BY g.rk, s.no, g.taken_at;

    -- findings open at each point, by severity: the episodes open during the period (the open ones through
    -- finding_history_open_idx, those resolved since it began through finding_history_resolved_idx), counted by a
    -- running sum of their starts and ends (first seen at a point: counted there; resolved at a point: not)
    RETURN QUERY
    WITH pp AS (SELECT * FROM unnest(p_ord, p_at) AS u(ord, taken_at)),
         e AS (SELECT h.severity, h.first_seen, h.resolved_at
                 FROM apes.finding_history h
                WHERE h.resolved_at IS NULL AND h.first_seen <= until
               UNION ALL
               SELECT h.severity, h.first_seen, h.resolved_at
                 FROM apes.finding_history h
                WHERE h.resolved_at IS NOT NULL AND h.resolved_at > since AND h.first_seen <= until),
         sev AS (SELECT * FROM (VALUES (1, 'critical'), (2, 'warning'), (3, 'info')) AS v(no, severity)),
         ev AS (SELECT e.severity, e.first_seen AS t, 1 AS d, false AS is_point FROM e
                UNION ALL
                SELECT e.severity, e.resolved_at, -1, false FROM e WHERE e.resolved_at IS NOT NULL
                UNION ALL
                SELECT sev.severity, pp.taken_at, 0, true FROM sev CROSS JOIN pp WHERE pp.ord >= 1),
         run AS (SELECT ev.severity, ev.t, ev.is_point, sum(ev.d) OVER (PARTITION BY ev.severity ORDER BY ev.t) AS n
                   FROM ev)
    SELECT 'findings', NULL::text, sev.no, sev.severity, run.t, run.n::float8
      FROM run JOIN sev ON sev.severity = run.severity
     WHERE run.is_point
     ORDER BY sev.no, run.t;

    -- WAL per minute and checkpoints per hour, between consecutive points of one server run (server_history)
    RETURN QUERY
    WITH pp AS (SELECT * FROM unnest(p_ord, p_id, p_at, p_start) AS u(ord, snapshot_id, taken_at, server_start)),
         v AS (SELECT pp.*, h.*
                 FROM pp LEFT JOIN LATERAL (SELECT x.wal_lsn, x.checkpoints_timed, x.checkpoints_req, x.checkpointer_reset
                                              FROM apes.server_history x WHERE x.snapshot_id = pp.snapshot_id
                                            OFFSET 0) h ON true),
         r AS (SELECT v.*, lag(v.taken_at) OVER w AS prev_at, lag(v.server_start) OVER w AS prev_start,
                      lag(v.wal_lsn) OVER w AS prev_lsn, lag(v.checkpoints_timed) OVER w AS prev_timed,
                      lag(v.checkpoints_req) OVER w AS prev_req, lag(v.checkpointer_reset) OVER w AS prev_reset
                 FROM v WINDOW w AS (ORDER BY v.ord)),
         q AS (SELECT r.*, r.prev_at IS NOT NULL AND r.server_start = r.prev_start AS same_run,
                      extract(epoch FROM r.taken_at - r.prev_at)::float8 AS secs
                 FROM r WHERE r.ord >= 1)
    SELECT x.chart, NULL::text, x.no, x.series, q.taken_at, x.v
      FROM q CROSS JOIN LATERAL (
             VALUES ('wal', 1, 'WAL written',
                     CASE WHEN q.same_run AND q.wal_lsn >= q.prev_lsn
                          THEN pg_wal_lsn_diff(q.wal_lsn, q.prev_lsn)::float8 / (q.secs / 60) END),
                    ('checkpoints', 1, 'timed',
                     CASE WHEN q.same_run AND q.checkpointer_reset IS NOT DISTINCT FROM q.prev_reset
                               AND q.checkpoints_timed >= q.prev_timed
                          THEN (q.checkpoints_timed - q.prev_timed)::float8 / (q.secs / 3600) END),
                    ('checkpoints', 2, 'requested',
                     CASE WHEN q.same_run AND q.checkpointer_reset IS NOT DISTINCT FROM q.prev_reset
                               AND q.checkpoints_req >= q.prev_req
                          THEN (q.checkpoints_req - q.prev_req)::float8 / (q.secs / 3600) END)) AS x(chart, no, series, v)
     ORDER BY x.chart DESC, x.no, q.taken_at;
END
$$;
COMMENT ON FUNCTION apes.report_series(timestamptz, timestamptz, integer) IS
    'the series of apes.report_html()''s charts over a period (used by apes.report_html())';

-- One self-contained HTML document for people: the verdict and findings as apes.health_report() gives them, then
-- charts of the period's history (sizes, statement time, connections, findings, WAL, checkpoints) and its top
-- statements.  Inline CSS and SVG only: no script, font, image or request of any kind.
CREATE FUNCTION apes.report_html(since timestamptz DEFAULT now() - interval '1 day', until timestamptz DEFAULT now())
RETURNS text
AS 'MODULE_PATHNAME', 'apes_report_html'
LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION apes.report_html(timestamptz, timestamptz) IS
    'health report as one self-contained HTML document, with charts of the history over a period';

REVOKE ALL ON FUNCTION apes.report_series(timestamptz, timestamptz, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.report_html(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apes.report_series(timestamptz, timestamptz, integer) TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.report_html(timestamptz, timestamptz) TO pg_monitor;
