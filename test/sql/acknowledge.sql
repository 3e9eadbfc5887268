-- Acknowledgements (issue 14): an acknowledged finding leaves the verdict and the counts of the reports (which say
-- how many are acknowledged) until it expires or gets worse; apes.findings() still returns it, flagged.
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS ack CASCADE;
DROP ROLE IF EXISTS regress_ack_ops;
DROP ROLE IF EXISTS regress_ack_monitor;
RESET client_min_messages;
SET pg_apes_health.disk_warn_pct = 100;
SET pg_apes_health.disk_days_min = 0;
CREATE SCHEMA ack;
CREATE TABLE ack.t (id int PRIMARY KEY, a int);
CREATE INDEX t_a ON ack.t (a);
CREATE INDEX t_a_copy ON ack.t (a);

-- the duplicate is a warning now
SELECT check_id, severity, object_name, acknowledged FROM apes.findings('index') WHERE object_name LIKE 'ack.%';
SELECT doc->'counts'->'warning' AS warnings, doc->'counts'->'acknowledged' AS acknowledged,
       doc->'checks'->'index_duplicate' AS duplicates
  FROM apes.health_json() doc;

-- acknowledged for a week: the verdict and the counts leave it out and say so; findings() flags it
SELECT check_id, object_name, severity, until > now() + interval '6 days' AS week, reason,
       acknowledged_by = session_user AS by_me
  FROM apes.acknowledge('index_duplicate', 'ack.t_a_copy', now() + interval '7 days', 'kept until the migration');
SELECT check_id, severity, object_name, acknowledged FROM apes.findings('index') WHERE object_name LIKE 'ack.%';
SELECT doc->'counts'->'warning' AS warnings, doc->'counts'->'acknowledged' AS acknowledged,
       doc->'checks'->'index_duplicate' AS duplicates,
       (SELECT count(*) FROM jsonb_array_elements(doc->'findings') f WHERE f->>'object_name' = 'ack.t_a_copy') AS listed
  FROM apes.health_json() doc;
SELECT split_part(r, E'\n', 2) LIKE '%1 acknowledged finding not counted' AS verdict_says_so,
       r LIKE '%ack.t_a_copy%' AS listed,
       r LIKE E'%\n1 acknowledged finding not shown: %' AS footer
  FROM apes.health_report() r;
SELECT check_id, object_name, severity, expired FROM apes.acknowledgements;

-- worse than acknowledged (as if acknowledged while it was info): reported again
UPDATE apes.acknowledgement SET severity = 'info' WHERE object_name = 'ack.t_a_copy';
SELECT acknowledged FROM apes.findings('index') WHERE object_name = 'ack.t_a_copy';
UPDATE apes.acknowledgement SET severity = 'warning' WHERE object_name = 'ack.t_a_copy';

-- expired: reported again, and the view says so
UPDATE apes.acknowledgement SET until = now() - interval '1 second' WHERE object_name = 'ack.t_a_copy';
SELECT acknowledged FROM apes.findings('index') WHERE object_name = 'ack.t_a_copy';
SELECT check_id, object_name, expired FROM apes.acknowledgements;

-- acknowledging again replaces it; unacknowledge takes it back (true), a second time finds none (false)
SELECT severity, until IS NULL AS until_unacknowledged, reason
  FROM apes.acknowledge('index_duplicate', 'ack.t_a_copy', NULL, 'no end date');
SELECT count(*) AS acknowledgements FROM apes.acknowledgement;
SELECT apes.unacknowledge('index_duplicate', 'ack.t_a_copy') AS removed, apes.unacknowledge('index_duplicate', 'ack.t_a_copy') AS again;

-- errors: an unknown check, a finding that is not there, no reason, a past until
\set VERBOSITY terse
SELECT * FROM apes.acknowledge('no_such_check', 'x', NULL, 'r');
SELECT * FROM apes.acknowledge('index_duplicate', 'ack.t_a', NULL, 'r');
SELECT * FROM apes.acknowledge('index_duplicate', 'ack.t_a_copy', NULL, NULL);
SELECT * FROM apes.acknowledge('index_duplicate', 'ack.t_a_copy', now() - interval '1 hour', 'r');
\set VERBOSITY default

-- privileges: pg_monitor reads the acknowledgements but may not acknowledge; a role granted EXECUTE may, and is
-- recorded as the one who did
CREATE ROLE regress_ack_monitor IN ROLE pg_monitor;
CREATE ROLE regress_ack_ops IN ROLE pg_monitor;
GRANT EXECUTE ON FUNCTION apes.acknowledge(text, text, timestamptz, text), apes.unacknowledge(text, text)
   TO regress_ack_ops;
SET SESSION AUTHORIZATION regress_ack_monitor;
SELECT count(*) FROM apes.acknowledgements;
\set VERBOSITY terse
SELECT * FROM apes.acknowledge('index_duplicate', 'ack.t_a_copy', NULL, 'r');
\set VERBOSITY default
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_ack_ops;
SELECT acknowledged_by FROM apes.acknowledge('index_duplicate', 'ack.t_a_copy', NULL, 'ops decided');
SELECT acknowledged FROM apes.findings('index') WHERE object_name = 'ack.t_a_copy';
SELECT apes.unacknowledge('index_duplicate', 'ack.t_a_copy') AS removed;
RESET SESSION AUTHORIZATION;

REVOKE EXECUTE ON FUNCTION apes.acknowledge(text, text, timestamptz, text), apes.unacknowledge(text, text)
  FROM regress_ack_ops;
DROP ROLE regress_ack_ops;
DROP ROLE regress_ack_monitor;
DROP SCHEMA ack CASCADE;
