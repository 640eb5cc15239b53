#!/usr/bin/env node
/*
 * A tiny SQS client for the tests: the AWS JSON protocol (x-amz-json-1.0)
 * over node's http, for the emulator (sqs-emulator.js) on 127.0.0.1,
 * every request signed (AWS Signature V4 by @smithy/signature-v4, see
 * aws-sigv4.js) with the key PCS_SQS_KEY=AKID:SECRET[:TOKEN] (default
 * test:test, the emulator's default key) for region PCS_SQS_REGION
 * (default us-east-1).  Not the AWS_* variables: a test sets those for the
 * daemon, wrong ones included.  No AWS SDK.
 *
 *   sqs.js send QUEUE_URL [--shuffle] [--repeat N] FILE...
 *       one SendMessage per message; a FILE's whole content is one message,
 *       "-" reads one message per non-empty line of stdin.  Prints "sent N".
 *   sqs.js send-batch QUEUE_URL [--shuffle] [--repeat N] FILE...
 *       the same messages through SendMessageBatch (10 a call, 4 calls in
 *       flight): for thousands of messages.
 *   sqs.js count QUEUE_URL [--raw]
 *       prints "VISIBLE NOTVISIBLE" from GetQueueAttributes.  The emulator's
 *       ApproximateNumberOfMessages includes in-flight messages, so VISIBLE
 *       is ApproximateNumberOfMessages - ApproximateNumberOfMessagesNotVisible
 *       (what SQS means by it); --raw prints the two attributes as they are.
 *   sqs.js attributes QUEUE_URL
 *       prints all queue attributes as one JSON object.
 *   sqs.js receive QUEUE_URL [--max N] [--json]
 *       peeks: one ReceiveMessage with VisibilityTimeout 0 and prints each
 *       body followed by a newline (--json: one JSON line per message with
 *       MessageId, Body, Attributes).  It is a real receive: it raises the
 *       messages' ApproximateReceiveCount, and with a RedrivePolicy a peek
 *       can move a message to the dead-letter queue.
 *   sqs.js purge QUEUE_URL
 *       PurgeQueue (immediate with sqs-emulator.js).
 *
 * Required as a module it exports call(queueUrl, action, body[, agent]).
 *
 * Exit status: 0 done, 1 an SQS error or a partly failed batch (the message
 * on stderr), 64 bad usage.
 */
'use strict';

const fs = require('fs');
const http = require('http');
const sigv4 = require('./aws-sigv4');

function die(msg, code) {
  console.error(`sqs: ${msg}`);
  process.exit(code || 1);
}
let KEY;
try { KEY = sigv4.parseKey(process.env.PCS_SQS_KEY || 'test:test'); } catch (e) { die(`PCS_SQS_KEY: ${e.message}`, 64); }
const REGION = process.env.PCS_SQS_REGION || 'us-east-1';

function usage(msg) {
  die(`${msg}\nusage: sqs.js send|send-batch QUEUE_URL [--shuffle] [--repeat N] FILE...\n` +
      '       sqs.js count QUEUE_URL [--raw] | attributes QUEUE_URL | receive QUEUE_URL [--max N] [--json] | purge QUEUE_URL', 64);
}

// One call; resolves to the parsed answer, rejects with a readable error.
// agent: the keep-alive agent of the caller (bench/bench.js has its own).
function call(queueUrl, action, body, agent = keepAlive) {
  let url;
  try { url = new URL(queueUrl); } catch (e) { usage(`not a URL: ${queueUrl}`); }
  if (url.protocol !== 'http:') usage(`only http:// queue URLs (the emulator): ${queueUrl}`);
  const data = JSON.stringify({ QueueUrl: queueUrl, ...body });
  return sigv4.sign({
    method: 'POST',
    host: url.host,
    path: '/',
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': `AmazonSQS.${action}` },
    body: data,
  }, KEY, REGION, 'sqs').then((headers) => new Promise((resolve, reject) => {
    const req = http.request({
      host: url.hostname, port: url.port || 80, method: 'POST', path: '/',
      agent,
      headers: { ...headers, 'Content-Length': Buffer.byteLength(data) },
      timeout: 30000,
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => {
        let json = null;
        try { json = text ? JSON.parse(text) : {}; } catch (e) { /* json stays null */ }
        if (res.statusCode !== 200 || json === null) {
          const what = json ? `${String(json.__type || '').replace(/^.*#/, '')}: ${json.message || json.Message || text}` : text;
          reject(new Error(`${action} ${queueUrl}: HTTP ${res.statusCode} ${what}`));
        } else resolve(json);
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out after 30 s')));
    req.on('error', (e) => {
      // Node's documented keep-alive race: the server closed the idle
      // socket before it read this request.  Once more, on a connection
      // of its own (agent false: not another socket idle as long, and
      // not reused, so never a third time).  A server that read the
      // request and then reset would get it twice; the emulator answers
      // what it reads.
      if (req.reusedSocket && e.code === 'ECONNRESET') {
        resolve(call(queueUrl, action, body, false));
        return;
      }
      reject(new Error(`${action} ${queueUrl}: ${e.code || ''} ${e.message}`));
    });
    req.end(data);
  }));
}
const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 8 });

// The messages named by FILE... ("-": one per line of stdin).
function readMessages(files) {
  const out = [];
  for (const f of files) {
    if (f === '-') {
      for (const line of fs.readFileSync(0, 'utf8').split('\n')) if (line.trim() !== '') out.push(line);
    } else {
      let text;
      try { text = fs.readFileSync(f, 'utf8'); } catch (e) { die(`${f}: ${e.message}`, 64); }
      out.push(text);
    }
  }
  return out;
}

function shuffle(a) {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

async function send(queueUrl, args, batch) {
  let repeat = 1;
  let mix = false;
  const files = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--shuffle') mix = true;
    else if (args[i] === '--repeat') {
      repeat = Number(args[++i]);
      if (!Number.isInteger(repeat) || repeat < 1) usage('--repeat needs a positive integer');
    } else files.push(args[i]);
  }
  if (!files.length) usage('no FILE to send');
  const once = readMessages(files);
  let msgs = [];
  for (let r = 0; r < repeat; r++) msgs = msgs.concat(once);
  if (mix) shuffle(msgs);
  if (!msgs.length) die('no message to send');
  if (!batch) {
    for (const m of msgs) await call(queueUrl, 'SendMessage', { MessageBody: m });
  } else {
    // Batches of at most 10 messages and 256 KiB.
    const batches = [];
    let cur = [];
    let size = 0;
    for (const m of msgs) {
      const len = Buffer.byteLength(m);
      if (cur.length === 10 || (cur.length && size + len > 262144)) { batches.push(cur); cur = []; size = 0; }
      cur.push(m);
      size += len;
    }
    if (cur.length) batches.push(cur);
    let next = 0;
    const worker = async () => {
      while (next < batches.length) {
        const b = batches[next++];
        const res = await call(queueUrl, 'SendMessageBatch', {
          Entries: b.map((m, i) => ({ Id: String(i), MessageBody: m })),
        });
        if (res.Failed && res.Failed.length) {
          const f = res.Failed[0];
          throw new Error(`SendMessageBatch: ${res.Failed.length} failed, first: ${f.Code}: ${f.Message}`);
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
  }
  console.log(`sent ${msgs.length}`);
}

async function main() {
  const [cmd, queueUrl, ...rest] = process.argv.slice(2);
  if (!cmd) usage('no command');
  if (!queueUrl) usage(`${cmd}: no QUEUE_URL`);
  switch (cmd) {
    case 'send': return send(queueUrl, rest, false);
    case 'send-batch': return send(queueUrl, rest, true);
    case 'count': {
      const a = (await call(queueUrl, 'GetQueueAttributes', {
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      })).Attributes || {};
      const all = Number(a.ApproximateNumberOfMessages || 0);
      const nv = Number(a.ApproximateNumberOfMessagesNotVisible || 0);
      console.log(rest.includes('--raw') ? `${all} ${nv}` : `${Math.max(0, all - nv)} ${nv}`);
      return undefined;
    }
    case 'attributes': {
      const a = await call(queueUrl, 'GetQueueAttributes', { AttributeNames: ['All'] });
      console.log(JSON.stringify(a.Attributes || {}));
      return undefined;
    }
    case 'receive': {
      let max = 10;
      const i = rest.indexOf('--max');
      if (i >= 0) max = Number(rest[i + 1]);
      if (!Number.isInteger(max) || max < 1 || max > 10) usage('--max takes 1..10');
      const r = await call(queueUrl, 'ReceiveMessage', {
        MaxNumberOfMessages: max, VisibilityTimeout: 0, WaitTimeSeconds: 0, AttributeNames: ['All'],
      });
      const seen = new Set();
      for (const m of r.Messages || []) {
        if (seen.has(m.MessageId)) continue;
        seen.add(m.MessageId);
        if (rest.includes('--json')) {
          console.log(JSON.stringify({ MessageId: m.MessageId, Body: m.Body, Attributes: m.Attributes || {} }));
        } else process.stdout.write(`${m.Body}\n`);
      }
      return undefined;
    }
    case 'purge':
      await call(queueUrl, 'PurgeQueue', {});
      return undefined;
    default:
      return usage(`unknown command ${cmd}`);
  }
}

module.exports = { call };
if (require.main === module) main().then(() => process.exit(0), (e) => die(e.message));
