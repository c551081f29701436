// A model of agent/etcd/lease-keeper.ts on simulated time: every keepalive is stamped with its send
// time on the host's (drifting) monotonic clock; a reply with TTL > 0 gives
// validUntil = sendTime + grantedTtl; a reply with TTL 0 means the lease is gone. Keepalives go out
// every TTL/4; an unanswered one older than min(300 ms, TTL/4) replaces the stream (its pending sends
// are forgotten, exactly as the real keeper forgets them) and the new stream sends at once.
import type { SimEtcd } from './sim-etcd.js';
import type { NetEndpoint, SimNet } from './sim-net.js';

export interface KeeperHost extends NetEndpoint {
  monotonicMs(): number;
  /** A timer on the host's monotonic clock, dropped when the agent incarnation ends. */
  timer(epoch: number, delayMs: number, task: () => void): void;
}

export interface KeeperListener {
  renewed(validUntilMs: number): void;
  lost(reason: string): void;
}

export class SimKeeper {
  leaseId = '';
  grantedTtlSec = 0;
  validUntilMs = 0;
  stopped = false;
  private pendingSendsMs: number[] = [];
  private streamGen = 0;
  private lastSendMs = -Infinity;
  private running = false;
  private readonly intervalMs: number;
  private readonly responseTimeoutMs: number;

  constructor(
    private readonly host: KeeperHost,
    private readonly epoch: number,
    private readonly net: SimNet,
    private readonly etcd: SimEtcd,
    ttlSec: number,
    private readonly listener: KeeperListener,
  ) {
    this.intervalMs = (ttlSec * 1000) / 4;
    this.responseTimeoutMs = Math.min(300, this.intervalMs);
    this.grantedTtlSec = ttlSec;
  }

  grant(ttlSec: number, done: (ok: boolean) => void): void {
    const sentAtMs = this.host.monotonicMs();
    this.net.call(this.host, this.epoch, () => this.etcd.leaseGrant(ttlSec), (r) => {
      if (!r.ok) return done(false);
      this.leaseId = r.value.id;
      this.grantedTtlSec = r.value.ttlSec;
      this.validUntilMs = sentAtMs + r.value.ttlSec * 1000;
      this.start();
      this.listener.renewed(this.validUntilMs);
      done(true);
    });
  }

  /** Resumes a lease of an earlier run: true once a keepalive is answered with TTL > 0. */
  resume(leaseId: string, ttlSec: number, timeoutMs: number, done: (alive: boolean) => void): void {
    this.leaseId = leaseId;
    this.grantedTtlSec = ttlSec;
    this.validUntilMs = 0;
    const deadline = this.host.monotonicMs() + timeoutMs;
    let settled = false;
    const poll = (): void => {
      if (settled) return;
      if (this.validUntilMs > 0 || this.stopped || this.host.monotonicMs() > deadline) {
        settled = true;
        const alive = this.validUntilMs > 0;
        if (!alive) this.release();
        done(alive);
        return;
      }
      this.host.timer(this.epoch, 10, poll);
    };
    this.start();
    this.host.timer(this.epoch, 10, poll);
  }

  isValid(marginMs: number): boolean {
    return !this.stopped && this.host.monotonicMs() < this.validUntilMs - marginMs;
  }

  release(): void {
    this.stopped = true;
    this.running = false;
    this.streamGen++;
    this.pendingSendsMs = [];
  }

  private start(): void {
    this.stopped = false;
    this.lastSendMs = -Infinity;
    if (this.running) return;
    this.running = true;
    this.send();
  }

  private send(): void {
    if (this.stopped) return;
    const now = this.host.monotonicMs();
    this.lastSendMs = now;
    this.pendingSendsMs.push(now);
    const gen = this.streamGen;
    const id = this.leaseId;
    this.net.stream(this.host, this.epoch, () => this.etcd.leaseKeepAlive(id), (ttl) => this.onResponse(gen, ttl));
    this.host.timer(this.epoch, this.responseTimeoutMs + 25, () => this.checkLate(gen, now));
    this.host.timer(this.epoch, this.intervalMs, () => {
      if (gen === this.streamGen && this.lastSendMs === now) this.send();
    });
  }

  private checkLate(gen: number, sentMs: number): void {
    if (this.stopped || gen !== this.streamGen || this.pendingSendsMs[0] !== sentMs) return;
    // Late: drop the stream and its pending sends, reopen on the next member, send at once.
    this.streamGen++;
    this.pendingSendsMs = [];
    this.host.timer(this.epoch, 5, () => this.send());
  }

  private onResponse(gen: number, ttlSec: number): void {
    if (this.stopped || gen !== this.streamGen) return;
    const sentAtMs = this.pendingSendsMs.shift();
    if (ttlSec <= 0) {
      this.release();
      this.listener.lost('etcd reports the lease expired or revoked (TTL 0)');
      return;
    }
    if (sentAtMs === undefined) return;
    this.grantedTtlSec = ttlSec;
    const validUntilMs = sentAtMs + ttlSec * 1000;
    if (validUntilMs > this.validUntilMs) {
      this.validUntilMs = validUntilMs;
      this.listener.renewed(validUntilMs);
    }
  }
}
