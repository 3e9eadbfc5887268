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

DROP TABLE public.tt;
DROP FUNCTION public.trojan_f(int);
DROP OPERATOR public.= (name, name);
DROP FUNCTION public.trojan_eq(name, name);
DROP TABLE public.trojan_log;
DROP ROLE regress_apes_attacker;
