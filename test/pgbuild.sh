#!/usr/bin/env bash
# Build PostgreSQL MAJOR (17 or 18) from Debian's own source package, with contrib, the isolation tester, the TAP
# test modules, pgTAP and pg_cron, into a cache folder outside the checkout; reused when it is already there.
#   test/pgbuild.sh 18        -> /var/cache/pg_apes_health/pg18 (APES_PG_CACHE overrides /var/cache/pg_apes_health)
# Prints the prefix on its last line.  15 is Debian 12's own package: nothing to build, the prefix printed is
# /usr/lib/postgresql/15.  Exit status 3 when the version's source package cannot be downloaded from the mirror (it
# lists a version whose files it does not hold), 1 on any other failure.
#
# The sources come from Debian 13 (trixie: postgresql-17) and unstable (sid: postgresql-18), read through a private
# apt sources file and list folder, so the machine's own apt set-up is never touched.  About 8 minutes a version on
# two cores.  Needs root (or sudo) once, to install bison, flex and dpkg-dev.
set -euo pipefail
major=${1:?usage: test/pgbuild.sh MAJOR}
if [ "$major" = 15 ]; then echo /usr/lib/postgresql/15; exit 0; fi
case $major in
    17) suite=trixie ;;
    18) suite=sid ;;
    *) echo "pgbuild: PostgreSQL $major is not one of the supported versions (15, 17, 18)" >&2; exit 2 ;;
esac
cache=${APES_PG_CACHE:-/var/cache/pg_apes_health}
prefix=$cache/pg$major
stamp=$prefix/.apes-built
# the stamp names what was built; a folder left by an interrupted build has none and is built again
if [ -f "$stamp" ] && [ -x "$prefix/bin/pg_config" ]; then echo "$prefix"; exit 0; fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
need=()
for p in bison flex dpkg-dev make gcc libipc-run-perl perl; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "pgbuild: installing ${need[*]}" >&2
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
        { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
          $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
fi

$SUDO mkdir -p "$cache"
[ -w "$cache" ] || $SUDO chown "$(id -u):$(id -g)" "$cache"
src=$cache/src
mkdir -p "$src/lists/partial"
# the mirror the machine's apt set-up already uses (deb822 or one-line format)
mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)\/*$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
[ -n "$mirror" ] || mirror=$(sed -n 's/^deb \(\[[^]]*\] \)\?\(http[^ ]*debian\)\/* .*/\2/p' /etc/apt/sources.list 2>/dev/null | head -n 1)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
{
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main"
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror sid main"
} >"$src/sources.list"
apt_src=(apt-get -q -o Dir::Etc::sourcelist="$src/sources.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$src/lists"
         -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
# one update of the private lists a day is enough
if [ -z "$(find "$src/lists" -maxdepth 1 -name '*Sources*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
    echo "pgbuild: reading the source lists of trixie and sid from $mirror" >&2
    "${apt_src[@]}" update >"$src/update.log" 2>&1 || { cat "$src/update.log" >&2; exit 1; }
fi

# fetch_source PACKAGE SUITE...: download and unpack PACKAGE's source from the first SUITE whose files the mirror has
# (a suite's newest upload can be listed before the mirror holds its files) into $src/PACKAGE-SUITE; prints the tree
fetch_source() {
    local pkg=$1 dir s
    shift
    for s in "$@"; do
        dir=$src/$pkg-$s
        if [ ! -f "$dir/.unpacked" ]; then
            rm -rf "$dir"; mkdir -p "$dir"
            if (cd "$dir" && "${apt_src[@]}" source --download-only "$pkg/$s" >download.log 2>&1); then
                (cd "$dir" && dpkg-source --no-check -x ./*.dsc tree >unpack.log 2>&1) || { cat "$dir/unpack.log" >&2; exit 1; }
            elif compgen -G "$dir/*.orig.tar.*" >/dev/null; then
                # the mirror had the upstream tarball but not the Debian parts (.dsc, .debian.tar): upstream as it is
                echo "pgbuild: $pkg from $s: $(grep -m1 '^E:' "$dir/download.log" || true); building its upstream tarball" >&2
                mkdir -p "$dir/tree"
                tar -xf "$(compgen -G "$dir/*.orig.tar.*" | head -n 1)" -C "$dir/tree" --strip-components=1
            else
                echo "pgbuild: $pkg is not to be had from $s: $(grep -m1 '^E:' "$dir/download.log" || true)" >&2
                continue
            fi
            touch "$dir/.unpacked"
        fi
        echo "$dir/tree"
        return 0
    done
    echo "pgbuild: no source of $pkg in $*" >&2
    return 1
}

# exit status 3: the source cannot be had here (the caller may skip the version and say why)
tree=$(fetch_source "postgresql-$major" "$suite") || exit 3
jobs=$(nproc)
build=$src/build-$major
mkdir -p "$build"
if [ ! -f "$prefix/.apes-server" ]; then
rm -rf "$prefix"
echo "pgbuild: building PostgreSQL $major from $(basename "$(dirname "$tree")") into $prefix (log: $build/build.log)" >&2
# Its own shell, so that the first failing step stops it (a subshell on the left of || would ignore set -e).  The
# generated headers come first, and a parallel make that fails is finished serially: with another process loading
# the machine, make -j once raced to compile src/common before utils/errcodes.h existed.
build_steps='
    cd "$1"
    "$2/configure" --prefix="$3" --without-icu --without-readline --without-zlib --enable-tap-tests \
        --with-system-tzdata=/usr/share/zoneinfo
    make -s -C src/backend generated-headers
    make -j"$4" -s || { echo "pgbuild: make -j$4 failed; going on serially"; make -s; }
    make -s install
    make -s -C contrib -j"$4" install || make -s -C contrib install
    make -s -C src/test/isolation install
    make -s -C src/test/perl install
'
bash -euo pipefail -c "$build_steps" pgbuild "$build" "$tree" "$prefix" "$jobs" >"$build/build.log" 2>&1 ||
    { tail -n 40 "$build/build.log" >&2; exit 1; }
touch "$prefix/.apes-server"
fi

# pgTAP and pg_cron for this version, from the same suite's source packages (the other suite's when the mirror lacks
# them), built with its pg_config
# them), built with its pg_config.  pgTAP is required; pg_cron is not: where no source of it can be had, the version
# is built without it, that is recorded in $prefix/.apes-without-pg_cron, and the test clusters of this version do not
# preload it (the tests that need it say they are skipped, and why).
other=$([ "$suite" = sid ] && echo trixie || echo sid)
rm -f "$prefix/.apes-without-pg_cron"
for pkg in pgtap pg-cron; do
    if ! ext=$(fetch_source "$pkg" "$suite" "$other"); then
        [ "$pkg" = pg-cron ] || exit 1
        echo "no source package of pg-cron could be downloaded from the mirror for $suite or $other" >"$prefix/.apes-without-pg_cron"
        echo "pgbuild: PostgreSQL $major without pg_cron: $(cat "$prefix/.apes-without-pg_cron")" >&2
        continue
    fi
    bash -euo pipefail -c '
        cd "$1"
        make -s PG_CONFIG="$2/bin/pg_config" clean >/dev/null 2>&1 || true
        make -s PG_CONFIG="$2/bin/pg_config"
        make -s PG_CONFIG="$2/bin/pg_config" install
    ' pgbuild "$ext" "$prefix" >"$build/$pkg.log" 2>&1 || { tail -n 40 "$build/$pkg.log" >&2; exit 1; }
done
"$prefix/bin/pg_config" --version >"$stamp"
rm -rf "$build"
echo "$prefix"
