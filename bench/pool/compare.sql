-- pg_apes_health pool benchmark: the extension against the plain SQL, side by side (cells read "apes / plain", or "apes ≠ plain").
-- Run by bench/pool/run.sh in database apes_pool while the client sessions are held; expects psql variables:
--   n_total n_pools n_idle n_iit n_active n_waiting n_blocked n_roles n_dbs   what run.sh planted
--   n_tuple n_relation                                                        blocked on the row's tuple lock / t_mid
--
-- All comparisons run in ONE read-only transaction: PostgreSQL copies the backend status array once per transaction
-- (for pg_stat_activity and the extension alike), so both sides read the same sessions; read-only, so no
-- transaction id is assigned and the xmin ages do not move.  Wait events and pg_blocking_pids() are read live by both
-- sides, but nothing changes while the sessions are held.  Ages differ by the time between now() (the plain SQL:
-- transaction start) and the extension's clock read, so they are compared within 1 second.

\set ON_ERROR_STOP 1
\set QUIET on
\pset footer off
SET client_min_messages = warning;

CREATE TEMP VIEW cmp_pools AS
WITH a AS (SELECT *, coalesce((SELECT sum((regexp_match(e, '\((\d+)\)$'))[1]::int)
                                 FROM unnest(string_to_array(wait_events, ', ')) e), 0) AS n_ev,
                  ARRAY(SELECT DISTINCT regexp_replace(e, ' \(\d+\)$', '')
                          FROM unnest(string_to_array(wait_events, ', ')) e ORDER BY 1) AS ev
             FROM apes.pools()),
     p AS (SELECT *, coalesce((SELECT sum((regexp_match(e, '\((\d+)\)$'))[1]::int)
                                 FROM unnest(string_to_array(wait_events, ', ')) e), 0) AS n_ev,
                  ARRAY(SELECT DISTINCT regexp_replace(e, ' \(\d+\)$', '')
                          FROM unnest(string_to_array(wait_events, ', ')) e ORDER BY 1) AS ev
             FROM plain.pools),
     j AS (
    SELECT a.sessions IS NOT NULL AS in_a, p.sessions IS NOT NULL AS in_p,
           coalesce(a.database, p.database) AS database, coalesce(a.role, p.role) AS role,
           coalesce(a.application, p.application) AS application, coalesce(a.client_addr, p.client_addr) AS client_addr,
           a.sessions AS a_sessions, p.sessions AS p_sessions, a.active AS a_active, p.active AS p_active,
           a.idle AS a_idle, p.idle AS p_idle, a.idle_in_transaction AS a_iit, p.idle_in_transaction AS p_iit,
           a.idle_in_transaction_aborted AS a_iita, p.idle_in_transaction_aborted AS p_iita,
           a.waiting AS a_waiting, p.waiting AS p_waiting, a.hidden_sessions AS a_hidden, p.hidden_sessions AS p_hidden,
           a.oldest_xmin_age AS a_xmin, p.oldest_xmin_age AS p_xmin, a.n_ev AS a_n_ev, p.n_ev AS p_n_ev,
           a.ev AS a_ev, p.ev AS p_ev,
           extract(epoch FROM a.oldest_transaction_age) AS a_xact, extract(epoch FROM p.oldest_transaction_age) AS p_xact,
           extract(epoch FROM a.oldest_idle_in_transaction_age) AS a_iit_age,
           extract(epoch FROM p.oldest_idle_in_transaction_age) AS p_iit_age,
           extract(epoch FROM a.youngest_connection_age) AS a_young, extract(epoch FROM p.youngest_connection_age) AS p_young
      FROM a FULL JOIN p
        ON a.database = p.database AND a.role = p.role AND a.application = p.application
       AND coalesce(a.client_addr, '(socket)') = coalesce(p.client_addr, '(socket)')
)
SELECT j.*,
       in_a AND in_p
       AND (a_sessions, a_active, a_idle, a_iit, a_iita, a_waiting, a_hidden)
           = (p_sessions, p_active, p_idle, p_iit, p_iita, p_waiting, p_hidden)
       AND a_xmin IS NOT DISTINCT FROM p_xmin
       AND a_ev = p_ev
       AND (a_xact IS NULL) = (p_xact IS NULL) AND coalesce(abs(a_xact - p_xact) < 1, true)
       AND (a_iit_age IS NULL) = (p_iit_age IS NULL) AND coalesce(abs(a_iit_age - p_iit_age) < 1, true)
       AND abs(a_young - p_young) < 1 AS ok
  FROM j;

CREATE TEMP VIEW cmp_capacity AS
WITH a AS (SELECT * FROM apes.connection_capacity()),
     p AS (SELECT * FROM plain.connection_capacity),
     j AS (
    SELECT a.scope IS NOT NULL AS in_a, p.scope IS NOT NULL AS in_p,
           coalesce(a.scope, p.scope) AS scope, coalesce(a.name, p.name) AS name,
           a.connection_limit AS a_limit, p.connection_limit AS p_limit, a.reserved AS a_reserved,
           p.reserved AS p_reserved, a.in_use AS a_in_use, p.in_use AS p_in_use, a.headroom AS a_headroom,
           p.headroom AS p_headroom, round(a.utilisation_pct::numeric, 3) AS a_pct,
           round(p.utilisation_pct::numeric, 3) AS p_pct, a.other_backends AS a_other, p.other_backends AS p_other
      FROM a FULL JOIN p ON a.scope = p.scope AND coalesce(a.name, '') = coalesce(p.name, '')
)
SELECT j.*,
       in_a AND in_p AND a_limit IS NOT DISTINCT FROM p_limit AND a_reserved = p_reserved AND a_in_use = p_in_use
       AND a_headroom = p_headroom AND a_pct = p_pct AND a_other IS NOT DISTINCT FROM p_other AS ok
  FROM j;

CREATE TEMP VIEW cmp_blocking AS
WITH a AS (SELECT * FROM apes.blocking()),
     p AS (SELECT * FROM plain.blocking),
     j AS (
    SELECT a.blocked_pid IS NOT NULL AS in_a, p.blocked_pid IS NOT NULL AS in_p,
           coalesce(a.blocked_pid, p.blocked_pid) AS pid,
           coalesce(a.blocked_application, p.blocked_application) AS application,
           a.blocked_role AS a_role, p.blocked_role AS p_role,
           a.lock_type AS a_type, p.lock_type AS p_type, a.lock_mode AS a_mode, p.lock_mode AS p_mode,
           a.blocking_pids AS a_blockers, p.blocking_pids AS p_blockers,
           a.root_blocker_pid AS a_root, p.root_blocker_pid AS p_root,
           a.root_blocker_application AS a_root_app, p.root_blocker_application AS p_root_app,
           a.root_blocker_role AS a_root_role, p.root_blocker_role AS p_root_role,
           a.root_blocker_state AS a_root_state, p.root_blocker_state AS p_root_state,
           a.root_blocks AS a_root_blocks, p.root_blocks AS p_root_blocks,
           extract(epoch FROM a.wait_duration) AS a_wait, extract(epoch FROM p.wait_duration) AS p_wait,
           extract(epoch FROM a.root_blocker_transaction_age) AS a_root_xact,
           extract(epoch FROM p.root_blocker_transaction_age) AS p_root_xact
      FROM a FULL JOIN p ON a.blocked_pid = p.blocked_pid
)
SELECT j.*,
       in_a AND in_p AND a_role = p_role AND a_type IS NOT DISTINCT FROM p_type
       AND a_mode IS NOT DISTINCT FROM p_mode AND a_blockers = p_blockers AND a_root = p_root
       AND a_root_app IS NOT DISTINCT FROM p_root_app AND a_root_role IS NOT DISTINCT FROM p_root_role
       AND a_root_state IS NOT DISTINCT FROM p_root_state AND a_root_blocks = p_root_blocks
       AND (a_wait IS NULL) = (p_wait IS NULL) AND coalesce(abs(a_wait - p_wait) < 1, true)
       AND (a_root_xact IS NULL) = (p_root_xact IS NULL) AND coalesce(abs(a_root_xact - p_root_xact) < 1, true) AS ok
  FROM j;

CREATE FUNCTION pg_temp.pair(a anyelement, b anyelement) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT coalesce(a::text, '-') || CASE WHEN a IS NOT DISTINCT FROM b THEN ' / ' ELSE ' ≠ ' END
                 || coalesce(b::text, '-') $$;
CREATE FUNCTION pg_temp.secs(a float8, b float8) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT coalesce(round(a::numeric, 1)::text, '-') || ' / ' || coalesce(round(b::numeric, 1)::text, '-') $$;

CREATE TEMP VIEW summary AS
SELECT * FROM (VALUES
    (1, 'client sessions in pools', :n_total::bigint,
        (SELECT sum(p_sessions) FROM cmp_pools), (SELECT sum(a_sessions) FROM cmp_pools)),
    (2, 'pools', :n_pools, (SELECT count(*) FILTER (WHERE in_p) FROM cmp_pools),
        (SELECT count(*) FILTER (WHERE in_a) FROM cmp_pools)),
    (3, 'idle', :n_idle, (SELECT sum(p_idle) FROM cmp_pools), (SELECT sum(a_idle) FROM cmp_pools)),
    (4, 'idle in transaction', :n_iit, (SELECT sum(p_iit) FROM cmp_pools), (SELECT sum(a_iit) FROM cmp_pools)),
    (5, 'active (pg_sleep + blocked)', :n_active, (SELECT sum(p_active) FROM cmp_pools),
        (SELECT sum(a_active) FROM cmp_pools)),
    (6, 'waiting (Lock + Timeout:PgSleep)', :n_waiting, (SELECT sum(p_waiting) FROM cmp_pools),
        (SELECT sum(a_waiting) FROM cmp_pools)),
    (7, 'capacity: server in_use (+ this session)', :n_total + 1,
        (SELECT p_in_use FROM cmp_capacity WHERE scope = 'server'),
        (SELECT a_in_use FROM cmp_capacity WHERE scope = 'server')),
    (8, 'capacity: database rows', :n_dbs, (SELECT count(*) FILTER (WHERE in_p) FROM cmp_capacity WHERE scope = 'database'),
        (SELECT count(*) FILTER (WHERE in_a) FROM cmp_capacity WHERE scope = 'database')),
    (9, 'capacity: role rows', :n_roles, (SELECT count(*) FILTER (WHERE in_p) FROM cmp_capacity WHERE scope = 'role'),
        (SELECT count(*) FILTER (WHERE in_a) FROM cmp_capacity WHERE scope = 'role')),
    (10, 'blocked backends', :n_blocked, (SELECT count(*) FILTER (WHERE in_p) FROM cmp_blocking),
        (SELECT count(*) FILTER (WHERE in_a) FROM cmp_blocking)),
    (11, 'root blockers', 1, (SELECT count(DISTINCT p_root) FROM cmp_blocking),
        (SELECT count(DISTINCT a_root) FROM cmp_blocking)),
    (12, 'blocked with root = the batch_locker session', :n_blocked,
        (SELECT count(*) FROM cmp_blocking WHERE p_root_app = 'batch_locker'),
        (SELECT count(*) FROM cmp_blocking WHERE a_root_app = 'batch_locker')),
    (13, 'root_blocks of that root', :n_blocked,
        (SELECT max(p_root_blocks) FROM cmp_blocking WHERE p_root_app = 'batch_locker'),
        (SELECT max(a_root_blocks) FROM cmp_blocking WHERE a_root_app = 'batch_locker')),
    (14, 'waiting on transactionid (middle of the chain)', 1,
        (SELECT count(*) FROM cmp_blocking WHERE p_type = 'transactionid'),
        (SELECT count(*) FROM cmp_blocking WHERE a_type = 'transactionid')),
    (15, 'waiting on tuple', :n_tuple, (SELECT count(*) FROM cmp_blocking WHERE p_type = 'tuple'),
        (SELECT count(*) FROM cmp_blocking WHERE a_type = 'tuple')),
    (16, 'waiting on relation', :n_relation, (SELECT count(*) FROM cmp_blocking WHERE p_type = 'relation'),
        (SELECT count(*) FROM cmp_blocking WHERE a_type = 'relation'))
) v (ord, measure, planted, plain, apes);

BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;

\echo
\echo '== apes.pools / plain.pools (xmin: oldest_xmin_age; ev: wait_events entries, shown but not judged, the distinct'
\echo '   events are; ages in s: oldest transaction, oldest idle in transaction, youngest connection;'
\echo '   ok: every count equal, the same distinct wait events, every age within 1 s)'
SELECT database, role, application, coalesce(client_addr, '(socket)') AS client_addr,
       pg_temp.pair(a_sessions, p_sessions) AS sessions, pg_temp.pair(a_active, p_active) AS active,
       pg_temp.pair(a_idle, p_idle) AS idle, pg_temp.pair(a_iit, p_iit) AS idle_in_xact,
       pg_temp.pair(a_iita, p_iita) AS aborted, pg_temp.pair(a_waiting, p_waiting) AS waiting,
       pg_temp.pair(a_hidden, p_hidden) AS hidden, pg_temp.pair(a_xmin, p_xmin) AS xmin,
       pg_temp.pair(a_n_ev, p_n_ev) AS ev, pg_temp.secs(a_xact, p_xact) AS oldest_xact_s,
       pg_temp.secs(a_iit_age, p_iit_age) AS oldest_iit_s, pg_temp.secs(a_young, p_young) AS youngest_s,
       CASE WHEN ok THEN 'yes' ELSE 'NO' END AS ok
  FROM cmp_pools
 ORDER BY coalesce(a_sessions, p_sessions) DESC, database, role, application, client_addr;

SELECT string_agg(format('%s/%s/%s: apes %s, plain %s', database, role, application, a_ev, p_ev), '; ')
           AS distinct_wait_events
  FROM cmp_pools WHERE cardinality(a_ev) > 0 OR cardinality(p_ev) > 0;

SELECT coalesce(string_agg(format('%s/%s/%s/%s: apes lists %s of %s waiting sessions', database, role, application,
                                  coalesce(client_addr, '(socket)'), a_n_ev, a_waiting), '; '), '') AS wait_events_cut
  FROM cmp_pools WHERE a_n_ev <> a_waiting
\gset
SELECT :'wait_events_cut' <> '' AS has_cut \gset
\if :has_cut
\echo 'note: apes.pools.wait_events stops after 200 characters (src/pool.c apes_pool_add): ' :wait_events_cut
\endif

\echo
\echo '== apes.connection_capacity() / plain.connection_capacity (ok: all equal, other_backends too)'
SELECT scope, name, pg_temp.pair(a_limit, p_limit) AS connection_limit, pg_temp.pair(a_reserved, p_reserved) AS reserved,
       pg_temp.pair(a_in_use, p_in_use) AS in_use, pg_temp.pair(a_headroom, p_headroom) AS headroom,
       pg_temp.pair(a_pct, p_pct) AS utilisation_pct,
       CASE WHEN scope <> 'server' THEN '' WHEN a_other IS NOT DISTINCT FROM p_other THEN 'same' ELSE 'DIFFER' END
           AS other_backends,
       CASE WHEN ok THEN 'yes' ELSE 'NO' END AS ok
  FROM cmp_capacity
 ORDER BY CASE scope WHEN 'server' THEN 1 WHEN 'database' THEN 2 ELSE 3 END, name;
SELECT scope, a_other AS apes_other_backends, p_other AS plain_other_backends FROM cmp_capacity WHERE scope = 'server';

\echo
\echo '== apes.blocking / plain.blocking (one row per blocked backend; ok: all equal, wait and root transaction age within 1 s)'
SELECT pid, application, pg_temp.pair(a_type, p_type) AS lock_type, pg_temp.pair(a_mode, p_mode) AS lock_mode,
       pg_temp.pair(a_blockers, p_blockers) AS blocking_pids, pg_temp.pair(a_root, p_root) AS root_pid,
       pg_temp.pair(a_root_app, p_root_app) AS root_app, pg_temp.pair(a_root_state, p_root_state) AS root_state,
       pg_temp.pair(a_root_blocks, p_root_blocks) AS root_blocks, pg_temp.secs(a_wait, p_wait) AS wait_s,
       CASE WHEN ok THEN 'yes' ELSE 'NO' END AS ok
  FROM cmp_blocking
 ORDER BY coalesce(a_type, p_type), pid;

\echo
\echo '== planted by run.sh, found by the plain SQL, found by the extension'
SELECT measure, planted, plain, apes,
       CASE WHEN planted = plain AND plain = apes THEN 'yes' ELSE 'NO' END AS "all equal"
  FROM summary ORDER BY ord;

SELECT (SELECT count(*) FILTER (WHERE NOT ok) FROM cmp_pools)    AS bad_pools,
       (SELECT count(*) FILTER (WHERE NOT ok) FROM cmp_capacity) AS bad_capacity,
       (SELECT count(*) FILTER (WHERE NOT ok) FROM cmp_blocking) AS bad_blocking,
       (SELECT count(*) FROM summary WHERE planted IS DISTINCT FROM plain OR plain IS DISTINCT FROM apes) AS bad_summary
\gset
COMMIT;
\echo 'rows that differ: pools' :bad_pools ', capacity' :bad_capacity ', blocking' :bad_blocking ', summary' :bad_summary
SELECT CASE WHEN :bad_pools + :bad_capacity + :bad_blocking + :bad_summary = 0 THEN 'ALL COUNTS MATCH'
            ELSE 'COUNTS DIFFER' END AS counts_verdict
\gset
\echo 'COUNTS VERDICT:' :counts_verdict
