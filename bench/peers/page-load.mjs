// Times SEAM's web page in headless Chromium (Debian's, driven by playwright-core): for each view,
// a fresh browser context (empty cache) opens the page and waits for the view's content; the
// time is navigation start to content shown. The GraphQL requests' own times come from the
// browser's resource timing, to tell the server's share from the page's.
//
// Usage: node page-load.mjs BASE_URL RUNS DEVICE
// Prints one JSON line per view: {"view", "medianMs", "p95Ms", "graphqlMedianMs"}.
import { createRequire } from 'node:module';

const require = createRequire(`${process.env.SEAM_NODE_MODULES}/`);
const { chromium } = require('playwright-core');

const [base, runsArg, device] = process.argv.slice(2);
const runs = Number(runsArg) || 5;
// The first view is the floor: the page's own files and a view that asks the server nothing.
const views = [
  ['floor (no data)', '/#/no-such-view', 'h1'],
  ['fleet', '/#/fleet', 'main table tbody tr'],
  ['device', `/#/device/${encodeURIComponent(device)}`, '#rejected'],
  ['models', '/#/models', 'main table tbody tr'],
  ['matrix (boards)', '/#/matrix', 'button.cell'],
  ['matrix (devices)', '/#/matrix?rows=devices', 'button.cell'],
];

const browser = await chromium.launch({
  executablePath: process.env.SEAM_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p95 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(xs.length * 0.95) - 1)];
try {
  for (const [view, route, selector] of views) {
    const times = [];
    const server = [];
    // One unmeasured load first: Chromium's own start-up is not the page's.
    for (let i = 0; i <= runs; i += 1) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      const started = Date.now();
      await page.goto(`${base}${route}`);
      await page.locator(selector).first().waitFor({ timeout: 60_000 });
      const took = Date.now() - started;
      const graphql = await page.evaluate(() => performance.getEntriesByType('resource')
        .filter((e) => e.name.endsWith('/graphql'))
        .reduce((most, e) => Math.max(most, e.responseEnd - e.startTime), 0));
      if (i > 0) {
        times.push(took);
        server.push(graphql);
      }
      await context.close();
    }
    console.log(JSON.stringify({ view, medianMs: median(times), p95Ms: p95(times), graphqlMedianMs: Math.round(median(server)) }));
  }
} finally {
  await browser.close();
}
