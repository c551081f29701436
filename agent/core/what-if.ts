// What-if (`hactl simulate`): what the agents would do if a host died, went into standby, or a
// new configuration were applied — answered by running the agents' own pure rules (decideSet,
// placeSet, fenceTargets, the action results) for every online host and every set on a copy of
// the cluster view, step by step, until nothing changes. Nothing here performs I/O or reads a
// clock: the answer is a prediction computed in memory, and the live cluster is never written.
//
// Assumed, because a prediction cannot know better: every start and stop succeeds; a fence device
// fences when asked; every online host has probed its resources (only the owner runs a set); an
// owner runs the resources its status record says it runs. The takeover grace is counted from the
// takeover itself; the lease expiry of a killed host before it (leaseTtl) is not part of it.
import { placeSet, noEligibleReason } from './placement.js';
import { decideSet } from './decide.js';
import { baseSetName, expandClones } from './clones.js';
import { fenceTargets, type LeaseObservation } from './fence-targets.js';
import { adoptOwnership, afterAcquire, afterRelease, afterStart, afterStop } from './results.js';
import { suspectAfterMs, takeoverGraceMs, type ClusterConfig } from '../config/cluster-schema.js';
import { emptyLocalSet, type BanRecord, type ClusterView, type FailoverIntent, type FenceRecord, type FenceRequest, type HolderRecord, type LocalSet, type NodeRecord, type OwnerRecord, type ResourcePhase, type SetDecision, type SetState } from './types.js';

export interface WhatIfChanges {
  /** Hosts that die at once (their leases expire; their resources are gone with them). */
  kill: readonly string[];
  /** Hosts put into standby (`hactl standby`). */
  standby: readonly string[];
  /** A new, validated cluster configuration (`hactl config apply`). */
  config?: ClusterConfig;
}

export interface WhatIfInput {
  /** The live view; its config must be set. */
  view: ClusterView;
  changes: WhatIfChanges;
  wallMs: number;
  /** What each owner runs now, per set or instance, from its status record (default: everything). */
  ownerPhases?: ReadonlyMap<string, readonly ResourcePhase[]>;
}

/** Something a set waits for on its way: a fence of `node`, or the takeover grace. */
export type WhatIfWait =
  | { kind: 'fence'; node: string; device: string | null; by: string | null; why: 'gate' | 'suspected' | 'stop-failed' }
  /**
   * `graceMs` is the grace the new owner `on` set itself; `waitedMs` how long it really waited
   * before its first start (less when a fence of the old owner settled it first).
   */
  | { kind: 'grace'; nodes: string[]; graceMs: number; waitedMs?: number; on: string };

export type WhatIfOutcome = 'unaffected' | 'moves' | 'restarts' | 'starts' | 'stops' | 'blocked' | 'removed';

export interface SetPrediction {
  /** Set name, or instance name (`CONSUMER:2`) of a clone set. */
  set: string;
  base: string;
  /** Where it runs now (its owner), and where it would run once everything settled. */
  now: string | null;
  then: string | null;
  state: SetState;
  outcome: WhatIfOutcome;
  /** The agents' own words for where it ends: the owner's last decision, or why nobody takes it. */
  reason: string;
  waits: WhatIfWait[];
  /** Each step on the way, "n2 acquire: n1 lost QM1 without stopping it cleanly: taking over". */
  steps: string[];
}

export interface WhatIfResult {
  sets: SetPrediction[];
  /** The changes did not settle within the step bound (a rule oscillates): the prediction is partial. */
  unsettled: boolean;
}

/** Steps are bounded: a prediction that does not settle says so instead of running forever. */
const MAX_ROUNDS = 1000;
const OK = { status: 'exited', rc: 0 } as const;

export function predictWhatIf(input: WhatIfInput): WhatIfResult {
  if (!input.view.config) throw new Error('what-if needs a view with a configuration');
  const baseline = new World(input, { kill: [], standby: [] });
  const changed = new World(input, input.changes);
  const before = baseline.run();
  const after = changed.run();
  const sets: SetPrediction[] = [];
  for (const name of changed.setNames()) {
    const p = changed.prediction(name);
    const same = before && baseline.hasSet(name) && !changed.retired.has(name) && JSON.stringify(baseline.prediction(name)) === JSON.stringify(p);
    sets.push(same ? { ...p, outcome: 'unaffected' } : p);
  }
  for (const name of changed.removed) sets.push(changed.prediction(name));
  return { sets, unsettled: !before || !after };
}

interface MutableView {
  revision: number;
  config: ClusterConfig | null;
  nodes: Map<string, NodeRecord>;
  members: Set<string>;
  owners: Map<string, OwnerRecord>;
  holders: Map<string, HolderRecord>;
  failoverIntents: Map<string, FailoverIntent>;
  cleanups: ClusterView['cleanups'];
  bans: Map<string, Map<string, BanRecord>>;
  fences: Map<string, FenceRecord>;
  fenceClaims: ClusterView['fenceClaims'];
  fenceRequests: Map<string, FenceRequest>;
  standby: Set<string>;
  maintenance: ClusterView['maintenance'];
}

/** One hypothetical cluster: a mutable copy of the view and each online host's local sets. */
class World {
  private readonly view: MutableView;
  private config: ClusterConfig;
  private readonly locals = new Map<string, Map<string, LocalSet>>();
  private readonly initialOwners = new Map<string, string>();
  private readonly waits = new Map<string, WhatIfWait[]>();
  private readonly steps = new Map<string, string[]>();
  /** Graces under way, by `set@host`: the wait and the time it began. */
  private readonly graces = new Map<string, { wait: Extract<WhatIfWait, { kind: 'grace' }>; sinceMs: number }>();
  readonly retired = new Set<string>();
  readonly removed: string[] = [];
  private nowMs = 0;
  private wallMs: number;

  constructor(input: WhatIfInput, changes: WhatIfChanges) {
    const v = input.view;
    this.wallMs = input.wallMs;
    this.view = {
      revision: v.revision,
      config: v.config,
      nodes: new Map(v.nodes),
      members: new Set(v.members),
      owners: new Map(v.owners),
      holders: new Map(v.holders),
      failoverIntents: new Map(v.failoverIntents),
      cleanups: v.cleanups,
      bans: new Map([...v.bans].map(([set, perNode]) => [set, new Map(perNode)])),
      fences: new Map(v.fences),
      fenceClaims: v.fenceClaims,
      fenceRequests: new Map(v.fenceRequests),
      standby: new Set(v.standby),
      maintenance: v.maintenance,
    };
    this.config = expandClones(v.config!);
    for (const [set, owner] of v.owners) this.initialOwners.set(set, owner.node);
    for (const node of [...v.nodes.keys()].sort()) {
      const sets = new Map<string, LocalSet>();
      for (const set of Object.keys(this.config.serviceSets)) sets.set(set, this.initialLocal(node, set, input.ownerPhases?.get(set)));
      this.locals.set(node, sets);
    }
    const dead = new Set(changes.kill);
    for (const node of changes.kill) this.kill(node, dead);
    for (const node of changes.standby) this.view.standby.add(node);
    if (changes.config) this.applyConfig(changes.config);
  }

  setNames(): string[] {
    return Object.keys(this.config.serviceSets);
  }

  hasSet(set: string): boolean {
    return set in this.config.serviceSets;
  }

  /** Runs the hosts' decisions until nothing changes; false when the bound was reached first. */
  run(): boolean {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      if (this.actOnce() || this.fenceOnce() || this.passGrace()) continue;
      return true;
    }
    return false;
  }

  prediction(set: string): SetPrediction {
    const base = baseSetName(set);
    const now = this.initialOwners.get(set) ?? null;
    const trail = { waits: this.waits.get(set) ?? [], steps: this.steps.get(set) ?? [] };
    if (this.removed.includes(set)) return { set, base, now, then: null, state: 'stopped', outcome: 'removed', reason: `${set} was removed from the configuration`, ...trail };
    const owner = this.view.owners.get(set);
    let state: SetState;
    let reason: string;
    if (owner) {
      const d = this.decide(owner.node, set);
      state = d.state;
      reason = d.reason;
    } else {
      const holder = this.view.holders.get(set);
      const placement = placeSet(this.asView(), this.config, set, this.wallMs);
      state = holder?.failed ? 'failed' : 'stopped';
      reason = holder?.failed ? `${holder.failed}; stopped everywhere until hactl cleanup ${base}` : placement.ranked.length === 0 ? noEligibleReason(placement) : `no owner; ${placement.ranked[0]} should take it`;
      // In maintenance nobody takes it: say so in the agents' words.
      const first = this.hosts()[0];
      const d = first === undefined ? null : this.decide(first, set);
      if (d?.state === 'maintenance') ({ state, reason } = d);
    }
    const then = owner?.node ?? null;
    const outcome: WhatIfOutcome =
      state === 'blocked' ? 'blocked' : then === null || state !== 'running' ? 'stops' : now === null ? 'starts' : then !== now ? 'moves' : trail.steps.length > 0 ? 'restarts' : 'unaffected';
    return { set, base, now, then, state, outcome, reason, ...trail };
  }

  private initialLocal(node: string, set: string, phases: readonly ResourcePhase[] | undefined): LocalSet {
    const spec = this.config.serviceSets[set];
    const fresh = { ...emptyLocalSet(spec.resources.length), probed: true };
    const owner = this.view.owners.get(set);
    const me = this.view.nodes.get(node)!;
    if (!owner || owner.node !== node || owner.leaseId !== me.leaseId) return fresh;
    const resources = phases && phases.length === spec.resources.length ? [...phases] : fresh.resources.map((): ResourcePhase => 'running');
    const running = resources.every((p) => p === 'running');
    const holder = this.view.holders.get(set);
    // A set that runs has passed its takeover gate (a start settles it); otherwise the gate is taken
    // up from the holder record, as an agent does that finds itself owner (adoptOwnership).
    const local: LocalSet = { ...fresh, resources, token: resources.some((p) => p !== 'stopped') ? owner.token : null };
    const adopted = running ? { ...local, heldToken: owner.token } : adoptOwnership(local, node, owner.token, holder, takeoverGraceMs(spec, this.config.timing.fenceMargin), this.nowMs);
    return holder?.stopFailed && holder.node === node ? { ...adopted, stopFailure: 'a stop failed earlier (on record)' } : adopted;
  }

  /**
   * A host dies: its lease expires, so its node key and owner keys go, while its holder records
   * stay "not released". With a fence device and the fast fenced takeover on, a peer that sees
   * the lease go unrenewed fences it first (fenceTargets with what etcd would report).
   */
  private kill(node: string, dead: ReadonlySet<string>): void {
    const record = this.view.nodes.get(node);
    if (!record) return;
    const ttlSec = Math.round(this.config.timing.leaseTtl / 1000);
    if (suspectAfterMs(this.config) !== null) {
      const observations = new Map<string, LeaseObservation>([[record.leaseId, { leaseId: record.leaseId, grantedTtlSec: ttlSec, remainingSec: 0, observedAtMs: this.nowMs }]]);
      for (const me of this.hosts().filter((h) => !dead.has(h))) {
        const target = fenceTargets({ me, nowMs: this.nowMs, lease: this.leaseOf(me), view: this.asView(), config: this.config, gates: new Map(), observations }).find((t) => t.node === node);
        if (!target) continue;
        this.recordFence(node, me, target.why, target.sets);
        break;
      }
    }
    this.goOffline(node);
  }

  private goOffline(node: string): void {
    const leaseId = this.view.nodes.get(node)?.leaseId;
    this.view.nodes.delete(node);
    this.view.fenceRequests.delete(node);
    for (const [set, owner] of this.view.owners) if (owner.leaseId === leaseId) this.view.owners.delete(set);
    this.locals.delete(node);
  }

  /**
   * A new configuration: each set whose configuration changed (or that was removed) is stopped by
   * its owner with the old one and released, and every host starts it afresh from the new one —
   * as agents do. Unchanged sets are not touched.
   */
  private applyConfig(next: ClusterConfig): void {
    const old = this.config;
    const expanded = expandClones(next);
    for (const set of Object.keys(old.serviceSets)) {
      const removed = !(set in expanded.serviceSets);
      if (!removed && JSON.stringify(old.serviceSets[set]) === JSON.stringify(expanded.serviceSets[set])) continue;
      this.retired.add(set);
      if (removed) this.removed.push(set);
      const owner = this.view.owners.get(set);
      const local = owner ? this.locals.get(owner.node)?.get(set) : undefined;
      if (owner && local) {
        const why = removed ? `${set} was removed from the configuration` : `configuration of ${set} changed`;
        this.note(set, `${owner.node} stops ${set} and releases it: ${why}`);
        this.view.owners.delete(set);
        this.view.holders.set(set, { node: owner.node, released: true, unsettled: local.unsettled, modRevision: ++this.view.revision });
      }
      for (const sets of this.locals.values()) sets.delete(set);
    }
    this.view.config = next;
    this.config = expanded;
    for (const sets of this.locals.values()) {
      for (const [set, spec] of Object.entries(expanded.serviceSets)) if (!sets.has(set)) sets.set(set, { ...emptyLocalSet(spec.resources.length), probed: true });
    }
  }

  /** One pass over every host and set; each action takes effect at once. True if any was taken. */
  private actOnce(): boolean {
    let acted = false;
    for (const me of this.hosts()) {
      for (const set of this.setNames()) {
        const d = this.decide(me, set);
        this.noteWaits(me, set, d);
        if (d.action.kind === 'none' || d.action.kind === 'wait') continue;
        this.apply(me, set, d);
        acted = true;
      }
    }
    return acted;
  }

  /** The fences the hosts would carry out now (a takeover gate, a failed stop), as fenceTargets says. */
  private fenceOnce(): boolean {
    let fenced = false;
    for (const me of this.hosts()) {
      const gates = new Map<string, string[]>();
      for (const set of this.setNames()) {
        const d = this.decide(me, set);
        if (d.awaitsFence && d.awaitsFence.length > 0) gates.set(set, d.awaitsFence);
      }
      for (const target of fenceTargets({ me, nowMs: this.nowMs, lease: this.leaseOf(me), view: this.asView(), config: this.config, gates, observations: new Map() })) {
        if (target.why === 'suspected') continue;
        this.recordFence(target.node, me, target.why, target.sets);
        fenced = true;
      }
    }
    return fenced;
  }

  /** Time passes until the earliest takeover grace ends. */
  private passGrace(): boolean {
    let untilMs = Infinity;
    for (const me of this.hosts()) {
      for (const set of this.setNames()) {
        const d = this.decide(me, set);
        if (d.action.kind === 'wait') untilMs = Math.min(untilMs, d.action.untilMs);
      }
    }
    if (untilMs === Infinity) return false;
    this.wallMs += untilMs - this.nowMs;
    this.nowMs = untilMs;
    return true;
  }

  private recordFence(node: string, by: string, why: 'gate' | 'suspected' | 'stop-failed', sets: readonly string[]): void {
    const device = this.config.nodes?.[node]?.fence ?? null;
    this.view.fences.set(node, { node, how: device ?? '', atWallMs: this.wallMs, modRevision: ++this.view.revision });
    for (const set of sets) {
      this.addWait(set, { kind: 'fence', node, device, by, why });
      this.note(set, `${by} fences ${node} through device ${device}`);
    }
    // A fenced host that was online loses its lease (the fencer revokes it).
    if (this.view.nodes.has(node)) this.goOffline(node);
  }

  private apply(me: string, set: string, d: SetDecision): void {
    const sets = this.locals.get(me)!;
    const local = sets.get(set)!;
    const spec = this.config.serviceSets[set];
    const action = d.action;
    const step = `${me} ${action.kind === 'start' || action.kind === 'stop' ? `${action.kind} ${spec.resources[action.index].id}` : action.kind}: ${d.reason}`;
    switch (action.kind) {
      case 'acquire': {
        const token = ++this.view.revision;
        const graceMs = takeoverGraceMs(spec, this.config.timing.fenceMargin);
        this.view.owners.set(set, { set, node: me, leaseId: this.view.nodes.get(me)!.leaseId, token });
        this.view.holders.set(set, { node: me, released: false, unsettled: action.unsettled, graceMs, modRevision: token });
        if (action.clearsIntent !== undefined) this.view.failoverIntents.delete(set);
        sets.set(set, afterAcquire(local, token, { unsettled: action.unsettled, graceMs, nowMs: this.nowMs }));
        break;
      }
      case 'start': {
        const grace = this.graces.get(`${set}@${me}`);
        if (grace) {
          grace.wait.waitedMs = Math.round(this.nowMs - grace.sinceMs);
          this.graces.delete(`${set}@${me}`);
        }
        sets.set(set, afterStart(local, action.index, spec.resources[action.index].id, OK, this.view.owners.get(set)?.token ?? 0));
        break;
      }
      case 'stop':
        sets.set(set, afterStop(local, action.index, spec.resources[action.index].id, OK));
        break;
      case 'release':
        this.view.owners.delete(set);
        this.view.holders.set(set, { node: me, released: true, unsettled: local.unsettled, ...(action.handoffTo ? { handoffTo: action.handoffTo } : {}), ...(action.failed ? { failed: action.failed } : {}), modRevision: ++this.view.revision });
        if (action.ban) {
          const perSet = this.view.bans.get(baseSetName(set)) ?? new Map<string, BanRecord>();
          perSet.set(me, action.ban);
          this.view.bans.set(baseSetName(set), perSet);
        }
        sets.set(set, afterRelease(local));
        break;
      case 'clear-intent':
        this.view.failoverIntents.delete(set);
        break;
      default:
        return;
    }
    this.note(set, step);
  }

  /** Gates met on the way: a grace (how long, from this decision on) or a fence without a device. */
  private noteWaits(me: string, set: string, d: SetDecision): void {
    if (d.action.kind === 'wait') {
      const unsettled = this.locals.get(me)!.get(set)!.unsettled.map((u) => u.node);
      if (!this.graces.has(`${set}@${me}`)) {
        const wait: Extract<WhatIfWait, { kind: 'grace' }> = { kind: 'grace', nodes: unsettled, graceMs: Math.round(d.action.untilMs - this.nowMs), on: me };
        this.graces.set(`${set}@${me}`, { wait, sinceMs: this.nowMs });
        this.addWait(set, wait);
      }
    }
    for (const node of d.awaitsFence ?? []) {
      const device = this.config.nodes?.[node]?.fence ?? null;
      if (device === null && !(this.waits.get(set) ?? []).some((w) => w.kind === 'fence' && w.node === node)) this.addWait(set, { kind: 'fence', node, device: null, by: null, why: 'gate' });
    }
  }

  private addWait(set: string, wait: WhatIfWait): void {
    this.waits.set(set, [...(this.waits.get(set) ?? []), wait]);
  }

  private note(set: string, step: string): void {
    this.steps.set(set, [...(this.steps.get(set) ?? []), step]);
  }

  private decide(me: string, set: string): SetDecision {
    const local = this.locals.get(me)?.get(set) ?? { ...emptyLocalSet(this.config.serviceSets[set].resources.length), probed: true };
    return decideSet({ me, nowMs: this.nowMs, wallMs: this.wallMs, lease: this.leaseOf(me), view: this.asView(), config: this.config, set, local });
  }

  /** An online host's lease, sound for the whole prediction. */
  private leaseOf(me: string): { leaseId: string; validUntilMs: number } {
    return { leaseId: this.view.nodes.get(me)?.leaseId ?? '', validUntilMs: Infinity };
  }

  /** The hosts that act: online ones, by name. */
  private hosts(): string[] {
    return [...this.locals.keys()].sort();
  }

  private asView(): ClusterView {
    return this.view;
  }
}
