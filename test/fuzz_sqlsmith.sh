#!/usr/bin/env bash
# Fuzzing pg_apes_health with SQLsmith (issue 6, item 8), as an unprivileged monitoring role.
#
#   - a database apes_fuzz with the extension, pg_stat_statements, a few snapshots and relations to chew on: tables with
#     duplicate, unused, partial, expression and GIN indexes, dead rows, a TOAST table, an unlogged table, a
#     materialized view with an index, a partitioned table with a partitioned index, a sequence and a view;
#   - a role apes_fuzzer (LOGIN, member of pg_monitor and pg_stat_scan_tables; a password, since the throwaway cluster
#     asks for one on TCP) with statement_timeout = 2s;
#   - schema fuzz: views over the extension's set-returning functions (SQLsmith only calls functions that return one
#     value; it picks relations from information_schema.tables, i.e. only those the role may read), so that random
#     queries reach findings(), table_bloat(), index_bloat(), query_stats() and the others;
#   - phase 1: sqlsmith --exclude-catalog --max-queries=$FUZZ_QUERIES (default 15000, about 2 minutes on 2 cores) as apes_fuzzer, under timeout
#     $FUZZ_TIMEOUT seconds (default 300);
#   - phase 2: every function of schema apes called directly by apes_fuzzer with arguments from a pool of edge values
#     (NULL, 0, negative, huge, every kind of relation, unknown OIDs, odd areas, empty and inverted ranges ...),
#     $FUZZ_DIRECT random calls (default 2000) plus one call per combination of the interesting ones.
# Afterwards the server must still be up with the same pg_postmaster_start_time(), and the server log written since a
# marker logged before the fuzzing must have no 'terminated by signal', 'TRAP:', 'PANIC' or 'XX000' line.  Prints the
# queries run, the errors by SQLSTATE class (from the server log: test/cluster.sh sets log_error_verbosity=verbose) and
# PASS or FAIL; on FAIL the offending log lines with their STATEMENT / "Failed process was running" lines.
# Run inside the test cluster: test/cluster.sh test/fuzz_sqlsmith.sh   (longer: FUZZ_QUERIES=100000 FUZZ_TIMEOUT=7200)
set -euo pipefail

queries=${FUZZ_QUERIES:-15000}
direct=${FUZZ_DIRECT:-2000}
wall=${FUZZ_TIMEOUT:-300}
seed=${FUZZ_SEED:-$RANDOM}
db=apes_fuzz
role=apes_fuzzer
: "${PGPASSWORD:?PGPASSWORD is not set: run this inside test/cluster.sh}"

command -v sqlsmith >/dev/null || apt-get install -y sqlsmith >/dev/null
command -v sqlsmith >/dev/null || { echo "FAIL: sqlsmith is not installed (Debian package sqlsmith)"; exit 1; }

dir=$(mktemp -d)
cleanup() {
    local rc=$?
    dropdb --if-exists --force "$db" >/dev/null 2>&1 || true
    psql -X -q -d postgres -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1 || true
    if [ "${FUZZ_KEEP:-}" ]; then echo "files kept in $dir"; else rm -rf "$dir"; fi
    exit "$rc"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }
su_sql() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }

logfile=${APES_PGLOG:-}
[ -f "$logfile" ] || fail "no server log (APES_PGLOG, set by test/cluster.sh: got '$logfile')"

echo "== setup: database $db, role $role (seed $seed)"
dropdb --if-exists --force "$db" >/dev/null 2>&1 || true
psql -X -q -d postgres -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1 || true
createdb "$db"
pw=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
psql -X -q -v ON_ERROR_STOP=1 -d postgres <<SQL
CREATE ROLE $role LOGIN PASSWORD '$pw' IN ROLE pg_monitor, pg_stat_scan_tables;
ALTER ROLE $role SET statement_timeout = '2s';
ALTER ROLE $role SET lock_timeout = '1s';
ALTER ROLE $role SET idle_in_transaction_session_timeout = '10s';
SQL
su_sql >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE EXTENSION pg_apes_health;

CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer int NOT NULL, status text,
                     placed timestamptz NOT NULL DEFAULT now(), note text, tags text[]);
INSERT INTO orders (customer, status, placed, note, tags)
SELECT g % 500, (ARRAY['new','paid','shipped','lost'])[1 + g % 4], now() - g * interval '1 minute',
       CASE WHEN g % 97 = 0 THEN repeat(md5(g::text), 200) END, ARRAY[g % 7, g % 11]::text[]
FROM generate_series(1, 20000) g;
CREATE INDEX orders_customer ON orders (customer);
CREATE INDEX orders_customer_dup ON orders (customer);          -- duplicate
CREATE INDEX orders_customer_status ON orders (customer, status); -- orders_customer is its prefix
CREATE INDEX orders_unused ON orders (placed);
CREATE INDEX orders_open ON orders (placed) WHERE status = 'new';
CREATE INDEX orders_lower ON orders (lower(status));
CREATE INDEX orders_tags ON orders USING gin (tags);
CREATE INDEX orders_note_hash ON orders USING hash (note);
DELETE FROM orders WHERE id % 3 = 0;                            -- dead rows, bloat
UPDATE orders SET status = 'paid' WHERE id % 5 = 0;

CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL UNIQUE, region text);
INSERT INTO customers SELECT g, 'c' || g, (ARRAY['eu','us','ap'])[1 + g % 3] FROM generate_series(0, 499) g;
ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer) REFERENCES customers;
CREATE TABLE empty_table (a int, b text);
CREATE UNLOGGED TABLE scratch (k int PRIMARY KEY, v jsonb);
INSERT INTO scratch SELECT g, jsonb_build_object('g', g) FROM generate_series(1, 2000) g;
CREATE INDEX scratch_v ON scratch USING gin (v);
CREATE TABLE nopk (x int, y int);
INSERT INTO nopk SELECT g, g FROM generate_series(1, 5000) g;
CREATE INDEX nopk_brin ON nopk USING brin (x);

CREATE TABLE events (id bigint, at date NOT NULL, payload text) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE events_rest PARTITION OF events DEFAULT;
CREATE INDEX events_at ON events (at);
INSERT INTO events SELECT g, date '2024-01-01' + g % 800, md5(g::text) FROM generate_series(1, 10000) g;

CREATE MATERIALIZED VIEW order_totals AS SELECT customer, count(*) AS n, max(placed) AS last FROM orders GROUP BY 1;
CREATE UNIQUE INDEX order_totals_customer ON order_totals (customer);
CREATE MATERIALIZED VIEW never_filled AS SELECT 1 AS one WITH NO DATA;
CREATE VIEW paid_orders AS SELECT * FROM orders WHERE status = 'paid';
CREATE SEQUENCE ticket_seq;
CREATE SCHEMA other;
CREATE TABLE other."Mixed Case" ("Id" int PRIMARY KEY, "a b" text);
INSERT INTO other."Mixed Case" SELECT g, g::text FROM generate_series(1, 100) g;
ANALYZE;

-- some statements and history for the query area
SELECT count(*) FROM orders WHERE customer = 7;
SELECT count(*) FROM orders o JOIN customers c ON c.id = o.customer WHERE c.region = 'eu';
SELECT apes.snapshot();
SELECT count(*) FROM events WHERE at > '2024-06-01';
SELECT apes.snapshot();

GRANT USAGE ON SCHEMA public, other TO $role;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public, other TO $role;
GRANT USAGE ON SEQUENCE ticket_seq TO $role;

-- Views over the set-returning functions, for SQLsmith to pick as relations.
CREATE SCHEMA fuzz;
GRANT USAGE ON SCHEMA fuzz TO $role;
CREATE VIEW fuzz.findings AS SELECT * FROM apes.findings();
CREATE VIEW fuzz.findings_index AS SELECT * FROM apes.findings('index');
CREATE VIEW fuzz.findings_bloat AS SELECT * FROM apes.findings('bloat');
CREATE VIEW fuzz.findings_query AS SELECT * FROM apes.findings('query');
CREATE VIEW fuzz.findings_pool AS SELECT * FROM apes.findings('pool');
CREATE VIEW fuzz.table_bloat AS
    SELECT c.oid::regclass AS rel, b.* FROM pg_class c, LATERAL apes.table_bloat(c.oid) b
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'm');
CREATE VIEW fuzz.table_bloat_exact AS
    SELECT c.oid::regclass AS rel, b.* FROM pg_class c, LATERAL apes.table_bloat(c.oid, 3, true) b
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'm');
CREATE VIEW fuzz.index_bloat AS
    SELECT i.indexrelid::regclass AS idx, b.* FROM pg_index i, LATERAL apes.index_bloat(i.indexrelid) b
    WHERE i.indrelid IN ('orders'::regclass, 'customers'::regclass, 'order_totals'::regclass);
CREATE VIEW fuzz.index_bloat_exact AS
    SELECT b.* FROM apes.index_bloat('orders_pkey', 2, true) b;
CREATE VIEW fuzz.bloat_estimates AS SELECT * FROM apes.bloat_estimates();
CREATE VIEW fuzz.query_stats AS SELECT * FROM apes.query_stats();
CREATE VIEW fuzz.query_findings AS SELECT * FROM apes.query_findings();
CREATE VIEW fuzz.query_regressions AS
    SELECT * FROM apes.query_regressions(tstzrange(now() - interval '1 day', now() - interval '1 second'),
                                         tstzrange(now() - interval '1 second', now()), 1);
CREATE VIEW fuzz.statements_now AS SELECT * FROM apes.statements_now();
CREATE VIEW fuzz.statement_texts_now AS SELECT * FROM apes.statement_texts_now();
CREATE VIEW fuzz.connection_capacity AS SELECT * FROM apes.connection_capacity();
CREATE VIEW fuzz.connection_churn AS SELECT * FROM apes.connection_churn();
CREATE VIEW fuzz.pgbouncer_pools AS SELECT * FROM apes.pgbouncer_pools();
CREATE VIEW fuzz.pgss_status AS SELECT * FROM apes.pgss_status();
CREATE VIEW fuzz.report AS SELECT apes.health_report() AS report, apes.health_json() AS health, apes.version() AS version;
GRANT SELECT ON ALL TABLES IN SCHEMA fuzz TO $role;
SQL
ntables=$(PGUSER=$role PGPASSWORD=$pw psql -X -At -v ON_ERROR_STOP=1 -d "$db" \
    -c "SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")
echo "$role sees $ntables relations outside the catalog (public, other, fuzz, apes)"

start_time=$(su_sql -c "SELECT pg_postmaster_start_time()")
marker="apes fuzz start $seed $$ $(date +%s%N)"
su_sql -c "DO \$\$ BEGIN RAISE LOG '%', '$marker'; END \$\$"
t0=$(date +%s)

echo "== phase 1: sqlsmith, $queries queries at most, $wall s at most"
set +e
PGUSER=$role PGPASSWORD=$pw timeout --kill-after=10 "$wall" \
    sqlsmith --target="dbname=$db" --exclude-catalog --seed="$seed" --max-queries="$queries" --verbose --dump-all-queries \
    >"$dir/sqlsmith.out" 2>"$dir/sqlsmith.err"
smith_rc=$?
set -e
t1=$(date +%s)
smith_run=$(grep -oE 'queries: [0-9]+' "$dir/sqlsmith.err" | tail -n 1 | grep -oE '[0-9]+' || true)
echo "sqlsmith exited with $smith_rc after $((t1 - t0)) s; queries reported: ${smith_run:-?}"
# --verbose: one character per query on stderr ('.' ok, 'e' error, 'S' syntax error, 't' timeout, 'C' broken
# connection), then AST statistics and the error messages ranked by count
progress=$(grep -E '^[.eSCt]+$' "$dir/sqlsmith.err" | tr -d '\n' || true)
count_of() { local c; c=$(printf '%s' "$progress" | tr -cd "$1" | wc -c); echo "$c"; }
smith_ok=$(count_of .); smith_err=$(count_of e); smith_syn=$(count_of S); smith_to=$(count_of t); smith_broken=$(count_of C)
echo "sqlsmith: $smith_ok ok, $smith_err errors, $smith_syn syntax errors, $smith_to timeouts, $smith_broken broken connections"
grep -E '^error rate' "$dir/sqlsmith.err" | tail -n 1 | sed 's/^/    /' || true
# --dump-all-queries wrote every query to stdout, each ending with ';' and an empty line
ext_queries=$(awk '/(apes|fuzz)\./ {hit = 1} /;[[:space:]]*$/ {n += hit; hit = 0} END {print n + 0}' "$dir/sqlsmith.out")
echo "    $ext_queries queries used a relation or function of schema apes or fuzz"
echo "    most frequent errors (sqlsmith):"
grep -E '^[0-9]+'$'\t''(ERROR|FATAL)' "$dir/sqlsmith.err" | head -n 10 | sed 's/^/      /' || true
case $smith_rc in
    0) ;;
    124|137) echo "NOTE: sqlsmith stopped by the $wall s timeout" ;;
    *) echo "NOTE: sqlsmith exited with status $smith_rc (checked below whether the server survived)" ;;
esac

echo "== phase 2: the functions of schema apes called directly with edge-case arguments ($direct random calls)"
# The argument pools; every combination of the short ones, then random picks from the long ones.
su_sql >"$dir/direct.sql" <<SQL
SELECT setseed(($seed % 1000) / 1000.0);
CREATE TEMP TABLE rels AS
    SELECT v FROM unnest(ARRAY['NULL', '0', '1', '4294967295', '''pg_class''', '''pg_class_oid_index''',
                               '''pg_statistic''', '''pg_authid''']) v
    UNION ALL
    SELECT format('%s::oid', c.oid) FROM pg_class c
    WHERE c.relnamespace IN ('public'::regnamespace, 'other'::regnamespace)
       OR c.oid IN (SELECT reltoastrelid FROM pg_class WHERE relname = 'orders')
       OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid =
                        (SELECT reltoastrelid FROM pg_class WHERE relname = 'orders'));
CREATE TEMP TABLE ints AS
    SELECT v FROM unnest(ARRAY['NULL', '-2147483648', '-1', '0', '1', '2', '7', '100', '100000',
                               '2147483647']) v;
CREATE TEMP TABLE bools AS SELECT v FROM unnest(ARRAY['NULL', 'true', 'false']) v;
CREATE TEMP TABLE texts AS
    SELECT v FROM unnest(ARRAY['NULL', '''''', '''index''', '''bloat''', '''query''', '''pool''', '''INDEX''',
                               '''index ''', '''nope''', 'repeat(''x'', 10000)', '''*/15 * * * *''',
                               '''bad cron''', 'E''\\\\x00''']) v;
CREATE TEMP TABLE ts AS
    SELECT v FROM unnest(ARRAY['NULL', 'now()', '''-infinity''', '''infinity''', 'now() - interval ''1 day''',
                               'now() + interval ''1 day''', '''epoch''', '''4713-01-01 BC''',
                               '''294276-12-31''']) v;
CREATE TEMP TABLE ranges AS
    SELECT v FROM unnest(ARRAY['NULL', '''empty''', '''(,)''', 'tstzrange(now() - interval ''1 day'', now())',
                               'tstzrange(now(), now())', 'tstzrange(''-infinity'', ''infinity'')',
                               'tstzrange(now() - interval ''1 hour'', now(), ''[]'')',
                               'tstzrange(now(), NULL)', 'tstzrange(''epoch'', ''epoch''::timestamptz + ''1 us'')']) v;
CREATE TEMP TABLE bigs AS
    SELECT v FROM unnest(ARRAY['NULL', '-9223372036854775808', '-1', '0', '1', '2', '3',
                               '9223372036854775807']) v;
CREATE TEMP TABLE oids AS
    SELECT v FROM unnest(ARRAY['NULL', '0', '4294967295',
                               (SELECT oid::text FROM pg_database WHERE datname = current_database()),
                               (SELECT oid::text FROM pg_roles WHERE rolname = current_user)]) v;
CREATE TEMP TABLE dbls AS
    SELECT v FROM unnest(ARRAY['NULL', '0', '-1', '1.96', '40', '-40', '''NaN''', '''Infinity''', '''-Infinity''',
                               '1e308', '-1e308', '5e-324']) v;
CREATE TEMP TABLE intervals AS
    SELECT v FROM unnest(ARRAY['NULL', '''0''', '''-1 day''', '''1 day''', '''infinity''',
                               '''178000000 years''', '''-178000000 years''']) v;

-- every combination of the relation functions and of the one-argument ones
SELECT format('SELECT * FROM apes.%s(%s, %s, %s);', f, r.v, i.v, b.v)
FROM unnest(ARRAY['table_bloat', 'index_bloat']) f, rels r,
     (SELECT v FROM ints WHERE v IN ('NULL', '-1', '0', '1', '2147483647')) i, bools b;
SELECT format('SELECT * FROM apes.findings(%s);', v) FROM texts;
SELECT format('SELECT * FROM apes.connection_churn(%s);', v) FROM ts;
SELECT format('SELECT * FROM apes.query_stats(%s, %s);', a.v, b.v) FROM ts a, ts b;
SELECT format('SELECT apes.normal_upper_tail(%s);', v) FROM dbls;
SELECT format('SELECT * FROM apes.purge(%s);', v) FROM intervals;
SELECT s || ';' FROM unnest(ARRAY[
    'SELECT apes.version()', 'SELECT apes.health_report()', 'SELECT apes.health_json()',
    'SELECT * FROM apes.bloat_estimates()', 'SELECT * FROM apes.pgss_status()', 'SELECT * FROM apes.statements_now()',
    'SELECT * FROM apes.statement_texts_now()', 'SELECT * FROM apes.query_findings()',
    'SELECT * FROM apes.connection_capacity()', 'SELECT * FROM apes.pools()', 'SELECT * FROM apes.blocking()',
    'SELECT * FROM apes.pgbouncer_pools()', 'SELECT apes.snapshot()', 'SELECT * FROM apes.unschedule()',
    'SELECT * FROM apes.bloat_estimates', 'SELECT * FROM apes.pools', 'SELECT * FROM apes.blocking',
    'SELECT * FROM apes.vacuum_horizon', 'SELECT * FROM apes.wraparound',
    -- the C functions in more unusual places: parallel-looking plans, cursors, repeated calls in one statement
    'SELECT count(*) FROM generate_series(1, 50) g, LATERAL apes.findings() f',
    'SELECT count(*) FROM pg_class c, LATERAL apes.table_bloat(c.oid) b WHERE c.relkind = ''r''',
    'SELECT count(*) FROM pg_index i, LATERAL apes.index_bloat(i.indexrelid) b',
    'SELECT count(*) FROM pg_class c, LATERAL apes.index_bloat(c.oid, 1, true) b',
    'SELECT count(*) FROM pg_class c, LATERAL apes.table_bloat(c.oid, 1, true) b',
    'SELECT (apes.findings()).check_id LIMIT 1', 'SELECT apes.findings() LIMIT 3',
    'SELECT apes.table_bloat(''orders'') FROM generate_series(1, 3)',
    'SELECT * FROM apes.findings() f1 JOIN apes.findings() f2 USING (check_id) LIMIT 5',
    'WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 20) SELECT count(*) FROM r, LATERAL apes.index_bloat(''orders_pkey'') b',
    'BEGIN; DECLARE c CURSOR FOR SELECT * FROM apes.findings(); FETCH 1 FROM c; FETCH ALL FROM c; COMMIT',
    'BEGIN; DECLARE c SCROLL CURSOR FOR SELECT * FROM apes.table_bloat(''orders''); FETCH LAST FROM c; FETCH FIRST FROM c; COMMIT',
    'BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY; SELECT count(*) FROM apes.findings(); SELECT apes.health_json(); COMMIT',
    'BEGIN; DROP INDEX orders_unused; SELECT count(*) FROM apes.findings(); ROLLBACK',
    'BEGIN; SET LOCAL work_mem = 64; SELECT count(*) FROM apes.findings(); SELECT length(apes.health_report()); ROLLBACK',
    'BEGIN; SET LOCAL statement_timeout = 1; SELECT count(*) FROM apes.findings(); ROLLBACK',
    'BEGIN; SET LOCAL pg_apes_health.pgbouncer_dsn = ''host=127.0.0.1 port=1 connect_timeout=1''; SELECT count(*) FROM apes.findings(''pool''); ROLLBACK',
    'BEGIN; SET LOCAL pg_apes_health.pgbouncer_dsn = ''not a dsn ==''; SELECT * FROM apes.pgbouncer_pools(); ROLLBACK',
    'SELECT apes.table_bloat(''orders'', NULL, NULL)', 'SELECT apes.index_bloat(''orders_tags'', 5, true)',
    'PREPARE p(regclass, int) AS SELECT * FROM apes.table_bloat(\$1, \$2); EXECUTE p(''orders'', 1); EXECUTE p(''events'', 0); EXECUTE p(NULL, NULL); DEALLOCATE p'
]) s;

-- random calls with arguments from the long pools
SELECT CASE k
    WHEN 0 THEN format('SELECT * FROM apes.table_bloat(%s, %s, %s);', (SELECT v FROM rels ORDER BY random() + g LIMIT 1),
                       (SELECT v FROM ints ORDER BY random() + g LIMIT 1), (SELECT v FROM bools ORDER BY random() + g LIMIT 1))
    WHEN 1 THEN format('SELECT * FROM apes.index_bloat(%s, %s, %s);', (SELECT v FROM rels ORDER BY random() + g LIMIT 1),
                       (SELECT v FROM ints ORDER BY random() + g LIMIT 1), (SELECT v FROM bools ORDER BY random() + g LIMIT 1))
    WHEN 2 THEN format('SELECT * FROM apes.query_regressions(%s, %s, %s);', (SELECT v FROM ranges ORDER BY random() + g LIMIT 1),
                       (SELECT v FROM ranges ORDER BY random() + g LIMIT 1), (SELECT v FROM ints ORDER BY random() + g LIMIT 1))
    WHEN 3 THEN format('SELECT * FROM apes.period_bounds(%s, %s);', (SELECT v FROM ts ORDER BY random() + g LIMIT 1),
                       (SELECT v FROM ts ORDER BY random() + g LIMIT 1))
    WHEN 4 THEN format('SELECT * FROM apes.statement_deltas(%s, %s);', (SELECT v FROM bigs ORDER BY random() + g LIMIT 1),
                       (SELECT v FROM bigs ORDER BY random() + g LIMIT 1))
    WHEN 5 THEN format('SELECT apes.statement_query(%s, %s, %s);', (SELECT v FROM oids ORDER BY random() + g LIMIT 1),
                       (SELECT v FROM oids ORDER BY random() + g LIMIT 1), (SELECT v FROM bigs ORDER BY random() + g LIMIT 1))
    WHEN 6 THEN format('SELECT apes.statement_name(%s, %s, %s, %s);', (SELECT v FROM oids ORDER BY random() + g LIMIT 1),
                       (SELECT v FROM oids ORDER BY random() + g LIMIT 1), (SELECT v FROM bigs ORDER BY random() + g LIMIT 1),
                       (SELECT v FROM bools ORDER BY random() + g LIMIT 1))
    WHEN 7 THEN format('SELECT * FROM apes.findings(%s) ORDER BY %s LIMIT %s;', (SELECT v FROM texts ORDER BY random() + g LIMIT 1),
                       1 + (random() * 9)::int, (random() * 5)::int)
    ELSE format('SELECT * FROM apes.query_stats(%s, %s);', (SELECT v FROM ts ORDER BY random() + g LIMIT 1),
                (SELECT v FROM ts ORDER BY random() + g LIMIT 1))
    END
FROM (SELECT g, (random() * 8)::int AS k FROM generate_series(1, $direct) g) x;
SQL
ndirect=$(wc -l <"$dir/direct.sql")
set +e
PGUSER=$role PGPASSWORD=$pw timeout --kill-after=10 "$wall" \
    psql -X -q -At -v VERBOSITY=verbose -d "$db" -f "$dir/direct.sql" >"$dir/direct.out" 2>"$dir/direct.err"
direct_rc=$?
set -e
t2=$(date +%s)
echo "psql ran $ndirect statements in $((t2 - t1)) s (exit status $direct_rc)"
[ "$direct_rc" -eq 124 ] && echo "NOTE: phase 2 stopped by the $wall s timeout"

echo "== checks"
su_sql -c "DO \$\$ BEGIN RAISE LOG '%', 'apes fuzz end'; END \$\$" 2>/dev/null || true
failed=0
if up=$(psql -X -At -d "$db" -c "SELECT 1" 2>&1) && [ "$up" = 1 ]; then
    echo "ok - the server answers SELECT 1"
else
    echo "not ok - the server does not answer: $up"; failed=1
fi
now_start=$(psql -X -At -d "$db" -c "SELECT pg_postmaster_start_time()" 2>/dev/null || echo unknown)
if [ "$now_start" = "$start_time" ]; then
    echo "ok - pg_postmaster_start_time() unchanged ($start_time)"
else
    echo "not ok - pg_postmaster_start_time() was $start_time, is $now_start"; failed=1
fi
# the server log since the marker
awk -v m="$marker" 'found {print} index($0, m) {found = 1}' "$logfile" >"$dir/server.log"
[ -s "$dir/server.log" ] || { echo "not ok - marker '$marker' not found in $logfile"; failed=1; }
# Each log entry (a line starting with a timestamp, with its continuation lines) in one record; the entries of one
# error (DETAIL, HINT, CONTEXT, LOCATION, STATEMENT) follow it from the same process.
awk '/^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] / {if (e != "") print e; e = $0; next} {e = e "\x1f" $0} END {if (e != "") print e}' \
    "$dir/server.log" >"$dir/entries"
# error_with_context N: entry N and the entries of the same process up to its STATEMENT, multi-line statements whole
error_with_context() {
    awk -v n="$1" 'NR == n {pid = $0; sub(/^[^[]*\[/, "", pid); sub(/\].*/, "", pid); on = 1}
                   on && NR >= n { if (NR > n && index($0, "[" pid "]") == 0) exit; print; if ($0 ~ /STATEMENT:  /) exit }' \
        "$dir/entries" | tr '\037' '\n' | sed 's/^/    /' | head -n 80 || true   # head may cut the pipe
}
# A crash, a failed assertion or a PANIC anywhere fails.  An internal error (XX000) fails when the extension is
# involved: it was raised in one of the extension's files (LOCATION) or inside one of its functions (CONTEXT).
# Other XX000s are bugs of PostgreSQL itself that SQLsmith found; they are shown but fail only with FUZZ_STRICT=1.
ext_files=$(cd "$(dirname "$0")/../src" 2>/dev/null && ls *.c 2>/dev/null | paste -sd'|' || true)
crash_re='terminated by signal|TRAP:|PANIC|server process .* was terminated|all server processes terminated'
crashes=$(grep -nE "$crash_re" "$dir/entries" | cut -d: -f1 || true)
internal_ext=(); internal_core=()
for n in $(grep -nE ' (ERROR|FATAL): +XX000:' "$dir/entries" | cut -d: -f1 || true); do
    ctx=$(error_with_context "$n")
    if sed '/STATEMENT:  /,$d' <<<"$ctx" | grep -E "CONTEXT: .*apes\.|LOCATION: +[A-Za-z_0-9]+, (${ext_files:-none}):" >/dev/null ||
       [ -n "${FUZZ_STRICT:-}" ]; then
        internal_ext+=("$n")
    else
        internal_core+=("$n")
    fi
done
if [ -n "$crashes" ]; then
    echo "not ok - the server crashed during the fuzzing:"
    for n in $crashes; do
        sed -n "${n}p" "$dir/entries" | tr '\037' '\n' | sed 's/^/    /' | head -n 60 || true
    done
    failed=1
else
    echo "ok - no 'terminated by signal', 'TRAP:' or 'PANIC' in the server log since the marker"
fi
if [ "${#internal_ext[@]}" -gt 0 ]; then
    echo "not ok - ${#internal_ext[@]} internal error(s) (XX000) involving the extension:"
    for n in "${internal_ext[@]}"; do error_with_context "$n"; echo "    ---"; done
    failed=1
else
    echo "ok - no internal error (XX000) involving the extension"
fi
if [ "${#internal_core[@]}" -gt 0 ]; then
    echo "NOTE: ${#internal_core[@]} internal error(s) (XX000) of PostgreSQL itself, not involving the extension" \
         "(not counted; FUZZ_STRICT=1 counts them):"
    for n in "${internal_core[@]}"; do error_with_context "$n"; echo "    ---"; done
fi
if grep -qE 'problem in alloc set|WARNING: +[0-9A-Z]{5}: .*leak' "$dir/server.log"; then
    echo "not ok - memory-context problem or leak warning:"
    grep -E 'problem in alloc set|leak' "$dir/server.log" | head -n 20 | sed 's/^/    /'
    failed=1
fi

echo "== summary"
echo "sqlsmith: ${smith_run:-?} queries run (limit $queries, $((t1 - t0)) s, exit status $smith_rc, seed $seed):" \
     "$smith_ok ok, $smith_err errors, $smith_syn syntax errors, $smith_to timeouts, $smith_broken broken connections;" \
     "$ext_queries used schema apes or fuzz"
echo "direct calls: $ndirect statements ($((t2 - t1)) s)"
echo "errors of $role by SQLSTATE class (server log; 57014 = statement_timeout):"
grep -E "$role@$db (ERROR|FATAL|PANIC): +[0-9A-Z]{5}:" "$dir/server.log" \
    | sed -E 's/.* (ERROR|FATAL|PANIC): +(([0-9A-Z]{2})[0-9A-Z]{3}):.*/\3 \2/' \
    | sort | uniq -c \
    | awk '{n[$2] += $1; codes[$2] = codes[$2] " " $3 "x" $1}
           END {for (c in n) printf "    class %s: %6d  (%s)\n", c, n[c], substr(codes[c], 2)}' | sort || true
echo "most frequent error messages:"
grep -E "$role@$db ERROR: " "$dir/server.log" | sed -E 's/.* ERROR: +//' | cut -c1-110 | sort | uniq -c \
    | sort -rn | head -n 12 | sed 's/^/   /' || true
if [ "$failed" -eq 0 ]; then
    echo "PASS"
else
    echo "FAIL (re-run with FUZZ_SEED=$seed FUZZ_QUERIES=$queries to repeat the sqlsmith phase)"
    exit 1
fi
