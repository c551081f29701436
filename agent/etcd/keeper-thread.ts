// The lease keepers on a thread of their own. Measured under load (issue 16: 300 sets applied at
// once on a 2-core machine), the agent's main event loop was held for 1–9 s at a time — forks of
// resource actions, the configuration's YAML parse, reconciliations of hundreds of sets, garbage
// collection — and a keeper on that loop could not send or read keepalives: every host fell into
// lease doubt and stopped everything. Here each LeaseKeeper (lease-keeper.ts, unchanged) runs on
// one lease thread per process (keeper-worker.ts), with its own etcd clients and event loop; the
// agent reads each lease's validity from memory shared with that thread. One thread for every
// lease the agent holds: it is started once, early (prestartKeeperThread), and a new lease (a
// changed leaseTtl, a lost lease) costs no new thread.
//
// Guarantees, as lease-keeper.ts states them: validity is the SEND time of the last answered
// keepalive plus the granted TTL, on the monotonic clock (process.hrtime: one clock for every
// thread of the process), so `isValid()` on the main thread compares like with like. Written by the
// lease thread only, read by the main thread, with Atomics (no torn reads).
// A main thread that stops turning must not keep its leases for ever through this thread (its sets
// would then never fail over): the thread stops renewing once the main thread has not beaten for
// mainStallLimitMs — the leases then expire by themselves, as they would have with the keeper on
// the main thread, only later.
import { Worker } from 'node:worker_threads';
import { systemClock, type Clock } from '../ports/clock.js';
import type { EtcdConnection } from './client.js';
import type { LeaseKeeperListener } from './lease-keeper.js';

/** Shared slots of one lease (BigInt64, microseconds for times). */
export const SLOT = { validUntilUs: 0, grantedTtlSec: 1, stopped: 2 } as const;
const SLOTS = 3;
/** How often the main thread says it is turning. */
const MAIN_BEAT_MS = 100;

/**
 * How long the main thread may be silent before the keepers stop renewing: four TTLs, at least
 * 10 s — beyond the longest stalls measured under overload (9 s), far below "never".
 */
export function mainStallLimitMs(ttlSec: number): number {
  return Math.max(10_000, 4 * ttlSec * 1000);
}

/** What the agent uses of a lease keeper, wherever it runs. */
export interface KeptLease {
  readonly leaseId: string;
  readonly grantedTtlSec: number;
  readonly validUntilMs: number;
  grant(): Promise<string>;
  resume(leaseId: string, ttlSec: number, timeoutMs: number): Promise<boolean>;
  isValid(marginMs: number): boolean;
  release(): void;
  revoke(): Promise<void>;
}

export interface KeeperThreadOptions {
  ttlSec: number;
  callTimeoutMs: number;
  /** Seed of the reconnect backoff's jitter (the node name: reproducible). */
  jitterSeed: string;
}

/** Lease thread → main thread, about keeper `keeper`. */
export type KeeperEvent = { keeper: number } & (
  | { kind: 'renewed' }
  | { kind: 'answered'; rttMs: number; peer: string }
  | { kind: 'late'; sentAtMs: number; waitedMs: number; peer: string }
  | { kind: 'lost'; reason: string }
  | { kind: 'reply'; id: number; ok: true; value: unknown }
  | { kind: 'reply'; id: number; ok: false; error: string }
);

/** Main thread → lease thread. */
export type KeeperMessage =
  | { kind: 'init'; keeper: number; options: KeeperThreadOptions; shared: SharedArrayBuffer; mainStallMs: number }
  | { kind: 'call'; keeper: number; id: number; op: 'grant' | 'resume' | 'revoke'; args: unknown[] }
  | { kind: 'release'; keeper: number };

export interface KeeperWorkerData {
  conn: EtcdConnection;
  /** The main thread's last beat (monotonic µs). */
  mainBeat: SharedArrayBuffer;
}

class LeaseThread {
  readonly worker: Worker;
  readonly keepers = new Map<number, ThreadedLeaseKeeper>();
  private readonly mainBeat = new BigInt64Array(new SharedArrayBuffer(8));
  private readonly beat: NodeJS.Timeout;
  private waiting = 0;
  nextKeeper = 1;

  constructor(readonly conn: EtcdConnection) {
    this.beatNow();
    this.beat = setInterval(() => this.beatNow(), MAIN_BEAT_MS);
    this.beat.unref();
    const data: KeeperWorkerData = { conn, mainBeat: this.mainBeat.buffer as SharedArrayBuffer };
    this.worker = new Worker(new URL('./keeper-worker.js', import.meta.url), { workerData: data });
    // Referenced only while a call waits for it: the thread never keeps the process alive by
    // itself, and a process waiting for a grant or a resume is not left without a handle.
    this.worker.unref();
    this.worker.on('message', (m: KeeperEvent) => this.keepers.get(m.keeper)?.onEvent(m));
    this.worker.on('error', (err) => this.end(`the lease thread failed: ${err.message}`));
    this.worker.on('exit', (code) => this.end(`the lease thread exited (code ${code})`));
  }

  send(m: KeeperMessage): void {
    this.worker.postMessage(m);
  }

  callStarted(): void {
    if (this.waiting++ === 0) this.worker.ref();
  }

  callEnded(): void {
    if (--this.waiting === 0) this.worker.unref();
  }

  private beatNow(): void {
    Atomics.store(this.mainBeat, 0, BigInt(Math.round(systemClock.monotonicMs() * 1000)));
  }

  /** The thread is gone: every keeper on it ends (a lease in hand counts as lost). */
  private end(reason: string): void {
    clearInterval(this.beat);
    if (thread === this) thread = undefined;
    for (const k of [...this.keepers.values()]) k.threadEnded(reason);
  }
}

/** The process's lease thread (one etcd connection per agent). */
let thread: LeaseThread | undefined;

function leaseThread(conn: EtcdConnection): LeaseThread {
  if (!thread || thread.conn !== conn) thread = new LeaseThread(conn);
  return thread;
}

/**
 * Starts the lease thread now: loading the etcd client on a new thread takes a while (2 s on a
 * loaded 2-core machine), and a restarted agent must resume its lease before it expires.
 */
export function prestartKeeperThread(conn: EtcdConnection): void {
  leaseThread(conn);
}

export class ThreadedLeaseKeeper implements KeptLease {
  leaseId = '';
  private readonly shared = new BigInt64Array(new SharedArrayBuffer(SLOTS * 8));
  private readonly thread: LeaseThread;
  private readonly id: number;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextCall = 1;
  private ended = false;

  constructor(
    conn: EtcdConnection,
    options: KeeperThreadOptions,
    private readonly clock: Clock,
    private readonly listener: LeaseKeeperListener,
  ) {
    this.thread = leaseThread(conn);
    this.id = this.thread.nextKeeper++;
    this.thread.keepers.set(this.id, this);
    this.thread.send({ kind: 'init', keeper: this.id, options, shared: this.shared.buffer as SharedArrayBuffer, mainStallMs: mainStallLimitMs(options.ttlSec) });
  }

  get grantedTtlSec(): number {
    return Number(Atomics.load(this.shared, SLOT.grantedTtlSec));
  }

  get validUntilMs(): number {
    return Number(Atomics.load(this.shared, SLOT.validUntilUs)) / 1000;
  }

  async grant(): Promise<string> {
    this.leaseId = String(await this.call('grant', []));
    return this.leaseId;
  }

  /** As LeaseKeeper.resume; after `false` the same keeper may grant a new lease. */
  async resume(leaseId: string, ttlSec: number, timeoutMs: number): Promise<boolean> {
    this.leaseId = leaseId;
    return (await this.call('resume', [leaseId, ttlSec, timeoutMs])) === true;
  }

  isValid(marginMs: number): boolean {
    return Atomics.load(this.shared, SLOT.stopped) === 0n && this.clock.monotonicMs() < this.validUntilMs - marginMs;
  }

  /** Stops keepalives; the lease then expires on its own after its TTL. */
  release(): void {
    Atomics.store(this.shared, SLOT.stopped, 1n);
    if (this.ended) return;
    this.ended = true;
    this.thread.send({ kind: 'release', keeper: this.id });
    this.forget('lease keeper released');
  }

  /** Stops keepalives and deletes the lease (and every key bound to it) now. */
  async revoke(): Promise<void> {
    try {
      await this.call('revoke', []);
    } finally {
      this.release();
    }
  }

  /** An event from the lease thread about this keeper. */
  onEvent(m: KeeperEvent): void {
    switch (m.kind) {
      case 'reply': {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        this.thread.callEnded();
        if (m.ok) p.resolve(m.value);
        else p.reject(new Error(m.error));
        return;
      }
      case 'renewed':
        this.listener.renewed(this.validUntilMs);
        return;
      case 'answered':
        this.listener.answered?.(m.rttMs, m.peer);
        return;
      case 'late':
        this.listener.late({ sentAtMs: m.sentAtMs, waitedMs: m.waitedMs, peer: m.peer });
        return;
      case 'lost':
        // A lease lost while the agent runs ends this keeper; one found dead during a resume does
        // not (the agent then grants a new lease with the same keeper).
        if (this.pending.size === 0) this.release();
        this.listener.lost(m.reason);
        return;
    }
  }

  /** The lease thread is gone: pending calls fail, and a lease still in hand counts as lost. */
  threadEnded(reason: string): void {
    Atomics.store(this.shared, SLOT.stopped, 1n);
    this.forget(reason);
    if (this.ended) return;
    this.ended = true;
    this.listener.lost(reason);
  }

  private forget(reason: string): void {
    this.thread.keepers.delete(this.id);
    for (const p of this.pending.values()) {
      this.thread.callEnded();
      p.reject(new Error(reason));
    }
    this.pending.clear();
  }

  private call(op: 'grant' | 'resume' | 'revoke', args: unknown[]): Promise<unknown> {
    if (this.ended) return Promise.reject(new Error('lease keeper released'));
    const id = this.nextCall++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.thread.callStarted();
      this.thread.send({ kind: 'call', keeper: this.id, id, op, args });
    });
  }
}
