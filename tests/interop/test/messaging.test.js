// messaging.test.js - amqplib work patterns against edad (issue 3): queue
// round trip, work queue with prefetch, fanout pub/sub, topic routing,
// headers routing, RPC with reply-to and correlation id over a classic reply
// queue, publisher confirms (ConfirmChannel, waitForConfirms and per-message
// callbacks), nack/requeue, mandatory returns, get/purge/delete, consumer
// cancel (client and server side) and channel errors seen through amqplib.
// Names carry the pid so a shared broker (EDAD_TEST_ADDR) sees no clashes.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const amqp = require('amqplib');
const { startEdad } = require('./edad.js');

let edad;
let conn;
// Each test gets a fresh connection (a connection-level error in one test
// must not hang the others) and a bound.
const opts = { timeout: 30000 };
const name = (base) => `interop.${base}.${process.pid}`;

const later = (ms) => new Promise((r) => setTimeout(r, ms));

// Collect n deliveries from a queue (auto-ack unless noAck=false).
function collect(ch, queue, n, consumeOpts = { noAck: true }) {
  return new Promise((resolve, reject) => {
    const got = [];
    const timer = setTimeout(() => reject(new Error(`only ${got.length}/${n} messages from ${queue}`)), 10000);
    ch.consume(queue, (msg) => {
      if (msg === null) return;
      got.push(msg);
      if (got.length === n) {
        clearTimeout(timer);
        resolve(got);
      }
    }, consumeOpts).catch(reject);
  });
}

// Resolves with the error that closes ch.
const channelError = (ch) => new Promise((resolve) => ch.once('error', resolve));

const closeQuietly = (c) => Promise.race([c.close().catch(() => {}), later(2000)]);

test.before(async () => {
  edad = await startEdad();
});

test.beforeEach(async () => {
  conn = await amqp.connect(edad.url);
  conn.on('error', () => {});
});

test.afterEach(async () => {
  if (conn) await closeQuietly(conn);
  conn = null;
});

test.after(async () => {
  if (!edad) return;
  const exit = await edad.stop();
  if (exit && !edad.external) {
    assert.equal(exit.signal, null, `edad died from signal ${exit.signal}`);
    assert.equal(exit.code, 0, 'edad exits 0 on SIGTERM');
  }
});

test('queue round trip: declare, publish to the default exchange, consume, ack', opts, async () => {
  const ch = await conn.createChannel();
  const q = await ch.assertQueue(name('roundtrip'), { durable: false, autoDelete: true });
  assert.equal(q.queue, name('roundtrip'));
  assert.equal(q.messageCount, 0);
  ch.sendToQueue(q.queue, Buffer.from('hello'), {
    contentType: 'text/plain',
    headers: { 'x-trace': 'abc', n: 42 },
    messageId: 'id-1',
    persistent: true,
  });
  const [msg] = await collect(ch, q.queue, 1, { noAck: false });
  assert.equal(msg.content.toString(), 'hello');
  assert.equal(msg.properties.contentType, 'text/plain');
  assert.equal(msg.properties.messageId, 'id-1');
  assert.equal(msg.properties.deliveryMode, 2);
  assert.deepEqual(msg.properties.headers, { 'x-trace': 'abc', n: 42 });
  assert.equal(msg.fields.redelivered, false);
  ch.ack(msg);
  await ch.close();
});

test('work queue with prefetch 1: each worker holds one message at a time, both get work', opts, async () => {
  const ch1 = await conn.createChannel();
  const ch2 = await conn.createChannel();
  await ch1.prefetch(1);
  await ch2.prefetch(1);
  const { queue } = await ch1.assertQueue(name('work'), { durable: false, autoDelete: true });
  const seen = { a: 0, b: 0 };
  const inFlight = { a: 0, b: 0 };
  let maxInFlight = 0;
  let total = 0;
  const done = new Promise((resolve) => {
    const handler = (ch, who) => async (msg) => {
      seen[who]++;
      inFlight[who]++;
      maxInFlight = Math.max(maxInFlight, inFlight[who]);
      await later(5);
      inFlight[who]--;
      ch.ack(msg);
      if (++total === 20) resolve();
    };
    ch1.consume(queue, handler(ch1, 'a'));
    ch2.consume(queue, handler(ch2, 'b'));
  });
  for (let i = 0; i < 20; i++) ch1.sendToQueue(queue, Buffer.from(String(i)));
  await done;
  assert.ok(seen.a > 0 && seen.b > 0, `both workers got work: ${JSON.stringify(seen)}`);
  assert.equal(maxInFlight, 1, 'prefetch 1: never two unacked messages on one worker');
  await ch1.close();
  await ch2.close();
});

test('prefetch 3 delivers three until an ack frees a slot', opts, async () => {
  const ch = await conn.createChannel();
  await ch.prefetch(3);
  const { queue } = await ch.assertQueue('', { exclusive: true });
  for (let i = 0; i < 10; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
  const got = [];
  let wake;
  await ch.consume(queue, (msg) => {
    got.push(msg);
    if (wake) wake();
  });
  const waitFor = async (n) => {
    while (got.length < n) await new Promise((r) => { wake = r; setTimeout(r, 2000); });
  };
  await waitFor(3);
  await later(300);
  assert.equal(got.length, 3, 'no more than the prefetch count before an ack');
  ch.ack(got[0]);
  await waitFor(4);
  await later(300);
  assert.equal(got.length, 4, 'one ack, one more delivery');
  ch.ackAll();
  await ch.close();
});

test('fanout delivers to every bound queue', opts, async () => {
  const ch = await conn.createChannel();
  const x = name('fanout');
  await ch.assertExchange(x, 'fanout', { durable: false, autoDelete: true });
  const q1 = (await ch.assertQueue('', { exclusive: true })).queue;
  const q2 = (await ch.assertQueue('', { exclusive: true })).queue;
  assert.match(q1, /^amq\.gen-/);
  await ch.bindQueue(q1, x, '');
  await ch.bindQueue(q2, x, '');
  const got1 = collect(ch, q1, 1);
  const got2 = collect(ch, q2, 1);
  ch.publish(x, 'ignored', Buffer.from('to all'));
  assert.equal((await got1)[0].content.toString(), 'to all');
  assert.equal((await got2)[0].content.toString(), 'to all');
  await ch.close();
});

test('topic routing with * and #', opts, async () => {
  const ch = await conn.createChannel();
  const x = name('topic');
  await ch.assertExchange(x, 'topic', { durable: false, autoDelete: true });
  const star = (await ch.assertQueue('', { exclusive: true })).queue;
  const hash = (await ch.assertQueue('', { exclusive: true })).queue;
  await ch.bindQueue(star, x, 'user.*');
  await ch.bindQueue(hash, x, 'user.#');
  const gotStar = collect(ch, star, 1);
  const gotHash = collect(ch, hash, 3);
  ch.publish(x, 'user.created', Buffer.from('1'));
  ch.publish(x, 'user.profile.updated', Buffer.from('2'));
  ch.publish(x, 'order.created', Buffer.from('3'));
  ch.publish(x, 'user', Buffer.from('4'));
  assert.deepEqual((await gotStar).map((m) => m.fields.routingKey), ['user.created']);
  assert.deepEqual((await gotHash).map((m) => m.fields.routingKey), ['user.created', 'user.profile.updated', 'user']);
  await ch.close();
});

test('headers routing with x-match all and any', opts, async () => {
  const ch = await conn.createChannel();
  const x = name('headers');
  await ch.assertExchange(x, 'headers', { durable: false, autoDelete: true });
  const all = (await ch.assertQueue('', { exclusive: true })).queue;
  const any = (await ch.assertQueue('', { exclusive: true })).queue;
  await ch.bindQueue(all, x, '', { 'x-match': 'all', format: 'pdf', type: 'report' });
  await ch.bindQueue(any, x, '', { 'x-match': 'any', format: 'pdf', type: 'report' });
  const gotAll = collect(ch, all, 1);
  const gotAny = collect(ch, any, 2);
  ch.publish(x, '', Buffer.from('both'), { headers: { format: 'pdf', type: 'report' } });
  ch.publish(x, '', Buffer.from('one'), { headers: { format: 'pdf', type: 'log' } });
  ch.publish(x, '', Buffer.from('none'), { headers: { format: 'zip' } });
  assert.deepEqual((await gotAll).map((m) => m.content.toString()), ['both']);
  assert.deepEqual((await gotAny).map((m) => m.content.toString()), ['both', 'one']);
  await ch.close();
});

test('RPC with reply-to and correlation id over a classic reply queue', opts, async () => {
  const server = await conn.createChannel();
  const client = await conn.createChannel();
  const { queue: rpcQueue } = await server.assertQueue(name('rpc'), { durable: false, autoDelete: true });
  await server.prefetch(1);
  await server.consume(rpcQueue, (msg) => {
    const n = Number(msg.content.toString());
    server.sendToQueue(msg.properties.replyTo, Buffer.from(String(n * 2)), {
      correlationId: msg.properties.correlationId,
    });
    server.ack(msg);
  });
  const { queue: replyQueue } = await client.assertQueue('', { exclusive: true });
  const replies = collect(client, replyQueue, 3);
  for (const [i, n] of [21, 5, 100].entries()) {
    client.sendToQueue(rpcQueue, Buffer.from(String(n)), { replyTo: replyQueue, correlationId: `c${i}` });
  }
  const byId = Object.fromEntries((await replies).map((m) => [m.properties.correlationId, m.content.toString()]));
  assert.deepEqual(byId, { c0: '42', c1: '10', c2: '200' });
  await server.close();
  await client.close();
});

test('publisher confirms: waitForConfirms and a callback per message', opts, async () => {
  const ch = await conn.createConfirmChannel();
  const { queue } = await ch.assertQueue('', { exclusive: true });
  const acked = [];
  for (let i = 0; i < 200; i++) {
    ch.sendToQueue(queue, Buffer.from(String(i)), {}, (err) => {
      assert.equal(err, null);
      acked.push(i);
    });
  }
  await ch.waitForConfirms();
  assert.equal(acked.length, 200, 'every publish confirmed');
  // Unroutable messages are confirmed too.
  ch.publish('amq.direct', 'nobody', Buffer.from('lost'));
  await ch.waitForConfirms();
  const check = await ch.checkQueue(queue);
  assert.equal(check.messageCount, 200);
  await ch.close();
});

test('mandatory publish of an unroutable message comes back as a return', opts, async () => {
  const ch = await conn.createConfirmChannel();
  const returned = new Promise((resolve) => ch.once('return', resolve));
  ch.publish('amq.direct', name('nobody'), Buffer.from('back to sender'), { mandatory: true, messageId: 'r1' });
  const msg = await returned;
  assert.equal(msg.fields.replyCode, 312);
  assert.equal(msg.fields.replyText, 'NO_ROUTE');
  assert.equal(msg.fields.routingKey, name('nobody'));
  assert.equal(msg.properties.messageId, 'r1');
  assert.equal(msg.content.toString(), 'back to sender');
  await ch.waitForConfirms();
  await ch.close();
});

test('nack with requeue redelivers with the redelivered flag', opts, async () => {
  const ch = await conn.createChannel();
  const { queue } = await ch.assertQueue('', { exclusive: true });
  ch.sendToQueue(queue, Buffer.from('again'));
  const seen = [];
  await new Promise((resolve) => {
    ch.consume(queue, (msg) => {
      seen.push(msg.fields.redelivered);
      if (seen.length === 1) ch.nack(msg, false, true);
      else if (seen.length === 2) ch.reject(msg, true);
      else {
        ch.ack(msg);
        resolve();
      }
    });
  });
  assert.deepEqual(seen, [false, true, true]);
  await ch.close();
});

test('unacked messages return to the queue when the channel closes', opts, async () => {
  const ch = await conn.createChannel();
  const other = await conn.createChannel();
  const { queue } = await ch.assertQueue('', { exclusive: true });
  for (const b of ['a', 'b', 'c']) ch.sendToQueue(queue, Buffer.from(b));
  await collect(ch, queue, 3, { noAck: false });
  await ch.close();
  const back = await collect(other, queue, 3);
  assert.deepEqual(back.map((m) => m.content.toString()), ['a', 'b', 'c']);
  assert.ok(back.every((m) => m.fields.redelivered));
  await other.close();
});

test('get, purge, delete and counts', opts, async () => {
  const ch = await conn.createChannel();
  const q = name('get');
  await ch.assertQueue(q, { durable: false });
  assert.equal(await ch.get(q), false, 'get on an empty queue');
  for (let i = 0; i < 5; i++) ch.sendToQueue(q, Buffer.from(`m${i}`));
  const first = await ch.get(q, { noAck: true });
  assert.equal(first.content.toString(), 'm0');
  assert.equal(first.fields.messageCount, 4);
  assert.equal((await ch.purgeQueue(q)).messageCount, 4);
  ch.sendToQueue(q, Buffer.from('last'));
  assert.equal((await ch.checkQueue(q)).messageCount, 1);
  assert.equal((await ch.deleteQueue(q)).messageCount, 1);
  await ch.close();
});

test('cancel stops a consumer; deleting its queue cancels it from the server', opts, async () => {
  const ch = await conn.createChannel();
  const { queue } = await ch.assertQueue('', { exclusive: true });
  const { consumerTag } = await ch.consume(queue, () => {});
  assert.match(consumerTag, /^amq\.ctag-/);
  await ch.cancel(consumerTag);
  ch.sendToQueue(queue, Buffer.from('after cancel'));
  const msg = await ch.get(queue, { noAck: true });
  assert.equal(msg.content.toString(), 'after cancel');
  // amqplib calls the consumer with null on a server-sent basic.cancel.
  const q2 = name('cancelled');
  await ch.assertQueue(q2, { durable: false });
  const cancelled = new Promise((resolve) => ch.consume(q2, (m) => { if (m === null) resolve(); }));
  const admin = await conn.createChannel();
  await admin.deleteQueue(q2);
  await cancelled;
  await admin.close();
  await ch.close();
});

test('exchange-to-exchange binding and alternate exchange', opts, async () => {
  const ch = await conn.createChannel();
  const front = name('front');
  const back = name('back');
  const ae = name('ae');
  await ch.assertExchange(ae, 'fanout', { autoDelete: true });
  await ch.assertExchange(front, 'direct', { autoDelete: true, alternateExchange: ae });
  await ch.assertExchange(back, 'fanout', { autoDelete: true });
  await ch.bindExchange(back, front, 'k');
  const qBack = (await ch.assertQueue('', { exclusive: true })).queue;
  const qAe = (await ch.assertQueue('', { exclusive: true })).queue;
  await ch.bindQueue(qBack, back, '');
  await ch.bindQueue(qAe, ae, '');
  const gotBack = collect(ch, qBack, 1);
  const gotAe = collect(ch, qAe, 1);
  ch.publish(front, 'k', Buffer.from('routed'));
  ch.publish(front, 'other', Buffer.from('alternate'));
  assert.equal((await gotBack)[0].content.toString(), 'routed');
  assert.equal((await gotAe)[0].content.toString(), 'alternate');
  await ch.close();
});

test('channel errors: 404 on a missing queue closes only the channel', opts, async () => {
  const ch = await conn.createChannel();
  const closed = channelError(ch);
  await assert.rejects(ch.checkQueue(name('missing')), /404/);
  const err = await closed;
  assert.match(err.message, /NOT_FOUND/);
  const ch2 = await conn.createChannel();
  await ch2.assertQueue('', { exclusive: true });
  await ch2.close();
});

test('channel errors: an exclusive queue is locked (405) for other connections', opts, async () => {
  const ch = await conn.createChannel();
  const q = name('locked');
  await ch.assertQueue(q, { exclusive: true });
  const other = await amqp.connect(edad.url);
  other.on('error', () => {});
  try {
    const och = await other.createChannel();
    och.on('error', () => {});
    await assert.rejects(och.checkQueue(q), /405/);
  } finally {
    await closeQuietly(other);
  }
  await ch.close();
});
