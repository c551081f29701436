// The agent's own lease keeper (SPEC §5.3), used instead of etcd3's `Lease` object, which reports a
// loss only after 2×TTL, on the wall clock, from the requested TTL.
//
// The arithmetic (send stamps -> validUntilMs) is core/lease.ts; this file paces the keepalives and
// moves between etcd members. It runs on ports only (clock, timers, lease transport), so the
// simulator runs this very code with delayed, lost and reordered answers.
//
// Keepalives go out every TTL/4. A request unanswered for `responseTimeoutMs` (300 ms by default;
// RTT is 1–5 ms) drops the stream and reopens it on the NEXT member.
import type { Clock, Timers } from '../ports/clock.js';
import type { KeepaliveChannel, LeaseTransport } from '../ports/lease-transport.js';
import { KeepaliveLedger, defaultPacing, type LeaseRules } from '../core/lease.js';
import { backoffDelayMs, type BackoffPolicy } from '../core/backoff.js';

/**
 * Pacing of reopening streams that failed with no answer: 100 ms, doubling up to the keepalive
 * interval (TTL/4) — retrying faster than keepalives are sent gains nothing.
 */
export function reopenPolicy(intervalMs: number): BackoffPolicy {
  return { baseMs: 100, capMs: Math.max(100, intervalMs) };
}

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
  /** The lease arithmetic's rule table (core/lease.ts LEASE_RULES unless a test swaps it). */
  rules?: LeaseRules;
}

export interface KeeperPorts {
  transport: LeaseTransport;
  clock: Clock;
  timers: Timers;
}

export class LeaseKeeper {
  leaseId = '';
  private readonly ledger: KeepaliveLedger;
  private channel: KeepaliveChannel | undefined;
  private opening = false;
  private cancelTimer: (() => void) | undefined;
  private cancelReopen: (() => void) | undefined;
  private stopped = false;
  private memberIndex = 0;
  /** Streams in a row that ended (or could not open) before any answer: paces reopening. */
  private streamFailures = 0;
  /** Bumped whenever a stream is dropped: callbacks of older streams are ignored. */
  private streamEpoch = 0;
  private onFirstAnswer: ((alive: boolean) => void) | undefined;

  constructor(
    private readonly ports: KeeperPorts,
    private readonly options: LeaseKeeperOptions,
    private readonly listener: LeaseKeeperListener,
  ) {
    const pacing = defaultPacing(options.ttlSec);
    this.ledger = new KeepaliveLedger(options.ttlSec, {
      intervalMs: options.intervalMs ?? pacing.intervalMs,
      responseTimeoutMs: options.responseTimeoutMs ?? pacing.responseTimeoutMs,
    }, options.rules);
  }

  get grantedTtlSec(): number {
    return this.ledger.grantedTtlSec;
  }

  get validUntilMs(): number {
    return this.ledger.validUntilMs;
  }

  /** Grants a new lease, trying each member once. The grant counts as a renewal sent when the call was made. */
  grantWith(done: (r: { ok: true; leaseId: string } | { ok: false; error: string }) => void): void {
    const sentAtMs = this.ports.clock.monotonicMs();
    const attempt = (i: number, lastError: string): void => {
      if (i >= this.ports.transport.memberCount) return done({ ok: false, error: lastError });
      const member = (this.memberIndex + i) % this.ports.transport.memberCount;
      this.ports.transport.grant(member, this.options.ttlSec, this.options.callTimeoutMs, (r) => {
        if (!r.ok) return attempt(i + 1, r.error);
        this.leaseId = r.value.leaseId;
        const validUntilMs = this.ledger.granted(sentAtMs, r.value.ttlSec);
        this.start();
        this.listener.renewed(validUntilMs);
        done({ ok: true, leaseId: this.leaseId });
      });
    };
    attempt(0, 'no etcd member');
  }

  grant(): Promise<string> {
    return new Promise((resolve, reject) => this.grantWith((r) => (r.ok ? resolve(r.leaseId) : reject(new Error(r.error)))));
  }

  /**
   * Resumes a lease granted by an earlier run of this agent (kept in dataDir): true when etcd
   * answered a keepalive with TTL > 0 within `timeoutMs`, so the lease and every key bound to it
   * are still ours.
   */
  resumeWith(leaseId: string, ttlSec: number, timeoutMs: number, done: (alive: boolean) => void): void {
    this.leaseId = leaseId;
    this.ledger.resuming(ttlSec);
    let settled = false;
    let cancelDeadline = (): void => undefined;
    const settle = (alive: boolean): void => {
      if (settled) return;
      settled = true;
      this.onFirstAnswer = undefined;
      cancelDeadline();
      if (!alive) this.release();
      done(alive);
    };
    this.onFirstAnswer = settle;
    cancelDeadline = this.ports.timers.after(timeoutMs, () => settle(false));
    this.start();
  }

  resume(leaseId: string, ttlSec: number, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => this.resumeWith(leaseId, ttlSec, timeoutMs, resolve));
  }

  /** True while the lease is certainly ours for at least `marginMs` more. */
  isValid(marginMs: number): boolean {
    return !this.stopped && this.ledger.isSound(this.ports.clock.monotonicMs(), marginMs);
  }

  /** Stops keepalives; the lease then expires on its own after its TTL. */
  release(): void {
    this.stopped = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.cancelReopen?.();
    this.cancelReopen = undefined;
    this.dropChannel();
    const waiting = this.onFirstAnswer;
    this.onFirstAnswer = undefined;
    waiting?.(false);
  }

  /** Stops keepalives and deletes the lease (and every key bound to it) now. */
  revoke(): Promise<void> {
    this.release();
    return new Promise((resolve, reject) =>
      this.ports.transport.revoke(this.memberIndex, this.leaseId, this.options.callTimeoutMs, (r) => (r.ok ? resolve() : reject(new Error(r.error)))),
    );
  }

  private start(): void {
    this.stopped = false;
    this.ledger.streamDropped();
    this.openStream();
  }

  private dropChannel(): void {
    this.streamEpoch++;
    this.ledger.streamDropped();
    const old = this.channel;
    this.channel = undefined;
    old?.close();
  }

  /**
   * One timer, set for the next moment something is due: the next keepalive send, or the
   * response deadline of the oldest unanswered one. (An idle agent wakes about 4 times per TTL.)
   */
  private schedule(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    if (this.stopped || !this.channel) return;
    // At least 1 ms (as Node's timers): a due time a float rounding short of now must not re-arm at now forever.
    const delayMs = Math.max(1, this.ledger.nextDueMs() - this.ports.clock.monotonicMs());
    this.cancelTimer = this.ports.timers.after(delayMs, () => {
      this.cancelTimer = undefined;
      this.tick();
    });
  }

  private tick(ioRead = false): void {
    if (this.stopped || !this.channel) return;
    const nowMs = this.ports.clock.monotonicMs();
    const late = this.ledger.late(nowMs);
    if (late) {
      if (!ioRead) {
        // After the event loop was held (a burst of work under load), timers run before the I/O
        // that may already carry the answer: read it first (an answer reschedules the timer).
        this.ports.timers.afterIo(() => {
          if (this.cancelTimer === undefined) this.tick(true);
        });
        return;
      }
      this.listener.late({ ...late, peer: this.channel.peer() });
      this.replaceStream();
      return;
    }
    if (this.ledger.sendDue(nowMs)) {
      this.ledger.sent(nowMs);
      this.channel.send(this.leaseId);
    }
    this.schedule();
  }

  private replaceStream(): void {
    if (this.channel) this.memberIndex = (this.memberIndex + 1) % this.ports.transport.memberCount;
    this.dropChannel();
    this.reopenLater();
  }

  /**
   * Opens the next stream: at once after a stream that was answered (moving to the next member
   * fast is what keeps the lease), otherwise after a capped backoff with jitter — while no member
   * has a leader every stream fails at once, and reopening without a pause was a busy loop.
   */
  private reopenLater(): void {
    if (this.cancelReopen || this.stopped) return;
    const delayMs = backoffDelayMs(this.streamFailures++, reopenPolicy(this.ledger.pacing.intervalMs), this.options.jitter);
    if (delayMs === 0) {
      this.openStream();
      return;
    }
    this.cancelReopen = this.ports.timers.after(delayMs, () => {
      this.cancelReopen = undefined;
      this.openStream();
    });
  }

  private openStream(): void {
    if (this.opening || this.stopped || this.channel) return;
    this.opening = true;
    const epoch = ++this.streamEpoch;
    this.ports.transport.open(
      this.memberIndex,
      {
        answer: (ttlSec) => {
          if (epoch === this.streamEpoch) this.onAnswer(ttlSec);
        },
        ended: () => {
          if (epoch === this.streamEpoch && this.channel) this.replaceStream();
        },
      },
      (r) => {
        this.opening = false;
        if (!r.ok) {
          // Could not open on this member: try the next one after the backoff.
          this.memberIndex = (this.memberIndex + 1) % this.ports.transport.memberCount;
          this.streamFailures = Math.max(this.streamFailures, 1); // never at once: 100 ms at least
          this.reopenLater();
          return;
        }
        if (this.stopped || epoch !== this.streamEpoch) {
          r.value.close();
          return;
        }
        this.channel = r.value;
        this.ledger.streamDropped(); // a new stream sends at once
        this.tick();
      },
    );
  }

  private onAnswer(ttlSec: number): void {
    if (!this.channel) return;
    this.streamFailures = 0;
    const nowMs = this.ports.clock.monotonicMs();
    const answer = this.ledger.answered(ttlSec, nowMs);
    if (answer.kind === 'lost') {
      this.release();
      this.listener.lost('etcd reports the lease expired or revoked (TTL 0)');
      return;
    }
    this.schedule();
    if (answer.rttMs !== null) this.listener.answered?.(answer.rttMs, this.channel.peer());
    if (answer.kind === 'renewed') {
      this.listener.renewed(answer.validUntilMs);
      this.onFirstAnswer?.(true);
    }
  }
}
