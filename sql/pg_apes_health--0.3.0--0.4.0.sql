/* pg_apes_health 0.3.0 -> 0.4.0: cost that follows the work.
 *
 * apes.record_findings() (called by every apes.snapshot()) matched open episodes with IS NOT DISTINCT FROM, which a
 * hash join cannot use: with 10,000 open findings each snapshot compared 50 million pairs (8 s).  It now matches on
 * a hashable key, and compares only the findings' keys, from the new apes.finding_keys(): the full findings (with
 * the evidence an episode keeps, and the index definitions in it) are read only when a finding is new.  The C library of 0.4.0 changes no signature; its other changes (sampling, reports that compute
 * only what they show) need no SQL.
 *
 * Safety: the function replaced here is a member of this extension, so replacing it cannot adopt a planted object
 * (the server refuses CREATE OR REPLACE of a non-member in an extension script); the new function is created
 * plainly, so a planted one makes the update fail.  Replacing keeps the privileges.
 * test/upgrade_test.sh checks that an update from 0.1.0 gives the same objects and privileges as a fresh install.
 */
\echo Use "ALTER EXTENSION pg_apes_health UPDATE TO '0.4.0'" to load this file. \quit

-- The keys of the findings of now, without their details (summary, evidence, DDL): what apes.record_findings()
-- compares with the open episodes.  Internal to apes.snapshot().
CREATE FUNCTION apes.finding_keys()
RETURNS TABLE (check_id text, area text, severity text, object_name text, wasted_bytes bigint)
AS 'MODULE_PATHNAME', 'apes_finding_keys'
LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION apes.finding_keys() IS
    'check, area, severity, object and size of every finding, without details (used by apes.record_findings())';
REVOKE ALL ON FUNCTION apes.finding_keys() FROM PUBLIC;

-- The rows of apes.findings() for the findings with these keys only (element i of each array makes one key; a
-- NULL object is ''): the details (evidence, DDL) are computed for those alone.  Internal to apes.snapshot().
CREATE FUNCTION apes.findings_for(check_ids text[], severities text[], object_names text[])
RETURNS TABLE (check_id text, area text, severity text, object_name text, summary text, wasted_bytes bigint,
               confidence text, evidence jsonb, fix_sql text, undo_sql text)
AS 'MODULE_PATHNAME', 'apes_findings_for'
LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION apes.findings_for(text[], text[], text[]) IS
    'the findings with these keys, with their details (used by apes.record_findings())';
REVOKE ALL ON FUNCTION apes.findings_for(text[], text[], text[]) FROM PUBLIC;

-- Record the findings of now, at a snapshot taken at taken: open an episode for each finding no open episode
-- covers (same check, object and severity), close the open episodes of findings no longer there.  Returns how many
-- findings there are now.  Called by apes.snapshot().
-- The comparison reads only the findings' keys (apes.finding_keys()); the details an episode keeps (evidence) are
-- computed only for the findings that are new (apes.findings_for()), so a snapshot deparses only new findings' indexes.
-- Episodes are matched on (check, object, severity) by equality, with a NULL object as '': a hashable key, so matching
-- costs one pass over each side (IS NOT DISTINCT FROM cannot be hashed and made it quadratic: 8 s for 10,000 open
-- findings).  A finding new in the keys that the second read no longer shows (it went away in between) opens no
-- episode; the next snapshot sees it again if it is back.
CREATE OR REPLACE FUNCTION apes.record_findings(taken timestamptz)
RETURNS integer
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    WITH cur AS MATERIALIZED (
             SELECT DISTINCT k.check_id, k.severity, coalesce(k.object_name, '') AS object_key
               FROM apes.finding_keys() k),
         fresh AS MATERIALIZED (
             SELECT c.check_id, c.severity, c.object_key
               FROM cur c
              WHERE NOT EXISTS (SELECT 1 FROM apes.finding_history h
                                 WHERE h.resolved_at IS NULL AND h.check_id = c.check_id
                                   AND coalesce(h.object_name, '') = c.object_key AND h.severity = c.severity)),
         closed AS (
             UPDATE apes.finding_history h SET resolved_at = taken
              WHERE h.resolved_at IS NULL
                AND NOT EXISTS (SELECT 1 FROM cur c
                                 WHERE c.check_id = h.check_id AND c.object_key = coalesce(h.object_name, '')
                                   AND c.severity = h.severity)
             RETURNING 1),
         opened AS (   -- (data-modifying WITH parts always run, read or not; both see the table as it was)
             INSERT INTO apes.finding_history
             SELECT DISTINCT ON (f.check_id, coalesce(f.object_name, ''), f.severity)
                    f.check_id, f.area, f.severity, f.object_name, taken, NULL, f.wasted_bytes, f.confidence,
                    f.evidence
               FROM apes.findings_for(     -- the three arrays in one order: element i of each is one key
                        ARRAY(SELECT n.check_id FROM fresh n ORDER BY n.check_id, n.severity, n.object_key),
                        ARRAY(SELECT n.severity FROM fresh n ORDER BY n.check_id, n.severity, n.object_key),
                        ARRAY(SELECT n.object_key FROM fresh n ORDER BY n.check_id, n.severity, n.object_key)) f
              WHERE EXISTS (SELECT 1 FROM fresh)
                AND (f.check_id, coalesce(f.object_name, ''), f.severity) IN
                    (SELECT n.check_id, n.object_key, n.severity FROM fresh n)
              ORDER BY f.check_id, coalesce(f.object_name, ''), f.severity, f.wasted_bytes DESC NULLS LAST
             RETURNING 1)
    SELECT count(*)::integer FROM cur;
$$;
COMMENT ON FUNCTION apes.record_findings(timestamptz) IS
    'record the current findings as episodes of apes.finding_history (called by apes.snapshot())';
