// Several servers over NATS, for real: a nats-server, a hub (`webpeek --nats`, no log of its
// own) and two publishers (`webpeek publish --name web1|web2`) on temp logs, all on 127.0.0.1.
// In Chromium: both servers' hits in the feed, the server select, the Servers panel against
// /api/stats, and the NATS pill of the top bar through an outage of the NATS server (killed,
// then started again on the same port) with a line logged meanwhile arriving afterwards.
// Every wait is bounded; every child is killed in `after`.
//
//   cd tests/browser && npm ci && node --test nats.test.mjs
//
// NATS_SERVER_BIN defaults to nats-server on the PATH (or /usr/sbin/nats-server).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  BIN, CHROMIUM, OUT, UA_FIREFOX, UA_CHROME, UA_IPHONE, freePort, line, sleep,
  startWebpeek, stopWebpeek, launchChromium, openPage, waitConnected, waitForRow,
  contrastOf,
} from './helpers.mjs';

function findNatsServer() {
  if (process.env.NATS_SERVER_BIN) return process.env.NATS_SERVER_BIN;
  const dirs = [...(process.env.PATH || '').split(path.delimiter), '/usr/sbin', '/usr/local/bin', '/usr/bin'];
  for (const d of dirs) {
    const p = path.join(d || '.', 'nats-server');
    if (fs.existsSync(p)) return p;
  }
  return null;
}
const NATS_SERVER = findNatsServer();

let dir, log1, log2, natsPort, natsUrl, nats, hub, pub1, pub2, plain, browser, context, dash;
const children = new Set(); // every process this file started, for `after`

/** Starts `cmd` with its output kept (the last 20,000 characters). */
function startChild(name, cmd, args, cwd) {
  const child = { name, output: '', exit: null };
  child.proc = spawn(cmd, args, {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info', NO_COLOR: '1' },
  });
  const keep = (chunk) => { child.output = (child.output + chunk).slice(-20_000); };
  child.proc.stdout.on('data', keep);
  child.proc.stderr.on('data', keep);
  child.gone = new Promise((resolve) => child.proc.once('exit', (code, signal) => {
    child.exit = signal ? `signal ${signal}` : `code ${code}`;
    children.delete(child);
    resolve();
  }));
  child.proc.on('error', (e) => { child.exit = `spawn error: ${e.message}`; children.delete(child); });
  children.add(child);
  return child;
}

/** Waits (bounded) until `child` wrote something matching `re`; returns the match. */
async function waitOutput(child, re, timeout) {
  const end = Date.now() + timeout;
  while (Date.now() < end) {
    const m = re.exec(child.output);
    if (m) return m;
    if (child.exit) throw new Error(`${child.name} exited (${child.exit}) before writing ${re}:\n${child.output}`);
    await sleep(50);
  }
  throw new Error(`${child.name} did not write ${re} within ${timeout} ms:\n${child.output}`);
}

/** Stops a child: `signal`, then SIGKILL after 3 s; resolves once it is gone. */
async function stopChild(child, signal = 'SIGTERM') {
  if (!child || child.exit) return;
  child.proc.kill(signal);
  if (await Promise.race([child.gone.then(() => true), sleep(3000).then(() => false)])) return;
  child.proc.kill('SIGKILL');
  await Promise.race([child.gone, sleep(2000)]);
}

async function startNats() {
  const srv = startChild('nats-server', NATS_SERVER, ['-a', '127.0.0.1', '-p', String(natsPort)], dir);
  await waitOutput(srv, /Server is ready/, 10_000);
  return srv;
}

function append(file, ...lines) {
  fs.appendFileSync(file, lines.join(''));
}

async function apiStats(base = hub.base) {
  const res = await fetch(`${base}/api/stats`, { signal: AbortSignal.timeout(3000) });
  assert.equal(res.status, 200);
  return res.json();
}

/** Waits (bounded) until the NATS pill shows `text`; returns how long that took. */
async function waitNats(page, text, timeout) {
  const start = Date.now();
  try {
    await page.waitForFunction((t) => {
      const n = document.getElementById('nats');
      return !!n && !n.hidden && n.textContent === t;
    }, text, { timeout, polling: 50 });
  } catch (e) {
    const now = await page.$eval('#nats', (n) => ({ hidden: n.hidden, text: n.textContent, title: n.title })).catch(() => null);
    throw new Error(`the NATS pill did not say ${JSON.stringify(text)} within ${timeout} ms (it shows ${JSON.stringify(now)}; ` +
      `hub: ${JSON.stringify((await apiStats().catch(() => ({}))).nats)})\nhub output:\n${hub.output.slice(-3000)}`);
  }
  return Date.now() - start;
}

/** The pill's text, state, classes, tooltip, role and box. */
function pill(page) {
  return page.$eval('#nats', (n) => ({
    hidden: n.hidden, text: n.textContent, state: n.dataset.state, cls: n.className, title: n.title,
    role: n.getAttribute('role'), box: n.getBoundingClientRect().toJSON(),
  }));
}

/** The feed's rows: path, source column, hidden. */
function feedRows(page) {
  return page.$$eval('#feed > .hit', (rows) => rows.map((r) => ({
    path: r.querySelector('.c-path .path')?.textContent, source: r.querySelector('.c-source')?.textContent, hidden: r.hidden,
  })));
}


/** The pill is readable in both themes and fits a 390 px phone; the page does not scroll sideways there. */
async function readableAndFits(page, what) {
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    const ratio = await contrastOf(page, '#nats');
    assert.ok(ratio >= 4.5, `${what}, ${scheme}: the NATS pill's text has a contrast of ${ratio.toFixed(2)} (>= 4.5)`);
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 390, height: 844 });
  await sleep(300);
  const fit = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    right: document.getElementById('nats').getBoundingClientRect().right,
    left: document.getElementById('nats').getBoundingClientRect().left,
  }));
  await page.screenshot({ path: path.join(OUT, `nats-${what}-phone.png`) });
  await page.setViewportSize({ width: 1280, height: 800 });
  assert.ok(fit.left >= 0 && fit.right <= 390, `${what}: the pill fits a 390 px phone (${fit.left}..${fit.right})`);
  assert.ok(fit.scroll <= 390, `${what}: nothing scrolls sideways on a 390 px phone (scrollWidth ${fit.scroll})`);
}

before(async () => {
  assert.ok(fs.existsSync(BIN), `no webpeek binary at ${BIN}: run \`cargo build\` or set WEBPEEK_BIN`);
  assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_BIN`);
  assert.ok(NATS_SERVER, 'no nats-server: apt-get install nats-server, or set NATS_SERVER_BIN');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webpeek-nats-'));
  log1 = path.join(dir, 'web1-access.log');
  log2 = path.join(dir, 'web2-access.log');
  fs.writeFileSync(log1, '');
  fs.writeFileSync(log2, '');
  fs.mkdirSync(OUT, { recursive: true });

  natsPort = await freePort();
  natsUrl = `nats://127.0.0.1:${natsPort}`;
  nats = await startNats();

  hub = startChild('hub', BIN, ['--listen', '127.0.0.1:0', '--no-dns', '--all', '--nats', natsUrl], dir);
  hub.base = (await waitOutput(hub, /webpeek: serving (http:\/\/127\.0\.0\.1:\d+)\//, 15_000))[1];
  // --from-start: a line appended before the publisher has opened its log is not skipped
  pub1 = startChild('publisher web1', BIN, ['publish', '--nats', natsUrl, '--name', 'web1', '--all', '--from-start', log1], dir);
  pub2 = startChild('publisher web2', BIN, ['publish', '--nats', natsUrl, '--name', 'web2', '--all', '--from-start', log2], dir);
  await Promise.all([pub1, pub2].map((p) => waitOutput(p, /publishing to NATS .* as webpeek\.hits\.web\d/, 10_000)));

  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
  context.setDefaultTimeout(10_000);
});

after(async () => {
  await browser?.close().catch(() => {});
  await stopWebpeek(plain);
  // publishers first (they deliver what they hold, for at most 5 s, while NATS is still up)
  await Promise.all([...children].filter((c) => c !== nats).map((c) => stopChild(c)));
  await Promise.all([...children].map((c) => stopChild(c, 'SIGKILL')));
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('two publishers: both servers in the feed, the server select, the Servers panel, NATS connected', { timeout: 30_000 }, async () => {
  dash = await openPage(`${hub.base}/`, context);
  const { page, problems } = dash;
  await waitConnected(page);
  await waitNats(page, 'NATS connected', 5000);

  const lines1 = [['/web1/', UA_FIREFOX], ['/web1/pricing.html', UA_CHROME], ['/web1/docs/', UA_IPHONE]];
  const lines2 = [['/web2/', UA_CHROME], ['/web2/blog/', UA_FIREFOX]];
  append(log1, ...lines1.map(([p, ua], i) => line(`203.0.113.${10 + i}`, `GET ${p} HTTP/1.1`, 200, 1000 + i, '-', ua)));
  append(log2, ...lines2.map(([p, ua], i) => line(`198.51.100.${20 + i}`, `GET ${p} HTTP/1.1`, 200, 2000 + i, '-', ua)));
  for (const [p] of [...lines1, ...lines2]) await waitForRow(page, p, 8000);
  let rows = await feedRows(page);
  assert.equal(rows.length, 5, `five rows (${JSON.stringify(rows)})`);
  for (const r of rows) {
    assert.equal(r.source, r.path.startsWith('/web1/') ? 'web1-access.log' : 'web2-access.log', `the source of ${r.path}`);
  }

  // hits from two servers: the select shows, and web2 leaves only web2's rows
  await page.waitForSelector('#server-filter:not([hidden])', { timeout: 3000 });
  assert.deepEqual(await page.$$eval('#server-filter option', (os) => os.map((o) => o.value)), ['', 'web1', 'web2']);
  await page.selectOption('#server-filter', 'web2');
  rows = await feedRows(page);
  assert.deepEqual(rows.filter((r) => !r.hidden).map((r) => r.path).sort(), ['/web2/', '/web2/blog/'], 'web2 only');
  assert.deepEqual(await page.$$eval('#chips .chip', (cs) => cs.map((c) => [c.dataset.field, c.dataset.value])), [['server', 'web2']]);
  await page.selectOption('#server-filter', '');
  assert.equal((await feedRows(page)).filter((r) => r.hidden).length, 0, 'all servers: every row again');

  // the Servers panel lists both with the hub's counts
  let api, shown;
  for (const end = Date.now() + 6000; Date.now() < end; await sleep(250)) {
    api = await apiStats();
    shown = await page.$$eval('#cards > [data-panel="servers"]:not([hidden]) li:not([hidden]) .entry',
      (bs) => bs.map((b) => [b.dataset.key, Number(b.dataset.count)]));
    if (JSON.stringify(api.panels.recent.servers) === JSON.stringify([['web1', 3], ['web2', 2]]) &&
      JSON.stringify(shown) === JSON.stringify(api.panels.recent.servers)) break;
  }
  assert.deepEqual(api.panels.recent.servers, [['web1', 3], ['web2', 2]], 'the hub counts each server\'s lines');
  assert.deepEqual(shown, api.panels.recent.servers, 'the Servers panel shows /api/stats\' servers');
  assert.equal(await page.textContent('#cards > [data-panel="servers"] .entry[data-key="web1"] .ek'), 'web1');

  // the NATS pill: beside the connection pill, in words, the server in its tooltip
  assert.equal(api.nats.state, 'connected');
  assert.equal(api.nats.url, natsUrl);
  assert.equal(api.nats.hits, 5);
  const p = await pill(page);
  assert.equal(p.text, 'NATS connected');
  assert.equal(p.state, 'connected');
  assert.equal(p.role, 'status', 'a live region: screen readers hear it change');
  assert.ok(p.title.includes(natsUrl), `the tooltip names the server (${JSON.stringify(p.title)})`);
  const ws = await page.$eval('#status', (n) => n.getBoundingClientRect().toJSON());
  assert.ok(p.box.left >= ws.right && p.box.left - ws.right < 20 && Math.abs(p.box.top - ws.top) < 4,
    `the NATS pill sits right of the connection pill (${JSON.stringify(ws)} / ${JSON.stringify(p.box)})`);
  await readableAndFits(page, 'connected');
  await page.screenshot({ path: path.join(OUT, 'nats-connected.png'), fullPage: true });
  assert.deepEqual(problems, [], 'no console errors, page errors or CSP violations');
});

test('NATS down: the pill says so; back on the same port: connected again, and a line logged meanwhile arrives', { timeout: 40_000 }, async (t) => {
  const { page, problems } = dash;
  await stopChild(nats, 'SIGKILL');
  const tookDown = await waitNats(page, 'NATS: disconnected, retrying', 10_000);
  t.diagnostic(`the pill said "disconnected, retrying" ${tookDown} ms after nats-server was killed`);
  let p = await pill(page);
  assert.equal(p.state, 'down');
  assert.match(p.cls, /\bnats-down\b/);
  assert.equal((await page.textContent('#status')).trim(), 'connected', "the page's own connection to the hub is fine");

  // the hub's error, as text in the tooltip (once an attempt to reconnect failed)
  let api;
  for (const end = Date.now() + 8000; Date.now() < end; await sleep(200)) {
    api = await apiStats();
    if (api.nats.error) break;
  }
  assert.equal(api.nats.state, 'disconnected, retrying');
  assert.ok(api.nats.error, `the hub says why (${JSON.stringify(api.nats)})`);
  await page.waitForFunction((e) => document.getElementById('nats').title.includes(e), api.nats.error, { timeout: 3000 });
  p = await pill(page);
  assert.ok(p.title.includes(natsUrl), p.title);
  await readableAndFits(page, 'disconnected');
  await page.evaluate(() => document.activeElement?.blur());
  await page.screenshot({ path: path.join(OUT, 'nats-disconnected.png') });

  // a line logged while NATS is down, then NATS back on the same port
  append(log1, line('203.0.113.99', 'GET /web1/during-outage.html HTTP/1.1', 200, 4321, '-', UA_FIREFOX));
  await sleep(300);
  nats = await startNats();
  const tookUp = await waitNats(page, 'NATS connected', 15_000);
  t.diagnostic(`connected again ${tookUp} ms after nats-server was started again`);
  await waitForRow(page, '/web1/during-outage.html', 15_000);
  assert.equal((await pill(page)).state, 'connected');
  for (const end = Date.now() + 5000; Date.now() < end; await sleep(250)) {
    api = await apiStats();
    if (api.panels.recent.servers[0]?.[1] === 4) break;
  }
  assert.equal(api.nats.state, 'connected');
  assert.equal(api.nats.error, null);
  assert.ok(api.nats.disconnects >= 1, `the hub counted the disconnect (${api.nats.disconnects})`);
  assert.deepEqual(api.panels.recent.servers, [['web1', 4], ['web2', 2]], 'nothing lost, nothing twice');
  assert.equal((await feedRows(page)).length, 6);
  assert.match((await pill(page)).title, /connection lost 1 time\b/);
  assert.deepEqual(problems, []);
});

/** Runs before the page's script: `window.__nats`, when set, replaces the stats frames' `nats`. */
function overrideNats() {
  const Native = window.WebSocket;
  class Overridden extends Native {
    set onmessage(fn) {
      super.onmessage = (ev) => {
        if (window.__nats === undefined || typeof ev.data !== 'string' || !ev.data.startsWith('{"type":"stats"')) {
          fn.call(this, ev);
          return;
        }
        const m = JSON.parse(ev.data);
        m.nats = window.__nats;
        fn.call(this, { data: JSON.stringify(m) });
      };
    }
  }
  window.WebSocket = Overridden;
}

test('no pill without --nats; what the hub says is shown as text, never as HTML', { timeout: 30_000 }, async () => {
  // a hub without --nats
  fs.writeFileSync(path.join(dir, 'plain.log'), '');
  plain = await startWebpeek(['--no-dns', path.join(dir, 'plain.log')], dir);
  assert.equal((await apiStats(plain.base)).nats, null);
  const { page, problems } = await openPage(`${plain.base}/`, context);
  await waitConnected(page);
  await page.waitForFunction(() => document.getElementById('total').dataset.value !== undefined &&
    document.getElementById('total').dataset.value !== '', null, { timeout: 5000 });
  assert.equal(await page.isHidden('#nats'), true, 'no NATS pill without --nats');
  await page.close();

  // odd values in `nats`, on the real hub's frames (NATS up again if the test above stopped half-way)
  if (nats.exit) nats = await startNats();
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  ctx.setDefaultTimeout(10_000);
  await ctx.addInitScript(overrideNats);
  const odd = await openPage(`${hub.base}/`, ctx);
  await waitConnected(odd.page);
  await waitNats(odd.page, 'NATS connected', 5000);
  const evil = '<img src=x onerror=alert(1)>';
  await odd.page.evaluate((e) => { window.__nats = { state: `disconnected, retrying ${e}`, url: `nats://${e}`, error: e }; }, evil);
  await waitNats(odd.page, `NATS: disconnected, retrying ${evil}`, 3000);
  const p = await pill(odd.page);
  assert.ok(p.title.includes(`nats://${evil}`) && p.title.includes(`\n${evil}`), `the tooltip holds the text as it came (${JSON.stringify(p.title)})`);
  assert.equal(await odd.page.$$eval('img', (i) => i.length), 0, 'no element made from it');
  // --jetstream: a replay under way, and a stream that cannot be read (as tests/nats.rs makes
  // the hub say them)
  await odd.page.evaluate(() => { window.__nats = { state: 'connected', url: 'nats://127.0.0.1:4222', stream: 'WEBPEEK', replaying: true, hits: 5 }; });
  await waitNats(odd.page, 'NATS: replaying', 3000);
  assert.ok((await pill(odd.page)).title.includes('JetStream stream WEBPEEK: replaying'));
  const notEnabled = 'JetStream is not enabled on the NATS server (start nats-server with -js)';
  await odd.page.evaluate((e) => { window.__nats = { state: 'connected', url: 'nats://127.0.0.1:4222', stream: 'WEBPEEK', stream_error: e }; }, notEnabled);
  await waitNats(odd.page, 'NATS: stream unavailable', 3000);
  const down = await pill(odd.page);
  assert.ok(down.title.includes(notEnabled), `the tooltip says why (${JSON.stringify(down.title)})`);
  await odd.page.evaluate(() => { window.__nats = null; });
  await odd.page.waitForSelector('#nats', { state: 'hidden', timeout: 3000 });
  assert.deepEqual(odd.dialogs, []);
  assert.deepEqual([...problems, ...odd.problems], []);
  await ctx.close();
});
