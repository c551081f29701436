// A simulated host: power, freeze (SIGSTOP / VM pause), a drifting monotonic clock, a disk that
// keeps the lease file across agent restarts, the ground truth of its resources, and at most one
// running agent incarnation (AgentProc, in sim-agent.ts). Everything that happens "on" the host goes
// through post(): it is dropped when the incarnation it belongs to has died, and held while the host
// is frozen, then run in order when it thaws, exactly as a stopped process sees its timers and
// sockets after SIGCONT.
import type { ActionOutcome } from '../../agent/core/results.js';
import type { KeeperHost } from './sim-keeper.js';
import { isActive, planAction, truthAfter, type RunRequest, type Truth } from './sim-runner.js';
import type { SimEnv } from './sim-env.js';
import { AgentProc } from './sim-agent.js';

export const GHOST_START = 'start finished after its agent died';
export const WALL_ORIGIN_MS = Date.UTC(2030, 0, 1);

export interface LeaseFile {
  leaseId: string;
  ttlSec: number;
  node: string;
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
    this.agentEpoch++;
    this.agent = null;
    this.markOrphans('agent crashed');
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

  pause(): void {
    if (!this.powered || this.paused) return;
    this.paused = true;
    this.markOrphans('host frozen');
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

  /** The lease `leaseId` was renewed: copies orphaned under it were never at risk. */
  leaseRenewed(leaseId: string): void {
    for (const list of this.truth.values()) for (const t of list) if (t.orphan && t.orphan.leaseId === leaseId && t.orphan.reason !== 'stop failed') t.orphan = null;
  }

  private markOrphans(reason: string): void {
    const leaseId = this.leaseFile?.leaseId ?? '';
    for (const list of this.truth.values()) for (const t of list) if (isActive(t) && !t.orphan) t.orphan = { reason, leaseId };
  }

  // ---- the OCF runner ------------------------------------------------------------------------

  /** Runs one OCF action; `done` reaches the agent incarnation `epoch` only. */
  runAction(epoch: number, req: RunRequest, done: (outcome: ActionOutcome) => void): void {
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
    const boot = this.bootEpoch;
    this.env.sched.after(plan.durationMs / this.clockRate, () => this.afterAction(boot, epoch, req, plan.outcome, done));
  }

  private afterAction(boot: number, epoch: number, req: RunRequest, outcome: ActionOutcome, done: (o: ActionOutcome) => void): void {
    if (!this.powered || boot !== this.bootEpoch) return;
    if (this.paused) {
      this.deferred.push(() => this.afterAction(boot, epoch, req, outcome, done));
      return;
    }
    const list = this.truth.get(req.set)!;
    let next = truthAfter(req.action, outcome, list[req.index], this.env.prng);
    if (req.action === 'stop' && isActive(next)) next = { ...next, orphan: { reason: 'stop failed', leaseId: this.leaseFile?.leaseId ?? '' } };
    // The action's child survives an agent crash (detached process group) and may finish after the
    // restarted agent probed: nobody knows about the copy it leaves.
    if (req.action === 'start' && epoch !== this.agentEpoch && isActive(next)) next = { ...next, orphan: { reason: GHOST_START, leaseId: '' } };
    list[req.index] = next;
    this.env.checker.truthChanged();
    this.post(epoch, () => done(outcome));
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
