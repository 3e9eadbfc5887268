#!/usr/bin/env bash
# A slow host name lookup never outlasts pg_apes_health.pgbouncer_timeout, a cancel or statement_timeout (issue 13,
# defect 9).  libpq's own getaddrinfo() blocks for as long as the resolver takes; the extension resolves with a
# deadline first (src/remote.c).
#
# The test cluster is restarted in a mount namespace of its own whose /etc/resolv.conf names a DNS server of this
# test (test/slow_dns.py on 127.0.0.77:53) that answers names beginning with "slow" after 8 s and others at once.
# Then, in the test database, with pg_apes_health.pgbouncer_dsn naming host slow-pgbouncer.apes.test:
#   1. pgbouncer_timeout = 100ms: apes.pgbouncer_pools() fails with 08001 "timed out looking up host name" in under
#      1 s (the lookup would take 8), twice in one session in under 1.5 s, and findings('pool') reports
#      pooler_unreachable in under 1 s;
#   2. pgbouncer_timeout = 20s and statement_timeout = 300ms: the call ends with 57014 in under 1.5 s;
#   3. pgbouncer_timeout = 20s and pg_cancel_backend() from another session 300 ms in: 57014 in under 1.5 s;
#   4. a name answered at once (fast-pgbouncer.apes.test -> 127.0.0.1) at the cluster's own port is connected to
#      through the resolved address: PostgreSQL itself refuses PgBouncer's SHOW POOLS, which proves the connection;
#   5. a pg_monitor role sees "timed out looking up a host name", not the name (the DSN is superuser-only).
#   6. a lookup the deadline cut short is kept when it finishes: 10 s later the same session connects at once.
# The cluster is restarted in the machine's own namespace at the end.  Needs root (unshare, port 53); elsewhere it
# says so and exits 0 after checking nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${APES_PGDATA:?run inside test/cluster.sh}"
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
    echo "skipped: needs root and unshare to give the server a resolver of its own"; exit 0
fi
db=apes_dns
dir=$(mktemp -d)
dns_pid=""
failures=()
fail() { echo "FAIL: $*"; failures+=("$*"); }

restart_plain() {
    "$here/pgctl.sh" stop >/dev/null 2>&1 || true
    "$here/pgctl.sh" start >/dev/null
}
cleanup() {
    local rc=$?
    [ -n "$dns_pid" ] && kill "$dns_pid" 2>/dev/null || true
    # back to the machine's own resolver
    if [ -f "$dir/in_namespace" ]; then restart_plain || echo "restarting the cluster failed"; fi
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    rm -rf "$dir"
    exit "$rc"
}
trap cleanup EXIT

python3 "$here/slow_dns.py" 127.0.0.77 8 >"$dir/dns.out" 2>"$dir/dns.err" &
dns_pid=$!
for _ in $(seq 1 50); do grep -q ready "$dir/dns.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$dir/dns.out" || { cat "$dir/dns.err"; echo "the test DNS server did not start"; exit 1; }
printf 'nameserver 127.0.0.77\noptions timeout:20 attempts:1\n' >"$dir/resolv.conf"
chmod 644 "$dir/resolv.conf"; chmod 755 "$dir"

echo "== restarting the cluster with a resolver that takes 8 s for names beginning with slow"
"$here/pgctl.sh" stop >/dev/null
touch "$dir/in_namespace"
unshare --mount --propagation private \
    sh -c 'mount --bind "$1" /etc/resolv.conf && exec "$2"/pgctl.sh start' sh "$dir/resolv.conf" "$here" >/dev/null
psql -X -q -d postgres -c "CREATE DATABASE $db"
q() { psql -X -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
q -q -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS apes_dns_monitor" \
    -c "CREATE EXTENSION pg_apes_health" -c "CREATE ROLE apes_dns_monitor IN ROLE pg_monitor"

# timed SQL: prints "SQLSTATE milliseconds message" of a statement run in a DO block, timed on the server
timed() {
    local settings=$1 stmt=$2
    q -c "$settings" -c "DO \$\$
DECLARE t0 timestamptz := clock_timestamp(); st text := '00000'; msg text := '';
BEGIN
    BEGIN
        $stmt;
    EXCEPTION WHEN query_canceled OR OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    END;
    RAISE NOTICE 'result % % %', st, round(extract(epoch FROM clock_timestamp() - t0) * 1000), msg;
END \$\$" 2>&1 | sed -n 's/^.*NOTICE:  result //p'
}
# check LABEL RESULT SQLSTATE MAX_MS [PATTERN]
check() {
    local label=$1 res=$2 want=$3 max=$4 pat=${5:-}
    local st ms msg
    read -r st ms msg <<<"$res"
    echo "  $label: SQLSTATE $st after $ms ms: $msg"
    [ "$st" = "$want" ] || fail "$label: SQLSTATE $st, not $want ($msg)"
    [ -n "$ms" ] && [ "$ms" -le "$max" ] || fail "$label: took $ms ms, more than $max"
    [ -z "$pat" ] || grep -qE "$pat" <<<"$msg" || fail "$label: the message does not match /$pat/: $msg"
}
slow="SET pg_apes_health.pgbouncer_dsn = 'host=slow-pgbouncer.apes.test port=6432 dbname=pgbouncer'"

echo "== 1. pgbouncer_timeout = 100ms against an 8 s lookup"
check "apes.pgbouncer_pools()" "$(timed "$slow; SET pg_apes_health.pgbouncer_timeout = '100ms'" \
    "PERFORM * FROM apes.pgbouncer_pools()")" 08001 1000 'timed out looking up host name "slow-pgbouncer.apes.test"'
res=$(timed "$slow; SET pg_apes_health.pgbouncer_timeout = '100ms'" \
    "PERFORM 1 FROM apes.findings('pool') WHERE check_id = 'pooler_unreachable' HAVING count(*) = 1;
     IF NOT FOUND THEN RAISE EXCEPTION 'no pooler_unreachable finding'; END IF")
check "findings('pool') reports pooler_unreachable" "$res" 00000 1000
# twice in one session: the second call finds the first lookup still running in its thread and waits on it (it
# does not start another), again only until its own deadline
check "two calls in one session" "$(timed "$slow; SET pg_apes_health.pgbouncer_timeout = '100ms'" \
    "BEGIN PERFORM * FROM apes.pgbouncer_pools(); EXCEPTION WHEN OTHERS THEN NULL; END;
     PERFORM * FROM apes.pgbouncer_pools()")" 08001 1500 'timed out looking up'

echo "== 2. statement_timeout = 300ms, pgbouncer_timeout = 20s"
check "statement_timeout" "$(timed "$slow; SET pg_apes_health.pgbouncer_timeout = '20s'; SET statement_timeout = '300ms'" \
    "PERFORM * FROM apes.pgbouncer_pools()")" 57014 1500

echo "== 3. pg_cancel_backend() 300 ms in, pgbouncer_timeout = 20s"
q -c "SELECT 1" >/dev/null
( sleep 0.3; psql -X -At -d "$db" -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity
      WHERE datname = '$db' AND query LIKE '%apes.pgbouncer_pools()%' AND pid <> pg_backend_pid()" >"$dir/cancel.out" 2>&1 ) &
canceller=$!
res=$(timed "$slow; SET pg_apes_health.pgbouncer_timeout = '20s'" "PERFORM * FROM apes.pgbouncer_pools()")
wait "$canceller"
check "pg_cancel_backend()" "$res" 57014 1500
grep -qx t "$dir/cancel.out" || fail "the cancel found no backend to cancel: $(cat "$dir/cancel.out")"

echo "== 4. a name answered at once is connected to through its address"
res=$(timed "SET pg_apes_health.pgbouncer_dsn = 'host=fast-pgbouncer.apes.test port=$PGPORT dbname=$db user=$PGUSER password=$PGPASSWORD'" \
    "PERFORM * FROM apes.pgbouncer_pools()")
check "fast-pgbouncer.apes.test" "$res" 08001 2000 'POOLS|pools'

echo "== 5. a pg_monitor role is not told the host name"
res=$(timed "$slow; SET pg_apes_health.pgbouncer_timeout = '100ms'; SET ROLE apes_dns_monitor" \
    "PERFORM * FROM apes.pgbouncer_pools()")
check "as pg_monitor" "$res" 08001 1000 'timed out looking up a host name \(a superuser sees which\)'
grep -q slow-pgbouncer <<<"$res" && fail "the pg_monitor role was told the host name: $res"
q -q -c "DROP ROLE apes_dns_monitor"

echo "== 6. a lookup cut short by its deadline finishes in its thread; its answer serves the next call"
# the first call gives up after 100 ms; 10 s later the 8 s lookup has finished, and a call in the same session
# connects at once (to the address the test DNS server gave, where nothing listens) instead of timing out again
res=$(timed "$slow; SET pg_apes_health.pgbouncer_timeout = '100ms'" \
    "BEGIN PERFORM * FROM apes.pgbouncer_pools(); EXCEPTION WHEN OTHERS THEN NULL; END;
     PERFORM pg_sleep(10);
     PERFORM * FROM apes.pgbouncer_pools()")
check "the late answer kept" "$res" 08001 12000
grep -q 'timed out looking up' <<<"$res" && fail "the late answer was thrown away: $res"

if [ ${#failures[@]} -ne 0 ]; then
    echo "${#failures[@]} check(s) failed:"; printf '  %s\n' "${failures[@]}"; exit 1
fi
echo "every lookup ended at its deadline, cancel or statement_timeout; resolved names were connected to"
