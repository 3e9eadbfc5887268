-- Findings history (0.2.0): a snapshot records each finding as an episode (first_seen .. resolved_at) and writes only
-- what changed; apes.finding_changes() says what is new, resolved, escalated or eased since a moment; purge removes
-- the episodes resolved before the cutoff; summaries (which may quote statement texts) are not stored.
CREATE SCHEMA fh;
CREATE TABLE fh.parent (id int PRIMARY KEY);
CREATE TABLE fh.t (id int PRIMARY KEY, v text, p int);
CREATE INDEX t_v_idx ON fh.t (v);
CREATE INDEX t_v_dup ON fh.t (v);

-- a snapshot opens an episode for the planted duplicate; the snapshot counts every finding it saw
SELECT apes.snapshot() AS s1 \gset
SELECT taken_at AS t1 FROM apes.snapshot WHERE snapshot_id = :s1 \gset
SELECT check_id, area, severity, object_name, first_seen = :'t1' AS first_seen_s1, resolved_at
  FROM apes.finding_history WHERE object_name LIKE 'fh.%' ORDER BY check_id, object_name;
SELECT findings = (SELECT count(*) FROM apes.findings()) AS count_kept FROM apes.snapshot WHERE snapshot_id = :s1;
SELECT count(*) AS rows_after_s1 FROM apes.finding_history \gset

-- the next snapshot, nothing changed: no row written, the episode stays open; it read the findings once,
-- in one collection (apes.findings_new()) and computed no finding's details (evidence, index definitions), which
-- cost the most
BEGIN;
SET LOCAL track_functions = 'all';
-- (calls counted inside one transaction: the pending counters are flushed only between transactions)
SELECT coalesce(sum(calls) FILTER (WHERE funcname = 'findings'), 0) AS f0,
       coalesce(sum(calls) FILTER (WHERE funcname = 'findings_new'), 0) AS k0
  FROM pg_stat_xact_user_functions WHERE schemaname = 'apes' \gset
SELECT apes.snapshot() AS s2 \gset
SELECT coalesce(sum(calls) FILTER (WHERE funcname = 'findings'), 0) - :f0 AS findings_calls,
       coalesce(sum(calls) FILTER (WHERE funcname = 'findings_new'), 0) - :k0 AS findings_new_calls
  FROM pg_stat_xact_user_functions WHERE schemaname = 'apes';
COMMIT;
SELECT taken_at AS t2 FROM apes.snapshot WHERE snapshot_id = :s2 \gset
SELECT count(*) - :rows_after_s1 AS rows_written_by_s2 FROM apes.finding_history;
SELECT check_id, object_name, first_seen = :'t1' AS first_seen_s1, resolved_at IS NULL AS open
  FROM apes.finding_history WHERE object_name LIKE 'fh.%' ORDER BY check_id, object_name;

-- the duplicate goes, a foreign key without an index comes: one resolved, one new (not yet seen by a snapshot)
DROP INDEX fh.t_v_dup;
ALTER TABLE fh.t ADD FOREIGN KEY (p) REFERENCES fh.parent;
SELECT change, check_id, severity, previous_severity, object_name, summary IS NOT NULL AS has_summary,
       first_seen IS NULL AS not_seen_yet, baseline_at = :'t2' AS against_s2
  FROM apes.finding_changes(:'t2') WHERE object_name LIKE 'fh.%' ORDER BY change, check_id;
-- a snapshot closes the duplicate's episode and opens the foreign key's, from one collection (apes.findings_new():
-- the new finding's evidence comes with it)
BEGIN;
SET LOCAL track_functions = 'all';
SELECT coalesce(sum(calls) FILTER (WHERE funcname = 'findings'), 0) AS f0,
       coalesce(sum(calls) FILTER (WHERE funcname = 'findings_new'), 0) AS k0
  FROM pg_stat_xact_user_functions WHERE schemaname = 'apes' \gset
SELECT apes.snapshot() AS s3 \gset
SELECT coalesce(sum(calls) FILTER (WHERE funcname = 'findings'), 0) - :f0 AS findings_calls,
       coalesce(sum(calls) FILTER (WHERE funcname = 'findings_new'), 0) - :k0 AS findings_new_calls
  FROM pg_stat_xact_user_functions WHERE schemaname = 'apes';
COMMIT;
SELECT taken_at AS t3 FROM apes.snapshot WHERE snapshot_id = :s3 \gset
SELECT check_id, object_name, first_seen = :'t1' AS since_s1, first_seen = :'t3' AS since_s3,
       resolved_at = :'t3' AS resolved_s3, resolved_at IS NULL AS open
  FROM apes.finding_history WHERE object_name LIKE 'fh.%' ORDER BY check_id, object_name;
SELECT change, check_id, first_seen = :'t3' AS first_seen_s3
  FROM apes.finding_changes(:'t2') WHERE object_name LIKE 'fh.%' ORDER BY change, check_id;
SELECT count(*) AS changes_since_s3 FROM apes.finding_changes(:'t3') WHERE object_name LIKE 'fh.%';

-- severity changes, against a planted older snapshot: a new duplicate was critical then (eased), the foreign key was
-- only info then (escalated), and an invalid index of then is gone (resolved); episodes open at that snapshot count
CREATE INDEX t_v_dup2 ON fh.t (v);
INSERT INTO apes.snapshot (taken_at, server_start, pgss_status, statements, relations, duration_ms, findings)
VALUES ('2021-06-01 00:00+00', '2021-06-01 00:00+00', 'ok', 0, 0, 0, 3) RETURNING snapshot_id AS s0 \gset
INSERT INTO apes.finding_history (check_id, area, severity, object_name, first_seen, resolved_at) VALUES
    ('index_duplicate', 'index', 'critical', 'fh.t_v_dup2', '2021-05-01 00:00+00', '2021-07-01 00:00+00'),
    ('fk_missing_index', 'index', 'info', 'fh.t', '2021-05-01 00:00+00', '2021-07-01 00:00+00'),
    ('index_invalid', 'index', 'warning', 'fh.gone_idx', '2021-05-01 00:00+00', '2021-07-01 00:00+00'),
    ('index_invalid', 'index', 'warning', 'fh.before_idx', '2021-01-01 00:00+00', '2021-06-01 00:00+00'),
    ('index_invalid', 'index', 'warning', 'fh.after_idx', '2021-06-01 00:00:01+00', '2021-07-01 00:00+00');
SELECT change, check_id, severity, previous_severity, object_name, baseline_at = '2021-06-01 00:00+00' AS against_s0
  FROM apes.finding_changes('2021-06-02 00:00+00') WHERE object_name LIKE 'fh.%' ORDER BY change, check_id;

-- no snapshot before the moment: a clear error with a hint
\set VERBOSITY default
SELECT * FROM apes.finding_changes('1990-01-01 00:00+00');
\set VERBOSITY terse

-- what is stored: no summary, fix or undo (a summary may quote a statement's text)
SELECT string_agg(attname, ', ' ORDER BY attnum) AS columns
  FROM pg_attribute WHERE attrelid = 'apes.finding_history'::regclass AND attnum > 0 AND NOT attisdropped;

-- purge removes the episodes resolved before the cutoff, and keeps the open ones
SELECT apes.purge('1 year') >= 1 AS removed;
SELECT count(*) AS planted_left FROM apes.finding_history WHERE first_seen < '2022-01-01';
SELECT count(*) > 0 AS open_kept FROM apes.finding_history WHERE resolved_at IS NULL;

-- pg_monitor reads the history and the changes; a role without grants gets neither; record_findings is not for
-- pg_monitor (only apes.snapshot() writes)
CREATE ROLE regress_fh_monitor IN ROLE pg_monitor;
CREATE ROLE regress_fh_nobody;
SET ROLE regress_fh_monitor;
SELECT count(*) > 0 AS monitor_reads FROM apes.finding_history;
SELECT count(*) >= 0 AS monitor_changes FROM apes.finding_changes(:'t3');
SELECT apes.record_findings(now());
RESET ROLE;
SET ROLE regress_fh_nobody;
SELECT count(*) FROM apes.finding_history;
SELECT count(*) FROM apes.finding_changes(:'t3');
RESET ROLE;
DROP ROLE regress_fh_monitor, regress_fh_nobody;
DROP SCHEMA fh CASCADE;
