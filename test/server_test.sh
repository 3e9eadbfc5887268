#!/usr/bin/env bash
# The server area against the real things (issue 14): each check found when planted, and not found on its
# near-miss.  In a database of its own, inside the throwaway cluster (wal_level = logical, archive_mode = on with
# archive_command '/bin/true', fsync = off: test/cluster.conf and test/cluster.sh):
#   replication_slot_retaining_wal  a logical slot left inactive while 48 MB of WAL is written: warning with
#                                   slot_retained_max = 1MB; a fresh physical slot, and one that reserved no WAL,
#                                   are not reported; with
#                                   max_slot_wal_keep_size = 1MB and a checkpoint the logical slot is lost: critical
#   archiving_failing               archive_command set to /bin/false: reported once the archiver failed; set back,
#                                   gone once a segment is archived again
#   settings_risky                  fsync = off (the test cluster's own): critical; gone after fsync = on;
#                                   password_encryption = md5: warning; a login role without statement_timeout and
#                                   lock_timeout: info, and not once its role has a statement_timeout
#   restart_pending                 shared_buffers changed with ALTER SYSTEM: reported; gone once reset
#   settings_changed                work_mem changed with ALTER SYSTEM after a snapshot: reported "since the latest
#                                   snapshot", then "by the snapshot of"; a session's own SET is not a change
#   checkpoint_pressure             3 CHECKPOINTs after a snapshot: reported; not after a fresh snapshot
#   temp_files_heavy                a sort of 20 MB with work_mem = 64kB, temp_bytes_max = 1MB: reported; not with the
#                                   default 10 GB
#   rollback_ratio_high             900 commits and 200 rollbacks after a snapshot: reported at 10%, not at 25%
#   disk_space_low                  apes.filesystems() agrees with df; disk_warn_pct = 1: reported; 100: not
# Settings are changed with ALTER SYSTEM and pg_reload_conf(), then waited for in new sessions (a fixed sleep only
# where a duration must pass).
# Exits non-zero with the reasons.
set -euo pipefail
db=apes_server
failures=()
fail() { echo "FAIL: $*"; failures+=("$*"); }
: "${APES_PGDATA:?run inside test/cluster.sh}"

cleanup() {
    psql -X -q -d postgres -c "ALTER SYSTEM RESET ALL" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
    psql -X -q -d "$db" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                             WHERE slot_name LIKE 'apes\_test\_%'" >/dev/null 2>&1 || true
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP ROLE IF EXISTS apes_test_login" >/dev/null 2>&1 || true
}
trap cleanup EXIT
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP ROLE IF EXISTS apes_test_login" -c "CREATE DATABASE $db"
q() { psql -X -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
q -q -c "CREATE EXTENSION pg_apes_health" -c "CREATE TABLE filler (id int, pad text)"

# until SQL EXPECTED [SECONDS]: run SQL in a new session until it prints EXPECTED (default 30 s); false on timeout
until_sql() {
    local deadline=$((SECONDS + ${3:-30})) out=""
    while [ $SECONDS -lt "$deadline" ]; do
        out=$(q -c "$1" 2>&1 | tail -n 1) || true
        [ "$out" = "$2" ] && return 0
        sleep 0.1
    done
    echo "  (waited for '$2', last got '$out')"; return 1
}
# system NAME VALUE|RESET: ALTER SYSTEM, reload, and wait until new sessions see it
system() {
    if [ "$2" = RESET ]; then q -q -c "ALTER SYSTEM RESET $1"; else q -q -c "ALTER SYSTEM SET $1 = '$2'"; fi
    q -q -c "SELECT pg_reload_conf()" >/dev/null
    local want
    want=$(q -c "SELECT CASE WHEN '$2' = 'RESET' THEN boot_val ELSE NULL END FROM pg_settings WHERE name = '$1'")
    [ "$2" = RESET ] || want=$2
    until_sql "SELECT CASE WHEN current_setting('$1') = '$want' OR (SELECT pending_restart FROM pg_settings WHERE name = '$1')
                           OR current_setting('$1') = (SELECT reset_val FROM pg_settings WHERE name = '$1') AND '$2' = 'RESET'
                      THEN 'set' ELSE current_setting('$1') END" set 10 >/dev/null || true
}
# finding CHECK OBJECT [SETTINGS]: the severity and summary of that finding ('' when absent), SETTINGS (SET
# statements, no output) applied first
finding() {
    q -q -c "${3:-RESET ALL}" -c "SELECT severity || ': ' || summary FROM apes.findings('server')
                                   WHERE check_id = '$1' AND object_name = '$2'"
}
# expect LABEL CHECK OBJECT SEVERITY|absent [SETTINGS]
expect() {
    local got
    got=$(finding "$2" "$3" "${5:-RESET ALL}")
    if [ "$4" = absent ]; then
        [ -z "$got" ] && echo "  ok: $1: no $2 for $3" || fail "$1: $2 for $3 should be absent: $got"
    else
        case "$got" in
            "$4: "*) echo "  ok: $1: $got" ;;
            *) fail "$1: expected a $4 $2 for $3, got '${got:-nothing}'" ;;
        esac
    fi
}

echo "== replication_slot_retaining_wal"
q -q -c "SELECT pg_create_logical_replication_slot('apes_test_logical', 'test_decoding')" >/dev/null
q -q -c "INSERT INTO filler SELECT g, repeat('x', 1000) FROM generate_series(1, 40000) g" -c "DELETE FROM filler"
# a physical slot reserves WAL from the last checkpoint's redo point: a checkpoint first, so it retains almost none
q -q -c "CHECKPOINT" -c "SELECT pg_create_physical_replication_slot('apes_test_physical', true)" >/dev/null
expect "inactive logical slot past 1MB" replication_slot_retaining_wal "replication slot apes_test_logical" warning \
    "SET pg_apes_health.slot_retained_max = '1MB'"
expect "fresh physical slot" replication_slot_retaining_wal "replication slot apes_test_physical" absent \
    "SET pg_apes_health.slot_retained_max = '1GB'"
# a physical slot made without reserving WAL (restart_lsn and wal_status NULL) keeps nothing
q -q -c "SELECT pg_create_physical_replication_slot('apes_test_unreserved')" >/dev/null
expect "physical slot that reserved no WAL" replication_slot_retaining_wal "replication slot apes_test_unreserved" absent
expect "logical slot under the default 1GB but inactive past a segment" replication_slot_retaining_wal \
    "replication slot apes_test_logical" warning
system max_slot_wal_keep_size 1MB
q -q -c "INSERT INTO filler SELECT g, repeat('x', 1000) FROM generate_series(1, 60000) g" -c "DELETE FROM filler" \
    -c "SELECT pg_switch_wal()" -c "CHECKPOINT" >/dev/null
until_sql "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'apes_test_logical'" lost 30 ||
    fail "the logical slot was not invalidated by max_slot_wal_keep_size"
expect "lost slot" replication_slot_retaining_wal "replication slot apes_test_logical" critical
system max_slot_wal_keep_size RESET
q -q -c "SELECT pg_drop_replication_slot('apes_test_logical')" -c "SELECT pg_drop_replication_slot('apes_test_physical')" >/dev/null

echo "== archiving_failing"
expect "archiving works" archiving_failing archive_command absent
system archive_command /bin/false
before=$(q -c "SELECT failed_count FROM pg_stat_archiver")
q -q -c "INSERT INTO filler VALUES (1, 'x')" -c "SELECT pg_switch_wal()" >/dev/null
until_sql "SELECT failed_count > $before FROM pg_stat_archiver" t 30 || fail "the archiver did not fail"
expect "archive_command /bin/false" archiving_failing archive_command warning
sleep 1.1
expect "failing longer than archive_failing_max (1s)" archiving_failing archive_command critical \
    "SET pg_apes_health.archive_failing_max = '1s'"
system archive_command RESET
q -q -c "INSERT INTO filler VALUES (1, 'x')" -c "SELECT pg_switch_wal()" >/dev/null
until_sql "SELECT last_archived_time > last_failed_time FROM pg_stat_archiver" t 90 || fail "archiving did not resume"
expect "archiving resumed" archiving_failing archive_command absent

echo "== settings_risky, restart_pending, settings_changed"
expect "fsync = off" settings_risky fsync critical
system fsync on
expect "fsync = on" settings_risky fsync absent
system fsync off
system password_encryption md5
expect "password_encryption = md5" settings_risky password_encryption warning
system password_encryption RESET
expect "password_encryption = scram-sha-256" settings_risky password_encryption absent
q -q -c "CREATE ROLE apes_test_login LOGIN"
expect "a login role without timeouts" settings_risky "statement_timeout, lock_timeout" info
q -c "SELECT evidence->>'names' FROM apes.findings('server') WHERE check_id = 'settings_risky'
       AND object_name = 'statement_timeout, lock_timeout'" | grep -q apes_test_login ||
    fail "the role without timeouts is not named"
q -q -c "ALTER ROLE apes_test_login SET statement_timeout = '1min'"
q -c "SELECT coalesce(evidence->>'names', '') FROM apes.findings('server') WHERE check_id = 'settings_risky'
       AND object_name = 'statement_timeout, lock_timeout'" | grep -q apes_test_login &&
    fail "a role with a statement_timeout is still named" || echo "  ok: a role with a statement_timeout is not named"
expect "nothing pending" restart_pending shared_buffers absent
q -q -c "ALTER SYSTEM SET shared_buffers = '129MB'" -c "SELECT pg_reload_conf()"  >/dev/null
until_sql "SELECT pending_restart FROM pg_settings WHERE name = 'shared_buffers'" t 10 || fail "shared_buffers is not pending"
expect "shared_buffers changed" restart_pending shared_buffers warning
system shared_buffers RESET
until_sql "SELECT pending_restart FROM pg_settings WHERE name = 'shared_buffers'" f 10 || fail "shared_buffers still pending"
expect "shared_buffers reset" restart_pending shared_buffers absent
q -q -c "SELECT apes.snapshot()" >/dev/null
expect "no change since the snapshot" settings_changed work_mem absent "SET work_mem = '7MB'"
system work_mem 9MB
got=$(finding settings_changed work_mem)
[[ "$got" == "info: work_mem changed from 4096 kB to 9216 kB since the latest snapshot" ]] && echo "  ok: live change: $got" ||
    fail "work_mem changed since the snapshot: '$got'"
q -q -c "SELECT apes.snapshot()" >/dev/null
got=$(finding settings_changed work_mem)
[[ "$got" == "info: work_mem changed from 4096 kB to 9216 kB by the snapshot of "* ]] && echo "  ok: recorded change: $got" ||
    fail "work_mem changed at a snapshot: '$got'"
system work_mem RESET

echo "== checkpoint_pressure"
q -q -c "SELECT apes.purge('0')" -c "SELECT apes.snapshot()" >/dev/null
q -q -c "CHECKPOINT" -c "CHECKPOINT" -c "CHECKPOINT" -c "CHECKPOINT"
expect "4 requested checkpoints after the snapshot" checkpoint_pressure max_wal_size warning
q -q -c "SELECT apes.purge('0')" -c "SELECT apes.snapshot()" >/dev/null
expect "none since a fresh snapshot" checkpoint_pressure max_wal_size absent

echo "== temp_files_heavy, rollback_ratio_high"
q -q -c "SELECT apes.purge('0')" -c "SELECT apes.snapshot()" >/dev/null
q -q -c "SET work_mem = '64kB'" -c "SELECT count(*) FROM (SELECT md5(g::text) FROM generate_series(1, 400000) g ORDER BY 1) s" \
    -c "SELECT pg_stat_force_next_flush()" >/dev/null
expect "temp files past 1MB" temp_files_heavy "database $db" warning "SET pg_apes_health.temp_bytes_max = '1MB'"
expect "temp files under 10GB" temp_files_heavy "database $db" absent
q -q -c "CREATE PROCEDURE commits_and_rollbacks() LANGUAGE plpgsql AS \$\$
BEGIN
    FOR i IN 1..1100 LOOP
        PERFORM 1;
        IF i % 11 < 2 THEN ROLLBACK; ELSE COMMIT; END IF;
    END LOOP;
END \$\$" -c "CALL commits_and_rollbacks()" -c "SELECT pg_stat_force_next_flush()" >/dev/null
expect "18% rollbacks, threshold 10%" rollback_ratio_high "database $db" warning
expect "18% rollbacks, threshold 25%" rollback_ratio_high "database $db" absent "SET pg_apes_health.rollback_max_pct = 25"

echo "== disk_space_low"
read -r fs_total fs_free <<<"$(q -F ' ' -c "SELECT total_bytes, free_bytes FROM apes.filesystems() WHERE kind = 'data'")"
read -r df_total df_free <<<"$(df -B1 --output=size,avail "$APES_PGDATA" | tail -n 1)"
echo "  apes.filesystems(): $fs_total total, $fs_free free; df: $df_total total, $df_free available"
[ "$fs_total" = "$df_total" ] || fail "apes.filesystems() total $fs_total differs from df's $df_total"
diff=$(( fs_free > df_free ? fs_free - df_free : df_free - fs_free ))
[ "$diff" -le $(( df_total / 100 )) ] || fail "apes.filesystems() free $fs_free differs from df's $df_free by over 1%"
expect "disk_warn_pct = 1" disk_space_low "filesystem of the data directory" warning \
    "SET pg_apes_health.disk_warn_pct = 1; SET pg_apes_health.disk_critical_pct = 100"
expect "disk_critical_pct = 1" disk_space_low "filesystem of the data directory" critical \
    "SET pg_apes_health.disk_warn_pct = 1; SET pg_apes_health.disk_critical_pct = 1"
expect "disk_warn_pct = 100" disk_space_low "filesystem of the data directory" absent \
    "SET pg_apes_health.disk_warn_pct = 100; SET pg_apes_health.disk_days_min = 0"

if [ ${#failures[@]} -ne 0 ]; then
    echo "${#failures[@]} check(s) failed:"; printf '  %s\n' "${failures[@]}"; exit 1
fi
echo "every server check was found where planted and not on its near-miss"
