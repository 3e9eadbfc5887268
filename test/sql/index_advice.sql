-- Index advice checked against the workload's plans (issue 15), with workloads planted in pg_stat_statements (the
-- cluster preloads it with track = all): apes.simulate_drop(); a redundant index whose drop changes no plan; an index
-- the counters call unused after pg_stat_reset() while a top statement needs it ("keep"); a missing index on a
-- filtered column and its near-misses; index_rarely_used and index_null_heavy with theirs; privacy; bad input.
-- Costs and times differ between machines: only ratios against thresholds far from them are shown.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
RESET client_min_messages;
CREATE SCHEMA ia;
-- no test may depend on how fast this machine plans: a budget no run reaches
SET pg_apes_health.simulation_time_budget = '1h';
SET pg_apes_health.simulation_statements = 500;
SET pg_apes_health.unused_index_min_size = 0;

-------------------------------------------------------------------- the tables
-- a redundant index: acct_owner is a prefix of acct_owner_region, which the workload's look-ups use
CREATE TABLE ia.acct (id int PRIMARY KEY, owner int, region int, note text);
INSERT INTO ia.acct SELECT g, g % 1000, g % 10, md5(g::text) FROM generate_series(1, 20000) g;
CREATE INDEX acct_owner ON ia.acct (owner);
CREATE INDEX acct_owner_region ON ia.acct (owner, region);
-- an index the top statements need, whose counters will be reset
CREATE TABLE ia.events (id int PRIMARY KEY, kind int, at timestamptz, payload text);
INSERT INTO ia.events SELECT g, g % 50, timestamptz '2026-01-01 00:00+00' + g * interval '1 minute', md5(g::text)
  FROM generate_series(1, 50000) g;
CREATE INDEX events_at ON ia.events (at);
-- a table filtered by a column no index serves (ref), and the near-misses: a low-selectivity column (status), a
-- column an index serves by a prefix (account), and a table so small a sequential scan wins (tiny)
CREATE TABLE ia.ledger (id int PRIMARY KEY, account int, status int, ref text, amount numeric);
INSERT INTO ia.ledger SELECT g, g % 2000, g % 3, 'R' || g, g FROM generate_series(1, 100000) g;
CREATE INDEX ledger_account_amount ON ia.ledger (account, amount);
CREATE TABLE ia.tiny (id int, code text);
INSERT INTO ia.tiny SELECT g, 'c' || g FROM generate_series(1, 20) g;
-- rarely used: audit_who, scanned once against thousands of writes; audit_what, scanned as often as it is written
CREATE TABLE ia.audit (id int PRIMARY KEY, who int, what int);
CREATE INDEX audit_who ON ia.audit (who);
CREATE INDEX audit_what ON ia.audit (what);
-- NULL-heavy: tasks_done_at (90% NULL); near-misses: tasks_owner (no NULL), a partial index, a unique constraint
CREATE TABLE ia.tasks (id int PRIMARY KEY, done_at timestamptz, owner int, code int UNIQUE);
INSERT INTO ia.tasks SELECT g, CASE WHEN g % 10 = 0 THEN timestamptz '2026-01-01 00:00+00' + g * interval '1 s' END,
                            g % 7, CASE WHEN g % 10 = 0 THEN g END
  FROM generate_series(1, 50000) g;
CREATE INDEX tasks_done_at ON ia.tasks (done_at);
CREATE INDEX tasks_owner ON ia.tasks (owner);
CREATE TABLE ia.tasks_p (id int, done_at timestamptz);
INSERT INTO ia.tasks_p SELECT g, CASE WHEN g % 10 = 0 THEN now() END FROM generate_series(1, 20000) g;
CREATE INDEX tasks_p_done ON ia.tasks_p (done_at) WHERE done_at IS NOT NULL;
ANALYZE ia.acct, ia.events, ia.ledger, ia.tiny, ia.audit, ia.tasks, ia.tasks_p;

-------------------------------------------------------------------- the workload, in pg_stat_statements
\o /dev/null
SELECT count(*) FROM ia.acct WHERE owner = 1 AND region = 1;
SELECT count(*) FROM ia.acct WHERE owner = 2 AND region = 2;
SELECT count(*) FROM ia.events WHERE at BETWEEN '2026-01-02' AND '2026-01-03';
SELECT count(*) FROM ia.events WHERE at BETWEEN '2026-01-04' AND '2026-01-05';
SELECT count(*) FROM ia.events WHERE at > timestamptz '2026-01-20' - interval '1 day';   -- typed literals
SELECT amount FROM ia.ledger WHERE ref = 'R42';
SELECT amount FROM ia.ledger WHERE ref = 'R43';
SELECT amount FROM ia.ledger WHERE ref = 'R44';
SELECT count(*) FROM ia.ledger WHERE status = 1;
SELECT count(*) FROM ia.ledger WHERE status = 2;
SELECT sum(amount) FROM ia.ledger WHERE account = 7;
SELECT sum(amount) FROM ia.ledger WHERE account = 8;
SELECT * FROM ia.tiny WHERE code = 'c7';
SELECT * FROM ia.tiny WHERE code = 'c8';
SELECT owner FROM ia.acct WHERE 'a' IS NOT NULL AND id = 5;   -- a parameter of no inferable type
\o
-- the counters restart (what this backend counted is sent first): events_at now looks never scanned
SELECT pg_stat_force_next_flush();
SELECT pg_stat_reset();
\o /dev/null
INSERT INTO ia.audit SELECT g, g % 100, g % 100 FROM generate_series(1, 5000) g;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) FROM ia.audit WHERE who > 0;
SELECT count(*) FROM ia.audit WHERE what = 1;
SELECT count(*) FROM ia.audit WHERE what = 2;
SELECT count(*) FROM ia.audit WHERE what = 3;
SELECT count(*) FROM ia.audit WHERE what = 4;
SELECT count(*) FROM ia.audit WHERE what = 5;
SELECT count(*) FROM ia.audit WHERE what = 6;
SELECT count(*) FROM ia.audit WHERE what = 7;
SELECT count(*) FROM ia.audit WHERE what = 8;
SELECT count(*) FROM ia.audit WHERE what = 9;
SELECT count(*) FROM ia.audit WHERE what = 10;
RESET enable_seqscan;
RESET enable_bitmapscan;
\o
SELECT pg_stat_force_next_flush();

-------------------------------------------------------------------- apes.simulate_drop()
-- a redundant index whose drop changes no plan: the look-ups are planned on acct_owner_region, with it or without it
SELECT rank > 0 AS ranked, status, uses_index, cost_ratio, query
  FROM apes.simulate_drop('ia.acct_owner') WHERE status = 'planned' ORDER BY query;
-- an index the top statements need: costlier without it; typed literals (timestamptz $1, interval $2) planned too
SELECT status, uses_index, cost_ratio > 1.5 AS costlier, query
  FROM apes.simulate_drop('ia.events_at') WHERE status = 'planned' ORDER BY query;
-- statements that name the table but cannot be planned are rows with the reason, and do not count: utility
-- statements, the INSERT whose generate_series($3, $4) has no parameter types, a parameter of no inferable type
SELECT count(*) FILTER (WHERE reason = 'a utility statement') AS utility,
       count(*) FILTER (WHERE reason LIKE 'it does not plan here: %') AS not_planned_here,
       count(*) FILTER (WHERE reason = 'the type of parameter $1 cannot be inferred') AS untyped,
       count(*) AS skipped
  FROM apes.simulate_drop('ia.acct_owner') WHERE status = 'skipped' AND query LIKE '%ia.acct%';
-- statements asks for the top statements reading the table: 1 gives one
SELECT count(*) FILTER (WHERE status <> 'skipped') AS reading FROM apes.simulate_drop('ia.acct_owner', 1);
-- the planner hook is inert outside a simulation: plans see every real index and no hypothetical one
CREATE FUNCTION ia.plan_scans(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || sql LOOP
        IF line ~ 'Index.* Scan' THEN
            RETURN substring(line FROM '(?:using|on) (\w+)');
        END IF;
    END LOOP;
    RETURN 'no index';
END $$;
SELECT ia.plan_scans('SELECT count(*) FROM ia.acct WHERE owner = 1 AND region = 1') AS acct,
       ia.plan_scans('SELECT amount FROM ia.ledger WHERE ref = ''R1''') AS ledger;

-------------------------------------------------------------------- drop findings carry the simulation
-- the redundant index: the workload agrees, the DROP stands
SELECT check_id, severity, object_name, confidence, fix_sql,
       evidence->'simulation'->>'ran' AS ran, (evidence->'simulation'->>'plans_changed')::int > 0 AS plan_changed,
       (evidence->'simulation'->>'worst_cost_ratio')::float8 < 1.5 AS about_the_same, evidence->'simulation'->>'keep' AS keep
  FROM apes.findings('index') WHERE object_name = 'ia.acct_owner';
-- the index the counters call unused after pg_stat_reset(): a top statement needs it, so keep it: info, nothing
-- reclaimed, no DDL, the statement named
SELECT check_id, severity, object_name, wasted_bytes, fix_sql, undo_sql,
       summary LIKE 'keep index ia.events_at: %' AS says_keep,
       summary ~ 'without it query -?[0-9]+ \(contrib_regression/[a-z_]+\) would cost [0-9.]+ times more' AS names_statement,
       evidence->'simulation'->>'keep' AS keep, (evidence->'simulation'->>'worst_cost_ratio')::float8 > 5 AS much_costlier
  FROM apes.findings('index') WHERE object_name = 'ia.events_at';
-- a stricter ratio keeps nothing: the same finding is a DROP again
SET pg_apes_health.keep_cost_ratio = 1e6;
SELECT check_id, severity, fix_sql FROM apes.findings('index') WHERE object_name = 'ia.events_at';
RESET pg_apes_health.keep_cost_ratio;
-- no budget: no simulation, confidence a step lower, and the evidence says why
SET pg_apes_health.simulation_time_budget = 0;
SELECT check_id, object_name, confidence, evidence->'simulation' AS simulation
  FROM apes.findings('index') WHERE object_name IN ('ia.acct_owner', 'ia.events_at') ORDER BY object_name;
SET pg_apes_health.simulation_time_budget = '1h';

-------------------------------------------------------------------- index_missing
-- one suggestion: ledger (ref); not status (few distinct values), not account (ledger_account_amount leads with
-- it), not tiny (a sequential scan of one page wins)
SELECT check_id, severity, object_name, confidence, fix_sql, undo_sql
  FROM apes.findings('index') WHERE check_id = 'index_missing' AND object_name LIKE 'ia.%';
SELECT jsonb_array_length(evidence->'statements_helped') AS helped, evidence->'columns' AS columns,
       (evidence->>'cost_saved_share')::float8 > 0.5 AS saves_most,
       (evidence->>'estimated_index_bytes')::bigint BETWEEN 1000000 AND 10000000 AS size_plausible,
       (evidence->>'estimated_tree_height')::int AS height, (evidence->>'table_writes')::bigint >= 0 AS writes_known
  FROM apes.findings('index') WHERE check_id = 'index_missing' AND object_name = 'ia.ledger (ref)';
-- the fix works: once the index exists the suggestion is gone, and the undo brings it back
CREATE INDEX ledger_ref_idx ON ia.ledger USING btree (ref);
SELECT count(*) AS suggested_after_fix FROM apes.findings('index') WHERE check_id = 'index_missing' AND object_name LIKE 'ia.ledger%';
DROP INDEX ia.ledger_ref_idx;
SELECT count(*) AS suggested_after_undo FROM apes.findings('index') WHERE check_id = 'index_missing' AND object_name LIKE 'ia.ledger%';
-- a higher bar for the share of the table's time it must help: none
SET pg_apes_health.missing_index_min_share = 100;
SELECT count(*) AS suggested_at_100pct FROM apes.findings('index') WHERE check_id = 'index_missing' AND object_name LIKE 'ia.%';
RESET pg_apes_health.missing_index_min_share;

-------------------------------------------------------------------- index_rarely_used
-- audit_who: one scan since the reset against 5,000 rows written; the statement of that scan does not need it
-- (its generic plan reads a third of the table sequentially), so the DROP stands.  audit_what: ten scans, 500 writes
-- each: not rarely used at the default 1,000 writes per scan
SELECT check_id, severity, object_name, fix_sql, undo_sql, (evidence->>'index_scans')::int AS scans,
       (evidence->>'table_writes')::int AS writes, evidence->>'window_basis' AS basis,
       evidence->'simulation'->>'keep' AS keep
  FROM apes.findings('index') WHERE check_id = 'index_rarely_used' AND object_name LIKE 'ia.audit%' ORDER BY object_name;
-- the thresholds: 500 writes per scan make audit_what rarely used too, unless 10 scans are too many
SET pg_apes_health.rarely_used_writes_per_scan = 500;
SELECT object_name FROM apes.findings('index') WHERE check_id = 'index_rarely_used' AND object_name LIKE 'ia.audit%' ORDER BY 1;
SET pg_apes_health.rarely_used_max_scans = 9;
SELECT object_name FROM apes.findings('index') WHERE check_id = 'index_rarely_used' AND object_name LIKE 'ia.audit%' ORDER BY 1;
RESET pg_apes_health.rarely_used_writes_per_scan;
RESET pg_apes_health.rarely_used_max_scans;

-------------------------------------------------------------------- index_null_heavy
SET pg_apes_health.unused_index_min_size = '1GB';    -- these indexes are never scanned: keep index_unused out of it
SET pg_apes_health.null_heavy_min_size = 0;
SELECT check_id, severity, object_name, round((evidence->>'null_frac')::numeric, 1) AS null_frac,
       evidence->>'column' AS col, wasted_bytes > 0 AS saves, fix_sql, undo_sql
  FROM apes.findings('index') WHERE check_id = 'index_null_heavy' AND object_name LIKE 'ia.%' ORDER BY object_name;
-- a higher threshold: none
SET pg_apes_health.null_heavy_min_pct = 95;
SELECT count(*) AS null_heavy_at_95pct FROM apes.findings('index') WHERE check_id = 'index_null_heavy' AND object_name LIKE 'ia.%';
RESET pg_apes_health.null_heavy_min_pct;
RESET pg_apes_health.null_heavy_min_size;
SET pg_apes_health.unused_index_min_size = 0;

-------------------------------------------------------------------- privacy
-- the indexes by OID: these roles may not look names up in schema ia
SELECT 'ia.events_at'::regclass::oid AS events_at, 'ia.acct_owner'::regclass::oid AS acct_owner \gset
-- a pg_monitor member without SELECT on the tables: the statements are counted, never planned or shown
CREATE ROLE regress_ia_monitor IN ROLE pg_monitor;
GRANT SELECT ON ia.acct TO regress_ia_monitor;
SET ROLE regress_ia_monitor;
SELECT status, reason, rank IS NULL AS no_rank, queryid IS NULL AS no_queryid, role IS NULL AS no_role,
       query IS NULL AS no_query, cost_with IS NULL AS no_cost
  FROM apes.simulate_drop(:events_at) WHERE status <> 'skipped';
-- what it may read, it sees
SELECT count(*) > 0 AS planned_acct FROM apes.simulate_drop(:acct_owner) WHERE status = 'planned';
-- the drop finding counts the hidden statement and decides nothing from it; no suggestion from unreadable tables
SELECT severity, (evidence->'simulation'->>'statements_hidden')::int AS hidden,
       (evidence->'simulation'->>'statements_planned')::int AS planned, evidence->'simulation'->>'keep' AS keep
  FROM apes.findings('index') WHERE object_name = 'ia.events_at';
SELECT count(*) AS suggestions FROM apes.findings('index') WHERE check_id = 'index_missing' AND object_name LIKE 'ia.%';
-- statistics it may not see: no NULL-heavy finding
SET pg_apes_health.unused_index_min_size = '1GB';
SET pg_apes_health.null_heavy_min_size = 0;
SELECT count(*) AS null_heavy FROM apes.findings('index') WHERE check_id = 'index_null_heavy' AND object_name LIKE 'ia.%';
RESET pg_apes_health.null_heavy_min_size;
SET pg_apes_health.unused_index_min_size = 0;
RESET ROLE;
-- a role that sees only its own statements' texts: the others are never looked at, only counted
CREATE ROLE regress_ia_reader;
GRANT USAGE ON SCHEMA apes TO regress_ia_reader;
GRANT EXECUTE ON FUNCTION apes.simulate_drop(regclass, integer) TO regress_ia_reader;
GRANT EXECUTE ON FUNCTION apes.findings(text) TO regress_ia_reader;
GRANT SELECT ON ia.events TO regress_ia_reader;
SET ROLE regress_ia_reader;
SET client_min_messages = warning;
SELECT count(*) AS rows FROM apes.simulate_drop(:events_at);
RESET client_min_messages;
SELECT (evidence->'simulation'->>'statements_not_visible')::int > 0 AS others_counted,
       (evidence->'simulation'->>'statements_checked')::int AS checked
  FROM apes.findings('index') WHERE object_name = 'ia.events_at';
RESET ROLE;
REVOKE ALL ON FUNCTION apes.simulate_drop(regclass, integer) FROM regress_ia_reader;
REVOKE ALL ON FUNCTION apes.findings(text) FROM regress_ia_reader;
REVOKE ALL ON SCHEMA apes FROM regress_ia_reader;

-- planning evaluates what it folds (an immutable function with constant arguments): as the statement's own role,
-- in a security-restricted operation, never as the caller (here a superuser)
CREATE ROLE regress_ia_app;
GRANT USAGE ON SCHEMA ia TO regress_ia_app;
GRANT SELECT ON ia.acct TO regress_ia_app;
CREATE FUNCTION ia.folded() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    restricted boolean := false;
BEGIN
    BEGIN
        PERFORM set_config('role', current_user, true);     -- allowed, unless in a security-restricted operation
    EXCEPTION WHEN insufficient_privilege THEN
        restricted := true;
    END;
    RAISE NOTICE 'ia.folded() runs as %, security-restricted: %', current_user, restricted;
    RETURN 1;
END $$;
SET client_min_messages = warning;
SET ROLE regress_ia_app;
SELECT count(*) FROM ia.acct WHERE owner = ia.folded() AND region = 1;
RESET ROLE;
RESET client_min_messages;
SELECT status, query FROM apes.simulate_drop('ia.acct_owner') WHERE query LIKE '%ia.folded()%';
DROP FUNCTION ia.folded();
REVOKE ALL ON ia.acct FROM regress_ia_app;
REVOKE ALL ON SCHEMA ia FROM regress_ia_app;
DROP ROLE regress_ia_app;

-- the caller's statement_timeout ends the call, even inside the planner (a function folded at plan time sleeps far
-- longer than the timeout); the planner hook is inert afterwards, and the next simulation runs as before
CREATE FUNCTION ia.slow_fold() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    PERFORM pg_sleep(coalesce(current_setting('ia.fold_sleep', true), '0')::float8);
    RETURN 1;
END $$;
SELECT count(*) FROM ia.acct WHERE owner = ia.slow_fold() AND region = 1;   -- recorded, quickly
SET ia.fold_sleep = 2;
SET statement_timeout = '100ms';
SELECT count(*) FROM apes.simulate_drop('ia.acct_owner_region');
RESET statement_timeout;
RESET ia.fold_sleep;
SELECT ia.plan_scans('SELECT count(*) FROM ia.acct WHERE owner = 1 AND region = 1') AS acct;
DROP FUNCTION ia.slow_fold();
SELECT count(*) > 0 AS planned_again FROM apes.simulate_drop('ia.acct_owner_region') WHERE status = 'planned';

-------------------------------------------------------------------- bad input
SELECT * FROM apes.simulate_drop('ia.acct');
SELECT * FROM apes.simulate_drop('ia.acct_owner', 0);
SELECT * FROM apes.simulate_drop(0);
SELECT count(*) FROM apes.simulate_drop(NULL);
SELECT count(*) FROM apes.simulate_drop('ia.acct_owner', NULL);
SET pg_apes_health.standby_dsns = 'host=localhost port=1; dbname=x password=''a;b''';
SHOW pg_apes_health.standby_dsns;
SET pg_apes_health.standby_dsns = 'host=localhost; nonsense';
RESET pg_apes_health.standby_dsns;

-------------------------------------------------------------------- without pg_stat_statements
SET client_min_messages = warning;
DROP EXTENSION pg_stat_statements;
RESET client_min_messages;
SELECT * FROM apes.simulate_drop('ia.acct_owner');
SELECT evidence->'simulation' AS simulation FROM apes.findings('index') WHERE object_name = 'ia.acct_owner';
SELECT count(*) AS suggestions FROM apes.findings('index') WHERE check_id = 'index_missing';

SET client_min_messages = warning;
DROP SCHEMA ia CASCADE;
DROP ROLE regress_ia_monitor;
DROP ROLE regress_ia_reader;
RESET client_min_messages;
