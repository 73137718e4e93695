// A Sheets-style add-on sidebar that checks a dbt Cloud connection as the user types, with no
// network call: the token's kind and format (inspectToken), the kind this workflow should use (the
// guidance of dbt's "account-scoped personal access tokens" page), and whether the token is bound to
// the chosen account (Validator.check against the example registry). It never shows the token back.
import init, { inspectToken, Validator } from '../../dist/web/index.js';

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const host = /** @type {HTMLInputElement} */ ($('host'));
const account = /** @type {HTMLInputElement} */ ($('account'));
const workflow = /** @type {HTMLSelectElement} */ ($('workflow'));
const token = /** @type {HTMLInputElement} */ ($('token'));
const reveal = $('reveal');
const connect = /** @type {HTMLButtonElement} */ ($('connect'));

const KIND_NAMES = {
  pat: 'Personal access token',
  service: 'Service token',
  user_key: 'Legacy user API key',
  oauth: 'OAuth access token',
};

// From the seed document: PATs for work done as the user (the Sheets and Semantic Layer
// integrations, the Cloud CLI, development scripts); service tokens for production workflows and
// partner integrations.
const WORKFLOWS = {
  sheets: { wants: 'pat', why: 'The Sheets integration runs queries as you, inside your permissions.' },
  dev: { wants: 'pat', why: 'Development work and the Cloud CLI act as you; use a service token once it goes to production.' },
  production: { wants: 'service', why: 'Production acts as a service account, not as a person, and outlives any one user.' },
  partner: { wants: 'service', why: 'Service tokens can be scoped to only what the integration needs, and you can see what uses them.' },
};
const HOW_TO_CREATE = {
  pat: 'Create a personal access token under Settings → Access Token, in the account you are connecting to.',
  service: 'Create a service token under Account settings → Service tokens, scoped to what it needs.',
};

// Titles for the account check; the detail is the core's own message, which never holds the token.
const ACCOUNT_TITLES = {
  ok: 'Bound to this account',
  account_mismatch: 'Not valid for this account',
  invalid_token: 'Unknown token',
  revoked_token: 'Revoked token',
  expired_token: 'Expired token',
  user_key_retired: 'Retired legacy key',
  malformed_token: 'Not a token',
  token_kind_not_allowed: 'Kind not allowed here',
  endpoint_sunset: 'Endpoint retired',
  invalid_request: 'Check the access URL and account ID',
};

const STATE_WORDS = { ok: 'Passed: ', warn: 'Warning: ', bad: 'Problem: ', idle: '' };

/** Sets one check row: its state, title and detail (text or a list of lines). */
function setCheck(id, state, title, detail) {
  const row = $(id);
  row.dataset.state = state;
  /** @type {HTMLElement} */ (row.querySelector('.sr-state')).textContent = STATE_WORDS[state];
  /** @type {HTMLElement} */ (row.querySelector('.text')).textContent = title;
  const box = /** @type {HTMLElement} */ (row.querySelector('.check-detail'));
  if (Array.isArray(detail)) {
    const list = document.createElement('ul');
    for (const line of detail) {
      const li = document.createElement('li');
      li.textContent = line;
      list.append(li);
    }
    box.replaceChildren(list);
  } else {
    box.textContent = detail;
  }
}

function setFieldMessage(input, msgId, message) {
  $(msgId).textContent = message;
  if (message) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

/** The access URL as a hostname, or an explanation of what is wrong with it. */
function readHost() {
  const raw = host.value.trim();
  if (!raw) return { error: '' };
  let url;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`);
  } catch {
    return { error: 'This is not a URL. It looks like https://ab123.us1.dbt.com.' };
  }
  if (url.protocol !== 'https:') return { error: 'Use the https:// address.' };
  if (!url.hostname.includes('.')) return { error: 'Use the whole address, like ab123.us1.dbt.com.' };
  return { hostname: url.hostname };
}

function readAccount() {
  const raw = account.value.trim();
  if (!raw) return { error: '' };
  if (!/^\d+$/.test(raw)) return { error: 'Account IDs are digits only; find yours in the dbt Cloud URL after /accounts/.' };
  return { id: raw.replace(/^0+(?=\d)/, '') };
}

/** @param {Validator} validator */
function update(validator) {
  const h = readHost();
  const a = readAccount();
  setFieldMessage(host, 'host-msg', h.error ?? '');
  setFieldMessage(account, 'account-msg', a.error ?? '');

  const value = token.value;
  const wanted = WORKFLOWS[workflow.value] ?? WORKFLOWS.sheets;
  let passed = 0;

  if (value === '') {
    setCheck('check-kind', 'idle', 'Token kind', 'Paste your token to check it.');
    setCheck('check-format', 'idle', 'Format', '');
    setCheck('check-workflow', 'idle', 'Right kind for this connection',
      `Use a ${KIND_NAMES[wanted.wants].toLowerCase()}. ${wanted.why}`);
    setCheck('check-account', 'idle', 'Bound to this account', '');
    finish(0);
    return;
  }

  const inspection = inspectToken(value);
  const kind = inspection.kind;

  // 1. What kind of token is this?
  if (kind === 'pat') {
    setCheck('check-kind', 'ok', KIND_NAMES.pat, 'Starts with dbtu_: acts as the user who made it, in one account.');
    passed++;
  } else if (kind === 'service') {
    setCheck('check-kind', 'ok', KIND_NAMES.service, 'Starts with dbtc_: belongs to a service account, in one account.');
    passed++;
  } else if (kind === 'user_key') {
    setCheck('check-kind', 'bad', KIND_NAMES.user_key,
      'An old key that reached every account of its user. These keys are retired.');
  } else if (kind === 'oauth') {
    setCheck('check-kind', 'warn', KIND_NAMES.oauth, 'A sign-in token, not an API token. Paste an API token instead.');
  } else {
    setCheck('check-kind', 'bad', 'Not a dbt Cloud token', 'dbt Cloud API tokens start with dbtu_ or dbtc_.');
  }

  // 2. What is wrong with it, in the core's words.
  if (inspection.problems.length > 0) {
    const title = inspection.wellFormed ? 'Format: needs attention' : 'Format: fix before connecting';
    setCheck('check-format', 'bad', title, inspection.problems.map((p) => p.message));
  } else {
    setCheck('check-format', 'ok', 'Format looks right', 'Right prefix, length and characters.');
    passed++;
  }

  // 3. Is it the kind this workflow should use?
  if (kind === 'pat' || kind === 'service') {
    if (kind === wanted.wants) {
      setCheck('check-workflow', 'ok', 'Right kind for this connection', wanted.why);
      passed++;
    } else {
      setCheck('check-workflow', 'warn', `Use a ${KIND_NAMES[wanted.wants].toLowerCase()} here`,
        `${wanted.why} ${HOW_TO_CREATE[wanted.wants]}`);
    }
  } else {
    setCheck('check-workflow', kind === 'user_key' ? 'bad' : 'idle', `Use a ${KIND_NAMES[wanted.wants].toLowerCase()}`,
      `${wanted.why} ${HOW_TO_CREATE[wanted.wants]}`);
  }

  // 4. Is it bound to the chosen account? Only a well-formed token is worth the registry check.
  if (!inspection.wellFormed) {
    setCheck('check-account', 'idle', 'Bound to this account', 'Fix the token first.');
  } else if (!h.hostname || !a.id) {
    setCheck('check-account', 'idle', 'Bound to this account', 'Enter the access URL and account ID to check.');
  } else {
    const decision = validator.check({
      method: 'GET',
      url: `https://${h.hostname}/api/v2/accounts/${a.id}/`,
      headers: { authorization: `Token ${value}` },
    });
    if (decision.allow && decision.tokenKind === 'oauth') {
      setCheck('check-account', 'warn', 'Not checked', 'OAuth tokens are not bound to an account here.');
    } else if (decision.allow && decision.responseHeaders.sunset) {
      setCheck('check-account', 'warn', `Works for account ${a.id} until ${decision.responseHeaders.sunset}`,
        `Deprecated. ${HOW_TO_CREATE.pat}`);
    } else if (decision.allow) {
      setCheck('check-account', 'ok', `Bound to account ${a.id}`, 'This token works in the account you chose.');
      passed++;
    } else {
      setCheck('check-account', 'bad', ACCOUNT_TITLES[decision.code] ?? 'Refused', decision.message);
    }
  }
  finish(passed);
}

function finish(passed) {
  const ready = passed === 4;
  connect.disabled = !ready;
  $('connect-msg').textContent = ready ? 'All checks passed.' : '';
}

function drawGrid() {
  const grid = $('grid');
  const cols = ['', 'A', 'B', 'C', 'D', 'E', 'F', 'G'];
  const rows = [
    ['Region', 'Metric', 'Q1', 'Q2', 'Q3', 'Δ', ''],
    ['EMEA', 'revenue', '1,204,880', '1,311,520', '1,402,115', '+6.9%', ''],
    ['NA', 'revenue', '2,880,410', '2,950,002', '3,104,660', '+5.2%', ''],
    ['APAC', 'revenue', '640,200', '702,900', '690,315', '−1.8%', ''],
    ['LATAM', 'revenue', '210,044', '225,310', '248,900', '+10.5%', ''],
  ];
  for (let r = 0; r <= 48; r++) {
    for (let c = 0; c < cols.length; c++) {
      const cell = document.createElement('div');
      cell.className = r === 0 || c === 0 ? 'cell head' : 'cell';
      cell.textContent = r === 0 ? cols[c] : c === 0 ? String(r) : rows[r - 1]?.[c - 1] ?? '';
      if (r === 1 && c > 0) cell.classList.add('bold');
      grid.append(cell);
    }
  }
}

async function main() {
  drawGrid();
  await init();
  // Loaded once with the page; typing never touches the network.
  const policy = await (await fetch(new URL('../../../examples/policy.json', import.meta.url))).json();
  const validator = new Validator(policy);
  const refresh = () => update(validator);
  for (const el of [host, account, token]) el.addEventListener('input', refresh);
  workflow.addEventListener('change', refresh);
  reveal.addEventListener('click', () => {
    const show = token.type === 'password';
    token.type = show ? 'text' : 'password';
    reveal.textContent = show ? 'Hide' : 'Show';
    reveal.setAttribute('aria-pressed', String(show));
  });
  connect.addEventListener('click', () => {
    $('connect-msg').textContent = 'All checks passed. (This demo stops here: nothing was sent.)';
  });
  refresh();
  document.body.dataset.ready = 'true';
}

main().catch((e) => {
  document.body.dataset.ready = 'error';
  $('connect-msg').textContent = `The checker could not start: ${e instanceof Error ? e.message : String(e)}`;
});
