// A nameserver that never answers, for the tests of a dead resolver
// (lib.sh's start_dead_dns): it reads DNS queries over UDP and TCP on
// ADDR:53 and drops every one.  Prints "ready" once both sockets are
// bound, "busy <code>" (exit 2) when the address is taken, and "query
// udp" or "query tcp" for each query it swallows.
'use strict';
const dgram = require('dgram');
const net = require('net');
const addr = process.argv[2];
const busy = (e) => { console.log(`busy ${e.code}`); process.exit(2); };
const udp = dgram.createSocket('udp4');
udp.on('error', busy);
udp.on('message', () => console.log('query udp'));
udp.bind(53, addr, () => {
  const tcp = net.createServer((s) => {
    s.on('error', () => {});
    s.on('data', () => console.log('query tcp'));
  });
  tcp.on('error', busy);
  tcp.listen(53, addr, () => console.log('ready'));
});
