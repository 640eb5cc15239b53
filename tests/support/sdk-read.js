#!/usr/bin/env node
/*
 * Read one customer from Redis through the REAL Stigg Node SDK
 * (@stigg/node-server-sdk 3.95.0, pinned in package.json) in persistent-
 * cache mode, as an application of the fleet would, and print what it
 * answered as ONE JSON object on stdout.  This is the judge of whether what
 * the daemon wrote is a cache hit.
 *
 *   node tests/support/sdk-read.js --redis-port N [--redis-host H] [--db N]
 *        [--redis-user U] [--redis-password PW]
 *        [--prefix P] --customer ID [--resource ID]
 *        [--metered a,b] [--boolean c] [--numeric d] [--enum e]
 *        [--requested-usage N] [--requested-values x,y] [--verbose]
 *
 * The SDK is set up as redis-layout.md says: {apiKey, baseUri:
 * 'http://127.0.0.1:<closed port>', enableRemoteConfig: false,
 * realtimeUpdatesEnabled: false, redis: {host, port, db,
 * environmentPrefix}}, and one more member, baseEdgeUri: from baseUri
 * 127.0.0.1:N the SDK derives its Edge API address as 127.0.0.1:3060 (not
 * N), and on a miss it asks Edge with 3 retries and 4 s + 8 s + 16 s
 * backoff on connection errors.  So baseEdgeUri points at a listener in
 * this process that answers every request 404 at once (not retried) and
 * records it: a miss costs milliseconds, leaves Redis as it was (a failed
 * refill writes nothing) and shows in "edgeRequests".
 *
 * Output (Dates as epoch milliseconds, undefined members left out):
 *   {"customerId", "resourceId",
 *    "hit":          true when the SDK counted no miss, asked Edge nothing
 *                    and answered no fallback,
 *    "misses":       the SDK's cacheMiss events, in order,
 *    "edgeRequests": paths the SDK asked Edge for (each one is a miss),
 *    "entitlements": {"isFallback": bool, "features": {featureId: result}},
 *    "metered": {featureId: getMeteredEntitlement result}, "boolean": {...},
 *    "numeric": {...}, "enum": {...}}
 * A result is the SDK's own object: type, isFallback, hasAccess,
 * accessDeniedReason, isUnlimited (the SDK's name for hasUnlimitedUsage),
 * hasSoftLimit, usageLimit, currentUsage, requestedUsage, resetPeriod,
 * usagePeriodStart/End/Anchor, value (numeric), enumValues, feature {...}.
 * A miss shows as isFallback: true (accessDeniedReason "Unknown") for the
 * single-feature getters; getEntitlements answers a miss with an empty list,
 * so "entitlements.isFallback" is set from the misses during that call.
 *
 * SDK log lines go to stderr only (errors by default, all with --verbose).
 * Exit status: 0 printed, 2 Redis unreachable or the read took over 20 s,
 * 64 bad usage.
 */
'use strict';

const http = require('http');
const net = require('net');
const util = require('util');
const { Stigg } = require('@stigg/node-server-sdk');

function usage(msg) {
  console.error(`sdk-read: ${msg}`);
  console.error('usage: sdk-read.js --redis-port N [--redis-host H] [--db N] [--redis-user U] [--redis-password PW]\n' +
    '         [--prefix P] --customer ID [--resource ID]\n' +
    '         [--metered a,b] [--boolean c] [--numeric d] [--enum e] [--requested-usage N] [--requested-values x,y] [--verbose]');
  process.exit(64);
}

const o = {
  host: '127.0.0.1', port: null, db: 0, user: undefined, password: undefined, prefix: 'production', customer: null, resource: undefined,
  metered: [], boolean: [], numeric: [], enum: [], requestedUsage: undefined, requestedValues: undefined, verbose: false,
};
const list = (v) => v.split(',').filter((s) => s !== '');
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
  switch (a) {
    case '--redis-host': o.host = val(); break;
    case '--redis-port': o.port = Number(val()); break;
    case '--db': o.db = Number(val()); break;
    case '--redis-user': o.user = val(); break;
    case '--redis-password': o.password = val(); break;
    case '--prefix': o.prefix = val(); break;
    case '--customer': o.customer = val(); break;
    case '--resource': o.resource = val(); break;
    case '--metered': o.metered.push(...list(val())); break;
    case '--boolean': o.boolean.push(...list(val())); break;
    case '--numeric': o.numeric.push(...list(val())); break;
    case '--enum': o.enum.push(...list(val())); break;
    case '--requested-usage': o.requestedUsage = Number(val()); break;
    case '--requested-values': o.requestedValues = list(val()); break;
    case '--verbose': o.verbose = true; break;
    default: usage(`unknown argument ${a}`);
  }
}
if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) usage('--redis-port N is required');
if (!Number.isInteger(o.db) || o.db < 0) usage('--db takes a number');
if (!o.customer) usage('--customer ID is required');

const fail = (msg) => { console.error(`sdk-read: ${msg}`); process.exit(2); };
setTimeout(() => fail('no answer within 20 s'), 20000).unref();

// Redis must answer first: with Redis down the SDK answers every read with
// a fallback, which would look like a cache miss.
function ping() {
  return new Promise((resolve, reject) => {
    const s = net.connect(o.port, o.host);
    let got = '';
    s.setTimeout(3000, () => s.destroy(new Error('timed out')));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => { got += d; if (got.includes('\r\n')) { s.end(); resolve(got.trim()); } });
    s.on('error', reject);
  });
}

// A port nobody listens on (bound, then released).
function closedPort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

// The Edge API stand-in: 404 to everything, every request remembered.
const edgeRequests = [];
function edge() {
  return new Promise((resolve) => {
    const s = http.createServer((req, res) => {
      edgeRequests.push(req.url);
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end('{"errors":[{"message":"sdk-read.js: no Edge API here"}]}');
    });
    s.listen(0, '127.0.0.1', () => resolve(s));
  });
}

// Plain data: Dates as epoch ms, undefined members dropped.
function plain(v) {
  return JSON.parse(JSON.stringify(v, function (k, x) {
    return this[k] instanceof Date ? this[k].getTime() : x;
  }));
}

async function main() {
  try {
    const pong = await ping();
    if (!/^\+PONG/.test(pong) && !(o.password !== undefined && /^-NOAUTH/.test(pong))) fail(`Redis at ${o.host}:${o.port} answered ${pong}`);
  } catch (e) {
    fail(`Redis at ${o.host}:${o.port}: ${e.message}`);
  }
  const edgeServer = await edge();
  // A class instance, not a plain object: the SDK lodash-merges its
  // configuration over defaults whose logger is the global console, and a
  // plain object would be merged INTO console (console.error = ours).
  class StderrLogger {
    log(...a) {
      // One short line (an axios error alone dumps hundreds); all of it with --verbose.
      const line = o.verbose ? util.format(...a) : a.map((x) => (typeof x === 'string' ? x
        : x instanceof Error ? `${x.name}: ${x.message}`
          : util.inspect(x, { depth: 2, breakLength: Infinity }).slice(0, 300))).join(' ');
      process.stderr.write(`${line}\n`);
    }
    error(...a) { this.log(...a); }
    debug(...a) { this.log(...a); }
    warn(...a) { this.log(...a); }
  }
  const client = Stigg.initialize({
    apiKey: 'server-sdk-read-test-key',
    baseUri: `http://127.0.0.1:${await closedPort()}`,
    baseEdgeUri: `http://127.0.0.1:${edgeServer.address().port}`,
    enableRemoteConfig: false,
    realtimeUpdatesEnabled: false,
    logConfiguration: { logger: new StderrLogger(), logLevel: o.verbose ? 'ALL' : 'ERROR' },
    redis: {
      host: o.host, port: o.port, db: o.db, environmentPrefix: o.prefix,
      ...(o.user !== undefined ? { username: o.user } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
    },
  });
  const misses = [];
  client.addListener('cacheMiss', (d) => misses.push(plain(d)));
  await client.waitForInitialization();
  // The SDK waits 250 ms at most for Redis; reading before its client is
  // ready would answer fallbacks without a miss.  (Internal field, 3.x.)
  const cache = client.entitlementsService && client.entitlementsService.cacheService;
  for (let i = 0; cache && cache.redisClient && cache.redisClient.status !== 'ready'; i++) {
    if (i === 100) fail(`the SDK's Redis client is ${cache.redisClient.status} after 5 s`);
    await new Promise((r) => setTimeout(r, 50));
  }

  const customerId = o.customer;
  const resourceId = o.resource;
  const out = { customerId, resourceId: resourceId === undefined ? null : resourceId };

  const before = misses.length + edgeRequests.length;
  const all = await client.getEntitlements(customerId, resourceId);
  const features = {};
  for (const e of all || []) features[e.feature ? e.feature.id : '?'] = plain(e);
  out.entitlements = { isFallback: misses.length + edgeRequests.length > before, features };

  const each = async (ids, get, options) => {
    const r = {};
    for (const featureId of ids) {
      r[featureId] = plain(await get.call(client, { customerId, resourceId, featureId, options }));
    }
    return r;
  };
  out.metered = await each(o.metered, client.getMeteredEntitlement,
    o.requestedUsage === undefined ? undefined : { requestedUsage: o.requestedUsage });
  out.boolean = await each(o.boolean, client.getBooleanEntitlement);
  out.numeric = await each(o.numeric, client.getNumericEntitlement);
  out.enum = await each(o.enum, client.getEnumEntitlement,
    o.requestedValues === undefined ? undefined : { requestedValues: o.requestedValues });

  const fallbacks = [out.metered, out.boolean, out.numeric, out.enum]
    .some((m) => Object.values(m).some((r) => r.isFallback));
  out.hit = misses.length === 0 && edgeRequests.length === 0 && !fallbacks && !out.entitlements.isFallback;
  out.misses = misses;
  out.edgeRequests = edgeRequests;
  process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(0));
}

main().catch((e) => fail(e.stack || e.message));
