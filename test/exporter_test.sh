#!/usr/bin/env bash
# apes.metrics() read by the real tools: Debian's prometheus-postgres-exporter, started here against the test cluster
# with contrib/postgres_exporter/queries.yaml, serves on loopback the apes_ series with the values apes.metrics()
# gives (same families, help and type, same label sets, same values; the figures that move by themselves, such as
# ages and durations, within bounds), and `promtool check metrics` (Debian's prometheus) accepts apes.metrics().
# Planted: a sequence whose name holds a double quote, a backslash and a newline (escaped labels), a pool of two
# idle sessions with quotes and a backslash in its application name, a replication slot, a slow statement, an
# index finding.  Also: queries.yaml is what contrib/postgres_exporter/generate.sql makes of apes.metric_families().
# Run inside the test cluster (test/cluster.sh; PGHOST etc. set).  A missing program is a failure: test/setup.sh
# installs them.
set -euo pipefail
cd "$(dirname "$0")/.."
for prog in prometheus-postgres-exporter promtool curl python3; do
    command -v "$prog" >/dev/null || { echo "FAILED: $prog is not installed (test/setup.sh installs it)"; exit 1; }
done
db=apes_exporter_test
role=apes_exporter
password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
work=$(mktemp -d)
. test/idle_sessions.sh
cleanup() {
    background_stop
    psql -X -q -d postgres -c "SELECT pg_drop_replication_slot('apes_exporter_test_slot')
                                 FROM pg_replication_slots WHERE slot_name = 'apes_exporter_test_slot'" \
        -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
fail=0
bad() { echo "FAILED: $*"; fail=1; }

# the configuration in the repository is the one the families give
psql -X -q -d postgres -c "CREATE DATABASE $db"
{
psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<SQL
CREATE EXTENSION pg_stat_statements;
CREATE EXTENSION pg_apes_health;
CREATE ROLE $role LOGIN PASSWORD '$password' IN ROLE pg_monitor;
-- sampled bloat measurements repeat exactly: the exporter's call and psql's see the same figures
ALTER ROLE $role SET pg_apes_health.sample_seed = 1;
CREATE SCHEMA planted;
CREATE TABLE planted.t (id int PRIMARY KEY, v text);
INSERT INTO planted.t SELECT g, md5(g::text) FROM generate_series(1, 1000) g;
CREATE INDEX t_v ON planted.t (v);
CREATE INDEX t_v_copy ON planted.t (v);
CREATE SEQUENCE planted.U&"seq ""quoted"" \\\\ back\000Aslash" MINVALUE 1 MAXVALUE 1000;
SELECT setval(c.oid, 250) FROM pg_class c WHERE c.relname LIKE 'seq %';
GRANT USAGE ON SCHEMA planted TO $role;
GRANT SELECT ON ALL SEQUENCES IN SCHEMA planted TO $role;
SELECT 'slot' FROM pg_create_physical_replication_slot('apes_exporter_test_slot', true);
SQL
} >/dev/null
for _ in 1 2 3 4 5; do psql -X -q -d "$db" -c "SELECT pg_sleep(0.3) IS NULL AS apes_exporter_planted" >/dev/null; done
planted_queryid=$(psql -X -At -d "$db" -c "SELECT queryid FROM pg_stat_statements
                                            WHERE query LIKE '%apes_exporter_planted%' AND dbid = (SELECT oid FROM pg_database WHERE datname = '$db')")
psql -X -At -d "$db" -f contrib/postgres_exporter/generate.sql >"$work/queries.yaml"
if diff -u contrib/postgres_exporter/queries.yaml "$work/queries.yaml" >"$work/yaml.diff"; then
    echo "contrib/postgres_exporter/queries.yaml is what generate.sql makes of apes.metric_families()"
else
    bad "contrib/postgres_exporter/queries.yaml differs from what generate.sql gives (make docs):"; head -40 "$work/yaml.diff"
fi

# a pool of two idle sessions (test/idle_sessions.sh)
idle_sessions "$db" 'apes "pool" \ test' 2

# promtool accepts apes.metrics() (format and lint)
PGUSER=$role PGPASSWORD=$password psql -X -At -d "$db" -c "SELECT apes.metrics()" >"$work/apes.txt"
if promtool check metrics <"$work/apes.txt" >"$work/promtool.out" 2>&1; then
    echo "promtool check metrics: apes.metrics() accepted ($(grep -c '^apes_' "$work/apes.txt") samples, $(grep -c '^# TYPE' "$work/apes.txt") families)"
else
    bad "promtool check metrics rejects apes.metrics():"; cat "$work/promtool.out"
fi

# the exporter, on a free loopback port, as a pg_monitor role over TCP
port=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1)->sockport')
DATA_SOURCE_NAME="host=$PGHOST port=$PGPORT user=$role password=$password dbname=$db sslmode=disable application_name=apes_exporter" \
    prometheus-postgres-exporter --web.listen-address="127.0.0.1:$port" \
        --extend.query-path=contrib/postgres_exporter/queries.yaml --disable-default-metrics \
        --disable-settings-metrics --no-collector.database --no-collector.bgwriter --log.level=warn \
        >"$work/exporter.log" 2>&1 &
bg_pids+=($!)
up=0
for _ in $(seq 1 150); do
    if curl -sf "http://127.0.0.1:$port/metrics" -o /dev/null; then up=1; break; fi
    sleep 0.2
done
[ "$up" = 1 ] || { bad "prometheus-postgres-exporter did not serve /metrics:"; cat "$work/exporter.log"; exit 1; }
echo "prometheus-postgres-exporter $(prometheus-postgres-exporter --version 2>&1 | head -n 1 | awk '{print $3}') serves 127.0.0.1:$port"

# the exporter's apes_ series against apes.metrics() read right after (both as the exporter's role, with its
# application name, so each sees the other's session as an idle apes_exporter pool: that pool is left out); the
# state of a quiet cluster can still move between two reads (WAL the slot keeps), so up to five tries
compare() {
    python3 - "$1" "$2" "$planted_queryid" <<'PY'
import math, re, sys
exported, direct, planted = open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3]

def labels(s):
    # name="value",... with the format's escapes (\\, \", \n)
    out, i = {}, 0
    while i < len(s):
        m = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="').match(s, i)
        if not m:
            raise ValueError('bad labels: ' + s)
        name, i, val = m.group(1), m.end(), []
        while s[i] != '"':
            if s[i] == '\\':
                val.append({'\\': '\\', '"': '"', 'n': '\n'}[s[i + 1]]); i += 2
            else:
                val.append(s[i]); i += 1
        out[name] = ''.join(val)
        i += 1
        if i < len(s) and s[i] == ',':
            i += 1
    return out

def parse(text):
    fams = {}
    for line in text.splitlines():
        m = re.match(r'# (HELP|TYPE) (apes_\w+) (.*)$', line)
        if m:
            f = fams.setdefault(m.group(2), {'samples': {}})
            f[m.group(1).lower()] = m.group(3).replace('\\n', '\n').replace('\\\\', '\\')
            continue
        m = re.match(r'(apes_\w+)(?:\{(.*)\})? (\S+)$', line)
        if m:
            l = labels(m.group(2) or '')
            l.pop('server', None)   # the exporter's own label
            fams.setdefault(m.group(1), {'samples': {}})['samples'][tuple(sorted(l.items()))] = float(m.group(3))
    return fams

def keep(fam, key):
    l = dict(key)
    if fam == 'apes_client_connections':
        return l['application'] != 'apes_exporter'
    if fam.startswith('apes_statement_'):
        return l['queryid'] == planted
    return True

e, d = parse(exported), parse(direct)
problems = []
moving = {'apes_report_duration_seconds': None, 'apes_snapshot_age_seconds': 120,
          'apes_archiver_last_success_age_seconds': 120}
for fam, df in d.items():
    want = {k: v for k, v in df['samples'].items() if keep(fam, k)}
    if not want:
        continue
    ef = e.get(fam)
    if ef is None:
        problems.append(f'{fam}: not served by the exporter'); continue
    if ef.get('help') != df.get('help') or ef.get('type') != df.get('type'):
        problems.append(f'{fam}: help/type differ: {ef.get("help")!r} {ef.get("type")} / {df.get("help")!r} {df.get("type")}')
    got = {k: v for k, v in ef['samples'].items() if keep(fam, k)}
    if set(got) != set(want):
        problems.append(f'{fam}: series differ: only exporter {sorted(set(got) - set(want))[:3]}, only apes.metrics() {sorted(set(want) - set(got))[:3]}')
        continue
    for k, v in want.items():
        w = got[k]
        same = (math.isnan(v) and math.isnan(w)) or v == w
        if fam in moving and not same and not math.isnan(v) and not math.isnan(w):
            same = moving[fam] is None or abs(v - w) <= moving[fam]
        if not same:
            problems.append(f'{fam}{dict(k)}: exporter {w}, apes.metrics() {v}')
for fam in e:
    if fam not in d:
        problems.append(f'{fam}: served by the exporter, unknown to apes.metrics()')
# the planted objects are there, so the comparison is not empty
def has(fam, **kv):
    return any(all(dict(k).get(a) == b for a, b in kv.items()) for k in e.get(fam, {'samples': {}})['samples'])
for fam, kv in [('apes_sequence_used_ratio', {'sequence': 'planted."seq ""quoted"" \\ back\nslash"'}),
                ('apes_client_connections', {'application': 'apes "pool" \\ test', 'state': 'idle'}),
                ('apes_replication_slot_retained_bytes', {'slot': 'apes_exporter_test_slot', 'wal_status': 'reserved'}),
                ('apes_statement_calls_total', {'queryid': planted}),
                ('apes_findings', {'check': 'index_duplicate', 'severity': 'warning'})]:
    if not has(fam, **kv):
        problems.append(f'planted series missing from the exporter: {fam}{kv}')
pool = [v for k, v in e['apes_client_connections']['samples'].items()
        if dict(k)['application'] == 'apes "pool" \\ test' and dict(k)['state'] == 'idle']
if pool != [2.0]:
    problems.append(f'the planted pool of two idle sessions reads {pool}')
calls = [v for k, v in e['apes_statement_calls_total']['samples'].items() if dict(k)['queryid'] == planted]
if calls != [5.0]:
    problems.append(f'the planted statement ran 5 times; the exporter says {calls}')
dup = [v for k, v in e['apes_findings']['samples'].items() if dict(k)['check'] == 'index_duplicate' and dict(k)['severity'] == 'warning']
if dup != [1.0]:
    problems.append(f'one duplicate index planted; the exporter says {dup}')
n = sum(len(f['samples']) for f in e.values())
print('\n'.join(problems) if problems else f'{len(e)} families, {n} series: the exporter serves what apes.metrics() gives')
sys.exit(1 if problems else 0)
PY
}
ok=0
for attempt in 1 2 3 4 5; do
    curl -sf "http://127.0.0.1:$port/metrics" -o "$work/exporter.txt"
    PGAPPNAME=apes_exporter PGUSER=$role PGPASSWORD=$password psql -X -At -d "$db" -c "SELECT apes.metrics()" >"$work/direct.txt"
    if compare "$work/exporter.txt" "$work/direct.txt" >"$work/compare.out" 2>&1; then ok=1; break; fi
    sleep 1
done
cat "$work/compare.out"
[ "$ok" = 1 ] || bad "the exporter's apes_ series differ from apes.metrics() (5 tries)"
# the comparison can fail: one sample changed in a copy is found
sed -E 's/^(apes_client_connections\{.*application="apes \\"pool\\" \\\\ test",state="idle"\}) 2$/\1 3/' \
    "$work/direct.txt" >"$work/altered.txt"
if cmp -s "$work/direct.txt" "$work/altered.txt" || compare "$work/exporter.txt" "$work/altered.txt" >/dev/null 2>&1; then
    bad "the comparison does not notice a changed sample"
fi
if grep -qiE 'level=error|error' "$work/exporter.log"; then
    bad "the exporter logged errors:"; cat "$work/exporter.log"
fi
exit "$fail"
