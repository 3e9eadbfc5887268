/* pg_apes_health 0.1.0 -> 0.2.0: findings history.
 *
 * apes.snapshot() now records the findings as episodes (apes.finding_history; apes.snapshot.findings counts them), purged
 * with the rest of the history; apes.finding_changes() says what is new, resolved, escalated or eased since a moment.
 *
 * Safety: the two functions replaced here (snapshot, purge) are members of this extension, so replacing them cannot
 * adopt a planted object (the server refuses CREATE OR REPLACE of a non-member in an extension script); every new
 * object is created plainly, so a planted one makes the update fail.  Replacing keeps the functions' privileges.
 * test/upgrade_test.sh checks that an update from 0.1.0 gives the same objects and privileges as a fresh install.
 */
\echo Use "ALTER EXTENSION pg_apes_health UPDATE TO '0.2.0'" to load this file. \quit

ALTER TABLE apes.snapshot ADD COLUMN findings integer;

-- =====================================================================================================================
-- Findings history (0.2.0): one row per episode of a finding, from the snapshot that first saw it to the one that no
-- longer did, so a report can say what is new, what was resolved and how long a problem has been there.  A snapshot
-- writes only what changed: a finding still there at the same severity costs nothing (a snapshot of 2,000 unchanged
-- findings writes no row).  Summaries, fixes and undos are not stored: a summary may quote a statement's text, which
-- only apes.statement_text keeps (behind row-level security).
-- =====================================================================================================================

CREATE TABLE apes.finding_history (
    check_id       text NOT NULL,
    area           text NOT NULL,
    severity       text NOT NULL,
    object_name    text,
    first_seen     timestamptz NOT NULL,   -- the snapshot that first saw it at this severity
    resolved_at    timestamptz,            -- the first snapshot that no longer saw it (at this severity); NULL: open
    wasted_bytes   bigint,                 -- wasted_bytes, confidence and evidence as first seen
    confidence     text,
    evidence       jsonb
);
CREATE INDEX finding_history_open_idx ON apes.finding_history (check_id, object_name) WHERE resolved_at IS NULL;
COMMENT ON TABLE apes.finding_history IS
    'episodes of findings: seen by the snapshots from first_seen until resolved_at (NULL: still seen)';

-- Record the findings of now, at a snapshot taken at taken: open an episode for each finding no open episode
-- covers (same check, object and severity), close the open episodes of findings no longer there.  Returns how many
-- findings there are now.  Called by apes.snapshot().
CREATE FUNCTION apes.record_findings(taken timestamptz)
RETURNS integer
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    WITH cur AS MATERIALIZED (
             SELECT DISTINCT ON (f.check_id, coalesce(f.object_name, ''), f.severity)
                    f.check_id, f.area, f.severity, f.object_name, f.wasted_bytes, f.confidence, f.evidence
               FROM apes.findings() f
              ORDER BY f.check_id, coalesce(f.object_name, ''), f.severity, f.wasted_bytes DESC NULLS LAST),
         closed AS (
             UPDATE apes.finding_history h SET resolved_at = taken
              WHERE h.resolved_at IS NULL
                AND NOT EXISTS (SELECT 1 FROM cur c
                                 WHERE c.check_id = h.check_id AND c.object_name IS NOT DISTINCT FROM h.object_name
                                   AND c.severity = h.severity)
             RETURNING 1),
         opened AS (   -- (data-modifying WITH parts always run, read or not; both see the table as it was)
             INSERT INTO apes.finding_history
             SELECT c.check_id, c.area, c.severity, c.object_name, taken, NULL, c.wasted_bytes, c.confidence,
                    c.evidence
               FROM cur c
              WHERE NOT EXISTS (SELECT 1 FROM apes.finding_history h
                                 WHERE h.resolved_at IS NULL AND h.check_id = c.check_id
                                   AND h.object_name IS NOT DISTINCT FROM c.object_name AND h.severity = c.severity)
             RETURNING 1)
    SELECT count(*)::integer FROM cur;
$$;
COMMENT ON FUNCTION apes.record_findings(timestamptz) IS
    'record the current findings as episodes of apes.finding_history (called by apes.snapshot())';

-- What changed since a moment (default: a day ago): the findings now against those the last snapshot taken at or
-- before it saw.  change is new, resolved, escalated (more severe now) or eased; first_seen: since when the newest
-- snapshots have seen it at this severity (NULL: no snapshot has seen it yet).
CREATE FUNCTION apes.finding_changes(since timestamptz DEFAULT NULL)
RETURNS TABLE (change text, check_id text, area text, severity text, previous_severity text, object_name text,
               summary text, first_seen timestamptz, baseline_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    since_at  timestamptz := coalesce(since, now() - interval '1 day');
    base_at   timestamptz;
    ranks     text[] := ARRAY['critical', 'warning', 'info'];
BEGIN
    SELECT s.taken_at INTO base_at
      FROM apes.snapshot s
     WHERE s.taken_at <= since_at AND s.findings IS NOT NULL
     ORDER BY s.taken_at DESC LIMIT 1;
    IF base_at IS NULL THEN
        RAISE EXCEPTION 'no snapshot with findings was taken at or before %', since_at
            USING ERRCODE = '22023',
                  HINT = 'apes.snapshot() records the findings; apes.schedule() takes a snapshot every 15 minutes.';
    END IF;
    RETURN QUERY
    WITH cur AS (SELECT f.check_id, f.area, f.severity, f.object_name, f.summary,
                        coalesce(f.object_name, '') AS object_key
                   FROM apes.findings() f),
         old AS (SELECT h.check_id, min(h.area) AS area, coalesce(h.object_name, '') AS object_key,
                        min(h.object_name) AS object_name, min(array_position(ranks, h.severity)) AS severity_rank
                   FROM apes.finding_history h
                  WHERE h.first_seen <= base_at AND (h.resolved_at IS NULL OR h.resolved_at > base_at)
                  GROUP BY h.check_id, coalesce(h.object_name, '')),
         seen AS (SELECT h.check_id, coalesce(h.object_name, '') AS object_key, h.severity, min(h.first_seen) AS first_seen
                    FROM apes.finding_history h WHERE h.resolved_at IS NULL
                   GROUP BY 1, 2, 3)
    SELECT CASE WHEN o.check_id IS NULL THEN 'new'
                WHEN c.check_id IS NULL THEN 'resolved'
                WHEN array_position(ranks, c.severity) < o.severity_rank THEN 'escalated'
                ELSE 'eased' END,
           coalesce(c.check_id, o.check_id), coalesce(c.area, o.area),
           coalesce(c.severity, ranks[o.severity_rank]),
           ranks[o.severity_rank], coalesce(c.object_name, o.object_name), c.summary, s.first_seen, base_at
      FROM cur c
      FULL JOIN old o ON o.check_id = c.check_id AND o.object_key = c.object_key
      LEFT JOIN seen s ON s.check_id = c.check_id AND s.object_key = c.object_key AND s.severity = c.severity
     WHERE o.check_id IS NULL OR c.check_id IS NULL OR array_position(ranks, c.severity) <> o.severity_rank
     ORDER BY 1, 2, 6;
END
$$;
COMMENT ON FUNCTION apes.finding_changes(timestamptz) IS
    'findings new, resolved, escalated or eased since a moment (default a day ago), against the snapshot before it';

-- statistics read as one snapshot: counters from one moment, no per-relation statistics reference left in the session
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
                   s.temp_blks_read, s.temp_blks_written, s.blk_read_time, s.blk_write_time, s.wal_bytes
              FROM %I.pg_stat_statements(false) s
             WHERE s.queryid IS NOT NULL AND s.dbid = $2$q$, pgss.schema_name) USING id, mydb;
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

REVOKE ALL ON apes.finding_history FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.record_findings(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.finding_changes(timestamptz) FROM PUBLIC;
GRANT SELECT ON apes.finding_history TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.finding_changes(timestamptz) TO pg_monitor;
SELECT pg_catalog.pg_extension_config_dump('apes.finding_history', '');
