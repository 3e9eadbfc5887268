#!/usr/bin/env bash
# The pg_regress suite (the Makefile's REGRESS list) against a throwaway PostgreSQL 15 cluster whose server runs under
# valgrind memcheck, then valgrind's verdict: an error with a pg_apes_health frame anywhere in its report (its stack,
# the stack that allocated the block it touched, the stack that created the uninitialised value) is ours; every other
# error is counted, and listed as "elsewhere" with its known explanation when there is one.  The last line of output:
#     valgrind: N errors in pg_apes_health, M elsewhere (K logs)
# Exit status: 0 when N is 0; 1 when N > 0 (or a process died of a signal in our code); 2 when the run itself failed
# (no valgrind, the server did not start, a time-out).  Output differences of pg_regress do not fail the run.
#
# Usage: test/valgrind_test.sh   as root (the server runs as the postgres account) or as a user who may run initdb;
#                                needs no stdin; the extension must be installed already (make install)
#   VALGRIND_TESTS="pools memory"  pg_regress tests to run (default: the whole REGRESS list); install is always first
#   VALGRIND_SKIP="demo"           leave these pg_regress tests out
#   VALGRIND_ISOLATION=all         also run the isolation specs (test/specs) after pg_regress: all, or a list
#   VALGRIND_SCRIPTS="test/pgbouncer_test.sh"  then run these scripts against the server, with the environment that
#                                  test/cluster.sh gives them (PGHOST, PGPORT, PGUSER, PGPASSWORD; TCP on 127.0.0.1)
#   VALGRIND_SHARDS="demo isolation; rest test/pgbouncer_test.sh"
#                                  split the run over servers side by side, one per ";"-separated shard (valgrind
#                                  runs a process on one core, so 2 shards on 2 cores take about half the time).  A
#                                  shard names pg_regress tests, "rest" (the tests no other shard names), "isolation"
#                                  and scripts (paths with a "/").  The final line adds up the shards' verdicts.
#   VALGRIND_TIMEOUT=3600          seconds pg_regress, the isolation specs and each script may run (default 3600)
#   VALGRIND_LEAKS=0               no leak check at process exit (default: malloc()ed blocks definitely lost, e.g. a
#                                  PGresult or PGconn of libpq never freed, are errors)
#   VALGRIND_ORIGINS=0             no --track-origins (faster, but reports of uninitialised values do not say where
#                                  the value came from)
#   VALGRIND_BLOAT_BUDGET=5000     pg_apes_health.bloat_time_budget for the run, in ms (default 5000, 50 times the
#                                  default: under valgrind the default budget measures so few pages that the bloat
#                                  findings fall back to catalog estimates where a normal run measures; the price is
#                                  one expected diff in the install test, which lists the settings)
#   VALGRIND_KEEP=1                keep the work directory (cluster, server log, one valgrind log per process, results
#                                  and diffs); it is kept anyway when an error of ours is found or something timed out
#   VALGRIND_OFF=1                 the same run without valgrind (checks the harness)
#   VALGRIND_ARGS="..."            extra valgrind options
#   PG_CONFIG=/path/to/pg_config   as for the Makefile
#
# Time on a 2-core machine: the whole REGRESS list takes ~20 min under valgrind (demo ~9 min and index_bloat ~6 min
# of it, spent loading data: PostgreSQL's work, not ours), the isolation specs ~4 min, test/pgbouncer_test.sh ~1 min;
# all of them in two shards ~15 min.  The isolation specs and test/pgbouncer_test.sh reach code pg_regress does not
# (sessions of other backends in pool.c and pool_findings.c, PgBouncer's replies in pgbouncer.c).  For CI (~9 min;
# every C function that all of the above reach, except apes_check_seq_scans and apes_check_cache_hits, which only
# demo's 10 MB tables reach):
#     VALGRIND_SKIP=demo VALGRIND_SHARDS="index_bloat test/pgbouncer_test.sh; rest isolation" test/valgrind_test.sh
#
# What memcheck can and cannot see here:
#  - The Debian server is not built with USE_VALGRIND, so memory contexts are opaque to valgrind: a palloc() chunk is
#    a piece of a larger malloc()ed block, and reads or writes past a chunk into the next one, reads of pfree()d
#    memory and reads of recycled uninitialised palloc() memory are NOT detected.  Detected: accesses beyond a
#    malloc()ed block (an AllocSet block's end, chunks large enough for a block of their own, libpq's PGconn and
#    PGresult, strdup()), uninitialised values (fresh malloc() or stack memory) in jumps, system calls and lookups,
#    invalid and double free(), overlapping memcpy(), malloc()ed memory lost at process exit.  A server built with
#    -DUSE_VALGRIND would see the palloc() errors too (PG_CONFIG pointing at it).
#  - Shared memory (shared buffers, and so every page the page readers look at in place) is addressable and defined
#    for memcheck: a read past the end of a page or of an item inside shared buffers is not detected.
#  - The Debian server binary is stripped: PostgreSQL frames show exported function names only (static ones as ???).
#    The extension's frames are complete: it is built with -g.
#  - test/valgrind/valgrind.supp suppresses only false positives of PostgreSQL at points where our library is not loaded yet
#    (postmaster start-up, backend initialisation); the others, e.g. uninitialised padding of WAL records written out
#    (whose origin could be ours), are counted as "elsewhere" and labelled with their known explanation.
#  - Under valgrind some pg_regress outputs differ (sampled estimates that race the clock), and
#    test/pgbouncer_test.sh's assertions on milliseconds fail; the code paths still run, and the verdict is valgrind's.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

PG_CONFIG=${PG_CONFIG:-pg_config}
bindir=$("$PG_CONFIG" --bindir)
pkglibdir=$("$PG_CONFIG" --pkglibdir)
pg_regress="$(dirname "$("$PG_CONFIG" --pgxs)")/../test/regress/pg_regress"
pg_isolation_regress="$(dirname "$("$PG_CONFIG" --pgxs)")/../test/isolation/pg_isolation_regress"
library="$pkglibdir/pg_apes_health.so"
timeout_s=${VALGRIND_TIMEOUT:-3600}
use_valgrind=1
[ "${VALGRIND_OFF:-0}" = 1 ] && use_valgrind=0

die() { echo "valgrind_test: $*" >&2; exit 2; }
[ -x "$bindir/postgres" ] || die "no server at $bindir/postgres"
[ -x "$pg_regress" ] || die "no pg_regress at $pg_regress (postgresql-server-dev-15)"
[ -f "$library" ] || die "$library is not installed (make install)"
if [ "$use_valgrind" = 1 ]; then
    command -v valgrind >/dev/null || die "valgrind is not installed (apt-get install valgrind)"
fi

# the test list and pg_regress options, from the Makefile (REGRESS_OPTS includes PGXS's --dbname)
make_var() { make -s --no-print-directory -f Makefile --eval "print-var: ; @echo \$($1)" print-var; }
all_tests=$(make_var REGRESS)
regress_opts=$(make_var REGRESS_OPTS)
tests=${VALGRIND_TESTS:-$all_tests}
for t in ${VALGRIND_SKIP:-}; do
    tests=$(echo " $tests " | sed "s/ $t / /g")
done
for t in $tests; do
    [ -f "test/sql/$t.sql" ] || die "no test test/sql/$t.sql"
done
# shellcheck disable=SC2086,SC2116  # on purpose: one space between names
tests=$(echo $tests)
# isolation specs: none unless asked for (VALGRIND_ISOLATION=all, or a list)
iso_tests=${VALGRIND_ISOLATION:-}
[ "$iso_tests" = all ] && iso_tests=$(make_var ISOLATION)
iso_opts=$(make_var ISOLATION_OPTS)
for t in $iso_tests; do
    [ -f "test/specs/$t.spec" ] || die "no isolation spec test/specs/$t.spec"
done

# --- shards: one server under valgrind per shard, side by side (valgrind runs each process on one core) ----------
if [ -n "${VALGRIND_SHARDS:-}" ]; then
    IFS=';' read -ra shards <<<"$VALGRIND_SHARDS"
    named=" install "   # every shard runs it first
    for sh in "${shards[@]}"; do
        for w in $sh; do named="$named$w "; done
    done
    rest=""
    for t in $tests; do
        case "$named" in *" $t "*) ;; *) rest="$rest $t" ;; esac
    done
    sdir=$(mktemp -d "${TMPDIR:-/tmp}/apes_valgrind_shards.XXXXXX")
    pids=()
    i=0
    for sh in "${shards[@]}"; do
        i=$((i + 1))
        s_tests="" s_iso="" s_scripts=""
        for w in $sh; do
            case "$w" in
                rest) s_tests="$s_tests $rest" ;;
                isolation) s_iso=${VALGRIND_ISOLATION:-all} ;;
                */*) s_scripts="$s_scripts $w" ;;
                *) case " $tests " in *" $w "*) s_tests="$s_tests $w" ;; *) ;; esac ;;
            esac
        done
        # shellcheck disable=SC2086,SC2116  # on purpose: one space between names
        s_tests=$(echo $s_tests) s_scripts=$(echo $s_scripts)
        echo "== shard $i: pg_regress: ${s_tests:-install only}; isolation: ${s_iso:-none}; scripts: ${s_scripts:-none}"
        (
            env VALGRIND_SHARDS= VALGRIND_SKIP= VALGRIND_TESTS="${s_tests:-install}" VALGRIND_ISOLATION="$s_iso" \
                VALGRIND_SCRIPTS="$s_scripts" "$0" </dev/null 2>&1 | tee "$sdir/$i.log" | sed -u "s/^/[shard $i] /"
            exit "${PIPESTATUS[0]}"
        ) &
        pids+=("$!")
    done
    rc=0 n_ours=0 n_other=0 n_logs=0 i=0
    for p in "${pids[@]}"; do
        i=$((i + 1))
        s_rc=0
        wait "$p" || s_rc=$?
        if [ "$s_rc" = 1 ] || { [ "$s_rc" -gt 1 ] && [ "$rc" = 0 ]; }; then rc=$s_rc; fi
        line=$(grep -E '^valgrind: [0-9]+ errors in pg_apes_health' "$sdir/$i.log" | tail -n 1 || true)
        if [ -z "$line" ] && [ "$use_valgrind" = 0 ] && [ "$s_rc" = 0 ]; then
            echo "shard $i: valgrind off"
            continue
        fi
        if [ -z "$line" ]; then
            echo "shard $i: no verdict (exit status $s_rc)"
            [ "$rc" = 1 ] || rc=2
            continue
        fi
        read -r a b c <<<"$(echo "$line" | sed -E 's/^valgrind: ([0-9]+) errors in pg_apes_health, ([0-9]+) elsewhere \(([0-9]+) logs\)$/\1 \2 \3/')"
        n_ours=$((n_ours + a)); n_other=$((n_other + b)); n_logs=$((n_logs + c))
        echo "shard $i: $line (exit status $s_rc)"
    done
    rm -rf "$sdir"
    echo "valgrind: $n_ours errors in pg_apes_health, $n_other elsewhere ($n_logs logs)"
    exit "$rc"
fi
case " $tests " in *" install "*) ;; *) tests="install $tests" ;; esac

# the server runs as the postgres account when we are root (initdb refuses root), as ourselves otherwise
if [ "$(id -u)" = 0 ]; then
    as_server() { runuser -u postgres -- "$@"; }
    server_user=postgres
else
    as_server() { "$@"; }
    server_user=$(id -un)
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/apes_valgrind.XXXXXX")
chmod 755 "$work"
mkdir -p "$work/sock" "$work/vg" "$work/out"
[ "$(id -u)" = 0 ] && chown "$server_user" "$work" "$work/sock" "$work/vg"
data="$work/data"
# the server listens on a Unix socket in $work/sock (trust: only we can reach it) and on 127.0.0.1 at a free port
# (password, as in test/cluster.sh: the scripts of VALGRIND_SCRIPTS, PgBouncer, connect over TCP)
port=$(perl -MIO::Socket::INET -e '
    my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1, ReuseAddr => 1)
        or die "no free port: $!\n";
    print $s->sockport, "\n";')
password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
keep=${VALGRIND_KEEP:-0}
server_pid=

stop_server() {   # stop_server MODE: stop the postmaster we started, if it still runs
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        as_server "$bindir/pg_ctl" -D "$data" stop -m "$1" -t 900 >>"$work/pg_ctl.log" 2>&1 ||
            as_server "$bindir/pg_ctl" -D "$data" stop -m immediate >>"$work/pg_ctl.log" 2>&1 ||
            kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=
}
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
    local rc=$?
    stop_server immediate
    if [ "$keep" = 1 ]; then echo "valgrind_test: work directory kept: $work"; else rm -rf "$work"; fi
    exit "$rc"
}
trap cleanup EXIT

echo "== cluster in $work (server user $server_user)"
echo "$password" >"$work/pwfile"
[ "$(id -u)" = 0 ] && chown "$server_user" "$work/pwfile"
chmod 600 "$work/pwfile"
as_server "$bindir/initdb" -D "$data" -U postgres --pwfile="$work/pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 \
    >"$work/initdb.log" 2>&1 || { cat "$work/initdb.log"; die "initdb failed"; }
# the settings of every test cluster (test/cluster.conf), plus a private socket and TCP on loopback only
PG_CONFIG=$PG_CONFIG "$repo/test/cluster_conf.sh" >>"$data/postgresql.conf"
cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$work/sock'
huge_pages = off
logging_collector = off
log_line_prefix = '%m [%p] '
EOF
# apes.findings('bloat') measures pages for pg_apes_health.bloat_time_budget (default 100 ms) and then falls back to
# catalog estimates: under valgrind that budget buys 20-50 times fewer pages, so the findings would take the estimate
# path where a normal run measures.  A larger budget keeps the code paths of a normal run (the price: the install
# test's listing of settings shows it).  VALGRIND_BLOAT_BUDGET=100 restores the default.
echo "pg_apes_health.bloat_time_budget = ${VALGRIND_BLOAT_BUDGET:-5000}" >>"$data/postgresql.conf"

# the suppressions are read by valgrind in the server's process, as the server's account: a copy in the work folder,
# since the checkout may be private (mode 700, as root's home is)
cp "$repo/test/valgrind/valgrind.supp" "$work/valgrind.supp"
chmod 644 "$work/valgrind.supp"
# valgrind options: forked backends stay under valgrind (fork, no exec); one log per process; every error wrapped in
# markers so that it can be cut out; suppressions for PostgreSQL's own known false positives
# shellcheck disable=SC2054  # the comma belongs to --error-markers
vg_opts=(--quiet --trace-children=yes --read-var-info=no --num-callers=40 --error-limit=no
         --error-markers=VALGRINDERROR-BEGIN,VALGRINDERROR-END --gen-suppressions=all
         --suppressions="$work/valgrind.supp" --log-file="$work/vg/%p.log")
[ "${VALGRIND_ORIGINS:-1}" = 1 ] && vg_opts+=(--track-origins=yes)
if [ "${VALGRIND_LEAKS:-1}" = 1 ]; then
    vg_opts+=(--leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite)
else
    vg_opts+=(--leak-check=no)
fi
# shellcheck disable=SC2206
[ -n "${VALGRIND_ARGS:-}" ] && vg_opts+=(${VALGRIND_ARGS})

start=$(date +%s)
if [ "$use_valgrind" = 1 ]; then
    echo "== server under valgrind: valgrind ${vg_opts[*]}"
    as_server valgrind "${vg_opts[@]}" "$bindir/postgres" -D "$data" </dev/null >"$work/server.log" 2>&1 &
else
    echo "== server without valgrind (VALGRIND_OFF=1)"
    as_server "$bindir/postgres" -D "$data" </dev/null >"$work/server.log" 2>&1 &
fi
server_pid=$!
export PGHOST="$work/sock" PGPORT=$port PGUSER=postgres PGPASSWORD=$password
unset PGDATABASE PGSERVICE PGHOSTADDR PGOPTIONS PGSSLMODE 2>/dev/null || true
for _ in $(seq 1 600); do
    "$bindir/pg_isready" -q -d postgres && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; keep=1; die "the server did not start"; }
    sleep 1
done
"$bindir/pg_isready" -q -d postgres || { keep=1; die "the server did not accept connections in 600 s"; }
echo "server ready after $(( $(date +%s) - start )) s"

# run_suite NAME PROGRAM OPTS DIR TESTS: one pg_regress-style suite; expected output found through $work/DIR/expected,
# results and diffs in $work/DIR, never in the repository; cwd stays the repository (test/demo.sql is read relative to
# it).  A suite that runs past VALGRIND_TIMEOUT sets timed_out.
timed_out=0
run_suite() {
    local name=$1 program=$2 opts=$3 dir=$4 list=$5 rc t0
    mkdir -p "$work/$dir"
    ln -sfn "$repo/expected" "$work/$dir/expected"
    echo "== $name: $list"
    t0=$(date +%s)
    set +e
    # shellcheck disable=SC2086
    timeout --kill-after=30 "$timeout_s" "$program" --bindir="$bindir" $opts --outputdir="$work/$dir" $list 2>&1 |
        tee "$work/$dir.out"
    rc=${PIPESTATUS[0]}
    set -e
    echo "$name: $(( $(date +%s) - t0 )) s (exit status $rc)"
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        timed_out=1
        echo "$name did not finish in $timeout_s s (VALGRIND_TIMEOUT)"
    fi
}
run_suite pg_regress "$pg_regress" "$regress_opts" out "$tests"
if [ -n "$iso_tests" ] && [ "$timed_out" = 0 ]; then
    run_suite isolation "$pg_isolation_regress" "$iso_opts" iso "$iso_tests"
fi

# scripts written for test/cluster.sh's environment (PGHOST, PGPORT, PGUSER, PGPASSWORD), e.g. test/pgbouncer_test.sh
for script in ${VALGRIND_SCRIPTS:-}; do
    [ "$timed_out" = 0 ] || break
    echo "== $script"
    t0=$(date +%s)
    # into a file, not a pipe: a process the script leaves behind must not hold the run up
    script_rc=0
    timeout --kill-after=30 "$timeout_s" "$script" </dev/null >"$work/script.out" 2>&1 || script_rc=$?
    cat "$work/script.out"
    echo "$script: $(( $(date +%s) - t0 )) s (exit status $script_rc)"
    if [ "$script_rc" = 124 ] || [ "$script_rc" = 137 ]; then timed_out=1; fi
done

echo "== stopping the server"
stop_server fast
end=$(date +%s)
echo "server stopped; whole run $((end - start)) s"
server_crashes=$(grep -cE 'terminated by signal|was terminated by exception' "$work/server.log" || true)

[ "$use_valgrind" = 1 ] || { echo "valgrind: off (VALGRIND_OFF=1), server crashes: $server_crashes"; exit 0; }

# --- verdict ---------------------------------------------------------------------------------------------------
# The known false positives of PostgreSQL are checked first: a report that matches one is never ours.  Otherwise an
# error is ours when one of the innermost frames of one of its stacks (the error's own stack, the stack of the block it
# touched, the stack that created an uninitialised value) is ours: the first $INNER frames after those of valgrind,
# libc and libpq (which only carry out what their caller asked).  A frame is ours when valgrind names our object
# ("(in .../pg_apes_health.so)", no debug info), or a function defined in our library together with one of our source
# files ("fn (index_health.c:123)"); a PostgreSQL header function inlined into our code shows as its own frame,
# followed by our function's frame at the same address.  A frame of ours deep down the stack (our code called SPI,
# which ran PL/pgSQL, which ran a regular expression...) does not make PostgreSQL's error ours: what PostgreSQL did on
# its own inside such a call depends on what ran before, and would make the verdict a coin toss.
nm --defined-only "$library" | awk '$2 ~ /^[tTwW]$/ {print $3}' | sort -u >"$work/our_functions"
(cd src && ls -- *.c *.h) >"$work/our_files"

summary=$(perl - "$work/our_functions" "$work/our_files" "$work/vg" "$work" "${VALGRIND_INNER_FRAMES:-4}" <<'PERL'
use strict;
use warnings;
my ($funcs, $files, $dir, $out, $inner) = @ARGV;
my (%fn, %file);
open my $f, "<", $funcs or die; while (<$f>) { chomp; $fn{$_} = 1 } close $f;
open $f, "<", $files or die; while (<$f>) { chomp; $file{$_} = 1 } close $f;

sub ours_frame {
    my ($l) = @_;
    return 1 if $l =~ m{\(in \S*pg_apes_health\.so\)};
    return ($l =~ m{^\s*(?:at|by) (?:0x[0-9A-F]+: )?(\S+) \((?:\S*/)?([^/\s:]+):\d+\)} && $fn{$1} && $file{$2}) ? 1 : 0;
}

# a frame of valgrind's replacement functions, of libc or of the dynamic loader, or of libpq
sub library_frame {
    my ($l) = @_;
    return $l =~ m{\((?:in \S*/)?(?:vgpreload_\w+\.so|vg_replace_\w+\.c:\d+|libc\.so[.\d]*|libc-[\d.]+\.so|ld-linux[-\w.]*\.so[.\d]*|libpq\.so[.\d]*)\)};
}

# ours_error TEXT...: one of the first $inner frames (library frames skipped) of one of the report's stacks is ours
sub ours_error {
    my @stacks = ([]);
    for my $l (@_) {
        if ($l =~ /^\s*(?:at|by) /) { push @{ $stacks[-1] }, $l }
        elsif (@{ $stacks[-1] }) { push @stacks, [] }
    }
    for my $st (@stacks) {
        my @frames = grep { !library_frame($_) } @$st;
        return 1 if grep { ours_frame($_) } @frames[0 .. ($#frames < $inner - 1 ? $#frames : $inner - 1)];
    }
    return 0;
}

# Known false positives of PostgreSQL (not ours by the rule above; labelled so that a reader need not re-derive them)
my @known = (
    [qr/Syscall param p?write(64)?\(buf\).*(XLogFlush|XLogBackgroundFlush|XLogWrite)/s,
     "WAL: uninitialised padding of WAL records written out (PostgreSQL's own valgrind.supp: padding_XLogRecData_write)"],
    [qr/Syscall param p?write(64)?\(buf\).*(BufFile|LogicalTape|FileWrite)/s,
     "temporary files: uninitialised padding of sort tape blocks written out"],
    [qr/Syscall param p?write(64)?\(buf\).*pgstat_write_statsfile/s,
     "stats file: uninitialised padding written at shutdown (PostgreSQL's valgrind.supp: padding_pgstat_write)"],
    [qr/Syscall param p?write(64)?\(buf\).*EndPrepare/s,
     "two-phase state file padding (PostgreSQL's valgrind.supp: padding_twophase_prepare)"],
    [qr/pg_comp_crc32c/s, "CRC computed over record padding (PostgreSQL's valgrind.supp: padding_XLogRecData_CRC)"],
    [qr/overlap in (?:__)?mem(?:cpy|move)_chk.*RE_compile_and_cache/s,
     "regexp cache reordering uses memmove(); glibc's fortified __memmove_chk shares __memcpy_chk's check in valgrind"],
    [qr/definitely lost.*set_config_option/s, "GUC: superseded string values are not freed, by design of guc.c"],
);

my ($ours, $other, $logs, $crash_ours, $crash_other) = (0, 0, 0, 0, 0);
my (%groups_ours, %groups_other, %first_block);
for my $log (sort glob("$dir/*.log")) {
    $logs++;
    open my $l, "<", $log or die; my @lines = <$l>; close $l;
    my ($in, @block) = (0);
    for my $i (0 .. $#lines) {
        my $line = $lines[$i];
        if ($line =~ /VALGRINDERROR-BEGIN/) { $in = 1; @block = (); next }
        if ($in && $line =~ /VALGRINDERROR-END/) {
            $in = 0;
            my @text = map { (my $s = $_) =~ s/^==\d+== ?//; $s } @block;
            my $joined = join "", @text;
            my $is_ours = (grep { $joined =~ $_->[0] } @known) ? 0 : ours_error(@text);
            # group repeats: the report without addresses, sizes and loss-record numbers
            my $sig = join "", map { (my $s = $_) =~ s/0x[0-9A-Fa-f]+:? ?//g; $s =~ s/[\d,]+ (\(.*?\) )?bytes in [\d,]+ blocks/N bytes/;
                                     $s =~ s/ in loss record [\d,]+ of [\d,]+//; $s =~ s/(size|offset|Address) [\d,]+/$1 N/g; $s } @text;
            my $g = $is_ours ? \%groups_ours : \%groups_other;
            $is_ours ? $ours++ : $other++;
            push @{ $g->{$sig} }, $log;
            $first_block{$sig} //= join "", @text;
            next;
        }
        push @block, $line if $in;
        # a process killed by a signal: valgrind prints its stack outside the error markers
        if (!$in && $line =~ /Process terminating with default action of signal/) {
            my @stack = ($line);
            for my $j ($i + 1 .. $#lines) { last if $lines[$j] =~ /^==\d+==\s*$/; push @stack, $lines[$j] }
            @stack = map { (my $s = $_) =~ s/^==\d+== ?//; $s } @stack;
            my $mine = ours_error(@stack);
            $mine ? $crash_ours++ : $crash_other++;
            my $sig = "CRASH: " . join "", map { (my $s = $_) =~ s/0x[0-9A-Fa-f]+:? ?//g; $s } @stack;
            push @{ ($mine ? \%groups_ours : \%groups_other)->{$sig} }, $log;
            $first_block{$sig} //= join "", @stack;
        }
    }
}

sub by_count { my ($g) = @_; sort { @{ $g->{$b} } <=> @{ $g->{$a} } or $a cmp $b } keys %$g }
open my $o, ">", "$out/ours.txt" or die;
for my $s (by_count(\%groups_ours)) {
    my @l = @{ $groups_ours{$s} };
    printf $o "---- %d time(s), in %d process(es); first in %s\n%s\n", scalar @l, scalar(keys %{{ map { $_ => 1 } @l }}),
        $l[0], $first_block{$s};
}
close $o;
# elsewhere: one line per kind of error, then the full reports of those no known explanation covers
open my $e, ">", "$out/elsewhere.txt" or die;
open my $u, ">", "$out/unexplained.txt" or die;
my $unexplained = 0;
my (%lines, %variants);
for my $s (by_count(\%groups_other)) {
    my @l = @{ $groups_other{$s} };
    my ($kind) = $s =~ /^\s*(\S.*)$/m;
    # the first frame that is neither valgrind's, nor libc's, nor an unnamed (static) PostgreSQL function
    my ($where) = map { /^(\S+)/ } grep { !/vgpreload|^\?\?\?|libc\.so|^(?:_IO_\S*|new_do_write|fwrite|write|pwrite|strdup) / }
                  ($s =~ /^\s*(?:at|by) (\S+ \(.*\))$/mg);
    my ($label) = map { $_->[1] } grep { $s =~ $_->[0] } @known;
    my $line = sprintf "%s  [in %s]\n        %s", $kind, $where // "?", $label // "UNEXPLAINED: full report below";
    $lines{$line} += @l;
    $variants{$line}++;
    next if $label;
    $unexplained++;
    printf $u "---- %d time(s); first in %s\n%s\n", scalar @l, $l[0], $first_block{$s};
}
for my $line (sort { $lines{$b} <=> $lines{$a} or $a cmp $b } keys %lines) {
    printf $e "%5d x %s%s\n", $lines{$line}, $line, $variants{$line} > 1 ? " ($variants{$line} different stacks)" : "";
}
close $e; close $u;
printf "%d %d %d %d %d %d %d %d\n", $ours, $other, $logs, scalar(keys %groups_ours), scalar(keys %groups_other),
    $crash_ours, $crash_other, $unexplained;
PERL
)
read -r n_ours n_other n_logs u_ours u_other crash_ours crash_other n_unexplained <<<"$summary"

if [ "$n_other" -gt 0 ] || [ "$crash_other" -gt 0 ]; then
    echo "== not in pg_apes_health: $n_other errors of $u_other kinds, $crash_other processes killed by a signal"
    echo "   (count x first line [first PostgreSQL frame], then the known explanation)"
    cat "$work/elsewhere.txt"
    if [ "$n_unexplained" -gt 0 ]; then
        echo "== full reports of the $n_unexplained kinds without a known explanation (not ours: no frame of ours)"
        head -n 600 "$work/unexplained.txt"
        keep=1
    fi
fi
if [ "$n_ours" -gt 0 ] || [ "$crash_ours" -gt 0 ]; then
    echo "== ERRORS IN pg_apes_health: $n_ours errors of $u_ours kinds, $crash_ours processes killed by a signal in our code"
    cat "$work/ours.txt"
    keep=1
fi
if [ "$server_crashes" -gt 0 ]; then
    echo "server log: $server_crashes process(es) terminated by a signal (see $work/server.log)"
    keep=1
fi
[ "$timed_out" = 1 ] && keep=1
echo "valgrind: $n_ours errors in pg_apes_health, $n_other elsewhere ($n_logs logs)"
if [ "$n_ours" -gt 0 ] || [ "$crash_ours" -gt 0 ]; then exit 1; fi
if [ "$timed_out" = 1 ]; then exit 2; fi
exit 0
