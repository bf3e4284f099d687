// edad.js - start and stop an edad daemon for one interop test file.
// Picks a free 127.0.0.1 port, writes a temporary conf + data dir, spawns
// $EDAD_BIN -c CONF, waits until the port accepts connections and stops the
// daemon with SIGTERM (SIGKILL after a bound).  Honours EDAD_TEST_ADDR=host:port
// to use an already running daemon instead.  Not a test by itself.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

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

function canConnect(host, port) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function edadBinary() {
  if (process.env.EDAD_BIN) return process.env.EDAD_BIN;
  return path.resolve(__dirname, '..', '..', '..', 'edad');
}

// Start a daemon; extraConf is appended to the generated conf (a string of
// "key = value" lines).  Resolves to { host, port, url, stop() }.  With
// opts.tls, edad also listens for TLS on tlsPort (amqpsUrl) with the
// certificates of $EDAD_TLS_DIR (run.sh makes them).
async function startEdad(extraConf = '', opts = {}) {
  if (process.env.EDAD_TEST_ADDR) {
    const [host, port] = process.env.EDAD_TEST_ADDR.split(':');
    return {
      host,
      port: Number(port),
      url: `amqp://guest:guest@${host}:${port}`,
      external: true,
      stop: async () => {},
    };
  }
  const bin = edadBinary();
  if (!fs.existsSync(bin)) throw new Error(`edad binary not found at ${bin} (set EDAD_BIN)`);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edad-interop-'));
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const tlsPort = opts.tls ? await freePort() : 0;
    const tlsConf = opts.tls
      ? `listeners.ssl.default = 127.0.0.1:${tlsPort}\n` +
        `ssl_options.cacertfile = ${path.join(process.env.EDAD_TLS_DIR, 'ca.pem')}\n` +
        `ssl_options.certfile = ${path.join(process.env.EDAD_TLS_DIR, 'server.pem')}\n` +
        `ssl_options.keyfile = ${path.join(process.env.EDAD_TLS_DIR, 'server.key')}\n`
      : '';
    const conf = path.join(dir, 'edad.conf');
    fs.writeFileSync(
      conf,
      `listeners.tcp.default = 127.0.0.1:${port}\n` +
        `data_dir = ${path.join(dir, 'data')}\n` +
        `log.console.level = ${process.env.EDAD_TEST_LOG_LEVEL || 'info'}\n` +
        'management.tcp.port = 0\nprometheus.tcp.port = 0\n' +
        tlsConf +
        extraConf,
    );
    const child = spawn(bin, ['-c', conf], { stdio: ['ignore', 'inherit', 'inherit'] });
    let exited = null;
    child.once('exit', (code, signal) => {
      exited = { code, signal };
    });
    child.once('error', (err) => {
      exited = { code: -1, signal: String(err) };
    });
    const deadline = Date.now() + 10000;
    while (exited === null && Date.now() < deadline) {
      if (await canConnect('127.0.0.1', port)) break;
      await sleep(20);
    }
    if (exited !== null) continue; // port raced with someone else: retry
    if (Date.now() >= deadline) {
      child.kill('SIGKILL');
      throw new Error(`edad did not accept connections on 127.0.0.1:${port} within 10 s`);
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
      host: '127.0.0.1',
      port,
      url: `amqp://guest:guest@127.0.0.1:${port}`,
      tlsPort,
      amqpsUrl: `amqps://guest:guest@127.0.0.1:${tlsPort}`,
      external: false,
      stop,
      child,
    };
  }
  fs.rmSync(dir, { recursive: true, force: true });
  throw new Error('edad exited at start five times (port races or a start-up failure; see its stderr above)');
}

module.exports = { startEdad, freePort };
