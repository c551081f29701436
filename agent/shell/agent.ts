// The host agent: the imperative shell around the pure core. It keeps the lease, mirrors the
// cluster keys, asks the core what to do next for each service set, carries that out (etcd
// transactions, OCF actions), and feeds the results back. One action at a time per set; sets are
// independent of each other. Nothing here blocks the event loop (SPEC §5.4).
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import type { HostConfig } from '../config/host-config.js';
import {
  monitorIntervalMs,
  monitorTimeoutMs,
  setPriority,
  startTimeoutMs,
  stopTimeoutMs,
  takeoverGraceMs,
  type ClusterConfig,
  type ServiceSetConfig,
} from '../config/cluster-schema.js';
import { decideSet, highestActive } from '../core/decide.js';
import { holdsLease, ownedHere, ownedInstanceOf, ownedUnderLease, type HeldLeases } from '../core/ownership.js';
import { baseSetName, expandClones, INSTANCE_SEPARATOR } from '../core/clones.js';
import { adoptOwnership, afterAcquire, afterMonitor, afterProbe, afterRelease, afterStart, afterStop, describeOutcome } from '../core/results.js';
import { emptyLocalSet, type ClusterView, type LeaseState, type LocalSet, type OwnerRecord, type SetDecision } from '../core/types.js';
import type { Cause } from '../core/causes.js';
import { makeEtcdClient, type EtcdConnection } from '../etcd/client.js';
import { Keys } from '../etcd/keys.js';
import { prestartKeeperThread, ThreadedLeaseKeeper, type KeptLease } from '../etcd/keeper-thread.js';
import { ClusterStore } from '../etcd/store.js';
import { ViewBuilder } from '../etcd/view.js';
import { PrefixWatcher } from '../etcd/watcher.js';
import { resolveAgent, type AgentRef } from '../ocf/resolve.js';
import { runAction, type ActionResult, type OcfAction } from '../ocf/runner.js';
import type { Clock } from '../ports/clock.js';
import { EventLog } from './events.js';
import type { Logger } from './log.js';
import { startHealthServer, type HealthServer, type ProbeState } from './health.js';
import { agentMetrics, releaseCause, type AgentSnapshot } from './metrics.js';
import { gatherHostFacts, type HostFacts } from './host-facts.js';
import { Fencer } from './fencer.js';
import { devicesToMonitor, fenceTargets, leasesToObserve } from '../core/fence-targets.js';
import { DeviceMonitor } from './device-monitor.js';
import { Watchdog } from './watchdog.js';
import { Backoff } from '../core/backoff.js';
import { clearInflight, killLeftoverStarts, recordInflight } from './inflight.js';
import { parseDurationMs } from '../config/duration.js';
import { LeaseObserver } from '../etcd/lease-observer.js';
import { fenceDeviceFor } from '../fence/device.js';
import { checkEtcdVersion } from '../etcd/version-floor.js';
import { ActionSlots, defaultActionLimit, type ActionClass } from './action-slots.js';
import { LoopDelay } from './loop-delay.js';

/** Lease TTL used when the cluster has no configuration yet. */
const DEFAULT_LEASE_TTL_SEC = 5;
/** Longest sleep between reconciliations when nothing is scheduled; a safety net, not the trigger. */
const IDLE_RECHECK_MS = 1000;
/** Pacing of a retiring set's release retries: 1 s, 2 s, 4 s … at most 30 s. */
const SET_RETRY_BACKOFF = { baseMs: 1000, capMs: 30_000 };
/** Event-loop delay windows; a window with a delay above LOOP_DELAY_WARN_MS is logged. */
const LOOP_DELAY_WINDOW_MS = 5000;
const LOOP_DELAY_WARN_MS = 500;
/** What a set this host does not take while it is overloaded says (status, /health, logs). */
const OVERLOAD_HOLD = 'not taken here while this host is overloaded (its resource actions are queued); waiting for its queue to drain';

interface SetRuntime {
  name: string;
  /** The set's configuration the local resources were started with. */
  spec: ServiceSetConfig;
  specJson: string;
  local: LocalSet;
  busy: boolean;
  /** Do not decide again until the watched view has reached this revision (our own write). */
  awaitRevision: number;
  lastReason: string;
  lastState: string;
  sinceWallMs: number;
  statusJson: string;
  /** Cheap summary of the last status written, to skip building it when nothing changed. */
  statusKey: string;
  /** The cleanup generation already acted on. */
  cleanupRevision: number;
  nextMonitorMs: number[];
  lastReasons: (string | undefined)[];
  failCounts: number[];
  agents: (AgentRef | undefined)[];
  /** Hosts this set's takeover gate waits to see fenced (from the last decision). */
  awaitsFence: string[];
  /** Ends the start or monitor in flight (a self-fence must not wait for its timeout). */
  abort: AbortController | undefined;
  /** Paces retries of a retiring set's release that did not commit (no retry storm). */
  retry: Backoff;
  /** This set's log lines: the agent's logger with `set` bound. */
  log: Logger;
}

interface PersistedLease {
  leaseId: string;
  ttlSec: number;
  node: string;
  /** Revision of the registration made with this lease: a fence recorded after it forbids resuming. */
  registeredRevision?: number;
}

export class HostAgent {
  private readonly keys: Keys;
  private readonly client: Etcd3;
  private readonly memberClients: Etcd3[];
  private readonly endpoints: string[];
  private readonly store: ClusterStore;
  private readonly watcher: PrefixWatcher;
  private readonly viewBuilder: ViewBuilder;
  private readonly events: EventLog;
  private readonly fencer: Fencer;
  private readonly leaseObserver: LeaseObserver;
  private readonly deviceMonitor: DeviceMonitor;
  private watchdog: Watchdog | undefined;
  private keeper: KeptLease | undefined;
  /**
   * A changed leaseTtl reaching an owner: the lease its keys move to, granted and renewed while the
   * move is under way. Both leases are this host's meanwhile, and both must be sound.
   */
  private movingTo: KeptLease | undefined;
  private view: ClusterView | undefined;
  private readonly sets = new Map<string, SetRuntime>();
  private kickPending = false;
  private kickAll = false;
  private readonly kickSets = new Set<string>();
  private readonly specJsonCache = new WeakMap<ClusterConfig, Map<string, string>>();
  private readonly expandedCache = new WeakMap<ClusterConfig, ClusterConfig>();
  private wakeTimer: NodeJS.Timeout | undefined;
  private wakeAtMs = Infinity;
  /** Whether the lease was valid at the last reconciliation (a renewal after doubt must re-decide). */
  private leaseOkAtLastDecision = false;
  private stopping = false;
  private granting = false;
  private health: HealthServer | undefined;
  /** When the decision loop last ran (monotonic): /health's liveness. */
  private loopAtMs = 0;
  /** Since when (wall clock) the lease is in doubt, for the outage's events; null: sound. */
  private doubtSinceWallMs: number | null = null;
  private heartbeatAtMs = -Infinity;
  private readonly runDir: string;
  /** The TTL this agent asked for (etcd may grant more); compared with the configured leaseTtl. */
  private requestedTtlSec = DEFAULT_LEASE_TTL_SEC;
  private ttlWarned = false;
  private facts: HostFacts | undefined;
  /** The node record as last registered, without its facts and heartbeat (currentNodeRecord adds them). */
  private nodeRecord: Record<string, unknown> = {};
  /** The etcd revision at which this agent last registered its node key. */
  private registeredRevision = 0;
  /** Why the lease file could not be written (a restart will then grant a new lease), or undefined. */
  private leaseFileProblem: string | undefined;
  /** Why the stored configuration is not the one in use (it cannot be read), or undefined. */
  private configProblem: { revision: number; reason: string } | undefined;
  /** Bounded action concurrency (the host's action limit) and its queue. */
  private readonly slots: ActionSlots;
  private readonly loopDelay: LoopDelay;

  constructor(
    private readonly config: HostConfig,
    private readonly conn: EtcdConnection,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.keys = Keys.forCluster(config.cluster);
    prestartKeeperThread(conn); // the lease comes first at start-up: its thread loads meanwhile
    this.client = makeEtcdClient(conn);
    this.memberClients = conn.endpoints.map((e) => makeEtcdClient(conn, [e]));
    this.endpoints = conn.endpoints;
    this.store = new ClusterStore(this.client, this.keys);
    this.viewBuilder = new ViewBuilder(this.keys.prefix);
    this.events = new EventLog(this.client, this.keys, config.node, clock);
    this.runDir = join(config.dataDir, 'run');
    this.fencer = new Fencer(config.node, this.store, this.events, log, clock, () => this.kick());
    this.deviceMonitor = new DeviceMonitor(config.node, this.store, log, clock);
    this.leaseObserver = new LeaseObserver(this.client, clock, () => this.checkFencing(), () => this.requestedTtlSec);
    this.watcher = new PrefixWatcher(this.client, this.keys.prefix, {
      changed: (kvs, revision) => this.onViewChanged(kvs, revision),
      trouble: (what) => this.log.warn({ what }, 'etcd watch trouble'),
    });
    // Stops never wait while the lease is in doubt (or gone): the next owner's grace counts on them.
    this.slots = new ActionSlots(config.actionLimit ?? defaultActionLimit(availableParallelism()), () => !this.leaseValid(this.view?.config?.timing.fenceMargin ?? 1000), (on) => this.onOverload(on));
    this.loopDelay = new LoopDelay(LOOP_DELAY_WINDOW_MS, LOOP_DELAY_WARN_MS, (w) => this.log.warn({ maxMs: Math.round(w.maxMs), p99Ms: Math.round(w.p99Ms), queued: this.slots.queued, running: this.slots.active }, 'event loop delayed'));
  }

  get node(): string {
    return this.config.node;
  }

  /** Cluster-wide maintenance: on shutdown, leave resources and the lease as they are. */
  inMaintenance(): boolean {
    return this.view?.maintenance.cluster === true;
  }

  /** Starts the agent: lease (resumed when possible), registration, watch, first reconciliation. */
  async start(): Promise<void> {
    this.loopDelay.start();
    await mkdir(this.runDir, { recursive: true, mode: 0o750 });
    // The lease first: a restarted agent has until its peers' suspicion (suspectAfter, 1 s at
    // leaseTtl 2 s) to renew it, so nothing slow comes before. The host facts follow in the
    // background; leftover starts are killed before the first reconciliation (the watch).
    const ttlSec = await this.configuredTtlSec();
    await this.establishLease(ttlSec, true);
    void this.publishHostFacts();
    await killLeftoverStarts(this.runDir, this.log);
    void this.checkEtcdVersions();
    if (this.config.watchdog) {
      this.watchdog = new Watchdog(this.config.watchdog.device, parseDurationMs(this.config.watchdog.feedInterval) ?? 500, () => this.mayFeedWatchdog(), this.log);
      await this.watchdog.start();
    }
    await this.watcher.start();
    if (this.config.http.listen) {
      try {
        this.loopAtMs = this.clock.monotonicMs();
        void agentMetrics.attach(() => this.metricsSnapshot());
        this.health = await startHealthServer(this.config.http.listen, { probeState: () => this.probeState(), report: () => this.healthReport(), metrics: () => agentMetrics.scrape() });
      } catch (err) {
        this.log.warn({ listen: this.config.http.listen, err: String(err) }, 'health endpoint not started');
      }
    }
    this.log.info({ node: this.node, cluster: this.config.cluster, leaseId: this.keeper?.leaseId }, 'agent started');
    this.kick();
  }

  /**
   * Stops the agent. With `leaveResources` (maintenance, or an upgrade) resources and the lease are
   * left as they are, so a restarted agent resumes them. Otherwise every set is stopped in reverse
   * order and released cleanly, then the lease is revoked.
   */
  async stop(leaveResources: boolean): Promise<void> {
    this.stopping = true;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.loopDelay.stop();
    this.leaseObserver.close();
    this.deviceMonitor.close();
    if (!leaveResources) {
      await this.stopAllSets();
      try {
        await this.keeper?.revoke();
        await rmLeaseFile(this.leaseFile());
      } catch (err) {
        this.log.warn({ err: String(err) }, 'lease revoke failed; it expires by itself');
      }
    } else {
      this.keeper?.release();
    }
    await this.watchdog?.stop().catch((err: unknown) => this.log.error({ err: String(err) }, 'watchdog not disarmed'));
    this.watcher.close();
    await this.health?.close();
    this.client.close();
    for (const c of this.memberClients) c.close();
    this.log.info({ node: this.node, leftResources: leaveResources }, 'agent stopped');
  }

  // ---- lease ---------------------------------------------------------------------------------

  private leaseFile(): string {
    return join(this.config.dataDir, 'lease.json');
  }

  private async configuredTtlSec(): Promise<number> {
    for (;;) {
      try {
        const res = await this.client.get(this.keys.config()).string();
        if (!res) return DEFAULT_LEASE_TTL_SEC;
        const built = this.viewBuilder.build(new Map([[this.keys.config(), { key: this.keys.config(), value: res, createRevision: 1, modRevision: 1, lease: '0' }]]), 0);
        return Math.round((built.view.config?.timing.leaseTtl ?? DEFAULT_LEASE_TTL_SEC * 1000) / 1000);
      } catch (err) {
        this.log.warn({ err: String(err) }, 'etcd not reachable; retrying');
        await sleep(500);
      }
    }
  }

  /**
   * Gathers the host facts (in a worker thread, up to 30 s) and adds them to the node record, only
   * while the record is still bound to the lease it was registered with: a re-registration on
   * another lease meanwhile carries the facts itself and is never undone.
   */
  private async publishHostFacts(): Promise<void> {
    const startedMs = this.clock.monotonicMs();
    this.facts = await gatherHostFacts();
    const keeper = this.keeper;
    if (!keeper || this.stopping) return;
    const put = await this.store.updateNode(this.node, keeper.leaseId, this.currentNodeRecord());
    this.log.info({ durationMs: Math.round(this.clock.monotonicMs() - startedMs), status: put.status }, 'host facts published');
  }

  /** A lease keeper for this agent (not yet granted or resumed): one way to build it, for every lease it holds. */
  private newKeeper(ttlSec: number): KeptLease {
    // On its own thread: the agent's own work (forks, large views) must never hold up a keepalive.
    const keeper: KeptLease = new ThreadedLeaseKeeper(this.conn, { ttlSec, callTimeoutMs: 2000, jitterSeed: this.config.node }, this.clock, {
      renewed: () => this.onLeaseRenewed(),
      answered: (rttMs, peer) => agentMetrics.keepaliveAnswered(rttMs, peer),
      late: (info) => this.log.warn({ waitedMs: Math.round(info.waitedMs), peer: info.peer }, 'lease keepalive late; moving to next etcd member'),
      lost: (reason) => this.onLeaseLost(keeper, reason),
    });
    return keeper;
  }

  /** Resumes the lease kept in dataDir when etcd still has it, else grants a new one. */
  private async establishLease(ttlSec: number, tryResume: boolean): Promise<void> {
    this.granting = true;
    this.requestedTtlSec = ttlSec;
    try {
      const keeper = this.newKeeper(ttlSec);
      const saved = tryResume ? await readLeaseFile(this.leaseFile()) : null;
      let resumed = false;
      const fencedSince = saved ? await this.fencedSince(saved.registeredRevision ?? 0) : false;
      if (fencedSince) this.log.warn({ leaseId: saved?.leaseId }, 'this node was fenced since its lease was registered; not resuming it');
      if (saved && saved.node === this.node && !fencedSince) {
        resumed = await keeper.resume(saved.leaseId, saved.ttlSec, saved.ttlSec * 1000);
        // sinceProcessStartMs: the part of a restart's gap in keepalives spent in this process.
        if (resumed) this.log.info({ leaseId: saved.leaseId, sinceProcessStartMs: Math.round(performance.now()) }, 'lease resumed');
      }
      if (!resumed) {
        for (;;) {
          try {
            await keeper.grant();
            break;
          } catch (err) {
            if (this.stopping) return;
            this.log.warn({ err: String(err) }, 'lease grant failed; retrying');
            await sleep(500);
          }
        }
        this.log.info({ leaseId: keeper.leaseId, ttlSec: keeper.grantedTtlSec }, 'lease granted');
      }
      this.keeper = keeper;
      // Register; if the lease dies before that succeeds, start over with a new one (a loop on
      // a dead lease would never end: found by the simulator).
      for (;;) {
        this.nodeRecord = { startedAtWallMs: this.clock.wallMs(), pid: process.pid };
        const put = await this.store.putNode(this.node, keeper.leaseId, this.currentNodeRecord());
        if (put.status === 'committed') {
          this.registeredRevision = put.revision;
          break;
        }
        if (this.stopping) break;
        if (!keeper.isValid(0)) {
          this.log.warn({ leaseId: keeper.leaseId }, 'lease died before registration; granting a new one');
          keeper.release();
          this.granting = false;
          return this.establishLease(ttlSec, false);
        }
        await sleep(250);
      }
      await this.persistLease(keeper);
      if (!resumed) void this.events.append({ what: 'node-online', cause: 'agent-started', reason: `${this.node} joined with lease ${keeper.leaseId}` });
    } finally {
      this.granting = false;
    }
  }

  /**
   * Logs each etcd member's version, with a warning below the release the lease rules rely on
   * (agent/etcd/version-floor.ts). After the lease is kept, so it never delays start-up; a member
   * that does not answer is skipped (it is checked at the next start).
   */
  private async checkEtcdVersions(): Promise<void> {
    await Promise.all(
      this.memberClients.map(async (member, i) => {
        const endpoint = this.endpoints[i];
        let version: string;
        try {
          version = String((await member.maintenance.status()).version);
        } catch (err) {
          this.log.warn({ endpoint, err: String(err) }, 'etcd server version not read');
          return;
        }
        const check = checkEtcdVersion(version);
        this.log.info({ endpoint, version }, 'etcd server version');
        if (check.status === 'below') this.log.warn({ endpoint, version, floor: check.floor, reason: check.reason }, 'etcd server below the version the lease guarantees rely on');
        else if (check.status === 'unknown') this.log.warn({ endpoint, version, reason: check.reason }, 'etcd server version not understood');
      }),
    );
  }

  /**
   * Keeps the lease id for a restarted agent to resume. Failing to write it (a full disk) must not
   * stop the agent, which would leave its resources without one: the file only serves a restart.
   */
  private async persistLease(keeper: KeptLease): Promise<void> {
    try {
      await writeLeaseFile(this.leaseFile(), { leaseId: keeper.leaseId, ttlSec: keeper.grantedTtlSec, node: this.node, registeredRevision: this.registeredRevision });
      this.leaseFileProblem = undefined;
    } catch (err) {
      this.leaseFileProblem = String(err);
      this.log.error({ file: this.leaseFile(), err: String(err) }, 'lease file not written; a restart will not resume this lease');
    }
  }

  /**
   * This host's lease is sound `marginMs` ahead — both leases while its keys move to a new one
   * (the one they are on may be either until the move is known).
   */
  private leaseValid(marginMs: number): boolean {
    return this.keeper !== undefined && this.keeper.isValid(marginMs) && (this.movingTo === undefined || this.movingTo.isValid(marginMs));
  }

  /** True when `leaseId` is this host's: its lease, or the one its keys are moving to. */
  private heldLeases(): HeldLeases {
    return { current: this.keeper?.leaseId ?? null, movingTo: this.movingTo?.leaseId ?? null };
  }

  /** The owner record of `name` when this host owns it under a lease it holds (core/ownership.ts). */
  private mine(owner: OwnerRecord | undefined): OwnerRecord | undefined {
    return ownedHere(owner, this.node, this.heldLeases());
  }

  /**
   * The lease a decision about a set rests on: the one its owner key is bound to when that is this
   * host's. While keys move to a new lease, both must be sound (the earlier expiry counts), and a
   * set this host does not own gets none: nothing is acquired on a lease about to be revoked.
   */
  private leaseFor(ownerLeaseId: string | undefined): LeaseState | null {
    const keeper = this.keeper;
    if (!keeper || this.granting) return null;
    const moving = this.movingTo;
    if (!moving) return { leaseId: keeper.leaseId, validUntilMs: keeper.validUntilMs };
    if (ownerLeaseId === undefined || !holdsLease(this.heldLeases(), ownerLeaseId)) return null;
    return { leaseId: ownerLeaseId, validUntilMs: Math.min(keeper.validUntilMs, moving.validUntilMs) };
  }

  /**
   * True when a fence of this node was recorded after `revision`: the host was (or was declared)
   * powered off, so whatever it owned must be taken over afresh — resuming the old lease would let
   * a later takeover count that old fence as covering this new life (found by the simulator).
   */
  private async fencedSince(revision: number): Promise<boolean> {
    try {
      const res = await this.client.get(this.keys.fence(this.node)).exec();
      const kv = res.kvs[0];
      return kv !== undefined && Number(kv.mod_revision) > revision;
    } catch {
      return true; // unknown: do not resume (a fresh lease is always safe)
    }
  }

  private onLeaseRenewed(): void {
    // A renewal after a period of doubt makes starting possible again; otherwise nothing changes.
    if (!this.leaseOkAtLastDecision) {
      void this.events.flush(); // what happened while etcd was away, first
      this.kick();
    } else this.scheduleWake();
  }

  private onLeaseLost(keeper: KeptLease, reason: string): void {
    if (keeper !== this.keeper || this.stopping) return;
    this.log.error({ leaseId: keeper.leaseId, reason }, 'lease lost');
    this.keeper = undefined;
    this.kick(); // with no lease, every set stops
    // A registration loop already granting a new lease (its lease died meanwhile) must not be
    // doubled: two keepers, one of them unreferenced, would keep a lease alive forever (simulator).
    if (this.granting) return;
    void this.establishLease(Math.max(1, keeper.grantedTtlSec), false).then(() => this.kick());
  }

  // ---- view and reconciliation ---------------------------------------------------------------

  private onViewChanged(kvs: ReadonlyMap<string, import('../etcd/view.js').KvEntry>, revision: number): void {
    const built = this.viewBuilder.build(kvs, revision);
    for (const p of built.problems) this.log.warn({ problem: p }, 'unreadable key');
    this.noteConfigProblem(built.configProblem);
    this.view = built.view;
    agentMetrics.viewChanged(built.view);
    if (built.view.config) this.events.retention = { retain: built.view.config.events.retain, maxAgeMs: built.view.config.events.maxAge };
    this.followLeaseTtl(built.view);
    this.kick();
  }

  /** Once per stored configuration revision that cannot be read: a log line and an event. */
  private noteConfigProblem(problem: { revision: number; reason: string } | undefined): void {
    const known = this.configProblem?.revision;
    this.configProblem = problem;
    if (!problem || problem.revision === known) return;
    this.log.error({ revision: problem.revision, reason: problem.reason }, 'stored configuration unreadable; keeping the last good one');
    void this.events.append({ what: 'config-unreadable', cause: 'config-unreadable', reason: `${this.node}: ${problem.reason}` });
  }

  /**
   * A changed `timing.leaseTtl` takes effect at once on an agent that owns nothing: it grants a
   * lease with the new TTL, moves its node key to it and revokes the old one (while `granting`, the
   * core sees no lease and acquires nothing). An owner moves its keys to a new lease
   * (moveKeysToTtl): the tokens stay, nothing is stopped.
   */
  private followLeaseTtl(view: ClusterView): void {
    const wantSec = view.config ? Math.round(view.config.timing.leaseTtl / 1000) : null;
    const old = this.keeper;
    if (wantSec === null || !old || this.granting || this.stopping || wantSec === this.requestedTtlSec) return;
    if (this.movingTo) return;
    const owned = ownedUnderLease(view, this.node, old.leaseId);
    if (owned.length > 0) {
      void this.moveKeysToTtl(wantSec);
      return;
    }
    // Something runs without being owned (a stop in flight): the next view change tries again.
    if ([...this.sets.values()].some((rt) => highestActive(rt.local) >= 0 || rt.busy)) return;
    this.log.info({ fromSec: this.requestedTtlSec, toSec: wantSec }, 'leaseTtl changed; granting a new lease');
    void this.establishLease(wantSec, false).then(async () => {
      try {
        await old.revoke();
      } catch {
        old.release();
      }
      this.kick();
    });
  }

  /**
   * An owner follows a changed leaseTtl without a restart: it grants a lease with the new TTL, moves
   * its owner keys and node key onto it in one transaction that compares each key's token and
   * current lease (tokens unchanged: nothing is stopped or restarted), then revokes the old lease.
   * Rejected (a key changed meanwhile) or failed, the new lease is given up and the next view
   * change tries again. An unknown outcome is settled by reading where the node key went.
   */
  private async moveKeysToTtl(ttlSec: number): Promise<void> {
    const from = this.keeper;
    const view = this.view;
    if (!from || !view || this.movingTo) return;
    const askedSec = this.requestedTtlSec;
    this.requestedTtlSec = ttlSec;
    const to = this.newKeeper(ttlSec);
    try {
      await to.grant();
    } catch (err) {
      this.log.warn({ err: String(err) }, 'lease for the new leaseTtl not granted; trying again later');
      this.requestedTtlSec = askedSec;
      return;
    }
    this.movingTo = to;
    const owned = ownedUnderLease(view, this.node, from.leaseId).map((o) => ({ set: o.set, token: o.token }));
    let out = await this.store.moveToLease(this.node, from.leaseId, to.leaseId, owned, this.currentNodeRecord());
    if (out.status === 'unknown') {
      const nodeKv = await this.client.get(this.keys.node(this.node)).exec().then((r) => r.kvs[0], () => undefined);
      if (nodeKv?.lease !== undefined && String(nodeKv.lease) === to.leaseId) out = { status: 'committed', revision: Number(nodeKv.mod_revision) };
      else if (nodeKv?.lease !== undefined && String(nodeKv.lease) === from.leaseId) out = { status: 'rejected', revision: 0 };
    }
    if (out.status !== 'committed') {
      // Still on the old lease (or unknown twice: the new lease then simply expires, and with it
      // any key that did move — this host's sets then self-fence on it, the safe direction).
      this.movingTo = undefined;
      this.requestedTtlSec = askedSec;
      this.log.warn({ outcome: out.status, toSec: ttlSec }, 'owner keys not moved to the new lease; trying again later');
      await to.revoke().catch(() => to.release());
      this.kick();
      return;
    }
    this.keeper = to;
    this.movingTo = undefined;
    this.log.info({ fromSec: from.grantedTtlSec, toSec: to.grantedTtlSec, leaseId: to.leaseId, sets: owned.map((o) => o.set) }, 'leaseTtl changed; owner keys moved to a new lease');
    void this.events.append({ what: 'lease-ttl-changed', cause: 'config-changed', reason: `${this.node} moved ${owned.length} owned set(s) to a ${to.grantedTtlSec}s lease (was ${from.grantedTtlSec}s); tokens unchanged` });
    await this.persistLease(to);
    await from.revoke().catch(() => from.release());
    this.kick();
  }

  /**
   * Reconciles soon (once per event-loop turn, however many changes arrived): every set, or only
   * `set` when just its own action finished (an idle agent with many sets does little per monitor).
   */
  kick(set?: string): void {
    if (this.stopping) return;
    if (set === undefined) this.kickAll = true;
    else this.kickSets.add(set);
    if (this.kickPending) return;
    this.kickPending = true;
    setImmediate(() => {
      this.kickPending = false;
      const only = this.kickAll ? null : new Set(this.kickSets);
      this.kickAll = false;
      this.kickSets.clear();
      this.reconcile(only);
    });
  }

  /** The JSON of each set's configuration, computed once per configuration revision. */
  private specJsonOf(config: ClusterConfig, name: string): string {
    let perSet = this.specJsonCache.get(config);
    if (!perSet) {
      perSet = new Map(Object.entries(config.serviceSets).map(([n, spec]) => [n, JSON.stringify(spec)]));
      this.specJsonCache.set(config, perSet);
    }
    return perSet.get(name) ?? '';
  }

  /** The configuration with clone sets expanded into their instances, once per configuration. */
  private expandedConfig(view: ClusterView): ClusterConfig | null {
    if (!view.config) return null;
    let expanded = this.expandedCache.get(view.config);
    if (!expanded) {
      expanded = expandClones(view.config);
      this.expandedCache.set(view.config, expanded);
    }
    return expanded;
  }

  private reconcile(only: ReadonlySet<string> | null): void {
    const view = this.view;
    this.loopAtMs = this.clock.monotonicMs();
    if (!view || this.stopping) return;
    const config = this.expandedConfig(view);
    if (config) this.syncSets(config);
    const marginMs = config?.timing.fenceMargin ?? 1000;
    // Read once: the lease thread renews concurrently, and an abort must come with its record.
    const leaseValidNow = this.leaseValid(marginMs);
    this.leaseOkAtLastDecision = !this.granting && leaseValidNow;
    // Only a lease really in doubt (or lost) aborts; granting a new lease for a changed TTL while
    // the old one is sound does not (found by the compat test: probes were cut short).
    if (!leaseValidNow) {
      this.abortStartsAndMonitors();
      this.slots.expedite(); // a stop queued behind other actions must not wait: doubt wants the stop
    }
    this.recordEtcdReachability(!leaseValidNow);
    const leaseSound = this.leaseOkAtLastDecision;
    for (const [name, rt] of this.sets) {
      if (only && !only.has(name)) continue;
      // Waiting for our own write to show in the view must not hold up a self-fence: with the lease
      // in doubt the decision is to stop, whatever the view says.
      if (rt.busy || (leaseSound && view.revision < rt.awaitRevision)) continue;
      if (!config || !(name in config.serviceSets) || this.specJsonOf(config, name) !== rt.specJson) {
        this.retireSet(name, rt, config);
        continue;
      }
      const cleanup = view.cleanups.get(baseSetName(name));
      if (cleanup && cleanup.modRevision > rt.cleanupRevision) this.applyCleanup(name, rt, cleanup.modRevision, cleanup.resource);
      if (!rt.local.probed) {
        void this.runExclusive(rt, () => this.probeSet(name, rt));
        continue;
      }
      if (this.adoptIfOwner(name, rt, view, config)) continue;
      let decision = this.decide(name, rt, view, config);
      // An overloaded host takes no more sets: it sheds work before it risks its lease.
      if (decision.action.kind === 'acquire' && this.slots.overloaded) decision = { ...decision, action: { kind: 'none' }, reason: `${decision.reason}; ${OVERLOAD_HOLD}` };
      rt.awaitsFence = decision.awaitsFence ?? [];
      decision = this.withFenceProgress(decision, view);
      this.noteDecision(name, rt, decision, view);
      if (decision.action.kind === 'none' && decision.state === 'running') {
        this.maybeMonitor(name, rt, config);
      } else if (decision.action.kind !== 'none' && decision.action.kind !== 'wait') {
        void this.runExclusive(rt, () => this.execute(name, rt, decision, view, config));
      }
    }
    this.checkFencing();
    this.heartbeat(config?.timing.leaseTtl ?? DEFAULT_LEASE_TTL_SEC * 1000);
    this.scheduleWake();
  }

  /**
   * An etcd outage leaves a trace: when the lease falls into doubt, `etcd-lost` and a `self-fenced`
   * per set active here; when it is sound again, `etcd-resumed`. Written while etcd is away, they
   * wait in the event log's queue (with the times they happened) and are written once it is back.
   */
  private recordEtcdReachability(inDoubt: boolean): void {
    agentMetrics.leaseSoundness(!inDoubt);
    if (inDoubt && this.doubtSinceWallMs === null) {
      this.doubtSinceWallMs = this.clock.wallMs();
      const keeper = this.keeper;
      const silentMs = keeper ? Math.round(this.clock.monotonicMs() - (keeper.validUntilMs - keeper.grantedTtlSec * 1000)) : null;
      this.log.warn({ silentMs, cause: 'lease-doubt' }, 'etcd lost: lease in doubt, self-fencing');
      void this.events.append({ what: 'etcd-lost', cause: 'lease-doubt', reason: keeper ? `${this.node} has had no lease renewal from etcd for ${silentMs} ms: self-fencing` : `${this.node} lost its etcd lease: self-fencing` });
      for (const [name, rt] of this.sets) {
        if (highestActive(rt.local) < 0) continue;
        void this.events.append({ set: name, what: 'self-fenced', cause: 'lease-doubt', reason: `${this.node} lost etcd: stopping ${name} before its lease can expire`, token: rt.local.token });
      }
    } else if (!inDoubt && this.doubtSinceWallMs !== null) {
      const awayMs = this.clock.wallMs() - this.doubtSinceWallMs;
      this.doubtSinceWallMs = null;
      // The first heartbeat after the outage comes one interval later, when the status records
      // written before it have been replaced: until then `hactl status` shows them as stale.
      this.heartbeatAtMs = this.clock.monotonicMs();
      this.log.info({ awayMs, cause: 'lease-sound' }, 'etcd resumed: lease sound again');
      void this.events.append({ what: 'etcd-resumed', cause: 'lease-sound', reason: `${this.node} has a sound lease again after ${Math.round(awayMs / 100) / 10} s` });
    }
  }

  /**
   * Refreshes the node key's `aliveAtWallMs` once per lease TTL while the lease is sound, after
   * this reconciliation's status writes were sent: a status record is current only while its
   * owner's heartbeat (or the record's own state change) is recent (cli/status-model.ts).
   */
  private heartbeat(intervalMs: number): void {
    const keeper = this.keeper;
    const now = this.clock.monotonicMs();
    if (!keeper || this.granting || !this.leaseOkAtLastDecision || now - this.heartbeatAtMs < intervalMs) return;
    this.heartbeatAtMs = now;
    void this.store.updateNode(this.node, keeper.leaseId, this.currentNodeRecord());
  }

  /** The node key's value: the registration, the host facts once gathered, and a heartbeat time. */
  private currentNodeRecord(): Record<string, unknown> {
    const overload = this.slots.report().reason;
    return { ...this.nodeRecord, ...(this.facts ? { facts: this.facts } : {}), ...(overload ? { overload } : {}), aliveAtWallMs: this.clock.wallMs() };
  }

  /**
   * The host entered or left overload (a long action queue): said in the log, the node record
   * (`overload`) and /health; leaving it lets the held sets be taken again.
   */
  private onOverload(on: boolean): void {
    const report = this.slots.report();
    if (on) this.log.warn({ queued: report.queued, running: report.running, limit: report.limit, reason: report.reason }, 'overloaded: shedding work');
    else this.log.info({ queued: report.queued, running: report.running, limit: report.limit }, 'overload over');
    const keeper = this.keeper;
    if (keeper && !this.granting && !this.stopping) void this.store.updateNode(this.node, keeper.leaseId, this.currentNodeRecord());
    this.kick();
  }

  /**
   * Fencing by this host (core/fence-targets): the gates of the sets it took over, owners whose
   * leases went unrenewed (the fast fenced takeover), hosts whose stop failed. Runs after every
   * reconciliation and after every lease observation.
   */
  private checkFencing(): void {
    const view = this.view;
    const config = view ? this.expandedConfig(view) : null;
    if (!view || !config || this.stopping) return;
    this.leaseObserver.follow(leasesToObserve(this.node, view, config).map((l) => l.leaseId));
    this.deviceMonitor.follow(devicesToMonitor(this.node, view, config), view.config ?? config);
    const keeper = this.keeper;
    const lease = keeper ? this.leaseFor(keeper.leaseId) : null;
    const gates = new Map<string, string[]>();
    for (const [name, rt] of this.sets) if (rt.awaitsFence.length > 0) gates.set(name, rt.awaitsFence);
    const targets = fenceTargets({ me: this.node, nowMs: this.clock.monotonicMs(), lease, view, config, gates, observations: this.leaseObserver.observations() });
    this.fencer.update(targets, view, view.config ?? config, targets.length > 0 && lease ? lease.leaseId : null);
  }

  /**
   * The lease fell into doubt: a start or monitor in flight would hold up the self-fence stops for
   * up to its timeout, past what the takeover grace covers (found by the simulator, BUG-3). Kill
   * their process groups now — SIGKILL at once: a TERM ignored for 2 s is not covered by a grace
   * shorter than that (BUG-12) — and the resources are then stopped.
   */
  private abortStartsAndMonitors(): void {
    for (const rt of this.sets.values()) {
      if (!rt.abort || rt.abort.signal.aborted) continue;
      rt.log.warn({ cause: 'lease-doubt' }, 'lease in doubt: aborting the action in flight');
      rt.abort.abort('etcd lease in doubt (self-fencing)');
    }
  }

  private decide(name: string, rt: SetRuntime, view: ClusterView, config: ClusterConfig): SetDecision {
    return decideSet({
      me: this.node,
      nowMs: this.clock.monotonicMs(),
      wallMs: this.clock.wallMs(),
      lease: this.leaseFor(view.owners.get(name)?.leaseId),
      view,
      config,
      set: name,
      local: rt.local,
    });
  }

  /**
   * `hactl cleanup SET [RESOURCE]`: forget failures (fail counts, a failed stop, a pending move)
   * and probe the resources again, so the next decision rests on what really runs. Each agent
   * acts once per cleanup generation.
   */
  private applyCleanup(name: string, rt: SetRuntime, revision: number, resource: string | undefined): void {
    rt.cleanupRevision = revision;
    const indexes = rt.spec.resources.map((r, i) => (resource === undefined || r.id === resource ? i : -1)).filter((i) => i >= 0);
    for (const i of indexes) {
      rt.failCounts[i] = 0;
      rt.lastReasons[i] = undefined;
    }
    const hadTrouble = rt.local.stopFailure ?? rt.local.moveAway?.reason ?? null;
    if (rt.local.stopFailure && ![...this.sets.values()].some((other) => other !== rt && other.local.stopFailure)) {
      this.store.withdrawFenceRequest(this.node).catch((err: unknown) => this.log.warn({ err: String(err) }, 'could not withdraw the fence request'));
    }
    rt.local = { ...rt.local, stopFailure: null, moveAway: null, failureTimesMs: [], probed: false };
    rt.retry.reset(); // the operator asks for a fresh attempt now
    rt.statusKey = '';
    rt.log.info({ resource, cleared: hadTrouble }, 'cleanup');
    if (hadTrouble) void this.events.append({ set: name, what: 'cleanup', cause: 'operator-cleanup', reason: `cleanup on ${this.node} cleared: ${hadTrouble}; probing again` });
  }

  /** New sets get a runtime; changed or removed ones are retired by reconcile(). */
  private syncSets(config: ClusterConfig): void {
    for (const [name, spec] of Object.entries(config.serviceSets)) {
      if (this.sets.has(name)) continue;
      this.sets.set(name, {
        name,
        spec,
        specJson: JSON.stringify(spec),
        local: emptyLocalSet(spec.resources.length),
        busy: false,
        awaitRevision: 0,
        lastReason: '',
        lastState: '',
        sinceWallMs: this.clock.wallMs(),
        statusJson: '',
        statusKey: '',
        cleanupRevision: this.view?.cleanups.get(baseSetName(name))?.modRevision ?? 0,
        nextMonitorMs: spec.resources.map(() => Infinity),
        lastReasons: spec.resources.map(() => undefined),
        failCounts: spec.resources.map(() => 0),
        agents: spec.resources.map(() => undefined),
        awaitsFence: [],
        abort: undefined,
        retry: new Backoff(SET_RETRY_BACKOFF),
        log: this.log.child({ set: name }),
      });
    }
  }

  /**
   * A set whose configuration changed (or that was removed) is stopped with the configuration it
   * was started with, then forgotten; the new configuration then starts from a clean slate.
   * An unchanged set is never touched by a configuration change.
   */
  private retireSet(name: string, rt: SetRuntime, config: ClusterConfig | null): void {
    // Cleanup works for a retiring set too (its configuration changed or is gone).
    const cleanup = this.view?.cleanups.get(baseSetName(name));
    if (cleanup && cleanup.modRevision > rt.cleanupRevision) this.applyCleanup(name, rt, cleanup.modRevision, cleanup.resource);
    const changed = config && name in config.serviceSets ? `configuration of ${name} changed` : `${name} was removed from the configuration`;
    const changeCause: Cause = config && name in config.serviceSets ? 'config-changed' : 'config-removed';
    // A failed stop blocks the set until cleanup: no stop again (that was a retry storm), no release.
    // Not while self-fencing: then, as in decideSet, the stops go on without a pause — the next
    // owner's takeover grace counts on them (a backoff there let a takeover overlap: simulator).
    const leaseSound = !this.granting && this.leaseValid(config?.timing.fenceMargin ?? 1000);
    if (rt.local.stopFailure && leaseSound) {
      this.noteRetiring(name, rt, 'blocked', 'stop-failed', `stop failed on ${this.node}: ${rt.local.stopFailure}; ${changed}, applied after hactl cleanup ${baseSetName(name)}`);
      return;
    }
    if (!rt.retry.ready(this.clock.monotonicMs())) return; // a release that did not commit, retried after its backoff
    const active = highestActive(rt.local);
    if (active >= 0) {
      const reason = `${changed}: stopping it${config && name in config.serviceSets ? ' to apply the new one' : ''}`;
      this.noteRetiring(name, rt, 'stopping', changeCause, reason);
      void this.runExclusive(rt, () => this.runStop(name, rt, active, reason, changeCause));
      return;
    }
    if (rt.local.stopFailure) return; // blocked: keep everything as it is until cleanup
    const owner = this.mine(this.view?.owners.get(name));
    if (owner) {
      void this.runExclusive(rt, async () => {
        // The hosts not yet settled go on record for the next owner (a release must never forget them).
        const out = await this.store.release(name, owner.token, { node: this.node, released: true, unsettled: rt.local.unsettled, reason: 'configuration changed', atWallMs: this.clock.wallMs() });
        if (out.status !== 'unknown') rt.awaitRevision = out.revision;
        if (out.status === 'unknown') rt.retry.failed(this.clock.monotonicMs());
        else rt.retry.reset();
      });
      return;
    }
    this.sets.delete(name);
    if (config && name in config.serviceSets) this.syncSets(config);
    this.kick();
  }

  /** The status of a set being retired: never the `running` its old decision last wrote. */
  private noteRetiring(name: string, rt: SetRuntime, state: 'stopping' | 'blocked', cause: Cause, reason: string): void {
    if (this.view) this.noteDecision(name, rt, { action: { kind: 'none' }, state, reason, cause }, this.view);
  }

  private async runExclusive(rt: SetRuntime, work: () => Promise<void>): Promise<void> {
    rt.busy = true;
    try {
      await work();
    } catch (err) {
      this.log.error({ err: err instanceof Error ? err.stack : String(err) }, 'internal error while acting on a set');
    } finally {
      rt.busy = false;
      this.kick(rt.name);
    }
  }

  // ---- carrying out decisions ----------------------------------------------------------------

  private async execute(name: string, rt: SetRuntime, decision: SetDecision, view: ClusterView, config: ClusterConfig): Promise<void> {
    const action = decision.action;
    const owner = view.owners.get(name);
    switch (action.kind) {
      case 'acquire': {
        const keeper = this.keeper;
        if (!keeper || !this.leaseValid(config.timing.fenceMargin)) return;
        if (this.siblingActiveHere(name)) return; // another instance's resources (the same ones) are in use here
        agentMetrics.takeoverDecided(name, view, action, config.timing.leaseTtl);
        const out = await this.store.acquire({
          set: name,
          node: this.node,
          leaseId: keeper.leaseId,
          holderRevision: action.holderRevision,
          holder: {
            node: this.node,
            released: false,
            unsettled: action.unsettled,
            graceMs: takeoverGraceMs(rt.spec, config.timing.fenceMargin),
            reason: decision.reason,
            atWallMs: this.clock.wallMs(),
          },
          clearsIntent: action.clearsIntent !== undefined,
          unchangedOwners: this.siblingOwnersAsSeen(name, view, config),
        });
        agentMetrics.takeoverCommitted(name, out.status === 'committed');
        if (out.status === 'rejected') {
          // Lost the race — or our own copy committed and this is what a re-sent copy saw. If the
          // view then shows this host as owner, the gate is taken up from the holder record
          // (adoptOwnership), never skipped.
          rt.log.info('acquire lost the race');
          rt.awaitRevision = out.revision;
          return;
        }
        // On an unknown outcome the transaction may have committed: arm the grace and fence gate
        // anyway, so that a silent success can never skip them.
        rt.local = afterAcquire(rt.local, out.status === 'committed' ? out.revision : 0, {
          unsettled: action.unsettled,
          graceMs: takeoverGraceMs(rt.spec, config.timing.fenceMargin),
          nowMs: this.clock.monotonicMs(),
        });
        if (out.status === 'committed') {
          rt.awaitRevision = out.revision;
          rt.log.info({ token: out.revision, dirty: action.dirty, reason: decision.reason, cause: decision.cause }, 'ownership acquired');
          void this.events.append({ set: name, what: 'acquired', cause: decision.cause, reason: decision.reason, token: out.revision });
        } else {
          rt.log.warn({ error: out.error }, 'acquire outcome unknown');
        }
        return;
      }
      case 'start':
        return this.runStart(name, rt, action.index, owner?.token ?? null, config);
      case 'stop':
        agentMetrics.stopBegins(name);
        return this.runStop(name, rt, action.index, decision.reason, decision.cause);
      case 'release': {
        if (!owner) return;
        const out = await this.store.release(
          name,
          owner.token,
          // Hosts not yet settled (nothing started since the takeover) stay on record for the next owner.
          { node: this.node, released: true, unsettled: rt.local.unsettled, handoffTo: action.handoffTo, failed: action.failed, reason: decision.reason, atWallMs: this.clock.wallMs() },
          action.ban ? { node: this.node, ...action.ban } : undefined,
        );
        if (out.status === 'committed') {
          agentMetrics.released(name, releaseCause(action, rt.local.moveAway !== null));
          rt.local = afterRelease(rt.local);
          rt.awaitRevision = out.revision;
          rt.log.info({ token: owner.token, handoffTo: action.handoffTo, reason: decision.reason, cause: decision.cause }, 'ownership released');
          void this.events.append({ set: name, what: action.handoffTo ? 'handed-off' : 'released', cause: decision.cause, reason: decision.reason, token: owner.token });
        } else if (out.status === 'rejected') {
          rt.awaitRevision = out.revision;
        } else {
          await this.awaitFreshView(rt);
        }
        return;
      }
      case 'clear-intent': {
        const intent = view.failoverIntents.get(name);
        if (!intent) return;
        const out = await this.store.clearFailoverIntent(name, intent.modRevision);
        if (out.status !== 'unknown') rt.awaitRevision = out.revision;
        void this.events.append({ set: name, what: 'intent-refused', cause: decision.cause, reason: decision.reason });
        return;
      }
      case 'none':
      case 'wait':
        return;
    }
  }

  /**
   * A stop failed: what runs here is unknown and the set cannot move while this host may still
   * hold it. With a fence device, ask the peers to fence this host (Pacemaker's on-fail=fence);
   * the request lives as long as this lease.
   */
  private requestOwnFence(set: string, reason: string): void {
    const config = this.view?.config;
    const keeper = this.keeper;
    if (!config || !keeper || !fenceDeviceFor(config, this.node)) return;
    this.log.error({ set, reason, cause: 'stop-failed' }, 'asking the other hosts to fence this one');
    this.store
      .requestFence(this.node, keeper.leaseId, { set, reason, atWallMs: this.clock.wallMs() })
      .catch((err: unknown) => this.log.error({ err: String(err) }, 'could not ask to be fenced'));
  }

  /** Resolve every agent again before its next action (the resource directories changed: reload.ts). */
  forgetAgents(): void {
    for (const rt of this.sets.values()) rt.agents.fill(undefined);
  }

  /** Resolve agents of type `name` again before their next action (its file changed: reload.ts). */
  forgetAgent(name: string): void {
    for (const rt of this.sets.values()) rt.spec.resources.forEach((r, i) => r.type === name && (rt.agents[i] = undefined));
  }

  private async agentFor(rt: SetRuntime, index: number): Promise<AgentRef | string> {
    const cached = rt.agents[index];
    if (cached) return cached;
    const resolved = await resolveAgent(rt.spec.resources[index].type, { ocfRoot: this.config.ocfRoot, resourceDirs: this.config.resourceDirs });
    if (!resolved.ok) return resolved.reason;
    rt.agents[index] = resolved.agent;
    return resolved.agent;
  }

  private async act(name: string, rt: SetRuntime, index: number, action: OcfAction, timeoutMs: number, intervalMs: number, token: number | null): Promise<ActionResult> {
    const resource = rt.spec.resources[index];
    // The abort handle exists before the first await: a lease doubt that comes while the agent file
    // is being resolved must still reach this action (it was lost in that gap).
    const abortable = action === 'start' || action === 'monitor';
    const abort = abortable ? new AbortController() : undefined;
    if (abort) rt.abort = abort;
    const agent = await this.agentFor(rt, index);
    if (abort?.signal.aborted) {
      if (rt.abort === abort) rt.abort = undefined;
      return { status: 'aborted', reason: String(abort.signal.reason), durationMs: 0, stdout: '' };
    }
    if (typeof agent === 'string') {
      if (abort && rt.abort === abort) rt.abort = undefined;
      // An agent that cannot be found or is refused as unsafe cannot START here (rc 5: move, ban).
      // For a probe, monitor or stop it says nothing about what runs: hactl never ran it, so the
      // resource's state is unknown — a stop that could not run is a failed stop, never "stopped".
      if (action === 'start') return { status: 'exited', rc: 5, reason: agent, durationMs: 0, stdout: '' };
      rt.log.error({ resource: resource.id, action, reason: agent }, 'resource agent cannot be run');
      return { status: 'spawn-failed', reason: agent, durationMs: 0, stdout: '' };
    }
    // A slot of the host's action limit first (stops first, then starts by set priority, probes,
    // monitors); an abort while queued (lease doubt) ends the wait. A start re-checks the lease
    // once it has its slot: the check before it may be seconds old by then.
    const slot = await this.slots.acquire({ kind: slotClass(action, intervalMs), priority: setPriority(rt.spec), signal: abort?.signal });
    if (!slot || (action === 'start' && !this.leaseValid(this.view?.config?.timing.fenceMargin ?? 1000))) {
      slot?.release();
      if (abort && rt.abort === abort) rt.abort = undefined;
      return { status: 'aborted', reason: String(abort?.signal.reason ?? 'etcd lease in doubt (self-fencing)'), durationMs: 0, stdout: '' };
    }
    let inflight: Promise<string | null> | undefined;
    const result = await runAction({
      signal: abort?.signal,
      onSpawn: action === 'start' ? (pid) => (inflight = recordInflight(this.runDir, pid, { set: name, resource: resource.id })) : undefined,
      agent,
      action,
      resourceId: resource.id,
      params: resource.params,
      timeoutMs,
      intervalMs,
      checkLevel: action === 'monitor' ? resource.monitor.depth : undefined,
      ocfRoot: this.config.ocfRoot,
      runDir: this.runDir,
      node: this.node,
      set: name,
      fencingToken: token,
    }).finally(() => slot.release());
    if (abort && rt.abort === abort) rt.abort = undefined;
    agentMetrics.action(resource.type, action, result);
    if (inflight) void inflight.then((path) => (path ? clearInflight(path) : undefined));
    const rc = result.status === 'exited' ? result.rc : undefined;
    const level = result.status === 'exited' && (result.rc === 0 || (action === 'monitor' && result.rc === 7 && intervalMs === 0)) ? 'info' : 'warn';
    if (action !== 'monitor' || level === 'warn' || intervalMs === 0) {
      rt.log[level]({ resource: resource.id, action, rc, status: result.status, durationMs: Math.round(result.durationMs), reason: result.status === 'exited' ? result.reason : undefined }, 'action finished');
    } else {
      rt.log.debug({ resource: resource.id, action, rc, durationMs: Math.round(result.durationMs) }, 'monitor ok');
    }
    return result;
  }

  private async runStart(name: string, rt: SetRuntime, index: number, token: number | null, config: ClusterConfig): Promise<void> {
    const resource = rt.spec.resources[index];
    // Irreversible step: re-check the lease right before it (SPEC §5.3).
    if (!this.leaseValid(config.timing.fenceMargin) || token === null) return;
    agentMetrics.startBegins(name, index);
    const result = await this.act(name, rt, index, 'start', startTimeoutMs(resource), 0, token);
    rt.local = afterStart(rt.local, index, resource.id, result, token);
    rt.nextMonitorMs[index] = this.clock.monotonicMs() + monitorIntervalMs(resource);
    if (rt.local.moveAway) {
      rt.failCounts[index]++;
      rt.lastReasons[index] = describeOutcome(result);
      agentMetrics.startEnded(name, false);
      void this.events.append({ set: name, resource: resource.id, what: 'start-failed', cause: 'start-failed', reason: rt.local.moveAway.reason, token, rc: result.status === 'exited' ? result.rc : undefined });
    } else if (index === rt.spec.resources.length - 1) {
      agentMetrics.startEnded(name, true);
      void this.events.append({ set: name, what: 'running', cause: 'started', reason: `${name} running on ${this.node}`, token });
    }
  }

  private async runStop(name: string, rt: SetRuntime, index: number, reason: string, cause: Cause): Promise<void> {
    const resource = rt.spec.resources[index];
    const result = await this.act(name, rt, index, 'stop', stopTimeoutMs(resource), 0, rt.local.token ?? this.view?.owners.get(name)?.token ?? null);
    rt.local = afterStop(rt.local, index, resource.id, result);
    rt.nextMonitorMs[index] = Infinity;
    if (rt.local.stopFailure) {
      rt.lastReasons[index] = describeOutcome(result);
      rt.log.error({ resource: resource.id, reason: rt.local.stopFailure, cause: 'stop-failed' }, 'stop failed; set blocked');
      void this.events.append({ set: name, resource: resource.id, what: 'stop-failed', cause: 'stop-failed', reason: rt.local.stopFailure, rc: result.status === 'exited' ? result.rc : undefined });
      this.requestOwnFence(name, rt.local.stopFailure);
      const owner = this.ownedByMe(name);
      if (owner) await this.markStopFailed(name, rt, owner.token);
    } else if (index === 0) {
      agentMetrics.stopEnded(name);
      void this.events.append({ set: name, what: 'stopped', cause, reason, token: rt.local.token });
    }
  }

  /**
   * After a write whose outcome is unknown (it may have committed), the next decision must not rest
   * on a view older than etcd is now: a linearizable read gives the current revision, and the set
   * waits until the watch has delivered it. Tried while the lease is sound (a self-fence does not
   * wait for it), at most a few seconds.
   */
  private async awaitFreshView(rt: SetRuntime): Promise<void> {
    const marginMs = this.view?.config?.timing.fenceMargin ?? 1000;
    for (let attempt = 0; attempt < 10 && !this.stopping && this.leaseValid(marginMs); attempt++) {
      try {
        const res = await this.client.get(this.keys.config()).exec();
        rt.awaitRevision = Math.max(rt.awaitRevision, Number(res.header.revision));
        return;
      } catch {
        await sleep(200);
      }
    }
  }

  /** The owner record of `name` when this host holds it under its current lease. */
  private ownedByMe(name: string): OwnerRecord | undefined {
    return this.mine(this.view?.owners.get(name));
  }

  /** True when the holder record says this host failed to stop `name`. */
  private stopFailureOnRecord(name: string): boolean {
    const holder = this.view?.holders.get(name);
    return holder?.node === this.node && holder.stopFailed === true;
  }

  /**
   * Keeps what this host knows of its ownership in step with etcd, at every reconciliation: a token
   * it has no memory of is adopted from the holder record, takeover gate included (an acquire whose
   * reply was lost, an agent restart); a failed stop is put on record in the holder record, and
   * taken off once cleanup has made the resources' state known again. True when that write is
   * under way (the set is busy until it is done).
   */
  private adoptIfOwner(name: string, rt: SetRuntime, view: ClusterView, config: ClusterConfig): boolean {
    const owner = this.ownedByMe(name);
    if (!owner) return false;
    if (rt.local.heldToken !== owner.token) {
      rt.local = adoptOwnership(rt.local, this.node, owner.token, view.holders.get(name), takeoverGraceMs(rt.spec, config.timing.fenceMargin), this.clock.monotonicMs());
      rt.log.info({ token: owner.token, unsettled: rt.local.unsettled.map((u) => u.node) }, 'ownership adopted from the holder record');
    }
    const onRecord = this.stopFailureOnRecord(name);
    const known = rt.local.probed && !rt.local.resources.includes('unknown');
    if (rt.local.stopFailure ? !onRecord : onRecord && known) {
      void this.runExclusive(rt, () => (rt.local.stopFailure ? this.markStopFailed(name, rt, owner.token) : this.clearStopFailed(name, rt, owner.token)));
      return true;
    }
    return false;
  }

  /**
   * Puts this host's failed stop on record, guarded by the token: from then on only a fence (or an
   * operator's confirmation) lets another host start the set — not the end of this lease, not a
   * grace, whatever `requireFencing` says.
   */
  private async markStopFailed(name: string, rt: SetRuntime, token: number): Promise<void> {
    await this.writeHolder(name, rt, token, true, rt.local.stopFailure ?? 'stop failed');
  }

  /** After cleanup, the resources' state is known again: the failed stop comes off the record. */
  private async clearStopFailed(name: string, rt: SetRuntime, token: number): Promise<void> {
    await this.writeHolder(name, rt, token, false, `cleanup on ${this.node}: resource state known again`);
  }

  private async writeHolder(name: string, rt: SetRuntime, token: number, stopFailed: boolean, reason: string): Promise<void> {
    const margin = this.view?.config?.timing.fenceMargin ?? 1000;
    const out = await this.store.updateHolder(name, token, {
      node: this.node,
      released: false,
      unsettled: rt.local.unsettled,
      graceMs: takeoverGraceMs(rt.spec, margin),
      ...(stopFailed ? { stopFailed: true } : {}),
      reason,
      atWallMs: this.clock.wallMs(),
    });
    if (out.status === 'committed') rt.awaitRevision = out.revision;
    else rt.log.warn({ stopFailed, outcome: out.status }, 'holder record not updated; retrying');
  }

  /** A set waiting for a fence says how the fencing goes (a failed attempt, or who else is at it). */
  private withFenceProgress(decision: SetDecision, view: ClusterView): SetDecision {
    const notes = (decision.awaitsFence ?? []).map((node) => this.fencer.statusOf(node, view)).filter((n): n is string => n !== undefined);
    return notes.length === 0 ? decision : { ...decision, reason: `${decision.reason}; ${notes.join('; ')}` };
  }

  /**
   * The instances of a clone set share the same resources on a host (at most one instance runs
   * per host). True when another instance of `name`'s clone set is busy or active here.
   */
  private siblingActiveHere(name: string): boolean {
    if (!name.includes(INSTANCE_SEPARATOR)) return false;
    const prefix = baseSetName(name) + INSTANCE_SEPARATOR;
    for (const [other, rt] of this.sets) {
      if (other !== name && other.startsWith(prefix) && (rt.busy || highestActive(rt.local) >= 0)) return true;
    }
    return false;
  }

  /**
   * A clone instance is acquired only if its sibling instances' owner keys are still as the
   * decision saw them: otherwise two decisions on one stale view could put two instances on one
   * host (found by the clone test under load). The transaction enforces it, not this process.
   */
  private siblingOwnersAsSeen(name: string, view: ClusterView, config: ClusterConfig): { set: string; createRevision: number }[] {
    if (!name.includes(INSTANCE_SEPARATOR)) return [];
    const prefix = baseSetName(name) + INSTANCE_SEPARATOR;
    return Object.keys(config.serviceSets)
      .filter((other) => other !== name && other.startsWith(prefix))
      .map((other) => ({ set: other, createRevision: view.owners.get(other)?.token ?? 0 }));
  }

  /**
   * Which instance of a clone set a probe of the shared resources belongs to: the instance this
   * host owns, or — when it owns none — the first one (which then stops leftovers as a non-owner).
   */
  private probeBelongsTo(name: string): boolean {
    if (!name.includes(INSTANCE_SEPARATOR)) return true;
    const base = baseSetName(name);
    const mine = this.view ? ownedInstanceOf(this.view, base, this.node, this.heldLeases()) : undefined;
    return mine ? mine.set === name : name.endsWith(`${INSTANCE_SEPARATOR}1`);
  }

  /** Probes every resource of a set (monitor, interval 0) and records what runs here. */
  private async probeSet(name: string, rt: SetRuntime): Promise<void> {
    if (!this.probeBelongsTo(name)) {
      rt.local = { ...rt.local, probed: true };
      return;
    }
    let local = rt.local;
    for (let i = 0; i < rt.spec.resources.length; i++) {
      const result = await this.act(name, rt, i, 'monitor', monitorTimeoutMs(rt.spec.resources[i]), 0, null);
      local = afterProbe(local, i, result);
    }
    const owned = this.mine(this.view?.owners.get(name));
    const now = this.clock.monotonicMs();
    rt.nextMonitorMs = rt.spec.resources.map((r) => now + monitorIntervalMs(r));
    // An owner that restarted takes the gate up again from the holder record (reconcile adopts the
    // ownership), whatever the probe found — an unknown resource too (found by the simulator, BUG-11).
    rt.local = { ...local, probed: true, token: owned && highestActive(local) >= 0 ? owned.token : local.token };
    rt.log.info({ resources: rt.local.resources, adopted: owned !== undefined }, 'probe finished');
  }

  /** Recurring monitors of a running set, each at its interval; one at a time per set. */
  private maybeMonitor(name: string, rt: SetRuntime, config: ClusterConfig): void {
    const now = this.clock.monotonicMs();
    const due = rt.nextMonitorMs.findIndex((t) => t <= now);
    if (due < 0) return;
    const resource = rt.spec.resources[due];
    if (this.slots.overloaded) {
      // Shedding: a recurring monitor waits one interval more rather than join a long queue.
      rt.nextMonitorMs[due] = now + monitorIntervalMs(resource);
      return;
    }
    void this.runExclusive(rt, async () => {
      const token = this.view?.owners.get(name)?.token ?? null;
      const result = await this.act(name, rt, due, 'monitor', monitorTimeoutMs(resource), monitorIntervalMs(resource), token);
      rt.nextMonitorMs[due] = this.clock.monotonicMs() + monitorIntervalMs(resource);
      const before = rt.local;
      rt.local = afterMonitor(rt.local, due, resource.id, result, rt.spec, this.clock.monotonicMs());
      if (rt.local !== before && result.status !== 'aborted') {
        rt.failCounts[due]++;
        rt.lastReasons[due] = describeOutcome(result);
        const reason = rt.local.moveAway?.reason ?? `${resource.id} failed its monitor (${describeOutcome(result)}): restarting in place`;
        void this.events.append({ set: name, resource: resource.id, what: 'monitor-failed', cause: 'monitor-failed', reason, token, rc: result.status === 'exited' ? result.rc : undefined });
      }
      void config;
    });
  }

  // ---- status, timers, shutdown --------------------------------------------------------------

  private noteDecision(name: string, rt: SetRuntime, decision: SetDecision, view: ClusterView): void {
    if (decision.reason !== rt.lastReason) {
      rt.lastReason = decision.reason;
      rt.log.info({ state: decision.state, action: decision.action.kind, reason: decision.reason, cause: decision.cause }, 'decision');
    }
    if (decision.state !== rt.lastState) {
      rt.lastState = decision.state;
      rt.sinceWallMs = this.clock.wallMs();
    }
    const owner = this.mine(view.owners.get(name));
    if (!owner) return;
    const configProblem = this.configProblem?.reason;
    const changeKey = `${owner.token}|${decision.state}|${decision.reason}|${rt.local.resources.join(',')}|${rt.failCounts.join(',')}|${rt.sinceWallMs}|${configProblem}`;
    if (changeKey === rt.statusKey) return;
    rt.statusKey = changeKey;
    const status = {
      node: this.node,
      state: decision.state,
      // An unreadable stored configuration is shown on every set it leaves as it was.
      reason: [decision.state === 'running' ? undefined : decision.reason, configProblem].filter(Boolean).join('; ') || undefined,
      cause: decision.cause,
      sinceWallMs: rt.sinceWallMs,
      fencingToken: owner.token,
      resources: rt.spec.resources.map((r, i) => ({
        id: r.id,
        type: r.type,
        state: rt.local.resources[i],
        failCount: rt.failCounts[i],
        lastReason: rt.lastReasons[i],
      })),
    };
    const json = JSON.stringify(status);
    if (json === rt.statusJson) return;
    rt.statusJson = json;
    void this.store.writeStatus(name, owner.token, status).then((out) => {
      if (out.status !== 'committed') {
        rt.statusJson = '';
        rt.statusKey = '';
      }
    });
  }

  /** Sleeps until the next moment a decision could change: lease margin, grace end, monitor due. */
  private scheduleWake(): void {
    if (this.stopping) return;
    const now = this.clock.monotonicMs();
    let at = now + IDLE_RECHECK_MS;
    const marginMs = this.view?.config?.timing.fenceMargin ?? 1000;
    if (this.keeper) {
      const fenceAt = Math.min(this.keeper.validUntilMs, this.movingTo?.validUntilMs ?? Infinity) - marginMs;
      if (fenceAt > now) at = Math.min(at, fenceAt + 1);
    }
    for (const rt of this.sets.values()) {
      if (rt.local.graceUntilMs !== null && rt.local.graceUntilMs > now) at = Math.min(at, rt.local.graceUntilMs + 1);
      for (const t of rt.nextMonitorMs) if (t > now) at = Math.min(at, t);
      if (rt.retry.notBeforeMs > now) at = Math.min(at, rt.retry.notBeforeMs + 1);
    }
    for (const retryAt of this.fencer.retryTimesMs()) if (retryAt > now) at = Math.min(at, retryAt + 1);
    // Never postpone a wake-up already due earlier: renewals arrive more often than the idle
    // re-check, and pushing the timer back on each would starve it (found by the simulator).
    if (this.wakeTimer && this.wakeAtMs <= at) return;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeAtMs = at;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      this.kick();
    }, Math.max(1, at - now));
  }

  private async stopAllSets(): Promise<void> {
    const deadline = this.clock.monotonicMs() + 600_000;
    while (this.clock.monotonicMs() < deadline) {
      let pending = false;
      for (const [name, rt] of this.sets) {
        if (rt.busy) {
          pending = true;
          continue;
        }
        const active = highestActive(rt.local);
        if (active >= 0 && !rt.local.stopFailure) {
          pending = true;
          void this.runExclusive(rt, () => this.runStop(name, rt, active, `agent on ${this.node} shutting down`, 'agent-shutdown'));
          continue;
        }
        const owner = this.mine(this.view?.owners.get(name));
        if (owner && rt.local.stopFailure) {
          // Never released: the lease ends when this agent goes, and the record of the failed stop
          // is what keeps the next owner from starting before a fence (it must be in etcd first).
          if (!this.stopFailureOnRecord(name)) await this.markStopFailed(name, rt, owner.token);
          continue;
        }
        if (owner) {
          pending = true;
          await this.store.release(name, owner.token, { node: this.node, released: true, unsettled: rt.local.unsettled, reason: `agent on ${this.node} shut down`, atWallMs: this.clock.wallMs() });
          rt.local = afterRelease(rt.local);
          this.sets.delete(name);
        }
      }
      if (!pending) return;
      await sleep(20);
    }
  }

  /** The watchdog is fed while the lease is sound, or while nothing here could need stopping. */
  private mayFeedWatchdog(): { ok: boolean; why: string } {
    const marginMs = this.view?.config?.timing.fenceMargin ?? 1000;
    // The lease in hand counts, also while a new one is being granted for a changed leaseTtl: the
    // old one is still sound then (a probe in flight during that re-grant starved the watchdog).
    if (this.leaseValid(marginMs)) return { ok: true, why: 'lease sound' };
    const holding = [...this.sets.values()].filter((rt) => rt.busy || highestActive(rt.local) >= 0 || rt.local.stopFailure !== null).map((rt) => rt.name);
    if (holding.length === 0) return { ok: true, why: 'no lease, but nothing runs here' };
    return { ok: false, why: `no sound lease while ${holding.join(', ')} may still run here` };
  }

  private probeState(): ProbeState {
    const keeper = this.keeper;
    const lease = keeper ? { validForMs: keeper.validUntilMs - this.clock.monotonicMs(), fenceMarginMs: this.view?.config?.timing.fenceMargin ?? 1000 } : null;
    return { loopAgeMs: this.clock.monotonicMs() - this.loopAtMs, stopping: this.stopping, lease };
  }

  private metricsSnapshot(): AgentSnapshot {
    const keeper = this.keeper;
    const now = this.clock.monotonicMs();
    const wallMs = this.clock.wallMs();
    const lease = keeper && !this.granting ? { grantedTtlSec: keeper.grantedTtlSec, validForMs: keeper.validUntilMs - now, sinceRenewalMs: now - (keeper.validUntilMs - keeper.grantedTtlSec * 1000) } : null;
    const sets = [...this.sets].map(([set, rt]) => {
      const owner = this.view?.owners.get(set);
      const owned = this.mine(owner);
      const bans = [...(this.view?.bans.get(baseSetName(set))?.values() ?? [])].filter((b) => b.untilWallMs > wallMs).length;
      return { set, owner: owner?.node ?? null, ownedHere: owned !== undefined, activeHere: highestActive(rt.local) >= 0, state: rt.lastState, token: owned ? owned.token : null, resources: rt.spec.resources.map((r, i) => ({ id: r.id, failCount: rt.failCounts[i] })), bans };
    });
    return { node: this.node, lease: lease && { ...lease, sound: this.leaseOkAtLastDecision }, watchdogArmed: this.watchdog !== undefined, sets, actions: this.slots.report(), loopDelay: this.loopDelay.read() };
  }

  private healthReport(): Record<string, unknown> {
    const keeper = this.keeper;
    const now = this.clock.monotonicMs();
    return {
      node: this.node,
      cluster: this.config.cluster,
      lease: keeper ? { id: keeper.leaseId, validForMs: Math.round(keeper.validUntilMs - now) } : null,
      revision: this.view?.revision ?? 0,
      configProblem: this.configProblem?.reason ?? null,
      leaseFileProblem: this.leaseFileProblem ?? null,
      watchdog: this.watchdog ? { device: this.config.watchdog?.device, fed: this.watchdog.fed } : null,
      actions: this.slots.report(),
      sets: Object.fromEntries([...this.sets].map(([n, rt]) => [n, { state: rt.lastState, reason: rt.lastReason, resources: rt.local.resources }])),
    };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The queue class of an OCF action: a monitor with interval 0 is a probe. */
function slotClass(action: OcfAction, intervalMs: number): ActionClass {
  if (action === 'stop') return 'stop';
  if (action === 'start') return 'start';
  return intervalMs === 0 ? 'probe' : 'monitor';
}

async function readLeaseFile(path: string): Promise<PersistedLease | null> {
  try {
    const v = JSON.parse(await readFile(path, 'utf8')) as PersistedLease;
    return typeof v.leaseId === 'string' && typeof v.ttlSec === 'number' ? v : null;
  } catch {
    return null;
  }
}

async function writeLeaseFile(path: string, lease: PersistedLease): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, JSON.stringify(lease) + '\n', { mode: 0o600 });
  await rename(tmp, path);
}

async function rmLeaseFile(path: string): Promise<void> {
  const { rm } = await import('node:fs/promises');
  await rm(path, { force: true });
}
