// The systeminformation half of the host facts (host-facts.ts), run in a worker thread: on Linux
// its calls run child processes synchronously (`ip`, `nmcli`, `hostname`, ... through its blocking exec), which in
// the agent's thread would stop its event loop — lease keepalives included — for as long. Here they
// stop only this thread. Posts one message with the facts, then ends.
import { parentPort } from 'node:worker_threads';
import si from 'systeminformation';
import type { HostFacts } from './host-facts.js';

const [os, cpu, mem, nets] = await Promise.all([si.osInfo(), si.cpu(), si.mem(), si.networkInterfaces()]);
const list = Array.isArray(nets) ? nets : [nets];
const interfaces = new Map<string, { name: string; ip4: string[]; ip6: string[] }>();
for (const n of list) {
  if (n.internal) continue;
  const entry = interfaces.get(n.iface) ?? { name: n.iface, ip4: [], ip6: [] };
  if (n.ip4) entry.ip4.push(n.ip4);
  if (n.ip6) entry.ip6.push(n.ip6);
  interfaces.set(n.iface, entry);
}
const facts: Omit<HostFacts, 'hostname' | 'nodeVersion'> = {
  os: `${os.distro} ${os.release}`.trim(),
  kernel: os.kernel,
  arch: os.arch,
  cpus: cpu.cores,
  memTotalMb: Math.round(mem.total / 1048576),
  interfaces: [...interfaces.values()],
};
parentPort?.postMessage(facts);
