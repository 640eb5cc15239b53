#!/usr/bin/env node
/*
 * One signed request, made right or spoiled on purpose, to the SQS
 * emulator's front or fake-aws.js's STS: the tests of their signature
 * checks (tests/integration/sigv4.sh).
 *
 *   sigv4-probe.js sqs QUEUE_URL [OPTION...]   ReceiveMessage of 1 message,
 *                                              no wait (JSON protocol)
 *   sigv4-probe.js sts STS_URL [OPTION...]     AssumeRole of
 *                                              arn:aws:iam::000000000000:role/pcs-test-role,
 *                                              session "probe" (Query protocol)
 * Options:
 *   --key AKID:SECRET[:TOKEN]  the key (default test:test); a TOKEN goes in
 *                              a signed X-Amz-Security-Token
 *   --region REGION            the scope's region (default us-east-1)
 *   --service NAME             the scope's service (default sqs or sts)
 *   --skew SECONDS             signed as of now + SECONDS (X-Amz-Date too)
 *   --tamper body|header       changed after signing: the body (sqs:
 *                              MaxNumberOfMessages; sts: RoleSessionName),
 *                              or a signed header (sqs: X-Amz-Target, to
 *                              PurgeQueue; sts: Content-Type)
 *   --unsigned                 no signature at all
 *   --param NAME=VALUE         sts: one more parameter (ExternalId, ...)
 *   --proxy URL                through an HTTP proxy, absolute-URI form
 *   --connect-proxy URL        through an HTTP proxy's CONNECT tunnel
 * Prints four lines: "STATUS CODE" (CODE "-" for a 2xx), the message's
 * first line (sts 2xx: "AKID SECRET TOKEN EXPIRATION"), "query-error:
 * VALUE" (the x-amzn-query-error header, "-" without) and "date: VALUE"
 * (the Date header).  Exit 0 with an answer, whatever its status; 1
 * without; 64 bad usage.
 */
'use strict';

const http = require('http');
const sigv4 = require('./aws-sigv4');

function die(msg, code) {
  console.error(`sigv4-probe: ${msg}`);
  process.exit(code || 1);
}
const usage = (msg) => die(`${msg}\nusage: sigv4-probe.js sqs|sts URL [--key AKID:SECRET[:TOKEN]] [--region R] ` +
  '[--service S] [--skew SECONDS] [--tamper body|header] [--unsigned] [--param K=V]... ' +
  '[--proxy URL | --connect-proxy URL]', 64);

const [cmd, target, ...rest] = process.argv.slice(2);
if (cmd !== 'sqs' && cmd !== 'sts') usage('sqs or sts first');
if (!target) usage('no URL');
const o = { key: 'test:test', region: 'us-east-1', service: cmd, skew: 0, tamper: null, unsigned: false, params: {} };
for (let i = 0; i < rest.length; i++) {
  const a = rest[i];
  const val = () => (i + 1 < rest.length ? rest[++i] : usage(`${a} needs a value`));
  if (a === '--key') o.key = val();
  else if (a === '--region') o.region = val();
  else if (a === '--service') o.service = val();
  else if (a === '--skew') o.skew = Number(val());
  else if (a === '--tamper') o.tamper = val();
  else if (a === '--unsigned') o.unsigned = true;
  else if (a === '--param') {
    const p = val();
    const eq = p.indexOf('=');
    if (eq <= 0) usage('--param NAME=VALUE');
    o.params[p.slice(0, eq)] = p.slice(eq + 1);
  } else if (a === '--proxy') o.proxy = val();
  else if (a === '--connect-proxy') o.connectProxy = val();
  else usage(`unknown option ${a}`);
}
if (!Number.isFinite(o.skew)) usage('--skew takes seconds');
if (o.tamper !== null && o.tamper !== 'body' && o.tamper !== 'header') usage('--tamper body|header');
let key;
try { key = sigv4.parseKey(o.key); } catch (e) { usage(e.message); }
let url;
try { url = new URL(target); } catch (e) { usage(`not a URL: ${target}`); }

// The request as signed, and as sent.
function request() {
  if (cmd === 'sqs') {
    const body = (n) => JSON.stringify({ QueueUrl: target, MaxNumberOfMessages: n, WaitTimeSeconds: 0 });
    return {
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AmazonSQS.ReceiveMessage' },
      body: body(1),
      tamperBody: body(10),
      tamperHeader: ['x-amz-target', 'AmazonSQS.PurgeQueue'],
    };
  }
  const form = (session) => new URLSearchParams({
    Action: 'AssumeRole', Version: '2011-06-15',
    RoleArn: 'arn:aws:iam::000000000000:role/pcs-test-role', RoleSessionName: session, ...o.params,
  }).toString();
  return {
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body: form('probe'),
    tamperBody: form('probe2'),
    tamperHeader: ['content-type', 'application/x-www-form-urlencoded'],
  };
}

function tunnel(proxy) {
  return new Promise((resolve, reject) => {
    const p = new URL(proxy);
    const r = http.request({ host: p.hostname, port: p.port || 80, method: 'CONNECT', path: url.host });
    r.on('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(new Error(`CONNECT ${url.host}: HTTP ${res.statusCode}`));
      } else resolve(socket);
    });
    r.on('error', reject);
    r.end();
  });
}

async function main() {
  const q = request();
  // SQS: to the endpoint, the queue named in the body (as the daemon does).
  const pathname = cmd === 'sqs' ? '/' : url.pathname || '/';
  const search = cmd === 'sqs' ? '' : url.search;
  const path = `${pathname}${search}`;
  let headers = { ...q.headers, host: url.host };
  if (!o.unsigned) {
    headers = await sigv4.sign({
      method: 'POST', host: url.host, path: pathname, query: cmd === 'sqs' ? {} : Object.fromEntries(url.searchParams),
      headers: q.headers, body: q.body,
    }, key, o.region, o.service, Date.now() + o.skew * 1000);
  }
  let body = q.body;
  if (o.tamper === 'body') body = q.tamperBody;
  if (o.tamper === 'header') headers[q.tamperHeader[0]] = q.tamperHeader[1];
  const req = { method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(body) }, timeout: 10000 };
  if (o.proxy) {
    const p = new URL(o.proxy);
    Object.assign(req, { host: p.hostname, port: p.port || 80, path: `http://${url.host}${path}` });
  } else {
    Object.assign(req, { host: url.hostname, port: url.port || 80, path });
    if (o.connectProxy) {
      const socket = await tunnel(o.connectProxy);
      req.createConnection = () => socket;
      req.agent = false;
    }
  }
  const res = await new Promise((resolve, reject) => {
    const r = http.request(req, (answer) => {
      let text = '';
      answer.setEncoding('utf8');
      answer.on('data', (c) => { text += c; });
      answer.on('end', () => resolve({ status: answer.statusCode, headers: answer.headers, text }));
    });
    r.on('timeout', () => r.destroy(new Error('no answer within 10 s')));
    r.on('error', reject);
    r.end(body);
  });
  let code = '-';
  let message = '';
  if (cmd === 'sqs') {
    let json = {};
    try { json = JSON.parse(res.text || '{}'); } catch (e) { message = res.text; }
    if (res.status < 200 || res.status > 299) code = String(json.__type || json.code || '?').replace(/^.*#/, '');
    message = message || String(json.message || json.Message || '');
  } else {
    const tag = (t) => { const m = new RegExp(`<${t}>([^<]*)</${t}>`).exec(res.text); return m ? m[1] : ''; };
    if (res.status < 200 || res.status > 299) {
      code = tag('Code') || '?';
      message = tag('Message');
    } else {
      message = ['AccessKeyId', 'SecretAccessKey', 'SessionToken', 'Expiration'].map(tag).join(' ');
    }
  }
  console.log(`${res.status} ${code}`);
  console.log(message.split('\n')[0]);
  console.log(`query-error: ${res.headers['x-amzn-query-error'] || '-'}`);
  console.log(`date: ${res.headers.date || '-'}`);
}

main().then(() => process.exit(0), (e) => die(e.message));
