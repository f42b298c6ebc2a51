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
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  BIN, CHROMIUM, OUT, UA_FIREFOX, UA_CHROME, UA_IPHONE, UA_BOT, line, lineAt, sleep, freePort,
  startWebpeek, stopWebpeek, launchChromium, openPage as openPageIn, waitForRow, waitConnected,
} from './helpers.mjs';

let dir, logFile, base, server, browser, context;

function append(...lines) {
  fs.appendFileSync(logFile, lines.join(''));
}

/** A page (in the shared context unless told) with its console errors, page errors, CSP violations and dialogs recorded. */
function openPage(url, ctx = context) {
  return openPageIn(url, ctx);
}

before(async () => {
  assert.ok(fs.existsSync(BIN), `no webpeek binary at ${BIN}: run \`cargo build\` or set WEBPEEK_BIN`);
  assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_BIN`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webpeek-browser-'));
  logFile = path.join(dir, 'access.log');
  fs.writeFileSync(logFile, '');
  server = await startWebpeek(['--no-dns', logFile], dir);
  base = server.base;

  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(10_000);
});

after(async () => {
  await browser?.close().catch(() => {});
  await stopWebpeek(server);
  await stopWebpeek(charts?.server);
  await stopWebpeek(quiet?.server);
  if (quiet?.dir) fs.rmSync(quiet.dir, { recursive: true, force: true });
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
  // Chromium offered permessage-deflate and the server took it: every frame above came
  // compressed, and the page read them.
  const ws = dash.sockets.find((s) => s.url?.endsWith('/ws'));
  assert.ok(ws, `the /ws handshake was seen (${JSON.stringify(dash.sockets)})`);
  assert.equal(ws.status, 101);
  assert.equal(ws.headers['sec-websocket-extensions'], 'permessage-deflate; server_no_context_takeover');
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
  // hello's site is null: the note says how to get previews; the frame is out of the tab order
  assert.equal((await page.textContent('#preview-note')).trim(),
    'No preview yet. Previews need full URLs: start webpeek with --site https://your.site.');
  assert.equal(await page.getAttribute('#preview', 'tabindex'), '-1');

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

test('on a phone an IPv4 address shows whole; a long IPv6 one is cut, whole in its title', { timeout: 30_000 }, async () => {
  const { page, problems } = dash;
  const v6 = '2001:db8:85a3:8d3:1319:8a2e:370:7348';
  append(
    line('198.51.100.234', 'GET /wide/v4.html HTTP/1.1', 200, 100, '-', UA_IPHONE),
    line(v6, 'GET /wide/v6.html HTTP/1.1', 200, 100, '-', UA_IPHONE),
  );
  await waitForRow(page, '/wide/v6.html');
  const cells = async () => page.$$eval('#feed > .hit', (rows) => rows
    .filter((r) => /\/wide\//.test(r.textContent))
    .map((r) => {
      const c = r.querySelector('.c-host');
      return { ip: r.dataset.ip, text: c.textContent, title: c.title, cut: c.scrollWidth > c.clientWidth, overflow: getComputedStyle(c).textOverflow };
    }));
  try {
    for (const width of [390, 360, 600, 900]) {
      await page.setViewportSize({ width, height: 844 });
      await sleep(200);
      const got = await cells();
      const v4cell = got.find((c) => c.ip === '198.51.100.234');
      assert.equal(v4cell.text, '198.51.100.234');
      assert.equal(v4cell.cut, false, `${width} px: the IPv4 address fits its column whole`);
      const v6cell = got.find((c) => c.ip === v6);
      assert.equal(v6cell.title, v6, 'the IPv6 row has the whole address in its title');
      assert.equal(v6cell.overflow, 'ellipsis', 'a cut address ends with an ellipsis');
      if (width === 390) {
        assert.equal(v6cell.cut, true, 'the long IPv6 address is cut on a phone');
        await page.locator('.feed-scroll').screenshot({ path: path.join(OUT, 'feed-phone-ip.png') });
      }
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(overflow <= width, `${width} px: nothing scrolls sideways (scrollWidth ${overflow})`);
    }
  } finally {
    await page.setViewportSize({ width: 1280, height: 800 });
  }
  assert.deepEqual(problems, []);
});

test('the top counters explain themselves in tooltips', { timeout: 10_000 }, async () => {
  const { page } = dash;
  const titles = await page.$$eval('.counters > div', (ds) => Object.fromEntries(ds.map((d) => [d.querySelector('dt').textContent, d.title])));
  assert.match(titles.addresses, /distinct client addresses/);
  assert.match(titles.shown, /passed the filter/);
  assert.match(titles.shown, /page views.*--all/);
  assert.match(titles.unparsed, /matched no log format/);
  assert.match(titles.unparsed, /webpeek report --detect FILE/);
  assert.match(titles.unparsed, /--format/);
  assert.match(titles.missed, /did not get because it fell behind/);
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

// ---------- the charts: whole from the `history` message, then live from `stats` ----------

let charts; // { server, dir, log, context, page, problems }

/** Runs before the page's own script: withholds `stats` frames while window.__holdStats is true. */
function holdStatsFrames() {
  window.__holdStats = true;
  const Native = window.WebSocket;
  class Held extends Native {
    set onmessage(fn) {
      super.onmessage = (ev) => {
        if (window.__holdStats && typeof ev.data === 'string') {
          try { if (JSON.parse(ev.data).type === 'stats') return; } catch { /* let the page see it */ }
        }
        fn.call(this, ev);
      };
    }
  }
  window.WebSocket = Held;
}

/**
 * Reads back a chart canvas: of its plot area (the canvas's data-plot, in CSS pixels), the
 * share of pixels painted (alpha >= 128; grid lines are fainter), the pixel columns and the
 * separate runs of columns (bars) holding any, the share of painted pixels in the plot's right
 * 5 %, and which status-class colours (the page's --s2 … --s5) appear.
 */
function readChart(page, id) {
  return page.evaluate((id) => {
    const c = document.getElementById(id);
    if (!c || !c.dataset.plot || !c.width) return null;
    const k = c.width / c.clientWidth;
    const [l, t, w, h] = c.dataset.plot.split(',').map((v) => Math.round(Number(v) * k));
    const data = c.getContext('2d').getImageData(l, t, w, h).data;
    const probe = document.createElement('canvas').getContext('2d');
    const rgb = (name) => {
      probe.fillStyle = '#000';
      probe.fillStyle = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
      const hex = probe.fillStyle; // normalized to #rrggbb
      return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    };
    const classes = { '2xx': rgb('--s2'), '3xx': rgb('--s3'), '4xx': rgb('--s4'), '5xx': rgb('--s5') };
    const seen = { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 };
    let painted = 0, rightPainted = 0;
    const cols = new Array(w).fill(false);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = (y * w + x) * 4;
        if (data[i + 3] < 128) continue;
        painted++;
        cols[x] = true;
        if (x >= w * 0.95) rightPainted++;
        for (const [name, [r, g, b]] of Object.entries(classes)) {
          if (Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) <= 12) seen[name]++;
        }
      }
    }
    let runs = 0;
    cols.forEach((on, x) => { if (on && (x === 0 || !cols[x - 1])) runs++; });
    return {
      share: painted / (w * h), columns: cols.filter(Boolean).length, runs,
      rightShare: rightPainted / (Math.ceil(w * 0.05) * h),
      colours: Object.keys(seen).filter((n) => seen[n] >= 3), size: [w, h],
    };
  }, id);
}

/** Waits (bounded) until both charts read back as drawn with traffic; returns both readings. */
async function waitForCharts(page, ok, what, timeout = 3000) {
  const end = Date.now() + timeout;
  let sec, min;
  while (Date.now() < end) {
    sec = await readChart(page, 'chart');
    min = await readChart(page, 'chart-min');
    if (sec && min && ok(sec, min)) return { sec, min };
    await sleep(50);
  }
  throw new Error(`the charts did not show ${what} within ${timeout} ms: ` +
    `per second ${JSON.stringify(sec)}, per minute ${JSON.stringify(min)}`);
}

function assertChartsFull({ sec, min }, where) {
  assert.ok(sec.share >= 0.1, `${where}: the per-second chart's plot is painted (share ${sec.share.toFixed(3)})`);
  assert.ok(min.share >= 0.1, `${where}: the per-minute chart's plot is painted (share ${min.share.toFixed(3)})`);
  assert.ok(min.columns >= 8, `${where}: the per-minute chart has colour in >= 8 columns (${min.columns})`);
  assert.ok(min.runs >= 8, `${where}: the per-minute chart shows >= 8 separate minute bars (${min.runs})`);
  for (const r of [sec, min]) {
    for (const cls of ['2xx', '4xx', '5xx']) {
      assert.ok(r.colours.includes(cls), `${where}: ${cls} is drawn in its colour (seen: ${r.colours})`);
    }
  }
}

test('the charts are whole from the history message, before any stats frame', { timeout: 40_000 }, async () => {
  // The last ten minutes of traffic, ending 20 s ago: 400 lines, some 301, 404 and 500.
  const cdir = fs.mkdtempSync(path.join(os.tmpdir(), 'webpeek-charts-'));
  const log = path.join(cdir, 'access.log');
  const now = Date.now();
  const agents = [UA_FIREFOX, UA_CHROME, UA_IPHONE, UA_BOT];
  const lines = [];
  for (let i = 0; i < 400; i++) {
    const when = new Date(now - 600_000 + (i * 580_000) / 400);
    const status = i % 23 === 5 ? 500 : i % 9 === 2 ? 404 : i % 13 === 4 ? 301 : 200;
    const ip = `198.51.100.${(i * 7) % 250 + 1}`;
    lines.push(lineAt(when, ip, `GET /page/${i % 37}.html HTTP/1.1`, status, 1000 + i, '-', agents[i % 4]));
  }
  fs.writeFileSync(log, lines.join(''));
  charts = { dir: cdir, log };
  charts.server = await startWebpeek(['--from-start', '--no-dns', '--all', log], cdir);
  charts.context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
  charts.context.setDefaultTimeout(10_000);
  await charts.context.addInitScript(holdStatsFrames);
  Object.assign(charts, await openPage(`${charts.server.base}/`, charts.context));
  const { page, problems } = charts;

  await page.waitForFunction(() => document.getElementById('status')?.textContent.trim() === 'connected',
    null, { timeout: 10_000 });
  const got = await waitForCharts(page, (s, m) => s.share > 0 && m.runs >= 8, 'the history', 2000);
  assert.equal(await page.getAttribute('#total', 'data-value'), null, 'no stats frame reached the page yet');
  assertChartsFull(got, 'from history alone');
  assert.equal(got.sec.rightShare, 0, 'the last 20 s (no traffic yet) are empty in the per-second chart');
  assert.match(await page.textContent('#chart-now'), /\/s$/, 'the per-second chart shows a current value');
  assert.match(await page.textContent('#chart-min-now'), /\/min$/, 'the per-minute chart shows a current value');
  assert.deepEqual(problems, [], 'no console errors, page errors or CSP violations');
});

test('stats frames put the rate in the title and extend the charts live', { timeout: 30_000 }, async () => {
  const { page, problems, log } = charts;
  assert.equal(await page.title(), 'webpeek', 'no rate in the title before a stats frame');
  await page.evaluate(() => { window.__holdStats = false; });
  await page.waitForFunction(() => /req\/s/.test(document.title), null, { timeout: 5000 });
  assert.match(await page.title(), /^webpeek · \d+(\.\d)? req\/s$/);

  // Live traffic now (after the first stats frame set the baseline), 3 lines a second for
  // 4 s, reaches the empty right edge of the per-second chart.
  for (let s = 0; s < 4; s++) {
    fs.appendFileSync(log, [0, 1, 2].map((i) => line('203.0.113.9', `GET /live/${s}/${i} HTTP/1.1`,
      i === 2 && s % 2 ? 500 : 200, 10, '-', UA_CHROME)).join(''));
    await sleep(1000);
  }
  const got = await waitForCharts(page, (s) => s.rightShare > 0.05, 'the live traffic at the right edge', 4000);
  assert.ok(Number(await page.getAttribute('#total', 'data-value')) >= 412, 'the counters took the live lines');
  await page.evaluate(() => document.activeElement?.blur());
  fs.mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, 'charts-light.png') });
  assertChartsFull(got, 'history and live');
  assert.deepEqual(problems, []);
});

test('the charts are readable in the dark theme and on a phone', { timeout: 30_000 }, async () => {
  const { page, problems } = charts;
  const light = await readChart(page, 'chart-min');
  await page.emulateMedia({ colorScheme: 'dark' });
  // redrawn at once in the dark theme's colours (the colour test reads the page's variables)
  const dark = await waitForCharts(page, (s, m) => m.colours.includes('2xx') && s.colours.includes('2xx'), 'the dark colours');
  await page.screenshot({ path: path.join(OUT, 'charts-dark.png') });
  assertChartsFull(dark, 'dark theme');
  assert.ok(light.colours.includes('2xx'));

  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 390, height: 844 });
  // both charts in view, below the sticky top bar
  await page.evaluate(() => {
    const top = document.getElementById('chart').closest('section').getBoundingClientRect().top;
    window.scrollBy(0, top - document.querySelector('.topbar').getBoundingClientRect().height - 8);
  });
  const phone = await waitForCharts(page, (s, m) => s.size[0] < 400 && m.runs >= 8, 'a redraw at phone width');
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  await page.screenshot({ path: path.join(OUT, 'charts-phone.png') });
  assertChartsFull(phone, 'phone');
  assert.ok(width <= 390, `nothing scrolls sideways on a 390 px phone (scrollWidth ${width})`);
  assert.deepEqual(problems, []);
});

test('hits from long ago (a replay, a catch-up) go to their own minute, not to the rate', { timeout: 30_000 }, async () => {
  const { page, problems, log } = charts;
  const before = Number(await page.getAttribute('#total', 'data-value'));
  // 300 requests stamped two hours ago arrive at once, as a JetStream replay brings them.
  const long = Date.now() - 2 * 3600_000;
  fs.appendFileSync(log, Array.from({ length: 300 }, (_, i) => lineAt(new Date(long + i * 100),
    '198.51.100.77', `GET /replayed/${i}.html HTTP/1.1`, 200, 10, '-', UA_CHROME)).join(''));
  await page.waitForFunction((n) => Number(document.getElementById('total')?.dataset.value) >= n,
    before + 300, { timeout: 5000 });
  // One more stats frame, so the rate has taken the arrivals if it were going to.
  await sleep(1200);
  const rate = parseFloat(await page.textContent('#chart-now'));
  const perMinute = await page.textContent('#chart-min-now');
  const minute = parseFloat(perMinute) * (/k/.test(perMinute) ? 1000 : 1);
  assert.ok(rate < 20, `the rate is of requests of now, not of the 300 replayed (${rate}/s)`);
  assert.ok(minute < 100, `the last minute holds the requests of now, not the replayed (${perMinute})`);
  assert.deepEqual(problems, []);
  await charts.context.close();
  await stopWebpeek(charts.server);
  fs.rmSync(charts.dir, { recursive: true, force: true });
});

// ---------- an empty feed that says why, and a server that stops and comes back ----------

let quiet; // { dir, log, port, server, context, page, problems }

/** Runs before the page's script: keeps the page's sockets in window.__sockets, for a test to close. */
function keepSockets() {
  window.__sockets = [];
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      window.__sockets.push(this);
    }
  };
}

/** The page's problems, less what a server that is down makes Chromium log (refused connections). */
function realProblems(problems) {
  return problems.filter((p) => !/ERR_CONNECTION_REFUSED|WebSocket connection to .* failed|Failed to load resource/.test(p));
}

test('an empty feed says how many requests were read and why none is shown', { timeout: 40_000 }, async () => {
  const qdir = fs.mkdtempSync(path.join(os.tmpdir(), 'webpeek-quiet-'));
  const log = path.join(qdir, 'access.log');
  fs.writeFileSync(log, '');
  quiet = { dir: qdir, log, port: await freePort() };
  quiet.server = await startWebpeek(['--no-dns', log], qdir, quiet.port);
  quiet.context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  quiet.context.setDefaultTimeout(10_000);
  await quiet.context.addInitScript(keepSockets);
  Object.assign(quiet, await openPage(`${quiet.server.base}/`, quiet.context));
  const { page, problems } = quiet;
  await waitConnected(page);
  await page.waitForFunction(() => document.getElementById('total')?.dataset.value === '0', null, { timeout: 5000 });
  const empty = () => page.textContent('#feed-empty');
  assert.match(await empty(), /^Waiting for hits… new page views appear here/, 'nothing read: waiting');

  // a line in no format webpeek knows
  fs.appendFileSync(log, 'this is not an access log line\n');
  await page.waitForFunction(() => /^1 line read, none in a log format webpeek knows/.test(document.getElementById('feed-empty').textContent),
    null, { timeout: 5000 });
  assert.match(await empty(), /webpeek report --detect FILE/);

  // what the default filter leaves out: an asset, a POST, and a page view from this dashboard's own address
  fs.appendFileSync(log, [
    line('203.0.113.5', 'GET /assets/site.css HTTP/1.1', 200, 100, '-', UA_FIREFOX),
    line('203.0.113.5', 'POST /login HTTP/1.1', 302, 0, '-', UA_FIREFOX),
    line('127.0.0.1', 'GET / HTTP/1.1', 200, 100, '-', 'curl/8.5.0'),
  ].join(''));
  await page.waitForFunction(() => /^3 requests read, none shown yet: /.test(document.getElementById('feed-empty').textContent),
    null, { timeout: 5000 });
  const text = await empty();
  assert.match(text, /page views \(GET of pages, not of assets\)/);
  assert.match(text, /anyone with this dashboard open/);
  assert.match(text, /Start webpeek with --all to see every request\.$/);
  assert.equal(await page.locator('#feed-empty code').textContent(), '--all', 'the option is set as code, built as DOM');
  assert.equal(await page.locator('#feed > tr').count(), 0);
  await page.evaluate(() => document.activeElement?.blur());
  fs.mkdirSync(OUT, { recursive: true });
  await page.locator('.feed-panel').screenshot({ path: path.join(OUT, 'feed-empty-explained.png') });

  // the count follows
  fs.appendFileSync(log, line('203.0.113.5', 'GET /img/logo.png HTTP/1.1', 200, 100, '-', UA_FIREFOX));
  await page.waitForFunction(() => /^4 requests read, none shown yet/.test(document.getElementById('feed-empty').textContent),
    null, { timeout: 5000 });

  // a page view from elsewhere: a row, and the note goes
  fs.appendFileSync(log, line('203.0.113.6', 'GET /hello.html HTTP/1.1', 200, 100, '-', UA_CHROME));
  await waitForRow(page, '/hello.html');
  assert.equal(await page.isHidden('#feed-empty'), true);
  assert.deepEqual(problems, []);
});

test('a stopped server does not look live; its restart is marked in the feed', { timeout: 60_000 }, async () => {
  const { page, problems, log, dir: qdir } = quiet;
  await page.waitForFunction(() => /^webpeek · \d+(\.\d)? req\/s$/.test(document.title), null, { timeout: 5000 });
  assert.equal(await page.evaluate(() => document.body.classList.contains('stale')), false);
  const live = await page.$eval('#rate', (e) => Number(getComputedStyle(e).opacity));
  assert.equal(live, 1);

  await stopWebpeek(quiet.server);
  await page.waitForFunction(() => document.title === 'webpeek · reconnecting', null, { timeout: 5000 });
  assert.equal(await page.evaluate(() => document.body.classList.contains('stale')), true, 'the body is marked stale');
  assert.equal((await page.textContent('#status')).trim(), 'reconnecting');
  for (const sel of ['#rate', '#total', '#shown', '#chart-now', '#chart-min-now']) {
    const o = await page.$eval(sel, (e) => Number(getComputedStyle(e).opacity));
    assert.ok(o < 0.7, `${sel} is greyed while reconnecting (opacity ${o})`);
  }
  // a few seconds down: the title stays as it is, the numbers greyed
  await sleep(2500);
  assert.equal(await page.title(), 'webpeek · reconnecting');
  await page.evaluate(() => document.activeElement?.blur());
  await page.screenshot({ path: path.join(OUT, 'dashboard-reconnecting.png') });

  // back, as a new run on the same address
  quiet.server = await startWebpeek(['--no-dns', log], qdir, quiet.port);
  await waitConnected(page, 15_000);
  await page.waitForFunction(() => !document.body.classList.contains('stale') && /req\/s$/.test(document.title),
    null, { timeout: 5000 });
  assert.equal(await page.$eval('#rate', (e) => Number(getComputedStyle(e).opacity)), 1, 'the numbers are live again');
  let rows = await page.$$eval('#feed > tr', (rs) => rs.map((r) => [r.className, r.textContent]));
  assert.equal(rows.length, 2, `the old row and a note (${JSON.stringify(rows)})`);
  assert.equal(rows[0][0], 'note');
  assert.match(rows[0][1], /^webpeek restarted/);
  assert.match(rows[1][1], /\/hello\.html/);
  assert.equal(await page.$eval('#feed > tr.note td', (td) => td.colSpan), 7, 'the note spans the table');
  assert.equal(await page.textContent('#feed-count'), '(1)', 'the note is not counted as a hit');

  // the new run's hits go above the note
  fs.appendFileSync(log, line('203.0.113.7', 'GET /after-restart.html HTTP/1.1', 200, 100, '-', UA_CHROME));
  await waitForRow(page, '/after-restart.html');
  rows = await page.$$eval('#feed > tr', (rs) => rs.map((r) => r.className.split(' ')[0]));
  assert.deepEqual(rows, ['hit', 'note', 'hit']);
  await page.evaluate(() => document.activeElement?.blur());
  await page.locator('.feed-panel').screenshot({ path: path.join(OUT, 'feed-restarted.png') });

  // a reconnection to the same run is no restart: no second note
  await page.evaluate(() => { for (const s of window.__sockets) s.close(); });
  await page.waitForFunction(() => document.body.classList.contains('stale'), null, { timeout: 2000, polling: 10 });
  await waitConnected(page, 10_000);
  await page.waitForFunction(() => !document.body.classList.contains('stale'), null, { timeout: 5000 });
  assert.equal(await page.locator('#feed > tr.note').count(), 1);
  assert.deepEqual(realProblems(problems), []);
  await quiet.context.close();
});
