// app.js - the edad dashboard: hash routes (#/overview, #/queues,
// #/exchanges, #/connections, #/users), polling of the management HTTP API
// every few seconds, a hand-drawn rate chart on <canvas>, and the actions
// the API offers (purge/delete a queue, close a connection, add/delete users
// and vhosts).  It talks only to /api/... with basic auth; credentials live
// in sessionStorage for the tab's life.  No framework, no build step.

const POLL_MS = 3000;
const HISTORY = 60;               // chart points kept (3 min at POLL_MS)
const AUTH_KEY = 'edad.auth';

const $ = (sel) => document.querySelector(sel);

// ---- DOM helper: h('td', {class: 'num'}, text...) --------------------------
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style') el.style.cssText = v;   // CSSOM: allowed by the CSP
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

// ---- formatting -----------------------------------------------------------
const nf = new Intl.NumberFormat();
const fmtInt = (n) => (typeof n === 'number' ? nf.format(n) : '–');
function fmtRate(r) {
  if (typeof r !== 'number') return '–';
  if (r === 0) return '0/s';
  return (r < 10 ? r.toFixed(1) : nf.format(Math.round(r))) + '/s';
}
function fmtBytes(b) {
  if (typeof b !== 'number') return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
  return (i ? b.toFixed(1) : b) + ' ' + u[i];
}
const rateOf = (stats, key) => stats?.[key + '_details']?.rate ?? 0;
const enc = encodeURIComponent;

// ---- API ------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, body) {
    super(body?.reason || body?.error || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

function credentials() {
  try { return JSON.parse(sessionStorage.getItem(AUTH_KEY)); } catch { return null; }
}

async function api(method, path, body, extraHeaders = {}) {
  const auth = credentials();
  const headers = { 'X-Requested-With': 'XMLHttpRequest', ...extraHeaders };
  if (auth) headers.Authorization = 'Basic ' + btoa(unescape(enc(auth.user + ':' + auth.pass)));
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch('api' + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store', credentials: 'omit',
    });
  } catch (e) {
    throw new ApiError(0, { reason: 'edad is not reachable (' + e.message + ')' });
  }
  const text = await res.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch { data = { reason: text }; } }
  if (res.status === 401 && !path.startsWith('/whoami')) {
    // credentials no longer accepted (or not enough rights): sign in again
    if (data?.reason === 'Login failed' || !auth) logout('Your session has ended: ' + (data?.reason || 'login failed'));
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

// ---- banner, toast, confirm ------------------------------------------------
function showBanner(msg, kind = 'error') {
  const b = $('#banner');
  if (!msg) { b.hidden = true; return; }
  b.className = 'banner' + (kind === 'warn' ? ' warn' : '');
  b.textContent = msg;
  b.hidden = false;
}

let toastTimer = null;
function toast(msg) {
  document.querySelector('.toast')?.remove();
  const t = h('div', { class: 'toast', role: 'status' }, msg);
  document.body.append(t);
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.remove(), 3000);
}

function confirmAction(title, text, okLabel = 'OK') {
  const d = $('#confirm');
  $('#confirm-title').textContent = title;
  $('#confirm-text').textContent = text;
  $('#confirm-ok').textContent = okLabel;
  return new Promise((resolve) => {
    d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
    d.returnValue = '';
    d.showModal();
  });
}

async function act(label, fn) {
  try {
    await fn();
    toast(label);
    refresh();
  } catch (e) {
    showBanner(label.replace(/\.$/, '') + ' failed: ' + e.message);
  }
}

// ---- login ----------------------------------------------------------------
function showLogin(message) {
  stopPolling();
  $('#nav').hidden = true;
  $('#who').hidden = true;
  $('#view').replaceChildren();
  $('#login').hidden = false;
  const err = $('#login-error');
  err.hidden = !message;
  err.textContent = message || '';
  $('#username').focus();
}

function logout(message) {
  sessionStorage.removeItem(AUTH_KEY);
  showBanner(null);
  showLogin(message);
}

async function login(user, pass) {
  sessionStorage.setItem(AUTH_KEY, JSON.stringify({ user, pass }));
  try {
    const me = await api('GET', '/whoami');
    enter(me);
  } catch (e) {
    sessionStorage.removeItem(AUTH_KEY);
    showLogin(e.status === 401 ? 'Login failed: ' + (e.body?.reason || 'wrong user name or password') : e.message);
  }
}

let whoami = null;
function enter(me) {
  whoami = me;
  $('#login').hidden = true;
  $('#nav').hidden = false;
  $('#who').hidden = false;
  const tags = Array.isArray(me.tags) ? me.tags.join(', ') : me.tags || '';
  $('#who-name').textContent = me.name + (tags ? ' (' + tags + ')' : '');
  if (!location.hash || location.hash === '#' || location.hash === '#/login') location.hash = '#/overview';
  route();
}

// ---- routing and polling ---------------------------------------------------
const views = {};
let current = null;          // { name, render, state }
let pollTimer = null;
let inFlight = false;
let again = false;           // a refresh asked for while one was running

function stopPolling() {
  clearTimeout(pollTimer);
  pollTimer = null;
}

function schedule() {
  stopPolling();
  pollTimer = setTimeout(refresh, POLL_MS);
}

async function refresh() {
  if (!current || !credentials()) return;
  if (inFlight) { again = true; return; }
  inFlight = true;
  again = false;
  const view = current;
  try {
    await view.render(view.state);
    if (view === current) showBanner(alarmText, 'warn');
  } catch (e) {
    if (view === current && credentials()) showBanner(e.message);
  } finally {
    inFlight = false;
    if (view === current && credentials()) {
      if (again) refresh(); else schedule();
    }
  }
}

function route() {
  if (!credentials()) { showLogin(); return; }
  const name = (location.hash.replace(/^#\/?/, '').split('/')[0]) || 'overview';
  const def = views[name] || views.overview;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.route === name);
  const root = h('div', { class: 'view-' + name });
  $('#view').replaceChildren(root);
  current = { name, render: def.render, state: def.init(root) };
  inFlight = false;
  again = false;
  refresh();
}

// Alarms show on every page: refreshed with the overview, checked by the others.
let alarmText = null;
async function checkAlarms() {
  try {
    await api('GET', '/health/checks/alarms');
    alarmText = null;
    return [];
  } catch (e) {
    if (e.status === 503 && e.body) {
      const list = e.body.alarms || [];
      alarmText = 'Resource alarm: ' + (list.map((a) => a.resource + ' on ' + a.node).join(', ') || e.body.reason) +
        '. Publishers are blocked until it clears.';
      return list;
    }
    throw e;
  }
}

// ---- tables ---------------------------------------------------------------
// cols: [{key, label, num, sort, cell(row) -> node|string}]
function table(cols, rows, opts = {}) {
  const thead = h('thead', {}, h('tr', {}, cols.map((c) => {
    const th = h('th', { class: [c.num ? 'num' : '', c.sort ? 'sortable' : ''].join(' ').trim() || null }, c.label);
    if (c.sort && opts.sort) {
      if (opts.sort.key === c.sort) th.classList.add('sorted', ...(opts.sort.reverse ? ['desc'] : []));
      th.addEventListener('click', () => opts.onSort(c.sort));
      th.setAttribute('aria-sort', opts.sort.key === c.sort ? (opts.sort.reverse ? 'descending' : 'ascending') : 'none');
    }
    return th;
  })));
  const body = rows.length
    ? rows.map((r) => h('tr', opts.rowAttrs ? opts.rowAttrs(r) : {},
      cols.map((c) => h('td', { class: c.num ? 'num' : c.cls || null, dataset: { field: c.key } }, c.cell(r)))))
    : [h('tr', {}, h('td', { class: 'empty', colspan: cols.length }, opts.empty || 'Nothing here yet.'))];
  return h('div', { class: 'table-wrap' }, h('table', {}, thead, h('tbody', {}, body)));
}

function card(title, ...kids) {
  return h('section', { class: 'card' }, h('header', {}, h('h2', {}, title)), ...kids);
}

const flagTags = (o, flags) => flags.filter(([k]) => o[k]).map(([, l, t]) => h('span', { class: 'tag on', title: t }, l));

// ---- overview -------------------------------------------------------------
// Two charts, each a list of series over the samples in `history`.
const charts = {
  rates: {
    title: 'Message rates', fmt: fmtRate, series: [
      { key: 'publish', label: 'Publish', color: '--s1' },
      { key: 'deliver_get', label: 'Deliver', color: '--s2' },
      { key: 'ack', label: 'Ack', color: '--s3' },
    ],
  },
  queued: {
    title: 'Queued messages', fmt: fmtInt, series: [
      { key: 'ready', label: 'Ready', color: '--s1' },
      { key: 'unacked', label: 'Unacked', color: '--s3' },
    ],
  },
};
const history = [];          // [{t, publish, deliver_get, ack, ready, unacked}], kept across pages

views.overview = {
  init(root) {
    const s = { stats: h('div', { class: 'stats' }), info: h('dl', { class: 'kv' }), listeners: h('div', {}), legends: {} };
    root.append(s.stats);
    for (const [id, c] of Object.entries(charts)) {
      s.legends[id] = h('div', { class: 'legend' });
      root.append(h('section', { class: 'card' },
        h('header', {}, h('h2', {}, c.title), h('span', { class: 'spacer' }), s.legends[id]),
        h('div', { class: 'chart-wrap' }, h('canvas', { id: 'chart-' + id, 'aria-label': c.title + ' chart' }))));
    }
    root.append(h('div', { class: 'two' }, card('Node', s.info), card('Listeners', s.listeners)));
    return s;
  },
  async render(s) {
    const [ov, alarms] = await Promise.all([api('GET', '/overview'), checkAlarms()]);
    const ms = ov.message_stats || {};
    const ot = ov.object_totals || {};
    const qt = ov.queue_totals || {};
    const sample = {
      t: Date.now(), publish: rateOf(ms, 'publish'), deliver_get: rateOf(ms, 'deliver_get'), ack: rateOf(ms, 'ack'),
      ready: qt.messages_ready || 0, unacked: qt.messages_unacknowledged || 0,
    };
    history.push(sample);
    while (history.length > HISTORY) history.shift();
    const stat = (label, value, cls, id) => h('div', { class: 'stat ' + (cls || ''), id },
      h('div', { class: 'label' }, label), h('div', { class: 'value' }, value));
    s.stats.replaceChildren(
      stat('Connections', fmtInt(ot.connections), '', 'stat-connections'),
      stat('Channels', fmtInt(ot.channels), '', 'stat-channels'),
      stat('Queues', fmtInt(ot.queues), '', 'stat-queues'),
      stat('Consumers', fmtInt(ot.consumers), '', 'stat-consumers'),
      stat('Ready', fmtInt(qt.messages_ready), '', 'stat-ready'),
      stat('Unacked', fmtInt(qt.messages_unacknowledged), '', 'stat-unacked'),
      stat('Alarms', alarms.length ? alarms.map((a) => a.resource).join(', ') : 'none',
        alarms.length ? 'alarm' : 'fine', 'stat-alarms'));
    for (const [id, c] of Object.entries(charts)) {
      s.legends[id].replaceChildren(...c.series.map((x) => h('span', { style: `--c: var(${x.color})` }, x.label,
        h('b', {}, c.fmt(sample[x.key])))));
    }
    s.info.replaceChildren(...[
      ['Product', `${ov.product_name || 'edad'} ${ov.product_version || ''}`],
      ['Node', ov.node],
      ['Cluster', ov.cluster_name],
      ['API version', ov.management_version],
      ['Published', fmtInt(ms.publish)],
      ['Delivered + got', fmtInt(ms.deliver_get)],
      ['Acknowledged', fmtInt(ms.ack)],
    ].flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v ?? '–')]));
    s.listeners.replaceChildren(table([
      { key: 'protocol', label: 'Protocol', cell: (l) => l.protocol },
      { key: 'ip_address', label: 'Address', cell: (l) => l.ip_address },
      { key: 'port', label: 'Port', num: true, cell: (l) => l.port },
    ], ov.listeners || []));
    drawCharts();
  },
};

function drawCharts() {
  for (const [id, c] of Object.entries(charts)) {
    const canvas = document.getElementById('chart-' + id);
    if (canvas) drawChart(canvas, c);
  }
}

const fmtAgo = (ms) => (ms >= 60000 ? `${Math.round(ms / 60000)} min ago` : `${Math.round(ms / 1000)} s ago`);

// One chart: a line per series over `history`, y axis from 0; the x axis
// spans the samples seen (at least a minute, at most HISTORY polls).
function drawChart(canvas, chart) {
  if (!canvas.isConnected) return;
  const css = getComputedStyle(document.documentElement);
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, hgt = canvas.clientHeight;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(hgt * dpr);
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, hgt);
  const pad = { l: 56, r: 12, t: 10, b: 24 };
  const pw = w - pad.l - pad.r, ph = hgt - pad.t - pad.b;
  let max = 0;
  for (const p of history) for (const x of chart.series) max = Math.max(max, p[x.key]);
  const step = niceStep(max || 1);
  const top = Math.max(step, Math.ceil((max || 1) / step) * step);
  g.font = '11px system-ui, sans-serif';
  g.fillStyle = css.getPropertyValue('--muted');
  g.strokeStyle = css.getPropertyValue('--line');
  g.lineWidth = 1;
  g.textAlign = 'right';
  g.textBaseline = 'middle';
  for (let v = 0; v <= top + 1e-9; v += step) {
    const y = pad.t + ph - (v / top) * ph;
    g.beginPath();
    g.moveTo(pad.l, Math.round(y) + 0.5);
    g.lineTo(pad.l + pw, Math.round(y) + 0.5);
    g.stroke();
    g.fillText(chart.fmt(chart.fmt === fmtInt ? Math.round(v) : v), pad.l - 6, y);
  }
  const now = history.length ? history[history.length - 1].t : Date.now();
  const span = Math.max(60000, history.length ? now - history[0].t : 0);
  g.textAlign = 'left';
  g.textBaseline = 'top';
  g.fillText(fmtAgo(span), pad.l, pad.t + ph + 6);
  g.textAlign = 'right';
  g.fillText('now', pad.l + pw, pad.t + ph + 6);
  if (history.length < 2) {
    g.textAlign = 'center';
    g.textBaseline = 'middle';
    g.fillText('collecting samples…', pad.l + pw / 2, pad.t + ph / 2);
    return;
  }
  const xOf = (t) => pad.l + pw - ((now - t) / span) * pw;
  for (const x of chart.series) {
    const color = css.getPropertyValue(x.color).trim();
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.lineJoin = 'round';
    g.beginPath();
    history.forEach((p, i) => {
      const px = xOf(p.t), py = pad.t + ph - (p[x.key] / top) * ph;
      if (i === 0) g.moveTo(px, py); else g.lineTo(px, py);
    });
    g.stroke();
    // soft fill under the line
    g.lineTo(xOf(now), pad.t + ph);
    g.lineTo(xOf(history[0].t), pad.t + ph);
    g.closePath();
    g.globalAlpha = 0.08;
    g.fillStyle = color;
    g.fill();
    g.globalAlpha = 1;
  }
}

function niceStep(max) {
  const raw = max / 4;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const n = raw / mag;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * mag;
}

// ---- queues ---------------------------------------------------------------
views.queues = {
  init(root) {
    const s = { sort: { key: 'name', reverse: false }, page: 1, pageSize: 100, filter: '' };
    s.count = h('span', { class: 'muted' });
    s.filterInput = h('input', {
      type: 'search', placeholder: 'Filter by name', id: 'queue-filter', 'aria-label': 'Filter queues by name',
      oninput: (e) => { s.filter = e.target.value; s.page = 1; refresh(); },
    });
    s.body = h('div', {});
    s.pager = h('div', { class: 'pager' });
    root.append(h('section', { class: 'card' },
      h('header', {}, h('h2', {}, 'Queues'), s.count, h('span', { class: 'spacer' }), s.filterInput),
      s.body, s.pager));
    return s;
  },
  async render(s) {
    await checkAlarms();
    const q = new URLSearchParams({
      page: s.page, page_size: s.pageSize, name: s.filter, use_regex: 'false',
      sort: s.sort.key, sort_reverse: String(s.sort.reverse),
    });
    const res = await api('GET', '/queues?' + q);
    const items = res.items || [];
    const deepest = Math.max(1, ...items.map((x) => x.messages || 0));
    s.count.textContent = res.filtered_count === res.total_count
      ? `${fmtInt(res.total_count)} total` : `${fmtInt(res.filtered_count)} of ${fmtInt(res.total_count)}`;
    const onSort = (key) => {
      s.sort = { key, reverse: s.sort.key === key ? !s.sort.reverse : key !== 'name' && key !== 'vhost' };
      refresh();
    };
    s.body.replaceChildren(table([
      { key: 'name', label: 'Name', sort: 'name', cls: 'name', cell: (x) => h('span', { title: x.name }, x.name || '(unnamed)') },
      { key: 'vhost', label: 'Vhost', sort: 'vhost', cell: (x) => x.vhost },
      { key: 'features', label: 'Features', cell: (x) => [h('span', { class: 'tag' }, x.type || 'classic'),
        ...flagTags(x, [['durable', 'D', 'durable'], ['auto_delete', 'AD', 'auto-delete'], ['exclusive', 'Excl', 'exclusive']]),
        ...Object.keys(x.arguments || {}).map((k) => h('span', { class: 'tag', title: k + ' = ' + JSON.stringify(x.arguments[k]) }, k.replace(/^x-/, '')))] },
      { key: 'messages_ready', label: 'Ready', num: true, sort: 'messages_ready', cell: (x) => fmtInt(x.messages_ready) },
      { key: 'messages_unacknowledged', label: 'Unacked', num: true, sort: 'messages_unacknowledged', cell: (x) => fmtInt(x.messages_unacknowledged) },
      { key: 'messages', label: 'Total', num: true, sort: 'messages', cell: (x) => [
        h('span', { class: 'depth-bar', style: `width:${Math.round(40 * (x.messages || 0) / deepest)}px` }), fmtInt(x.messages)] },
      { key: 'consumers', label: 'Consumers', num: true, sort: 'consumers', cell: (x) => fmtInt(x.consumers) },
      { key: 'publish_rate', label: 'Incoming', num: true, sort: 'message_stats.publish_details.rate', cell: (x) => fmtRate(rateOf(x.message_stats, 'publish')) },
      { key: 'deliver_rate', label: 'Deliver', num: true, sort: 'message_stats.deliver_get_details.rate', cell: (x) => fmtRate(rateOf(x.message_stats, 'deliver_get')) },
      { key: 'ack_rate', label: 'Ack', num: true, sort: 'message_stats.ack_details.rate', cell: (x) => fmtRate(rateOf(x.message_stats, 'ack')) },
      { key: 'actions', label: '', cls: 'actions', cell: (x) => [
        h('button', { class: 'small', 'data-action': 'purge', onclick: () => purgeQueue(x) }, 'Purge'),
        h('button', { class: 'small danger', 'data-action': 'delete', onclick: () => deleteQueue(x) }, 'Delete')] },
    ], items, {
      sort: s.sort, onSort, empty: s.filter ? 'No queue matches the filter.' : 'No queues yet.',
      rowAttrs: (x) => ({ dataset: { queue: x.name, vhost: x.vhost } }),
    }));
    const pages = res.page_count || 1;
    s.pager.replaceChildren(...(pages > 1 ? [
      h('button', { class: 'small', disabled: s.page <= 1, onclick: () => { s.page--; refresh(); } }, '‹ Prev'),
      h('span', {}, `Page ${s.page} of ${pages}`),
      h('button', { class: 'small', disabled: s.page >= pages, onclick: () => { s.page++; refresh(); } }, 'Next ›'),
    ] : []));
  },
};

async function purgeQueue(x) {
  if (!await confirmAction('Purge queue?', `All ${fmtInt(x.messages_ready)} ready messages of “${x.name}” (vhost ${x.vhost}) will be removed.`, 'Purge')) return;
  await act(`Queue ${x.name} purged.`, () => api('DELETE', `/queues/${enc(x.vhost)}/${enc(x.name)}/contents`));
}

async function deleteQueue(x) {
  if (!await confirmAction('Delete queue?', `“${x.name}” (vhost ${x.vhost}) and its ${fmtInt(x.messages)} messages will be deleted.`, 'Delete')) return;
  await act(`Queue ${x.name} deleted.`, () => api('DELETE', `/queues/${enc(x.vhost)}/${enc(x.name)}`));
}

// ---- exchanges ------------------------------------------------------------
views.exchanges = {
  init(root) {
    const s = { body: h('div', {}) };
    root.append(card('Exchanges', s.body));
    return s;
  },
  async render(s) {
    await checkAlarms();
    const xs = await api('GET', '/exchanges');
    s.body.replaceChildren(table([
      { key: 'name', label: 'Name', cls: 'name', cell: (x) => x.name || '(AMQP default)' },
      { key: 'vhost', label: 'Vhost', cell: (x) => x.vhost },
      { key: 'type', label: 'Type', cell: (x) => x.type },
      { key: 'features', label: 'Features', cell: (x) => [
        ...flagTags(x, [['durable', 'D', 'durable'], ['auto_delete', 'AD', 'auto-delete'], ['internal', 'I', 'internal']]),
        ...Object.keys(x.arguments || {}).map((k) => h('span', { class: 'tag', title: k + ' = ' + JSON.stringify(x.arguments[k]) }, k))] },
      { key: 'in', label: 'Rate in', num: true, cell: (x) => fmtRate(rateOf(x.message_stats, 'publish_in')) },
      { key: 'out', label: 'Rate out', num: true, cell: (x) => fmtRate(rateOf(x.message_stats, 'publish_out')) },
    ], xs, { rowAttrs: (x) => ({ dataset: { exchange: x.name, vhost: x.vhost } }) }));
  },
};

// ---- connections and channels ---------------------------------------------
views.connections = {
  init(root) {
    const s = { conns: h('div', {}), chans: h('div', {}) };
    root.append(card('Connections', s.conns), card('Channels', s.chans));
    return s;
  },
  async render(s) {
    await checkAlarms();
    const [conns, chans] = await Promise.all([api('GET', '/connections'), api('GET', '/channels')]);
    s.conns.replaceChildren(table([
      { key: 'name', label: 'Name', cls: 'name', cell: (c) => c.name },
      { key: 'user', label: 'User', cell: (c) => c.user },
      { key: 'vhost', label: 'Vhost', cell: (c) => c.vhost },
      { key: 'client', label: 'Client', cell: (c) => {
        const p = c.client_properties || {};
        return [p.product, p.version].filter(Boolean).join(' ') || '–';
      } },
      { key: 'state', label: 'State', cell: (c) => h('span', { class: 'tag' + (c.state === 'running' ? ' on' : '') }, c.state || '–') },
      { key: 'tls', label: 'TLS', cell: (c) => (c.ssl ? 'yes' : '') },
      { key: 'channels', label: 'Channels', num: true, cell: (c) => fmtInt(c.channels) },
      { key: 'recv_oct', label: 'Received', num: true, cell: (c) => fmtBytes(c.recv_oct) },
      { key: 'send_oct', label: 'Sent', num: true, cell: (c) => fmtBytes(c.send_oct) },
      { key: 'actions', label: '', cls: 'actions', cell: (c) => h('button', { class: 'small danger', 'data-action': 'close', onclick: () => closeConnection(c) }, 'Close') },
    ], conns, { empty: 'No client is connected.', rowAttrs: (c) => ({ dataset: { connection: c.name } }) }));
    s.chans.replaceChildren(table([
      { key: 'name', label: 'Channel', cls: 'name', cell: (c) => c.name },
      { key: 'user', label: 'User', cell: (c) => c.user },
      { key: 'vhost', label: 'Vhost', cell: (c) => c.vhost },
      { key: 'mode', label: 'Mode', cell: (c) => [c.confirm ? h('span', { class: 'tag on', title: 'publisher confirms' }, 'C') : null,
        c.transactional ? h('span', { class: 'tag on', title: 'transactional' }, 'T') : null] },
      { key: 'consumer_count', label: 'Consumers', num: true, cell: (c) => fmtInt(c.consumer_count) },
      { key: 'prefetch_count', label: 'Prefetch', num: true, cell: (c) => fmtInt(c.prefetch_count) },
      { key: 'messages_unacknowledged', label: 'Unacked', num: true, cell: (c) => fmtInt(c.messages_unacknowledged) },
      { key: 'messages_unconfirmed', label: 'Unconfirmed', num: true, cell: (c) => fmtInt(c.messages_unconfirmed) },
    ], chans, { empty: 'No open channels.', rowAttrs: (c) => ({ dataset: { channel: c.name } }) }));
  },
};

async function closeConnection(c) {
  if (!await confirmAction('Close connection?', `${c.name} (user ${c.user}) will be closed with 320 CONNECTION_FORCED.`, 'Close')) return;
  await act('Connection closed.', () => api('DELETE', `/connections/${enc(c.name)}`, undefined,
    { 'X-Reason': 'Closed via management plugin' }));
}

// ---- users and vhosts -----------------------------------------------------
views.users = {
  init(root) {
    const s = { users: h('div', {}), vhosts: h('div', {}) };
    const admin = (whoami?.tags || []).includes('administrator');
    const uName = h('input', { id: 'new-user', name: 'name', placeholder: 'User name', required: true, 'aria-label': 'New user name' });
    const uPass = h('input', { id: 'new-user-password', name: 'password', type: 'password', placeholder: 'Password', autocomplete: 'new-password', 'aria-label': 'New user password' });
    const uTags = h('input', { id: 'new-user-tags', name: 'tags', placeholder: 'Tags (e.g. management)', 'aria-label': 'New user tags' });
    const vName = h('input', { id: 'new-vhost', name: 'vhost', placeholder: 'Vhost name', required: true, 'aria-label': 'New vhost name' });
    const addUser = h('form', { class: 'inline', onsubmit: (e) => {
      e.preventDefault();
      const name = uName.value.trim();
      act(`User ${name} saved.`, async () => {
        await api('PUT', `/users/${enc(name)}`, { password: uPass.value, tags: uTags.value.trim() });
        uName.value = uPass.value = uTags.value = '';
      });
    } }, uName, uPass, uTags, h('button', { class: 'primary', type: 'submit' }, 'Add user'));
    const addVhost = h('form', { class: 'inline', onsubmit: (e) => {
      e.preventDefault();
      const name = vName.value.trim();
      act(`Vhost ${name} added.`, async () => {
        await api('PUT', `/vhosts/${enc(name)}`, {});
        vName.value = '';
      });
    } }, vName, h('button', { class: 'primary', type: 'submit' }, 'Add vhost'));
    root.append(h('div', { class: 'two' },
      card('Users', s.users, admin ? addUser : null),
      card('Virtual hosts', s.vhosts, admin ? addVhost : null)));
    s.admin = admin;
    return s;
  },
  async render(s) {
    await checkAlarms();
    const [users, vhosts, perms] = await Promise.all([
      api('GET', '/users').catch((e) => (e.status === 401 || e.status === 404 ? null : Promise.reject(e))),
      api('GET', '/vhosts'),
      api('GET', '/permissions').catch(() => []),
    ]);
    const permsOf = (u) => perms.filter((p) => p.user === u).map((p) => p.vhost);
    s.users.replaceChildren(users === null
      ? h('p', { class: 'muted' }, 'Listing users needs the administrator tag.')
      : table([
        { key: 'name', label: 'Name', cls: 'name', cell: (u) => u.name },
        { key: 'tags', label: 'Tags', cell: (u) => (Array.isArray(u.tags) ? u.tags : String(u.tags || '').split(',')).filter(Boolean).map((t) => h('span', { class: 'tag on' }, t)) },
        { key: 'vhosts', label: 'Can access', cell: (u) => permsOf(u.name).join(', ') || h('span', { class: 'muted' }, 'no vhost') },
        { key: 'actions', label: '', cls: 'actions', cell: (u) => (s.admin && u.name !== whoami?.name
          ? h('button', { class: 'small danger', onclick: () => deleteUser(u) }, 'Delete') : '') },
      ], users, { rowAttrs: (u) => ({ dataset: { user: u.name } }) }));
    s.vhosts.replaceChildren(table([
      { key: 'name', label: 'Name', cls: 'name', cell: (v) => v.name },
      { key: 'messages', label: 'Messages', num: true, cell: (v) => fmtInt(v.messages) },
      { key: 'ready', label: 'Ready', num: true, cell: (v) => fmtInt(v.messages_ready) },
      { key: 'unacked', label: 'Unacked', num: true, cell: (v) => fmtInt(v.messages_unacknowledged) },
      { key: 'actions', label: '', cls: 'actions', cell: (v) => (s.admin && v.name !== '/'
        ? h('button', { class: 'small danger', onclick: () => deleteVhost(v) }, 'Delete') : '') },
    ], vhosts, { rowAttrs: (v) => ({ dataset: { vhost: v.name } }) }));
  },
};

async function deleteUser(u) {
  if (!await confirmAction('Delete user?', `User “${u.name}” and their permissions will be deleted.`, 'Delete')) return;
  await act(`User ${u.name} deleted.`, () => api('DELETE', `/users/${enc(u.name)}`));
}

async function deleteVhost(v) {
  if (!await confirmAction('Delete vhost?', `Vhost “${v.name}” with all its queues, exchanges and messages will be deleted.`, 'Delete')) return;
  await act(`Vhost ${v.name} deleted.`, () => api('DELETE', `/vhosts/${enc(v.name)}`));
}

// ---- start ----------------------------------------------------------------
function start() {
  $('#login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    login($('#username').value.trim(), $('#password').value);
  });
  $('#logout').addEventListener('click', () => logout());
  window.addEventListener('resize', drawCharts);
  window.addEventListener('hashchange', () => { if (credentials()) route(); });
  document.addEventListener('visibilitychange', () => { if (!document.hidden && credentials()) refresh(); });
  $('#foot').textContent = 'edad management · polling every ' + POLL_MS / 1000 + ' s';
  if (credentials()) {
    api('GET', '/whoami').then(enter, (e) => logout(e.status === 401 ? 'Please sign in again.' : e.message));
  } else {
    showLogin();
  }
}

start();
