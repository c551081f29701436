// The event history: every decision that changes a set, a node or an intent is appended under
// events/, with the reason a person reads (`hactl events`) and a stable cause code programs read
// (agent/core/causes.ts; `hactl report` classifies outages by it). Keys sort by time: the wall-clock
// milliseconds, then the node and a per-process sequence number, so agents never collide.
import type { Etcd3 } from 'etcd3';
import type { Keys } from '../etcd/keys.js';
import type { Clock } from '../ports/clock.js';
import type { Cause } from '../core/causes.js';

/** An event as stored. Records written before cause codes existed have no `cause`. */
export interface EventRecord {
  atWallMs: number;
  node: string;
  set?: string;
  what: string;
  reason: string;
  /** Why (agent/core/causes.ts). Read it with a fallback: older records lack it, newer may hold codes this version does not know. */
  cause?: Cause;
  token?: number | null;
  resource?: string;
  rc?: number;
  /** Identical events folded into this record (absent: 1), the last of them at `lastAtWallMs`. */
  count?: number;
  lastAtWallMs?: number;
}

/** An event as written by this version: the cause is required. */
export type NewEventRecord = EventRecord & { cause: Cause };

/** Trim the history after this many appends by this agent (and once at start). */
const TRIM_EVERY_APPENDS = 50;
/**
 * Events that could not be written (etcd unreachable) are kept, at most this many (the oldest are
 * dropped first, and the loss is recorded), and written when etcd answers again: an outage must
 * leave a trace. Their keys and times are those of the moment they happened.
 */
const MAX_QUEUED = 1000;
const RETRY_MS = 500;
/**
 * An event identical to one this agent appended less than this long ago (same set, resource,
 * kind, cause, reason, token and rc) is folded into that record — its count and last time — instead of
 * adding a record: a failure that repeats must not push the rest of the history out.
 */
const FOLD_WINDOW_MS = 10 * 60_000;
/** How many distinct recent events are remembered for folding. */
const FOLD_MEMORY = 64;

export class EventLog {
  private seq = 0;
  private appendsSinceTrim = TRIM_EVERY_APPENDS;
  private readonly queue: { key: string; record: EventRecord }[] = [];
  private dropped = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private flushing = false;
  /** Recent events by their identity (JSON of what makes two events the same), oldest first. */
  private readonly recent = new Map<string, { key: string; record: NewEventRecord }>();
  /** Retention from the cluster configuration (`events.retain`, `events.maxAge`). */
  retention: { retain: number; maxAgeMs: number } = { retain: 1000, maxAgeMs: 30 * 86_400_000 };
  constructor(
    private readonly client: Etcd3,
    private readonly keys: Keys,
    private readonly node: string,
    private readonly clock: Clock,
  ) {}

  /**
   * Appends an event; failures are returned, not thrown (history must never stop a failover). An
   * event that could not be written is queued and written later (see flush).
   */
  async append(event: Omit<NewEventRecord, 'atWallMs' | 'node' | 'count' | 'lastAtWallMs'>): Promise<boolean> {
    const atWallMs = this.clock.wallMs();
    const identity = JSON.stringify([event.set, event.resource, event.what, event.cause, event.reason, event.token, event.rc]);
    const earlier = this.recent.get(identity);
    this.recent.delete(identity);
    let key: string;
    let record: NewEventRecord;
    if (earlier && atWallMs - (earlier.record.lastAtWallMs ?? earlier.record.atWallMs) < FOLD_WINDOW_MS) {
      key = earlier.key;
      record = { ...earlier.record, count: (earlier.record.count ?? 1) + 1, lastAtWallMs: atWallMs };
    } else {
      key = this.keys.event(eventKeySuffix(atWallMs, this.node, this.seq++));
      record = { atWallMs, node: this.node, ...event };
    }
    this.recent.set(identity, { key, record });
    if (this.recent.size > FOLD_MEMORY) this.recent.delete(this.recent.keys().next().value as string);
    try {
      await this.client.put(key).value(JSON.stringify(record)).exec();
    } catch {
      this.enqueue(key, record);
      return false;
    }
    if (record.count !== undefined) return true; // folded: the history did not grow
    if (++this.appendsSinceTrim >= TRIM_EVERY_APPENDS) {
      this.appendsSinceTrim = 0;
      await this.trim().catch(() => undefined);
    }
    return true;
  }

  /** Events waiting to be written. */
  get queued(): number {
    return this.queue.length;
  }

  /**
   * Writes the queued events, oldest first, until one fails (then retries later). Called on a
   * timer while events wait, and by the agent as soon as its lease is renewed again.
   */
  async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      if (this.dropped > 0) {
        const atWallMs = this.clock.wallMs();
        const record: NewEventRecord = { atWallMs, node: this.node, what: 'events-lost', cause: 'events-dropped', reason: `${this.dropped} events of ${this.node} could not be written while etcd was unreachable and were dropped` };
        const key = this.keys.event(eventKeySuffix(atWallMs, this.node, this.seq++));
        await this.client.put(key).value(JSON.stringify(record)).exec();
        this.dropped = 0;
      }
      while (this.queue.length > 0) {
        const { key, record } = this.queue[0];
        await this.client.put(key).value(JSON.stringify(record)).exec();
        this.queue.shift();
      }
    } catch {
      this.scheduleRetry();
    } finally {
      this.flushing = false;
    }
  }

  private enqueue(key: string, record: EventRecord): void {
    this.queue.push({ key, record });
    while (this.queue.length > MAX_QUEUED) {
      this.queue.shift();
      this.dropped++;
    }
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.flush();
    }, RETRY_MS);
    this.retryTimer.unref(); // a queue never keeps a stopping agent alive
  }

  /**
   * Keeps at most `retain` events, none older than `maxAge`. Any agent may trim; concurrent trims
   * delete the same oldest keys, which is harmless. Keys sort by time, so both are range deletes.
   */
  async trim(): Promise<void> {
    const prefix = this.keys.eventsPrefix();
    const oldestAllowed = prefix + eventKeySuffix(Math.max(0, this.clock.wallMs() - this.retention.maxAgeMs), '', 0).slice(0, 15);
    await this.client.delete().inRange({ start: prefix, end: oldestAllowed }).exec();
    const count = await this.client.getAll().prefix(prefix).count();
    const excess = count - this.retention.retain;
    if (excess <= 0) return;
    const oldest = await this.client.getAll().prefix(prefix).sort('Key', 'Ascend').limit(excess + 1).keys();
    const cut = oldest[excess];
    if (cut !== undefined) await this.client.delete().inRange({ start: prefix, end: cut }).exec();
  }
}

export function eventKeySuffix(atWallMs: number, node: string, seq: number): string {
  return `${String(atWallMs).padStart(15, '0')}-${node}-${String(seq).padStart(6, '0')}`;
}
