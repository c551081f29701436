// Keeps a local copy of every key under the cluster prefix: one linearizable range read, then a
// watch from the next revision. After any watch error the copy is rebuilt from a fresh read and the
// watch re-established, so a lost event can never leave the agent deciding on a stale picture.
import type { Etcd3, Watcher, IWatchResponse, IKeyValue } from 'etcd3';
import type { KvEntry } from './view.js';

export interface WatchListener {
  changed(kvs: ReadonlyMap<string, KvEntry>, revision: number): void;
  trouble(what: string): void;
}

export class PrefixWatcher {
  readonly kvs = new Map<string, KvEntry>();
  revision = 0;
  private watcher: Watcher | undefined;
  private closed = false;
  private resyncTimer: NodeJS.Timeout | undefined;
  synced = false;

  constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
    private readonly listener: WatchListener,
  ) {}

  async start(): Promise<void> {
    await this.resync();
  }

  close(): void {
    this.closed = true;
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    void this.watcher?.cancel().catch(() => undefined);
  }

  private async resync(): Promise<void> {
    if (this.closed) return;
    const old = this.watcher;
    this.watcher = undefined;
    if (old) void old.cancel().catch(() => undefined);
    try {
      const res = await this.client.getAll().prefix(this.prefix).exec();
      this.kvs.clear();
      for (const kv of res.kvs) this.kvs.set(kv.key.toString(), toEntry(kv));
      this.revision = Number(res.header.revision);
      const watcher = await this.client
        .watch()
        .prefix(this.prefix)
        .startRevision(String(this.revision + 1))
        .create();
      if (this.closed) {
        void watcher.cancel().catch(() => undefined);
        return;
      }
      this.watcher = watcher;
      watcher.on('data', (r: IWatchResponse) => this.onData(watcher, r));
      watcher.on('error', (err: Error) => this.onTrouble(watcher, `watch error: ${err.message.split('\n')[0]}`));
      watcher.on('disconnected', (err: Error) => this.onTrouble(watcher, `watch disconnected: ${err.message.split('\n')[0]}`));
      this.synced = true;
      this.listener.changed(this.kvs, this.revision);
    } catch (err) {
      this.listener.trouble(`cluster read failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
      this.scheduleResync(250);
    }
  }

  private onData(watcher: Watcher, res: IWatchResponse): void {
    if (watcher !== this.watcher) return;
    let changed = false;
    for (const ev of res.events) {
      const key = ev.kv.key.toString();
      if (ev.type === 'Delete') this.kvs.delete(key);
      else this.kvs.set(key, toEntry(ev.kv));
      changed = true;
    }
    const revision = Number(res.header.revision);
    if (revision > this.revision) this.revision = revision;
    if (changed) this.listener.changed(this.kvs, this.revision);
  }

  private onTrouble(watcher: Watcher, what: string): void {
    if (watcher !== this.watcher) return;
    this.listener.trouble(what);
    this.scheduleResync(100);
  }

  private scheduleResync(delayMs: number): void {
    if (this.closed || this.resyncTimer) return;
    this.resyncTimer = setTimeout(() => {
      this.resyncTimer = undefined;
      void this.resync();
    }, delayMs);
  }
}

function toEntry(kv: IKeyValue): KvEntry {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
    lease: String(kv.lease),
  };
}
