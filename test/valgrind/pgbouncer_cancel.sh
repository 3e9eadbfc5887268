#!/usr/bin/env bash
# Cancel apes.pgbouncer_pools() and apes.findings('pool') while they wait for SHOW STATS, after SHOW POOLS answered:
# the PGresult already received must be freed (libpq malloc()s it, outside any memory context).  Meant for
# test/valgrind_test.sh (VALGRIND_SCRIPTS), whose leak check turns a lost PGresult into an error of ours; without
# valgrind it only checks that both calls end with the statement timeout.  The fake console is
# test/valgrind/fake_pgbouncer.pl: it answers SHOW POOLS with one pool and never answers SHOW STATS.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
portfile=$(mktemp)
perl "$here/fake_pgbouncer.pl" </dev/null >"$portfile" 2>/dev/null &
fake=$!
cleanup() { kill "$fake" 2>/dev/null || true; rm -f "$portfile"; dropdb --if-exists apes_pgb_cancel >/dev/null 2>&1 || true; }
trap cleanup EXIT
for _ in $(seq 50); do [ -s "$portfile" ] && break; sleep 0.1; done
port=$(cat "$portfile")
dsn="host=127.0.0.1 port=$port dbname=pgbouncer user=x sslmode=disable gssencmode=disable"
createdb apes_pgb_cancel
psql -X -q -d apes_pgb_cancel -c "CREATE EXTENSION pg_apes_health"
fail=0
for q in "SELECT * FROM apes.pgbouncer_pools()" "SELECT check_id FROM apes.findings('pool')"; do
    out=$(psql -X -d apes_pgb_cancel -c "SET pg_apes_health.pgbouncer_dsn = '$dsn'" \
        -c "SET pg_apes_health.pgbouncer_timeout = '60s'" -c "SET statement_timeout = '${PROBE_TIMEOUT:-6s}'" \
        -c "$q" 2>&1 || true)
    if grep -q 'canceling statement due to statement timeout' <<<"$out"; then
        echo "cancelled as expected: $q"
    else
        echo "FAILED: $q did not end with the statement timeout: $out"; fail=1
    fi
done
exit "$fail"
