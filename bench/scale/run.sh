#!/usr/bin/env bash
# pg_apes_health scale benchmark (issue 12, "cost that follows the work").  See bench/scale/README.md.
#
#   bash bench/scale/run.sh                   build what is missing (resumable), measure, print the targets table
#   bash bench/scale/run.sh --build-only      build what is missing, measure nothing
#   bash bench/scale/run.sh --stop            stop the benchmark's cluster and exit
#   SCALE_DIR=/var/tmp/pg_apes_health-scale-smoke SCALE_SMALL_TABLES=1000 SCALE_BIG_TABLES=3000 SPARSE_GB=20 \
#     SCALE_HIST_DAYS=2 SCALE_HIST_REL_DAYS=1 SCALE_STATEMENTS=2000 bash bench/scale/run.sh
#                                             a quick smoke run (about a minute) in a directory of its own
#
# What: the extension as installed (make install) against its targets at scale, each figure beside its reference,
# in one run: the 10,000-table catalog of bench/build_catalog.sql (health_json() in a new session and warm,
# findings('index') against the plain-SQL checks of bench/plain_sql_index_checks.sql, findings('pool'),
# apes.snapshot() with 5,000 statements on top of 30 days of synthetic history: time and WAL), the same catalog with
# 100,000 tables (health_json(), findings('index'), findings(), health_report(): time and peak memory; bloat_estimates
# against a plain-SQL estimate), and a sparse 1 TB table (table_bloat() sampled against pgstattuple_approx() under a
# statement_timeout; cancel latency; findings('bloat') against its time budget).
#
# How: a PERSISTENT cluster of its own in SCALE_DIR (default /var/tmp/pg_apes_health-scale), PostgreSQL 15 run as
# the postgres account (initdb/pg_ctl as test/cluster.sh does), on a free localhost port; clients use its Unix socket.
# Three databases: scale10k, scale100k and scale1tb.  Everything built is recorded in a table scale.state of its
# database, and the catalogs are built in chunks of SCALE_CHUNK tables (bench/build_catalog.sql, which commits every
# 500 tables): a run that is interrupted leaves whole tables behind, and the next run finds which chunks are complete
# and continues where the last one stopped.  When the installed extension's SQL scripts change, the extension is
# dropped and created again in every database (the synthetic history is then written again).
#
# Every measured call runs in a psql session of its own (FIFOs), timed on the server (clock_timestamp() around an
# EXECUTE, bench/scale/lib.sql), while rss_sampler.pl reads RssAnon of that session's backend (/proc/PID/status, pid
# from pg_backend_pid()) every SCALE_SAMPLE_MS ms: growth = peak minus the value just before the call.  Medians of
# BENCH_RUNS runs after one warm-up; contenders of a database are interleaved, one run of each, then the next run.
# The cluster is stopped at the end unless SCALE_KEEP_RUNNING=1.
#
# Environment (all optional):
#   BENCH_RUNS=5               measured runs per figure, after one warm-up (which is not counted)
#   BENCH_WORKERS=2            parallel psql sessions for the catalog build
#   BENCH_STRICT=1             exit 1 when a target is missed (or a call failed)
#   SCALE_DIR=/var/tmp/pg_apes_health-scale    cluster, logs
#   SCALE_SMALL_TABLES=10000   tables of scale10k; SCALE_BIG_TABLES=100000 tables of scale100k (multiples of 100)
#   SCALE_PARTS="small big sparse"   what to build and measure (small: scale10k with the snapshot; big: scale100k;
#                              sparse: scale1tb)
#   SCALE_EXTRA_REDUNDANT=0    1: one more redundant index on every table (issue 12's ~12,400 index findings on
#                              10,000 tables instead of ~2,060); changing it adds or drops those indexes
#   SPARSE_GB=1024             size of the sparse table in GB (segments of 1 GB)
#   SCALE_STATEMENTS=5000      distinct statements in pg_stat_statements (scale10k)
#   SCALE_HIST_DAYS=30 / SCALE_HIST_REL_DAYS=4   synthetic history: days of 15-minute snapshots / the most recent
#                              days that also hold relation rows (as bench/history)
#   SCALE_REF_TIMEOUT_MS=5000  statement_timeout of the pgstattuple_approx() reference; when its warm-up call hits
#                              it, it is not run again ("> timeout")
#   SCALE_CANCEL_AFTER_MS=200  when the cancel is sent, after the start of the call
#   SCALE_SAMPLE_MS=2          RssAnon sampling interval
#   SCALE_CHUNK=1000           tables per build chunk (a multiple of 10)
#   SCALE_SHARED_BUFFERS=1GB, SCALE_MAX_LOCKS=1024 (max_locks_per_transaction)
#   SCALE_CALL_TIMEOUT=3600    seconds to wait for one call before giving up on the run
#   SCALE_REBUILD=1            drop the databases of SCALE_PARTS and build them again
#   SCALE_KEEP_RUNNING=1       leave the cluster running at the end (connection settings are printed)
#   SCALE_STOP=1               the same as --stop
#   SCALE_PGBIN=/usr/lib/postgresql/15/bin
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH=$(dirname "$HERE")

MODE=run
for arg in "$@"; do
    case $arg in
        --stop) MODE=stop ;;
        --build-only) MODE=build ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "scale: unknown argument $arg (--stop, --build-only, --help)" >&2; exit 2 ;;
    esac
done
[[ "${SCALE_STOP:-0}" == 1 ]] && MODE=stop

RUNS=${BENCH_RUNS:-5}
WORKERS=${BENCH_WORKERS:-2}
STRICT=${BENCH_STRICT:-0}
SCALE_DIR=${SCALE_DIR:-/var/tmp/pg_apes_health-scale}
SMALL_TABLES=${SCALE_SMALL_TABLES:-10000}
BIG_TABLES=${SCALE_BIG_TABLES:-100000}
PARTS=${SCALE_PARTS:-small big sparse}
EXTRA_REDUNDANT=${SCALE_EXTRA_REDUNDANT:-0}
SPARSE_GB=${SPARSE_GB:-1024}
N_STMTS=${SCALE_STATEMENTS:-5000}
HIST_DAYS=${SCALE_HIST_DAYS:-30}
HIST_REL_DAYS=${SCALE_HIST_REL_DAYS:-4}
REF_TIMEOUT_MS=${SCALE_REF_TIMEOUT_MS:-5000}
CANCEL_AFTER_MS=${SCALE_CANCEL_AFTER_MS:-200}
SAMPLE_MS=${SCALE_SAMPLE_MS:-2}
CHUNK=${SCALE_CHUNK:-1000}
SHARED_BUFFERS=${SCALE_SHARED_BUFFERS:-1GB}
MAX_LOCKS=${SCALE_MAX_LOCKS:-1024}
CALL_TIMEOUT=${SCALE_CALL_TIMEOUT:-3600}
REBUILD=${SCALE_REBUILD:-0}
KEEP_RUNNING=${SCALE_KEEP_RUNNING:-0}
PGBIN=${SCALE_PGBIN:-/usr/lib/postgresql/15/bin}
N_SCHEMAS=10
INTERVAL_MIN=15
N_INVALID=10 N_FILLED=10 FILL_ROWS=60000     # the plants of bench/run.sh
DB_SMALL=scale10k DB_BIG=scale100k DB_SPARSE=scale1tb

DATA=$SCALE_DIR/data
SOCK=$SCALE_DIR/sock
LOG=$SCALE_DIR/server.log

die() { echo "scale: $*" >&2; exit 1; }
# clean_exec CMD...: exec CMD with only file descriptors 0, 1 and 2, for the background children: one that kept
# another session's FIFO open would keep that session's reader from ever seeing the end of its input, and none may
# hold the run lock
clean_exec() {
    local fd
    for fd in /proc/"$BASHPID"/fd/*; do
        fd=${fd##*/}
        if (( fd > 2 )); then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec "$@"
}
for v in RUNS WORKERS SMALL_TABLES BIG_TABLES SPARSE_GB N_STMTS HIST_DAYS REF_TIMEOUT_MS CANCEL_AFTER_MS SAMPLE_MS \
         CHUNK MAX_LOCKS CALL_TIMEOUT; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (is '${!v}')"
done
[[ "$HIST_REL_DAYS" =~ ^[0-9]+$ && "$HIST_REL_DAYS" -le "$HIST_DAYS" ]] || die "SCALE_HIST_REL_DAYS must be 0 .. SCALE_HIST_DAYS"
[[ "$EXTRA_REDUNDANT" == 0 || "$EXTRA_REDUNDANT" == 1 ]] || die "SCALE_EXTRA_REDUNDANT must be 0 or 1"
for n in "$SMALL_TABLES" "$BIG_TABLES"; do
    (( n % 100 == 0 && n <= 100000 )) || die "table counts must be multiples of 100, at most 100,000 (5-digit names)"
done
(( CHUNK % 10 == 0 )) || die "SCALE_CHUNK must be a multiple of 10"
(( N_STMTS <= 2 * SMALL_TABLES )) || die "SCALE_STATEMENTS must be at most 2 * SCALE_SMALL_TABLES"
for p in $PARTS; do [[ $p == small || $p == big || $p == sparse ]] || die "SCALE_PARTS: unknown part $p"; done
part() { [[ " $PARTS " == *" $1 "* ]]; }

# as_server CMD...: run CMD as the server's account, with no descriptor of ours (the server started by pg_ctl must not
# hold the run lock or a FIFO for its whole life)
if [[ $(id -u) == 0 ]]; then
    SERVER_USER=postgres
    as_server() { (cd / && clean_exec runuser -u postgres -- "$@"); }
else
    SERVER_USER=$(id -un)
    as_server() { (cd / && clean_exec "$@"); }
fi

T_START=$(date +%s.%N)
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
say() { printf '[%6ss] %s\n' "$(since "$T_START")" "$*"; }

# ---------------------------------------------------------------------------------------------------------------------
# the cluster

server_running() { [[ -f $DATA/postmaster.pid ]] && as_server "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }
port_free() { perl -MIO::Socket::INET -e 'exit(IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $ARGV[0],
                                              Listen => 1, ReuseAddr => 1) ? 0 : 1)' "$1"; }
new_port() {
    perl -MIO::Socket::INET -e '
        my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1, ReuseAddr => 1)
            or die "no free port: $!\n";
        print $s->sockport, "\n";'
}

# the settings, in a file of their own that postgresql.conf includes (rewritten at every start: a newer run.sh brings
# its settings to an existing cluster)
write_conf() {
    cat >"$DATA/scale.conf" <<EOF
# written by bench/scale/run.sh at every start; edit the script, not this file
port = $1
listen_addresses = 'localhost'
unix_socket_directories = '$SOCK'
max_connections = 40
shared_buffers = '$SHARED_BUFFERS'
max_locks_per_transaction = $MAX_LOCKS
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.max = 10000
pg_stat_statements.track = all
pg_stat_statements.track_utility = off
fsync = off
autovacuum = off
max_wal_size = '4GB'
max_parallel_workers_per_gather = 0
jit = off
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
EOF
    chown "$SERVER_USER" "$DATA/scale.conf"
}

cluster_init() {
    [[ -f $DATA/PG_VERSION ]] && return 0
    say "initdb in $DATA"
    mkdir -p "$SCALE_DIR" "$SOCK"
    chmod 755 "$SCALE_DIR"
    chmod 700 "$SOCK"
    chown "$SERVER_USER" "$SCALE_DIR" "$SOCK"
    local pwfile=$SCALE_DIR/password
    (umask 077; od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$pwfile"; echo >>"$pwfile")
    chown "$SERVER_USER" "$pwfile"
    as_server "$PGBIN/initdb" -D "$DATA" -U postgres --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 --nosync >"$SCALE_DIR/initdb.log" 2>&1 ||
        { cat "$SCALE_DIR/initdb.log" >&2; die "initdb failed"; }
    echo "include_if_exists = 'scale.conf'" >>"$DATA/postgresql.conf"
}

cluster_start() {
    if server_running; then
        PORT=$(sed -n 4p "$DATA/postmaster.pid")
    else
        local port
        port=$(sed -n 's/^port = //p' "$DATA/scale.conf" 2>/dev/null || true)
        for _ in 1 2 3 4 5; do
            [[ -n "$port" ]] && port_free "$port" || port=$(new_port)
            write_conf "$port"
            if as_server "$PGBIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 600 start >"$SCALE_DIR/pg_ctl.log" 2>&1; then
                PORT=$port
                break
            fi
            port=""          # another server may have taken the port in between: try another
        done
        [[ -n "${PORT:-}" ]] || { tail -n 20 "$LOG" >&2; die "the server did not start (log: $LOG)"; }
    fi
    export PGHOST=$SOCK PGPORT=$PORT PGUSER=postgres
    unset PGDATABASE PGHOSTADDR PGSERVICE PGOPTIONS PGPASSWORD 2>/dev/null || true
}

cluster_stop() {
    server_running || return 0
    as_server "$PGBIN/pg_ctl" -D "$DATA" -m fast -w -t 600 stop >/dev/null
}

# ---------------------------------------------------------------------------------------------------------------------
# SQL helpers, cleanup

PSQL=(psql -X -q -v ON_ERROR_STOP=1)
qa() { "${PSQL[@]}" -At -d "$1" -c "$2"; }             # qa DB SQL: unaligned, tuples only
state_get() { qa "$1" "SELECT value FROM scale.state WHERE key = '$2'" 2>/dev/null || true; }
state_set() { qa "$1" "INSERT INTO scale.state VALUES ('$2', '$3') ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, at = now()" >/dev/null; }
state_del() { qa "$1" "DELETE FROM scale.state WHERE key = '$2'" >/dev/null; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/apes_scale.XXXXXX")
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    # our own background children that are still there (build workers, sessions, samplers, a canceller): jobs -p
    # lists only children not yet reaped, so no id here can belong to another process
    for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
    if [[ -n "${PORT:-}" ]] && server_running; then
        # build sessions of this run whose client was killed would run on to the end of their chunk
        qa postgres "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'scale_build'" \
            >/dev/null 2>&1 || true
        if [[ "$KEEP_RUNNING" == 1 && "$MODE" != stop ]]; then
            echo "scale: the cluster keeps running: PGHOST=$SOCK PGPORT=$PORT PGUSER=postgres psql -d $DB_SMALL" \
                 "(stop it with: bash $HERE/run.sh --stop)"
        else
            cluster_stop || true
        fi
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ "$MODE" == stop ]]; then
    if [[ -f $DATA/PG_VERSION ]] && server_running; then cluster_stop; echo "scale: cluster in $DATA stopped"; else echo "scale: no cluster running in $DATA"; fi
    PORT=
    exit 0
fi

# one run at a time per SCALE_DIR
mkdir -p "$SCALE_DIR"
exec {LOCK_FD}>"$SCALE_DIR/run.lock"
flock -n "$LOCK_FD" || die "another run.sh is using $SCALE_DIR"

# ---------------------------------------------------------------------------------------------------------------------
# databases, extension

# md5 of the installed extension's control file and SQL scripts: when it changes, the extension is created again
EXT_SHARE=$("$PGBIN/pg_config" --sharedir)/extension
ext_md5() { cat "$EXT_SHARE"/pg_apes_health.control "$EXT_SHARE"/pg_apes_health--*.sql 2>/dev/null | md5sum | cut -c1-12; }

db_ensure() {            # DB N_TABLES (0: no catalog): create the database and the helpers; check the recorded size
    local db=$1 n=$2 have
    if [[ "$REBUILD" == 1 ]]; then
        say "$db: dropped (SCALE_REBUILD=1)"
        "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
    fi
    if [[ -z $(qa postgres "SELECT 1 FROM pg_database WHERE datname = '$db'") ]]; then
        "${PSQL[@]}" -d postgres -c "CREATE DATABASE $db"
    fi
    "${PSQL[@]}" -d "$db" -f "$HERE/lib.sql"
    have=$(state_get "$db" n_tables)
    if [[ -z "$have" ]]; then
        state_set "$db" n_tables "$n"
    elif [[ "$have" != "$n" ]]; then
        die "$db was built with $have tables, not $n: set the size back, or SCALE_REBUILD=1 to build it again"
    fi
    "${PSQL[@]}" -d "$db" -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
}

ext_ensure() {           # DB
    local db=$1 want
    want=$(ext_md5)
    [[ -f "$EXT_SHARE/pg_apes_health.control" ]] || die "pg_apes_health is not installed in $EXT_SHARE (make install)"
    if [[ -z $(qa "$db" "SELECT 1 FROM pg_extension WHERE extname = 'pg_apes_health'") ||
          "$(state_get "$db" ext_md5)" != "$want" ]]; then
        say "$db: CREATE EXTENSION pg_apes_health (installed scripts md5 $want)"
        "${PSQL[@]}" -d "$db" -c "SET client_min_messages = warning" -c "DROP EXTENSION IF EXISTS pg_apes_health CASCADE" \
                     -c "CREATE EXTENSION pg_apes_health"
        state_set "$db" ext_md5 "$want"
    fi
}

# ---------------------------------------------------------------------------------------------------------------------
# the catalog: bench/build_catalog.sql in chunks, then bench/scale/plant.sql

BUILT_NOW=0
build_chunks() {         # DB N: build every missing table, CHUNK at a time, WORKERS at once
    local db=$1 n=$2 per_schema=$(( $2 / N_SCHEMAS )) c lo hi cnt mx
    local -A have_cnt=() have_max=()
    local pending=()
    while IFS='|' read -r c cnt mx; do
        [[ -n "$c" ]] || continue
        have_cnt[$c]=$cnt; have_max[$c]=$mx
    done < <(qa "$db" "SELECT substr(c.relname, 2)::int / $CHUNK, count(*), max(substr(c.relname, 2)::int)
                         FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
                        WHERE c.relkind = 'r' AND s.nspname ~ '^s[0-9]+\$' AND c.relname ~ '^t[0-9]{5}\$'
                        GROUP BY 1")
    for (( lo = 0; lo < n; lo += CHUNK )); do
        c=$(( lo / CHUNK )); hi=$(( lo + CHUNK < n ? lo + CHUNK : n ))
        cnt=${have_cnt[$c]:-0}
        (( cnt == hi - lo )) && continue
        # a chunk commits every 500 tables from its start: what exists is a prefix of it
        if (( cnt > 0 && ${have_max[$c]:-0} != lo + cnt - 1 )); then
            die "$db: chunk $lo..$((hi - 1)) holds $cnt tables that are not its first ones; SCALE_REBUILD=1 builds it again"
        fi
        pending+=("$(( lo + cnt )) $hi")
    done
    (( ${#pending[@]} > 0 )) || return 0
    BUILT_NOW=1
    local total=${#pending[@]} ndone=0 job fin pid rc t0
    t0=$(now)
    say "$db: building $total chunk(s) of up to $CHUNK tables with $WORKERS workers (first: ${pending[0]% *})"
    "${PSQL[@]}" -d "$db" -c "SET client_min_messages = warning" \
        -c "DO \$\$ BEGIN FOR i IN 0 .. $N_SCHEMAS - 1 LOOP EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', 's' || i); END LOOP; END \$\$"
    local -A running=()
    reap() {             # wait for one worker
        rc=0
        wait -n -p pid "${!running[@]}" || rc=$?
        fin=${running[$pid]}
        [[ $rc == 0 ]] || { cat "$WORK/chunk_${fin% *}.log" >&2; die "$db: build of tables ${fin% *} .. ${fin#* } failed"; }
        unset "running[$pid]"
        ndone=$(( ndone + 1 ))
        say "$db: chunk $ndone/$total done (tables ${fin% *} .. $(( ${fin#* } - 1 )), $(since "$t0") s)"
    }
    for job in "${pending[@]}"; do
        while (( ${#running[@]} >= WORKERS )); do reap; done
        PGAPPNAME=scale_build clean_exec "${PSQL[@]}" -d "$db" -v n_tables="$n" -v n_schemas="$N_SCHEMAS" \
            -v lo="${job% *}" -v hi="${job#* }" -f "$BENCH/build_catalog.sql" >"$WORK/chunk_${job% *}.log" 2>&1 &
        running[$!]=$job
    done
    while (( ${#running[@]} > 0 )); do reap; done
    say "$db: tables built in $(since "$t0") s"
}

build_catalog() {        # DB N
    local db=$1 n=$2 t0
    # build sessions left by an earlier run that was killed
    qa postgres "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                  WHERE application_name = 'scale_build' AND datname = '$db'" >/dev/null
    BUILT_NOW=0
    build_chunks "$db" "$n"
    if (( BUILT_NOW == 1 )) || [[ "$(state_get "$db" catalog)" != "done" ||
                                  "$(state_get "$db" extra_redundant)" != "$EXTRA_REDUNDANT" ]]; then
        t0=$(now)
        state_del "$db" catalog
        "${PSQL[@]}" -d "$db" -v n_tables="$n" -v n_schemas="$N_SCHEMAS" -v n_invalid="$N_INVALID" \
            -v n_filled="$N_FILLED" -v fill_rows="$FILL_ROWS" -v extra_redundant="$EXTRA_REDUNDANT" \
            -f "$HERE/plant.sql" >"$WORK/plant_$db.log" 2>&1 || { cat "$WORK/plant_$db.log" >&2; die "$db: plants failed"; }
        local inv
        inv=$(qa "$db" "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                         JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname ~ '^s[0-9]+\$' AND NOT i.indisvalid")
        [[ "$inv" == "$N_INVALID" ]] || { cat "$WORK/plant_$db.log" >&2; die "$db: expected $N_INVALID invalid indexes, found $inv"; }
        state_set "$db" extra_redundant "$EXTRA_REDUNDANT"
        state_set "$db" catalog "done"
        say "$db: plants and catalog VACUUM ANALYZE in $(since "$t0") s"
    fi
}

catalog_facts() {        # DB: one line about what the database holds
    qa "$1" "SELECT format('%s tables, %s indexes (%s invalid), %s foreign keys, %s pg_class rows, %s',
                           (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                             WHERE n.nspname ~ '^s[0-9]+\$' AND c.relkind = 'r'),
                           (SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                              JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname ~ '^s[0-9]+\$'),
                           (SELECT count(*) FROM pg_index WHERE NOT indisvalid),
                           (SELECT count(*) FROM pg_constraint WHERE contype = 'f'),
                           (SELECT count(*) FROM pg_class), pg_size_pretty(pg_database_size(current_database())))"
}

# ---------------------------------------------------------------------------------------------------------------------
# scale10k: statements and the synthetic history

# The workload: statement j reads table 4 * (j / 2) in one of two shapes (as bench/history), so every statement has
# its own queryid; N_STMTS of them in all.
workload_file() {
    local f=$WORK/workload.sql per_schema=$(( SMALL_TABLES / N_SCHEMAS )) n_read=$(( (N_STMTS + 1) / 2 ))
    [[ -s $f ]] || qa "$DB_SMALL" "
        SELECT format(CASE j % 2 WHEN 0 THEN 'SELECT count(*) FROM %1\$I.%2\$I WHERE a = %3\$s AND b > %3\$s;'
                                 ELSE 'SELECT id, c FROM %1\$I.%2\$I WHERE id = %3\$s;' END,
                      's' || (k / $per_schema), 't' || lpad(k::text, 5, '0'), j)
          FROM generate_series(0, $N_STMTS - 1) j,
               LATERAL (SELECT ((j / 2)::bigint * $SMALL_TABLES / $n_read)::int AS k) x ORDER BY j" >"$f"
    echo "$f"
}
# the workload's statements as pg_stat_statements shows them (not the benchmark's own, nor the extension's)
WORKLOAD_RE='^SELECT (count\(\*\) FROM s[0-9]+\.t[0-9]{5} WHERE a = |id, c FROM s[0-9]+\.t[0-9]{5} WHERE id = )'
run_workload() { "${PSQL[@]}" -d "$DB_SMALL" -f "$(workload_file)" >/dev/null; }
workload_count() {
    qa "$DB_SMALL" "SELECT count(*) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
                     WHERE d.datname = '$DB_SMALL' AND s.query ~ '$WORKLOAD_RE'"
}
prepare_statements() {   # exactly N_STMTS workload statements in pg_stat_statements
    local got
    got=$(workload_count)
    [[ "$got" == "$N_STMTS" ]] && return 0
    say "$DB_SMALL: pg_stat_statements holds $got workload statements; reset, then $N_STMTS statements 3 times"
    qa "$DB_SMALL" "SELECT pg_stat_statements_reset()" >/dev/null
    run_workload; run_workload; run_workload
    got=$(workload_count)
    [[ "$got" == "$N_STMTS" ]] || die "$DB_SMALL: expected $N_STMTS workload statements in pg_stat_statements, found $got"
}

build_history() {
    local want have tmpl t0
    want="$HIST_DAYS:$HIST_REL_DAYS:$(ext_md5)"
    have=$(state_get "$DB_SMALL" history)
    [[ "$have" == "$want" ]] && return 0
    prepare_statements
    tmpl=$(state_get "$DB_SMALL" hist_template)
    if [[ -n "$have" || -z "$tmpl" || -z $(qa "$DB_SMALL" "SELECT 1 FROM apes.snapshot WHERE snapshot_id = ${tmpl:-0}") ]]; then
        # a new history: empty every table of the extension's schema, one real snapshot as the template
        qa "$DB_SMALL" "SELECT 'TRUNCATE ' || string_agg(c.oid::regclass::text, ', ') FROM pg_class c
                         WHERE c.relnamespace = 'apes'::regnamespace AND c.relkind = 'r'" |
            "${PSQL[@]}" -d "$DB_SMALL" >/dev/null
        state_del "$DB_SMALL" history
        tmpl=$(qa "$DB_SMALL" "SELECT apes.snapshot()")
        [[ -n "$tmpl" ]] || die "$DB_SMALL: apes.snapshot() returned no snapshot"
        state_set "$DB_SMALL" hist_template "$tmpl"
    fi
    t0=$(now)
    say "$DB_SMALL: synthetic history of $HIST_DAYS days ($(( HIST_DAYS * 1440 / INTERVAL_MIN )) snapshots) from snapshot $tmpl"
    if ! "${PSQL[@]}" -d "$DB_SMALL" -v days="$HIST_DAYS" -v rel_days="$HIST_REL_DAYS" -v interval_min="$INTERVAL_MIN" \
 -f "$HERE/history.sql" >"$WORK/history.log" 2>&1; then
        cat "$WORK/history.log" >&2
        die "$DB_SMALL: the synthetic history failed (run again to resume it)"
    fi
    sed -n 's/^psql:.*NOTICE:  /   /p' "$WORK/history.log"
    state_set "$DB_SMALL" history "$want"
    say "$DB_SMALL: history written in $(since "$t0") s: $(qa "$DB_SMALL" "SELECT format('%s snapshots, %s statement rows, %s relation rows, %s',
            (SELECT count(*) FROM apes.snapshot), (SELECT count(*) FROM apes.statement_history),
            (SELECT count(*) FROM apes.relation_history),
            pg_size_pretty((SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c
                             WHERE c.relnamespace = 'apes'::regnamespace AND c.relkind = 'r')::bigint))")"
}

# ---------------------------------------------------------------------------------------------------------------------
# scale1tb: the sparse table

build_sparse() {
    local db=$DB_SPARSE want size file i used
    want=$(( SPARSE_GB * 1073741824 ))
    "${PSQL[@]}" -d "$db" -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS pgstattuple"
    size=$(qa "$db" "SELECT pg_relation_size(to_regclass('public.big'))")
    if [[ "$size" == "$want" && "$(state_get "$db" sparse_gb)" == "$SPARSE_GB" ]]; then return 0; fi
    say "$db: a sparse table of $SPARSE_GB GB (all-zero segments of 1 GB)"
    df -h "$SCALE_DIR" | sed 's/^/   /'
    # the file system must keep sparse files: 1 GB of hole must take (almost) no space
    truncate -s 1G "$SCALE_DIR/sparse_test"
    used=$(du -k "$SCALE_DIR/sparse_test" | cut -f1)
    rm -f "$SCALE_DIR/sparse_test"
    (( used < 1024 )) || die "the file system of $SCALE_DIR does not keep sparse files ($used kB for a 1 GB hole)"
    state_del "$db" sparse_gb
    "${PSQL[@]}" -d "$db" -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS public.big" \
        -c "CREATE TABLE public.big (id int, pad text) WITH (autovacuum_enabled = off)" \
        -c "INSERT INTO public.big SELECT g, 'row ' || g FROM generate_series(1, 100) g" -c "CHECKPOINT"
    file=$DATA/$(qa "$db" "SELECT pg_relation_filepath('public.big')")
    cluster_stop
    truncate -s 1G "$file"
    for (( i = 1; i < SPARSE_GB; i++ )); do truncate -s 1G "$file.$i"; done
    chown "$SERVER_USER" "$file" "$file".*  2>/dev/null || chown "$SERVER_USER" "$file"
    chmod 600 "$file"*
    cluster_start
    size=$(qa "$db" "SELECT pg_relation_size('public.big')")
    [[ "$size" == "$want" ]] || die "$db: big is $size bytes, not $want"
    # ANALYZE samples 30,000 blocks (no list of all blocks) and sets relpages, which the bloat area pre-filters on
    qa "$db" "ANALYZE public.big" >/dev/null
    state_set "$db" sparse_gb "$SPARSE_GB"
    say "$db: big: $(qa "$db" "SELECT format('%s, %s pages (relpages %s)', pg_size_pretty(pg_relation_size('big')),
                                    pg_relation_size('big') / 8192, relpages) FROM pg_class WHERE oid = 'big'::regclass");" \
        "on disk $(du -shc "$file"* | tail -1 | cut -f1)"
}

# ---------------------------------------------------------------------------------------------------------------------
# sessions: psql through FIFOs, each with its RssAnon sampler

declare -A S_W S_R S_PID S_BPID S_SW S_SR S_SPID
OUT="" MEM_BASE=0 MEM_PEAK=0

session_open() {         # NAME DB
    local n=$1 db=$2 w r
    mkfifo "$WORK/$n.in" "$WORK/$n.out" "$WORK/$n.sin" "$WORK/$n.sout"
    PGAPPNAME="scale_$n" clean_exec psql -X -q -At -v ON_ERROR_STOP=0 -d "$db" <"$WORK/$n.in" >"$WORK/$n.out" 2>&1 &
    S_PID[$n]=$!
    exec {w}>"$WORK/$n.in"; exec {r}<"$WORK/$n.out"
    S_W[$n]=$w; S_R[$n]=$r
    session_sql "$n" "SET client_min_messages = warning; SET jit = off; SELECT pg_backend_pid();" ||
        die "session $n on $db: $OUT"
    [[ "$OUT" =~ ^[0-9]+$ ]] || die "session $n on $db: no backend pid: $OUT"
    S_BPID[$n]=$OUT
    clean_exec perl "$HERE/rss_sampler.pl" "$OUT" "$SAMPLE_MS" <"$WORK/$n.sin" >"$WORK/$n.sout" &
    S_SPID[$n]=$!
    exec {w}>"$WORK/$n.sin"; exec {r}<"$WORK/$n.sout"
    S_SW[$n]=$w; S_SR[$n]=$r
}

session_sql() {          # NAME SQL: the output lines in OUT; status 1 when it holds an ERROR
    local n=$1 line
    ( printf '%s\n\\echo __SCALE_END__\n' "$2" >&"${S_W[$n]}" ) 2>/dev/null || die "session $n has ended"
    OUT=""
    while IFS= read -r -t "$CALL_TIMEOUT" line <&"${S_R[$n]}"; do
        if [[ "$line" == __SCALE_END__ ]]; then
            if [[ "$OUT" == *ERROR:* ]]; then return 1; fi
            return 0
        fi
        OUT+="${OUT:+$'\n'}$line"
    done
    die "session $n: no answer (ended, or more than SCALE_CALL_TIMEOUT=$CALL_TIMEOUT s): $OUT"
}

session_call() {         # NAME SQL: session_sql while the sampler runs; MEM_BASE and MEM_PEAK in kB
    local n=$1 line rc=0
    ( echo start >&"${S_SW[$n]}" ) 2>/dev/null || die "sampler of session $n has ended"
    IFS= read -r line <&"${S_SR[$n]}"
    [[ "$line" == ready* ]] || die "sampler of session $n: $line"
    session_sql "$n" "$2" || rc=$?
    ( echo stop >&"${S_SW[$n]}" ) 2>/dev/null || die "sampler of session $n has ended"
    IFS= read -r line <&"${S_SR[$n]}"
    read -r MEM_BASE MEM_PEAK _ <<<"$line"
    return $rc
}

session_close() {        # NAME
    local n=$1 w=${S_W[$1]} r=${S_R[$1]} sw=${S_SW[$1]} sr=${S_SR[$1]}
    ( printf '\\q\n' >&"$w" ) 2>/dev/null || true
    exec {w}>&- {r}<&- {sw}>&- {sr}<&-
    wait "${S_PID[$n]}" 2>/dev/null || true
    wait "${S_SPID[$n]}" 2>/dev/null || true
    rm -f "$WORK/$n.in" "$WORK/$n.out" "$WORK/$n.sin" "$WORK/$n.sout"
}

# ---------------------------------------------------------------------------------------------------------------------
# contenders and their results

declare -A C_SQL C_LABEL R_MS R_FIRST R_PEAK R_PEAK_FIRST R_PEAK_WARM R_RESULT R_ERR R_NOTE R_EXTRA

# contender KEY LABEL SQL-BATCH: a batch prints one line "ms|result" per timed statement; its time is their sum
contender() { C_LABEL[$1]=$2; C_SQL[$1]=$3; }
run_stmt() { printf "SELECT * FROM scale.run(\$scale\$%s\$scale\$);" "$1"; }

# record KEY RUN: from OUT, MEM_BASE, MEM_PEAK (run 0 is the warm-up / first call)
record() {
    local k=$1 r=$2 ms res grow
    ms=$(awk -F'|' 'NF >= 2 { s += $1; n++ } END { if (n) printf "%.3f", s }' <<<"$OUT")
    res=$(awk -F'|' 'NF >= 2 { r = r (r == "" ? "" : "; ") $2 } END { print r }' <<<"$OUT")
    [[ -n "$ms" ]] || { R_ERR[$k]="no timing in: $OUT"; return; }
    grow=$(( MEM_PEAK - MEM_BASE ))
    if (( r == 0 )); then
        R_FIRST[$k]=$ms; R_PEAK_FIRST[$k]=$grow
    else
        R_MS[$k]+="${R_MS[$k]:+ }$ms"
        (( grow > ${R_PEAK_WARM[$k]:--1} )) && R_PEAK_WARM[$k]=$grow
    fi
    (( grow > ${R_PEAK[$k]:--1} )) && R_PEAK[$k]=$grow
    R_RESULT[$k]=$res
}

call() {                 # SESSION KEY RUN: one sampled call of contender KEY
    local s=$1 k=$2 r=$3
    [[ -n "${R_ERR[$k]:-}" ]] && return 0
    if session_call "$s" "${C_SQL[$k]}"; then
        record "$k" "$r"
    else
        R_ERR[$k]=$(grep -m1 'ERROR:' <<<"$OUT" | sed 's/^.*ERROR: *//')
        say "${C_LABEL[$k]}: failed: ${R_ERR[$k]}"
    fi
}

# the values of a space-separated list ($1, split on purpose)
# shellcheck disable=SC2086
median() { [[ -n "$1" ]] || return 0; printf '%s\n' $1 | sort -g | awk '{ a[NR] = $1 } END { if (NR) printf "%.3f", (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
# shellcheck disable=SC2086
minmax() { [[ -n "$1" ]] || return 0; printf '%s\n' $1 | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%.1f .. %.1f", lo, hi }'; }
mb() { awk -v k="$1" 'BEGIN { if (k == "") print ""; else printf "%.1f", k / 1024 }'; }

detail() {               # KEY: one line on what was measured
    local k=$1
    if [[ -n "${R_ERR[$k]:-}" ]]; then
        printf '   %-50s ERROR: %s\n' "${C_LABEL[$k]}" "${R_ERR[$k]}"
        return
    fi
    if [[ -z "${R_MS[$k]:-}" ]]; then
        printf '   %-50s first %9.1f ms (+%s MB) | %s\n' "${C_LABEL[$k]}" "${R_FIRST[$k]:-0}" \
            "$(mb "${R_PEAK_FIRST[$k]:-0}")" "${R_RESULT[$k]:-}${R_NOTE[$k]:+ (${R_NOTE[$k]})}"
        return
    fi
    printf '   %-50s first %9.1f ms (+%s MB) | median %9.1f ms (%s) +%s MB | %s\n' "${C_LABEL[$k]}" \
        "${R_FIRST[$k]:-0}" "$(mb "${R_PEAK_FIRST[$k]:-0}")" "$(median "${R_MS[$k]:-}")" "$(minmax "${R_MS[$k]:-}")" \
        "$(mb "${R_PEAK_WARM[$k]:-0}")" "${R_RESULT[$k]:-}${R_NOTE[$k]:+ (${R_NOTE[$k]})}"
}

# Warm contenders of one database, interleaved: a session each; run 0 (the session's first call) is the warm-up
measure_warm() {         # DB KEY...
    local db=$1 k r
    shift
    for k in "$@"; do session_open "$k" "$db"; done
    for (( r = 0; r <= RUNS; r++ )); do
        for k in "$@"; do call "$k" "$k" "$r"; done
    done
    for k in "$@"; do session_close "$k"; detail "$k"; done
}

# Contenders whose every call is the first of a new session; run 0 is a warm-up (server and OS caches)
measure_new_session() {  # DB KEY...
    local db=$1 k r
    shift
    for (( r = 0; r <= RUNS; r++ )); do
        for k in "$@"; do
            session_open "new_$k" "$db"
            call "new_$k" "$k" "$r"
            session_close "new_$k"
        done
    done
    for k in "$@"; do detail "$k"; done
}

# The plain-SQL index checks, split on their "-- check: <id>" lines (as bench/run.sh splits them); two batches:
# with the DDL (every column computed, as bench/timing.sql wraps them) and without (summary and sizes only: the
# unreferenced fix_sql and undo_sql are never computed).
plain_batches() {
    local f=$BENCH/plain_sql_index_checks.sql i=0 q
    PLAIN_DDL="" PLAIN_NODDL=""
    mkdir -p "$WORK/plain"
    awk -v dir="$WORK/plain" '
        /^-- check: / { if (id != "") close(out); id = $3; out = dir "/" sprintf("%02d", ++n) "_" id; next }
        id != "" && !/^--/ { line = $0; if (line ~ /;[ \t]*$/) { sub(/;[ \t]*$/, "", line); print line > out; close(out); id = ""; next }
                             print line > out }
        END { if (n != 5) { print "expected 5 checks, found " n > "/dev/stderr"; exit 1 } }' "$f"
    for q in "$WORK"/plain/*; do
        PLAIN_DDL+=$(run_stmt "SELECT format('%s rows, %s chars', count(*), coalesce(sum(coalesce(length(summary), 0)
                      + coalesce(length(fix_sql), 0) + coalesce(length(undo_sql), 0)), 0)) FROM ($(cat "$q")) q")$'\n'
        PLAIN_NODDL+=$(run_stmt "SELECT format('%s rows, %s chars, %s bytes', count(*), coalesce(sum(length(summary)), 0),
                      coalesce(sum(wasted_bytes), 0)) FROM ($(cat "$q")) q")$'\n'
        i=$(( i + 1 ))
    done
}

# ---------------------------------------------------------------------------------------------------------------------
# measurements

measure_small() {
    say "== $DB_SMALL: $(catalog_facts "$DB_SMALL")"
    contender s_hj_new "10k health_json(), new session"   "$(run_stmt "SELECT length(apes.health_json()::text)::text")"
    contender s_plain_new "10k plain SQL (DDL), new session" "$PLAIN_DDL"
    contender s_fi     "10k findings('index')"        "$(run_stmt "SELECT count(*)::text FROM apes.findings('index')")"
    contender s_hj     "10k health_json()"            "$(run_stmt "SELECT length(apes.health_json()::text)::text")"
    contender s_hj0    "10k health_json(), simulation_time_budget 0" \
        "$(run_stmt "SELECT length(apes.health_json()::text)::text FROM (SELECT set_config('pg_apes_health.simulation_time_budget', '0', true)) s")"
    contender s_pool   "10k findings('pool')"         "$(run_stmt "SELECT count(*)::text FROM apes.findings('pool')")"
    contender s_plain  "10k plain SQL, with DDL"      "$PLAIN_DDL"
    contender s_plainn "10k plain SQL, no DDL"        "$PLAIN_NODDL"
    say "$DB_SMALL: first calls in new sessions (1 warm-up + $RUNS)"
    measure_new_session "$DB_SMALL" s_hj_new s_plain_new
    say "$DB_SMALL: warm sessions (1 warm-up + $RUNS, interleaved)"
    measure_warm "$DB_SMALL" s_fi s_hj s_hj0 s_pool s_plain s_plainn
    measure_snapshot
}

# apes.snapshot() on top of the history: before each call the workload runs once (so the statements' and the
# relations' counters move, as between two snapshots in production), then a CHECKPOINT (every snapshot is then the
# first write to its pages after a checkpoint, as with 15-minute snapshots and a 5-minute checkpoint_timeout)
measure_snapshot() {
    local r wal
    contender s_snap "10k apes.snapshot()" "CALL scale.snapshot_timed();"
    C_LABEL[s_snapwal]="10k apes.snapshot() WAL"
    prepare_statements
    say "$DB_SMALL: apes.snapshot() on $(qa "$DB_SMALL" "SELECT count(*) FROM apes.snapshot") snapshots of history, $(workload_count) statements (1 warm-up + $RUNS)"
    session_open s_snap "$DB_SMALL"
    for (( r = 0; r <= RUNS; r++ )); do
        run_workload
        session_sql s_snap "CHECKPOINT;" || die "CHECKPOINT: $OUT"
        call s_snap s_snap "$r"
        [[ -n "${R_ERR[s_snap]:-}" ]] && break
        wal=$(awk -F'|' 'NF >= 3 { print $2 }' <<<"$OUT")
        R_RESULT[s_snap]=$(awk -F'|' 'NF >= 3 { print $3 }' <<<"$OUT")
        (( r == 0 )) && R_FIRST[s_snapwal]=$wal || R_MS[s_snapwal]+="${R_MS[s_snapwal]:+ }$wal"
    done
    session_close s_snap
    detail s_snap
    printf '   %-50s first %9.2f MB | median %9.2f MB\n' "${C_LABEL[s_snapwal]}" \
        "$(awk -v b="${R_FIRST[s_snapwal]:-0}" 'BEGIN { print b / 1048576 }')" \
        "$(awk -v b="$(median "${R_MS[s_snapwal]:-}")" 'BEGIN { print b / 1048576 }')"
}

measure_big() {
    say "== $DB_BIG: $(catalog_facts "$DB_BIG")"
    contender b_hj     "100k health_json()"           "$(run_stmt "SELECT length(apes.health_json()::text)::text")"
    contender b_fi     "100k findings('index')"       "$(run_stmt "SELECT count(*)::text FROM apes.findings('index')")"
    contender b_fall   "100k findings()"              "$(run_stmt "SELECT count(*)::text FROM apes.findings()")"
    contender b_hr     "100k health_report()"         "$(run_stmt "SELECT length(apes.health_report())::text")"
    contender b_pool   "100k findings('pool')"        "$(run_stmt "SELECT count(*)::text FROM apes.findings('pool')")"
    contender b_plain  "100k plain SQL, with DDL"     "$PLAIN_DDL"
    contender b_plainn "100k plain SQL, no DDL"       "$PLAIN_NODDL"
    contender b_be     "100k count(*) bloat_estimates" "$(run_stmt "SELECT count(*)::text FROM apes.bloat_estimates")"
    contender b_beref  "100k plain-SQL bloat estimate" "$(run_stmt "SELECT count(*)::text FROM ($(cat "$HERE/plain_bloat_estimate.sql")) q")"
    say "$DB_BIG: warm sessions (1 warm-up + $RUNS, interleaved)"
    measure_warm "$DB_BIG" b_hj b_fi b_fall b_hr b_pool b_plain b_plainn b_be b_beref
}

# a cancelled call: the canceller (another session, scale.cancel_after) cancels it CANCEL_AFTER_MS after its start;
# the figure is the time from pg_cancel_backend() to the caught error
cancel_call() {          # SESSION KEY RUN
    local s=$1 k=$2 r=$3 cpid sent ended res lat
    [[ -n "${R_ERR[$k]:-}" ]] && return 0
    clean_exec "${PSQL[@]}" -At -d "$DB_SPARSE" -c "SELECT scale.cancel_after(${S_BPID[$s]}, $CANCEL_AFTER_MS)" \
        >"$WORK/cancel.out" 2>&1 &
    cpid=$!
    if ! session_call "$s" "${C_SQL[$k]}"; then
        R_ERR[$k]=$(grep -m1 'ERROR:' <<<"$OUT" | sed 's/^.*ERROR: *//'); wait "$cpid" || true; return 0
    fi
    wait "$cpid" || { R_ERR[$k]="canceller: $(cat "$WORK/cancel.out")"; return 0; }
    sent=$(cat "$WORK/cancel.out")
    IFS='|' read -r _ res ended <<<"$OUT"
    if [[ "$res" != canceled || -z "$sent" ]]; then
        # the call ended before its cancel was due: nothing to answer
        R_NOTE[$k]="call ended after $(awk -F'|' '{ printf "%.0f", $1 }' <<<"$OUT") ms, before the cancel"
        OUT="0|$res"
    else
        lat=$(awk -v a="$sent" -v b="$ended" 'BEGIN { printf "%.3f", (b - a) * 1000 }')
        R_EXTRA[$k]+="${R_EXTRA[$k]:+ }$(awk -F'|' '{ printf "%.0f", $1 }' <<<"$OUT")"
        OUT="$lat|canceled"
    fi
    record "$k" "$r"
}

measure_sparse() {
    local r budget unit
    say "== $DB_SPARSE: $(qa "$DB_SPARSE" "SELECT format('table big: %s, %s pages', pg_size_pretty(pg_relation_size('big')), pg_relation_size('big') / 8192)")"
    contender t_tb     "${SPARSE_GB}GB table_bloat(t)"           "$(run_stmt "SELECT string_agg(format('%s %s, %s of %s pages', b.kind, b.method, b.pages_scanned, b.pages), '; ') FROM apes.table_bloat('big') b")"
    contender t_tb400  "${SPARSE_GB}GB table_bloat(t, 400)"      "$(run_stmt "SELECT string_agg(format('%s %s, %s of %s pages', b.kind, b.method, b.pages_scanned, b.pages), '; ') FROM apes.table_bloat('big', 400) b")"
    contender t_fb     "${SPARSE_GB}GB findings('bloat')"        "$(run_stmt "SELECT count(*)::text FROM apes.findings('bloat')")"
    contender t_ref    "${SPARSE_GB}GB pgstattuple_approx(t)" \
        "SET statement_timeout = '${REF_TIMEOUT_MS}ms';
         SELECT ms, result FROM scale.run_cancellable(\$scale\$SELECT row(x.*)::text FROM pgstattuple_approx('big') x\$scale\$);
         RESET statement_timeout;"
    say "$DB_SPARSE: sampled calls and the reference (1 warm-up + $RUNS, interleaved)"
    session_open t_tb "$DB_SPARSE"; session_open t_tb400 "$DB_SPARSE"; session_open t_fb "$DB_SPARSE"
    session_open t_ref "$DB_SPARSE"
    for (( r = 0; r <= RUNS; r++ )); do
        call t_tb t_tb "$r"; call t_tb400 t_tb400 "$r"; call t_fb t_fb "$r"
        # a reference that hits its statement_timeout on the warm-up would hit it every time: run once
        if (( r == 0 )) || [[ "${R_RESULT[t_ref]:-}" != canceled ]]; then call t_ref t_ref "$r"; fi
    done
    [[ "${R_RESULT[t_ref]:-}" == canceled ]] && R_NOTE[t_ref]="statement_timeout ${REF_TIMEOUT_MS} ms hit; not run again"
    session_sql t_fb "SELECT setting, unit FROM pg_settings WHERE name = 'pg_apes_health.bloat_time_budget';" || true
    IFS='|' read -r budget unit <<<"$OUT"
    if [[ "$budget" =~ ^[0-9]+$ && "$unit" == ms ]]; then BUDGET_MS=$budget; else BUDGET_MS=100; R_NOTE[t_fb]="bloat_time_budget not found ($OUT): 100 ms assumed"; fi
    for s in t_tb t_tb400 t_fb t_ref; do session_close "$s"; detail "$s"; done
    echo "   SHOW pg_apes_health.bloat_time_budget: $BUDGET_MS ms"

    contender t_cn "${SPARSE_GB}GB cancel latency, table_bloat(t, 100000000)" \
        "SELECT * FROM scale.run_cancellable(\$scale\$SELECT count(*)::text FROM apes.table_bloat('big', 100000000)\$scale\$);"
    contender t_cx "${SPARSE_GB}GB cancel latency, table_bloat(t, exact)" \
        "SELECT * FROM scale.run_cancellable(\$scale\$SELECT count(*)::text FROM apes.table_bloat('big', exact => true)\$scale\$);"
    say "$DB_SPARSE: pg_cancel_backend() ${CANCEL_AFTER_MS} ms into long calls (1 warm-up + $RUNS each)"
    session_open t_cancel "$DB_SPARSE"
    for (( r = 0; r <= RUNS; r++ )); do
        cancel_call t_cancel t_cn "$r"; cancel_call t_cancel t_cx "$r"
    done
    session_close t_cancel
    detail t_cn; detail t_cx
    echo "   the cancelled calls had run (ms, warm-up first): ${R_EXTRA[t_cn]:-none} and ${R_EXTRA[t_cx]:-none}"
}

# ---------------------------------------------------------------------------------------------------------------------
# the targets table

ROWS=()
MISSED=0
row() { ROWS+=("$1"$'\t'"$2"$'\t'"$3"$'\t'"$4"$'\t'"$5"$'\t'"$6"$'\t'"$7"); [[ "$7" == MISSED || "$7" == ERROR ]] && MISSED=$(( MISSED + 1 )); return 0; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 <= b + 0) }'; }
ratio() { awk -v r="$1" -v e="$2" 'BEGIN { if (r == "" || e == "" || e + 0 == 0) print ""; else printf "%.2f", r / e }'; }
fmt_ms() { if [[ -n "$1" ]]; then printf '%.1f ms' "$1"; fi; }

# target_time WHAT KEY LIMIT_MS [REF_KEY] [MEM_LIMIT_MB] [MIN_RATIO]
target_time() {
    local what=$1 k=$2 limit=$3 ref=${4:-} mem=${5:-} minr=${6:-} e rv rs="" rat="" peak verdict=met tgt
    tgt="<= $limit ms"; [[ -n "$mem" ]] && tgt+=", <= $mem MB"; [[ -n "$minr" ]] && tgt+=", >= ${minr}x faster"
    if [[ -n "${R_ERR[$k]:-}" || -z "${R_MS[$k]:-}" ]]; then
        row "$what" "$tgt" "ERROR" "" "" "" ERROR; return
    fi
    e=$(median "${R_MS[$k]}")
    peak=$(mb "${R_PEAK[$k]}")
    if [[ -n "$ref" ]]; then
        if [[ -n "${R_ERR[$ref]:-}" ]]; then rs="error"
        elif [[ "${R_RESULT[$ref]:-}" == canceled ]]; then
            rs="> $(fmt_ms "$REF_TIMEOUT_MS") (timeout)"; rat="> $(ratio "$REF_TIMEOUT_MS" "$e")"
        else
            rv=$(median "${R_MS[$ref]:-${R_FIRST[$ref]:-}}"); rs=$(fmt_ms "$rv"); rat=$(ratio "$rv" "$e")
        fi
        rs="$rs  ${C_LABEL[$ref]#* }"
    fi
    le "$e" "$limit" || verdict=MISSED
    [[ -n "$mem" ]] && { le "$peak" "$mem" || verdict=MISSED; }
    if [[ -n "$minr" ]]; then
        [[ -n "$rat" && "$rat" != ">"* ]] && { le "$minr" "$rat" || verdict=MISSED; }
        [[ -z "$rat" ]] && verdict=MISSED
    fi
    row "$what" "$tgt" "$(fmt_ms "$e")" "$rs" "${rat:+${rat}x}" "$peak" "$verdict"
}

target_mem() {           # WHAT KEY LIMIT_MB: the largest growth over every call of KEY, the warm-up included
    local what=$1 k=$2 limit=$3 p
    if [[ -n "${R_ERR[$k]:-}" || -z "${R_PEAK[$k]:-}" ]]; then row "$what" "<= $limit MB" ERROR "" "" "" ERROR; return; fi
    p=$(mb "${R_PEAK[$k]}")
    row "$what" "<= $limit MB" "$p MB peak" "" "" "$p" "$(le "$p" "$limit" && echo met || echo MISSED)"
}

target_cancel() {        # WHAT KEY LIMIT_MS
    local what=$1 k=$2 limit=$3 e
    if [[ -n "${R_ERR[$k]:-}" || -z "${R_MS[$k]:-}" ]]; then row "$what" "<= $limit ms" ERROR "" "" "" ERROR; return; fi
    if [[ -n "${R_NOTE[$k]:-}" ]]; then
        row "$what" "answered <= $limit ms" "n/a: ${R_NOTE[$k]}" "" "" "$(mb "${R_PEAK[$k]}")" "n/a"; return
    fi
    e=$(median "${R_MS[$k]}")
    row "$what" "answered <= $limit ms" "$(fmt_ms "$e")" "" "" "$(mb "${R_PEAK[$k]}")" "$(le "$e" "$limit" && echo met || echo MISSED)"
}

info_ratio() {           # WHAT KEY REF_KEY: a comparison without a target
    local e rv
    [[ -n "${R_MS[$2]:-}" && -n "${R_MS[$3]:-}" ]] || return 0
    e=$(median "${R_MS[$2]}"); rv=$(median "${R_MS[$3]}")
    row "$1" "-" "$(fmt_ms "$e")" "$(fmt_ms "$rv")  ${C_LABEL[$3]#* }" "$(ratio "$rv" "$e")x" "$(mb "${R_PEAK[$2]}")" "-"
}

targets_table() {
    local w
    if part small; then
        target_time "10k: health_json(), first call in a new session" s_hj_new 200 s_plain_new
        target_time "10k: health_json(), warm" s_hj 100 s_plain
        info_ratio  "10k: health_json(), warm, no simulations (budget 0)" s_hj0 s_plain
        target_time "10k: findings('index'), warm" s_fi 250 s_plainn "" 2
        info_ratio  "10k: findings('index'), warm, vs the DDL-building SQL" s_fi s_plain
        target_time "10k: findings('pool')" s_pool 20
        target_time "10k: apes.snapshot(), $(qa "$DB_SMALL" "SELECT round(count(*) / 96.0, 1) FROM apes.snapshot") days of history" s_snap 1000
        if [[ -n "${R_MS[s_snapwal]:-}" ]]; then
            w=$(awk -v b="$(median "${R_MS[s_snapwal]}")" 'BEGIN { printf "%.2f", b / 1048576 }')
            row "10k: apes.snapshot() WAL" "<= 4 MB" "$w MB" "" "" "" "$(le "$w" 4 && echo met || echo MISSED)"
        else
            row "10k: apes.snapshot() WAL" "<= 4 MB" ERROR "" "" "" ERROR
        fi
    fi
    if part big; then
        target_time "100k: health_json(), warm" b_hj 1000
        target_time "100k: findings('index'), warm" b_fi 3000 b_plain
        info_ratio  "100k: findings('index'), warm, vs the SQL without DDL" b_fi b_plainn
        target_mem  "100k: peak memory growth, findings('index')" b_fi 256
        target_mem  "100k: peak memory growth, findings()" b_fall 256
        target_mem  "100k: peak memory growth, health_json()" b_hj 64
        target_mem  "100k: peak memory growth, health_report()" b_hr 256
        target_time "100k: findings('pool')" b_pool 20
        target_time "100k: SELECT count(*) FROM apes.bloat_estimates" b_be 2000 b_beref
    fi
    if part sparse; then
        target_time "${SPARSE_GB}GB: table_bloat(t)" t_tb 50 t_ref 16
        target_time "${SPARSE_GB}GB: table_bloat(t, 400)" t_tb400 50 t_ref 16
        target_cancel "${SPARSE_GB}GB: cancel table_bloat(t, 100000000)" t_cn 100
        target_cancel "${SPARSE_GB}GB: cancel table_bloat(t, exact => true)" t_cx 100
        target_time "${SPARSE_GB}GB: findings('bloat') (budget $BUDGET_MS ms)" t_fb $(( BUDGET_MS + 50 ))
    fi
    echo
    echo "== targets: medians of $RUNS runs after a warm-up; peak MB: largest RssAnon growth over all calls (warm-up included)"
    printf '%s\n' "what"$'\t'"target"$'\t'"extension (median)"$'\t'"reference (median)"$'\t'"ratio"$'\t'"peak MB"$'\t'"verdict" \
           "${ROWS[@]}" |
        awk -F'\t' '{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NR }
            END { for (r = 1; r <= n; r++) {
                      line = ""
                      for (i = 1; i <= 7; i++) line = line (i > 1 ? " | " : "") sprintf(i == 5 || i == 6 ? "%" w[i] "s" : "%-" w[i] "s", c[r, i])
                      print line
                      if (r == 1) { s = ""; for (i = 1; i <= 7; i++) { d = sprintf("%" w[i] "s", ""); gsub(/ /, "-", d); s = s (i > 1 ? "-|-" : "") d } print s } } }'
    if (( MISSED == 0 )); then echo "SCALE VERDICT: ALL TARGETS MET"; else echo "SCALE VERDICT: $MISSED TARGET(S) MISSED"; fi
}

# ---------------------------------------------------------------------------------------------------------------------
# main

cluster_init
cluster_start
echo "== pg_apes_health scale benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "   server:  $(qa postgres 'SELECT version()'), port $PORT, data $DATA"
echo "   host:    $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo);" \
     "load at start:$(uptime | sed 's/.*load average://')"
dirty=""
if [[ -n "$(git -C "$HERE" status --porcelain -- ../../src ../../sql 2>/dev/null)" ]]; then dirty=" (src/ or sql/ modified)"; fi
echo "   tree:    commit $(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo '?')$dirty;" \
     "installed extension scripts md5 $(ext_md5)"
echo "   knobs:   parts='$PARTS' small=$SMALL_TABLES big=$BIG_TABLES sparse=${SPARSE_GB}GB runs=$RUNS workers=$WORKERS" \
     "statements=$N_STMTS history=${HIST_DAYS}d (relations ${HIST_REL_DAYS}d) extra_redundant=$EXTRA_REDUNDANT"

if part small; then
    db_ensure "$DB_SMALL" "$SMALL_TABLES"
    build_catalog "$DB_SMALL" "$SMALL_TABLES"
    ext_ensure "$DB_SMALL"
    build_history
fi
if part big; then
    db_ensure "$DB_BIG" "$BIG_TABLES"
    build_catalog "$DB_BIG" "$BIG_TABLES"
    ext_ensure "$DB_BIG"
fi
if part sparse; then
    db_ensure "$DB_SPARSE" 0
    ext_ensure "$DB_SPARSE"
    build_sparse
fi
say "build complete"
[[ "$MODE" == build ]] && exit 0

first_db=$DB_SPARSE; part big && first_db=$DB_BIG; part small && first_db=$DB_SMALL
say "extension: pg_apes_health $(qa "$first_db" "SELECT extversion FROM pg_extension WHERE extname = 'pg_apes_health'")" \
    "(library $(qa "$first_db" 'SELECT apes.version()' 2>/dev/null || echo '?'))"
plain_batches
BUDGET_MS=100
part small && measure_small
part big && measure_big
part sparse && measure_sparse
targets_table
echo "   total $(since "$T_START") s; load at end:$(uptime | sed 's/.*load average://')"
if [[ "$STRICT" == 1 && $MISSED -gt 0 ]]; then
    echo "scale: $MISSED target(s) missed (BENCH_STRICT=1)" >&2
    exit 1
fi
exit 0
