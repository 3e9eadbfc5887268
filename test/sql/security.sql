-- Install-script and call-time safety.
SET client_min_messages = warning;

-- 1. A schema "apes" planted by an ordinary role makes the install fail instead of adopting it.
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

DROP TABLE public.tt;
DROP FUNCTION public.trojan_f(int);
DROP OPERATOR public.= (name, name);
DROP FUNCTION public.trojan_eq(name, name);
DROP TABLE public.trojan_log;
DROP ROLE regress_apes_attacker;
