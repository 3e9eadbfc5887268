-- Every function of the extension, called with NULL for every argument and then with odd values: each returns or
-- raises a clear error; never an internal error (XX000) and never a crash.  Catalog-driven, so a new function is
-- covered the day it is added.  Writers (snapshot, purge, schedule, unschedule) run inside a rolled-back
-- subtransaction.
SET client_min_messages = warning;
CREATE TEMP TABLE outcome (fn text, args text, sqlstate text);
DO $$
DECLARE
    f record;
    call text;
    state text;
    argsets text[];
    a text;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure AS sig, p.proname, p.pronargs,
               string_agg(format_type(t, NULL), ',' ORDER BY o) AS types
          FROM pg_proc p
          JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
          JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_apes_health'
          LEFT JOIN LATERAL unnest(p.proargtypes) WITH ORDINALITY AS u(t, o) ON true
         GROUP BY p.oid, p.proname, p.pronargs
         ORDER BY p.oid::regprocedure::text
    LOOP
        -- all NULL; then odd values of each argument's type
        argsets := ARRAY[array_to_string(array_fill('NULL'::text, ARRAY[f.pronargs]), ',')];
        IF f.types = 'regclass,integer,boolean' THEN
            argsets := argsets || ARRAY['0,NULL,NULL', '''pg_class'',0,false', '''pg_class'',-1,false',
                                        '''pg_class'',2147483647,false', '''pg_class_oid_index'',1,true',
                                        '''pg_catalog.pg_tables'',NULL,NULL', '4294967295,NULL,true'];
        ELSIF f.types = 'regclass,integer' THEN
            argsets := argsets || ARRAY['0,20', '''pg_class'',20', '''pg_class_oid_index'',0', '''pg_class_oid_index'',-1',
                                        '''pg_class_oid_index'',2147483647', '4294967295,1', '''pg_catalog.pg_tables'',1'];
        ELSIF f.types = 'timestamp with time zone,timestamp with time zone' THEN
            argsets := argsets || ARRAY['''infinity'',''-infinity''', '''-infinity'',''infinity''', '''epoch'',NULL'];
        ELSIF f.types = 'tstzrange,tstzrange,integer' THEN
            argsets := argsets || ARRAY['''(,)'',''(,)'',50', '''[2000-01-01,2000-01-02)'',''(,)'',-5',
                                        '''empty'',''empty'',0'];
        ELSIF f.types = 'text' THEN
            argsets := argsets || ARRAY['''''', '''x''', quote_literal(repeat('y', 10000)), '''* * * * * *'''];
        ELSIF f.types = 'bigint,bigint' THEN
            argsets := argsets || ARRAY['-1,-1', '0,0', '9223372036854775807,0'];
        ELSIF f.types = 'interval' THEN
            argsets := argsets || ARRAY['''-1 day''', '''1000000 years'''];
        ELSIF f.types = 'double precision' THEN
            argsets := argsets || ARRAY['''NaN''', '''Infinity''', '''-Infinity''', '1e308'];
        ELSIF f.types = 'oid,oid,bigint' OR f.types = 'oid,oid,bigint,boolean' THEN
            argsets := argsets || ARRAY[CASE WHEN f.pronargs = 3 THEN '0,0,0' ELSE '0,0,0,false' END];
        END IF;
        FOREACH a IN ARRAY argsets LOOP
            call := format('SELECT count(*) FROM (SELECT %s.%I(%s)) x', 'apes', f.proname, a);
            state := 'ok';
            BEGIN
                EXECUTE call;
                RAISE EXCEPTION 'apes bad_input: roll back' USING ERRCODE = 'P0001';   -- undo any write
            EXCEPTION WHEN OTHERS THEN
                state := CASE WHEN SQLERRM = 'apes bad_input: roll back' THEN 'ok' ELSE SQLSTATE END;
            END;
            INSERT INTO outcome VALUES (f.sig::text, a, state);
        END LOOP;
    END LOOP;
END
$$;
RESET client_min_messages;
-- no internal errors, no unexpected error classes
SELECT count(*) AS calls, count(DISTINCT fn) AS functions FROM outcome;
SELECT fn, args, sqlstate FROM outcome WHERE sqlstate = 'XX000' OR sqlstate LIKE '58%';
-- what each bad call answered
SELECT fn, left(args, 40) AS args, sqlstate FROM outcome WHERE sqlstate <> 'ok' ORDER BY fn, args;

-- Every relation kind and every index access method, for each function that takes a relation: a result or a clear
-- error (feature_not_supported, wrong_object_type, undefined_table), never XX000.  Another session's temporary table
-- is in the isolation test iso_other_temp.
SET client_min_messages = warning;
CREATE SCHEMA bi;
CREATE TABLE bi.heap (id int PRIMARY KEY, r int4range, a int[], t text, p point);
INSERT INTO bi.heap SELECT g, int4range(g, g + 1), ARRAY[g], repeat('x', g), point(g, g) FROM generate_series(1, 300) g;
CREATE INDEX bi_hash ON bi.heap USING hash (id);
CREATE INDEX bi_gist ON bi.heap USING gist (r);
CREATE INDEX bi_gin ON bi.heap USING gin (a);
CREATE INDEX bi_brin ON bi.heap USING brin (id);
CREATE INDEX bi_spgist ON bi.heap USING spgist (p);
CREATE INDEX bi_expr_partial ON bi.heap (lower(t)) WHERE id > 10;
CREATE TABLE bi.dup (k int);
INSERT INTO bi.dup VALUES (1), (1);
DO $$ BEGIN CREATE UNIQUE INDEX bi_invalid ON bi.dup (k); EXCEPTION WHEN unique_violation THEN NULL; END $$;
CREATE UNLOGGED TABLE bi.unlogged (id int PRIMARY KEY);
CREATE TABLE bi.parted (k int) PARTITION BY RANGE (k);
CREATE TABLE bi.parted_1 PARTITION OF bi.parted FOR VALUES FROM (0) TO (10);
CREATE INDEX bi_parted_idx ON bi.parted (k);
CREATE VIEW bi.v AS SELECT 1 AS one;
CREATE MATERIALIZED VIEW bi.mv AS SELECT g FROM generate_series(1, 10) g;
CREATE SEQUENCE bi.seq;
CREATE TYPE bi.composite AS (x int);
CREATE FOREIGN DATA WRAPPER bi_fdw;
CREATE SERVER bi_server FOREIGN DATA WRAPPER bi_fdw;
CREATE FOREIGN TABLE bi.foreign_t (x int) SERVER bi_server;
CREATE TEMP TABLE bi_temp (id int PRIMARY KEY);
CREATE TABLE bi.dropped (id int);
SELECT set_config('apes.dropped_oid', 'bi.dropped'::regclass::oid::text, false) IS NOT NULL AS noted;
DROP TABLE bi.dropped;
CREATE TEMP TABLE rel_outcome (fn text, rel text, kind text, sqlstate text);
DO $$
DECLARE
    r record;
    fn text;
    state text;
BEGIN
    FOR r IN
        SELECT c.oid, c.oid::regclass::text AS name,
               c.relkind::text || coalesce('/' || am.amname, '') || CASE WHEN x.indisvalid = false THEN '/invalid' ELSE '' END
               || CASE c.relpersistence WHEN 'u' THEN '/unlogged' WHEN 't' THEN '/temp' ELSE '' END AS kind
          FROM pg_class c LEFT JOIN pg_am am ON am.oid = c.relam LEFT JOIN pg_index x ON x.indexrelid = c.oid
         WHERE c.relnamespace IN ('bi'::regnamespace, pg_my_temp_schema())
            OR c.oid = (SELECT reltoastrelid FROM pg_class WHERE oid = 'bi.heap'::regclass)
        UNION ALL
        SELECT current_setting('apes.dropped_oid')::oid, 'a dropped table', 'dropped'
    LOOP
        FOREACH fn IN ARRAY ARRAY['table_bloat', 'index_bloat'] LOOP
            BEGIN
                EXECUTE format('SELECT count(*) FROM apes.%I($1::regclass)', fn) USING r.oid;
                EXECUTE format('SELECT count(*) FROM apes.%I($1::regclass, exact => true)', fn) USING r.oid;
                state := 'ok';
            EXCEPTION WHEN OTHERS THEN
                state := SQLSTATE;
            END;
            INSERT INTO rel_outcome VALUES (fn, CASE WHEN r.name ~ '^pg_toast' THEN 'a TOAST table' ELSE r.name END,
                                            r.kind, state);
        END LOOP;
    END LOOP;
END
$$;
RESET client_min_messages;
SELECT fn, kind, rel, sqlstate FROM rel_outcome ORDER BY fn, kind, rel;
SELECT count(*) AS internal_errors FROM rel_outcome WHERE sqlstate IN ('XX000', 'XX001', 'XX002');
-- the reports with all of these present
SELECT count(*) > 0 AS findings_ok FROM apes.findings();
SELECT count(*) > 0 AS estimates_ok FROM apes.bloat_estimates;
SET client_min_messages = warning;
DROP SCHEMA bi CASCADE;
DROP SERVER bi_server;
DROP FOREIGN DATA WRAPPER bi_fdw;
DROP TABLE bi_temp;
RESET client_min_messages;
-- every setting of the server shows, in every unit pg_settings uses ("B" among them: pg_size_bytes() knows no "B"
-- before 17), as the settings checks show it
SELECT count(*) FILTER (WHERE apes.setting_display(setting, unit) IS NULL) AS not_shown,
       count(DISTINCT unit) FILTER (WHERE unit = 'B') AS byte_units
  FROM pg_settings WHERE setting IS NOT NULL;
SELECT apes.setting_display('1024', 'B') AS bytes, apes.setting_display('16', '8kB') AS pages,
       apes.setting_display('-1', 'MB') AS off, apes.setting_display('300', 's') AS seconds;
