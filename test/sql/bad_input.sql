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
