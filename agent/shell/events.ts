// The event history: every decision that changes a set, a node or an intent is appended under
// events/, with the reason a person reads (`hactl events`). Keys sort by time: the wall-clock
// milliseconds, then the node and a per-process sequence number, so agents never collide.
import type { Etcd3 } from 'etcd3';
import type { Keys } from '../etcd/keys.js';
import type { Clock } from './clock.js';

export interface EventRecord {
  atWallMs: number;
  node: string;
  set?: string;
  what: string;
  reason: string;
  token?: number | null;
  resource?: string;
  rc?: number;
}

export class EventLog {
  private seq = 0;
  constructor(
    private readonly client: Etcd3,
    private readonly keys: Keys,
    private readonly node: string,
    private readonly clock: Clock,
  ) {}

  /** Appends an event; failures are returned, not thrown (history must never stop a failover). */
  async append(event: Omit<EventRecord, 'atWallMs' | 'node'>): Promise<boolean> {
    const atWallMs = this.clock.wallMs();
    const record: EventRecord = { atWallMs, node: this.node, ...event };
    const key = this.keys.event(eventKeySuffix(atWallMs, this.node, this.seq++));
    try {
      await this.client.put(key).value(JSON.stringify(record)).exec();
      return true;
    } catch {
      return false;
    }
  }
}

export function eventKeySuffix(atWallMs: number, node: string, seq: number): string {
  return `${String(atWallMs).padStart(15, '0')}-${node}-${String(seq).padStart(6, '0')}`;
}
