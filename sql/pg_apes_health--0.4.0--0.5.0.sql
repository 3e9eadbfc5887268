/* pg_apes_health 0.4.0 -> 0.5.0: verdicts a DBA can act on without checking (issue 13).
 *
 * apes.statement_deltas() took a statement as restarted only when its calls went down; after
 * pg_stat_statements_reset() of one statement and more calls than before, apes.query_stats() showed negative times.
 * Any cumulative counter that went down now restarts the series (the new column restarted; query_stats() flags it
 * statement_restarted).  apes.query_regressions() took population variances and the normal distribution: with
 * 3 calls a period it reported p = 4.6e-10 where Welch's test gives 0.0037, and zero variance counted as infinitely
 * significant.  It now uses sample variances, Welch-Satterthwaite degrees of freedom (the new column
 * degrees_of_freedom) and Student's t distribution (the new C function apes.t_upper_tail(), which replaces
 * apes.normal_upper_tail()), and "significant" needs at least 10 calls in each period and some variance.  The
 * functions whose result columns changed are dropped and created again, with the same privileges.  The view
 * apes.checks lists the registry of checks (src/checks.h).
 *
 * Safety: dropped and replaced functions are members of this extension, so this cannot adopt a planted object; the
 * new ones are created plainly, so a planted one makes the update fail.
 * test/upgrade_test.sh checks that an update from 0.1.0 gives the same objects and privileges as a fresh install.
 */
\echo Use "ALTER EXTENSION pg_apes_health UPDATE TO '0.5.0'" to load this file. \quit

DROP FUNCTION apes.query_regressions(tstzrange, tstzrange, integer);
DROP FUNCTION apes.normal_upper_tail(double precision);
DROP FUNCTION apes.statement_deltas(bigint, bigint);

-- Per statement, what changed between two points (start_id NULL: since the counters began; end_id 0: now).  A
-- statement missing at the start counts from zero (is_new); so does one whose entry was reset or evicted and came
-- back (restarted): any cumulative counter lower at the end than at the start, not only calls
-- (pg_stat_statements_reset() of one statement, then more calls than before, leaves calls higher but time lower).
CREATE FUNCTION apes.statement_deltas(start_id bigint, end_id bigint)
RETURNS TABLE (dbid oid, userid oid, queryid bigint, toplevel boolean, is_new boolean, restarted boolean,
               calls bigint, total_exec_time double precision, sumsq_exec_time double precision, plans bigint,
               total_plan_time double precision, rows bigint, shared_blks_hit bigint, shared_blks_read bigint,
               temp_blks_written bigint, wal_bytes numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH e AS (SELECT * FROM apes.statement_history h WHERE h.snapshot_id = end_id AND end_id <> 0
               UNION ALL
               SELECT * FROM apes.statements_now() WHERE end_id = 0),
         b AS (SELECT * FROM apes.statement_history h WHERE h.snapshot_id = start_id)
    SELECT e.dbid, e.userid, e.queryid, e.toplevel, y.fresh, y.fresh AND b.calls IS NOT NULL,
           e.calls - CASE WHEN y.fresh THEN 0 ELSE b.calls END,
           e.total_exec_time - CASE WHEN y.fresh THEN 0 ELSE b.total_exec_time END,
           e.sumsq_exec_time - CASE WHEN y.fresh THEN 0 ELSE b.sumsq_exec_time END,
           e.plans - CASE WHEN y.fresh THEN 0 ELSE b.plans END,
           e.total_plan_time - CASE WHEN y.fresh THEN 0 ELSE b.total_plan_time END,
           e.rows - CASE WHEN y.fresh THEN 0 ELSE b.rows END,
           e.shared_blks_hit - CASE WHEN y.fresh THEN 0 ELSE b.shared_blks_hit END,
           e.shared_blks_read - CASE WHEN y.fresh THEN 0 ELSE b.shared_blks_read END,
           e.temp_blks_written - CASE WHEN y.fresh THEN 0 ELSE b.temp_blks_written END,
           e.wal_bytes - CASE WHEN y.fresh THEN 0 ELSE b.wal_bytes END
      FROM e
      LEFT JOIN b ON b.dbid = e.dbid AND b.userid = e.userid AND b.queryid = e.queryid AND b.toplevel = e.toplevel
      CROSS JOIN LATERAL (SELECT b.calls IS NULL OR b.calls > e.calls OR b.total_exec_time > e.total_exec_time
                                 OR b.sumsq_exec_time > e.sumsq_exec_time OR b.plans > e.plans
                                 OR b.total_plan_time > e.total_plan_time OR b.rows > e.rows
                                 OR b.shared_blks_hit > e.shared_blks_hit OR b.shared_blks_read > e.shared_blks_read
                                 OR b.temp_blks_written > e.temp_blks_written OR b.wal_bytes > e.wal_bytes
                                 AS fresh) y
     WHERE e.calls - CASE WHEN y.fresh THEN 0 ELSE b.calls END > 0
$$;

REVOKE ALL ON FUNCTION apes.statement_deltas(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apes.statement_deltas(bigint, bigint) TO pg_monitor;

-- Per statement over a period: deltas between the snapshots bounding it (until NULL: up to now), or cumulative
-- values when there is no history yet (basis says which), with the period's own standard deviation.
CREATE OR REPLACE FUNCTION apes.query_stats(since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL)
RETURNS TABLE (dbid oid, userid oid, queryid bigint, toplevel boolean, query text, calls bigint,
               total_exec_ms double precision, mean_exec_ms double precision, stddev_exec_ms double precision,
               plan_share double precision, rows_per_call double precision, shared_hit_ratio double precision,
               shared_blks_read bigint, temp_blks_written bigint, wal_bytes numeric,
               period_start timestamptz, period_end timestamptz, basis text, flags text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p       record;
    allowed boolean := pg_has_role(CURRENT_USER, 'pg_read_all_stats', 'USAGE');
    me      oid := (SELECT r.oid FROM pg_roles r WHERE r.rolname = CURRENT_USER);
BEGIN
    IF since IS NOT NULL AND until IS NOT NULL AND since > until THEN
        RAISE EXCEPTION 'since (%) is after until (%)', since, until USING ERRCODE = '22023';
    END IF;
    p := apes.period_bounds(since, until);
    -- texts as pg_stat_statements shows them: decided once for the caller, then joined (stored, else live)
    RETURN QUERY
    WITH d AS MATERIALIZED (SELECT * FROM apes.statement_deltas(p.start_id, p.end_id)),
         live AS MATERIALIZED (SELECT * FROM apes.statement_texts_now()
                                WHERE EXISTS (SELECT 1 FROM d
                                               WHERE NOT EXISTS (SELECT 1 FROM apes.statement_text t
                                                                  WHERE t.dbid = d.dbid AND t.userid = d.userid
                                                                    AND t.queryid = d.queryid)))
    SELECT d.dbid, d.userid, d.queryid, d.toplevel,
           CASE WHEN allowed OR d.userid = me THEN coalesce(t.query, l.query) ELSE '<insufficient privilege>' END,
           d.calls,
           d.total_exec_time, d.total_exec_time / d.calls,
           sqrt(greatest(d.sumsq_exec_time / d.calls - (d.total_exec_time / d.calls) ^ 2, 0)),
           CASE WHEN d.total_plan_time + d.total_exec_time > 0
                THEN d.total_plan_time / (d.total_plan_time + d.total_exec_time) END,
           d.rows::double precision / d.calls,
           CASE WHEN d.shared_blks_hit + d.shared_blks_read > 0
                THEN d.shared_blks_hit::double precision / (d.shared_blks_hit + d.shared_blks_read) END,
           d.shared_blks_read, d.temp_blks_written, d.wal_bytes,
           p.period_start, p.period_end, p.basis,
           p.flags || CASE WHEN d.restarted AND p.basis = 'delta' THEN ARRAY['statement_restarted']
                           WHEN d.is_new AND p.basis = 'delta' THEN ARRAY['new_statement'] ELSE '{}'::text[] END
      FROM d
      LEFT JOIN apes.statement_text t ON t.dbid = d.dbid AND t.userid = d.userid AND t.queryid = d.queryid
      LEFT JOIN live l ON l.dbid = d.dbid AND l.userid = d.userid AND l.queryid = d.queryid
     ORDER BY d.total_exec_time DESC, d.queryid;
END
$$;
-- Upper tail of Student's t distribution, P(T > t) with df degrees of freedom (src/student_t.c: the server has none).
CREATE FUNCTION apes.t_upper_tail(t double precision, df double precision)
RETURNS double precision
AS 'MODULE_PATHNAME', 'apes_t_upper_tail'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Statements whose mean execution time got worse from the baseline period to the current one, ranked by the extra
-- time they cost in the current period.  Welch's t-test on the two periods' means, with sample variances rebuilt
-- from the snapshots and Welch-Satterthwaite degrees of freedom; the p-value is the t distribution's upper tail.
-- Statements with fewer than min_calls calls in either period are not judged; "significant" (p < 0.001) needs at
-- least 10 calls in each and some variance (flags say few_calls or zero_variance otherwise).
CREATE FUNCTION apes.query_regressions(baseline tstzrange, current tstzrange, min_calls integer DEFAULT 50)
RETURNS TABLE (dbid oid, userid oid, queryid bigint, toplevel boolean, query text,
               baseline_calls bigint, baseline_mean_ms double precision, baseline_stddev_ms double precision,
               current_calls bigint, current_mean_ms double precision, current_stddev_ms double precision,
               slowdown double precision, extra_total_ms double precision, t_statistic double precision,
               degrees_of_freedom double precision, p_value double precision, significant boolean, flags text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b       record;
    c       record;
    allowed boolean := pg_has_role(CURRENT_USER, 'pg_read_all_stats', 'USAGE');
    me      oid := (SELECT r.oid FROM pg_roles r WHERE r.rolname = CURRENT_USER);
BEGIN
    IF baseline IS NULL OR current IS NULL OR isempty(baseline) OR isempty(current) THEN
        RAISE EXCEPTION 'baseline and current must be non-empty periods' USING ERRCODE = '22023';
    END IF;
    IF min_calls IS NULL OR min_calls < 2 THEN
        RAISE EXCEPTION 'min_calls must be at least 2' USING ERRCODE = '22023';
    END IF;
    b := apes.period_bounds(lower(baseline), upper(baseline));
    c := apes.period_bounds(lower(current), CASE WHEN upper_inf(current) THEN NULL ELSE upper(current) END);
    IF b.basis <> 'delta' OR c.basis <> 'delta' THEN
        RAISE EXCEPTION 'not enough history: each period needs a snapshot at or before its start'
            USING ERRCODE = '22023',
                  HINT = 'Take snapshots with apes.snapshot() (or schedule them with apes.schedule()) and wait.';
    END IF;
    RETURN QUERY
    WITH bd AS (SELECT * FROM apes.statement_deltas(b.start_id, b.end_id)),
         cd AS (SELECT * FROM apes.statement_deltas(c.start_id, c.end_id)),
         m AS (SELECT cd.dbid, cd.userid, cd.queryid, cd.toplevel,
                      bd.calls AS n1, bd.total_exec_time / bd.calls AS m1,
                      greatest((bd.sumsq_exec_time - bd.total_exec_time ^ 2 / bd.calls) / (bd.calls - 1), 0) AS v1,
                      cd.calls AS n2, cd.total_exec_time / cd.calls AS m2,
                      greatest((cd.sumsq_exec_time - cd.total_exec_time ^ 2 / cd.calls) / (cd.calls - 1), 0) AS v2
                 FROM cd JOIN bd USING (dbid, userid, queryid, toplevel)
                WHERE bd.calls >= min_calls AND cd.calls >= min_calls),
         w AS (SELECT m.*, m.v1 / m.n1 AS e1, m.v2 / m.n2 AS e2 FROM m WHERE m.m2 > m.m1),
         t AS (SELECT w.*,
                      CASE WHEN w.e1 + w.e2 > 0 THEN (w.m2 - w.m1) / sqrt(w.e1 + w.e2) END AS tt,
                      CASE WHEN w.e1 + w.e2 > 0
                           THEN (w.e1 + w.e2) ^ 2 / (w.e1 ^ 2 / (w.n1 - 1) + w.e2 ^ 2 / (w.n2 - 1)) END AS df
                 FROM w),
         p AS (SELECT t.*, CASE WHEN t.tt IS NOT NULL THEN apes.t_upper_tail(t.tt, t.df) END AS pv FROM t)
    SELECT p.dbid, p.userid, p.queryid, p.toplevel,
           CASE WHEN allowed OR p.userid = me
                THEN (SELECT x.query FROM apes.statement_text x
                       WHERE x.dbid = p.dbid AND x.userid = p.userid AND x.queryid = p.queryid)
                ELSE '<insufficient privilege>' END,
           p.n1, p.m1, sqrt(p.v1), p.n2, p.m2, sqrt(p.v2),
           CASE WHEN p.m1 > 0 THEN p.m2 / p.m1 END, (p.m2 - p.m1) * p.n2, p.tt, p.df, p.pv,
           coalesce(p.pv < 0.001 AND p.n1 >= 10 AND p.n2 >= 10, false),
           b.flags || c.flags
             || CASE WHEN p.n1 < 10 OR p.n2 < 10 THEN ARRAY['few_calls'] ELSE '{}'::text[] END
             || CASE WHEN p.tt IS NULL THEN ARRAY['zero_variance'] ELSE '{}'::text[] END
      FROM p
     ORDER BY (p.m2 - p.m1) * p.n2 DESC, p.queryid;
END
$$;
COMMENT ON FUNCTION apes.query_regressions(tstzrange, tstzrange, integer) IS
    'statements slower in the current period than in the baseline, by extra time, with Welch''s t-test';

REVOKE ALL ON FUNCTION apes.t_upper_tail(double precision, double precision) FROM PUBLIC;
REVOKE ALL ON FUNCTION apes.query_regressions(tstzrange, tstzrange, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apes.t_upper_tail(double precision, double precision) TO pg_monitor;
GRANT EXECUTE ON FUNCTION apes.query_regressions(tstzrange, tstzrange, integer) TO pg_monitor;

-- The registry of checks (src/checks.h), as a view.
CREATE FUNCTION apes.checks()
RETURNS TABLE (check_id text, area text, default_severity text, description text, settings text[],
               documentation text)
AS 'MODULE_PATHNAME', 'apes_checks_list'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE VIEW apes.checks AS SELECT * FROM apes.checks();

COMMENT ON VIEW apes.checks IS 'every check pg_apes_health can report: area, usual severity, description, settings, documentation';

REVOKE ALL ON FUNCTION apes.checks() FROM PUBLIC;
REVOKE ALL ON apes.checks FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apes.checks() TO pg_monitor;
GRANT SELECT ON apes.checks TO pg_monitor;
