-- pg_apes_health scale benchmark: the plants bench/run.sh adds after bench/build_catalog.sql, made idempotent so a
-- resumed build can run this again (each step does only what is missing).  Run by bench/scale/run.sh in autocommit
-- mode, after every chunk of tables exists:
--   psql -v n_tables=N -v n_schemas=10 -v n_invalid=10 -v n_filled=10 -v fill_rows=60000 -v extra_redundant=0|1
--
--   invalid    a failed CREATE UNIQUE INDEX CONCURRENTLY on 2 duplicate rows (tables k % 10 = 7 of the last schema),
--              which leaves an invalid index behind, exactly as bench/run.sh plants it
--   unused     tables k % 10 = 6 of schema 8 filled with fill_rows rows and VACUUM ANALYZEd: their 3 secondary
--              indexes pass the 1 MB minimum of index_unused
--   extra_redundant = 1 (optional, not in bench/run.sh): an index t<k>_a_extra (a) on every table that has no t_a:
--              one more index_redundant finding per table, so about n_tables + 2,000 index findings per 10,000
--              tables, as in issue 12's catalog.  0 drops those indexes again.
--   VACUUM ANALYZE of the catalogs, as autovacuum would have done after the build.

\set QUIET on
SET client_min_messages = warning;

SELECT (:n_tables / :n_schemas) AS per_schema \gset

-- invalid indexes: only on the tables that do not have theirs yet
CREATE TEMP VIEW plant_invalid AS
SELECT 's' || (k / :per_schema) AS s, 't' || lpad(k::text, 5, '0') AS t
  FROM generate_series(:n_tables * 9 / 10, :n_tables - 1) k
 WHERE k % 10 = 7 AND to_regclass(format('%I.%I', 's' || (k / :per_schema), 't' || lpad(k::text, 5, '0') || '_b_invalid')) IS NULL
 ORDER BY k LIMIT greatest(0, :n_invalid - (SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                                               WHERE c.relname ~ '^t[0-9]{5}_b_invalid$' AND NOT i.indisvalid));
SELECT format('INSERT INTO %I.%I (id, b) VALUES (1, 1), (2, 1) ON CONFLICT DO NOTHING', s, t) FROM plant_invalid \gexec
\set ON_ERROR_STOP 0
-- each of these fails on the duplicate rows (an ERROR is printed for each one): that is the plant
SELECT format('CREATE UNIQUE INDEX CONCURRENTLY %I ON %I.%I (b)', t || '_b_invalid', s, t) FROM plant_invalid \gexec
\set ON_ERROR_STOP 1
DROP VIEW plant_invalid;

-- filled tables: only those not VACUUM ANALYZEd full yet (an interrupted earlier run may have inserted the rows)
SELECT format('INSERT INTO %I.%I (id, a, b, c, d)
               SELECT g, g %% 1000, g, ''v'' || g, timestamptz ''2024-01-01'' + g * interval ''1 s''
                 FROM generate_series(1, %s) g ON CONFLICT DO NOTHING', s, t, :fill_rows),
       format('VACUUM (ANALYZE) %I.%I', s, t)
  FROM (SELECT 's' || (k / :per_schema) AS s, 't' || lpad(k::text, 5, '0') AS t
          FROM generate_series(:n_tables * 8 / 10, :n_tables - 1) k
         WHERE k % 10 = 6 ORDER BY k LIMIT :n_filled) x
 WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = format('%I.%I', s, t)::regclass AND c.reltuples >= :fill_rows) \gexec

-- the optional extra redundant index per table, added (or dropped) 500 tables per transaction
CREATE PROCEDURE pg_temp.extra_redundant(want boolean)
LANGUAGE plpgsql AS $p$
DECLARE
    r record;
    n int := 0;
BEGIN
    IF want THEN
        FOR r IN SELECT n.nspname AS s, c.relname AS t
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind = 'r' AND n.nspname ~ '^s[0-9]+$' AND c.relname ~ '^t[0-9]{5}$'
                    AND NOT EXISTS (SELECT 1 FROM pg_class x WHERE x.relnamespace = c.relnamespace
                                       AND x.relname IN (c.relname || '_a', c.relname || '_a_extra'))
                  ORDER BY c.relname LOOP
            EXECUTE format('CREATE INDEX %I ON %I.%I (a)', r.t || '_a_extra', r.s, r.t);
            n := n + 1;
            IF n % 500 = 0 THEN COMMIT; END IF;
        END LOOP;
    ELSE
        FOR r IN SELECT n.nspname AS s, c.relname AS i
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind = 'i' AND n.nspname ~ '^s[0-9]+$' AND c.relname ~ '^t[0-9]{5}_a_extra$' LOOP
            EXECUTE format('DROP INDEX %I.%I', r.s, r.i);
            n := n + 1;
            IF n % 500 = 0 THEN COMMIT; END IF;
        END LOOP;
    END IF;
    COMMIT;
    RAISE NOTICE 'extra redundant indexes: % %', CASE WHEN want THEN 'created' ELSE 'dropped' END, n;
END
$p$;
CALL pg_temp.extra_redundant(:extra_redundant = 1);

VACUUM (ANALYZE) pg_catalog.pg_class, pg_catalog.pg_index, pg_catalog.pg_attribute, pg_catalog.pg_constraint,
                 pg_catalog.pg_namespace, pg_catalog.pg_depend, pg_catalog.pg_type, pg_catalog.pg_am;
