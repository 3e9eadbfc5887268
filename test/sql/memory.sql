-- Memory: repeated reports retain nothing.  The backend's memory (every context, pg_backend_memory_contexts) after
-- the second call of each report and after the twelfth stays within 10%: nothing accumulates in long-lived contexts
-- from one call to the next (caches warm up on the first call, so the second is the baseline).
CREATE TEMP TABLE mem (step int, bytes bigint);
CREATE FUNCTION pg_temp.backend_bytes() RETURNS bigint LANGUAGE sql AS
  $$ SELECT sum(total_bytes)::bigint FROM pg_backend_memory_contexts $$;
DO $$
BEGIN
    FOR i IN 1..12 LOOP
        PERFORM count(*) FROM apes.findings();
        PERFORM apes.health_json();
        PERFORM apes.health_report();
        PERFORM count(*) FROM apes.bloat_estimates;
        PERFORM count(*) FROM apes.pools;
        PERFORM count(*) FROM apes.connection_capacity();
        PERFORM apes.report_html();
        PERFORM apes.metrics();
        IF i IN (2, 12) THEN
            INSERT INTO mem VALUES (i, pg_temp.backend_bytes());
        END IF;
    END LOOP;
END
$$;
SELECT (SELECT bytes FROM mem WHERE step = 12)::numeric / (SELECT bytes FROM mem WHERE step = 2) < 1.10
       AS retained_within_10_percent;
