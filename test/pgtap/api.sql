-- pgTAP: the public API contract of pg_apes_health (signatures, result shape, privileges, error codes).
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
\unset ECHO
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off

BEGIN;
SELECT plan(53);

-- the schema and the functions
SELECT has_schema('apes');
SELECT has_function('apes', 'findings', ARRAY['text'], 'apes.findings(text) exists');
SELECT has_function('apes', 'health_report', ARRAY[]::text[], 'apes.health_report() exists');
SELECT has_function('apes', 'health_json', ARRAY[]::text[], 'apes.health_json() exists');
SELECT has_function('apes', 'version', ARRAY[]::text[], 'apes.version() exists');
SELECT function_returns('apes', 'health_report', ARRAY[]::text[], 'text');
SELECT function_returns('apes', 'health_json', ARRAY[]::text[], 'jsonb');
SELECT function_lang_is('apes', 'findings', ARRAY['text'], 'c');
SELECT volatility_is('apes', 'findings', ARRAY['text'], 'stable');
SELECT isnt_definer('apes', 'findings', ARRAY['text'], 'findings() is not SECURITY DEFINER');
SELECT isnt_definer('apes', 'health_json', ARRAY[]::text[], 'health_json() is not SECURITY DEFINER');

-- the result shape of apes.findings(): names and types, in order
SELECT is(
  (SELECT string_agg(n || ' ' || t, ', ' ORDER BY o)
     FROM pg_proc p, unnest(p.proargnames::text[], p.proallargtypes::regtype[]::text[], p.proargmodes::text[])
          WITH ORDINALITY AS a(n, t, m, o)
    WHERE p.oid = 'apes.findings(text)'::regprocedure AND m = 't'),
  'check_id text, area text, severity text, object_name text, summary text, wasted_bytes bigint, '
  'confidence text, evidence jsonb, fix_sql text, undo_sql text, acknowledged boolean',
  'apes.findings() returns the columns of the findings model, in order (acknowledged last, from 0.6.0)');
SELECT is((SELECT proargdefaults IS NOT NULL FROM pg_proc WHERE oid = 'apes.findings(text)'::regprocedure), true,
          'the area argument has a default');

-- privileges: PUBLIC nothing, pg_monitor everything
SELECT function_privs_are('apes', 'findings', ARRAY['text'], 'public', ARRAY[]::text[]);
SELECT function_privs_are('apes', 'health_report', ARRAY[]::text[], 'public', ARRAY[]::text[]);
SELECT function_privs_are('apes', 'health_json', ARRAY[]::text[], 'public', ARRAY[]::text[]);
SELECT function_privs_are('apes', 'version', ARRAY[]::text[], 'public', ARRAY[]::text[]);
SELECT function_privs_are('apes', 'findings', ARRAY['text'], 'pg_monitor', ARRAY['EXECUTE']);
SELECT function_privs_are('apes', 'health_report', ARRAY[]::text[], 'pg_monitor', ARRAY['EXECUTE']);
SELECT function_privs_are('apes', 'health_json', ARRAY[]::text[], 'pg_monitor', ARRAY['EXECUTE']);
SELECT function_privs_are('apes', 'version', ARRAY[]::text[], 'pg_monitor', ARRAY['EXECUTE']);
SELECT schema_privs_are('apes', 'public', ARRAY[]::text[]);
SELECT schema_privs_are('apes', 'pg_monitor', ARRAY['USAGE']);

-- the page reader: pg_stat_scan_tables, not PUBLIC
SELECT has_function('apes', 'table_bloat', ARRAY['regclass', 'integer', 'boolean'], 'apes.table_bloat(regclass, integer, boolean) exists');
SELECT function_privs_are('apes', 'table_bloat', ARRAY['regclass', 'integer', 'boolean'], 'public', ARRAY[]::text[]);
SELECT function_privs_are('apes', 'table_bloat', ARRAY['regclass', 'integer', 'boolean'], 'pg_stat_scan_tables', ARRAY['EXECUTE']);
SELECT has_function('apes', 'index_bloat', ARRAY['regclass', 'integer', 'boolean'], 'apes.index_bloat(regclass, integer, boolean) exists');
SELECT function_privs_are('apes', 'index_bloat', ARRAY['regclass', 'integer', 'boolean'], 'public', ARRAY[]::text[]);
SELECT function_privs_are('apes', 'index_bloat', ARRAY['regclass', 'integer', 'boolean'], 'pg_stat_scan_tables', ARRAY['EXECUTE']);

-- catalog-only screening: pg_monitor, not PUBLIC; the view is ordered largest estimated waste first
SELECT has_function('apes', 'bloat_estimates', ARRAY[]::text[], 'apes.bloat_estimates() exists');
SELECT has_view('apes', 'bloat_estimates', 'the view apes.bloat_estimates exists');
SELECT function_privs_are('apes', 'bloat_estimates', ARRAY[]::text[], 'public', ARRAY[]::text[]);
SELECT table_privs_are('apes', 'bloat_estimates', 'public', ARRAY[]::text[]);
SELECT table_privs_are('apes', 'bloat_estimates', 'pg_monitor', ARRAY['SELECT']);
SELECT is((SELECT count(*) FROM apes.bloat_estimates WHERE basis <> 'catalog estimate'), 0::bigint,
          'every row of apes.bloat_estimates says it is an estimate');

-- the HTML report and the metrics: pg_monitor, not PUBLIC; bad input is 22023
SELECT has_function('apes', 'report_html', ARRAY['timestamp with time zone', 'timestamp with time zone'],
                    'apes.report_html(timestamptz, timestamptz) exists');
SELECT function_privs_are('apes', 'report_html', ARRAY['timestamp with time zone', 'timestamp with time zone'], 'public', ARRAY[]::text[]);
SELECT function_privs_are('apes', 'report_html', ARRAY['timestamp with time zone', 'timestamp with time zone'], 'pg_monitor', ARRAY['EXECUTE']);
SELECT has_function('apes', 'metrics', ARRAY[]::text[], 'apes.metrics() exists');
SELECT function_privs_are('apes', 'metrics', ARRAY[]::text[], 'public', ARRAY[]::text[]);
SELECT function_privs_are('apes', 'metrics', ARRAY[]::text[], 'pg_monitor', ARRAY['EXECUTE']);
SELECT has_function('apes', 'metric_samples', ARRAY['text[]'], 'apes.metric_samples(text[]) exists');
SELECT function_privs_are('apes', 'metric_samples', ARRAY['text[]'], 'pg_monitor', ARRAY['EXECUTE']);
SELECT matches(apes.report_html(), '^<!DOCTYPE html>', 'apes.report_html() is an HTML document');
SELECT matches(apes.metrics(), E'^# HELP apes_build_info [^\n]*\n# TYPE apes_build_info gauge\n', 'apes.metrics() starts with HELP and TYPE');
SELECT throws_ok($$ SELECT apes.report_html(now(), now() - interval '1 hour') $$, '22023', 'since must not be after until',
                 'a period ending before it starts is 22023');
SELECT throws_ok($$ SELECT * FROM apes.metric_samples('{nope}') $$, '22023', 'unknown metric "nope"', 'an unknown metric is 22023');

-- errors: unknown areas are 22023 with the valid list in the hint
SELECT throws_ok($$ SELECT * FROM apes.findings('nope') $$, '22023', 'unknown area "nope"', 'unknown area is 22023');
SELECT throws_ok($$ SELECT * FROM apes.findings('') $$, '22023', NULL, 'empty area is 22023');

-- behaviour: a planted duplicate is found with drop and undo DDL, inside this transaction
CREATE SCHEMA tap;
CREATE TABLE tap.t (a int);
CREATE INDEX t_a ON tap.t (a);
CREATE INDEX t_a_dup ON tap.t (a);
SELECT results_eq(
  $$ SELECT check_id, object_name, fix_sql, undo_sql FROM apes.findings('index') WHERE object_name LIKE 'tap.%' $$,
  $$ VALUES ('index_duplicate'::text, 'tap.t_a_dup'::text, 'DROP INDEX CONCURRENTLY tap.t_a_dup;'::text,
             'CREATE INDEX CONCURRENTLY t_a_dup ON tap.t USING btree (a);'::text) $$,
  'a planted duplicate is found, with drop and undo DDL');
SELECT is((SELECT count(*)::int FROM apes.findings('index') WHERE object_name = 'tap.t_a'), 0,
          'the kept index of a duplicate pair is not reported');
SELECT is(apes.health_json()->'checks'->>'index_duplicate' >= '1', true, 'health_json counts the duplicate');
SELECT matches(apes.health_report(), E'\\* \\[index_duplicate\\] tap\\.t_a_dup', 'health_report lists the duplicate');

SELECT * FROM finish();
ROLLBACK;
