#!/usr/bin/env node
/*
 * An HTTPS front for a plain HTTP test server (the SQS emulator): what a
 * real queue endpoint looks like to the daemon, with the tests' own CA, so
 * that AWS_CA_BUNDLE and HTTPS_PROXY (CONNECT) can be tested on loopback.
 *
 *   node tests/support/tls-front.js --port N --cert FILE --key FILE
 *        --target http://127.0.0.1:M
 *
 * Listens on 127.0.0.1 (--port 0 picks a port), prints "ready
 * https://localhost:N" once it serves, and forwards every request as it
 * came (method, path, headers with Host, body) to --target, and the answer
 * back; a client that goes away ends its request upstream.  Runs until
 * SIGTERM or SIGINT (exit 0).
 */
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');

function usage() {
    process.stderr.write('usage: tls-front.js --port N --cert FILE --key FILE --target URL\n');
    process.exit(64);
}

const opt = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i], v = argv[i + 1];
    if (v === undefined || !['--port', '--cert', '--key', '--target'].includes(k))
        usage();
    opt[k.slice(2)] = v;
}
if (opt.port === undefined || !opt.cert || !opt.key || !opt.target)
    usage();
const target = new URL(opt.target);

const server = https.createServer({
    cert: fs.readFileSync(opt.cert),
    key: fs.readFileSync(opt.key),
}, (req, res) => {
    const up = http.request({
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
    }, (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
    });
    up.on('error', (e) => {
        if (res.headersSent || res.destroyed)
            return;
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`tls-front: ${e.message}\n`);
    });
    /*
     * A client gone (the daemon stopped during a long poll) ends the
     * request upstream too: a ReceiveMessage left waiting there would
     * take the next message and hide it from everyone.
     */
    res.on('close', () => {
        if (!res.writableFinished)
            up.destroy();
    });
    req.pipe(up);
});
server.listen(Number(opt.port), '127.0.0.1', () => {
    process.stdout.write(`ready https://localhost:${server.address().port}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT'])
    process.on(sig, () => server.close(() => process.exit(0)));
