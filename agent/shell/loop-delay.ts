// How late the agent's event loop runs (perf_hooks.monitorEventLoopDelay): everything the agent
// does — lease keepalives first — waits behind whatever holds the loop, so this is the measure of
// whether its own work (a burst of forks, a large view) can starve the lease. Sampled in windows:
// each window's p99 and max, and the largest delay since start; a window whose max passes
// `warnAboveMs` is reported to the caller (who logs it).
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** The histogram's sampling timer: a block shorter than this is not seen. */
const RESOLUTION_MS = 20;

export interface LoopDelayWindow {
  p99Ms: number;
  maxMs: number;
}

export class LoopDelay {
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  private timer: NodeJS.Timeout | undefined;
  private last: LoopDelayWindow = { p99Ms: 0, maxMs: 0 };
  private worstMs = 0;

  constructor(
    private readonly windowMs: number,
    private readonly warnAboveMs: number,
    private readonly delayed: (window: LoopDelayWindow) => void,
  ) {}

  start(): void {
    this.histogram.enable();
    this.timer = setInterval(() => this.endWindow(), this.windowMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.histogram.disable();
  }

  /** The last complete window, and the largest delay seen since start (ms). */
  read(): LoopDelayWindow & { worstMs: number } {
    // The window in progress counts for the worst too: a block just now must show at once.
    const currentMaxMs = this.histogram.count > 0 ? this.histogram.max / 1e6 - RESOLUTION_MS : 0;
    return { ...this.last, worstMs: Math.max(this.worstMs, currentMaxMs) };
  }

  private endWindow(): void {
    if (this.histogram.count === 0) return;
    // The histogram measures the timer's lateness including its own resolution.
    const window = {
      p99Ms: Math.max(0, this.histogram.percentile(99) / 1e6 - RESOLUTION_MS),
      maxMs: Math.max(0, this.histogram.max / 1e6 - RESOLUTION_MS),
    };
    this.histogram.reset();
    this.last = window;
    this.worstMs = Math.max(this.worstMs, window.maxMs);
    if (window.maxMs > this.warnAboveMs) this.delayed(window);
  }
}
