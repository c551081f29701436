// Records every change of a set's owner key as seen by an outside watcher, with wall-clock times:
// evidence of when etcd expired a lease and when a new owner took over.
import type { Etcd3, Watcher } from 'etcd3';

export interface OwnerEvent {
  type: 'put' | 'delete';
  node?: string;
  revision: number;
  createRevision: number;
  atWallMs: number;
}

export async function watchOwner(client: Etcd3, key: string): Promise<{ events: OwnerEvent[]; close(): Promise<void> }> {
  const events: OwnerEvent[] = [];
  const watcher: Watcher = await client.watch().key(key).create();
  watcher.on('put', (kv) => {
    let node: string | undefined;
    try {
      node = (JSON.parse(kv.value.toString()) as { node?: string }).node;
    } catch {
      node = undefined;
    }
    events.push({ type: 'put', node, revision: Number(kv.mod_revision), createRevision: Number(kv.create_revision), atWallMs: Date.now() });
  });
  watcher.on('delete', (kv) => events.push({ type: 'delete', revision: Number(kv.mod_revision), createRevision: 0, atWallMs: Date.now() }));
  return { events, close: () => watcher.cancel() };
}
