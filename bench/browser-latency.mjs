// Append-to-DOM latency of the webpeek dashboard in headless Debian Chromium.
//
//   cargo build --release                      # or set WEBPEEK_BIN
//   (cd tests/browser && npm ci)               # once, for playwright-core
//   node bench/browser-latency.mjs
//
// Starts the release binary on a free loopback port (`--listen 127.0.0.1:0`, port read from
// its `serving` line) with `--no-dns` on an empty temp log, opens `/` in Chromium, waits for
// `#status` to read `connected`, and installs a MutationObserver on `#feed` that stamps
// `performance.timeOrigin + performance.now()` when a `.hit` row whose path is `/lat/<i>` is
// inserted. Node stamps the same clock right before `fs.appendFileSync` of line i. 5 warm-up
// lines, then 200 measured lines 50 ms apart, from 203.0.113.x (not 127.0.0.1: the viewer's
// own address is filtered out by default). Both stamps are this machine's wall clock through
// each process's timeOrigin; a round-trip probe checks how far apart the two clocks are and
// the result is printed.
//
// Rows of the table, all from the same lines in the same run:
// - control: a minimal WebSocket client in this Node process reading `/ws` (server + TCP,
//   no browser);
// - the page's WebSocket `message` event (a listener added before the dashboard's own, by an
//   init script that wraps `WebSocket`): server + TCP + Chromium's network service → renderer;
// - the row inserted in `#feed` (the figure asked for): + JSON parse and DOM building;
// - the start of the next animation frame after the insertion: when the frame that shows the
//   row begins.
//
// What it does not measure: the paint itself or pixels on a screen, a real network, or many
// viewers.
//
// Environment: WEBPEEK_BIN (default target/release/webpeek), CHROMIUM_BIN (/usr/bin/chromium).
// Everything is bounded: the whole run gives up after 90 s, and the server and browser are
// always stopped.

import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let chromium;
try {
  ({ chromium } = await import('../tests/browser/node_modules/playwright-core/index.mjs'));
} catch (e) {
  console.error(`browser-latency: cannot load playwright-core (${e.message.split('\n')[0]}): run \`cd tests/browser && npm ci\``);
  process.exit(1);
}

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = process.env.WEBPEEK_BIN || path.resolve(here, '../target/release/webpeek');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const N = 200;
const WARMUP = 5;
const SPACING_MS = 50;
const WHOLE_RUN_MS = 90_000;
const UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let dir = null;
let server = null;
let browser = null;
let serverOutput = '';

async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  browser = null;
  if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  server = null;
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = null;
}

const watchdog = setTimeout(async () => {
  console.error(`browser-latency: still running after ${WHOLE_RUN_MS / 1000} s, giving up`);
  await cleanup();
  process.exit(2);
}, WHOLE_RUN_MS);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => { await cleanup(); process.exit(130); });
}

function line(ip, p) {
  return `${ip} - - [25/Nov/2026:10:00:00 +0000] "GET ${p} HTTP/1.1" 200 512 "-" "${UA}"\n`;
}

/** Starts webpeek on `log`; resolves with its base URL once it prints `serving`. */
function startServer(log) {
  return new Promise((resolve, reject) => {
    server = spawn(BIN, ['--listen', '127.0.0.1:0', '--no-dns', log], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const timer = setTimeout(() => reject(new Error(`webpeek did not print "serving" within 15 s:\n${serverOutput}`)), 15_000);
    server.stderr.setEncoding('utf8');
    server.stderr.on('data', (chunk) => {
      serverOutput = (serverOutput + chunk).slice(-20_000);
      const m = /webpeek: serving (http:\/\/127\.0\.0\.1:\d+)\//.exec(serverOutput);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    server.on('error', (e) => { clearTimeout(timer); reject(e); });
    server.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`webpeek exited (${signal || code}):\n${serverOutput}`));
    });
  });
}

/**
 * A minimal WebSocket viewer in this Node process (no Origin, like any non-browser client):
 * stamps when each `/lat/<i>` hit's frame arrives. It is the control: the same server, the
 * same moment, no browser. Resolves once the `hello` frame is in.
 */
function nodeViewer(base, stamps) {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(base);
    const sock = net.connect({ host: hostname, port: Number(port), noDelay: true });
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('Node viewer: no hello within 10 s')); }, 10_000);
    let buf = Buffer.alloc(0);
    let upgraded = false;
    let text = '';
    sock.on('connect', () => {
      sock.write(`GET /ws HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
    sock.on('data', (chunk) => {
      const t = now();
      buf = Buffer.concat([buf, chunk]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString();
        if (!head.startsWith('HTTP/1.1 101')) { sock.destroy(); reject(new Error(`Node viewer: ${head.split('\r\n')[0]}`)); return; }
        upgraded = true;
        buf = buf.subarray(end + 4);
      }
      // Server frames are unmasked: FIN/opcode, length (7, 16 or 64 bits), payload.
      for (;;) {
        if (buf.length < 2) return;
        let len = buf[1] & 0x7f;
        let off = 2;
        if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
        else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
        if (buf.length < off + len) return;
        const opcode = buf[0] & 0x0f;
        const fin = (buf[0] & 0x80) !== 0;
        const payload = buf.subarray(off, off + len).toString();
        buf = buf.subarray(off + len);
        if (opcode === 1 || opcode === 0) {
          text += payload;
          if (!fin) continue;
          if (text.startsWith('{"type":"hello"')) { clearTimeout(timer); resolve(sock); }
          for (const m of text.matchAll(/"path":"\/lat\/(\d+)"/g)) if (!stamps.has(m[1])) stamps.set(m[1], t);
          text = '';
        }
      }
    });
  });
}

/** Nearest-rank percentile of sorted numbers. */
function pct(sorted, q) {
  if (!sorted.length) return NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}

function row(name, values) {
  const s = [...values].sort((a, b) => a - b);
  const f = (x) => x.toFixed(3);
  return `| ${name} | ${s.length}/${N} | ${f(s[0])} | ${f(pct(s, 0.5))} | ${f(pct(s, 0.9))} | ${f(pct(s, 0.99))} | ${f(s[s.length - 1])} |`;
}

async function main() {
  if (!fs.existsSync(BIN)) throw new Error(`no webpeek binary at ${BIN}: run \`cargo build --release\` or set WEBPEEK_BIN`);
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_BIN`);
  const load = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webpeek-lat-'));
  const log = path.join(dir, 'access.log');
  fs.writeFileSync(log, '');
  const base = await startServer(log);

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic'],
    timeout: 15_000,
  });
  const nodeStamps = new Map();
  const viewerSocket = await nodeViewer(base, nodeStamps);
  const page = await browser.newPage();
  // Before the dashboard's script runs: stamp each `/lat/<i>` hit when its WebSocket message
  // event fires (our listener is registered in the constructor, before the page's onmessage),
  // to split network + server time from the page's own handling.
  await page.addInitScript(() => {
    const ws = new Map();
    window.__ws = ws;
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        this.addEventListener('message', (ev) => {
          const t = performance.timeOrigin + performance.now();
          if (typeof ev.data !== 'string' || !ev.data.includes('/lat/')) return;
          for (const m of ev.data.matchAll(/"path":"\/lat\/(\d+)"/g)) if (!ws.has(m[1])) ws.set(m[1], t);
        });
      }
    };
  });
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(`${base}/`, { waitUntil: 'load', timeout: 10_000 });
  await page.waitForFunction(() => document.getElementById('status')?.textContent === 'connected',
    null, { timeout: 10_000, polling: 20 });
  // A new viewer may ask to resume within 200 ms of connecting; live frames wait until then.
  await sleep(400);

  await page.evaluate(() => {
    const dom = new Map();
    const frame = new Map();
    window.__lat = { dom, frame };
    // Match on the row's path cell: the row's whole text runs the path into the status.
    const re = /^\/lat\/(\d+)$/;
    new MutationObserver((records) => {
      const t = performance.timeOrigin + performance.now();
      const fresh = [];
      for (const rec of records) {
        for (const n of rec.addedNodes) {
          if (n.nodeType !== 1 || !n.classList.contains('hit')) continue;
          const m = re.exec(n.querySelector('.path')?.textContent || '');
          if (m && !dom.has(m[1])) { dom.set(m[1], t); fresh.push(m[1]); }
        }
      }
      if (fresh.length) {
        requestAnimationFrame(() => {
          const f = performance.timeOrigin + performance.now();
          for (const i of fresh) frame.set(i, f);
        });
      }
    }).observe(document.getElementById('feed'), { childList: true });
  });

  // How far apart are the page's clock and ours? The page's stamp must fall inside our
  // round trip; the best of 20 probes bounds the offset by half its round trip.
  let best = null;
  for (let k = 0; k < 20; k++) {
    const t0 = now();
    const tp = await page.evaluate(() => performance.timeOrigin + performance.now());
    const t1 = now();
    if (!best || t1 - t0 < best.rtt) best = { rtt: t1 - t0, offset: tp - (t0 + t1) / 2 };
  }

  for (let w = 0; w < WARMUP; w++) {
    fs.appendFileSync(log, line('203.0.113.250', `/warm/${w}`));
    await sleep(SPACING_MS);
  }

  const written = new Array(N);
  const start = now();
  for (let i = 0; i < N; i++) {
    const due = start + i * SPACING_MS;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
    const text = line(`203.0.113.${(i % 200) + 1}`, `/lat/${i}`);
    written[i] = now();
    fs.appendFileSync(log, text);
  }

  // Give the last rows (bounded) time to show.
  const until = now() + 5_000;
  let seen = 0;
  while (now() < until) {
    seen = await page.evaluate(() => window.__lat.frame.size);
    if (seen >= N) break;
    await sleep(50);
  }
  const got = await page.evaluate(() => ({
    ws: Object.fromEntries(window.__ws),
    dom: Object.fromEntries(window.__lat.dom),
    frame: Object.fromEntries(window.__lat.frame),
  }));
  const chromiumVersion = browser.version();
  viewerSocket.destroy();
  await cleanup();

  const nodeWs = [];
  const ws = [];
  const dom = [];
  const frame = [];
  const slow = [];
  for (let i = 0; i < N; i++) {
    if (got.dom[i] !== undefined) { dom.push(got.dom[i] - written[i]); slow.push([i, got.dom[i] - written[i]]); }
    if (nodeStamps.has(String(i))) nodeWs.push(nodeStamps.get(String(i)) - written[i]);
    if (got.ws[i] !== undefined) ws.push(got.ws[i] - written[i]);
    if (got.frame[i] !== undefined) frame.push(got.frame[i] - written[i]);
  }
  slow.sort((a, b) => b[1] - a[1]);

  let kernel = '?';
  try { kernel = execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim(); } catch { /* ignore */ }
  console.log('');
  console.log(`### Append-to-dashboard latency, ${N} lines, ${SPACING_MS} ms apart, headless Chromium ${chromiumVersion}`);
  console.log('');
  console.log('| measured until | shown | min ms | p50 ms | p90 ms | p99 ms | max ms |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  console.log(row('control: frame read by a plain WebSocket client in Node', nodeWs));
  console.log(row('WebSocket message event in the page', ws));
  console.log(row('row inserted in `#feed` (MutationObserver)', dom));
  console.log(row('start of the next animation frame', frame));
  console.log('');
  const edges = [1, 2, 5, 10, 40];
  const counts = new Array(edges.length + 1).fill(0);
  for (const d of dom) counts[edges.filter((e) => d >= e).length]++;
  console.log(`histogram (DOM): <1 ms ${counts[0]} | 1–2 ${counts[1]} | 2–5 ${counts[2]} | 5–10 ${counts[3]} | ` +
    `10–40 ${counts[4]} | ≥40 ${counts[5]}`);
  console.log(`slowest (DOM): ${slow.slice(0, 5).map(([i, d]) => `#${i} ${d.toFixed(3)} ms`).join(', ')}`);
  console.log(`clocks: both stamps are this machine's wall clock via performance.timeOrigin + performance.now() ` +
    `(Node and the page; Chromium coarsens performance.now() to 0.1 ms); measured page − Node offset ${best.offset.toFixed(3)} ms ± ${(best.rtt / 2).toFixed(3)} ms.`);
  console.log(`machine: ${os.cpus().length} CPUs (shared, noisy VM), Linux ${kernel}, load average at start ${load}, ` +
    `Node ${process.version}; webpeek ${BIN}`);
  if (problems.length) console.log(`page errors: ${problems.join('; ')}`);
  if (dom.length < N) {
    console.error(`browser-latency: only ${dom.length} of ${N} lines reached the DOM`);
    process.exitCode = 1;
  }
}

try {
  await main();
} catch (e) {
  console.error(`browser-latency: ${e.stack || e}`);
  process.exitCode = 1;
} finally {
  await cleanup();
  clearTimeout(watchdog);
}
