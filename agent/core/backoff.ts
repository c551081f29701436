// Retry pacing: exponential backoff with a cap, so that an attempt that keeps failing (a stop, a
// release, a stream to etcd) is retried at most once per `capMs` instead of as fast as the event
// loop turns. Guarantee: after n consecutive failures the next attempt waits at least
// min(baseMs × 2^(n-1), capMs) — or half of that with jitter — on the monotonic clock.

export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

/**
 * The wait after the `failures`-th consecutive failure (1 = the first). With `jitter` (a source of
 * numbers in [0, 1), seeded or injected by the caller) the wait is drawn from [d/2, d): peers that
 * failed at the same moment do not all retry at the same moment.
 */
export function backoffDelayMs(failures: number, policy: BackoffPolicy, jitter?: () => number): number {
  if (failures <= 0) return 0;
  const fullMs = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(failures - 1, 30));
  return jitter ? fullMs / 2 + (fullMs / 2) * jitter() : fullMs;
}

/** One retry path's state: how many attempts failed in a row, and when the next one may run. */
export class Backoff {
  failures = 0;
  /** Monotonic ms before which the next attempt must not run (0: now). */
  notBeforeMs = 0;

  constructor(
    private readonly policy: BackoffPolicy,
    private readonly jitter?: () => number,
  ) {}

  /** True when the next attempt may run at `nowMs`. */
  ready(nowMs: number): boolean {
    return nowMs >= this.notBeforeMs;
  }

  /** An attempt failed at `nowMs`: returns the wait before the next one. */
  failed(nowMs: number): number {
    this.failures++;
    const delayMs = backoffDelayMs(this.failures, this.policy, this.jitter);
    this.notBeforeMs = nowMs + delayMs;
    return delayMs;
  }

  /** An attempt succeeded (or an operator asked for a fresh one): the next may run at once. */
  reset(): void {
    this.failures = 0;
    this.notBeforeMs = 0;
  }
}

/**
 * A jitter source seeded from `seed` (a node name): numbers in [0, 1), reproducible for one seed,
 * different across hosts — so hosts that lost etcd together spread their retries, and a test or
 * the simulator can replay them. (splitmix32; no Math.random.)
 */
export function seededJitter(seed: string): () => number {
  let state = 0x9e3779b9;
  for (let i = 0; i < seed.length; i++) state = Math.imul(state ^ seed.charCodeAt(i), 0x01000193) >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 2 ** 32;
  };
}
