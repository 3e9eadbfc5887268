-- config_idle_in_transaction_timeout judges the setting the idle sessions run with (issue 13, defect 13): their
-- role's and database's settings (pg_db_role_setting), else the server's, never the caller's own.  Sessions of two
-- roles are left idle in transaction through dblink: regress_iit_on logs in with a timeout of 10 min (ALTER ROLE ...
-- SET), regress_iit_off with none (the server's 0).  Each way round:
--   1. the caller SETs a timeout of its own: the off role's session is still reported, the on role's is not;
--   2. the caller's own setting is 0 but only the on role's session is idle: nothing is reported;
--   3. ALTER ROLE ... IN DATABASE overrides the role's own setting, and the fix names where the 0 comes from.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink;
DROP ROLE IF EXISTS regress_iit_on;
DROP ROLE IF EXISTS regress_iit_off;
RESET client_min_messages;
CREATE ROLE regress_iit_on LOGIN;
CREATE ROLE regress_iit_off LOGIN;
ALTER ROLE regress_iit_on SET idle_in_transaction_session_timeout = '10min';
GRANT CONNECT ON DATABASE contrib_regression TO regress_iit_on, regress_iit_off;

-- a connection string to this server over its Unix socket (trust), as the given role
CREATE FUNCTION pg_temp.dsn(role text) RETURNS text LANGUAGE sql AS $$
    SELECT format('host=%s port=%s dbname=%s user=%s application_name=regress_iit',
                  split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port'),
                  current_database(), role)
$$;
-- the finding, with role names and counts only
CREATE FUNCTION pg_temp.iit_finding() RETURNS TABLE (check_id text, sessions text, unknown text, groups text, fix text)
LANGUAGE sql AS $$
    SELECT f.check_id, f.evidence->>'sessions_without_timeout', f.evidence->>'sessions_setting_unknown',
           (SELECT string_agg(format('%s: %s from %s', g->>'role', coalesce(g->>'timeout', '?'), g->>'from'), '; '
                              ORDER BY g->>'role')
              FROM jsonb_array_elements(f.evidence->'by_role_and_database') g
             WHERE g->>'role' LIKE 'regress_iit%'),
           replace(f.fix_sql, current_database(), '<db>')
      FROM apes.findings('pool') f
     WHERE f.check_id = 'config_idle_in_transaction_timeout'
$$;

SET pg_apes_health.idle_in_transaction_max = '1s';
SELECT dblink_connect('iit_on', pg_temp.dsn('regress_iit_on'));
SELECT dblink_connect('iit_off', pg_temp.dsn('regress_iit_off'));
SELECT dblink_exec('iit_on', 'BEGIN');
SELECT dblink_exec('iit_off', 'BEGIN');
-- each session runs with the setting its role gave it
SELECT * FROM dblink('iit_on', 'SHOW idle_in_transaction_session_timeout') AS t(on_timeout text);
SELECT * FROM dblink('iit_off', 'SHOW idle_in_transaction_session_timeout') AS t(off_timeout text);
SELECT pg_sleep(1.2);

-- 1. the caller's own timeout does not hide the off role's session
SET idle_in_transaction_session_timeout = '1h';
SELECT * FROM pg_temp.iit_finding();
RESET idle_in_transaction_session_timeout;

-- 2. the off role's session gone: the on role's session runs with a timeout, whatever the caller's own is (0)
SELECT dblink_exec('iit_off', 'COMMIT');
SHOW idle_in_transaction_session_timeout;
SELECT count(*) AS findings FROM pg_temp.iit_finding();

-- 3. a 0 for the role in this database wins over the role's 10 min; the fix is an ALTER ROLE ... IN DATABASE
SELECT dblink_disconnect('iit_on');
DO $$BEGIN EXECUTE format('ALTER ROLE regress_iit_on IN DATABASE %I SET idle_in_transaction_session_timeout = 0',
                          current_database()); END$$;
SELECT dblink_connect('iit_on', pg_temp.dsn('regress_iit_on'));
SELECT dblink_exec('iit_on', 'BEGIN');
SELECT pg_sleep(1.2);
SELECT * FROM pg_temp.iit_finding();

SELECT dblink_exec('iit_on', 'COMMIT');
SELECT dblink_disconnect('iit_on');
SELECT dblink_disconnect('iit_off');
DO $$BEGIN EXECUTE format('ALTER ROLE regress_iit_on IN DATABASE %I RESET ALL', current_database()); END$$;
REVOKE CONNECT ON DATABASE contrib_regression FROM regress_iit_on, regress_iit_off;
DROP ROLE regress_iit_on;
DROP ROLE regress_iit_off;
