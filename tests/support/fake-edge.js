#!/usr/bin/env node
/*
 * A fake Stigg Edge API for the tests, on 127.0.0.1: the endpoint the daemon
 * calls to refill a customer after a thin entitlements.updated event.
 *
 *   node tests/support/fake-edge.js --port N --dir DIR [--key KEY]
 *
 * GET /v1/c/<url-encoded customerId>/entitlements.json[?resourceId=<url-encoded>]
 * answers 200 with the content of DIR/<name>.json, where <name> is
 * encodeURIComponent(customerId), followed for a resource by "@" and
 * encodeURIComponent(resourceId) ("@" is always encoded inside an id, so
 * the name is unambiguous): acme -> acme.json; "site:eu/1" of acme ->
 * acme@site%3Aeu%2F1.json.  Files hold whole answers, e.g.
 * {"data":{"entitlements":[...]}} (or {"errors":[...]} to test that).
 * No file: 404.  Anything else than that GET: 404 (405 for other methods).
 *
 * With --key, a request whose X-API-KEY differs gets 401.
 *
 * Faults: DIR/<name>.status, read at every request, holds "<what> [N]":
 * <what> is an HTTP status (500, 503, 401, 429, ...), "hang" (read the
 * request, never answer) or "slow=MS" (the normal answer, MS milliseconds
 * late); N is how many requests get it before the answers become normal
 * (counted per name from the server's start; no N: always).  "500 2" =
 * two 500s then the file; "401" = always 401; "hang 1" = the first request
 * hangs; "slow=8000 1" = the first answer comes after 8 s.  Rewriting the
 * file does not reset the count; removing it ends the fault.
 *
 * Stdout: "ready http://127.0.0.1:PORT" once it serves, then one JSON line
 * per request: {"method","path","query":{...},"customerId","resourceId",
 * "apiKeyOk","apiVersion","status"} (status "hang" for a hung request),
 * written when the answer is sent; a slowed answer adds "slow":MS.
 * Runs until SIGTERM or SIGINT (exit 0).
 */
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');

function usage(msg) {
  console.error(`fake-edge: ${msg}`);
  console.error('usage: fake-edge.js --port N --dir DIR [--key KEY]');
  process.exit(64);
}

const o = { port: null, dir: null, key: null };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
  if (a === '--port') o.port = val();
  else if (a === '--dir') o.dir = val();
  else if (a === '--key') o.key = val();
  else usage(`unknown argument ${a}`);
}
if (o.port === null || !/^\d+$/.test(o.port) || +o.port > 65535) usage('--port N is required');
if (!o.dir || !fs.statSync(o.dir, { throwIfNoEntry: false })) usage('--dir DIR must exist');

const faultsServed = new Map(); // name -> faulty answers given so far
const hung = new Set();

function readOr(file, fallback) {
  try { return fs.readFileSync(file, 'utf8'); } catch (e) { return fallback; }
}

// The fault due for this request, if any: a status number, 'hang', or
// { slow: ms }.
function fault(name) {
  const text = readOr(path.join(o.dir, `${name}.status`), '').trim();
  if (!text) return null;
  const [what, n] = text.split(/\s+/);
  const given = faultsServed.get(name) || 0;
  if (n !== undefined && given >= Number(n)) return null;
  faultsServed.set(name, given + 1);
  if (what === 'hang') return 'hang';
  const slow = /^slow=(\d+)$/.exec(what);
  if (slow) return { slow: Number(slow[1]) };
  return Number(what) || 500;
}

function answer(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const query = Object.fromEntries(url.searchParams);
  const key = req.headers['x-api-key'];
  const line = {
    method: req.method,
    path: url.pathname,
    query,
    customerId: null,
    resourceId: url.searchParams.has('resourceId') ? url.searchParams.get('resourceId') : null,
    apiKeyOk: o.key === null ? key !== undefined : key === o.key,
    apiVersion: req.headers['x-api-version'] === undefined ? null : req.headers['x-api-version'],
    status: null,
  };
  const log = (status) => { line.status = status; process.stdout.write(`${JSON.stringify(line)}\n`); };

  const m = /^\/v1\/c\/([^/]+)\/entitlements\.json$/.exec(url.pathname);
  if (m) {
    try { line.customerId = decodeURIComponent(m[1]); } catch (e) { line.customerId = null; }
  }
  req.resume();
  if (req.method !== 'GET') { log(405); return answer(res, 405, { errors: [{ message: 'method not allowed' }] }); }
  if (!line.customerId) { log(404); return answer(res, 404, { errors: [{ message: 'no such endpoint' }] }); }

  let name = encodeURIComponent(line.customerId);
  if (line.resourceId !== null) name += `@${encodeURIComponent(line.resourceId)}`;
  const f = fault(name);
  if (f === 'hang') { log('hang'); hung.add(res); return undefined; }
  if (f !== null && typeof f === 'object') {
    hung.add(res);
    line.slow = f.slow;
    setTimeout(() => { hung.delete(res); normal(res, line, name, log); }, f.slow);
    return undefined;
  }
  if (f !== null) { log(f); return answer(res, f, { errors: [{ message: `fake-edge: injected ${f}` }] }); }
  return normal(res, line, name, log);
});

// The answer without a fault: the key check, then the file or 404.
function normal(res, line, name, log) {
  if (res.destroyed) return undefined;
  if (o.key !== null && !line.apiKeyOk) { log(401); return answer(res, 401, { errors: [{ message: 'Unauthorized' }] }); }
  const body = readOr(path.join(o.dir, `${name}.json`), null);
  if (body === null) { log(404); return answer(res, 404, { errors: [{ message: `fake-edge: no ${name}.json` }] }); }
  log(200);
  return answer(res, 200, body);
}

server.listen(+o.port, '127.0.0.1', () => {
  console.log(`ready http://127.0.0.1:${server.address().port}`);
});
server.on('error', (e) => { console.error(`fake-edge: ${e.message}`); process.exit(1); });
const stop = () => {
  for (const res of hung) res.destroy();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
