// The ES-module build and the Sheets-style add-on in real headless Chromium (Debian's, driven by
// playwright-core), served from a loopback server that sends a strict Content-Security-Policy.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { launch } from './support/browser.mjs';
import { ACCOUNTS, REPO, TOKENS } from './support/fixtures.mjs';
import { serve } from './support/server.mjs';

const SCREENSHOT = join(REPO, 'docs/sheets-addon.png');
/** @type {Awaited<ReturnType<typeof serve>>} */ let server;
/** @type {Awaited<ReturnType<typeof launch>>} */ let browser;

before(async () => {
  server = await serve(REPO);
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** How many pixels of two PNGs differ, decoded by the browser itself. */
async function differingPixels(page, a, b) {
  return page.evaluate(async ([a64, b64]) => {
    const decode = async (b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const ctx = /** @type {OffscreenCanvasRenderingContext2D} */ (canvas.getContext('2d'));
      ctx.drawImage(bitmap, 0, 0);
      return ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
    };
    const [x, y] = await Promise.all([decode(a64), decode(b64)]);
    if (x.length !== y.length) return Number.POSITIVE_INFINITY;
    let n = 0;
    for (let i = 0; i < x.length; i += 4) if (x[i] !== y[i] || x[i + 1] !== y[i + 1] || x[i + 2] !== y[i + 2]) n++;
    return n;
  }, [a.toString('base64'), b.toString('base64')]);
}

/** A new page that fails the test on any page error or console error. */
async function newPage(path) {
  const page = await browser.context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  await page.goto(`${server.url}${path}`);
  return { page, problems };
}

describe('the ES-module build in Chromium', () => {
  test('init() fetches the wasm beside the module; the API works', async () => {
    const { page, problems } = await newPage('/js/test/support/blank.html');
    const r = await page.evaluate(async ({ tokens, guild }) => {
      const t = await import('/js/dist/web/index.js');
      let before = '';
      try { t.inspectToken('x'); } catch (e) { before = e.message; }
      await t.default();
      const digest = [...new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(tokens.pat_spice)))]
        .map((b) => b.toString(16).padStart(2, '0')).join('');
      const policy = await (await fetch('/examples/policy.json')).json();
      const v = new t.Validator(policy);
      const headers = new Headers({ Authorization: `Token ${tokens.pat_guild}` });
      const d = v.check({ url: `https://gn456.us1.dbt.com/api/v2/accounts/${guild}/`, headers }, new Date('2026-07-01'));
      let policyError = null;
      try { new t.Validator({ registry: { tokens: [] }, mode: 'nope' }); } catch (e) {
        policyError = { isClass: e instanceof t.PolicyError, isError: e instanceof Error, path: e.errors[0].path };
      }
      return {
        before,
        kind: t.inspectToken(` ${tokens.service_spice}`).kind,
        problems: t.inspectToken(` ${tokens.service_spice}`).problems.map((p) => p.code),
        hashMatches: t.hashToken(tokens.pat_spice) === digest,
        decision: { code: d.code, accountId: d.accountId, upstream: d.upstreamHeaders['x-dbt-account-id'] },
        policyError,
        wasm: performance.getEntriesByType('resource').some((e) => e.name.endsWith('/js/dist/web/tokengate_bg.wasm')),
      };
    }, { tokens: TOKENS, guild: ACCOUNTS.guild });
    assert.match(r.before, /init\(\)/);
    assert.equal(r.kind, 'service');
    assert.deepEqual(r.problems, ['whitespace']);
    assert.equal(r.hashMatches, true);
    assert.deepEqual(r.decision, { code: 'ok', accountId: '9007199254740993', upstream: '9007199254740993' });
    assert.deepEqual(r.policyError, { isClass: true, isError: true, path: 'mode' });
    assert.equal(r.wasm, true);
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('initSync() with bytes you bring, and init() with a compiled module', async () => {
    const { page, problems } = await newPage('/js/test/support/blank.html');
    const r = await page.evaluate(async (token) => {
      const bytes = await (await fetch('/js/dist/web/tokengate_bg.wasm')).arrayBuffer();
      const t = await import('/js/dist/web/index.js');
      t.initSync(bytes);
      const a = t.inspectToken(token).kind;
      await t.default(await WebAssembly.compile(bytes)); // a second init is harmless
      return [a, t.hashToken('').slice(0, 8)];
    }, TOKENS.pat_spice);
    assert.deepEqual(r, ['pat', 'e3b0c442']);
    assert.deepEqual(problems, []);
    await page.close();
  });
});

describe('the Sheets-style add-on', () => {
  /** @type {import('playwright-core').Page} */ let page;
  /** @type {string[]} */ let problems;
  /** @type {string[]} */ const requests = [];

  before(async () => {
    ({ page, problems } = await newPage('/js/examples/sheets-addon/'));
    await page.waitForSelector('body[data-ready="true"]', { timeout: 20_000 });
    page.on('request', (r) => requests.push(r.url()));
  });

  const row = async (id) => page.evaluate((id) => {
    const el = document.getElementById(id);
    return {
      state: el.dataset.state,
      title: el.querySelector('.text').textContent,
      detail: el.querySelector('.check-detail').textContent,
      sr: el.querySelector('.sr-state').textContent,
    };
  }, id);
  const fill = async ({ host = 'https://ab123.us1.dbt.com', account = ACCOUNTS.spice, workflow = 'sheets', token }) => {
    await page.fill('#host', host);
    await page.fill('#account', account);
    await page.selectOption('#workflow', workflow);
    await page.fill('#token', token);
  };

  test('starts empty, asking for a token, with Connect disabled', async () => {
    assert.equal((await row('check-kind')).state, 'idle');
    assert.match((await row('check-kind')).detail, /Paste your token/);
    assert.match((await row('check-workflow')).detail, /personal access token/i);
    assert.equal(await page.isDisabled('#connect'), true);
  });

  test('a PAT of the chosen account passes every check', async () => {
    await fill({ token: TOKENS.pat_spice });
    assert.deepEqual((await row('check-kind')).state, 'ok');
    assert.equal((await row('check-kind')).title, 'Personal access token');
    assert.equal((await row('check-format')).state, 'ok');
    assert.equal((await row('check-workflow')).state, 'ok');
    const acct = await row('check-account');
    assert.equal(acct.state, 'ok');
    assert.equal(acct.title, `Bound to account ${ACCOUNTS.spice}`);
    assert.equal(acct.sr, 'Passed: ');
    assert.equal(await page.isDisabled('#connect'), false);
    await page.click('#connect');
    assert.match(await page.textContent('#connect-msg'), /nothing was sent/);
  });

  test('a PAT of another account is not bound to this one', async () => {
    await fill({ token: TOKENS.pat_guild });
    const acct = await row('check-account');
    assert.equal(acct.state, 'bad');
    assert.equal(acct.title, 'Not valid for this account');
    assert.match(acct.detail, /not valid for this account/i);
    assert.ok(!acct.detail.includes(ACCOUNTS.guild), 'must not reveal the token\'s own account');
    assert.equal(await page.isDisabled('#connect'), true);
  });

  test('the access URL names the account too: host and account ID must agree', async () => {
    await fill({ host: 'gn456.us1.dbt.com', account: ACCOUNTS.spice, token: TOKENS.pat_spice });
    assert.equal((await row('check-account')).state, 'bad');
    await fill({ host: 'gn456.us1.dbt.com', account: ACCOUNTS.guild, token: TOKENS.pat_guild });
    assert.equal((await row('check-account')).state, 'ok');
  });

  test('a service token in Sheets: use a PAT; for production it is right', async () => {
    await fill({ token: TOKENS.service_spice });
    assert.equal((await row('check-kind')).title, 'Service token');
    const wf = await row('check-workflow');
    assert.equal(wf.state, 'warn');
    assert.equal(wf.title, 'Use a personal access token here');
    assert.match(wf.detail, /Settings → Access Token/);
    await page.selectOption('#workflow', 'production');
    assert.equal((await row('check-workflow')).state, 'ok');
    await page.selectOption('#workflow', 'partner');
    assert.equal((await row('check-workflow')).state, 'ok');
  });

  test('a PAT for a partner integration: use a service token', async () => {
    await fill({ workflow: 'partner', token: TOKENS.pat_spice });
    const wf = await row('check-workflow');
    assert.equal(wf.state, 'warn');
    assert.equal(wf.title, 'Use a service token here');
  });

  const formatCases = [
    ['a pasted "Token " in front', () => `Token ${TOKENS.pat_spice}`, /without the 'Token' or 'Bearer'/],
    ['leading whitespace', () => ` ${TOKENS.pat_spice}`, /whitespace/],
    ['a wrong length', () => TOKENS.pat_spice.slice(0, -1), /wrong length/],
    ['quotes', () => `"${TOKENS.pat_spice}"`, /quot/i],
  ];
  for (const [name, token, detail] of formatCases) {
    test(`${name} is explained, and the account is not checked`, async () => {
      await fill({ token: token() });
      const f = await row('check-format');
      assert.equal(f.state, 'bad');
      assert.match(f.detail, detail);
      assert.equal((await row('check-account')).detail, 'Fix the token first.');
      assert.equal(await page.isDisabled('#connect'), true);
    });
  }

  test('a legacy user key is called out as retired', async () => {
    await fill({ token: TOKENS.user_key });
    const k = await row('check-kind');
    assert.equal(k.state, 'bad');
    assert.equal(k.title, 'Legacy user API key');
    assert.match((await row('check-format')).detail, /legacy user API key/);
    assert.equal((await row('check-account')).title, 'Retired legacy key');
  });

  test('not a token at all', async () => {
    await fill({ token: 'paul@atreides.com' });
    assert.equal((await row('check-kind')).title, 'Not a dbt Cloud token');
    assert.equal((await row('check-format')).state, 'bad');
  });

  for (const [name, token, workflow, title] of [
    ['an unregistered PAT', 'pat_unregistered', 'sheets', 'Unknown token'],
    ['an expired PAT', 'pat_expired', 'sheets', 'Expired token'],
    ['a revoked service token', 'service_revoked', 'production', 'Revoked token'],
  ]) {
    test(`${name}: ${title}`, async () => {
      await fill({ workflow, token: TOKENS[token] });
      const acct = await row('check-account');
      assert.equal(acct.state, 'bad');
      assert.equal(acct.title, title);
    });
  }

  test('bad access URLs and account IDs are explained beside their fields', async () => {
    await fill({ host: 'http://ab123.us1.dbt.com', account: 'abc', token: TOKENS.pat_spice });
    assert.match(await page.textContent('#host-msg'), /https/);
    assert.match(await page.textContent('#account-msg'), /digits only/);
    assert.equal(await page.getAttribute('#account', 'aria-invalid'), 'true');
    assert.match((await row('check-account')).detail, /Enter the access URL/);
  });

  test('Show and Hide toggle the token field, and say so', async () => {
    assert.equal(await page.getAttribute('#token', 'type'), 'password');
    await page.click('#reveal');
    assert.equal(await page.getAttribute('#token', 'type'), 'text');
    assert.equal(await page.getAttribute('#reveal', 'aria-pressed'), 'true');
    await page.click('#reveal');
    assert.equal(await page.getAttribute('#token', 'type'), 'password');
  });

  test('the token never appears on the page outside its field', async () => {
    for (const token of Object.values(TOKENS)) {
      await fill({ token: ` Token "${token}" ` });
      const html = await page.evaluate(() => document.documentElement.outerHTML + document.body.innerText);
      assert.ok(!html.includes(token), 'the page shows the token');
      await fill({ token });
      const again = await page.evaluate(() => document.documentElement.outerHTML + document.body.innerText);
      assert.ok(!again.includes(token), 'the page shows the token');
    }
  });

  test('typing made no network request, and nothing went wrong', () => {
    assert.deepEqual(requests, []);
    assert.deepEqual(problems, []);
  });

  test('screenshot for the README', async () => {
    await page.setViewportSize({ width: 1180, height: 1000 });
    await fill({ token: TOKENS.pat_guild });
    await page.selectOption('#workflow', 'sheets');
    await page.evaluate(() => {
      /** @type {HTMLElement} */ (document.activeElement)?.blur();
      document.querySelector('.sidebar')?.scrollTo(0, 0);
    });
    assert.equal((await row('check-account')).state, 'bad');
    const shot = await page.screenshot();
    // Rewrite the committed picture only when the page changed, not on PNG encoding or the few
    // anti-aliased pixels that differ from run to run.
    if (!existsSync(SCREENSHOT) || (await differingPixels(page, readFileSync(SCREENSHOT), shot)) > 200) {
      mkdirSync(join(REPO, 'docs'), { recursive: true });
      writeFileSync(SCREENSHOT, shot);
    }
  });
});
