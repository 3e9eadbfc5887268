#!/usr/bin/env bash
# Build pg_apes_health warning-free (-Werror with the CI warning set) and install it into the server's directories.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s clean >/dev/null
make -s strict
SUDO=""
[ -w "$(pg_config --pkglibdir)" ] || SUDO=sudo
$SUDO make -s install >/dev/null
