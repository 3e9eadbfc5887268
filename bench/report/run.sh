#!/usr/bin/env bash
# pg_apes_health report benchmark: apes.report_html() and apes.metrics() on the 10,000-table catalog with 30 days of
# 15-minute snapshots, each beside a plain-SQL reference doing the same aggregation.  See bench/report/README.md.
#
#   bench/report/run.sh          needs `make install` first (uses the installed extension of PG_CONFIG's server)
#
# Outside a cluster it re-executes itself inside a throwaway cluster of test/cluster.sh (pg_stat_statements
# preloaded); inside, it
#   1. builds the database apes_report_bench: the catalog of the index benchmark (bench/build_catalog.sql, run the
#      way bench/run.sh runs it) and BENCH_STATEMENTS statements in pg_stat_statements;
#   2. writes BENCH_DAYS days of BENCH_INTERVAL_MIN-minute snapshots: statements, relations and database counters as
#      bench/history/synth.sql writes them (from one real snapshot), then the history tables it does not write
#      (bench/report/extra_history.sql: WAL and checkpoints, database sizes, pools, finding episodes);
#   3. times each contender BENCH_RUNS times after a warm-up, each in a session of its own, while
#      bench/scale/rss_sampler.pl reads the session backend's RssAnon (peak memory: the largest growth over a call);
#   4. prints medians, peak memory and ratios, and whether apes.report_html() over the last day met its target.
#
# Environment (all optional):
#   BENCH_RUNS=5 BENCH_TABLES=10000 BENCH_SCHEMAS=10 BENCH_WORKERS=2 BENCH_STATEMENTS=5000 BENCH_DAYS=30
#   BENCH_INTERVAL_MIN=15 BENCH_CHURN=50 (statements replaced a day) BENCH_REL_DAYS=4 (days with relation history)
#   BENCH_POOLS=20 BENCH_OPEN_FINDINGS=2000 BENCH_CHURN_FINDINGS=100 (finding episodes a day)
#   BENCH_T_REPORT_MS=2000 (target: report_html() over the last day, median)  BENCH_STRICT=1 (exit 1 when missed)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
BENCH=$(dirname "$HERE")
ROOT=$(dirname "$BENCH")

if [[ -z "${APES_BENCH_INNER:-}" ]]; then
    export APES_BENCH_INNER=1
    exec "$ROOT/test/cluster.sh" "$SELF" "$@"
fi

RUNS=${BENCH_RUNS:-5}
N_TABLES=${BENCH_TABLES:-10000}
N_SCHEMAS=${BENCH_SCHEMAS:-10}
WORKERS=${BENCH_WORKERS:-2}
N_STMTS=${BENCH_STATEMENTS:-5000}
DAYS=${BENCH_DAYS:-30}
INTERVAL_MIN=${BENCH_INTERVAL_MIN:-15}
CHURN=${BENCH_CHURN:-50}
REL_DAYS=${BENCH_REL_DAYS:-4}
POOLS=${BENCH_POOLS:-20}
OPEN_FINDINGS=${BENCH_OPEN_FINDINGS:-2000}
CHURN_FINDINGS=${BENCH_CHURN_FINDINGS:-100}
T_REPORT_MS=${BENCH_T_REPORT_MS:-2000}
STRICT=${BENCH_STRICT:-0}
SAMPLE_MS=5
DB=apes_report_bench
for v in RUNS N_TABLES N_SCHEMAS WORKERS N_STMTS DAYS INTERVAL_MIN POOLS OPEN_FINDINGS CHURN_FINDINGS T_REPORT_MS; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "bench: $v must be a positive integer" >&2; exit 1; }
done
if (( N_TABLES % 100 != 0 || N_TABLES % N_SCHEMAS != 0 || (1440 % INTERVAL_MIN) != 0 || DAYS < 2 )); then
    echo "bench: BENCH_TABLES must be a multiple of 100 and of BENCH_SCHEMAS, BENCH_INTERVAL_MIN divide a day, BENCH_DAYS >= 2" >&2
    exit 1
fi

WORK=$(mktemp -d /tmp/apes_report_bench.XXXXXX)
PSQL=(psql -X -q -v ON_ERROR_STOP=1)
declare -A S_W S_R S_PID S_SW S_SR S_SPID
cleanup() {
    for n in "${!S_PID[@]}"; do kill "${S_PID[$n]}" "${S_SPID[$n]}" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
T_START=$(date +%s.%N)
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
step() { printf '   %-62s %7s s (total %s s)\n' "$1" "$(since "$2")" "$(since "$T_START")"; }
gexec() { printf '%s\n\\gexec\n' "$1" | "${PSQL[@]}" "${@:2}" >/dev/null; }
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"

echo "== pg_apes_health report benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "   server: $("${PSQL[@]}" -d postgres -Atc 'SELECT version()')"
echo "   host:   $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo);" \
     "load at start:$(uptime | sed 's/.*load average://')"
echo "   tree:   commit $(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "   knobs:  tables=$N_TABLES statements=$N_STMTS days=$DAYS interval=${INTERVAL_MIN}min churn=$CHURN/day" \
     "rel_days=$REL_DAYS pools=$POOLS open_findings=$OPEN_FINDINGS churn_findings=$CHURN_FINDINGS/day runs=$RUNS"
# no autovacuum worker mid-timing (the scripts VACUUM what it would), fewer checkpoints while the history is written
"${PSQL[@]}" -d postgres -c "ALTER SYSTEM SET autovacuum = off" -c "ALTER SYSTEM SET max_wal_size = '4GB'" \
    -c "SELECT pg_reload_conf()" >/dev/null

# ---------------------------------------------------------------------------------------------------------------------
echo
echo "== 1. catalog and statements"
t=$(date +%s.%N)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB"
export PGDATABASE=$DB
"${PSQL[@]}" -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_stat_statements" \
             -c "CREATE EXTENSION pg_walinspect" -c "CREATE EXTENSION pg_apes_health"
bench_build_catalog
"${PSQL[@]}" -c "VACUUM (ANALYZE) pg_catalog.pg_class, pg_catalog.pg_index, pg_catalog.pg_attribute,
                                  pg_catalog.pg_constraint, pg_catalog.pg_namespace, pg_catalog.pg_depend"
step "catalog: $N_TABLES tables (bench/build_catalog.sql, $WORKERS workers)" "$t"
# the statements, as bench/history/run.sh makes them: statement j reads table j / 2 in one of two shapes
t=$(date +%s.%N)
bench_run_statements "$N_STMTS" 1
step "statements: $N_STMTS distinct" "$t"

# ---------------------------------------------------------------------------------------------------------------------
echo
echo "== 2. history: $DAYS days of ${INTERVAL_MIN}-minute snapshots"
t=$(date +%s.%N)
"${PSQL[@]}" -f "$BENCH/history/setup.sql"
"${PSQL[@]}" -c "CREATE TABLE bench.snap_run (snapshot_id bigint)" \
             -c "INSERT INTO bench.snap_run SELECT apes.snapshot()" >/dev/null
SYNTH=(-v n_stmts="$N_STMTS" -v days="$DAYS" -v small_days=1 -v churn="$CHURN" -v rel_days="$REL_DAYS"
       -v interval_min="$INTERVAL_MIN")
"${PSQL[@]}" "${SYNTH[@]}" -v phase=small -f "$BENCH/history/synth.sql" >/dev/null
"${PSQL[@]}" "${SYNTH[@]}" -v phase=full -f "$BENCH/history/synth.sql"
"${PSQL[@]}" -v pools="$POOLS" -v open_findings="$OPEN_FINDINGS" -v churn_findings="$CHURN_FINDINGS" \
    -f "$HERE/extra_history.sql"
step "history written (bench/history/synth.sql, bench/report/extra_history.sql)" "$t"

# ---------------------------------------------------------------------------------------------------------------------
# sessions: psql through a FIFO, with rss_sampler.pl on its backend
session_open() {         # NAME
    local n=$1 w r pid line
    mkfifo "$WORK/$n.in" "$WORK/$n.out" "$WORK/$n.sin" "$WORK/$n.sout"
    psql -X -q -At -d "$DB" <"$WORK/$n.in" >"$WORK/$n.out" 2>&1 &
    S_PID[$n]=$!
    exec {w}>"$WORK/$n.in"; exec {r}<"$WORK/$n.out"
    S_W[$n]=$w; S_R[$n]=$r
    printf 'SET jit = off;\nSELECT pg_backend_pid();\n' >&"$w"
    IFS= read -r -t 60 pid <&"$r"
    [[ "$pid" =~ ^[0-9]+$ ]] || { echo "bench: session $n: $pid" >&2; exit 1; }
    perl "$BENCH/scale/rss_sampler.pl" "$pid" "$SAMPLE_MS" <"$WORK/$n.sin" >"$WORK/$n.sout" &
    S_SPID[$n]=$!
    exec {w}>"$WORK/$n.sin"; exec {r}<"$WORK/$n.sout"
    S_SW[$n]=$w; S_SR[$n]=$r
    printf '\\timing on\n' >&"${S_W[$n]}"
}
# session_call NAME SQL: the SQL's total time in MS (psql's \timing, summed over its statements) and the backend's
# RssAnon growth over the call in GROW_KB
session_call() {
    local n=$1 line base peak
    echo start >&"${S_SW[$n]}"
    IFS= read -r line <&"${S_SR[$n]}"
    printf '%s\n\\echo __BENCH_END__\n' "$2" >&"${S_W[$n]}"
    MS=0
    while IFS= read -r -t 600 line <&"${S_R[$n]}"; do
        [[ "$line" == __BENCH_END__ ]] && break
        [[ "$line" == *ERROR* ]] && { echo "bench: $line" >&2; exit 1; }
        [[ "$line" =~ ^Time:\ ([0-9.]+)\ ms ]] && MS=$(awk -v a="$MS" -v b="${BASH_REMATCH[1]}" 'BEGIN { print a + b }')
    done
    echo stop >&"${S_SW[$n]}"
    read -r base peak _ <&"${S_SR[$n]}"
    GROW_KB=$(( peak - base ))
}
session_close() {        # NAME
    local n=$1 w=${S_W[$1]} r=${S_R[$1]} sw=${S_SW[$1]} sr=${S_SR[$1]}
    printf '\\q\n' >&"$w" || true
    exec {w}>&- {r}<&- {sw}>&- {sr}<&-
    wait "${S_PID[$n]}" "${S_SPID[$n]}" 2>/dev/null || true
    unset "S_PID[$n]" "S_SPID[$n]"
}
median() { tr ' ' '\n' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A MED PEAK
# contender KEY LABEL SQL: a warm-up and RUNS timed calls in a session of its own; median ms and largest growth
contender() {
    local k=$1 label=$2 sql=$3 times="" peak=0 i
    session_open "$k"
    for (( i = 0; i <= RUNS; i++ )); do
        session_call "$k" "$sql"
        (( i > 0 )) && times+=" $MS"
        (( GROW_KB > peak )) && peak=$GROW_KB
    done
    session_close "$k"
    MED[$k]=$(echo "$times" | median)
    PEAK[$k]=$peak
    printf '   %-58s median %9.1f ms  (runs:%s)  peak +%s MB\n' "$label" "${MED[$k]}" "$times" \
        "$(awk -v k="$peak" 'BEGIN { printf "%.1f", k / 1024 }')"
}

echo
echo "== 3. timing: $RUNS runs after a warm-up, each contender in its own session"
day="since => now() - interval '1 day', until => now()"
month="since => now() - interval '$DAYS days', until => now()"
plain_day=$(sed "s/:'since'/(now() - interval '1 day')/g; s/:'until'/now()/g" "$HERE/plain_report.sql")
plain_month=$(sed "s/:'since'/(now() - interval '$DAYS days')/g; s/:'until'/now()/g" "$HERE/plain_report.sql")
contender html_day "apes.report_html(), last day" "SELECT length(apes.report_html($day));"
contender ref_day "reference: plain SQL of the history + health_json(), last day" "$plain_day
SELECT length(apes.health_json()::text);"
contender html_month "apes.report_html(), $DAYS days" "SELECT length(apes.report_html($month));"
contender ref_month "reference: plain SQL + health_json(), $DAYS days" "$plain_month
SELECT length(apes.health_json()::text);"
contender series_day "apes.report_series() alone, last day" "SELECT count(*) FROM apes.report_series(now() - interval '1 day', now(), 10);"
contender plain_day "plain SQL of the history alone, last day" "$plain_day"
contender series_month "apes.report_series() alone, $DAYS days" "SELECT count(*) FROM apes.report_series(now() - interval '$DAYS days', now(), 10);"
contender plain_month "plain SQL of the history alone, $DAYS days" "$plain_month"
contender metrics "apes.metrics()" "SELECT length(apes.metrics());"
contender ref_metrics "reference: plain SQL over the same views + findings" "$(cat "$HERE/plain_metrics.sql")"

# ---------------------------------------------------------------------------------------------------------------------
echo
echo "== 4. results (medians of $RUNS runs; peak: the largest RssAnon growth of the session's backend over a call)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
printf '   %-34s %12s %12s %8s %10s %10s\n' what extension reference ratio "ext peak" "ref peak"
row() {
    printf '   %-34s %9.1f ms %9.1f ms %8s %7s MB %7s MB\n' "$1" "${MED[$2]}" "${MED[$3]}" "$(ratio "${MED[$2]}" "${MED[$3]}")" \
        "$(mb "${PEAK[$2]}")" "$(mb "${PEAK[$3]}")"
}
row "report_html(), last day" html_day ref_day
row "report_html(), $DAYS days" html_month ref_month
row "report_series(), last day" series_day plain_day
row "report_series(), $DAYS days" series_month plain_month
row "metrics()" metrics ref_metrics
verdict=$(awk -v m="${MED[html_day]}" -v t="$T_REPORT_MS" 'BEGIN { print (m <= t) ? "met" : "MISSED" }')
echo "   target: apes.report_html() over the last day <= $T_REPORT_MS ms (median): $verdict"
echo "   total $(since "$T_START") s; load at end:$(uptime | sed 's/.*load average://')"
[[ "$STRICT" == 1 && "$verdict" != met ]] && exit 1
exit 0
