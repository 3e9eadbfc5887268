#!/usr/bin/env bash
# make demo: install what is missing, build and install, start a throwaway cluster with pg_stat_statements and
# pg_cron preloaded, load the demo database with planted problems (test/demo.sql) and print its health report.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${APES_IN_CLUSTER:-}" ]; then
    test/setup.sh
    test/build.sh
    APES_IN_CLUSTER=1 exec test/cluster.sh "$0" "$@"
fi
createdb apes_demo
# planted: a logical replication slot a CDC tool created and abandoned: the WAL written from here on stays in pg_wal
# (replication_slot_retaining_wal; the test cluster runs with wal_level = logical)
psql -X -q -v ON_ERROR_STOP=1 -d apes_demo \
    -c "SELECT pg_create_logical_replication_slot('demo_abandoned_cdc', 'test_decoding')" >/dev/null
# the planted failed CREATE UNIQUE INDEX CONCURRENTLY prints one expected error; anything else stops the demo
log=$(mktemp)
psql -X -q -v ON_ERROR_STOP=1 -d apes_demo -f test/demo.sql >"$log" 2>&1 || { cat "$log"; exit 1; }
psql -X -q -v ON_ERROR_STOP=1 -d apes_demo -c "CREATE EXTENSION pg_apes_health"

# planted query regression: a look-up runs with its index between two snapshots; after them someone drops the
# index and the look-up runs again.  The report compares the two periods with pg_apes_health.regression_window = 5s
# (default 1 day) so the demo need not wait a day.
psql -X -q -v ON_ERROR_STOP=1 -d apes_demo <<'SQL'
CREATE EXTENSION pg_stat_statements;
CREATE TABLE shop.payments (id bigint PRIMARY KEY, ref text NOT NULL, amount numeric(12, 2));
INSERT INTO shop.payments SELECT g, 'PAY-' || md5(g::text), g % 500 FROM generate_series(1, 200000) g;
CREATE INDEX payments_ref_idx ON shop.payments (ref);
SELECT pg_stat_force_next_flush() \g /dev/null
ANALYZE shop.payments;
SELECT apes.snapshot() \g /dev/null
DO $$ BEGIN FOR i IN 1..150 LOOP PERFORM amount FROM shop.payments WHERE ref = 'PAY-' || md5(i::text); END LOOP; END $$;
SELECT apes.snapshot() \g /dev/null
SQL

# planted: a session left idle in transaction holds back the cleanup horizon, so the rows deleted from
# shop.sessions after it began stay (recently dead) through VACUUM.  The report is run with
# pg_apes_health.horizon_max_age = 5s (default 1h) so the demo need not wait an hour.
( echo "SET application_name = 'demo_forgotten_transaction'; BEGIN; SELECT txid_current();"; sleep 300 ) |
    psql -X -q -d apes_demo >/dev/null &
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
until [ "$(psql -X -At -d apes_demo -c "SELECT count(*) FROM pg_stat_activity
          WHERE application_name = 'demo_forgotten_transaction' AND state = 'idle in transaction'")" = 1 ]; do
    sleep 0.2
done
psql -X -q -v ON_ERROR_STOP=1 -d apes_demo <<'SQL'
CREATE TABLE shop.sessions (id bigint PRIMARY KEY, token text, seen_at timestamptz)
    WITH (autovacuum_enabled = off);
INSERT INTO shop.sessions SELECT g, md5(g::text) || md5(g::text), now() FROM generate_series(1, 200000) g;
DELETE FROM shop.sessions WHERE id % 5 <> 0;
SELECT pg_stat_force_next_flush() \g /dev/null
VACUUM shop.sessions;
ANALYZE shop.sessions;
SQL
# planted pools: an application pool of five idle sessions, and a worker pool where one session holds a lock on
# shop.stock, idle in transaction, and another waits for it (blocked_sessions, idle_in_transaction; the report runs
# with idle_in_transaction_max = 5s and blocked_min_wait = 1s instead of 5 min and 30 s)
for _ in 1 2 3 4 5; do
    ( echo "SET application_name = 'shop-web';"; sleep 300 ) | psql -X -q -d apes_demo >/dev/null &
done
( echo "SET application_name = 'shop-worker'; BEGIN; LOCK TABLE shop.stock IN EXCLUSIVE MODE;"; sleep 300 ) |
    psql -X -q -d apes_demo >/dev/null &
sleep 1
( echo "SET application_name = 'shop-worker'; UPDATE shop.stock SET qty = qty WHERE id = 1;"; sleep 300 ) |
    psql -X -q -d apes_demo >/dev/null &
# planted: a table autovacuum cannot keep up with: a long migration holds SHARE UPDATE EXCLUSIVE on it, so every
# autovacuum worker skips it while 90% of its rows are deleted (autovacuum_behind)
psql -X -q -v ON_ERROR_STOP=1 -d apes_demo -c "CREATE TABLE shop.carts (id bigint PRIMARY KEY, items int)"
( echo "SET application_name = 'demo_migration'; BEGIN; LOCK TABLE shop.carts IN SHARE UPDATE EXCLUSIVE MODE;"; sleep 300 ) |
    psql -X -q -d apes_demo >/dev/null &
until [ "$(psql -X -At -d apes_demo -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
          WHERE a.application_name = 'demo_migration' AND l.relation = 'shop.carts'::regclass AND l.granted")" = 1 ]; do
    sleep 0.2
done
psql -X -q -v ON_ERROR_STOP=1 -d apes_demo <<'SQL'
INSERT INTO shop.carts SELECT g, g % 7 FROM generate_series(1, 100000) g;
DELETE FROM shop.carts WHERE id % 10 <> 0;
SELECT pg_stat_force_next_flush() \g /dev/null
SQL
# planted: WAL archiving that fails (archive_command points at a mount that went away)
psql -X -q -v ON_ERROR_STOP=1 -d apes_demo \
    -c "ALTER SYSTEM SET archive_command = 'test -d /mnt/wal_archive && cp %p /mnt/wal_archive/%f'" \
    -c "SELECT pg_reload_conf()" >/dev/null
before=$(psql -X -At -d apes_demo -c "SELECT failed_count FROM pg_stat_archiver")
psql -X -q -d apes_demo -c "SELECT pg_switch_wal()" >/dev/null
until [ "$(psql -X -At -d apes_demo -c "SELECT failed_count > $before FROM pg_stat_archiver")" = t ]; do sleep 0.2; done
# the demo's own throwaway cluster runs with fsync = off (test/cluster.sh): the demo turns it on, as a server should
psql -X -q -d apes_demo -c "ALTER SYSTEM SET fsync = on" -c "SELECT pg_reload_conf()" >/dev/null
# planted: an acknowledged finding: the events payload search ships next sprint, so its unused index stays for now
psql -X -q -v ON_ERROR_STOP=1 -d apes_demo -c "SELECT apes.acknowledge('index_unused', 'shop.events_payload_idx',
    now() + interval '30 days', 'payload search ships next sprint; keep the index')" >/dev/null
sleep 6
psql -X -q -v ON_ERROR_STOP=1 -d apes_demo <<'SQL'
DROP INDEX shop.payments_ref_idx;
DO $$ BEGIN FOR i IN 1..150 LOOP PERFORM amount FROM shop.payments WHERE ref = 'PAY-' || md5(i::text); END LOOP; END $$;
SQL
export PGOPTIONS="-c pg_apes_health.horizon_max_age=5s -c pg_apes_health.regression_window=5s
 -c pg_apes_health.idle_in_transaction_max=5s -c pg_apes_health.blocked_min_wait=1s
 -c pg_apes_health.simulation_time_budget=1s"
psql -X -At -d apes_demo -c "SELECT apes.health_report()"
echo "== the pools (SELECT * FROM apes.pools)"
psql -X -d apes_demo -c "SELECT database, role, application, sessions, active, idle, idle_in_transaction AS iit,
                                waiting, wait_events, date_trunc('second', oldest_transaction_age) AS oldest_xact
                           FROM apes.pools"
echo "== who blocks whom (SELECT * FROM apes.blocking)"
psql -X -d apes_demo -c "SELECT blocked_application, lock_type, lock_mode, root_blocker_application,
                                root_blocker_state, root_blocks FROM apes.blocking"
# the HTML report of the demo database (one more snapshot first, so the pools above are in its history), in a file
# that outlives the throwaway cluster
report=${APES_DEMO_REPORT:-$PWD/test/work/demo/apes_demo_report.html}
mkdir -p "$(dirname "$report")"
psql -X -q -d apes_demo -c "SELECT apes.snapshot()" >/dev/null
psql -X -At -d apes_demo -c "SELECT apes.report_html()" >"$report"
echo "== the HTML report (SELECT apes.report_html()), self-contained, to open in any browser: $report"
