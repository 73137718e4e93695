// `tokengate report --format html` in real headless Chromium (Debian's, through playwright-core):
// the page is served under a Content-Security-Policy that allows nothing but its own inline
// styles, so any script or external asset would show as a console error; the chart must draw one
// point per day per series. The screenshot is kept in docs/report-html.png.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { launch } from './support/browser.mjs';
import { REPO } from './support/fixtures.mjs';

const CLI = join(REPO, 'target/release/tokengate');
const SCREENSHOT = join(REPO, 'docs/report-html.png');
const DAYS = 14;

/**
 * Two weeks of a migration: legacy-key and retired-endpoint calls falling to zero, a Terraform
 * PAT advised, a mismatch, and one hostile user agent.
 */
function accessLog() {
  const lines = [];
  const day0 = Date.UTC(2026, 10, 1);
  for (let d = 0; d < DAYS; d++) {
    const at = (h) => new Date(day0 + d * 86_400_000 + h * 3_600_000).toISOString();
    const legacy = Math.max(0, 40 - d * 3);
    const retired = Math.max(0, 12 - d);
    for (let i = 0; i < legacy; i++) {
      lines.push({ time: at(i % 24), method: 'GET', path: `/api/v2/accounts/70471823510118/jobs/${i}/`, status: 200,
        user_agent: i % 2 ? 'python-requests/2.31.0' : 'curl/8.5.0', code: 'ok', token_id: i % 3 ? '5afafbda4476' : 'a1b2c3d4e5f6',
        token_kind: 'user_key', advice: 'user_key_deprecated' });
    }
    for (let i = 0; i < retired; i++) {
      lines.push({ time: at(i % 24), method: 'GET', path: '/api/v2/accounts/', status: 200, user_agent: 'python-requests/2.31.0',
        code: 'endpoint_sunset', token_id: '5afafbda4476', token_kind: 'user_key', would_deny: 'endpoint_sunset' });
    }
    lines.push({ time: at(3), method: 'GET', path: '/api/v2/accounts/70471823510118/', status: 200,
      user_agent: 'terraform-provider-dbtcloud/1.3.0', code: 'ok', token_id: '64e4c07917ae', token_kind: 'pat',
      account_id: '70471823510118', client: 'production Terraform', advice: 'service_token_advised' });
    for (let i = 0; i < 30; i++) {
      lines.push({ time: at(i % 24), method: 'GET', path: `/api/v2/accounts/70471823510118/runs/${i}/`, status: 200,
        user_agent: 'terraform-provider-dbtcloud/1.3.0', code: 'ok', token_id: 'svc-harvest-prod', token_kind: 'service' });
    }
  }
  lines.push({ time: new Date(day0 + 86_400_000 * 5).toISOString(), path: '/api/v2/accounts/9007199254740993/', status: 200,
    user_agent: 'curl/8.5.0', code: 'account_mismatch', token_id: '64e4c07917ae', token_kind: 'pat',
    would_deny: 'account_mismatch' });
  lines.push({ time: new Date(day0 + 86_400_000 * 5).toISOString(), path: '/api/v3/accounts/', status: 200,
    user_agent: '<img src=x onerror=alert(1)>', code: 'endpoint_sunset', token_id: 'a1b2c3d4e5f6', token_kind: 'user_key',
    would_deny: 'endpoint_sunset' });
  return `${lines.map((l) => JSON.stringify(l)).join('\n')}\nnot a log line\n`;
}

/** @type {import('node:http').Server} */ let server;
/** @type {string} */ let url;
/** @type {Awaited<ReturnType<typeof launch>>} */ let browser;
/** @type {string} */ let html;

before(async () => {
  assert.ok(existsSync(CLI), `${CLI} not built (js/scripts/test.sh builds it)`);
  const p = spawnSync(CLI, ['report', '--format', 'html', '--registry', join(REPO, 'examples/policy.json')],
    { input: accessLog(), maxBuffer: 16 << 20 });
  assert.equal(p.status, 1, `report: ${p.stderr}`); // entries left to migrate
  html = p.stdout.toString();
  server = createServer((_req, res) => {
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      // Nothing may load: no script, no image, no font, no stylesheet but the inline one.
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
    });
    res.end(html);
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(undefined)));
  url = `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (server.address()).port}/`;
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await new Promise((ok) => (server ? server.close(() => ok(undefined)) : ok(undefined)));
});

test('the HTML report renders alone, with its chart and every list', async () => {
  const page = await browser.context.newPage();
  const problems = [];
  const requests = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => problems.push(`console ${m.type()}: ${m.text()}`));
  page.on('request', (r) => requests.push(r.url()));
  await page.setViewportSize({ width: 1100, height: 1400 });
  await page.goto(url);

  const r = await page.evaluate(() => {
    const svg = document.querySelector('svg.chart');
    const box = svg?.getBoundingClientRect();
    return {
      title: document.querySelector('h1')?.textContent,
      headings: [...document.querySelectorAll('h2')].map((h) => h.textContent),
      polylines: svg?.querySelectorAll('polyline').length,
      circles: svg?.querySelectorAll('circle').length,
      chart: box ? { w: Math.round(box.width), h: Math.round(box.height) } : null,
      firstLegacy: document.querySelector('table tbody tr td')?.textContent,
      images: document.images.length,
      scripts: document.scripts.length,
      hostile: [...document.querySelectorAll('code')].some((c) => c.textContent === '<img src=x onerror=alert(1)>'),
      background: getComputedStyle(document.querySelector('th') ?? document.body).backgroundColor,
    };
  });
  assert.equal(r.title, 'tokengate migration report');
  assert.deepEqual(r.headings, [
    '1. Legacy user API keys',
    '2. Retired endpoints still called',
    '3. Deprecated endpoints still called',
    '4. Personal access tokens where a service token belongs',
    '5. Tokens calling an account they are not bound to',
  ]);
  assert.equal(r.polylines, 2);
  assert.equal(r.circles, 2 * DAYS);
  assert.ok(r.chart && r.chart.w > 800 && r.chart.h > 200, JSON.stringify(r.chart));
  assert.equal(r.firstLegacy, 'paul-legacy-key (user 1001, 5afafbda4476)');
  assert.equal(r.images, 0, 'the hostile user agent stayed text');
  assert.equal(r.scripts, 0);
  assert.equal(r.hostile, true);
  assert.equal(r.background, 'rgb(249, 250, 251)', 'the inline stylesheet applied under the CSP');
  assert.deepEqual(requests, [url], 'the page loaded nothing else');
  assert.deepEqual(problems, []);

  const shot = await page.screenshot({ fullPage: false });
  // Rewritten only when it changed (PNG bytes differ by encoder run, so compare sizes loosely).
  if (!existsSync(SCREENSHOT) || Math.abs(readFileSync(SCREENSHOT).length - shot.length) > 2048) {
    writeFileSync(SCREENSHOT, shot);
  }
  await page.close();
});
