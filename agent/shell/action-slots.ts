// Bounded action concurrency per host (Pacemaker's node-action-limit): at most `limit` resource
// actions run at once; the rest wait in a queue. Every action is a fork on the agent's main thread
// (child_process.spawn forks synchronously), and 300 of them at once blocked the event loop for
// tens of seconds on a 2-core machine: keepalives went unanswered, every lease fell into doubt
// (issue 16). What this file guarantees:
//  - at most `limit` slots are held at once, except by urgent stops (below);
//  - slots are handed out one per event-loop turn (setImmediate), so I/O — the lease keepalives
//    first — is served between two forks however long the queue is ("paced");
//  - order: stops, then starts, then probes, then recurring monitors; within a class, the set's
//    priority (higher first), then first come first served;
//  - while `stopsUrgent()` says so (the lease is in doubt: self-fencing), stops do not wait for a
//    free slot: they go beyond the limit, still one per turn — 300 stops forked in one turn held the
//    loop for 40 s, longer than paced ones take (each fork costs the same, and I/O goes on between);
//    `expedite()` is called when the doubt begins, so stops already queued go at once;
//  - a request whose signal aborts while it waits leaves the queue and resolves to null.
// Overload is a long queue: `overloaded` turns on at OVERLOAD_QUEUE_FACTOR × limit waiting actions
// and off again at half of that (hysteresis: no flapping on every action).

export type ActionClass = 'stop' | 'start' | 'probe' | 'monitor';

const CLASSES: readonly ActionClass[] = ['stop', 'start', 'probe', 'monitor'];

/** Overloaded from this many waiting actions per slot (about four rounds of actions behind). */
export const OVERLOAD_QUEUE_FACTOR = 4;

/** The default limit: about twice the cores, as Pacemaker's node-action-limit. */
export function defaultActionLimit(cores: number): number {
  return Math.max(2, 2 * cores);
}

export interface SlotRequest {
  kind: ActionClass;
  /** The set's priority: higher goes first within the same class. */
  priority: number;
  /** Aborted while waiting: the request leaves the queue and acquire() resolves to null. */
  signal?: AbortSignal;
}

/** A held slot; release it exactly once when the action has ended. */
export interface Slot {
  release(): void;
}

export interface SlotsReport {
  limit: number;
  running: number;
  queued: number;
  overloaded: boolean;
  /** Why this host sheds work, in words for its users; null when it does not. */
  reason: string | null;
}

interface Waiter {
  request: SlotRequest;
  seq: number;
  grant: (slot: Slot | null) => void;
  onAbort?: () => void;
}

export class ActionSlots {
  private running = 0;
  private readonly queues = new Map<ActionClass, Waiter[]>(CLASSES.map((c) => [c, []]));
  private seq = 0;
  private pumpScheduled = false;
  private isOverloaded = false;

  constructor(
    readonly limit: number,
    /** True while stops must not wait (the lease is in doubt). */
    private readonly stopsUrgent: () => boolean,
    /** Told when the host enters or leaves overload. */
    private readonly overloadChanged: (overloaded: boolean) => void = () => undefined,
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`action limit must be a whole number of at least 1, got ${limit}`);
  }

  /** Waits for a slot; null when `signal` aborted first. */
  acquire(request: SlotRequest): Promise<Slot | null> {
    if (request.signal?.aborted) return Promise.resolve(null);
    return new Promise((resolve) => {
      const waiter: Waiter = { request, seq: this.seq++, grant: resolve };
      if (request.signal) {
        waiter.onAbort = () => {
          if (this.remove(waiter)) resolve(null);
        };
        request.signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.insert(waiter);
      this.noteLoad();
      this.schedulePump();
    });
  }

  /** The lease fell into doubt: queued stops go now, one per turn, whatever the limit. */
  expedite(): void {
    this.schedulePump();
  }

  get queued(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  get active(): number {
    return this.running;
  }

  get overloaded(): boolean {
    return this.isOverloaded;
  }

  report(): SlotsReport {
    const queued = this.queued;
    return {
      limit: this.limit,
      running: this.running,
      queued,
      overloaded: this.isOverloaded,
      reason: this.isOverloaded
        ? `overloaded: ${queued} resource actions waiting for ${this.limit} action slots; recurring monitors are delayed and no new service sets are taken until the queue drains`
        : null,
    };
  }

  private take(): Slot {
    this.running++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.running--;
        this.schedulePump();
      },
    };
  }

  private grant(w: Waiter): void {
    if (w.onAbort) w.request.signal?.removeEventListener('abort', w.onAbort);
    w.grant(this.take());
  }

  /** Sorted insert: higher priority first, then arrival order. */
  private insert(w: Waiter): void {
    const q = this.queues.get(w.request.kind)!;
    let lo = 0;
    let hi = q.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (q[mid].request.priority >= w.request.priority) lo = mid + 1;
      else hi = mid;
    }
    q.splice(lo, 0, w);
  }

  private remove(w: Waiter): boolean {
    const q = this.queues.get(w.request.kind)!;
    const i = q.indexOf(w);
    if (i < 0) return false;
    q.splice(i, 1);
    this.noteLoad();
    return true;
  }

  private next(): Waiter | undefined {
    for (const c of CLASSES) {
      const w = this.queues.get(c)!.shift();
      if (w) return w;
    }
    return undefined;
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => this.pump());
  }

  /** One grant per turn: the next turn's I/O (keepalive answers) comes before the next fork. */
  private pump(): void {
    this.pumpScheduled = false;
    const stops = this.queues.get('stop')!;
    const urgent = stops.length > 0 && this.stopsUrgent();
    const w = urgent ? stops.shift() : this.running < this.limit ? this.next() : undefined;
    if (!w) return;
    this.grant(w);
    this.noteLoad();
    if (this.queued > 0 && (this.running < this.limit || (urgent && stops.length > 0))) this.schedulePump();
  }

  private noteLoad(): void {
    const queued = this.queued;
    const on = this.limit * OVERLOAD_QUEUE_FACTOR;
    const next = this.isOverloaded ? queued > on / 2 : queued >= on;
    if (next === this.isOverloaded) return;
    this.isOverloaded = next;
    this.overloadChanged(next);
  }
}
