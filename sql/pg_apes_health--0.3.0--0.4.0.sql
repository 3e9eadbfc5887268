/* pg_apes_health 0.3.0 -> 0.4.0: cost that follows the work.
 *
 * apes.record_findings() (called by every apes.snapshot()) matched open episodes with IS NOT DISTINCT FROM, which a
 * hash join cannot use: with 10,000 open findings each snapshot compared 50 million pairs (8 s).  It now matches on
 * a hashable key, and reads the findings once, through the new apes.findings_new(), which computes the details an
 * episode keeps (evidence, with index definitions) only for the findings no open episode covers.  A role that was
 * granted apes.snapshot() and apes.record_findings() needs EXECUTE on apes.findings_new() too.  The C library of
 * 0.4.0 changes no signature; its other changes (sampling, reports that compute only what they show) need no SQL.
 *
 * apes.findings(), apes.health_report() and apes.health_json() failed inside any query with a parallel plan
 * ("cannot start subtransactions during a parallel operation": measuring bloat runs each relation in a
 * subtransaction); they, and the page readers apes.table_bloat() and apes.index_bloat(), which lock relations, are
 * now PARALLEL UNSAFE, so a query that calls them is never planned parallel.
 *
 * Safety: the function replaced here is a member of this extension, so replacing it cannot adopt a planted object
 * (the server refuses CREATE OR REPLACE of a non-member in an extension script); the new function is created
 * plainly, so a planted one makes the update fail.  Replacing keeps the privileges.
 * test/upgrade_test.sh checks that an update from 0.1.0 gives the same objects and privileges as a fresh install.
 */
\echo Use "ALTER EXTENSION pg_apes_health UPDATE TO '0.4.0'" to load this file. \quit

-- Every finding of now, as apes.findings() returns it, with details (summary, evidence, DDL) only for those whose key
-- (check, severity, object; a NULL object is '') is not among the known ones (element i of each array makes one
-- key): one collection gives a snapshot the keys of every finding and the evidence of the new ones, from the same
-- moment.  Internal to apes.snapshot().
CREATE FUNCTION apes.findings_new(known_check_ids text[], known_severities text[], known_object_names text[])
RETURNS TABLE (check_id text, area text, severity text, object_name text, summary text, wasted_bytes bigint,
               confidence text, evidence jsonb, fix_sql text, undo_sql text)
AS 'MODULE_PATHNAME', 'apes_findings_new'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION apes.findings_new(text[], text[], text[]) IS
    'every finding, with details only for those not among the known keys (used by apes.record_findings())';
REVOKE ALL ON FUNCTION apes.findings_new(text[], text[], text[]) FROM PUBLIC;

-- Record the findings of now, at a snapshot taken at taken: open an episode for each finding no open episode
-- covers (same check, object and severity), close the open episodes of findings no longer there.  Returns how many
-- findings there are now.  Called by apes.snapshot().
-- One collection (apes.findings_new()) gives every current finding, with the details an episode keeps (evidence) for
-- the new ones only, so a snapshot deparses the indexes of new findings alone, and closing and opening judge the
-- same moment.  Episodes are matched on (check, object, severity) by equality, with a NULL object as '': a hashable
-- key, so matching costs one pass over each side (IS NOT DISTINCT FROM cannot be hashed and made it quadratic: 8 s
-- for 10,000 open findings).
CREATE OR REPLACE FUNCTION apes.record_findings(taken timestamptz)
RETURNS integer
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    WITH open AS MATERIALIZED (
             SELECT DISTINCT h.check_id, h.severity, coalesce(h.object_name, '') AS object_key
               FROM apes.finding_history h
              WHERE h.resolved_at IS NULL),
         known AS (   -- the open keys as three arrays in one order: element i of each is one key
             SELECT array_agg(o.check_id ORDER BY o.check_id, o.severity, o.object_key) AS check_ids,
                    array_agg(o.severity ORDER BY o.check_id, o.severity, o.object_key) AS severities,
                    array_agg(o.object_key ORDER BY o.check_id, o.severity, o.object_key) AS object_keys
               FROM open o),
         cur AS MATERIALIZED (
             SELECT DISTINCT ON (f.check_id, coalesce(f.object_name, ''), f.severity)
                    f.check_id, f.area, f.severity, f.object_name, coalesce(f.object_name, '') AS object_key,
                    f.wasted_bytes, f.confidence, f.evidence
               FROM known k, apes.findings_new(k.check_ids, k.severities, k.object_keys) f
              ORDER BY f.check_id, coalesce(f.object_name, ''), f.severity, f.wasted_bytes DESC NULLS LAST),
         closed AS (
             UPDATE apes.finding_history h SET resolved_at = taken
              WHERE h.resolved_at IS NULL
                AND NOT EXISTS (SELECT 1 FROM cur c
                                 WHERE c.check_id = h.check_id AND c.object_key = coalesce(h.object_name, '')
                                   AND c.severity = h.severity)
             RETURNING 1),
         opened AS (   -- (data-modifying WITH parts always run, read or not; both see the table as it was)
             INSERT INTO apes.finding_history
             SELECT c.check_id, c.area, c.severity, c.object_name, taken, NULL, c.wasted_bytes, c.confidence,
                    c.evidence
               FROM cur c
              WHERE NOT EXISTS (SELECT 1 FROM open o
                                 WHERE o.check_id = c.check_id AND o.object_key = c.object_key
                                   AND o.severity = c.severity)
             RETURNING 1)
    SELECT count(*)::integer FROM cur;
$$;
COMMENT ON FUNCTION apes.record_findings(timestamptz) IS
    'record the current findings as episodes of apes.finding_history (called by apes.snapshot())';

-- Functions that start subtransactions or take locks are never run in parallel mode (issue 13, defect 3).
ALTER FUNCTION apes.findings(text) PARALLEL UNSAFE;
ALTER FUNCTION apes.health_report() PARALLEL UNSAFE;
ALTER FUNCTION apes.health_json() PARALLEL UNSAFE;
ALTER FUNCTION apes.table_bloat(regclass, integer, boolean) PARALLEL UNSAFE;
ALTER FUNCTION apes.index_bloat(regclass, integer, boolean) PARALLEL UNSAFE;
