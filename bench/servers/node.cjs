// The node:net / node:dgram servers of `npm run bench`, for the same
// workloads as bsd.cjs: node node.cjs WORKLOAD. Binds 127.0.0.1 port 0,
// prints the port, serves until killed (120 s at most).
'use strict';
const net = require('node:net');
const dgram = require('node:dgram');
require('./control.cjs');

const workload = process.argv[2];
setTimeout(() => process.exit(0), 120_000).unref();
const ready = (port) => process.stdout.write(`${port}\n`);

if (workload === 'udp') {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
  sock.bind(0, '127.0.0.1', () => ready(sock.address().port));
} else {
  const server = net.createServer({ noDelay: true }, (conn) => {
    if (workload === 'connrate') return void conn.destroy();
    if (workload === 'bulk') {
      conn.on('data', () => {});
      conn.on('end', () => conn.end('!'));
      return;
    }
    conn.on('data', (chunk) => conn.write(chunk));
    conn.on('error', () => conn.destroy());
  });
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => ready(server.address().port));
}
