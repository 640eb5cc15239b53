#!/usr/bin/env node
/*
 * An HTTP proxy for the tests of HTTPS_PROXY, HTTP_PROXY and NO_PROXY, on
 * 127.0.0.1, that reaches loopback targets only:
 *
 *   node tests/support/connect-proxy.js --port N [--auth USER:PASS]
 *
 * --port 0 picks a free port.  Prints "ready http://127.0.0.1:N" once it
 * serves; runs until SIGTERM or SIGINT (exit 0).
 * - "CONNECT host:port": a tunnel (200 Connection Established, then bytes
 *   both ways), as curl opens for https:// through a proxy;
 * - "GET http://host:port/path" (any method, an absolute URI): the request
 *   forwarded, hop-by-hop and Proxy-* headers dropped, the answer streamed
 *   back;
 * - a request in origin form ("GET /path"): 400.
 * A target other than 127.0.0.0/8, ::1 or localhost is refused with 403,
 * with no name looked up.  With --auth, requests without
 * "Proxy-Authorization: Basic base64(USER:PASS)" get 407 and
 * Proxy-Authenticate.  One line per request on stdout, as it arrives:
 * "CONNECT 127.0.0.1:1234" or "POST http://127.0.0.1:1234/", with
 * " refused" (403), " unauthorized" (407) or " failed" (no connection to
 * the target: 502) after it when so.
 */
'use strict';

const http = require('http');
const net = require('net');

function usage(msg) {
  if (msg) console.error(`connect-proxy: ${msg}`);
  console.error('usage: connect-proxy.js --port N [--auth USER:PASS]');
  process.exit(64);
}

const opts = { port: null, auth: null };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
  if (a === '--port') opts.port = val();
  else if (a === '--auth') opts.auth = val();
  else usage(`unknown argument ${a}`);
}
if (opts.port === null || !/^\d+$/.test(opts.port) || +opts.port > 65535) usage('--port N is required');
if (opts.auth !== null && !opts.auth.includes(':')) usage('--auth takes USER:PASS');
const wantAuth = opts.auth === null ? null : `Basic ${Buffer.from(opts.auth).toString('base64')}`;

// Loopback, by its literal address (or "localhost"): nothing is resolved.
function loopback(host) {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  return net.isIPv4(h) && h.split('.')[0] === '127';
}
// "host:port" or "[v6]:port" -> { host, port } (host without brackets).
function splitHostPort(s) {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(s || '');
  if (!m || +m[2] < 1 || +m[2] > 65535) return null;
  return { host: m[1].replace(/^\[(.*)\]$/, '$1'), port: +m[2] };
}

function authorized(req) {
  return wantAuth === null || req.headers['proxy-authorization'] === wantAuth;
}

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization',
  'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

const server = http.createServer((req, res) => {
  let url;
  try { url = new URL(req.url); } catch (e) { url = null; }
  const line = `${req.method} ${req.url}`;
  const answer = (status, text, extra) => {
    res.writeHead(status, { 'Content-Type': 'text/plain', Connection: 'close', ...(extra || {}) });
    res.end(`${text}\n`);
  };
  if (!url || url.protocol !== 'http:') {
    console.log(`${line} refused`);
    return answer(400, 'connect-proxy: an absolute http:// URI, or CONNECT');
  }
  if (!authorized(req)) {
    console.log(`${line} unauthorized`);
    return answer(407, 'connect-proxy: proxy authentication required',
      { 'Proxy-Authenticate': 'Basic realm="connect-proxy"' });
  }
  if (!loopback(url.hostname)) {
    console.log(`${line} refused`);
    return answer(403, `connect-proxy: ${url.hostname} is not a loopback address`);
  }
  const headers = {};
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i];
    if (HOP.has(name.toLowerCase())) continue;
    headers[name] = name in headers ? [].concat(headers[name], req.rawHeaders[i + 1]) : req.rawHeaders[i + 1];
  }
  let logged = false;
  const up = http.request({
    host: url.hostname === 'localhost' ? '127.0.0.1' : url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port || 80,
    method: req.method,
    path: `${url.pathname}${url.search}`,
    headers,
    setHost: false,
  }, (r) => {
    if (!logged) { console.log(line); logged = true; }
    const h = {};
    for (let i = 0; i + 1 < r.rawHeaders.length; i += 2) {
      const name = r.rawHeaders[i];
      if (HOP.has(name.toLowerCase())) continue;
      h[name] = name in h ? [].concat(h[name], r.rawHeaders[i + 1]) : r.rawHeaders[i + 1];
    }
    res.writeHead(r.statusCode, r.statusMessage, h);
    r.pipe(res);
  });
  up.on('error', (e) => {
    if (!logged) { console.log(`${line} failed`); logged = true; }
    if (!res.headersSent) answer(502, `connect-proxy: ${e.code || e.message}`);
    else res.destroy();
  });
  req.pipe(up);
  return undefined;
});

server.on('connect', (req, client, head) => {
  const line = `CONNECT ${req.url}`;
  const answer = (status, text, extra) => {
    client.end(`HTTP/1.1 ${status} ${text}\r\n${extra || ''}Content-Length: 0\r\nConnection: close\r\n\r\n`);
  };
  client.on('error', () => {});
  const t = splitHostPort(req.url);
  if (!t) {
    console.log(`${line} refused`);
    return answer(400, 'Bad Request');
  }
  if (!authorized(req)) {
    console.log(`${line} unauthorized`);
    return answer(407, 'Proxy Authentication Required', 'Proxy-Authenticate: Basic realm="connect-proxy"\r\n');
  }
  if (!loopback(t.host)) {
    console.log(`${line} refused`);
    return answer(403, 'Forbidden');
  }
  let tunnel = false;
  const up = net.connect(t.port, t.host === 'localhost' ? '127.0.0.1' : t.host);
  up.once('connect', () => {
    tunnel = true;
    console.log(line);
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head && head.length) up.write(head);
    up.pipe(client);
    client.pipe(up);
  });
  up.on('error', () => {
    if (tunnel) return client.destroy();
    console.log(`${line} failed`);
    return answer(502, 'Bad Gateway');
  });
  client.on('close', () => up.destroy());
  up.on('close', () => { if (tunnel) client.destroy(); });
  return undefined;
});

server.on('clientError', (e, socket) => {
  if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
});
server.on('error', (e) => {
  console.error(`connect-proxy: ${e.message}`);
  process.exit(1);
});
server.listen(+opts.port, '127.0.0.1', () => {
  console.log(`ready http://127.0.0.1:${server.address().port}`);
});
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
