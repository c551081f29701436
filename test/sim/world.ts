// One simulated cluster for one seed: N hosts running the real decision core, a simulated etcd,
// network, OCF runners, a fence device daemon and an operator. Two phases (TigerBeetle VOPR):
//   safety    faults fire at random moments; the checker runs after every step.
//   liveness  everything is healed and no new fault is injected; within a bounded simulated time
//             every set with an eligible host must run on exactly one host, and intents are honoured.
import { decideSet } from '../../agent/core/decide.js';
import { LEASE_RULES, type LeaseRules } from '../../agent/core/lease.js';
import { placeSet } from '../../agent/core/placement.js';
import { setRequiresFencing, type ClusterConfig } from '../../agent/config/cluster-schema.js';
import { Keys } from '../../agent/etcd/keys.js';
import { ViewBuilder } from '../../agent/etcd/view.js';
import type { ClusterView } from '../../agent/core/types.js';
import { Checker, type Violation } from './checker.js';

export const HINT_STUCK_START = 'BUG-9 establishLease retries putNode forever when the lease died meanwhile: an agent starting then never opens its watch';
export const HINT_STARVED = 'BUG-6 every lease renewal postpones the idle wake-up (TTL/4 < 1 s): after a lease doubt ends the agent never re-decides until a watch event arrives';
import { Prng } from './prng.js';
import { Scheduler } from './scheduler.js';
import { makeConfig } from './sim-config.js';
import { SimEtcd, EXPIRY_CHECK_MS } from './sim-etcd.js';
import type { DecideFn, SimEnv } from './sim-env.js';
import { SimHost, WALL_ORIGIN_MS } from './sim-host.js';
import { SimNet } from './sim-net.js';
import { NO_FAULTS, isActive, type FaultRates } from './sim-runner.js';
import { scheduleFaults } from './faults.js';
import { withReverts, type Fix } from './reverts.js';

export interface WorldOptions {
  seed: number;
  hostCount?: number;
  tracing?: boolean;
  decide?: DecideFn;
  /** A broken lease rule table (mutations.ts), instead of the product's. */
  leaseRules?: LeaseRules;
  /** Simulated duration of the fault phase. */
  safetyMs?: number;
  /** Bound of the liveness phase after healing. */
  livenessMs?: number;
  /** Inject random faults (false: only what a scenario schedules). */
  faults?: boolean;
  /** Monotonic clock drift bound, e.g. 0.01 = ±1 %. */
  driftMax?: number;
  /** A scripted story, run after bootstrap (named scenario tests). */
  scenario?: (w: World) => void;
  /** Fixes of found bugs switched off again (reverts.ts), to show a scenario still catches them. */
  revert?: readonly Fix[];
}

export interface SeedResult {
  seed: number;
  violations: Violation[];
  expected: Violation[];
  liveness: string | null;
  /** The earlier bug a liveness failure looks like (diagnosis only; it still fails the seed). */
  livenessHint?: string;
  findings: string[];
  steps: number;
  simMs: number;
  trace: string[];
}

export const SAFETY_FAULT_RATES: FaultRates = {
  startFail: 0.03,
  startHard: 0.01,
  startFatal: 0.002,
  startHang: 0.01,
  stopFail: 0.01,
  stopHang: 0.01,
  monitorFail: 0.02,
  monitorHang: 0.01,
};

export class World implements SimEnv {
  readonly sched = new Scheduler();
  readonly prng: Prng;
  readonly etcd: SimEtcd;
  readonly net: SimNet;
  readonly keys = Keys.forCluster('sim');
  readonly config: ClusterConfig;
  readonly yaml: string;
  readonly hosts: SimHost[];
  readonly checker: Checker;
  readonly decide: DecideFn;
  readonly leaseRules: LeaseRules;
  private readonly reverts: ReadonlySet<Fix>;
  readonly tracing: boolean;
  readonly driftMax: number;
  readonly traceLines: string[] = [];
  readonly findings: string[] = [];
  rates: FaultRates = NO_FAULTS;
  faultsOn = false;
  readonly lagMs = new Map<string, number>();
  /** Failover intents issued in the liveness phase: set -> target. */
  readonly intendedTo = new Map<string, string>();
  /** Intents seen honoured (set fully running on the target) or refused by the owner. */
  readonly intentDone = new Set<string>();
  private readonly fencing = new Set<string>();
  private lastDelivered = new Map<string, number>();
  private notifiedRevision = 0;

  constructor(readonly opts: WorldOptions) {
    this.prng = new Prng(opts.seed);
    this.tracing = opts.tracing ?? false;
    this.reverts = new Set(opts.revert ?? []);
    this.decide = withReverts(opts.decide ?? decideSet, this.reverts);
    this.leaseRules = opts.leaseRules ?? LEASE_RULES;
    this.driftMax = opts.driftMax ?? 0.01;
    const cfg = makeConfig(this.prng, opts.hostCount);
    this.config = cfg.config;
    this.yaml = cfg.yaml;
    this.etcd = new SimEtcd(() => this.sched.nowMs);
    this.net = new SimNet(this.sched, this.prng);
    this.net.onHeal = (host) => this.deliverTo(host, this.etcd.revision);
    this.checker = new Checker({ hosts: [], etcd: this.etcd, keys: this.keys, config: this.config, driftMax: this.driftMax, now: () => this.sched.nowMs, trace: (h, m) => this.trace(h, m) });
    this.etcd.observer = this.checker;
    this.hosts = cfg.hosts.map((name) => new SimHost(name, this, 1 + this.prng.range(-this.driftMax, this.driftMax)));
    (this.checker as unknown as { w: { hosts: SimHost[] } }).w.hosts = this.hosts;
    for (const h of this.hosts) this.lagMs.set(h.name, this.prng.range(0.5, 5));
  }

  // ---- SimEnv ----------------------------------------------------------------------------------

  faultRates(): FaultRates {
    return this.rates;
  }

  watchLagMs(host: string): number {
    return this.lagMs.get(host) ?? 1;
  }

  trace(host: string, msg: string): void {
    if (this.tracing) this.traceLines.push(`${(this.sched.nowMs / 1000).toFixed(3).padStart(8)}s ${host.padEnd(7)} ${msg}`);
  }

  private readonly views = new Map<number, ClusterView>();

  viewAt(revision: number, build: () => ClusterView): ClusterView {
    let view = this.views.get(revision);
    if (!view) {
      view = build();
      this.views.set(revision, view);
      // Lagging watches ask for recent revisions only; keep the last few dozen.
      if (this.views.size > 64) this.views.delete(this.views.keys().next().value!);
    }
    return view;
  }

  reverted(fix: Fix): boolean {
    return this.reverts.has(fix);
  }

  finding(text: string): void {
    if (!this.findings.includes(text)) this.findings.push(text);
    this.trace('finding', text);
  }

  host(name: string): SimHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host ${name}`);
    return h;
  }

  // ---- watch delivery --------------------------------------------------------------------------

  /** After each step: new revisions travel to every watching agent, in order, with its lag. */
  private notifyWatches(): void {
    const rev = this.etcd.revision;
    if (rev === this.notifiedRevision) return;
    this.notifiedRevision = rev;
    for (const h of this.hosts) this.deliverTo(h.name, rev);
  }

  private deliverTo(name: string, rev: number): void {
    const h = this.host(name);
    if (!h.agent || !this.net.reachable(name)) return;
    const at = Math.max(this.sched.nowMs + this.watchLagMs(name), this.lastDelivered.get(name) ?? 0);
    this.lastDelivered.set(name, at);
    const epoch = h.agentEpoch;
    this.sched.at(at, () => {
      if (this.net.reachable(name)) h.post(epoch, () => h.agent?.deliverWatch(rev));
    });
  }

  // ---- the fence device daemon and the operator ------------------------------------------------

  /** Fences the old holder of every set that requires fencing and is waiting for it. */
  private fenceDaemon(): void {
    for (const node of this.checker.pendingFences()) if (!this.fencing.has(node)) this.fenceNode(node, 'a takeover waits for it');
    for (const [set, spec] of Object.entries(this.config.serviceSets)) {
      if (!setRequiresFencing(spec)) continue;
      const h = this.etcd.get(this.keys.holder(set));
      if (!h) continue;
      const holder = JSON.parse(h.value) as { node: string; released?: boolean; unsettled?: { node: string; afterRevision: number }[] };
      // Every host the holder record lists as unsettled, and the holder itself when it lost the set.
      const targets = [...(holder.unsettled ?? [])];
      if (!holder.released && !this.etcd.get(this.keys.owner(set))) targets.push({ node: holder.node, afterRevision: h.modRevision });
      for (const u of targets) {
        const fence = this.etcd.get(this.keys.fence(u.node));
        if ((fence && fence.modRevision > u.afterRevision) || this.fencing.has(u.node)) continue;
        this.fenceNode(u.node, `${set} waits for it`);
      }
    }
  }

  /** Power the node off through its device (or an operator, slower), then record the fence. */
  fenceNode(node: string, why: string): void {
    this.fencing.add(node);
    const device = this.config.nodes?.[node]?.fence;
    const delay = device ? this.prng.range(300, 4000) : this.prng.range(3000, 12000);
    const fails = this.faultsOn && this.prng.chance(0.25);
    this.trace('fencer', `fencing ${node} via ${device ?? 'operator confirm-down'} (${why})${fails ? ' - will fail' : ''}`);
    this.sched.after(delay, () => {
      this.fencing.delete(node);
      if (fails) return this.trace('fencer', `fencing ${node} failed`);
      const h = this.host(node);
      h.powerOff('fenced');
      this.etcd.put(this.keys.fence(node), JSON.stringify({ how: device ?? 'confirm-down', atWallMs: WALL_ORIGIN_MS + this.sched.nowMs }));
      this.trace('fencer', `fence of ${node} recorded`);
      this.sched.after(this.prng.range(1000, 8000), () => h.powerOn());
    });
  }

  operatorPut(key: string, value: unknown): void {
    this.etcd.put(key, JSON.stringify(value));
    this.trace('operator', `put ${key.slice(this.keys.prefix.length)} ${JSON.stringify(value)}`);
  }

  operatorDelete(key: string): void {
    this.etcd.delete(key);
    this.trace('operator', `delete ${key.slice(this.keys.prefix.length)}`);
  }

  // ---- phases ----------------------------------------------------------------------------------

  bootstrap(): void {
    this.etcd.put(this.keys.config(), JSON.stringify({ yaml: this.yaml, appliedAtWallMs: WALL_ORIGIN_MS, appliedBy: 'sim' }));
    const every = (periodMs: number, phaseMs: number, task: () => void): void => {
      const tick = (): void => {
        task();
        this.sched.after(periodMs, tick);
      };
      this.sched.after(phaseMs, tick);
    };
    every(EXPIRY_CHECK_MS, this.prng.range(0, EXPIRY_CHECK_MS), () => this.etcd.expireLeases());
    every(1000, this.prng.range(0, 1000), () => this.fenceDaemon());
    for (const h of this.hosts) this.sched.after(this.prng.range(0, 300), () => h.startAgent());
  }

  advance(untilMs: number): boolean {
    return this.sched.runUntil(untilMs, () => {
      this.notifyWatches();
      if (this.intendedTo.size > this.intentDone.size) this.noteIntents();
      return this.checker.afterStep();
    });
  }

  runSafety(safetyMs: number): void {
    this.rates = this.opts.faults === false ? NO_FAULTS : SAFETY_FAULT_RATES;
    this.faultsOn = this.opts.faults !== false;
    if (this.faultsOn) scheduleFaults(this, safetyMs);
    this.opts.scenario?.(this);
    this.advance(safetyMs);
  }

  heal(): void {
    this.faultsOn = false;
    this.rates = NO_FAULTS;
    this.net.replyLossRate = 0;
    this.net.slowRate = 0;
    this.trace('world', '---- heal: no more faults ----');
    for (const h of this.hosts) {
      this.lagMs.set(h.name, this.prng.range(0.5, 5));
      this.net.heal(h.name);
      h.resume();
      if (!h.powered) h.powerOn();
      else if (!h.agent) h.startAgent();
      // A blocked set (failed stop) is only cleared by power-cycling its host: fence it.
      const blocked = [...this.config.serviceSets ? Object.keys(this.config.serviceSets) : []].some((s) => h.agent?.localOf(s)?.stopFailure);
      if (blocked) this.fenceNode(h.name, 'a stop failed there (operator cleanup)');
    }
    this.operatorCleanup();
  }

  /** The operator runs `hactl cleanup` and `hactl clear` for sets that failed after the heal. */
  private cleanupFailed(): void {
    for (const h of this.hosts) {
      const blocked = Object.keys(this.config.serviceSets).some((s) => h.agent?.localOf(s)?.stopFailure);
      if (blocked && !this.fencing.has(h.name)) this.fenceNode(h.name, 'a stop failed there (operator cleanup)');
    }
    for (const key of [...this.etcd.kv.keys()]) {
      const rel = key.slice(this.keys.prefix.length);
      if (rel.startsWith('bans/')) this.operatorDelete(key);
      if (rel.startsWith('holders/') && this.etcd.kv.get(key)!.value.includes('"failed"')) {
        const v = JSON.parse(this.etcd.kv.get(key)!.value) as Record<string, unknown>;
        this.operatorPut(key, { ...v, failed: undefined, released: true, reason: 'hactl cleanup' });
      }
    }
  }

  /** `hactl maintenance off`, `unstandby`, `clear`, `cleanup`: the operator undoes every override. */
  private operatorCleanup(): void {
    const prefix = this.keys.prefix;
    for (const key of [...this.etcd.kv.keys()]) {
      const rel = key.slice(prefix.length);
      if (rel.startsWith('intents/') || rel.startsWith('bans/')) this.operatorDelete(key);
      if (rel.startsWith('holders/')) {
        const v = JSON.parse(this.etcd.kv.get(key)!.value) as { failed?: string };
        if (v.failed) this.operatorPut(key, { ...v, failed: undefined, released: true, reason: 'hactl cleanup' });
      }
    }
    // One planned switchover, to check that intents are honoured.
    const sets = Object.keys(this.config.serviceSets);
    if (this.prng.chance(0.5)) {
      const set = this.prng.pick(sets);
      const spec = this.config.serviceSets[set];
      const to = this.prng.pick(spec.prefer ?? this.hosts.map((h) => h.name));
      this.intendedTo.set(set, to);
      this.operatorPut(this.keys.failoverIntent(set), { to });
    }
  }

  private noteIntents(): void {
    for (const [set, to] of this.intendedTo) {
      if (this.intentDone.has(set)) continue;
      const t = this.hosts.find((h) => h.name === to)?.truth.get(set);
      if (t && t.every((x) => x.state === 'running')) this.intentDone.add(set);
      else if (!this.etcd.get(this.keys.failoverIntent(set)) && !this.etcd.get(this.keys.owner(set))?.value.includes(`"${to}"`)) {
        // Removed without a handoff to the target: refused (e.g. the target is not eligible).
        const holder = this.etcd.get(this.keys.holder(set));
        if (!holder?.value.includes(`"handoffTo":"${to}"`)) this.intentDone.add(set);
      }
    }
  }

  /** Runs until every set converges (checked every 250 ms), or the bound passes. */
  runLiveness(livenessMs: number): string | null {
    const end = this.sched.nowMs + livenessMs;
    let problem: string | null = 'not checked';
    let cleanupAt = this.sched.nowMs + 5000;
    while (this.sched.nowMs < end) {
      if (!this.advance(this.sched.nowMs + 250)) return null;
      if (this.sched.nowMs >= cleanupAt) {
        cleanupAt += 5000;
        this.cleanupFailed();
      }
      problem = this.livenessProblem();
      if (problem === null) return null;
    }
    return `no convergence within ${livenessMs / 1000}s: ${problem}`;
  }

  /** BUG-6: an agent whose wake timer is pushed back by every lease renewal never reconciles. */
  starvedAgents(): string[] {
    return this.hosts.filter((h) => h.agent?.view && h.agent.keeper && this.sched.nowMs - h.agent.lastReconcileMs > 10_000).map((h) => h.name);
  }

  private livenessProblem(): string | null {
    const intents = [...this.etcd.kv.keys()].filter((k) => k.startsWith(`${this.keys.prefix}intents/failover/`));
    for (const [set, spec] of Object.entries(this.config.serviceSets)) {
      if (spec.mode !== 'singleton') continue;
      const eligible = placeSet(this.serverView(), this.config, set, WALL_ORIGIN_MS + this.sched.nowMs).ranked;
      const active = this.hosts.filter((h) => h.truth.get(set)!.some(isActive));
      const full = active.filter((h) => h.truth.get(set)!.every((t) => t.state === 'running'));
      const owner = this.etcd.get(this.keys.owner(set));
      const ownerNode = owner ? (JSON.parse(owner.value) as { node: string }).node : null;
      if (eligible.length === 0) {
        if (active.length > 0) return `${set} has no eligible host but runs on ${active.map((h) => h.name)}`;
        continue;
      }
      const why = this.hostReason(ownerNode ?? eligible[0], set);
      if (active.length !== 1 || full.length !== 1) return `${set} active on [${active.map((h) => h.name)}], fully running on [${full.map((h) => h.name)}] (${why})`;
      if (ownerNode !== full[0].name) return `${set} runs on ${full[0].name} but the owner is ${ownerNode}`;
      const to = this.intendedTo.get(set);
      if (to && !this.intentDone.has(set)) return `${set} runs on ${ownerNode}, failover intent to ${to} neither honoured nor refused (${why})`;
    }
    if (intents.length > 0) return `failover intents still pending: ${intents.map((k) => k.slice(this.keys.prefix.length))}`;
    return null;
  }

  private hostReason(node: string, set: string): string {
    const a = this.hosts.find((h) => h.name === node)?.agent;
    const rt = a?.sets.get(set);
    return rt ? `${node}: ${rt.lastReason}` : `${node}: no agent`;
  }

  readonly viewBuilder = new ViewBuilder(this.keys.prefix);
  serverView() {
    return this.viewBuilder.build(this.etcd.kv, this.etcd.revision).view;
  }

  result(liveness: string | null): SeedResult {
    return {
      seed: this.opts.seed,
      violations: this.checker.violations,
      expected: this.checker.expected,
      liveness,
      findings: this.findings,
      steps: this.sched.steps,
      simMs: this.sched.nowMs,
      trace: this.traceLines,
    };
  }
}

/** Runs one seed end to end: bootstrap, safety with faults, heal, liveness. */
export function runSeed(opts: WorldOptions): SeedResult {
  const w = new World(opts);
  w.bootstrap();
  w.runSafety(opts.safetyMs ?? 35_000);
  if (w.checker.violations.length > 0) return w.result(null);
  w.heal();
  const liveness = w.runLiveness(opts.livenessMs ?? 90_000);
  const result = w.result(liveness);
  const starved = liveness ? w.starvedAgents() : [];
  if (starved.length > 0) result.livenessHint = `${HINT_STARVED} (${starved.join(', ')} idle for >10s)`;
  if (liveness && w.findings.some((f) => f.includes('putNode forever'))) result.livenessHint = `${HINT_STUCK_START} (${w.findings[0]})`;
  return result;
}
