# Shell functions the benchmarks share (sourced by bench/run.sh, bench/history/run.sh, bench/report/run.sh and
# bench/advice/run.sh after they have set PSQL, WORK, N_TABLES, N_SCHEMAS and WORKERS).

# bench_build_catalog: the schemas s0..s(N_SCHEMAS-1), then bench/build_catalog.sql run by WORKERS psql sessions at
# once.  Worker ranges are aligned on schema boundaries so a table's FK parent (table k - k % 10) is built by the same
# worker, earlier.  A worker that fails prints its log and ends the benchmark.  Sets per_schema (tables per schema:
# table k is s(k / per_schema).t<k, five digits>).
bench_build_catalog() {
    local lib_dir lo hi w failed=0 pids=()
    lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    printf '%s\n\\gexec\n' "SELECT format('CREATE SCHEMA %I', 's' || i) FROM generate_series(0, $N_SCHEMAS - 1) i" \
        | "${PSQL[@]}" >/dev/null
    per_schema=$(( N_TABLES / N_SCHEMAS ))
    for (( w = 0; w < WORKERS; w++ )); do
        lo=$(( N_SCHEMAS * w / WORKERS * per_schema ))
        hi=$(( N_SCHEMAS * (w + 1) / WORKERS * per_schema ))
        (( hi > lo )) || continue
        "${PSQL[@]}" -v n_tables="$N_TABLES" -v n_schemas="$N_SCHEMAS" -v lo="$lo" -v hi="$hi" \
            -f "$lib_dir/build_catalog.sql" >"$WORK/build_$w.log" 2>&1 &
        pids+=($!)
    done
    for (( w = 0; w < ${#pids[@]}; w++ )); do
        wait "${pids[$w]}" || { failed=1; echo "bench: build worker $w failed:" >&2; cat "$WORK/build_$w.log" >&2; }
    done
    (( failed == 0 )) || exit 1
}

# bench_run_statements N REPEAT: the statement workload of the benchmarks, with pg_stat_statements and the table
# counters reset first.  Statement j (0 <= j < N) reads table k = j / 2 (spread over all schemas) in one of two shapes,
# so every statement has its own queryid; each runs REPEAT times with other constants.  Needs per_schema
# (bench_build_catalog sets it).
bench_run_statements() {
    local n=$1 repeat=$2 n_read=$(( ($1 + 1) / 2 ))
    "${PSQL[@]}" -c "SELECT pg_stat_reset()" -c "SELECT pg_stat_statements_reset()" >/dev/null
    printf '%s\n\\gexec\n' "SELECT format(CASE j % 2 WHEN 0 THEN 'SELECT count(*) FROM %1\$I.%2\$I WHERE a = %3\$s AND b > %3\$s'
                                ELSE 'SELECT id, c FROM %1\$I.%2\$I WHERE id = %3\$s' END,
                     's' || (k / $per_schema), 't' || lpad(k::text, 5, '0'), r)
         FROM generate_series(0, $n - 1) j,
              LATERAL (SELECT ((j / 2)::bigint * $N_TABLES / $n_read)::int AS k) x,
              generate_series(1, $repeat) r
        ORDER BY r, j" | "${PSQL[@]}" >/dev/null
}
