#!/usr/bin/env bash
# Stop, start or restart the server of test/cluster.sh (from APES_PGDATA, APES_PGLOG and APES_PGBIN), as the account
# it runs as.  Usage: test/pgctl.sh stop|start|restart|status
set -euo pipefail
: "${APES_PGDATA:?run inside test/cluster.sh}" "${APES_PGLOG:?}" "${APES_PGBIN:?}"
run=()
[ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
cd /
case ${1:?usage: test/pgctl.sh stop|start|restart|status} in
    stop) "${run[@]}" "$APES_PGBIN/pg_ctl" -D "$APES_PGDATA" -m fast -w -t 120 stop ;;
    start|restart) "${run[@]}" "$APES_PGBIN/pg_ctl" -D "$APES_PGDATA" -l "$APES_PGLOG" -w -t 120 "$1" ;;
    status) "${run[@]}" "$APES_PGBIN/pg_ctl" -D "$APES_PGDATA" status ;;
    *) echo "usage: test/pgctl.sh stop|start|restart|status" >&2; exit 2 ;;
esac
