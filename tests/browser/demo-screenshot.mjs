// Takes the README's screenshot: the demo, 20 s after it starts, in Chromium.
//
//   cd tests/browser && WEBPEEK_BIN=../../target/release/webpeek node demo-screenshot.mjs
//
// Writes docs/dashboard.png. Not a test: run it by hand after a visible change to the page.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { BIN, CHROMIUM, freePort, sleep } from './helpers.mjs';

const port = await freePort();
const demo = spawn(BIN, ['demo', '--listen', `127.0.0.1:${port}`], { stdio: 'ignore' });
try {
  await sleep(20000);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  await page.goto(`http://127.0.0.1:${port}/`);
  await sleep(6000);
  const out = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../docs/dashboard.png');
  await page.screenshot({ path: out });
  console.log(`wrote ${out}`);
  await browser.close();
} finally {
  demo.kill();
}
