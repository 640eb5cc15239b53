#!/usr/bin/env node
/*
 * Fakes of the AWS credential sources, for the daemon's credential chain:
 * STS, ECS/EKS container credentials and EC2 IMDSv2, on one HTTP server
 * on 127.0.0.1 (the daemon reaches them through the SDKs' endpoint
 * overrides: AWS_ENDPOINT_URL_STS=URL, AWS_CONTAINER_CREDENTIALS_FULL_URI=
 * URL/container/..., AWS_EC2_METADATA_SERVICE_ENDPOINT=URL).
 *
 *   node tests/support/fake-aws.js --port N --keys-file FILE [--ttl SECONDS]
 *        [--key AKID:SECRET]... [--region REGION] [--account ID]
 *        [--container-token TOKEN] [--web-identity-token TOKEN]
 *        [--require-external-id ID] [--clock-offset SECONDS] [--verbose]
 *
 * --port 0 picks a free port.  Prints "ready http://127.0.0.1:N" once it
 * serves; runs until SIGTERM or SIGINT (exit 0).  Each credential it
 * issues (AKID "ASIA" and 16 characters, a random secret and session
 * token, expiring --ttl seconds from now, default 3600) is appended to
 * --keys-file as "AKID SECRET TOKEN EXPIRES_EPOCH_MS" (see aws-sigv4.js),
 * which sqs-emulator.js given the same file accepts until it expires.
 * Every answer has a Date header (RFC 1123) from its clock: the real one
 * plus --clock-offset SECONDS.
 *
 * STS, POST / (form-encoded, or GET /?...: the Query protocol, Version
 * 2011-06-15), answers in STS's XML (namespace
 * https://sts.amazonaws.com/doc/2011-06-15/):
 *   Action=AssumeRole, RoleArn and RoleSessionName (ExternalId and
 *     DurationSeconds optional): signed (SigV4, service sts, the scope's
 *     region --region, default us-east-1) by a key it knows: --key, one it
 *     issued (role chaining) or one of --keys-file; checked as
 *     sqs-emulator.js checks, refused with HTTP 403 and
 *     <ErrorResponse><Error><Type>Sender</Type><Code>CODE</Code>
 *     <Message>...</Message></Error><RequestId>...</RequestId></ErrorResponse>
 *     (MissingAuthenticationToken, IncompleteSignature, InvalidClientTokenId,
 *     ExpiredToken, SignatureDoesNotMatch).  With --require-external-id ID
 *     another ExternalId (or none) is 403 AccessDenied.  The credentials
 *     live min(DurationSeconds, ttl) seconds (DurationSeconds 900..43200,
 *     else 400 ValidationError).
 *   Action=AssumeRoleWithWebIdentity, RoleArn, RoleSessionName and
 *     WebIdentityToken: unsigned; the token must equal --web-identity-token
 *     (unset: any non-empty token), else 400 InvalidIdentityToken.
 *   A missing parameter or a bad RoleArn: 400 ValidationError; another
 *   Action or Version: 400 InvalidAction.
 * Container credentials, GET /container/<anything>: with --container-token
 *   the Authorization header must equal it (none: 401, another: 403);
 *   answers {"AccessKeyId","SecretAccessKey","Token","Expiration",
 *   "RoleArn"} as ECS does, Expiration ISO 8601 with a Z.
 * EC2 IMDSv2 (tokens only, IMDSv1 refused):
 *   PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds 1..21600
 *     (else 400; with X-Forwarded-For 403) answers a token, valid that long;
 *   GET /latest/meta-data/iam/security-credentials/ with
 *     X-aws-ec2-metadata-token: TOKEN answers the role name, pcs-test-role;
 *   GET /latest/meta-data/iam/security-credentials/pcs-test-role answers
 *     {"Code":"Success","LastUpdated","Type":"AWS-HMAC","AccessKeyId",
 *     "SecretAccessKey","Token","Expiration"}; another role 404;
 *   GET /latest/meta-data/placement/region answers --region;
 *   no token, an unknown or expired one: 401.
 * Container and IMDS credentials are new at each request.
 * Control, for the tests:
 *   GET /_stats: {"sts":{...},"container":{...},"imds":{...},"ttl":S}, per
 *     endpoint "requests", "ok" (2xx), "failed", "injected" (by /_fail),
 *     "credentials" (issued), "codes" (failures by code or status), and
 *     "last": the last request's parameters (no secrets; STS: Action,
 *     RoleArn, RoleSessionName, ExternalId, DurationSeconds, AccessKeyId
 *     of the signer; IMDS: the path);
 *   POST /_fail?endpoint=sts|container|imds&count=N: the next N requests
 *     to that endpoint fail with 500 (STS: InternalFailure XML; container:
 *     JSON; IMDS: text);
 *   POST /_ttl?seconds=S: the lifetime of the credentials issued next.
 * --verbose logs each request to stderr.
 */
'use strict';

const crypto = require('crypto');
const http = require('http');
const sigv4 = require('./aws-sigv4');

const STS_NS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const ROLE = 'pcs-test-role';

function usage(msg) {
  if (msg) console.error(`fake-aws: ${msg}`);
  console.error('usage: fake-aws.js --port N --keys-file FILE [--ttl SECONDS] [--key AKID:SECRET]... ' +
    '[--region REGION] [--account ID] [--container-token TOKEN] [--web-identity-token TOKEN] ' +
    '[--require-external-id ID] [--clock-offset SECONDS] [--verbose]');
  process.exit(64);
}

const opts = {
  port: null, keysFile: null, ttl: 3600, keys: [], region: 'us-east-1', account: '000000000000',
  containerToken: null, webIdentityToken: null, externalId: null, clockOffset: 0, verbose: false,
};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
  if (a === '--port') opts.port = val();
  else if (a === '--keys-file') opts.keysFile = val();
  else if (a === '--ttl') opts.ttl = Number(val());
  else if (a === '--key') {
    try { opts.keys.push(sigv4.parseKey(val())); } catch (e) { usage(e.message); }
  } else if (a === '--region') opts.region = val();
  else if (a === '--account') opts.account = val();
  else if (a === '--container-token') opts.containerToken = val();
  else if (a === '--web-identity-token') opts.webIdentityToken = val();
  else if (a === '--require-external-id') opts.externalId = val();
  else if (a === '--clock-offset') opts.clockOffset = Number(val());
  else if (a === '--verbose') opts.verbose = true;
  else usage(`unknown argument ${a}`);
}
if (opts.port === null || !/^\d+$/.test(opts.port) || +opts.port > 65535) usage('--port N is required');
if (!opts.keysFile) usage('--keys-file FILE is required');
if (!Number.isInteger(opts.ttl) || opts.ttl < 1) usage('--ttl takes whole seconds, 1 or more');
if (!/^\d{12}$/.test(opts.account)) usage('--account must be 12 digits');
if (!Number.isFinite(opts.clockOffset)) usage('--clock-offset takes seconds');

const store = new sigv4.KeyStore({ keys: opts.keys, file: opts.keysFile });
const now = () => Date.now() + opts.clockOffset * 1000;

const ENDPOINTS = ['sts', 'container', 'imds'];
const stats = {};
const failNext = {};
for (const e of ENDPOINTS) {
  stats[e] = { requests: 0, ok: 0, failed: 0, injected: 0, credentials: 0, codes: {}, last: null };
  failNext[e] = 0;
}
const imdsTokens = new Map();	// token -> expiry (ms)

function issue(endpoint, ttl) {
  const c = sigv4.newCredentials(ttl == null ? opts.ttl : ttl, now());
  store.add(c);
  store.append(c);
  stats[endpoint].credentials++;
  return c;
}

const xmlEscape = (t) => String(t).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
  .replace(/"/g, '&quot;');

// The end of a request: the answer, and the counts.
function send(res, endpoint, status, type, body, code) {
  const s = stats[endpoint];
  if (status >= 200 && status <= 299) s.ok++;
  else {
    s.failed++;
    const k = code || String(status);
    s.codes[k] = (s.codes[k] || 0) + 1;
  }
  res.statusCode = status;
  if (type) res.setHeader('Content-Type', type);
  res.end(body);
}

// ---- STS

function stsError(res, status, code, message, type) {
  const id = crypto.randomUUID();
  res.setHeader('x-amzn-RequestId', id);
  send(res, 'sts', status, 'text/xml', `<ErrorResponse xmlns="${STS_NS}">\n` +
    `  <Error>\n    <Type>${type || 'Sender'}</Type>\n    <Code>${code}</Code>\n` +
    `    <Message>${xmlEscape(message)}</Message>\n  </Error>\n` +
    `  <RequestId>${id}</RequestId>\n</ErrorResponse>\n`, code);
}

function stsAnswer(res, action, inner) {
  const id = crypto.randomUUID();
  res.setHeader('x-amzn-RequestId', id);
  send(res, 'sts', 200, 'text/xml', `<${action}Response xmlns="${STS_NS}">\n` +
    `  <${action}Result>\n${inner}  </${action}Result>\n` +
    `  <ResponseMetadata>\n    <RequestId>${id}</RequestId>\n  </ResponseMetadata>\n` +
    `</${action}Response>\n`);
}

function credentialsXml(c) {
  return '    <Credentials>\n' +
    `      <AccessKeyId>${c.akid}</AccessKeyId>\n` +
    `      <SecretAccessKey>${xmlEscape(c.secret)}</SecretAccessKey>\n` +
    `      <SessionToken>${xmlEscape(c.token)}</SessionToken>\n` +
    `      <Expiration>${sigv4.isoSeconds(c.expires)}</Expiration>\n` +
    '    </Credentials>\n';
}

// The same role id for the same role: AROA and 17 characters.
function roleId(arn) {
  const h = crypto.createHash('sha256').update(arn).digest();
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  return `AROA${[...h.subarray(0, 17)].map((b) => abc[b % 32]).join('')}`;
}

function assumedRoleXml(p) {
  const m = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(p.RoleArn);
  return '    <AssumedRoleUser>\n' +
    `      <AssumedRoleId>${roleId(p.RoleArn)}:${xmlEscape(p.RoleSessionName)}</AssumedRoleId>\n` +
    `      <Arn>arn:${m[1]}:sts::${m[2]}:assumed-role/${xmlEscape(m[3])}/${xmlEscape(p.RoleSessionName)}</Arn>\n` +
    '    </AssumedRoleUser>\n';
}

// The parameter checks STS makes first (ValidationError, as it words them).
function stsValidate(p, extra) {
  const errs = [];
  const check = (name, member, re, what) => {
    if (p[name] === undefined) errs.push(`Value null at '${member}' failed to satisfy constraint: Member must not be null`);
    else if (!re.test(p[name])) errs.push(`Value '${p[name]}' at '${member}' failed to satisfy constraint: ${what}`);
  };
  check('RoleArn', 'roleArn', /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/,
    'Member must be a role ARN, arn:aws:iam::ACCOUNT:role/NAME');
  check('RoleSessionName', 'roleSessionName', /^[\w+=,.@-]{2,64}$/,
    'Member must satisfy regular expression pattern: [\\w+=,.@-]*');
  for (const e of extra) check(...e);
  if (p.DurationSeconds !== undefined) {
    const d = Number(p.DurationSeconds);
    if (!Number.isInteger(d) || d < 900 || d > 43200) {
      errs.push(`Value '${p.DurationSeconds}' at 'durationSeconds' failed to satisfy constraint: ` +
        'Member must have value between 900 and 43200');
    }
  }
  if (!errs.length) return null;
  return `${errs.length} validation error${errs.length > 1 ? 's' : ''} detected: ${errs.join('; ')}`;
}

function lifetime(p) {
  return p.DurationSeconds === undefined ? opts.ttl : Math.min(Number(p.DurationSeconds), opts.ttl);
}

async function sts(req, res, body) {
  const url = new URL(req.url, 'http://x');
  const p = {};
  for (const [k, v] of url.searchParams) p[k] = v;
  if (req.method === 'POST') {
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) p[k] = v;
  }
  stats.sts.last = {
    Action: p.Action, RoleArn: p.RoleArn, RoleSessionName: p.RoleSessionName, ExternalId: p.ExternalId,
    DurationSeconds: p.DurationSeconds, Version: p.Version, AccessKeyId: null,
  };
  if (p.Action !== 'AssumeRole' && p.Action !== 'AssumeRoleWithWebIdentity') {
    return stsError(res, 400, 'InvalidAction', `Could not find operation ${p.Action} for version ${p.Version}`);
  }
  if (p.Version !== '2011-06-15') {
    return stsError(res, 400, 'InvalidAction', `Could not find operation ${p.Action} for version ${p.Version}`);
  }
  if (p.Action === 'AssumeRole') {
    const v = await sigv4.verify(req, body, { store, region: opts.region, service: 'sts', now });
    if (!v.ok) {
      console.error(`sigv4: rejected ${v.reason} ${v.akid}`);
      return stsError(res, v.status, v.code, v.message);
    }
    stats.sts.last.AccessKeyId = v.akid;
    const bad = stsValidate(p, []);
    if (bad) return stsError(res, 400, 'ValidationError', bad);
    if (opts.externalId !== null && p.ExternalId !== opts.externalId) {
      return stsError(res, 403, 'AccessDenied', `User: arn:aws:iam::${opts.account}:user/${v.akid} is not ` +
        `authorized to perform: sts:AssumeRole on resource: ${p.RoleArn}`);
    }
    const c = issue('sts', lifetime(p));
    return stsAnswer(res, 'AssumeRole', credentialsXml(c) + assumedRoleXml(p));
  }
  const bad = stsValidate(p, [['WebIdentityToken', 'webIdentityToken', /^.{4,20000}$/s,
    'Member must have length greater than or equal to 4']]);
  if (bad) return stsError(res, 400, 'ValidationError', bad);
  if (opts.webIdentityToken !== null && p.WebIdentityToken !== opts.webIdentityToken) {
    return stsError(res, 400, 'InvalidIdentityToken',
      'The web identity token that was passed could not be validated by AWS. ' +
      'Get a new identity token from the identity provider and then retry the request.');
  }
  const c = issue('sts', lifetime(p));
  return stsAnswer(res, 'AssumeRoleWithWebIdentity',
    '    <SubjectFromWebIdentityToken>system:serviceaccount:default:pcs</SubjectFromWebIdentityToken>\n' +
    '    <Audience>sts.amazonaws.com</Audience>\n' +
    credentialsXml(c) + assumedRoleXml(p) +
    '    <Provider>fake-aws.test</Provider>\n');
}

// ---- container credentials (ECS, EKS Pod Identity)

function container(req, res) {
  stats.container.last = { path: req.url };
  const json = 'application/json';
  if (req.method !== 'GET') return send(res, 'container', 405, json, '{"message":"GET only"}', '405');
  if (opts.containerToken !== null) {
    const auth = req.headers.authorization;
    if (auth === undefined) {
      return send(res, 'container', 401, json,
        '{"code":"Unauthorized","message":"No Authorization header"}', 'Unauthorized');
    }
    if (auth !== opts.containerToken) {
      return send(res, 'container', 403, json,
        '{"code":"AccessDenied","message":"The Authorization header is not the container token"}', 'AccessDenied');
    }
  }
  const c = issue('container');
  return send(res, 'container', 200, json, JSON.stringify({
    AccessKeyId: c.akid,
    SecretAccessKey: c.secret,
    Token: c.token,
    Expiration: sigv4.isoSeconds(c.expires),
    RoleArn: `arn:aws:iam::${opts.account}:role/${ROLE}`,
  }));
}

// ---- EC2 IMDSv2

function imds(req, res) {
  const path = req.url.split('?')[0];
  stats.imds.last = { method: req.method, path };
  const text = 'text/plain';
  if (path === '/latest/api/token') {
    if (req.method !== 'PUT') return send(res, 'imds', 405, text, 'Method Not Allowed\n', '405');
    if (req.headers['x-forwarded-for'] !== undefined) return send(res, 'imds', 403, text, 'Forbidden\n', '403');
    const ttl = req.headers['x-aws-ec2-metadata-token-ttl-seconds'];
    if (ttl === undefined || !/^\d+$/.test(ttl) || +ttl < 1 || +ttl > 21600) {
      return send(res, 'imds', 400, text, 'Bad Request\n', '400');
    }
    const token = crypto.randomBytes(42).toString('base64');
    imdsTokens.set(token, now() + ttl * 1000);
    res.setHeader('X-aws-ec2-metadata-token-ttl-seconds', String(+ttl));
    return send(res, 'imds', 200, text, token);
  }
  if (req.method !== 'GET') return send(res, 'imds', 405, text, 'Method Not Allowed\n', '405');
  const token = req.headers['x-aws-ec2-metadata-token'];
  const exp = token === undefined ? undefined : imdsTokens.get(token);
  if (exp === undefined || exp <= now()) return send(res, 'imds', 401, text, 'Unauthorized\n', '401');
  const base = '/latest/meta-data/iam/security-credentials/';
  if (path === base) return send(res, 'imds', 200, text, ROLE);
  if (path === `${base}${ROLE}`) {
    const c = issue('imds');
    return send(res, 'imds', 200, text, JSON.stringify({
      Code: 'Success',
      LastUpdated: sigv4.isoSeconds(now()),
      Type: 'AWS-HMAC',
      AccessKeyId: c.akid,
      SecretAccessKey: c.secret,
      Token: c.token,
      Expiration: sigv4.isoSeconds(c.expires),
    }, null, 2));
  }
  if (path === '/latest/meta-data/placement/region') return send(res, 'imds', 200, text, opts.region);
  return send(res, 'imds', 404, text, 'Not Found\n', '404');
}

// ---- control

function control(req, res) {
  const url = new URL(req.url, 'http://x');
  const json = (status, v) => {
    res.statusCode = status;
    res.setHeader('Content-Type', 'application/json');
    res.end(`${JSON.stringify(v)}\n`);
  };
  if (url.pathname === '/_stats' && req.method === 'GET') return json(200, { ...stats, ttl: opts.ttl });
  if (url.pathname === '/_fail' && req.method === 'POST') {
    const e = url.searchParams.get('endpoint');
    const n = Number(url.searchParams.get('count') || 1);
    if (!ENDPOINTS.includes(e) || !Number.isInteger(n) || n < 0) {
      return json(400, { message: 'endpoint=sts|container|imds&count=N' });
    }
    failNext[e] = n;
    return json(200, { endpoint: e, count: n });
  }
  if (url.pathname === '/_ttl' && req.method === 'POST') {
    const s = Number(url.searchParams.get('seconds'));
    if (!Number.isInteger(s) || s < 1) return json(400, { message: 'seconds=S, 1 or more' });
    opts.ttl = s;
    return json(200, { ttl: s });
  }
  return json(404, { message: `no ${req.method} ${url.pathname}` });
}

function injected(res, endpoint) {
  stats[endpoint].injected++;
  if (endpoint === 'sts') return stsError(res, 500, 'InternalFailure', 'injected failure (fake-aws /_fail)', 'Receiver');
  if (endpoint === 'container') {
    return send(res, 'container', 500, 'application/json',
      '{"code":"InternalError","message":"injected failure (fake-aws /_fail)"}', 'InternalError');
  }
  return send(res, 'imds', 500, 'text/plain', 'Internal Server Error\n', '500');
}

function endpointOf(path) {
  if (path.startsWith('/container/')) return 'container';
  if (path.startsWith('/latest/')) return 'imds';
  if (path === '/') return 'sts';
  return null;
}

const server = http.createServer((req, res) => {
  res.setHeader('Date', sigv4.httpDate(now()));
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const path = req.url.split('?')[0];
    if (opts.verbose) console.error(`fake-aws: ${req.method} ${req.url}`);
    if (path.startsWith('/_')) return control(req, res);
    const endpoint = endpointOf(path);
    if (endpoint === null) {
      res.statusCode = 404;
      return res.end('Not Found\n');
    }
    stats[endpoint].requests++;
    if (failNext[endpoint] > 0) {
      failNext[endpoint]--;
      return injected(res, endpoint);
    }
    const body = Buffer.concat(chunks);
    const run = endpoint === 'sts' ? sts(req, res, body)
      : Promise.resolve(endpoint === 'container' ? container(req, res) : imds(req, res));
    return run.catch((e) => {
      console.error(`fake-aws: ${e.stack || e.message}`);
      if (!res.headersSent) stsError(res, 500, 'InternalFailure', e.message, 'Receiver');
    });
  });
});

server.on('error', (e) => {
  console.error(`fake-aws: ${e.message}`);
  process.exit(1);
});
server.listen(+opts.port, '127.0.0.1', () => {
  console.log(`ready http://127.0.0.1:${server.address().port}`);
});
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
