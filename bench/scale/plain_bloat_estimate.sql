-- pg_apes_health scale benchmark: a plain-SQL catalog bloat estimate, the reference beside
-- SELECT count(*) FROM apes.bloat_estimates.  Run by bench/scale/run.sh, wrapped as SELECT count(*) FROM (<this>) q.
--
-- The usual DBA estimate (in the spirit of the well-known "ioguix" queries, shortened): from the catalogs and the
-- planner statistics only, no page read and no file stat().  For every table, TOAST table, materialized view and
-- btree index outside pg_catalog and information_schema:
--   actual pages    pg_class.relpages
--   expected pages  tables: reltuples * (tuple header 24 + line pointer 4 + the average width of the row from
--                   pg_statistic, or 32 bytes when the table has no statistics) / (8192 - 24) / fillfactor
--                   btree:  reltuples * (index tuple header 8 + line pointer 4 + the average width of the key
--                   columns, or 8 per column) / (8192 - 24 - 16) / fillfactor, plus the metapage
--   wasted          actual - expected pages, never below zero, in bytes
-- Ordered by the estimate, largest first, as apes.bloat_estimates is.  Single file, no statement after it.
SELECT c.oid::regclass AS relation, c.relkind AS kind,
       c.relpages::bigint * 8192 AS total_bytes,
       greatest(0, c.relpages - e.expected_pages)::bigint * 8192 AS est_wasted_bytes,
       round((100.0 * greatest(0, c.relpages - e.expected_pages) / nullif(c.relpages, 0))::numeric, 1) AS est_wasted_pct
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_index i ON i.indexrelid = c.oid
  LEFT JOIN pg_am am ON am.oid = c.relam
  LEFT JOIN LATERAL (
        SELECT sum((1 - s.stanullfrac) * s.stawidth) AS width
          FROM pg_statistic s
         WHERE c.relkind IN ('r', 't', 'm') AND s.starelid = c.oid AND NOT s.stainherit) tw ON true
  LEFT JOIN LATERAL (
        SELECT sum(coalesce(s.stawidth, 8)) AS width
          FROM unnest(i.indkey::int2[]) k(attnum)
          LEFT JOIN pg_statistic s ON s.starelid = i.indrelid AND s.staattnum = k.attnum AND NOT s.stainherit
         WHERE c.relkind = 'i') iw ON true
  CROSS JOIN LATERAL (
        SELECT CASE WHEN c.relkind = 'i'
                    THEN 1 + ceil(greatest(c.reltuples, 0) * (8 + 4 + coalesce(iw.width, 8))
                                  / ((8192 - 24 - 16) * 0.90))
                    ELSE ceil(greatest(c.reltuples, 0) * (24 + 4 + coalesce(tw.width, 32))
                              / ((8192 - 24) * coalesce((SELECT substr(o, 12)::int FROM unnest(c.reloptions) o
                                                          WHERE o LIKE 'fillfactor=%'), 100) / 100.0))
               END AS expected_pages) e
 WHERE c.relkind IN ('r', 't', 'm', 'i')
   AND (c.relkind <> 'i' OR am.amname = 'btree')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
 ORDER BY est_wasted_bytes DESC, total_bytes DESC, c.oid
