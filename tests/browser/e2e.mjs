// End-to-end test of SEAM's web page in headless Chromium (Debian's), driven by Playwright's
// library: a person opens the fleet, opens a device, sees the models that run on it and why
// others do not, starts a rollout, watches it finish live, and sees the device's new model.
// Every page is checked with axe-core (WCAG 2 A/AA: contrast, names, keyboard) and kept as a
// screenshot.
//
// Usage: node e2e.mjs BASE_URL TOKEN MODEL_NAME DEVICE OTHER_DEVICE SHOTS_DIR
// Prints one JSON line per step; exits 1 at the first failed expectation.
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const require = createRequire(`${process.env.SEAM_NODE_MODULES}/`);
const { chromium } = require('playwright-core');
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const [base, token, modelName, device, other, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });

const step = (name, detail = {}) => console.log(JSON.stringify({ step: name, ...detail }));
const fail = (message) => {
  console.log(JSON.stringify({ failed: message }));
  throw new Error(message);
};

const browser = await chromium.launch({
  executablePath: process.env.SEAM_CHROMIUM || '/usr/bin/chromium',
  // As root in a container, and on a machine whose network is closed: no sandbox, no
  // background connections.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
const errors = [];
try {
  // axe-core is injected as an inline script, which the page's own policy (script-src 'self')
  // refuses, rightly: the test context lets it in.
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.setDefaultTimeout(20_000);

  const shot = async (name) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
  const axe = async (name) => {
    await page.addScriptTag({ content: axeSource });
    const result = await page.evaluate(async () => window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    }));
    const blocking = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    step(`axe ${name}`, { violations: result.violations.map((v) => `${v.impact} ${v.id} (${v.nodes.length})`) });
    if (blocking.length) {
      fail(`axe on ${name}: ${blocking.map((v) => `${v.id}: ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`).join('; ')}`);
    }
  };

  // 1. The fleet, with the token from the URL's fragment (what `seam demo` prints).
  await page.goto(`${base}/#token=${token}`);
  await page.getByRole('heading', { name: 'Fleet', level: 1 }).waitFor();
  if (page.url().includes(token)) fail('the token stayed in the address bar');
  await page.getByRole('link', { name: device, exact: true }).waitFor();
  const rows = await page.locator('table tbody tr').count();
  step('fleet', { rows });
  await axe('fleet');
  await shot('1-fleet');

  // Search narrows the list on the server.
  await page.getByRole('searchbox').fill(other);
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForFunction((name) => {
    const links = [...document.querySelectorAll('main table tbody tr td:first-child a')].map((a) => a.textContent);
    return links.length === 1 && links[0] === name;
  }, other);
  step('search', { found: other });

  // Keyboard: on a fresh load, the first Tab reaches the skip link, which moves focus to the
  // content; the next reaches the first control of the page.
  await page.reload();
  await page.getByRole('heading', { name: 'Fleet', level: 1 }).waitFor();
  await page.keyboard.press('Tab');
  const first = await page.evaluate(() => document.activeElement && document.activeElement.textContent);
  if (first !== 'Skip to content') fail(`the first Tab stop is ${JSON.stringify(first)}, not the skip link`);
  await page.keyboard.press('Enter');
  await page.keyboard.press('Tab');
  const inMain = await page.evaluate(() => Boolean(document.activeElement && document.activeElement.closest('main')));
  if (!inMain) fail('after the skip link, Tab does not reach the content');
  step('keyboard');

  // 2. A device: its models, ranked, and the ones that do not run there with their reasons.
  await page.goto(`${base}/#/fleet`);
  await page.getByRole('link', { name: device, exact: true }).click();
  await page.getByRole('heading', { name: 'Models that run here' }).waitFor();
  const compatible = page.locator('table', { has: page.getByRole('columnheader', { name: 'Accuracy' }) });
  await compatible.getByRole('link', { name: modelName, exact: true }).waitFor();
  const reasons = await page.locator('ul.reasons li').allTextContents();
  if (!reasons.length) fail('the device page shows no rejection reason');
  step('device', { reasons: reasons.length, example: reasons[0] });
  await axe('device');
  await shot('2-device');

  // The other device cannot run the model: its page says why.
  await page.goto(`${base}/#/device/${encodeURIComponent(other)}`);
  await page.getByRole('heading', { name: 'Models that do not, and why' }).waitFor();
  const rejectedRow = page.locator('tr', { has: page.getByRole('link', { name: modelName, exact: true }) });
  const why = (await rejectedRow.locator('ul.reasons').textContent()) || '';
  if (!/sensor|microphone/i.test(why)) fail(`${other}'s reason for ${modelName} does not name the missing sensor: ${why}`);
  step('rejection', { device: other, why });

  // 3. The matrix: a cell opens its reasons.
  await page.goto(`${base}/#/matrix`);
  await page.getByRole('heading', { name: 'Compatibility matrix' }).waitFor();
  await page.locator('button.cell').first().click();
  await page.locator('section.detail h2').waitFor();
  step('matrix', { detail: await page.locator('section.detail h2').textContent() });
  await axe('matrix');
  await shot('3-matrix');

  // 4. A rollout, started from the form, watched live to the end.
  await page.goto(`${base}/#/rollouts`);
  await page.getByRole('heading', { name: 'Start a rollout' }).waitFor();
  await axe('rollouts');
  const option = await page.locator('select[name="model"] option', { hasText: modelName }).first().getAttribute('value');
  await page.selectOption('select[name="model"]', option);
  await page.getByLabel('these devices:').check();
  await page.getByRole('textbox', { name: 'Device names' }).fill(device);
  await page.getByRole('button', { name: 'Start rollout' }).click();
  await page.waitForURL(/#\/rollout\//);
  await page.getByRole('heading', { name: `Rollout of ${modelName}` }).waitFor();
  const progressSeen = await page.locator('#rollout-progress').count();
  await page.locator('span.state.completed').first().waitFor({ timeout: 120_000 });
  await page.locator('ul.chips li[data-state="installed"]').waitFor();
  const final = await page.locator('ul.chips').first().textContent();
  step('rollout', { progress: progressSeen, final });
  await axe('rollout');
  await shot('4-rollout');

  // 5. The device now runs the model.
  await page.goto(`${base}/#/device/${encodeURIComponent(device)}`);
  const runs = page.locator('table', { has: page.getByRole('columnheader', { name: 'Artifact' }) });
  await runs.getByRole('link', { name: modelName, exact: true }).waitFor();
  step('runs', { device, model: modelName });
  await shot('5-device-after');

  // 6. The models and the query editor.
  await page.goto(`${base}/#/models`);
  await page.getByRole('link', { name: modelName, exact: true }).waitFor();
  const measured = await page.locator('span.method.measured').count();
  if (!measured) fail('no figure is marked measured for a model registered from its file');
  await axe('models');
  await shot('6-models');
  await page.goto(`${base}/#/query`);
  await page.getByRole('button', { name: 'Run inventory' }).click();
  await page.locator('section.results table tbody tr').first().waitFor();
  const results = await page.locator('section.results table tbody tr').count();
  step('query', { rows: results });
  await page.getByRole('button', { name: 'Open in editor: running-models' }).click();
  await page.waitForFunction(() => document.querySelector('.cm-content').textContent.includes('seam:runs'));
  await page.getByRole('button', { name: 'Run query' }).click();
  await page.locator('section.results table tbody tr').first().waitFor();
  await axe('query');
  await shot('7-query');

  if (errors.length) fail(`the page logged errors: ${errors.join(' | ')}`);
  step('done');
} finally {
  await browser.close();
}
