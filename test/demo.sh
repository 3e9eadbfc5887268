#!/usr/bin/env bash
# make demo: install what is missing, build and install, start a throwaway cluster with pg_stat_statements and
# pg_cron preloaded, load the demo database with planted problems (test/demo.sql) and print its health report.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${APES_IN_CLUSTER:-}" ]; then
    test/setup.sh
    test/build.sh
    APES_IN_CLUSTER=1 exec test/cluster.sh "$0" "$@"
fi
createdb apes_demo
# the planted failed CREATE UNIQUE INDEX CONCURRENTLY prints one expected error; anything else stops the demo
log=$(mktemp)
psql -X -q -v ON_ERROR_STOP=1 -d apes_demo -f test/demo.sql >"$log" 2>&1 || { cat "$log"; exit 1; }
psql -X -q -v ON_ERROR_STOP=1 -d apes_demo -c "CREATE EXTENSION pg_apes_health"
psql -X -At -d apes_demo -c "SELECT apes.health_report()"
