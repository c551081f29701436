// Watches other hosts' leases for the fast fenced takeover: asks etcd how long each one has left
// (LeaseTimeToLive, which a follower forwards to the leader, so the answer is the leader's view of
// the owner's keepalives). Only hosts the core names are watched, twice per keepalive period.
// An unanswered request yields no observation — suspicion needs a fresh answer from etcd.
import type { Etcd3 } from 'etcd3';
import type { Clock } from '../ports/clock.js';
import { observeIntervalMs, type LeaseObservation } from '../core/fence-targets.js';
import { callEndsAt } from './client.js';

interface Watched {
  leaseId: string;
  timer: NodeJS.Timeout | undefined;
  inFlight: boolean;
  intervalMs: number;
}

export class LeaseObserver {
  private readonly watched = new Map<string, Watched>();
  private readonly latest = new Map<string, LeaseObservation>();
  private closed = false;

  constructor(
    private readonly client: Etcd3,
    private readonly clock: Clock,
    /** Called after each answer: the caller re-evaluates its fence targets. */
    private readonly observed: (o: LeaseObservation) => void,
    private readonly defaultTtlSec: () => number,
  ) {}

  observations(): ReadonlyMap<string, LeaseObservation> {
    return this.latest;
  }

  /** Watches exactly these leases from now on. */
  follow(leaseIds: readonly string[]): void {
    if (this.closed) return;
    const want = new Set(leaseIds);
    for (const [id, w] of this.watched) {
      if (want.has(id)) continue;
      if (w.timer) clearTimeout(w.timer);
      this.watched.delete(id);
      this.latest.delete(id);
    }
    for (const id of want) {
      if (this.watched.has(id)) continue;
      const w: Watched = { leaseId: id, timer: undefined, inFlight: false, intervalMs: observeIntervalMs(this.defaultTtlSec()) };
      this.watched.set(id, w);
      this.poll(w);
    }
  }

  close(): void {
    this.closed = true;
    for (const w of this.watched.values()) if (w.timer) clearTimeout(w.timer);
    this.watched.clear();
  }

  private poll(w: Watched): void {
    if (this.closed || this.watched.get(w.leaseId) !== w || w.inFlight) return;
    w.inFlight = true;
    const sentAtMs = this.clock.monotonicMs();
    this.client.leaseClient
      .leaseTimeToLive({ ID: w.leaseId, keys: false }, { deadline: callEndsAt(Math.max(500, w.intervalMs * 2)) })
      .then(
        (res) => {
          const o: LeaseObservation = { leaseId: w.leaseId, grantedTtlSec: Number(res.grantedTTL), remainingSec: Number(res.TTL), observedAtMs: sentAtMs };
          if (o.grantedTtlSec > 0) w.intervalMs = observeIntervalMs(o.grantedTtlSec);
          if (this.watched.get(w.leaseId) === w) {
            this.latest.set(w.leaseId, o);
            this.observed(o);
          }
        },
        () => {
          // No answer, no observation: an old one goes stale and no longer counts.
        },
      )
      .finally(() => {
        w.inFlight = false;
        if (this.closed || this.watched.get(w.leaseId) !== w) return;
        const waitMs = Math.max(0, sentAtMs + w.intervalMs - this.clock.monotonicMs());
        w.timer = setTimeout(() => this.poll(w), waitMs);
      });
  }
}
