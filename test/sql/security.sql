-- Install-script and call-time safety.
SET client_min_messages = warning;

-- 1. A schema "apes" planted by an ordinary role makes the install fail instead of adopting it.
-- (no CONTEXT lines in sections 1 and 2: from 17 on they quote the install script; the message and SQLSTATE are ours)
\set SHOW_CONTEXT never
DROP EXTENSION pg_apes_health;
DROP SCHEMA apes;   -- CREATE EXTENSION created it from the control file; DROP EXTENSION leaves it
CREATE ROLE regress_apes_attacker;
CREATE SCHEMA apes AUTHORIZATION regress_apes_attacker;
CREATE EXTENSION pg_apes_health;
\echo :LAST_ERROR_SQLSTATE
DROP SCHEMA apes;
-- 2. A planted function of the same name is not replaced (no CREATE OR REPLACE in the install script).
CREATE SCHEMA apes;
CREATE FUNCTION apes.version() RETURNS text LANGUAGE sql AS $$ SELECT 'planted' $$;
CREATE EXTENSION pg_apes_health;
\echo :LAST_ERROR_SQLSTATE
DROP SCHEMA apes CASCADE;
\set SHOW_CONTEXT errors

-- 3. Trojans on the search_path during install: operators and functions that would capture unqualified names.
CREATE TABLE public.trojan_log (who text);
CREATE FUNCTION public.trojan_eq(name, name) RETURNS boolean LANGUAGE sql AS
  $$ INSERT INTO public.trojan_log VALUES (current_user); SELECT $1::text = $2::text $$;
CREATE OPERATOR public.= (LEFTARG = name, RIGHTARG = name, FUNCTION = public.trojan_eq);
SET search_path = public, pg_catalog;
CREATE EXTENSION pg_apes_health;
RESET search_path;
SELECT count(*) AS trojan_calls_during_install FROM public.trojan_log;

-- 4. Expression and predicate functions of indexes are never run by the checks, whoever calls them.
CREATE FUNCTION public.trojan_f(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS
  $$ BEGIN INSERT INTO public.trojan_log VALUES (current_user); RETURN $1; END $$;
CREATE TABLE public.tt (a int, b int);
CREATE INDEX tt_expr ON public.tt (public.trojan_f(a));
CREATE INDEX tt_expr2 ON public.tt (public.trojan_f(a));
CREATE INDEX tt_pred ON public.tt (b) WHERE public.trojan_f(a) > 0;
CREATE INDEX tt_pred2 ON public.tt (b) WHERE public.trojan_f(a) > 0 AND b > 1;
TRUNCATE public.trojan_log;
-- a hostile search_path at call time changes nothing: the C code resolves no names through it
SET search_path = public, pg_catalog;
SELECT check_id, object_name FROM apes.findings('index') WHERE object_name LIKE 'public.tt%' ORDER BY 2;
RESET search_path;
SELECT count(*) AS trojan_calls_during_checks FROM public.trojan_log;

-- 5. Trojan operators for the types the SPI-issued queries compare (oid =, bigint >, timestamptz - interval) are
-- never called by a report, with history present and the unused-index check reading it
CREATE FUNCTION public.trojan_oideq(oid, oid) RETURNS boolean LANGUAGE sql AS
  $$ INSERT INTO public.trojan_log VALUES ('oid ='); SELECT $1::int8 = $2::int8 $$;
CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = public.trojan_oideq);
CREATE FUNCTION public.trojan_bigintgt(bigint, integer) RETURNS boolean LANGUAGE sql AS
  $$ INSERT INTO public.trojan_log VALUES ('bigint >'); SELECT $1::numeric > $2::numeric $$;
CREATE OPERATOR public.> (LEFTARG = bigint, RIGHTARG = integer, FUNCTION = public.trojan_bigintgt);
CREATE FUNCTION public.trojan_tsminus(timestamptz, interval) RETURNS timestamptz LANGUAGE sql AS
  $$ INSERT INTO public.trojan_log VALUES ('timestamptz -'); SELECT $1 + (-$2) $$;
CREATE OPERATOR public.- (LEFTARG = timestamptz, RIGHTARG = interval, FUNCTION = public.trojan_tsminus);
SELECT apes.snapshot() IS NOT NULL AS took;
SET pg_apes_health.unused_index_min_size = 0;
TRUNCATE public.trojan_log;
SET search_path = public, pg_catalog;
SELECT (SELECT count(*) FROM apes.findings()) IS NOT NULL AS reported;  -- no operator of ours here: public.> would catch it
SELECT apes.health_json() IS NOT NULL AS rendered;
RESET search_path;
RESET pg_apes_health.unused_index_min_size;
SELECT count(*) AS trojan_calls_during_reports FROM public.trojan_log;
SELECT who FROM public.trojan_log;
DROP OPERATOR public.= (oid, oid);
DROP OPERATOR public.> (bigint, integer);
DROP OPERATOR public.- (timestamptz, interval);
DROP FUNCTION public.trojan_oideq(oid, oid);
DROP FUNCTION public.trojan_bigintgt(bigint, integer);
DROP FUNCTION public.trojan_tsminus(timestamptz, interval);

-- 6. Every function of the extension, called with a hostile search_path (public before pg_catalog) in which trojan
-- operators and functions shadow the common ones: none is ever called.  The trojans count their calls on a sequence
-- (nextval survives the rollback that undoes each call's writes).  Catalog-driven, like bad_input.
CREATE SEQUENCE public.trojan_seq;
CREATE FUNCTION public.trojan_bt(text, text) RETURNS boolean LANGUAGE sql AS $$ SELECT nextval('public.trojan_seq') IS NULL $$;
CREATE FUNCTION public.trojan_bi(integer, integer) RETURNS boolean LANGUAGE sql AS $$ SELECT nextval('public.trojan_seq') IS NULL $$;
CREATE FUNCTION public.trojan_bb(bigint, bigint) RETURNS boolean LANGUAGE sql AS $$ SELECT nextval('public.trojan_seq') IS NULL $$;
CREATE FUNCTION public.trojan_bz(timestamptz, timestamptz) RETURNS boolean LANGUAGE sql AS $$ SELECT nextval('public.trojan_seq') IS NULL $$;
CREATE FUNCTION public.trojan_t(text, text) RETURNS text LANGUAGE sql AS $$ SELECT nextval('public.trojan_seq')::text $$;
CREATE FUNCTION public.trojan_i(integer, integer) RETURNS integer LANGUAGE sql AS $$ SELECT nextval('public.trojan_seq')::int $$;
CREATE FUNCTION public.trojan_d(float8, float8) RETURNS float8 LANGUAGE sql AS $$ SELECT nextval('public.trojan_seq')::float8 $$;
CREATE FUNCTION public.trojan_j(jsonb, text) RETURNS text LANGUAGE sql AS $$ SELECT nextval('public.trojan_seq')::text $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.trojan_bt);
CREATE OPERATOR public.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = public.trojan_bt);
CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = public.trojan_t);
CREATE OPERATOR public.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.trojan_bi);
CREATE OPERATOR public.> (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.trojan_bi);
CREATE OPERATOR public.+ (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.trojan_i);
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.trojan_bb);
CREATE OPERATOR public.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = public.trojan_bz);
CREATE OPERATOR public.>= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = public.trojan_bz);
CREATE OPERATOR public./ (LEFTARG = float8, RIGHTARG = float8, FUNCTION = public.trojan_d);
CREATE OPERATOR public.->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = public.trojan_j);
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT 'epoch'::timestamptz + nextval('public.trojan_seq') * interval '1 s' $$;
CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE sql AS $$ SELECT nextval('public.trojan_seq')::text $$;
CREATE FUNCTION public.length(text) RETURNS integer LANGUAGE sql AS $$ SELECT nextval('public.trojan_seq')::int $$;
CREATE FUNCTION public.format(text) RETURNS text LANGUAGE sql AS $$ SELECT nextval('public.trojan_seq')::text $$;
CREATE FUNCTION public.current_setting(text) RETURNS text LANGUAGE sql AS $$ SELECT nextval('public.trojan_seq')::text $$;
SET client_min_messages = warning;
CREATE TEMP TABLE hostile_calls (fn text, args text, outcome text);
DO $$
DECLARE
    f record;
    a text;
    state text;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure::text AS sig, p.proname, p.pronargs, p.pronargdefaults
          FROM pg_proc p
          JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
          JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_apes_health'
         ORDER BY 1
    LOOP
        FOREACH a IN ARRAY ARRAY[array_to_string(array_fill('NULL'::text, ARRAY[f.pronargs]), ','),
                                 CASE WHEN f.pronargdefaults = f.pronargs THEN '' END] LOOP
            CONTINUE WHEN a IS NULL;
            BEGIN
                PERFORM set_config('search_path', 'public, pg_catalog', true);
                EXECUTE format('SELECT count(*) FROM (SELECT apes.%I(%s)) x', f.proname, a);
                state := 'ok';
                RAISE EXCEPTION 'apes security: roll back' USING ERRCODE = 'P0001';
            EXCEPTION WHEN OTHERS THEN
                state := CASE WHEN SQLERRM = 'apes security: roll back' THEN 'ok' ELSE SQLSTATE END;
            END;
            INSERT INTO hostile_calls VALUES (f.sig, a, state);
        END LOOP;
    END LOOP;
END
$$;
RESET client_min_messages;
SHOW search_path;
SELECT count(*) > 30 AS calls_made, count(DISTINCT fn) AS functions,
       count(*) FILTER (WHERE outcome = 'ok') > 20 AS most_answered FROM hostile_calls;
SELECT is_called AS any_trojan_called FROM public.trojan_seq;
-- the trap is armed: an unqualified call under the same search_path is captured
SET search_path = public, pg_catalog;
SELECT length('abc') AS captured_length, 'a' = 'b' AS captured_eq;
RESET search_path;
SELECT is_called AS trap_works FROM public.trojan_seq;
DROP FUNCTION public.now(), public.lower(text), public.length(text), public.format(text), public.current_setting(text);
DROP OPERATOR public.= (text, text), public.<> (text, text), public.|| (text, text), public.= (integer, integer),
              public.> (integer, integer), public.+ (integer, integer), public.= (bigint, bigint),
              public.< (timestamptz, timestamptz), public.>= (timestamptz, timestamptz), public./ (float8, float8),
              public.->> (jsonb, text);
DROP FUNCTION public.trojan_bt(text, text), public.trojan_bi(integer, integer), public.trojan_bb(bigint, bigint),
              public.trojan_bz(timestamptz, timestamptz), public.trojan_t(text, text), public.trojan_i(integer, integer),
              public.trojan_d(float8, float8), public.trojan_j(jsonb, text);
DROP SEQUENCE public.trojan_seq;

DROP TABLE public.tt;
DROP FUNCTION public.trojan_f(int);
DROP OPERATOR public.= (name, name);
DROP FUNCTION public.trojan_eq(name, name);
DROP TABLE public.trojan_log;
DROP ROLE regress_apes_attacker;

-- 6. Identifiers with newlines cannot forge lines of health_report() (issue 13, defect 13): a table and an index whose
-- names carry "\n    fix:  DROP TABLE ..." are reported, but every "fix:" line at the label's column is a real fix
-- (one per finding that has one), and the names show their newlines escaped on one line.
CREATE SCHEMA regress_nl;
CREATE TABLE regress_nl."t
    fix:  DROP TABLE regress_nl.important;" (id int, x int);
CREATE INDEX "i
    fix:  DROP TABLE regress_nl.important; --" ON regress_nl."t
    fix:  DROP TABLE regress_nl.important;" (x);
CREATE INDEX i_copy ON regress_nl."t
    fix:  DROP TABLE regress_nl.important;" (x);
SELECT (SELECT count(*) FROM regexp_matches(r, E'\n    fix:  ', 'g')) AS fix_lines,
       (SELECT count(*) FROM apes.findings() WHERE fix_sql IS NOT NULL) AS findings_with_fix,
       r LIKE '%important; --"; drop it%' AS name_on_one_line,
       r LIKE E'%\n    fix:  DROP TABLE%' AS forged_line
  FROM apes.health_report() r;
SELECT line FROM regexp_split_to_table(apes.health_report(), E'\n') line WHERE line LIKE '%regress_nl%' ORDER BY line;
DROP SCHEMA regress_nl CASCADE;
