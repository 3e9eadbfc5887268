#!/usr/bin/env bash
# Install what building and testing pg_apes_health needs on Debian 12, if it is missing.  Idempotent; needs root
# (or sudo) only when something is missing.
set -euo pipefail

packages=(postgresql-15 postgresql-contrib postgresql-server-dev-15 postgresql-15-pgtap
          libtap-parser-sourcehandler-pgtap-perl postgresql-15-cron libipc-run-perl libpq-dev pgbouncer sqlsmith valgrind make gcc
          prometheus prometheus-postgres-exporter chromium nodejs python3 curl)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's postgresql-common creates a 'main' cluster on first install; the tests use throwaway clusters instead.
exit 0
