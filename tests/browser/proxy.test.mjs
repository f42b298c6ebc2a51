// End-to-end test of webpeek behind a real nginx under /webpeek/, in a real browser: the browser
// side of tests/proxy.rs. In a temp dir, webpeek (token file, --trust-proxy 127.0.0.1/32) follows
// the access log of an nginx run as tests/common/nginx.rs runs it, with tests/proxy.rs's
// `nginx_snippet`. Debian's Chromium signs in through nginx, watches visits to the site appear
// live, and checks the viewer's own do not. Every wait is bounded.
//
//   cd tests/browser && npm ci && WEBPEEK_BIN=/path/to/webpeek node --test
//
// WEBPEEK_BIN defaults to ../../target/debug/webpeek; CHROMIUM_BIN to /usr/bin/chromium; NGINX_BIN to /usr/sbin/nginx.

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
import { freePort } from './helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = process.env.WEBPEEK_BIN || path.resolve(here, '../../target/debug/webpeek');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const NGINX = process.env.NGINX_BIN || '/usr/sbin/nginx';
const OUT = path.join(here, 'out');
const SETPRIV = '/usr/bin/setpriv';
const TOKEN = `proxy-${crypto.randomBytes(12).toString('hex')}`;
const OTHER = '127.0.0.2'; // a visitor of the site; the browser (the viewer) comes from 127.0.0.1

let dir, wpPort, ngPort, browser, context, dash, signedIn = false;
const procs = {}; // name → { child, output, exit }


const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const dashUrl = () => `http://127.0.0.1:${ngPort}/webpeek/`;

/** Starts a child whose output is kept (the last 20 kB) for failure messages. Through setpriv, it
 *  gets SIGTERM if this process dies without `after` (say, its output piped into `head`). */
function start(name, bin, args, env = process.env) {
  const p = { output: '', exit: null };
  const [cmd, argv] = fs.existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'TERM', '--', bin, ...args]] : [bin, args];
  p.child = spawn(cmd, argv, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env });
  const keep = (chunk) => { p.output = (p.output + chunk).slice(-20_000); };
  p.child.stdout.on('data', keep);
  p.child.stderr.on('data', keep);
  p.child.on('exit', (code, signal) => { p.exit = signal ? `signal ${signal}` : `code ${code}`; });
  p.child.on('error', (e) => { p.exit = `spawn error: ${e.message}`; });
  procs[name] = p;
}

async function stop(p) {
  if (!p || p.exit) return;
  const gone = new Promise((r) => p.child.once('exit', () => r(true)));
  p.child.kill('SIGTERM');
  if (!await Promise.race([gone, sleep(5000).then(() => false)])) {
    p.child.kill('SIGKILL');
    await Promise.race([gone, sleep(2000)]);
  }
}

/** What webpeek and nginx said, for failure messages. */
function diag() {
  let errorLog;
  try { errorLog = fs.readFileSync(path.join(dir, 'error.log'), 'utf8').slice(-10_000); } catch { errorLog = '(none)'; }
  const { webpeek: w, nginx: n } = procs;
  return (`\n--- webpeek stderr (${w?.exit || 'running'}) ---\n${w?.output ?? ''}` +
    `\n--- nginx error.log (${n?.exit || 'running'}) ---\n${errorLog}${n?.output ?? ''}`).replace(/\x1b\[[0-9;]*m/g, '');
}

/** Runs `fn`; a failure carries webpeek's output and nginx's error log. */
const withDiag = (fn) => async (t) => {
  try { await fn(t); } catch (e) { e.message += diag(); throw e; }
};

/** Polls `probe` (bounded) until it returns true; a thrown error or exited child ends it early. */
async function until(what, deadlineMs, probe) {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    for (const [name, p] of Object.entries(procs)) if (p.exit) throw new Error(`${name} exited early (${p.exit})`);
    if (await probe().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${what} within ${deadlineMs} ms`);
}

/** A GET to the site behind nginx, from the loopback address `from`; resolves to the status. */
function visit(from, urlPath) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: ngPort, path: urlPath, localAddress: from, agent: false,
      headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0' } }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
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
    if (msg.type() === 'error' || /Content Security Policy/i.test(msg.text())) problems.push(`console.${msg.type()} on ${page.url()}: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`pageerror on ${page.url()}: ${err.message}`));
  const response = await page.goto(url, { waitUntil: 'load', timeout: 10_000 });
  return { page, problems, response };
}

async function waitConnected(page, problems, timeout = 10_000) {
  try {
    await page.waitForFunction(() => document.getElementById('status')?.textContent.trim() === 'connected', null, { timeout });
  } catch {
    const status = await page.textContent('#status').catch(() => '(no #status)');
    throw new Error(`#status did not reach "connected" within ${timeout} ms on ${page.url()} ` +
      `(it says ${JSON.stringify(status)}; console: ${JSON.stringify(problems)})`);
  }
}

const feedPaths = (page) => page.$$eval('#feed > .hit .c-path', (cells) => cells.map((c) => c.textContent)).catch(() => []);

/** Waits (bounded) until some #feed row contains `text` as text; returns that row's details. */
async function waitForRow(page, text, timeout = 5000) {
  try {
    const handle = await page.waitForFunction((t) => {
      for (const r of document.querySelectorAll('#feed > .hit')) if (r.textContent.includes(t)) return { text: r.textContent };
      return null;
    }, text, { timeout, polling: 50 });
    return await handle.jsonValue();
  } catch (e) {
    throw new Error(`no #feed row showed ${JSON.stringify(text)} within ${timeout} ms; ` +
      `the feed's paths are ${JSON.stringify(await feedPaths(page))} (${e.message.split('\n')[0]})`);
  }
}

/** Types `token` into the sign-in form and submits it; returns the POST's answer once it has loaded. */
async function submitToken(page, token) {
  await page.fill('input[name="token"]', token);
  const [posted] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST', { timeout: 5000 }),
    page.click('form button[type="submit"]'),
  ]);
  await page.waitForLoadState('load', { timeout: 5000 });
  const origin = await posted.request().headerValue('origin');
  const body = posted.status() === 403 ? ` ${JSON.stringify((await page.textContent('body').catch(() => '')).trim())}` : '';
  return { status: posted.status(), what: `the sign-in POST (Origin: ${origin}) was answered ${posted.status()}${body}` };
}

before(async () => {
  assert.ok(fs.existsSync(BIN), `no webpeek binary at ${BIN}: run \`cargo build\` or set WEBPEEK_BIN`);
  assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_BIN`);
  assert.ok(fs.existsSync(NGINX), `no nginx at ${NGINX}: apt-get install nginx-light, or set NGINX_BIN`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webpeek-proxy-'));
  const logFile = path.join(dir, 'access.log'), tokenFile = path.join(dir, 'token');
  fs.writeFileSync(logFile, '');
  fs.writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  fs.chmodSync(tokenFile, 0o600);

  wpPort = await freePort();
  start('webpeek', BIN, ['--listen', `127.0.0.1:${wpPort}`, '--no-dns', '--poll-interval', '0.2', '--base-path', '/webpeek/',
    '--trust-proxy', '127.0.0.1/32', '--token-file', tokenFile, logFile],
  { ...process.env, WEBPEEK_LOG: process.env.WEBPEEK_LOG || 'webpeek=debug' });
  await withDiag(() => until('webpeek did not answer "ok" on /webpeek/healthz', 15_000, async () => {
    const res = await fetch(`http://127.0.0.1:${wpPort}/webpeek/healthz`, { signal: AbortSignal.timeout(1000) });
    return res.ok && (await res.text()).trim() === 'ok';
  }))();

  // The shape of tests/common/nginx.rs; the server body is tests/proxy.rs's nginx_snippet.
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
  client_body_temp_path ${dir}/tmp/body; proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi; uwsgi_temp_path ${dir}/tmp/uwsgi; scgi_temp_path ${dir}/tmp/scgi;
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
  start('nginx', NGINX, ['-c', conf, '-p', `${dir}/`, '-e', path.join(dir, 'error.log')]);
  await withDiag(() => until(`nginx did not listen on 127.0.0.1:${ngPort}`, 10_000, () => new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port: ngPort }, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
    s.setTimeout(500, () => { s.destroy(); resolve(false); });
  })))();

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
  await stop(procs.nginx);
  await stop(procs.webpeek);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

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

  const { status, what } = await submitToken(page, 'not-the-token');
  assert.equal(status, 401, what);
  await page.waitForFunction(() => document.getElementById('message')?.textContent.trim() === 'That token is not right.',
    null, { timeout: 5000 });
  assert.equal(page.url(), dashUrl());
  assert.deepEqual((await context.cookies()).filter((c) => c.name === 'webpeek_token'), [], 'no cookie after a wrong token');
}));

test('the right token signs in and the dashboard connects through nginx', { timeout: 30_000 }, withDiag(async () => {
  const { page } = dash;
  if (await page.locator('input[name="token"]').count() === 0) await page.goto(dashUrl(), { waitUntil: 'load' });
  const { status, what } = await submitToken(page, TOKEN);
  assert.equal(status, 303, what);
  assert.equal(page.url(), dashUrl(), 'back on /webpeek/, no query string');
  dash.problems.length = 0; // from here on, the dashboard (the sign-in page's 401 is logged as a console error)
  await waitConnected(page, dash.problems);
  assert.doesNotMatch(await page.title(), /sign in/i);
  const cookies = await context.cookies();
  const cookie = cookies.find((c) => c.name === 'webpeek_token');
  assert.ok(cookie, `the webpeek_token cookie is set (cookies: ${JSON.stringify(cookies)})`);
  assert.equal(cookie.path, '/webpeek/');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(cookie.secure, false, 'plain http through the proxy: not Secure');
  assert.ok(!cookie.value.includes(TOKEN), 'the cookie holds a session, not the token');
  assert.deepEqual(dash.problems, [], 'no console errors, page errors or CSP violations');
  signedIn = true;
}));

test('visits to the site behind nginx appear live, the viewer\'s own do not', { timeout: 30_000 }, withDiag(async (t) => {
  if (!signedIn) return t.skip('not signed in (see above)');
  const { page, problems } = dash;
  // The viewer's own visit first: it is in the log before the others, so read when they show.
  assert.equal(await visit('127.0.0.1', '/mine.html'), 200);
  assert.equal(await visit(OTHER, '/launch.html'), 200);
  assert.equal(await visit(OTHER, '/pricing/'), 200);
  const launch = await waitForRow(page, '/launch.html', 5000);
  assert.match(launch.text, /127\.0\.0\.2/, 'the row shows the visitor\'s address');
  await waitForRow(page, '/pricing/', 5000);
  await sleep(1000);
  assert.match(fs.readFileSync(path.join(dir, 'access.log'), 'utf8'), /^127\.0\.0\.1 .*"GET \/mine\.html /m, 'nginx logged /mine.html');
  const paths = await feedPaths(page);
  assert.ok(!paths.includes('/mine.html'), `the viewer's own visit is not shown (feed: ${JSON.stringify(paths)})`);
  await sleep(500); // one more stats frame for the counters
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
    await page.waitForURL(dashUrl(), { timeout: 10_000 }); // the final address is /webpeek/, without the token
    await waitConnected(page, problems);
    assert.doesNotMatch(await page.title(), /sign in/i);
    const cookie = (await fresh.cookies()).find((c) => c.name === 'webpeek_token');
    assert.ok(cookie?.path === '/webpeek/', `a session cookie for /webpeek/ (${JSON.stringify(cookie)})`);
    if (signedIn) await waitForRow(page, '/launch.html', 5000); // the backlog comes through the proxy too
    assert.deepEqual(problems, [], 'no console errors, page errors or CSP violations');
  } finally {
    await fresh.close().catch(() => {});
  }
}));

test('a ?token= link followed from another site signs in too (the cookie is SameSite=Strict)', { timeout: 30_000 }, withDiag(async () => {
  const fresh = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    fresh.setDefaultTimeout(10_000);
    const page = await fresh.newPage();
    // Another site (localhost is not 127.0.0.1's site): a page the browser is given here, no
    // request leaves it. A click there is a cross-site navigation, as from a chat or a mail.
    const elsewhere = `http://localhost:${ngPort}/elsewhere.html`;
    const link = `${dashUrl()}?token=${encodeURIComponent(TOKEN)}`;
    await page.route(elsewhere, (route) => route.fulfill({
      contentType: 'text/html',
      body: `<!doctype html><a id="go" href="${link}">the dashboard</a>`,
    }));
    await page.goto(elsewhere);
    await page.click('#go');
    await page.waitForURL(dashUrl(), { timeout: 10_000 });
    await waitConnected(page, []);
    assert.doesNotMatch(await page.title(), /sign in/i);
  } finally {
    await fresh.close().catch(() => {});
  }
}));

test('a reload keeps the sign-in', { timeout: 30_000 }, withDiag(async (t) => {
  if (!signedIn) return t.skip('not signed in (see above)');
  const { page, problems } = dash;
  const response = await page.reload({ waitUntil: 'load', timeout: 10_000 });
  assert.equal(response.status(), 200, 'the cookie lets the dashboard in');
  assert.equal(page.url(), dashUrl());
  assert.doesNotMatch(await page.title(), /sign in/i);
  await waitConnected(page, problems);
  await waitForRow(page, '/pricing/', 5000);
  assert.deepEqual(problems, [], 'no console errors, page errors or CSP violations');
}));
