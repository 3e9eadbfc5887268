#!/usr/bin/env bash
# make test: install what is missing, build warning-free and install, start a throwaway cluster with
# pg_stat_statements and pg_cron preloaded, then run every suite and print one closing line "N passed, M failed".
#
# Suites: version consistency (control file, META.json, library, catalog), pg_regress (test/sql -> expected/),
# isolation (test/specs), pgTAP (test/pgtap, run by pg_prove), TAP tests with a hot standby (test/t), scheduling
# through pg_cron (test/cron_test.sh), the upgrade path (test/upgrade_test.sh), memory at 10 and 10,000 relations (test/memory_scale.sh), valgrind (test/valgrind_test.sh), a real PgBouncer (test/pgbouncer_test.sh), and a scan of the server log.  Exit status is non-zero when anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${APES_IN_CLUSTER:-}" ]; then
    test/setup.sh
    test/build.sh
    # the closing count is printed again after the cluster is gone, so that it is the last line of the output
    APES_SUMMARY=$(mktemp)
    export APES_SUMMARY
    rc=0
    APES_IN_CLUSTER=1 test/cluster.sh "$0" "$@" || rc=$?
    [ -s "$APES_SUMMARY" ] || echo "0 passed, 1 failed" >"$APES_SUMMARY"
    cat "$APES_SUMMARY"
    rm -f "$APES_SUMMARY"
    exit "$rc"
fi

passed=0
failed=0
log=$(mktemp -d)
check() {   # check NAME COMMAND...: one counted test
    if "$@" >"$log/check.out" 2>&1; then
        passed=$((passed + 1)); echo "ok - $name"
    else
        failed=$((failed + 1)); echo "not ok - $name"; sed 's/^/    /' "$log/check.out"
    fi
}

echo "== version consistency"
control_version=$(sed -n "s/^default_version *= *'\(.*\)'.*/\1/p" pg_apes_health.control)
name="META.json version and provides.pg_apes_health.version match the control file ($control_version)"
check perl -MJSON::PP -e '
    local $/; open my $f, "<", "META.json" or die; my $m = JSON::PP->new->decode(<$f>);
    $m->{version} eq $ARGV[0] or die "version $m->{version}\n";
    $m->{provides}{pg_apes_health}{version} eq $ARGV[0] or die "provides version differs\n";' "$control_version"
name="install script sql/pg_apes_health--$control_version.sql exists"
check test -f "sql/pg_apes_health--$control_version.sql"
name="library version and extversion match the control file"
createdb apes_version
check test "$(psql -X -q -At -d apes_version -c "CREATE EXTENSION pg_apes_health" \
    -c "SELECT apes.version() || ' ' || extversion FROM pg_extension WHERE extname = 'pg_apes_health'")" = "$control_version $control_version"
dropdb apes_version

# run_suite NAME MAKE-ARGS...: one pg_regress-style suite; counts its "... ok" and "... FAILED" lines
run_suite() {
    local name=$1; shift
    echo "== $name"
    set +e
    make -s installcheck "$@" >"$log/$name.out" 2>&1
    local rc=$?
    set -e
    cat "$log/$name.out"
    local ok bad
    ok=$(grep -cE '\.\.\. ok' "$log/$name.out" || true)
    bad=$(grep -cE '\.\.\. FAILED|\.\.\. failed' "$log/$name.out" || true)
    if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi
    [ -f regression.diffs ] && [ "$bad" -gt 0 ] && head -n 200 regression.diffs
    passed=$((passed + ok)); failed=$((failed + bad))
}
run_suite pg_regress ISOLATION=
run_suite isolation REGRESS=

# count_tap FILE RC: add a TAP output's "ok" and "not ok" lines to the totals; planned tests that never ran (a file
# died half-way) count as failed, and so does a failing exit status with nothing failed
count_tap() {
    local ok bad planned
    ok=$(grep -cE '^\s*ok [0-9]+' "$1" || true)
    bad=$(grep -cE '^\s*not ok [0-9]+' "$1" || true)
    planned=$(grep -oE '^1\.\.[0-9]+' "$1" | cut -d. -f3 | awk '{s += $1} END {print s + 0}')
    [ "${planned:-0}" -gt $((ok + bad)) ] && bad=$((planned - ok))
    if [ "$2" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi
    passed=$((passed + ok)); failed=$((failed + bad))
}

echo "== pgTAP"
createdb apes_tap
psql -X -q -d apes_tap -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION pg_apes_health"
set +e
pg_prove --verbose --ext .sql -d apes_tap test/pgtap/ >"$log/tap.out" 2>&1
tap_rc=$?
set -e
cat "$log/tap.out"
count_tap "$log/tap.out" "$tap_rc"

echo "== TAP: a primary and a hot standby (test/t)"
set +e
test/tap_test.sh >"$log/taps.out" 2>&1
taps_rc=$?
set -e
cat "$log/taps.out"
count_tap "$log/taps.out" "$taps_rc"

echo "== upgrade path"
name="updating step by step from the oldest shipped version gives the objects and privileges of a fresh install"
check test/upgrade_test.sh
grep -v '^[0-9-]* [0-9:.]* UTC' "$log/check.out" | tail -n 12

echo "== scheduling through pg_cron"
name="apes.schedule() jobs run under pg_cron and record snapshots; apes.unschedule() removes them"
check test/cron_test.sh
cat "$log/check.out"

echo "== PgBouncer in front of the cluster"
name="apes.pgbouncer_pools() and the pooler findings against a real PgBouncer, a closed port and a silent one"
check test/pgbouncer_test.sh
cat "$log/check.out"

echo "== fuzzing with sqlsmith (a fixed seed in CI; docs/fuzzing.md for longer runs)"
name="sqlsmith as a pg_monitor role, then every function with edge-case arguments: no crash, no XX000 of ours"
check env FUZZ_SEED="${FUZZ_SEED:-6453}" FUZZ_QUERIES="${FUZZ_QUERIES:-5000}" test/fuzz_sqlsmith.sh
tail -n 25 "$log/check.out"

echo "== cancellation"
name="statement_timeout and pg_cancel_backend() stop a full read within 100 ms of the request, leaving no lock behind"
check test/cancel_test.sh
cat "$log/check.out" | grep -v '^NOTICE' | tail -n 6

echo "== memory with 10 and with 10,000 relations"
name="apes.snapshot(), findings() and health_json() leave the same memory in a session over 10 and 10,000 relations (10%)"
check test/memory_scale.sh
grep -E '^(report|snapshot|findings|health_json|memory_scale|built)' "$log/check.out" | grep -v ': first call' || true

echo "== corrupt pages"
name="page readers give XX001/XX002 naming relation and block on corrupt heap and index pages, never a crash"
check test/corruption_test.sh
tail -n 25 "$log/check.out"

echo "== valgrind (test/valgrind_test.sh: the suites again, the server under valgrind memcheck, two servers side by side)"
name="pg_regress (but demo), the isolation specs and the PgBouncer scripts under valgrind: no error in pg_apes_health"
check env VALGRIND_SKIP="${VALGRIND_SKIP-demo}" \
    VALGRIND_SHARDS="${VALGRIND_SHARDS-index_bloat test/pgbouncer_test.sh test/valgrind/pgbouncer_cancel.sh; rest isolation}" \
    test/valgrind_test.sh
grep -E '^(\[shard [0-9]\] )?(== shard|valgrind:|shard [0-9]:|== ERRORS)|wall$|whole run' "$log/check.out" | tail -n 12 || true

echo "== server log: crashes and internal errors"
name="no server crash, internal error (XX000), memory-context problem or leak warning in the log"
logfile=$(pg_lsclusters -h | awk '$1 == "15" && $2 == "regress" {print $7}')
# (XX000s of the fuzzing role were judged by the fuzzing check, with their LOCATION and CONTEXT: PostgreSQL's own are
# allowed there, docs/fuzzing.md; crashes, assertion failures and memory problems are never skipped)
check bash -c "[ -f '$logfile' ] && ! grep -E 'terminated by signal|XX000|TRAP:|problem in alloc set|leak' '$logfile' \
    | grep -vE ' apes_fuzzer@[^ ]+ (ERROR|FATAL): +XX000: '"

echo
echo "$passed passed, $failed failed" | tee "${APES_SUMMARY:-/dev/null}"
[ "$failed" -eq 0 ]
