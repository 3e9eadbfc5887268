/* pg_apes_health 0.2.0 -> 0.3.0: PostgreSQL 17 and 18.
 *
 * pg_stat_statements 1.11 (PostgreSQL 17) renamed its I/O timing columns (blk_read_time -> shared_blk_read_time and
 * local_blk_read_time, the same for writes), so apes.snapshot() and apes.statements_now() failed on 17 and 18.  Both
 * now take those columns from apes.pgss_io_time_columns(), which reads the names from the view of the installed
 * version; the stored history keeps its columns and meaning (the sum of shared and local time).
 *
 * Safety: the two functions replaced here are members of this extension, so replacing them cannot adopt a planted
 * object (the server refuses CREATE OR REPLACE of a non-member in an extension script); the new function is created
 * plainly, so a planted one makes the update fail.  Replacing keeps the functions' privileges.
 * test/upgrade_test.sh checks that an update from 0.1.0 gives the same objects and privileges as a fresh install.
 */
\echo Use "ALTER EXTENSION pg_apes_health UPDATE TO '0.3.0'" to load this file. \quit

-- pg_stat_statements' I/O timing columns under the names of the installed version, in the order of
-- apes.statement_history (blk_read_time, blk_write_time): version 1.11 (PostgreSQL 17) renamed them
-- shared_blk_read_time and shared_blk_write_time and counts local buffers apart (local_blk_*_time); their sum is what
-- blk_*_time counted before, so a series read across a major-version upgrade keeps its meaning.  Decided from the
-- columns of the view itself, not from a version number.  Every query of this extension that reads
-- pg_stat_statements' counters takes its select list from here.
CREATE FUNCTION apes.pgss_io_time_columns(schema_name name)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN count(*) OPERATOR(pg_catalog.=) 4
                THEN 's.shared_blk_read_time + s.local_blk_read_time, s.shared_blk_write_time + s.local_blk_write_time'
                ELSE 's.blk_read_time, s.blk_write_time' END
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = pg_catalog.to_regclass(pg_catalog.quote_ident(schema_name) OPERATOR(pg_catalog.||) '.pg_stat_statements')
       AND a.attname OPERATOR(pg_catalog.=) ANY (ARRAY['shared_blk_read_time', 'local_blk_read_time',
                                                        'shared_blk_write_time', 'local_blk_write_time']::name[])
       AND NOT a.attisdropped
$$;
COMMENT ON FUNCTION apes.pgss_io_time_columns(name) IS
    'the select list of pg_stat_statements'' I/O timing columns in the installed version (renamed in 1.11, PostgreSQL 17)';
REVOKE ALL ON FUNCTION apes.pgss_io_time_columns(name) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apes.pgss_io_time_columns(name) TO pg_monitor;

-- Take one snapshot: returns its id, or NULL (with a NOTICE) on a standby, in a read-only transaction, or while
-- another snapshot is running.  One transaction: a failure leaves nothing behind.  The statistics are read as one
-- snapshot (stats_fetch_consistency): every counter from the same moment, and no per-relation reference to the shared
-- statistics left in the session (the default "cache" mode keeps one per relation read, for the session's life).
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

-- pg_stat_statements now, for this database, in the shape of apes.statement_history (snapshot_id 0).  55000 when it
-- cannot be read.
CREATE OR REPLACE FUNCTION apes.statements_now()
RETURNS SETOF apes.statement_history
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pgss record := apes.pgss_status();
BEGIN
    IF pgss.status <> 'ok' THEN
        RAISE EXCEPTION 'pg_stat_statements is %', pgss.status
            USING ERRCODE = '55000',
                  HINT = CASE pgss.status
                         WHEN 'not installed' THEN 'Run CREATE EXTENSION pg_stat_statements in this database.'
                         ELSE 'Add pg_stat_statements to shared_preload_libraries and restart the server.' END;
    END IF;
    RETURN QUERY EXECUTE format($q$
        SELECT 0::bigint, s.dbid, s.userid, s.queryid, s.toplevel, s.calls, s.total_exec_time,
               s.calls * (s.stddev_exec_time ^ 2 + s.mean_exec_time ^ 2), s.plans, s.total_plan_time, s.rows,
               s.shared_blks_hit, s.shared_blks_read, s.shared_blks_dirtied, s.shared_blks_written,
               s.temp_blks_read, s.temp_blks_written, %s, s.wal_bytes
          FROM %I.pg_stat_statements(false) s
         WHERE s.queryid IS NOT NULL
           AND s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())$q$,
        apes.pgss_io_time_columns(pgss.schema_name), pgss.schema_name);
END
$$;
