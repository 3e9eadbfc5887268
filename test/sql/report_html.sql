-- apes.report_html(): one self-contained HTML document.  Hostile names and query texts (a table named
-- <script>alert(1)</script>, a statement whose text holds </svg>, quotes and non-ASCII letters) arrive escaped and
-- the document stays ASCII; it names nothing outside itself; every chart is an SVG with a title and a description;
-- the verdict and counts are health_report()'s and health_json()'s; an empty history and a period without
-- snapshots say so and chart "no data"; query texts follow pg_stat_statements' rule; the series' arithmetic (rates
-- between snapshots, gaps across a restart, findings open at each snapshot) on a synthetic history.
-- (Chromium opens the document in test/report_browser_test.sh.)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
RESET client_min_messages;
SET TIME ZONE 'UTC';

CREATE SCHEMA regress_report;
CREATE TABLE regress_report."<script>alert(1)</script>" (id int PRIMARY KEY, v text);
CREATE INDEX "dup_a" ON regress_report."<script>alert(1)</script>" (v);
CREATE INDEX "dup_b'""&" ON regress_report."<script>alert(1)</script>" (v);
CREATE TABLE regress_report."café_日本" (id int);
CREATE INDEX café_idx1 ON regress_report."café_日本" (id);
CREATE INDEX café_idx2 ON regress_report."café_日本" (id);
-- the period of the report: from this snapshot on (the statements of earlier tests stay out of its top list)
SELECT apes.snapshot() AS s1 \gset
SELECT taken_at AS t1 FROM apes.snapshot WHERE snapshot_id = :s1 \gset
SELECT pg_sleep(0.05) IS NULL AS slept /* </svg><script>alert('x')</script> "quoted" café */;
SELECT pg_sleep(0.05) IS NULL AS slept /* </svg><script>alert('x')</script> "quoted" café */;
SELECT apes.snapshot() IS NOT NULL AS took;

-- the report, health_json() and health_report() from one statistics snapshot (autovacuum, and statistics other
-- sessions flush, change findings between statements)
BEGIN;
SET LOCAL stats_fetch_consistency = snapshot;
CREATE TEMP TABLE r AS SELECT apes.report_html(:'t1') AS html, apes.health_json() AS j, apes.health_report() AS rep;
COMMIT;
-- a document, whole, and ASCII whatever the encodings
SELECT html LIKE E'<!DOCTYPE html>\n<html lang="en">%' AS doctype, html LIKE E'%</html>\n' AS complete,
       octet_length(html) = length(html) AND html !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]' AS ascii
  FROM r;
-- nothing runs and nothing is fetched: no script element, handler, link, source or URL; a policy refusing all
SELECT html ~* '<script' AS script_tag, html ~* '\son[a-z]+=' AS handler, html ~* '\s(src|href|xlink:href|action)=' AS link,
       html ~* 'url\(' AS css_url, html ~* '@import' AS css_import, html ~* 'https?:' AS url,
       html LIKE '%<meta http-equiv="Content-Security-Policy" content="default-src ''none'';%' AS policy
  FROM r;
-- the hostile names and text are there, escaped
SELECT html LIKE '%regress_report.&quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;%' AS table_name_escaped,
       html LIKE '%&quot;dup_b&#39;&quot;&quot;&amp;&quot;%' AS index_name_escaped,
       html LIKE '%caf&#xE9;_&#x65E5;&#x672C;%' AS non_ascii_as_references,
       html LIKE '%/* &lt;/svg&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &quot;quoted&quot; caf&#xE9; */%'
         AS query_text_escaped
  FROM r;
-- every chart is one <figure> with one SVG, which has a title and a description and is closed where it should be
SELECT (SELECT count(*) FROM regexp_matches(html, '<figure class="chart"', 'g')) AS charts,
       (SELECT count(*) FROM regexp_matches(html, '<svg class="plot"', 'g')) AS plots,
       (SELECT count(*) FROM regexp_matches(html, '<svg[ >]', 'g')) = (SELECT count(*) FROM regexp_matches(html, '</svg>', 'g'))
         AS svg_balanced,
       (SELECT count(*) FROM regexp_matches(html, '<title id="chart-[0-9]+-t">', 'g')) AS titles,
       (SELECT count(*) FROM regexp_matches(html, '<desc id="chart-[0-9]+-d">', 'g')) AS descriptions,
       (SELECT count(*) FROM regexp_matches(html, '<figure', 'g')) = (SELECT count(*) FROM regexp_matches(html, '</figure>', 'g'))
         AS figures_balanced
  FROM r;
SELECT (regexp_matches(html, '<figure class="chart" id="chart-[0-9]+" data-chart="([a-z_]+)"', 'g'))[1] AS chart FROM r;
-- axis titles with units
SELECT html LIKE '%>size (%' AS bytes_axis, html LIKE '%>seconds per minute<%' AS rate_axis,
       html LIKE '%>time (%' AS time_axis
  FROM r;
-- the statement with the hostile text is charted and listed
SELECT html LIKE '%<td class="text"><span class="tag">query %' AS statements_listed FROM r;

-- the verdict is health_report()'s; the counts are health_json()'s
SELECT substring(html FROM '<p class="verdict-line">([^<]*)</p>') = split_part(r.rep, E'\n', 2) AS verdict
  FROM r;
SELECT s.severity,
       substring(r.html FROM format('data-severity="%s"><span class="n">([0-9]+)<', s.severity))::int
         = (r.j->'counts'->>s.severity)::int AS count_matches
  FROM r, (VALUES ('critical'), ('warning'), ('info'), ('total')) s(severity);
SELECT count(*) > 0 AS check_rows,
       bool_and(c.n = (r.j->'checks'->>c.check_id)::int) AS check_counts_match
  FROM r, LATERAL (SELECT m[1] AS check_id, m[2]::int AS n
                     FROM regexp_matches(r.html, '<tr data-check="([a-z_]+)"><td class="text"><code>[a-z_]+</code></td><td class="text">[a-z*]+</td><td>([0-9]+)</td>', 'g') m) c;
SELECT (SELECT count(*) FROM regexp_matches(r.html, '<tr data-check="', 'g'))
       = (SELECT count(*) FROM jsonb_each(r.j->'checks') c WHERE c.value::text::int > 0) AS every_check_with_findings
  FROM r;
-- at most report_limit findings per severity and area, and where the rest are
SET pg_apes_health.report_limit = 1;
BEGIN;
SET LOCAL stats_fetch_consistency = snapshot;
SELECT (SELECT count(*) FROM regexp_matches(apes.report_html(), '<article class="finding"', 'g'))
       = (SELECT count(*) FROM (SELECT DISTINCT severity, area FROM apes.findings() WHERE NOT acknowledged) g)
         AS one_per_group,
       apes.report_html() LIKE '%... and % more: <code>SELECT * FROM apes.findings(&#39;index&#39;) WHERE severity = &#39;warning&#39;;</code>%'
         AS rest_named;
COMMIT;
RESET pg_apes_health.report_limit;
-- an acknowledged finding is counted apart and not shown, as in health_report() and health_json() (every finding
-- shown: report_limit 0)
SET pg_apes_health.report_limit = 0;
SELECT f.check_id, f.object_name FROM apes.findings() f
 WHERE NOT f.acknowledged ORDER BY f.check_id, f.object_name LIMIT 1 \gset ack_
SELECT check_id FROM apes.acknowledge(:'ack_check_id', :'ack_object_name', NULL, 'report_html test');
BEGIN;
SET LOCAL stats_fetch_consistency = snapshot;
SELECT substring(html FROM 'data-severity="acknowledged"><span class="n">([0-9]+)<')::int
         = (apes.health_json()->'counts'->>'acknowledged')::int AS acknowledged_count,
       html LIKE '%acknowledged finding% not shown: <code>SELECT * FROM apes.findings() WHERE acknowledged;%'
         AS where_they_are,
       strpos(html, format('<article class="finding" data-check="%s"><h4><span class="tag">[%s]</span> %s <',
                           :'ack_check_id', :'ack_check_id', :'ack_object_name'))
       + strpos(html, format('<article class="finding" data-check="%s"><h4><span class="tag">[%s]</span> %s</h4>',
                             :'ack_check_id', :'ack_check_id', :'ack_object_name')) AS shown_at
  FROM (SELECT apes.report_html() AS html) r;
COMMIT;
SELECT apes.unacknowledge(:'ack_check_id', :'ack_object_name') AS removed;
SELECT html NOT LIKE '%data-severity="acknowledged"%' AS none_acknowledged,
       strpos(html, format('<article class="finding" data-check="%s"><h4><span class="tag">[%s]</span> %s <',
                           :'ack_check_id', :'ack_check_id', :'ack_object_name'))
       + strpos(html, format('<article class="finding" data-check="%s"><h4><span class="tag">[%s]</span> %s</h4>',
                             :'ack_check_id', :'ack_check_id', :'ack_object_name')) > 0 AS shown_again
  FROM (SELECT apes.report_html() AS html) r;
RESET pg_apes_health.report_limit;

-- a hostile search_path at call time: trojan operators for the comparisons the report's own queries make (public
-- searched before pg_catalog) are never called, by the report or by the metrics
CREATE SEQUENCE public.report_trojan_seq;
CREATE FUNCTION public.report_trojan_cmp(timestamptz, timestamptz) RETURNS boolean LANGUAGE sql
    AS $$ SELECT nextval('public.report_trojan_seq') IS NULL $$;
CREATE OPERATOR public.>= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = public.report_trojan_cmp);
CREATE OPERATOR public.<= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = public.report_trojan_cmp);
SET search_path = public, pg_catalog;
SELECT length(apes.report_html(:'t1')) > 0 AS rendered, length(apes.report_html('-infinity')) > 0 AS rendered_all,
       length(apes.metrics()) > 0 AS metrics;
RESET search_path;
SELECT is_called AS trojan_called FROM public.report_trojan_seq;
SET search_path = public, pg_catalog;
SELECT now() >= now() AS captured_here;   -- the trap is armed: an unqualified comparison is captured
RESET search_path;
SELECT is_called AS trap_works FROM public.report_trojan_seq;
DROP OPERATOR public.>= (timestamptz, timestamptz), public.<= (timestamptz, timestamptz);
DROP FUNCTION public.report_trojan_cmp(timestamptz, timestamptz);
DROP SEQUENCE public.report_trojan_seq;

-- no history yet: said so, and every chart says "no data"
BEGIN;
DELETE FROM apes.snapshot;
SELECT html LIKE '%no snapshot has been taken yet%' AS says_no_history,
       (SELECT count(*) FROM regexp_matches(html, '>no data</text>', 'g')) AS no_data_charts,
       (SELECT count(*) FROM regexp_matches(html, '<svg class="plot"', 'g')) AS plots,
       html LIKE '%No statement%' OR html NOT LIKE '%<section id="statements">%<table>%' AS no_statement_table
  FROM (SELECT apes.report_html() AS html) x;
ROLLBACK;
-- a period with no snapshot in it
SELECT html LIKE '%no snapshot was taken in this period%' AS says_none_in_period,
       (SELECT count(*) FROM regexp_matches(html, '>no data</text>', 'g')) AS no_data_charts
  FROM (SELECT apes.report_html('2000-01-01', '2000-01-02') AS html) x;

-- query texts as pg_stat_statements shows them: a role without pg_read_all_stats sees other roles' statements as
-- <insufficient privilege> (escaped), in the chart's legend and in the table; a pg_monitor member (which is in
-- pg_read_all_stats) sees them
CREATE ROLE regress_report_reader;
GRANT USAGE ON SCHEMA apes TO regress_report_reader;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA apes TO regress_report_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA apes TO regress_report_reader;
CREATE ROLE regress_report_monitor IN ROLE pg_monitor;
SET ROLE regress_report_reader;
SELECT html LIKE '%&lt;insufficient privilege&gt;%' AS hidden, html LIKE '%&lt;/svg&gt;&lt;script&gt;%' AS text_shown,
       html LIKE '%<insufficient privilege>%' AS raw
  FROM (SELECT apes.report_html(:'t1') AS html) x;
SET ROLE regress_report_monitor;
SELECT html LIKE '%&lt;/svg&gt;&lt;script&gt;%' AS text_shown FROM (SELECT apes.report_html(:'t1') AS html) x;
RESET ROLE;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA apes FROM regress_report_reader;
REVOKE ALL ON ALL TABLES IN SCHEMA apes FROM regress_report_reader;
REVOKE ALL ON SCHEMA apes FROM regress_report_reader;
DROP ROLE regress_report_reader;
DROP ROLE regress_report_monitor;

-- the series on a synthetic history in 2001 (a rolled-back transaction): snapshots at 00:00, 00:01, 00:02, then a
-- restart at 00:03, then 00:04.  WAL per minute between points of one server run, a gap across the restart;
-- checkpoints per hour; findings open at each point (one from 00:01 to 00:03, one open from 00:02)
BEGIN;
INSERT INTO apes.snapshot (snapshot_id, taken_at, server_start, pgss_status, statements, relations, duration_ms)
OVERRIDING SYSTEM VALUE
VALUES (900001, '2001-01-01 00:00+00', '2000-12-31 00:00+00', 'not installed', 0, 0, 1),
       (900002, '2001-01-01 00:01+00', '2000-12-31 00:00+00', 'not installed', 0, 0, 1),
       (900003, '2001-01-01 00:02+00', '2000-12-31 00:00+00', 'not installed', 0, 0, 1),
       (900004, '2001-01-01 00:03+00', '2001-01-01 00:02:30+00', 'not installed', 0, 0, 1),
       (900005, '2001-01-01 00:04+00', '2001-01-01 00:02:30+00', 'not installed', 0, 0, 1);
INSERT INTO apes.server_history (snapshot_id, wal_lsn, checkpoints_timed, checkpoints_req)
VALUES (900001, '0/1000000', 10, 1), (900002, '0/1001770', 11, 1), (900003, '0/1003000', 11, 3),
       (900004, '0/0100000', 0, 0), (900005, '0/0100400', 1, 0);
INSERT INTO apes.finding_history (check_id, area, severity, object_name, first_seen, resolved_at)
VALUES ('index_duplicate', 'index', 'warning', 'regress.a', '2001-01-01 00:01+00', '2001-01-01 00:03+00'),
       ('index_invalid', 'index', 'critical', 'regress.b', '2001-01-01 00:02+00', NULL);
SELECT chart, series, to_char(x AT TIME ZONE 'UTC', 'HH24:MI') AS at, y
  FROM apes.report_series('2001-01-01 00:00:30+00', '2001-01-01 00:05+00', 3)
 WHERE chart IN ('wal', 'checkpoints', 'findings')
 ORDER BY chart, series_no, x;
-- the report draws them
SELECT html LIKE '%5 snapshots, the first at 2001-01-01 00:00, the last at 2001-01-01 00:04%' AS period_said,
       (SELECT count(*) FROM regexp_matches(html, '>no data</text>', 'g')) AS no_data_charts
  FROM (SELECT apes.report_html('2000-12-31 23:59:30+00', '2001-01-01 00:05+00') AS html) x;
-- a period of one moment, at a snapshot: every coordinate a number
SELECT html LIKE '%1 snapshot, the first at 2001-01-01 00:02%' AS one_snapshot, html !~ '="-?(nan|inf|-)"' AS coordinates
  FROM (SELECT apes.report_html('2001-01-01 00:02+00', '2001-01-01 00:02+00') AS html) x;
ROLLBACK;

-- bad input (no CONTEXT lines: they would name lines of the functions)
\set SHOW_CONTEXT never
SELECT apes.report_html(now(), now() - interval '1 hour');
SELECT apes.report_html(now(), '-infinity');
SELECT apes.report_html(NULL, NULL) LIKE '<!DOCTYPE html>%' AS defaults;
SELECT apes.report_html('-infinity', 'infinity') LIKE '<!DOCTYPE html>%' AS whole_history;
SELECT * FROM apes.report_series(now(), now() - interval '1 hour', 10);
SELECT * FROM apes.report_series(now() - interval '1 hour', now(), 0);
\set SHOW_CONTEXT errors

DROP SCHEMA regress_report CASCADE;
SET client_min_messages = warning;
DROP EXTENSION pg_stat_statements;
RESET client_min_messages;
RESET TIME ZONE;
