-- Index health: every check with its planted positives and the near-misses that must not be reported.
-- Sizes are platform-dependent, so only (wasted_bytes > 0) is shown.
SET client_min_messages = warning;
CREATE SCHEMA ih;

CREATE VIEW ih.found AS
SELECT check_id, severity, object_name, confidence, (wasted_bytes > 0) AS sized, fix_sql, undo_sql, evidence
  FROM apes.findings('index')
 WHERE object_name LIKE 'ih.%';

-------------------------------------------------------------------- index_duplicate
CREATE TABLE ih.dup (id int PRIMARY KEY, a int, b text, c int, h int);
CREATE INDEX dup_a ON ih.dup (a);
CREATE INDEX dup_a_again ON ih.dup (a);                   -- duplicate of dup_a
CREATE INDEX dup_a_third ON ih.dup (a);                   -- duplicate of dup_a (the oldest is kept)
CREATE UNIQUE INDEX dup_id_unique ON ih.dup (id);         -- duplicate of the primary key index
CREATE INDEX dup_h1 ON ih.dup USING hash (h);
CREATE INDEX dup_h2 ON ih.dup USING hash (h);             -- duplicate, any access method
CREATE INDEX dup_h_btree ON ih.dup (h);                   -- near-miss: other access method
CREATE INDEX dup_b ON ih.dup (b);
CREATE INDEX dup_b_pattern ON ih.dup (b text_pattern_ops);  -- near-miss: other opclass
CREATE INDEX dup_b_c ON ih.dup (b COLLATE "C");           -- near-miss: other collation
CREATE INDEX dup_c ON ih.dup (c);
CREATE INDEX dup_c_desc ON ih.dup (c DESC);               -- near-miss: DESC
CREATE INDEX dup_c_nf ON ih.dup (c NULLS FIRST);          -- near-miss: NULLS FIRST
CREATE INDEX dup_lower ON ih.dup (lower(b));
CREATE INDEX dup_upper ON ih.dup (upper(b));              -- near-miss: other expression
CREATE INDEX dup_lower_again ON ih.dup (lower(b));        -- duplicate expression index

-- two constraints on the same column: reported as info, with no DDL (the constraint must go, not the index)
CREATE TABLE ih.twocon (id int PRIMARY KEY);
ALTER TABLE ih.twocon ADD CONSTRAINT twocon_id_key UNIQUE (id);

-------------------------------------------------------------------- index_redundant
CREATE TABLE ih.red (a int, b int, c int, d int, e text, f int NOT NULL);
CREATE INDEX red_a ON ih.red (a);                         -- prefix of red_a_b
CREATE INDEX red_a_b ON ih.red (a, b);
CREATE INDEX red_b_inc_c ON ih.red (b) INCLUDE (c);       -- covered by red_b_c_inc_d (its INCLUDE column c is a key there)
CREATE INDEX red_b_c_inc_d ON ih.red (b, c) INCLUDE (d);
CREATE INDEX red_c_inc_e ON ih.red (c) INCLUDE (e);       -- near-miss: e is in no other index
CREATE INDEX red_c_d ON ih.red (c, d);
CREATE INDEX red_d_desc ON ih.red (d DESC);               -- near-miss: sort order differs from red_d_a's
CREATE INDEX red_d_a ON ih.red (d, a);
CREATE INDEX red_lower_e ON ih.red (lower(e));            -- expression prefix of red_lower_e_a
CREATE INDEX red_lower_e_a ON ih.red (lower(e), a);
CREATE INDEX red_upper_e ON ih.red (upper(e));            -- near-miss: other expression
-- partial indexes
CREATE INDEX red_f_pos ON ih.red (f) WHERE f > 0;         -- covered by the non-partial red_f
CREATE INDEX red_f ON ih.red (f);
CREATE TABLE ih.part (a int, b int);
CREATE INDEX part_a_gt100 ON ih.part (a) WHERE a > 100;   -- implies a > 10: covered by part_a_gt10
CREATE INDEX part_a_gt10 ON ih.part (a) WHERE a > 10;
CREATE INDEX part_b_lt10 ON ih.part (b) WHERE b < 10;     -- near-miss: predicates imply nothing
CREATE INDEX part_b_gt20 ON ih.part (b) WHERE b > 20;
CREATE INDEX part_a_b_eq ON ih.part (a, b) WHERE a = 5;   -- near-miss: a = 5 does not imply b = 5
CREATE INDEX part_a_b_other ON ih.part (a, b) WHERE b = 5;
-- equivalent predicates written differently: only the newer one is reported
CREATE TABLE ih.eqv (a int);
CREATE INDEX eqv_1 ON ih.eqv (a) WHERE a > 10;
CREATE INDEX eqv_2 ON ih.eqv (a) WHERE 10 < a;
-- uniqueness
CREATE TABLE ih.uq (a int, b int, c int);
CREATE INDEX uq_a_plain ON ih.uq (a);                     -- covered by the unique uq_a
CREATE UNIQUE INDEX uq_a ON ih.uq (a);
CREATE UNIQUE INDEX uq_a_inc_b ON ih.uq (a) INCLUDE (b);  -- same uniqueness plus b: covers uq_a and uq_a_plain
CREATE UNIQUE INDEX uq_b ON ih.uq (b);                    -- near-miss: (b, c) unique does not make b unique
CREATE UNIQUE INDEX uq_b_c ON ih.uq (b, c);
CREATE UNIQUE INDEX uq_c ON ih.uq (c);                    -- near-miss: a non-unique wider index gives no uniqueness
CREATE INDEX uq_c_a ON ih.uq (c, a);
-- what must never be proposed for dropping: replica identity, CLUSTER, constraints
CREATE TABLE ih.keep (id int PRIMARY KEY, a int NOT NULL, b int, c int);
CREATE UNIQUE INDEX keep_a ON ih.keep (a);
ALTER TABLE ih.keep REPLICA IDENTITY USING INDEX keep_a;
CREATE UNIQUE INDEX keep_a_b ON ih.keep (a) INCLUDE (b);  -- covers keep_a, but keep_a is the replica identity
CREATE INDEX keep_b ON ih.keep (b);
CLUSTER ih.keep USING keep_b;
CREATE INDEX keep_b_c ON ih.keep (b, c);                  -- covers keep_b, but keep_b is the CLUSTER index
CREATE INDEX keep_id_a ON ih.keep (id, a);                -- near-miss: the primary key is never redundant

-------------------------------------------------------------------- index_invalid
CREATE TABLE ih.inv (a int, b int);
INSERT INTO ih.inv VALUES (1, 0), (1, 0);
\set VERBOSITY terse
CREATE UNIQUE INDEX CONCURRENTLY inv_a_unique ON ih.inv (a);          -- fails: duplicate key
CREATE INDEX CONCURRENTLY inv_div ON ih.inv ((a / b));                -- fails: division by zero
\set VERBOSITY default
-- states a crash leaves behind, set directly (the test runs as superuser)
CREATE INDEX inv_a ON ih.inv (a);             -- the original the REINDEX CONCURRENTLY copies below belong to
CREATE INDEX inv_a_ccnew ON ih.inv (a);
CREATE INDEX inv_a_ccold1 ON ih.inv (a);
CREATE INDEX inv_b_ccnew ON ih.inv (b);       -- near-miss: ends in _ccnew, but there is no index inv_b
UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'ih.inv_b_ccnew'::regclass;
CREATE INDEX inv_dropping ON ih.inv (b);
UPDATE pg_index SET indisvalid = false WHERE indexrelid IN ('ih.inv_a_ccnew'::regclass, 'ih.inv_a_ccold1'::regclass);
UPDATE pg_index SET indisvalid = false, indisready = false, indislive = false WHERE indexrelid = 'ih.inv_dropping'::regclass;
CREATE INDEX inv_a_ready ON ih.inv (b);
UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'ih.inv_a_ready'::regclass;

-------------------------------------------------------------------- fk_missing_index
CREATE TABLE ih.parent (a int, b int, PRIMARY KEY (a, b));
CREATE TABLE ih.single_parent (id int PRIMARY KEY);
CREATE TABLE ih.fk_none (id int, p int REFERENCES ih.single_parent);            -- missing
CREATE TABLE ih.fk_comp (x int, y int, FOREIGN KEY (x, y) REFERENCES ih.parent); -- missing, composite
CREATE TABLE ih.fk_rev (x int, y int, FOREIGN KEY (x, y) REFERENCES ih.parent);  -- near-miss: index (y, x)
CREATE INDEX fk_rev_y_x ON ih.fk_rev (y, x);
CREATE TABLE ih.fk_lead (x int, y int, z int, FOREIGN KEY (x, y) REFERENCES ih.parent);  -- near-miss: (y, x, z)
CREATE INDEX fk_lead_idx ON ih.fk_lead (y, x, z);
CREATE TABLE ih.fk_second (x int, y int, z int, FOREIGN KEY (x, y) REFERENCES ih.parent);  -- info: (x, z, y) serves by x
CREATE INDEX fk_second_idx ON ih.fk_second (x, z, y);
CREATE TABLE ih.fk_partial_ok (p int REFERENCES ih.single_parent);      -- near-miss: NOT NULL implies the predicate
CREATE INDEX fk_partial_ok_idx ON ih.fk_partial_ok (p) WHERE p IS NOT NULL;
CREATE TABLE ih.fk_partial_bad (p int REFERENCES ih.single_parent);     -- missing: the predicate leaves rows out
CREATE INDEX fk_partial_bad_idx ON ih.fk_partial_bad (p) WHERE p > 100;
CREATE TABLE ih.fk_hash (p int REFERENCES ih.single_parent);            -- near-miss: a hash index serves the lookups
CREATE INDEX fk_hash_idx ON ih.fk_hash USING hash (p);
CREATE TABLE ih.fk_expr (p int REFERENCES ih.single_parent);            -- missing: an expression is not the column
CREATE INDEX fk_expr_idx ON ih.fk_expr ((p + 0));
CREATE TABLE ih.fk_invalid (p int REFERENCES ih.single_parent);         -- missing: the only index is invalid
CREATE INDEX fk_invalid_idx ON ih.fk_invalid (p);
UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'ih.fk_invalid_idx'::regclass;
CREATE TABLE ih.fk_ok (p int REFERENCES ih.single_parent);              -- near-miss: indexed
CREATE INDEX fk_ok_idx ON ih.fk_ok (p);
-- a partitioned table: the foreign key is reported once, on the parent, and the DDL has no CONCURRENTLY
CREATE TABLE ih.fk_parted (p int REFERENCES ih.single_parent, k int) PARTITION BY LIST (k);
CREATE TABLE ih.fk_parted_1 PARTITION OF ih.fk_parted FOR VALUES IN (1);
CREATE TABLE ih.fk_parted_2 PARTITION OF ih.fk_parted FOR VALUES IN (2);

-- two foreign keys on the same column: one index serves both, so only the first gets DDL
CREATE TABLE ih.other_parent (id int PRIMARY KEY);
CREATE TABLE ih.fk_twice (p int REFERENCES ih.single_parent, CONSTRAINT fk_twice_other FOREIGN KEY (p) REFERENCES ih.other_parent);
-- a partitioned table whose parent has no index but every partition has one: not reported
CREATE TABLE ih.fk_parts_ok (p int REFERENCES ih.single_parent, k int) PARTITION BY LIST (k);
CREATE TABLE ih.fk_parts_ok_1 PARTITION OF ih.fk_parts_ok FOR VALUES IN (1);
CREATE TABLE ih.fk_parts_ok_2 (k int, p int);      -- columns in another order: attnums differ from the parent's
ALTER TABLE ih.fk_parts_ok ATTACH PARTITION ih.fk_parts_ok_2 FOR VALUES IN (2);
CREATE INDEX fk_parts_ok_1_p ON ih.fk_parts_ok_1 (p);
CREATE INDEX fk_parts_ok_2_p ON ih.fk_parts_ok_2 (p);
-- ... and one where a partition lacks it: reported on the parent
CREATE TABLE ih.fk_parts_bad (p int REFERENCES ih.single_parent, k int) PARTITION BY LIST (k);
CREATE TABLE ih.fk_parts_bad_1 PARTITION OF ih.fk_parts_bad FOR VALUES IN (1);
CREATE TABLE ih.fk_parts_bad_2 PARTITION OF ih.fk_parts_bad FOR VALUES IN (2);
CREATE INDEX fk_parts_bad_1_p ON ih.fk_parts_bad_1 (p);

-------------------------------------------------------------------- partitioned indexes
CREATE TABLE ih.pt (a int, b int) PARTITION BY RANGE (a);
CREATE TABLE ih.pt_1 PARTITION OF ih.pt FOR VALUES FROM (0) TO (10);
CREATE TABLE ih.pt_2 PARTITION OF ih.pt FOR VALUES FROM (10) TO (20);
CREATE INDEX pt_a ON ih.pt (a);
CREATE INDEX pt_a_again ON ih.pt (a);                      -- duplicate on the parent: reported once, no CONCURRENTLY
CREATE INDEX pt_1_a_local ON ih.pt_1 (a);                  -- a partition's own copy of an attached index
-- a name that contains " ON ONLY ": the undo DDL must edit the statement, not the name
CREATE TABLE ih.pq (a int, b int) PARTITION BY RANGE (a);
CREATE TABLE ih.pq_1 PARTITION OF ih.pq FOR VALUES FROM (0) TO (10);
CREATE INDEX pq_a ON ih.pq (a);
CREATE INDEX " ON ONLY x" ON ih.pq (a);
-- a partitioned index with a partition whose index is missing is invalid
CREATE TABLE ih.pt_inv (a int) PARTITION BY RANGE (a);
CREATE TABLE ih.pt_inv_1 PARTITION OF ih.pt_inv FOR VALUES FROM (0) TO (10);
CREATE INDEX pt_inv_a ON ONLY ih.pt_inv (a);

RESET client_min_messages;

-------------------------------------------------------------------- the findings
SELECT check_id, severity, object_name, confidence, sized,
       coalesce(evidence->>'duplicate_of', evidence->>'covered_by', evidence->>'kind', evidence->>'constraint') AS why
  FROM ih.found
 WHERE check_id <> 'index_unused'
 ORDER BY check_id, object_name, evidence->>'constraint';

-- the DDL, to fix and to undo
SELECT object_name, fix_sql, undo_sql
  FROM ih.found
 WHERE check_id <> 'index_unused'
 ORDER BY check_id, object_name, evidence->>'constraint';

-- the evidence of one finding of each check
SELECT check_id, jsonb_pretty(evidence - 'index_bytes' - 'covering_index_bytes' - 'table_bytes' - 'referenced_table_bytes' - 'index_scans' - 'keeper_scans')
  FROM ih.found
 WHERE object_name IN ('ih.dup_a_again', 'ih.red_a', 'ih.inv_div')
    OR (check_id = 'fk_missing_index' AND evidence->>'constraint' = 'fk_comp_x_y_fkey')
 ORDER BY check_id;

-- the fix works: once applied, the finding is gone; the undo brings it back
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT fix_sql FROM ih.found WHERE object_name = 'ih.fk_parted' LOOP
    EXECUTE r.fix_sql;
  END LOOP;
END $$;
SELECT count(*) AS fk_parted_findings_after_fix FROM ih.found WHERE object_name = 'ih.fk_parted';
DROP INDEX ih.fk_parted_p_idx;
SELECT count(*) AS fk_parted_findings_after_undo FROM ih.found WHERE object_name = 'ih.fk_parted';

-------------------------------------------------------------------- index_unused
-- Only indexes of at least pg_apes_health.unused_index_min_size are reported; lower it for the test.
CREATE SCHEMA iu;
CREATE TABLE iu.t (id int PRIMARY KEY, a int, b int, p int REFERENCES ih.single_parent);
INSERT INTO iu.t SELECT g, g, g, NULL FROM generate_series(1, 1000) g;
CREATE INDEX t_a ON iu.t (a);              -- scanned below: not reported
CREATE INDEX t_b ON iu.t (b);              -- never scanned: reported
CREATE INDEX t_p ON iu.t (p);              -- never scanned, but supports a foreign key: info
CREATE UNIQUE INDEX t_id_b ON iu.t (id, b); -- unique: enforces something, never reported
ANALYZE iu.t;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) FROM iu.t WHERE a = 7;
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT pg_stat_force_next_flush();
SELECT count(*) > 0 AS flushed FROM pg_stat_user_indexes WHERE indexrelname = 't_a' AND idx_scan > 0;

-- the default minimum size (1 MB) leaves these small indexes out
SELECT count(*) AS small_unused FROM apes.findings('index') WHERE object_name LIKE 'iu.%';
SET pg_apes_health.unused_index_min_size = 0;
SELECT check_id, severity, object_name, confidence, wasted_bytes > 0 AS sized,
       evidence->>'supports_foreign_key' AS fk, evidence->>'index_scans' AS scans,
       evidence->>'stats_since_basis' AS basis, evidence->>'index_age_known' AS age_known,
       fix_sql, undo_sql
  FROM apes.findings('index')
 WHERE object_name LIKE 'iu.%' ORDER BY object_name;
-- confidence follows the length of the statistics window against pg_apes_health.stats_trusted_age, one step lower
-- here: pg_stat_statements is not installed, so the drop is not checked against the workload's plans
SET pg_apes_health.stats_trusted_age = 0;
SELECT DISTINCT confidence FROM apes.findings('index') WHERE object_name LIKE 'iu.%' AND check_id = 'index_unused';
RESET pg_apes_health.stats_trusted_age;
SELECT DISTINCT confidence FROM apes.findings('index') WHERE object_name LIKE 'iu.%' AND check_id = 'index_unused';
-- duplicates: the one the planner uses is kept, and the kept one is never also proposed as unused
CREATE TABLE iu.d (a int, b int);
INSERT INTO iu.d SELECT g, g FROM generate_series(1, 1000) g;
CREATE INDEX d_old ON iu.d (a);
CREATE INDEX d_new ON iu.d (a);
CREATE INDEX d_b ON iu.d (b);                -- redundant to d_b_a, which nobody scans either
CREATE INDEX d_b_a ON iu.d (b, a);
ANALYZE iu.d;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) FROM iu.d WHERE a = 7;
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT pg_stat_force_next_flush();
SELECT indexrelname, idx_scan > 0 AS scanned FROM pg_stat_user_indexes WHERE relname = 'd' ORDER BY 1;
SELECT check_id, object_name, coalesce(evidence->>'duplicate_of', evidence->>'covered_by') AS keep
  FROM apes.findings('index') WHERE object_name LIKE 'iu.d%' ORDER BY 1, 2;
-- partitioned: usage and size are rolled up to the parent index; attached partition indexes are never reported alone
CREATE TABLE iu.pt (a int, b int) PARTITION BY RANGE (a);
CREATE TABLE iu.pt_1 PARTITION OF iu.pt FOR VALUES FROM (0) TO (1000);
CREATE TABLE iu.pt_2 PARTITION OF iu.pt FOR VALUES FROM (1000) TO (2000);
INSERT INTO iu.pt SELECT g, g FROM generate_series(0, 1999) g;
CREATE INDEX pt_b ON iu.pt (b);
SELECT check_id, object_name, fix_sql, undo_sql, evidence->>'partitioned' AS partitioned
  FROM apes.findings('index') WHERE object_name LIKE 'iu.pt%' ORDER BY object_name;
RESET pg_apes_health.unused_index_min_size;

-- a foreign key may name a column twice: only an index leading with exactly its distinct columns serves it, and the
-- proposed index names the column once
CREATE SCHEMA ifk;
CREATE TABLE ifk.pp (x int, y int, PRIMARY KEY (x, y));
CREATE TABLE ifk.fa (a int, b int, FOREIGN KEY (a, a) REFERENCES ifk.pp);
CREATE INDEX fa_b_a ON ifk.fa (b, a);
SELECT check_id, object_name, fix_sql FROM apes.findings('index') WHERE object_name = 'ifk.fa';
CREATE INDEX fa_a_b ON ifk.fa (a, b);
SELECT count(*) AS served FROM apes.findings('index') WHERE check_id = 'fk_missing_index' AND object_name = 'ifk.fa';

-- the DDL does not depend on the caller's search_path: names outside pg_catalog come out schema-qualified
CREATE SCHEMA isp;
CREATE FUNCTION isp.twice(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2';
CREATE TABLE isp.t (a int);
CREATE INDEX t_twice ON isp.t (isp.twice(a));
CREATE INDEX t_twice_again ON isp.t (isp.twice(a));
SET search_path = isp, public;
SELECT check_id, object_name, undo_sql, evidence->>'definition' AS definition
  FROM apes.findings('index') WHERE object_name LIKE 'isp.%';
RESET search_path;

-- storage parameters make another index: BRIN pages_per_range 4 and 128, btree deduplication on and off are not
-- duplicates; the same parameters written in another order are
CREATE SCHEMA iopt;
CREATE TABLE iopt.t (a int, b int);
CREATE INDEX t_brin4 ON iopt.t USING brin (a) WITH (pages_per_range = 4);
CREATE INDEX t_brin128 ON iopt.t USING brin (a) WITH (pages_per_range = 128);
CREATE INDEX t_b_dedup ON iopt.t (b);
CREATE INDEX t_b_nodedup ON iopt.t (b) WITH (deduplicate_items = off);
CREATE INDEX t_b_nodedup_ff ON iopt.t (b) WITH (deduplicate_items = off, fillfactor = 80);
CREATE INDEX t_b_ff_nodedup ON iopt.t (b) WITH (fillfactor = 80, deduplicate_items = off);
SELECT check_id, object_name, evidence->>'duplicate_of' AS duplicate_of
  FROM apes.findings('index') WHERE object_name LIKE 'iopt.%' AND check_id = 'index_duplicate' ORDER BY object_name;
-- REINDEX CONCURRENTLY's copies of a 62-character index: the server cuts the original's name to fit NAMEDATALEN
-- (<57 characters>_ccnew, <56 characters>_ccold2): still leftovers, dropped, not rebuilt
CREATE TABLE iopt.l (a int);
CREATE INDEX long_yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy ON iopt.l (a);
CREATE INDEX long_yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy_ccnew ON iopt.l (a);
CREATE INDEX long_yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy_ccold2 ON iopt.l (a);
UPDATE pg_index SET indisvalid = false WHERE indexrelid IN ('iopt.long_yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy_ccnew'::regclass, 'iopt.long_yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy_ccold2'::regclass);
SELECT check_id, length(object_name) AS name_length, evidence->>'kind' AS kind, fix_sql LIKE 'DROP INDEX%' AS dropped
  FROM apes.findings('index') WHERE object_name LIKE 'iopt.long%' AND check_id = 'index_invalid' ORDER BY object_name;

-- a partial index is redundant only where the covering index keeps its selectivity (issue 13, defect 14): the same
-- predicate, or a weaker one whose missing conditions are searches on the cover's own key columns
CREATE SCHEMA ipart;
CREATE TABLE ipart.notes (id int PRIMARY KEY, k int, confidential bool, d timestamptz, s text, flag bool);
CREATE INDEX notes_k ON ipart.notes (k);
CREATE INDEX notes_k_conf ON ipart.notes (k) WHERE confidential;          -- kept: filters on a column notes_k lacks
CREATE INDEX notes_k_dnull ON ipart.notes (k) WHERE d IS NULL;            -- kept: d is not a key of notes_k
CREATE INDEX notes_k_pos ON ipart.notes (k) WHERE k > 0;                  -- redundant: notes_k searches k > 0
CREATE INDEX notes_k_in ON ipart.notes (k) WHERE k IN (1, 2, 3);          -- redundant: k = ANY is a search too
CREATE INDEX notes_k_fn ON ipart.notes (k) WHERE abs(k) > 5;              -- kept: abs(k) is not a key
CREATE INDEX notes_ks ON ipart.notes (k) WHERE s = 'x';                   -- redundant, named cover the same predicate
CREATE INDEX notes_ks_wide ON ipart.notes (k, s) WHERE s = 'x';
CREATE INDEX notes_k_s ON ipart.notes (k, s);
CREATE INDEX notes_kc ON ipart.notes (k) WHERE s > 'm' COLLATE "C";       -- kept: the cover's s is of another collation
CREATE INDEX notes_kf ON ipart.notes (k) WHERE flag;                      -- redundant: a boolean key searches it
CREATE INDEX notes_k_flag ON ipart.notes (k, flag);
SELECT object_name, evidence->>'covered_by' AS covered_by
  FROM apes.findings('index') WHERE check_id = 'index_redundant' AND object_name LIKE 'ipart.%' ORDER BY 1;

-- fk_missing_index decides support from the lookup's operator and collation (defect 5), and an index on part of a
-- composite key serves it (defect 15): reported as info, naming the index
CREATE TABLE ipart.p_text (k text PRIMARY KEY);
CREATE TABLE ipart.c_coll (k text REFERENCES ipart.p_text);              -- missing: a "C" index, a default lookup
CREATE INDEX c_coll_k ON ipart.c_coll (k COLLATE "C");
CREATE TABLE ipart.c_coll_ok (k text COLLATE "C" REFERENCES ipart.p_text); -- near-miss: the column is "C" too
CREATE INDEX c_coll_ok_k ON ipart.c_coll_ok (k);
CREATE TABLE ipart.p_num (n numeric PRIMARY KEY);
CREATE TABLE ipart.c_cast (n int REFERENCES ipart.p_num);                -- missing: the lookup compares numerics
CREATE INDEX c_cast_n ON ipart.c_cast (n);
CREATE TABLE ipart.p_big (n bigint PRIMARY KEY);
CREATE TABLE ipart.c_cross (n int REFERENCES ipart.p_big);               -- near-miss: int8 = int4 is in integer_ops
CREATE INDEX c_cross_n ON ipart.c_cross (n);
CREATE TABLE ipart.p_pair (a int, b int, PRIMARY KEY (a, b));
CREATE TABLE ipart.c_part (a int, b int, FOREIGN KEY (a, b) REFERENCES ipart.p_pair);  -- info: (b) serves part
CREATE INDEX c_part_b ON ipart.c_part (b);
SELECT object_name, severity, evidence->>'partly_served_by' AS partly, evidence->>'partly_served_columns' AS n
  FROM apes.findings('index') WHERE check_id = 'fk_missing_index' AND object_name LIKE 'ipart.%' ORDER BY 1;
-- the plans agree: the lookups (as ri_triggers.c writes them, the referenced value on the left) search no index on
-- the "C" and the int4-against-numeric tables, and search it on the others
CREATE FUNCTION ipart.lookup_uses_index(sql text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || sql LOOP
        IF line LIKE '%Index Cond%' THEN
            RETURN true;
        END IF;
    END LOOP;
    RETURN false;
END $$;
SET enable_seqscan = off;
SELECT relname, ipart.lookup_uses_index(sql) AS uses_index
  FROM (VALUES ('c_coll', 'SELECT 1 FROM ONLY ipart.c_coll x WHERE ''a''::text OPERATOR(pg_catalog.=) x.k'),
               ('c_coll_ok', 'SELECT 1 FROM ONLY ipart.c_coll_ok x WHERE ''a''::text OPERATOR(pg_catalog.=) x.k'),
               ('c_cast', 'SELECT 1 FROM ONLY ipart.c_cast x WHERE 1::numeric OPERATOR(pg_catalog.=) x.n'),
               ('c_cross', 'SELECT 1 FROM ONLY ipart.c_cross x WHERE 1::bigint OPERATOR(pg_catalog.=) x.n')) q(relname, sql)
 ORDER BY 1;
RESET enable_seqscan;
SET client_min_messages = warning;
DROP SCHEMA ifk, isp, iopt, ipart CASCADE;
RESET client_min_messages;
