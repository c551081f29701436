// A faithful, minimal re-implementation of agent/shell/agent.ts around the REAL core
// (decideSet and the after* result functions): one action at a time per set, probes first,
// acquire/release/status as transactions with the same compares as agent/etcd/store.ts,
// `awaitRevision` so no decision is taken on a view older than our own write, the lease from the
// keeper model passed in as validUntilMs, and the lease re-checked right before a start or acquire.
// Callbacks replace async/await so that the whole world runs on one synchronous event loop.
// Every rule that fixed a bug the simulator found names the agent.ts function it copies; each can be
// switched off (env.reverted, see reverts.ts) to show that its named scenario test still bites.
import { monitorIntervalMs, monitorTimeoutMs, startTimeoutMs, stopTimeoutMs, takeoverGraceMs, type ClusterConfig, type ServiceSetConfig } from '../../agent/config/cluster-schema.js';
import { highestActive } from '../../agent/core/decide.js';
import { adoptOwnership, afterAcquire, afterMonitor, afterProbe, afterRelease, afterStart, afterStop, type ActionOutcome } from '../../agent/core/results.js';
import { emptyLocalSet, type ClusterView, type LocalSet, type SetDecision, type Unsettled } from '../../agent/core/types.js';
import type { ViewBuilder, KvEntry } from '../../agent/etcd/view.js';
import type { TxnRequest, TxnResult } from './sim-etcd.js';
import type { SimEnv } from './sim-env.js';
import type { ActionHandle, SimHost } from './sim-host.js';
import { simKeeper } from './sim-lease.js';
import { ownedHere, type HeldLeases } from '../../agent/core/ownership.js';
import { acquireTxn, clearIntentTxn, putNodeTxn, releaseTxn, writeStatusTxn } from '../../agent/etcd/txns.js';
import type { LeaseKeeper } from '../../agent/etcd/lease-keeper.js';
import type { OcfAction } from './sim-runner.js';

const DEFAULT_LEASE_TTL_SEC = 5;
const IDLE_RECHECK_MS = 1000;

type TxnOutcome = { status: 'committed'; revision: number } | { status: 'rejected'; revision: number } | { status: 'unknown'; error: string };

interface SetRuntime {
  spec: ServiceSetConfig;
  local: LocalSet;
  busy: boolean;
  awaitRevision: number;
  lastReason: string;
  lastState: string;
  sinceWallMs: number;
  statusJson: string;
  nextMonitorMs: number[];
  /** The OCF action in flight: aborted when the lease falls into doubt (start, monitor). */
  acting: { action: OcfAction; handle: ActionHandle; aborted: boolean; finish: (o: ActionOutcome) => void } | null;
  /** A start/monitor ended after the self-fence point: the self-fence began late (BUG-3 diagnosis). */
  lateSelfFence: boolean;
}

export class AgentProc {
  keeper: LeaseKeeper | undefined;
  granting = false;
  view: ClusterView | undefined;
  readonly sets = new Map<string, SetRuntime>();
  /** The watch mirror: keys, revision, and our position in the server's change log. */
  readonly mirror = new Map<string, KvEntry>();
  watchRevision = 0;
  watchCursor = 0;
  watching = false;
  private kickPending = false;
  private kickAll = false;
  private readonly kickSets = new Set<string>();
  private wakeGen = 0;
  /** The pending wake-up's time on the host's monotonic clock (agent.ts wakeAtMs), or null. */
  private wakeAtMs: number | null = null;
  /** Whether the lease was valid at the last reconciliation (agent.ts leaseOkAtLastDecision). */
  private leaseOkAtLastDecision = false;
  /** The etcd revision at which this agent last registered its node key (agent.ts registeredRevision). */
  registeredRevision = 0;
  private readonly viewBuilder: ViewBuilder;

  constructor(
    private readonly host: SimHost,
    private readonly epoch: number,
    private readonly env: SimEnv,
  ) {
    this.viewBuilder = env.viewBuilder;
  }

  get me(): string {
    return this.host.name;
  }

  /**
   * agent.ts start(): the process groups an earlier incarnation left running are killed first
   * (BUG-5 fix: none of its actions may finish after this agent probed), then TTL, lease,
   * registration, watch, first reconciliation.
   */
  start(): void {
    const begin = (): void => this.configuredTtlSec((ttl) => this.establishLease(ttl, true, () => this.startWatch(() => this.kick())));
    if (this.env.reverted('BUG-5')) return begin();
    const killed = this.host.killLeftovers(this.epoch);
    if (killed > 0) this.env.trace(this.me, `killed ${killed} process group(s) left by the previous agent`);
    // SIGKILLed groups are gone within a few ms; the agent waits until they are.
    this.later(killed > 0 ? 5 : 0, begin);
  }

  // ---- etcd calls ------------------------------------------------------------------------------

  private txn(req: TxnRequest, done: (out: TxnOutcome) => void): void {
    this.env.net.call<TxnResult>(this.host, this.epoch, () => this.env.etcd.txn(req), (r) => {
      if (!r.ok) return done({ status: 'unknown', error: r.error });
      done(r.value.succeeded ? { status: 'committed', revision: r.value.revision } : { status: 'rejected', revision: r.value.revision });
    });
  }

  private later(delayMs: number, task: () => void): void {
    this.host.timer(this.epoch, delayMs, task);
  }

  private configuredTtlSec(done: (ttl: number) => void): void {
    const key = this.env.keys.config();
    this.env.net.call(this.host, this.epoch, () => this.env.etcd.get(key), (r) => {
      if (!r.ok) return this.later(500, () => this.configuredTtlSec(done));
      if (!r.value) return done(DEFAULT_LEASE_TTL_SEC);
      const built = this.viewBuilder.build(new Map([[key, r.value]]), 0);
      done(Math.round((built.view.config?.timing.leaseTtl ?? DEFAULT_LEASE_TTL_SEC * 1000) / 1000));
    });
  }

  // ---- lease -----------------------------------------------------------------------------------

  /** agent.ts establishLease(): resume the saved lease unless fenced since, else grant; then register. */
  private establishLease(ttlSec: number, tryResume: boolean, done: () => void): void {
    this.granting = true;
    const keeper: LeaseKeeper = simKeeper(this.host, this.epoch, this.env.net, this.env.etcd, this.env.prng, this.env.leaseRules, ttlSec, {
      renewed: (validUntilMs) => {
        // Only a renewal that proves the lease past now shows the agent was back in time: an
        // answer to a keepalive sent before a freeze, handled after the thaw, proves nothing.
        if (validUntilMs > this.host.monotonicMs()) this.host.leaseRenewed(keeper.leaseId);
        this.onLeaseRenewed();
      },
      late: (info) => this.env.trace(this.me, `keepalive late by ${Math.round(info.waitedMs)}ms; new stream`),
      lost: (reason) => this.onLeaseLost(keeper, reason),
    });
    const saved = tryResume ? this.host.leaseFile : null;
    const withLease = (resumed: boolean): void => {
      this.keeper = keeper;
      this.env.trace(this.me, `lease ${keeper.leaseId} ${resumed ? 'resumed' : 'granted'}`);
      this.register(keeper, ttlSec, done);
    };
    const grantLoop = (): void =>
      keeper.grantWith((r) => {
        if (r.ok) withLease(false);
        else this.later(500, grantLoop);
      });
    const resumeUnlessFenced = (fencedSince: boolean): void => {
      if (fencedSince) this.env.trace(this.me, `fenced since lease ${saved?.leaseId} was registered: not resuming it`);
      if (saved && saved.node === this.me && !fencedSince) keeper.resumeWith(saved.leaseId, saved.ttlSec, saved.ttlSec * 1000, (alive) => (alive ? withLease(true) : grantLoop()));
      else grantLoop();
    };
    // BUG-7 fix (agent.ts fencedSince): a fence recorded after the saved lease's registration
    // means this host was powered off since; its old lease must not carry the old ownership on.
    if (saved && !this.env.reverted('BUG-7')) this.fencedSince(saved.registeredRevision ?? 0, resumeUnlessFenced);
    else resumeUnlessFenced(false);
  }

  /** agent.ts fencedSince(): an unreadable fence record counts as fenced (a fresh lease is always safe). */
  private fencedSince(revision: number, done: (fenced: boolean) => void): void {
    const key = this.env.keys.fence(this.me);
    this.env.net.call(this.host, this.epoch, () => this.env.etcd.get(key), (r) => done(!r.ok || (r.value !== undefined && r.value.modRevision > revision)));
  }

  /**
   * The registration loop of agent.ts establishLease(): store.putNode (a transaction: node key on
   * the lease, member key) every 250 ms until it commits, then the lease file is written. BUG-9 fix:
   * when the lease has died meanwhile, release it and start over with a new one.
   */
  private register(keeper: LeaseKeeper, ttlSec: number, done: () => void, attempt = 0): void {
    const k = this.env.keys;
    const startedAtWallMs = this.host.wallMs();
    const req = putNodeTxn(k, this.me, keeper.leaseId, { startedAtWallMs, pid: 4242 });
    this.txn(req, (out) => {
      if (out.status === 'committed') {
        this.registeredRevision = out.revision;
        this.host.leaseFile = { leaseId: keeper.leaseId, ttlSec: keeper.grantedTtlSec, node: this.me, registeredRevision: out.revision };
        this.granting = false;
        return done();
      }
      if (this.env.reverted('BUG-9')) {
        if (attempt >= 40 && !this.env.etcd.leaseAlive(keeper.leaseId)) {
          this.env.finding(`${this.me}: establishLease retries putNode forever with dead lease ${keeper.leaseId}; the loop never ends`);
          return;
        }
      } else if (!keeper.isValid(0)) {
        this.env.trace(this.me, `lease ${keeper.leaseId} died before registration; granting a new one`);
        keeper.release();
        this.granting = false;
        return this.establishLease(ttlSec, false, done);
      }
      this.later(250, () => this.register(keeper, ttlSec, done, attempt + 1));
    });
  }

  /** agent.ts onLeaseRenewed() (BUG-6 fix): a renewal after a doubt re-decides; otherwise it only re-arms the wake. */
  private onLeaseRenewed(): void {
    if (this.env.reverted('BUG-6')) return this.scheduleWake();
    if (!this.leaseOkAtLastDecision) this.kick();
    else this.scheduleWake();
  }

  /** agent.ts onLeaseLost(): with no lease every set stops; a new lease is established. */
  private onLeaseLost(keeper: LeaseKeeper, reason: string): void {
    if (keeper !== this.keeper) return;
    this.env.trace(this.me, `lease ${keeper.leaseId} lost: ${reason}`);
    this.keeper = undefined;
    this.kick();
    // agent.ts onLeaseLost: no second establishLease while one is granting — its registration
    // loop re-establishes on a dead lease itself (a second one would keep a lease alive forever).
    if (this.granting) return;
    this.establishLease(Math.max(1, keeper.grantedTtlSec), false, () => this.kick());
  }

  // ---- watch -----------------------------------------------------------------------------------

  private startWatch(done: () => void): void {
    const etcd = this.env.etcd;
    this.env.net.call(this.host, this.epoch, () => ({ kvs: new Map(etcd.kv), revision: etcd.revision, cursor: etcd.log.length }), (r) => {
      if (!r.ok) return this.later(250, () => this.startWatch(done));
      this.mirror.clear();
      for (const [k, v] of r.value.kvs) this.mirror.set(k, v);
      this.watchRevision = r.value.revision;
      this.watchCursor = r.value.cursor;
      this.watching = true;
      this.onViewChanged();
      // The watch starts at snapshot revision + 1: changes committed while the snapshot travelled
      // back were streamed meanwhile (deliveries before `watching` were ignored).
      this.deliverWatch(etcd.revision);
      done();
    });
  }

  /** Watch events up to `uptoRevision` arrive (world.ts schedules this with the host's lag). */
  deliverWatch(uptoRevision: number): void {
    if (!this.watching) return;
    const log = this.env.etcd.log;
    let changed = false;
    while (this.watchCursor < log.length && log[this.watchCursor].revision <= uptoRevision) {
      const c = log[this.watchCursor++];
      if (c.entry) this.mirror.set(c.key, c.entry);
      else this.mirror.delete(c.key);
      if (c.revision > this.watchRevision) this.watchRevision = c.revision;
      changed = true;
    }
    if (changed) this.onViewChanged();
  }

  private onViewChanged(): void {
    this.view = this.env.viewAt(this.watchRevision, () => this.viewBuilder.build(this.mirror, this.watchRevision).view);
    this.kick();
  }

  // ---- reconciliation --------------------------------------------------------------------------

  /** agent.ts kick(): once per event-loop turn; every set, or only `set` when just its action finished. */
  kick(set?: string): void {
    if (set === undefined) this.kickAll = true;
    else this.kickSets.add(set);
    if (this.kickPending) return;
    this.kickPending = true;
    this.later(0, () => {
      this.kickPending = false;
      const only = this.kickAll ? null : new Set(this.kickSets);
      this.kickAll = false;
      this.kickSets.clear();
      this.reconcile(only);
    });
  }

  /** True time of the last reconciliation (the liveness diagnosis of BUG-6). */
  lastReconcileMs = 0;

  /** agent.ts reconcile(). */
  private reconcile(only: ReadonlySet<string> | null): void {
    this.lastReconcileMs = this.env.sched.nowMs;
    const view = this.view;
    if (!view) return;
    const config = view.config;
    if (config) this.syncSets(config);
    const marginMs = config?.timing.fenceMargin ?? 1000;
    this.leaseOkAtLastDecision = !this.granting && this.keeper !== undefined && this.keeper.isValid(marginMs);
    if (!this.leaseOkAtLastDecision && !this.env.reverted('BUG-3')) this.abortInFlight();
    for (const [name, rt] of this.sets) {
      if (only && !only.has(name)) continue;
      // BUG-13 fix (agent.ts reconcile): waiting for our own write never holds up a self-fence.
      const waitsForOwnWrite = view.revision < rt.awaitRevision && (this.leaseOkAtLastDecision || this.env.reverted('BUG-13'));
      if (rt.busy || waitsForOwnWrite) continue;
      if (!config) continue;
      if (!rt.local.probed) {
        this.runExclusive(name, rt, (done) => this.probeSet(name, rt, done));
        continue;
      }
      this.adoptIfOwner(name, rt, view, config);
      const decision = this.decide(name, rt, view, config);
      this.noteDecision(name, rt, decision, view);
      if (decision.action.kind === 'none' && decision.state === 'running') this.maybeMonitor(name, rt);
      else if (decision.action.kind !== 'none' && decision.action.kind !== 'wait') this.runExclusive(name, rt, (done) => this.execute(name, rt, decision, view, config, done));
    }
    this.scheduleWake();
  }

  /**
   * BUG-3 fix: the lease is in doubt, so every in-flight start or monitor (probes included) of
   * every set is aborted at once (SIGKILL of its process group); its resource becomes unknown and the
   * self-fence stops follow as soon as it is gone. A stop in flight runs on: it is the self-fence.
   */
  private abortInFlight(): void {
    for (const rt of this.sets.values()) {
      const acting = rt.acting;
      if (!acting || acting.aborted || acting.action === 'stop') continue;
      acting.aborted = true;
      this.env.trace(this.me, `lease in doubt: aborting ${acting.action} of ${rt.spec.resources[acting.handle.req.index].id}`);
      // BUG-12 (agent/ocf/runner.ts onAbort; see sim-host.ts abortAction): SIGKILL at once, not SIGTERM then SIGKILL.
      this.host.abortAction(acting.handle, this.env.reverted('BUG-12') ? 'term-then-kill' : 'kill', (outcome) => acting.finish(outcome));
    }
  }

  private decide(name: string, rt: SetRuntime, view: ClusterView, config: ClusterConfig): SetDecision {
    const keeper = this.keeper;
    return this.env.decide({
      me: this.me,
      nowMs: this.host.monotonicMs(),
      wallMs: this.host.wallMs(),
      lease: keeper && !this.granting ? { leaseId: keeper.leaseId, validUntilMs: keeper.validUntilMs } : null,
      view,
      config,
      set: name,
      local: rt.local,
    });
  }

  private syncSets(config: ClusterConfig): void {
    for (const [name, spec] of Object.entries(config.serviceSets)) {
      if (this.sets.has(name)) continue;
      this.sets.set(name, {
        spec,
        local: emptyLocalSet(spec.resources.length),
        busy: false,
        awaitRevision: 0,
        lastReason: '',
        lastState: '',
        sinceWallMs: this.host.wallMs(),
        statusJson: '',
        nextMonitorMs: spec.resources.map(() => Infinity),
        acting: null,
        lateSelfFence: false,
      });
    }
  }

  /** agent.ts runExclusive(): one action at a time per set; when it ends, that set is reconciled. */
  private runExclusive(name: string, rt: SetRuntime, work: (done: () => void) => void): void {
    rt.busy = true;
    work(() => {
      rt.busy = false;
      this.kick(name);
    });
  }

  private iOwn(name: string): { token: number } | null {
    return ownedHere(this.view?.owners.get(name), this.me, this.held()) ?? null;
  }

  /** The sim agent never moves its keys to a new lease (no leaseTtl changes here yet). */
  private held(): HeldLeases {
    return { current: this.keeper?.leaseId ?? null, movingTo: null };
  }

  // ---- carrying out decisions ------------------------------------------------------------------

  private execute(name: string, rt: SetRuntime, decision: SetDecision, view: ClusterView, config: ClusterConfig, done: () => void): void {
    const action = decision.action;
    const owner = view.owners.get(name);
    switch (action.kind) {
      case 'acquire':
        return this.acquire(name, rt, action, decision.reason, view, config, done);
      case 'start':
        return this.runStart(name, rt, action.index, owner?.token ?? null, config, done);
      case 'stop':
        return this.runStop(name, rt, action.index, done);
      case 'release':
        if (!owner) return done();
        return this.release(name, rt, owner.token, action, decision.reason, done);
      case 'clear-intent': {
        const intent = view.failoverIntents.get(name);
        if (!intent) return done();
        return this.txn(clearIntentTxn(this.env.keys, name, intent.modRevision), (out) => {
          if (out.status !== 'unknown') rt.awaitRevision = out.revision;
          done();
        });
      }
      default:
        return done();
    }
  }

  private acquire(name: string, rt: SetRuntime, action: { dirty: boolean; holderRevision: number; unsettled: Unsettled[]; clearsIntent?: number }, reason: string, view: ClusterView, config: ClusterConfig, done: () => void): void {
    const keeper = this.keeper;
    if (!keeper || !keeper.isValid(config.timing.fenceMargin)) return done();
    const k = this.env.keys;
    const holder = { node: this.me, released: false, unsettled: action.unsettled, graceMs: this.graceMs(rt.spec, config.timing.fenceMargin), reason, atWallMs: this.host.wallMs() };
    const req = acquireTxn(k, { set: name, node: this.me, leaseId: keeper.leaseId, holderRevision: action.holderRevision, holder, clearsIntent: action.clearsIntent !== undefined });
    this.txn(req, (out) => {
      this.env.trace(this.me, `acquire ${name} (${action.dirty ? 'dirty' : 'clean'}): ${out.status}${out.status === 'unknown' ? '' : ` rev ${out.revision}`}`);
      if (out.status === 'rejected') {
        rt.awaitRevision = out.revision;
        return done();
      }
      // On an unknown outcome the transaction may have committed: arm the grace and fence gate anyway.
      rt.local = afterAcquire(rt.local, out.status === 'committed' ? out.revision : 0, {
        unsettled: action.unsettled,
        graceMs: this.graceMs(rt.spec, config.timing.fenceMargin),
        nowMs: this.host.monotonicMs(),
      });
      if (out.status === 'committed') rt.awaitRevision = out.revision;
      done();
    });
  }

  private release(name: string, rt: SetRuntime, token: number, action: { handoffTo?: string; ban?: { untilWallMs: number; reason: string }; failed?: string }, reason: string, done: () => void): void {
    const k = this.env.keys;
    // BUG-4 fix (agent.ts execute 'release'): hosts not yet settled stay on record for the next owner.
    const unsettled = this.env.reverted('BUG-4') ? [] : rt.local.unsettled;
    const holder = { node: this.me, released: true, unsettled, handoffTo: action.handoffTo, failed: action.failed, reason, atWallMs: this.host.wallMs() };
    const ban = action.ban ? { node: this.me, ...action.ban } : undefined;
    this.txn(releaseTxn(k, name, token, holder, ban), (out) => {
      this.env.trace(this.me, `release ${name} token ${token}${action.handoffTo ? ` to ${action.handoffTo}` : ''}: ${out.status}`);
      if (out.status === 'committed') {
        rt.local = afterRelease(rt.local);
        rt.awaitRevision = out.revision;
      } else if (out.status === 'rejected') rt.awaitRevision = out.revision;
      done();
    });
  }

  /** agent.ts act(): one OCF action; `done` learns whether it was aborted by the BUG-3 rule. */
  private act(name: string, rt: SetRuntime, index: number, action: OcfAction, timeoutMs: number, token: number | null, done: (o: ActionOutcome, aborted: boolean) => void): void {
    let finished = false;
    const finish = (outcome: ActionOutcome): void => {
      if (finished) return;
      finished = true;
      const aborted = rt.acting?.aborted === true;
      rt.acting = null;
      const margin = this.view?.config?.timing.fenceMargin ?? 1000;
      if (action !== 'stop' && this.keeper && this.host.monotonicMs() >= this.keeper.validUntilMs - margin) rt.lateSelfFence = true;
      if (action === 'stop' && outcome.status === 'exited' && index === 0) rt.lateSelfFence = false;
      if (aborted || action !== 'monitor' || outcome.status !== 'exited' || (outcome.rc !== 0 && outcome.rc !== 7)) {
        const what = aborted ? 'aborted' : outcome.status === 'exited' ? `rc=${outcome.rc}` : outcome.status;
        this.env.trace(this.me, `${action} ${rt.spec.resources[index].id} (${name}, token ${token ?? '-'}): ${what}`);
      }
      done(outcome, aborted);
    };
    const handle = this.host.runAction(this.epoch, { set: name, index, action, timeoutMs, token }, finish);
    rt.acting = { action, handle, aborted: false, finish };
  }

  private runStart(name: string, rt: SetRuntime, index: number, token: number | null, config: ClusterConfig, done: () => void): void {
    const resource = rt.spec.resources[index];
    // Irreversible step: re-check the lease right before it (SPEC §5.3).
    if (!this.keeper || !this.keeper.isValid(config.timing.fenceMargin) || token === null) return done();
    this.act(name, rt, index, 'start', startTimeoutMs(resource), token, (result, aborted) => {
      rt.local = aborted ? afterAbort(rt.local, index, token) : afterStart(rt.local, index, resource.id, result, token);
      rt.nextMonitorMs[index] = this.host.monotonicMs() + monitorIntervalMs(resource);
      done();
    });
  }

  private runStop(name: string, rt: SetRuntime, index: number, done: () => void): void {
    const resource = rt.spec.resources[index];
    const token = rt.local.token ?? this.view?.owners.get(name)?.token ?? null;
    this.act(name, rt, index, 'stop', stopTimeoutMs(resource), token, (result) => {
      rt.local = afterStop(rt.local, index, resource.id, result);
      rt.nextMonitorMs[index] = Infinity;
      done();
    });
  }

  /**
   * agent.ts adoptIfOwner(): a token this host has no memory of (an agent restart — BUG-1, whatever
   * the probe found: BUG-11 — or an acquire whose reply was lost) is adopted from the holder record,
   * takeover gate included.
   */
  private adoptIfOwner(name: string, rt: SetRuntime, view: ClusterView, config: ClusterConfig): void {
    const owner = this.iOwn(name);
    if (!owner || rt.local.heldToken === owner.token) return;
    if (this.env.reverted('BUG-1') || (this.env.reverted('BUG-11') && highestActive(rt.local) >= 0)) {
      rt.local = { ...rt.local, heldToken: owner.token };
      return;
    }
    rt.local = adoptOwnership(rt.local, this.me, owner.token, view.holders.get(name), this.graceMs(rt.spec, config.timing.fenceMargin), this.host.monotonicMs());
  }

  private probeSet(name: string, rt: SetRuntime, done: () => void): void {
    const step = (i: number, local: LocalSet): void => {
      if (i < rt.spec.resources.length) {
        this.act(name, rt, i, 'monitor', monitorTimeoutMs(rt.spec.resources[i]), null, (result, aborted) => step(i + 1, aborted ? afterAbort(local, i, local.token) : afterProbe(local, i, result)));
        return;
      }
      const owner = this.iOwn(name);
      const now = this.host.monotonicMs();
      rt.nextMonitorMs = rt.spec.resources.map((r) => now + monitorIntervalMs(r));
      rt.local = { ...local, probed: true, token: owner && highestActive(local) >= 0 ? owner.token : local.token };
      // The gate is taken up again from the holder record by adoptIfOwner (BUG-1, BUG-11).
      this.env.trace(this.me, `probed ${name}: [${rt.local.resources.join(',')}]${owner ? ' (adopted)' : ''}`);
      // Adopted: from now on this agent self-fences the copies its crashed predecessor left.
      if (owner) this.host.adopted(name);
      done();
    };
    step(0, rt.local);
  }

  private maybeMonitor(name: string, rt: SetRuntime): void {
    const now = this.host.monotonicMs();
    const due = rt.nextMonitorMs.findIndex((t) => t <= now);
    if (due < 0) return;
    const resource = rt.spec.resources[due];
    this.runExclusive(name, rt, (done) => {
      const token = this.view?.owners.get(name)?.token ?? null;
      this.act(name, rt, due, 'monitor', monitorTimeoutMs(resource), token, (result, aborted) => {
        rt.nextMonitorMs[due] = this.host.monotonicMs() + monitorIntervalMs(resource);
        rt.local = aborted ? afterAbort(rt.local, due, rt.local.token) : afterMonitor(rt.local, due, resource.id, result, rt.spec, this.host.monotonicMs());
        done();
      });
    });
  }

  // ---- status and timers -----------------------------------------------------------------------

  private noteDecision(name: string, rt: SetRuntime, decision: SetDecision, view: ClusterView): void {
    if (decision.reason !== rt.lastReason) {
      rt.lastReason = decision.reason;
      if (this.env.tracing) this.env.trace(this.me, `decide ${name}: ${decision.action.kind}${decision.action.kind === 'start' || decision.action.kind === 'stop' ? ` #${decision.action.index}` : ''} [${decision.state}] ${decision.reason}`);
    }
    if (decision.state !== rt.lastState) {
      rt.lastState = decision.state;
      rt.sinceWallMs = this.host.wallMs();
    }
    const owner = ownedHere(view.owners.get(name), this.me, this.held());
    if (!owner) return;
    const json = JSON.stringify({ node: this.me, state: decision.state, since: rt.sinceWallMs, token: owner.token, resources: rt.local.resources });
    if (json === rt.statusJson) return;
    rt.statusJson = json;
    const k = this.env.keys;
    this.txn(writeStatusTxn(k, name, owner.token, JSON.parse(json) as Record<string, unknown>), (out) => {
      if (out.status !== 'committed') rt.statusJson = '';
    });
  }

  /** agent.ts takeoverGraceMs; BUG-8 reverted: the longest stop timeout instead of the sum. */
  private graceMs(spec: ServiceSetConfig, fenceMarginMs: number): number {
    if (!this.env.reverted('BUG-8')) return takeoverGraceMs(spec, fenceMarginMs);
    return Math.max(0, Math.max(...spec.resources.map((r) => stopTimeoutMs(r))) - fenceMarginMs);
  }

  /**
   * agent.ts scheduleWake(): sleep until the next moment a decision could change (lease margin,
   * grace end, monitor due, else the idle re-check). BUG-6 fix: a wake-up already due earlier is
   * never pushed back (renewals every TTL/4 would otherwise starve the 1 s idle re-check).
   */
  private scheduleWake(): void {
    const now = this.host.monotonicMs();
    let at = now + IDLE_RECHECK_MS;
    const marginMs = this.view?.config?.timing.fenceMargin ?? 1000;
    if (this.keeper) {
      const fenceAt = this.keeper.validUntilMs - marginMs;
      if (fenceAt > now) at = Math.min(at, fenceAt + 1);
    }
    for (const rt of this.sets.values()) {
      if (rt.local.graceUntilMs !== null && rt.local.graceUntilMs > now) at = Math.min(at, rt.local.graceUntilMs + 1);
      for (const t of rt.nextMonitorMs) if (t > now) at = Math.min(at, t);
    }
    if (this.wakeAtMs !== null && this.wakeAtMs <= at && !this.env.reverted('BUG-6')) return;
    const gen = ++this.wakeGen;
    this.wakeAtMs = at;
    this.later(Math.max(1, at - now), () => {
      if (gen !== this.wakeGen) return;
      this.wakeAtMs = null;
      this.kick();
    });
  }

  /** For the checker and the liveness phase. */
  localOf(set: string): LocalSet | undefined {
    return this.sets.get(set)?.local;
  }
}

/**
 * BUG-3 fix: an action aborted because the lease fell into doubt leaves its resource unknown (to be
 * stopped by the self-fence); it is not a failure of the resource: no ban, no fail count.
 */
function afterAbort(local: LocalSet, index: number, token: number | null): LocalSet {
  return { ...local, resources: local.resources.map((p, i) => (i === index ? 'unknown' : p)), token };
}
