#!/usr/bin/env bash
# pg_apes_health index advice benchmark: what drop simulations and missing-index suggestions cost on the 10,000-table
# catalog with 5,000 statements in pg_stat_statements, against planning the same statements with EXPLAIN from SQL.
# See bench/advice/README.md.
#
#   bench/advice/run.sh               needs `make install` done first (uses the installed extension)
#
# Outside a cluster it re-executes itself inside a throwaway cluster of test/cluster.sh (PG_CONFIG picks the server);
# inside, it
#   1. builds the database apes_advice: the catalog of bench/build_catalog.sql (run as bench/run.sh runs it), a few
#      tables filled with rows, and BENCH_STATEMENTS distinct statements in pg_stat_statements;
#   2. picks what both sides are asked to do: BENCH_DROPS indexes of drop findings whose tables the statements read
#      (with the statements the simulation plans), and the filled tables' unindexed column the statements filter by;
#   3. runs every contender in a psql session of its own, while bench/scale/rss_sampler.pl reads RssAnon of that
#      session's backend: one warm-up, then BENCH_RUNS runs, the contenders interleaved (one run of each, then the
#      next run); times are taken on the server (bench.run());
#   4. prints the medians, the peak memory growth and the ratios.
#
# Environment (all optional):
#   BENCH_RUNS=5            measured runs per contender (after one warm-up)
#   BENCH_TABLES=10000      tables of the catalog (a multiple of 100); BENCH_SCHEMAS=10; BENCH_WORKERS=2
#   BENCH_STATEMENTS=5000   distinct statements (two shapes per table, as bench/history) run BENCH_REPEAT=2 times
#   BENCH_DROPS=100         indexes whose drop is simulated one by one (apes.simulate_drop) against the reference
#   BENCH_FILLED=20         tables filled with BENCH_FILL_ROWS=50000 rows, whose statements filter by parent_id, a
#                           column no index of theirs has (index_missing's candidates)
#   BENCH_SAMPLE_MS=2       RssAnon sampling interval
#   BENCH_CALL_TIMEOUT=1800 seconds to wait for one call
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
REPEAT=${BENCH_REPEAT:-2}
N_DROPS=${BENCH_DROPS:-100}
N_FILLED=${BENCH_FILLED:-20}
FILL_ROWS=${BENCH_FILL_ROWS:-50000}
SAMPLE_MS=${BENCH_SAMPLE_MS:-2}
CALL_TIMEOUT=${BENCH_CALL_TIMEOUT:-1800}
DB=apes_advice

for v in RUNS N_TABLES N_SCHEMAS WORKERS N_STMTS REPEAT N_DROPS N_FILLED FILL_ROWS SAMPLE_MS CALL_TIMEOUT; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "bench: $v must be a positive integer" >&2; exit 1; }
done
if (( N_TABLES % 100 != 0 || N_TABLES % N_SCHEMAS != 0 || (N_TABLES / N_SCHEMAS) % 10 != 0 )); then
    echo "bench: BENCH_TABLES must be a multiple of 100 and of 10 * BENCH_SCHEMAS" >&2; exit 1
fi
if (( N_STMTS > 2 * N_TABLES || N_FILLED * 10 > N_TABLES )); then
    echo "bench: BENCH_STATEMENTS must be at most 2 * BENCH_TABLES, BENCH_FILLED at most BENCH_TABLES / 10" >&2; exit 1
fi

WORK=$(mktemp -d /tmp/apes_advice.XXXXXX)
chmod 755 "$WORK"
cleanup() {
    local pids
    pids=$(jobs -p)
    [[ -n "$pids" ]] && kill $pids 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

PSQL=(psql -X -q -v ON_ERROR_STOP=1)
T_START=$(date +%s.%N)
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
step() { printf '   %-66s %7s s (total %s s)\n' "$1" "$(since "$2")" "$(since "$T_START")"; }
gexec() { printf '%s\n\\gexec\n' "$1" | "${PSQL[@]}" "${@:2}" >/dev/null; }
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"
qa() { "${PSQL[@]}" -At -c "$1"; }

COMMIT=$(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo '?')
DIRTY=$(git -C "$HERE" status --porcelain -- sql src 2>/dev/null | grep -q . && echo ' (sql/ or src/ modified)' || true)

# more room in pg_stat_statements than the workload needs (no evictions), then restart
"${PSQL[@]}" -d postgres -c "ALTER SYSTEM SET pg_stat_statements.max = 10000" -c "ALTER SYSTEM SET jit = off" \
             -c "ALTER SYSTEM SET autovacuum = off" >/dev/null
"$ROOT/test/pgctl.sh" restart >/dev/null

echo "== pg_apes_health index advice benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "   server: $("${PSQL[@]}" -d postgres -Atc 'SELECT version()')"
echo "   host:   $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo);" \
     "load at start:$(uptime | sed 's/.*load average://')"
echo "   tree:   commit $COMMIT$DIRTY"
echo "   knobs:  tables=$N_TABLES statements=$N_STMTS x$REPEAT drops=$N_DROPS filled=$N_FILLED x$FILL_ROWS rows" \
     "runs=$RUNS sample=${SAMPLE_MS}ms"

# ---------------------------------------------------------------------------------------------------------------------
# 1. catalog, filled tables, statements
echo
echo "== 1. catalog and statements"
"${PSQL[@]}" -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
export PGDATABASE=$DB
"${PSQL[@]}" -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_stat_statements" \
             -c "CREATE EXTENSION pg_apes_health"
echo "   extension: pg_apes_health $(qa "SELECT extversion FROM pg_extension WHERE extname = 'pg_apes_health'")" \
     "(library $(qa 'SELECT apes.version()'))"
t=$(now)
bench_build_catalog
step "catalog: $N_TABLES tables (bench/build_catalog.sql, $WORKERS workers)" "$t"

# filled tables: k % 10 = 4 (no plant there), spread over the schemas; parent_id has no index on them
t=$(now)
FILLED_SEL="SELECT 's' || (k / $per_schema) AS s, 't' || lpad(k::text, 5, '0') AS t
              FROM generate_series(0, $N_TABLES - 1) k WHERE k % 10 = 4 AND k % ($N_TABLES / $N_FILLED) = 4
             ORDER BY k LIMIT $N_FILLED"
gexec "SELECT format('INSERT INTO %I.%I (id, a, b, c, d, parent_id)
                      SELECT g, g %% 1000, g, ''v'' || g, timestamptz ''2024-01-01'' + g * interval ''1 s'', g %% 5000
                        FROM generate_series(1, $FILL_ROWS) g', s, t) FROM ($FILLED_SEL) x"
gexec "SELECT format('ANALYZE %I.%I', s, t) FROM ($FILLED_SEL) x"
"${PSQL[@]}" -c "VACUUM (ANALYZE) pg_catalog.pg_class, pg_catalog.pg_index, pg_catalog.pg_attribute,
                                  pg_catalog.pg_constraint, pg_catalog.pg_namespace, pg_catalog.pg_depend,
                                  pg_catalog.pg_type, pg_catalog.pg_am, pg_catalog.pg_statistic"
step "$N_FILLED tables filled with $FILL_ROWS rows, catalogs vacuumed" "$t"

# the statements: as bench/history (statement j reads table k = j / 2 in one of two shapes), and on each filled table
# a look-up by parent_id; counters start from zero
t=$(now)
bench_run_statements "$N_STMTS" "$REPEAT"
gexec "SELECT format('SELECT count(*) FROM %I.%I WHERE parent_id = %s', s, t, r)
         FROM ($FILLED_SEL) x, generate_series(1, $REPEAT) r"
step "statements: $(qa "SELECT count(*) FROM pg_stat_statements") in pg_stat_statements" "$t"

# ---------------------------------------------------------------------------------------------------------------------
# 2. what both sides do
echo
echo "== 2. samples"
t=$(now)
"${PSQL[@]}" -f "$HERE/lib.sql"
# drop findings (their indexes) whose tables the statements read, with the statements the simulation plans
"${PSQL[@]}" -c "SET pg_apes_health.simulation_time_budget = 0" -c "
CREATE TABLE bench.drop_findings AS
SELECT f.object_name::regclass AS idx, f.check_id
  FROM apes.findings('index') f
 WHERE f.check_id IN ('index_unused', 'index_rarely_used', 'index_redundant', 'index_duplicate')"
"${PSQL[@]}" -c "
INSERT INTO bench.drop_sample
SELECT d.idx, array_agg(s.query ORDER BY s.rank)
  FROM bench.drop_findings d, LATERAL apes.simulate_drop(d.idx) s
 WHERE s.status = 'planned'
 GROUP BY d.idx"
"${PSQL[@]}" -c "
CREATE TABLE bench.drop_one_by_one AS
SELECT idx, stmts FROM bench.drop_sample ORDER BY idx::oid LIMIT $N_DROPS"
"${PSQL[@]}" -c "
INSERT INTO bench.suggest_sample
SELECT format('%I.%I', x.s, x.t)::regclass, 'parent_id', array_agg(DISTINCT p.query)
  FROM ($FILLED_SEL) x
  JOIN pg_stat_statements p ON p.query LIKE format('%% %s.%s WHERE parent_id = %%', x.s, x.t)
 GROUP BY 1"
echo "   drop findings: $(qa "SELECT count(*) FROM bench.drop_findings"); with statements reading their tables:" \
     "$(qa "SELECT count(*) FROM bench.drop_sample") ($(qa "SELECT coalesce(sum(cardinality(stmts)), 0) FROM bench.drop_sample") statements);" \
     "simulated one by one: $(qa "SELECT count(*) FROM bench.drop_one_by_one")" \
     "($(qa "SELECT coalesce(sum(cardinality(stmts)), 0) FROM bench.drop_one_by_one") statements)"
echo "   suggestion candidates: $(qa "SELECT count(*) FROM bench.suggest_sample") (filled tables by parent_id)"
step "samples" "$t"

# ---------------------------------------------------------------------------------------------------------------------
# 3. contenders, each in a session of its own with its RssAnon sampler

declare -A S_W S_R S_PID S_SW S_SR S_SPID
OUT="" MEM_BASE=0 MEM_PEAK=0

session_open() {         # NAME SETUP-SQL
    local n=$1 w r
    mkfifo "$WORK/$n.in" "$WORK/$n.out" "$WORK/$n.sin" "$WORK/$n.sout"
    psql -X -q -At -v ON_ERROR_STOP=0 <"$WORK/$n.in" >"$WORK/$n.out" 2>&1 &
    S_PID[$n]=$!
    exec {w}>"$WORK/$n.in"; exec {r}<"$WORK/$n.out"
    S_W[$n]=$w; S_R[$n]=$r
    session_sql "$n" "SET client_min_messages = warning; $2 SELECT pg_backend_pid();" || { echo "bench: $OUT" >&2; exit 1; }
    perl "$BENCH/scale/rss_sampler.pl" "$OUT" "$SAMPLE_MS" <"$WORK/$n.sin" >"$WORK/$n.sout" &
    S_SPID[$n]=$!
    exec {w}>"$WORK/$n.sin"; exec {r}<"$WORK/$n.sout"
    S_SW[$n]=$w; S_SR[$n]=$r
}

session_sql() {          # NAME SQL: its output lines in OUT; status 1 when they hold an ERROR
    local n=$1 line
    printf '%s\n\\echo __BENCH_END__\n' "$2" >&"${S_W[$n]}"
    OUT=""
    while IFS= read -r -t "$CALL_TIMEOUT" line <&"${S_R[$n]}"; do
        if [[ "$line" == __BENCH_END__ ]]; then
            [[ "$OUT" == *ERROR:* ]] && return 1
            return 0
        fi
        OUT+="${OUT:+$'\n'}$line"
    done
    echo "bench: session $n gave no answer in $CALL_TIMEOUT s: $OUT" >&2; exit 1
}

session_call() {         # NAME SQL: session_sql while the sampler runs; MEM_BASE and MEM_PEAK (kB)
    local n=$1 line rc=0
    echo start >&"${S_SW[$n]}"
    IFS= read -r line <&"${S_SR[$n]}"
    session_sql "$n" "$2" || rc=$?
    echo stop >&"${S_SW[$n]}"
    IFS= read -r line <&"${S_SR[$n]}"
    read -r MEM_BASE MEM_PEAK _ <<<"$line"
    return $rc
}

# KEY|SETUP|SQL|LABEL: SETUP runs once when the session opens; SQL is timed by bench.run()
CONTENDERS=(
"ext_drop|SET pg_apes_health.simulation_time_budget = 0;|SELECT count(*) FROM bench.drop_one_by_one s, LATERAL apes.simulate_drop(s.idx) d WHERE d.status = 'planned'|apes.simulate_drop() of each sampled index"
"ref_drop|SET pg_apes_health.simulation_time_budget = 0;|SELECT sum(bench.ref_drop(s.idx, s.stmts)) FROM bench.drop_one_by_one s|EXPLAIN from SQL of the same statements (handed to it), with the index and after DROP INDEX (rolled back)"
"ref_lookup|SET pg_apes_health.simulation_time_budget = 0;|SELECT sum(bench.ref_drop_lookup(s.idx)) FROM bench.drop_one_by_one s|the same, finding its statements in pg_stat_statements first (top 20 naming the table)"
"ext_all|SET pg_apes_health.simulation_time_budget = '1h';|SELECT count(*) FROM apes.findings('index')|apes.findings('index'), every drop simulated, suggestions (no budget)"
"ext_none|SET pg_apes_health.simulation_time_budget = 0;|SELECT count(*) FROM apes.findings('index')|apes.findings('index'), no simulation (budget 0)"
"ref_all|SET pg_apes_health.simulation_time_budget = 0;|SELECT (SELECT coalesce(sum(bench.ref_drop(s.idx, s.stmts)), 0) FROM bench.drop_sample s) + (SELECT coalesce(sum(bench.ref_suggest(s.tbl, s.col, s.stmts)), 0) FROM bench.suggest_sample s)|EXPLAIN from SQL: every drop finding's statements with and without its index, and each candidate built (CREATE INDEX, rolled back)"
"json_default||SELECT length(apes.health_json()::text)|apes.health_json(), default budget (200 ms)"
"json_none|SET pg_apes_health.simulation_time_budget = 0;|SELECT length(apes.health_json()::text)|apes.health_json(), no simulation (budget 0)"
)
declare -A R_MS R_FIRST R_PEAK R_RES LABEL
for c in "${CONTENDERS[@]}"; do
    IFS='|' read -r key setup sql label <<<"$c"
    LABEL[$key]=$label
    session_open "$key" "$setup"
done

echo
echo "== 3. runs (1 warm-up + $RUNS, interleaved)"
t=$(now)
for (( run = 0; run <= RUNS; run++ )); do
    for c in "${CONTENDERS[@]}"; do
        IFS='|' read -r key setup sql label <<<"$c"
        session_call "$key" "SELECT ms || '|' || coalesce(result, '') FROM bench.run(\$bench\$$sql\$bench\$);" ||
            { echo "bench: $key failed: $OUT" >&2; exit 1; }
        ms=${OUT%%|*}
        res=${OUT#*|}
        grow=$(( MEM_PEAK - MEM_BASE ))
        if (( run == 0 )); then
            R_FIRST[$key]=$ms
        else
            R_MS[$key]+="${R_MS[$key]:+ }$ms"
        fi
        (( grow > ${R_PEAK[$key]:--1} )) && R_PEAK[$key]=$grow
        R_RES[$key]=$res
    done
    printf '   run %d done (%s s)\n' "$run" "$(since "$t")"
done

median() { tr ' ' '\n' <<<"$1" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A MED
for c in "${CONTENDERS[@]}"; do
    IFS='|' read -r key _ <<<"$c"
    MED[$key]=$(median "${R_MS[$key]}")
done

# ---------------------------------------------------------------------------------------------------------------------
# 4. report
echo
echo "== 4. results (median of $RUNS runs; first = the warm-up call; peak = largest RssAnon growth of the backend)"
printf '   %-13s %11s %11s %9s %10s  %s\n' contender median_ms first_ms peak_kB result what
for c in "${CONTENDERS[@]}"; do
    IFS='|' read -r key _ <<<"$c"
    printf '   %-13s %11.1f %11.1f %9d %10s  %s\n' "$key" "${MED[$key]}" "${R_FIRST[$key]}" "${R_PEAK[$key]}" \
        "${R_RES[$key]}" "${LABEL[$key]}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
n_one=$(qa "SELECT count(*) FROM bench.drop_one_by_one")
s_one=$(qa "SELECT coalesce(sum(cardinality(stmts)), 0) FROM bench.drop_one_by_one")
extra_all=$(awk -v a="${MED[ext_all]}" -v b="${MED[ext_none]}" 'BEGIN { printf "%.1f", a - b }')
extra_json=$(awk -v a="${MED[json_default]}" -v b="${MED[json_none]}" 'BEGIN { printf "%.1f", a - b }')
echo
echo "   drop simulation, $n_one indexes one by one ($s_one statements): $(awk -v a="${MED[ext_drop]}" -v n="$n_one" 'BEGIN { printf "%.2f", a / n }') ms per index;" \
     "extension / reference handed the statements = $(ratio "${MED[ext_drop]}" "${MED[ref_drop]}")," \
     "extension / reference finding them in pg_stat_statements = $(ratio "${MED[ext_drop]}" "${MED[ref_lookup]}")"
echo "   every drop finding simulated and every suggestion tried: $extra_all ms over the report without them;" \
     "extension / reference = $(ratio "$extra_all" "${MED[ref_all]}")"
echo "   health_json() with the default simulation budget: +$extra_json ms over budget 0" \
     "($(ratio "${MED[json_default]}" "${MED[json_none]}") times)"
echo
echo "   total $(since "$T_START") s; load at end:$(uptime | sed 's/.*load average://')"
