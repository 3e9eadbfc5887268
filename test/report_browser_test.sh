#!/usr/bin/env bash
# apes.report_html() opened in headless Chromium (Debian's chromium, driven by test/report_browser.js): no console
# message or error, no request but the document itself, no script; every chart's SVG present, drawn, sized and
# described; the counts on the page (per severity, in all, per check) equal to health_json()'s; hostile names and
# query texts shown as text; the source parses as XML; the page fits a phone's width and prints.  The database has
# a short history with something in every chart: snapshots around activity, a pool of idle sessions, a checkpoint.
# Screenshots (desktop and phone) and the report stay in the test's work folder (test/work/report_browser, or
# APES_REPORT_WORK), printed at the end.  First, the detector itself is shown a page that makes a request.
# Run inside the test cluster (test/cluster.sh; PGHOST etc. set).  A missing program is a failure: test/setup.sh
# installs them.
set -euo pipefail
cd "$(dirname "$0")/.."
for prog in chromium node python3; do
    command -v "$prog" >/dev/null || { echo "FAILED: $prog is not installed (test/setup.sh installs it)"; exit 1; }
done
db=apes_browser_test
out=${APES_REPORT_WORK:-$PWD/test/work/report_browser}
mkdir -p "$out"
work=$(mktemp -d)
. test/idle_sessions.sh
cleanup() {
    background_stop
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
fail=0
bad() { echo "FAILED: $*"; fail=1; }

# the detector notices a request and a console error
printf '<!DOCTYPE html>\n<html><head><title>control</title></head><body><img src="http://127.0.0.1:9/x.png"/></body></html>\n' \
    >"$work/control.html"
node test/report_browser.js "$work/control.html" "$work" >"$work/control.json"
python3 - "$work/control.json" <<'PY' || bad "the browser check does not notice a page's request"
import json, sys
r = json.load(open(sys.argv[1]))
assert any(u.startswith('http://127.0.0.1:9/') for u in r['requests']), r['requests']
assert any(e['level'] == 'error' for e in r['log']), r['log']
PY

psql -X -q -d postgres -c "CREATE DATABASE $db"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<'SQL'
CREATE EXTENSION pg_stat_statements;
CREATE EXTENSION pg_apes_health;
CREATE SCHEMA shop;
CREATE TABLE shop."<script>alert(1)</script>" (id int PRIMARY KEY, v text);
CREATE INDEX "v_idx" ON shop."<script>alert(1)</script>" (v);
CREATE INDEX "v_idx</svg>" ON shop."<script>alert(1)</script>" (v);
CREATE TABLE shop."café_日本" (id bigint, t text);
SQL
# a pool of two idle sessions (test/idle_sessions.sh)
idle_sessions "$db" 'shop <b>web</b> "x"' 2
# four snapshots around activity: rows, a statement with a hostile text, a checkpoint
since=$(psql -X -At -d "$db" -c "SELECT now() - interval '1 second'")
for i in 1 2 3 4; do
    psql -X -q -d "$db" >/dev/null <<SQL
SELECT apes.snapshot();
INSERT INTO shop."café_日本" SELECT g, repeat('x', 500) FROM generate_series(1, 20000 * $i) g;
INSERT INTO shop."<script>alert(1)</script>" SELECT g + 1000 * $i, md5(g::text) FROM generate_series(1, 1000) g;
SELECT pg_sleep(0.02 * $i) IS NULL AS apes_browser /* </svg><script>alert('x')</script> "quoted" café */;
CHECKPOINT;
SQL
done
psql -X -q -d "$db" -c "SELECT apes.snapshot()" >/dev/null

psql -X -At -d "$db" -v since="$since" <<<"SELECT apes.report_html(:'since')" >"$out/report.html"
psql -X -At -d "$db" -c "SELECT apes.health_json()" >"$work/health.json"
if ! node test/report_browser.js "$out/report.html" "$out" >"$work/browser.json" 2>"$work/browser.err"; then
    bad "Chromium could not open the report:"; cat "$work/browser.err"; exit 1
fi
python3 - "$work/browser.json" "$work/health.json" <<'PY' || fail=1
import json, sys
r, h = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
problems = []
if r['requests'] != [r['url']]:
    problems.append(f"requests other than the document: {r['requests']}")
if r['console'] or r['exceptions']:
    problems.append(f"console: {r['console']} exceptions: {r['exceptions']}")
noisy = [e for e in r['log'] if e['level'] in ('error', 'warning')]
if noisy:
    problems.append(f'console errors: {noisy}')
if r['scripts'] != 0:
    problems.append(f"{r['scripts']} script elements")
if r['xml_errors']:
    problems.append(f"the source is not well-formed XML: {r['xml_errors']}")
kinds = [c['chart'] for c in r['charts']]
for want in ['db_size', 'relation_size', 'statement_time', 'connections', 'findings', 'wal', 'checkpoints']:
    if want not in kinds:
        problems.append(f'no {want} chart')
for c in r['charts']:
    if not (c['svg'] and c['elements'] > 0 and c['width'] > 0 and c['height'] > 0):
        problems.append(f'chart {c["caption"]}: SVG missing or empty: {c}')
    if c['marks'] == 0:
        problems.append(f'chart {c["caption"]}: nothing drawn, though the history has data for it')
    if not (c['title'] and c['desc'] and c['labelled']):
        problems.append(f'chart {c["caption"]}: no title, description or role')
for sev in ('critical', 'warning', 'info', 'total'):
    if r['counts'].get(sev) != h['counts'][sev]:
        problems.append(f"{sev}: the page says {r['counts'].get(sev)}, health_json() {h['counts'][sev]}")
want = {k: v for k, v in h['checks'].items() if v > 0}
if r['checks'] != want:
    problems.append(f"counts per check: the page {r['checks']}, health_json() {want}")
for text in ['<script>alert(1)</script>', "</svg><script>alert('x')</script> \"quoted\" café", 'shop <b>web</b> "x"', '日本']:
    if text not in r['text']:
        problems.append(f'not shown as text: {text!r}')
if r['phone_width'] > 390:
    problems.append(f"wider than a phone: {r['phone_width']} px at 390 px")
if r['pdf_bytes'] < 1000:
    problems.append(f"printing gave {r['pdf_bytes']} bytes")
print('\n'.join(problems) if problems else
      f"{len(r['charts'])} charts drawn and described, counts {r['counts']} as health_json(), {len(r['checks'])} checks, "
      f"no request, no console message, well-formed, {r['phone_width']} px wide on a phone, {r['pdf_bytes']} bytes of PDF")
sys.exit(1 if problems else 0)
PY
echo "report and screenshots: $out/report.html, $out/report.png, $out/report-phone.png"
exit "$fail"
