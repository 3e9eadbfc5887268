#!/usr/bin/env bash
# Corrupt pages never crash the page-reading functions (issue 6, item 6).  In a database of its own this builds tables
# of 50,000 md5 rows (about 460 pages each) and btree indexes, VACUUMs and CHECKPOINTs them, stops the server,
# overwrites parts of single pages on disk, starts the server again and calls apes.table_bloat() (exact, whole and
# sampled with several seeds), apes.index_bloat() (exact and sampled), apes.findings(), apes.health_json() and
# apes.bloat_estimates.  Each call must either work or fail with a clean ERROR whose SQLSTATE is XX001
# (data_corrupted) or XX002 (index_corrupted) and whose message names the block and the relation (by name, or by its
# file as the buffer manager's own check does); never XX000, never a crash: pg_postmaster_start_time() stays the same,
# "SELECT 1" still works and the server log written after the corruption holds no "terminated by signal", "TRAP:",
# "PANIC" or XX000.  One relation per kind of damage, so that each call meets exactly one bad page:
#   c_header  block 3: pd_lower and pd_upper overwritten with garbage (the buffer manager's header check catches it)
#   c_lower   block 7: pd_lower = 4, below the page header (passes the buffer manager, only the extension catches it)
#   c_linep   block 5: line pointer 1 normal, offset 8000, length 1000: past the end of the page
#   c_random  block 9: 8192 random bytes
#   c_idx (its table is intact):
#     c_idx_special block 2: pd_special = 8168, a special space of 24 bytes instead of a btree's 16
#     c_idx_random  block 4: 8192 random bytes
#     c_idx_linep   block 3: line pointer 2 normal, offset 32760 (the largest), length 64: far past the end of the page
#     c_idx_lower   block 5: pd_lower = pd_upper = pd_special: a valid header, but about 2,000 line pointers, most of
#                   them tuple bytes read as line pointers (btree line pointers are not checked by the buffer manager)
# Tuple headers (issue 13, defect 1), in tables of 20,000 rows (under the 400 pages a report reads whole), each with
# the hint bits cleared, so that without the extension's own checks a visibility test would ask the commit log or the
# multixact SLRU about ids they never held (58P01, XX000):
#   c_xmin    block 2, tuple 1: xmin a million transactions in the future
#   c_mxid    block 4, tuple 1: xmax a multixact never created (HEAP_XMAX_IS_MULTI)
#   c_hoff    block 6, tuple 1: t_hoff 27, not maximally aligned and past where the header ends
#   c_special block 8: pd_special = 8184, a special space on a heap page
#   c_gone    its file made unreadable (mode 000): reading it fails with 42501, which a report turns into
#             bloat_measurement_failed, not a failure of the whole report
# Special spaces of every index access method read (issue 13, defect 2), each on block 1:
#   c_hash    pd_special = 8184: an 8-byte special space where a hash page has 16 (was read 4 bytes past the page)
#   c_gist    the page id 0x1234 instead of GiST's 0xFF81
#   c_gin     pd_special = 8176: a 16-byte special space where a GIN page has 8
#   c_spgist  pd_special = 8176: a 16-byte special space where an SP-GiST page has 8
# Run it inside the throwaway cluster: test/cluster.sh test/corruption_test.sh (it stops and starts that cluster).
# Exits non-zero with the reason on failure.
set -euo pipefail
db=apes_corruption
failures=()
fail() { echo "FAIL: $*"; failures+=("$*"); }

here=$(cd "$(dirname "$0")" && pwd)
: "${APES_PGDATA:?run inside test/cluster.sh}"
logfile=$APES_PGLOG
echo "cluster PostgreSQL $APES_PGMAJOR in $APES_PGDATA, log $logfile"

cleanup() {
    # the server may have been left stopped by a failure half-way
    "$here/pgctl.sh" status >/dev/null 2>&1 || "$here/pgctl.sh" start >/dev/null 2>&1 || true
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
}
trap cleanup EXIT

q() { psql -X -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
echo "== building the relations"
q -q <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_apes_health;
CREATE TABLE c_header (id int, v text);
CREATE TABLE c_lower  (id int, v text);
CREATE TABLE c_linep  (id int, v text);
CREATE TABLE c_random (id int, v text);
CREATE TABLE c_idx    (id int, v text);
INSERT INTO c_header SELECT g, md5(g::text) FROM generate_series(1, 50000) g;
INSERT INTO c_lower  SELECT g, md5(g::text) FROM generate_series(1, 50000) g;
INSERT INTO c_linep  SELECT g, md5(g::text) FROM generate_series(1, 50000) g;
INSERT INTO c_random SELECT g, md5(g::text) FROM generate_series(1, 50000) g;
INSERT INTO c_idx    SELECT g, md5(g::text) FROM generate_series(1, 50000) g;
CREATE INDEX c_idx_special ON c_idx (v);
CREATE INDEX c_idx_random  ON c_idx (v);
CREATE INDEX c_idx_linep   ON c_idx (v);
CREATE INDEX c_idx_lower   ON c_idx (v);
CREATE TABLE c_xmin    (id int, v text);
CREATE TABLE c_mxid    (id int, v text);
CREATE TABLE c_hoff    (id int, v text);
CREATE TABLE c_special (id int, v text);
CREATE TABLE c_gone    (id int, v text);
INSERT INTO c_gone    SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
INSERT INTO c_xmin    SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
INSERT INTO c_mxid    SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
INSERT INTO c_hoff    SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
INSERT INTO c_special SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
CREATE TABLE c_am (id int, p point, a int[], t text);
INSERT INTO c_am SELECT g, point(g % 1000, g / 1000), ARRAY[g % 100, g % 7], md5(g::text) FROM generate_series(1, 50000) g;
CREATE INDEX c_hash   ON c_am USING hash (id);
CREATE INDEX c_gist   ON c_am USING gist (p);
CREATE INDEX c_gin    ON c_am USING gin (a);
CREATE INDEX c_spgist ON c_am USING spgist (t);
-- some dead tuples, so that the measurements have something to find
DELETE FROM c_header WHERE id % 10 = 0;
DELETE FROM c_idx WHERE id % 10 = 0;
VACUUM (ANALYZE) c_header, c_lower, c_linep, c_random, c_idx, c_xmin, c_mxid, c_hoff, c_special, c_gone, c_am;
CHECKPOINT;
SQL
q -c "SELECT relname, pg_relation_size(oid) / 8192 AS pages, pg_relation_filepath(oid)
        FROM pg_class WHERE relname LIKE 'c\_%' ORDER BY relname" -F ' ' | sed 's/^/  /'
datadir=$(q -c "SHOW data_directory")
checksums=$(q -c "SHOW data_checksums")
echo "data directory $datadir; data_checksums = $checksums"
file() { echo "$datadir/$(q -c "SELECT pg_relation_filepath('$1')")"; }
declare -A path
heap_tables="c_header c_lower c_linep c_random c_xmin c_mxid c_hoff c_special"
other_indexes="c_hash c_gist c_gin c_spgist"
for r in $heap_tables c_gone c_idx_special c_idx_random c_idx_linep c_idx_lower $other_indexes; do path[$r]=$(file "$r"); done
# a transaction id a million ahead of the next one (32 bits, as a tuple holds it)
future_xid=$(q -c "SELECT (txid_current() + 1000000) % 4294967296")

echo "== before the damage every call works"
for r in $heap_tables c_idx; do
    q -c "SELECT round(wasted_pct::numeric, 1) FROM apes.table_bloat('$r', exact => true)" >/dev/null \
        || fail "apes.table_bloat('$r', exact => true) failed before the damage"
done
for r in c_idx_special c_idx_random c_idx_linep c_idx_lower $other_indexes; do
    q -c "SELECT count(*) FROM apes.index_bloat('$r', exact => true)" >/dev/null \
        || fail "apes.index_bloat('$r', exact => true) failed before the damage"
done
[ ${#failures[@]} -eq 0 ] || exit 1

echo "== stopping the server and damaging the pages"
"$here/pgctl.sh" stop >/dev/null || { echo "stopping the server failed"; exit 1; }
python3 - "${path[c_header]}" "${path[c_lower]}" "${path[c_linep]}" "${path[c_random]}" \
    "${path[c_idx_special]}" "${path[c_idx_random]}" "${path[c_idx_linep]}" "${path[c_idx_lower]}" \
    "${path[c_xmin]}" "${path[c_mxid]}" "${path[c_hoff]}" "${path[c_special]}" \
    "${path[c_hash]}" "${path[c_gist]}" "${path[c_gin]}" "${path[c_spgist]}" "$future_xid" <<'PY'
import os, struct, sys
BLCKSZ = 8192
(header, lower, linep, rand, idx_special, idx_rand, idx_linep, idx_lower,
 xmin, mxid, hoff, heap_special, am_hash, am_gist, am_gin, am_spgist, future_xid) = sys.argv[1:]
future_xid = int(future_xid)

def patch(path, block, offset, data, what):
    with open(path, "r+b") as f:
        f.seek(block * BLCKSZ + offset)
        old = f.read(len(data))
        f.seek(block * BLCKSZ + offset)
        f.write(data)
    short = lambda b: b.hex() if len(b) <= 8 else b[:8].hex() + f"... ({len(b)} bytes)"
    print(f"  {os.path.basename(path)} block {block} byte {offset}: {short(old)} -> {short(data)} ({what})")

def linepointer(off, flags, length):
    return struct.pack("<I", off | (flags << 15) | (length << 17))

# PageHeaderData: pd_lsn 8, pd_checksum 2, pd_flags 2, pd_lower 2 (byte 12), pd_upper 2 (14), pd_special 2 (16), ...
# the line pointers start at byte 24, 4 bytes each
patch(header, 3, 12, struct.pack("<HH", 0xbeef, 0x0102), "pd_lower, pd_upper: garbage")
patch(lower, 7, 12, struct.pack("<H", 4), "pd_lower = 4, inside the page header")
patch(linep, 5, 24, linepointer(8000, 1, 1000), "line pointer 1: normal, offset 8000, length 1000")
patch(rand, 9, 0, os.urandom(BLCKSZ), "random page")
patch(idx_special, 2, 16, struct.pack("<H", BLCKSZ - 24), "pd_special = 8168: 24-byte special space")
patch(idx_rand, 4, 0, os.urandom(BLCKSZ), "random page")
patch(idx_linep, 3, 24 + 4, linepointer(32760, 1, 64), "line pointer 2: normal, offset 32760, length 64")
with open(idx_lower, "rb") as f:
    f.seek(5 * BLCKSZ + 16)
    special, = struct.unpack("<H", f.read(2))
patch(idx_lower, 5, 12, struct.pack("<HH", special, special), f"pd_lower = pd_upper = pd_special = {special}")

def tuple1(path, block):
    """The byte offset in its page of the first tuple of a heap page (line pointer 1)."""
    with open(path, "rb") as f:
        f.seek(block * BLCKSZ + 24)
        lp, = struct.unpack("<I", f.read(4))
    return lp & 0x7FFF

def infomask(path, block, off):
    with open(path, "rb") as f:
        f.seek(block * BLCKSZ + off + 20)
        return struct.unpack("<H", f.read(2))[0]

# HeapTupleHeaderData: t_xmin 0, t_xmax 4, t_cid 8, t_ctid 12, t_infomask2 18, t_infomask 20, t_hoff 22
XMIN_COMMITTED, XMIN_INVALID, XMAX_COMMITTED, XMAX_INVALID, XMAX_IS_MULTI = 0x0100, 0x0200, 0x0400, 0x0800, 0x1000
XMAX_LOCK_ONLY = 0x0080
t = tuple1(xmin, 2)
patch(xmin, 2, t, struct.pack("<I", future_xid), f"tuple 1: xmin {future_xid}, in the future")
patch(xmin, 2, t + 20, struct.pack("<H", infomask(xmin, 2, t) & ~(XMIN_COMMITTED | XMIN_INVALID)),
      "tuple 1: xmin hint bits cleared")
t = tuple1(mxid, 4)
patch(mxid, 4, t + 4, struct.pack("<I", 0x7FFFFFF0), "tuple 1: xmax 2147483632")
patch(mxid, 4, t + 20,
      struct.pack("<H", (infomask(mxid, 4, t) | XMAX_IS_MULTI) & ~(XMAX_INVALID | XMAX_COMMITTED | XMAX_LOCK_ONLY)),
      "tuple 1: xmax is a multixact, hint bits cleared")
t = tuple1(hoff, 6)
patch(hoff, 6, t + 22, struct.pack("<B", 27), "tuple 1: t_hoff = 27")
patch(heap_special, 8, 16, struct.pack("<H", BLCKSZ - 8), "pd_special = 8184 on a heap page")
patch(am_hash, 1, 16, struct.pack("<H", BLCKSZ - 8), "pd_special = 8184: an 8-byte special space")
patch(am_gist, 1, BLCKSZ - 2, struct.pack("<H", 0x1234), "GiST page id 0x1234")
patch(am_gin, 1, 16, struct.pack("<H", BLCKSZ - 16), "pd_special = 8176: a 16-byte special space")
patch(am_spgist, 1, 16, struct.pack("<H", BLCKSZ - 16), "pd_special = 8176: a 16-byte special space")
PY
chmod 000 "${path[c_gone]}"
echo "  made the file of c_gone unreadable"
"$here/pgctl.sh" start >/dev/null || { echo "starting the server failed"; exit 1; }
for _ in $(seq 1 30); do psql -X -At -d postgres -c "SELECT 1" >/dev/null 2>&1 && break; sleep 1; done
# the port was free while the server was down: make sure this is the same cluster, not another one that took it
now_dir=$(psql -X -At -d postgres -c "SHOW data_directory" 2>&1) || true
[ "$now_dir" = "$datadir" ] || { echo "after the restart port ${PGPORT:-5432} serves $now_dir, not $datadir"; exit 1; }
marker="apes corruption test marker $$ $(date +%s)"
psql -X -q -d postgres -c "DO \$\$BEGIN RAISE LOG '$marker'; END\$\$"
started=$(q -c "SELECT pg_postmaster_start_time()")
echo "server started at $started; data_checksums = $checksums"
if [ "$checksums" = on ]; then
    # a checksum failure is a clean XX001 too, but it stops the read before the extension's own checks
    export PGOPTIONS="-c ignore_checksum_failure=on"
    echo "data checksums are on: calls run with ignore_checksum_failure = on to reach the extension's checks"
fi

# try LABEL RELATION-NAME SQL...: run the SQL; it must work, or fail with XX001/XX002 naming a block and the relation
try() {
    local label=$1 rel=$2; shift 2
    local out rc=0 state msg
    out=$(psql -X -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$db" "$@" 2>&1) || rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "  works: $label -> $(echo "$out" | tail -n 1 | cut -c1-160)"
    else
        state=$(echo "$out" | sed -n 's/^.*ERROR:  \([0-9A-Z]\{5\}\): .*/\1/p' | head -n 1)
        msg=$(echo "$out" | sed -n 's/^.*ERROR:  [0-9A-Z]\{5\}: //p' | head -n 1)
        detail=$(echo "$out" | sed -n 's/^DETAIL:  //p' | head -n 1)
        echo "  error: $label -> $state: $msg${detail:+ (DETAIL: $detail)}"
        case "$state" in
            XX001|XX002) ;;
            *) fail "$label: SQLSTATE ${state:-none}, not XX001/XX002: $(echo "$out" | head -n 5)";;
        esac
        if [ -n "$rel" ]; then
            local relfile=${path[$rel]#"$datadir"/}
            echo "$msg" | grep -qE 'block [0-9]+' || fail "$label: the message names no block: $msg"
            echo "$msg" | grep -qE "\"?($rel|$relfile)\"?" || fail "$label: the message names neither $rel nor $relfile: $msg"
        fi
    fi
    # never a crash: the same postmaster, and it still answers
    local now
    now=$(psql -X -At -d "$db" -c "SELECT pg_postmaster_start_time()" 2>&1) || now="(no answer: $now)"
    [ "$now" = "$started" ] || { fail "$label: the server restarted or does not answer: $now (started $started)"; exit 1; }
    [ "$(psql -X -At -d "$db" -c "SELECT 1")" = 1 ] || { fail "$label: SELECT 1 does not work"; exit 1; }
}

cols="relation, kind, pages, pages_scanned, method, round(wasted_pct::numeric, 1) AS wasted_pct"
echo "== apes.table_bloat"
for r in $heap_tables; do
    try "apes.table_bloat('$r', exact => true)" "$r" -c "SELECT $cols FROM apes.table_bloat('$r', exact => true) WHERE kind <> 'toast'"
    try "apes.table_bloat('$r') (under 1000 pages: read whole)" "$r" -c "SELECT $cols FROM apes.table_bloat('$r') WHERE kind <> 'toast'"
    for seed in 1 2 3 4 5 42; do
        try "apes.table_bloat('$r', sample_pages => 60), seed $seed" "$r" \
            -c "SET pg_apes_health.sample_seed = $seed" -c "SELECT $cols FROM apes.table_bloat('$r', sample_pages => 60) WHERE kind <> 'toast'"
    done
done
try "apes.table_bloat('c_idx', exact => true) (intact table of the damaged indexes)" "" \
    -c "SELECT $cols FROM apes.table_bloat('c_idx', exact => true) WHERE kind <> 'toast'"

echo "== apes.index_bloat"
for i in c_idx_special c_idx_random c_idx_linep c_idx_lower; do
    try "apes.index_bloat('$i', exact => true)" "$i" -c "SELECT * FROM apes.index_bloat('$i', exact => true)"
    try "apes.index_bloat('$i') (under 1000 pages: read whole)" "$i" -c "SELECT * FROM apes.index_bloat('$i')"
    for seed in 1 2 3 42; do
        try "apes.index_bloat('$i', sample_pages => 40), seed $seed" "$i" \
            -c "SET pg_apes_health.sample_seed = $seed" -c "SELECT * FROM apes.index_bloat('$i', sample_pages => 40)"
    done
done

for i in $other_indexes; do
    try "apes.index_bloat('$i', exact => true)" "$i" -c "SELECT * FROM apes.index_bloat('$i', exact => true)"
    try "apes.index_bloat('$i') (under 1000 pages: read whole)" "$i" -c "SELECT * FROM apes.index_bloat('$i')"
done

echo "== damaged tuple headers and special spaces are errors of their own, not a normal row or another error"
# must_fail LABEL SQL PATTERN: the call fails with XX001/XX002 and a message or detail matching PATTERN
must_fail() {
    local out
    if out=$(psql -X -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$db" -c "$2" 2>&1); then
        fail "$1: returned a row instead of failing: $(echo "$out" | head -n 2)"
    elif ! grep -qE "ERROR:  XX00[12]: " <<<"$out" || ! grep -qE "$3" <<<"$out"; then
        fail "$1: not the expected error (/$3/): $(echo "$out" | head -n 3)"
    else
        echo "  $1: $(echo "$out" | grep -E '^(ERROR|DETAIL)' | sed 's/^/ /' | tr -d '\n')"
    fi
}
must_fail "future xmin" "SELECT * FROM apes.table_bloat('c_xmin', exact => true)" "xmin $future_xid equals or exceeds the next transaction ID"
must_fail "multixact never created" "SELECT * FROM apes.table_bloat('c_mxid', exact => true)" "xmax multixact 2147483632 equals or exceeds the next multixact ID"
must_fail "bad t_hoff" "SELECT * FROM apes.table_bloat('c_hoff', exact => true)" "data begins at byte 27"
must_fail "heap page with a special space" "SELECT * FROM apes.table_bloat('c_special', exact => true)" "A heap page has no special space"
must_fail "hash special space of 8 bytes" "SELECT * FROM apes.index_bloat('c_hash', exact => true)" "special space is 8 bytes, not the 16 of a hash page"
must_fail "GiST page id" "SELECT * FROM apes.index_bloat('c_gist', exact => true)" "page id is 0x1234, not its access method's 0xFF81"
must_fail "GIN special space of 16 bytes" "SELECT * FROM apes.index_bloat('c_gin', exact => true)" "special space is 16 bytes, not the 8 of a GIN page"
must_fail "SP-GiST special space of 16 bytes" "SELECT * FROM apes.index_bloat('c_spgist', exact => true)" "special space is 16 bytes, not the 8 of a SP-GiST page"

echo "== apes.findings, apes.health_json, apes.bloat_estimates"
try "apes.findings() (default settings)" "" -c "SELECT count(*) || ' findings' FROM apes.findings()"
try "apes.health_json() (default settings)" "" -c "SELECT length(apes.health_json()::text) || ' characters'"
try "apes.bloat_estimates" "" -c "SELECT count(*) || ' rows' FROM apes.bloat_estimates"
# with thresholds low enough that the findings measure the damaged relations
low="SET pg_apes_health.bloat_min_size = '64kB'; SET pg_apes_health.bloat_min_pct = 0;
     SET pg_apes_health.bloat_time_budget = '10s'"
for seed in 0 1 2; do
    try "apes.findings() measuring everything, seed $seed" "" -c "$low" -c "SET pg_apes_health.sample_seed = $seed" \
        -c "SELECT count(*) || ' findings: ' || string_agg(DISTINCT check_id, ',') FROM apes.findings()"
    try "apes.health_json() measuring everything, seed $seed" "" -c "$low" -c "SET pg_apes_health.sample_seed = $seed" \
        -c "SELECT length(apes.health_json()::text) || ' characters'"
done

# measuring everything, a report names each damaged table as page_corrupted, and nothing fails outright
out=$(q -c "$low" -c "SELECT string_agg(object_name, ',' ORDER BY object_name) FROM apes.findings('bloat')
                       WHERE check_id = 'page_corrupted' AND object_name IN
                             ('public.c_xmin', 'public.c_mxid', 'public.c_hoff', 'public.c_special')" | tail -n 1)
echo "  page_corrupted findings: $out"
[ "$out" = "public.c_hoff,public.c_mxid,public.c_special,public.c_xmin" ] ||
    fail "findings('bloat') does not report page_corrupted for each damaged tuple header: $out"
out=$(q -c "$low" -c "SELECT string_agg(check_id || ' ' || object_name, ', ' ORDER BY object_name) FROM apes.findings()
                       WHERE check_id IN ('area_failed', 'bloat_measurement_failed')" | tail -n 1)
echo "  failures reported as findings: $out"
[ "$out" = "bloat_measurement_failed public.c_gone" ] ||
    fail "a damaged tuple made an area or a measurement fail, or the missing file was not bloat_measurement_failed ($out)"
out=$(q -c "$low" -c "SELECT evidence->>'sqlstate' FROM apes.findings('bloat') WHERE check_id = 'bloat_measurement_failed'" | tail -n 1)
[ "$out" = 42501 ] || fail "bloat_measurement_failed of c_gone does not carry SQLSTATE 42501 ($out)"
out=$(q -c "$low" -c "SELECT (apes.health_json()->'checks'->>'page_corrupted')::int >= 4" | tail -n 1)
[ "$out" = t ] || fail "health_json() does not count the page_corrupted findings"

echo "== server log after the damage"
sleep 1
# from the marker, logged once the damaged server was up (the restart may rewrite the log file, so not by offset:
# earlier suites' lines, such as the fuzzing role's XX000s of PostgreSQL itself, are not this test's)
# (read once into a variable: "awk ... | grep -q" under pipefail fails at random when grep -q stops reading first and
# awk, still writing a long log, dies of SIGPIPE; that made this check flaky under load)
grep -qF "$marker" "$logfile" || fail "the marker '$marker' is not in $logfile"
log_after=$(awk -v m="$marker" 'seen {print} index($0, m) {seen = 1}' "$logfile")
bad=$(grep -E 'terminated by signal|TRAP:|PANIC|XX000' <<<"$log_after" || true)
[ -z "$bad" ] || fail "the server log holds a crash or an internal error: $bad"
grep -E 'ERROR: ' <<<"$log_after" | sed 's/^/  log: /' | sort | uniq -c | sort -rn | sed -n '1,20p' || true

if [ ${#failures[@]} -ne 0 ]; then
    echo "${#failures[@]} check(s) failed:"; printf '  %s\n' "${failures[@]}"
    exit 1
fi
echo "every call worked or failed cleanly with XX001/XX002 naming relation and block; no crash, no XX000"
