#!/usr/bin/env node
/*
 * Hostile clients for tests/integration/health-load.sh, in one process.
 *
 *   health-load.js --port N [--host H] [--idle N] [--slow N]
 *                  [--interval MS] [--seconds S]
 *
 * Holds --idle connections that send nothing and --slow slowloris clients
 * that send a request one byte every --interval ms (default 500) and
 * never finish it.  A connection the server closes is counted and opened
 * again at once, so the load stays while the test probes the port.
 * Prints "ready" once the first round of connections is established (or
 * refused), then every second and at exit (SIGTERM, or after --seconds)
 * one line of JSON:
 *   {"idle_open", "slow_open": connected now,
 *    "idle_closed", "slow_closed": closed by the server, in all,
 *    "idle_first_closed", "slow_first_closed": of the first round, how
 *        many the server has closed (each once),
 *    "slow_408": slowloris closes that came with a 408 response,
 *    "errors": connections refused or reset, "error": the last one's code,
 *    "slow_longest_ms": the longest a slowloris connection lived}
 */
'use strict';

const net = require('net');

const args = process.argv.slice(2);
function arg(name, dflt) {
    const i = args.indexOf('--' + name);
    return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
}
const port = Number(arg('port'));
const host = arg('host', '127.0.0.1');
const nIdle = Number(arg('idle', 0));
const nSlow = Number(arg('slow', 0));
const interval = Number(arg('interval', 500));
const seconds = Number(arg('seconds', 0));
if (!port) {
    console.error('usage: health-load.js --port N [--idle N] [--slow N]');
    process.exit(2);
}

/* Every byte of a request that is never complete: no blank line. */
const REQUEST = 'GET /livez HTTP/1.1\r\nHost: x\r\nX-Padding: ' + 'a'.repeat(4096);
const st = {
    idle_open: 0, slow_open: 0, idle_closed: 0, slow_closed: 0,
    idle_first_closed: 0, slow_first_closed: 0, slow_408: 0,
    errors: 0, error: null, slow_longest_ms: 0,
};
let stopping = false;
let pending = nIdle + nSlow;	/* first-round connects not yet settled */
const slow = new Set();

function settled() {
    if (pending > 0 && --pending === 0)
        console.log('ready');
}

function open(kind, first) {
    const s = net.connect({ port, host });
    let connected = false, closedByServer = false, got408 = false, t0 = 0;
    s.setNoDelay(true);
    s.on('connect', () => {
        connected = true;
        t0 = Date.now();
        st[kind + '_open']++;
        if (kind === 'slow') {
            s.sent = 0;
            slow.add(s);
        }
        if (first)
            settled();
    });
    s.on('data', (d) => {
        if (d.toString('latin1').startsWith('HTTP/1.1 408 '))
            got408 = true;
    });
    s.on('end', () => { closedByServer = true; });
    s.on('error', (e) => {
        if (e.code === 'ECONNRESET')
            closedByServer = true;
        else {
            st.errors++;
            st.error = e.code;
        }
    });
    s.on('close', () => {
        slow.delete(s);
        if (connected) {
            st[kind + '_open']--;
            if (closedByServer) {
                st[kind + '_closed']++;
                if (first)
                    st[kind + '_first_closed']++;
                if (kind === 'slow') {
                    if (got408)
                        st.slow_408++;
                    st.slow_longest_ms = Math.max(st.slow_longest_ms, Date.now() - t0);
                }
            }
        } else if (first)
            settled();
        if (!stopping)
            setTimeout(() => open(kind, false), connected ? 0 : 100);
    });
}

setInterval(() => {
    for (const s of slow) {
        if (s.sent < REQUEST.length)
            s.write(REQUEST[s.sent++]);
    }
}, interval);

function report() { console.log(JSON.stringify(st)); }
setInterval(report, 1000);

function stop() {
    stopping = true;
    report();
    process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (seconds > 0)
    setTimeout(stop, seconds * 1000);

if (pending === 0)
    console.log('ready');
for (let i = 0; i < nIdle; i++)
    open('idle', true);
for (let i = 0; i < nSlow; i++)
    open('slow', true);
