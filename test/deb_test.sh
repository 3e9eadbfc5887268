#!/usr/bin/env bash
# Build the Debian package of pg_apes_health (debian/, pg_buildext with the pgxs_loop addon), install it, use it in
# a throwaway PostgreSQL 15 cluster, then remove it again.
#
# Usage: test/deb_test.sh        (as root, no standard input needed)
#
# - The checkout's files (tracked, and untracked but not ignored: uncommitted work is tested too) are copied into a
#   temporary folder and built there with `dpkg-buildpackage -us -uc -b`: never in the checkout itself, which
#   dpkg-buildpackage would clean, and whose parent folder would get the .deb files.
# - The package is installed with apt-get, checked to own the server's files, used (CREATE EXTENSION, the version,
#   one health report, the findings) in a cluster of its own (initdb and pg_ctl as the postgres account, socket and
#   data in the temporary folder), then purged.
# - The package writes over the files that `make install` (the project's own test suite) puts into
#   /usr/lib/postgresql/15/lib and /usr/share/postgresql/15/extension, and purging it deletes them: every one of
#   those files that exists before is saved first and put back after the package is purged, on failure too.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
umask 022

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
pgmajor=15
pkg=postgresql-$pgmajor-pg-apes-health
pgbin=/usr/lib/postgresql/$pgmajor/bin
pg_config=$pgbin/pg_config
apt_opts=(-y -q -o DPkg::Lock::Timeout=600)
t0=$(date +%s)

say() { echo "deb_test: $*"; }
die() { echo "deb_test: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs and removes a package)"

# --- state for the cleanup ---------------------------------------------------------------------------------------
work=""              # the temporary folder
pgdata=""            # the cluster's data folder, once initdb ran
we_installed=0       # 1 once apt-get install of our package was started
backup_taken=0       # 1 once the files the package replaces are saved
restored=0           # 1 once they are back

stop_cluster() {
    if [ -n "$pgdata" ] && [ -f "$pgdata/postmaster.pid" ]; then
        (cd / && runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" stop -m fast -t 60 >/dev/null 2>&1) ||
            (cd / && runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" stop -m immediate >/dev/null 2>&1) || true
    fi
}

pkg_status() { dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true; }

purge_package() {
    local st
    st=$(pkg_status)
    if [ -n "$st" ] && [ "$st" != not-installed ]; then
        apt-get "${apt_opts[@]}" remove --purge "$pkg" >"$work/remove.log" 2>&1 ||
            { cat "$work/remove.log" >&2; return 1; }
    fi
}

restore_files() {
    [ "$backup_taken" = 1 ] && [ "$restored" = 0 ] || return 0
    if [ -s "$work/backup.tar" ]; then
        tar -C / -xpf "$work/backup.tar" || return 1
    fi
    restored=1
}

# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
    local rc=$? ok=1
    set +e
    stop_cluster
    if [ "$we_installed" = 1 ]; then
        purge_package || { echo "deb_test: cleanup: could not purge $pkg" >&2; ok=0; }
    fi
    if [ "$ok" = 1 ]; then
        restore_files || { echo "deb_test: cleanup: could not restore the saved files from $work/backup.tar" >&2; ok=0; }
    elif [ "$backup_taken" = 1 ]; then
        echo "deb_test: cleanup: the files saved before the install stay in $work/backup.tar" >&2
    fi
    if [ -n "$work" ] && [ "$ok" = 1 ]; then rm -rf "$work"; fi
    [ "$ok" = 1 ] || [ "$rc" != 0 ] || rc=1
    [ "$rc" = 0 ] || echo "deb_test: FAILED (exit $rc)" >&2
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- what the build and the test need ----------------------------------------------------------------------------
installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]; }

apt_get() {   # apt-get install or build-dep, with an apt-get update only when the first try fails
    local log
    log=$(mktemp)
    if ! apt-get "${apt_opts[@]}" "$@" >"$log" 2>&1; then
        say "apt-get $* failed; apt-get update and again"
        apt-get -q -o DPkg::Lock::Timeout=600 update >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; return 1; }
        apt-get "${apt_opts[@]}" "$@" >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; return 1; }
    fi
    rm -f "$log"
}

need=()
for p in debhelper dpkg-dev fakeroot postgresql-server-dev-all "postgresql-server-dev-$pgmajor" "postgresql-$pgmajor" \
         libpq-dev git perl; do
    installed "$p" || need+=("$p")
done
if [ "${#need[@]}" -gt 0 ]; then
    say "installing ${need[*]}"
    apt_get install "${need[@]}" || die "could not install ${need[*]}"
fi
[ -x "$pg_config" ] || die "$pg_config is missing"
pkglibdir=$("$pg_config" --pkglibdir)
sharedir=$("$pg_config" --sharedir)
docdir=$("$pg_config" --docdir)

# --- a copy of the checkout --------------------------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/apes_deb.XXXXXX")
chmod 755 "$work"           # the cluster's folder inside is the postgres account's
src=$work/pg-apes-health
mkdir "$src"
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # tracked files and untracked ones that are not ignored, less those deleted in the work tree
    git -C "$repo" ls-files -z -c -o --exclude-standard --deduplicate |
        while IFS= read -r -d '' f; do
            if [ -e "$repo/$f" ] || [ -L "$repo/$f" ]; then printf '%s\0' "$f"; fi
        done |
        tar -C "$repo" --null -T - -cf - | tar -C "$src" -xf -
else
    cp -a "$repo/." "$src/"
fi
[ -f "$src/debian/control.in" ] && [ -f "$src/debian/rules" ] || die "no debian/ packaging in $repo"
say "copied $(find "$src" -type f | wc -l) files of $repo into $src"

ext_version=$(sed -n "s/^default_version *= *'\(.*\)'.*/\1/p" "$src/pg_apes_health.control")
[ -n "$ext_version" ] || die "no default_version in pg_apes_health.control"
deb_version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
[ "${deb_version%-*}" = "$ext_version" ] ||
    die "debian/changelog is at $deb_version but pg_apes_health.control's default_version is $ext_version: add a changelog entry ($ext_version-1)"
# Build-Depends of debian/control beyond the packages above
if ! (cd "$src" && dpkg-checkbuilddeps) >/dev/null 2>&1; then
    say "installing the missing Build-Depends: $(cd "$src" && dpkg-checkbuilddeps 2>&1 | sed 's/.*: //' || true)"
    apt_get build-dep "$src" || die "could not install the Build-Depends of debian/control"
fi
supported=$(cd "$src" && pg_buildext supported-versions | tr '\n' ' ')
echo "$supported" | grep -qw "$pgmajor" ||
    die "pg_buildext builds for '$supported' only (debian/pgversions, supported-versions), not for $pgmajor"

# --- build --------------------------------------------------------------------------------------------------------
say "building $deb_version for PostgreSQL ${supported% } (dpkg-buildpackage -us -uc -b)"
tb=$(date +%s)
if ! (cd "$src" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
    tail -n 60 "$work/build.log" >&2
    die "dpkg-buildpackage failed (the log's end above)"
fi
shopt -s nullglob
debs=("$work/${pkg}_${deb_version}_"*.deb)
shopt -u nullglob
[ "${#debs[@]}" = 1 ] || die "expected one ${pkg}_${deb_version}_*.deb in $work, found: $(ls "$work")"
deb=${debs[0]}
say "built $(basename "$deb") in $(( $(date +%s) - tb ))s"

# what the package ships (paths without the leading "/"), and that the essentials are there
dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -n 's|^\./||; /\/$/d; /./p' >"$work/deb.files"
for f in "$pkglibdir/pg_apes_health.so" "$sharedir/extension/pg_apes_health.control" \
         "$sharedir/extension/pg_apes_health--$ext_version.sql"; do
    grep -qxF "${f#/}" "$work/deb.files" || die "$(basename "$deb") does not ship $f"
done

# --- save what the package will replace --------------------------------------------------------------------------
st=$(pkg_status)
if [ -n "$st" ] && [ "$st" != not-installed ]; then
    say "note: $pkg is already on this machine ($st), left by an earlier run? purging it first"
    purge_package || die "could not purge the $pkg that was already there"
fi
{
    cat "$work/deb.files"
    # the files `make install` puts there, whether this build ships each of them or not
    for f in "$pkglibdir"/pg_apes_health.so "$sharedir"/extension/pg_apes_health*.sql \
             "$sharedir"/extension/pg_apes_health.control "$pkglibdir"/bitcode/pg_apes_health* \
             "$docdir"/extension/README.md; do
        echo "${f#/}"
    done
} | sort -u | while IFS= read -r f; do
    if [ -e "/$f" ] || [ -L "/$f" ]; then printf '%s\n' "$f"; fi
done >"$work/backup.list"
if [ -s "$work/backup.list" ]; then
    tar -C / -cpf "$work/backup.tar" -T "$work/backup.list" || die "could not save the files the package replaces"
fi
backup_taken=1
say "saved $(wc -l <"$work/backup.list") existing files the package replaces (restored after it is removed)"

# --- install -------------------------------------------------------------------------------------------------------
we_installed=1
apt_get install "$deb" || die "apt-get install $deb failed"
[ "$(pkg_status)" = installed ] || die "$pkg is not installed after apt-get install"
say "installed $pkg $(dpkg-query -W -f='${Version}' "$pkg")"

for f in "$pkglibdir/pg_apes_health.so" "$sharedir/extension/pg_apes_health.control" \
         "$sharedir/extension/pg_apes_health--$ext_version.sql"; do
    owner=$(dpkg -S "$f" 2>/dev/null | cut -d: -f1) || true
    [ "$owner" = "$pkg" ] || die "$f belongs to '${owner:-no package}', not to $pkg"
done
say "the library, control file and install script belong to $pkg"

# --- a throwaway cluster -------------------------------------------------------------------------------------------
pgdir=$work/pg
mkdir "$pgdir"
chown postgres: "$pgdir"
chmod 700 "$pgdir"
pgdata=$pgdir/data
(cd / && runuser -u postgres -- "$pgbin/initdb" -D "$pgdata" -U postgres --auth=trust --encoding=UTF8 \
    --locale=C.UTF-8 --no-sync) >"$work/initdb.log" 2>&1 || { cat "$work/initdb.log" >&2; die "initdb failed"; }
# a free port chosen by the kernel; the server listens on its socket in $pgdir only, so no other server is in the way
port=$(perl -MIO::Socket::INET -e '
    my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1, ReuseAddr => 1)
        or die "no free port: $!\n";
    print $s->sockport, "\n";')
cat >>"$pgdata/postgresql.conf" <<EOF
port = $port
listen_addresses = ''
unix_socket_directories = '$pgdir'
fsync = off
EOF
(cd / && runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -l "$pgdir/server.log" -w -t 120 start) \
    >"$work/pg_ctl.log" 2>&1 || { cat "$work/pg_ctl.log" "$pgdir/server.log" >&2; die "the server did not start"; }
say "PostgreSQL $("$pg_config" --version | sed 's/^PostgreSQL //') cluster on socket $pgdir, port $port"

sql() { "$pgbin/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$pgdir" -p "$port" -U postgres -d postgres -c "$1"; }

sql "CREATE EXTENSION pg_apes_health" || die "CREATE EXTENSION pg_apes_health failed"
v=$(sql "SELECT apes.version()") || die "apes.version() failed"
[ "$v" = "$ext_version" ] || die "apes.version() is '$v', the control file's default_version is '$ext_version'"
v=$(sql "SELECT extversion FROM pg_extension WHERE extname = 'pg_apes_health'")
[ "$v" = "$ext_version" ] || die "pg_extension says version '$v', not '$ext_version'"
status=$(sql "SELECT apes.health_json()->>'status'") || die "apes.health_json() failed"
[ -n "$status" ] || die "apes.health_json()->>'status' is empty"
n=$(sql "SELECT count(*) FROM apes.findings()") || die "apes.findings() failed"
[[ "$n" =~ ^[0-9]+$ ]] || die "SELECT count(*) FROM apes.findings() gave '$n'"
say "CREATE EXTENSION, apes.version() = $ext_version, health_json status '$status', $n findings"

stop_cluster
pgdata=""

# --- remove ----------------------------------------------------------------------------------------------------------
purge_package || die "apt-get remove --purge $pkg failed"
[ "$(pkg_status)" != installed ] || die "$pkg is still installed after apt-get remove --purge"
for f in "$pkglibdir/pg_apes_health.so" "$sharedir/extension/pg_apes_health.control"; do
    [ ! -e "$f" ] || die "$f is still there after the package was purged"
done
we_installed=0
say "purged $pkg: its library and control file are gone"
restore_files || die "could not restore the saved files from $work/backup.tar"
say "restored the $(wc -l <"$work/backup.list") saved files"

say "OK: $(basename "$deb") was built, installed, worked (apes.version() = $ext_version) and was removed, in $(( $(date +%s) - t0 ))s"
