#!/usr/bin/env bash
# Print the server settings of every test cluster (test/cluster.conf) for the server of PG_CONFIG (default: pg_config
# on PATH): as they are, except that pg_cron leaves shared_preload_libraries where that version has no pg_cron
# (test/pgbuild.sh could not download its source: see the version's .apes-without-pg_cron).  cron.database_name stays,
# as a placeholder setting: apes.schedule() reads it to say where pg_cron lives.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pkglibdir=$("${PG_CONFIG:-pg_config}" --pkglibdir)
if [ -f "$pkglibdir/pg_cron.so" ]; then
    cat "$here/cluster.conf"
else
    sed -E "/^shared_preload_libraries/ { s/,pg_cron//; s/pg_cron,?// }" "$here/cluster.conf"
fi
