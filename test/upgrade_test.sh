#!/usr/bin/env bash
# Upgrade path: install the oldest version the package ships, keep some history under it, update step by step along
# pg_extension_update_paths() to the default version, and compare with a fresh install of the default version:
# the same objects, definitions, columns in the same order, indexes, policies, comments, privileges (live and the
# initial ones pg_dump starts from) and dumped tables (test/upgrade/describe.sql).  Also: released install and
# update scripts are never edited again (test/upgrade/released.sha256), history taken before the update survives it
# and the updated extension works, and a privilege a DBA granted before the update is still there after it.
# Run by test/run_tests.sh inside the test cluster (PGHOST etc. set); prints a diff and exits 1 on any difference.
set -euo pipefail
cd "$(dirname "$0")/.."
PSQL=(psql -X -q -At -v ON_ERROR_STOP=1)
fail=0
say() { echo "$*"; }
bad() { echo "FAILED: $*"; fail=1; }
cleanup() {
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS apes_upgraded WITH (FORCE)" \
        -c "DROP DATABASE IF EXISTS apes_fresh WITH (FORCE)" -c "DROP ROLE IF EXISTS apes_upgrade_dba" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup

# released scripts are frozen: a change to one would make old installations differ from new ones
if sha256sum --check --quiet test/upgrade/released.sha256; then
    say "released scripts unchanged: $(awk '{print $2}' test/upgrade/released.sha256 | xargs -n1 basename | paste -sd' ')"
else
    bad "a released script was edited; released scripts are frozen (add an update script instead)"
fi

psql -X -q -d postgres -c "CREATE DATABASE apes_upgraded" -c "CREATE DATABASE apes_fresh" -c "CREATE ROLE apes_upgrade_dba"
oldest=$("${PSQL[@]}" -d apes_upgraded -c "
    SELECT version FROM pg_available_extension_versions WHERE name = 'pg_apes_health'
     ORDER BY string_to_array(version, '.')::int[] LIMIT 1")
newest=$("${PSQL[@]}" -d apes_upgraded -c "SELECT default_version FROM pg_available_extensions WHERE name = 'pg_apes_health'")
path=$("${PSQL[@]}" -d apes_upgraded -c "
    SELECT path FROM pg_extension_update_paths('pg_apes_health') WHERE source = '$oldest' AND target = '$newest'")
say "oldest shipped version $oldest, default $newest, update path: ${path:-none}"
if [ "$oldest" != "$newest" ] && [ -z "$path" ]; then
    bad "no update path from $oldest to $newest"
fi

# the old version, with history recorded under it and a privilege granted by a DBA.  Releases before 0.3.0 read
# pg_stat_statements' I/O timing columns by their names before 1.11 (PostgreSQL 17 renamed them): on 17 and later
# the old version's snapshot is taken without pg_stat_statements, which is created after the update.
pgss_late=$("${PSQL[@]}" -d apes_upgraded -c "SELECT default_version::numeric >= 1.11 AND '$oldest' < '0.3.0'
                                              FROM pg_available_extensions WHERE name = 'pg_stat_statements'")
pgss_now="CREATE EXTENSION pg_stat_statements;"
[ "$pgss_late" = t ] && { pgss_now=""; say "pg_stat_statements 1.11 or later: created after the update"; }
"${PSQL[@]}" -d apes_upgraded <<SQL
SET client_min_messages = warning;
$pgss_now
CREATE EXTENSION pg_apes_health VERSION '$oldest';
CREATE TABLE t (id int PRIMARY KEY, v text);
CREATE INDEX t_v_idx ON t (v);
CREATE INDEX t_v_dup ON t (v);
SELECT apes.snapshot() IS NOT NULL AS took \gset
GRANT EXECUTE ON FUNCTION apes.snapshot() TO apes_upgrade_dba;
SQL
snaps_before=$("${PSQL[@]}" -d apes_upgraded -c "SELECT count(*) FROM apes.snapshot")

# step by step along the path (each version after the first)
mapfile -t steps < <(sed "s/--/\n/g" <<<"$path")
for v in "${steps[@]:1}"; do
    if "${PSQL[@]}" -d apes_upgraded -c "ALTER EXTENSION pg_apes_health UPDATE TO '$v'"; then
        say "updated to $v"
    else
        bad "ALTER EXTENSION pg_apes_health UPDATE TO '$v'"
    fi
done
got=$("${PSQL[@]}" -d apes_upgraded -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_apes_health'")
[ "$got" = "$newest" ] && say "installed version after the updates: $got" || bad "installed version $got, expected $newest"

# the updated extension keeps its history and the DBA's grant, and works
[ "$pgss_late" = t ] && "${PSQL[@]}" -d apes_upgraded -c "SET client_min_messages = warning" \
    -c "CREATE EXTENSION pg_stat_statements" >/dev/null
kept=$("${PSQL[@]}" -d apes_upgraded -c "SELECT count(*) FROM apes.snapshot")
[ "$kept" = "$snaps_before" ] && say "history kept: $kept snapshot(s)" || bad "snapshots before $snaps_before, after $kept"
grant=$("${PSQL[@]}" -d apes_upgraded -c "SELECT has_function_privilege('apes_upgrade_dba', 'apes.snapshot()', 'EXECUTE')")
[ "$grant" = t ] && say "a grant made before the update is kept" || bad "the grant on apes.snapshot() was lost"
works=$("${PSQL[@]}" -d apes_upgraded -c "SET client_min_messages = warning" -c "SELECT apes.snapshot() IS NOT NULL" \
    -c "SELECT count(*) = $snaps_before + 1 FROM apes.snapshot" \
    -c "SELECT count(*) = 1 FROM apes.findings() WHERE check_id = 'index_duplicate' AND object_name = 'public.t_v_dup'" \
    -c "SELECT count(*) > 0 FROM apes.finding_history" | sort -u)
[ "$works" = t ] && say "after the update: a new snapshot, and findings" || bad "the updated extension does not work: $works"
"${PSQL[@]}" -d apes_upgraded -c "REVOKE EXECUTE ON FUNCTION apes.snapshot() FROM apes_upgrade_dba"

# a fresh install of the default version
"${PSQL[@]}" -d apes_fresh -c "CREATE EXTENSION pg_apes_health"

# the same objects and privileges
out=$(mktemp -d)
"${PSQL[@]}" -d apes_upgraded -f test/upgrade/describe.sql >"$out/upgraded"
"${PSQL[@]}" -d apes_fresh -f test/upgrade/describe.sql >"$out/fresh"
facts=$(grep -c '' "$out/fresh" || true)
members=$(grep -c '^member ' "$out/fresh" || true)
if diff -u "$out/fresh" "$out/upgraded" >"$out/diff"; then
    say "updated and fresh installs identical: $members member objects, $facts lines of description"
else
    bad "updated install differs from a fresh install (- fresh, + updated):"
    head -n 80 "$out/diff"
fi
# every object the default version's script creates is a member the description saw
# (an identity column brings its sequence)
created=$(grep -cE '^CREATE (FUNCTION|TABLE|VIEW|MATERIALIZED VIEW|TYPE|SEQUENCE|OPERATOR|AGGREGATE) |AS IDENTITY' \
    "sql/pg_apes_health--$newest.sql")
[ "$members" -eq "$created" ] || bad "$members member objects described, but sql/pg_apes_health--$newest.sql creates $created"
rm -rf "$out"

[ "$fail" -eq 0 ] && echo "upgrade: $oldest -> $newest ok" || echo "upgrade: FAILED"
exit "$fail"
