// dashboard.test.js - the web dashboard end to end, as a person uses it:
// starts edad (free AMQP and management ports), declares a queue and
// publishes N messages with amqplib, opens the dashboard in Debian's
// headless chromium (playwright-core), logs in as guest, sees the queue
// with its live depth N (and the new depth after more publishes, by
// polling), purges it through the confirm dialog, sees depth 0 and checks
// it through the HTTP API and AMQP; visits exchanges, connections and users,
// adds and deletes a vhost, adds a user who signs in from a second tab and
// is sent back to the login form once deleted (401 -> login again), closes
// the test's connection (the client sees 320 CONNECTION_FORCED), and saves
// screenshots (dashboard.png and one per page, light and dark) under
// $EDAD_TEST_OUTPUT.  Run by run.sh, which skips without chromium.  No
// timing assertions: waits are bounded polls.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const amqp = require('amqplib');
const { chromium } = require('playwright-core');

const N = 7;
const QUEUE = `dash.orders.${process.pid}`;
const OTHER = `dash.audit.${process.pid}`;
const OUT = process.env.EDAD_TEST_OUTPUT || path.resolve('tests', 'output');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

// Start edad with AMQP and management on free ports; retried when a port
// raced with another process.  Resolves to { amqpUrl, httpUrl, stop() }.
async function startEdad() {
  const bin = process.env.EDAD_BIN || path.resolve('edad');
  if (!fs.existsSync(bin)) throw new Error(`edad binary not found at ${bin} (set EDAD_BIN)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edad-browser-'));
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const mport = await freePort();
    const conf = path.join(dir, 'edad.conf');
    fs.writeFileSync(conf,
      `listeners.tcp.default = 127.0.0.1:${port}\n` +
      `management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = ${mport}\n` +
      'prometheus.tcp.port = 0\n' +
      `data_dir = ${path.join(dir, 'data')}\n` +
      `log.console.level = ${process.env.EDAD_TEST_LOG_LEVEL || 'warning'}\n`);
    const child = spawn(bin, ['-c', conf], { stdio: ['ignore', 'inherit', 'inherit'] });
    let exited = null;
    child.once('exit', (code, signal) => { exited = { code, signal }; });
    child.once('error', (err) => { exited = { code: -1, signal: String(err) }; });
    const deadline = Date.now() + 10000;
    while (exited === null && Date.now() < deadline) {
      if (await canConnect(port) && await canConnect(mport)) break;
      await sleep(20);
    }
    if (exited !== null) continue;
    if (Date.now() >= deadline) {
      child.kill('SIGKILL');
      throw new Error('edad did not listen on its AMQP and management ports within 10 s');
    }
    const stop = async () => {
      if (exited === null) {
        child.kill('SIGTERM');
        const bound = Date.now() + 10000;
        while (exited === null && Date.now() < bound) await sleep(20);
        if (exited === null) {
          child.kill('SIGKILL');
          while (exited === null) await sleep(20);
        }
      }
      fs.rmSync(dir, { recursive: true, force: true });
      return exited;
    };
    return {
      amqpUrl: `amqp://guest:guest@127.0.0.1:${port}`,
      httpUrl: `http://127.0.0.1:${mport}`,
      stop,
    };
  }
  fs.rmSync(dir, { recursive: true, force: true });
  throw new Error('edad exited at start five times (see its stderr above)');
}

// GET an API path as guest; the parsed JSON.
async function apiGet(base, p) {
  const res = await fetch(base + '/api' + p, {
    headers: { Authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64') },
  });
  assert.equal(res.status, 200, `GET /api${p}: HTTP ${res.status}`);
  return res.json();
}

let edad;
let conn;
let ch;
let browser;
let page;
const pageErrors = [];

test.before(async () => {
  fs.mkdirSync(OUT, { recursive: true });
  edad = await startEdad();
  conn = await amqp.connect(edad.amqpUrl, { clientProperties: { product: 'dashboard-test' } });
  ch = await conn.createConfirmChannel();
  await ch.assertQueue(QUEUE, { durable: true });
  await ch.assertQueue(OTHER, { durable: false, arguments: { 'x-max-length': 1000 } });
  for (let i = 0; i < N; i++) ch.sendToQueue(QUEUE, Buffer.from(`order ${i}`), { persistent: true });
  ch.sendToQueue(OTHER, Buffer.from('audit'));
  await ch.waitForConfirms();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
});

test.after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (conn) await Promise.race([conn.close().catch(() => {}), sleep(2000)]);
  if (edad) {
    const exit = await edad.stop();
    assert.equal(exit.code, 0, `edad exited with ${JSON.stringify(exit)}`);
  }
});

test('the dashboard is served at / with its assets', async () => {
  const res = await fetch(edad.httpUrl + '/');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/html/);
  assert.match(await res.text(), /<script type="module" src="app.js">/);
  for (const [p, type] of [['/app.js', /javascript/], ['/style.css', /text\/css/], ['/static/app.js', /javascript/]]) {
    const r = await fetch(edad.httpUrl + p);
    assert.equal(r.status, 200, p);
    assert.match(r.headers.get('content-type'), type, p);
  }
  assert.equal((await fetch(edad.httpUrl + '/nope.js')).status, 404);
  assert.equal((await fetch(edad.httpUrl + '/../etc/passwd')).status, 404);
});

test('a wrong password is refused on the login form', async () => {
  await page.goto(edad.httpUrl + '/');
  await page.locator('#username').fill('guest');
  await page.locator('#password').fill('not-the-password');
  await page.locator('#login-submit').click();
  await page.locator('#login-error').waitFor({ state: 'visible', timeout: 10000 });
  assert.match(await page.locator('#login-error').textContent(), /Login failed/);
  assert.equal(await page.locator('#nav').isVisible(), false);
  // the browser logs the refused request itself; later errors are the page's
  pageErrors.length = 0;
});

test('log in as guest and see the overview totals', async () => {
  await page.locator('#username').fill('guest');
  await page.locator('#password').fill('guest');
  await page.locator('#login-submit').click();
  await page.locator('#nav').waitFor({ state: 'visible', timeout: 10000 });
  assert.match(await page.locator('#who-name').textContent(), /^guest/);
  // totals from /api/overview: the test's connection and both queues
  await page.waitForFunction(() => {
    const v = (id) => document.querySelector(`#${id} .value`)?.textContent;
    return v('stat-queues') === '2' && v('stat-connections') === '1' && v('stat-alarms') === 'none';
  }, null, { timeout: 15000 });
  const ready = await page.locator('#stat-ready .value').textContent();
  assert.equal(ready, String(N + 1));
  assert.equal(await page.locator('canvas#chart-rates').count(), 1);
  assert.equal(await page.locator('canvas#chart-queued').count(), 1);
  // let the chart collect a second sample before the picture
  await sleep(3500);
  await page.screenshot({ path: path.join(OUT, 'dashboard-overview.png'), fullPage: true });
});

test('the queues page shows the live depth, then purge empties the queue', async () => {
  await page.locator('#nav a[data-route="queues"]').click();
  const row = page.locator(`tr[data-queue="${QUEUE}"]`);
  const depth = row.locator('td[data-field="messages_ready"]');
  await row.waitFor({ timeout: 10000 });
  await page.waitForFunction(([sel, n]) => document.querySelector(sel)?.textContent === n,
    [`tr[data-queue="${QUEUE}"] td[data-field="messages_ready"]`, String(N)], { timeout: 15000 });
  assert.equal(await depth.textContent(), String(N));

  // live: more messages arrive and the table follows without a reload
  for (let i = 0; i < 3; i++) ch.sendToQueue(QUEUE, Buffer.from(`late ${i}`));
  await ch.waitForConfirms();
  await page.waitForFunction(([sel, n]) => document.querySelector(sel)?.textContent === n,
    [`tr[data-queue="${QUEUE}"] td[data-field="messages_ready"]`, String(N + 3)], { timeout: 15000 });

  // the filter narrows the table to one queue
  await page.locator('#queue-filter').fill('orders');
  await page.waitForFunction((other) => !document.querySelector(`tr[data-queue="${other}"]`), OTHER, { timeout: 10000 });
  assert.equal(await row.count(), 1);
  await page.locator('#queue-filter').fill('');
  await page.locator(`tr[data-queue="${OTHER}"]`).waitFor({ timeout: 10000 });

  // cancel keeps the messages; OK purges them
  await row.locator('button[data-action="purge"]').click();
  await page.locator('#confirm').waitFor({ state: 'visible' });
  await page.locator('#confirm-cancel').click();
  await page.locator('#confirm').waitFor({ state: 'hidden' });
  assert.equal((await apiGet(edad.httpUrl, `/queues/%2F/${QUEUE}`)).messages, N + 3);

  await page.screenshot({ path: path.join(OUT, 'dashboard.png'), fullPage: true });
  await row.locator('button[data-action="purge"]').click();
  await page.locator('#confirm-ok').click();
  await page.waitForFunction(([sel]) => document.querySelector(sel)?.textContent === '0',
    [`tr[data-queue="${QUEUE}"] td[data-field="messages_ready"]`], { timeout: 15000 });

  // the broker agrees: through the API and through AMQP
  const q = await apiGet(edad.httpUrl, `/queues/%2F/${QUEUE}`);
  assert.equal(q.messages, 0);
  assert.equal(q.messages_ready, 0);
  const ok = await ch.checkQueue(QUEUE);
  assert.equal(ok.messageCount, 0);
  // the other queue was left alone
  assert.equal((await apiGet(edad.httpUrl, `/queues/%2F/${OTHER}`)).messages, 1);
  await page.screenshot({ path: path.join(OUT, 'dashboard-purged.png'), fullPage: true });
  // the dark palette (prefers-color-scheme) for the record
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: path.join(OUT, 'dashboard-dark.png'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'light' });
});

test('exchanges, connections and users pages list what the broker has', async () => {
  await page.locator('#nav a[data-route="exchanges"]').click();
  await page.locator('tr[data-exchange="amq.topic"]').waitFor({ timeout: 10000 });
  await page.locator('#nav a[data-route="connections"]').click();
  await page.waitForFunction(() => document.querySelectorAll('tr[data-connection]').length === 1, null, { timeout: 10000 });
  const connRow = page.locator('tr[data-connection]');
  assert.equal(await connRow.locator('td[data-field="user"]').textContent(), 'guest');
  assert.equal(await connRow.locator('td[data-field="channels"]').textContent(), '1');
  await page.waitForFunction(() => document.querySelectorAll('tr[data-channel]').length === 1, null, { timeout: 10000 });
  await page.screenshot({ path: path.join(OUT, 'dashboard-connections.png'), fullPage: true });
  await page.locator('#nav a[data-route="users"]').click();
  await page.locator('tr[data-user="guest"]').waitFor({ timeout: 10000 });
  await page.locator('tr[data-vhost="/"]').first().waitFor({ timeout: 10000 });
  await page.screenshot({ path: path.join(OUT, 'dashboard-users.png'), fullPage: true });
});

test('an administrator adds and deletes a vhost from the users page', async () => {
  const vh = `dash-vh-${process.pid}`;
  await page.locator('#new-vhost').fill(vh);
  await page.getByRole('button', { name: 'Add vhost' }).click();
  const row = page.locator(`tr[data-vhost="${vh}"]`);
  await row.waitFor({ timeout: 10000 });
  assert.ok((await apiGet(edad.httpUrl, '/vhosts')).some((v) => v.name === vh));
  await row.getByRole('button', { name: 'Delete' }).click();
  await page.locator('#confirm-ok').click();
  await row.waitFor({ state: 'detached', timeout: 10000 });
  assert.ok(!(await apiGet(edad.httpUrl, '/vhosts')).some((v) => v.name === vh));
});

test('a user added on the page can sign in, and is sent back to the login form once deleted', async () => {
  const user = `dash-user-${process.pid}`;
  await page.locator('#new-user').fill(user);
  await page.locator('#new-user-password').fill('s3cret-pw');
  await page.locator('#new-user-tags').fill('monitoring');
  await page.getByRole('button', { name: 'Add user' }).click();
  await page.locator(`tr[data-user="${user}"]`).waitFor({ timeout: 10000 });

  // a second tab of its own (fresh sessionStorage)
  const ctx2 = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const p2 = await ctx2.newPage();
    await p2.goto(edad.httpUrl + '/');
    await p2.locator('#username').fill(user);
    await p2.locator('#password').fill('s3cret-pw');
    await p2.locator('#login-submit').click();
    await p2.locator('#nav').waitFor({ state: 'visible', timeout: 10000 });
    assert.match(await p2.locator('#who-name').textContent(), new RegExp(`^${user} \\(monitoring\\)`));
    await p2.locator('#stat-queues .value').waitFor({ timeout: 10000 });

    // the administrator deletes the user: the next poll of the other tab is refused
    await page.locator(`tr[data-user="${user}"]`).getByRole('button', { name: 'Delete' }).click();
    await page.locator('#confirm-ok').click();
    await page.locator(`tr[data-user="${user}"]`).waitFor({ state: 'detached', timeout: 10000 });
    await p2.locator('#login').waitFor({ state: 'visible', timeout: 15000 });
    assert.match(await p2.locator('#login-error').textContent(), /Login failed/);
    assert.equal(await p2.locator('#nav').isVisible(), false);
  } finally {
    await ctx2.close();
  }
});

test('closing a connection from the connections page reaches the client', async () => {
  const closed = new Promise((resolve) => conn.once('close', resolve));
  conn.on('error', () => {});
  await page.locator('#nav a[data-route="connections"]').click();
  const row = page.locator('tr[data-connection]');
  await row.waitFor({ timeout: 10000 });
  await row.locator('button[data-action="close"]').click();
  await page.locator('#confirm-ok').click();
  const err = await closed;
  assert.match(String(err && err.message), /320|CONNECTION_FORCED/);
  conn = null;
  await page.waitForFunction(() => !document.querySelector('tr[data-connection]'), null, { timeout: 10000 });
});

test('the page raised no script errors', () => {
  assert.deepEqual(pageErrors, []);
});
