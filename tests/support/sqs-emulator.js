#!/usr/bin/env node
/*
 * SQS for the tests: the local-aws-sqs emulator (pinned in package.json) on
 * 127.0.0.1, speaking the AWS JSON protocol (and the query protocol), behind
 * a front that checks every request's AWS Signature Version 4.
 *
 *   node tests/support/sqs-emulator.js --port N [--account ID] [--verbose]
 *        [--raw] [--queue NAME[:ATTR=VALUE...]]... [--region REGION]
 *        [--key AKID:SECRET]... [--keys-file FILE] [--allow-unsigned]
 *        [--clock-offset SECONDS]
 *
 * --port 0 picks a free port.  Each --queue is created in the order given
 * (name a dead-letter queue before the queue that redrives to it); ATTRs
 * are SQS queue attributes (VisibilityTimeout=2, DelaySeconds=0,
 * ReceiveMessageWaitTimeSeconds=0, MessageRetentionPeriod=60, ...) plus
 * two shorthands that make the RedrivePolicy: dlq=NAME, maxReceiveCount=N
 * (default 3).  Example: --queue dead --queue events:VisibilityTimeout=2:dlq=dead
 *
 * Prints "ready <QueueUrl>" per queue, e.g.
 * "ready http://127.0.0.1:N/000000000000/events", then "ready" once it
 * serves.  Runs until SIGTERM or SIGINT (exit 0; a summary line of the
 * signature checks on stderr).  --verbose logs each request's action, and
 * each accepted signature, to stderr.
 *
 * Signatures (aws-sigv4.js: @smithy/signature-v4, independent of the
 * daemon's curl).  Every request must carry a valid
 * "Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/sqs/aws4_request,
 * SignedHeaders=..., Signature=..." with X-Amz-Date (and Host) among the
 * signed headers, by a key this front knows: --key AKID:SECRET (repeatable;
 * none given: test:test, what lib.sh's start_pcs uses) or a line
 * "AKID SECRET TOKEN EXPIRES_EPOCH_MS" of --keys-file (re-read when it
 * changed; fake-aws.js appends each credential it issues).  A key with a
 * TOKEN wants it in a signed X-Amz-Security-Token header.  The request is
 * rebuilt from the signed headers alone, the exact path, query and body,
 * and signed again at its X-Amz-Date for the scope's region and service.
 * Refusals, answered as SQS does (HTTP 403; JSON protocol: header
 * "x-amzn-query-error: CODE;Sender" and body
 * {"__type":"com.amazon.coral.service#CODE","message":"..."}; query
 * protocol: an XML ErrorResponse):
 *   no Authorization (without --allow-unsigned)   MissingAuthenticationToken
 *   malformed header, Host/X-Amz-Date not signed  IncompleteSignature
 *   unknown access key, wrong or missing token    InvalidClientTokenId
 *   a temporary key past its expiry               ExpiredToken
 *   another signature (body, a signed header,
 *   the secret...)                                SignatureDoesNotMatch, with
 *                                                 the canonical request and
 *                                                 string to sign it wanted
 *   a scope region other than --region (default
 *   us-east-1)                                    SignatureDoesNotMatch "Credential
 *                                                 should be scoped to a valid region."
 *   X-Amz-Date more than 5 minutes from this
 *   front's clock                                 SignatureDoesNotMatch "Signature
 *                                                 expired: ... (... - 5 min.)" (or
 *                                                 "Signature not yet current: ...")
 * Each refusal prints "sigv4: rejected REASON AKID" on stderr (REASON one
 * of unsigned malformed presigned scope-date region service terminator
 * host-unsigned date-unsigned unknown-key bad-token token-unsigned
 * expired-token content-sha256 signature skewed; AKID "-" when none).
 * Every answer carries a Date header (RFC 1123) from this front's clock:
 * the real one plus --clock-offset SECONDS (may be negative), the clock the
 * 5 minutes and the expiries are measured against.
 *
 * GET /_drain?queue=NAME (no signature; for bench/bench.js) answers
 * {"first_receive_ms","last_delete_ms","received","deleted"} of that queue
 * since the last POST /_drain?queue=NAME (which resets them): the time of
 * the first ReceiveMessage answer that carried a message, of the last
 * successful DeleteMessage(Batch), and the messages received and deletes
 * answered (epoch ms, this front's clock; null before the first).
 *
 * Where local-aws-sqs 2.0.2 strays from SQS in ways that would mislead the
 * daemon's tests, this front end puts it right (--raw turns that off; the
 * signature checks stay):
 * - ReceiveMessage with WaitTimeSeconds > 0 answers as soon as at least one
 *   message is there, as SQS does (the emulator alone waits until it has
 *   MaxNumberOfMessages or the whole wait is over);
 * - a receive never lists one message twice (the emulator alone does with
 *   VisibilityTimeout 0, re-taking it every 10 ms until the batch is full,
 *   and counting each take as a receive): VisibilityTimeout 0 hides the
 *   messages for 0.1 s instead;
 * - PurgeQueue empties the queue at once (the emulator alone empties it 60 s
 *   later, taking messages sent meanwhile with it, and refuses a second
 *   purge within 60 s);
 * - an empty receive answers {} (the emulator alone: an empty body);
 * - ChangeMessageVisibility(Batch) leaves ApproximateReceiveCount alone,
 *   as SQS does (the emulator alone counts each change as a receive, so
 *   a consumer extending a message's visibility would push it towards the
 *   dead-letter queue).
 * Not corrected: a redrive happens when the visibility
 * timeout of the maxReceiveCount-th receive ends, not at the next receive,
 * and the dead-letter copy gets a new SentTimestamp and a receive count
 * of 0; ApproximateNumberOfMessages includes in-flight messages (sqs.js
 * count corrects for that); system attributes come back only when asked
 * with AttributeNames (MessageSystemAttributeNames is ignored); a receive
 * takes at least ~10 ms and scans the whole queue every 10 ms; receives
 * fail (OverLimit) once 120000 messages are visible.
 */
'use strict';

const crypto = require('crypto');
const http = require('http');
const { PassThrough } = require('stream');
const { createRequestHandler } = require('local-aws-sqs');
const sigv4 = require('./aws-sigv4');

function usage(msg) {
  if (msg) console.error(`sqs-emulator: ${msg}`);
  console.error('usage: sqs-emulator.js --port N [--account ID] [--region REGION] [--verbose] [--raw] ' +
    '[--queue NAME[:ATTR=VALUE...]]... [--key AKID:SECRET]... [--keys-file FILE] [--allow-unsigned] ' +
    '[--clock-offset SECONDS]');
  process.exit(64);
}

const opts = {
  port: null, account: '000000000000', region: 'us-east-1', queues: [], verbose: false, raw: false,
  keys: [], keysFile: null, allowUnsigned: false, clockOffset: 0,
};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
  if (a === '--port') opts.port = val();
  else if (a === '--account') opts.account = val();
  else if (a === '--region') opts.region = val();
  else if (a === '--queue') opts.queues.push(val());
  else if (a === '--verbose') opts.verbose = true;
  else if (a === '--raw') opts.raw = true;
  else if (a === '--key') {
    try { opts.keys.push(sigv4.parseKey(val())); } catch (e) { usage(e.message); }
  } else if (a === '--keys-file') opts.keysFile = val();
  else if (a === '--allow-unsigned') opts.allowUnsigned = true;
  else if (a === '--clock-offset') {
    opts.clockOffset = Number(val());
    if (!Number.isFinite(opts.clockOffset)) usage('--clock-offset takes seconds');
  } else usage(`unknown argument ${a}`);
}
if (opts.port === null || !/^\d+$/.test(opts.port) || +opts.port > 65535) usage('--port N is required');
if (!/^\d{12}$/.test(opts.account)) usage('--account must be 12 digits');
if (!/^[a-z0-9-]{1,32}$/.test(opts.region)) usage('--region: a region name like us-east-1');
if (!opts.keys.length) opts.keys.push(sigv4.parseKey('test:test'));

const store = new sigv4.KeyStore({ keys: opts.keys, file: opts.keysFile });
const now = () => Date.now() + opts.clockOffset * 1000;
const counts = { verified: 0, unsigned: 0, rejected: {} };

// "events:VisibilityTimeout=2:dlq=dead" -> CreateQueue input.
function queueInput(spec) {
  const [name, ...parts] = spec.split(':');
  if (!/^[A-Za-z0-9_-]{1,80}$/.test(name)) usage(`bad queue name in "${spec}"`);
  const attrs = {};
  let dlq = null;
  let maxReceiveCount = 3;
  for (const p of parts) {
    const eq = p.indexOf('=');
    if (eq <= 0) usage(`bad queue attribute "${p}" in "${spec}"`);
    const k = p.slice(0, eq);
    const v = p.slice(eq + 1);
    if (k === 'dlq') dlq = v;
    else if (k === 'maxReceiveCount') maxReceiveCount = +v;
    else attrs[k] = v;
  }
  if (dlq) {
    attrs.RedrivePolicy = JSON.stringify({
      deadLetterTargetArn: `arn:aws:sqs:${opts.region}:${opts.account}:${dlq}`,
      maxReceiveCount,
    });
  }
  return { QueueName: name, Attributes: attrs };
}

const { service, requestHandler } = createRequestHandler({
  port: +opts.port,
  hostname: '127.0.0.1',
  accountId: opts.account,
  region: opts.region,
  emulateQueueCreationLifecycle: false,
});

// Run one JSON-protocol request through the emulator in memory.
function inner(headers, body) {
  return new Promise((resolve) => {
    const req = new PassThrough();
    req.headers = headers;
    const res = {
      statusCode: 200,
      headers: {},
      setHeader(k, v) { this.headers[k.toLowerCase()] = v; },
      getHeader(k) { return this.headers[k.toLowerCase()]; },
      end(data) { resolve({ statusCode: this.statusCode, headers: this.headers, body: data == null ? '' : String(data) }); },
    };
    requestHandler(req, res);
    req.end(JSON.stringify(body));
  });
}

function reply(res, r) {
  res.statusCode = r.statusCode;
  for (const [k, v] of Object.entries(r.headers)) res.setHeader(k, v);
  res.end(r.body);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A receive as SQS does it: whatever is there now (without duplicates),
// else poll until a message comes or the wait is over.
async function receive(req, body, res) {
  const { headers } = req;
  const wait = Number(body.WaitTimeSeconds != null ? body.WaitTimeSeconds
    : (queueOf(body.QueueUrl) || {}).ReceiveMessageWaitTimeSeconds || 0);
  const deadline = Date.now() + (Number.isFinite(wait) ? wait : 0) * 1000;
  // VisibilityTimeout 0 becomes 0.1 s: hidden past the emulator's 40 ms
  // collection window, so each message is taken (and counted) once.
  const vt0 = body.VisibilityTimeout === 0 || body.VisibilityTimeout === '0' ? { VisibilityTimeout: 0.1 } : {};
  for (;;) {
    const r = await inner(headers, { ...body, WaitTimeSeconds: 0, ...vt0 });
    let json = null;
    try { json = r.body ? JSON.parse(r.body) : null; } catch (e) { /* not ours to fix */ }
    if (r.statusCode !== 200 || (json && json.Messages && json.Messages.length) || Date.now() >= deadline) {
      if (json && json.Messages) {
        const seen = new Map();
        for (const m of json.Messages) seen.set(m.MessageId, m); // the last handle is the live one
        json.Messages = [...seen.values()];
        r.body = JSON.stringify(json);
        const d = drainOf(queueName(body.QueueUrl));
        if (json.Messages.length && d.first_receive_ms === null) d.first_receive_ms = Date.now();
        d.received += json.Messages.length;
      } else if (r.statusCode === 200) {
        r.body = '{}'; // SQS answers an empty receive with {}, the emulator with nothing
      }
      return reply(res, r);
    }
    await sleep(Math.min(50, Math.max(0, deadline - Date.now())));
    if (req.socket.destroyed) return undefined; // the client gave up
  }
}

function queueOf(url) {
  const name = queueName(url);
  return name === undefined ? undefined : service.Queues.find((q) => q.QueueName === name);
}

// A refusal of the signature checks, as SQS answers it in the request's
// protocol (JSON: x-amzn-query-error and __type; query: XML).
function refuse(req, res, r) {
  const id = crypto.randomUUID();
  res.statusCode = r.status;
  res.setHeader('x-amzn-RequestId', id);
  if (/json/.test(req.headers['content-type'] || '')) {
    res.setHeader('Content-Type', 'application/x-amz-json-1.0');
    res.setHeader('x-amzn-query-error', `${r.code};Sender`);
    res.end(JSON.stringify({ __type: `com.amazon.coral.service#${r.code}`, message: r.message }));
  } else {
    const esc = (t) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    res.setHeader('Content-Type', 'text/xml');
    res.end('<?xml version="1.0"?><ErrorResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/">' +
      `<Error><Type>Sender</Type><Code>${r.code}</Code><Message>${esc(r.message)}</Message><Detail/></Error>` +
      `<RequestId>${id}</RequestId></ErrorResponse>`);
  }
}

// The request again, its body already read, for the emulator to read.
function replay(req, body) {
  const r = new PassThrough();
  r.headers = req.headers;
  r.method = req.method;
  r.url = req.url;
  r.end(body);
  return r;
}

const MAX_BODY = 16 * 1024 * 1024;

// The drain timings of GET/POST /_drain, per queue name.
const drains = new Map();
function drainOf(name) {
  if (!drains.has(name)) drains.set(name, { first_receive_ms: null, last_delete_ms: null, received: 0, deleted: 0 });
  return drains.get(name);
}
const queueName = (url) => (typeof url === 'string' ? url.split('/').filter(Boolean).pop() : undefined);
function drainRequest(req, res) {
  const name = new URL(req.url, 'http://x').searchParams.get('queue') || '';
  if (req.method === 'POST') drains.delete(name);
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(drainOf(name)));
}
// A delete answered 200: the queue's last delete (its name from the body).
function noteDelete(res, raw, action) {
  if (action !== 'DeleteMessage' && action !== 'DeleteMessageBatch') return;
  res.on('finish', () => {
    if (res.statusCode !== 200) return;
    let body = {};
    try { body = JSON.parse(raw.toString('utf8')); } catch (e) { return; }
    const d = drainOf(queueName(body.QueueUrl));
    d.last_delete_ms = Date.now();
    d.deleted++;
  });
}

const server = http.createServer((req, res) => {
  res.setHeader('Date', sigv4.httpDate(now()));
  if (req.url.startsWith('/_drain?')) return drainRequest(req, res);
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size <= MAX_BODY) chunks.push(c);
  });
  req.on('end', () => {
    if (size > MAX_BODY) {
      res.statusCode = 413;
      return res.end();
    }
    const body = Buffer.concat(chunks);
    return sigv4.verify(req, body, {
      store, region: opts.region, service: 'sqs', now, allowUnsigned: opts.allowUnsigned,
    }).then((v) => {
      if (!v.ok) {
        counts.rejected[v.reason] = (counts.rejected[v.reason] || 0) + 1;
        console.error(`sigv4: rejected ${v.reason} ${v.akid}`);
        return refuse(req, res, v);
      }
      if (v.akid === null) counts.unsigned++;
      else counts.verified++;
      if (opts.verbose) {
        const signed = /SignedHeaders=([^,\s]*)/.exec(req.headers.authorization || '');
        console.error(`sigv4: accepted ${v.akid === null ? '(unsigned)' : `${v.akid} SignedHeaders=${signed[1]}`}`);
      }
      return serve(req, res, body);
    }).catch((e) => {
      console.error(`sqs-emulator: ${e.stack || e.message}`);
      res.statusCode = 500;
      res.end(JSON.stringify({ __type: 'InternalError', message: e.message }));
    });
  });
});

// A request whose signature passed: to the emulator, or put right first.
function serve(req, res, raw) {
  const target = req.headers['x-amz-target'] || '';
  if (opts.verbose) console.error(`sqs-emulator: ${req.method} ${req.url} ${target || '(query protocol)'}`);
  const action = target.split('.')[1];
  noteDelete(res, raw, action);
  if (opts.raw || !/json/.test(req.headers['content-type'] || '') ||
      (action !== 'ReceiveMessage' && action !== 'PurgeQueue')) {
    return requestHandler(replay(req, raw), res);
  }
  let body = {};
  try { body = JSON.parse(raw.toString('utf8')); } catch (e) { /* the emulator reports it */ }
  const q = queueOf(body.QueueUrl);
  if (action === 'PurgeQueue' && q) {
    q.clearRecords();
    res.setHeader('Content-Type', 'application/x-amz-json-1.0');
    return res.end('{}');
  }
  if (action === 'ReceiveMessage' && q) {
    return receive(req, body, res).catch((e) => {
      res.statusCode = 500;
      res.end(JSON.stringify({ __type: 'InternalError', message: e.message }));
    });
  }
  return inner(req.headers, body).then((r) => reply(res, r));
}

// ChangeMessageVisibility is not a receive.  The emulator counts one in
// the same private step as a receive; its records are made by the queue
// class's static createRecord, so each record's count is given a setter
// that ignores the writes made while a visibility change runs.
let changingVisibility = false;
function keepReceiveCount(Queue) {
  const createRecord = Queue.createRecord;
  Queue.createRecord = function (...args) {
    const made = createRecord.apply(this, args);
    const { attributes } = made[0];
    let count = attributes.ApproximateReceiveCount;
    Object.defineProperty(attributes, 'ApproximateReceiveCount', {
      enumerable: true,
      configurable: true,
      get() { return count; },
      set(v) { if (!changingVisibility) count = v; },
    });
    return made;
  };
  const changeVisibility = Queue.prototype.changeVisibility;
  Queue.prototype.changeVisibility = function (...args) {
    changingVisibility = true;
    try {
      return changeVisibility.apply(this, args);
    } finally {
      changingVisibility = false;
    }
  };
}

async function main() {
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(+opts.port, '127.0.0.1', resolve);
  });
  server.on('error', (e) => console.error(`sqs-emulator: ${e.message}`));
  service.PORT = server.address().port; // QueueUrls carry the real port
  for (const spec of opts.queues) {
    const r = await inner({
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': 'AmazonSQS.CreateQueue',
    }, queueInput(spec));
    const json = JSON.parse(r.body || '{}');
    if (r.statusCode !== 200) throw new Error(`CreateQueue ${spec}: ${json.__type || ''} ${json.message || r.body}`);
    console.log(`ready ${json.QueueUrl}`);
  }
  if (!opts.raw && service.Queues.length) keepReceiveCount(service.Queues[0].constructor);
  console.log('ready');
  const stop = () => {
    const r = Object.entries(counts.rejected).map(([k, v]) => `${k}=${v}`).join(' ');
    console.error(`sigv4: verified ${counts.verified}, unsigned ${counts.unsigned}, rejected ${r || 'none'}`);
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  console.error(`sqs-emulator: ${e.message}`);
  process.exit(1);
});
