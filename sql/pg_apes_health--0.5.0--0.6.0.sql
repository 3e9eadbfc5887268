/* pg_apes_health 0.5.0 -> 0.6.0: the server and maintenance areas, acknowledgements and growth (issue 14), index
 * advice checked against the workload's plans (issue 15), an HTML report and Prometheus metrics (issue 16).
 *
 * Safety: dropped and replaced functions are members of this extension, so this cannot adopt a planted object; the
 * new ones are created plainly, so a planted one makes the update fail.
 * test/upgrade_test.sh checks that an update from 0.1.0 gives the same objects and privileges as a fresh install.
 */
\echo Use "ALTER EXTENSION pg_apes_health UPDATE TO '0.6.0'" to load this file. \quit

-- apes.findings() gains the column acknowledged: dropped and created again, with the same privileges
DROP FUNCTION apes.findings(text);
CREATE FUNCTION apes.findings(area text DEFAULT NULL)
RETURNS TABLE (
    check_id     text,
    area         text,
    severity     text,
    object_name  text,
    summary      text,
    wasted_bytes bigint,
    confidence   text,
    evidence     jsonb,
    fix_sql      text,
    undo_sql     text,
    acknowledged boolean
)
AS 'MODULE_PATHNAME', 'apes_findings'
LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION apes.findings(text) IS
    'health findings of every area, or of one area; one shape for all checks; acknowledged ones flagged';
REVOKE ALL ON FUNCTION apes.findings(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apes.findings(text) TO pg_monitor;


-- ==== issue 14: server history ====
-- What the server and maintenance areas judge over time, kept by apes.snapshot() beside the rest of the history.

-- The filesystems holding the data directory and pg_wal (statvfs() from the backend; pg_wal may be a link to
-- another filesystem): sizes in bytes, free space as an unprivileged process sees it, and whether pg_wal's is the
-- data directory's own.
CREATE FUNCTION apes.filesystems()
RETURNS TABLE (kind text, path text, total_bytes bigint, free_bytes bigint, used_pct double precision,
               same_as_data boolean)
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
-- each sequence's latest row and its rate read by sequence (apes.snapshot(), apes.sequences()), not across snapshots
CREATE INDEX sequence_history_seq_idx ON apes.sequence_history (seqrelid, snapshot_id);
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

-- ==== issue 14: the server area ====

-- The snapshot a window's deltas start from: the latest at or before now() - win, else the oldest one after it
-- (basis 'delta', the window then starts later), else none (basis 'cumulative': counters since their reset).
CREATE FUNCTION apes.window_start(win interval, OUT snapshot_id bigint, OUT taken_at timestamptz, OUT basis text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- two probes of snapshot_taken_at_idx: the latest at or before the start, else the oldest
    SELECT s.snapshot_id, s.taken_at, 'delta'
      FROM apes.snapshot s
     WHERE s.snapshot_id = coalesce((SELECT b.snapshot_id FROM apes.snapshot b
                                      WHERE b.taken_at <= clock_timestamp() - win ORDER BY b.taken_at DESC LIMIT 1),
                                    (SELECT o.snapshot_id FROM apes.snapshot o ORDER BY o.taken_at LIMIT 1))
    UNION ALL
    SELECT NULL, NULL, 'cumulative'
     WHERE NOT EXISTS (SELECT 1 FROM apes.snapshot)
$$;
COMMENT ON FUNCTION apes.window_start(interval) IS
    'the snapshot a window of the given length starts from, or none (counters since their reset)';

-- A numeric setting in its own base unit, as pg_settings.setting shows it (NULL when unknown), read directly.
CREATE FUNCTION apes.setting_num(name text)
RETURNS double precision
AS 'MODULE_PATHNAME', 'apes_setting_num'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION apes.setting_num(text) IS 'a numeric setting in its own base unit, as pg_settings.setting shows it';

-- A setting's value for people: sizes as pg_size_pretty() shows them, durations with their unit, others as they are.
CREATE FUNCTION apes.setting_display(value text, unit text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN value IS NULL THEN NULL
                WHEN unit IS NULL OR value !~ '^[0-9]+$' THEN value
                WHEN unit = 'B' THEN pg_size_pretty(value::numeric)   -- pg_size_bytes() knows no unit "B" before 17
                WHEN unit ~ 'B$' THEN pg_size_pretty(value::numeric
                                                     * pg_size_bytes(CASE WHEN unit ~ '^[0-9]' THEN unit ELSE '1' || unit END))
                ELSE value || ' ' || unit END
$$;
COMMENT ON FUNCTION apes.setting_display(text, text) IS 'a setting''s value as people read it (sizes pretty, durations with their unit)';

-- The value a new session of a role in a database starts with for a setting, and where it comes from ("role in
-- database", "role", "database", "all roles", "server", or "unknown" when the caller's own value hides the server's).
CREATE FUNCTION apes.session_setting(database oid, role oid, setting text, OUT value text, OUT source text)
AS 'MODULE_PATHNAME', 'apes_session_setting_sql'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION apes.session_setting(oid, oid, text) IS
    'the value of a setting a new session of a role in a database starts with, and its source';

-- The server area of apes.findings(), as rows: replication slots, replication, archiving, checkpoints, database
-- counters over the window, disk space, risky settings, settings changed or waiting for a restart.
CREATE FUNCTION apes.server_findings()
RETURNS TABLE (check_id text, severity text, object_name text, summary text, wasted_bytes bigint, confidence text,
               evidence jsonb, fix_sql text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    win        interval := make_interval(secs => apes.setting_num('pg_apes_health.server_window'));
    w          record := apes.window_start(win);
    in_recovery boolean := pg_is_in_recovery();
    cur_lsn    pg_lsn := CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END;
    wal_free   bigint := (SELECT f.free_bytes FROM apes.filesystems() f WHERE f.kind = 'wal');
    slot_max   bigint := apes.setting_num('pg_apes_health.slot_retained_max')::bigint * 1024 * 1024;
    r          record;
    hist       record;
    since      timestamptz;
    n          bigint;
    sev        text;
BEGIN
    -- replication_slot_retaining_wal: WAL a slot keeps (restart_lsn), its wal_status, safe_wal_size
    FOR r IN
        SELECT s.slot_name, s.slot_type, s.database, s.active, s.wal_status, s.safe_wal_size, s.restart_lsn,
               CASE WHEN s.restart_lsn IS NOT NULL AND cur_lsn IS NOT NULL
                    THEN pg_wal_lsn_diff(cur_lsn, s.restart_lsn)::bigint END AS retained,
               (SELECT to_jsonb(s) ->> 'inactive_since') AS inactive_since
          FROM pg_replication_slots s
         ORDER BY s.slot_name
    LOOP
        CONTINUE WHEN coalesce(r.wal_status, 'none') NOT IN ('unreserved', 'lost')   -- NULL: it reserved no WAL
                      AND coalesce(r.retained, 0) < slot_max
                      AND NOT (NOT r.active AND coalesce(r.retained, 0) >= 16 * 1024 * 1024);
        sev := CASE WHEN r.wal_status IN ('unreserved', 'lost') THEN 'critical'
                    WHEN wal_free IS NOT NULL AND r.retained >= wal_free / 2 THEN 'critical'
                    ELSE 'warning' END;
        RETURN QUERY SELECT 'replication_slot_retaining_wal', sev, format('replication slot %s', quote_ident(r.slot_name)),
            CASE WHEN r.wal_status = 'lost'
                 THEN format('%s slot %s has lost WAL it needed (wal_status lost): its consumer cannot resume; drop it and rebuild the consumer',
                             r.slot_type, quote_ident(r.slot_name))
                 ELSE format('%s slot %s%s retains %s of WAL (wal_status %s%s)%s: %s',
                             r.slot_type, quote_ident(r.slot_name),
                             CASE WHEN r.active THEN '' ELSE ' (inactive' || coalesce(' since ' || r.inactive_since, '') || ')' END,
                             pg_size_pretty(r.retained), coalesce(r.wal_status, 'unknown'),
                             CASE WHEN r.safe_wal_size IS NOT NULL
                                  THEN ', ' || pg_size_pretty(r.safe_wal_size) || ' before max_slot_wal_keep_size invalidates it'
                                  ELSE '' END,
                             CASE WHEN wal_free IS NOT NULL THEN format(' with %s free where pg_wal lives', pg_size_pretty(wal_free)) ELSE '' END,
                             CASE WHEN r.active THEN 'its consumer lags; find why, or set max_slot_wal_keep_size so it cannot fill the disk'
                                  ELSE 'nothing consumes it; drop it if it is abandoned' END) END,
            r.retained, 'high',
            jsonb_build_object('slot_name', r.slot_name, 'slot_type', r.slot_type, 'database', r.database,
                               'active', r.active, 'wal_status', r.wal_status, 'retained_bytes', r.retained,
                               'safe_wal_size', r.safe_wal_size, 'inactive_since', r.inactive_since,
                               'max_slot_wal_keep_size', current_setting('max_slot_wal_keep_size'),
                               'wal_filesystem_free_bytes', wal_free),
            format('-- dropping the slot lets the server remove the WAL it holds; its consumer (a standby, a logical replication subscriber or CDC tool) must then be rebuilt or resynchronized' || E'\n' ||
                   'SELECT pg_drop_replication_slot(%s);', quote_literal(r.slot_name));
    END LOOP;

    -- replication_lag, on a primary: each standby's lag in time and bytes; a synchronous standby that is missing
    IF NOT in_recovery THEN
        FOR r IN
            SELECT s.pid, s.application_name, s.client_addr, s.state, s.sync_state, s.write_lag, s.flush_lag,
                   s.replay_lag, pg_wal_lsn_diff(cur_lsn, s.replay_lsn)::bigint AS replay_bytes,
                   pg_wal_lsn_diff(cur_lsn, s.flush_lsn)::bigint AS flush_bytes,
                   pg_wal_lsn_diff(cur_lsn, s.write_lsn)::bigint AS write_bytes
              FROM pg_stat_replication s
             ORDER BY s.application_name, s.pid
        LOOP
            CONTINUE WHEN coalesce(r.replay_lag, interval '0') < make_interval(secs => apes.setting_num('pg_apes_health.replication_lag_max'))
                          AND coalesce(r.replay_bytes, 0) < apes.setting_num('pg_apes_health.replication_lag_max_bytes')::bigint * 1024 * 1024;
            RETURN QUERY SELECT 'replication_lag',
                CASE WHEN r.sync_state IN ('sync', 'quorum') THEN 'critical' ELSE 'warning' END,
                format('standby %s', coalesce(nullif(r.application_name, ''), 'pid ' || r.pid)),
                format('standby %s%s replays %s behind (%s of WAL not yet replayed; write lag %s, flush lag %s)%s',
                       coalesce(nullif(r.application_name, ''), 'pid ' || r.pid),
                       coalesce(' at ' || host(r.client_addr), ''),
                       coalesce(r.replay_lag::text, 'an unknown time'), pg_size_pretty(r.replay_bytes),
                       coalesce(r.write_lag::text, '-'), coalesce(r.flush_lag::text, '-'),
                       CASE WHEN r.sync_state IN ('sync', 'quorum')
                            THEN ': it is synchronous, so commits wait for it' ELSE '' END),
                NULL::bigint, 'high',
                jsonb_build_object('application_name', r.application_name, 'client_addr', host(r.client_addr),
                                   'state', r.state, 'sync_state', r.sync_state,
                                   'write_lag', r.write_lag, 'flush_lag', r.flush_lag, 'replay_lag', r.replay_lag,
                                   'write_lag_bytes', r.write_bytes, 'flush_lag_bytes', r.flush_bytes,
                                   'replay_lag_bytes', r.replay_bytes),
                NULL::text;
        END LOOP;
        IF current_setting('synchronous_standby_names') <> ''
           AND current_setting('synchronous_commit') NOT IN ('off', 'local')
           AND NOT EXISTS (SELECT 1 FROM pg_stat_replication s WHERE s.sync_state IN ('sync', 'quorum')) THEN
            RETURN QUERY SELECT 'replication_lag', 'critical', 'synchronous_standby_names',
                format('no standby named by synchronous_standby_names (%s) is connected as synchronous: every commit waits for one',
                       current_setting('synchronous_standby_names')),
                NULL::bigint, 'high',
                jsonb_build_object('synchronous_standby_names', current_setting('synchronous_standby_names'),
                                   'synchronous_commit', current_setting('synchronous_commit'),
                                   'standbys_connected', (SELECT count(*) FROM pg_stat_replication)),
                E'-- bring the synchronous standby back, or stop waiting for it:\nALTER SYSTEM SET synchronous_standby_names = '''';\nSELECT pg_reload_conf();';
        END IF;
    ELSE
        -- on a standby: replay paused, or far behind what it received
        IF pg_get_wal_replay_pause_state() <> 'not paused' THEN
            RETURN QUERY SELECT 'replication_lag', 'warning', '(this standby)',
                format('WAL replay is %s on this standby: it falls further behind its primary with every change',
                       pg_get_wal_replay_pause_state()),
                NULL::bigint, 'high',
                jsonb_build_object('replay_pause_state', pg_get_wal_replay_pause_state(),
                                   'receive_lsn', pg_last_wal_receive_lsn(), 'replay_lsn', pg_last_wal_replay_lsn()),
                'SELECT pg_wal_replay_resume();';
        ELSIF pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
              >= apes.setting_num('pg_apes_health.replication_lag_max_bytes') * 1024 * 1024 THEN
            RETURN QUERY SELECT 'replication_lag', 'warning', '(this standby)',
                format('this standby has received %s of WAL it has not replayed yet',
                       pg_size_pretty(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()))),
                NULL::bigint, 'high',
                jsonb_build_object('receive_lsn', pg_last_wal_receive_lsn(), 'replay_lsn', pg_last_wal_replay_lsn(),
                                   'last_replayed_commit', pg_last_xact_replay_timestamp()),
                NULL::text;
        END IF;
    END IF;

    -- archiving_failing: failures newer than the last success, and the segments waiting
    IF current_setting('archive_mode') <> 'off' THEN
        SELECT a.* INTO r FROM pg_stat_archiver a;
        IF r.last_failed_time IS NOT NULL
           AND (r.last_archived_time IS NULL OR r.last_failed_time > r.last_archived_time) THEN
            -- segments waiting (pg_ls_archive_statusdir() is for pg_monitor; NULL for a caller without it)
            n := CASE WHEN has_function_privilege('pg_catalog.pg_ls_archive_statusdir()', 'EXECUTE')
                      THEN (SELECT count(*) FROM pg_ls_archive_statusdir() x WHERE x.name LIKE '%.ready') END;
            -- failing since: the first snapshot after the last success whose failure count had grown, else the last success
            SELECT min(s.taken_at) INTO since
              FROM apes.server_history h JOIN apes.snapshot s USING (snapshot_id)
             WHERE h.last_failed_time IS NOT NULL
               AND (h.last_archived_time IS NULL OR h.last_failed_time > h.last_archived_time)
               AND h.last_archived_time IS NOT DISTINCT FROM r.last_archived_time;
            since := least(coalesce(since, r.last_failed_time), r.last_failed_time);
            RETURN QUERY SELECT 'archiving_failing',
                CASE WHEN clock_timestamp() - coalesce(r.last_archived_time, since)
                          >= make_interval(secs => apes.setting_num('pg_apes_health.archive_failing_max'))
                     THEN 'critical' ELSE 'warning' END,
                'archive_command',
                format('WAL archiving fails (%s failures since %s; the last success %s): %s in pg_wal, which keeps growing, and point-in-time recovery stops at the last archived segment',
                       r.failed_count, coalesce(to_char(r.stats_reset, 'YYYY-MM-DD HH24:MI'), 'the counters began'),
                       coalesce('at ' || to_char(r.last_archived_time, 'YYYY-MM-DD HH24:MI:SS'), 'never'),
                       CASE WHEN n IS NULL THEN 'segments wait' WHEN n = 1 THEN '1 segment waits'
                            ELSE n || ' segments wait' END),
                (n * pg_size_bytes(current_setting('wal_segment_size')))::bigint, 'high',
                jsonb_build_object('failed_count', r.failed_count, 'last_failed_wal', r.last_failed_wal,
                                   'last_failed_time', r.last_failed_time, 'last_archived_wal', r.last_archived_wal,
                                   'last_archived_time', r.last_archived_time, 'failing_since', since,
                                   'ready_segments', n, 'archive_command',
                                   CASE WHEN pg_has_role('pg_read_all_settings', 'USAGE')
                                        THEN current_setting('archive_command') END),
                '-- read the archiver''s errors in the server log, fix archive_command or its destination; once it works again the backlog is archived by itself';
        END IF;
    END IF;

    -- checkpoint_pressure: requested checkpoints outnumber timed ones over the window (the counters since their
    -- reset when there is no history)
    SELECT h.* INTO hist FROM apes.server_history h WHERE h.snapshot_id = w.snapshot_id;
    SELECT c.* INTO r FROM apes.checkpoint_counters() c;
    IF hist.snapshot_id IS NOT NULL AND hist.checkpointer_reset IS NOT DISTINCT FROM r.stats_reset
       AND r.checkpoints_timed >= hist.checkpoints_timed THEN
        r.checkpoints_timed := r.checkpoints_timed - hist.checkpoints_timed;
        r.checkpoints_req := r.checkpoints_req - hist.checkpoints_req;
        r.buffers_backend_fsync := r.buffers_backend_fsync - hist.buffers_backend_fsync;
        since := w.taken_at;
        sev := 'delta';
    ELSE
        since := r.stats_reset;
        sev := 'cumulative';
    END IF;
    IF r.checkpoints_req > r.checkpoints_timed AND r.checkpoints_req >= 3 THEN
        RETURN QUERY SELECT 'checkpoint_pressure', 'warning', 'max_wal_size',
            format('%s checkpoints were requested against %s timed ones since %s%s: WAL fills max_wal_size (%s) before checkpoint_timeout (%s), so checkpoints come early and write more',
                   r.checkpoints_req, r.checkpoints_timed, to_char(since, 'YYYY-MM-DD HH24:MI'),
                   CASE WHEN coalesce(r.buffers_backend_fsync, 0) > 0
                        THEN format(', and backends did %s fsyncs of their own', r.buffers_backend_fsync) ELSE '' END,
                   current_setting('max_wal_size'), current_setting('checkpoint_timeout')),
            NULL::bigint, CASE WHEN sev = 'delta' THEN 'high' ELSE 'medium' END,
            jsonb_build_object('checkpoints_req', r.checkpoints_req, 'checkpoints_timed', r.checkpoints_timed,
                               'backend_fsyncs', r.buffers_backend_fsync, 'since', since, 'basis', sev,
                               'max_wal_size', current_setting('max_wal_size'),
                               'checkpoint_timeout', current_setting('checkpoint_timeout')),
            format(E'ALTER SYSTEM SET max_wal_size = %s;\nSELECT pg_reload_conf();',
                   quote_literal(pg_size_pretty(2 * pg_size_bytes(current_setting('max_wal_size')))));
    END IF;

    -- per database, over the window: checksum failures, deadlocks, rollbacks, standby conflicts, temporary files
    FOR r IN
        SELECT d.datid, d.datname, d.checksum_failures, d.checksum_last_failure,
               d.deadlocks - CASE WHEN ok THEN h.deadlocks ELSE 0 END AS deadlocks,
               d.xact_commit - CASE WHEN ok THEN h.xact_commit ELSE 0 END AS commits,
               d.xact_rollback - CASE WHEN ok THEN h.xact_rollback ELSE 0 END AS rollbacks,
               d.conflicts - CASE WHEN ok THEN h.conflicts ELSE 0 END AS conflicts,
               d.temp_files - CASE WHEN ok THEN h.temp_files ELSE 0 END AS temp_files,
               d.temp_bytes - CASE WHEN ok THEN h.temp_bytes ELSE 0 END AS temp_bytes,
               CASE WHEN ok THEN w.taken_at ELSE coalesce(d.stats_reset, pg_postmaster_start_time()) END AS since,
               CASE WHEN ok THEN 'delta' ELSE 'cumulative' END AS basis
          FROM pg_stat_database d
          JOIN pg_database b ON b.oid = d.datid
          LEFT JOIN apes.server_database_history h ON h.snapshot_id = w.snapshot_id AND h.datid = d.datid
         CROSS JOIN LATERAL (SELECT h.datid IS NOT NULL AND h.stats_reset IS NOT DISTINCT FROM d.stats_reset
                                    AND d.xact_commit >= h.xact_commit AS ok) x
         WHERE NOT b.datistemplate
         ORDER BY d.datname
    LOOP
        IF coalesce(r.checksum_failures, 0) > 0 THEN
            RETURN QUERY SELECT 'checksum_failures', 'critical', format('database %s', quote_ident(r.datname)),
                format('%s data checksum failure%s in database %s, the last at %s: pages were damaged on disk; check the storage, then the relations with pg_amcheck',
                       r.checksum_failures, CASE WHEN r.checksum_failures = 1 THEN '' ELSE 's' END, quote_ident(r.datname),
                       to_char(r.checksum_last_failure, 'YYYY-MM-DD HH24:MI:SS')),
                NULL::bigint, 'high',
                jsonb_build_object('checksum_failures', r.checksum_failures,
                                   'checksum_last_failure', r.checksum_last_failure, 'basis', 'cumulative'),
                format('-- pg_amcheck --database=%s --heapallindexed', quote_ident(r.datname));
        END IF;
        IF r.deadlocks >= apes.setting_num('pg_apes_health.deadlocks_max') THEN
            RETURN QUERY SELECT 'deadlocks', 'warning', format('database %s', quote_ident(r.datname)),
                format('%s deadlocks in database %s since %s: transactions take the same locks in different orders; the server log names the statements (log_lock_waits helps too)',
                       r.deadlocks, quote_ident(r.datname), to_char(r.since, 'YYYY-MM-DD HH24:MI')),
                NULL::bigint, CASE WHEN r.basis = 'delta' THEN 'high' ELSE 'medium' END,
                jsonb_build_object('deadlocks', r.deadlocks, 'since', r.since, 'basis', r.basis),
                NULL::text;
        END IF;
        IF r.commits + r.rollbacks >= 1000
           AND 100.0 * r.rollbacks / (r.commits + r.rollbacks) >= apes.setting_num('pg_apes_health.rollback_max_pct') THEN
            RETURN QUERY SELECT 'rollback_ratio_high', 'warning', format('database %s', quote_ident(r.datname)),
                format('%s%% of the transactions in database %s rolled back since %s (%s of %s): failing statements or an application that rolls back by design; the server log shows the errors',
                       round(100.0 * r.rollbacks / (r.commits + r.rollbacks), 1), quote_ident(r.datname),
                       to_char(r.since, 'YYYY-MM-DD HH24:MI'), r.rollbacks, r.commits + r.rollbacks),
                NULL::bigint, CASE WHEN r.basis = 'delta' THEN 'high' ELSE 'medium' END,
                jsonb_build_object('commits', r.commits, 'rollbacks', r.rollbacks, 'since', r.since, 'basis', r.basis),
                NULL::text;
        END IF;
        IF r.conflicts > 0 THEN
            RETURN QUERY SELECT 'standby_conflicts', 'warning', format('database %s', quote_ident(r.datname)),
                format('%s queries on this standby were cancelled by recovery conflicts in database %s since %s: long queries meet VACUUM''s cleanup from the primary (hot_standby_feedback, max_standby_streaming_delay)',
                       r.conflicts, quote_ident(r.datname), to_char(r.since, 'YYYY-MM-DD HH24:MI')),
                NULL::bigint, CASE WHEN r.basis = 'delta' THEN 'high' ELSE 'medium' END,
                jsonb_build_object('conflicts', r.conflicts, 'since', r.since, 'basis', r.basis,
                                   'by_kind', (SELECT to_jsonb(c) - 'datid' - 'datname' FROM pg_stat_database_conflicts c
                                                WHERE c.datid = r.datid)),
                NULL::text;
        END IF;
        IF r.temp_bytes >= apes.setting_num('pg_apes_health.temp_bytes_max')::bigint * 1024 * 1024 THEN
            RETURN QUERY SELECT 'temp_files_heavy', 'warning', format('database %s', quote_ident(r.datname)),
                format('database %s wrote %s in %s temporary files since %s: sorts and hashes spill to disk (work_mem = %s); query_temp_spill names the statements',
                       quote_ident(r.datname), pg_size_pretty(r.temp_bytes), r.temp_files,
                       to_char(r.since, 'YYYY-MM-DD HH24:MI'), current_setting('work_mem')),
                NULL::bigint, CASE WHEN r.basis = 'delta' THEN 'high' ELSE 'medium' END,
                jsonb_build_object('temp_files', r.temp_files, 'temp_bytes', r.temp_bytes, 'since', r.since,
                                   'basis', r.basis, 'work_mem', current_setting('work_mem')),
                NULL::text;
        END IF;
    END LOOP;

    -- disk_space_low: the filesystems of the data directory and pg_wal, and days to full at the recorded rate
    FOR r IN
        SELECT f.kind, f.path, f.total_bytes, f.free_bytes, f.used_pct, f.same_as_data,
               (SELECT CASE f.kind WHEN 'data' THEN h.data_fs_free_bytes ELSE h.wal_fs_free_bytes END
                  FROM apes.server_history h WHERE h.snapshot_id = w.snapshot_id) AS free_then
          FROM apes.filesystems() f
         ORDER BY f.kind
    LOOP
        CONTINUE WHEN r.kind = 'wal' AND r.same_as_data;   -- pg_wal on the data directory's filesystem
        since := w.taken_at;
        DECLARE
            per_day  double precision := CASE WHEN r.free_then IS NOT NULL AND r.free_then > r.free_bytes
                                                   AND clock_timestamp() - since >= interval '1 hour'
                                              THEN (r.free_then - r.free_bytes)
                                                   / (extract(epoch FROM clock_timestamp() - since) / 86400) END;
            days     double precision := r.free_bytes / nullif(per_day, 0);
        BEGIN
            CONTINUE WHEN r.used_pct < apes.setting_num('pg_apes_health.disk_warn_pct')
                          AND (days IS NULL OR days >= apes.setting_num('pg_apes_health.disk_days_min'));
            RETURN QUERY SELECT 'disk_space_low',
                CASE WHEN r.used_pct >= apes.setting_num('pg_apes_health.disk_critical_pct') OR days < 1
                     THEN 'critical' ELSE 'warning' END,
                format('filesystem of %s', CASE r.kind WHEN 'data' THEN 'the data directory' ELSE 'pg_wal' END),
                format('the filesystem of %s is %s%% full (%s free of %s)%s: %s',
                       CASE r.kind WHEN 'data' THEN 'the data directory' ELSE 'pg_wal' END,
                       round(r.used_pct::numeric, 1), pg_size_pretty(r.free_bytes), pg_size_pretty(r.total_bytes),
                       CASE WHEN days IS NOT NULL
                            THEN format(', and at the %s a day it lost since %s it is full in %s days',
                                        pg_size_pretty(per_day::bigint), to_char(since, 'YYYY-MM-DD HH24:MI'),
                                        round(days::numeric, 1))
                            ELSE '' END,
                       CASE r.kind WHEN 'wal' THEN 'a full pg_wal stops the server; see replication_slot_retaining_wal and archiving_failing'
                                   ELSE 'a full disk stops writes; free space, or grow the filesystem' END),
                NULL::bigint, CASE WHEN days IS NULL AND w.snapshot_id IS NULL THEN 'medium' ELSE 'high' END,
                jsonb_build_object('kind', r.kind, 'total_bytes', r.total_bytes, 'free_bytes', r.free_bytes,
                                   'used_pct', r.used_pct, 'bytes_per_day', per_day, 'days_to_full', days,
                                   'rate_since', since,
                                   'path', CASE WHEN pg_has_role('pg_read_all_settings', 'USAGE') THEN r.path END),
                NULL::text;
        END;
    END LOOP;

    -- settings_risky: a short list that is wrong on any server
    FOR r IN
        SELECT x.name, x.bad AS setting, x.sev, x.why, x.fix
          FROM (VALUES
                ('fsync', 'off', 'critical', 'a crash can corrupt the data beyond repair', 'on'),
                ('full_page_writes', 'off', 'warning', 'a crash during a page write can leave torn pages that recovery cannot repair', 'on'),
                ('autovacuum', 'off', 'warning', 'dead rows pile up and transaction IDs age toward wraparound; only anti-wraparound vacuums still run', 'on'),
                ('track_counts', 'off', 'warning', 'autovacuum cannot see which tables need it, and usage statistics stop', 'on'),
                ('synchronous_commit', 'off', 'info', 'a crash can lose the last committed transactions (the data stays consistent)', 'on'),
                ('password_encryption', 'md5', 'warning', 'MD5 password hashes are weak and deprecated; new passwords should be SCRAM', 'scram-sha-256')
               ) AS x(name, bad, sev, why, fix)
         WHERE current_setting(x.name) = x.bad    -- six settings read directly, not all of pg_settings
         ORDER BY x.name
    LOOP
        RETURN QUERY SELECT 'settings_risky', r.sev, r.name,
            format('%s = %s: %s', r.name, r.setting, r.why),
            NULL::bigint, 'high', jsonb_build_object('setting', r.name, 'value', r.setting),
            format(E'ALTER SYSTEM SET %s = %s;\nSELECT pg_reload_conf();', r.name, quote_literal(r.fix));
    END LOOP;
    -- max_connections far above the peak the history saw (each slot reserves memory and a process table entry)
    SELECT max(t.sessions) AS peak, count(*) AS snapshots, min(t.taken_at) AS first INTO r
      FROM (SELECT s.taken_at, sum(p.sessions) AS sessions
              FROM apes.snapshot s JOIN apes.pool_history p USING (snapshot_id)
             WHERE s.taken_at >= clock_timestamp() - interval '7 days'
             GROUP BY s.snapshot_id, s.taken_at) t;
    IF r.snapshots >= 24 AND r.first <= clock_timestamp() - interval '1 day'
       AND current_setting('max_connections')::integer >= greatest(4 * r.peak, r.peak + 100) THEN
        RETURN QUERY SELECT 'settings_risky', 'info', 'max_connections',
            format('max_connections = %s, but at most %s sessions were seen over %s snapshots since %s: each slot costs memory and lock-table space; a pooler serves more clients with fewer',
                   current_setting('max_connections'), r.peak, r.snapshots, to_char(r.first, 'YYYY-MM-DD')),
            NULL::bigint, 'medium',
            jsonb_build_object('setting', 'max_connections', 'value', current_setting('max_connections')::integer,
                               'peak_sessions', r.peak, 'snapshots', r.snapshots, 'since', r.first),
            format('ALTER SYSTEM SET max_connections = %s;  -- takes effect at the next restart',
                   greatest(2 * r.peak, r.peak + 50));
    END IF;
    -- no statement_timeout and no lock_timeout for roles that log in (a runaway statement or a lock queue has no end)
    SELECT string_agg(quote_ident(a.rolname), ', ' ORDER BY a.rolname) AS roles, count(*) AS n INTO r
      FROM pg_roles a
      CROSS JOIN LATERAL apes.session_setting((SELECT d.oid FROM pg_database d WHERE d.datname = current_database()),
                                              a.oid, 'statement_timeout') st
      CROSS JOIN LATERAL apes.session_setting((SELECT d.oid FROM pg_database d WHERE d.datname = current_database()),
                                              a.oid, 'lock_timeout') lt
     WHERE a.rolcanlogin AND NOT a.rolsuper AND a.rolname !~ '^pg_'
       AND st.value ~ '^\s*0+\s*(ms|s|min|h|d)?\s*$' AND lt.value ~ '^\s*0+\s*(ms|s|min|h|d)?\s*$';
    IF r.n > 0 THEN
        RETURN QUERY SELECT 'settings_risky', 'info', 'statement_timeout, lock_timeout',
            format('%s role%s that log in (%s) run with neither statement_timeout nor lock_timeout in this database: a runaway statement or a lock queue behind DDL has no end',
                   r.n, CASE WHEN r.n = 1 THEN '' ELSE 's' END, left(r.roles, 200)),
            NULL::bigint, 'high',
            jsonb_build_object('roles', r.n, 'names', r.roles),
            E'-- per role, with values the application can live with:\n-- ALTER ROLE ... SET statement_timeout = ''60s'';\n-- ALTER ROLE ... SET lock_timeout = ''5s'';';
    END IF;

    -- restart_pending: settings changed in the configuration that wait for a restart
    FOR r IN SELECT s.name, s.setting, s.unit FROM pg_settings s WHERE s.pending_restart ORDER BY s.name
    LOOP
        RETURN QUERY SELECT 'restart_pending', 'warning', r.name,
            format('%s was changed in the configuration but the server still runs with %s: the change waits for a restart',
                   r.name, apes.setting_display(r.setting, r.unit)),
            NULL::bigint, 'high',
            jsonb_build_object('setting', r.name, 'running_value', r.setting, 'unit', r.unit,
                               'configured_value', CASE WHEN has_table_privilege('pg_catalog.pg_file_settings', 'SELECT')
                                                        THEN (SELECT f.setting FROM pg_file_settings f
                                                               WHERE f.name = r.name ORDER BY f.seqno DESC LIMIT 1) END),
            '-- restart the server when convenient (pg_ctl restart), or set the old value back';
    END LOOP;

    -- settings_changed: settings whose value changed within the window (rows of settings_history after its first
    -- snapshot, read from the window's snapshots through the primary key), and since the latest snapshot (the live
    -- value against each setting's latest row, one index probe per setting): the cost follows the window and the
    -- number of settings, not the length of the history
    FOR r IN
        WITH first_snap AS (SELECT h.snapshot_id AS id FROM apes.settings_history h ORDER BY h.snapshot_id LIMIT 1),
             recorded AS (SELECT h.name, apes.setting_display(h.setting, h.unit) AS new_value,
                                 apes.setting_display(p.setting, p.unit) AS old_value,
                                 s.taken_at AS changed_by
                            FROM apes.snapshot s
                            JOIN apes.settings_history h ON h.snapshot_id = s.snapshot_id
                            LEFT JOIN LATERAL (SELECT p.setting, p.unit FROM apes.settings_history p
                                                WHERE p.name = h.name AND p.snapshot_id < h.snapshot_id
                                                ORDER BY p.snapshot_id DESC LIMIT 1) p ON true
                           WHERE s.taken_at >= clock_timestamp() - win
                             AND h.snapshot_id > (SELECT id FROM first_snap)
                             AND p.setting IS DISTINCT FROM h.setting),
             live AS (SELECT s.name, apes.setting_display(s.reset_val, s.unit) AS new_value,
                             apes.setting_display(l.setting, l.unit) AS old_value, clock_timestamp() AS changed_by
                        FROM pg_settings s
                        JOIN LATERAL (SELECT h.setting, h.unit FROM apes.settings_history h WHERE h.name = s.name
                                       ORDER BY h.snapshot_id DESC LIMIT 1) l ON true
                       WHERE l.setting IS DISTINCT FROM s.reset_val
                         AND s.source NOT IN ('client', 'global', 'database', 'user', 'database user'))
        SELECT DISTINCT ON (c.name) c.name, c.old_value, c.new_value, c.changed_by, c.live
          FROM (SELECT recorded.*, false AS live FROM recorded UNION ALL SELECT live.*, true FROM live) c
         ORDER BY c.name, c.changed_by DESC
    LOOP
        RETURN QUERY SELECT 'settings_changed', 'info', r.name,
            format('%s changed from %s to %s %s', r.name, coalesce(r.old_value, '(unset)'),
                   coalesce(r.new_value, '(unset)'),
                   CASE WHEN r.live THEN 'since the latest snapshot'
                        ELSE 'by the snapshot of ' || to_char(r.changed_by, 'YYYY-MM-DD HH24:MI') END),
            NULL::bigint, 'high',
            jsonb_build_object('setting', r.name, 'old_value', r.old_value, 'new_value', r.new_value,
                               'seen_at', r.changed_by, 'window', win::text),
            NULL::text;
    END LOOP;
END
$$;
COMMENT ON FUNCTION apes.server_findings() IS 'the server area of apes.findings(), as rows';

REVOKE ALL ON FUNCTION apes.window_start(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.setting_num(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.setting_display(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.session_setting(oid, oid, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.server_findings() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apes.window_start(interval) TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.setting_num(text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.setting_display(text, text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.session_setting(oid, oid, text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.server_findings() TO pg_monitor;

-- ==== issue 14: the maintenance area ====

-- Whether reports look into a schema (not a system, TOAST or temporary one, nor one of pg_apes_health.exclude_schemas).
CREATE FUNCTION apes.schema_reported(nsp oid)
RETURNS boolean
AS 'MODULE_PATHNAME', 'apes_schema_reported'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 100;
COMMENT ON FUNCTION apes.schema_reported(oid) IS 'whether reports look into this schema (pg_apes_health.exclude_schemas)';

-- The sequences of this database and how far each is toward its limit: the sequence's own bound, or the type of the
-- column it feeds (serial or identity) when that is smaller; the last value is read live where the caller may read
-- the sequence, else taken from the latest snapshot that recorded it; days left at the rate the history recorded.
CREATE FUNCTION apes.sequences(win interval DEFAULT NULL)
RETURNS TABLE (sequence regclass, column_name text, column_type regtype, sequence_type regtype, last_value bigint,
               value_seen_at timestamptz, limit_value numeric, limit_from text, used_pct double precision,
               per_day double precision, days_left double precision, cycles boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH s AS (
        SELECT q.seqrelid, q.seqtypid, q.seqmin, q.seqmax, q.seqincrement, q.seqcycle,
               CASE WHEN has_sequence_privilege(q.seqrelid, 'SELECT,USAGE') THEN pg_sequence_last_value(q.seqrelid) END AS live,
               d.refobjid AS tableoid, a.attname, a.atttypid
          FROM pg_sequence q
          JOIN pg_class c ON c.oid = q.seqrelid
          LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = q.seqrelid
                               AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
          LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid AND NOT a.attisdropped
         WHERE apes.schema_reported(c.relnamespace)),
    v AS (
        SELECT s.*,
               coalesce(s.live, h.last_value) AS value,
               CASE WHEN s.live IS NOT NULL THEN clock_timestamp() ELSE h.taken_at END AS seen_at,
               CASE s.atttypid WHEN 'int2'::regtype THEN 32767 WHEN 'int4'::regtype THEN 2147483647
                               ELSE 9223372036854775807 END::numeric AS col_max,
               CASE s.atttypid WHEN 'int2'::regtype THEN -32768 WHEN 'int4'::regtype THEN -2147483648
                               ELSE -9223372036854775808 END::numeric AS col_min
          FROM s
          LEFT JOIN LATERAL (SELECT x.last_value, n.taken_at FROM apes.sequence_history x
                               JOIN apes.snapshot n USING (snapshot_id)
                              WHERE x.seqrelid = s.seqrelid ORDER BY x.snapshot_id DESC LIMIT 1) h ON s.live IS NULL),
    l AS (
        SELECT v.*,
               CASE WHEN v.seqincrement > 0 THEN least(v.seqmax::numeric, v.col_max)
                    ELSE greatest(v.seqmin::numeric, v.col_min) END AS lim,
               CASE WHEN v.seqincrement > 0 AND v.col_max < v.seqmax THEN 'column'
                    WHEN v.seqincrement < 0 AND v.col_min > v.seqmin THEN 'column'
                    WHEN v.seqincrement > 0 AND v.seqmax < CASE v.seqtypid WHEN 'int2'::regtype THEN 32767
                                                          WHEN 'int4'::regtype THEN 2147483647
                                                          ELSE 9223372036854775807 END THEN 'maxvalue'
                    WHEN v.seqincrement < 0 AND v.seqmin > CASE v.seqtypid WHEN 'int2'::regtype THEN -32768
                                                          WHEN 'int4'::regtype THEN -2147483648
                                                          ELSE -9223372036854775808 END THEN 'minvalue'
                    ELSE 'sequence type' END AS lim_from
          FROM v WHERE v.value IS NOT NULL),
    r AS (
        SELECT l.*,
               (SELECT (l.value - x.last_value)::double precision
                       / nullif(extract(epoch FROM l.seen_at - n.taken_at) / 86400, 0)
                  FROM apes.sequence_history x JOIN apes.snapshot n USING (snapshot_id)
                 WHERE x.seqrelid = l.seqrelid AND n.taken_at >= clock_timestamp() - coalesce(win, interval '1 day')
                   AND n.taken_at <= l.seen_at - interval '1 hour'
                 ORDER BY x.snapshot_id LIMIT 1) AS rate
          FROM l)
    SELECT r.seqrelid::regclass, r.attname::text, r.atttypid::regtype, r.seqtypid::regtype, r.value, r.seen_at,
           r.lim, r.lim_from,
           CASE WHEN r.seqincrement > 0
                THEN 100.0 * (r.value - r.seqmin) / nullif(r.lim - r.seqmin, 0)
                ELSE 100.0 * (r.seqmax - r.value) / nullif(r.seqmax - r.lim, 0) END,
           abs(r.rate),
           CASE WHEN r.rate IS NOT NULL AND r.rate * sign(r.seqincrement) > 0
                THEN abs(r.lim - r.value) / abs(r.rate) END,
           r.seqcycle
      FROM r
$$;
COMMENT ON FUNCTION apes.sequences(interval) IS
    'sequences and how far each is toward its limit (its own, or the type of the column it feeds), with days left';

-- Growth between two snapshots: the latest at or before since (else the oldest after it) and the latest one; every
-- database (its size), and the top relations of this database by bytes a day (table, index or matview with its
-- TOAST: apes.relation_history.total_bytes).  Two snapshots are read, not every one between them.
CREATE FUNCTION apes.growth(since timestamptz DEFAULT now() - interval '7 days', top integer DEFAULT 20)
RETURNS TABLE (kind text, name text, bytes_start bigint, bytes_end bigint, bytes_per_day double precision,
               since timestamptz, until timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH a AS (SELECT s.snapshot_id, s.taken_at FROM apes.snapshot s    -- at or before since, else the oldest
                WHERE s.snapshot_id = coalesce((SELECT b.snapshot_id FROM apes.snapshot b WHERE b.taken_at <= growth.since
                                                 ORDER BY b.taken_at DESC LIMIT 1),
                                               (SELECT o.snapshot_id FROM apes.snapshot o ORDER BY o.taken_at LIMIT 1))),
         b AS (SELECT s.snapshot_id, s.taken_at FROM apes.snapshot s ORDER BY s.taken_at DESC LIMIT 1),
         span AS (SELECT a.snapshot_id AS a_id, b.snapshot_id AS b_id, a.taken_at AS a_at, b.taken_at AS b_at,
                         extract(epoch FROM b.taken_at - a.taken_at) / 86400 AS days
                    FROM a, b WHERE b.taken_at > a.taken_at),
         dbs AS (SELECT 'database'::text AS kind, quote_ident(y.datname) AS name, x.size_bytes AS s0,
                        y.size_bytes AS s1, (y.size_bytes - x.size_bytes) / span.days AS per_day, span.a_at, span.b_at
                   FROM span
                   JOIN apes.server_database_history x ON x.snapshot_id = span.a_id
                   JOIN apes.server_database_history y ON y.snapshot_id = span.b_id AND y.datid = x.datid
                  WHERE x.size_bytes IS NOT NULL AND y.size_bytes IS NOT NULL),
         -- both snapshots' rows in one index range, paired by an aggregate (a join of one snapshot's rows to the
         -- other's probed the index once per relation); names only for the relations that grew
         rels AS (SELECT 'relation'::text AS kind, g.relid::regclass::text AS name, g.s0, g.s1,
                         (g.s1 - g.s0) / span.days AS per_day, span.a_at, span.b_at
                    FROM span
                    CROSS JOIN LATERAL (SELECT h.relid,
                                               max(h.total_bytes) FILTER (WHERE h.snapshot_id = span.a_id) AS s0,
                                               max(h.total_bytes) FILTER (WHERE h.snapshot_id = span.b_id) AS s1
                                          FROM apes.relation_history h
                                         WHERE h.snapshot_id IN (span.a_id, span.b_id)
                                         GROUP BY h.relid) g
                    JOIN pg_class c ON c.oid = g.relid
                   WHERE g.s1 > g.s0 AND apes.schema_reported(c.relnamespace)
                   ORDER BY 5 DESC, 2
                   LIMIT greatest(top, 0))
    SELECT * FROM dbs
    UNION ALL
    SELECT * FROM rels
$$;
COMMENT ON FUNCTION apes.growth(timestamptz, integer) IS
    'growth of every database and of the fastest-growing relations between two snapshots, in bytes a day';

-- The statements that give a sequence room: the column it feeds made bigint (a rewrite under an ACCESS EXCLUSIVE lock;
-- an identity column's sequence follows), the sequence made bigint (a catalog change), or its bound removed.
CREATE FUNCTION apes.sequence_fix(seq regclass, limit_from text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH dep AS (SELECT d.refobjid::regclass AS tab, a.attname, a.atttypid, d.deptype
                   FROM pg_depend d
                   JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = seq AND d.refclassid = 'pg_class'::regclass
                    AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
                  LIMIT 1),
         q AS (SELECT s.seqtypid FROM pg_sequence s WHERE s.seqrelid = seq)
    SELECT CASE
        WHEN limit_from IN ('maxvalue', 'minvalue')
            THEN format(E'-- a quick catalog change:\nALTER SEQUENCE %s %s;', seq,
                        CASE limit_from WHEN 'maxvalue' THEN 'NO MAXVALUE' ELSE 'NO MINVALUE' END)
        WHEN dep.tab IS NOT NULL AND dep.atttypid IN ('int2'::regtype, 'int4'::regtype)
            THEN format(E'-- rewrites %s and its indexes under an ACCESS EXCLUSIVE lock (no reads or writes until it ends):\nALTER TABLE %s ALTER COLUMN %I TYPE bigint;%s',
                        dep.tab, dep.tab, dep.attname,
                        CASE WHEN dep.deptype = 'a' AND q.seqtypid <> 'int8'::regtype
                             THEN format(E'\n-- a quick catalog change:\nALTER SEQUENCE %s AS bigint;', seq) ELSE '' END)
        ELSE format(E'-- a quick catalog change:\nALTER SEQUENCE %s AS bigint;', seq) END
      FROM q LEFT JOIN dep ON true
$$;
COMMENT ON FUNCTION apes.sequence_fix(regclass, text) IS 'the statements that give a sequence near its limit room';

-- The maintenance area's checks written in SQL, as rows of apes.findings(): sequence_exhaustion,
-- constraint_not_valid, trigger_disabled, autovacuum_workers_saturated, relation_growth_fast.
CREATE FUNCTION apes.maintenance_findings()
RETURNS TABLE (check_id text, severity text, object_name text, summary text, wasted_bytes bigint, confidence text,
               evidence jsonb, fix_sql text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    win        interval := make_interval(secs => apes.setting_num('pg_apes_health.server_window'));
    max_pct    double precision := apes.setting_num('pg_apes_health.sequence_max_pct');
    r          record;
BEGIN
    -- sequence_exhaustion
    FOR r IN SELECT * FROM apes.sequences(win) q
              WHERE q.used_pct >= max_pct OR (q.days_left IS NOT NULL AND q.days_left < 30)
              ORDER BY q.used_pct DESC
    LOOP
        RETURN QUERY SELECT 'sequence_exhaustion',
            CASE WHEN r.cycles THEN 'info'
                 WHEN r.used_pct >= 90 OR r.days_left < 30 THEN 'critical' ELSE 'warning' END,
            r.sequence::text,
            format('%s has used %s%% of its range up to %s (%s)%s%s%s',
                   r.sequence, round(r.used_pct::numeric, 1), r.limit_value,
                   CASE r.limit_from WHEN 'column' THEN format('the %s column %s it feeds', r.column_type, r.column_name)
                                     WHEN 'maxvalue' THEN 'its MAXVALUE' WHEN 'minvalue' THEN 'its MINVALUE'
                                     ELSE 'its type ' || r.sequence_type END,
                   CASE WHEN r.days_left IS NOT NULL
                        THEN format(': at %s a day it runs out in %s days', round(r.per_day::numeric),
                                    round(r.days_left::numeric, 1)) ELSE '' END,
                   CASE WHEN r.value_seen_at < clock_timestamp() - interval '1 minute'
                        THEN format(' (value as of the snapshot of %s)', to_char(r.value_seen_at, 'YYYY-MM-DD HH24:MI'))
                        ELSE '' END,
                   CASE WHEN r.cycles THEN '; it cycles, so values will repeat (a key column then gets duplicates)'
                        ELSE '; then every insert fails' END),
            NULL::bigint, CASE WHEN r.value_seen_at < clock_timestamp() - interval '1 minute' THEN 'medium' ELSE 'high' END,
            jsonb_build_object('last_value', r.last_value, 'limit', r.limit_value, 'limit_from', r.limit_from,
                               'used_pct', r.used_pct, 'per_day', r.per_day, 'days_left', r.days_left,
                               'column', r.column_name, 'column_type', r.column_type::text,
                               'sequence_type', r.sequence_type::text, 'cycles', r.cycles,
                               'value_seen_at', r.value_seen_at),
            apes.sequence_fix(r.sequence, r.limit_from);
    END LOOP;

    -- constraint_not_valid: CHECK, foreign key and NOT NULL constraints added NOT VALID and never validated
    FOR r IN
        SELECT c.conname, c.contype, c.conrelid::regclass AS tab
          FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
         WHERE NOT c.convalidated AND c.contype IN ('c', 'f', 'n') AND c.conparentid = 0
           AND apes.schema_reported(t.relnamespace)
         ORDER BY 3, 1
    LOOP
        RETURN QUERY SELECT 'constraint_not_valid', 'warning', format('%s.%I', r.tab, r.conname),
            format('%s constraint %I on %s is NOT VALID: new rows are checked, the rows already there never were, and the planner cannot rely on it',
                   CASE r.contype WHEN 'c' THEN 'CHECK' WHEN 'f' THEN 'foreign key' ELSE 'NOT NULL' END, r.conname, r.tab),
            NULL::bigint, 'high',
            jsonb_build_object('constraint', r.conname, 'type', r.contype, 'table', r.tab::text),
            format(E'-- scans the table under a SHARE UPDATE EXCLUSIVE lock: reads and writes go on\nALTER TABLE %s VALIDATE CONSTRAINT %I;',
                   r.tab, r.conname);
    END LOOP;

    -- trigger_disabled: user triggers disabled; a foreign key's internal triggers disabled (the key is not enforced)
    FOR r IN
        -- one row per user trigger, and per foreign key and table for a key's internal triggers
        SELECT DISTINCT ON (g.tgrelid, CASE WHEN g.tgisinternal THEN k.conname::text ELSE g.tgname::text END)
               g.tgrelid::regclass AS tab, g.tgname, g.tgisinternal, k.conname, k.conrelid::regclass AS fktab
          FROM pg_trigger g
          JOIN pg_class t ON t.oid = g.tgrelid
          LEFT JOIN pg_constraint k ON k.oid = g.tgconstraint
         WHERE g.tgenabled = 'D' AND g.tgparentid = 0 AND apes.schema_reported(t.relnamespace)
           AND (NOT g.tgisinternal OR k.contype = 'f')
         ORDER BY g.tgrelid, CASE WHEN g.tgisinternal THEN k.conname::text ELSE g.tgname::text END, g.tgname
    LOOP
        RETURN QUERY SELECT 'trigger_disabled', CASE WHEN r.tgisinternal THEN 'critical' ELSE 'warning' END,
            CASE WHEN r.tgisinternal THEN format('%s.%I', r.fktab, r.conname) ELSE format('%s.%I', r.tab, r.tgname) END,
            CASE WHEN r.tgisinternal
                 THEN format('a trigger of foreign key %I is disabled on %s (ALTER TABLE ... DISABLE TRIGGER ALL): the key is not enforced, and rows that break it can be written',
                             r.conname, r.tab)
                 ELSE format('trigger %I on %s is disabled: whatever it does (auditing, derived columns, checks) does not happen', r.tgname, r.tab) END,
            NULL::bigint, 'high',
            jsonb_build_object('table', r.tab::text, 'trigger', r.tgname, 'internal', r.tgisinternal,
                               'constraint', r.conname),
            CASE WHEN r.tgisinternal
                 THEN format(E'-- as a superuser; rows written meanwhile are not checked: validate the key afterwards\nALTER TABLE %s ENABLE TRIGGER ALL;', r.tab)
                 ELSE format('ALTER TABLE %s ENABLE TRIGGER %I;', r.tab, r.tgname) END;
    END LOOP;

    -- autovacuum_workers_saturated: every worker busy at half the snapshots of the window or more (4 at least)
    SELECT count(*) AS snapshots,
           count(*) FILTER (WHERE h.autovacuum_workers >= h.autovacuum_max_workers) AS saturated,
           max(h.autovacuum_max_workers) AS max_workers, min(s.taken_at) AS since INTO r
      FROM apes.server_history h JOIN apes.snapshot s USING (snapshot_id)
     WHERE s.taken_at >= clock_timestamp() - win;
    IF r.snapshots >= 4 AND 2 * r.saturated >= r.snapshots THEN
        RETURN QUERY SELECT 'autovacuum_workers_saturated', 'warning', 'autovacuum_max_workers',
            format('all %s autovacuum workers were busy at %s of %s snapshots since %s: tables wait for a free worker while their dead rows grow',
                   r.max_workers, r.saturated, r.snapshots, to_char(r.since, 'YYYY-MM-DD HH24:MI')),
            NULL::bigint, 'high',
            jsonb_build_object('snapshots', r.snapshots, 'saturated', r.saturated,
                               'autovacuum_max_workers', r.max_workers, 'since', r.since),
            format(E'-- more workers need a restart; a higher cost limit lets each finish sooner:\nALTER SYSTEM SET autovacuum_max_workers = %s;\nALTER SYSTEM SET autovacuum_vacuum_cost_limit = 2000;\nSELECT pg_reload_conf();',
                   2 * r.max_workers);
    END IF;

    -- relation_growth_fast: bytes a day over the window, from the sizes two snapshots recorded an hour apart at least
    FOR r IN
        SELECT g.* FROM apes.growth(clock_timestamp() - win, 1000) g
         WHERE g.kind = 'relation' AND g.until - g.since >= interval '1 hour'
           AND g.bytes_per_day >= apes.setting_num('pg_apes_health.growth_max_per_day') * 1024 * 1024
         ORDER BY g.bytes_per_day DESC
    LOOP
        RETURN QUERY SELECT 'relation_growth_fast', 'warning', r.name,
            format('%s grew from %s to %s since %s: %s a day', r.name, pg_size_pretty(r.bytes_start),
                   pg_size_pretty(r.bytes_end), to_char(r.since, 'YYYY-MM-DD HH24:MI'),
                   pg_size_pretty(r.bytes_per_day::bigint)),
            NULL::bigint, 'high',
            jsonb_build_object('bytes_start', r.bytes_start, 'bytes_end', r.bytes_end,
                               'bytes_per_day', r.bytes_per_day, 'since', r.since, 'until', r.until),
            NULL::text;
    END LOOP;
END
$$;
COMMENT ON FUNCTION apes.maintenance_findings() IS 'the maintenance area''s checks written in SQL, as rows';

REVOKE ALL ON FUNCTION apes.schema_reported(oid) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.sequences(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.sequence_fix(regclass, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.growth(timestamptz, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.maintenance_findings() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apes.schema_reported(oid) TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.sequences(interval) TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.sequence_fix(regclass, text) TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.growth(timestamptz, integer) TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.maintenance_findings() TO pg_monitor;

-- ==== issue 14: acknowledgements ====
-- A finding a DBA has seen and decided to live with for a while: until "until" (NULL: until unacknowledged), or until
-- it is worse than the severity it had when acknowledged, it leaves the verdict and the counts of health_report(),
-- health_json() and the metrics, which say how many are acknowledged; apes.findings() still returns it, flagged.
CREATE TABLE apes.acknowledgement (
    check_id         text NOT NULL,
    object_name      text NOT NULL,
    severity         text NOT NULL,     -- the severity acknowledged: a worse finding is reported again
    until            timestamptz,       -- NULL: until apes.unacknowledge()
    reason           text NOT NULL,
    acknowledged_by  name NOT NULL,
    acknowledged_at  timestamptz NOT NULL,
    PRIMARY KEY (check_id, object_name)
);
COMMENT ON TABLE apes.acknowledgement IS 'acknowledged findings: kept out of the verdict and counts until they expire or get worse';

-- Acknowledge a current finding until a moment (NULL: until unacknowledged), with a reason; its current severity is
-- what is acknowledged.  Acknowledging it again replaces the acknowledgement.  SECURITY DEFINER: granted to whom the
-- DBA chooses (nobody by default), it writes apes.acknowledgement for them.
CREATE FUNCTION apes.acknowledge(check_id text, object_name text, until timestamptz DEFAULT NULL,
                                 reason text DEFAULT NULL)
RETURNS SETOF apes.acknowledgement
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    chk  record;
    sev  text;
BEGIN
    SELECT c.area INTO chk FROM apes.checks() c WHERE c.check_id = acknowledge.check_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown check id "%"', acknowledge.check_id USING ERRCODE = '22023',
              HINT = 'SELECT check_id FROM apes.checks lists them.';
    END IF;
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION 'an acknowledgement needs a reason' USING ERRCODE = '22023',
              HINT = 'Say why the finding may wait, and until when: apes.acknowledge(check_id, object_name, until, reason).';
    END IF;
    IF until IS NOT NULL AND until <= now() THEN
        RAISE EXCEPTION 'until must be in the future' USING ERRCODE = '22023';
    END IF;
    -- the finding as it is now (the worst, should the check report the object twice)
    SELECT f.severity INTO sev
      FROM apes.findings(CASE WHEN chk.area = '*' THEN NULL ELSE chk.area END) f
     WHERE f.check_id = acknowledge.check_id AND f.object_name = acknowledge.object_name
     ORDER BY array_position(ARRAY['critical', 'warning', 'info'], f.severity) LIMIT 1;
    IF sev IS NULL THEN
        RAISE EXCEPTION 'there is no % finding for % now', acknowledge.check_id, acknowledge.object_name
              USING ERRCODE = '22023',
                    HINT = 'SELECT check_id, object_name FROM apes.findings() lists the current findings.';
    END IF;
    RETURN QUERY
    INSERT INTO apes.acknowledgement AS a
    VALUES (acknowledge.check_id, acknowledge.object_name, sev, until, reason, session_user, now())
    ON CONFLICT ON CONSTRAINT acknowledgement_pkey DO UPDATE
       SET severity = EXCLUDED.severity, until = EXCLUDED.until, reason = EXCLUDED.reason,
           acknowledged_by = EXCLUDED.acknowledged_by, acknowledged_at = EXCLUDED.acknowledged_at
    RETURNING a.*;
END
$$;
COMMENT ON FUNCTION apes.acknowledge(text, text, timestamptz, text) IS
    'acknowledge a current finding until a moment, with a reason: it leaves the verdict and counts until then, or until it gets worse';

-- Take an acknowledgement back; true when there was one.
CREATE FUNCTION apes.unacknowledge(check_id text, object_name text)
RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH d AS (DELETE FROM apes.acknowledgement a
                WHERE a.check_id = unacknowledge.check_id AND a.object_name = unacknowledge.object_name
               RETURNING 1)
    SELECT count(*) > 0 FROM d
$$;
COMMENT ON FUNCTION apes.unacknowledge(text, text) IS 'take an acknowledgement back';

-- The acknowledgements, and whether each has expired.
CREATE VIEW apes.acknowledgements AS
    SELECT a.check_id, a.object_name, a.severity, a.until, a.reason, a.acknowledged_by, a.acknowledged_at,
           a.until IS NOT NULL AND a.until <= pg_catalog.now() AS expired
      FROM apes.acknowledgement a;
COMMENT ON VIEW apes.acknowledgements IS 'acknowledged findings, and whether each acknowledgement has expired';

REVOKE ALL ON apes.acknowledgement, apes.acknowledgements FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.acknowledge(text, text, timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.unacknowledge(text, text) FROM PUBLIC;
GRANT SELECT ON apes.acknowledgement, apes.acknowledgements TO pg_monitor;
SELECT pg_catalog.pg_extension_config_dump('apes.acknowledgement', '');

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

    -- server settings whose value (before any session's SET: reset_val) changed since their latest row; not those
    -- this session took from its client, role or database, which are not the server's
    INSERT INTO apes.settings_history
    SELECT id, s.name, s.reset_val, s.unit, s.source
      FROM pg_settings s
     WHERE s.source NOT IN ('client', 'global', 'database', 'user', 'database user')
       AND NOT EXISTS (SELECT 1
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

-- ==== issue 15: index advice ====
-- What dropping an index would do to the plans of the top statements of this database that read its table (by total
-- time in pg_stat_statements), each planned as a generic plan with the index and without it; nothing is executed.
-- A statement is planned and shown only when the caller may read every relation it reads (others: status 'hidden',
-- nothing else shown), and only statements whose text pg_stat_statements shows the caller are looked at.  Each
-- statement is planned in a subtransaction, as its own role, under the caller's statement_timeout.
CREATE FUNCTION apes.simulate_drop(idx regclass, statements integer DEFAULT 20)
RETURNS TABLE (
    rank          integer,
    queryid       bigint,
    role          name,
    calls         bigint,
    total_time_ms double precision,
    status        text,
    reason        text,
    uses_index    boolean,
    cost_with     double precision,
    cost_without  double precision,
    cost_ratio    double precision,
    query         text
)
AS 'MODULE_PATHNAME', 'apes_simulate_drop'
LANGUAGE C STABLE STRICT PARALLEL UNSAFE;

COMMENT ON FUNCTION apes.simulate_drop(regclass, integer) IS
    'the top statements reading the index''s table, planned with and without the index: would dropping it make any costlier?';

REVOKE ALL ON FUNCTION apes.simulate_drop(regclass, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apes.simulate_drop(regclass, integer) TO pg_monitor;
-- ==== end of issue 15 ====
