// kledger operator console (console/README.md). Plain ES2020, no framework, no build step; the
// binary embeds this file with index.html and console.css and serves them under /console/.
//
// How it is organised, top to bottom:
//   1. Formatting and DOM helpers: h() builds elements (text is always text, never HTML),
//      amount() prints integer minor units with grouping and the currency.
//   2. The API client: api() adds the bearer token, parses JSON and turns every non-2xx answer
//      into an ApiError (status, code, message, and the owner of a 421).
//   3. Session: the token kept in sessionStorage, /v1/whoami, the banner, the token form, the nav.
//   4. Router: the hash (#/instances, #/i/<instance>/accounts?prefix=, #/i/<i>/a/<address>,
//      #/i/<i>/t/<source>/<idempk>, #/i/<i>/e/<event_id>, #/i/<i>/events?outcome=,
//      #/dlq?reason=, #/dlq/<P:O>, #/health) picks a view; a view renders into a detached
//      element swapped in when it is done, so a slow answer for a page already left is dropped.
//   5. Views, one function each, in the order of the routes above, plus the redrive panel
//      (dry run, confirmation, result) shared by the dead-letter list and the detail view.
//   6. Errors: 401 asks for a token, 403 says "forbidden", 421 links to the owner's console.
'use strict';

(() => {
  // ---------------------------------------------------------------------------------------------
  // 1. Formatting and DOM helpers

  const TOKEN_KEY = 'kledger.console.token';
  const HEALTH_REFRESH_MS = 3000;
  const groupDigits = new Intl.NumberFormat('en-US', { useGrouping: true, maximumFractionDigits: 0 });

  // h('a', {href: '#/x', class: 'c', dataset: {testid: 't'}}, 'text', child, [more]).
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'dataset') Object.assign(el.dataset, value);
      else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
      else if (key === 'class') el.className = value;
      else el.setAttribute(key, value === true ? '' : String(value));
    }
    append(el, children);
    return el;
  }

  function append(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function toBigInt(value) {
    try {
      return BigInt(value ?? 0);
    } catch {
      return null;
    }
  }

  // An int64 of minor units as "1,234,567 USD"; negative values carry a minus sign and a class.
  function amount(value, currency, testid) {
    const n = toBigInt(value);
    const text = n === null ? String(value) : groupDigits.format(n);
    const negative = n !== null && n < 0n;
    return h(
      'span',
      {
        class: negative ? 'amount negative' : 'amount',
        dataset: { testid: testid || 'amount', amount: String(value ?? '0') },
        title: negative ? 'negative balance' : undefined,
      },
      text,
      currency ? ` ${currency}` : '',
    );
  }

  function count(value) {
    const n = toBigInt(value);
    return n === null ? String(value) : groupDigits.format(n);
  }

  function enumName(value) {
    return String(value || '')
      .toLowerCase()
      .replace(/_/g, ' ');
  }

  function seg(value) {
    return encodeURIComponent(value);
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== '') q.set(key, value);
    }
    const s = q.toString();
    return s ? `?${s}` : '';
  }

  function link(href, text, attrs) {
    return h('a', { href, ...attrs }, text);
  }

  // A table with a caption, column headers and one <tr> per row (rows are arrays of cells).
  function table(caption, headers, rows, testid) {
    return h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { dataset: { testid } },
        h('caption', {}, caption),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            headers.map((name) => h('th', { scope: 'col' }, name)),
          ),
        ),
        h('tbody', {}, rows),
      ),
    );
  }

  function row(attrs, cells) {
    return h(
      'tr',
      attrs,
      cells.map((cell) =>
        cell instanceof Node && (cell.tagName === 'TD' || cell.tagName === 'TH') ? cell : h('td', {}, cell),
      ),
    );
  }

  // A definition list from [term, value] pairs; values may be nodes.
  function details(pairs, testid) {
    return h(
      'dl',
      { class: 'details', dataset: { testid } },
      pairs
        .filter((p) => p)
        .map(([term, value, id]) => [
          h('dt', {}, term),
          h('dd', { dataset: id ? { testid: id } : undefined }, value),
        ]),
    );
  }

  function notice(kind, testid, ...children) {
    return h(
      'div',
      { class: `notice ${kind}`, role: kind === 'info' ? 'status' : 'alert', dataset: { testid } },
      children,
    );
  }

  function labelled(id, labelText, input) {
    input.id = id;
    return h('div', { class: 'field' }, h('label', { for: id }, labelText), input);
  }

  function time(iso) {
    return iso ? h('time', { datetime: iso }, iso) : '';
  }

  // ---------------------------------------------------------------------------------------------
  // 2. The API client

  class ApiError extends Error {
    constructor(status, code, message, owner) {
      super(message);
      this.status = status;
      this.code = code;
      this.owner = owner;
    }
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  }

  async function api(path, { method = 'GET', body } = {}) {
    const headers = { Accept: 'application/json' };
    if (token()) headers.Authorization = `Bearer ${token()}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch (e) {
      throw new ApiError(0, 'network', `the server did not answer (${e.message})`);
    }
    const text = await res.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (res.ok) return json;
    const err = (json && json.error) || {};
    throw new ApiError(
      res.status,
      err.code || `http_${res.status}`,
      err.message || text.trim() || res.statusText,
      res.headers.get('X-Kledger-Owner') || '',
    );
  }

  // ---------------------------------------------------------------------------------------------
  // 3. Session: token, whoami, banner, nav

  const state = { whoami: null, generation: 0, timer: null };

  // Dead letters and health need the admin right on every instance ("*"); the server decides
  // anyway, this only hides links that would answer 403.
  function isAdmin() {
    const grants = (state.whoami && state.whoami.grants) || [];
    return grants.some((g) => g.instances === '*' && (g.rights || []).includes('admin'));
  }

  async function loadWhoami() {
    try {
      state.whoami = await api('/v1/whoami');
    } catch (e) {
      state.whoami = null;
      if (e.status !== 401) throw e;
    }
    renderChrome();
    return state.whoami;
  }

  function renderChrome() {
    renderBanner();
    renderNav();
    renderSession();
  }

  function renderBanner() {
    const area = document.getElementById('banner');
    area.replaceChildren();
    if (state.whoami && state.whoami.auth_enabled === false) {
      area.append(
        h(
          'div',
          { class: 'banner warning', role: 'status', dataset: { testid: 'auth-off-banner' } },
          h('strong', {}, 'Authentication is off'),
          ' on this server: anyone who can reach it may read and operate on every instance.',
        ),
      );
    }
  }

  function renderNav() {
    const nav = document.getElementById('nav');
    nav.replaceChildren();
    if (!state.whoami) return;
    const items = [['#/instances', 'Instances', 'nav-instances']];
    if (isAdmin()) {
      items.push(['#/dlq', 'Dead letters', 'nav-dlq'], ['#/health', 'Health', 'nav-health']);
    }
    nav.append(
      h(
        'ul',
        {},
        items.map(([href, text, testid]) => h('li', {}, link(href, text, { dataset: { testid } }))),
      ),
    );
    markCurrentNav();
  }

  function markCurrentNav() {
    const top = location.hash.split(/[/?]/)[1] || 'instances';
    for (const a of document.querySelectorAll('#nav a')) {
      const current = a.getAttribute('href').split(/[/?]/)[1] === (top === 'i' ? 'instances' : top);
      if (current) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  function renderSession() {
    const box = document.getElementById('session');
    box.replaceChildren();
    if (!token()) return;
    const who = state.whoami && state.whoami.token_id ? `token ${state.whoami.token_id}` : 'a token is set';
    box.append(
      h('span', { dataset: { testid: 'token-id' } }, who),
      ' ',
      h(
        'button',
        { type: 'button', class: 'link-button', dataset: { testid: 'forget-token' }, onclick: forgetToken },
        'Forget token',
      ),
    );
  }

  function forgetToken() {
    sessionStorage.removeItem(TOKEN_KEY);
    state.whoami = null;
    start();
  }

  function tokenForm(message) {
    const input = h('input', {
      type: 'password',
      name: 'token',
      autocomplete: 'off',
      required: true,
      spellcheck: 'false',
      dataset: { testid: 'token-input' },
    });
    const form = h(
      'form',
      {
        class: 'token-form',
        dataset: { testid: 'token-form' },
        onsubmit: async (event) => {
          event.preventDefault();
          sessionStorage.setItem(TOKEN_KEY, input.value.trim());
          await start();
        },
      },
      h('h1', {}, 'Sign in with a bearer token'),
      message ? notice('error', 'token-message', message) : null,
      h(
        'p',
        {},
        'This server requires a token. It is kept for this browser tab only (sessionStorage) ',
        'and sent as ',
        h('code', {}, 'Authorization: Bearer'),
        ' on every API call.',
      ),
      labelled('token-input', 'Bearer token', input),
      h('button', { type: 'submit', dataset: { testid: 'token-submit' } }, 'Use token'),
    );
    return form;
  }

  function showTokenForm(message) {
    stopTimer();
    state.whoami = null;
    renderChrome();
    const main = document.getElementById('main');
    main.removeAttribute('aria-busy');
    main.replaceChildren(tokenForm(message));
    main.querySelector('input').focus();
  }

  // ---------------------------------------------------------------------------------------------
  // 4. Router

  const routes = [
    [/^\/?$/, viewInstances],
    [/^\/instances$/, viewInstances],
    [/^\/i\/([^/]+)$/, viewAccounts],
    [/^\/i\/([^/]+)\/accounts$/, viewAccounts],
    [/^\/i\/([^/]+)\/a\/([^/]+)$/, viewAccount],
    [/^\/i\/([^/]+)\/t\/([^/]+)\/([^/]+)$/, viewTransaction],
    [/^\/i\/([^/]+)\/events$/, viewEvents],
    [/^\/i\/([^/]+)\/e(?:\/([^/]*))?$/, viewEvent],
    [/^\/dlq$/, viewDeadLetters],
    [/^\/dlq\/([^/]+)$/, viewDeadLetter],
    [/^\/health$/, viewHealth],
  ];

  function parseHash() {
    const raw = location.hash.replace(/^#/, '');
    const at = raw.indexOf('?');
    const path = at < 0 ? raw : raw.slice(0, at);
    const params = new URLSearchParams(at < 0 ? '' : raw.slice(at + 1));
    return { path, params };
  }

  // Goes to a page; asking again for the page already shown reloads it (a form's "look up" again).
  function navigate(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  function stopTimer() {
    if (state.timer) clearInterval(state.timer);
    state.timer = null;
  }

  async function route() {
    stopTimer();
    if (!state.whoami) return;
    markCurrentNav();
    const generation = ++state.generation;
    const { path, params } = parseHash();
    const main = document.getElementById('main');
    const found = routes.find(([re]) => re.test(path));
    const view = h('div', { class: 'view' });
    main.setAttribute('aria-busy', 'true');
    try {
      if (!found) throw new ApiError(404, 'not_found', `no page at #${path}`);
      const args = path
        .match(found[0])
        .slice(1)
        .map((arg) => decodeURIComponent(arg || ''));
      await found[1](view, args, params, generation);
    } catch (e) {
      if (generation !== state.generation) return;
      if (e.status === 401) {
        showTokenForm(token() ? 'The server refused this token (401). Type another.' : '');
        return;
      }
      // Keep the page's heading, so the error says which page it belongs to.
      view.replaceChildren(...view.querySelectorAll(':scope > h1'), errorView(e));
    }
    if (generation !== state.generation) return;
    main.removeAttribute('aria-busy');
    main.replaceChildren(view);
    const heading = main.querySelector('h1');
    document.title = heading ? `${heading.textContent} — kledger console` : 'kledger console';
  }

  // ---------------------------------------------------------------------------------------------
  // 5. Views

  function heading(text, testid) {
    return h('h1', { dataset: { testid: testid || 'page-title' } }, text);
  }

  function instanceNav(instance, current) {
    const items = [
      [`#/i/${seg(instance)}/accounts`, 'Accounts', 'accounts'],
      [`#/i/${seg(instance)}/e/`, 'Event lookup', 'event'],
      [`#/i/${seg(instance)}/events`, 'Outcomes', 'events'],
    ];
    return h(
      'nav',
      { class: 'subnav', 'aria-label': `Instance ${instance}` },
      h('span', {}, 'Instance ', h('strong', {}, instance), ': '),
      items.map(([href, text, key]) =>
        link(href, text, {
          'aria-current': key === current ? 'page' : undefined,
          dataset: { testid: `subnav-${key}` },
        }),
      ),
    );
  }

  function pager(nextCursor, hrefFor, hasCursor) {
    const links = [];
    if (hasCursor) links.push(link(hrefFor(''), 'First page', { dataset: { testid: 'first-page' } }));
    if (nextCursor) links.push(link(hrefFor(nextCursor), 'Next page', { dataset: { testid: 'next-page' } }));
    return links.length ? h('p', { class: 'pager' }, links) : document.createDocumentFragment();
  }

  // #/instances
  async function viewInstances(view, args, params) {
    const cursor = params.get('cursor') || '';
    view.append(heading('Instances'));
    const page = await api(`/v1/instances${query({ limit: 100, cursor })}`);
    const items = page.items || [];
    view.append(h('p', {}, 'The instances this processor serves that your token may query.'));
    if (items.length === 0) {
      view.append(notice('info', 'instances-empty', 'No instance here that you may query.'));
    } else {
      view.append(
        table(
          'Instances served here',
          ['Instance', 'Partition'],
          items.map((i) =>
            row({ dataset: { testid: 'instance-row', instance: i.instance_id } }, [
              link(`#/i/${seg(i.instance_id)}/accounts`, i.instance_id, {
                dataset: { testid: 'instance-link' },
              }),
              String(i.partition),
            ]),
          ),
          'instances-table',
        ),
      );
    }
    view.append(pager(page.next_cursor, (c) => `#/instances${query({ cursor: c })}`, cursor));
    view.append(openInstanceForm());
  }

  function openInstanceForm() {
    const input = h('input', {
      type: 'text',
      name: 'instance',
      required: true,
      pattern: '[A-Za-z0-9_.:\\-]{1,128}',
      spellcheck: 'false',
      dataset: { testid: 'open-instance-input' },
    });
    return h(
      'form',
      {
        class: 'inline-form',
        dataset: { testid: 'open-instance-form' },
        onsubmit: (event) => {
          event.preventDefault();
          navigate(`#/i/${seg(input.value.trim())}/accounts`);
        },
      },
      labelled('open-instance', 'Open an instance by id', input),
      h('button', { type: 'submit' }, 'Open'),
    );
  }

  // #/i/<instance>/accounts?prefix=&cursor=
  async function viewAccounts(view, [instance], params) {
    const prefix = params.get('prefix') || '';
    const cursor = params.get('cursor') || '';
    view.append(heading(`Accounts of ${instance}`), instanceNav(instance, 'accounts'));
    view.append(prefixForm(instance, prefix));
    const page = await api(`/v1/instances/${seg(instance)}/accounts${query({ prefix, cursor, limit: 100 })}`);
    const items = page.items || [];
    if (items.length === 0) {
      view.append(
        notice(
          'info',
          'accounts-empty',
          prefix
            ? `No account of ${instance} has an address starting with “${prefix}”.`
            : `${instance} has no accounts.`,
        ),
      );
    } else {
      const caption = prefix ? `Accounts whose address starts with “${prefix}”` : 'Accounts';
      view.append(
        table(
          caption,
          ['Address', 'Type', 'Status', 'Posted', 'Pending', 'Available'],
          items.map((a) => accountRow(instance, a)),
          'accounts-table',
        ),
      );
    }
    view.append(
      pager(page.next_cursor, (c) => `#/i/${seg(instance)}/accounts${query({ prefix, cursor: c })}`, cursor),
    );
  }

  function prefixForm(instance, prefix) {
    const input = h('input', {
      type: 'search',
      name: 'prefix',
      value: prefix,
      spellcheck: 'false',
      placeholder: 'liabilities:wallets:',
      dataset: { testid: 'prefix-input' },
    });
    return h(
      'form',
      {
        class: 'inline-form',
        role: 'search',
        dataset: { testid: 'prefix-form' },
        onsubmit: (event) => {
          event.preventDefault();
          navigate(`#/i/${seg(instance)}/accounts${query({ prefix: input.value.trim() })}`);
        },
      },
      labelled('prefix-input', 'Address prefix', input),
      h('button', { type: 'submit', dataset: { testid: 'prefix-submit' } }, 'Filter'),
    );
  }

  function accountRow(instance, a) {
    const b = a.balances || {};
    return row({ dataset: { testid: 'account-row', address: a.address } }, [
      h(
        'td',
        { class: 'address' },
        link(`#/i/${seg(instance)}/a/${seg(a.address)}`, a.address, { dataset: { testid: 'account-link' } }),
      ),
      enumName(a.type),
      enumName(a.status),
      h('td', { class: 'num' }, amount((b.posted || {}).amount, a.currency, 'posted')),
      h('td', { class: 'num' }, amount((b.pending || {}).amount, a.currency, 'pending')),
      h('td', { class: 'num' }, amount(b.available, a.currency, 'available')),
    ]);
  }

  // #/i/<instance>/a/<address>?cursor=
  async function viewAccount(view, [instance, address], params, generation) {
    const cursor = params.get('cursor') || '';
    const base = `/v1/instances/${seg(instance)}/accounts/${seg(address)}`;
    const [account, history] = await Promise.all([
      api(base),
      api(`${base}/history${query({ cursor, limit: 50 })}`),
    ]);
    if (generation !== state.generation) return;
    view.append(heading(`Account ${address}`), instanceNav(instance, ''));
    view.append(accountDetails(account));
    view.append(balancesTable(account));
    view.append(
      h('h2', {}, 'History'),
      h('p', {}, 'Newest first; each row shows the balances right after that entry.'),
    );
    view.append(historyTable(instance, account.currency, history.items || []));
    view.append(
      pager(
        history.next_cursor,
        (c) => `#/i/${seg(instance)}/a/${seg(address)}${query({ cursor: c })}`,
        cursor,
      ),
    );
  }

  function accountDetails(a) {
    const metadata = Object.entries(a.metadata || {});
    return details(
      [
        ['Address', h('span', { class: 'address' }, a.address), 'account-address'],
        ['Type', enumName(a.type)],
        ['Normal balance', enumName(a.normal_balance)],
        ['Currency', a.currency],
        ['Status', enumName(a.status), 'account-status'],
        ['May go negative', a.allow_negative ? 'yes' : 'no'],
        a.credit_limit !== undefined
          ? ['Credit limit', amount(a.credit_limit, a.currency, 'credit-limit')]
          : null,
        metadata.length ? ['Metadata', metadataList(metadata)] : null,
      ],
      'account-details',
    );
  }

  function metadataList(entries) {
    return h(
      'ul',
      { class: 'plain' },
      entries.map(([k, v]) => h('li', {}, h('code', {}, k), ' = ', v)),
    );
  }

  function balancesTable(a) {
    const b = a.balances || {};
    const side = (name, s, testid) =>
      row({ dataset: { testid } }, [
        h('th', { scope: 'row' }, name),
        h('td', { class: 'num' }, amount((s || {}).debit, a.currency, 'debit')),
        h('td', { class: 'num' }, amount((s || {}).credit, a.currency, 'credit')),
        h('td', { class: 'num' }, amount((s || {}).amount, a.currency, 'balance')),
      ]);
    return h(
      'section',
      { 'aria-labelledby': 'balances-h' },
      h('h2', { id: 'balances-h' }, 'Balances'),
      table(
        'Balances (minor units)',
        ['', 'Debits', 'Credits', 'Balance'],
        [
          side('Posted', b.posted, 'balance-posted'),
          side('Pending', b.pending, 'balance-pending'),
          row({ dataset: { testid: 'balance-available' } }, [
            h('th', { scope: 'row' }, 'Available'),
            '',
            '',
            h('td', { class: 'num' }, amount(b.available, a.currency, 'balance')),
          ]),
        ],
        'balances-table',
      ),
    );
  }

  function historyTable(instance, currency, items) {
    if (items.length === 0) return notice('info', 'history-empty', 'No entries.');
    return table(
      'Entries, newest first',
      [
        'Offset',
        'Transaction',
        'Direction',
        'Amount',
        'Status',
        'Posted after',
        'Pending after',
        'Available after',
      ],
      items.map((e) => {
        const after = e.balances_after || {};
        return row({ dataset: { testid: 'history-row', offset: e.offset, eventId: e.event_id } }, [
          link(`#/i/${seg(instance)}/e/${seg(e.event_id)}`, e.offset, {
            title: `event ${e.event_id}`,
            dataset: { testid: 'history-event-link' },
          }),
          h(
            'td',
            { class: 'address' },
            link(
              `#/i/${seg(instance)}/t/${seg(e.source)}/${seg(e.source_idempk)}`,
              `${e.source} / ${e.source_idempk}`,
              { dataset: { testid: 'history-transaction-link' } },
            ),
          ),
          enumName(e.direction),
          h('td', { class: 'num' }, amount(e.amount, currency, 'entry-amount')),
          enumName(e.status),
          h('td', { class: 'num' }, amount((after.posted || {}).amount, currency, 'after-posted')),
          h('td', { class: 'num' }, amount((after.pending || {}).amount, currency, 'after-pending')),
          h('td', { class: 'num' }, amount(after.available, currency, 'after-available')),
        ]);
      }),
      'history-table',
    );
  }

  // #/i/<instance>/t/<source>/<source_idempk>
  async function viewTransaction(view, [instance, source, idempk]) {
    const t = await api(`/v1/instances/${seg(instance)}/transactions/${seg(source)}/${seg(idempk)}`);
    view.append(heading(`Transaction ${source} / ${idempk}`), instanceNav(instance, ''));
    view.append(
      details(
        [
          ['Status', enumName(t.status), 'transaction-status'],
          ['Description', t.description || '—'],
          ['Effective at', t.effective_at || '—'],
          [
            'Created by event',
            link(`#/i/${seg(instance)}/e/${seg(t.event_id)}`, t.event_id, {
              dataset: { testid: 'transaction-event-link' },
            }),
          ],
          (t.update_idempks || []).length ? ['Updates applied', t.update_idempks.join(', ')] : null,
          Object.keys(t.metadata || {}).length
            ? ['Metadata', metadataList(Object.entries(t.metadata))]
            : null,
        ],
        'transaction-details',
      ),
    );
    view.append(
      table(
        'Entries',
        ['Account', 'Direction', 'Amount'],
        (t.entries || []).map((e) =>
          row({ dataset: { testid: 'entry-row', account: e.account } }, [
            h('td', { class: 'address' }, link(`#/i/${seg(instance)}/a/${seg(e.account)}`, e.account)),
            enumName(e.direction),
            h('td', { class: 'num' }, amount(e.amount, e.currency, 'entry-amount')),
          ]),
        ),
        'entries-table',
      ),
    );
    view.append(h('h2', {}, 'Outcome of the creating event'));
    view.append(await outcomeOrError(instance, t.event_id));
  }

  async function outcomeOrError(instance, eventId) {
    try {
      return outcomeDetails(await api(`/v1/instances/${seg(instance)}/events/${seg(eventId)}`));
    } catch (e) {
      if (e.status === 401) throw e;
      return errorView(e);
    }
  }

  function outcomeDetails(o) {
    return details(
      [
        ['Event', h('code', {}, o.event_id), 'event-id'],
        [
          'Outcome',
          h('strong', { class: `outcome outcome-${String(o.outcome).toLowerCase()}` }, o.outcome),
          'event-outcome',
        ],
        o.reason ? ['Reason', o.reason, 'event-reason'] : null,
        o.message ? ['Message', o.message, 'event-message'] : null,
        ['Type', o.event_type || '—', 'event-type'],
        ['Partition : offset', `${o.partition} : ${o.offset}`, 'event-position'],
      ],
      'outcome-details',
    );
  }

  // #/i/<instance>/e/<event_id>
  async function viewEvent(view, [instance, eventId]) {
    view.append(heading(eventId ? `Event ${eventId}` : 'Event lookup'), instanceNav(instance, 'event'));
    view.append(eventForm(instance, eventId));
    if (!eventId) return;
    try {
      view.append(outcomeDetails(await api(`/v1/instances/${seg(instance)}/events/${seg(eventId)}`)));
    } catch (e) {
      if (e.status !== 404) throw e;
      view.append(
        notice(
          'info',
          'event-not-found',
          `No outcome recorded for event ${eventId} in `,
          `instance ${instance}: not processed here yet, or never submitted. (${e.message})`,
        ),
      );
    }
  }

  // #/i/<instance>/events?outcome=&cursor=: recorded outcomes in offset order, e.g. every rejection.
  async function viewEvents(view, [instance], params) {
    const outcome = params.get('outcome') || '';
    const cursor = params.get('cursor') || '';
    view.append(heading(`Outcomes of ${instance}`), instanceNav(instance, 'events'));
    view.append(outcomeForm(instance, outcome));
    const page = await api(`/v1/instances/${seg(instance)}/events${query({ outcome, cursor, limit: 100 })}`);
    const items = page.items || [];
    if (items.length === 0) {
      view.append(
        notice(
          'info',
          'events-empty',
          outcome ? `No ${enumName(outcome)} outcome recorded.` : 'No outcome recorded.',
        ),
      );
    } else {
      view.append(
        table(
          'Recorded outcomes, in offset order',
          ['Offset', 'Event', 'Type', 'Outcome', 'Reason'],
          items.map((o) =>
            row({ dataset: { testid: 'event-row', eventId: o.event_id } }, [
              `${o.partition} : ${o.offset}`,
              h('td', { class: 'address' }, link(`#/i/${seg(instance)}/e/${seg(o.event_id)}`, o.event_id)),
              o.event_type,
              h(
                'strong',
                {
                  class: `outcome outcome-${String(o.outcome).toLowerCase()}`,
                  dataset: { testid: 'outcome' },
                },
                o.outcome,
              ),
              h(
                'td',
                {},
                h('span', { dataset: { testid: 'reason' } }, o.reason || ''),
                o.message ? ` — ${o.message}` : '',
              ),
            ]),
          ),
          'events-table',
        ),
      );
    }
    view.append(
      pager(page.next_cursor, (c) => `#/i/${seg(instance)}/events${query({ outcome, cursor: c })}`, cursor),
    );
  }

  function outcomeForm(instance, outcome) {
    const choices = [
      ['', 'any'],
      ['applied', 'applied'],
      ['rejected', 'rejected'],
      ['dead_lettered', 'dead lettered'],
    ];
    return filterForm({ name: 'outcome', label: 'Outcome', choices, current: outcome },
      (value) => `#/i/${seg(instance)}/events${query({ outcome: value })}`);
  }

  // A one-select filter form: picking a choice and submitting navigates to link(value).
  // `extra` buttons follow the submit button.
  function filterForm({ name, label, choices, current }, link, ...extra) {
    const select = h(
      'select',
      { name, dataset: { testid: `${name}-select` } },
      choices.map(([value, text]) => h('option', { value, selected: value === current }, text)),
    );
    return h(
      'form',
      {
        class: 'inline-form',
        dataset: { testid: `${name}-form` },
        onsubmit: (event) => {
          event.preventDefault();
          navigate(link(select.value));
        },
      },
      labelled(`${name}-select`, label, select),
      h('button', { type: 'submit', dataset: { testid: `${name}-submit` } }, 'Show'),
      ...extra,
    );
  }

  function eventForm(instance, eventId) {
    const input = h('input', {
      type: 'text',
      name: 'event_id',
      value: eventId,
      required: true,
      spellcheck: 'false',
      dataset: { testid: 'event-input' },
    });
    return h(
      'form',
      {
        class: 'inline-form',
        role: 'search',
        dataset: { testid: 'event-form' },
        onsubmit: (event) => {
          event.preventDefault();
          navigate(`#/i/${seg(instance)}/e/${seg(input.value.trim())}`);
        },
      },
      labelled('event-input', 'Event id', input),
      h('button', { type: 'submit', dataset: { testid: 'event-submit' } }, 'Look up'),
    );
  }

  // #/dlq?reason=&cursor=
  async function viewDeadLetters(view, args, params) {
    const reason = params.get('reason') || '';
    const cursor = params.get('cursor') || '';
    view.append(heading('Dead letters'));
    view.append(reasonForm(reason));
    const page = await api(`/v1/dead-letters${query({ reason, cursor, limit: 100 })}`);
    const items = page.items || [];
    if (items.length === 0) {
      view.append(
        notice('info', 'dlq-empty', reason ? `No dead letter with reason ${reason}.` : 'No dead letters.'),
      );
    } else {
      view.append(
        table(
          reason ? `Dead letters, reason ${reason}` : 'Dead letters',
          ['Id', 'Reason', 'Error', 'Event', 'Original partition : offset', 'Dead-lettered at', 'Attempts'],
          items.map(deadLetterRow),
          'dlq-table',
        ),
      );
    }
    view.append(pager(page.next_cursor, (c) => `#/dlq${query({ reason, cursor: c })}`, cursor));
    if (items.length > 0) {
      const filter = reason ? { reason } : { all: true };
      const what = reason ? `every dead letter with reason ${reason}` : 'every dead letter';
      view.append(redrivePanel(filter, `Redrive ${what}…`));
    }
  }

  function reasonForm(reason) {
    const choices = [
      ['', 'any'],
      ['poison', 'poison'],
      ['retries_exhausted', 'retries exhausted'],
    ];
    return filterForm({ name: 'reason', label: 'Reason', choices, current: reason },
      (value) => `#/dlq${query({ reason: value })}`,
      h('button', { type: 'button', dataset: { testid: 'dlq-refresh' }, onclick: () => route() }, 'Refresh'));
  }

  function deadLetterRow(d) {
    const original =
      d.original_partition !== undefined ? `${d.original_partition} : ${d.original_offset}` : '—';
    return row({ dataset: { testid: 'dlq-row', id: d.id, eventId: d.event_id, original } }, [
      link(`#/dlq/${seg(d.id)}`, d.id, { dataset: { testid: 'dlq-link' } }),
      enumName(d.reason),
      h('td', {}, h('code', {}, d.error_code), d.error_message ? ` ${d.error_message}` : ''),
      h('td', { class: 'address' }, d.event_id || '—'),
      h('td', { dataset: { testid: 'dlq-original' } }, original),
      time(d.dlt_time),
      d.attempts ?? '—',
    ]);
  }

  // #/dlq/<P:O>
  async function viewDeadLetter(view, [id]) {
    const detail = await api(`/v1/dead-letters/${seg(id)}`);
    const d = detail.dead_letter || {};
    const headers = detail.headers || [];
    const from = headers.find((x) => x.key === 'kledger-redriven-from');
    view.append(heading(`Dead letter ${id}`));
    view.append(
      details(
        [
          ['Reason', enumName(d.reason), 'dl-reason'],
          ['Error', [h('code', {}, d.error_code), ' ', d.error_message], 'dl-error'],
          ['Event id', d.event_id || '—', 'dl-event-id'],
          ['Key (instance)', d.key || '—', 'dl-key'],
          [
            'Original',
            d.original_partition !== undefined
              ? `${d.original_topic} partition ${d.original_partition} offset ${d.original_offset}`
              : d.original_topic,
            'dl-original',
          ],
          ['Dead-lettered at', time(d.dlt_time)],
          d.first_failure ? ['First failure', time(d.first_failure)] : null,
          ['Attempts', d.attempts ?? '—'],
          ['Consumer group', d.consumer_group || '—'],
          from
            ? [
                'Redriven from',
                link(`#/dlq/${seg(from.value)}`, from.value, { dataset: { testid: 'dl-redriven-from' } }),
              ]
            : null,
          ['Decodes today', detail.valid ? 'yes: the processors would apply it' : 'no', 'dl-valid'],
          detail.valid ? null : ['Poison code', h('code', {}, detail.poison_code || '—'), 'dl-poison-code'],
          detail.valid ? null : ['Poison message', detail.poison_message || '—', 'dl-poison-message'],
        ],
        'dl-details',
      ),
    );
    if (d.key && d.event_id) {
      view.append(
        h(
          'p',
          {},
          link(`#/i/${seg(d.key)}/e/${seg(d.event_id)}`, `Look up event ${d.event_id} in ${d.key}`, {
            dataset: { testid: 'dl-event-link' },
          }),
        ),
      );
    }
    view.append(redrivePanel({ ids: [id] }, 'Redrive this dead letter…'));
    view.append(h('h2', {}, 'Headers'));
    view.append(
      table(
        'Record headers',
        ['Key', 'Value'],
        headers.map((x) =>
          row({ dataset: { testid: 'dl-header', key: x.key } }, [
            h('code', {}, x.key),
            h('td', { class: 'address' }, x.value),
          ]),
        ),
        'dl-headers',
      ),
    );
    view.append(h('h2', {}, `Value (${count(d.value_bytes)} bytes)`), hexDump(detail.value || ''));
    if (detail.envelope) {
      view.append(
        h('h2', {}, 'Envelope'),
        h(
          'pre',
          { class: 'json', dataset: { testid: 'dl-envelope' } },
          JSON.stringify(detail.envelope, null, 2),
        ),
      );
    }
  }

  // The value as offset, hex and printable characters, 16 bytes a line.
  function hexDump(base64) {
    let bytes;
    try {
      bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    } catch {
      return h('p', {}, 'The value is not valid base64.');
    }
    const lines = [];
    for (let at = 0; at < bytes.length && at < 4096; at += 16) {
      const chunk = Array.from(bytes.slice(at, at + 16));
      const hex = chunk
        .map((b) => b.toString(16).padStart(2, '0'))
        .join(' ')
        .padEnd(47, ' ');
      const text = chunk.map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
      lines.push(`${at.toString(16).padStart(6, '0')}  ${hex}  |${text}|`);
    }
    if (bytes.length > 4096) lines.push(`… ${bytes.length - 4096} more bytes`);
    return h('pre', { class: 'hexdump', dataset: { testid: 'dl-value' } }, lines.join('\n') || '(empty)');
  }

  // Dry run first, then the operator confirms exactly the letters the dry run listed.
  function redrivePanel(selection, startLabel) {
    const panel = h(
      'section',
      { class: 'redrive', 'aria-labelledby': 'redrive-h', dataset: { testid: 'redrive-panel' } },
      h('h2', { id: 'redrive-h' }, 'Redrive'),
    );
    const body = h('div', { 'aria-live': 'polite' });
    const start = h(
      'button',
      { type: 'button', dataset: { testid: 'redrive-start' }, onclick: () => dryRun(selection, body, start) },
      startLabel,
    );
    panel.append(
      h(
        'p',
        {},
        'Sends dead letters back to the events topic. Nothing is sent until you confirm the list ',
        'a dry run shows. An event is applied once however often it is redriven.',
      ),
      start,
      body,
    );
    return panel;
  }

  async function dryRun(selection, body, start) {
    start.disabled = true;
    body.replaceChildren(h('p', {}, 'Asking what would be redriven…'));
    try {
      const res = await api('/v1/dead-letters/redrive', {
        method: 'POST',
        body: { ...selection, dry_run: true },
      });
      const selected = res.selected || [];
      if (selected.length === 0) {
        body.replaceChildren(
          notice('info', 'redrive-nothing', 'Nothing matches: no dead letter would be redriven.'),
        );
        start.disabled = false;
        return;
      }
      const ids = selected.map((d) => d.id);
      const confirm = h(
        'button',
        {
          type: 'button',
          class: 'danger',
          dataset: { testid: 'redrive-confirm' },
          onclick: () => redrive(ids, body, start),
        },
        `Confirm: redrive ${ids.length}`,
      );
      const cancel = h(
        'button',
        {
          type: 'button',
          dataset: { testid: 'redrive-cancel' },
          onclick: () => {
            body.replaceChildren();
            start.disabled = false;
            start.focus();
          },
        },
        'Cancel',
      );
      body.replaceChildren(
        h(
          'div',
          { class: 'confirm', dataset: { testid: 'redrive-dry-run' } },
          h(
            'p',
            {},
            h(
              'strong',
              {},
              `Dry run: ${ids.length} dead letter${ids.length === 1 ? '' : 's'} would be sent back`,
            ),
            ' to the events topic. Nothing has been sent yet.',
          ),
          table(
            'Would be redriven',
            ['Id', 'Reason', 'Error', 'Event'],
            selected.map((d) =>
              row({ dataset: { testid: 'redrive-selected', id: d.id } }, [
                d.id,
                enumName(d.reason),
                d.error_code,
                h('td', { class: 'address' }, d.event_id || '—'),
              ]),
            ),
            'redrive-selected-table',
          ),
          h('p', { class: 'actions' }, confirm, ' ', cancel),
        ),
      );
      confirm.focus();
    } catch (e) {
      if (e.status === 401) return showTokenForm('The server refused this token (401).');
      body.replaceChildren(errorView(e));
      start.disabled = false;
    }
  }

  async function redrive(ids, body, start) {
    body.querySelectorAll('button').forEach((b) => {
      b.disabled = true;
    });
    try {
      const res = await api('/v1/dead-letters/redrive', { method: 'POST', body: { ids } });
      const items = res.items || [];
      body.replaceChildren(
        notice(
          Number(res.failed) > 0 ? 'error' : 'ok',
          'redrive-result',
          h(
            'p',
            {},
            h(
              'strong',
              { dataset: { testid: 'redrive-summary' } },
              `Redriven ${res.redriven}, failed ${res.failed}.`,
            ),
            ' The processors decide each one again: a poison record is dead-lettered anew (a new letter ',
            'whose kledger-redriven-from header names this one); a valid event gets its outcome.',
          ),
          table(
            'Redrive result',
            ['Dead letter', 'Result'],
            items.map((x) =>
              row(
                {
                  dataset: {
                    testid: 'redrive-item',
                    from: x.from,
                    ok: String(x.ok),
                    partition: x.partition,
                    offset: x.offset,
                  },
                },
                [
                  link(`#/dlq/${seg(x.from)}`, x.from),
                  x.ok ? `sent to events partition ${x.partition} offset ${x.offset}` : `failed: ${x.error}`,
                ],
              ),
            ),
            'redrive-items',
          ),
          h('p', {}, link('#/dlq', 'Back to the dead-letter list', { dataset: { testid: 'redrive-back' } })),
        ),
      );
      start.disabled = false;
    } catch (e) {
      if (e.status === 401) return showTokenForm('The server refused this token (401).');
      body.replaceChildren(errorView(e));
      start.disabled = false;
    }
  }

  // #/health: refreshes itself every HEALTH_REFRESH_MS while shown.
  async function viewHealth(view, args, params, generation) {
    view.append(heading('Health'));
    const status = h('p', { class: 'updated', 'aria-live': 'off' });
    const content = h('div', {});
    view.append(status, content);
    let refreshes = 0;
    const refresh = async () => {
      try {
        const stats = await api('/v1/stats');
        if (generation !== state.generation) return;
        content.replaceChildren(healthContent(stats));
        refreshes += 1;
        const now = new Date();
        status.replaceChildren(
          h(
            'span',
            { dataset: { testid: 'health-updated', refreshes: String(refreshes) } },
            'Updated at ',
            h('time', { datetime: now.toISOString() }, now.toLocaleTimeString('en-GB')),
            ` — refreshes every ${HEALTH_REFRESH_MS / 1000} s`,
          ),
        );
      } catch (e) {
        if (generation !== state.generation) return;
        if (e.status === 401) {
          showTokenForm('The server refused this token (401).');
          return;
        }
        if (refreshes === 0) throw e;
        status.replaceChildren(
          notice('error', 'health-stale', `Refresh failed (${e.message}); showing the last answer.`),
        );
      }
    };
    await refresh();
    if (generation === state.generation) state.timer = setInterval(refresh, HEALTH_REFRESH_MS);
  }

  function healthContent(s) {
    const outcomes = Object.entries(s.outcomes || {});
    const partitions = s.partitions || [];
    return h(
      'div',
      {},
      details(
        [
          ['Processor', s.processor || '—', 'health-processor'],
          ['Lag (owned partitions)', count(s.lag), 'health-lag'],
          [
            'Dead-letter depth',
            [count(s.dead_letter_depth), ' (', link('#/dlq', 'see the dead letters'), ')'],
            'health-dlq-depth',
          ],
          outcomes.length
            ? [
                'Outcomes since start',
                outcomes.map(([k, v]) => `${enumName(k)} ${count(v)}`).join(', '),
                'health-outcomes',
              ]
            : null,
        ],
        'health-summary',
      ),
      table(
        'Partitions of the events topic',
        [
          'Partition',
          'Owner',
          'Applied below (next offset)',
          'High watermark',
          'Lag',
          'State',
          'Outcomes published through',
          'Outcomes lag',
        ],
        partitions.map(partitionRow),
        'health-partitions',
      ),
    );
  }

  function partitionRow(p) {
    const owned = p.owned;
    const stateCell = !owned
      ? 'not owned here'
      : p.halted
        ? h('strong', { class: 'bad' }, `halted: ${p.halted}`)
        : p.backing_off
          ? h('strong', { class: 'warn' }, 'backing off')
          : p.outcome_relay_failure
            ? h('strong', { class: 'warn' }, `outcome relay: ${p.outcome_relay_failure}`)
            : 'flowing';
    return row(
      {
        dataset: { testid: 'partition-row', partition: String(p.partition), nextOffset: p.next_offset ?? '' },
      },
      [
        h('th', { scope: 'row' }, String(p.partition)),
        h('td', { class: 'address' }, p.owner || 'not announced', owned ? ' (this processor)' : ''),
        h('td', { class: 'num', dataset: { testid: 'next-offset' } }, owned ? count(p.next_offset) : '—'),
        h('td', { class: 'num' }, owned ? count(p.high_watermark) : '—'),
        h('td', { class: 'num' }, owned ? count(p.lag) : '—'),
        h('td', { dataset: { testid: 'partition-state' } }, stateCell),
        h('td', { class: 'num' }, owned ? count(p.outcomes_published_through) : '—'),
        h('td', { class: 'num' }, owned ? count(p.outcomes_lag) : '—'),
      ],
    );
  }

  // ---------------------------------------------------------------------------------------------
  // 6. Errors

  function errorView(e) {
    if (e.status === 403) {
      return notice(
        'error',
        'forbidden',
        h('strong', {}, '403 forbidden: '),
        e.message,
        h(
          'p',
          {},
          'Your token does not carry the right this page needs. Use another token (Forget token) or ask for a grant.',
        ),
      );
    }
    if (e.status === 421) return misdirectedView(e);
    if (e.status === 404) return notice('error', 'not-found', h('strong', {}, 'Not found: '), e.message);
    if (!(e instanceof ApiError)) {
      return notice('error', 'error', h('strong', {}, 'Error: '), String(e.message || e));
    }
    const label = e.status ? `Error ${e.status} (${e.code})` : 'No answer';
    return notice('error', 'error', h('strong', {}, `${label}: `), e.message);
  }

  // 421: another processor serves the instance; link to its console, never fetch it from here.
  function misdirectedView(e) {
    const { path } = parseHash();
    const instance = (path.match(/^\/i\/([^/]+)/) || [])[1];
    const name = instance ? decodeURIComponent(instance) : 'this instance';
    let target = null;
    try {
      const owner = new URL(e.owner);
      if (owner.protocol === 'http:' || owner.protocol === 'https:') {
        target = `${owner.origin}${owner.pathname.replace(/\/$/, '')}/console/${location.hash}`;
      }
    } catch {
      target = null;
    }
    if (!target) {
      return notice(
        'error',
        'misdirected',
        h('strong', {}, 'Misdirected (421): '),
        `instance ${name} is served by another processor, which is not known yet (${e.message}). Try again shortly.`,
      );
    }
    return notice(
      'error',
      'misdirected',
      h('p', {}, h('strong', {}, `Instance ${name} is served by ${e.owner}`), ', not by this processor.'),
      h('p', {}, 'Open ', link(target, target, { rel: 'noreferrer', dataset: { testid: 'owner-link' } })),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Start

  async function start() {
    stopTimer();
    state.generation += 1;
    try {
      await loadWhoami();
    } catch (e) {
      renderChrome();
      document.getElementById('main').replaceChildren(errorView(e));
      return;
    }
    if (!state.whoami) {
      showTokenForm(token() ? 'The server refused this token (401). Type another.' : '');
      return;
    }
    await route();
  }

  window.addEventListener('hashchange', route);
  document.addEventListener('DOMContentLoaded', () => {
    document.querySelector('[data-skip]').addEventListener('click', (event) => {
      event.preventDefault();
      document.getElementById('main').focus();
    });
    start();
  });
})();
