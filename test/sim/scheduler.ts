// Simulated true time and the event queue. Time is in milliseconds of "true" (server) time; each
// host converts it to its own drifting monotonic clock (see SimClock in sim-host.ts). Events at the
// same instant run in the order they were scheduled, so a run is a pure function of the seed.

export type Task = () => void;

interface Entry {
  atMs: number;
  seq: number;
  task: Task;
}

export class Scheduler {
  nowMs = 0;
  steps = 0;
  private seq = 0;
  private heap: Entry[] = [];

  at(atMs: number, task: Task): void {
    const entry = { atMs: Math.max(atMs, this.nowMs), seq: this.seq++, task };
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  after(delayMs: number, task: Task): void {
    this.at(this.nowMs + Math.max(0, delayMs), task);
  }

  /** Runs events up to `untilMs`; `afterEach` runs after every event (the safety checker). */
  runUntil(untilMs: number, afterEach?: () => boolean): boolean {
    while (this.heap.length > 0 && this.heap[0].atMs <= untilMs) {
      const entry = this.pop();
      this.nowMs = entry.atMs;
      this.steps++;
      entry.task();
      if (afterEach && !afterEach()) return false;
    }
    this.nowMs = Math.max(this.nowMs, untilMs);
    return true;
  }

  private pop(): Entry {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l], heap[m])) m = l;
        if (r < heap.length && before(heap[r], heap[m])) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m], heap[i]];
        i = m;
      }
    }
    return top;
  }
}

function before(x: Entry, y: Entry): boolean {
  return x.atMs < y.atMs || (x.atMs === y.atMs && x.seq < y.seq);
}
