-- pg_apes_health index advice benchmark: the helper schema "bench" (created by bench/advice/run.sh).
--
--   bench.run(q)                    runs q (returning one value), returns its server-side time and the value
--   bench.explain_generic(q)        the generic plan's total cost of one pg_stat_statements text, from SQL: PREPARE
--                                   (parameter types inferred), EXPLAIN EXECUTE with plan_cache_mode =
--                                   force_generic_plan, DEALLOCATE
--   bench.ref_plan(stmts, ddl)      each statement planned with EXPLAIN as the database is, then again after ddl in a
--                                   subtransaction rolled back
--   bench.ref_drop(idx, stmts)      the reference for apes.simulate_drop(): ref_plan with DROP INDEX
--   bench.ref_drop_lookup(idx)      the same, the statements found in pg_stat_statements first
--   bench.ref_suggest(tbl, col, stmts)  the reference for a missing-index suggestion: ref_plan with CREATE INDEX (SQL
--                                   has no hypothetical index without HypoPG: it must build one)

\set ON_ERROR_STOP 1
\set QUIET on
SET client_min_messages = warning;

DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;

-- Time of one statement, on the server (no client, network or result transfer in it).  q must return one value.
CREATE FUNCTION bench.run(q text, OUT ms double precision, OUT result text)
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    EXECUTE q INTO result;
    ms := 1000 * extract(epoch FROM clock_timestamp() - t0);
END
$$;

-- The total cost of a statement's generic plan, planned from SQL as a DBA would plan a pg_stat_statements text.
CREATE FUNCTION bench.explain_generic(q text) RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
    nparams int;
    args text := '';
    plan json;
BEGIN
    EXECUTE format('PREPARE bench_p AS %s', q);
    SELECT cardinality(parameter_types) INTO nparams FROM pg_prepared_statements WHERE name = 'bench_p';
    IF nparams > 0 THEN
        args := '(' || array_to_string(array_fill('NULL'::text, ARRAY[nparams]), ',') || ')';
    END IF;
    EXECUTE 'EXPLAIN (FORMAT JSON) EXECUTE bench_p' || args INTO plan;
    DEALLOCATE bench_p;
    RETURN (plan->0->'Plan'->>'Total Cost')::double precision;
EXCEPTION WHEN OTHERS THEN
    DEALLOCATE ALL;
    RETURN NULL;
END
$$;

-- Plan every statement as the database is, then run ddl in a subtransaction, plan every statement again, and roll
-- the ddl back: the SQL way to see what an index's drop (or its creation) does to the plans.  Returns the statements.
CREATE FUNCTION bench.ref_plan(stmts text[], ddl text) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    q text;
    n int := 0;
    c double precision;
BEGIN
    SET LOCAL plan_cache_mode = force_generic_plan;
    FOREACH q IN ARRAY coalesce(stmts, '{}') LOOP
        c := bench.explain_generic(q);
        n := n + 1;
    END LOOP;
    BEGIN
        EXECUTE ddl;
        FOREACH q IN ARRAY coalesce(stmts, '{}') LOOP
            c := bench.explain_generic(q);
        END LOOP;
        RAISE EXCEPTION 'bench: roll back' USING ERRCODE = 'P0001';
    EXCEPTION WHEN raise_exception THEN
        NULL;
    END;
    RETURN n;
END
$$;

-- The reference for one drop simulation: every statement with the index and (DROP INDEX, rolled back) without it.
CREATE FUNCTION bench.ref_drop(idx regclass, stmts text[]) RETURNS int
LANGUAGE sql AS $$ SELECT bench.ref_plan(stmts, format('DROP INDEX %s', idx)) $$;

-- The same reference, finding its statements itself as a SQL tool would: the top statements by total time in
-- pg_stat_statements whose text names the index's table (a regular expression on every text), then as bench.ref_drop().
CREATE FUNCTION bench.ref_drop_lookup(idx regclass, n int DEFAULT 20) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    name text := (SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE i.indexrelid = idx);
BEGIN
    RETURN bench.ref_drop(idx, ARRAY(
        SELECT s.query FROM pg_stat_statements s
         WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND s.toplevel
           AND s.query ~* ('\m' || name || '\M')
         ORDER BY s.total_exec_time + s.total_plan_time DESC LIMIT n));
END
$$;

-- The reference for one suggestion: every statement as it is, and (CREATE INDEX, rolled back) with the index.
CREATE FUNCTION bench.ref_suggest(tbl regclass, col text, stmts text[]) RETURNS int
LANGUAGE sql AS $$ SELECT bench.ref_plan(stmts, format('CREATE INDEX ON %s (%I)', tbl, col)) $$;

-- What each side is asked to do, filled by run.sh: the indexes to simulate dropping (with the statements the
-- simulation planned), and the columns to try indexes on (with the statements filtering them).
CREATE TABLE bench.drop_sample (idx regclass PRIMARY KEY, stmts text[]);
CREATE TABLE bench.suggest_sample (tbl regclass, col text, stmts text[], PRIMARY KEY (tbl, col));
