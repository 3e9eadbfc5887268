#!/usr/bin/env bash
# Build pg_apes_health warning-free (-Werror with the CI warning set) and install it into the server's directories.
# PG_CONFIG=/path/to/pg_config picks the server (default: pg_config on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
PG_CONFIG=${PG_CONFIG:-pg_config}
make -s clean PG_CONFIG="$PG_CONFIG" >/dev/null
make -s strict PG_CONFIG="$PG_CONFIG"
SUDO=""
[ -w "$("$PG_CONFIG" --pkglibdir)" ] || SUDO=sudo
$SUDO make -s install PG_CONFIG="$PG_CONFIG" >/dev/null
