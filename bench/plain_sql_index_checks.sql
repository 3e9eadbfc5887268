-- Plain-SQL index health checks: the reference pg_apes_health is benchmarked against.
--
-- Written the way a DBA would write them: one query per check over pg_index, pg_class, pg_namespace,
-- pg_constraint and pg_stat_user_indexes; no PL/pgSQL.  Each query returns the same core columns as
-- apes.findings() (check_id, object_name, summary, wasted_bytes, fix_sql, undo_sql) so the work done is
-- comparable, DDL text included.  Run it as is with
--     psql -X -f bench/plain_sql_index_checks.sql
-- bench/run.sh splits this file on the "-- check:" lines and times each query separately; every query must
-- start right after its "-- check:" line and end with a ";" at the end of a line.
--
-- Conventions shared by all queries:
--   * system schemas are skipped: every schema whose name starts with pg_ (pg_catalog, pg_toast, pg_temp_N,
--     ...) and information_schema;
--   * "backs a constraint" means a primary key, unique or exclusion constraint uses the index
--     (pg_constraint.conindid with contype p, u, x; an FK's conindid points at the referenced table's index,
--     which is not the FK's own);
--   * fix_sql drops or creates CONCURRENTLY; undo_sql puts things back.

\pset footer off

-- check: index_invalid
SELECT 'index_invalid'                                              AS check_id,
       format('%I.%I', n.nspname, ic.relname)                       AS object_name,
       format('index %I.%I on %I.%I is invalid (a failed CREATE INDEX CONCURRENTLY or REINDEX)',
              n.nspname, ic.relname, n.nspname, tc.relname)         AS summary,
       pg_relation_size(i.indexrelid)                               AS wasted_bytes,
       format('DROP INDEX CONCURRENTLY %I.%I; ', n.nspname, ic.relname)
         || regexp_replace(pg_get_indexdef(i.indexrelid), '^CREATE (UNIQUE )?INDEX ', 'CREATE \1INDEX CONCURRENTLY ')
         || ';'                                                     AS fix_sql,
       NULL::text                                                   AS undo_sql
  FROM pg_index i
  JOIN pg_class ic     ON ic.oid = i.indexrelid
  JOIN pg_class tc     ON tc.oid = i.indrelid
  JOIN pg_namespace n  ON n.oid = ic.relnamespace
 WHERE NOT i.indisvalid
   AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
 ORDER BY 2;

-- check: index_duplicate
-- Same table, access method, key and INCLUDE columns, opclasses, collations, options, expressions, predicate and
-- uniqueness.  One row per pair: the index to drop is the one that backs no constraint; when neither does, the
-- newer one (higher OID).  When both back a constraint nothing is reported.
SELECT 'index_duplicate'                                            AS check_id,
       format('%I.%I', n.nspname, ca.relname)                       AS object_name,
       format('index %I.%I duplicates %I.%I on table %I.%I',
              n.nspname, ca.relname, n.nspname, cb.relname, n.nspname, tc.relname) AS summary,
       pg_relation_size(a.indexrelid)                               AS wasted_bytes,
       format('DROP INDEX CONCURRENTLY %I.%I;', n.nspname, ca.relname) AS fix_sql,
       regexp_replace(pg_get_indexdef(a.indexrelid), '^CREATE (UNIQUE )?INDEX ', 'CREATE \1INDEX CONCURRENTLY ')
         || ';'                                                     AS undo_sql
  FROM pg_index a
  JOIN pg_index b      ON b.indrelid = a.indrelid AND b.indexrelid <> a.indexrelid
  JOIN pg_class ca     ON ca.oid = a.indexrelid
  JOIN pg_class cb     ON cb.oid = b.indexrelid
  JOIN pg_class tc     ON tc.oid = a.indrelid
  JOIN pg_namespace n  ON n.oid = ca.relnamespace
 WHERE a.indisvalid AND b.indisvalid
   AND ca.relam = cb.relam
   AND a.indnkeyatts = b.indnkeyatts
   AND a.indkey = b.indkey
   AND a.indclass = b.indclass
   AND a.indcollation = b.indcollation
   AND a.indoption = b.indoption
   AND a.indisunique = b.indisunique
   AND coalesce(pg_get_expr(a.indexprs, a.indrelid), '') = coalesce(pg_get_expr(b.indexprs, b.indrelid), '')
   AND coalesce(pg_get_expr(a.indpred, a.indrelid), '') = coalesce(pg_get_expr(b.indpred, b.indrelid), '')
   AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                    WHERE k.conindid = a.indexrelid AND k.contype IN ('p', 'u', 'x'))
   AND (a.indexrelid > b.indexrelid
        OR EXISTS (SELECT 1 FROM pg_constraint k
                    WHERE k.conindid = b.indexrelid AND k.contype IN ('p', 'u', 'x')))
 ORDER BY 2;

-- check: index_redundant
-- Btree A is redundant to btree B on the same table when A's key columns are a strict leading prefix of B's with the
-- same opclasses, collations and options (ASC/DESC, NULLS) at those positions, the same predicate and, if A has
-- expressions, the same expressions; A is not unique and backs no constraint.  One row per redundant index (the
-- shortest covering index is named).
SELECT DISTINCT ON (a.indexrelid)
       'index_redundant'                                            AS check_id,
       format('%I.%I', n.nspname, ca.relname)                       AS object_name,
       format('index %I.%I is a leading prefix of %I.%I on table %I.%I',
              n.nspname, ca.relname, n.nspname, cb.relname, n.nspname, tc.relname) AS summary,
       pg_relation_size(a.indexrelid)                               AS wasted_bytes,
       format('DROP INDEX CONCURRENTLY %I.%I;', n.nspname, ca.relname) AS fix_sql,
       regexp_replace(pg_get_indexdef(a.indexrelid), '^CREATE (UNIQUE )?INDEX ', 'CREATE \1INDEX CONCURRENTLY ')
         || ';'                                                     AS undo_sql
  FROM pg_index a
  JOIN pg_index b      ON b.indrelid = a.indrelid AND b.indexrelid <> a.indexrelid
  JOIN pg_class ca     ON ca.oid = a.indexrelid
  JOIN pg_class cb     ON cb.oid = b.indexrelid
  JOIN pg_class tc     ON tc.oid = a.indrelid
  JOIN pg_namespace n  ON n.oid = ca.relnamespace
  JOIN pg_am am        ON am.oid = ca.relam
 WHERE am.amname = 'btree' AND cb.relam = ca.relam
   AND a.indisvalid AND b.indisvalid
   AND NOT a.indisunique
   AND a.indnkeyatts < b.indnkeyatts
   AND (a.indkey::int2[])[0:a.indnkeyatts - 1]       = (b.indkey::int2[])[0:a.indnkeyatts - 1]
   AND (a.indclass::oid[])[0:a.indnkeyatts - 1]      = (b.indclass::oid[])[0:a.indnkeyatts - 1]
   AND (a.indcollation::oid[])[0:a.indnkeyatts - 1]  = (b.indcollation::oid[])[0:a.indnkeyatts - 1]
   AND (a.indoption::int2[])[0:a.indnkeyatts - 1]    = (b.indoption::int2[])[0:a.indnkeyatts - 1]
   AND coalesce(pg_get_expr(a.indpred, a.indrelid), '') = coalesce(pg_get_expr(b.indpred, b.indrelid), '')
   AND (a.indexprs IS NULL
        OR pg_get_expr(a.indexprs, a.indrelid) = pg_get_expr(b.indexprs, b.indrelid))
   AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                    WHERE k.conindid = a.indexrelid AND k.contype IN ('p', 'u', 'x'))
 ORDER BY a.indexrelid, b.indnkeyatts, b.indexrelid;

-- check: index_unused
-- Never scanned since the statistics were last reset, not unique, backs no constraint, and at least 1 MB
-- (the extension's default minimum size).
SELECT 'index_unused'                                               AS check_id,
       format('%I.%I', s.schemaname, s.indexrelname)                AS object_name,
       format('index %I.%I on %I.%I has not been scanned since statistics were reset (%s)',
              s.schemaname, s.indexrelname, s.schemaname, s.relname,
              pg_size_pretty(pg_relation_size(s.indexrelid)))       AS summary,
       pg_relation_size(s.indexrelid)                               AS wasted_bytes,
       format('DROP INDEX CONCURRENTLY %I.%I;', s.schemaname, s.indexrelname) AS fix_sql,
       regexp_replace(pg_get_indexdef(s.indexrelid), '^CREATE (UNIQUE )?INDEX ', 'CREATE \1INDEX CONCURRENTLY ')
         || ';'                                                     AS undo_sql
  FROM pg_stat_user_indexes s
  JOIN pg_index i ON i.indexrelid = s.indexrelid
 WHERE s.idx_scan = 0
   AND i.indisvalid
   AND NOT i.indisunique
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                    WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x'))
   AND pg_relation_size(s.indexrelid) >= 1048576
 ORDER BY 2;

-- check: fk_missing_index
-- A foreign key needs a valid, non-partial btree index on the referencing table whose first n key columns
-- (n = number of FK columns) are the FK columns, in any order.  Otherwise every DELETE/UPDATE of a parent row
-- scans the child table.
SELECT 'fk_missing_index'                                           AS check_id,
       format('%I.%I', n.nspname, k.conname)                        AS object_name,
       format('foreign key %I on %I.%I (%s) has no index starting with its columns',
              k.conname, n.nspname, t.relname, cols.list)           AS summary,
       NULL::bigint                                                 AS wasted_bytes,
       format('CREATE INDEX CONCURRENTLY %I ON %I.%I (%s);',
              left(t.relname || '_' || k.conname, 59) || '_idx', n.nspname, t.relname, cols.list) AS fix_sql,
       format('DROP INDEX CONCURRENTLY %I.%I;',
              n.nspname, left(t.relname || '_' || k.conname, 59) || '_idx') AS undo_sql
  FROM pg_constraint k
  JOIN pg_class t      ON t.oid = k.conrelid
  JOIN pg_namespace n  ON n.oid = t.relnamespace
  CROSS JOIN LATERAL (
        SELECT string_agg(quote_ident(att.attname), ', ' ORDER BY u.ord) AS list
          FROM unnest(k.conkey) WITH ORDINALITY AS u(attnum, ord)
          JOIN pg_attribute att ON att.attrelid = k.conrelid AND att.attnum = u.attnum
       ) cols
 WHERE k.contype = 'f'
   AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
   AND NOT EXISTS (
        SELECT 1
          FROM pg_index i
          JOIN pg_class ic ON ic.oid = i.indexrelid
          JOIN pg_am am    ON am.oid = ic.relam
         WHERE i.indrelid = k.conrelid
           AND am.amname = 'btree'
           AND i.indisvalid
           AND i.indpred IS NULL
           AND i.indnkeyatts >= array_length(k.conkey, 1)
           AND (i.indkey::int2[])[0:array_length(k.conkey, 1) - 1] @> k.conkey
           AND (i.indkey::int2[])[0:array_length(k.conkey, 1) - 1] <@ k.conkey)
 ORDER BY 2;
