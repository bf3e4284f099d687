// alarms.test.js - resource alarms seen through stock amqplib (issue 7):
// when free disk space falls under disk_free_limit, a publishing
// connection gets amqplib's 'blocked' event with RabbitMQ's reason
// ("low on disk") while a consumer on another connection keeps receiving;
// once the space is back, 'unblocked' fires and what the publisher sent
// meanwhile is delivered.  The space is taken with fallocate(1) in the temp
// dir (the data dir's file system); the test skips without it.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const amqp = require('amqplib');
const { startEdad } = require('./edad.js');

const GiB = 1024 * 1024 * 1024;
const later = (ms) => new Promise((r) => setTimeout(r, ms));
const closeQuietly = (c) => Promise.race([c.close().catch(() => {}), later(2000)]);

function skipReason() {
  if (process.env.EDAD_TEST_ADDR) return 'needs its own edad (EDAD_TEST_ADDR is set)';
  if (typeof fs.statfsSync !== 'function') return 'fs.statfsSync needs node >= 18.15';
  try {
    execFileSync('fallocate', ['--help'], { stdio: 'ignore' });
  } catch {
    return 'fallocate(1) is not installed (Debian: util-linux)';
  }
  const st = fs.statfsSync(os.tmpdir());
  if (st.bavail * st.bsize < 3 * GiB) return `needs 3 GiB free in ${os.tmpdir()}`;
  return null;
}

function once(emitter, event, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' event within ${ms} ms`)), ms);
    emitter.once(event, (...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

test('disk alarm: publisher blocked and unblocked, consumer served meanwhile',
  { timeout: 60000, skip: skipReason() || false }, async () => {
    const avail = (() => {
      const st = fs.statfsSync(os.tmpdir());
      return st.bavail * st.bsize;
    })();
    const limit = Math.floor(avail - GiB);
    const edad = await startEdad(`disk_free_limit.absolute = ${limit}\n` +
      'alarms.check_interval = 100\n');
    const fill = path.join(os.tmpdir(), `edad-alarm-fill-${process.pid}`);
    let pub;
    let cons;
    try {
      pub = await amqp.connect(edad.url);
      cons = await amqp.connect(edad.url);
      pub.on('error', () => {});
      cons.on('error', () => {});
      const pch = await pub.createChannel();
      const cch = await cons.createChannel();
      const { queue } = await cch.assertQueue('', { exclusive: true });
      for (let i = 0; i < 5; i++) pch.sendToQueue(queue, Buffer.from(`before-${i}`));
      for (let i = 0; i < 50 && (await cch.checkQueue(queue)).messageCount < 5; i++) await later(20);
      assert.equal((await cch.checkQueue(queue)).messageCount, 5);

      // sized from the free space now: other tests may have used some meanwhile
      const st = fs.statfsSync(os.tmpdir());
      const nowFree = st.bavail * st.bsize;
      execFileSync('fallocate', ['-l', String(Math.max(0, nowFree - limit) + GiB), fill]);
      const blocked = once(pub, 'blocked', 15000);
      let stop = false;
      blocked.then(() => { stop = true; }, () => { stop = true; });
      for (let i = 0; !stop && i < 150; i++) {
        pch.sendToQueue(queue, Buffer.from(`during-${i}`));
        await later(100);
      }
      const [reason] = await blocked;
      assert.equal(reason, 'low on disk');

      // the consumer's connection is read: it gets what was queued before
      const got = [];
      let notify;
      cch.consume(queue, (msg) => {
        if (msg === null) return;
        got.push(msg.content.toString());
        if (notify) notify();
      }, { noAck: true });
      for (let i = 0; i < 100 && got.filter((b) => b.startsWith('before-')).length < 5; i++) {
        await later(50);
      }
      assert.deepEqual(got.filter((b) => b.startsWith('before-')),
        ['before-0', 'before-1', 'before-2', 'before-3', 'before-4']);

      const unblocked = once(pub, 'unblocked', 15000);
      fs.rmSync(fill, { force: true });
      await unblocked;
      // what the publisher sent while blocked arrives now
      for (let i = 0; i < 100 && !got.some((b) => b.startsWith('during-')); i++) await later(50);
      assert.ok(got.some((b) => b.startsWith('during-')), 'nothing sent while blocked arrived');
    } finally {
      fs.rmSync(fill, { force: true });
      if (pub) await closeQuietly(pub);
      if (cons) await closeQuietly(cons);
      const exit = await edad.stop();
      assert.equal(exit.code, 0, 'edad exits 0 on SIGTERM');
    }
  });

test('memory alarm at watermark 0: publisher blocked with "low on memory"',
  { timeout: 30000, skip: process.env.EDAD_TEST_ADDR ? 'needs its own edad' : false },
  async () => {
    const edad = await startEdad('vm_memory_high_watermark.relative = 0\n' +
      'alarms.check_interval = 50\n');
    let pub;
    let other;
    try {
      pub = await amqp.connect(edad.url);
      other = await amqp.connect(edad.url);
      pub.on('error', () => {});
      other.on('error', () => {});
      const pch = await pub.createChannel();
      const och = await other.createChannel();
      const { queue } = await och.assertQueue('', { exclusive: true });
      const blocked = once(pub, 'blocked', 10000);
      pch.sendToQueue(queue, Buffer.from('x'));
      const [reason] = await blocked;
      assert.equal(reason, 'low on memory');
      // a connection that does not publish is not blocked
      for (let i = 0; i < 3; i++) await och.checkQueue(queue);
    } finally {
      // blocked: edad reads nothing from it until it stops (its close-ok then)
      if (pub) closeQuietly(pub);
      if (other) await closeQuietly(other);
      const exit = await edad.stop();
      assert.equal(exit.code, 0, 'edad exits 0 on SIGTERM');
    }
  });
