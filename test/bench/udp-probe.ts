// The client side and the service side of "the floating IP answers from the new host", run inside
// namespace hosts (the keepalived/Pacemaker timings in shared/reference/peers-lab were taken the
// same way):
//   node udp-probe.js respond NAME PORT   on every agent host: answers each datagram with NAME. It
//                                         binds the wildcard address, so it only ever sees traffic
//                                         for the floating IP while that address is on its host.
//   node udp-probe.js probe IP PORT       on the client host: a datagram every 10 ms to IP:PORT;
//                                         prints "<wall ms> <NAME>" for each answer. The client has
//                                         a stock neighbour table, so a new host only answers once
//                                         its gratuitous ARP moved the client's entry.
// Both run until killed (the prober also ends when its stdout closes), and at the latest after
// MAX_LIFETIME_MS: a bench that died without killing them leaves nothing sending for long.
import { createSocket } from 'node:dgram';
import { pathToFileURL } from 'node:url';

const PROBE_EVERY_MS = 10;
const MAX_LIFETIME_MS = 15 * 60_000;

function respond(name: string, port: number): void {
  const s = createSocket('udp4');
  s.on('message', (_msg, rinfo) => s.send(name, rinfo.port, rinfo.address));
  s.bind(port, '0.0.0.0');
}

function probe(ip: string, port: number): void {
  const s = createSocket('udp4');
  s.on('error', () => undefined);
  s.on('message', (msg) => process.stdout.write(`${Date.now()} ${msg.toString()}\n`));
  process.stdout.on('error', () => process.exit(0));
  let seq = 0;
  // A send to an address nobody answers fails asynchronously (EHOSTUNREACH once ARP gave up): ignore.
  setInterval(() => s.send(String(seq++), port, ip, () => undefined), PROBE_EVERY_MS);
}

export function main(argv: string[]): void {
  const [mode, a, b] = argv;
  setTimeout(() => process.exit(0), MAX_LIFETIME_MS).unref();
  if (mode === 'respond' && a && b) respond(a, Number(b));
  else if (mode === 'probe' && a && b) probe(a, Number(b));
  else {
    process.stderr.write('usage: udp-probe respond NAME PORT | probe IP PORT\n');
    process.exit(2);
  }
}

if (!process.env.NODE_TEST_CONTEXT && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main(process.argv.slice(2));
