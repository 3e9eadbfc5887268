#!/usr/bin/env bash
# PgBouncer's pools through the extension, against a real PgBouncer in front of the test cluster:
#   - with pg_apes_health.pgbouncer_dsn unset, apes.pgbouncer_pools() is empty and findings('pool') says
#     pooler_not_monitored;
#   - PgBouncer (transaction pooling, one server connection for the test database) started on 127.0.0.1 and a free
#     port: apes.pgbouncer_pools() lists the test database's pool;
#   - one client holds the only server connection (an open transaction), a second client queues: apes.pgbouncer_pools()
#     shows cl_waiting >= 1 and findings('pool') has pooler_clients_waiting for that pool; once the first client's
#     query is cancelled the queued client gets the connection and the queue and the finding are gone;
#   - a DSN at a closed port: apes.pgbouncer_pools() fails at once with SQLSTATE 08001 and findings('pool') reports
#     pooler_unreachable instead of failing;
#   - a DSN at a port that accepts connections but never answers: both give up at pg_apes_health.pgbouncer_timeout
#     (2 s, then 500 ms), and a statement_timeout shorter than that cancels the wait (SQLSTATE 57014).
# Run by test/run_tests.sh inside the test cluster (PGHOST, PGPORT, PGUSER and PGPASSWORD set by test/cluster.sh);
# exits non-zero with the reason on failure.  PgBouncer, the listener and the clients are stopped on exit.
set -euo pipefail

db=apes_pgbouncer
user=${PGUSER:-$(id -un)}
pw=${PGPASSWORD:?PGPASSWORD is not set: run this inside test/cluster.sh}
pgbouncer=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
[ -x "$pgbouncer" ] || { echo "pgbouncer is not installed (Debian package pgbouncer)"; exit 1; }

dir=$(mktemp -d)
bg_pids=()
cleanup() {
    local rc=$?
    if [ -s "$dir/pgbouncer.pid" ]; then kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true; fi
    for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${bg_pids[@]}"; do wait "$p" 2>/dev/null || true; done
    dropdb --if-exists --force "$db" >/dev/null 2>&1 || true   # --force: a client's backend may still be sleeping
    rm -rf "$dir"
    exit "$rc"
}
trap cleanup EXIT

fail() {
    echo "FAILED: $*"
    if [ -f "$dir/pgbouncer.log" ]; then echo "--- pgbouncer.log (last lines)"; tail -n 20 "$dir/pgbouncer.log"; fi
    exit 1
}

# A port nobody listens on at the moment (the kernel picks it).
free_port() {
    perl -MIO::Socket::INET -e '
        my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1, ReuseAddr => 1)
            or die "no free port: $!\n";
        print $s->sockport, "\n";'
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# sql DSN SQL...: run statements in the test database with pg_apes_health.pgbouncer_dsn set to DSN ('' leaves it
# unset) in the session; unaligned output, stderr kept, stops at the first error.
sql() {
    local dsn=$1; shift
    local args=()
    [ -n "$dsn" ] && args+=(-c "SET pg_apes_health.pgbouncer_dsn = '$dsn'")
    for s in "$@"; do args+=(-c "$s"); done
    psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$db" "${args[@]}"
}

createdb "$db"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE EXTENSION pg_apes_health"

echo "== no pg_apes_health.pgbouncer_dsn"
n=$(sql '' "SELECT count(*) FROM apes.pgbouncer_pools()" 2>"$dir/notice.txt")
echo "apes.pgbouncer_pools(): $n rows; $(head -n 1 "$dir/notice.txt")"
[ "$n" = 0 ] || fail "apes.pgbouncer_pools() returned $n rows without a DSN, not 0"
grep -q "pgbouncer_dsn is not set" "$dir/notice.txt" || fail "no notice that pgbouncer_dsn is not set"
f=$(sql '' "SELECT string_agg(check_id, ',' ORDER BY check_id) FROM apes.findings('pool') WHERE check_id LIKE 'pooler%'")
echo "pooler findings: $f"
[ "$f" = pooler_not_monitored ] || fail "findings('pool') has '$f' without a DSN, not pooler_not_monitored"

echo "== PgBouncer in front of the test cluster"
port=$(free_port)
cat >"$dir/pgbouncer.ini" <<EOF
[databases]
$db = host=127.0.0.1 port=$PGPORT dbname=$db pool_size=1

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $dir
auth_type = md5
auth_file = $dir/userlist.txt
admin_users = $user
pool_mode = transaction
default_pool_size = 1
reserve_pool_size = 0
min_pool_size = 0
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
printf '"%s" "%s"\n' "$user" "$pw" >"$dir/userlist.txt"
chmod 600 "$dir/userlist.txt"
# PgBouncer refuses to run as root
if [ "$(id -u)" = 0 ]; then
    chown -R postgres: "$dir"
    runuser -u postgres -- "$pgbouncer" "$dir/pgbouncer.ini" >"$dir/pgbouncer.out" 2>&1 &
else
    "$pgbouncer" "$dir/pgbouncer.ini" >"$dir/pgbouncer.out" 2>&1 &
fi
bg_pids+=("$!")
admin="host=127.0.0.1 port=$port dbname=pgbouncer user=$user"
for _ in $(seq 1 50); do
    psql -X -q -At "$admin" -c "SHOW VERSION" >/dev/null 2>&1 && break
    sleep 0.2
done
psql -X -q -At "$admin" -c "SHOW VERSION" >/dev/null 2>&1 || { cat "$dir/pgbouncer.out"; fail "PgBouncer did not start on port $port"; }
echo "$(psql -X -q -At "$admin" -c "SHOW VERSION" | head -n 1) on 127.0.0.1:$port"
dsn="$admin password=$pw"
through="host=127.0.0.1 port=$port dbname=$db user=$user"

[ "$(psql -X -q -At "$through" -c "SELECT 1")" = 1 ] || fail "a query through PgBouncer failed"
row=$(sql "$dsn" "SELECT database, \"user\", pool_mode FROM apes.pgbouncer_pools() WHERE database = '$db'")
echo "apes.pgbouncer_pools(): $row"
[ "$row" = "$db|$user|transaction" ] || fail "apes.pgbouncer_pools() does not list the pool $db/$user in transaction mode"

echo "== a client holds the only server connection, a second one queues"
psql -X -q "$through" -c "BEGIN" -c "SELECT pg_sleep(60)" -c "COMMIT" >"$dir/holder.out" 2>&1 &
bg_pids+=("$!")
for _ in $(seq 1 50); do
    busy=$(psql -X -q -At -d "$db" -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db'
                                        AND query = 'SELECT pg_sleep(60)' AND state = 'active'")
    [ "$busy" = 1 ] && break
    sleep 0.2
done
[ "$busy" = 1 ] || fail "the holding client's query does not run on the server"
psql -X -q -At "$through" -c "SELECT 'queued client served'" >"$dir/queued.out" 2>&1 &
queued=$!
bg_pids+=("$queued")
waiting=0
for _ in $(seq 1 50); do
    waiting=$(sql "$dsn" "SELECT coalesce(sum(cl_waiting), 0) FROM apes.pgbouncer_pools() WHERE database = '$db'")
    [ "$waiting" -ge 1 ] && break
    sleep 0.2
done
row=$(sql "$dsn" "SELECT format('cl_active %s, cl_waiting %s, sv_active %s, sv_idle %s, maxwait_seconds >= 0: %s',
                                cl_active, cl_waiting, sv_active, sv_idle, maxwait_seconds >= 0)
                    FROM apes.pgbouncer_pools() WHERE database = '$db'")
echo "apes.pgbouncer_pools(): $row"
[ "$waiting" -ge 1 ] || fail "apes.pgbouncer_pools() shows no waiting client ($row)"
sv_active=$(sql "$dsn" "SELECT sv_active FROM apes.pgbouncer_pools() WHERE database = '$db'")
[ "$sv_active" = 1 ] || fail "apes.pgbouncer_pools() shows sv_active $sv_active, not 1"
f=$(sql "$dsn" "SELECT format('%s %s [%s] cl_waiting %s', check_id, severity, object_name, evidence->>'cl_waiting')
                  FROM apes.findings('pool') WHERE check_id LIKE 'pooler%'")
echo "pooler findings: $f"
echo "$f" | grep -qx "pooler_clients_waiting \(warning\|critical\) \[pgbouncer pool $db/$user\] cl_waiting [1-9][0-9]*" ||
    fail "findings('pool') has no pooler_clients_waiting finding for the pool $db/$user"

echo "== the holding query cancelled: the queued client is served, the queue is empty"
psql -X -q -At -d "$db" -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity
                            WHERE datname = '$db' AND query = 'SELECT pg_sleep(60)' AND state = 'active'" >/dev/null
for _ in $(seq 1 50); do kill -0 "$queued" 2>/dev/null || break; sleep 0.2; done
kill -0 "$queued" 2>/dev/null && fail "the queued client was not served after the holder's query was cancelled"
grep -q "queued client served" "$dir/queued.out" || { cat "$dir/queued.out"; fail "the queued client's query failed"; }
echo "queued client: $(cat "$dir/queued.out")"
for _ in $(seq 1 25); do
    waiting=$(sql "$dsn" "SELECT coalesce(sum(cl_waiting), 0) FROM apes.pgbouncer_pools() WHERE database = '$db'")
    [ "$waiting" = 0 ] && break
    sleep 0.2
done
[ "$waiting" = 0 ] || fail "apes.pgbouncer_pools() still shows $waiting waiting clients"
f=$(sql "$dsn" "SELECT count(*) FROM apes.findings('pool') WHERE check_id LIKE 'pooler%'")
[ "$f" = 0 ] || fail "findings('pool') still has $f pooler findings with an empty queue"
echo "cl_waiting 0; no pooler finding"

# The deadlines are what a user relies on: a call never waits past them, give or take the time a psql round trip takes
# on this run (starting psql, connecting, the SETs), measured here, so that a loaded machine or a server under
# valgrind does not fail the test while a deadline that does not hold still does.
round_trip_ms() {
    local t0 best=999999 ms
    for _ in 1 2 3; do
        t0=$(now_ms); sql "" "SET pg_apes_health.pgbouncer_timeout = '2s'" "SELECT 1" >/dev/null; ms=$(( $(now_ms) - t0 ))
        [ "$ms" -lt "$best" ] && best=$ms
    done
    echo "$best"
}
rt=$(round_trip_ms)
slack=$(( 3 * rt + 1000 ))
echo "a psql round trip takes $rt ms on this run: deadlines are checked within $slack ms"

echo "== a DSN at a closed port"
closed=$(free_port)
bad="host=127.0.0.1 port=$closed dbname=pgbouncer user=$user password=$pw"
t0=$(now_ms)
rc=0
sql "$bad" "SELECT * FROM apes.pgbouncer_pools()" >"$dir/closed.out" 2>&1 || rc=$?
ms=$(( $(now_ms) - t0 ))
echo "apes.pgbouncer_pools() after $ms ms: $(grep -m1 ERROR "$dir/closed.out" || true)"
[ "$rc" -ne 0 ] || fail "apes.pgbouncer_pools() did not fail with a DSN at a closed port"
grep -q "ERROR:  08001" "$dir/closed.out" || { cat "$dir/closed.out"; fail "the error's SQLSTATE is not 08001"; }
[ "$ms" -lt $(( 2000 + slack )) ] || fail "apes.pgbouncer_pools() took $ms ms to fail at a closed port (deadline 2 s)"
t0=$(now_ms)
f=$(sql "$bad" "SELECT check_id || ' ' || severity FROM apes.findings('pool') WHERE check_id LIKE 'pooler%'")
ms=$(( $(now_ms) - t0 ))
echo "pooler findings after $ms ms: $f"
[ "$f" = "pooler_unreachable warning" ] || fail "findings('pool') has '$f' with a DSN at a closed port, not pooler_unreachable"
[ "$ms" -lt $(( 2000 + slack )) ] || fail "findings('pool') took $ms ms with a DSN at a closed port (deadline 2 s)"

echo "== a DSN at a port that accepts connections and never answers"
perl -MIO::Socket::INET -e '
    $| = 1;
    my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 16, ReuseAddr => 1)
        or die "cannot listen: $!\n";
    print $s->sockport, "\n";
    sleep 300;' >"$dir/silent.port" &
bg_pids+=("$!")
for _ in $(seq 1 50); do [ -s "$dir/silent.port" ] && break; sleep 0.1; done
silent="host=127.0.0.1 port=$(cat "$dir/silent.port") dbname=pgbouncer user=$user password=$pw"
# timeout_case LABEL DEADLINE_MS SQLSTATE SETTINGS: apes.pgbouncer_pools() fails with SQLSTATE, not before the
# deadline (less 5%: the clocks of psql and the server are not the same) and not later than the deadline and the slack
timeout_case() {
    local label=$1 deadline=$2 state=$3 settings=$4 rc=0 t0 ms min max
    min=$(( deadline * 95 / 100 )) max=$(( deadline + slack ))
    t0=$(now_ms)
    sql "$silent" "$settings" "SELECT * FROM apes.pgbouncer_pools()" >"$dir/silent.out" 2>&1 || rc=$?
    ms=$(( $(now_ms) - t0 ))
    echo "$label: failed after $ms ms: $(grep -m1 ERROR "$dir/silent.out" || true)"
    [ "$rc" -ne 0 ] || fail "$label: apes.pgbouncer_pools() did not fail"
    grep -q "ERROR:  $state" "$dir/silent.out" || { cat "$dir/silent.out"; fail "$label: SQLSTATE is not $state"; }
    if [ "$ms" -lt "$min" ] || [ "$ms" -ge "$max" ]; then fail "$label: took $ms ms, expected $min to $max ms"; fi
}
timeout_case "pgbouncer_timeout 2s" 2000 08001 "SET pg_apes_health.pgbouncer_timeout = '2s'"
grep -q "timed out" "$dir/silent.out" || fail "the error does not say the connection timed out"
timeout_case "pgbouncer_timeout 500ms" 500 08001 "SET pg_apes_health.pgbouncer_timeout = '500ms'"
timeout_case "statement_timeout 300ms, pgbouncer_timeout 60s" 300 57014 \
    "SET pg_apes_health.pgbouncer_timeout = '60s'; SET statement_timeout = '300ms'"
t0=$(now_ms)
f=$(sql "$silent" "SET pg_apes_health.pgbouncer_timeout = '500ms'"             \
        "SELECT check_id || ': ' || summary FROM apes.findings('pool') WHERE check_id LIKE 'pooler%'")
ms=$(( $(now_ms) - t0 ))
echo "pooler findings after $ms ms: $f"
[ "$f" = "pooler_unreachable: PgBouncer's admin console could not be read: timed out" ] ||
    fail "findings('pool') has '$f' with a silent pooler, not pooler_unreachable (timed out)"
[ "$ms" -lt $(( 500 + slack )) ] || fail "findings('pool') took $ms ms with a silent pooler and a 500 ms deadline"

echo "PgBouncer's pools, its queue and an unreachable pooler are reported as expected"
