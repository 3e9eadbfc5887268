#!/usr/bin/env node
// Open an HTML file in headless Chromium and say what a person would get, as JSON on stdout: every request the page
// made, every console message and uncaught exception, each chart's SVG (present, drawn elements, size, marks,
// title, description), the counts shown, whether the source parses as XML, whether the page fits a phone's width,
// and a PDF print's size; screenshots (desktop, full page, and phone) are written where asked.
//
// Chromium is driven through its DevTools protocol over --remote-debugging-pipe (file descriptors 3 and 4, messages
// ended by NUL), with Node's standard library only: nothing is installed, nothing is fetched.
//
// Usage: node test/report_browser.js FILE.html OUT_DIR   (writes OUT_DIR/report.png, OUT_DIR/report-phone.png)
//   CHROMIUM (default /usr/bin/chromium)
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const [file, outDir] = process.argv.slice(2);
if (!file || !outDir) {
    console.error('usage: report_browser.js FILE.html OUT_DIR');
    process.exit(2);
}
const url = 'file://' + path.resolve(file);
const source = fs.readFileSync(file, 'utf8');
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'apes-chromium-'));

// the flags a closed network needs (no retries, no background traffic), a fresh profile, the protocol on a pipe
const chrome = spawn(process.env.CHROMIUM || '/usr/bin/chromium', [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-default-apps', '--disable-extensions', '--mute-audio', '--hide-scrollbars',
    `--user-data-dir=${profile}`, '--remote-debugging-pipe', '--window-size=1280,900', 'about:blank',
], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
let chromeStderr = '';
chrome.stdio[2].on('data', (d) => { chromeStderr += d; });

const toChrome = chrome.stdio[3];
const fromChrome = chrome.stdio[4];
let nextId = 1;
const pending = new Map();
const listeners = [];
let buffered = '';
fromChrome.on('data', (chunk) => {
    buffered += chunk.toString('utf8');
    let end;
    while ((end = buffered.indexOf('\0')) >= 0) {
        const msg = JSON.parse(buffered.slice(0, end));
        buffered = buffered.slice(end + 1);
        if (msg.id && pending.has(msg.id)) {
            const { resolve, reject } = pending.get(msg.id);
            pending.delete(msg.id);
            if (msg.error) reject(new Error(JSON.stringify(msg.error)));
            else resolve(msg.result);
        } else if (msg.method) {
            for (const l of listeners) l(msg);
        }
    }
});

// One protocol command (on the page's session when given); its result.
function send(method, params = {}, sessionId) {
    const id = nextId++;
    const msg = { id, method, params };
    if (sessionId) msg.sessionId = sessionId;
    toChrome.write(JSON.stringify(msg) + '\0');
    return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
}

// The first event of a method (on a session) after now, or an error after ms.
function waitFor(method, sessionId, ms) {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${method} within ${ms} ms`)), ms);
        listeners.push(function l(msg) {
            if (msg.method === method && (!sessionId || msg.sessionId === sessionId)) {
                clearTimeout(timer);
                listeners.splice(listeners.indexOf(l), 1);
                resolve(msg.params);
            }
        });
    });
}

// Evaluate an expression in the page; its value.
async function evaluate(expression, sessionId) {
    const r = await send('Runtime.evaluate', { expression, returnByValue: true }, sessionId);
    if (r.exceptionDetails) throw new Error('evaluation failed: ' + JSON.stringify(r.exceptionDetails));
    return r.result.value;
}

async function main() {
    const result = { url, requests: [], console: [], exceptions: [], log: [] };
    const { targetInfos } = await send('Target.getTargets');
    const page = targetInfos.find((t) => t.type === 'page');
    const { sessionId } = await send('Target.attachToTarget', { targetId: page.targetId, flatten: true });
    listeners.push((msg) => {
        if (msg.sessionId !== sessionId) return;
        if (msg.method === 'Network.requestWillBeSent')
            result.requests.push(msg.params.request.url.slice(0, 200));
        else if (msg.method === 'Runtime.consoleAPICalled')
            result.console.push({ type: msg.params.type, text: msg.params.args.map((a) => a.value).join(' ') });
        else if (msg.method === 'Runtime.exceptionThrown')
            result.exceptions.push(msg.params.exceptionDetails.text);
        else if (msg.method === 'Log.entryAdded')
            result.log.push({ level: msg.params.entry.level, source: msg.params.entry.source, text: msg.params.entry.text });
    });
    for (const domain of ['Page', 'Runtime', 'Log', 'Network'])
        await send(`${domain}.enable`, {}, sessionId);
    const loaded = waitFor('Page.loadEventFired', sessionId, 30000);
    await send('Page.navigate', { url }, sessionId);
    await loaded;

    result.title = await evaluate('document.title', sessionId);
    result.scripts = await evaluate('document.scripts.length', sessionId);
    result.charts = await evaluate(`Array.from(document.querySelectorAll('figure.chart')).map((f) => {
        const s = f.querySelector('svg.plot');
        const r = s ? s.getBoundingClientRect() : { width: 0, height: 0 };
        return { chart: f.dataset.chart, caption: f.querySelector('figcaption').textContent, svg: !!s,
                 elements: s ? s.querySelectorAll('*').length : 0, width: r.width, height: r.height,
                 marks: s ? s.querySelectorAll('polyline, rect, circle').length : 0,
                 title: s && s.querySelector('title') ? s.querySelector('title').textContent : '',
                 desc: s && s.querySelector('desc') ? s.querySelector('desc').textContent : '',
                 labelled: s ? s.getAttribute('role') === 'img' && !!s.getAttribute('aria-labelledby') : false };
    })`, sessionId);
    result.counts = await evaluate(`Object.fromEntries(Array.from(document.querySelectorAll('[data-severity]'))
        .map((e) => [e.dataset.severity, Number(e.querySelector('.n').textContent)]))`, sessionId);
    result.checks = await evaluate(`Object.fromEntries(Array.from(document.querySelectorAll('tr[data-check]'))
        .map((e) => [e.dataset.check, Number(e.lastElementChild.textContent)]))`, sessionId);
    result.text = await evaluate('document.body.innerText', sessionId);
    // the source as XML: every element closed, every attribute quoted, every text escaped
    result.xml_errors = await evaluate(`(() => {
        const d = new DOMParser().parseFromString(${JSON.stringify(source)}, 'application/xml');
        const e = d.getElementsByTagName('parsererror');
        return e.length ? e[0].textContent.slice(0, 300) : null; })()`, sessionId);

    // desktop screenshot of the whole page
    const size = await evaluate('[document.documentElement.scrollWidth, document.documentElement.scrollHeight]', sessionId);
    const shot = await send('Page.captureScreenshot', {
        format: 'png', captureBeyondViewport: true,
        clip: { x: 0, y: 0, width: size[0], height: size[1], scale: 1 },
    }, sessionId);
    fs.writeFileSync(path.join(outDir, 'report.png'), Buffer.from(shot.data, 'base64'));
    result.page_size = size;

    // a phone: the page must not be wider than the screen (tables scroll inside themselves)
    await send('Emulation.setDeviceMetricsOverride', { width: 390, height: 844, deviceScaleFactor: 2, mobile: true }, sessionId);
    await evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))', sessionId);
    result.phone_width = await evaluate('document.documentElement.scrollWidth', sessionId);
    const phone = await send('Page.captureScreenshot', { format: 'png' }, sessionId);
    fs.writeFileSync(path.join(outDir, 'report-phone.png'), Buffer.from(phone.data, 'base64'));
    await send('Emulation.clearDeviceMetricsOverride', {}, sessionId);

    // print
    const pdf = await send('Page.printToPDF', { printBackground: false }, sessionId);
    result.pdf_bytes = Buffer.from(pdf.data, 'base64').length;
    return result;
}

const deadline = setTimeout(() => { console.error('report_browser.js: no answer within 90 s'); chrome.kill('SIGKILL'); process.exit(3); }, 90000);
main().then((result) => {
    clearTimeout(deadline);
    process.stdout.write(JSON.stringify(result, null, 1) + '\n');
}).catch((err) => {
    clearTimeout(deadline);
    console.error('report_browser.js: ' + err.message + '\n' + chromeStderr.slice(-2000));
    process.exitCode = 1;
}).finally(() => {
    chrome.kill('SIGTERM');
    chrome.on('exit', () => fs.rmSync(profile, { recursive: true, force: true }));
});
