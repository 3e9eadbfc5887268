#!/usr/bin/env bash
# pg_apes_health pool benchmark: speed and agreement of apes.pools, apes.connection_capacity() and apes.blocking
# against plain SQL over pg_stat_activity (bench/pool/plain_sql.sql), with 250 client sessions held open.
# See bench/pool/README.md.
#
#   bench/pool/run.sh                 needs `make install` done first (uses the installed extension)
#
# Outside a cluster it re-executes itself inside a throwaway pg_virtualenv cluster (PostgreSQL 15, max_connections =
# 300); inside, it creates four application roles and two databases (setup.sql), opens the client sessions, each a
# psql process reading its SQL from a FIFO that this script holds open (so the session stays connected in the state
# its SQL left it in):
#   150 idle, 50 idle in transaction (one of them holds the row the blocking chain fights over), 30 active in
#   pg_sleep(), 20 blocked in a chain (1 waits on the holder's transaction id while holding an ACCESS EXCLUSIVE lock
#   on t_mid, 9 queue behind it on the row's tuple lock, 10 wait for t_mid), spread over 8 pools
#   (database, role, application, client address: 127.0.0.1, ::1 and the Unix socket),
# then compares both sides (compare.sql), times them in one session (timing.sql), times them again from a client
# (pgbench, optional), checks that the sessions are still in their states, and closes every session (trap).
#
# Environment (all optional):
#   BENCH_RUNS=50            measured runs per contender (server side), after BENCH_WARMUP=3 warm-up runs
#   BENCH_TARGET_MS=5        target: median of each apes call, ms (server side)
#   BENCH_IDLE=150           idle sessions          BENCH_IIT=50      idle in transaction (>= 1: the lock holder)
#   BENCH_ACTIVE=30          active in pg_sleep      BENCH_BLOCKED=20  blocked in the chain (>= 1)
#   BENCH_MAX_CONNECTIONS=300  max_connections of the throwaway cluster
#   BENCH_CLIENT=1           also time from a client with pgbench (-n -c 1, one random contender per transaction,
#                            per-transaction log); 0: skip
#   BENCH_STRICT=1           exit 1 when a target is not met or the counts differ (default 0: only report)
#   BENCH_HOOK=cmd           run cmd (through bash -c, database apes_pool in PGDATABASE) while the sessions are still
#                            held, after the timing: for investigating, e.g. BENCH_HOOK='psql -f my_probe.sql'
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
MAXCONN=${BENCH_MAX_CONNECTIONS:-300}

if [[ -z "${PGPORT:-}" || -z "${APES_BENCH_INNER:-}" ]]; then
    command -v pg_virtualenv >/dev/null || { echo "bench: pg_virtualenv not found (apt-get install postgresql-common)" >&2; exit 1; }
    export APES_BENCH_INNER=1
    # -t: cluster files in a temporary directory even as root.  listen_addresses: ::1 too, for an IPv6 pool (the
    # server starts even if ::1 cannot be bound; the script then falls back to 127.0.0.1).  autovacuum=off: no worker
    # comes and goes between the two sides of a comparison.  fsync=off only speeds up the setup; nothing timed writes.
    # Other throwaway clusters starting at the same moment can take the port pg_virtualenv picked ("Port conflict"):
    # retry a few times, but only when this script did not start inside the cluster.
    APES_POOL_STARTED=$(mktemp /tmp/apes_pool_started.XXXXXX)
    export APES_POOL_STARTED
    trap 'rm -f "$APES_POOL_STARTED"' EXIT
    for attempt in 1 2 3; do
        rc=0
        pg_virtualenv -t -v 15 \
            -o max_connections="$MAXCONN" \
            -o listen_addresses='127.0.0.1,::1' \
            -o shared_preload_libraries=pg_stat_statements \
            -o autovacuum=off \
            -o fsync=off \
            "$SELF" "$@" || rc=$?
        [[ $rc != 0 && ! -s "$APES_POOL_STARTED" && $attempt -lt 3 ]] || break
        echo "bench: pg_virtualenv failed before the benchmark started (rc $rc); retrying" >&2
        sleep $(( attempt * 2 ))
    done
    exit "$rc"
fi

[[ -n "${APES_POOL_STARTED:-}" ]] && echo started >"$APES_POOL_STARTED"
RUNS=${BENCH_RUNS:-50}
WARMUP=${BENCH_WARMUP:-3}
TARGET_MS=${BENCH_TARGET_MS:-5}
N_IDLE=${BENCH_IDLE:-150}
N_IIT=${BENCH_IIT:-50}
N_ACTIVE=${BENCH_ACTIVE:-30}
N_BLOCKED=${BENCH_BLOCKED:-20}
CLIENT=${BENCH_CLIENT:-1}
STRICT=${BENCH_STRICT:-0}
PGBENCH=${PGBENCH:-/usr/lib/postgresql/15/bin/pgbench}
DB=apes_pool
DB_B=apes_pool_b
APP_ROLES="'app_web', 'app_api', 'app_report', 'app_batch'"

for v in RUNS WARMUP N_IDLE N_IIT N_ACTIVE N_BLOCKED; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "bench: $v must be a non-negative integer" >&2; exit 1; }
done
[[ "$TARGET_MS" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "bench: BENCH_TARGET_MS must be a number" >&2; exit 1; }
(( RUNS >= 1 && N_IIT >= 1 && N_BLOCKED >= 1 )) || { echo "bench: BENCH_RUNS, BENCH_IIT and BENCH_BLOCKED must be >= 1" >&2; exit 1; }

# The plan: how the sessions split over pools.  Every count may be 0 except the lock holder and the chain's middle.
IDLE_WEB4=$(( N_IDLE * 40 / 100 ))      # apes_pool   app_web    web           127.0.0.1   idle
IDLE_WEBS=$(( N_IDLE * 27 / 100 ))      # apes_pool   app_web    web           socket      idle
IDLE_API6=$(( N_IDLE * 20 / 100 ))      # apes_pool_b app_api    api           ::1         idle
IDLE_REP=$(( N_IDLE - IDLE_WEB4 - IDLE_WEBS - IDLE_API6 ))  # apes_pool app_report report 127.0.0.1 idle
IIT_BATCH=$(( (N_IIT - 1) / 2 ))        # apes_pool   app_batch  batch         127.0.0.1   BEGIN; txid_current()
IIT_API6=$(( (N_IIT - 1) / 5 ))         # apes_pool_b app_api    api           ::1         BEGIN; SELECT 1
IIT_WEB4=$(( N_IIT - 1 - IIT_BATCH - IIT_API6 ))  # apes_pool app_web web 127.0.0.1  REPEATABLE READ snapshot
                                        # + 1 lock holder: apes_pool app_batch batch_locker 127.0.0.1
                                        # N_ACTIVE: apes_pool app_report report 127.0.0.1 pg_sleep
BLK_TUPLE=$(( (N_BLOCKED - 1) / 2 ))    # apes_pool   app_web    web           127.0.0.1   UPDATE the held row
BLK_REL=$(( N_BLOCKED - 1 - BLK_TUPLE ))  # apes_pool app_api    api           127.0.0.1   SELECT from t_mid
                                        # + 1 middle: apes_pool app_batch batch_mover 127.0.0.1
N_TOTAL=$(( N_IDLE + N_IIT + N_ACTIVE + N_BLOCKED ))
REPORT_LIMIT=$(( IDLE_REP + N_ACTIVE + 10 ))
B_LIMIT=$(( IDLE_API6 + IIT_API6 + 80 ))

if (( N_TOTAL + 10 > MAXCONN - 3 )); then
    echo "bench: $N_TOTAL sessions do not fit in max_connections=$MAXCONN (BENCH_MAX_CONNECTIONS)" >&2
    exit 1
fi

WORK=$(mktemp -d /tmp/apes_pool.XXXXXX)
PSQL=(psql -X -q -v ON_ERROR_STOP=1)
PW=${PGPASSWORD:-apes_pool_bench}
SESS_PIDS=()
SESS_FDS=()
T_START=$(date +%s.%N)
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
step() { printf '   %-62s %6s s (total %s s)\n' "$1" "$(since "$2")" "$(since "$T_START")"; }
load() { sed 's/.*load average: *//' /proc/loadavg 2>/dev/null | awk '{ print $1 ", " $2 ", " $3 }'; }
q() { "${PSQL[@]}" -d "$DB" -Atc "$1"; }

# Close every session: terminate their backends (the pg_sleep and blocked ones would not read their input), close the
# FIFOs (the idle psql processes read EOF and exit), then TERM any psql still running, by its pid.
cleanup() {
    local rc=$? alive i p fd
    set +e
    trap - EXIT INT TERM
    if (( ${#SESS_PIDS[@]} > 0 )); then
        "${PSQL[@]}" -d postgres -Atc "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                                        WHERE usename IN ($APP_ROLES)" >/dev/null 2>&1
        for fd in "${SESS_FDS[@]}"; do exec {fd}>&-; done
        for (( i = 0; i < 50; i++ )); do
            alive=0
            for p in "${SESS_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && { alive=1; break; }; done
            (( alive )) || break
            sleep 0.1
        done
        for p in "${SESS_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && kill -TERM "$p" 2>/dev/null; done
        wait "${SESS_PIDS[@]}" 2>/dev/null
        echo "   cleanup: ${#SESS_PIDS[@]} client sessions closed; load $(load)"
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap '' PIPE            # a session that died must not kill the script when its FIFO is written

# open_session <db> <role> <application> <host> <sql>: a psql process connected as <role>, fed from a FIFO that stays
# open (so it never sees EOF); it first runs <sql>, then waits.  The child closes the FIFOs of the earlier sessions, so
# each psql holds only its own.
open_session() {
    local i=${#SESS_PIDS[@]} fd
    mkfifo "$WORK/fifo.$i"
    (
        for f in "${SESS_FDS[@]}"; do exec {f}>&-; done
        export PGPASSWORD="$PW"
        exec psql -X -q -v ON_ERROR_STOP=1 "host=$4 port=$PGPORT dbname=$1 user=$2 application_name=$3" \
            >/dev/null 2>"$WORK/err.$i"
    ) <"$WORK/fifo.$i" &
    SESS_PIDS+=($!)
    exec {fd}>"$WORK/fifo.$i"
    SESS_FDS+=("$fd")
    printf '%s\n' "$5" >&"$fd" || true
}
open_n() { local k; for (( k = 0; k < $1; k++ )); do open_session "${@:2}"; done; }

# wait_until <what> <seconds> <query returning t/f>
wait_until() {
    local deadline=$(( SECONDS + $2 )) f
    until [[ "$(q "$3" 2>/dev/null)" == t ]]; do
        if (( SECONDS >= deadline )); then
            echo "bench: timed out after $2 s waiting for: $1" >&2
            "${PSQL[@]}" -d postgres -c "SELECT datname, usename, application_name, state, wait_event_type, wait_event,
                                                count(*) FROM pg_stat_activity WHERE usename IN ($APP_ROLES)
                                          GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6" >&2 || true
            for f in "$WORK"/err.*; do [[ -s "$f" ]] && { echo "--- session ${f##*.}:" >&2; head -5 "$f" >&2; }; done
            exit 1
        fi
        sleep 0.2
    done
}

echo "== pg_apes_health pool benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "   server: $("${PSQL[@]}" -d postgres -Atc 'SELECT version()')"
echo "   host:   $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo);" \
     "load at start: $(load)"
echo "   commit: $(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo '?')" \
     "$(git -C "$HERE" status --porcelain -- ../../src 2>/dev/null | grep -q . && echo '(src/ has uncommitted changes)')"
echo "   sessions: idle=$N_IDLE idle_in_transaction=$N_IIT active_pg_sleep=$N_ACTIVE blocked=$N_BLOCKED" \
     "(total $N_TOTAL, max_connections=$("${PSQL[@]}" -d postgres -Atc 'SHOW max_connections'));" \
     "runs=$RUNS warmup=$WARMUP target=${TARGET_MS} ms"

# ---------------------------------------------------------------------------------------------------------------------
# 1. roles, databases, tables, the extension, the plain-SQL views
t=$(now)
if ! "${PSQL[@]}" -d postgres -Atc "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_apes_health'" | grep -q 1; then
    echo "bench: extension pg_apes_health is not installed for $(pg_config --version); run 'make install' first." >&2
    exit 1
fi
"${PSQL[@]}" -d postgres -v pw="$PW" -v report_limit="$REPORT_LIMIT" -v b_limit="$B_LIMIT" \
    -v plain_sql="$HERE/plain_sql.sql" -f "$HERE/setup.sql" >/dev/null
echo "   extension: pg_apes_health $(q "SELECT extversion FROM pg_extension WHERE extname = 'pg_apes_health'")" \
     "(library $(q 'SELECT apes.version()' 2>/dev/null || echo '?'), installed" \
     "$(stat -c %y "$(pg_config --pkglibdir)/pg_apes_health.so" 2>/dev/null | cut -d. -f1 || echo '?'))"

# Unix-socket sessions: the throwaway cluster only has peer authentication on the socket, which fails for these roles
# (and for root), so let local connections in with trust.  IPv6: ::1 if the server listens there.
HBA=$(q 'SHOW hba_file')
SOCK_DIR=$(q 'SHOW unix_socket_directories' | cut -d, -f1 | sed 's/^ *//')
if [[ -w "$HBA" ]]; then
    sed -i '1i local all all trust  # bench/pool' "$HBA"
    q 'SELECT pg_reload_conf()' >/dev/null
    sleep 0.5
fi
if PGPASSWORD="$PW" psql -X -Atc 'SELECT 1' "host=$SOCK_DIR port=$PGPORT dbname=$DB user=app_web" >/dev/null 2>&1; then
    HOST_SOCK=$SOCK_DIR; APP_SOCK=web
else
    HOST_SOCK=127.0.0.1; APP_SOCK=web_tcp
    echo "   note: no Unix-socket connection possible; the socket pool connects over 127.0.0.1 as application web_tcp"
fi
if PGPASSWORD="$PW" psql -X -Atc 'SELECT 1' "host=::1 port=$PGPORT dbname=$DB_B user=app_api" >/dev/null 2>&1; then
    HOST6=::1
else
    HOST6=127.0.0.1
    echo "   note: no IPv6 loopback; the ::1 pool connects over 127.0.0.1"
fi
step "setup (roles, databases, extension, plain-SQL views)" "$t"

# ---------------------------------------------------------------------------------------------------------------------
# 2. the sessions
t=$(now)
open_n "$IDLE_WEB4" "$DB"   app_web    web    127.0.0.1    'SELECT 1;'
open_n "$IDLE_WEBS" "$DB"   app_web    "$APP_SOCK" "$HOST_SOCK" 'SELECT 1;'
open_n "$IDLE_API6" "$DB_B" app_api    api    "$HOST6"     'SELECT 1;'
open_n "$IDLE_REP"  "$DB"   app_report report 127.0.0.1    'SELECT 1;'
open_n "$IIT_BATCH" "$DB"   app_batch  batch  127.0.0.1    'BEGIN; SELECT txid_current();'
open_n "$IIT_API6"  "$DB_B" app_api    api    "$HOST6"     'BEGIN; SELECT 1;'
open_n "$IIT_WEB4"  "$DB"   app_web    web    127.0.0.1    'BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM acct;'
open_n "$N_ACTIVE"  "$DB"   app_report report 127.0.0.1    'SELECT pg_sleep(3600);'
wait_until "$N_IDLE idle, $(( N_IIT - 1 )) idle in transaction, $N_ACTIVE in pg_sleep" 120 "
    SELECT count(*) FILTER (WHERE state = 'idle') = $N_IDLE
       AND count(*) FILTER (WHERE state = 'idle in transaction') = $(( N_IIT - 1 ))
       AND count(*) FILTER (WHERE state = 'active' AND wait_event = 'PgSleep') = $N_ACTIVE
       AND count(*) = $(( N_IDLE + N_IIT - 1 + N_ACTIVE ))
      FROM pg_stat_activity WHERE usename IN ($APP_ROLES)"
step "$(( N_IDLE + N_IIT - 1 + N_ACTIVE )) idle / idle-in-transaction / pg_sleep sessions connected" "$t"

# The blocking chain, one link at a time so every session waits where it is meant to.
t=$(now)
open_session "$DB" app_batch batch_locker 127.0.0.1 'BEGIN; UPDATE acct SET n = n + 1 WHERE id = 1;'
wait_until "the lock holder" 30 "
    SELECT count(*) = 1 FROM pg_stat_activity
     WHERE application_name = 'batch_locker' AND state = 'idle in transaction' AND backend_xid IS NOT NULL"
open_session "$DB" app_batch batch_mover 127.0.0.1 \
    'BEGIN; LOCK TABLE t_mid IN ACCESS EXCLUSIVE MODE; UPDATE acct SET n = n + 1 WHERE id = 1;'
wait_until "the middle of the chain" 30 "
    SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'batch_mover' AND wait_event_type = 'Lock'"
open_n "$BLK_TUPLE" "$DB" app_web web 127.0.0.1 'UPDATE acct SET n = n + 1 WHERE id = 1;'
wait_until "$BLK_TUPLE sessions queued on the row" 60 "
    SELECT count(*) = $BLK_TUPLE FROM pg_stat_activity
     WHERE usename = 'app_web' AND wait_event_type = 'Lock' AND wait_event = 'tuple'"
open_n "$BLK_REL" "$DB" app_api api 127.0.0.1 'SELECT count(*) FROM t_mid;'
wait_until "$N_BLOCKED blocked sessions" 60 "
    SELECT count(*) = $N_BLOCKED FROM pg_stat_activity WHERE usename IN ($APP_ROLES) AND wait_event_type = 'Lock'"

HELD_CHECK="
    SELECT count(*) = $N_TOTAL
       AND count(*) FILTER (WHERE state = 'idle') = $N_IDLE
       AND count(*) FILTER (WHERE state = 'idle in transaction') = $N_IIT
       AND count(*) FILTER (WHERE state = 'active' AND wait_event = 'PgSleep') = $N_ACTIVE
       AND count(*) FILTER (WHERE state = 'active' AND wait_event_type = 'Lock') = $N_BLOCKED
      FROM pg_stat_activity WHERE usename IN ($APP_ROLES)"
wait_until "all $N_TOTAL sessions in their states" 30 "$HELD_CHECK"
step "blocking chain built; $N_TOTAL sessions held" "$t"
# deadlock_timeout after it starts waiting, each blocked backend runs one deadlock check; during it its wait event is
# cleared, so it drops out of wait_event_type = 'Lock' (in pg_stat_activity and in apes.blocking alike) for that moment.
# Let every check pass before comparing or timing.
t=$(now)
DLT_MS=$(q "SELECT setting FROM pg_settings WHERE name = 'deadlock_timeout'")
sleep "$(awk -v ms="$DLT_MS" 'BEGIN { printf "%.1f", ms / 1000 + 1 }')"
step "waited deadlock_timeout (${DLT_MS} ms) + 1 s: deadlock checks done" "$t"
echo
"${PSQL[@]}" -d "$DB" -P footer=off -c "
    SELECT datname AS database, usename AS role, application_name AS application,
           coalesce(host(client_addr), '(socket)') AS client_addr, state,
           coalesce(wait_event_type || ':' || wait_event, '') AS wait, count(*) AS sessions
      FROM pg_stat_activity WHERE usename IN ($APP_ROLES)
     GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6"

# ---------------------------------------------------------------------------------------------------------------------
# 3. side by side
t=$(now)
N_POOLS=0
for n in $(( IDLE_WEB4 + IIT_WEB4 + BLK_TUPLE )) "$IDLE_WEBS" $(( IDLE_API6 + IIT_API6 )) $(( IDLE_REP + N_ACTIVE )) \
         1 "$IIT_BATCH" 1 "$BLK_REL"; do
    if (( n > 0 )); then N_POOLS=$(( N_POOLS + 1 )); fi
done
N_ROLES=2                                                   # postgres (this session) and app_batch
for n in $(( IDLE_WEB4 + IDLE_WEBS + IIT_WEB4 + BLK_TUPLE )) $(( IDLE_API6 + IIT_API6 + BLK_REL )) \
         $(( IDLE_REP + N_ACTIVE )); do
    if (( n > 0 )); then N_ROLES=$(( N_ROLES + 1 )); fi
done
N_DBS=1
if (( IDLE_API6 + IIT_API6 > 0 )); then N_DBS=2; fi
"${PSQL[@]}" -d "$DB" -v n_total="$N_TOTAL" -v n_pools="$N_POOLS" -v n_idle="$N_IDLE" -v n_iit="$N_IIT" \
    -v n_active=$(( N_ACTIVE + N_BLOCKED )) -v n_waiting=$(( N_ACTIVE + N_BLOCKED )) -v n_blocked="$N_BLOCKED" \
    -v n_roles="$N_ROLES" -v n_dbs="$N_DBS" -v n_tuple="$BLK_TUPLE" -v n_relation="$BLK_REL" \
    -f "$HERE/compare.sql" | tee "$WORK/compare.out"
step "comparison" "$t"

# ---------------------------------------------------------------------------------------------------------------------
# 4. timing, server side, in one session
t=$(now)
echo "   load before timing: $(load)"
"${PSQL[@]}" -d "$DB" -v runs="$RUNS" -v warmup="$WARMUP" -v target_ms="$TARGET_MS" -f "$HERE/timing.sql" \
    | tee "$WORK/timing.out"
step "server-side timing" "$t"
echo "   load after timing: $(load)"

# ---------------------------------------------------------------------------------------------------------------------
# 5. timing, client side: pgbench, one connection, each transaction one contender picked at random (equal weights),
#    latency per transaction from its log; the first BENCH_WARMUP of each contender are not counted
LABELS=(apes.pools plain.pools 'apes.connection_capacity()' plain.connection_capacity apes.blocking plain.blocking)
SQLS=('SELECT * FROM apes.pools;' 'SELECT * FROM plain.pools;' 'SELECT * FROM apes.connection_capacity();'
      'SELECT * FROM plain.connection_capacity;' 'SELECT * FROM apes.blocking;' 'SELECT * FROM plain.blocking;')
if [[ "$CLIENT" == 1 ]]; then
    t=$(now)
    args=()
    for i in "${!SQLS[@]}"; do
        printf '%s\n' "${SQLS[$i]}" >"$WORK/client.$i.sql"
        args+=(-f "$WORK/client.$i.sql@1")
    done
    "$PGBENCH" -n -c 1 -j 1 -t $(( (RUNS + WARMUP) * ${#SQLS[@]} )) -l --log-prefix="$WORK/pgbench" "${args[@]}" "$DB" \
        >"$WORK/pgbench.out" 2>&1 || { cat "$WORK/pgbench.out" >&2; exit 1; }
    echo
    echo "== client-side latency (pgbench, simple protocol, TCP to localhost: parse, plan, execute, rows to the client), ms"
    # log line: client_id transaction_no latency_us script_no epoch epoch_us; keep "script latency_ms" after warm-up
    cat "$WORK"/pgbench.[0-9]* \
        | awk -v warm="$WARMUP" '{ if (++seen[$4] > warm) printf "%d %.3f\n", $4, $3 / 1000 }' \
        | sort -k1,1n -k2,2g \
        | awk -v labels="$(IFS='|'; echo "${LABELS[*]}")" '
        function pct(p,   pos, lo) { pos = 1 + p * (m - 1); lo = int(pos)
                                     return lo >= m ? a[m] : a[lo] + (pos - lo) * (a[lo + 1] - a[lo]) }
        function flush() { if (m > 0) { med[cur] = pct(0.5); p95[cur] = pct(0.95); cnt[cur] = m }; m = 0 }
        NR == 1 || $1 != cur { flush(); cur = $1 }
        { a[++m] = $2 }
        END {
            flush()
            split(labels, lab, "|")
            printf "   %-28s %10s %10s %5s\n", "contender", "median_ms", "p95_ms", "n"
            for (s = 0; s < 6; s++) {
                printf "   %-28s %10.3f %10.3f %5d\n", lab[s + 1], med[s], p95[s], cnt[s]
                printf "CLIENT %s median=%.3f p95=%.3f\n", lab[s + 1], med[s], p95[s] > "/dev/stderr"
            }
            for (s = 0; s < 6; s += 2)
                if (med[s] > 0 && p95[s] > 0)
                    printf "   ratio plain/apes %-16s median %.2fx, p95 %.2fx\n", lab[s + 1] ":", med[s + 1] / med[s], p95[s + 1] / p95[s]
        }' 2>"$WORK/client.lines"
    step "client-side timing" "$t"
fi

if [[ -n "${BENCH_HOOK:-}" ]]; then
    echo
    echo "== BENCH_HOOK: $BENCH_HOOK"
    PGDATABASE=$DB bash -c "$BENCH_HOOK" || echo "bench: BENCH_HOOK exited with $?" >&2
fi

# ---------------------------------------------------------------------------------------------------------------------
# 6. the sessions must still be where they were put, or the numbers above timed something else
if [[ "$(q "$HELD_CHECK")" == t ]]; then HELD=yes; else HELD=NO; fi
echo
echo "== summary (load now: $(load))"
echo "   sessions still in their states after timing: $HELD"
printf '   %-28s %12s %12s %12s %12s\n' contender server_median server_p95 client_median client_p95
for l in "${LABELS[@]}" "floor: status array copy"; do
    sm=$(grep -F "TIMING $l median=" "$WORK/timing.out" | sed 's/.*median=\([^ ]*\) p95=\(.*\)/\1 \2/' || true)
    cm=$(grep -F "CLIENT $l median=" "$WORK/client.lines" 2>/dev/null | sed 's/.*median=\([^ ]*\) p95=\(.*\)/\1 \2/' || true)
    # shellcheck disable=SC2086
    printf '   %-28s %12s %12s %12s %12s\n' "$l" ${sm:-- -} ${cm:-- -}
done
grep -E '^(TIMING|COUNTS) VERDICT' "$WORK/timing.out" "$WORK/compare.out" -h | sed 's/^/   /'
if grep -q 'TIMING VERDICT: ALL TARGETS MET' "$WORK/timing.out" && grep -q 'COUNTS VERDICT: ALL COUNTS MATCH' "$WORK/compare.out" \
   && [[ "$HELD" == yes ]]; then
    echo "BENCH VERDICT: ALL TARGETS MET"
else
    echo "BENCH VERDICT: TARGETS NOT MET"
    if [[ "$STRICT" == 1 ]]; then
        echo "bench: targets not met (BENCH_STRICT=1)" >&2
        exit 1
    fi
fi
