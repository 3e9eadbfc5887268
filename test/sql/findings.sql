-- The findings model: areas, ordering, the two reports, errors.
-- the free space of the machine's disk is not the test's: disk_space_low judged on no filesystem
SET pg_apes_health.disk_warn_pct = 100;
SET pg_apes_health.disk_days_min = 0;
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS ih, iu CASCADE;
RESET client_min_messages;

-- A database with no problems of its own: the test cluster's fsync = off (settings_risky, critical) and the
-- pool and query areas' notes only.
SELECT count(*) AS findings FROM apes.findings();
SELECT split_part(apes.health_report(), E'\n', 2) AS verdict;
SELECT apes.health_json() - 'generated_at' - 'stats_since' - 'database' - 'version' AS doc;

-- Plant one problem of each severity class the index area can produce.
CREATE SCHEMA fm;
CREATE TABLE fm.p (id int PRIMARY KEY);
CREATE TABLE fm.c (id int PRIMARY KEY, p int REFERENCES fm.p, a int);
CREATE INDEX c_a ON fm.c (a);
CREATE INDEX c_a2 ON fm.c (a);
CREATE INDEX c_big ON fm.c (a, id);
ALTER TABLE fm.c ADD CONSTRAINT c_id_key UNIQUE (id);

-- Every row has every column of the shape; the area filter works; NULL means all areas.
SELECT check_id, area, severity, object_name, wasted_bytes IS NOT NULL AS has_size, confidence,
       jsonb_typeof(evidence) AS evidence, fix_sql IS NOT NULL AS has_fix, undo_sql IS NOT NULL AS has_undo
  FROM apes.findings() ORDER BY severity, check_id, object_name;
SELECT count(*) = (SELECT count(*) FROM apes.findings(NULL)) AS same_as_null,
       count(*) = (SELECT count(*) FROM apes.findings('index')) AS same_as_index
  FROM apes.findings();
-- every summary is one line; every evidence carries its confidence reason
SELECT bool_and(summary !~ E'\n' AND length(summary) > 20) AS one_line,
       bool_and(evidence ? 'confidence_reason') AS reasons
  FROM apes.findings();

-- Ordering: severity first (critical, warning, info), then area, then the largest waste.
SELECT bool_and(ok) AS ordered FROM (
  SELECT lag(array_position(ARRAY['critical', 'warning', 'info'], severity)) OVER w
           <= array_position(ARRAY['critical', 'warning', 'info'], severity) AS ok
    FROM (SELECT row_number() OVER () AS n, * FROM apes.findings()) f
  WINDOW w AS (ORDER BY n)) x WHERE ok IS NOT NULL;

-- The text report: verdict line, groups by severity and area, fix and undo lines.
SELECT line FROM regexp_split_to_table(apes.health_report(), E'\n') AS line
 WHERE line ~ '^(pg_apes_health|WARNING|CRITICAL|OK|==|\* |    fix:|    undo:)' AND line !~ '^pg_apes_health';

-- report_limit caps the listing but not the counts.
SET pg_apes_health.report_limit = 1;
SELECT line FROM regexp_split_to_table(apes.health_report(), E'\n') AS line WHERE line ~ '^  \.\.\. and';
SELECT jsonb_array_length(doc->'findings') AS listed, doc->'omitted' AS omitted, doc->'counts' AS counts
  FROM apes.health_json() AS doc;
RESET pg_apes_health.report_limit;

-- The JSON document: its keys, its counts by check, and the same findings as apes.findings().
SELECT jsonb_object_keys(apes.health_json()) AS key ORDER BY 1;
SELECT doc->>'status' AS status, doc->'counts' AS counts, doc->'checks' AS checks,
       (doc->>'wasted_bytes')::bigint = (SELECT sum(wasted_bytes) FROM apes.findings()) AS wasted_matches
  FROM apes.health_json() AS doc;
SELECT (SELECT jsonb_agg(f->>'object_name' ORDER BY f->>'object_name') FROM jsonb_array_elements(apes.health_json()->'findings') f)
     = (SELECT jsonb_agg(object_name ORDER BY object_name) FROM apes.findings()) AS same_findings;

-- Unknown areas are errors (22023) whose hint lists the valid ones.
SELECT * FROM apes.findings('indexes');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM apes.findings('');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM apes.findings('INDEX');
\echo :LAST_ERROR_SQLSTATE
-- A wrong column definition list is a clean error.
SELECT * FROM apes.findings('index') AS f(a text);
\echo :LAST_ERROR_SQLSTATE

-- pg_apes_health.exclude_schemas leaves whole schemas out; names follow identifier rules (quoted keeps case)
SET pg_apes_health.exclude_schemas = 'other, fm';
SELECT count(*) AS findings_with_fm_excluded FROM apes.findings();
SET pg_apes_health.exclude_schemas = '"FM"';
SELECT count(*) AS findings_with_quoted_FM_excluded FROM apes.findings();
SET pg_apes_health.exclude_schemas = 'a,,b';
RESET pg_apes_health.exclude_schemas;

-- apes.findings_new(): every finding, with details only for those whose key is not known (what a snapshot reads);
-- element i of each array is one key; arrays of different lengths are an error
WITH one AS (SELECT * FROM apes.findings() WHERE evidence IS NOT NULL ORDER BY check_id, object_name LIMIT 1)
SELECT (SELECT count(*) FROM apes.findings_new(NULL, NULL, NULL)) = (SELECT count(*) FROM apes.findings()) AS all_rows,
       (SELECT count(*) FROM apes.findings_new(ARRAY[o.check_id], ARRAY[o.severity], ARRAY[o.object_name]) f
         WHERE (f.check_id, f.severity, f.object_name) = (o.check_id, o.severity, o.object_name)
           AND f.evidence IS NULL AND f.summary = '' AND f.fix_sql IS NULL) AS known_without_details,
       (SELECT count(*) FROM apes.findings_new(ARRAY[o.check_id], ARRAY['info'], ARRAY[o.object_name]) f
         WHERE (f.check_id, f.severity, f.object_name) = (o.check_id, o.severity, o.object_name)
           AND f.evidence IS NOT NULL AND f.summary <> '') AS other_severity_with_details
  FROM one o WHERE o.severity <> 'info';
SELECT count(*) FROM apes.findings_new(ARRAY['index_duplicate'], '{}', '{}');
\echo :LAST_ERROR_SQLSTATE

-- An area that fails with an unexpected error is one area_failed finding (critical, in that area, with the error),
-- and the other areas still report (issue 13): the query area's SQL is made to fail, in a transaction rolled back.
-- A cancel or statement_timeout is not a finding: it still ends the call.
BEGIN;
CREATE OR REPLACE FUNCTION apes.query_findings()
RETURNS TABLE (check_id text, severity text, object_name text, summary text, wasted_bytes bigint, confidence text,
               evidence jsonb, fix_sql text)
LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'planted failure' USING ERRCODE = 'P0001', DETAIL = 'for the test'; END$$;
SELECT check_id, area, severity, object_name, evidence->>'sqlstate' AS sqlstate, evidence->>'message' AS message,
       evidence->>'detail' AS detail, summary
  FROM apes.findings() WHERE check_id = 'area_failed';
SELECT count(*) > 0 AS index_area_still_reports FROM apes.findings() WHERE area = 'index';
SELECT doc->'checks'->>'area_failed' AS area_failed, doc->>'status' AS status FROM apes.health_json() doc;
SELECT count(*) AS area_failed_for_the_index_area_alone FROM apes.findings('index') WHERE check_id = 'area_failed';
CREATE OR REPLACE FUNCTION apes.query_findings()
RETURNS TABLE (check_id text, severity text, object_name text, summary text, wasted_bytes bigint, confidence text,
               evidence jsonb, fix_sql text)
LANGUAGE plpgsql AS $$BEGIN PERFORM pg_sleep(5); END$$;
SET LOCAL statement_timeout = '200ms';
SELECT count(*) FROM apes.findings();
ROLLBACK;

DROP SCHEMA fm CASCADE;
