-- Findings history (0.2.0): each snapshot records its findings with when each was first seen; apes.finding_changes()
-- says what is new, resolved, escalated or eased since a moment; purge removes them with their snapshot; summaries
-- (which may quote statement texts) are not stored.
CREATE SCHEMA fh;
CREATE TABLE fh.parent (id int PRIMARY KEY);
CREATE TABLE fh.t (id int PRIMARY KEY, v text, p int);
CREATE INDEX t_v_idx ON fh.t (v);
CREATE INDEX t_v_dup ON fh.t (v);

-- a snapshot records the planted duplicate, first seen at that snapshot; the count is kept on the snapshot
SELECT apes.snapshot() AS s1 \gset
SELECT taken_at AS t1 FROM apes.snapshot WHERE snapshot_id = :s1 \gset
SELECT check_id, area, severity, object_name, first_seen = :'t1' AS first_seen_now
  FROM apes.finding_history WHERE snapshot_id = :s1 AND object_name LIKE 'fh.%' ORDER BY check_id, object_name;
SELECT findings = (SELECT count(*) FROM apes.finding_history WHERE snapshot_id = :s1) AS count_kept
  FROM apes.snapshot WHERE snapshot_id = :s1;

-- the next snapshot carries first_seen over
SELECT apes.snapshot() AS s2 \gset
SELECT taken_at AS t2 FROM apes.snapshot WHERE snapshot_id = :s2 \gset
SELECT check_id, object_name, first_seen = :'t1' AS first_seen_kept
  FROM apes.finding_history WHERE snapshot_id = :s2 AND object_name LIKE 'fh.%' ORDER BY check_id, object_name;

-- the duplicate goes, a foreign key without an index comes: one resolved, one new (not yet in any snapshot)
DROP INDEX fh.t_v_dup;
ALTER TABLE fh.t ADD FOREIGN KEY (p) REFERENCES fh.parent;
SELECT change, check_id, severity, previous_severity, object_name, summary IS NOT NULL AS has_summary,
       first_seen IS NULL AS not_in_a_snapshot, baseline_at = :'t2' AS against_s2
  FROM apes.finding_changes(:'t2') WHERE object_name LIKE 'fh.%' ORDER BY change, check_id;
-- once a snapshot has seen it, first_seen is that snapshot's time; nothing changed since that snapshot
SELECT apes.snapshot() AS s3 \gset
SELECT taken_at AS t3 FROM apes.snapshot WHERE snapshot_id = :s3 \gset
SELECT change, check_id, first_seen = :'t3' AS first_seen_s3
  FROM apes.finding_changes(:'t2') WHERE object_name LIKE 'fh.%' ORDER BY change, check_id;
SELECT count(*) AS changes_since_s3 FROM apes.finding_changes(:'t3') WHERE object_name LIKE 'fh.%';

-- severity changes, against a planted older snapshot: a new duplicate was critical then (eased), the foreign key was
-- only info then (escalated), and an invalid index of then is gone (resolved)
CREATE INDEX t_v_dup2 ON fh.t (v);
INSERT INTO apes.snapshot (taken_at, server_start, pgss_status, statements, relations, duration_ms, findings)
VALUES ('2021-06-01 00:00+00', '2021-06-01 00:00+00', 'ok', 0, 0, 0, 3) RETURNING snapshot_id AS s0 \gset
INSERT INTO apes.finding_history (snapshot_id, check_id, area, severity, object_name, first_seen)
SELECT :s0, f.check_id, f.area, CASE WHEN f.severity = 'warning' THEN 'critical' ELSE 'warning' END, f.object_name,
       '2021-05-01 00:00+00'
  FROM apes.findings('index') f WHERE f.object_name LIKE 'fh.%';
UPDATE apes.finding_history SET severity = 'info'
 WHERE snapshot_id = :s0 AND check_id = 'fk_missing_index';
INSERT INTO apes.finding_history (snapshot_id, check_id, area, severity, object_name, first_seen)
VALUES (:s0, 'index_invalid', 'index', 'warning', 'fh.gone_idx', '2021-05-01 00:00+00');
SELECT change, check_id, severity, previous_severity, object_name, baseline_at = '2021-06-01 00:00+00' AS against_s0
  FROM apes.finding_changes('2021-06-02 00:00+00') WHERE object_name LIKE 'fh.%' ORDER BY change, check_id;

-- no snapshot before the moment: a clear error with a hint
\set VERBOSITY default
SELECT * FROM apes.finding_changes('1990-01-01 00:00+00');
\set VERBOSITY terse

-- what is stored: no summary, fix or undo (a summary may quote a statement's text)
SELECT string_agg(attname, ', ' ORDER BY attnum) AS columns
  FROM pg_attribute WHERE attrelid = 'apes.finding_history'::regclass AND attnum > 0 AND NOT attisdropped;

-- purge removes a snapshot's findings with it
SELECT apes.purge('1 year') >= 1 AS removed;
SELECT count(*) AS planted_rows_left FROM apes.finding_history WHERE snapshot_id = :s0;

-- pg_monitor reads the history and the changes; a role without grants gets neither; record_findings is not for
-- pg_monitor (only apes.snapshot() writes)
CREATE ROLE regress_fh_monitor IN ROLE pg_monitor;
CREATE ROLE regress_fh_nobody;
SET ROLE regress_fh_monitor;
SELECT count(*) > 0 AS monitor_reads FROM apes.finding_history;
SELECT count(*) >= 0 AS monitor_changes FROM apes.finding_changes(:'t3');
SELECT apes.record_findings(1, now());
RESET ROLE;
SET ROLE regress_fh_nobody;
SELECT count(*) FROM apes.finding_history;
SELECT count(*) FROM apes.finding_changes(:'t3');
RESET ROLE;
DROP ROLE regress_fh_monitor, regress_fh_nobody;
DROP SCHEMA fh CASCADE;
