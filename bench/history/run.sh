#!/usr/bin/env bash
# pg_apes_health history benchmark: apes.snapshot(), apes.query_stats() and apes.purge() on a large catalog and a
# month of 15-minute snapshots.  See bench/history/README.md.
#
#   bench/history/run.sh              needs `make install` done first (uses the installed extension)
#
# Outside a cluster it re-executes itself inside a throwaway pg_virtualenv cluster (PostgreSQL 15); inside, it
#   1. builds the database apes_hist: the 10,000-table catalog of the index benchmark (bench/build_catalog.sql, run
#      the way bench/run.sh runs it) and BENCH_STATEMENTS distinct statements in pg_stat_statements;
#   2. times apes.snapshot() (median), with the WAL it writes and the bytes it stores (snapshot.sql);
#   3. replaces the history with BENCH_DAYS days of synthetic 15-minute snapshots (synth.sql), in two steps: first the
#      most recent BENCH_SMALL_DAYS days, where it times apes.purge() of one day; then the older days, where it times
#      apes.purge() of one day again, apes.query_stats() against the plain-SQL deltas (plain_query_stats.sql), and one
#      more real apes.snapshot() on top of the long history (snapshot_long.sql);
#   4. prints the targets table (report.sql).
#
# Environment (all optional):
#   BENCH_RUNS=7            measured runs of apes.snapshot() and of each query_stats contender (after one warm-up)
#   BENCH_PURGE_RUNS=5      measured runs of each apes.purge() (each in a transaction that is rolled back)
#   BENCH_STATEMENTS=5000   distinct statements, in pg_stat_statements and in each synthetic snapshot
#   BENCH_REPEAT=3          times each of those statements runs
#   BENCH_DAYS=30           days of synthetic history (96 snapshots a day at BENCH_INTERVAL_MIN=15)
#   BENCH_SMALL_DAYS=10     the smaller history on which apes.purge() is timed first
#   BENCH_CHURN=50          statements that appear (and disappear) per day in the synthetic history
#   BENCH_REL_DAYS=4        most recent days of synthetic relation history, with the relations a real snapshot
#                           stores (4 days: each relation's entries fill their own pages of relation_history_relid_idx,
#                           as after any longer time; 0: no relation history; BENCH_DAYS or more: all days, so the
#                           purged days hold relation rows too (13,000 rows a snapshot: much longer to build))
#   BENCH_TABLES=10000      tables of the catalog (a multiple of 100); BENCH_SCHEMAS=10; BENCH_WORKERS=2
#   BENCH_SHARED_BUFFERS=512MB
#   BENCH_JIT=off           jit setting of the timing sessions
#   BENCH_EXPLAIN=1         print EXPLAIN ANALYZE of the parts of each timed function (0: skip)
#   BENCH_STRICT=1          exit 1 when a target is not met
#   Targets: BENCH_T_SNAPSHOT_MS=1000, BENCH_T_WAL_MB=4, BENCH_T_QUERY_STATS_MS=200, BENCH_T_PURGE_GROWTH=1.5
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
BENCH=$(dirname "$HERE")

if [[ -z "${PGPORT:-}" || -z "${APES_BENCH_INNER:-}" ]]; then
    command -v pg_virtualenv >/dev/null || { echo "bench: pg_virtualenv not found (apt-get install postgresql-common)" >&2; exit 1; }
    export APES_BENCH_INNER=1
    # -t: cluster files in a temporary directory even as root.  pg_stat_statements.max=10000 holds the statements
    # without evictions; track=all as the extension's users are told to set it.  fsync=off only speeds up the builds
    # (the WAL volume is the same; commits do not wait for a flush, so snapshot times leave out the WAL fsync).
    # autovacuum=off: no worker starts mid-timing; the script VACUUMs what autovacuum would have.  max_wal_size=4GB:
    # fewer checkpoints while the synthetic history is written.
    exec pg_virtualenv -t -v 15 \
        -o shared_preload_libraries=pg_stat_statements \
        -o pg_stat_statements.max=10000 \
        -o pg_stat_statements.track=all \
        -o max_locks_per_transaction=256 \
        -o shared_buffers="${BENCH_SHARED_BUFFERS:-512MB}" \
        -o max_wal_size=4GB \
        -o fsync=off \
        -o autovacuum=off \
        "$SELF" "$@"
fi

RUNS=${BENCH_RUNS:-7}
PURGE_RUNS=${BENCH_PURGE_RUNS:-5}
N_STMTS=${BENCH_STATEMENTS:-5000}
REPEAT=${BENCH_REPEAT:-3}
DAYS=${BENCH_DAYS:-30}
SMALL_DAYS=${BENCH_SMALL_DAYS:-10}
CHURN=${BENCH_CHURN:-50}
REL_DAYS=${BENCH_REL_DAYS:-4}
INTERVAL_MIN=${BENCH_INTERVAL_MIN:-15}
N_TABLES=${BENCH_TABLES:-10000}
N_SCHEMAS=${BENCH_SCHEMAS:-10}
WORKERS=${BENCH_WORKERS:-2}
JIT=${BENCH_JIT:-off}
EXPLAIN=${BENCH_EXPLAIN:-1}
STRICT=${BENCH_STRICT:-0}
T_SNAPSHOT_MS=${BENCH_T_SNAPSHOT_MS:-1000}
T_WAL_MB=${BENCH_T_WAL_MB:-4}
T_QS_MS=${BENCH_T_QUERY_STATS_MS:-200}
T_PURGE_GROWTH=${BENCH_T_PURGE_GROWTH:-1.5}
DB=apes_hist

for v in RUNS PURGE_RUNS N_STMTS REPEAT DAYS SMALL_DAYS INTERVAL_MIN N_TABLES N_SCHEMAS WORKERS; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "bench: $v must be a positive integer" >&2; exit 1; }
done
for v in CHURN REL_DAYS; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "bench: $v must be a non-negative integer" >&2; exit 1; }
done
for v in T_SNAPSHOT_MS T_WAL_MB T_QS_MS T_PURGE_GROWTH; do
    [[ "${!v}" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "bench: BENCH_$v must be a number" >&2; exit 1; }
done
if (( N_TABLES % 100 != 0 || N_TABLES % N_SCHEMAS != 0 || (N_TABLES / N_SCHEMAS) % 10 != 0 )); then
    echo "bench: BENCH_TABLES must be a multiple of 100 and of 10 * BENCH_SCHEMAS" >&2
    exit 1
fi
if (( (1440 % INTERVAL_MIN) != 0 )); then
    echo "bench: BENCH_INTERVAL_MIN must divide a day (1440 minutes)" >&2; exit 1
fi
if (( SMALL_DAYS < 2 || SMALL_DAYS >= DAYS )); then
    echo "bench: need 2 <= BENCH_SMALL_DAYS < BENCH_DAYS" >&2; exit 1
fi
if (( REL_DAYS > SMALL_DAYS - 1 && REL_DAYS < DAYS )); then
    # both purges must do the same work: either neither purged day has relation rows, or both have
    echo "bench: BENCH_REL_DAYS must be below BENCH_SMALL_DAYS, or at least BENCH_DAYS" >&2; exit 1
fi
if (( N_STMTS > 2 * N_TABLES || N_STMTS + CHURN * DAYS > 100000 )); then
    echo "bench: BENCH_STATEMENTS must be at most 2 * BENCH_TABLES (two statement shapes per table)" >&2; exit 1
fi

WORK=$(mktemp -d /tmp/apes_hist.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

PSQL=(psql -X -q -v ON_ERROR_STOP=1)
T_START=$(date +%s.%N)
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
step() { printf '   %-62s %7s s (total %s s)\n' "$1" "$(since "$2")" "$(since "$T_START")"; }
# One apes.snapshot() or apes.purge() under auto_explain (nested.sql): the statements inside it that took at least
# $2 ms, with their Insert/Delete node and foreign-key trigger lines.
nested() {
    "${PSQL[@]}" "${COMMON[@]}" -v what="$1" -v min_ms="$2" -f "$HERE/nested.sql" 2>&1 >/dev/null | awk -v scans="$([[ $1 == purge ]] && echo 1 || echo 0)" '
        /NOTICE:  duration:/ { d = $0; sub(/.*NOTICE:  duration: /, "", d); sub(/  plan:.*/, "", d); next }
        /^Query Text:/ { q = substr($0, 13); if (q ~ /^[ \t]*$/) getline q
                         gsub(/[ \t]+/, " ", q); printf "   %12s  %s\n", d, substr(q, 1, 100); next }
        /Trigger for constraint|^ *(Insert|Delete) on / { t = $0; sub(/ *\(cost=[^)]*\)/, "", t); sub(/^ */, "", t)
                                                        printf "   %12s    %s\n", "", t }
        scans && /-> +(Seq Scan|Index Scan|Index Only Scan|Bitmap Heap Scan|Hash Anti Join)/ {
            t = $0; sub(/ *\(cost=[^)]*\)/, "", t); sub(/^ *-> */, "", t); printf "   %12s      %s\n", "", t }
        /ERROR/ { print }'
}
# Run a query that generates statements, then each generated statement (psql \gexec), in autocommit mode.
gexec() { printf '%s\n\\gexec\n' "$1" | "${PSQL[@]}" "${@:2}" >/dev/null; }
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"

EXTVER=$(sed -n "s/^default_version *= *'\(.*\)'.*/\1/p" "$(dirname "$BENCH")/pg_apes_health.control")
SQL_MD5=$(md5sum "$(pg_config --sharedir)/extension/pg_apes_health--$EXTVER.sql" 2>/dev/null | cut -c1-12 || echo '?')
COMMIT=$(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo '?')
DIRTY=$(git -C "$HERE" status --porcelain -- sql src 2>/dev/null | grep -q . && echo ' (sql/ or src/ modified)' || true)

echo "== pg_apes_health history benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "   server: $("${PSQL[@]}" -d postgres -Atc 'SELECT version()')"
echo "   host:   $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo);" \
     "load at start:$(uptime | sed 's/.*load average://')"
echo "   tree:   commit $COMMIT$DIRTY; installed pg_apes_health--$EXTVER.sql md5 $SQL_MD5"
echo "   knobs:  tables=$N_TABLES statements=$N_STMTS x$REPEAT days=$DAYS small_days=$SMALL_DAYS" \
     "interval=${INTERVAL_MIN}min churn=$CHURN/day rel_days=$REL_DAYS runs=$RUNS purge_runs=$PURGE_RUNS jit=$JIT" \
     "shared_buffers=$("${PSQL[@]}" -d postgres -Atc 'SHOW shared_buffers')"

# ---------------------------------------------------------------------------------------------------------------------
# 1. the database, the extensions and the catalog (as bench/run.sh builds it, without its planted index problems)
echo
echo "== 1. catalog and statements"
"${PSQL[@]}" -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
export PGDATABASE=$DB
"${PSQL[@]}" -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_stat_statements" \
             -c "CREATE EXTENSION pg_walinspect"
if ! "${PSQL[@]}" -Atc "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_apes_health'" | grep -q 1; then
    echo "bench: extension pg_apes_health is not installed for $(pg_config --version); run 'make install' first." >&2
    exit 1
fi
"${PSQL[@]}" -c "CREATE EXTENSION pg_apes_health"
echo "   extension: pg_apes_health $("${PSQL[@]}" -Atc "SELECT extversion FROM pg_extension WHERE extname = 'pg_apes_health'")" \
     "(library $("${PSQL[@]}" -Atc 'SELECT apes.version()' 2>/dev/null || echo '?'))"

t=$(now)
bench_build_catalog
"${PSQL[@]}" -c "VACUUM (ANALYZE) pg_catalog.pg_class, pg_catalog.pg_index, pg_catalog.pg_attribute,
                                  pg_catalog.pg_constraint, pg_catalog.pg_namespace, pg_catalog.pg_depend,
                                  pg_catalog.pg_type, pg_catalog.pg_am"
step "catalog: $N_TABLES tables (bench/build_catalog.sql, $WORKERS workers)" "$t"

# The statements.  Counters start from zero (the build scanned every table for its CREATE INDEX and left 50,000
# DDL statements in pg_stat_statements).  Statement j reads table k = j / 2 (spread over all schemas) in one of two
# shapes, so every statement has its own queryid; each runs BENCH_REPEAT times with other constants.  The tables it
# reads get non-zero counters (and so do their indexes: the planner reads their metapages), the others stay at zero.
t=$(now)
bench_run_statements "$N_STMTS" "$REPEAT"
"${PSQL[@]}" -P footer=off -c "
SELECT (SELECT count(*) FROM pg_stat_statements)                                     AS pgss_statements,
       (SELECT count(*) FROM pg_stat_statements WHERE query ~ '^SELECT (count|id, c)') AS workload_statements,
       (SELECT sum(calls) FROM pg_stat_statements WHERE query ~ '^SELECT (count|id, c)') AS workload_calls,
       (SELECT dealloc FROM pg_stat_statements_info)                                  AS pgss_dealloc,
       (SELECT count(*) FROM pg_stat_user_tables WHERE seq_scan + coalesce(idx_scan, 0) > 0) AS tables_read,
       pg_size_pretty(pg_database_size(current_database()))                          AS db_size"
got=$("${PSQL[@]}" -Atc "SELECT count(*) FROM pg_stat_statements WHERE query ~ '^SELECT (count|id, c)'")
if [[ "$got" != "$N_STMTS" ]]; then
    echo "bench: expected $N_STMTS workload statements in pg_stat_statements, found $got" >&2
    exit 1
fi
step "statements: $N_STMTS distinct, each run $REPEAT times" "$t"

COMMON=(-v runs="$RUNS" -v purge_runs="$PURGE_RUNS" -v jit="$JIT" -v explain="$EXPLAIN"
        -v n_stmts="$N_STMTS" -v days="$DAYS" -v small_days="$SMALL_DAYS" -v churn="$CHURN" -v rel_days="$REL_DAYS"
        -v interval_min="$INTERVAL_MIN" -v n_tables="$N_TABLES"
        -v t_snapshot_ms="$T_SNAPSHOT_MS" -v t_wal_mb="$T_WAL_MB" -v t_qs_ms="$T_QS_MS"
        -v t_purge_growth="$T_PURGE_GROWTH")

# ---------------------------------------------------------------------------------------------------------------------
# 2. apes.snapshot() on the live statistics
echo
echo "== 2. apes.snapshot(): time, WAL, bytes stored"
t=$(now)
"${PSQL[@]}" "${COMMON[@]}" -f "$HERE/setup.sql"
"${PSQL[@]}" "${COMMON[@]}" -f "$HERE/snapshot.sql"
if [[ "$EXPLAIN" == 1 ]]; then
    echo
    echo "-- one more apes.snapshot() (rolled back) under auto_explain: its statements of 20 ms or more, with the"
    echo "-- foreign-key checks (RI triggers) of its INSERTs (instrumented: the times are higher than untimed)"
    nested snapshot 20
fi
step "snapshots" "$t"

# ---------------------------------------------------------------------------------------------------------------------
# 3. synthetic history; purge on the small one, then query_stats and purge on the long one
echo
echo "== 3. synthetic history: $DAYS days of ${INTERVAL_MIN}-minute snapshots of $N_STMTS statements"
t=$(now)
"${PSQL[@]}" "${COMMON[@]}" -v phase=small -f "$HERE/synth.sql"
step "most recent $SMALL_DAYS days written and vacuumed" "$t"
t=$(now)
"${PSQL[@]}" "${COMMON[@]}" -v phase=small -f "$HERE/purge.sql"
if [[ "$EXPLAIN" == 1 ]]; then
    echo "-- one more apes.purge() (rolled back) under auto_explain: its statements of 100 ms or more"
    nested purge 100
fi
step "apes.purge() of one day out of $SMALL_DAYS" "$t"
t=$(now)
"${PSQL[@]}" "${COMMON[@]}" -v phase=full -f "$HERE/synth.sql"
step "older $(( DAYS - SMALL_DAYS )) days written and vacuumed" "$t"
t=$(now)
"${PSQL[@]}" "${COMMON[@]}" -v plain="$HERE/plain_query_stats.sql" -f "$HERE/query_stats.sql"
step "apes.query_stats() and the plain SQL" "$t"
t=$(now)
"${PSQL[@]}" "${COMMON[@]}" -v phase=full -f "$HERE/purge.sql"
if [[ "$EXPLAIN" == 1 ]]; then
    echo "-- one more apes.purge() (rolled back) under auto_explain: its statements of 100 ms or more"
    nested purge 100
fi
step "apes.purge() of one day out of $DAYS" "$t"
t=$(now)
"${PSQL[@]}" "${COMMON[@]}" -f "$HERE/snapshot_long.sql"
step "apes.snapshot() on top of the long history" "$t"

# ---------------------------------------------------------------------------------------------------------------------
# 4. targets
echo
"${PSQL[@]}" "${COMMON[@]}" -f "$HERE/report.sql" | tee "$WORK/report.out"
echo "   total $(since "$T_START") s; load at end:$(uptime | sed 's/.*load average://')"

if [[ "$STRICT" == 1 ]] && ! grep -q 'BENCH VERDICT: ALL TARGETS MET' "$WORK/report.out"; then
    echo "bench: targets not met (BENCH_STRICT=1)" >&2
    exit 1
fi
