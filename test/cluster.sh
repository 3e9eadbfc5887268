#!/usr/bin/env bash
# Run a command inside a throwaway PostgreSQL 15 cluster (pg_virtualenv -t: files in a temporary directory, even as
# root, so runs never collide) configured by test/cluster.conf: pg_stat_statements and pg_cron preloaded.
# Usage: test/cluster.sh COMMAND [ARGS...]   (PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE are set for COMMAND)
set -euo pipefail
opts=()
while IFS= read -r line; do
    line=${line%%#*}
    [[ $line == *=* ]] || continue
    name=$(echo "${line%%=*}" | xargs)
    value=$(echo "${line#*=}" | xargs)   # xargs trims the blanks and the quotes
    opts+=(-o "$name=$value")
done <"$(dirname "$0")/cluster.conf"
exec pg_virtualenv -t -v 15 "${opts[@]}" "$@"
