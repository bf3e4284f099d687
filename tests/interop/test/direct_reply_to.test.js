// direct_reply_to.test.js - RPC over direct reply-to (amq.rabbitmq.reply-to)
// with stock amqplib against edad (issue 4): a client consumes the
// pseudo-queue in no-ack mode and publishes requests with that reply-to;
// the server answers to the rewritten name from its own connection; many
// requests in flight are matched by correlation id; and RabbitMQ's errors
// reach amqplib as channel errors.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const amqp = require('amqplib');
const { startEdad } = require('./edad.js');

const REPLY_TO = 'amq.rabbitmq.reply-to';
let edad;
let conn;
let serverConn;
const opts = { timeout: 30000 };
const name = (base) => `interop.rpc.${base}.${process.pid}`;
const later = (ms) => new Promise((r) => setTimeout(r, ms));
const closeQuietly = (c) => Promise.race([c.close().catch(() => {}), later(2000)]);

test.before(async () => {
  edad = await startEdad();
});

test.beforeEach(async () => {
  conn = await amqp.connect(edad.url);
  conn.on('error', () => {});
  serverConn = await amqp.connect(edad.url);
  serverConn.on('error', () => {});
});

test.afterEach(async () => {
  if (conn) await closeQuietly(conn);
  if (serverConn) await closeQuietly(serverConn);
  conn = null;
  serverConn = null;
});

test.after(async () => {
  if (!edad) return;
  const exit = await edad.stop();
  if (exit && !edad.external) {
    assert.equal(exit.signal, null, `edad died from signal ${exit.signal}`);
    assert.equal(exit.code, 0, 'edad exits 0 on SIGTERM');
  }
});

// An RPC server on its own connection: squares numbers, answers to replyTo.
async function startServer(queue) {
  const ch = await serverConn.createChannel();
  await ch.assertQueue(queue, { durable: false, autoDelete: true });
  await ch.prefetch(10);
  const seenReplyTo = [];
  await ch.consume(queue, (msg) => {
    seenReplyTo.push(msg.properties.replyTo);
    const n = Number(msg.content.toString());
    ch.sendToQueue(msg.properties.replyTo, Buffer.from(String(n * n)), {
      correlationId: msg.properties.correlationId,
    });
    ch.ack(msg);
  });
  return { ch, seenReplyTo };
}

test('direct reply-to RPC: many requests in flight, answers matched by correlation id', opts, async () => {
  const queue = name('square');
  const server = await startServer(queue);
  const ch = await conn.createChannel();
  const pending = new Map();
  const { consumerTag } = await ch.consume(REPLY_TO, (msg) => {
    const resolve = pending.get(msg.properties.correlationId);
    assert.ok(resolve, `unexpected correlation id ${msg.properties.correlationId}`);
    pending.delete(msg.properties.correlationId);
    resolve(msg);
  }, { noAck: true });
  assert.match(consumerTag, /^amq\.ctag-/);
  const call = (n) => new Promise((resolve) => {
    const id = `req-${n}`;
    pending.set(id, resolve);
    ch.sendToQueue(queue, Buffer.from(String(n)), { replyTo: REPLY_TO, correlationId: id });
  });
  const inputs = Array.from({ length: 50 }, (_, i) => i + 1);
  const replies = await Promise.all(inputs.map(call));
  assert.deepEqual(replies.map((m) => Number(m.content.toString())), inputs.map((n) => n * n));
  assert.equal(pending.size, 0);
  // What the server saw: one rewritten name for this channel, not the bare pseudo-queue.
  const names = new Set(server.seenReplyTo);
  assert.equal(names.size, 1);
  const [rewritten] = names;
  assert.ok(rewritten.startsWith(`${REPLY_TO}.`) && rewritten.length > REPLY_TO.length + 1, rewritten);
  // The reply arrives as a delivery to the reply consumer, routed by that name.
  assert.equal(replies[0].fields.consumerTag, consumerTag);
  assert.equal(replies[0].fields.exchange, '');
  assert.equal(replies[0].fields.routingKey, rewritten);
  await ch.close();
  await server.ch.close();
});

test('two client channels each get their own replies', opts, async () => {
  const queue = name('two');
  const server = await startServer(queue);
  const a = await conn.createChannel();
  const b = await conn.createChannel();
  const got = { a: [], b: [] };
  await a.consume(REPLY_TO, (m) => got.a.push(m.content.toString()), { noAck: true });
  await b.consume(REPLY_TO, (m) => got.b.push(m.content.toString()), { noAck: true });
  a.sendToQueue(queue, Buffer.from('3'), { replyTo: REPLY_TO });
  b.sendToQueue(queue, Buffer.from('4'), { replyTo: REPLY_TO });
  a.sendToQueue(queue, Buffer.from('5'), { replyTo: REPLY_TO });
  for (let i = 0; i < 250 && got.a.length + got.b.length < 3; i++) await later(20);
  assert.deepEqual(got.a.sort(), ['25', '9']);
  assert.deepEqual(got.b, ['16']);
  assert.equal(new Set(server.seenReplyTo).size, 2, 'one reply-to name per channel');
  await a.close();
  await b.close();
  await server.ch.close();
});

test('consuming the pseudo-queue with acks is refused (406)', opts, async () => {
  const ch = await conn.createChannel();
  const closed = new Promise((resolve) => ch.once('error', resolve));
  await assert.rejects(ch.consume(REPLY_TO, () => {}, { noAck: false }));
  const err = await closed;
  assert.equal(err.code, 406);
  assert.match(err.message, /reply consumer cannot acknowledge/);
});

test('publishing with reply-to but no reply consumer closes the channel (406)', opts, async () => {
  const ch = await conn.createChannel();
  const closed = new Promise((resolve) => ch.once('error', resolve));
  ch.sendToQueue(name('nobody'), Buffer.from('?'), { replyTo: REPLY_TO });
  const err = await closed;
  assert.equal(err.code, 406);
  assert.match(err.message, /fast reply consumer does not exist/);
});

test('a second reply consumer on the channel is refused (406)', opts, async () => {
  const ch = await conn.createChannel();
  await ch.consume(REPLY_TO, () => {}, { noAck: true });
  const closed = new Promise((resolve) => ch.once('error', resolve));
  await assert.rejects(ch.consume(REPLY_TO, () => {}, { noAck: true }));
  const err = await closed;
  assert.equal(err.code, 406);
  assert.match(err.message, /reply consumer already set/);
});

test('a reply to a client that went away is dropped, the server carries on', opts, async () => {
  const queue = name('gone');
  const srv = await serverConn.createChannel();
  await srv.assertQueue(queue, { durable: false, autoDelete: true });
  const client = await conn.createChannel();
  await client.consume(REPLY_TO, () => {}, { noAck: true });
  client.sendToQueue(queue, Buffer.from('7'), { replyTo: REPLY_TO });
  let req = false;
  for (let i = 0; i < 250 && !req; i++) {
    req = await srv.get(queue, { noAck: true });
    if (!req) await later(20);
  }
  assert.ok(req, 'the request arrived');
  const replyTo = req.properties.replyTo;
  await client.close();
  const returned = new Promise((resolve) => srv.once('return', resolve));
  srv.publish('', replyTo, Buffer.from('late'), { mandatory: true });
  const ret = await Promise.race([returned, later(5000).then(() => null)]);
  assert.ok(ret, 'a mandatory reply to a gone client comes back as a return');
  assert.equal(ret.fields.replyCode, 312);
  srv.publish('', replyTo, Buffer.from('late again'));
  assert.equal((await srv.checkQueue(queue)).messageCount, 0, 'the server channel still works');
  await srv.close();
});
