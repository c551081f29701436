// A simulated host: power, freeze (SIGSTOP / VM pause), a drifting monotonic clock, a disk that
// keeps the lease file across agent restarts, the ground truth of its resources, and at most one
// running agent incarnation (AgentProc, in sim-agent.ts). Everything that happens "on" the host goes
// through post(): it is dropped when the incarnation it belongs to has died, and held while the host
// is frozen, then run in order when it thaws, exactly as a stopped process sees its timers and
// sockets after SIGCONT.
import type { ActionOutcome } from '../../agent/core/results.js';
import type { KeeperHost } from './sim-lease.js';
import { isActive, planAction, truthAfter, type RunRequest, type Truth } from './sim-runner.js';
import type { SimEnv } from './sim-env.js';
import { AgentProc } from './sim-agent.js';

export const GHOST_START = 'start finished after a newer agent incarnation had started';
/** agent/ocf/runner.ts KILL_GRACE_MS: SIGTERM, then SIGKILL of the action's process group after this. */
export const KILL_GRACE_MS = 2000;

/**
 * One OCF action's process group while it runs. Its pgid is recorded in dataDir (BUG-5 fix), so the
 * record survives an agent crash but not a reboot (the processes die with the host).
 */
export interface ActionHandle {
  readonly epoch: number;
  readonly req: RunRequest;
  /** The action's own `done` will never be called again: it finished, was aborted or killed. */
  ended: boolean;
  /** SIGTERM sent to its group (BUG-3 fix): it ends at once or at the SIGKILL KILL_GRACE_MS later. */
  aborting: boolean;
}
export const WALL_ORIGIN_MS = Date.UTC(2030, 0, 1);

export interface LeaseFile {
  leaseId: string;
  ttlSec: number;
  node: string;
  /** Revision of the registration made with this lease (agent.ts PersistedLease, BUG-7 fix). */
  registeredRevision?: number;
}

export class SimHost implements KeeperHost {
  powered = true;
  paused = false;
  bootEpoch = 0;
  agentEpoch = 0;
  agent: AgentProc | null = null;
  /** dataDir/lease.json: survives agent crashes and reboots. */
  leaseFile: LeaseFile | null = null;
  readonly truth = new Map<string, Truth[]>();
  /** The process groups of the OCF actions running now, as recorded in dataDir (BUG-5 fix). */
  readonly inFlight = new Set<ActionHandle>();
  private deferred: (() => void)[] = [];
  private monoOffsetMs: number;

  constructor(
    readonly name: string,
    private readonly env: SimEnv,
    /** Monotonic clock rate relative to true time (1 ± drift). */
    readonly clockRate: number,
  ) {
    this.monoOffsetMs = env.prng.range(1e6, 1e7);
    for (const [set, spec] of Object.entries(env.config.serviceSets)) {
      this.truth.set(set, spec.resources.map(() => ({ state: 'stopped', token: null, orphan: null })));
    }
  }

  monotonicMs(): number {
    return this.monoOffsetMs + this.env.sched.nowMs * this.clockRate;
  }

  wallMs(): number {
    return WALL_ORIGIN_MS + this.env.sched.nowMs;
  }

  post(epoch: number, task: () => void): void {
    if (!this.powered || epoch !== this.agentEpoch) return;
    if (this.paused) this.deferred.push(() => this.post(epoch, task));
    else task();
  }

  timer(epoch: number, delayMs: number, task: () => void): void {
    this.env.sched.after(Math.max(0, delayMs) / this.clockRate, () => this.post(epoch, task));
  }

  // ---- faults --------------------------------------------------------------------------------

  startAgent(): void {
    if (!this.powered || this.agent) return;
    this.agentEpoch++;
    this.agent = new AgentProc(this, this.agentEpoch, this.env);
    this.env.trace(this.name, 'agent started');
    this.agent.start();
  }

  /** SIGKILL of the agent only: its resources keep running, unwatched, until it comes back. */
  crashAgent(): void {
    if (!this.agent) return;
    const leaseId = this.agent.keeper?.leaseId;
    this.agentEpoch++;
    this.agent = null;
    this.markOrphans('agent crashed', leaseId);
    this.env.trace(this.name, 'agent crashed (resources left running)');
  }

  /** Power off (host crash, or a fence device): every resource dies with it. */
  powerOff(why: string): void {
    if (!this.powered) return;
    this.powered = false;
    this.paused = false;
    this.deferred = [];
    this.bootEpoch++;
    this.agentEpoch++;
    this.agent = null;
    this.inFlight.clear();
    for (const list of this.truth.values()) list.forEach((_, i) => (list[i] = { state: 'stopped', token: null, orphan: null }));
    this.env.checker.truthChanged();
    this.env.trace(this.name, `powered off (${why})`);
  }

  powerOn(): void {
    if (this.powered) return;
    this.powered = true;
    this.monoOffsetMs = this.env.prng.range(1e6, 1e7) - this.env.sched.nowMs * this.clockRate;
    this.env.trace(this.name, 'powered on');
    this.startAgent();
  }

  /** Armed by the 'pause in flight' fault: freeze for this long right after the next keepalive leaves. */
  pauseOnKeepaliveMs: number | null = null;

  keepaliveSent(): void {
    const forMs = this.pauseOnKeepaliveMs;
    if (forMs === null) return;
    this.pauseOnKeepaliveMs = null;
    // Before the answer can come back (the network's latency is at least 0.3 ms each way).
    this.env.sched.after(0.1, () => {
      this.pause();
      this.env.sched.after(forMs, () => this.resume());
    });
  }

  pause(): void {
    if (!this.powered || this.paused) return;
    this.paused = true;
    this.markOrphans('host frozen', this.agent?.keeper?.leaseId);
    this.env.trace(this.name, 'frozen (SIGSTOP)');
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const held = this.deferred;
    this.deferred = [];
    this.env.trace(this.name, `thawed (${held.length} held events)`);
    for (const task of held) this.env.sched.after(0, task);
  }

  /**
   * The lease `leaseId` was renewed: copies frozen under it were never at risk (the thawed agent
   * knows them and self-fences if it must).
   */
  leaseRenewed(leaseId: string): void {
    for (const list of this.truth.values()) for (const t of list) if (t.orphan && t.orphan.leaseId === leaseId && t.orphan.reason === 'host frozen') t.orphan = null;
  }

  /**
   * A new agent incarnation probed `set` and adopted it (it still owns it): from now on it knows
   * the copies a crashed one left and self-fences them. Before that (even with the lease resumed)
   * nobody can; and copies it found as a non-owner stay orphans of the crash until it stopped them.
   */
  adopted(set: string): void {
    for (const t of this.truth.get(set)!) if (t.orphan?.reason === 'agent crashed') t.orphan = null;
  }

  /** Copies nobody looks after now; renewing `leaseId` later shows their agent was back in time. */
  private markOrphans(reason: string, leaseId = this.leaseFile?.leaseId ?? ''): void {
    for (const list of this.truth.values()) for (const t of list) if (isActive(t) && !t.orphan) t.orphan = { reason, leaseId };
  }

  // ---- the OCF runner ------------------------------------------------------------------------

  /** Runs one OCF action; `done` reaches the agent incarnation `epoch` only. */
  runAction(epoch: number, req: RunRequest, done: (outcome: ActionOutcome) => void): ActionHandle {
    const list = this.truth.get(req.set)!;
    const before = list[req.index];
    const plan = planAction(this.env.prng, this.env.faultRates(), req, before);
    if (req.action === 'start') {
      this.env.checker.onStart(this, req);
      list[req.index] = { state: before.state === 'stopped' ? 'starting' : before.state, token: req.token, orphan: null, startedAtMs: this.env.sched.nowMs };
    } else if (req.action === 'stop' && isActive(before)) {
      list[req.index] = { ...before, state: 'stopping' };
    }
    this.env.checker.truthChanged();
    const handle: ActionHandle = { epoch, req, ended: false, aborting: false };
    this.inFlight.add(handle);
    const boot = this.bootEpoch;
    this.env.sched.after(plan.durationMs / this.clockRate, () => this.afterAction(boot, handle, plan.outcome, done));
    return handle;
  }

  private afterAction(boot: number, handle: ActionHandle, outcome: ActionOutcome, done: (o: ActionOutcome) => void): void {
    if (!this.powered || boot !== this.bootEpoch || handle.ended) return;
    if (this.paused) {
      this.deferred.push(() => this.afterAction(boot, handle, outcome, done));
      return;
    }
    const { req, epoch } = handle;
    this.end(handle);
    const list = this.truth.get(req.set)!;
    let next = truthAfter(req.action, outcome, list[req.index], this.env.prng);
    if (req.action === 'stop' && isActive(next)) next = { ...next, orphan: { reason: 'stop failed', leaseId: this.leaseFile?.leaseId ?? '' } };
    if (req.action === 'start' && epoch !== this.agentEpoch && isActive(next)) {
      // The action's child outlived its agent (detached process group). Before a new incarnation
      // runs, nobody looks after the copy (an agent crash); once one runs and has probed, nobody
      // knows about it at all (BUG-5, impossible while leftovers are killed before the probe).
      next = { ...next, orphan: { reason: this.agent ? GHOST_START : 'agent crashed', leaseId: this.leaseFile?.leaseId ?? '' } };
    }
    list[req.index] = next;
    this.env.checker.truthChanged();
    this.post(epoch, () => done(outcome));
  }

  private end(handle: ActionHandle): void {
    handle.ended = true;
    this.inFlight.delete(handle);
  }

  /** What killing an action's process group leaves: a start may have brought part of it up. */
  private killed(handle: ActionHandle): void {
    const list = this.truth.get(handle.req.set)!;
    const t = list[handle.req.index];
    if (handle.req.action === 'start' && t.state === 'starting') list[handle.req.index] = this.env.prng.chance(0.5) ? { ...t, state: 'running' } : { state: 'stopped', token: null, orphan: null };
    else if (handle.req.action === 'stop' && t.state === 'stopping') list[handle.req.index] = { ...t, state: 'running' };
    this.env.checker.truthChanged();
  }

  /**
   * BUG-3 fix (agent.ts aborts in-flight starts and monitors when its lease falls into doubt).
   * As the lead specified it: SIGTERM to the action's group; most agents exit within ~100 ms, one
   * that traps or ignores it dies at the SIGKILL KILL_GRACE_MS later. BUG-12 (runner.ts onAbort): SIGKILL
   * at once, gone within a few ms: the 2 s TERM grace is not covered by the takeover grace.
   * `done` then reports the action (timed-out, as the runner does).
   */
  abortAction(handle: ActionHandle, how: 'term-then-kill' | 'kill', done: (outcome: ActionOutcome) => void): void {
    if (handle.ended || handle.aborting) return;
    handle.aborting = true;
    const boot = this.bootEpoch;
    const diesAfterMs = how === 'kill' ? this.env.prng.range(1, 20) : this.env.prng.chance(0.7) ? this.env.prng.range(5, 100) : KILL_GRACE_MS;
    const die = (): void => {
      if (!this.powered || boot !== this.bootEpoch || handle.ended) return;
      if (this.paused) return void this.deferred.push(die);
      this.end(handle);
      this.killed(handle);
      this.post(handle.epoch, () => done({ status: 'timed-out' }));
    };
    this.env.sched.after(diesAfterMs / this.clockRate, die);
  }

  /**
   * BUG-5 fix (agent.ts at start-up, before probing): SIGKILL every process group an earlier agent
   * incarnation recorded in dataDir. Returns how many there were; they are gone at once.
   */
  killLeftovers(epoch: number): number {
    const old = [...this.inFlight].filter((h) => h.epoch < epoch);
    for (const h of old) {
      this.end(h);
      this.killed(h);
    }
    return old.length;
  }

  /** A resource dies by itself (flapping); the next monitor or probe finds it. */
  crashResource(set: string, index: number): void {
    const list = this.truth.get(set)!;
    if (list[index].state !== 'running') return;
    list[index] = { state: 'stopped', token: null, orphan: null };
    this.env.checker.truthChanged();
    this.env.trace(this.name, `resource ${this.env.config.serviceSets[set].resources[index].id} of ${set} died`);
  }

  activeSets(): string[] {
    return [...this.truth].filter(([, list]) => list.some(isActive)).map(([set]) => set);
  }
}
