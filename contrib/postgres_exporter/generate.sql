-- Writes contrib/postgres_exporter/queries.yaml from apes.metric_families() (make docs; test/exporter_test.sh checks
-- that the file in the repository is what this gives): one custom query per postgres_exporter namespace, reading
-- apes.metric_samples() for that namespace's families only, so each query computes only what it shows.  Families
-- sharing a namespace share their labels; postgres_exporter names each <namespace>_<column>, the family's name.
\set QUIET 1
\pset format unaligned
\pset tuples_only on
\pset footer off
\set ON_ERROR_STOP 1
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM apes.metric_families() GROUP BY exporter_namespace HAVING count(DISTINCT labels) > 1) THEN
        RAISE EXCEPTION 'families sharing a postgres_exporter namespace must have the same labels';
    END IF;
END
$$;
WITH f AS (SELECT m.*, row_number() OVER () AS ord FROM apes.metric_families() m),
     g AS (SELECT f.exporter_namespace, min(f.ord) AS ord, array_agg(f.metric ORDER BY f.ord) AS metrics
             FROM f GROUP BY f.exporter_namespace),
     ns AS (SELECT g.*, f.labels FROM g JOIN f ON f.ord = g.ord)
SELECT '# pg_apes_health ' || apes.version() || ': custom queries for postgres_exporter (--extend.query-path), one per' || E'\n'
    || '# metric namespace. Generated from apes.metric_families() by contrib/postgres_exporter/generate.sql (make docs):' || E'\n'
    || '# edit that, not this. The exporter''s role needs pg_monitor (README: "Prometheus").' || E'\n'
    || '# The apes and apes_report queries each compute the findings (what apes.findings() costs); drop apes_report,' || E'\n'
    || '# or give it cache_seconds, to halve that.'
UNION ALL
SELECT string_agg(q.yaml, E'\n' ORDER BY q.ord)
  FROM (SELECT ns.ord,
               ns.exporter_namespace || E':\n'
               || E'  query: |\n'
               || '    SELECT '
               || coalesce((SELECT string_agg(format('s.labels->>%L AS %I', l, l), E',\n           ' ORDER BY k)
                              FROM unnest(ns.labels) WITH ORDINALITY u(l, k)) || E',\n           ', '')
               || (SELECT string_agg(format('max(s.value) FILTER (WHERE s.metric = %L) AS %I', f.metric,
                                            f.exporter_column), E',\n           ' ORDER BY f.ord)
                     FROM f WHERE f.exporter_namespace = ns.exporter_namespace)
               || E'\n      FROM apes.metric_samples(' || quote_literal(ns.metrics::text) || ') s'
               || CASE WHEN cardinality(ns.labels) > 0
                       THEN E'\n     GROUP BY ' || (SELECT string_agg(k::text, ', ') FROM generate_series(1, cardinality(ns.labels)) k)
                       ELSE E'\n    HAVING count(*) > 0' END
               || E'\n  master: true\n  metrics:\n'
               || coalesce((SELECT string_agg(format(E'    - %s:\n        usage: "LABEL"\n        description: %s\n', l,
                                                     to_json('label ' || l)::text), '' ORDER BY k)
                              FROM unnest(ns.labels) WITH ORDINALITY u(l, k)), '')
               || (SELECT string_agg(format(E'    - %s:\n        usage: %s\n        description: %s\n', f.exporter_column,
                                            to_json(upper(f.type))::text, to_json(f.help)::text), '' ORDER BY f.ord)
                     FROM f WHERE f.exporter_namespace = ns.exporter_namespace) AS yaml
          FROM ns) q;
