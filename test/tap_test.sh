#!/usr/bin/env bash
# Run the TAP tests (test/t/*.pl: a primary and a streaming standby made with PostgreSQL::Test::Cluster).  initdb
# refuses root, so as root they run as the postgres OS user in a scratch copy of test/t.  Prints prove's output;
# exits non-zero when a test failed.
set -euo pipefail
cd "$(dirname "$0")/.."
bindir=$(pg_config --bindir)
perllib=$(pg_config --pgxs | sed 's|/src/makefiles/pgxs.mk$||')/src/test/perl
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r test/t "$work/t"
run=()
if [ "$(id -u)" -eq 0 ]; then
    chown -R postgres: "$work"
    run=(runuser -u postgres --)
fi
cd "$work"
"${run[@]}" env -u PGHOST -u PGPORT -u PGUSER -u PGPASSWORD -u PGDATABASE \
    PATH="$bindir:$PATH" PG_REGRESS=/bin/true TESTDIR="$work" \
    prove -v -I "$perllib" t/*.pl
