// Facts about this host, published in its node record (SPEC: "a lease-bound node key with facts
// from systeminformation"). Gathered once at start-up, asynchronously, bounded in time, and only
// after the lease is resumed or granted: a restarted agent must renew its lease before its peers
// suspect it (1 s at leaseTtl 2 s), and systeminformation both loads slowly and spawns processes.
// It is imported here, when the facts are gathered, so loading it is not on the start-up path.
import { hostname } from 'node:os';

export interface HostFacts {
  hostname: string;
  os?: string;
  kernel?: string;
  arch?: string;
  cpus?: number;
  memTotalMb?: number;
  nodeVersion: string;
  interfaces?: { name: string; ip4: string[]; ip6: string[] }[];
}

export async function gatherHostFacts(timeoutMs = 2000): Promise<HostFacts> {
  const base: HostFacts = { hostname: hostname(), nodeVersion: process.version };
  const probe = (async (): Promise<HostFacts> => {
    const { default: si } = await import('systeminformation');
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
    return {
      ...base,
      os: `${os.distro} ${os.release}`.trim(),
      kernel: os.kernel,
      arch: os.arch,
      cpus: cpu.cores,
      memTotalMb: Math.round(mem.total / 1048576),
      interfaces: [...interfaces.values()],
    };
  })();
  const timeout = new Promise<HostFacts>((resolve) => setTimeout(() => resolve(base), timeoutMs).unref());
  try {
    return await Promise.race([probe, timeout]);
  } catch {
    return base;
  }
}
