// Shared pieces of the browser tests: log lines, the webpeek process, Chromium, pages.
//
// WEBPEEK_BIN defaults to ../../target/debug/webpeek; CHROMIUM_BIN to /usr/bin/chromium.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const BIN = process.env.WEBPEEK_BIN || path.resolve(here, '../../target/debug/webpeek');
export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
export const OUT = path.join(here, 'out');

export const UA_FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
export const UA_CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
export const UA_IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1';
export const UA_BOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
export function clfNow(d = new Date()) {
  const p = (n) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
/** One combined-format line, newline included. */
export function line(ip, request, status, bytes, referer, agent) {
  return lineAt(new Date(), ip, request, status, bytes, referer, agent);
}
/** The same, logged at `when`. */
export function lineAt(when, ip, request, status, bytes, referer, agent) {
  return `${ip} - - [${clfNow(when)}] "${request}" ${status} ${bytes} "${referer}" "${agent}"\n`;
}

export function freePort() {
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

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitHealthy(srv, deadlineMs) {
  const end = Date.now() + deadlineMs;
  let last = 'no answer';
  while (Date.now() < end) {
    if (srv.exit) throw new Error(`webpeek exited early (${srv.exit}):\n${srv.output}`);
    try {
      const res = await fetch(`${srv.base}/healthz`, { signal: AbortSignal.timeout(1000) });
      const body = (await res.text()).trim();
      if (res.ok && body === 'ok') return;
      last = `${res.status} ${JSON.stringify(body.slice(0, 80))}`;
    } catch (e) {
      last = String(e.cause?.code || e.message);
    }
    await sleep(100);
  }
  throw new Error(`webpeek did not answer "ok" on /healthz within ${deadlineMs} ms (last: ${last}):\n${srv.output}`);
}

/** Starts webpeek on a free loopback port (or `port`) with `args` (the log last), in `cwd`; waits until it answers. */
export async function startWebpeek(args, cwd, port = null) {
  port = port || await freePort();
  const srv = { base: `http://127.0.0.1:${port}`, output: '', exit: null };
  srv.proc = spawn(BIN, ['--listen', `127.0.0.1:${port}`, ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info' },
  });
  const keep = (chunk) => { srv.output = (srv.output + chunk).slice(-20_000); };
  srv.proc.stdout.on('data', keep);
  srv.proc.stderr.on('data', keep);
  srv.proc.on('exit', (code, signal) => { srv.exit = signal ? `signal ${signal}` : `code ${code}`; });
  srv.proc.on('error', (e) => { srv.exit = `spawn error: ${e.message}`; });
  await waitHealthy(srv, 15_000);
  return srv;
}

/** Stops a webpeek started by startWebpeek (SIGTERM, then SIGKILL after 3 s). */
export async function stopWebpeek(srv) {
  if (!srv || srv.exit) return;
  const gone = new Promise((r) => srv.proc.once('exit', () => r(true)));
  srv.proc.kill('SIGTERM');
  if (!(await Promise.race([gone, sleep(3000).then(() => false)]))) srv.proc.kill('SIGKILL');
}

/** Debian's Chromium, headless, without anything that would reach out of the machine. */
export function launchChromium() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic'],
    timeout: 15_000,
  });
}

/** A page in `ctx` with its console errors, page errors, CSP violations and dialogs recorded,
 * and the WebSocket handshakes it made (`sockets`: `{url, status, headers}` of each answer, from
 * the DevTools protocol, so a test sees what Chromium agreed to, e.g. compression). */
export async function openPage(url, ctx) {
  const page = await ctx.newPage();
  const problems = [];
  const dialogs = [];
  const sockets = [];
  const cdp = await ctx.newCDPSession(page);
  const urls = new Map();
  cdp.on('Network.webSocketCreated', (e) => urls.set(e.requestId, e.url));
  cdp.on('Network.webSocketHandshakeResponseReceived', (e) => {
    const headers = Object.fromEntries(Object.entries(e.response.headers).map(([k, v]) => [k.toLowerCase(), v]));
    sockets.push({ url: urls.get(e.requestId), status: e.response.status, headers });
  });
  await cdp.send('Network.enable');
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
  return { page, problems, dialogs, sockets };
}

/** Waits (bounded) until the page's WebSocket status says connected. */
export async function waitConnected(page, timeout = 10_000) {
  await page.waitForFunction(() => document.getElementById('status')?.textContent.trim() === 'connected',
    null, { timeout });
}

/** Waits (bounded) until some #feed row contains `text` as text; returns that row's details. */
export async function waitForRow(page, text, timeout = 5000) {
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

/** The contrast ratio (WCAG) of an element's text against its backgrounds, translucent ones composited. */
export function contrastOf(page, selector) {
  return page.evaluate((sel) => {
    const node = document.querySelector(sel);
    const rgba = (c) => {
      // rgb(r, g, b[, a]), or color(srgb r g b[ / a]) (what color-mix() computes to), 0..1
      const v = c.replace(/^color\(srgb/, '').match(/[\d.]+(e-?\d+)?/g).map(Number);
      const k = c.startsWith('color(srgb') ? 255 : 1;
      return [v[0] * k, v[1] * k, v[2] * k, v.length > 3 ? v[3] : 1];
    };
    const layers = [];
    for (let n = node; n; n = n.parentElement) {
      const bg = rgba(getComputedStyle(n).backgroundColor);
      if (bg[3] > 0) layers.push(bg);
      if (bg[3] >= 1) break;
    }
    let under = [255, 255, 255];
    for (const [r, g, b, a] of layers.reverse()) under = [r * a + under[0] * (1 - a), g * a + under[1] * (1 - a), b * a + under[2] * (1 - a)];
    const fg = rgba(getComputedStyle(node).color);
    const text = fg.slice(0, 3).map((v, i) => v * fg[3] + under[i] * (1 - fg[3]));
    const lum = (c) => {
      const [r, g, b] = c.map((v) => {
        v /= 255;
        return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const a = lum(text), b = lum(under);
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  }, selector);
}
