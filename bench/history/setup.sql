-- pg_apes_health history benchmark: the bench schema, shared by the other scripts (run.sh runs this once, in the
-- database apes_hist, after the catalog and the statements are in place).
--
--   bench.result    one row per figure: what the report prints, with its target when it has one
--   bench.hist_size()   bytes of the main history tables (heap + indexes + TOAST), and of all tables in apes

\set ON_ERROR_STOP 1
\set QUIET on
SET client_min_messages = warning;

CREATE SCHEMA bench;

CREATE TABLE bench.result (
    ord     int PRIMARY KEY,
    section text NOT NULL,
    item    text NOT NULL,
    value   double precision,
    unit    text NOT NULL,
    target  text,                      -- how the target reads, e.g. '<= 1000'
    met     boolean,                   -- NULL: no target (informational)
    note    text
);

CREATE FUNCTION bench.hist_size(OUT snapshot bigint, OUT statement_history bigint, OUT statement_text bigint,
                                OUT relation_history bigint, OUT database_history bigint, OUT total bigint)
LANGUAGE sql AS $$
    SELECT pg_total_relation_size('apes.snapshot'), pg_total_relation_size('apes.statement_history'),
           pg_total_relation_size('apes.statement_text'), pg_total_relation_size('apes.relation_history'),
           pg_total_relation_size('apes.database_history'),
           -- all tables of the extension's schema: the history tables, whichever this version has
           (SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c
             WHERE c.relnamespace = 'apes'::regnamespace AND c.relkind = 'r')
$$;

-- WAL written between two LSNs, by relation (heap, index, other) and with the full-page images apart; needs
-- pg_walinspect (PostgreSQL 15: the relation is read from the text of block_ref).
CREATE FUNCTION bench.wal_by_relation(lsn0 pg_lsn, lsn1 pg_lsn)
RETURNS TABLE (relation text, records bigint, record_bytes numeric, fpi_bytes numeric, fpis bigint)
LANGUAGE sql AS $$
    WITH r AS (SELECT (regexp_match(w.block_ref, 'rel \d+/\d+/(\d+)'))[1]::oid AS filenode, w.resource_manager,
                      w.record_length, w.fpi_length,
                      (SELECT count(*) FROM regexp_matches(w.block_ref, 'FPW', 'g')) AS n_fpi
                 FROM pg_get_wal_records_info(lsn0, lsn1) w),
         g AS (SELECT filenode, min(resource_manager) AS rmgr, count(*) AS records, sum(record_length) AS record_bytes,
                      sum(fpi_length) AS fpi_bytes, sum(n_fpi) AS fpis
                 FROM r GROUP BY filenode)
    SELECT coalesce(pg_filenode_relation(0, g.filenode)::text,
                    CASE WHEN g.filenode IS NULL THEN '(no relation: ' || g.rmgr || ')' ELSE '(other relation)' END),
           sum(g.records)::bigint, sum(g.record_bytes), sum(g.fpi_bytes), sum(g.fpis)::bigint
      FROM g GROUP BY 1 ORDER BY 3 DESC
$$;

-- Median helper for the reports.
CREATE FUNCTION bench.median(double precision[]) RETURNS double precision
LANGUAGE sql IMMUTABLE AS $$
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest($1) x
$$;

-- EXPLAIN ANALYZE of a statement, only the plan lines that match a pattern (and the execution time).
CREATE FUNCTION bench.explain(stmt text, pattern text DEFAULT '.', opts text DEFAULT 'ANALYZE, BUFFERS')
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE format('EXPLAIN (%s) %s', opts, stmt) LOOP
        IF line ~ pattern OR line ~ '^(Planning|Execution) Time' THEN
            RETURN NEXT line;
        END IF;
    END LOOP;
END
$$;

-- Median wall time (ms) of a statement run n times, each in the caller's transaction (for read-only statements).
CREATE FUNCTION bench.time_ms(stmt text, n int DEFAULT 3)
RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    ms double precision[] := '{}';
BEGIN
    FOR i IN 1 .. n LOOP
        t0 := clock_timestamp();
        EXECUTE stmt;
        ms := ms || 1000 * extract(epoch FROM clock_timestamp() - t0)::double precision;
    END LOOP;
    RETURN bench.median(ms);
END
$$;

-- Rows a query returns.
CREATE FUNCTION bench.count_rows(stmt text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM (%s) q', stmt) INTO n;
    RETURN n;
END
$$;
