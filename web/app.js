// app.js: the leadd inbox. Plain JavaScript, no build step: leadd embeds
// this file. Everything a lead holds is put on the page as text (never as
// HTML): visitors typed it. The API enforces roles; the app only hides the
// controls a role cannot use.
'use strict';

const ROLES = { viewer: 1, sales: 2, admin: 3 };
const STATUSES = ['new', 'contacted', 'converted', 'rejected'];
const GRADES = ['hot', 'warm', 'cold'];
const FLAG_MEANING = {
  honeypot: 'filled the hidden honeypot field: a bot',
  too_fast: 'sent faster than a person fills the form',
  duplicate: 'the same email came in earlier within the form\'s window',
  disposable_email: 'a throwaway email address',
  marked_spam: 'a person marked it spam',
  captcha_unverified: 'the captcha provider could not be asked: held until a person decides (Not spam) or it confirms by mail',
  consent_withdrawn: 'the person withdrew consent: never forwarded again',
};
const CONSENT_KIND = {
  given: 'agreed on the form', confirmed: 'confirmed by the mail\'s link',
  withdrawn: 'withdrew consent', expired: 'never confirmed: erased',
};
// The list's filters, as the app's URL and as the API's parameters.
const FILTERS = ['view', 'form', 'grade', 'status', 'qualified', 'owner', 'source', 'campaign', 'from', 'to', 'q'];
const PAGE = 50;

const state = { me: null, forms: [], leads: [], cursor: null, unseen: 0, events: null, loading: null, sel: null, asked: 0, counting: false };
const main = () => document.getElementById('main');

// h: an element with attributes (on* are listeners) and children (strings
// become text nodes).
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

// show: the page's main content; a part a role does not get (null) is left
// out, never written as "null".
function show(...nodes) {
  const m = main();
  m.replaceChildren(...nodes.filter((n) => n !== null && n !== undefined && n !== false));
}

function can(role) {
  return state.me && ROLES[state.me.role] >= ROLES[role];
}

// api: a call to leadd's API; body is sent as JSON, or as it is with type.
async function api(method, path, body, type) {
  const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    opts.headers['Content-Type'] = type || 'application/json';
    opts.body = type ? body : JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  let json = null;
  if ((res.headers.get('Content-Type') || '').includes('json')) json = await res.json();
  if (res.status === 401 && path !== '/v1/session') {
    signedOut('Your session ended: sign in again.');
    throw new Error('signed out');
  }
  return { status: res.status, json };
}

function problemText(r) {
  if (r.json && r.json.detail) return `${r.json.title}: ${r.json.detail}`;
  if (r.json && r.json.title) return r.json.title;
  return `The server answered ${r.status}.`;
}

function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

// ago: a time as the list shows it, "3 min ago" (the exact time on hover).
const RELATIVE = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'short' });
function ago(iso) {
  const d = new Date(iso);
  if (!iso || isNaN(d)) return iso || '';
  const s = (d.getTime() - Date.now()) / 1000;
  const [n, unit] = Math.abs(s) < 60 ? [0, 'second'] : Math.abs(s) < 3600 ? [s / 60, 'minute']
    : Math.abs(s) < 86400 ? [s / 3600, 'hour'] : Math.abs(s) < 7 * 86400 ? [s / 86400, 'day'] : [null, null];
  const text = unit ? (n === 0 ? 'just now' : RELATIVE.format(Math.round(n), unit)) : d.toLocaleDateString();
  return h('time', { datetime: iso, title: d.toLocaleString() }, text);
}

// A phone number as people read it: +46 812 345 678 (the calling code,
// then groups of three); leadd stores it as E.164.
const CC2 = new Set('20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98'.split(' '));
function phoneText(v) {
  if (!/^\+\d{8,15}$/.test(v)) return v;
  const d = v.slice(1);
  const cc = d[0] === '1' || d[0] === '7' ? d[0] : CC2.has(d.slice(0, 2)) ? d.slice(0, 2) : d.slice(0, 3);
  const rest = d.slice(cc.length);
  if (cc === '1' && rest.length === 10) return `+1 ${rest.slice(0, 3)} ${rest.slice(3, 6)} ${rest.slice(6)}`;
  const groups = rest.match(/\d{1,3}/g);
  if (groups.length > 1 && groups[groups.length - 1].length === 1) groups[groups.length - 2] += groups.pop();
  return `+${cc} ${groups.join(' ')}`;
}

// A field's value as the inbox shows it, by its type.
function fieldValue(spec, v) {
  if (v === null || v === undefined) return '';
  if (spec && spec.type === 'phone' && typeof v === 'string') return phoneText(v);
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return display(v);
}

function display(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function nameOf(lead) {
  const f = lead.fields || {};
  return f.name || f.email || lead.id;
}

// ---- sign-in ----

function signedOut(message) {
  state.me = null;
  if (state.events) state.events.close();
  state.events = null;
  document.getElementById('who').replaceChildren();
  document.title = 'leadd inbox';
  const key = h('input', { id: 'key', name: 'key', type: 'password', autocomplete: 'current-password', required: true });
  const alert = h('p', { class: 'alert', role: 'alert' }, message || '');
  const form = h('form', { class: 'signin', onsubmit: async (e) => {
    e.preventDefault();
    const r = await api('POST', '/v1/session', { key: key.value });
    if (r.status === 204) return start();
    alert.textContent = r.status === 401 ? 'That key is not valid.' : problemText(r);
    key.focus();
  } },
  h('h1', {}, 'Sign in'),
  h('label', { for: 'key' }, 'API key'), key,
  h('button', { type: 'submit' }, 'Sign in'), alert);
  show(form);
  key.focus();
}

async function signOut() {
  await api('DELETE', '/v1/session');
  signedOut('Signed out.');
}

// ---- the list ----

function viewParams() {
  const u = new URLSearchParams(location.search), p = {};
  for (const k of FILTERS) if (u.get(k)) p[k] = u.get(k);
  return p;
}

function apiQuery(p, cursor) {
  const q = new URLSearchParams({ limit: String(PAGE) });
  if (p.view === 'spam') q.set('spam', 'true');
  for (const k of ['form', 'grade', 'status', 'q']) if (p[k]) q.set(k, p[k]);
  if (p.qualified) q.set('qualified', p.qualified);
  if (p.owner === 'mine') q.set('owner', state.me.user);
  else if (p.owner === 'none') q.set('owner', 'none');
  else if (p.owner) q.set('owner', p.owner);
  if (p.source) q.set('utm_source', p.source);
  if (p.campaign) q.set('utm_campaign', p.campaign);
  if (p.from) q.set('created_after', `${p.from}T00:00:00Z`);
  if (p.to) {
    const d = new Date(`${p.to}T00:00:00Z`);
    if (!isNaN(d)) {
      d.setUTCDate(d.getUTCDate() + 1);
      q.set('created_before', d.toISOString().replace('.000', ''));
    }
  }
  if (cursor) q.set('cursor', cursor);
  return `/v1/leads?${q}`;
}

function select(id, label, value, options) {
  return [h('label', { for: id }, label),
    h('select', { id, name: id }, options.map(([v, t]) => h('option', { value: v, selected: v === (value || '') }, t)))];
}

function input(id, label, value, type) {
  return [h('label', { for: id }, label), h('input', { id, name: id, type: type || 'text', value: value || '' })];
}

function filterForm(p) {
  const users = (state.me.users || []).map((u) => [u, u]);
  const form = h('form', { class: 'filters', 'aria-label': 'Filters', onsubmit: (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    if (p.view) q.set('view', p.view);
    for (const el of form.elements) if (el.name && el.value) q.set(el.name, el.value);
    go(`/app${q.toString() ? `?${q}` : ''}`);
  } },
  h('div', {}, select('form', 'Form', p.form, [['', 'Any form'], ...state.forms.map((f) => [f.id, f.id])])),
  h('div', {}, select('grade', 'Grade', p.grade, [['', 'Any grade'], ...GRADES.map((g) => [g, g])])),
  h('div', {}, select('status', 'Status', p.status, [['', 'Any status'], ...STATUSES.map((s) => [s, s]), ['unconfirmed', 'unconfirmed (double opt-in)']])),
  h('div', {}, select('qualified', 'Qualified', p.qualified, [['', 'Either'], ['true', 'Qualified'], ['false', 'Not qualified']])),
  h('div', {}, select('owner', 'Owner', p.owner, [['', 'Anyone'], ['mine', 'Mine'], ['none', 'Unassigned'], ...users])),
  h('div', {}, input('source', 'Source', p.source)),
  h('div', {}, input('campaign', 'Campaign', p.campaign)),
  h('div', {}, input('from', 'From', p.from, 'date')),
  h('div', {}, input('to', 'To', p.to, 'date')),
  h('div', {}, input('q', 'Search', p.q, 'search')),
  h('div', {}, h('button', { type: 'submit' }, 'Apply')));
  // Folded to one line until opened: the leads, not the filters, fill the
  // screen; the line says which filters hold.
  const on = FILTERS.filter((k) => k !== 'view' && p[k]).map((k) => `${k} ${p[k]}`);
  return h('details', { class: 'fold', id: 'filters' },
    h('summary', {}, on.length ? `Filters: ${on.join(', ')}` : 'Filters'), form);
}

// A form's leads as a spreadsheet, under this view's filters, its columns
// titled in the form's words.
function exportLink(p) {
  if (!p.form) return h('span', { class: 'muted' }, 'Choose a form to export CSV');
  const q = new URLSearchParams(apiQuery(p).split('?')[1]);
  q.delete('limit');
  q.set('format', 'csv');
  q.set('header', 'labels');
  return h('a', { id: 'export-leads', href: `/v1/leads/export?${q}`, download: `leads-${p.form}.csv` }, 'Export CSV');
}

function viewLinks(p) {
  const link = (view, text) => {
    const q = new URLSearchParams(location.search);
    if (view) q.set('view', view); else q.delete('view');
    const href = `/app${q.toString() ? `?${q}` : ''}`;
    return h('a', { href, 'data-view': view || 'inbox', 'aria-current': (p.view || '') === view ? 'page' : null,
      onclick: (e) => { e.preventDefault(); go(href); } }, text);
  };
  return h('nav', { class: 'views', 'aria-label': 'Views' }, link('', 'Inbox'), link('spam', 'Spam'));
}

// How many leads of this view are in Spam (a page's worth at most: "50+"),
// shown on the Spam link: spam is left out of the inbox, never lost.
async function countSpam(p) {
  const r = await api('GET', apiQuery({ ...p, view: 'spam' }));
  const a = document.querySelector('a[data-view="spam"]'); // not Sections' last link
  if (r.status !== 200 || !a) return;
  const n = r.json.data.length;
  a.textContent = n ? `Spam (${n}${r.json.next_cursor ? '+' : ''})` : 'Spam';
}

// The list's columns: key, title, relative width, cell. A person chooses
// which (kept in this browser across reloads), the forms' own fields too.
const BASE_COLUMNS = [
  ['received', 'Received', 8, (l) => ago(l.created_at)],
  ['name', 'Name', 13, (l) => {
    const href = `/app/leads/${l.id}`;
    return h('a', { href, onclick: (e) => { e.preventDefault(); go(href); } }, nameOf(l));
  }],
  ['email', 'Email', 16, (l) => (l.fields || {}).email || ''],
  ['company', 'Company', 11, (l) => (l.fields || {}).company || ''],
  ['form', 'Form', 7, (l) => l.form],
  ['source', 'Source / campaign', 11, (l) => [(l.attribution || {}).utm_source, (l.attribution || {}).utm_campaign].filter(Boolean).join(' / ')],
  ['score', 'Score', 5, (l) => l.score],
  ['grade', 'Grade', 6, (l) => h('span', { class: `badge grade-${l.grade}` }, l.grade)],
  ['status', 'Status', 8, (l) => l.status],
  ['owner', 'Owner', 6, (l) => l.owner || ''],
  ['flags', 'Flags', 9, (l) => (l.flags || []).map((fl) => h('span', { class: 'flag', title: FLAG_MEANING[fl] || fl }, fl))],
];
const COLUMNS_KEY = 'leadd.columns';

// Every column a person can choose: the base ones, then each form field
// they do not already show, by the form's label.
function allColumns() {
  const cols = BASE_COLUMNS.map(([key, title, width, cell]) => ({ key, title, width, cell }));
  const seen = new Set(['name', 'email', 'company']);
  for (const f of state.forms) {
    for (const fd of f.fields) {
      if (seen.has(fd.name) || fd.type === 'consent') continue;
      seen.add(fd.name);
      cols.push({ key: `field.${fd.name}`, title: fd.label, width: 9,
        cell: (l) => fieldValue(fd, (l.fields || {})[fd.name]) });
    }
  }
  return cols;
}

function chosenColumns() {
  const all = allColumns();
  let keys = null;
  try { keys = JSON.parse(localStorage.getItem(COLUMNS_KEY)); } catch (e) { /* none kept */ }
  const chosen = Array.isArray(keys) ? all.filter((c) => keys.includes(c.key)) : [];
  return chosen.length ? chosen : all.filter((c) => !c.key.startsWith('field.'));
}

function columnPicker() {
  const shown = new Set(chosenColumns().map((c) => c.key));
  const box = h('fieldset', { class: 'pick' }, h('legend', {}, 'Show these columns'),
    allColumns().map((c) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', name: 'column', value: c.key, checked: shown.has(c.key), onchange: () => {
        const keys = [...box.querySelectorAll('input:checked')].map((i) => i.value);
        localStorage.setItem(COLUMNS_KEY, JSON.stringify(keys));
        drawTable();
      } }), ` ${c.title}`)));
  return h('details', { class: 'fold', id: 'columns' }, h('summary', {}, 'Columns'), box);
}

function row(lead, fresh, cols) {
  const sel = state.sel === lead.id;
  const cls = [lead.read === false ? 'unread' : '', fresh ? 'new' : '', sel ? 'selected' : ''].filter(Boolean).join(' ');
  // One line a row: a value too long for its column is cut with an ellipsis,
  // never broken mid-word; the whole of it on hover.
  return h('tr', { 'data-id': lead.id, class: cls || null, 'aria-selected': sel ? 'true' : null },
    cols.map((c) => {
      const v = c.cell(lead);
      return h('td', { 'data-label': c.title, 'data-col': c.key,
        title: typeof v === 'string' && v.length > 16 ? v : null }, v === '' ? null : v);
    }));
}

// The table's head and widths for the chosen columns, then its rows.
function drawTable() {
  const table = document.querySelector('table.leads');
  if (!table) return;
  const cols = chosenColumns(), total = cols.reduce((n, c) => n + c.width, 0);
  const group = h('colgroup', {}, cols.map(() => h('col')));
  [...group.children].forEach((col, i) => { col.style.width = `${(cols[i].width * 100 / total).toFixed(2)}%`; });
  table.querySelector('colgroup')?.remove();
  table.querySelector('caption').after(group);
  table.querySelector('thead').replaceChildren(h('tr', {}, cols.map((c) => h('th', { scope: 'col', 'data-col': c.key }, c.title))));
  renderRows();
}

function renderRows(freshIds) {
  const body = document.getElementById('rows');
  if (!body) return;
  const cols = chosenColumns();
  body.replaceChildren(...state.leads.map((l) => row(l, freshIds && freshIds.has(l.id), cols)));
  const more = document.getElementById('more');
  more.hidden = !state.cursor;
  const count = document.getElementById('count');
  count.textContent = state.leads.length ? `${state.leads.length} shown${state.cursor ? ', more below' : ''} · press ? for the keyboard` : 'No leads match.';
}

function setTitle() {
  document.title = state.unseen ? `(${state.unseen}) leadd inbox` : 'leadd inbox';
}

async function showList() {
  const p = viewParams();
  state.unseen = 0;
  setTitle();
  const table = h('table', { class: 'leads' },
    h('caption', { class: 'muted', id: 'count' }, 'Loading…'),
    h('thead'), h('tbody', { id: 'rows' }));
  const more = h('button', { id: 'more', class: 'plain more', type: 'button', hidden: true, onclick: loadMore }, 'Load more');
  show(h('h1', {}, p.view === 'spam' ? 'Spam' : 'Leads'), navLinks('/app'), viewLinks(p),
    h('div', { class: 'tools' }, filterForm(p), columnPicker(), exportLink(p)),
    h('p', { class: 'status', role: 'status', id: 'live' }), table, more);
  drawTable();
  const mine = asking();
  const r = await api('GET', apiQuery(p));
  if (!answered(mine)) return;
  if (r.status !== 200) {
    document.getElementById('count').textContent = problemText(r);
    return;
  }
  countSpam(p).catch(() => {});
  state.leads = r.json.data;
  state.cursor = r.json.next_cursor;
  renderRows();
}

async function loadMore() {
  const r = await api('GET', apiQuery(viewParams(), state.cursor));
  if (r.status !== 200) return;
  const shown = new Set(state.leads.map((l) => l.id));
  state.leads = state.leads.concat(r.json.data.filter((l) => !shown.has(l.id)));
  state.cursor = r.json.next_cursor;
  renderRows();
}

// The list is busy (aria-busy) from a question until the answer to the last
// one asked; asking() returns the question's number, answered(n) whether it
// is still the last.
function asking() {
  document.querySelector('table.leads')?.setAttribute('aria-busy', 'true');
  return ++state.asked;
}

function answered(n) {
  if (n !== state.asked) return false;
  document.querySelector('table.leads')?.setAttribute('aria-busy', 'false');
  return true;
}

// A lead arrived or changed: the view's first page again, merged with what is
// shown (a new lead that matches the view goes on top and is counted).
// Refreshes, the list's own load and a change made here race: only the page
// asked for last is merged, so an answer from before a lead left the view
// never puts it back (state.asked counts what was asked, and a change made
// here counts as asking). A first page with no next page is the whole view.
async function refreshList(counting) {
  if (!document.getElementById('rows')) return;
  state.counting ||= counting;
  const mine = asking();
  const r = await api('GET', apiQuery(viewParams()));
  if (!answered(mine) || r.status !== 200) return;
  counting = state.counting;
  state.counting = false;
  const shown = new Set(state.leads.map((l) => l.id));
  const top = r.json.data, topIds = new Set(top.map((l) => l.id));
  const fresh = new Set(top.filter((l) => !shown.has(l.id)).map((l) => l.id));
  if (!r.json.next_cursor) {
    state.leads = top;
    state.cursor = null;
  } else {
    state.leads = top.concat(state.leads.filter((l) => !topIds.has(l.id)));
    if (!state.cursor) state.cursor = r.json.next_cursor;
  }
  if (counting && fresh.size) {
    state.unseen += fresh.size;
    setTitle();
    document.getElementById('live').textContent = `${fresh.size} new lead${fresh.size > 1 ? 's' : ''} arrived.`;
  }
  renderRows(fresh);
}

// ---- one lead ----

// kv: names and values; form: the lead's form, whose labels name its fields
// and whose email and phone fields become links a rep can act on.
function kv(obj, form) {
  const entries = Object.entries(obj || {});
  if (!entries.length) return h('p', { class: 'muted' }, 'None.');
  const spec = (k) => (form && form.fields.find((f) => f.name === k)) || null;
  const value = (k, v) => {
    const s = spec(k);
    if (s && typeof v === 'string' && s.type === 'email') return h('a', { href: `mailto:${v}` }, v);
    if (s && typeof v === 'string' && s.type === 'phone') return h('a', { href: `tel:${v}` }, phoneText(v));
    return s ? fieldValue(s, v) : display(v);
  };
  return h('dl', { class: 'kv' }, entries.map(([k, v]) => [
    h('dt', {}, spec(k) ? spec(k).label : k), h('dd', {}, value(k, v))]));
}

// One history entry: what changed (an entry carries the status the lead had
// then, so a status is news only when it differs from the entry before).
function historyLine(e, i, all) {
  const parts = [];
  if (e.status && (i === 0 || all[i - 1].status !== e.status)) parts.push(`status ${e.status}`);
  if (e.owner !== undefined && e.owner !== null) parts.push(`owner ${e.owner}`);
  if (e.spam === true) parts.push('marked spam');
  if (e.spam === false) parts.push('marked not spam');
  if (e.note) parts.push(`note: ${e.note}`);
  return h('li', {}, `${when(e.at)} · ${e.by || 'leadd'} · ${parts.join(' · ') || 'change'}`);
}

function actionForm(label, controls, onsubmit) {
  const msg = h('span', { role: 'status', class: 'muted' });
  return h('form', { 'aria-label': label, onsubmit: async (e) => {
    e.preventDefault();
    msg.textContent = '';
    const err = await onsubmit();
    if (err) msg.textContent = err;
  } }, controls, msg);
}

async function patch(id, body) {
  const r = await api('PATCH', `/v1/leads/${id}`, body);
  if (r.status !== 200) return problemText(r);
  renderLead(r.json);
  return null;
}

function actions(lead) {
  if (!can('sales')) return null;
  const id = lead.id, spam = (lead.flags || []).includes('marked_spam') ||
    (lead.flags || []).includes('honeypot') || (lead.flags || []).includes('too_fast');
  const st = h('select', { id: 'set-status', name: 'status' }, STATUSES.map((s) => h('option', { value: s, selected: s === lead.status }, s)));
  const note = h('textarea', { id: 'note', name: 'note', maxlength: 2000 });
  const owner = h('select', { id: 'set-owner', name: 'owner' },
    h('option', { value: '' }, 'Unassigned'),
    (state.me.users || []).map((u) => h('option', { value: u, selected: u === lead.owner }, u)));
  const forms = [
    actionForm('Status', [h('div', {}, h('label', { for: 'set-status' }, 'Status'), st), h('button', { type: 'submit' }, 'Set status')],
      () => patch(id, { status: st.value })),
    actionForm('Note', [h('div', { class: 'grow' }, h('label', { for: 'note' }, 'Note'), note), h('button', { type: 'submit' }, 'Add note')],
      async () => {
        if (!note.value.trim()) return 'Write a note first.';
        const err = await patch(id, { note: note.value });
        if (!err) document.getElementById('note').value = ''; // added: no longer a draft
        return err;
      }),
    actionForm('Owner', [h('div', {}, h('label', { for: 'set-owner' }, 'Owner'), owner), h('button', { type: 'submit' }, 'Assign')],
      () => patch(id, { owner: owner.value || null })),
    actionForm('Spam', [h('button', { type: 'submit', class: 'plain' }, spam ? 'Not spam' : 'Mark spam')],
      () => patch(id, { spam: !spam })),
    actionForm('Deal value', [h('div', {}, h('label', { for: 'deal' }, 'Deal value'),
      h('input', { id: 'deal', name: 'value', inputmode: 'decimal', value: lead.value || '', placeholder: '12000.00', size: 10 })),
    h('div', {}, h('label', { for: 'deal-currency' }, 'Currency'),
      h('input', { id: 'deal-currency', name: 'currency', value: lead.currency || '', placeholder: 'default', size: 4, maxlength: 3 })),
    h('button', { type: 'submit' }, 'Set value')], () => {
      const v = document.getElementById('deal').value.trim(), c = document.getElementById('deal-currency').value.trim().toUpperCase();
      return patch(id, v ? { value: v, ...(c ? { currency: c } : {}) } : { value: null });
    }),
  ];
  if (can('admin')) {
    forms.push(actionForm('Erase', [h('button', { type: 'submit', class: 'danger' }, 'Erase')], async () => {
      const who = nameOf(lead);
      if (!window.confirm(`Erase ${who}? Their personal data is removed for good.`)) return null;
      const r = await api('DELETE', `/v1/leads/${id}`);
      if (r.status !== 204) return problemText(r);
      go('/app');
      return null;
    }));
  }
  return h('section', { class: 'card', 'aria-label': 'Actions' }, h('h2', {}, 'Work this lead'), h('div', { class: 'actions' }, forms));
}

async function deliveries(lead) {
  const box = h('section', { class: 'card', 'aria-label': 'Deliveries' }, h('h2', {}, 'Deliveries'));
  const r = await api('GET', `/v1/deliveries?lead=${lead.id}`);
  if (r.status !== 200) return box;
  if (!r.json.data.length) box.append(h('p', { class: 'muted' }, 'Not forwarded.'));
  for (const d of r.json.data) {
    const attempts = h('ul', { class: 'plain' }, (d.attempts || []).map((a) =>
      h('li', {}, `${when(a.at)} · ${a.status === null ? 'no answer' : `HTTP ${a.status}`}${a.error ? ` · ${a.error}` : ''} · ${a.duration_ms} ms`)));
    const retry = d.state === 'dead' && can('admin')
      ? h('button', { type: 'button', onclick: async () => {
        const rr = await api('POST', `/v1/deliveries/${d.id}/retry`);
        if (rr.status < 300) openLead(lead.id);
      } }, 'Retry') : null;
    box.append(h('div', { class: 'delivery', 'data-state': d.state },
      h('p', {}, h('strong', {}, d.webhook), ` · ${d.state}`, d.next_attempt_at ? ` · next attempt ${when(d.next_attempt_at)}` : ''),
      attempts, retry));
  }
  return box;
}

// The consent record: what the person agreed to, when and from where; a
// sales rep can record a withdrawal (the API checks the role).
async function consents(lead) {
  const box = h('section', { class: 'card', 'aria-label': 'Consent' }, h('h2', {}, 'Consent'));
  const r = await api('GET', `/v1/leads/${lead.id}/consents`);
  if (r.status !== 200) return box;
  if (!r.json.data.length) box.append(h('p', { class: 'muted' }, 'No consent recorded.'));
  else {
    box.append(h('ol', { class: 'plain', id: 'consents' }, r.json.data.map((c) => h('li', { 'data-kind': c.kind },
      h('strong', {}, CONSENT_KIND[c.kind] || c.kind), ` · ${when(c.at)}`,
      c.text ? [' · ', h('q', {}, c.text)] : null,
      c.ip ? ` · from ${c.ip}` : '', c.page ? ` · on ${c.page}` : '', c.actor ? ` · by ${c.actor}` : ''))));
  }
  const withdrawn = (lead.flags || []).includes('consent_withdrawn');
  if (can('sales') && !withdrawn && r.json.data.length) {
    const msg = h('span', { role: 'status', class: 'muted' });
    box.append(h('p', {}, h('button', { type: 'button', id: 'withdraw', class: 'plain', onclick: async () => {
      if (!window.confirm('Record that this person withdrew consent? The lead is never forwarded again.')) return;
      const rr = await api('POST', `/v1/leads/${lead.id}/consents/withdraw`);
      if (rr.status === 200) openLead(lead.id);
      else msg.textContent = problemText(rr);
    } }, 'Withdraw consent'), ' ', msg));
  }
  return box;
}

// What the rep is typing on the lead's page: a redraw (the change they made,
// or another's arriving live) must neither drop a half-written note nor take
// the focus away, or the next keys land on the page's shortcuts ("s" marks
// spam).
function draft(id) {
  if (!document.getElementById('note') || selected() !== id) return null;
  const f = document.activeElement, typing = f && f.id && f.matches('textarea, input');
  return { note: document.getElementById('note').value,
    focus: typing ? { id: f.id, value: f.value, from: f.selectionStart, to: f.selectionEnd } : null };
}

function restore(d) {
  if (!d) return;
  const note = document.getElementById('note');
  if (note) note.value = d.note;
  const f = d.focus && document.getElementById(d.focus.id);
  if (!f) return;
  f.value = d.focus.value;
  f.focus({ preventScroll: true });
  if (typeof d.focus.from === 'number') f.setSelectionRange(d.focus.from, d.focus.to);
}

async function renderLead(lead) {
  const kept = draft(lead.id);
  const reasons = lead.score_reasons || [];
  const flags = lead.flags || [];
  const head = h('div', { class: 'lead-head' },
    h('h1', {}, nameOf(lead)),
    h('span', { class: `grade-${lead.grade}` }, `${lead.grade} · score ${lead.score}`),
    h('span', {}, lead.qualified ? 'qualified' : 'not qualified'),
    h('span', { id: 'lead-status' }, `status ${lead.status}`),
    h('span', {}, lead.owner ? `owner ${lead.owner}` : 'unassigned'),
    lead.value ? h('span', { id: 'lead-value' }, `deal ${lead.value} ${lead.currency}`) : null);
  const score = h('section', { class: 'card', 'aria-label': 'Score' }, h('h2', {}, 'Why it scored ' + lead.score),
    reasons.length ? h('ul', { class: 'plain', id: 'reasons' }, reasons.map((x) => h('li', {}, `${x.rule}: ${x.points > 0 ? '+' : ''}${x.points}`)))
      : h('p', { class: 'muted' }, 'No scoring rule matched.'),
    flags.length ? [h('h2', {}, 'Flags'), h('ul', { class: 'plain' }, flags.map((f) => h('li', {}, h('span', { class: 'flag' }, f), ' ', FLAG_MEANING[f] || '')))] : null,
    lead.duplicate_of ? h('p', {}, 'Duplicate of ', h('a', { href: `/app/leads/${lead.duplicate_of}`, onclick: (e) => { e.preventDefault(); go(`/app/leads/${lead.duplicate_of}`); } }, 'an earlier lead'), '.') : null);
  // The lead's record in each CRM that made one (record_url, its stored id).
  const crm = Object.entries((state.me && state.me.crm_records) || {})
    .filter(([name]) => lead.crm_ids && lead.crm_ids[name])
    .map(([name, url]) => h('a', { class: 'crm', 'data-crm': name, href: url.replace('{id}', encodeURIComponent(lead.crm_ids[name])),
      target: '_blank', rel: 'noopener noreferrer' }, `Open in ${name}`));
  const info = h('section', { class: 'card', 'aria-label': 'Lead' },
    h('p', { class: 'muted' }, `${lead.form} · received ${when(lead.created_at)} · ${lead.id}`),
    crm.length ? h('p', { id: 'crm-links' }, crm.flatMap((a, i) => (i ? [' · ', a] : [a]))) : null,
    h('h2', {}, 'Fields'), h('div', { id: 'fields' }, kv(lead.fields, (state.forms || []).find((f) => f.id === lead.form))),
    Object.keys(lead.extra || {}).length ? [h('h2', {}, 'Extra'), kv(lead.extra)] : null,
    h('h2', {}, 'Attribution'), kv(lead.attribution));
  const hist = h('section', { class: 'card', 'aria-label': 'History' }, h('h2', {}, 'History'),
    (lead.history || []).length ? h('ol', { class: 'plain', id: 'history' }, lead.history.map(historyLine)) : h('p', { class: 'muted' }, 'No changes yet.'));
  const back = h('p', {}, h('a', { href: '/app', onclick: (e) => { e.preventDefault(); history.length > 1 ? history.back() : go('/app'); } }, '← All leads'));
  show(back, head, actions(lead), score, info, hist);
  restore(kept);
  main().append(await consents(lead), await deliveries(lead));
}

async function openLead(id) {
  const r = await api('GET', `/v1/leads/${encodeURIComponent(id)}`);
  if (r.status === 404) {
    show(h('h1', {}, 'No such lead'), h('p', {}, 'It does not exist or was erased. ', h('a', { href: '/app' }, 'All leads')));
    return;
  }
  if (r.status !== 200) {
    show(h('p', { class: 'alert' }, problemText(r)));
    return;
  }
  await renderLead(r.json);
}

// ---- sources: what each source brought, cost and earned ----

// The report's figures, as the API names them, with their column titles.
const FIGURES = [
  ['leads', 'Leads'], ['valid', 'Valid'], ['qualified', 'Qualified'], ['hot', 'Hot'], ['warm', 'Warm'],
  ['cold', 'Cold'], ['contacted', 'Contacted'], ['converted', 'Converted'], ['rejected', 'Rejected'],
  ['spam', 'Spam'], ['duplicates', 'Duplicates'], ['qualified_rate', 'Qualified %'],
  ['conversion_rate', 'Conversion %'], ['spend', 'Spend'], ['cpl', 'CPL'],
  ['cost_per_qualified', 'Cost / qualified'], ['cost_per_sale', 'Cost / sale'], ['revenue', 'Revenue'], ['roi', 'ROI'],
];
const GROUPS = [['utm_source', 'Source'], ['utm_campaign', 'Campaign'], ['utm_medium', 'Medium'], ['form', 'Form']];
const RATES = new Set(['qualified_rate', 'conversion_rate', 'roi']);
const COSTS = new Set(['cpl', 'cost_per_qualified', 'cost_per_sale', 'roi']);

// A day as YYYY-MM-DD in the browser's calendar, and days after it.
function localDay(d) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}
function daysFrom(from, to) {
  const out = [], d = new Date(`${from}T12:00:00Z`), end = new Date(`${to}T12:00:00Z`);
  for (let i = 0; d <= end && i < 1000; i++, d.setUTCDate(d.getUTCDate() + 1)) out.push(d.toISOString().slice(0, 10));
  return out;
}

// A rate as a percentage; money and counts as the API gives them.
function figureText(k, v) {
  if (v === null || v === undefined) return '—';
  if (RATES.has(k) && k !== 'roi') return `${(Number(v) * 100).toFixed(1)}%`;
  if (k === 'roi') return `${(Number(v) * 100).toFixed(0)}%`;
  return String(v);
}

function navLinks(current) {
  const link = (href, text) => h('a', { href, 'aria-current': current === href ? 'page' : null,
    onclick: (e) => { e.preventDefault(); go(href); } }, text);
  return h('nav', { class: 'views', 'aria-label': 'Sections' }, link('/app', 'Leads'), link('/app/sources', 'Sources'), link('/app/spend', 'Spend'));
}

function drawChart(canvas, config) {
  if (typeof Chart === 'undefined') {
    canvas.replaceWith(h('p', { class: 'muted' }, 'Charts could not load.'));
    return;
  }
  // eslint-disable-next-line no-new
  new Chart(canvas, { ...config, options: { responsive: true, maintainAspectRatio: false, animation: false, ...config.options } });
}

function sortableTable(rows, total, currency, group) {
  let key = null, dir = -1;
  const keyTitle = (GROUPS.find(([g]) => g === group) || [group, group])[1];
  const head = h('tr', {}, [['key', keyTitle], ...FIGURES].map(([k, t]) =>
    h('th', { scope: 'col', 'data-key': k, 'aria-sort': 'none' },
      h('button', { type: 'button', class: 'sort', onclick: () => { dir = key === k ? -dir : (k === 'key' ? 1 : -1); key = k; fill(); } }, t))));
  const body = h('tbody', { id: 'source-rows' });
  const cells = (r, label) => h('tr', { 'data-key': r.key === null ? '' : r.key },
    h('th', { scope: 'row' }, label || (r.key === null ? '(none)' : r.key)),
    FIGURES.map(([k, t]) => h('td', { 'data-label': t, 'data-figure': k },
      // no spend recorded (direct traffic, "(none)"): what a lead cost is not known, not 0
      COSTS.has(k) && !(Number(r.spend) > 0) ? '—' : figureText(k, r[k]))));
  const value = (r, k) => (k === 'key' ? (r.key || '') : r[k] === null ? null : Number(r[k]));
  function fill() {
    const sorted = key ? rows.slice().sort((a, b) => {
      const x = value(a, key), y = value(b, key);
      if (x === y) return 0;
      if (x === null) return 1; // no figure: last either way
      if (y === null) return -1;
      return (x < y ? -1 : 1) * dir;
    }) : rows;
    body.replaceChildren(...sorted.map((r) => cells(r)));
    for (const th of head.children) th.setAttribute('aria-sort', th.dataset.key === key ? (dir > 0 ? 'ascending' : 'descending') : 'none');
  }
  fill();
  return h('table', { class: 'leads report' },
    h('caption', { class: 'muted' }, `Money in ${currency}. Click a column to sort.`),
    h('thead', {}, head), body, h('tfoot', {}, cells(total, 'Total')));
}

async function showSources() {
  const u = new URLSearchParams(location.search);
  const today = new Date();
  const to = u.get('to') || localDay(today);
  const from = u.get('from') || localDay(new Date(today.getTime() - 29 * 864e5));
  const group = GROUPS.some(([g]) => g === u.get('group')) ? u.get('group') : 'utm_source';
  const form = h('form', { class: 'filters', 'aria-label': 'Range', onsubmit: (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const el of form.elements) if (el.name && el.value) q.set(el.name, el.value);
    go(`/app/sources?${q}`);
  } },
  h('div', {}, input('from', 'From', from, 'date')),
  h('div', {}, input('to', 'To', to, 'date')),
  h('div', {}, select('group', 'By', group, GROUPS)),
  h('div', {}, h('button', { type: 'submit' }, 'Apply')));
  show(h('h1', {}, 'Sources'), navLinks('/app/sources'), form, h('p', { class: 'muted', id: 'report-status' }, 'Loading…'));
  const q = new URLSearchParams({ group_by: group, from, to });
  const [rep, days] = await Promise.all([api('GET', `/v1/stats?${q}`),
    api('GET', `/v1/stats?${new URLSearchParams({ group_by: 'day', from, to })}`)]);
  const status = document.getElementById('report-status');
  if (rep.status !== 200 || days.status !== 200) {
    status.textContent = problemText(rep.status !== 200 ? rep : days);
    return;
  }
  const r = rep.json, t = r.total;
  status.textContent = `${t.leads} leads from ${from} to ${to} (${r.timezone} days).`;
  const perDay = new Map(days.json.data.map((d) => [d.key, d]));
  const labels = daysFrom(from, to);
  const series = (k) => labels.map((d) => (perDay.get(d) || {})[k] || 0);
  const daily = h('canvas', { id: 'chart-days', role: 'img', 'aria-label': 'Leads per day by grade' });
  const funnel = h('canvas', { id: 'chart-funnel', role: 'img', 'aria-label': 'Funnel: valid, qualified, contacted, converted' });
  const csv = h('a', { href: `/v1/stats?${q}&format=csv`, download: `leadd-${group}-${from}-${to}.csv`, id: 'export-csv' }, 'Export CSV');
  const other = r.other_currencies.length
    ? h('p', { class: 'muted', id: 'other-currencies' }, 'Not added in: ',
      r.other_currencies.map((o) => `${o.currency} spend ${o.spend ?? '—'}, revenue ${o.revenue}`).join('; '), '.')
    : null;
  main().append(
    h('div', { class: 'charts' },
      h('section', { class: 'card chart' }, h('h2', {}, 'Leads per day'), h('div', { class: 'chart-box' }, daily)),
      h('section', { class: 'card chart' }, h('h2', {}, 'Funnel'), h('div', { class: 'chart-box' }, funnel))),
    h('section', { class: 'card', 'aria-label': 'By source' },
      h('div', { class: 'table-head' }, h('h2', {}, `By ${GROUPS.find(([g]) => g === group)[1].toLowerCase()}`), csv),
      h('div', { class: 'scroll' }, sortableTable(r.data, t, r.currency, group)), other));
  drawChart(daily, { type: 'bar', data: { labels, datasets: [
    { label: 'Hot', data: series('hot'), backgroundColor: '#b42318' },
    { label: 'Warm', data: series('warm'), backgroundColor: '#e08a00' },
    { label: 'Cold', data: series('cold'), backgroundColor: '#7a8699' },
    { label: 'Spam or duplicate', data: labels.map((d) => { const x = perDay.get(d) || {}; return (x.spam || 0) + (x.duplicates || 0); }), backgroundColor: '#d5d9df' },
  ] }, options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } } });
  drawChart(funnel, { type: 'bar', data: { labels: ['Valid', 'Qualified', 'Contacted or further', 'Converted'], datasets: [
    { label: 'Leads', data: [t.valid, t.qualified, t.contacted + t.converted, t.converted], backgroundColor: ['#1a56c4', '#2f74e0', '#5b93ea', '#1f8a4c'] },
  ] }, options: { indexAxis: 'y', plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } } });
}

// ---- spend: what the ad platforms cost ----

async function showSpend() {
  const u = new URLSearchParams(location.search);
  const today = new Date();
  const to = u.get('to') || localDay(today);
  const from = u.get('from') || localDay(new Date(today.getTime() - 89 * 864e5));
  const result = h('div', { id: 'upload-result', role: 'status' });
  const upload = can('admin') ? h('section', { class: 'card', 'aria-label': 'Upload spend' },
    h('h2', {}, 'Upload an ad platform\'s export'),
    h('p', { class: 'muted' }, 'CSV with a header row: date, utm_source, amount, and optionally utm_campaign and currency. ',
      'A row replaces what was stored for its day, source, campaign and currency; rows of one file with the same key add up. ',
      'A file with any bad row stores nothing.'),
    h('form', { 'aria-label': 'Upload', class: 'actions', onsubmit: async (e) => {
      e.preventDefault();
      const file = document.getElementById('spend-file').files[0];
      if (!file) { result.textContent = 'Choose a file first.'; return; }
      const r = await api('POST', '/v1/spend', await file.text(), 'text/csv');
      if (r.status === 200) {
        result.replaceChildren(h('p', {}, `Stored ${r.json.stored} row${r.json.stored === 1 ? '' : 's'}.`));
        await listSpend();
      } else if (r.status === 422 && r.json && r.json.errors) {
        result.replaceChildren(h('p', { class: 'alert' }, problemText(r)),
          h('ul', { class: 'plain', id: 'upload-errors' }, r.json.errors.map((x) => h('li', {}, `line ${x.line ?? x.index}: ${x.field}: ${x.message}`))));
      } else {
        result.replaceChildren(h('p', { class: 'alert' }, problemText(r)));
      }
    } },
    h('div', {}, h('label', { for: 'spend-file' }, 'CSV file'), h('input', { id: 'spend-file', type: 'file', accept: '.csv,text/csv' })),
    h('button', { type: 'submit' }, 'Upload')), result) : null;
  const list = h('tbody', { id: 'spend-rows' });
  const count = h('caption', { class: 'muted' }, 'Loading…');
  async function listSpend() {
    const r = await api('GET', `/v1/spend?${new URLSearchParams({ from, to })}`);
    if (r.status !== 200) { count.textContent = problemText(r); return; }
    count.textContent = r.json.data.length ? `${r.json.data.length} rows from ${from} to ${to}` : `No spend from ${from} to ${to}.`;
    list.replaceChildren(...r.json.data.map((x) => h('tr', {},
      h('td', { 'data-label': 'Date' }, x.date), h('td', { 'data-label': 'Source' }, x.utm_source),
      h('td', { 'data-label': 'Campaign' }, x.utm_campaign || ''), h('td', { 'data-label': 'Amount' }, `${x.amount} ${x.currency}`))));
  }
  show(h('h1', {}, 'Spend'), navLinks('/app/spend'), upload,
    h('section', { class: 'card', 'aria-label': 'Spend' }, h('table', { class: 'leads' }, count,
      h('thead', {}, h('tr', {}, ['Date', 'Source', 'Campaign', 'Amount'].map((c) => h('th', { scope: 'col' }, c)))), list)));
  await listSpend();
}

// ---- routing and live updates ----

function route() {
  const m = location.pathname.match(/^\/app\/leads\/([^/]+)$/);
  const page = { '/app/sources': showSources, '/app/spend': showSpend }[location.pathname];
  state.loading = m ? openLead(m[1]) : page ? page() : showList();
  main().focus({ preventScroll: true });
  return state.loading;
}

function go(url) {
  history.pushState(null, '', url);
  window.scrollTo(0, 0);
  route();
}

function listen() {
  if (state.events) state.events.close();
  const es = new EventSource('/v1/events');
  // A refresh that fails (the page is leaving, the network blinked) is
  // dropped: the next event refreshes again.
  const quietly = (p) => p.catch(() => {});
  es.addEventListener('lead.created', () => quietly(refreshList(true)));
  es.addEventListener('lead.updated', (e) => {
    const m = location.pathname.match(/^\/app\/leads\/([^/]+)$/);
    let ev = {};
    try { ev = JSON.parse(e.data); } catch (err) { /* a malformed event: ignored */ }
    const here = m && m[1] === ev.id;
    if (here && ev.erased) {
      show(h('h1', {}, 'This lead was erased'), h('p', {}, h('a', { href: '/app' }, 'All leads')));
    } else if (here && !document.activeElement.matches('textarea, input, select')) {
      quietly(openLead(ev.id));
    } else {
      quietly(refreshList(false));
    }
  });
  state.events = es;
}

async function start() {
  const r = await api('GET', '/v1/session');
  if (r.status !== 200) return signedOut();
  state.me = r.json;
  const forms = await api('GET', '/v1/forms');
  state.forms = forms.status === 200 ? forms.json.data : [];
  document.getElementById('who').replaceChildren(
    h('span', { id: 'me' }, `${state.me.user} (${state.me.role})`),
    h('button', { type: 'button', class: 'plain', onclick: signOut }, 'Sign out'));
  listen();
  return route();
}

// ---- the keyboard: triage without the mouse ----

const KEYS = [
  ['j / k', 'next / previous lead in the list'],
  ['Enter or o', 'open the selected lead'],
  ['c', 'status contacted'],
  ['v', 'status converted'],
  ['r', 'status rejected'],
  ['s', 'mark spam'],
  ['u or Esc', 'back to the list'],
  ['?', 'this help'],
];

function help() {
  const open = document.getElementById('keys');
  if (open) { open.remove(); return; }
  document.body.append(h('div', { id: 'keys', class: 'keys card', role: 'dialog', 'aria-label': 'Keyboard shortcuts' },
    h('h2', {}, 'Keyboard shortcuts'),
    h('dl', { class: 'kv' }, KEYS.map(([k, what]) => [h('dt', {}, h('kbd', {}, k)), h('dd', {}, what)])),
    h('button', { type: 'button', onclick: help }, 'Close')));
}

// The list's selected lead (j/k; kept in state, so a redraw keeps it), or
// the lead on screen.
function selected() {
  const m = location.pathname.match(/^\/app\/leads\/([^/]+)$/);
  return m ? m[1] : state.sel;
}

function move(by) {
  const ids = state.leads.map((l) => l.id);
  if (!ids.length || !document.getElementById('rows')) return;
  const i = ids.indexOf(state.sel);
  state.sel = ids[Math.max(0, Math.min(ids.length - 1, i < 0 ? 0 : i + by))];
  renderRows();
  const tr = document.querySelector(`#rows tr[data-id="${state.sel}"]`);
  if (tr) tr.scrollIntoView({ block: 'nearest' });
}

// A change by key: on the lead's page it redraws; in the list the row
// follows by the live update, and says so at once.
async function keyChange(body, what) {
  const id = selected();
  if (!id || !can('sales')) return;
  const onLead = location.pathname.startsWith('/app/leads/');
  const r = await api('PATCH', `/v1/leads/${id}`, body);
  const live = document.getElementById('live');
  if (r.status !== 200) {
    if (live) live.textContent = problemText(r);
    return;
  }
  if (onLead) renderLead(r.json);
  else {
    if (live) live.textContent = `${nameOf(r.json)}: ${what}.`;
    // a lead marked spam leaves the inbox, and hands the selection on
    if (body.spam === true && viewParams().view !== 'spam') {
      state.asked++;
      const at = state.leads.findIndex((l) => l.id === id);
      state.leads = state.leads.filter((l) => l.id !== id);
      state.sel = state.leads[Math.min(at, state.leads.length - 1)]?.id || null;
      renderRows();
    }
    await refreshList(false);
  }
}

window.addEventListener('keydown', (e) => {
  if (!state.me || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.target.closest && e.target.closest('input, textarea, select, [contenteditable]')) return;
  const k = e.key;
  const act = {
    j: () => move(1), k: () => move(-1),
    Enter: () => { const id = selected(); if (id && !location.pathname.startsWith('/app/leads/')) go(`/app/leads/${id}`); },
    c: () => keyChange({ status: 'contacted' }, 'contacted'),
    v: () => keyChange({ status: 'converted' }, 'converted'),
    r: () => keyChange({ status: 'rejected' }, 'rejected'),
    s: () => keyChange({ spam: true }, 'marked spam'),
    u: () => go('/app'),
    Escape: () => (document.getElementById('keys') ? help() : location.pathname !== '/app' && go('/app')),
    '?': help,
  }[k === 'o' ? 'Enter' : k];
  // Enter on a link or a button is theirs
  if (!act || (k === 'Enter' && e.target.closest && e.target.closest('a, button'))) return;
  e.preventDefault();
  act();
});

window.addEventListener('popstate', route);
window.addEventListener('DOMContentLoaded', start);
// A page the browser keeps for Back (its back/forward cache) must not keep
// its stream open: six such pages hold every connection a browser allows
// one host, and the next page load hangs. Closed as the page is hidden;
// opened again, and the page brought up to date, if it comes back.
window.addEventListener('pagehide', () => {
  if (state.events) state.events.close();
  state.events = null;
});
window.addEventListener('pageshow', (e) => {
  if (e.persisted && state.me) {
    listen();
    route();
  }
});
