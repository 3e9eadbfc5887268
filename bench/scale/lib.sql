-- pg_apes_health scale benchmark: the helper schema "scale", (re)created by bench/scale/run.sh in every database of
-- the benchmark at the start of every run (CREATE OR REPLACE: a newer run.sh brings newer helpers).
--
--   scale.state                 what the build has done in this database (key -> value), so a run can resume it
--   scale.run(q)                runs q (a query returning one value), returns its server-side time and the value
--   scale.run_cancellable(q)    the same, but a cancel (statement_timeout, pg_cancel_backend) is caught: returns
--                               'canceled' and the moment it was answered
--   scale.cancel_after(pid, ms) from another session: waits until backend pid runs scale.run_cancellable(), then
--                               cancels it ms after that statement started; returns the moment of the cancel
--   scale.snapshot_timed()      apes.snapshot() with its COMMIT, timed, with the WAL it wrote

\set ON_ERROR_STOP 1
\set QUIET on
SET client_min_messages = warning;

CREATE SCHEMA IF NOT EXISTS scale;
CREATE TABLE IF NOT EXISTS scale.state (
    key   text PRIMARY KEY,
    value text NOT NULL,
    at    timestamptz NOT NULL DEFAULT now()
);

-- Time of one statement, on the server (no client, network or result transfer in it).  q must return one column.
CREATE OR REPLACE FUNCTION scale.run(q text, OUT ms double precision, OUT result text)
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    EXECUTE q INTO result;
    ms := 1000 * extract(epoch FROM clock_timestamp() - t0);
END
$$;

-- The same, for a call that a cancel may stop: result 'canceled' then, and ended is the epoch (seconds) at which
-- the cancel was answered (the error caught, the call's resources released).
CREATE OR REPLACE FUNCTION scale.run_cancellable(q text, OUT ms double precision, OUT result text,
                                                 OUT ended double precision)
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    BEGIN
        EXECUTE q INTO result;
    EXCEPTION WHEN query_canceled THEN
        result := 'canceled';
    END;
    ended := extract(epoch FROM clock_timestamp());
    ms := 1000 * extract(epoch FROM clock_timestamp() - t0);
END
$$;

-- Cancel backend p delay_ms after the start of its statement scale.run_cancellable(...).  Waits (polling
-- pg_stat_activity every millisecond, up to 120 s) for that statement to start.  Returns the epoch of the
-- pg_cancel_backend() call, or NULL when the statement had ended before its time came (nothing is cancelled then).
CREATE OR REPLACE FUNCTION scale.cancel_after(p int, delay_ms int) RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
    qs       timestamptz;
    deadline timestamptz := clock_timestamp() + interval '120 s';
    t        double precision;
BEGIN
    LOOP
        PERFORM pg_stat_clear_snapshot();       -- pg_stat_activity is read once per transaction otherwise
        SELECT a.query_start INTO qs FROM pg_stat_activity a
         WHERE a.pid = p AND a.state = 'active' AND a.query LIKE '%scale.run_cancellable%';
        EXIT WHEN qs IS NOT NULL;
        IF clock_timestamp() > deadline THEN
            RAISE EXCEPTION 'backend % did not start scale.run_cancellable() within 120 s', p;
        END IF;
        PERFORM pg_sleep(0.001);
    END LOOP;
    PERFORM pg_sleep(greatest(0, extract(epoch FROM qs + make_interval(secs => delay_ms / 1000.0) - clock_timestamp())));
    PERFORM pg_stat_clear_snapshot();
    IF NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = p AND a.state = 'active' AND a.query_start = qs) THEN
        RETURN NULL;
    END IF;
    t := extract(epoch FROM clock_timestamp());
    PERFORM pg_cancel_backend(p);
    RETURN t;
END
$$;

-- One apes.snapshot() and its COMMIT (so both count), timed, with the WAL written from before the call to after the
-- commit (pg_current_wal_lsn() difference).  CALL it at top level, outside a transaction block.
CREATE OR REPLACE PROCEDURE scale.snapshot_timed(INOUT ms double precision DEFAULT NULL,
                                                 INOUT wal_bytes numeric DEFAULT NULL,
                                                 INOUT result text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    l0 pg_lsn;
    t0 timestamptz;
    id bigint;
BEGIN
    l0 := pg_current_wal_lsn();
    t0 := clock_timestamp();
    id := apes.snapshot();
    COMMIT;
    ms := 1000 * extract(epoch FROM clock_timestamp() - t0);
    wal_bytes := pg_wal_lsn_diff(pg_current_wal_lsn(), l0);
    result := coalesce((SELECT format('snapshot %s: %s statements, %s relations', s.snapshot_id, s.statements,
                                      s.relations)
                          FROM apes.snapshot s WHERE s.snapshot_id = id), 'no snapshot');
END
$$;
