// priority.test.js - priority queues and consumer priorities with stock
// amqplib against edad (issue 4): maxPriority queues deliver higher
// priorities first and FIFO within one, priorities above the maximum count
// as the maximum, a requeued message keeps its place by priority, and a
// consumer's priority option decides who gets messages while it has room.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const amqp = require('amqplib');
const { startEdad } = require('./edad.js');

let edad;
let conn;
const opts = { timeout: 30000 };
const later = (ms) => new Promise((r) => setTimeout(r, ms));
const closeQuietly = (c) => Promise.race([c.close().catch(() => {}), later(2000)]);

function collect(ch, queue, n, consumeOpts) {
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

test('priority queue: higher priority first, FIFO within a priority', opts, async () => {
  const ch = await conn.createConfirmChannel();
  const { queue } = await ch.assertQueue('', { exclusive: true, maxPriority: 10 });
  const sends = [['low-1', 1], ['none-1', undefined], ['high-1', 9], ['mid-1', 5],
    ['high-2', 9], ['low-2', 1], ['mid-2', 5], ['none-2', undefined], ['zero', 0]];
  for (const [body, priority] of sends) {
    ch.sendToQueue(queue, Buffer.from(body), priority === undefined ? {} : { priority });
  }
  await ch.waitForConfirms();
  const got = await collect(ch, queue, sends.length, { noAck: true });
  assert.deepEqual(got.map((m) => m.content.toString()),
    ['high-1', 'high-2', 'mid-1', 'mid-2', 'low-1', 'low-2', 'none-1', 'none-2', 'zero']);
  assert.equal(got[0].properties.priority, 9, 'the priority property is delivered');
  await ch.close();
});

test('priority above the maximum counts as the maximum', opts, async () => {
  const ch = await conn.createConfirmChannel();
  const { queue } = await ch.assertQueue('', { exclusive: true, maxPriority: 3 });
  ch.sendToQueue(queue, Buffer.from('p2'), { priority: 2 });
  ch.sendToQueue(queue, Buffer.from('p3'), { priority: 3 });
  ch.sendToQueue(queue, Buffer.from('p200'), { priority: 200 });
  await ch.waitForConfirms();
  const got = [];
  for (let m = await ch.get(queue, { noAck: true }); m; m = await ch.get(queue, { noAck: true })) {
    got.push(m.content.toString());
  }
  assert.deepEqual(got, ['p3', 'p200', 'p2']);
  await ch.close();
});

test('work queue with priorities: urgent jobs overtake a backlog, requeues keep their rank', opts, async () => {
  const ch = await conn.createConfirmChannel();
  const { queue } = await ch.assertQueue('', { exclusive: true, maxPriority: 5 });
  for (let i = 0; i < 20; i++) ch.sendToQueue(queue, Buffer.from(`bulk-${i}`), { priority: 0 });
  await ch.waitForConfirms();
  await ch.prefetch(1);
  const order = [];
  let nacked = false;
  const done = new Promise((resolve) => {
    ch.consume(queue, (msg) => {
      const body = msg.content.toString();
      if (body === 'urgent' && !nacked) {
        nacked = true;
        ch.nack(msg, false, true);  // back in the queue, still ahead of the bulk
        return;
      }
      order.push(body);
      ch.ack(msg);
      if (order.length === 2) {
        ch.sendToQueue(queue, Buffer.from('urgent'), { priority: 5 });
      }
      if (order.length === 21) resolve();
    });
  });
  await done;
  const urgentAt = order.indexOf('urgent');
  assert.ok(urgentAt >= 2 && urgentAt <= 4, `urgent was handled at position ${urgentAt} of ${order.length}`);
  assert.deepEqual(order.filter((b) => b !== 'urgent'), Array.from({ length: 20 }, (_, i) => `bulk-${i}`));
  await ch.close();
});

test('consumer priorities: the higher-priority consumer gets the work while it has room', opts, async () => {
  const setup = await conn.createConfirmChannel();
  const { queue } = await setup.assertQueue('', { exclusive: true });
  const lowCh = await conn.createChannel();
  const highCh = await conn.createChannel();
  const seen = { low: [], high: [] };
  await lowCh.consume(queue, (m) => seen.low.push(m), { noAck: true, priority: 1 });
  await highCh.consume(queue, (m) => seen.high.push(m), { noAck: true, priority: 10 });
  for (let i = 0; i < 10; i++) setup.sendToQueue(queue, Buffer.from(String(i)));
  await setup.waitForConfirms();
  for (let i = 0; i < 250 && seen.high.length + seen.low.length < 10; i++) await later(20);
  assert.equal(seen.high.length, 10, 'all to the high-priority consumer');
  assert.equal(seen.low.length, 0);
  await setup.close();
  await lowCh.close();
  await highCh.close();
});

test('consumer priorities: a blocked high-priority consumer lets the lower one work', opts, async () => {
  const setup = await conn.createConfirmChannel();
  const { queue } = await setup.assertQueue('', { exclusive: true });
  const lowCh = await conn.createChannel();
  const highCh = await conn.createChannel();
  await highCh.prefetch(2);
  const seen = { low: [], high: [] };
  await highCh.consume(queue, (m) => seen.high.push(m), { noAck: false, priority: 10 });
  await lowCh.consume(queue, (m) => seen.low.push(m), { noAck: true, priority: 0 });
  for (let i = 0; i < 6; i++) setup.sendToQueue(queue, Buffer.from(String(i)));
  await setup.waitForConfirms();
  for (let i = 0; i < 250 && seen.high.length + seen.low.length < 6; i++) await later(20);
  assert.equal(seen.high.length, 2, 'the high-priority consumer holds its prefetch of 2');
  assert.equal(seen.low.length, 4, 'the rest went to the low-priority consumer');
  assert.deepEqual(seen.high.map((m) => m.content.toString()), ['0', '1']);
  highCh.ackAll();
  setup.sendToQueue(queue, Buffer.from('after-ack'));
  await setup.waitForConfirms();
  for (let i = 0; i < 250 && seen.high.length < 3; i++) await later(20);
  assert.equal(seen.high.length, 3, 'room again: the high-priority consumer is first');
  await setup.close();
  await lowCh.close();
  await highCh.close();
});

test('an invalid maxPriority is a channel error with RabbitMQ\'s text', opts, async () => {
  const ch = await conn.createChannel();
  const closed = new Promise((resolve) => ch.once('error', resolve));
  await assert.rejects(ch.assertQueue('', { exclusive: true, maxPriority: 256 }));
  const err = await closed;
  assert.equal(err.code, 406);
  assert.match(err.message, /invalid arg 'x-max-priority' for queue .* in vhost '\/': \{max_value_exceeded,256\}/);
});
