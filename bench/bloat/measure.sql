-- pg_apes_health bloat benchmark: the measuring procedures.  Run by bench/bloat/run.sh once, after scenarios.sql;
-- run.sh then CALLs them per scenario (each CALL in its own psql session; every procedure COMMITs between steps, so
-- each measurement runs in its own transaction with a fresh snapshot, as a client statement would).
--
-- Raw results go to tables of schema bench, read by report.sql:
--   bench.tb_raw    rows of apes.table_bloat()   (source 'exact_raw' before the settling scan, then 'exact',
--                   'sampled', 'exact_after' (after pgstattuple), 'seed' (coverage runs))
--   bench.pgst_raw  rows of pgstattuple(), bench.approx_raw rows of pgstattuple_approx() ('raw', 'settled')
--   bench.ib_raw    rows of apes.index_bloat()   (source 'exact', 'sampled', 'seed'); bench.psi_raw pgstatindex()
--   bench.timing    one row per timed call;      bench.cache   the buffer counts of the cache test
\set ON_ERROR_STOP 1
\set QUIET on
SET client_min_messages = warning;

CREATE TABLE bench.tb_raw AS
    SELECT ''::text AS scenario, ''::text AS source, 0 AS seed, b.* FROM apes.table_bloat('bl.fresh') b WITH NO DATA;
CREATE TABLE bench.pgst_raw AS
    SELECT ''::text AS scenario, 0::regclass AS relid, p.* FROM pgstattuple('bl.fresh') p WITH NO DATA;
CREATE TABLE bench.approx_raw AS
    SELECT ''::text AS scenario, ''::text AS source, 0::regclass AS relid, p.*
      FROM pgstattuple_approx('bl.fresh') p WITH NO DATA;
CREATE TABLE bench.ib_raw AS
    SELECT ''::text AS scenario, ''::text AS source, 0 AS seed, b.* FROM apes.index_bloat('bl.fresh_pkey') b WITH NO DATA;
CREATE TABLE bench.psi_raw AS
    SELECT ''::text AS scenario, 0::regclass AS idx, p.* FROM pgstatindex('bl.fresh_pkey') p WITH NO DATA;
CREATE TABLE bench.timing (scenario text, run int, pos int, contender text, ms float8);
CREATE TABLE bench.cache (step int, what text, scanned regclass, hot_before bigint, hot_after bigint,
                          scanned_before bigint, scanned_after bigint, hot_usage_before numeric);

-- The scenario's table and TOAST table, as a list of regclass (TOAST only when there is one).
CREATE FUNCTION bench.rels(sname text) RETURNS regclass[] LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN c.reltoastrelid <> 0 THEN ARRAY[c.oid::regclass, c.reltoastrelid::regclass]
                ELSE ARRAY[c.oid::regclass] END
      FROM bench.scenario s JOIN pg_class c ON c.oid = s.rel WHERE s.name = sname
$$;

-- Settle the table before anything is compared: one sequential scan of the table and of its TOAST table.  A heap
-- scan prunes pages opportunistically (heap_page_prune_opt: dead tuples become LP_DEAD stubs, their bytes free
-- space) and sets hint bits.  pgstattuple() does the same during its own scan, so without this the first
-- pgstattuple() call would change the object being measured; apes.table_bloat() and pgstattuple_approx() read
-- pages without pruning.  After one scan nothing prunable is left and every reader sees the same pages.
-- It must be a sequential scan: a count(*) planned as an index-only scan (the planner believes the visibility map
-- that the last VACUUM left) would visit the dead rows through the index and mark their index entries LP_DEAD
-- (kill_prior_tuple), which changes what apes.index_bloat() measures; run.sh does that on purpose in pass 2.
CREATE PROCEDURE bench.settle(sname text) LANGUAGE plpgsql AS $$
DECLARE
    r regclass;
    n bigint;
BEGIN
    SET LOCAL max_parallel_workers_per_gather = 0;
    SET LOCAL enable_indexscan = off;
    SET LOCAL enable_indexonlyscan = off;
    SET LOCAL enable_bitmapscan = off;
    FOREACH r IN ARRAY bench.rels(sname) LOOP
        EXECUTE format('SELECT count(*) FROM %s', r) INTO n;
    END LOOP;
END $$;

-- Accuracy: apes exact and pgstattuple_approx as written; then the settling scan; then apes exact, apes sampled (default
-- size, seed `seed`), pgstattuple, pgstattuple_approx, apes exact again (to prove pgstattuple changed nothing); index:
-- apes exact and sampled, pgstatindex, for every btree of the table.
CREATE PROCEDURE bench.accuracy(sname text, seed int) LANGUAGE plpgsql AS $$
DECLARE
    r   regclass := (SELECT rel FROM bench.scenario WHERE name = sname);
    rel regclass;
    ix  regclass;
BEGIN
    -- as written: before any scan pruned a page (neither apes nor pgstattuple_approx prunes)
    INSERT INTO bench.tb_raw SELECT sname, 'exact_raw', NULL, b.* FROM apes.table_bloat(r, exact => true) b;
    COMMIT;
    FOREACH rel IN ARRAY bench.rels(sname) LOOP
        INSERT INTO bench.approx_raw SELECT sname, 'raw', rel, p.* FROM pgstattuple_approx(rel) p;
        COMMIT;
    END LOOP;
    CALL bench.settle(sname);
    COMMIT;
    INSERT INTO bench.tb_raw SELECT sname, 'exact', NULL, b.* FROM apes.table_bloat(r, exact => true) b;
    COMMIT;
    PERFORM set_config('pg_apes_health.sample_seed', seed::text, false);
    INSERT INTO bench.tb_raw SELECT sname, 'sampled', seed, b.* FROM apes.table_bloat(r) b;
    COMMIT;
    FOREACH rel IN ARRAY bench.rels(sname) LOOP
        INSERT INTO bench.pgst_raw SELECT sname, rel, p.* FROM pgstattuple(rel) p;
        COMMIT;
        INSERT INTO bench.approx_raw SELECT sname, 'settled', rel, p.* FROM pgstattuple_approx(rel) p;
        COMMIT;
    END LOOP;
    INSERT INTO bench.tb_raw SELECT sname, 'exact_after', NULL, b.* FROM apes.table_bloat(r, exact => true) b;
    COMMIT;
    FOR ix IN SELECT idx FROM bench.scenario_index WHERE scenario = sname ORDER BY ord LOOP
        INSERT INTO bench.ib_raw SELECT sname, 'exact', NULL, b.* FROM apes.index_bloat(ix, exact => true) b;
        COMMIT;
        INSERT INTO bench.ib_raw SELECT sname, 'sampled', seed, b.* FROM apes.index_bloat(ix) b;
        COMMIT;
        INSERT INTO bench.psi_raw SELECT sname, ix, p.* FROM pgstatindex(ix) p;
        COMMIT;
    END LOOP;
END $$;

-- Coverage: the default sampled mode with seeds 1..seeds, on the table (and TOAST table) and on every btree; the
-- report keeps the relations that were really sampled (more than 1,000 pages).  Restores the seed afterwards.
CREATE PROCEDURE bench.coverage(sname text, seeds int, seed int) LANGUAGE plpgsql AS $$
DECLARE
    r  regclass := (SELECT rel FROM bench.scenario WHERE name = sname);
    ix regclass;
    big_index bool;
BEGIN
    FOR i IN 1 .. seeds LOOP
        PERFORM set_config('pg_apes_health.sample_seed', i::text, false);
        INSERT INTO bench.tb_raw SELECT sname, 'seed', i, b.* FROM apes.table_bloat(r) b WHERE b.pages > 1000;
    END LOOP;
    COMMIT;
    FOR ix IN SELECT idx FROM bench.scenario_index WHERE scenario = sname ORDER BY ord LOOP
        CONTINUE WHEN pg_relation_size(ix) <= 1000 * 8192;
        FOR i IN 1 .. seeds LOOP
            PERFORM set_config('pg_apes_health.sample_seed', i::text, false);
            INSERT INTO bench.ib_raw SELECT sname, 'seed', i, b.* FROM apes.index_bloat(ix) b;
        END LOOP;
        COMMIT;
    END LOOP;
    PERFORM set_config('pg_apes_health.sample_seed', seed::text, false);
END $$;

-- Speed: `runs` measured runs after one warm-up run (run 0, not counted), each contender timed on the server with
-- clock_timestamp() around an EXECUTE, a COMMIT after each.  The contenders' order rotates by one every run, so
-- none is always first (after the others warmed a cache) or last.  The table contenders read the table and its
-- TOAST table (apes.table_bloat does both); the index contenders read the scenario's first index.
CREATE PROCEDURE bench.timing(sname text, runs int) LANGUAGE plpgsql AS $$
DECLARE
    rels   regclass[] := bench.rels(sname);
    r      regclass := rels[1];
    ix     regclass := (SELECT idx FROM bench.scenario_index WHERE scenario = sname ORDER BY ord LIMIT 1);
    names  text[];
    sqls   text[];
    k      int;
    j      int;
    t0     timestamptz;
    n      bigint;
    pgst   text := format('SELECT count(*) FROM pgstattuple(%L::regclass) a', rels[1]);
    appr   text := format('SELECT count(*) FROM pgstattuple_approx(%L::regclass) a', rels[1]);
BEGIN
    IF array_length(rels, 1) = 2 THEN
        pgst := pgst || format(', pgstattuple(%L::regclass) b', rels[2]);
        appr := appr || format(', pgstattuple_approx(%L::regclass) b', rels[2]);
    END IF;
    names := ARRAY['apes sampled', 'apes exact', 'pgstattuple', 'pgstattuple_approx'];
    sqls  := ARRAY[format('SELECT count(*) FROM apes.table_bloat(%L::regclass)', r),
                   format('SELECT count(*) FROM apes.table_bloat(%L::regclass, exact => true)', r),
                   pgst, appr];
    IF ix IS NOT NULL THEN
        names := names || ARRAY['index: apes sampled', 'index: apes exact', 'index: pgstatindex'];
        sqls  := sqls || ARRAY[format('SELECT count(*) FROM apes.index_bloat(%L::regclass)', ix),
                               format('SELECT count(*) FROM apes.index_bloat(%L::regclass, exact => true)', ix),
                               format('SELECT count(*) FROM pgstatindex(%L::regclass)', ix)];
    END IF;
    k := array_length(names, 1);
    FOR run IN 0 .. runs LOOP
        FOR p IN 0 .. k - 1 LOOP
            j := 1 + (p + run) % k;
            t0 := clock_timestamp();
            EXECUTE sqls[j] INTO n;
            INSERT INTO bench.timing
                 VALUES (sname, run, p, names[j], 1000 * extract(epoch FROM clock_timestamp() - t0));
            COMMIT;
        END LOOP;
    END LOOP;
END $$;

-- Buffers of one relation in shared_buffers (this database, main fork).
CREATE FUNCTION bench.buffers(r regclass) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM pg_buffercache b
     WHERE b.reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND b.relfilenode = pg_relation_filenode(r) AND b.relforknumber = 0
$$;

-- One step of the cache test: run `sql`, counting the hot table's and the scanned relation's buffers around it.
CREATE PROCEDURE bench.cache_step(step int, what text, scanned regclass, sql text) LANGUAGE plpgsql AS $$
DECLARE
    hb bigint;
    sb bigint;
    hu numeric;
    n  bigint;
BEGIN
    SELECT count(*), avg(usagecount) INTO hb, hu FROM pg_buffercache b
     WHERE b.reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND b.relfilenode = pg_relation_filenode('bl.hot') AND b.relforknumber = 0;
    sb := bench.buffers(scanned);
    COMMIT;
    EXECUTE sql INTO n;
    COMMIT;
    INSERT INTO bench.cache VALUES (step, what, scanned, hb, bench.buffers('bl.hot'), sb, bench.buffers(scanned), hu);
    COMMIT;
END $$;

-- Diagnosis of the sampling: the per-page value apes uses (wasted bytes / BLCKSZ) of every page, rebuilt with
-- pageinspect, and the visibility-map stratum of each page (pg_visibility), so that report.sql can compare the
-- reported intervals with the true standard error of the same sample sizes.  The value is
--   new page:   (BLCKSZ - page header - fillfactor reserve) / BLCKSZ
--   otherwise:  (bytes of tuples whose deleter committed + max(0, PageGetHeapFreeSpace - reserve)) / BLCKSZ
-- where "deleter committed" is read from the hint bits (HEAP_XMAX_COMMITTED set, not lock-only, or HEAP_XMIN_INVALID),
-- which apes.table_bloat(exact) has set on every tuple by then; report.sql checks that the sum over the pages equals
-- apes' exact wasted_bytes.
CREATE TABLE bench.pages (scenario text, relid regclass, blk int, all_visible bool, value float8);

CREATE PROCEDURE bench.page_values(sname text) LANGUAGE plpgsql AS $$
DECLARE
    r regclass;
    reserve int;
BEGIN
    FOREACH r IN ARRAY bench.rels(sname) LOOP
        CONTINUE WHEN pg_relation_size(r) <= 1000 * 8192;   -- read whole by apes: no sampling to diagnose
        reserve := 8192 * (100 - coalesce((SELECT option_value::int FROM pg_class c, pg_options_to_table(c.reloptions)
                                             WHERE c.oid = r AND option_name = 'fillfactor'), 100)) / 100;
        INSERT INTO bench.pages
        SELECT sname, r, v.blkno, v.all_visible,
               CASE WHEN h.upper = 0 THEN greatest(8192 - 24 - reserve, 0)
                    ELSE coalesce(d.dead, 0) + greatest(greatest(h.upper - h.lower - 4, 0) - reserve, 0)
               END / 8192.0
          FROM pg_visibility_map(r) v
         CROSS JOIN LATERAL (SELECT get_raw_page(r::text, v.blkno::int) AS raw) g
         CROSS JOIN LATERAL page_header(g.raw) h
          LEFT JOIN LATERAL (SELECT sum(i.lp_len) AS dead FROM heap_page_items(g.raw) i
                              WHERE i.lp_flags = 1
                                AND ((i.t_infomask & 1024) <> 0 AND (i.t_infomask & 128) = 0   -- xmax committed
                                     OR (i.t_infomask & 512) <> 0)) d ON true;               -- xmin aborted
        COMMIT;
    END LOOP;
END $$;
