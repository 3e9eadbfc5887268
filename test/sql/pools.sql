-- Pool monitoring in one session: capacity against the server's settings, the caller's own session left out of the
-- pools, no blocking, churn, PgBouncer not configured, the settings' privileges.  Sessions in other states are
-- driven by the isolation specs (test/specs/iso_pool_*.spec) and PgBouncer by test/pgbouncer_test.sh.
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_pool_plain;
RESET client_min_messages;

-- the server row: max_connections and the reserved slots as configured, this session counted, the others apart
SELECT scope, name IS NULL AS no_name,
       connection_limit = current_setting('max_connections')::int AS limit_is_max_connections,
       reserved = current_setting('superuser_reserved_connections')::int AS reserved_as_configured,
       in_use >= 1 AS counts_me, headroom = connection_limit - reserved - in_use AS headroom_adds_up,
       jsonb_typeof(other_backends) AS others
  FROM apes.connection_capacity() WHERE scope = 'server';
-- this database and role appear with their (absent) limits
SELECT scope, connection_limit IS NULL AS no_limit, in_use >= 1 AS counts_me
  FROM apes.connection_capacity()
 WHERE (scope = 'database' AND name = current_database()) OR (scope = 'role' AND name = current_user)
 ORDER BY scope;
-- a database limit is read from pg_database
ALTER DATABASE contrib_regression CONNECTION LIMIT 50;
SELECT connection_limit, headroom = 50 - in_use AS headroom_against_limit
  FROM apes.connection_capacity() WHERE scope = 'database' AND name = current_database();
ALTER DATABASE contrib_regression CONNECTION LIMIT -1;

-- the caller's own session is not a pool member; no one waits on a lock
SET application_name = 'regress_pools_self';
SELECT count(*) AS my_pool FROM apes.pools WHERE application = 'regress_pools_self';
SELECT count(*) AS blocked FROM apes.blocking;
RESET application_name;

-- churn: from the counters since the server started (no snapshot in this series yet) or since a snapshot
SELECT basis IN ('cumulative', 'delta') AS has_basis, sessions >= 0 AS counted, seconds > 0 AS has_period
  FROM apes.connection_churn();

-- PgBouncer not configured: no rows, a notice, and an info finding
SELECT * FROM apes.pgbouncer_pools();
SELECT check_id, severity FROM apes.findings('pool') WHERE check_id LIKE 'pooler%';

-- the DSN may carry a password: only superusers set it, and others cannot read it
CREATE ROLE regress_pool_plain;
SET ROLE regress_pool_plain;
SET pg_apes_health.pgbouncer_dsn = 'host=127.0.0.1';
-- (SQLSTATE only: the server's wording changed in 18)
\set VERBOSITY sqlstate
SHOW pg_apes_health.pgbouncer_dsn;
\set VERBOSITY default
RESET ROLE;
-- a closed port: a clear error (08001), not a hang
SET pg_apes_health.pgbouncer_dsn = 'host=127.0.0.1 port=1 dbname=pgbouncer connect_timeout=2';
\set VERBOSITY sqlstate
SELECT * FROM apes.pgbouncer_pools();
\set VERBOSITY default
SELECT check_id, severity FROM apes.findings('pool') WHERE check_id LIKE 'pooler%';
RESET pg_apes_health.pgbouncer_dsn;

-- settings are validated (SQLSTATEs only: the server's wording of the range changed in 18)
\set VERBOSITY sqlstate
SET pg_apes_health.pool_warn_pct = 0;
SET pg_apes_health.pgbouncer_timeout = '10ms';
\set VERBOSITY default

DROP ROLE regress_pool_plain;
