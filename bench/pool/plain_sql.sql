-- pg_apes_health pool benchmark: the plain-SQL reference for apes.pools, apes.connection_capacity() and
-- apes.blocking, written over pg_stat_activity, pg_database, pg_roles and pg_locks the way a DBA would write them.
-- Each is a view in the schema "plain" with the same columns as the extension's, so the two can be timed the same
-- way and joined column by column.  Runnable on its own:  psql -d DB -f bench/pool/plain_sql.sql
--
-- Deliberate choices, to compute what the extension documents:
--   * pools: client backends only, the caller's own session left out; "waiting" is an active session with a wait
--     event other than Activity/Client (so pg_sleep, wait_event_type Timeout, counts), as src/pool.c counts it;
--     oldest_xmin_age is the age of backend_xmin, else of backend_xid (greatest() of the two ages is the same thing,
--     since a backend's xmin is never newer than its xid).
--   * connection_capacity: usable slots = max_connections - superuser_reserved_connections (PostgreSQL 15); one row
--     per database and per role that has client backends, connection_limit NULL when it is -1 (then headroom and
--     utilisation are against the server's usable slots); other_backends = the non-client backends by type.
--   * blocking: each backend with wait_event_type = 'Lock' and a non-empty pg_blocking_pids(); the root blocker is
--     found by following the first blocking pid while that one is blocked itself (stopping where a cycle closes).

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS plain CASCADE;
CREATE SCHEMA plain;

CREATE VIEW plain.pools AS
SELECT a.datname::text                                                                   AS database,
       a.usename::text                                                                   AS role,
       a.application_name                                                                AS application,
       host(a.client_addr)                                                               AS client_addr,
       count(*)::int                                                                     AS sessions,
       (count(*) FILTER (WHERE a.state = 'active'))::int                                 AS active,
       (count(*) FILTER (WHERE a.state = 'idle'))::int                                   AS idle,
       (count(*) FILTER (WHERE a.state = 'idle in transaction'))::int                    AS idle_in_transaction,
       (count(*) FILTER (WHERE a.state = 'idle in transaction (aborted)'))::int          AS idle_in_transaction_aborted,
       (count(*) FILTER (WHERE a.state = 'active'
                           AND a.wait_event_type NOT IN ('Activity', 'Client')))::int    AS waiting,
       (SELECT string_agg(x.e || ' (' || x.n || ')', ', ' ORDER BY x.e)
          FROM (SELECT e, count(*) AS n
                  FROM unnest(array_agg(a.wait_event_type || ':' || a.wait_event)
                              FILTER (WHERE a.state = 'active'
                                        AND a.wait_event_type NOT IN ('Activity', 'Client'))) e
                 GROUP BY e) x)                                                          AS wait_events,
       max(now() - a.xact_start)                                                         AS oldest_transaction_age,
       max(now() - a.state_change) FILTER (WHERE a.state LIKE 'idle in transaction%')    AS oldest_idle_in_transaction_age,
       max(greatest(age(a.backend_xmin), age(a.backend_xid)))                            AS oldest_xmin_age,
       min(now() - a.backend_start)                                                      AS youngest_connection_age,
       (count(*) FILTER (WHERE a.state IS NULL))::int                                    AS hidden_sessions
  FROM pg_stat_activity a
 WHERE a.backend_type = 'client backend'
   AND a.pid <> pg_backend_pid()
 GROUP BY a.datname, a.usename, a.application_name, host(a.client_addr)
 ORDER BY sessions DESC, database, role, application, client_addr;

CREATE VIEW plain.connection_capacity AS
WITH a AS MATERIALIZED (
    SELECT backend_type, datid, usesysid FROM pg_stat_activity
), srv AS (
    SELECT s.max_conn, s.reserved, greatest(s.max_conn - s.reserved, 0) AS usable,
           (SELECT count(*) FROM a WHERE a.backend_type = 'client backend')::int AS in_use
      FROM (SELECT current_setting('max_connections')::int                AS max_conn,
                   current_setting('superuser_reserved_connections')::int AS reserved) s
), per AS (
    SELECT 'database' AS scope, d.datname::text AS name, d.datconnlimit AS lim, count(*)::int AS in_use
      FROM a JOIN pg_database d ON d.oid = a.datid
     WHERE a.backend_type = 'client backend'
     GROUP BY d.datname, d.datconnlimit
    UNION ALL
    SELECT 'role', r.rolname::text, r.rolconnlimit, count(*)::int
      FROM a JOIN pg_roles r ON r.oid = a.usesysid
     WHERE a.backend_type = 'client backend'
     GROUP BY r.rolname, r.rolconnlimit
)
SELECT 'server'::text AS scope, NULL::text AS name, srv.max_conn AS connection_limit, srv.reserved,
       srv.in_use, srv.usable - srv.in_use AS headroom,
       (CASE WHEN srv.usable > 0 THEN 100.0 * srv.in_use / srv.usable ELSE 100 END)::float8 AS utilisation_pct,
       (SELECT coalesce(jsonb_object_agg(o.backend_type, o.n), '{}')
          FROM (SELECT backend_type, count(*)::int AS n FROM a
                 WHERE a.backend_type <> 'client backend' GROUP BY backend_type) o) AS other_backends
  FROM srv
UNION ALL
SELECT per.scope, per.name, nullif(per.lim, -1), 0,
       per.in_use,
       (CASE WHEN per.lim >= 0 THEN per.lim ELSE srv.usable END) - per.in_use,
       (CASE WHEN (CASE WHEN per.lim >= 0 THEN per.lim ELSE srv.usable END) > 0
             THEN 100.0 * per.in_use / (CASE WHEN per.lim >= 0 THEN per.lim ELSE srv.usable END)
             ELSE 100 END)::float8,
       NULL::jsonb
  FROM per CROSS JOIN srv;

CREATE VIEW plain.blocking AS
WITH RECURSIVE a AS MATERIALIZED (
    SELECT pid, usename, application_name, state, xact_start, wait_event_type FROM pg_stat_activity
), b AS MATERIALIZED (
    SELECT x.pid, x.usename, x.application_name, x.blockers
      FROM (SELECT a.pid, a.usename, a.application_name, pg_blocking_pids(a.pid) AS blockers
              FROM a WHERE a.wait_event_type = 'Lock') x
     WHERE cardinality(x.blockers) > 0
), chain (pid, root, path) AS (
    SELECT b.pid, b.blockers[1], ARRAY[b.pid] FROM b
    UNION ALL
    SELECT c.pid, n.blockers[1], c.path || c.root
      FROM chain c JOIN b n ON n.pid = c.root
     WHERE n.blockers[1] <> ALL (c.path || c.root)
), root AS (
    SELECT DISTINCT ON (pid) pid, root FROM chain ORDER BY pid, cardinality(path) DESC
)
SELECT b.pid                                   AS blocked_pid,
       b.usename::text                         AS blocked_role,
       b.application_name                      AS blocked_application,
       now() - l.waitstart                     AS wait_duration,
       l.locktype                              AS lock_type,
       l.mode                                  AS lock_mode,
       b.blockers                              AS blocking_pids,
       r.root                                  AS root_blocker_pid,
       ra.usename::text                        AS root_blocker_role,
       ra.state                                AS root_blocker_state,
       now() - ra.xact_start                   AS root_blocker_transaction_age,
       ra.application_name                     AS root_blocker_application,
       (count(*) OVER (PARTITION BY r.root))::int AS root_blocks
  FROM b
  JOIN root r ON r.pid = b.pid
  LEFT JOIN pg_locks l ON l.pid = b.pid AND NOT l.granted
  LEFT JOIN a ra ON ra.pid = r.root
 ORDER BY root_blocks DESC, root_blocker_pid, wait_duration DESC NULLS LAST;

GRANT USAGE ON SCHEMA plain TO pg_monitor;
GRANT SELECT ON ALL TABLES IN SCHEMA plain TO pg_monitor;
