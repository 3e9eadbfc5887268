#!/usr/bin/env bash
# The registry of checks (src/checks.h, the view apes.checks) and the documentation agree:
#   1. docs/checks.md is what test/checks_doc.sql generates from apes.checks (make docs writes it);
#   2. every check's documentation link names a file of docs/ and a heading in it (GitHub's anchor of the heading);
#   3. every check id appears in the text of the document its link names (its rules are written down);
#   4. every setting a check names exists (pg_settings, once the library is loaded).
# Run inside the test cluster; exits non-zero with the reasons.
set -euo pipefail
cd "$(dirname "$0")/.."
db=apes_checks_doc
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
trap 'psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
psql -X -q -d "$db" -c "CREATE EXTENSION pg_apes_health"

generated=$(psql -X -At -d "$db" -f test/checks_doc.sql)
if ! diff -u docs/checks.md <(printf '%s\n' "$generated") >/tmp/checks_doc.$$.diff; then
    fail "docs/checks.md differs from what apes.checks generates (run make docs):"; head -n 40 /tmp/checks_doc.$$.diff
fi
rm -f /tmp/checks_doc.$$.diff

# GitHub's anchor of a markdown heading: lower case, punctuation other than - and _ dropped, spaces as hyphens
anchors() { sed -n 's/^#\{1,6\} \(.*\)$/\1/p' "$1" | perl -CS -ne 'chomp; $_ = lc; s/[^\w\- ]//g; s/ /-/g; print "$_\n"'; }
while IFS='|' read -r id doc; do
    file=${doc%%#*} anchor=${doc#*#}
    if [ ! -f "$file" ]; then fail "$id: its documentation $file does not exist"; continue; fi
    anchors "$file" | grep -qxF "$anchor" || fail "$id: $file has no heading with the anchor #$anchor"
    grep -qF "$id" "$file" || fail "$id: $file does not mention it"
done < <(psql -X -At -F '|' -d "$db" -c "SELECT check_id, documentation FROM apes.checks")

missing=$(psql -X -q -At -d "$db" -c "LOAD 'pg_apes_health'" -c "
    SELECT string_agg(DISTINCT s, ', ') FROM apes.checks, unnest(settings) s
     WHERE s NOT IN (SELECT name FROM pg_settings)")
[ -z "$missing" ] || fail "settings named by checks do not exist: $missing"

[ "$failures" = 0 ] || exit 1
echo "docs/checks.md matches apes.checks ($(psql -X -At -d "$db" -c "SELECT count(*) FROM apes.checks") checks); every link, id and setting checks out"
