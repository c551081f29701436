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
