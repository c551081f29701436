// Test harness: a real etcd (the installed binary) started for a test, on free loopback ports, in
// a temp directory, always cleaned up — after the test, and on SIGINT/SIGTERM or exit of the test
// process — by PID.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcdCluster, type EtcdCluster } from '../../cli/dev/etcd-process.js';
import { registerCleanup } from './cleanup.js';

export interface TestEtcd extends EtcdCluster {
  dir: string;
  /** Stops every member and removes the data directory. Idempotent. */
  dispose(): Promise<void>;
}

/** A single member (size 1) or a cluster of `size` members on loopback. */
export async function startTestEtcd(size = 1): Promise<TestEtcd> {
  const dir = await mkdtemp(join(tmpdir(), 'hactl-test-etcd-'));
  let cluster: EtcdCluster;
  try {
    cluster = await startEtcdCluster(dir, size, `hactl-test-${process.pid}`);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  let disposed = false;
  const dispose = async (): Promise<void> => {
    if (disposed) return;
    disposed = true;
    unregister();
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  };
  const unregister = registerCleanup(dispose, () => {
    for (const m of cluster.members) if (m.process?.pid) tryKill(m.process.pid);
  });
  return Object.assign(cluster, { dir, dispose });
}

function tryKill(pid: number): void {
  try {
    process.kill(pid, 'SIGCONT');
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}
