// End-to-end test of webpeek behind a real nginx under a path prefix, in a real browser.
//
// In a temp dir: webpeek serving /webpeek/ with a token file and --trust-proxy 127.0.0.1/32,
// following the access log of an nginx (a child process with its own config, as
// tests/common/nginx.rs runs it) that proxies /webpeek/ to it with the README's snippet
// (tests/proxy.rs, `nginx_snippet`) and answers everything else itself. Debian's Chromium,
// driven by playwright-core, signs in through nginx, watches requests to the site appear
// live, and checks the viewer's own requests do not. Every wait is bounded.
//
//   cd tests/browser && npm ci && WEBPEEK_BIN=/path/to/webpeek node --test
//
// WEBPEEK_BIN defaults to ../../target/debug/webpeek; CHROMIUM_BIN to /usr/bin/chromium;
// NGINX_BIN to /usr/sbin/nginx.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = process.env.WEBPEEK_BIN || path.resolve(here, '../../target/debug/webpeek');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const NGINX = process.env.NGINX_BIN || '/usr/sbin/nginx';
const OUT = path.join(here, 'out');
const TOKEN = `proxy-${crypto.randomBytes(12).toString('hex')}`;
const OTHER = '127.0.0.2'; // a visitor of the site; the browser (the viewer) comes from 127.0.0.1

let dir, wpPort, ngPort, dash, server, nginx, browser, context;
let serverOutput = '', nginxOutput = '';
let serverExit = null, nginxExit = null;

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

/** What webpeek and nginx said, for failure messages. */
function diag() {
  let errorLog = '';
  try { errorLog = fs.readFileSync(path.join(dir, 'error.log'), 'utf8').slice(-10_000); } catch { errorLog = '(none)'; }
  return `\n--- webpeek (${serverExit || 'running'}) ---\n${serverOutput}` +
    `\n--- nginx (${nginxExit || 'running'}) error.log ---\n${errorLog}${nginxOutput}`;
}

/** Runs a test body; a failure carries webpeek's output and nginx's error log. */
const withDiag = (fn) => async () => {
  try { await fn(); } catch (e) { throw new Error(`${e.message}${diag()}`, { cause: e }); }
};

async function waitHealthy(deadlineMs) {
  const end = Date.now() + deadlineMs;
  let last = 'no answer';
  while (Date.now() < end) {
    if (serverExit) throw new Error(`webpeek exited early (${serverExit})`);
    try {
      const res = await fetch(`http://127.0.0.1:${wpPort}/webpeek/healthz`, { signal: AbortSignal.timeout(1000) });
      const body = (await res.text()).trim();
      if (res.ok && body === 'ok') return;
      last = `${res.status} ${JSON.stringify(body.slice(0, 80))}`;
    } catch (e) {
      last = String(e.cause?.code || e.message);
    }
    await sleep(100);
  }
  throw new Error(`webpeek did not answer "ok" on /webpeek/healthz within ${deadlineMs} ms (last: ${last})`);
}

async function waitNginx(deadlineMs) {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (nginxExit) throw new Error(`nginx exited at start (${nginxExit})`);
    const up = await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: ngPort }, () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
      s.setTimeout(500, () => { s.destroy(); resolve(false); });
    });
    if (up) return;
    await sleep(50);
  }
  throw new Error(`nginx did not listen on 127.0.0.1:${ngPort} within ${deadlineMs} ms`);
}

/** A GET to the site behind nginx, from the loopback address `from`; resolves to the status. */
function visit(from, urlPath) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: ngPort, path: urlPath, localAddress: from, agent: false,
      headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.setTimeout(3000, () => req.destroy(new Error(`GET ${urlPath} from ${from}: no answer in 3 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** A page in `ctx` with its console errors, page errors and CSP violations recorded. */
async function openPage(ctx, url) {
  const page = await ctx.newPage();
  const problems = [];
  page.on('console', (msg) => {
    const text = msg.text();
    if (msg.type() === 'error' || /Content Security Policy/i.test(text)) problems.push(`console.${msg.type()} on ${page.url()}: ${text}`);
  });
  page.on('pageerror', (err) => problems.push(`pageerror on ${page.url()}: ${err.message}`));
  const response = await page.goto(url, { waitUntil: 'load', timeout: 10_000 });
  return { page, problems, response };
}

async function waitConnected(page, timeout = 10_000) {
  try {
    await page.waitForFunction(() => document.getElementById('status')?.textContent.trim() === 'connected',
      null, { timeout });
  } catch (e) {
    const status = await page.textContent('#status').catch(() => '(no #status)');
    throw new Error(`#status did not reach "connected" within ${timeout} ms on ${page.url()} (it says ${JSON.stringify(status)})`);
  }
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
    throw new Error(`no #feed row showed ${JSON.stringify(text)} within ${timeout} ms; ` +
      `the feed's paths are ${JSON.stringify(await feedPaths(page))} (${e.message.split('\n')[0]})`);
  }
}

const feedPaths = (page) => page.$$eval('#feed > .hit .c-path', (cells) => cells.map((c) => c.textContent)).catch(() => []);

/** Fills the sign-in form and submits it; resolves to the POST's status once the answer has loaded. */
async function submitToken(page, token) {
  await page.fill('input[name="token"]', token);
  const [posted] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST', { timeout: 5000 }),
    page.click('form button[type="submit"]'),
  ]);
  await page.waitForLoadState('load', { timeout: 5000 });
  return posted.status();
}

before(async () => {
  assert.ok(fs.existsSync(BIN), `no webpeek binary at ${BIN}: run \`cargo build\` or set WEBPEEK_BIN`);
  assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_BIN`);
  assert.ok(fs.existsSync(NGINX), `no nginx at ${NGINX}: apt-get install nginx-light, or set NGINX_BIN`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webpeek-proxy-'));
  const logFile = path.join(dir, 'access.log');
  fs.writeFileSync(logFile, '');
  const tokenFile = path.join(dir, 'token');
  fs.writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  fs.chmodSync(tokenFile, 0o600);

  wpPort = await freePort();
  server = spawn(BIN, ['--listen', `127.0.0.1:${wpPort}`, '--no-dns', '--poll-interval', '0.2',
    '--base-path', '/webpeek/', '--trust-proxy', '127.0.0.1/32', '--token-file', tokenFile, logFile], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WEBPEEK_LOG: process.env.WEBPEEK_LOG || 'webpeek=debug' },
  });
  const keep = (chunk) => { serverOutput = (serverOutput + chunk).slice(-20_000); };
  server.stdout.on('data', keep);
  server.stderr.on('data', keep);
  server.on('exit', (code, signal) => { serverExit = signal ? `signal ${signal}` : `code ${code}`; });
  server.on('error', (e) => { serverExit = `spawn error: ${e.message}`; });
  await withDiag(() => waitHealthy(15_000))();

  // The shape of tests/common/nginx.rs, the server body of tests/proxy.rs's nginx_snippet.
  ngPort = await freePort();
  fs.mkdirSync(path.join(dir, 'tmp'));
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(conf, `daemon off;
master_process on;
worker_processes 1;
user root;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 64; }
http {
  access_log ${dir}/access.log combined;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  server {
    listen 127.0.0.1:${ngPort};
    location = /webpeek { return 301 /webpeek/; }
    location /webpeek/ {
        proxy_pass http://127.0.0.1:${wpPort};
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_read_timeout 1h;
        proxy_buffering off;
    }
    location / { return 200 "the site\\n"; }
  }
}
`);
  nginx = spawn(NGINX, ['-c', conf, '-p', `${dir}/`, '-e', path.join(dir, 'error.log')], {
    cwd: dir, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keepNginx = (chunk) => { nginxOutput = (nginxOutput + chunk).slice(-5_000); };
  nginx.stdout.on('data', keepNginx);
  nginx.stderr.on('data', keepNginx);
  nginx.on('exit', (code, signal) => { nginxExit = signal ? `signal ${signal}` : `code ${code}`; });
  nginx.on('error', (e) => { nginxExit = `spawn error: ${e.message}`; });
  await withDiag(() => waitNginx(10_000))();

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic'],
    timeout: 15_000,
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(10_000);
});

async function stop(child, exited) {
  if (!child || exited()) return;
  const gone = new Promise((r) => child.once('exit', () => r(true)));
  child.kill('SIGTERM');
  if (!await Promise.race([gone, sleep(5000).then(() => false)])) {
    child.kill('SIGKILL');
    await Promise.race([gone, sleep(2000)]);
  }
}

after(async () => {
  await browser?.close().catch(() => {});
  await stop(nginx, () => nginxExit);
  await stop(server, () => serverExit);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const dashUrl = () => `http://127.0.0.1:${ngPort}/webpeek/`;

test('the sign-in page through nginx refuses a wrong token', { timeout: 30_000 }, withDiag(async () => {
  dash = await openPage(context, dashUrl());
  const { page, response } = dash;
  assert.equal(response.status(), 401, 'not signed in: the sign-in page, 401');
  assert.match(await page.title(), /sign in/i);
  assert.equal(await page.locator('form input[name="token"]').count(), 1, 'a token input');
  assert.equal(await page.locator('form button[type="submit"]').count(), 1, 'a submit button');
  await page.evaluate(() => document.activeElement?.blur());
  fs.mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, 'proxy-signin.png') });

  assert.equal(await submitToken(page, 'not-the-token'), 401);
  await page.waitForFunction(() => document.getElementById('message')?.textContent.trim() === 'That token is not right.',
    null, { timeout: 5000 });
  assert.equal(page.url(), dashUrl());
  const cookies = await context.cookies();
  assert.deepEqual(cookies.filter((c) => c.name === 'webpeek_token'), [], 'no cookie after a wrong token');
}));

test('the right token signs in and the dashboard connects through nginx', { timeout: 30_000 }, withDiag(async () => {
  const { page } = dash;
  assert.equal(await submitToken(page, TOKEN), 303, 'a right token answers with a redirect');
  assert.equal(page.url(), dashUrl(), 'back on /webpeek/, no query string');
  dash.problems.length = 0; // from here on, the dashboard's own page
  await waitConnected(page);
  assert.doesNotMatch(await page.title(), /sign in/i);
  const cookie = (await context.cookies()).find((c) => c.name === 'webpeek_token');
  assert.ok(cookie, `the webpeek_token cookie is set (cookies: ${JSON.stringify(await context.cookies())})`);
  assert.equal(cookie.path, '/webpeek/');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(cookie.secure, false, 'plain http through the proxy: not Secure');
  assert.ok(!cookie.value.includes(TOKEN), 'the cookie holds a session, not the token');
  assert.deepEqual(dash.problems, [], 'no console errors, page errors or CSP violations');
}));

test('visits to the site behind nginx appear live, the viewer\'s own do not', { timeout: 30_000 }, withDiag(async () => {
  const { page, problems } = dash;
  // The viewer's own first: it is in the log before the others, so it has been read by the
  // time they show.
  assert.equal(await visit('127.0.0.1', '/mine.html'), 200);
  assert.equal(await visit(OTHER, '/launch.html'), 200);
  assert.equal(await visit(OTHER, '/pricing/'), 200);
  const launch = await waitForRow(page, '/launch.html', 5000);
  assert.match(launch.text, /127\.0\.0\.2/, 'the row shows the visitor\'s address');
  assert.match(launch.text, /200/);
  await waitForRow(page, '/pricing/', 5000);
  await sleep(1000);
  const paths = await feedPaths(page);
  assert.ok(!paths.some((p) => p.includes('/mine.html')), `the viewer's own visit is not shown (feed: ${JSON.stringify(paths)})`);
  await sleep(500); // let a stats frame fill the counters
  await page.evaluate(() => document.activeElement?.blur());
  fs.mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, 'proxy-dashboard.png') });
  assert.deepEqual(problems, [], 'no console errors, page errors or CSP violations');
}));

test('a link with ?token= signs a new browser in and drops the token from the address', { timeout: 30_000 }, withDiag(async () => {
  const fresh = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    fresh.setDefaultTimeout(10_000);
    const { page, problems, response } = await openPage(fresh, `${dashUrl()}?token=${encodeURIComponent(TOKEN)}`);
    assert.equal(response.status(), 200);
    assert.equal(page.url(), dashUrl(), 'the final address is /webpeek/');
    assert.ok(!page.url().includes('token'));
    await waitConnected(page);
    assert.doesNotMatch(await page.title(), /sign in/i);
    const cookie = (await fresh.cookies()).find((c) => c.name === 'webpeek_token');
    assert.ok(cookie && cookie.path === '/webpeek/', `a session cookie for /webpeek/ (${JSON.stringify(cookie)})`);
    await waitForRow(page, '/launch.html', 5000); // the backlog comes through the proxy too
    assert.deepEqual(problems, [], 'no console errors, page errors or CSP violations');
  } finally {
    await fresh.close().catch(() => {});
  }
}));

test('a reload keeps the sign-in', { timeout: 30_000 }, withDiag(async () => {
  const { page, problems } = dash;
  const response = await page.reload({ waitUntil: 'load', timeout: 10_000 });
  assert.equal(response.status(), 200, 'the cookie lets the dashboard in');
  assert.equal(page.url(), dashUrl());
  assert.doesNotMatch(await page.title(), /sign in/i);
  await waitConnected(page);
  await waitForRow(page, '/pricing/', 5000);
  assert.deepEqual(problems, [], 'no console errors, page errors or CSP violations');
}));
