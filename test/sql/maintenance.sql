-- The maintenance area (issue 14): each check found where planted, not on its near-miss.
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS mt CASCADE;
DROP PUBLICATION IF EXISTS mt_pub;
CREATE EXTENSION IF NOT EXISTS dblink;
RESET client_min_messages;
CREATE SCHEMA mt;
-- the maintenance findings of schema mt, with what a test can compare
CREATE FUNCTION pg_temp.mt() RETURNS TABLE (check_id text, severity text, object_name text, summary text)
LANGUAGE sql AS $$
    SELECT f.check_id, f.severity, f.object_name, f.summary FROM apes.findings('maintenance') f
     WHERE f.object_name LIKE 'mt.%' ORDER BY 1, 3
$$;

-- sequence_exhaustion: a serial (int4 sequence, int4 column) at 80%: warning, both statements in the fix; a bigint
-- sequence owned by an int4 column at 93% of the column's range: critical, the column is the limit; an identity
-- smallint at 91%: critical; a cycling sequence at 80%: info; near-miss: a bigint sequence at 2e9 of 9.2e18
CREATE TABLE mt.s_serial (id serial, v int);
SELECT setval('mt.s_serial_id_seq', 1717986918);   -- 80% of int4
CREATE TABLE mt.s_narrow (id int);
CREATE SEQUENCE mt.s_narrow_seq AS bigint OWNED BY mt.s_narrow.id;
SELECT setval('mt.s_narrow_seq', 2000000000);
CREATE TABLE mt.s_ident (id smallint GENERATED ALWAYS AS IDENTITY, v int);
SELECT setval('mt.s_ident_id_seq', 30000);
CREATE SEQUENCE mt.s_cycle AS integer CYCLE;
SELECT setval('mt.s_cycle', 1717986918);
CREATE SEQUENCE mt.s_wide AS bigint;
SELECT setval('mt.s_wide', 2000000000);
SELECT check_id, severity, object_name, summary FROM pg_temp.mt() WHERE check_id = 'sequence_exhaustion';
SELECT object_name, fix_sql FROM apes.findings('maintenance')
 WHERE check_id = 'sequence_exhaustion' AND object_name LIKE 'mt.%' ORDER BY 1;
-- days left from the history: a value 20,000,000 lower in a snapshot two days ago, 10,000,000 a day: the serial has
-- about 43 days left (warning, 80%); the narrow column 14.7 days (critical anyway)
INSERT INTO apes.snapshot (taken_at, server_start, pgss_status, statements, relations, duration_ms)
VALUES (now() - interval '2 days', pg_postmaster_start_time(), 'ok', 0, 0, 0);
INSERT INTO apes.sequence_history
SELECT (SELECT max(snapshot_id) FROM apes.snapshot), s::regclass, v - 20000000
  FROM (VALUES ('mt.s_serial_id_seq', 1717986918), ('mt.s_narrow_seq', 2000000000)) x(s, v);
SELECT sequence, round(used_pct::numeric, 1) AS used_pct, round(per_day::numeric) AS per_day,
       round(days_left::numeric, 1) AS days_left, limit_from
  FROM apes.sequences(interval '3 days') WHERE sequence::text LIKE 'mt.%' ORDER BY 1;
SET pg_apes_health.server_window = '3d';
SELECT check_id, severity, object_name, summary FROM pg_temp.mt() WHERE check_id = 'sequence_exhaustion';
RESET pg_apes_health.server_window;
DELETE FROM apes.sequence_history WHERE snapshot_id = (SELECT max(snapshot_id) FROM apes.snapshot);
DELETE FROM apes.snapshot WHERE snapshot_id = (SELECT max(snapshot_id) FROM apes.snapshot);

-- constraint_not_valid: a CHECK and a foreign key added NOT VALID; near-miss: the same validated
CREATE TABLE mt.p (id bigint PRIMARY KEY);
CREATE TABLE mt.c (id int PRIMARY KEY, pid bigint, n int);
ALTER TABLE mt.c ADD CONSTRAINT c_n_positive CHECK (n > 0) NOT VALID;
ALTER TABLE mt.c ADD CONSTRAINT c_pid_fk FOREIGN KEY (pid) REFERENCES mt.p NOT VALID;
ALTER TABLE mt.c ADD CONSTRAINT c_n_small CHECK (n < 1000) NOT VALID;
ALTER TABLE mt.c VALIDATE CONSTRAINT c_n_small;
SELECT check_id, severity, object_name, summary FROM pg_temp.mt() WHERE check_id = 'constraint_not_valid';

-- trigger_disabled: a user trigger disabled (warning); a foreign key's triggers disabled (critical, the key is not
-- enforced); near-miss: an enabled trigger, and one enabled ALWAYS
CREATE FUNCTION mt.noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER c_audit BEFORE INSERT ON mt.c FOR EACH ROW EXECUTE FUNCTION mt.noop();
CREATE TRIGGER c_enabled BEFORE INSERT ON mt.c FOR EACH ROW EXECUTE FUNCTION mt.noop();
CREATE TRIGGER c_always BEFORE INSERT ON mt.c FOR EACH ROW EXECUTE FUNCTION mt.noop();
ALTER TABLE mt.c DISABLE TRIGGER c_audit;
ALTER TABLE mt.c ENABLE ALWAYS TRIGGER c_always;
CREATE TABLE mt.k (id int PRIMARY KEY, pid bigint REFERENCES mt.p);
ALTER TABLE mt.k DISABLE TRIGGER ALL;
SELECT check_id, severity, object_name, summary FROM pg_temp.mt() WHERE check_id = 'trigger_disabled';
ALTER TABLE mt.k ENABLE TRIGGER ALL;

-- fk_type_mismatch: an int column referencing a bigint key (and overflowing later); near-miss: mt.k.pid is bigint
CREATE TABLE mt.f (id int PRIMARY KEY, pid int REFERENCES mt.p);
SELECT check_id, severity, object_name, summary FROM pg_temp.mt() WHERE check_id = 'fk_type_mismatch';

-- table_without_primary_key: info; warning once a publication replicates its updates and deletes without a replica
-- identity; info again with REPLICA IDENTITY FULL; near-miss: tables with a key
CREATE TABLE mt.nopk (a int, b text);
SELECT check_id, severity, object_name FROM pg_temp.mt() WHERE check_id = 'table_without_primary_key';
SET client_min_messages = warning;
CREATE PUBLICATION mt_pub FOR TABLE mt.nopk;
RESET client_min_messages;
SELECT check_id, severity, object_name, summary FROM pg_temp.mt() WHERE check_id = 'table_without_primary_key';
ALTER TABLE mt.nopk REPLICA IDENTITY FULL;
SELECT check_id, severity, object_name FROM pg_temp.mt() WHERE check_id = 'table_without_primary_key';
DROP PUBLICATION mt_pub;

-- autovacuum_disabled: a table with rows and autovacuum off; near-miss: the same with autovacuum on
CREATE TABLE mt.av_off (id int PRIMARY KEY) WITH (autovacuum_enabled = false);
CREATE TABLE mt.av_on (id int PRIMARY KEY);
INSERT INTO mt.av_off SELECT generate_series(1, 100);
INSERT INTO mt.av_on SELECT generate_series(1, 100);
ANALYZE mt.av_off, mt.av_on;
SELECT check_id, severity, object_name, summary FROM pg_temp.mt() WHERE check_id = 'autovacuum_disabled';

-- never_analyzed and never_vacuumed: 20,000 rows nobody analyzed or vacuumed (a second session holds SHARE UPDATE
-- EXCLUSIVE on it, so autovacuum skips it); near-misses: the same table while it is younger than
-- autovacuum_behind_min (autovacuum has not had its chance), and after ANALYZE and VACUUM
CREATE TABLE mt.fresh (id int PRIMARY KEY, v text);
CREATE TABLE mt.fresh_hi (id int PRIMARY KEY, v text) WITH (autovacuum_vacuum_threshold = 50000);
SELECT dblink_connect('mt_locker', format('host=%s port=%s dbname=%s',
                      split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port'),
                      current_database()));
SELECT dblink_exec('mt_locker', 'BEGIN');
SELECT dblink_exec('mt_locker', 'LOCK TABLE mt.fresh, mt.fresh_hi IN SHARE UPDATE EXCLUSIVE MODE');
INSERT INTO mt.fresh SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
INSERT INTO mt.fresh_hi SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
SELECT pg_stat_force_next_flush();
SELECT count(*) AS findings_while_young FROM pg_temp.mt() WHERE object_name IN ('mt.fresh', 'mt.fresh_hi');
SET pg_apes_health.autovacuum_behind_min = 0;
SELECT check_id, severity, object_name, summary FROM pg_temp.mt() WHERE object_name IN ('mt.fresh', 'mt.fresh_hi');

-- autovacuum_behind: 19,000 of those rows deleted: dead rows far past twice the threshold (50 + 20% of the rows),
-- never vacuumed (medium confidence: it may have crossed a moment ago), autovacuum locked out by the second session
DELETE FROM mt.fresh WHERE id > 1000;
DELETE FROM mt.fresh_hi WHERE id > 1000;
SELECT pg_stat_force_next_flush();
SELECT check_id, severity, confidence, object_name, evidence->>'n_dead_tup' AS dead
  FROM apes.findings('maintenance') WHERE object_name = 'mt.fresh' AND check_id = 'autovacuum_behind';
-- near-miss: mt.fresh_hi, the same but with a threshold of 50,000 rows (its reloption): 19,000 dead rows are not behind
SELECT count(*) AS behind_with_a_higher_threshold
  FROM apes.findings('maintenance') WHERE object_name = 'mt.fresh_hi' AND check_id = 'autovacuum_behind';
RESET pg_apes_health.autovacuum_behind_min;
SELECT dblink_exec('mt_locker', 'COMMIT');
SELECT dblink_disconnect('mt_locker');
VACUUM (ANALYZE) mt.fresh, mt.fresh_hi;
SELECT count(*) AS after_vacuum_and_analyze FROM pg_temp.mt() WHERE object_name IN ('mt.fresh', 'mt.fresh_hi');

-- autovacuum_workers_saturated and relation_growth_fast from history: four snapshots over the last hours, all
-- workers busy at three; mt.av_on grown by 2 GB a day; near-misses: busy at one of four, and growth under the setting
-- (the history of earlier tests is removed first: these four snapshots are the whole window)
SELECT apes.purge('0') >= 0 AS purged;
INSERT INTO apes.snapshot (taken_at, server_start, pgss_status, statements, relations, duration_ms)
SELECT now() - make_interval(hours => h), pg_postmaster_start_time(), 'ok', 0, 0, 0 FROM generate_series(4, 1, -1) h;
CREATE TEMP TABLE recent AS SELECT snapshot_id, taken_at FROM apes.snapshot ORDER BY snapshot_id DESC LIMIT 4;
INSERT INTO apes.server_history (snapshot_id, autovacuum_workers, autovacuum_max_workers)
SELECT snapshot_id, CASE WHEN row_number() OVER (ORDER BY snapshot_id) = 1 THEN 1 ELSE 3 END, 3 FROM recent;
-- one hour apart each: 2 GB a day is 89,478,485 bytes an hour
INSERT INTO apes.relation_history (snapshot_id, relid, kind, table_relid, total_bytes)
SELECT snapshot_id, 'mt.av_on'::regclass, 'r', 'mt.av_on'::regclass,
       1000000000 + (row_number() OVER (ORDER BY snapshot_id) - 1) * 89478485
  FROM recent;
SELECT check_id, severity, object_name,
       regexp_replace(summary, '\d{4}-\d\d-\d\d \d\d:\d\d', '<time>') AS summary
  FROM apes.findings('maintenance') WHERE check_id = 'autovacuum_workers_saturated';
SELECT check_id, severity, object_name, left(summary, 40) AS summary FROM pg_temp.mt() WHERE check_id = 'relation_growth_fast';
SELECT kind, name, bytes_start, bytes_end, round((bytes_per_day / 1073741824.0)::numeric, 2) AS gb_per_day
  FROM apes.growth(now() - interval '5 hours') WHERE kind = 'relation';
UPDATE apes.server_history SET autovacuum_workers = 1
 WHERE snapshot_id = (SELECT max(snapshot_id) FROM recent) OR snapshot_id = (SELECT max(snapshot_id) - 1 FROM recent);
SET pg_apes_health.growth_max_per_day = '3GB';
SELECT count(*) AS saturated_at_one_of_four FROM apes.findings('maintenance') WHERE check_id = 'autovacuum_workers_saturated';
SELECT count(*) AS growth_under_3gb FROM pg_temp.mt() WHERE check_id = 'relation_growth_fast';
RESET pg_apes_health.growth_max_per_day;
DELETE FROM apes.server_history WHERE snapshot_id IN (SELECT snapshot_id FROM recent);
DELETE FROM apes.relation_history WHERE snapshot_id IN (SELECT snapshot_id FROM recent);
DELETE FROM apes.snapshot WHERE snapshot_id IN (SELECT snapshot_id FROM recent);

SET client_min_messages = warning;
DROP SCHEMA mt CASCADE;
RESET client_min_messages;
