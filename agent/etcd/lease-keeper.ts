// The agent's own lease keeper (SPEC §5.3), used instead of etcd3's `Lease` object, which reports a
// loss only after 2×TTL, on the wall clock, from the requested TTL.
//
// Guarantee: every keepalive request is stamped with its SEND time on the monotonic clock. A
// response with TTL > 0 proves the server refreshed the lease at some instant after that send, so
// the server cannot expire it before `sendTime + grantedTtl`: that is `validUntilMs`. The agent
// stops its sets at `validUntilMs - fenceMargin` and re-checks validity before irreversible steps.
// Non-guarantee: the server may keep the lease longer than `validUntilMs` (a leader change renews
// every lease); that only delays a takeover, it never lets two owners overlap.
//
// Keepalives go out every TTL/4. A request unanswered for `responseTimeoutMs` (300 ms by default;
// RTT is 1–5 ms) drops the stream and reopens it on the NEXT member: one single-endpoint client per
// member, because etcd3's random member choice put the stream back on a dead member repeatedly.
import type { Etcd3, IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3';
import type { Clock } from '../shell/clock.js';
import { callEndsAt } from './client.js';
import { backoffDelayMs, type BackoffPolicy } from '../shell/backoff.js';

/**
 * Pacing of reopening streams that failed with no answer: 100 ms, doubling up to the keepalive
 * interval (TTL/4) — retrying faster than keepalives are sent gains nothing.
 */
export function reopenPolicy(intervalMs: number): BackoffPolicy {
  return { baseMs: 100, capMs: Math.max(100, intervalMs) };
}

type KeepAliveStream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;

export interface LeaseKeeperListener {
  /** A keepalive was answered: the lease is ours at least until `validUntilMs` (monotonic). */
  renewed(validUntilMs: number): void;
  /** A keepalive was answered after `rttMs` by `peer` (for metrics; optional). */
  answered?(rttMs: number, peer: string): void;
  /** A keepalive went unanswered too long; the stream moves to the next member. Early warning only. */
  late(info: { sentAtMs: number; waitedMs: number; peer: string }): void;
  /** The server says the lease is gone (TTL 0): expired or revoked. Definitive. */
  lost(reason: string): void;
}

export interface LeaseKeeperOptions {
  ttlSec: number;
  /** Keepalive period; default TTL/4. */
  intervalMs?: number;
  /** An unanswered request older than this replaces the stream; default min(300, TTL/4). */
  responseTimeoutMs?: number;
  /** Deadline of grant and revoke calls. */
  callTimeoutMs: number;
  /** Jitter source for the reconnect backoff (numbers in [0, 1)); seeded by the caller. */
  jitter?: () => number;
}

export class LeaseKeeper {
  leaseId = '';
  grantedTtlSec = 0;
  validUntilMs = 0;
  private readonly intervalMs: number;
  private readonly responseTimeoutMs: number;
  private pendingSendsMs: number[] = [];
  private stream: KeepAliveStream | undefined;
  private opening = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastSendMs = -Infinity;
  private memberIndex = 0;
  private peer = '';
  /** Streams in a row that ended (or could not open) before any answer: paces reopening. */
  private streamFailures = 0;
  private reopenTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly members: Etcd3[],
    private readonly options: LeaseKeeperOptions,
    private readonly clock: Clock,
    private readonly listener: LeaseKeeperListener,
  ) {
    const quarterMs = (options.ttlSec * 1000) / 4;
    this.intervalMs = options.intervalMs ?? quarterMs;
    this.responseTimeoutMs = options.responseTimeoutMs ?? Math.min(300, quarterMs);
  }

  /**
   * Grants a new lease. The grant counts as a renewal sent when the call was made.
   */
  async grant(): Promise<string> {
    const sentAtMs = this.clock.monotonicMs();
    let lastError: unknown;
    for (let i = 0; i < this.members.length; i++) {
      const member = this.members[(this.memberIndex + i) % this.members.length];
      try {
        const res = await member.leaseClient.leaseGrant({ TTL: this.options.ttlSec, ID: 0 }, { deadline: callEndsAt(this.options.callTimeoutMs) });
        this.leaseId = String(res.ID);
        this.grantedTtlSec = Number(res.TTL);
        this.validUntilMs = sentAtMs + this.grantedTtlSec * 1000;
        this.start();
        this.listener.renewed(this.validUntilMs);
        return this.leaseId;
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError instanceof Error ? lastError : new Error(String(lastError));
  }

  /**
   * Resumes a lease granted by an earlier run of this agent (kept in dataDir): true when etcd
   * answered a keepalive with TTL > 0, so the lease and every key bound to it are still ours.
   */
  async resume(leaseId: string, ttlSec: number, timeoutMs: number): Promise<boolean> {
    this.leaseId = leaseId;
    this.grantedTtlSec = ttlSec;
    this.validUntilMs = 0;
    const deadline = this.clock.monotonicMs() + timeoutMs;
    return new Promise<boolean>((resolve) => {
      let settled = false;
      const settle = (alive: boolean): void => {
        if (settled) return;
        settled = true;
        clearInterval(poll);
        if (!alive) this.release();
        resolve(alive);
      };
      const poll = setInterval(() => {
        if (this.validUntilMs > 0) settle(true);
        else if (this.stopped) settle(false);
        else if (this.clock.monotonicMs() > deadline) settle(false);
      }, 10);
      this.start();
    });
  }

  /** True while the lease is certainly ours for at least `marginMs` more. */
  isValid(marginMs: number): boolean {
    return !this.stopped && this.clock.monotonicMs() < this.validUntilMs - marginMs;
  }

  /** Stops keepalives; the lease then expires on its own after its TTL. */
  release(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    this.reopenTimer = undefined;
    this.stream?.cancel();
    this.stream = undefined;
  }

  /** Stops keepalives and deletes the lease (and every key bound to it) now. */
  async revoke(): Promise<void> {
    this.release();
    const member = this.members[this.memberIndex];
    await member.leaseClient.leaseRevoke({ ID: this.leaseId }, { deadline: callEndsAt(this.options.callTimeoutMs) });
  }

  private start(): void {
    this.stopped = false;
    this.lastSendMs = -Infinity;
    void this.openStream();
  }

  /**
   * One timer, set for the next moment something is due: the next keepalive send, or the
   * response deadline of the oldest unanswered one. (An idle agent wakes about 4 times per TTL.)
   */
  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.stopped || !this.stream) return;
    const nowMs = this.clock.monotonicMs();
    let dueMs = this.lastSendMs + this.intervalMs;
    const oldest = this.pendingSendsMs[0];
    if (oldest !== undefined) dueMs = Math.min(dueMs, oldest + this.responseTimeoutMs + 1);
    this.timer = setTimeout(() => this.tick(), Math.max(0, dueMs - nowMs));
  }

  private tick(ioRead = false): void {
    this.timer = undefined;
    if (this.stopped) return;
    const nowMs = this.clock.monotonicMs();
    const oldest = this.pendingSendsMs[0];
    if (oldest !== undefined && nowMs - oldest > this.responseTimeoutMs) {
      if (!ioRead) {
        // After the event loop was held (a burst of work under load), timers run before the I/O
        // that may already carry the answer: read it first (an answer reschedules: this.timer).
        setImmediate(() => {
          if (this.timer === undefined) this.tick(true);
        });
        return;
      }
      this.listener.late({ sentAtMs: oldest, waitedMs: nowMs - oldest, peer: this.peer });
      this.replaceStream();
      return;
    }
    if (this.stream && nowMs - this.lastSendMs >= this.intervalMs) {
      this.lastSendMs = nowMs;
      this.pendingSendsMs.push(nowMs);
      try {
        this.stream.write({ ID: this.leaseId });
      } catch {
        this.replaceStream();
        return;
      }
    }
    this.schedule();
  }

  private replaceStream(): void {
    const old = this.stream;
    this.stream = undefined;
    this.pendingSendsMs = [];
    this.peer = '';
    if (old) {
      this.memberIndex = (this.memberIndex + 1) % this.members.length;
      try {
        old.cancel();
      } catch {
        // already closed
      }
    }
    this.reopenLater();
  }

  /**
   * Opens the next stream: at once after a stream that was answered (moving to the next member
   * fast is what keeps the lease), otherwise after a capped backoff with jitter — while no member
   * has a leader every stream fails at once, and reopening without a pause was a busy loop.
   */
  private reopenLater(): void {
    if (this.reopenTimer || this.stopped) return;
    const delayMs = backoffDelayMs(this.streamFailures++, reopenPolicy(this.intervalMs), this.options.jitter);
    if (delayMs === 0) {
      void this.openStream();
      return;
    }
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      void this.openStream();
    }, delayMs);
  }

  private async openStream(): Promise<void> {
    if (this.opening || this.stopped || this.stream) return;
    this.opening = true;
    try {
      const stream = await this.members[this.memberIndex].leaseClient.leaseKeepAlive();
      if (this.stopped) {
        stream.cancel();
        return;
      }
      stream.on('data', (res: ILeaseKeepAliveResponse) => this.onResponse(stream, res));
      stream.on('error', () => {
        if (stream === this.stream) this.replaceStream();
      });
      stream.on('end', () => {
        if (stream === this.stream) this.replaceStream();
      });
      this.stream = stream;
      this.lastSendMs = -Infinity; // send at once on a new stream
      this.opening = false;
      this.tick();
    } catch {
      // Could not open on this member: try the next one after the backoff.
      this.memberIndex = (this.memberIndex + 1) % this.members.length;
      this.opening = false;
      this.streamFailures = Math.max(this.streamFailures, 1); // never at once: 100 ms at least, as before
      this.reopenLater();
    }
  }

  private onResponse(stream: KeepAliveStream, res: ILeaseKeepAliveResponse): void {
    if (stream !== this.stream) return; // an abandoned stream: its send times are gone
    this.streamFailures = 0;
    const sentAtMs = this.pendingSendsMs.shift();
    if (!this.peer) this.peer = (stream as unknown as { getPeer?: () => string }).getPeer?.() ?? '?';
    const ttlSec = Number(res.TTL);
    if (ttlSec <= 0) {
      this.release();
      this.listener.lost('etcd reports the lease expired or revoked (TTL 0)');
      return;
    }
    this.schedule();
    if (sentAtMs === undefined) return;
    this.listener.answered?.(this.clock.monotonicMs() - sentAtMs, this.peer);
    this.grantedTtlSec = ttlSec;
    const validUntilMs = sentAtMs + ttlSec * 1000;
    if (validUntilMs > this.validUntilMs) {
      this.validUntilMs = validUntilMs;
      this.listener.renewed(validUntilMs);
    }
  }
}
