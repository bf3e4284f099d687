// connection.test.js - stock amqplib (promise and callback APIs) against edad:
// handshake, server properties, channels opened and closed, connection
// closed, failing authentication.  Messaging (issue 3) lives in messaging.test.js.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const amqp = require('amqplib');
const amqpcb = require('amqplib/callback_api');
const { startEdad } = require('./edad.js');

let edad;

test.before(async () => {
  edad = await startEdad();
});

test.after(async () => {
  if (!edad) return;
  const exit = await edad.stop();
  if (exit && !edad.external) {
    assert.equal(exit.signal, null, `edad died from signal ${exit.signal}`);
    assert.equal(exit.code, 0, 'edad exits 0 on SIGTERM');
  }
});

test('connects, opens and closes several channels, closes the connection', async () => {
  const conn = await amqp.connect(edad.url);
  const channels = [];
  for (let i = 0; i < 5; i++) channels.push(await conn.createChannel());
  assert.equal(new Set(channels.map((c) => c.ch)).size, 5, 'five distinct channel numbers');
  for (const ch of channels.slice(0, 3)) await ch.close();
  // Reuse after close: amqplib hands out the freed numbers again.
  const again = await conn.createChannel();
  await again.close();
  for (const ch of channels.slice(3)) await ch.close();
  await conn.close();
});

test('server properties look like RabbitMQ: product, version, platform, capabilities', async () => {
  const conn = await amqp.connect(edad.url);
  try {
    const props = conn.connection.serverProperties;
    // Against another broker (EDAD_TEST_ADDR, e.g. the RabbitMQ cross-check)
    // only the shape is checked.
    if (edad.external) assert.ok(props.product, 'product is set');
    else assert.equal(props.product, 'edad');
    assert.match(String(props.version), /^\d+\.\d+/);
    assert.ok(props.platform, 'platform is set');
    assert.equal(typeof props.capabilities, 'object');
    assert.equal(props.capabilities.authentication_failure_close, true);
  } finally {
    await conn.close();
  }
});

test('negotiates the frame_max and heartbeat the client asks for', async () => {
  const conn = await amqp.connect(`${edad.url}?frameMax=8192&heartbeat=1`);
  try {
    assert.equal(conn.connection.frameMax, 8192);
    assert.equal(conn.connection.heartbeat, 1);
    // Stay idle for three heartbeat intervals: amqplib sends heartbeats, so
    // edad must not drop the connection; a channel still opens afterwards.
    await new Promise((r) => setTimeout(r, 3000));
    const ch = await conn.createChannel();
    await ch.close();
  } finally {
    await conn.close();
  }
});

test('wrong password: connect rejects with ACCESS_REFUSED (403)', async () => {
  const url = edad.url.replace('guest:guest@', 'guest:wrong@');
  await assert.rejects(amqp.connect(url), (err) => {
    assert.match(err.message, /403/);
    assert.match(err.message, /ACCESS.REFUSED/);
    return true;
  });
});

test('unknown user: connect rejects with ACCESS_REFUSED (403)', async () => {
  const url = edad.url.replace('guest:guest@', 'nobody:guest@');
  await assert.rejects(amqp.connect(url), /ACCESS.REFUSED/);
});

// amqplib reports a close during connection.open without its reply code
// ("Expected ConnectionOpenOk; got <ConnectionClose channel:0>"); the 530
// itself is asserted by tests/conformance/check_connection.
test('unknown vhost: connect rejects with a connection.close', async () => {
  await assert.rejects(amqp.connect(`${edad.url}/no-such-vhost`), /ConnectionClose|530|NOT.ALLOWED/);
});

test('callback API: connect, createChannel, close', async () => {
  await new Promise((resolve, reject) => {
    amqpcb.connect(edad.url, (err, conn) => {
      if (err) return reject(err);
      conn.createChannel((err1, ch) => {
        if (err1) return reject(err1);
        ch.close((err2) => {
          if (err2) return reject(err2);
          conn.close((err3) => (err3 ? reject(err3) : resolve()));
        });
      });
    });
  });
});

test('many connections in parallel, each with channels', async () => {
  const conns = await Promise.all(Array.from({ length: 20 }, () => amqp.connect(edad.url)));
  await Promise.all(conns.map(async (c) => {
    const a = await c.createChannel();
    const b = await c.createChannel();
    await a.close();
    await b.close();
  }));
  await Promise.all(conns.map((c) => c.close()));
});
