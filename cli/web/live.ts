// What the console shows, kept current by one etcd watch (cli/follow.ts: a range read, then a watch
// on the cluster prefix). Every change becomes one snapshot — the status of `hactl status` (same
// model, cli/status-model.ts, with lease health), the bans, the event history and the availability
// figures of `hactl report` (cli/availability.ts) — pushed to every open page. Nothing polls.
import type { KvEntry } from '../../agent/etcd/view.js';
import { computeAvailability, historyFromKvs, type AvailabilityReport, type HistoryEvent } from '../availability.js';
import type { Session } from '../connect.js';
import { followStatus, type Following } from '../follow.js';
import { addLeaseHealth, type ClusterStatus } from '../status-model.js';

/** How many of the newest events a page gets (the availability figures use the whole history). */
export const EVENTS_SHOWN = 500;
/** The target the availability view measures the downtime budget against (as `hactl report`). */
const TARGET_PERCENT = 99.99;

export interface BanView {
  set: string;
  node: string;
  /** null: until `hactl clear`. */
  until: string | null;
  reason: string;
  operator: boolean;
}

export interface Snapshot {
  cluster: string;
  /** The etcd identity the console acts as (user name or certificate CN), if known. */
  identity: string | null;
  atWallMs: number;
  status: ClusterStatus;
  bans: BanView[];
  /** Newest first, at most EVENTS_SHOWN. */
  events: (HistoryEvent & { at: string })[];
  eventsTotal: number;
  availability: AvailabilityReport;
  /** The last watch trouble, until the next good read. */
  trouble: string | null;
}

/** Bans still in force, from the `bans/<set>/<node>` keys. */
export function bansFromKvs(kvs: ReadonlyMap<string, KvEntry>, prefix: string, nowMs: number): BanView[] {
  const out: BanView[] = [];
  for (const [key, kv] of kvs) {
    if (!key.startsWith(`${prefix}bans/`)) continue;
    const [set, node] = key.slice(prefix.length + 'bans/'.length).split('/');
    if (!set || !node) continue;
    let v: { untilWallMs?: unknown; reason?: unknown; operator?: unknown } = {};
    try {
      v = JSON.parse(kv.value) as typeof v;
    } catch {
      // unreadable: shown as a ban without a reason; the agents treat it as a ban too
    }
    const untilWallMs = typeof v.untilWallMs === 'number' ? v.untilWallMs : null;
    if (untilWallMs !== null && untilWallMs <= nowMs) continue;
    // BAN_FOREVER_WALL_MS (cli/commands/intents.ts) and anything past year 9999 mean "until cleared".
    const forever = untilWallMs === null || untilWallMs >= 253_402_300_800_000;
    out.push({ set, node, until: forever ? null : new Date(untilWallMs).toISOString(), reason: String(v.reason ?? 'banned'), operator: v.operator === true });
  }
  return out.sort((a, b) => a.set.localeCompare(b.set) || a.node.localeCompare(b.node));
}


export class LiveConsole {
  private following: Following | undefined;
  private latest: Snapshot | null = null;
  private trouble: string | null = null;
  private generation = 0;
  private readonly listeners = new Set<(s: Snapshot) => void>();

  constructor(private readonly session: Session) {}

  get snapshot(): Snapshot | null {
    return this.latest;
  }

  async start(): Promise<void> {
    this.following = await followStatus(
      this.session,
      (status, kvs) =>
        void this.update(status, kvs).catch((err: unknown) => {
          // Never an unhandled rejection (it would end hactl web): the page says what went wrong.
          this.trouble = `could not build the view: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
          if (this.latest) this.publish({ ...this.latest, trouble: this.trouble });
        }),
      (what) => {
        this.trouble = what;
        if (this.latest) this.publish({ ...this.latest, trouble: what });
      },
      100,
    );
  }

  /** Calls `fn` with every new snapshot (and the current one at once); returns the unsubscribe. */
  subscribe(fn: (s: Snapshot) => void): () => void {
    this.listeners.add(fn);
    if (this.latest) fn(this.latest);
    return () => this.listeners.delete(fn);
  }

  close(): void {
    this.following?.close();
    this.listeners.clear();
  }

  private async update(status: ClusterStatus, kvs: ReadonlyMap<string, KvEntry>): Promise<void> {
    const generation = ++this.generation;
    const keys = this.session.keys;
    const nowMs = Date.now();
    // The watch copy changes under us: take what is needed before the lease calls yield.
    const bans = bansFromKvs(kvs, keys.prefix, nowMs);
    const { events, unreadable } = historyFromKvs(kvs, keys.eventsPrefix());
    const availability = computeAvailability({ events, configuredSets: configuredSets(status), sinceMs: null, untilMs: nowMs, targetPercent: TARGET_PERCENT });
    if (unreadable > 0) availability.notes.push(`${unreadable} event record(s) could not be read and were ignored`);
    await addLeaseHealth(this.session.client, status, kvs, keys);
    // A newer change arrived while the lease calls ran: its snapshot supersedes this one.
    if (generation !== this.generation) return;
    this.trouble = null;
    this.publish({
      cluster: this.session.config.cluster,
      identity: this.session.identity ?? null,
      atWallMs: nowMs,
      status,
      bans,
      events: events.slice(-EVENTS_SHOWN).reverse().map((e) => ({ ...e, at: new Date(e.atWallMs).toISOString() })),
      eventsTotal: events.length,
      availability,
      trouble: this.trouble,
    });
  }

  private publish(s: Snapshot): void {
    this.latest = s;
    for (const fn of this.listeners) fn(s);
  }
}

/** The configured sets as the report counts them: clone sets per instance (SET:1, SET:2...). */
function configuredSets(status: ClusterStatus): string[] {
  return status.sets.flatMap((s) => (s.instances ? s.instances.map((i) => i.name) : [s.name]));
}
