#!/usr/bin/env node
/*
 * A TCP proxy that delays every chunk by --delay ms in each direction
 * (default 10: 20 ms round trip), order kept; connections are opened
 * --delay ms late too.  bench/run.sh uses it for the region run when the
 * kernel has no netem qdisc (sch_netem) for its network namespace.
 *
 *   node bench/delay-proxy.js --listen PORT --target PORT [--delay MS]
 * Prints "ready" once it listens on 127.0.0.1:PORT.
 */
'use strict';

const net = require('net');

const a = process.argv.slice(2);
const arg = (k, d) => (a.indexOf(k) >= 0 ? a[a.indexOf(k) + 1] : d);
const listen = Number(arg('--listen'));
const target = Number(arg('--target'));
const delay = Number(arg('--delay', 10));
if (!listen || !target) {
  console.error('usage: delay-proxy.js --listen PORT --target PORT [--delay MS]');
  process.exit(64);
}

function pipe(from, to) {
  from.on('data', (c) => setTimeout(() => { if (!to.destroyed) to.write(c); }, delay));
  from.on('end', () => setTimeout(() => to.end(), delay));
  from.on('error', () => setTimeout(() => to.destroy(), delay));
  from.on('close', () => setTimeout(() => to.destroy(), delay + 1));
}

net.createServer((client) => {
  client.setNoDelay(true);
  client.pause();
  setTimeout(() => {
    const up = net.connect(target, '127.0.0.1', () => client.resume());
    up.setNoDelay(true);
    pipe(client, up);
    pipe(up, client);
  }, delay);
}).listen(listen, '127.0.0.1', () => console.log('ready'));
process.on('SIGTERM', () => process.exit(0));
