-- pg_apes_health scale benchmark: a synthetic history under apes.snapshot() (the approach of bench/history/synth.sql:
-- rows written straight into the extension's tables, one day per transaction), made from one real snapshot so that
-- it follows whatever columns and history tables the installed version has.
--
-- Run by bench/scale/run.sh in the small database, after the statements ran and one real snapshot (the template) was
-- taken; scale.state holds 'hist_template' (its snapshot_id).  psql variables: days, rel_days, interval_min.
--
-- Snapshot i (0 <= i < N = days * 1440 / interval_min) gets snapshot_id template + 1 + i and is taken at
-- t_end - (N - 1 - i) * interval_min minutes, t_end being a minute before the template: a series ending just before
-- now.  Every table of schema apes with a snapshot_id column (statement_history, relation_history,
-- database_history, pool_history, ...) gets the template's rows again for each snapshot, with only snapshot_id
-- changed; apes.relation_history only for the last rel_days days (as bench/history: 13,000 rows a snapshot, about
-- 5 million rows for 4 days); apes.settings_history, which keeps changes only, for the first snapshot alone (no
-- setting changes in the series).  Tables without snapshot_id (statement_text, finding_history) keep what the template
-- wrote.  Resumable: each day commits, and a new call starts after the last snapshot written.  At the end the
-- template's own rows go, the identity sequence moves past the last id, the tables are VACUUM ANALYZEd.

\set ON_ERROR_STOP 1
\set QUIET on
SET client_min_messages = notice;    -- its progress NOTICEs are printed by run.sh
SET jit = off;
SET work_mem = '64MB';
SET session_replication_role = replica;   -- skip any per-row trigger (foreign keys) while loading

CREATE OR REPLACE PROCEDURE scale.gen_history(days int, rel_days int, interval_min int)
LANGUAGE plpgsql AS $p$
DECLARE
    tmpl     bigint := (SELECT value::bigint FROM scale.state WHERE key = 'hist_template');
    per_day  int := 1440 / interval_min;
    n        int := days * (1440 / interval_min);
    rel_from int := n - rel_days * (1440 / interval_min);
    t_end    timestamptz;
    a        int;
    b        int;
    lo       int;
    hi       int;
    tab      regclass;
    cols     text;
    sel      text;
    nrows    bigint;
BEGIN
    SELECT taken_at - interval '1 minute' INTO t_end FROM apes.snapshot WHERE snapshot_id = tmpl;
    IF t_end IS NULL THEN
        RAISE EXCEPTION 'template snapshot % is gone', tmpl;
    END IF;
    SELECT coalesce(max(snapshot_id) - tmpl, 0) INTO a FROM apes.snapshot WHERE snapshot_id > tmpl;
    IF a > 0 THEN
        RAISE NOTICE 'resuming the synthetic history after snapshot % of %', a, n;
    END IF;
    WHILE a < n LOOP
        b := least(a + per_day, n);                                     -- snapshots [a, b)
        -- apes.snapshot: new ids and times, everything else as the template
        SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum),
               string_agg(CASE attname
                              WHEN 'snapshot_id' THEN format('%s + 1 + g.i', tmpl)
                              WHEN 'taken_at' THEN format('%L::timestamptz - (%s - 1 - g.i) * interval ''%s min''',
                                                          t_end, n, interval_min)
                              ELSE 's.' || quote_ident(attname) END, ', ' ORDER BY attnum)
          INTO cols, sel
          FROM pg_attribute
         WHERE attrelid = 'apes.snapshot'::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '';
        EXECUTE format('INSERT INTO apes.snapshot (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM apes.snapshot s, '
                       'generate_series(%s, %s) g(i) WHERE s.snapshot_id = %s', cols, sel, a, b - 1, tmpl);
        -- every other table with a snapshot_id: the template's rows once per snapshot
        FOR tab IN SELECT c.oid::regclass FROM pg_class c
                     JOIN pg_attribute x ON x.attrelid = c.oid AND x.attname = 'snapshot_id' AND NOT x.attisdropped
                    WHERE c.relnamespace = 'apes'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                      AND c.oid <> 'apes.snapshot'::regclass
                    ORDER BY c.relname LOOP
            lo := CASE WHEN tab = 'apes.relation_history'::regclass THEN greatest(a, rel_from) ELSE a END;
            hi := CASE WHEN tab = 'apes.settings_history'::regclass THEN least(b - 1, 0) ELSE b - 1 END;
            CONTINUE WHEN lo > hi;
            SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum),
                   string_agg(CASE attname WHEN 'snapshot_id' THEN format('%s + 1 + g.i', tmpl)
                                           ELSE 'h.' || quote_ident(attname) END, ', ' ORDER BY attnum)
              INTO cols, sel
              FROM pg_attribute
             WHERE attrelid = tab AND attnum > 0 AND NOT attisdropped AND attgenerated = '';
            EXECUTE format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %s h, generate_series(%s, %s) g(i) '
                           'WHERE h.snapshot_id = %s', tab, cols, sel, tab, lo, hi, tmpl);
        END LOOP;
        COMMIT;
        a := b;
        IF a % (7 * per_day) = 0 OR a = n THEN
            RAISE NOTICE 'synthetic history: % of % snapshots', a, n;
        END IF;
    END LOOP;

    -- the template goes: the history is the synthetic series alone, its last snapshot the newest
    FOR tab IN SELECT c.oid::regclass FROM pg_class c
                 JOIN pg_attribute x ON x.attrelid = c.oid AND x.attname = 'snapshot_id' AND NOT x.attisdropped
                WHERE c.relnamespace = 'apes'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition LOOP
        EXECUTE format('DELETE FROM %s WHERE snapshot_id = %s', tab, tmpl);
    END LOOP;
    PERFORM setval(pg_get_serial_sequence('apes.snapshot', 'snapshot_id'), (SELECT max(snapshot_id) FROM apes.snapshot));
    SELECT count(*) INTO nrows FROM apes.snapshot;
    RAISE NOTICE 'synthetic history: % snapshots', nrows;
    COMMIT;
END
$p$;

CALL scale.gen_history(:days, :rel_days, :interval_min);

-- what autovacuum would have done after so many inserts: hint bits, visibility map, planner statistics
SELECT string_agg(c.oid::regclass::text, ', ') AS apes_tables FROM pg_class c
 WHERE c.relnamespace = 'apes'::regnamespace AND c.relkind = 'r' \gset
VACUUM (ANALYZE) :apes_tables;
CHECKPOINT;
