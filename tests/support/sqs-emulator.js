#!/usr/bin/env node
/*
 * SQS for the tests: the local-aws-sqs emulator (pinned in package.json) on
 * 127.0.0.1, speaking the AWS JSON protocol (and the query protocol), with
 * no signature checks.
 *
 *   node tests/support/sqs-emulator.js --port N [--account ID] [--verbose]
 *        [--raw] [--queue NAME[:ATTR=VALUE...]]...
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
 * serves.  Runs until SIGTERM or SIGINT (exit 0).  --verbose logs each
 * request's action to stderr.
 *
 * Where local-aws-sqs 2.0.2 strays from SQS in ways that would mislead the
 * daemon's tests, this front end puts it right (--raw turns that off):
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

const http = require('http');
const { PassThrough } = require('stream');
const { createRequestHandler } = require('local-aws-sqs');

function usage(msg) {
  if (msg) console.error(`sqs-emulator: ${msg}`);
  console.error('usage: sqs-emulator.js --port N [--account ID] [--verbose] [--raw] [--queue NAME[:ATTR=VALUE...]]...');
  process.exit(64);
}

const opts = { port: null, account: '000000000000', region: 'us-east-1', queues: [], verbose: false, raw: false };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
  if (a === '--port') opts.port = val();
  else if (a === '--account') opts.account = val();
  else if (a === '--queue') opts.queues.push(val());
  else if (a === '--verbose') opts.verbose = true;
  else if (a === '--raw') opts.raw = true;
  else usage(`unknown argument ${a}`);
}
if (opts.port === null || !/^\d+$/.test(opts.port) || +opts.port > 65535) usage('--port N is required');
if (!/^\d{12}$/.test(opts.account)) usage('--account must be 12 digits');

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
  if (typeof url !== 'string') return undefined;
  const name = url.split('/').filter(Boolean).pop();
  return service.Queues.find((q) => q.QueueName === name);
}

const server = http.createServer((req, res) => {
  const target = req.headers['x-amz-target'] || '';
  if (opts.verbose) console.error(`sqs-emulator: ${req.method} ${req.url} ${target || '(query protocol)'}`);
  const action = target.split('.')[1];
  if (opts.raw || !/json/.test(req.headers['content-type'] || '') ||
      (action !== 'ReceiveMessage' && action !== 'PurgeQueue')) {
    return requestHandler(req, res);
  }
  let text = '';
  req.setEncoding('utf8');
  req.on('data', (c) => { text += c; });
  req.on('end', () => {
    let body = {};
    try { body = JSON.parse(text); } catch (e) { /* the emulator reports it */ }
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
  });
  return undefined;
});

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
  const stop = () => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  console.error(`sqs-emulator: ${e.message}`);
  process.exit(1);
});
