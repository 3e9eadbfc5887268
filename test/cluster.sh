#!/usr/bin/env bash
# Run a command inside a throwaway PostgreSQL 15 cluster (pg_virtualenv -t: files in a temporary directory, even as
# root, so runs never collide) with pg_stat_statements and pg_cron preloaded (pg_cron runs jobs in background workers:
# the throwaway cluster asks for passwords on TCP, which pg_cron's own connections could not give).
# Usage: test/cluster.sh COMMAND [ARGS...]   (PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE are set for COMMAND)
set -euo pipefail
exec pg_virtualenv -t -v 15 \
    -o "shared_preload_libraries=pg_stat_statements,pg_cron" \
    -o "cron.database_name=postgres" \
    -o "cron.use_background_workers=on" \
    -o "pg_stat_statements.track=all" \
    -o "max_locks_per_transaction=256" \
    -o "max_prepared_transactions=5" \
    -o "log_error_verbosity=verbose" \
    "$@"
