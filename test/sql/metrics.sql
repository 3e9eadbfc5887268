-- apes.metrics(): Prometheus' text exposition format.  The families and their labels; findings for every check of
-- the registry (zeros included) equal to apes.findings(); labels escaped (backslash, double quote, newline) with
-- hostile names; numbers written the same way every time; per-object series bounded by
-- pg_apes_health.metrics_top_n, the rest in one 'other' series; apes.metric_samples() gives the same samples.
-- (promtool and postgres_exporter read the output in test/exporter_test.sh.)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE EXTENSION IF NOT EXISTS dblink;
RESET client_min_messages;

CREATE SCHEMA regress_metrics;
CREATE TABLE regress_metrics.t (a int);
CREATE INDEX t_a ON regress_metrics.t (a);
CREATE INDEX t_a_copy ON regress_metrics.t (a);

-- the families: what a dashboard can rely on
SELECT metric, type, labels, exporter_namespace, exporter_column FROM apes.metric_families();

-- the lines of the text, parsed: HELP and TYPE once per family, in the families' order, then samples of that family
CREATE FUNCTION pg_temp.lines() RETURNS TABLE (n bigint, kind text, metric text, labels text, value text)
LANGUAGE sql AS $$
    SELECT l.n,
           CASE WHEN l.line LIKE '# HELP %' THEN 'help' WHEN l.line LIKE '# TYPE %' THEN 'type' ELSE 'sample' END,
           substring(l.line FROM '^(?:# (?:HELP|TYPE) )?([a-z_]+)'),
           substring(l.line FROM '^[a-z_]+\{(.*)\} '),
           substring(l.line FROM ' ([^ ]+)$')
      FROM regexp_split_to_table(rtrim(apes.metrics(), E'\n'), E'\n') WITH ORDINALITY AS l(line, n)
$$;
SELECT count(*) FILTER (WHERE kind = 'help') AS help_lines, count(*) FILTER (WHERE kind = 'type') AS type_lines,
       count(DISTINCT metric) AS families,
       count(*) FILTER (WHERE kind = 'sample' AND value !~ '^(-?[0-9.]+(e[-+][0-9]+)?|NaN|[-+]Inf)$') AS bad_values,
       bool_and(metric IN (SELECT f.metric FROM apes.metric_families() f)) AS known_families
  FROM pg_temp.lines();
-- every sample follows its family's TYPE line, and families come in the listed order
SELECT bool_and(s.metric = (SELECT t.metric FROM pg_temp.lines() t WHERE t.kind = 'type' AND t.n < s.n
                             ORDER BY t.n DESC LIMIT 1)) AS samples_under_their_type
  FROM pg_temp.lines() s WHERE s.kind = 'sample';
SELECT array_agg(metric ORDER BY n) = (SELECT array_agg(f.metric) FROM apes.metric_families() f) AS families_in_order
  FROM pg_temp.lines() WHERE kind = 'help';

-- findings: every check of the registry at every severity (area_failed once per area), equal to apes.findings()
SELECT count(*) = 3 * ((SELECT count(*) FROM apes.checks WHERE area <> '*')
                       + (SELECT count(DISTINCT area) FROM apes.checks WHERE area <> '*')
                         * (SELECT count(*) FROM apes.checks WHERE area = '*')) AS every_check_every_severity,
       count(DISTINCT labels->>'check') = (SELECT count(*) FROM apes.checks) AS every_check
  FROM apes.metric_samples('{apes_findings}');
SELECT count(*) AS mismatches
  FROM apes.metric_samples('{apes_findings}') m
  FULL JOIN (SELECT f.area, f.check_id, f.severity, count(*) AS n FROM apes.findings() f WHERE NOT f.acknowledged
              GROUP BY 1, 2, 3) f
         ON f.area = m.labels->>'area' AND f.check_id = m.labels->>'check' AND f.severity = m.labels->>'severity'
 WHERE coalesce(f.n, 0) <> coalesce(m.value, -1);
SELECT count(*) = (SELECT count(*) FROM apes.metric_samples('{apes_findings}')) AS every_finding_series,
       count(*) FILTER (WHERE m.value > 0) > 0 AS some_wasted,
       bool_and(m.value = coalesce((SELECT sum(f.wasted_bytes) FROM apes.findings() f
                                     WHERE f.area = m.labels->>'area' AND f.check_id = m.labels->>'check'
                                       AND f.severity = m.labels->>'severity' AND f.wasted_bytes > 0
                                       AND NOT f.acknowledged), 0))
         AS wasted_bytes_match
  FROM apes.metric_samples('{apes_wasted_bytes}') m;
SELECT value >= 0 AS duration_measured FROM apes.metric_samples('{apes_report_duration_seconds}');

-- an acknowledged finding leaves apes_findings and apes_wasted_bytes and is counted in apes_report_acknowledged_findings
CREATE TEMP TABLE ack_before AS
  SELECT (SELECT value FROM apes.metric_samples('{apes_report_acknowledged_findings}')) AS acked,
         (SELECT sum(value) FROM apes.metric_samples('{apes_findings}')) AS findings;
SELECT f.check_id, f.object_name FROM apes.findings('index') f
 WHERE f.check_id = 'index_duplicate' AND NOT f.acknowledged ORDER BY f.object_name LIMIT 1 \gset ack_
SELECT check_id FROM apes.acknowledge(:'ack_check_id', :'ack_object_name', now() + interval '1 hour', 'metrics test');
SELECT (SELECT value FROM apes.metric_samples('{apes_report_acknowledged_findings}')) - b.acked AS acked_more,
       b.findings - (SELECT sum(value) FROM apes.metric_samples('{apes_findings}')) AS findings_fewer
  FROM ack_before b;
SELECT apes.unacknowledge(:'ack_check_id', :'ack_object_name') AS removed;
DROP TABLE ack_before;

-- sequences: the share of their range used, named as findings name objects, escaped as the format asks
CREATE SEQUENCE regress_metrics."se""q\x" MINVALUE 1 MAXVALUE 100;
SELECT setval('regress_metrics."se""q\x"', 50) IS NOT NULL AS set;
CREATE SEQUENCE regress_metrics.U&"line\000Abreak" MAXVALUE 10;
SELECT setval(c.oid, 10) IS NOT NULL AS set FROM pg_class c
 WHERE c.relnamespace = 'regress_metrics'::regnamespace AND c.relname = U&'line\000Abreak';
CREATE SEQUENCE regress_metrics.down INCREMENT -1 MINVALUE -1000 MAXVALUE -1 START -1;
SELECT setval('regress_metrics.down', -751) IS NOT NULL AS set;
SELECT line FROM regexp_split_to_table(apes.metrics(), E'\n') line
 WHERE line LIKE 'apes_sequence_used_ratio{sequence="regress_metrics.%' ORDER BY line;
-- apes.metric_samples() gives the same samples, with the labels as they are
SELECT labels->>'sequence' AS sequence, value FROM apes.metric_samples('{apes_sequence_used_ratio}')
 WHERE labels->>'sequence' LIKE 'regress_metrics.%' ORDER BY 1;

-- bounded cardinality: the first metrics_top_n objects, the rest as one series 'other' (for shares: the largest)
SET pg_apes_health.metrics_top_n = 1;
SELECT labels->>'sequence' AS sequence, value FROM apes.metric_samples('{apes_sequence_used_ratio}')
 WHERE labels->>'sequence' LIKE 'regress_metrics.%' OR labels->>'sequence' = 'other' ORDER BY 1;
SET pg_apes_health.metrics_top_n = 0;
SELECT labels->>'sequence' AS sequence, value FROM apes.metric_samples('{apes_sequence_used_ratio}') ORDER BY 1;
RESET pg_apes_health.metrics_top_n;

-- client connections: sessions of applications with quotes and backslashes in their names (application_name keeps
-- printable ASCII only), by database, application and state; the caller's own session left out
CREATE FUNCTION pg_temp.dsn(app text) RETURNS text LANGUAGE sql AS $$
    SELECT format('host=%s port=%s dbname=%s user=%s application_name=''%s''',
                  split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port'),
                  current_database(), current_user, replace(replace(app, '\', '\\'), '''', '\'''))
$$;
SELECT dblink_connect('m1', pg_temp.dsn('regress "m" \ app'));
SELECT dblink_connect('m2', pg_temp.dsn('regress "m" \ app'));
SELECT dblink_connect('m3', pg_temp.dsn('regress_other_app'));
SELECT dblink_exec('m3', 'BEGIN');
SELECT line FROM regexp_split_to_table(apes.metrics(), E'\n') line
 WHERE line LIKE 'apes_client_connections{database="contrib_regression",application="regress%' ORDER BY line;
SET pg_apes_health.metrics_top_n = 1;
-- one pool of its own (the largest: two sessions), every other pool in 'other'
SELECT labels->>'application' AS application, labels->>'state' AS state, value
  FROM apes.metric_samples('{apes_client_connections}')
 WHERE labels->>'database' IN ('contrib_regression', 'other') AND value > 0 AND labels->>'application' <> 'other'
 ORDER BY 1, 2;
SELECT count(DISTINCT (labels->>'database', labels->>'application')) FILTER (WHERE labels->>'application' <> 'other')
         AS own_series,
       sum(value) FILTER (WHERE labels->>'application' = 'other') >= 1 AS rest_in_other,
       sum(value) = (SELECT sum(p.sessions) FROM apes.pools p) AS every_session_counted
  FROM apes.metric_samples('{apes_client_connections}');
RESET pg_apes_health.metrics_top_n;
SELECT dblink_disconnect('m1'), dblink_disconnect('m2'), dblink_disconnect('m3');

-- statements: counters by queryid and role, the largest by time first, at most metrics_top_n and one 'other'
SET pg_apes_health.metrics_top_n = 2;
SELECT count(*) FILTER (WHERE labels->>'queryid' <> 'other') <= 2 AS bounded,
       count(*) FILTER (WHERE labels->>'queryid' = 'other') <= 1 AS one_other,
       bool_and(value >= 0) AS counters
  FROM apes.metric_samples('{apes_statement_exec_seconds_total}');
RESET pg_apes_health.metrics_top_n;

-- snapshots: the age of the latest (the maintenance test removes earlier ones: take one); the archiver's counters
-- (archiving may be on, to /bin/true: the values depend on the cluster's past, their kinds do not)
SELECT apes.snapshot() IS NOT NULL AS took;
SELECT value >= 0 AND value < 86400 AS snapshot_age FROM apes.metric_samples('{apes_snapshot_age_seconds}');
SELECT metric, value >= 0 OR (metric = 'apes_archiver_last_success_age_seconds' AND value = 'NaN') AS sane
  FROM apes.metric_samples('{apes_archiver_archived_total,apes_archiver_failed_total,apes_archiver_last_success_age_seconds}');
SELECT count(*) AS standbys FROM apes.metric_samples('{apes_replication_lag_seconds,apes_replication_lag_bytes}');

-- a replication slot: the WAL it keeps, with its status
SELECT 'slot' FROM pg_create_physical_replication_slot('regress_metrics_slot', true);
SELECT labels->>'slot' AS slot, labels->>'wal_status' AS wal_status, value >= 0 AS retained
  FROM apes.metric_samples('{apes_replication_slot_retained_bytes}') WHERE labels->>'slot' = 'regress_metrics_slot';
SELECT pg_drop_replication_slot('regress_metrics_slot');

-- the same numbers always give the same text: shortest decimals, no exponent below 1e15, NaN and infinities spelled
-- as the format spells them
SELECT (SELECT line FROM regexp_split_to_table(apes.metrics(), E'\n') line
         WHERE line LIKE 'apes_sequence_used_ratio{sequence="regress_metrics.\\"se%') =
       (SELECT line FROM regexp_split_to_table(apes.metrics(), E'\n') line
         WHERE line LIKE 'apes_sequence_used_ratio{sequence="regress_metrics.\\"se%') AS same_text;
BEGIN;
DELETE FROM apes.snapshot;
SELECT line FROM regexp_split_to_table(apes.metrics(), E'\n') line WHERE line LIKE 'apes_snapshot_age_seconds %';
ROLLBACK;

-- bad input (no CONTEXT lines: they would name lines of the functions)
\set SHOW_CONTEXT never
SELECT * FROM apes.metric_samples('{apes_no_such_metric}');
SELECT * FROM apes.metric_samples('{NULL}');
SELECT count(*) AS all_families FROM (SELECT DISTINCT metric FROM apes.metric_samples(NULL)) m;
SELECT * FROM apes.metric_rows('{apes_snapshot_age_seconds}', -1);
SET pg_apes_health.metrics_top_n = -1;
\set SHOW_CONTEXT errors

-- as a pg_monitor member: the same families
CREATE ROLE regress_metrics_monitor IN ROLE pg_monitor;
SET ROLE regress_metrics_monitor;
-- (sequences it may not read are left out, as pg_sequences leaves out their values)
SELECT count(*) FILTER (WHERE metric = 'apes_findings') = (SELECT count(*) FROM apes.metric_samples('{apes_findings}'))
         AS every_finding_series,
       count(*) FILTER (WHERE metric = 'apes_sequence_used_ratio' AND labels->>'sequence' LIKE 'regress_metrics.%')
         AS sequences_it_may_not_read,
       count(*) FILTER (WHERE metric = 'apes_statement_calls_total') > 0 AS statements
  FROM apes.metric_samples();
SELECT apes.metrics() LIKE '# HELP apes_build_info %' AS metrics;
RESET ROLE;
DROP ROLE regress_metrics_monitor;

DROP SCHEMA regress_metrics CASCADE;
SET client_min_messages = warning;
DROP EXTENSION pg_stat_statements;
RESET client_min_messages;
