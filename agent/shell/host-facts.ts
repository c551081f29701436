// Facts about this host, published in its node record (SPEC: "a lease-bound node key with facts
// from systeminformation"). Gathered once at start-up, bounded in time, and only after the lease
// is resumed or granted: a restarted agent must renew its lease before its peers suspect it (1 s
// at leaseTtl 2 s), and systeminformation loads slowly and runs child processes — synchronously,
// so it runs in a worker thread (host-facts-worker.ts) and never blocks the agent's event loop.
import { hostname } from 'node:os';
import { Worker } from 'node:worker_threads';

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

/** The facts; only hostname and Node version when the worker fails or takes longer than `timeoutMs`. */
export async function gatherHostFacts(timeoutMs = 30_000): Promise<HostFacts> {
  const base: HostFacts = { hostname: hostname(), nodeVersion: process.version };
  let worker: Worker;
  try {
    worker = new Worker(new URL('./host-facts-worker.js', import.meta.url));
  } catch {
    return base;
  }
  return new Promise<HostFacts>((resolve) => {
    const done = (facts: HostFacts): void => {
      clearTimeout(timer);
      resolve(facts);
      void worker.terminate();
    };
    const timer = setTimeout(() => done(base), timeoutMs);
    worker.once('message', (m: Omit<HostFacts, 'hostname' | 'nodeVersion'>) => done({ ...base, ...m }));
    worker.once('error', () => done(base));
    worker.once('exit', () => done(base));
  });
}
