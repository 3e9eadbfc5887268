/* pg_apes_health 0.5.0 -> 0.6.0: the server and maintenance areas, acknowledgements and growth (issue 14), index
 * advice checked against the workload's plans (issue 15), an HTML report and Prometheus metrics (issue 16).
 *
 * Safety: dropped and replaced functions are members of this extension, so this cannot adopt a planted object; the
 * new ones are created plainly, so a planted one makes the update fail.
 * test/upgrade_test.sh checks that an update from 0.1.0 gives the same objects and privileges as a fresh install.
 */
\echo Use "ALTER EXTENSION pg_apes_health UPDATE TO '0.6.0'" to load this file. \quit

-- ==== issue 15: index advice ====
-- What dropping an index would do to the plans of the top statements of this database that read its table (by total
-- time in pg_stat_statements), each planned as a generic plan with the index and without it; nothing is executed.
-- A statement is planned and shown only when the caller may read every relation it reads (others: status 'hidden',
-- nothing else shown), and only statements whose text pg_stat_statements shows the caller are looked at.  Each
-- statement is planned in a subtransaction, as its own role, under the caller's statement_timeout.
CREATE FUNCTION apes.simulate_drop(idx regclass, statements integer DEFAULT 20)
RETURNS TABLE (
    rank          integer,
    queryid       bigint,
    role          name,
    calls         bigint,
    total_time_ms double precision,
    status        text,
    reason        text,
    uses_index    boolean,
    cost_with     double precision,
    cost_without  double precision,
    cost_ratio    double precision,
    query         text
)
AS 'MODULE_PATHNAME', 'apes_simulate_drop'
LANGUAGE C STABLE STRICT PARALLEL UNSAFE;

COMMENT ON FUNCTION apes.simulate_drop(regclass, integer) IS
    'the top statements reading the index''s table, planned with and without the index: would dropping it make any costlier?';

REVOKE ALL ON FUNCTION apes.simulate_drop(regclass, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apes.simulate_drop(regclass, integer) TO pg_monitor;
-- ==== end of issue 15 ====
