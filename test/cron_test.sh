#!/usr/bin/env bash
# Scheduling through pg_cron in a real cluster: in the database pg_cron lives in (cron.database_name), apes.schedule()
# creates the snapshot and purge jobs, pg_cron runs the snapshot job (every minute here) and records its success in
# cron.job_run_details, the history then holds a snapshot, and apes.unschedule() removes both jobs.
# Run by test/run_tests.sh inside the test cluster; exits non-zero with the reason on failure.
set -euo pipefail
db=$(psql -X -At -d postgres -c "SHOW cron.database_name")
psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_cron;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE EXTENSION pg_apes_health;
SQL
trap 'psql -X -q -d "$db" -c "DROP EXTENSION IF EXISTS pg_apes_health" >/dev/null 2>&1 || true' EXIT
jobs=$(psql -X -At -v ON_ERROR_STOP=1 -d "$db" -c "SELECT count(*) FROM apes.schedule('* * * * *')")
[ "$jobs" = 2 ] || { echo "apes.schedule() created $jobs jobs, not 2"; exit 1; }
psql -X -At -d "$db" -c "SELECT jobname, schedule, command, database FROM cron.job ORDER BY jobname"
# scheduling again updates the jobs instead of adding more
psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "SELECT count(*) FROM apes.schedule('* * * * *')" >/dev/null
n=$(psql -X -At -d "$db" -c "SELECT count(*) FROM cron.job WHERE jobname LIKE 'pg_apes_health %'")
[ "$n" = 2 ] || { echo "after a second apes.schedule() there are $n jobs, not 2"; exit 1; }
echo "waiting for pg_cron to run the snapshot job (at most 130 s)"
for _ in $(seq 1 130); do
    ok=$(psql -X -At -d "$db" -c "SELECT count(*) FROM cron.job_run_details d JOIN cron.job j USING (jobid)
                                   WHERE j.jobname = 'pg_apes_health snapshot ' || current_database()
                                     AND d.status = 'succeeded'")
    [ "$ok" -ge 1 ] && break
    sleep 1
done
psql -X -At -d "$db" -c "SELECT status, return_message FROM cron.job_run_details ORDER BY runid"
[ "$ok" -ge 1 ] || { echo "the snapshot job did not succeed"; exit 1; }
snaps=$(psql -X -At -d "$db" -c "SELECT count(*) FROM apes.snapshot")
[ "$snaps" -ge 1 ] || { echo "no snapshot in the history"; exit 1; }
removed=$(psql -X -At -v ON_ERROR_STOP=1 -d "$db" -c "SELECT apes.unschedule()")
[ "$removed" = 2 ] || { echo "apes.unschedule() removed $removed jobs, not 2"; exit 1; }
echo "pg_cron ran the snapshot job; $snaps snapshot(s) recorded; jobs removed"
