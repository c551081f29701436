// A test double of etcd's *semantics*, for the simulator only: a revisioned key-value store with
// create/mod revisions, linearizable transactions that compare create or mod revisions, leases that
// expire on simulated server time, and an append-only change log from which each host's watch is
// fed (with its own lag, see world.ts). It is linearizable by construction: one event loop, and
// every request is applied whole at the instant it reaches the "server".
//
// Lease expiry follows reference/etcd-lab NOTES §3: the lessor checks every 500 ms, so a lease
// dies at a server time in [TTL, TTL + 0.5 s] after its last renewal. A leader change gives every
// lease a fresh full TTL (no lease checkpointing in etcd 3.4): expiry only ever moves later.
import type { KvEntry } from '../../agent/etcd/view.js';
import type { Compare, Txn } from '../../agent/etcd/txns.js';

// The product's transactions (agent/etcd/txns.ts), evaluated here as etcd evaluates them.
export type { Compare, Op } from '../../agent/etcd/txns.js';
export type TxnRequest = Txn;

export interface TxnResult {
  succeeded: boolean;
  revision: number;
}

export interface Change {
  revision: number;
  key: string;
  /** The new entry, or null for a delete. */
  entry: KvEntry | null;
}

interface Lease {
  id: string;
  ttlMs: number;
  expiresAtMs: number;
  keys: Set<string>;
}

/** Observers of commits, for the checker (who changed ownership, and how). */
export interface EtcdObserver {
  txnCommitted?(req: TxnRequest, before: (key: string) => KvEntry | undefined, revision: number): void;
  leaseExpired?(leaseId: string, deletedKeys: string[], revision: number): void;
  plainWrite?(key: string, revision: number): void;
}

export const EXPIRY_CHECK_MS = 500;

export class SimEtcd {
  revision = 1;
  readonly kv = new Map<string, KvEntry>();
  readonly log: Change[] = [];
  private readonly leases = new Map<string, Lease>();
  private nextLeaseId = 7001;
  /** Server time of each lease's end (expiry or revoke), for the checker. */
  readonly leaseEndedAtMs = new Map<string, number>();
  observer: EtcdObserver = {};

  constructor(private readonly now: () => number) {}

  get(key: string): KvEntry | undefined {
    return this.kv.get(key);
  }

  txn(req: TxnRequest): TxnResult {
    const ok = req.compares.every((c) => this.holds(c));
    if (!ok || req.ops.length === 0) return { succeeded: ok, revision: this.revision };
    for (const op of req.ops) {
      // etcd refuses the whole transaction ("requested lease not found"): the caller sees an error.
      if (op.kind === 'put' && op.lease !== undefined && op.lease !== '0' && !this.leases.has(op.lease)) throw new Error(`lease ${op.lease} not found`);
    }
    const snapshot = new Map<string, KvEntry | undefined>();
    for (const op of req.ops) if (!snapshot.has(op.key)) snapshot.set(op.key, this.kv.get(op.key));
    const rev = ++this.revision;
    for (const op of req.ops) {
      if (op.kind === 'put') this.putAt(op.key, op.value, op.lease ?? '0', rev);
      else this.deleteAt(op.key, rev);
    }
    this.observer.txnCommitted?.(req, (k) => snapshot.get(k), rev);
    return { succeeded: true, revision: rev };
  }

  /** One comparison, as etcd makes it: an absent key has revisions 0 and lease 0. */
  private holds(c: Compare): boolean {
    const e = this.kv.get(c.key);
    const actual = c.target === 'lease' ? (e?.lease ?? '0') : e === undefined ? 0 : c.target === 'create' ? e.createRevision : e.modRevision;
    if (c.op === '>') return Number(actual) > Number(c.value);
    return String(actual) === String(c.value);
  }

  /** A plain put (node registration, operator intents, fence records). */
  put(key: string, value: string, lease = '0'): number {
    if (lease !== '0' && !this.leases.has(lease)) throw new Error(`lease ${lease} not found`);
    const rev = ++this.revision;
    this.putAt(key, value, lease, rev);
    this.observer.plainWrite?.(key, rev);
    return rev;
  }

  delete(key: string): number {
    if (!this.kv.has(key)) return this.revision;
    const rev = ++this.revision;
    this.deleteAt(key, rev);
    this.observer.plainWrite?.(key, rev);
    return rev;
  }

  leaseGrant(ttlSec: number): { id: string; ttlSec: number } {
    const id = String(this.nextLeaseId++);
    this.leases.set(id, { id, ttlMs: ttlSec * 1000, expiresAtMs: this.now() + ttlSec * 1000, keys: new Set() });
    return { id, ttlSec };
  }

  /** A keepalive reaching the server: the remaining TTL granted, 0 when the lease is gone. */
  leaseKeepAlive(id: string): number {
    const lease = this.leases.get(id);
    if (!lease) return 0;
    lease.expiresAtMs = this.now() + lease.ttlMs;
    return lease.ttlMs / 1000;
  }

  /** A revoke reaching the server: the lease and its keys end now (a lease already gone is not an error). */
  leaseRevoke(id: string): void {
    const lease = this.leases.get(id);
    if (lease) this.endLease(lease);
  }

  leaseAlive(id: string): boolean {
    return this.leases.has(id);
  }

  /** The lessor's periodic check: revoke every lease past its expiry, one revision per lease. */
  expireLeases(): void {
    const now = this.now();
    for (const lease of [...this.leases.values()]) if (lease.expiresAtMs <= now) this.endLease(lease);
  }

  /** A leader change: every lease gets a fresh full TTL. */
  leaderChange(): void {
    const now = this.now();
    for (const lease of this.leases.values()) lease.expiresAtMs = Math.max(lease.expiresAtMs, now + lease.ttlMs);
  }

  private endLease(lease: Lease): void {
    this.leases.delete(lease.id);
    this.leaseEndedAtMs.set(lease.id, this.now());
    const keys = [...lease.keys].filter((k) => this.kv.get(k)?.lease === lease.id).sort();
    if (keys.length === 0) {
      this.observer.leaseExpired?.(lease.id, [], this.revision);
      return;
    }
    const rev = ++this.revision;
    for (const k of keys) this.deleteAt(k, rev);
    this.observer.leaseExpired?.(lease.id, keys, rev);
  }

  private putAt(key: string, value: string, lease: string, rev: number): void {
    const old = this.kv.get(key);
    if (old && old.lease !== '0') this.leases.get(old.lease)?.keys.delete(key);
    const entry: KvEntry = { key, value, createRevision: old ? old.createRevision : rev, modRevision: rev, lease };
    this.kv.set(key, entry);
    if (lease !== '0') {
      const l = this.leases.get(lease);
      if (!l) throw new Error(`lease ${lease} not found`);
      l.keys.add(key);
    }
    this.log.push({ revision: rev, key, entry });
  }

  private deleteAt(key: string, rev: number): void {
    const old = this.kv.get(key);
    if (!old) return;
    if (old.lease !== '0') this.leases.get(old.lease)?.keys.delete(key);
    this.kv.delete(key);
    this.log.push({ revision: rev, key, entry: null });
  }
}
