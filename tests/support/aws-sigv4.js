/*
 * AWS Signature Version 4 for the test bench: the keys the fakes know, a
 * verifier of signed requests, and a signer for the test clients.  Both
 * directions use @smithy/signature-v4 (the AWS SDK for JavaScript's own
 * signer, pinned in package.json), an implementation independent of the
 * daemon's (curl's CURLOPT_AWS_SIGV4), so a request the verifier accepts
 * is one real AWS would accept, as far as the signature goes.
 *
 * Used by sqs-emulator.js (service "sqs"), fake-aws.js (service "sts"),
 * sqs.js and sigv4-probe.js.  Not a CLI.
 *
 * Keys: --key AKID:SECRET on a command line (the first ':' splits), and a
 * keys file, one key a line, fields separated by blanks:
 *
 *     AKID SECRET TOKEN EXPIRES_EPOCH_MS
 *
 * TOKEN "-" for none (a long-term key), EXPIRES_EPOCH_MS "-" or 0 for
 * never; lines starting with '#' and a last line without its newline (one
 * being appended) are skipped; a later line for the same AKID wins.  Other
 * processes append to it (fake-aws.js, each credential it issues; a test,
 * an expired one): it is read again when it changed, and on a miss.
 */
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const { SignatureV4, getCanonicalHeaders, getPayloadHash } = require('@smithy/signature-v4');
const { Hash } = require('@smithy/hash-node');

const sha256 = Hash.bind(null, 'sha256');
const ALGORITHM = 'AWS4-HMAC-SHA256';
const SKEW_MS = 5 * 60 * 1000;	// what AWS tolerates either way

// "AKID:SECRET" (or "AKID:SECRET:TOKEN" for a client) -> key object.
function parseKey(spec) {
  const i = spec.indexOf(':');
  if (i <= 0 || i === spec.length - 1) throw new Error(`bad key "${spec}": want AKID:SECRET`);
  const akid = spec.slice(0, i);
  let secret = spec.slice(i + 1);
  let token = null;
  const j = secret.indexOf(':');
  if (j >= 0) {
    token = secret.slice(j + 1) || null;
    secret = secret.slice(0, j);
  }
  return { akid, secret, token, expires: 0 };
}

class KeyStore {
  constructor({ keys = [], file = null } = {}) {
    this.keys = new Map();	// --key and in-process keys
    for (const k of keys) this.keys.set(k.akid, k);
    this.file = file;
    this.fileKeys = new Map();
    this.fileSig = null;
  }

  add(key) { this.keys.set(key.akid, key); }

  // Re-read the file when its size or mtime changed (or always: force).
  refresh(force) {
    if (!this.file) return;
    let st;
    try { st = fs.statSync(this.file); } catch (e) { this.fileKeys = new Map(); this.fileSig = null; return; }
    const sig = `${st.size}:${st.mtimeMs}:${st.ino}`;
    if (!force && sig === this.fileSig) return;
    let text;
    try { text = fs.readFileSync(this.file, 'utf8'); } catch (e) { return; }
    const keys = new Map();
    const lines = text.split('\n');
    lines.pop(); // after the last newline: empty, or a line still being written
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      if (!f[0] || f[0].startsWith('#') || f.length < 2) continue;
      const token = f[2] && f[2] !== '-' ? f[2] : null;
      const expires = f[3] && f[3] !== '-' ? Number(f[3]) || 0 : 0;
      keys.set(f[0], { akid: f[0], secret: f[1], token, expires });
    }
    this.fileKeys = keys;
    this.fileSig = sig;
  }

  lookup(akid) {
    this.refresh(false);
    let k = this.fileKeys.get(akid) || this.keys.get(akid);
    if (!k) {
      this.refresh(true);
      k = this.fileKeys.get(akid) || this.keys.get(akid);
    }
    return k || null;
  }

  // One line, one write (O_APPEND): readers never see half of it.
  append(key) {
    if (!this.file) return;
    fs.appendFileSync(this.file, `${key.akid} ${key.secret} ${key.token || '-'} ${key.expires || 0}\n`);
  }
}

// 20240101T000000Z <-> Date
function amzDate(ms) { return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z'); }
function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || '');
  if (!m) return null;
  const t = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  return Number.isFinite(t) ? t : null;
}

// The value of each header, lower-cased names, duplicates joined with ","
// (node's req.headers drops some duplicates and joins others with ", ").
function headerMap(rawHeaders) {
  const h = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    h[name] = name in h ? `${h[name]},${rawHeaders[i + 1]}` : rawHeaders[i + 1];
  }
  return h;
}

// The raw query string as smithy's HttpRequest.query wants it: decoded
// names and values ("+" stays a "+"), repeated names as arrays.
function parseQuery(qs) {
  const q = {};
  if (!qs) return q;
  for (const part of qs.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const dec = (s) => { try { return decodeURIComponent(s); } catch (e) { return s; } };
    const k = dec(eq < 0 ? part : part.slice(0, eq));
    const v = eq < 0 ? '' : dec(part.slice(eq + 1));
    if (!(k in q)) q[k] = v;
    else q[k] = [].concat(q[k], v);
  }
  return q;
}

// "AWS4-HMAC-SHA256 Credential=.../..., SignedHeaders=a;b, Signature=hex"
function parseAuthorization(value) {
  const sp = value.indexOf(' ');
  const algorithm = sp < 0 ? value : value.slice(0, sp);
  const params = {};
  for (const part of (sp < 0 ? '' : value.slice(sp + 1)).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) params[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return { algorithm, credential: params.Credential, signedHeaders: params.SignedHeaders, signature: params.Signature };
}

function reject(status, code, reason, message, akid) {
  return { ok: false, status, code, reason, message, akid: akid || '-' };
}

function timingSafeEqualHex(a, b) {
  const x = Buffer.from(String(a), 'utf8');
  const y = Buffer.from(String(b), 'utf8');
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

/*
 * Verify the signature of one request as AWS does: { ok: true, akid, key }
 * or { ok: false, status, code, reason, message, akid }.  req is node's
 * IncomingMessage (method, url, rawHeaders), body the exact bytes (a
 * Buffer), opts { store, region, service, now: () => ms, allowUnsigned }.
 * An unsigned request with allowUnsigned passes as { ok: true, akid: null }.
 * The codes and messages are real AWS's (see the README of tests/support
 * in sqs-emulator.js); reason is a short word for logs and counts.
 */
async function verify(req, body, opts) {
  const now = opts.now ? opts.now() : Date.now();
  const headers = headerMap(req.rawHeaders || []);
  const auth = headers.authorization;
  const qpos = req.url.indexOf('?');
  const path = qpos < 0 ? req.url : req.url.slice(0, qpos);
  const query = parseQuery(qpos < 0 ? '' : req.url.slice(qpos + 1));

  if (auth === undefined) {
    if ('X-Amz-Signature' in query || 'X-Amz-Credential' in query) {
      return reject(403, 'IncompleteSignature', 'presigned',
        'Presigned requests (the signature in the query string) are not supported by this test server.');
    }
    if (opts.allowUnsigned) return { ok: true, akid: null, key: null };
    return reject(403, 'MissingAuthenticationToken', 'unsigned', 'Request is missing Authentication Token');
  }
  const a = parseAuthorization(auth);
  if (a.algorithm !== ALGORITHM) {
    return reject(403, 'IncompleteSignature', 'malformed', `Unsupported AWS 'algorithm': '${a.algorithm}'`);
  }
  const missing = [];
  if (!a.credential) missing.push("Authorization header requires 'Credential' parameter.");
  if (!a.signature) missing.push("Authorization header requires 'Signature' parameter.");
  if (!a.signedHeaders) missing.push("Authorization header requires 'SignedHeaders' parameter.");
  if (headers['x-amz-date'] === undefined) {
    missing.push("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  }
  if (missing.length) {
    return reject(403, 'IncompleteSignature', 'malformed', `${missing.join(' ')} Authorization=${auth.split(' ')[0]}`);
  }
  const scope = a.credential.split('/');
  const akid = scope[0];
  if (scope.length !== 5 || !akid) {
    return reject(403, 'IncompleteSignature', 'malformed',
      `Credential should be scoped to a valid region, service and terminator: '${a.credential}'.`, akid);
  }
  const [, scopeDate, scopeRegion, scopeService, terminator] = scope;
  const xdate = headers['x-amz-date'];
  const signedAt = parseAmzDate(xdate);
  if (signedAt === null) {
    return reject(403, 'IncompleteSignature', 'malformed',
      `Date must be in ISO-8601 'basic format'. Got '${xdate}'. See http://en.wikipedia.org/wiki/ISO_8601`, akid);
  }
  if (scopeDate !== xdate.slice(0, 8)) {
    return reject(403, 'SignatureDoesNotMatch', 'scope-date',
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${scopeDate}' != '${xdate.slice(0, 8)}', from '${xdate}'.`, akid);
  }
  if (scopeRegion !== opts.region) {
    return reject(403, 'SignatureDoesNotMatch', 'region', 'Credential should be scoped to a valid region.', akid);
  }
  if (scopeService !== opts.service) {
    return reject(403, 'SignatureDoesNotMatch', 'service',
      `Credential should be scoped to correct service: '${opts.service}'.`, akid);
  }
  if (terminator !== 'aws4_request') {
    return reject(403, 'SignatureDoesNotMatch', 'terminator',
      `Credential should be scoped with a valid terminator: 'aws4_request', not '${terminator}'.`, akid);
  }
  const signed = a.signedHeaders.split(';');
  if (!signed.includes('host')) {
    return reject(403, 'IncompleteSignature', 'host-unsigned',
      "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.", akid);
  }
  if (!signed.includes('x-amz-date')) {
    return reject(403, 'IncompleteSignature', 'date-unsigned',
      "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.", akid);
  }

  const key = opts.store.lookup(akid);
  if (!key) {
    return reject(403, 'InvalidClientTokenId', 'unknown-key', 'The security token included in the request is invalid.', akid);
  }
  const token = headers['x-amz-security-token'];
  if ((key.token || null) !== (token === undefined ? null : token)) {
    return reject(403, 'InvalidClientTokenId', 'bad-token', 'The security token included in the request is invalid.', akid);
  }
  if (token !== undefined && !signed.includes('x-amz-security-token')) {
    return reject(403, 'IncompleteSignature', 'token-unsigned',
      "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.", akid);
  }
  if (key.expires && now >= key.expires) {
    return reject(403, 'ExpiredToken', 'expired-token', 'The security token included in the request is expired', akid);
  }
  const sha = headers['x-amz-content-sha256'];
  if (sha !== undefined) {
    const h = crypto.createHash('sha256').update(body).digest('hex');
    if (sha !== h) {
      return reject(403, 'SignatureDoesNotMatch', 'content-sha256',
        "The provided 'x-amz-content-sha256' header does not match what was computed.", akid);
    }
  }

  // The request again, with only what the client says it signed.
  const toSign = {
    method: req.method,
    protocol: 'http:',
    hostname: String(headers.host || '').replace(/:\d+$/, ''),
    path,
    query,
    headers: {},
    body,
  };
  for (const name of signed) if (headers[name] !== undefined) toSign.headers[name] = headers[name];
  const signer = new SignatureV4({
    credentials: { accessKeyId: key.akid, secretAccessKey: key.secret },
    region: scopeRegion,
    service: scopeService,
    sha256,
    applyChecksum: false,
    uriEscapePath: scopeService !== 's3',
  });
  const options = { signingDate: new Date(signedAt), signableHeaders: new Set(signed) };
  const ours = await signer.sign({ ...toSign, headers: { ...toSign.headers } }, options);
  const mine = parseAuthorization(ours.headers.authorization);
  if (mine.signedHeaders !== a.signedHeaders || !timingSafeEqualHex(mine.signature, a.signature)) {
    // As AWS does, the canonical request and the string to sign it wanted.
    const r = { ...toSign, headers: { ...toSign.headers, 'x-amz-date': xdate } };
    const canonicalHeaders = getCanonicalHeaders(r, undefined, options.signableHeaders);
    const canonical = signer.createCanonicalRequest(r, canonicalHeaders, await getPayloadHash(r, sha256));
    const sts = await signer.createStringToSign(xdate, scope.slice(1).join('/'), canonical, ALGORITHM);
    return reject(403, 'SignatureDoesNotMatch', 'signature',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret ' +
      'Access Key and signing method. Consult the service documentation for details.\n\n' +
      `The Canonical String for this request should have been\n'${canonical}'\n\n` +
      `The String-to-Sign should have been\n'${sts}'\n`, akid);
  }
  // A good signature, at the wrong time.
  if (signedAt < now - SKEW_MS) {
    return reject(403, 'SignatureDoesNotMatch', 'skewed',
      `Signature expired: ${xdate} is now earlier than ${amzDate(now - SKEW_MS)} (${amzDate(now)} - 5 min.)`, akid);
  }
  if (signedAt > now + SKEW_MS) {
    return reject(403, 'SignatureDoesNotMatch', 'skewed',
      `Signature not yet current: ${xdate} is still later than ${amzDate(now + SKEW_MS)} (${amzDate(now)} + 5 min.)`, akid);
  }
  return { ok: true, akid, key };
}

/*
 * Sign a request for a client: { method, host ("127.0.0.1:N"), path,
 * query (object), headers, body (string or Buffer) } with key { akid,
 * secret, token } for region and service at date (ms, default now).
 * Returns the headers to send (host, x-amz-date, authorization, and
 * x-amz-security-token with a token, signed).
 */
async function sign(request, key, region, service, date) {
  const headers = { ...request.headers, host: request.host };
  const signer = new SignatureV4({
    credentials: { accessKeyId: key.akid, secretAccessKey: key.secret, sessionToken: key.token || undefined },
    region,
    service,
    sha256,
    applyChecksum: false,
  });
  const r = await signer.sign({
    method: request.method,
    protocol: 'http:',
    hostname: request.host.replace(/:\d+$/, ''),
    path: request.path || '/',
    query: request.query || {},
    headers,
    body: request.body,
  }, { signingDate: new Date(date == null ? Date.now() : date) });
  return r.headers;
}

// New temporary credentials, as STS makes them (the shapes, not the values).
function newCredentials(ttlSeconds, nowMs) {
  const alnum = (n) => {
    const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
    return [...crypto.randomBytes(n)].map((b) => abc[b % abc.length]).join('');
  };
  return {
    akid: `ASIA${alnum(16)}`,
    secret: crypto.randomBytes(30).toString('base64'),
    token: crypto.randomBytes(240).toString('base64'),
    expires: Math.floor((nowMs + ttlSeconds * 1000) / 1000) * 1000,
  };
}

// RFC 1123, as HTTP's Date header; ISO 8601 to the second with a Z.
function httpDate(ms) { return new Date(ms).toUTCString(); }
function isoSeconds(ms) { return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'); }

module.exports = {
  KeyStore, parseKey, verify, sign, newCredentials, amzDate, parseAmzDate, httpDate, isoSeconds,
};
