#!/usr/bin/env bash
# Run a command inside a throwaway PostgreSQL cluster of one major version, configured by test/cluster.conf
# (pg_stat_statements and pg_cron preloaded).  Files live in a temporary folder of their own, the server runs as the
# postgres account when we are root (initdb refuses root) and listens on localhost at a free port, with a password
# (as pg_virtualenv does, so clients connect over TCP the way applications do).  Nothing the server reads comes from
# the checkout, so a checkout in a private folder (mode 700, as root's home is) works.
#
# Usage: test/cluster.sh COMMAND [ARGS...]
#   PG_CONFIG=/path/to/pg_config   the server to run (default: pg_config on PATH)
# COMMAND gets PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PG_CONFIG, PATH (the version's bindir first) and
#   APES_PGDATA, APES_PGLOG, APES_PGBIN, APES_PGMAJOR, APES_PGWORK (data directory, server log, binaries, major
#   version, the work folder; test/pgctl.sh stops and starts the server from them), and APES_HAVE_PG_CRON (1 when
#   pg_cron is preloaded: see test/cluster_conf.sh).
# The cluster is stopped and its folder removed when COMMAND ends; COMMAND's exit status is returned.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}
bindir=$("$PG_CONFIG" --bindir)
major=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')

if [ "$(id -u)" = 0 ]; then
    server_user=postgres
    as_server() { runuser -u postgres -- "$@"; }
else
    server_user=$(id -un)
    as_server() { "$@"; }
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/apes_pg$major.XXXXXX")
chmod 755 "$work"
mkdir -p "$work/sock"
chmod 700 "$work/sock"
[ "$(id -u)" = 0 ] && chown "$server_user" "$work" "$work/sock"
data=$work/data
logfile=$work/server.log
password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')

# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
    if [ -f "$data/postmaster.pid" ]; then
        as_server "$bindir/pg_ctl" -D "$data" stop -m fast -t 60 >/dev/null 2>&1 ||
            as_server "$bindir/pg_ctl" -D "$data" stop -m immediate >/dev/null 2>&1 || true
    fi
    if [ "${APES_KEEP_CLUSTER:-0}" = 1 ]; then echo "cluster.sh: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

(umask 077; echo "$password" >"$work/pwfile")
[ "$(id -u)" = 0 ] && chown "$server_user" "$work/pwfile"
initdb_opts=(-D "$data" -U postgres --pwfile="$work/pwfile" --auth-local=trust --auth-host=scram-sha-256
             --encoding=UTF8 --locale=C.UTF-8 --nosync)
# 18 turns data checksums on by default; the clusters of every version are made alike (15 and 17 have them off)
[ "$major" -ge 18 ] && initdb_opts+=(--no-data-checksums)
(cd / && as_server "$bindir/initdb" "${initdb_opts[@]}") >"$work/initdb.log" 2>&1 ||
    { cat "$work/initdb.log" >&2; echo "cluster.sh: initdb failed" >&2; exit 2; }
rm -f "$work/pwfile"
"$here/cluster_conf.sh" >>"$data/postgresql.conf"
cat >>"$data/postgresql.conf" <<EOF
listen_addresses = 'localhost'
unix_socket_directories = '$work/sock'
fsync = off
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
EOF

# a free port, chosen by the kernel; another server starting at the same moment may take it first, so try again
started=0
for _ in 1 2 3 4 5; do
    port=$(perl -MIO::Socket::INET -e '
        my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1, ReuseAddr => 1)
            or die "no free port: $!\n";
        print $s->sockport, "\n";')
    sed -i "/^port = /d" "$data/postgresql.conf"
    echo "port = $port" >>"$data/postgresql.conf"
    if (cd / && as_server "$bindir/pg_ctl" -D "$data" -l "$logfile" -w -t 120 start) >"$work/pg_ctl.log" 2>&1; then
        started=1; break
    fi
done
[ "$started" = 1 ] || { cat "$work/pg_ctl.log" "$logfile" >&2; echo "cluster.sh: the server did not start" >&2; exit 2; }

export PGHOST=localhost PGPORT=$port PGUSER=postgres PGPASSWORD=$password PGDATABASE=postgres PG_CONFIG
export PATH="$bindir:$PATH"
export APES_PGDATA=$data APES_PGLOG=$logfile APES_PGBIN=$bindir APES_PGMAJOR=$major APES_PGWORK=$work
# whether this version's cluster preloads pg_cron (test/cluster_conf.sh)
APES_HAVE_PG_CRON=$([ -f "$("$PG_CONFIG" --pkglibdir)/pg_cron.so" ] && echo 1 || echo 0)
export APES_HAVE_PG_CRON
unset PGHOSTADDR PGSERVICE PGSYSCONFDIR PGCLUSTER PGOPTIONS 2>/dev/null || true
rc=0
"$@" || rc=$?
exit "$rc"
