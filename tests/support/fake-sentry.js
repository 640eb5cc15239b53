#!/usr/bin/env node
/*
 * A fake Sentry for the tests, on 127.0.0.1: the envelope endpoint the
 * daemon reports to, checking every request as Sentry's ingestion would.
 *
 *   node tests/support/fake-sentry.js --port N --key KEY --project ID
 *        --client NAME/VERSION
 *
 * POST /api/<ID>/envelope/ is checked: the X-Sentry-Auth header
 * ("Sentry sentry_version=7, sentry_client=NAME/VERSION, sentry_key=KEY",
 * in any order), Content-Type application/x-sentry-envelope, and the body:
 * three lines (a last "\n" allowed), the envelope header (event_id of 32
 * hex digits, sent_at in RFC 3339, no "dsn"), the item header
 * {"type":"event","length":N} with N the payload's length in bytes, and
 * the event (event_id the header's, timestamp, platform "c", level,
 * logger, server_name, release "NAME@VERSION", environment, message,
 * tags.kind, fingerprint an array of strings, extra numbers).  A request
 * that passes gets 200 {"id":...}; one that does not, 400.
 *
 * Faults: POST /_fault?status=429&retry_after=S&count=N answers the next
 * N envelopes with that status (and a Retry-After: S header when given),
 * after checking and recording them as usual.
 *
 * Stdout: "ready http://127.0.0.1:PORT" once it serves, then one JSON
 * line per request: {"n","t" (epoch ms),"path","authOk","problems":[...],
 * "status" (answered),"body" (the raw envelope),"event" (parsed, or
 * null)}.  The auth header itself is not recorded (it holds the key):
 * the test greps these lines for every secret.  Runs until SIGTERM.
 */
'use strict';

const http = require('http');

function usage(msg) {
  console.error(`fake-sentry: ${msg}`);
  console.error('usage: fake-sentry.js --port N --key KEY --project ID --client NAME/VERSION');
  process.exit(64);
}

const o = { port: null, key: null, project: null, client: null };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
  if (a === '--port') o.port = val();
  else if (a === '--key') o.key = val();
  else if (a === '--project') o.project = val();
  else if (a === '--client') o.client = val();
  else usage(`unknown argument ${a}`);
}
if (o.port === null || !/^\d+$/.test(o.port)) usage('--port N is required');
if (!o.key || !o.project || !o.client || !o.client.includes('/')) usage('--key, --project and --client are required');
const release = o.client.replace('/', '@');

let fault = null; // { status, retryAfter, count }
let n = 0;

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const HEX32 = /^[0-9a-f]{32}$/;

function checkAuth(v, problems) {
  if (typeof v !== 'string' || !v.startsWith('Sentry ')) {
    problems.push('X-Sentry-Auth missing or not "Sentry ..."');
    return false;
  }
  const fields = {};
  for (const part of v.slice(7).split(',')) {
    const m = part.trim().match(/^([a-z_]+)=(.*)$/);
    if (!m) { problems.push('X-Sentry-Auth has a malformed part'); return false; }
    fields[m[1]] = m[2];
  }
  let ok = true;
  if (fields.sentry_version !== '7') { problems.push('sentry_version is not 7'); ok = false; }
  if (fields.sentry_client !== o.client) { problems.push(`sentry_client is not ${o.client}`); ok = false; }
  if (fields.sentry_key !== o.key) { problems.push('sentry_key is not the DSN key'); ok = false; }
  return ok;
}

function checkEvent(ev, head, problems) {
  const str = (k) => typeof ev[k] === 'string' && ev[k].length > 0;
  if (ev.event_id !== head.event_id) problems.push('event.event_id differs from the header');
  if (!str('timestamp') || !RFC3339.test(ev.timestamp)) problems.push('event.timestamp is not RFC 3339');
  if (ev.platform !== 'c') problems.push('event.platform is not "c"');
  if (!['fatal', 'error', 'warning', 'info', 'debug'].includes(ev.level)) problems.push('event.level is not a level');
  for (const k of ['logger', 'server_name', 'environment', 'message']) if (!str(k)) problems.push(`event.${k} missing`);
  if (ev.release !== release) problems.push(`event.release is not ${release}`);
  if (typeof ev.tags !== 'object' || ev.tags === null || typeof ev.tags.kind !== 'string') problems.push('event.tags.kind missing');
  else for (const [k, v] of Object.entries(ev.tags)) if (typeof v !== 'string' || v.length > 200) problems.push(`tag ${k} is not a string of 200 at most`);
  if (!Array.isArray(ev.fingerprint) || ev.fingerprint.length === 0 || !ev.fingerprint.every((f) => typeof f === 'string')) problems.push('event.fingerprint is not an array of strings');
  if (ev.extra !== undefined && (typeof ev.extra !== 'object' || !Object.values(ev.extra).every((x) => typeof x === 'number'))) problems.push('event.extra holds a non-number');
}

function checkEnvelope(buf, problems) {
  const text = buf.toString('utf8');
  let lines = text.split('\n');
  if (lines.length === 4 && lines[3] === '') lines = lines.slice(0, 3);
  if (lines.length !== 3) { problems.push(`envelope has ${lines.length} lines, not 3`); return null; }
  let head, item, ev;
  try { head = JSON.parse(lines[0]); } catch (e) { problems.push('envelope header is not JSON'); return null; }
  try { item = JSON.parse(lines[1]); } catch (e) { problems.push('item header is not JSON'); return null; }
  try { ev = JSON.parse(lines[2]); } catch (e) { problems.push('payload is not JSON'); return null; }
  if (!HEX32.test(head.event_id || '')) problems.push('envelope event_id is not 32 hex digits');
  if (!RFC3339.test(head.sent_at || '')) problems.push('envelope sent_at is not RFC 3339');
  if ('dsn' in head) problems.push('envelope header carries the DSN');
  if (item.type !== 'event') problems.push('item type is not "event"');
  if (item.length !== Buffer.byteLength(lines[2], 'utf8')) problems.push(`item length ${item.length} is not the payload's ${Buffer.byteLength(lines[2], 'utf8')}`);
  checkEvent(ev, head, problems);
  return ev;
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname === '/_fault' && req.method === 'POST') {
      fault = {
        status: +url.searchParams.get('status'),
        retryAfter: url.searchParams.get('retry_after'),
        count: +(url.searchParams.get('count') || 1),
      };
      res.writeHead(200).end('ok\n');
      return;
    }
    const body = Buffer.concat(chunks);
    const problems = [];
    if (req.method !== 'POST') problems.push(`method ${req.method}`);
    if (url.pathname !== `/api/${o.project}/envelope/`) problems.push(`path ${url.pathname}`);
    if (url.search !== '') problems.push('a query string');
    const authOk = checkAuth(req.headers['x-sentry-auth'], problems);
    if (req.headers['content-type'] !== 'application/x-sentry-envelope') problems.push('Content-Type is not application/x-sentry-envelope');
    const ev = checkEnvelope(body, problems);
    let status = problems.length === 0 ? 200 : 400;
    const headers = { 'Content-Type': 'application/json' };
    if (status === 200 && fault !== null && fault.count > 0) {
      status = fault.status;
      if (fault.retryAfter !== null) headers['Retry-After'] = fault.retryAfter;
      if (--fault.count === 0) fault = null;
    }
    n++;
    process.stdout.write(JSON.stringify({
      n, t: Date.now(), path: url.pathname, authOk, problems, status,
      body: body.toString('utf8'), event: ev,
    }) + '\n');
    res.writeHead(status, headers);
    res.end(status === 200 ? JSON.stringify({ id: ev.event_id }) : '{"detail":"no"}');
  });
});

server.listen(+o.port, '127.0.0.1', () => {
  process.stdout.write(`ready http://127.0.0.1:${o.port}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
