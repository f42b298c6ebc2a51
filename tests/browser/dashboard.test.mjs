// End-to-end test of the webpeek web front end in a real browser.
//
// Starts the real server binary on a free loopback port, following an empty
// log in a temp dir, drives Debian's Chromium with playwright-core, appends
// log lines and checks what the dashboard shows. Every wait is bounded.
//
//   cd tests/browser && npm install && WEBPEEK_BIN=/path/to/webpeek node --test
//
// WEBPEEK_BIN defaults to ../../target/debug/webpeek; CHROMIUM_BIN to /usr/bin/chromium.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = process.env.WEBPEEK_BIN || path.resolve(here, '../../target/debug/webpeek');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const OUT = path.join(here, 'out');

let dir, logFile, port, base, server, browser, context;
let serverOutput = '';
let serverExit = null;

const UA_FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const UA_CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const UA_IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1';
const UA_BOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function clfNow() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
/** One combined-format line, newline included. */
function line(ip, request, status, bytes, referer, agent) {
  return `${ip} - - [${clfNow()}] "${request}" ${status} ${bytes} "${referer}" "${agent}"\n`;
}
function append(...lines) {
  fs.appendFileSync(logFile, lines.join(''));
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitHealthy(deadlineMs) {
  const end = Date.now() + deadlineMs;
  let last = 'no answer';
  while (Date.now() < end) {
    if (serverExit) throw new Error(`webpeek exited early (${serverExit}):\n${serverOutput}`);
    try {
      const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1000) });
      const body = (await res.text()).trim();
      if (res.ok && body === 'ok') return;
      last = `${res.status} ${JSON.stringify(body.slice(0, 80))}`;
    } catch (e) {
      last = String(e.cause?.code || e.message);
    }
    await sleep(100);
  }
  throw new Error(`webpeek did not answer "ok" on /healthz within ${deadlineMs} ms (last: ${last}):\n${serverOutput}`);
}

/** A page with its console errors, page errors, CSP violations and dialogs recorded. */
async function openPage(url) {
  const page = await context.newPage();
  const problems = [];
  const dialogs = [];
  page.on('console', (msg) => {
    const text = msg.text();
    if (msg.type() === 'error' || /Content Security Policy/i.test(text)) problems.push(`console.${msg.type()}: ${text}`);
  });
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('dialog', async (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    await d.dismiss().catch(() => {});
  });
  await page.goto(url, { waitUntil: 'load', timeout: 10_000 });
  return { page, problems, dialogs };
}

/** Waits (bounded) until some #feed row contains `text` as text; returns that row's details. */
async function waitForRow(page, text, timeout = 5000) {
  try {
    const handle = await page.waitForFunction((t) => {
      const rows = document.querySelectorAll('#feed > .hit');
      for (const r of rows) if (r.textContent.includes(t)) return { seq: r.dataset.seq, text: r.textContent, hidden: r.hidden };
      return null;
    }, text, { timeout, polling: 50 });
    return await handle.jsonValue();
  } catch (e) {
    const paths = await page.$$eval('#feed > .hit .c-path', (cells) => cells.map((c) => c.textContent)).catch(() => []);
    throw new Error(`no #feed row showed ${JSON.stringify(text)} within ${timeout} ms; ` +
      `the feed's paths are ${JSON.stringify(paths)} (${e.message.split('\n')[0]})`);
  }
}

before(async () => {
  assert.ok(fs.existsSync(BIN), `no webpeek binary at ${BIN}: run \`cargo build\` or set WEBPEEK_BIN`);
  assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_BIN`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webpeek-browser-'));
  logFile = path.join(dir, 'access.log');
  fs.writeFileSync(logFile, '');
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(BIN, ['--listen', `127.0.0.1:${port}`, '--no-dns', logFile], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info' },
  });
  const keep = (chunk) => { serverOutput = (serverOutput + chunk).slice(-20_000); };
  server.stdout.on('data', keep);
  server.stderr.on('data', keep);
  server.on('exit', (code, signal) => { serverExit = signal ? `signal ${signal}` : `code ${code}`; });
  server.on('error', (e) => { serverExit = `spawn error: ${e.message}`; });
  await waitHealthy(15_000);

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic'],
    timeout: 15_000,
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(10_000);
});

after(async () => {
  await browser?.close().catch(() => {});
  if (server && !serverExit) {
    server.kill('SIGTERM');
    const gone = await Promise.race([
      new Promise((r) => server.once('exit', () => r(true))),
      sleep(3000).then(() => false),
    ]);
    if (!gone) server.kill('SIGKILL');
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

let dash; // the dashboard page, shared by the tests below (they run in order)

test('dashboard connects and shows a hit appended to the log', { timeout: 30_000 }, async () => {
  dash = await openPage(`${base}/`);
  const { page, problems } = dash;
  await page.waitForFunction(() => document.getElementById('status')?.textContent.trim() === 'connected',
    null, { timeout: 10_000 });

  append(line('203.0.113.7', 'GET /docs/intro.html HTTP/1.1', 200, 512, 'https://example.com/', UA_FIREFOX));
  const row = await waitForRow(page, '/docs/intro.html', 5000);
  assert.match(row.text, /203\.0\.113\.7/, 'the row shows the client address');
  assert.match(row.text, /200/, 'the row shows the status');
  assert.match(row.text, /GET/, 'the row shows the method');
  assert.ok(Number(row.seq) > 0, `the row carries data-seq (got ${row.seq})`);

  // the seed's view shows the first hit at once (later ones at most every 5 s)
  await page.waitForFunction(() => document.getElementById('seed-host')?.textContent === '203.0.113.7',
    null, { timeout: 2000 });
  assert.equal(await page.textContent('#seed-url'), '/docs/intro.html');
  // no --site, so no full URL: the sandboxed preview stays empty
  assert.equal(await page.getAttribute('#preview', 'sandbox'), '');
  assert.equal(await page.getAttribute('#preview', 'src'), null);

  // stats frames come once a second and fill the counters
  await page.waitForFunction(() => Number(document.getElementById('total')?.dataset.value) >= 1,
    null, { timeout: 5000 });
  assert.equal((await page.textContent('#missed')).trim(), '0');

  assert.deepEqual(problems, [], 'no console errors, page errors or CSP violations');
});

test('a path written by an attacker is shown as text, never run as HTML', { timeout: 30_000 }, async () => {
  const { page, problems, dialogs } = dash;
  const evil = '/<img src=x onerror=alert(1)>.html';
  const evil2 = '/x/<svg/onload=alert(2)>.html'; // no spaces in this one
  append(line('203.0.113.7', `GET ${evil2} HTTP/1.1`, 404, 0, '-', '<script>alert(3)</script>'));
  append(line('203.0.113.7', `GET ${evil} HTTP/1.1`, 404, 0, '\\"><img src=x onerror=alert(4)>', UA_FIREFOX)); // Apache writes a " inside a field as \"
  await waitForRow(page, evil2, 5000);
  const row = await waitForRow(page, evil, 5000);
  assert.ok(row.text.includes(evil));
  await sleep(1000);
  assert.equal(await page.locator('#feed img').count(), 0, 'no <img> element was created in #feed');
  assert.equal(await page.locator('img, svg, script:not([src])').count(), 0,
    'no <img>, <svg> or inline <script> element anywhere on the page');
  const pathText = await page.locator('#feed > .hit .c-path').first().textContent();
  assert.equal(pathText, evil, 'the path cell holds the literal text');
  assert.deepEqual(dialogs, [], 'no dialog fired');
  assert.deepEqual(problems, [], 'no console errors, page errors or CSP violations');
});

test('pause buffers new hits, resume flushes them, the filter hides rows', { timeout: 30_000 }, async () => {
  const { page, problems } = dash;
  await page.click('#pause');
  append(line('198.51.100.23', 'GET /paused/page.html HTTP/1.1', 200, 100, '-', UA_CHROME));
  await page.waitForFunction(() => /1/.test(document.getElementById('buffered')?.textContent || ''),
    null, { timeout: 5000 });
  assert.equal(await page.locator('#feed > .hit', { hasText: '/paused/page.html' }).count(), 0,
    'no row is added while paused');
  await page.click('#pause');
  await waitForRow(page, '/paused/page.html', 2000);

  await page.fill('#filter', 'paused');
  const visible = await page.$$eval('#feed > .hit', (rows) => rows.filter((r) => !r.hidden).map((r) => r.textContent));
  assert.equal(visible.length, 1, `one row matches "paused" (got ${visible.length})`);
  assert.ok(visible[0].includes('/paused/page.html'));
  await page.fill('#filter', '');
  const all = await page.$$eval('#feed > .hit', (rows) => rows.filter((r) => !r.hidden).length);
  assert.ok(all >= 3, `all rows are back after clearing the filter (got ${all})`);
  assert.deepEqual(problems, []);
});

test('dashboard screenshot with a few more visitors', { timeout: 30_000 }, async () => {
  const { page, problems } = dash;
  append(
    line('198.51.100.4', 'GET / HTTP/1.1', 200, 9120, 'https://www.google.com/', UA_CHROME),
    line('198.51.100.4', 'GET /pricing HTTP/1.1', 200, 4410, 'https://example.com/', UA_CHROME),
    line('192.0.2.66', 'GET /blog/2026/11/launch.html HTTP/1.1', 200, 18230, 'https://news.ycombinator.com/', UA_IPHONE),
    line('66.249.66.1', 'GET /docs/ HTTP/1.1', 200, 7400, '-', UA_BOT),
    line('203.0.113.40', 'GET /search?q=websocket HTTP/1.1', 200, 2100, 'https://example.com/docs/', UA_FIREFOX),
    line('203.0.113.41', 'GET /old-page.html HTTP/1.1', 301, 0, '-', UA_CHROME),
    line('203.0.113.42', 'GET /docs/missing.html HTTP/1.1', 404, 512, 'https://example.com/', UA_IPHONE),
    line('203.0.113.43', 'GET /checkout/ HTTP/1.1', 500, 0, 'https://example.com/pricing', UA_FIREFOX),
    line('203.0.113.44', 'GET /docs/install.html HTTP/1.1', 200, 6120, 'https://lobste.rs/', UA_CHROME),
  );
  await waitForRow(page, '/docs/install.html', 5000);
  await sleep(1500); // one more stats frame for the counters, bars and top lists
  await page.evaluate(() => document.activeElement?.blur());
  fs.mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, 'dashboard.png') });
  assert.ok(fs.statSync(path.join(OUT, 'dashboard.png')).size > 10_000);

  // phone width: everything fits, nothing scrolls sideways
  await page.setViewportSize({ width: 390, height: 844 });
  await sleep(200);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  await page.screenshot({ path: path.join(OUT, 'dashboard-phone.png') });
  await page.setViewportSize({ width: 1280, height: 800 });
  assert.ok(overflow <= 390, `the page is no wider than a phone screen (scrollWidth ${overflow})`);
  assert.deepEqual(problems, []);
});

test('countdown reaches BOOM! and echo echoes', { timeout: 30_000 }, async () => {
  const cd = await openPage(`${base}/countdown`);
  await cd.page.waitForFunction(() => document.getElementById('count')?.textContent.trim() === 'BOOM!',
    null, { timeout: 15_000, polling: 50 });
  await cd.page.waitForFunction(() => /closed/.test(document.getElementById('state')?.textContent || ''),
    null, { timeout: 5000 });
  const ticks = await cd.page.$$eval('#ticks > span', (s) => s.map((x) => x.textContent.split(' ')[0]));
  assert.deepEqual(ticks, ['10', '9', '8', '7', '6', '5', '4', '3', '2', '1', '0', 'BOOM!']);
  assert.deepEqual(cd.problems, []);
  await cd.page.close();

  const echo = await openPage(`${base}/echo`);
  assert.match(await echo.page.textContent('#support'), /yes/);
  await echo.page.waitForFunction(() => document.getElementById('state')?.textContent.trim() === 'connected',
    null, { timeout: 5000 });
  const msg = `hello <b>webpeek</b> ${Date.now()}`;
  await echo.page.fill('#msg', msg);
  await echo.page.click('#send');
  await echo.page.waitForFunction((m) => [...document.querySelectorAll('#log .recv .body')].some((e) => e.textContent === m),
    msg, { timeout: 5000 });
  assert.equal(await echo.page.locator('#log b').count(), 0, 'the echoed text is not parsed as HTML');
  assert.deepEqual(echo.problems, []);
  await echo.page.close();
});
