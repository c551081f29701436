// The clock port. Lease validity is measured on the monotonic clock only (SPEC §5.3): an NTP step
// of the wall clock must not extend or shorten a lease. The wall clock is for records people read
// (events, bans with an end time, status `since`).
export interface Clock {
  /** Monotonic milliseconds since an arbitrary origin; comparable only within this process. */
  monotonicMs(): number;
  /** Wall-clock milliseconds since the epoch, for records shown to people. */
  wallMs(): number;
}

export const systemClock: Clock = {
  monotonicMs: () => Number(process.hrtime.bigint()) / 1e6,
  wallMs: () => Date.now(),
};

/**
 * The timer port: one-shot timers on the monotonic clock. Production uses Node's timers; the
 * simulator runs the same code on its virtual time.
 */
export interface Timers {
  /** Runs `task` once, `delayMs` from now; the returned function cancels it (a no-op once run). */
  after(delayMs: number, task: () => void): () => void;
  /** Runs `task` once the I/O already waiting has been read (Node's setImmediate). */
  afterIo(task: () => void): void;
}

export const systemTimers: Timers = {
  after(delayMs, task) {
    const handle = setTimeout(task, Math.max(0, delayMs));
    return () => clearTimeout(handle);
  },
  afterIo(task) {
    setImmediate(task);
  },
};
