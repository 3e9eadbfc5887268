#!/usr/bin/env bash
# pg_apes_health index-health benchmark.  See bench/README.md.
#
#   bench/run.sh                      (or: make bench)        needs `make install` done first
#   BENCH_SKIP_EXT=1 bench/run.sh     catalog + plain-SQL reference only, no extension needed
#
# Outside a cluster it re-executes itself inside a throwaway pg_virtualenv cluster (PostgreSQL 15); inside, it builds
# the database apes_bench (10,000 empty tables, ~41,000 indexes, planted index problems), then times
# apes.findings('index'), apes.health_json() and the plain-SQL reference (bench/plain_sql_index_checks.sql).
#
# Environment (all optional):
#   BENCH_RUNS=7          measured runs per contender (plus one warm-up run each)
#   BENCH_TABLES=10000    tables (a multiple of 100); BENCH_SCHEMAS=10 schemas s0..s9
#   BENCH_WORKERS=2       parallel psql sessions for the catalog build
#   BENCH_INVALID=10      invalid indexes to plant (failed CREATE UNIQUE INDEX CONCURRENTLY)
#   BENCH_FILLED=10       tables filled with BENCH_FILL_ROWS=60000 rows so their 3 secondary indexes pass the
#                         1 MB minimum of the unused-index check (all other tables stay empty)
#   BENCH_JIT=off         jit setting of the timing session (off: JIT compilation would only slow the plain SQL)
#   BENCH_SKIP_EXT=1      do not create or time the extension
#   BENCH_STRICT=1        exit 1 when a target is not met
#   BENCH_KEEP_DB=1       inside an existing cluster: reuse an existing apes_bench catalog instead of rebuilding it
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"

if [[ -z "${PGPORT:-}" || -z "${APES_BENCH_INNER:-}" ]]; then
    command -v pg_virtualenv >/dev/null || { echo "bench: pg_virtualenv not found (apt-get install postgresql-common)" >&2; exit 1; }
    export APES_BENCH_INNER=1
    # -t: cluster files in a temporary directory even as root, so this never collides with another 15/regress.
    # fsync=off only speeds up the catalog build; the timed part is read-only.
    exec pg_virtualenv -t -v 15 \
        -o shared_preload_libraries=pg_stat_statements \
        -o max_locks_per_transaction=256 \
        -o fsync=off \
        -o autovacuum=off \
        "$SELF" "$@"
fi

RUNS=${BENCH_RUNS:-7}
N_TABLES=${BENCH_TABLES:-10000}
N_SCHEMAS=${BENCH_SCHEMAS:-10}
WORKERS=${BENCH_WORKERS:-2}
N_INVALID=${BENCH_INVALID:-10}
N_FILLED=${BENCH_FILLED:-10}
FILL_ROWS=${BENCH_FILL_ROWS:-60000}
JIT=${BENCH_JIT:-off}
SKIP_EXT=${BENCH_SKIP_EXT:-0}
STRICT=${BENCH_STRICT:-0}
KEEP_DB=${BENCH_KEEP_DB:-0}
DB=apes_bench

if (( N_TABLES % 100 != 0 || N_TABLES % N_SCHEMAS != 0 || (N_TABLES / N_SCHEMAS) % 10 != 0 )); then
    echo "bench: BENCH_TABLES must be a multiple of 100 and of 10 * BENCH_SCHEMAS" >&2
    exit 1
fi
if [[ "$SKIP_EXT" == 1 ]]; then WITH_EXT=false; else WITH_EXT=true; fi

WORK=$(mktemp -d /tmp/apes_bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

PSQL=(psql -X -q -v ON_ERROR_STOP=1)
now() { date +%s.%N; }
# Run a query that generates statements, then each generated statement (psql \gexec), in autocommit mode.
gexec() { printf '%s\n\\gexec\n' "$1" | "${PSQL[@]}" "${@:2}" >/dev/null; }
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

echo "== pg_apes_health index benchmark"
echo "   server: $("${PSQL[@]}" -d postgres -Atc 'SELECT version()')"
echo "   host:   $(nproc) cores; tables=$N_TABLES schemas=$N_SCHEMAS runs=$RUNS workers=$WORKERS jit=$JIT"

# ---------------------------------------------------------------------------------------------------------------------
# 1. the database and the extension
reuse=0
if [[ "$KEEP_DB" == 1 ]] && "${PSQL[@]}" -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
    reuse=1
    echo "   reusing the existing database $DB (BENCH_KEEP_DB=1)"
else
    "${PSQL[@]}" -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
fi
export PGDATABASE=$DB

"${PSQL[@]}" -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
if [[ "$WITH_EXT" == true ]]; then
    if ! "${PSQL[@]}" -Atc "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_apes_health'" | grep -q 1; then
        echo "bench: extension pg_apes_health is not installed for $(pg_config --version)." >&2
        echo "       Run 'make install' first, or BENCH_SKIP_EXT=1 bench/run.sh for the plain-SQL part only." >&2
        exit 1
    fi
    if [[ $reuse == 0 ]] || ! "${PSQL[@]}" -Atc "SELECT 1 FROM pg_extension WHERE extname = 'pg_apes_health'" | grep -q 1; then
        "${PSQL[@]}" -c "CREATE EXTENSION pg_apes_health"
    fi
    echo "   extension: pg_apes_health $("${PSQL[@]}" -Atc "SELECT extversion FROM pg_extension WHERE extname = 'pg_apes_health'")" \
         "(library $("${PSQL[@]}" -Atc 'SELECT apes.version()' 2>/dev/null || echo '?'))"
fi

# ---------------------------------------------------------------------------------------------------------------------
# 2. the catalog
if [[ $reuse == 0 ]]; then
    echo
    echo "== building the catalog: $N_TABLES empty tables in $N_SCHEMAS schemas, $WORKERS workers"
    t_build=$(now)
    bench_build_catalog
    echo "   tables and indexes built in $(since "$t_build") s"

    # Invalid indexes: a CREATE UNIQUE INDEX CONCURRENTLY that fails on duplicate rows leaves an invalid index behind,
    # exactly as in production.  Tables k % 10 = 7 of the last schema (no other plant there).
    t_plant=$(now)
    sel_invalid="SELECT 's' || (k / $per_schema) AS s, 't' || lpad(k::text, 5, '0') AS t
                   FROM generate_series($N_TABLES * 9 / 10, $N_TABLES - 1) k WHERE k % 10 = 7 ORDER BY k LIMIT $N_INVALID"
    gexec "SELECT format('INSERT INTO %I.%I (id, b) VALUES (1, 1), (2, 1)', s, t) FROM ($sel_invalid) x"
    gexec "SELECT format('CREATE UNIQUE INDEX CONCURRENTLY %I ON %I.%I (b)', t || '_b_invalid', s, t) FROM ($sel_invalid) x" \
          -v ON_ERROR_STOP=0 2>"$WORK/invalid.log" || true

    # Unused indexes: the unused check ignores indexes under 1 MB, so fill a few tables (k % 10 = 6 in schema 8, no
    # other plant there): their three secondary indexes become ~1.3-2 MB and are never scanned.
    gexec "SELECT format('INSERT INTO %I.%I (id, a, b, c, d)
                                    SELECT g, g %% 1000, g, ''v'' || g, timestamptz ''2024-01-01'' + g * interval ''1 s''
                                      FROM generate_series(1, $FILL_ROWS) g', s, t)
                       FROM (SELECT 's' || (k / $per_schema) AS s, 't' || lpad(k::text, 5, '0') AS t
                               FROM generate_series($N_TABLES * 8 / 10, $N_TABLES - 1) k
                              WHERE k % 10 = 6 ORDER BY k LIMIT $N_FILLED) x"
    # ... and VACUUM ANALYZE them, as autovacuum would after 60,000 inserts: pg_class.relpages of their indexes is
    # then current (it stays at the size of the empty index until a VACUUM or ANALYZE; a checker may use it).
    gexec "SELECT format('VACUUM (ANALYZE) %I.%I', s, t)
             FROM (SELECT 's' || (k / $per_schema) AS s, 't' || lpad(k::text, 5, '0') AS t
                     FROM generate_series($N_TABLES * 8 / 10, $N_TABLES - 1) k
                    WHERE k % 10 = 6 ORDER BY k LIMIT $N_FILLED) x"

    # The catalog tables got dead row versions from the build (pg_class updates by CREATE INDEX and FOREIGN KEY); clean
    # them up and give the planner statistics, as autovacuum would have done on a real server (autovacuum is off here
    # so it cannot start in the middle of a timing run).  The empty user tables are not vacuumed.
    "${PSQL[@]}" -c "VACUUM (ANALYZE) pg_catalog.pg_class, pg_catalog.pg_index, pg_catalog.pg_attribute,
                                      pg_catalog.pg_constraint, pg_catalog.pg_namespace, pg_catalog.pg_depend,
                                      pg_catalog.pg_type, pg_catalog.pg_am"
    echo "   invalid/unused plants and catalog VACUUM ANALYZE in $(since "$t_plant") s; total build $(since "$t_build") s"
fi

echo
echo "== catalog"
"${PSQL[@]}" -P footer=off -c "
SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname ~ '^s[0-9]+\$' AND c.relkind = 'r')                          AS tables,
       (SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname ~ '^s[0-9]+\$')  AS indexes,
       (SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname ~ '^s[0-9]+\$' AND NOT i.indisvalid)                           AS invalid_indexes,
       (SELECT count(*) FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
         WHERE n.nspname ~ '^s[0-9]+\$' AND k.contype = 'f')                            AS foreign_keys,
       (SELECT count(*) FROM pg_class)                                                 AS pg_class_rows,
       pg_size_pretty(pg_database_size(current_database()))                           AS db_size"

got_invalid=$("${PSQL[@]}" -Atc "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                                  JOIN pg_namespace n ON n.oid = c.relnamespace
                                 WHERE n.nspname ~ '^s[0-9]+\$' AND NOT i.indisvalid")
if [[ $reuse == 0 && "$got_invalid" != "$N_INVALID" ]]; then
    echo "bench: expected $N_INVALID invalid indexes, found $got_invalid" >&2
    cat "$WORK/invalid.log" >&2
    exit 1
fi

# ---------------------------------------------------------------------------------------------------------------------
# 3. the plain-SQL reference, split on its "-- check: <id>" lines into one statement each (trailing ";" removed)
awk -v out="$WORK/queries.sql" '
    function flush() {
        if (id == "") return
        sub(/;[ \t]*\n?$/, "\n", body)
        if (index(body, "$apes_bench_q$") > 0) { print "query " id " contains the quote tag" > "/dev/stderr"; exit 1 }
        printf "INSERT INTO bench_query VALUES (%d, %s, $apes_bench_q$%s$apes_bench_q$);\n", ++n, "'"'"'" id "'"'"'", body > out
        id = ""; body = ""
    }
    /^-- check: / { flush(); id = $3; body = ""; next }
    id != "" { body = body $0 "\n"; if ($0 ~ /;[ \t]*$/) flush() }
    END { flush(); if (n != 5) { print "expected 5 checks, found " n > "/dev/stderr"; exit 1 } }
' "$HERE/plain_sql_index_checks.sql"

# ---------------------------------------------------------------------------------------------------------------------
# 4. timing, in one session
"${PSQL[@]}" -v runs="$RUNS" -v with_ext="$WITH_EXT" -v queries="$WORK/queries.sql" -v jit="$JIT" \
    -v n_tables="$N_TABLES" -v n_invalid="$N_INVALID" -v n_filled="$N_FILLED" \
    -f "$HERE/timing.sql" | tee "$WORK/timing.out"

if [[ "$WITH_EXT" == true && "$STRICT" == 1 ]] && ! grep -q 'BENCH VERDICT: ALL TARGETS MET' "$WORK/timing.out"; then
    echo "bench: targets not met (BENCH_STRICT=1)" >&2
    exit 1
fi
