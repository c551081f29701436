// Following the cluster as it changes: one etcd watch on the cluster prefix (PrefixWatcher: a
// range read, then a watch from the next revision, rebuilt after any error), and the status
// computed from its copy of the keys. `status --watch` and `failover/move --wait` use it, so they
// react to changes as they happen instead of polling etcd on a timer.
import { PrefixWatcher } from '../agent/etcd/watcher.js';
import type { KvEntry } from '../agent/etcd/view.js';
import type { Session } from './connect.js';
import { statusFromKvs, type ClusterStatus } from './status-model.js';

export interface Following {
  close(): void;
}

/**
 * Calls `onStatus` with the status at start and after every change. Bursts of changes (one
 * switchover writes several keys) are folded into one call `settleMs` after the first of them.
 */
export async function followStatus(session: Session, onStatus: (s: ClusterStatus, kvs: ReadonlyMap<string, KvEntry>) => void, onTrouble: (what: string) => void, settleMs = 20): Promise<Following> {
  let timer: NodeJS.Timeout | undefined;
  const watcher = new PrefixWatcher(session.client, session.keys.prefix, {
    changed: (kvs, revision) => {
      if (timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        onStatus(statusFromKvs(kvs, watcher.revision || revision, session.keys, session.config.cluster, Date.now()), kvs);
      }, settleMs);
    },
    trouble: onTrouble,
  });
  await watcher.start();
  return {
    close() {
      if (timer) clearTimeout(timer);
      watcher.close();
    },
  };
}
