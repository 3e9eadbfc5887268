-- pg_apes_health bloat benchmark: the report.  Run by bench/bloat/run.sh after all measurements; reads the bench.*
-- tables that measure.sql's procedures filled.  psql variables: seed (the seed of the accuracy table), seeds (coverage
-- seeds), runs (timing runs), tol (accuracy tolerance, points), cov_pct (coverage target, % of seeds).
\set ON_ERROR_STOP 1
\set QUIET on
\pset footer off
\pset null '-'
SET client_min_messages = warning;

-- fillfactor of a relation, from its reloptions (heap default 100, btree default 90)
CREATE FUNCTION pg_temp.ff(r regclass, dflt int) RETURNS int LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT option_value::int FROM pg_class c, pg_options_to_table(c.reloptions)
                      WHERE c.oid = r AND option_name = 'fillfactor'), dflt)
$$;

-- P(X <= k) for X ~ Binomial(n, p), in log space: how likely a true 95% interval is to cover as rarely as observed.
CREATE FUNCTION pg_temp.binom_cdf(k bigint, n bigint, p float8) RETURNS float8 LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    lpmf float8 := n * ln(1 - p);
    s    float8 := 0;
BEGIN
    FOR i IN 0 .. k LOOP
        IF lpmf > -700 THEN
            s := s + exp(lpmf);
        END IF;
        EXIT WHEN i = n;
        lpmf := lpmf + ln(n - i) - ln(i + 1) + ln(p) - ln(1 - p);
    END LOOP;
    RETURN least(s, 1);
END $$;

-- Table accuracy, one row per scenario and relation (heap, TOAST) with pages.
CREATE TEMP VIEW acc AS
SELECT s.ord, s.name AS scenario, e.kind, e.relation, e.pages, pg_temp.ff(e.relation, 100) AS ff,
       sm.method, sm.pages_scanned,
       e.wasted_pct AS e_w,
       100.0 * (e.dead_bytes + e.recently_dead_bytes + e.free_bytes) / e.total_bytes AS e_share,
       sm.wasted_pct AS s_w, sm.wasted_pct_low AS s_lo, sm.wasted_pct_high AS s_hi,
       100.0 * (p.dead_tuple_len + p.free_space) / nullif(p.table_len, 0) AS p_share,
       100.0 * (a.dead_tuple_len + a.approx_free_space) / nullif(a.table_len, 0) AS a_share,
       a.scanned_percent AS a_scanned,
       100.0 * e.dead_bytes / e.total_bytes AS e_dead, 100.0 * e.free_bytes / e.total_bytes AS e_free,
       (e.live_tuples = p.tuple_count AND e.dead_tuples + e.recently_dead_tuples = p.dead_tuple_count
        AND e.live_bytes = p.tuple_len AND e.dead_bytes + e.recently_dead_bytes = p.dead_tuple_len
        AND e.free_bytes = p.free_space) AS components_equal,
       (e.wasted_bytes = ea.wasted_bytes AND e.dead_tuples = ea.dead_tuples AND e.free_bytes = ea.free_bytes) AS stable
  FROM bench.scenario s
  JOIN bench.tb_raw e  ON e.scenario = s.name AND e.source = 'exact'
  JOIN bench.tb_raw sm ON sm.scenario = s.name AND sm.source = 'sampled' AND sm.relation = e.relation
  JOIN bench.tb_raw ea ON ea.scenario = s.name AND ea.source = 'exact_after' AND ea.relation = e.relation
  LEFT JOIN bench.pgst_raw p   ON p.scenario = s.name AND p.relid = e.relation
  LEFT JOIN bench.approx_raw a ON a.scenario = s.name AND a.source = 'settled' AND a.relid = e.relation
 WHERE e.pages > 0;

CREATE TEMP VIEW iacc AS
SELECT s.ord, s.name AS scenario, ie.index, ie.pages, pg_temp.ff(ie.index, 90) AS ff,
       isa.method, isa.pages_scanned,
       ie.wasted_pct AS e_w, isa.wasted_pct AS s_w, isa.wasted_pct_low AS s_lo, isa.wasted_pct_high AS s_hi,
       100 - p.avg_leaf_density AS p_free, p.leaf_fragmentation AS p_frag,
       -- what pgstatindex's averages say a REINDEX at the index's fillfactor would give back: the leaf shortfall
       -- against ff% density, plus deleted and half-dead pages, over all pages (the metapage included)
       100.0 * (p.leaf_pages * greatest(0, 1 - p.avg_leaf_density / pg_temp.ff(ie.index, 90))
                + p.deleted_pages + p.empty_pages) / (p.index_size / 8192) AS p_reindex,
       p.leaf_pages, p.deleted_pages, p.internal_pages, ie.deleted_pages AS e_deleted, ie.empty_pages AS e_empty
  FROM bench.scenario s
  JOIN bench.ib_raw ie  ON ie.scenario = s.name AND ie.source = 'exact'
  JOIN bench.ib_raw isa ON isa.scenario = s.name AND isa.source = 'sampled' AND isa.index = ie.index
  JOIN bench.psi_raw p  ON p.scenario = s.name AND p.idx = ie.index;

CREATE TEMP VIEW cov AS
SELECT s.ord, s.name AS scenario, s.coverage_target, 'table ' || t.kind AS what, t.relation::text AS rel,
       count(*) AS n,
       count(*) FILTER (WHERE e.wasted_pct BETWEEN t.wasted_pct_low AND t.wasted_pct_high) AS covered,
       avg(t.wasted_pct_high - t.wasted_pct_low) / 2 AS half, avg(abs(t.wasted_pct - e.wasted_pct)) AS mae,
       max(abs(t.wasted_pct - e.wasted_pct)) AS maxerr, avg(t.wasted_pct - e.wasted_pct) AS bias,
       avg(t.pages_scanned) AS pages_scanned, min(e.pages) AS pages, min(e.wasted_pct) AS exact,
       count(*) FILTER (WHERE abs(t.wasted_pct - e.wasted_pct) > :tol) AS over_tol
  FROM bench.scenario s
  JOIN bench.tb_raw t ON t.scenario = s.name AND t.source = 'seed'
  JOIN bench.tb_raw e ON e.scenario = s.name AND e.source = 'exact' AND e.relation = t.relation
 WHERE t.method = 'sampled'
 GROUP BY s.ord, s.name, s.coverage_target, t.kind, t.relation
UNION ALL
SELECT s.ord, s.name, false, 'index', t.index::text,
       count(*),
       count(*) FILTER (WHERE e.wasted_pct BETWEEN t.wasted_pct_low AND t.wasted_pct_high),
       avg(t.wasted_pct_high - t.wasted_pct_low) / 2, avg(abs(t.wasted_pct - e.wasted_pct)),
       max(abs(t.wasted_pct - e.wasted_pct)), avg(t.wasted_pct - e.wasted_pct),
       avg(t.pages_scanned), min(e.pages), min(e.wasted_pct),
       count(*) FILTER (WHERE abs(t.wasted_pct - e.wasted_pct) > :tol)
  FROM bench.scenario s
  JOIN bench.ib_raw t ON t.scenario = s.name AND t.source = 'seed'
  JOIN bench.ib_raw e ON e.scenario = s.name AND e.source = 'exact' AND e.index = t.index
 WHERE t.method = 'sampled'
 GROUP BY s.ord, s.name, t.index;

CREATE TEMP VIEW med AS
SELECT scenario, contender, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS ms, min(ms) AS min, max(ms) AS max,
       count(*) AS runs
  FROM bench.timing WHERE run > 0 GROUP BY scenario, contender;

CREATE TEMP VIEW speed AS
SELECT s.ord, s.name AS scenario, s.speed_target,
       pg_size_pretty(pg_total_relation_size(s.rel) - pg_indexes_size(s.rel)) AS size,
       sa.ms AS sampled, ex.ms AS exact, pg.ms AS pgst, ap.ms AS approx,
       sa.ms / pg.ms AS r_sampled, ex.ms / pg.ms AS r_exact, ap.ms / pg.ms AS r_approx,
       isa.ms AS i_sampled, iex.ms AS i_exact, ipg.ms AS i_pgst
  FROM bench.scenario s
  JOIN med sa ON sa.scenario = s.name AND sa.contender = 'apes sampled'
  JOIN med ex ON ex.scenario = s.name AND ex.contender = 'apes exact'
  JOIN med pg ON pg.scenario = s.name AND pg.contender = 'pgstattuple'
  JOIN med ap ON ap.scenario = s.name AND ap.contender = 'pgstattuple_approx'
  LEFT JOIN med isa ON isa.scenario = s.name AND isa.contender = 'index: apes sampled'
  LEFT JOIN med iex ON iex.scenario = s.name AND iex.contender = 'index: apes exact'
  LEFT JOIN med ipg ON ipg.scenario = s.name AND ipg.contender = 'index: pgstatindex';

\echo
\echo '== scenarios'
SELECT s.name AS scenario, s.state, pg_size_pretty(pg_relation_size(s.rel)) AS heap,
       pg_size_pretty(coalesce(pg_relation_size(nullif(c.reltoastrelid, 0)), 0)) AS toast,
       pg_size_pretty(pg_indexes_size(s.rel)) AS indexes, s.descr || coalesce(' [' || s.note || ']', '') AS what
  FROM bench.scenario s JOIN pg_class c ON c.oid = s.rel ORDER BY s.ord;

\echo
\echo '== 1. table accuracy: wasted %, sampled (seed' :seed ', default size) vs exact vs pgstattuple / pgstattuple_approx'
\echo '   apes wasted = dead + recently dead + free beyond the fillfactor reserve; "dead+free" = (dead + free bytes) / size.'
\echo '   At fillfactor 100 the two definitions are the same number; at 70 compare apes dead+free with pgstattuple.'
SELECT scenario, kind, pages, ff, pages_scanned AS sample,
       round(s_w::numeric, 2) AS apes_sampled,
       '[' || round(s_lo::numeric, 2) || ', ' || round(s_hi::numeric, 2) || ']' AS interval_95,
       round(e_w::numeric, 2) AS apes_exact,
       round(abs(s_w - e_w)::numeric, 2) AS "|s-e|",
       round(e_share::numeric, 2) AS "apes dead+free",
       round(p_share::numeric, 2) AS "pgstattuple dead+free",
       round(abs(CASE WHEN ff = 100 THEN e_w ELSE e_share END - p_share)::numeric, 3) AS "|apes-pgst|",
       round(a_share::numeric, 2) AS "approx dead+free", round(a_scanned::numeric, 1) AS "approx scanned%",
       CASE WHEN components_equal THEN 'yes' ELSE 'NO' END AS "= pgstattuple",
       CASE WHEN stable THEN 'yes' ELSE 'NO' END AS stable
  FROM acc ORDER BY ord, kind DESC;

\echo '   (= pgstattuple: apes exact equals pgstattuple() in live/dead tuple counts and bytes and free bytes;'
\echo '    stable: apes exact gives the same figures again after pgstattuple ran, i.e. nothing was pruned meanwhile)'
\echo '   fillfactor < 100, apes exact split: dead% and free% of the size (pgstattuple sees the same bytes):'
SELECT scenario, kind, ff, round(e_dead::numeric, 2) AS dead_pct, round(e_free::numeric, 2) AS free_pct,
       round((100 - ff)::numeric, 2) AS reserve_pct, round(e_w::numeric, 2) AS apes_wasted,
       round(e_share::numeric, 2) AS apes_dead_free, round(p_share::numeric, 2) AS pgst_dead_free
  FROM acc WHERE ff < 100 ORDER BY ord;

\echo
\echo '   as written (before the settling scan: no page pruned yet), apes exact vs pgstattuple_approx, which reads'
\echo '   every page that is not all-visible exactly and does not prune either: dead bytes must be equal'
SELECT s.name AS scenario, r.kind, round((100.0 * (r.dead_bytes + r.recently_dead_bytes) / r.total_bytes)::numeric, 2)
           AS "apes dead%", round((100.0 * a.dead_tuple_len / a.table_len)::numeric, 2) AS "approx dead%",
       CASE WHEN r.dead_bytes + r.recently_dead_bytes = a.dead_tuple_len
             AND r.dead_tuples + r.recently_dead_tuples = a.dead_tuple_count THEN 'yes' ELSE 'NO' END AS equal,
       round(a.scanned_percent::numeric, 1) AS "approx scanned%",
       round(r.wasted_pct::numeric, 2) AS apes_wasted_raw, round(e.wasted_pct::numeric, 2) AS apes_wasted_settled,
       round((e.wasted_pct - r.wasted_pct)::numeric, 3) AS "settling changed"
  FROM bench.scenario s
  JOIN bench.tb_raw r ON r.scenario = s.name AND r.source = 'exact_raw'
  JOIN bench.tb_raw e ON e.scenario = s.name AND e.source = 'exact' AND e.relation = r.relation
  JOIN bench.approx_raw a ON a.scenario = s.name AND a.source = 'raw' AND a.relid = r.relation
 WHERE r.pages > 0 ORDER BY s.ord, r.kind DESC;

\echo
\echo '== 2. index accuracy: apes.index_bloat (REINDEX at the index fillfactor would give back, % of pages) vs pgstatindex'
\echo '   pgst 100-density = free share of the leaf pages (a fresh build at fillfactor 90 already shows ~10);'
\echo '   pgst->reindex = leaf_pages * max(0, 1 - avg_leaf_density/ff) + deleted + half-dead pages, over all pages:'
\echo '   the same quantity as apes, from pgstatindex''s averages (it cannot clip page by page).'
SELECT scenario, index, pages, ff, pages_scanned AS sample,
       round(s_w::numeric, 2) AS apes_sampled,
       '[' || round(s_lo::numeric, 2) || ', ' || round(s_hi::numeric, 2) || ']' AS interval_95,
       round(e_w::numeric, 2) AS apes_exact, round(abs(s_w - e_w)::numeric, 2) AS "|s-e|",
       round(p_reindex::numeric, 2) AS "pgst->reindex", round(p_free::numeric, 2) AS "pgst 100-density",
       round(p_frag::numeric, 2) AS "pgst leaf_frag", leaf_pages, deleted_pages, internal_pages
  FROM iacc ORDER BY ord, index::text;

\echo
\echo '== 3. coverage: default sampled mode with seeds 1 ..' :seeds ', the exact value inside [wasted_pct_low, wasted_pct_high]?'
\echo '   (relations of more than 1,000 pages; index rows for information).  P(<= covered | 95%): the probability that an'
\echo '   interval with a true 95% coverage covers this rarely or less (binomial): under 0.01 is not bad luck.'
SELECT scenario, what, rel, pages, round(exact::numeric, 2) AS exact, covered || '/' || n AS covered,
       to_char(pg_temp.binom_cdf(covered, n, 0.95), '9.9EEEE') AS "P(<= covered | 95%)",
       round(half::numeric, 3) AS mean_halfwidth, round(mae::numeric, 3) AS mean_abs_err,
       round(maxerr::numeric, 3) AS max_abs_err, round(bias::numeric, 3) AS mean_err,
       over_tol AS "runs off by > tol", round(pages_scanned) AS mean_sample,
       CASE WHEN coverage_target THEN 'target' ELSE '' END AS target
  FROM cov ORDER BY ord, what DESC, rel;

\echo
\echo '== 3b. why: the population behind each sample (every page''s value rebuilt with pageinspect, strata from pg_visibility)'
\echo '   stratum av = all-visible pages, other = the rest (apes samples each in proportion to its size).'
\echo '   atypical = pages farther from the stratum median than max(0.02, 3 robust sigmas (1.4826 * MAD)): a rare'
\echo '   subpopulation; n_h = mean pages sampled in the stratum; P(none sampled) = (1 - atypical share)^n_h: when no'
\echo '   atypical page is sampled the sample variance misses them and the interval is too narrow.  true_half = 1.96 *'
\echo '   the true standard error of the stratified mean at these sample sizes (from all pages); rebuilt = the pages'''
\echo '   sum equals apes exact wasted_bytes (within 0.01%).'
CREATE TEMP VIEW strata AS
WITH st AS (
    SELECT scenario, relid, all_visible, count(*) AS n_pages, avg(value) AS mean, stddev_samp(value) AS sd,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY value) AS med, sum(value) AS total
      FROM bench.pages GROUP BY scenario, relid, all_visible),
mad AS (
    SELECT p.scenario, p.relid, p.all_visible,
           greatest(0.02, 3 * 1.4826 * percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(p.value - st.med))) AS cut
      FROM bench.pages p JOIN st USING (scenario, relid, all_visible) GROUP BY p.scenario, p.relid, p.all_visible),
at AS (
    SELECT p.scenario, p.relid, p.all_visible, count(*) FILTER (WHERE abs(p.value - st.med) > m.cut) AS n_atyp,
           avg(p.value) FILTER (WHERE abs(p.value - st.med) > m.cut) AS atyp_mean
      FROM bench.pages p JOIN st USING (scenario, relid, all_visible) JOIN mad m USING (scenario, relid, all_visible)
     GROUP BY p.scenario, p.relid, p.all_visible),
tot AS (SELECT scenario, relid, sum(n_pages) AS n_total, sum(total) AS total FROM st GROUP BY scenario, relid)
SELECT st.scenario, st.relid, st.all_visible, st.n_pages, tot.n_total, st.mean, st.sd, st.med,
       at.n_atyp, at.atyp_mean, c.pages_scanned AS mean_sample, c.half, c.covered, c.n,
       greatest(least(ceil(c.pages_scanned * st.n_pages / tot.n_total), st.n_pages), least(2, st.n_pages)) AS n_h,
       tot.total
  FROM st JOIN at USING (scenario, relid, all_visible) JOIN tot USING (scenario, relid)
  JOIN cov c ON c.scenario = st.scenario AND c.rel = st.relid::text AND c.what LIKE 'table%';

SELECT scenario, relid AS rel, CASE WHEN all_visible THEN 'av' ELSE 'other' END AS stratum, n_pages AS "N_h",
       round(mean::numeric, 4) AS mean, round(coalesce(sd, 0)::numeric, 4) AS sd, round(med::numeric, 4) AS median,
       n_atyp AS atypical, round((100.0 * n_atyp / n_pages)::numeric, 2) AS "atypical%",
       round(atyp_mean::numeric, 3) AS atypical_mean, n_h,
       round(exp(greatest(n_h * ln(1 - n_atyp::float8 / n_pages), -700))::numeric, 3) AS "P(none sampled)"
  FROM strata ORDER BY scenario, relid::text, all_visible DESC;

SELECT s.scenario, s.relid AS rel, round(avg(s.mean_sample)) AS mean_sample,
       round((196 * sqrt(sum(power(s.n_pages::float8 / s.n_total, 2) * (1 - s.n_h::float8 / s.n_pages)
                             * power(coalesce(s.sd, 0), 2) / s.n_h::float8)))::numeric, 3) AS true_half,
       round(avg(s.half)::numeric, 3) AS reported_mean_half, min(s.covered) || '/' || min(s.n) AS covered,
       CASE WHEN abs(min(s.total) * 8192 - min(e.wasted_bytes)) <= 0.0001 * min(e.total_bytes) THEN 'yes' ELSE 'NO' END
           AS rebuilt
  FROM strata s
  JOIN bench.tb_raw e ON e.scenario = s.scenario AND e.source = 'exact' AND e.relation = s.relid
 GROUP BY s.scenario, s.relid
 ORDER BY min((SELECT ord FROM bench.scenario x WHERE x.name = s.scenario)), s.relid::text;

\echo
\echo '== 4. speed: median ms over' :runs 'runs (after a warm-up run; order rotated each run), warm OS cache'
\echo '   table contenders read the table and its TOAST table; index contenders the first index of the scenario'
SELECT scenario, size, round(sampled::numeric, 1) AS apes_sampled, round(exact::numeric, 1) AS apes_exact,
       round(pgst::numeric, 1) AS pgstattuple, round(approx::numeric, 1) AS pgstattuple_approx,
       round(r_sampled::numeric, 4) AS "sampled/pgst", round(r_exact::numeric, 3) AS "exact/pgst",
       round(r_approx::numeric, 3) AS "approx/pgst",
       round(i_sampled::numeric, 1) AS idx_apes_sampled, round(i_exact::numeric, 1) AS idx_apes_exact,
       round(i_pgst::numeric, 1) AS idx_pgstatindex,
       CASE WHEN speed_target THEN 'target' ELSE '' END AS target
  FROM speed ORDER BY ord;
\echo '   every run, ms (run 0 = warm-up), for the speed-target scenarios:'
SELECT t.scenario, t.contender, string_agg(round(t.ms::numeric)::text, ' ' ORDER BY t.run) AS "ms of runs 0..N"
  FROM bench.timing t JOIN bench.scenario s ON s.name = t.scenario
 WHERE s.speed_target GROUP BY s.ord, t.scenario, t.contender ORDER BY s.ord, t.contender;

\echo
\echo '== 5. cache: buffers of the hot table bl.hot (prewarmed) and of the scanned relation, before and after each scan'
SELECT step, what, hot_before, hot_after, hot_after - hot_before AS hot_change,
       round(hot_usage_before, 2) AS hot_avg_usage, scanned_before, scanned_after,
       scanned_after - scanned_before AS scanned_change,
       CASE WHEN what NOT LIKE 'apes%' THEN '(contrast)'
            WHEN hot_after >= 0.99 * hot_before AND scanned_after - scanned_before <= 0.01 * (SELECT setting::int FROM pg_settings WHERE name = 'shared_buffers')
                 THEN 'PASS' ELSE 'FAIL' END AS verdict
  FROM bench.cache ORDER BY step;

-- ---------------------------------------------------------------------------------------------------------------------
CREATE TEMP TABLE summary (ord int, target text, measured text, pass bool, is_target bool);
INSERT INTO summary
SELECT 1000 + ord, format('table: |sampled - exact| <= %s pt: %s %s', :tol, scenario, kind),
       format('%s pt (%s of %s pages)', round(abs(s_w - e_w)::numeric, 2), pages_scanned, pages),
       abs(s_w - e_w) <= :tol, true
  FROM acc WHERE method = 'sampled';
INSERT INTO summary
SELECT 1900, 'table: apes exact = pgstattuple() component by component, all relations',
       format('%s of %s equal, max |apes-pgst| %s pt', count(*) FILTER (WHERE components_equal), count(*),
              round(max(abs(CASE WHEN ff = 100 THEN e_w ELSE e_share END - p_share))::numeric, 4)),
       bool_and(components_equal), true
  FROM acc;
INSERT INTO summary
SELECT 1910, 'table: as written, apes exact dead bytes = pgstattuple_approx dead bytes, all relations',
       format('%s of %s equal', count(*) FILTER (WHERE r.dead_bytes + r.recently_dead_bytes = a.dead_tuple_len
                                                  AND r.dead_tuples + r.recently_dead_tuples = a.dead_tuple_count),
              count(*)),
       bool_and(r.dead_bytes + r.recently_dead_bytes = a.dead_tuple_len
                AND r.dead_tuples + r.recently_dead_tuples = a.dead_tuple_count), true
  FROM bench.tb_raw r JOIN bench.approx_raw a ON a.scenario = r.scenario AND a.source = 'raw' AND a.relid = r.relation
 WHERE r.source = 'exact_raw' AND r.pages > 0;
INSERT INTO summary
SELECT 1950, 'index: |sampled - exact| <= ' || :tol || ' pt, all sampled indexes (information)',
       coalesce(format('max %s pt over %s sampled indexes (%s)', round(max(abs(s_w - e_w))::numeric, 2), count(*),
                       (array_agg(scenario || ' ' || index ORDER BY abs(s_w - e_w) DESC))[1]), 'none sampled'),
       coalesce(bool_and(abs(s_w - e_w) <= :tol), true), false
  FROM iacc WHERE method = 'sampled';
INSERT INTO summary
SELECT 1960, format('table: coverage runs (%s seeds each) with |sampled - exact| > %s pt (information)', :seeds, :tol),
       format('%s of %s runs; worst %s pt (%s)', sum(over_tol), sum(n), round(max(maxerr)::numeric, 3),
              (array_agg(scenario ORDER BY maxerr DESC))[1]),
       sum(over_tol) = 0, false
  FROM cov WHERE what LIKE 'table%';
INSERT INTO summary
SELECT 2000 + ord, format('coverage >= %s%%: %s %s', :cov_pct, scenario, what),
       format('%s/%s (half-width %s, MAE %s, P(<=) %s)', covered, n, round(half::numeric, 3), round(mae::numeric, 3),
              to_char(pg_temp.binom_cdf(covered, n, 0.95), '9.9EEEE')),
       covered >= :cov_pct * n / 100.0, coverage_target
  FROM cov WHERE what LIKE 'table%';
INSERT INTO summary
SELECT 3000 + ord, format('speed: apes sampled / pgstattuple <= 0.10: %s (%s)', scenario, size),
       format('%s (%s / %s ms)', round(r_sampled::numeric, 4), round(sampled::numeric, 1), round(pgst::numeric, 1)),
       r_sampled <= 0.10, true
  FROM speed WHERE speed_target;
INSERT INTO summary
SELECT 4000 + ord, format('speed: apes exact / pgstattuple <= 1.2: %s (%s)', scenario, size),
       format('%s (%s / %s ms)', round(r_exact::numeric, 3), round(exact::numeric, 1), round(pgst::numeric, 1)),
       r_exact <= 1.2, true
  FROM speed WHERE speed_target;
INSERT INTO summary
SELECT 5000 + step, 'cache: ' || what || ' keeps the hot table cached',
       format('hot %s -> %s buffers, scanned relation +%s', hot_before, hot_after, scanned_after - scanned_before),
       hot_after >= 0.99 * hot_before
         AND scanned_after - scanned_before <= 0.01 * (SELECT setting::int FROM pg_settings WHERE name = 'shared_buffers'), true
  FROM bench.cache WHERE what LIKE 'apes%';

\echo
\echo '== summary (is_target = no: information only, (ok) / (miss), not part of the verdict)'
SELECT target, measured,
       CASE WHEN is_target THEN CASE WHEN pass THEN 'PASS' ELSE 'FAIL' END
            ELSE CASE WHEN pass THEN '(ok)' ELSE '(miss)' END END AS verdict,
       CASE WHEN is_target THEN 'yes' ELSE 'no' END AS is_target
  FROM summary ORDER BY ord;

SELECT CASE WHEN bool_and(pass) FILTER (WHERE is_target) THEN 'ALL TARGETS MET' ELSE 'TARGETS NOT MET' END AS verdict
  FROM summary \gset
\echo 'BENCH VERDICT:' :verdict
