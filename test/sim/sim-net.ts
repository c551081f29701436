// The network between hosts and the etcd cluster: per-call latency, partitions host<->etcd, and
// replies lost AFTER the server applied the request (the caller sees `unknown`, as the real store
// does when a call fails). Every call has a deadline (SPEC §5.5): an unanswered call ends in
// `unknown` at the deadline. Replies reach the host through SimHost.post, so a frozen host sees them
// only when it resumes and a restarted agent never sees its predecessor's replies.
import type { Prng } from './prng.js';
import type { Scheduler } from './scheduler.js';

export const CALL_DEADLINE_MS = 2000;

export type Reply<T> = { ok: true; value: T } | { ok: false; error: string };

export interface NetEndpoint {
  readonly name: string;
  /** Runs `task` on this host if the agent incarnation `epoch` is still alive (deferred while frozen). */
  post(epoch: number, task: () => void): void;
}

export class SimNet {
  readonly partitioned = new Set<string>();
  replyLossRate = 0;
  slowRate = 0;
  /** Called on every heal, so watches resume (world.ts). */
  onHeal: (host: string) => void = () => undefined;

  constructor(
    private readonly sched: Scheduler,
    private readonly prng: Prng,
  ) {}

  reachable(host: string): boolean {
    return !this.partitioned.has(host);
  }

  cut(host: string): void {
    this.partitioned.add(host);
  }

  heal(host: string): void {
    if (this.partitioned.delete(host)) this.onHeal(host);
  }

  latencyMs(): number {
    return this.prng.chance(this.slowRate) ? this.prng.range(50, 1500) : this.prng.range(0.3, 3);
  }

  /**
   * One unary call. `apply` runs on the server when the request arrives (if it arrives); its result
   * or exception travels back unless the reply is lost, in which case the caller gets an error at
   * the deadline although the server may have applied the request.
   */
  call<T>(from: NetEndpoint, epoch: number, apply: () => T, done: (r: Reply<T>) => void, deadlineMs = CALL_DEADLINE_MS): void {
    const sentAt = this.sched.nowMs;
    const timeout = (why: string): void => this.sched.at(sentAt + deadlineMs, () => from.post(epoch, () => done({ ok: false, error: why })));
    if (!this.reachable(from.name)) return timeout('deadline exceeded (partitioned)');
    const up = this.latencyMs();
    if (up >= deadlineMs) return timeout('deadline exceeded');
    this.sched.after(up, () => {
      if (!this.reachable(from.name)) return timeout('deadline exceeded (partitioned)');
      let reply: Reply<T>;
      try {
        reply = { ok: true, value: apply() };
      } catch (err) {
        reply = { ok: false, error: err instanceof Error ? err.message : String(err) };
      }
      const down = this.latencyMs();
      if (this.prng.chance(this.replyLossRate) || this.sched.nowMs + down - sentAt >= deadlineMs) return timeout('reply lost');
      this.sched.after(down, () => {
        if (!this.reachable(from.name)) return timeout('reply lost (partitioned)');
        from.post(epoch, () => done(reply));
      });
    });
  }

  /** A message on a stream (lease keepalive): no deadline, just lost when the path is cut. */
  stream<T>(from: NetEndpoint, epoch: number, apply: () => T, done: (value: T) => void): void {
    if (!this.reachable(from.name)) return;
    this.sched.after(this.latencyMs(), () => {
      if (!this.reachable(from.name)) return;
      const value = apply();
      this.sched.after(this.latencyMs(), () => {
        if (this.reachable(from.name)) from.post(epoch, () => done(value));
      });
    });
  }
}
