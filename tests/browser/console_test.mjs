// Browser test of the operator console (console/README.md): drives Debian's Chromium with
// playwright-core against a live `kledger dev --demo` and checks what the pages show against the
// API the test asks itself.
//
//   node tests/browser/console_test.mjs KLEDGER_BINARY SCREENSHOT_DIR
//
// Needs node >= 20, `npm ci` in tests/browser, /usr/bin/chromium and kcat. Prints one line per
// step; exits 1 with the failed check on the last line. Every wait is for a condition, with a
// timeout; every process it starts is stopped at the end, also on failure.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const [binary, shotDir] = process.argv.slice(2);
if (!binary || !shotDir) {
  console.error('usage: node tests/browser/console_test.mjs KLEDGER_BINARY SCREENSHOT_DIR');
  process.exit(2);
}

const WAIT_MS = 20000;
const ADMIN_TOKEN = 'admintoken-console-0123456789';
const DEMO_TOKEN = 'demotoken-console-0123456789abc';
const scratch = mkdtempSync(path.join(os.tmpdir(), 'kledger-console-test-'));
const children = [];
let browser = null;
const pageProblems = [];

// ---------------------------------------------------------------------------------------------
// Reporting and waiting

class CheckFailed extends Error {}

function step(text) {
  console.log(`[console-test] ${text}`);
}

function check(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

function checkEqual(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  check(a === e, `${what}: the console shows ${a}, the API says ${e}`);
}

// Polls fn until it returns a truthy value; fails with `what` after timeoutMs.
async function waitFor(what, fn, timeoutMs = WAIT_MS, everyMs = 200) {
  const deadline = Date.now() + timeoutMs;
  let last = null;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new CheckFailed(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (${last.message})` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

async function visible(page, testid, what, timeout = WAIT_MS) {
  const locator = page.getByTestId(testid).first();
  try {
    await locator.waitFor({ state: 'visible', timeout });
  } catch {
    const shown = await page
      .locator('main')
      .innerText()
      .catch(() => '?');
    throw new CheckFailed(
      `${what}: [data-testid=${testid}] did not appear within ${timeout} ms; the page shows:\n${shown.slice(0, 1500)}`,
    );
  }
  return locator;
}

async function screenshot(page, name) {
  await page.screenshot({ path: path.join(shotDir, `${name}.png`), fullPage: true });
}

// The console's amount format, as the test expects it from the API's strings.
const grouping = new Intl.NumberFormat('en-US', { useGrouping: true, maximumFractionDigits: 0 });
function money(value, currency) {
  return `${grouping.format(BigInt(value))} ${currency}`;
}

// ---------------------------------------------------------------------------------------------
// Processes

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function run(command, args, name) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = { child, name, stdout: '', stderr: '', exited: null };
  child.stdout.on('data', (d) => {
    proc.stdout += d;
  });
  child.stderr.on('data', (d) => {
    proc.stderr += d;
  });
  child.on('exit', (code, signal) => {
    proc.exited = { code, signal };
  });
  child.on('error', (e) => {
    proc.exited = { code: -1, error: e.message };
  });
  children.push(proc);
  return proc;
}

async function stop(proc) {
  if (proc.exited) return;
  proc.child.kill('SIGTERM');
  const deadline = Date.now() + 15000;
  while (!proc.exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (!proc.exited) proc.child.kill('SIGKILL');
}

async function startDev(extraArgs) {
  const port = await freePort();
  const dev = run(binary, ['dev', '--demo', '--http', `127.0.0.1:${port}`, ...extraArgs], 'kledger dev');
  const first = await waitFor(
    'the first line of kledger dev (http=... bootstrap=...)',
    () => {
      if (dev.exited)
        throw new CheckFailed(
          `kledger dev exited: ${JSON.stringify(dev.exited)}\n${dev.stderr.slice(-2000)}`,
        );
      const m = dev.stdout.match(/^kledger dev: http=(\S+) bootstrap=(\S+)/m);
      return m && { http: m[1], bootstrap: m[2] };
    },
    60000,
  ).catch((e) => {
    throw dev.exited ? new CheckFailed(`kledger dev exited early: ${dev.stderr.slice(-2000)}`) : e;
  });
  await waitFor(
    "the demo's summary",
    () => {
      if (dev.exited) throw new CheckFailed(`kledger dev exited: ${dev.stderr.slice(-2000)}`);
      return /kledger dev: serving on/.test(dev.stdout);
    },
    120000,
  );
  await waitFor('/readyz to answer 200', async () => (await fetch(`${first.http}/readyz`)).ok, 60000);
  return { dev, base: first.http, bootstrap: first.bootstrap };
}

async function kcatProduce(bootstrap, topic, key, valueFile, headers, partition) {
  const args = ['-P', '-b', bootstrap, '-t', topic, '-k', key];
  if (partition !== undefined) args.push('-p', String(partition));
  for (const header of headers) args.push('-H', header);
  args.push(valueFile);
  const proc = run('kcat', args, 'kcat');
  await waitFor(`kcat to produce to ${topic}`, () => proc.exited, 30000);
  check(proc.exited.code === 0, `kcat failed (${JSON.stringify(proc.exited)}): ${proc.stderr}`);
}

// ---------------------------------------------------------------------------------------------
// The API, asked by the test itself

async function api(base, apiPath, { token, method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${base}${apiPath}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new CheckFailed(`${method} ${apiPath} answered ${res.status}: ${text}`);
  return JSON.parse(text);
}

const enc = encodeURIComponent;

// ---------------------------------------------------------------------------------------------
// A valid EventEnvelope (AccountOpened), encoded by hand: the processors apply it when redriven.

function varint(n) {
  const out = [];
  let v = BigInt(n);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return Buffer.from(out);
}

function field(number, value) {
  if (Buffer.isBuffer(value) || typeof value === 'string') {
    const bytes = Buffer.from(value);
    return Buffer.concat([varint((number << 3) | 2), varint(bytes.length), bytes]);
  }
  return Buffer.concat([varint(number << 3), varint(value)]);
}

// common/domain/event_id.cc: SHA-256 over each field prefixed by its 8-byte big-endian length.
function deriveEventId(...fields) {
  const hash = createHash('sha256');
  for (const f of fields) {
    const bytes = Buffer.from(f);
    const length = Buffer.alloc(8);
    length.writeBigUInt64BE(BigInt(bytes.length));
    hash.update(length).update(bytes);
  }
  return hash.digest('hex').slice(0, 32);
}

function accountOpenedEnvelope(instance, address, currency) {
  const eventId = deriveEventId('account_opened', instance, address);
  const opened = Buffer.concat([field(1, address), field(2, 1 /* ASSET */), field(4, currency)]);
  const envelope = Buffer.concat([
    field(1, eventId),
    field(2, instance),
    field(3, 1),
    field(4, 'console-test'),
    field(5, Date.now()),
    field(11, opened),
  ]);
  return { eventId, envelope };
}

// ---------------------------------------------------------------------------------------------
// Page helpers

async function newPage(context) {
  const page = await context.newPage();
  page.on('pageerror', (e) => pageProblems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) pageProblems.push(`CSP: ${m.text()}`);
  });
  return page;
}

async function goto(page, base, hash) {
  await page.goto(`${base}/console/${hash}`);
}

// The rows of a table as objects of their cells' texts, keyed by data-testid.
async function rows(page, rowTestid) {
  return page.getByTestId(rowTestid).evaluateAll((trs) =>
    trs.map((tr) => {
      const cells = { ...tr.dataset };
      for (const el of tr.querySelectorAll('[data-testid]')) cells[el.dataset.testid] = el.textContent.trim();
      return cells;
    }),
  );
}

async function waitTitle(page, title) {
  await waitFor(
    `the page titled "${title}"`,
    async () => (await page.getByTestId('page-title').innerText()).trim() === title,
  );
}

// ---------------------------------------------------------------------------------------------
// The checks, in the order of the brief

async function checkAuthOffAndInstances(page, base) {
  step('1. /console shows the "authentication is off" banner');
  await page.goto(`${base}/console`);
  const banner = await visible(page, 'auth-off-banner', 'the auth-off banner');
  check(
    /Authentication is off/.test(await banner.innerText()),
    'the banner does not say "Authentication is off"',
  );
  await visible(page, 'instances-table', 'the instances page');
  const listed = await rows(page, 'instance-row');
  const fromApi = (await api(base, '/v1/instances')).items.map((i) => i.instance_id);
  checkEqual(
    listed.map((r) => r.instance),
    fromApi,
    'instances listed',
  );
  check(fromApi.includes('demo'), 'instance demo is not listed');
  await screenshot(page, 'instances');

  step('   keyboard: Tab reaches the skip link first, then the links, each with a visible focus outline');
  await page.keyboard.press('Tab');
  const skip = await page.evaluate(() => document.activeElement.textContent);
  checkEqual(skip, 'Skip to content', 'the first element Tab reaches');
  for (let i = 0; i < 3; i++) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const el = document.activeElement;
      const style = getComputedStyle(el);
      return { tag: el.tagName, outline: style.outlineStyle, width: parseFloat(style.outlineWidth) };
    });
    check(
      ['A', 'BUTTON', 'INPUT', 'SELECT'].includes(focused.tag) &&
        focused.outline !== 'none' &&
        focused.width > 0,
      `a focused element has no visible focus: ${JSON.stringify(focused)}`,
    );
  }
}

async function checkAccounts(page, base) {
  step('2. instances -> demo -> accounts filtered by a prefix, against GET .../accounts?prefix=');
  await page.locator('[data-testid=instance-row][data-instance=demo] a').click();
  await visible(page, 'accounts-table', 'the accounts of demo');
  const all = (await api(base, '/v1/instances/demo/accounts?limit=1000')).items;
  const prefix = 'liabilities:wallets:c0';
  await page.getByLabel('Address prefix').fill(prefix);
  await page.getByTestId('prefix-submit').click();
  await page.waitForURL((url) => url.hash.includes('prefix='));
  const expected = (await api(base, `/v1/instances/demo/accounts?prefix=${enc(prefix)}&limit=1000`)).items;
  check(
    expected.length > 0 && expected.length < all.length,
    `prefix ${prefix} should select some accounts, not all (${expected.length} of ${all.length})`,
  );
  const shown = await waitFor('the filtered account list', async () => {
    const r = await rows(page, 'account-row');
    return r.length === expected.length && r.every((a) => a.address.startsWith(prefix)) ? r : null;
  });
  checkEqual(
    shown.map((r) => [r.address, r.posted, r.pending, r.available]),
    expected.map((a) => [
      a.address,
      money(a.balances.posted.amount, a.currency),
      money(a.balances.pending.amount, a.currency),
      money(a.balances.available, a.currency),
    ]),
    `accounts with prefix ${prefix} (address, posted, pending, available)`,
  );
  await screenshot(page, 'accounts');
  return expected[0].address;
}

async function checkNegativeAndLongAddress(page, base) {
  const address = `assets:console:overdraft_${Date.now()}:${'a_long_segment_that_has_to_wrap_'.repeat(6)}end`;
  step('2b. a negative balance is marked (class and minus sign); a long address wraps, not truncated');
  await api(base, '/v1/instances/demo/accounts', {
    method: 'POST',
    body: { address, type: 'ASSET', currency: 'USD', allow_negative: true },
  });
  await api(base, '/v1/instances/demo/transactions', {
    method: 'POST',
    body: {
      source: 'console-test',
      source_idempk: `overdraft-${Date.now()}`,
      status: 'POSTED',
      entries: [
        { account: address, direction: 'CREDIT', amount: '123456', currency: 'USD' },
        { account: 'liabilities:wallets:c08:usd', direction: 'DEBIT', amount: '123456', currency: 'USD' },
      ],
    },
  });
  await goto(page, base, `#/i/demo/accounts?prefix=${enc('assets:console:overdraft_')}`);
  const cell = await waitFor(
    'the overdrawn account in the list',
    async () => {
      await page.getByTestId('prefix-submit').click();
      await page.waitForFunction(() => !document.querySelector('main').hasAttribute('aria-busy'));
      const posted = page.locator(
        `[data-testid=account-row][data-address="${address}"] [data-testid=posted]`,
      );
      return (await posted.count()) > 0 && (await posted.innerText()).startsWith('-') ? posted : null;
    },
    20000,
    300,
  );
  checkEqual((await cell.innerText()).trim(), '-123,456 USD', 'the negative posted balance');
  check(/\bnegative\b/.test(await cell.getAttribute('class')), 'the negative amount has no "negative" class');
  const link = page.locator(`[data-testid=account-row][data-address="${address}"] a`);
  const box = await link.evaluate((a) => {
    const style = getComputedStyle(a.closest('td'));
    return {
      text: a.textContent,
      lines: Math.round(a.getBoundingClientRect().height / parseFloat(getComputedStyle(a).lineHeight)),
      clipped: a.scrollWidth > a.closest('td').clientWidth,
      ellipsis: style.textOverflow === 'ellipsis' || getComputedStyle(a).textOverflow === 'ellipsis',
    };
  });
  check(box.text === address, `the address is shown as ${JSON.stringify(box.text)}`);
  check(
    !box.clipped && !box.ellipsis && box.lines > 1,
    `the long address does not wrap cleanly: ${JSON.stringify(box)}`,
  );
  await screenshot(page, 'accounts-negative');
}

async function checkAccount(page, base, address) {
  step(`3. account ${address}: balances and each balance-after of its history, two pages`);
  await page.locator(`[data-testid=account-row][data-address="${address}"] a`).click();
  await visible(page, 'history-table', 'the history of the account');
  const path = `/v1/instances/demo/accounts/${enc(address)}`;
  const account = await api(base, path);
  const ccy = account.currency;
  const balanceRow = async (testid) =>
    page
      .getByTestId(testid)
      .evaluate((tr) => [...tr.querySelectorAll('[data-testid]')].map((e) => e.textContent.trim()));
  const b = account.balances;
  checkEqual(
    await balanceRow('balance-posted'),
    [money(b.posted.debit, ccy), money(b.posted.credit, ccy), money(b.posted.amount, ccy)],
    'posted balances',
  );
  checkEqual(
    await balanceRow('balance-pending'),
    [money(b.pending.debit, ccy), money(b.pending.credit, ccy), money(b.pending.amount, ccy)],
    'pending balances',
  );
  checkEqual(await balanceRow('balance-available'), [money(b.available, ccy)], 'available balance');

  const checkHistoryPage = async (history, what) => {
    const shown = await rows(page, 'history-row');
    checkEqual(
      shown.map((r) => [
        r.offset,
        r['entry-amount'],
        r['after-posted'],
        r['after-pending'],
        r['after-available'],
      ]),
      history.items.map((e) => [
        e.offset,
        money(e.amount, ccy),
        money(e.balances_after.posted.amount, ccy),
        money(e.balances_after.pending.amount, ccy),
        money(e.balances_after.available, ccy),
      ]),
      `${what} (offset, amount, posted after, pending after, available after)`,
    );
  };
  const first = await api(base, `${path}/history?limit=50`);
  check(first.items.length > 0, `account ${address} has no history`);
  await checkHistoryPage(first, 'history page 1');
  await screenshot(page, 'account');
  if (first.next_cursor) {
    await page.getByTestId('next-page').click();
    const second = await api(base, `${path}/history?limit=50&cursor=${enc(first.next_cursor)}`);
    await waitFor(
      'history page 2',
      async () => (await rows(page, 'history-row'))[0]?.offset === second.items[0].offset,
    );
    await checkHistoryPage(second, 'history page 2');
    await page.getByTestId('first-page').click();
    await waitFor(
      'history page 1 again',
      async () => (await rows(page, 'history-row'))[0]?.offset === first.items[0].offset,
    );
  } else {
    step('   (the history has one page: no paging to check)');
  }
  return first.items[0];
}

async function checkTransactionAndEvent(page, base, entry) {
  step(`4. transaction ${entry.source}/${entry.source_idempk} from the history, and the event lookup`);
  await page
    .locator(
      `[data-testid=history-row][data-offset="${entry.offset}"] [data-testid=history-transaction-link]`,
    )
    .click();
  await visible(page, 'entries-table', 'the transaction page');
  const t = await api(
    base,
    `/v1/instances/demo/transactions/${enc(entry.source)}/${enc(entry.source_idempk)}`,
  );
  const shownEntries = await rows(page, 'entry-row');
  checkEqual(
    shownEntries.map((e) => [e.account, e['entry-amount']]),
    t.entries.map((e) => [e.account, money(e.amount, e.currency)]),
    'transaction entries',
  );
  checkEqual(
    (await page.getByTestId('transaction-status').innerText()).trim(),
    t.status.toLowerCase(),
    'transaction status',
  );
  const outcome = await api(base, `/v1/instances/demo/events/${enc(t.event_id)}`);
  checkEqual(
    (await (await visible(page, 'event-outcome', 'the creating event outcome')).innerText()).trim(),
    outcome.outcome,
    "the creating event's outcome on the transaction page",
  );
  await screenshot(page, 'transaction');

  await page.getByTestId('transaction-event-link').click();
  await waitTitle(page, `Event ${t.event_id}`);
  checkEqual(
    (await page.getByTestId('event-position').innerText()).trim(),
    `${outcome.partition} : ${outcome.offset}`,
    'event partition : offset',
  );
  checkEqual((await page.getByTestId('event-outcome').innerText()).trim(), 'APPLIED', 'event outcome');
  await screenshot(page, 'event');

  const unknown = '0123456789abcdef0123456789abcdef';
  await page.getByLabel('Event id').fill(unknown);
  await page.getByTestId('event-submit').click();
  await visible(page, 'event-not-found', 'the "no outcome" notice for an unknown event');

  step('   outcomes of demo filtered to rejections, against GET .../events?outcome=rejected');
  await page.getByTestId('subnav-events').click();
  await visible(page, 'outcome-form', 'the outcomes page');
  await page.getByLabel('Outcome').selectOption('rejected');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.waitForURL((url) => url.hash.includes('outcome=rejected'));
  const rejected = (await api(base, '/v1/instances/demo/events?outcome=rejected&limit=100')).items;
  check(rejected.length > 0, 'the demo recorded no rejection');
  await waitFor('the rejections listed', async () => {
    const shown = await rows(page, 'event-row');
    return shown.length === rejected.length && shown.every((r) => /REJECTED/.test(r.outcome));
  });
  checkEqual(
    (await rows(page, 'event-row')).map((r) => [r.eventId, r.outcome, r.reason]),
    rejected.map((o) => [o.event_id, o.outcome, o.reason]),
    'rejected events (id, outcome, reason)',
  );
  await screenshot(page, 'outcomes');
  return t;
}

async function findDeadLetter(page, reason, predicate, what) {
  await page.getByLabel('Reason').selectOption(reason);
  await page.getByTestId('reason-submit').click();
  return waitFor(
    what,
    async () => {
      await page.getByTestId('dlq-refresh').click();
      await page.waitForFunction(() => !document.querySelector('main').hasAttribute('aria-busy'));
      return (await rows(page, 'dlq-row')).find(predicate);
    },
    30000,
    500,
  );
}

async function checkPoisonRedrive(page, base, bootstrap) {
  const eventId = `poison-console-${Date.now()}`;
  step(
    `5a. a poison record (event id ${eventId}): listed, decoded, redriven after a dry run, dead-lettered anew`,
  );
  const valueFile = path.join(scratch, 'poison.bin');
  writeFileSync(valueFile, 'not-an-envelope');
  await kcatProduce(bootstrap, 'kledger.events', 'demo', valueFile, [`kledger-event-id=${eventId}`]);
  await page.getByTestId('nav-dlq').click();
  await visible(page, 'reason-form', 'the dead-letter page');
  const letter = await findDeadLetter(
    page,
    'poison',
    (r) => r.eventId === eventId,
    `the dead letter of ${eventId} in the list`,
  );
  const shownReasons = (await rows(page, 'dlq-row')).map((r) => r.id);
  const poisonIds = (await api(base, '/v1/dead-letters?reason=poison&limit=1000')).items.map((d) => d.id);
  checkEqual(shownReasons, poisonIds, 'dead letters with reason poison');
  await screenshot(page, 'dead-letters');

  await page.locator(`[data-testid=dlq-row][data-id="${letter.id}"] a`).click();
  await visible(page, 'dl-details', 'the dead-letter detail');
  const detail = await api(base, `/v1/dead-letters/${enc(letter.id)}`);
  check(
    !detail.valid && detail.poison_code,
    `the API says ${letter.id} is not poison: ${JSON.stringify(detail)}`,
  );
  checkEqual(
    (await page.getByTestId('dl-poison-code').innerText()).trim(),
    detail.poison_code,
    'poison code',
  );
  checkEqual((await page.getByTestId('dl-valid').innerText()).trim(), 'no', 'decodes today');
  check(
    (await page.getByTestId('dl-value').innerText()).includes('|not-an-envelope|'),
    'the value dump does not show the bytes',
  );
  await screenshot(page, 'dead-letter');

  const depthBefore = (await api(base, '/v1/dead-letters?limit=1000')).items.length;
  await page.getByTestId('redrive-start').click();
  await visible(page, 'redrive-dry-run', 'the dry run of the redrive');
  checkEqual(
    await page.getByTestId('redrive-selected').evaluateAll((trs) => trs.map((tr) => tr.dataset.id)),
    [letter.id],
    'letters the dry run selects',
  );
  await screenshot(page, 'redrive-confirm');
  checkEqual(
    (await api(base, '/v1/dead-letters?limit=1000')).items.length,
    depthBefore,
    'dead letters after the dry run alone (nothing may be sent)',
  );

  await page.getByTestId('redrive-confirm').click();
  await visible(page, 'redrive-result', 'the redrive result');
  checkEqual(
    (await page.getByTestId('redrive-summary').innerText()).trim(),
    'Redriven 1, failed 0.',
    'redrive summary',
  );
  const item = await page.getByTestId('redrive-item').evaluate((tr) => ({ ...tr.dataset }));
  check(item.from === letter.id && item.ok === 'true', `redrive item: ${JSON.stringify(item)}`);
  await screenshot(page, 'redrive-result');

  step(`   redriven to events ${item.partition}:${item.offset}; waiting for the new dead letter it becomes`);
  await page.getByTestId('redrive-back').click();
  await visible(page, 'reason-form', 'the dead-letter list after the redrive');
  const again = await findDeadLetter(
    page,
    'poison',
    (r) => r.eventId === eventId && r.original === `${item.partition} : ${item.offset}`,
    `a new dead letter of ${eventId} from events ${item.partition}:${item.offset}`,
  );
  check(again.id !== letter.id, 'the redriven record did not become a new dead letter');
  await page.locator(`[data-testid=dlq-row][data-id="${again.id}"] a`).click();
  const from = await visible(page, 'dl-redriven-from', 'the "redriven from" of the new letter');
  checkEqual((await from.innerText()).trim(), letter.id, 'kledger-redriven-from of the new dead letter');
  await screenshot(page, 'dead-letter-redriven');
}

async function checkValidRedrive(page, base, bootstrap) {
  const address = `assets:console:redrive_${Date.now()}`;
  const { eventId, envelope } = accountOpenedEnvelope('demo', address, 'USD');
  step(
    `5b. a valid event (open ${address}) dead-lettered after retries: redriving the filtered set applies it`,
  );
  const valueFile = path.join(scratch, 'envelope.bin');
  writeFileSync(valueFile, envelope);
  await kcatProduce(
    bootstrap,
    'kledger.events.dlt',
    'demo',
    valueFile,
    [
      `kledger-event-id=${eventId}`,
      'kledger-event-type=account_opened',
      'kledger-schema-version=1',
      'content-type=application/x-protobuf',
      'kledger-dlt-reason=retries_exhausted',
      'kledger-dlt-error-code=storage',
      'kledger-dlt-error-message=injected by the console test',
      'kledger-dlt-original-topic=kledger.events',
      'kledger-dlt-original-partition=0',
      'kledger-dlt-original-offset=999',
      'kledger-dlt-original-timestamp=1',
      'kledger-dlt-attempts=5',
      'kledger-dlt-first-failure-ms=2',
      'kledger-dlt-consumer-group=kledger-dev',
    ],
    0,
  );

  await goto(page, base, `#/i/demo/e/${enc(eventId)}`);
  await visible(page, 'event-not-found', `no outcome for ${eventId} before the redrive`);

  await page.getByTestId('nav-dlq').click();
  await visible(page, 'reason-form', 'the dead-letter page');
  await findDeadLetter(
    page,
    'retries_exhausted',
    (r) => r.eventId === eventId,
    `the dead letter of ${eventId}`,
  );
  const expected = (await api(base, '/v1/dead-letters?reason=retries_exhausted&limit=1000')).items.map(
    (d) => d.id,
  );
  await page.getByTestId('redrive-start').click();
  await visible(page, 'redrive-dry-run', 'the dry run of the filtered redrive');
  checkEqual(
    await page.getByTestId('redrive-selected').evaluateAll((trs) => trs.map((tr) => tr.dataset.id)),
    expected,
    'letters the filtered dry run selects',
  );
  await page.getByTestId('redrive-confirm').click();
  await visible(page, 'redrive-result', 'the filtered redrive result');
  checkEqual(
    (await page.getByTestId('redrive-summary').innerText()).trim(),
    `Redriven ${expected.length}, failed 0.`,
    'filtered redrive summary',
  );

  await goto(page, base, `#/i/demo/e/${enc(eventId)}`);
  await waitFor(
    `the console's event lookup to show ${eventId} APPLIED`,
    async () => {
      await page.getByTestId('event-submit').click();
      await page.waitForFunction(() => !document.querySelector('main').hasAttribute('aria-busy'));
      const outcome = page.getByTestId('event-outcome');
      return (await outcome.count()) > 0 && (await outcome.innerText()).trim() === 'APPLIED';
    },
    30000,
    500,
  );
  await screenshot(page, 'event-after-redrive');
  await goto(page, base, `#/i/demo/a/${enc(address)}`);
  checkEqual(
    (await (await visible(page, 'account-address', 'the account the redrive opened')).innerText()).trim(),
    address,
    'the account opened by the redriven event',
  );
}

async function checkHealth(page, base) {
  step(
    '6. health: partitions, and it refreshes itself (a new transaction shows up as its partition advances)',
  );
  await page.getByTestId('nav-health').click();
  await visible(page, 'health-partitions', 'the partitions table');
  const stats = await api(base, '/v1/stats');
  const shown = await rows(page, 'partition-row');
  checkEqual(
    shown.map((r) => r.partition),
    stats.partitions.map((p) => String(p.partition)),
    'partitions listed',
  );
  const refreshes = async () =>
    Number(await page.getByTestId('health-updated').getAttribute('data-refreshes'));
  const before = await refreshes();
  const partition = (await api(base, '/v1/instances/demo/events?limit=1')).items[0].partition;
  const offsetShown = async () =>
    page
      .locator(`[data-testid=partition-row][data-partition="${partition}"]`)
      .getAttribute('data-next-offset');
  const offsetBefore = BigInt(await offsetShown());
  const ack = await api(base, '/v1/instances/demo/transactions', {
    method: 'POST',
    body: {
      source: 'console-test',
      source_idempk: `health-${Date.now()}`,
      status: 'POSTED',
      entries: [
        { account: 'assets:bank:usd', direction: 'DEBIT', amount: '100', currency: 'USD' },
        { account: 'liabilities:wallets:c01:usd', direction: 'CREDIT', amount: '100', currency: 'USD' },
      ],
    },
  });
  await waitFor(
    `the health view to show partition ${partition} past offset ${ack.offset} by itself`,
    async () =>
      BigInt(await offsetShown()) > BigInt(ack.offset) && BigInt(await offsetShown()) > offsetBefore,
    20000,
    250,
  );
  check((await refreshes()) > before, 'the "updated" counter did not advance');
  await screenshot(page, 'health');
}

async function checkAuth(context, base) {
  step('7. with --auth-tokens: the token form and no data before a token');
  const page = await newPage(context);
  await page.goto(`${base}/console`);
  await visible(page, 'token-form', 'the token form');
  check(await page.getByLabel('Bearer token').isVisible(), 'the token input has no label "Bearer token"');
  check(
    (await page.getByTestId('auth-off-banner').count()) === 0,
    'the auth-off banner shows while auth is on',
  );
  check((await page.locator('main table').count()) === 0, 'data is shown before a token');
  check((await page.locator('#nav a').count()) === 0, 'navigation shows before a token');
  await screenshot(page, 'token-form');

  await page.getByLabel('Bearer token').fill('not-a-token-at-all-0123');
  await page.getByTestId('token-submit').click();
  await visible(page, 'token-message', 'the "token refused" message');
  check((await page.locator('main table').count()) === 0, 'data is shown for a refused token');

  step('   a token for instance demo (query): demo works, instance other is 403 forbidden, admin pages too');
  await page.getByLabel('Bearer token').fill(DEMO_TOKEN);
  await page.getByTestId('token-submit').click();
  await visible(page, 'instances-table', 'the instances page with the demo token');
  checkEqual(
    (await rows(page, 'instance-row')).map((r) => r.instance),
    ['demo'],
    'instances the demo token sees',
  );
  check(
    (await page.getByTestId('nav-dlq').count()) === 0,
    'the dead-letter link shows for a token without admin',
  );
  check(
    await page.evaluate(() => Object.values(sessionStorage).includes('demotoken-console-0123456789abc')),
    'the token is not kept in sessionStorage',
  );
  await goto(page, base, '#/i/demo/accounts');
  await visible(page, 'accounts-table', 'demo accounts with the demo token');
  await goto(page, base, '#/i/other/accounts');
  const forbidden = await visible(page, 'forbidden', 'the 403 of instance other');
  const text = await forbidden.innerText();
  check(/403 forbidden/i.test(text) && /other/.test(text), `the 403 notice says: ${text}`);
  await screenshot(page, 'forbidden');
  await goto(page, base, '#/dlq');
  await waitFor('the 403 of the dead letters for a token without admin', async () =>
    /403 forbidden.*admin/is.test(await page.getByTestId('forbidden').innerText()),
  );

  step('   forget the token; an admin token sees accounts, dead letters and health');
  await page.getByTestId('forget-token').click();
  await visible(page, 'token-form', 'the token form after "forget token"');
  check(await page.evaluate(() => sessionStorage.length === 0), 'sessionStorage still holds the token');
  await page.getByLabel('Bearer token').fill(ADMIN_TOKEN);
  await page.getByTestId('token-submit').click();
  await visible(page, 'nav-dlq', 'the dead-letter link for the admin token');
  await goto(page, base, '#/i/demo/accounts');
  await visible(page, 'accounts-table', 'demo accounts with the admin token');
  await goto(page, base, '#/health');
  await visible(page, 'health-partitions', 'health with the admin token');
  await goto(page, base, '#/dlq');
  await visible(page, 'reason-form', 'dead letters with the admin token');
  check((await page.getByTestId('forbidden').count()) === 0, 'the admin token is forbidden');
  await screenshot(page, 'admin');
}

async function checkMisdirected(context) {
  step('8. two processors: an instance the other serves names its owner; the link opens it there');
  const broker = run(binary, ['broker', '--partitions', '4'], 'kledger broker');
  const bootstrap = await waitFor("the broker's bootstrap= line", () => {
    if (broker.exited) throw new CheckFailed(`kledger broker exited: ${broker.stderr.slice(-2000)}`);
    const m = broker.stdout.match(/^bootstrap=(\S+)/m);
    return m && m[1];
  });
  const commandPort = await freePort();
  run(binary, ['command', '--bootstrap', bootstrap, '--http', `127.0.0.1:${commandPort}`,
    '--insecure-no-auth', '--profile', 'dev'], 'kledger command');
  const commandBase = `http://127.0.0.1:${commandPort}`;
  const bases = [];
  for (let i = 0; i < 2; ++i) {
    const port = await freePort();
    bases.push(`http://127.0.0.1:${port}`);
    run(binary, ['processor', '--bootstrap', bootstrap, '--group', 'console-test', '--data-dir',
      path.join(scratch, `processor-${i}`), '--http', `127.0.0.1:${port}`, '--insecure-no-auth',
      '--profile', 'dev'], `kledger processor ${i}`);
  }
  for (const base of [commandBase, ...bases]) {
    await waitFor(`${base}/readyz to answer 200`, async () => (await fetch(`${base}/readyz`)).ok, 60000);
  }
  // Both processors own partitions once the group settled: each partition's owner is announced.
  await waitFor('the four partitions shared by both processors', async () => {
    const owners = new Set((await api(bases[0], '/v1/stats')).partitions.map((p) => p.owner));
    return owners.size === 2 && bases.every((b) => owners.has(b));
  }, 60000);
  // Instances until one lives on a partition of processor 1.
  let elsewhere = null;
  for (let i = 0; i < 40 && !elsewhere; ++i) {
    const instance = `tenant-${i}`;
    await api(commandBase, `/v1/instances/${instance}/accounts`, {
      method: 'POST',
      body: { address: 'assets:cash', type: 'ASSET', currency: 'USD' },
    });
    const res = await fetch(`${bases[0]}/v1/instances/${instance}/accounts`);
    if (res.status === 421) {
      checkEqual(res.headers.get('X-Kledger-Owner'), bases[1], `the owner the 421 of ${instance} names`);
      elsewhere = instance;
    }
  }
  check(elsewhere, 'no instance of 40 lived on a partition of processor 1');

  const page = await newPage(context);
  await goto(page, bases[0], `#/i/${elsewhere}/accounts`);
  const link = await visible(page, 'owner-link', `processor 0's console for ${elsewhere}`);
  checkEqual(
    await link.getAttribute('href'),
    `${bases[1]}/console/#/i/${elsewhere}/accounts`,
    'the link to the owner',
  );
  await screenshot(page, 'misdirected');
  await link.click();
  await waitFor(`the owner's console to list ${elsewhere}'s account`, async () => {
    if ((await page.getByTestId('accounts-table').count()) === 0) {
      await page.reload();  // the account may not be applied yet
      await page.getByTestId('main').waitFor();
      return false;
    }
    return (await rows(page, 'account-row')).some((r) => r.address === 'assets:cash');
  }, 30000, 500);
  check(page.url().startsWith(`${bases[1]}/console/`), `the link led to ${page.url()}`);
}

// ---------------------------------------------------------------------------------------------

async function main() {
  mkdirSync(shotDir, { recursive: true });
  step(`binary ${binary}; screenshots in ${shotDir}`);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });

  step('starting kledger dev --demo (auth off)');
  const open = await startDev([]);
  step(`   serving on ${open.base}, bootstrap ${open.bootstrap}`);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await newPage(context);
  await checkAuthOffAndInstances(page, open.base);
  const address = await checkAccounts(page, open.base);
  await checkNegativeAndLongAddress(page, open.base);
  await goto(page, open.base, `#/i/demo/accounts?prefix=${enc('liabilities:wallets:c0')}`);
  await visible(page, 'accounts-table', 'the filtered accounts again');
  const entry = await checkAccount(page, open.base, address);
  await checkTransactionAndEvent(page, open.base, entry);
  await checkPoisonRedrive(page, open.base, open.bootstrap);
  await checkValidRedrive(page, open.base, open.bootstrap);
  await checkHealth(page, open.base);
  for (const c of [...children].reverse()) await stop(c);
  await checkMisdirected(context);
  await context.close();
  for (const c of [...children].reverse()) await stop(c);

  const tokens = path.join(scratch, 'tokens');
  writeFileSync(tokens, `${ADMIN_TOKEN} * query,admin\n${DEMO_TOKEN} demo query\n`);
  step('starting kledger dev --demo --auth-tokens');
  const secured = await startDev(['--auth-tokens', tokens]);
  const authContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await checkAuth(authContext, secured.base);
  await authContext.close();

  check(pageProblems.length === 0, `the page reported problems:\n${pageProblems.join('\n')}`);
}

async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  for (const c of [...children].reverse()) await stop(c);
  rmSync(scratch, { recursive: true, force: true });
}

process.on('SIGINT', async () => {
  await cleanup();
  process.exit(130);
});

try {
  await main();
  await cleanup();
  step(`PASS: every check held; screenshots in ${shotDir}`);
} catch (e) {
  await cleanup();
  console.error(`[console-test] FAIL: ${e instanceof CheckFailed ? e.message : e.stack}`);
  process.exit(1);
}
