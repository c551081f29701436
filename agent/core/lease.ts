// The lease arithmetic: what a host may conclude about its etcd lease from the keepalives it sent
// and the answers it got. Pure: times are passed in (monotonic ms), nothing is read or sent here.
//
// Guarantee: every keepalive is stamped with its SEND time. An answer with TTL > 0 proves the
// server refreshed the lease at some instant after that send, so the server cannot expire it before
// `sendTime + grantedTtl`: that is `validUntilMs`. Stamping the answer's ARRIVAL instead would
// claim up to one round trip (or one stalled stream) of lease the server never promised — the
// classic lease bug; `test/unit/lease.test.ts` pins the difference.
// Non-guarantee: the server may keep the lease longer (a leader change renews every lease); that
// only delays a takeover, it never lets two owners overlap.
//
// Answers on one stream come back in the order of their requests (a gRPC stream is ordered), so
// the oldest unanswered send is the one an answer belongs to. When a stream is dropped its pending
// sends are forgotten: a late answer on a new stream must never be matched to an old send.

export interface KeepalivePacing {
  /** Keepalive period (TTL/4 by default). */
  intervalMs: number;
  /** An answer missing for longer than this drops the stream (min(300 ms, TTL/4) by default). */
  responseTimeoutMs: number;
}

/**
 * The one rule of the arithmetic that a mistake would break silently, as a table the keeper takes:
 * the instant an answer proves the lease from. Production uses LEASE_RULES; the simulator's
 * mutation tests swap in a broken table to show its checker catches the classic bug.
 */
export interface LeaseRules {
  /** For an answer to a keepalive sent at `sentAtMs` and handled at `answeredAtMs`. */
  provenFromMs(sentAtMs: number, answeredAtMs: number): number;
}

export const LEASE_RULES: LeaseRules = { provenFromMs: (sentAtMs) => sentAtMs };

export function defaultPacing(ttlSec: number): KeepalivePacing {
  const quarterMs = (ttlSec * 1000) / 4;
  return { intervalMs: quarterMs, responseTimeoutMs: Math.min(300, quarterMs) };
}

/** What an answer on the current stream means. */
export type Answer =
  | { kind: 'renewed'; validUntilMs: number; rttMs: number }
  /** TTL > 0 but no later than what is already known (or nothing pending to match). */
  | { kind: 'no-change'; rttMs: number | null }
  /** TTL 0: etcd says the lease is gone (expired or revoked). Definitive. */
  | { kind: 'lost' };

export class KeepaliveLedger {
  validUntilMs = 0;
  grantedTtlSec: number;
  lastSendMs = -Infinity;
  private pendingSendsMs: number[] = [];

  constructor(
    ttlSec: number,
    readonly pacing: KeepalivePacing = defaultPacing(ttlSec),
    private readonly rules: LeaseRules = LEASE_RULES,
  ) {
    this.grantedTtlSec = ttlSec;
  }

  /** A grant call sent at `sentAtMs` was answered with `ttlSec`: it counts as a renewal. */
  granted(sentAtMs: number, ttlSec: number): number {
    this.grantedTtlSec = ttlSec;
    this.validUntilMs = Math.max(this.validUntilMs, sentAtMs + ttlSec * 1000);
    return this.validUntilMs;
  }

  /** Resuming a lease of an earlier run: nothing is known until an answer comes. */
  resuming(ttlSec: number): void {
    this.grantedTtlSec = ttlSec;
    this.validUntilMs = 0;
    this.streamDropped();
  }

  /** True when a keepalive is due on an open stream at `nowMs`. */
  sendDue(nowMs: number): boolean {
    return nowMs - this.lastSendMs >= this.pacing.intervalMs;
  }

  sent(nowMs: number): void {
    this.lastSendMs = nowMs;
    this.pendingSendsMs.push(nowMs);
  }

  /** The oldest send unanswered past the response timeout, if any: the stream must be replaced. */
  late(nowMs: number): { sentAtMs: number; waitedMs: number } | null {
    const oldest = this.pendingSendsMs[0];
    if (oldest === undefined || nowMs - oldest <= this.pacing.responseTimeoutMs) return null;
    return { sentAtMs: oldest, waitedMs: nowMs - oldest };
  }

  /** The next moment something is due: a send, or the response deadline of the oldest pending send. */
  nextDueMs(): number {
    const oldest = this.pendingSendsMs[0];
    const sendMs = this.lastSendMs + this.pacing.intervalMs;
    return oldest === undefined ? sendMs : Math.min(sendMs, oldest + this.pacing.responseTimeoutMs + 1);
  }

  /** The stream was dropped: forget its pending sends; a new stream sends at once. */
  streamDropped(): void {
    this.pendingSendsMs = [];
    this.lastSendMs = -Infinity;
  }

  /** An answer arrived at `nowMs` on the current stream with `ttlSec`. */
  answered(ttlSec: number, nowMs: number): Answer {
    const sentAtMs = this.pendingSendsMs.shift();
    if (ttlSec <= 0) return { kind: 'lost' };
    if (sentAtMs === undefined) return { kind: 'no-change', rttMs: null };
    this.grantedTtlSec = ttlSec;
    const validUntilMs = this.rules.provenFromMs(sentAtMs, nowMs) + ttlSec * 1000;
    if (validUntilMs <= this.validUntilMs) return { kind: 'no-change', rttMs: nowMs - sentAtMs };
    this.validUntilMs = validUntilMs;
    return { kind: 'renewed', validUntilMs, rttMs: nowMs - sentAtMs };
  }

  /** True while the lease is certainly ours for at least `marginMs` more. */
  isSound(nowMs: number, marginMs: number): boolean {
    return nowMs < this.validUntilMs - marginMs;
  }
}
