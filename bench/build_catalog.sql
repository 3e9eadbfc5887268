-- pg_apes_health benchmark: builds one slice of the synthetic catalog.
--
-- Run by bench/run.sh, once per worker, in the database apes_bench:
--   psql -X -v ON_ERROR_STOP=1 -v n_tables=10000 -v n_schemas=10 -v lo=0 -v hi=5000 -f bench/build_catalog.sql
-- The schemas s0..s(n_schemas-1) must exist already (run.sh creates them before starting the workers).
--
-- Table k (0 <= k < n_tables) is s<k / (n_tables / n_schemas)>.t<k, 5 digits>, EMPTY, with
--     id bigint PRIMARY KEY, a int, b int, c text, d timestamptz, parent_id bigint
-- and three secondary indexes, so 4 indexes per table:
--     t_a_b  (a, b)
--     t_c    (c)                 -- (lower(c)) when k % 7 = 0 (expression index)
--     t_d_a  (d, a)              -- WHERE d IS NOT NULL when k % 11 = 0 (partial index)
-- Planted problems (what the plain-SQL checks and apes.findings('index') should report):
--     k % 20 = 0   duplicate:  t_c_dup, an exact copy of t_c                          (n/20 findings)
--     k % 20 = 1   redundant:  t_a (a), a strict leading prefix of t_a_b (a, b)      (n/20 findings)
--     k % 10 = 2   FK parent_id -> parent table, with a supporting index: the third index is
--                  t_parent_d (parent_id, d) instead of t_d_a                         (no finding)
--     k % 10 = 3   FK parent_id -> parent table, NO supporting index                  (n/10 findings)
--                  (when (k / 10) % 2 = 1 the third index is t_d_parent (d, parent_id): the FK column
--                  is in the index but not leading, which does not support the FK)
--     k % 100 = 5  near miss, must NOT be reported (one extra index, by (k / 100) % 4):
--                  0: (a DESC)                      other indoption than t_a_b, not redundant
--                  1: (b)                           not a leading prefix of (a, b)
--                  2: UNIQUE (a)                    unique, so not redundant to (a, b)
--                  3: (c) WHERE c IS NOT NULL       other predicate than t_c, not a duplicate; not redundant
--                                                   for the plain SQL (same keys, not a strict prefix), but a
--                                                   checker that proves predicate implication may call it
--                                                   redundant to the full index t_c (unless t_c is lower(c))
-- The parent of table k is table k - k % 10 (same schema; created earlier by the same worker as long as
-- worker ranges are multiples of 10).  Invalid and unused indexes are planted by run.sh afterwards
-- (they need CREATE INDEX CONCURRENTLY outside a transaction block, and rows).
--
-- DDL is generated with format() and EXECUTE in a procedure that COMMITs every 500 tables, so no transaction
-- holds more than a few thousand locks.

\set QUIET on
SET client_min_messages = warning;

CREATE PROCEDURE pg_temp.apes_bench_build(n_tables int, n_schemas int, lo int, hi int, batch int DEFAULT 500)
LANGUAGE plpgsql AS $build$
DECLARE
    per_schema int := n_tables / n_schemas;
    k      int;
    s      text;
    t      text;
    ddl    text;
    fk     text;
    c_key  text;
    d_pred text;
BEGIN
    FOR k IN lo .. hi - 1 LOOP
        s := 's' || (k / per_schema);
        t := 't' || lpad(k::text, 5, '0');

        fk := CASE WHEN k % 10 IN (2, 3)
                   THEN format(' REFERENCES %I.%I (id)', s, 't' || lpad((k - k % 10)::text, 5, '0'))
                   ELSE '' END;
        c_key  := CASE WHEN k % 7 = 0 THEN '(lower(c))' ELSE '(c)' END;
        d_pred := CASE WHEN k % 11 = 0 THEN ' WHERE d IS NOT NULL' ELSE '' END;

        ddl := format('CREATE TABLE %1$I.%2$I (id bigint CONSTRAINT %3$I PRIMARY KEY, a int, b int, c text, '
                      'd timestamptz, parent_id bigint%4$s);',
                      s, t, t || '_pkey', fk)
            || format('CREATE INDEX %3$I ON %1$I.%2$I (a, b);', s, t, t || '_a_b')
            || format('CREATE INDEX %3$I ON %1$I.%2$I %4$s;', s, t, t || '_c', c_key);

        IF k % 10 = 2 THEN
            ddl := ddl || format('CREATE INDEX %3$I ON %1$I.%2$I (parent_id, d);', s, t, t || '_parent_d');
        ELSIF k % 10 = 3 AND (k / 10) % 2 = 1 THEN
            ddl := ddl || format('CREATE INDEX %3$I ON %1$I.%2$I (d, parent_id)%4$s;', s, t, t || '_d_parent', d_pred);
        ELSE
            ddl := ddl || format('CREATE INDEX %3$I ON %1$I.%2$I (d, a)%4$s;', s, t, t || '_d_a', d_pred);
        END IF;

        IF k % 20 = 0 THEN          -- exact duplicate of t_c
            ddl := ddl || format('CREATE INDEX %3$I ON %1$I.%2$I %4$s;', s, t, t || '_c_dup', c_key);
        ELSIF k % 20 = 1 THEN       -- redundant: (a) is a leading prefix of (a, b)
            ddl := ddl || format('CREATE INDEX %3$I ON %1$I.%2$I (a);', s, t, t || '_a');
        END IF;

        IF k % 100 = 5 THEN         -- near misses: must not be reported
            ddl := ddl || CASE (k / 100) % 4
                WHEN 0 THEN format('CREATE INDEX %3$I ON %1$I.%2$I (a DESC);', s, t, t || '_a_desc')
                WHEN 1 THEN format('CREATE INDEX %3$I ON %1$I.%2$I (b);', s, t, t || '_b')
                WHEN 2 THEN format('CREATE UNIQUE INDEX %3$I ON %1$I.%2$I (a);', s, t, t || '_a_uniq')
                ELSE        format('CREATE INDEX %3$I ON %1$I.%2$I (c) WHERE c IS NOT NULL;', s, t, t || '_c_part')
            END;
        END IF;

        EXECUTE ddl;

        IF (k - lo + 1) % batch = 0 THEN
            COMMIT;
        END IF;
    END LOOP;
    COMMIT;
END
$build$;

CALL pg_temp.apes_bench_build(:n_tables, :n_schemas, :lo, :hi);
