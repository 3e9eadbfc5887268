#!/usr/bin/env bash
# make test: install what is missing, then for every PostgreSQL major version of PG_VERSIONS (default "15 17 18"):
# build warning-free and install, start a throwaway cluster with pg_stat_statements and pg_cron preloaded
# (test/cluster.sh) and run every suite; then the suites that span versions (pg_upgrade from the oldest to the newest)
# and the Debian package.  Prints one closing line "N passed, M failed".
#
# 15 is Debian 12's own package; 17 and 18 are built once from Debian's source packages into
# /var/cache/pg_apes_health (test/pgbuild.sh, about 8 minutes each), then reused.
#   PG_VERSIONS="15 18" make test     only these versions
#   APES_DEB_TEST=0 make test         leave out the Debian package build
#   APES_FULL_CHECKS=0 make test      leave out sqlsmith and valgrind on 15 too (a quicker run while developing)
#
# Suites on each version: version consistency (control file, META.json, library, catalog), pg_regress (test/sql ->
# expected/), isolation (test/specs), pgTAP (test/pgtap, run by pg_prove), TAP tests with a hot standby (test/t),
# scheduling through pg_cron (test/cron_test.sh), the upgrade path (test/upgrade_test.sh), a real PgBouncer
# (test/pgbouncer_test.sh), cancellation, corrupt pages, memory at 10 and 10,000 relations (test/memory_scale.sh), and
# a scan of the server log.  On 15 only (to keep CI within its time): fuzzing with sqlsmith and valgrind
# (test/valgrind_test.sh).  Exit status is non-zero when anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${APES_IN_CLUSTER:-}" ]; then
    versions=${PG_VERSIONS:-15 17 18}
    test/setup.sh
    for v in $versions; do
        case $v in 15|17|18) ;; *) echo "PG_VERSIONS: $v is not a supported version (15, 17, 18)" >&2; exit 2 ;; esac
    done
    summary_dir=$(mktemp -d)
    trap 'rm -rf "$summary_dir"' EXIT
    rc=0
    declare -A prefix
    built=""
    for v in $versions; do
        b_rc=0
        prefix[$v]=$(test/pgbuild.sh "$v" | tail -n 1) || b_rc=$?
        if [ "$b_rc" = 3 ] && [ -z "${PG_VERSIONS:-}" ]; then
            # only when the default set is run: a version asked for by name must be there
            echo "skipped - PostgreSQL $v: its source package cannot be downloaded from this machine's mirror (test/pgbuild.sh $v says why)"
            echo "0 0 1" >"$summary_dir/$v-skipped"
            continue
        elif [ "$b_rc" != 0 ]; then
            echo "not ok - PostgreSQL $v could not be built (test/pgbuild.sh $v, exit status $b_rc)"
            echo "0 1" >"$summary_dir/$v-build"; rc=1
            continue
        fi
        built="$built $v"
    done
    versions=${built# }
    for v in $versions; do
        echo
        echo "######## PostgreSQL $v (${prefix[$v]})"
        export PG_CONFIG=${prefix[$v]}/bin/pg_config
        t0=$(date +%s)
        if ! test/build.sh; then
            echo "0 1" >"$summary_dir/$v"; rc=1; echo "not ok - [pg$v] the extension builds warning-free and installs"
            continue
        fi
        APES_SUMMARY=$summary_dir/$v APES_IN_CLUSTER=1 APES_FULL_CHECKS=${APES_FULL_CHECKS:-$([ "$v" = 15 ] && echo 1 || echo 0)} \
            test/cluster.sh "$0" "$@" || rc=$?
        [ -s "$summary_dir/$v" ] || echo "0 1" >"$summary_dir/$v"
        echo "PostgreSQL $v: $(awk '{print $1 " passed, " $2 " failed" ($3 ? ", " $3 " skipped" : "")}' "$summary_dir/$v") in $(( $(date +%s) - t0 )) s"
    done
    unset PG_CONFIG
    # suites across versions and packaging: counted like the others
    first=${versions%% *} last=${versions##* }
    if [ -n "$first" ] && [ "$first" != "$last" ]; then
        echo
        echo "######## pg_upgrade from PostgreSQL $first to $last"
        t0=$(date +%s)
        if test/pg_upgrade_test.sh "${prefix[$first]}" "${prefix[$last]}"; then
            echo "ok - pg_upgrade $first -> $last keeps the extension, its history and grants; every report works"
            echo "1 0" >"$summary_dir/upgrade"
        else
            echo "not ok - pg_upgrade $first -> $last"; echo "0 1" >"$summary_dir/upgrade"; rc=1
        fi
        echo "pg_upgrade test: $(( $(date +%s) - t0 )) s"
    fi
    if [ "${APES_DEB_TEST:-1}" = 1 ] && [[ " $versions " == *" 15 "* ]]; then
        echo
        echo "######## Debian package (dpkg-buildpackage, apt-get install, CREATE EXTENSION, a report, removal)"
        t0=$(date +%s)
        if test/deb_test.sh; then
            echo "ok - the Debian package for PostgreSQL 15 builds, installs, works and is removed"
            echo "1 0" >"$summary_dir/deb"
        else
            echo "not ok - the Debian package"; echo "0 1" >"$summary_dir/deb"; rc=1
        fi
        echo "Debian package test: $(( $(date +%s) - t0 )) s"
    fi
    echo
    for v in $versions; do
        echo "PostgreSQL $v: $(awk '{print $1 " passed, " $2 " failed" ($3 ? ", " $3 " skipped" : "")}' "$summary_dir/$v")"
    done
    # the closing count is the last line of the output
    cat "$summary_dir"/* | awk '{p += $1; f += $2; k += $3}
        END {printf "%d passed, %d failed%s\n", p, f, k ? ", " k " skipped" : ""}' >"$summary_dir/.total"
    read -r _ _ _f _ <"$summary_dir/.total"
    [ "$_f" = 0 ] || rc=1
    cat "$summary_dir/.total"
    exit "$rc"
fi

passed=0
failed=0
skipped=0
log=$(mktemp -d)
check() {   # check NAME COMMAND...: one counted test
    if "$@" >"$log/check.out" 2>&1; then
        passed=$((passed + 1)); echo "ok - [pg$APES_PGMAJOR] $name"
    else
        failed=$((failed + 1)); echo "not ok - [pg$APES_PGMAJOR] $name"; sed 's/^/    /' "$log/check.out"
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
    # "test x ... ok" up to 15, TAP lines ("ok 1 - x", "not ok 2 - y") from 16 on
    ok=$(grep -cE '\.\.\. ok|^ok [0-9]+ ' "$log/$name.out" || true)
    bad=$(grep -cE '\.\.\. FAILED|\.\.\. failed|^not ok [0-9]+ ' "$log/$name.out" || true)
    if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi
    [ -f regression.diffs ] && [ "$bad" -gt 0 ] && head -n 200 regression.diffs
    passed=$((passed + ok)); failed=$((failed + bad))
}
echo "== the registry of checks and the documentation"
name="docs/checks.md is generated from apes.checks; every check's documentation link, id and settings exist"
check test/checks_doc_test.sh
cat "$log/check.out"

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
if [ "$APES_HAVE_PG_CRON" = 1 ]; then
    check test/cron_test.sh
    cat "$log/check.out"
else
    skipped=$((skipped + 1))
    echo "skipped - [pg$APES_PGMAJOR] $name: this version has no pg_cron ($(cat "$("$PG_CONFIG" --bindir)/../.apes-without-pg_cron" 2>/dev/null || echo 'not installed'))"
fi

echo "== PgBouncer in front of the cluster"
name="apes.pgbouncer_pools() and the pooler findings against a real PgBouncer, a closed port and a silent one"
check test/pgbouncer_test.sh
cat "$log/check.out"

echo "== a host name lookup that takes 8 s (a resolver of the test's own)"
name="the PgBouncer connection's host name lookup ends at pgbouncer_timeout, a cancel or statement_timeout"
check test/dns_test.sh
cat "$log/check.out"

echo "== Prometheus: apes.metrics() through Debian's postgres_exporter and promtool"
name="prometheus-postgres-exporter with contrib/postgres_exporter/queries.yaml serves apes.metrics()'s series and values; promtool accepts them"
check test/exporter_test.sh
cat "$log/check.out"

echo "== the HTML report in headless Chromium"
name="apes.report_html() in Chromium: no request, no console error, every chart drawn and described, counts equal to health_json()"
check test/report_browser_test.sh
cat "$log/check.out"

if [ "${APES_FULL_CHECKS:-1}" = 1 ]; then
    echo "== fuzzing with sqlsmith (a fixed seed in CI; docs/fuzzing.md for longer runs)"
    name="sqlsmith as a pg_monitor role, then every function with edge-case arguments: no crash, no XX000 of ours"
    check env FUZZ_SEED="${FUZZ_SEED:-6453}" FUZZ_QUERIES="${FUZZ_QUERIES:-5000}" test/fuzz_sqlsmith.sh
    tail -n 25 "$log/check.out"
fi

echo "== the server area against a real slot, archiver and settings"
name="each server check is found where planted (slot, archiving, settings, checkpoints, rollbacks, temp files, disk) and not on its near-miss"
check test/server_test.sh
grep -v '^  ok: ' "$log/check.out" | tail -n 20

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

if [ "${APES_FULL_CHECKS:-1}" = 1 ]; then
    echo "== valgrind (test/valgrind_test.sh: the suites again, the server under valgrind memcheck, two servers side by side)"
    name="pg_regress (but demo), the isolation specs and the PgBouncer scripts under valgrind: no error in pg_apes_health"
    check env VALGRIND_SKIP="${VALGRIND_SKIP-demo}" \
        VALGRIND_SHARDS="${VALGRIND_SHARDS-index_bloat test/pgbouncer_test.sh test/valgrind/pgbouncer_cancel.sh; rest isolation}" \
        test/valgrind_test.sh
    grep -E '^(\[shard [0-9]\] )?(== shard|valgrind:|shard [0-9]:|== ERRORS)|wall$|whole run' "$log/check.out" | tail -n 12 || true
fi

echo "== server log: crashes and internal errors"
name="no server crash, internal error (XX000), memory-context problem or leak warning in the log"
logfile=$APES_PGLOG
# (XX000s of the fuzzing role were judged by the fuzzing check, with their LOCATION and CONTEXT: PostgreSQL's own are
# allowed there, docs/fuzzing.md; crashes, assertion failures and memory problems are never skipped)
check bash -c "[ -f '$logfile' ] && ! grep -E 'terminated by signal|XX000|TRAP:|problem in alloc set|leak' '$logfile' \
    | grep -vE ' apes_fuzzer@[^ ]+ (ERROR|FATAL): +XX000: '"

echo
echo "PostgreSQL $APES_PGMAJOR: $passed passed, $failed failed, $skipped skipped"
[ -z "${APES_SUMMARY:-}" ] || echo "$passed $failed $skipped" >"$APES_SUMMARY"
[ "$failed" -eq 0 ]
