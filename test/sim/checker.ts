// The safety checker. It trusts only the simulated world's ground truth (what each host's
// resources are actually doing) and the simulated etcd server (revisions, lease expiry times),
// never an agent's belief. It is called after every simulation step.
//
// Rules (SPEC §5):
//   single-run       at most one host has any resource of a singleton set active at any instant;
//                    an overlap with a copy orphaned by an agent crash, a frozen host or a failed
//                    stop is the documented no-fencing limitation when the set does not require
//                    fencing: counted as "expected", not as a violation.
//   token            every start carries the current fencing token: the owner key exists, names
//                    the starting host, has that create revision and a live lease.
//   takeover gate    after an unplanned takeover (old holder never released) a start waits for a
//                    fence of the old holder recorded after its acquisition (requireFencing), else
//                    for the old owner's lease expiry on the server plus the takeover grace.
//   txn-only         owner and status keys change only by transactions that compare the owner key
//                    (or by lease expiry); never by a plain put.
import { setRequiresFencing, takeoverGraceMs, type ClusterConfig } from '../../agent/config/cluster-schema.js';
import type { Keys } from '../../agent/etcd/keys.js';
import type { KvEntry } from '../../agent/etcd/view.js';
import type { CheckerPort } from './sim-env.js';
import type { EtcdObserver, SimEtcd, TxnRequest } from './sim-etcd.js';
import { isActive, type RunRequest } from './sim-runner.js';
import { GHOST_START, type SimHost } from './sim-host.js';

export interface Violation {
  rule: string;
  /** Set when the violation is a known, reported bug of agent/ (see docs/simulation.md). */
  known?: string;
  atMs: number;
  text: string;
}

interface Acquisition {
  node: string;
  /** The acquiring host's agent incarnation when the acquisition committed. */
  agentEpoch: number;
  atMs: number;
  prevHolder: { node: string; released: boolean; modRevision: number } | null;
  /** Server time the previous owner key died by lease expiry (null: released, or never owned). */
  prevOwnerExpiredAtMs: number | null;
  /** A gate handed down through a release by an owner that never started (BUG-4). */
  inherited?: Acquisition;
  inheritedVia?: string;
  started?: boolean;
}

const STATE_CHAR = { stopped: '.', starting: '^', running: 'R', stopping: 'v' } as const;

export const KNOWN_GATE_LOST = 'BUG-1 takeover gate (fenceOf/grace) lost when the agent restarts';
export const KNOWN_IN_FLIGHT = 'BUG-3 a start/monitor in flight delays self-fencing by up to its timeout, beyond the takeover grace';
export const KNOWN_HANDOFF = 'BUG-4 a release before the takeover gate passed hands over a clean holder: the next owner skips fence and grace';
export const KNOWN_GHOST = 'BUG-5 a start in flight when the agent dies finishes after the restarted agent probed: a copy no agent knows about';
export const KNOWN_STALE_FENCE = 'BUG-7 a fenced host that reboots within the TTL resumes its lease and ownership; its old fence record then satisfies the next takeover';
export const KNOWN_GRACE_SUM = 'BUG-8 the takeover grace uses the LONGEST stop timeout, but the old owner stops resources one after another: up to the SUM';
export const KNOWN_SELF = 'BUG-10 a dirty owner that loses its lease before its gate passed re-acquires as "its own earlier run" (clean): fence and grace are skipped';
export const KNOWN_MAINTENANCE = 'BUG-2 maintenance overrides self-fencing of an owner that lost its lease';

export interface CheckerWorld {
  readonly hosts: readonly SimHost[];
  readonly etcd: SimEtcd;
  readonly keys: Keys;
  readonly config: ClusterConfig;
  readonly driftMax: number;
  now(): number;
  trace(host: string, msg: string): void;
}

export class Checker implements CheckerPort, EtcdObserver {
  readonly violations: Violation[] = [];
  readonly expected: Violation[] = [];
  startsChecked = 0;
  private dirty = false;
  private readonly acquisitions = new Map<string, Acquisition>();
  private readonly ownerExpiredAtMs = new Map<string, number>();
  private readonly overlapping = new Set<string>();
  /** set/host copies started through a known bug: overlaps with them carry the same tag. */
  private readonly knownCopies = new Map<string, string>();
  private readonly lastDirty = new Map<string, Acquisition>();
  private readonly fenceTimes = new Map<string, number>();

  constructor(private readonly w: CheckerWorld) {}

  truthChanged(): void {
    this.dirty = true;
  }

  private fail(rule: string, text: string, known?: string): void {
    this.violations.push({ rule, atMs: this.w.now(), text, known });
    this.w.trace('checker', `VIOLATION ${rule}${known ? ` (known bug: ${known})` : ''}: ${text}`);
  }

  /** Old holders that a set requiring fencing waits for (the fence daemon's work list). */
  pendingFences(): string[] {
    const out = new Set<string>();
    for (const [key, acq] of this.acquisitions) {
      const set = key.slice(0, key.lastIndexOf(':'));
      const token = Number(key.slice(key.lastIndexOf(':') + 1));
      const owner = this.w.etcd.get(this.w.keys.owner(set));
      if (!owner || owner.createRevision !== token || !acq.prevHolder || acq.prevHolder.released || acq.prevHolder.node === acq.node) continue;
      if (!setRequiresFencing(this.w.config.serviceSets[set])) continue;
      const fence = this.w.etcd.get(this.w.keys.fence(acq.prevHolder.node));
      if (!fence || fence.modRevision <= acq.prevHolder.modRevision) out.add(acq.prevHolder.node);
    }
    return [...out];
  }

  private setOf(key: string, kind: string): string | null {
    const rel = key.slice(this.w.keys.prefix.length);
    return rel.startsWith(`${kind}/`) ? rel.slice(kind.length + 1) : null;
  }

  // ---- etcd observer ---------------------------------------------------------------------------

  txnCommitted(req: TxnRequest, before: (key: string) => KvEntry | undefined, revision: number): void {
    for (const op of req.ops) {
      const ownerSet = this.setOf(op.key, 'owners');
      const statusSet = this.setOf(op.key, 'status');
      if (ownerSet !== null) this.checkOwnerOp(ownerSet, op.kind, req, before, revision);
      if (statusSet !== null && !req.compares.some((c) => c.key === this.w.keys.owner(statusSet) && c.target === 'create' && c.value > 0)) {
        this.fail('txn-only', `status/${statusSet} written without comparing the fencing token`);
      }
    }
  }

  private checkOwnerOp(set: string, kind: 'put' | 'delete', req: TxnRequest, before: (key: string) => KvEntry | undefined, revision: number): void {
    const key = this.w.keys.owner(set);
    const old = before(key);
    if (kind === 'put') {
      if (old || !req.compares.some((c) => c.key === key && c.target === 'create' && c.value === 0)) {
        this.fail('txn-only', `owners/${set} written without "no owner" compare`);
        return;
      }
      const put = req.ops.find((o) => o.key === key && o.kind === 'put');
      const node = put && put.kind === 'put' ? (JSON.parse(put.value) as { node: string }).node : '?';
      const h = before(this.w.keys.holder(set));
      const prev = h ? (JSON.parse(h.value) as { node: string; released?: boolean }) : null;
      const acq: Acquisition = {
        node,
        agentEpoch: this.w.hosts.find((h) => h.name === node)?.agentEpoch ?? -1,
        atMs: this.w.now(),
        prevHolder: prev && h ? { node: prev.node, released: prev.released === true, modRevision: h.modRevision } : null,
        prevOwnerExpiredAtMs: this.ownerExpiredAtMs.get(set) ?? null,
      };
      this.acquisitions.set(`${set}:${revision}`, acq);
      this.ownerExpiredAtMs.delete(set);
      this.chainGate(set, acq);
    } else if (old && !req.compares.some((c) => c.key === key && c.target === 'create' && c.value === old.createRevision)) {
      this.fail('txn-only', `owners/${set} deleted without comparing its token`);
    }
  }

  /** Remembers dirty takeovers; a clean one right after a dirty one that never started inherits its gate. */
  private chainGate(set: string, acq: Acquisition): void {
    const prev = acq.prevHolder;
    if (prev && !prev.released && prev.node !== acq.node) {
      this.lastDirty.set(set, acq);
      return;
    }
    const last = this.lastDirty.get(set);
    this.lastDirty.delete(set);
    if (!last || last.started || !prev || prev.node !== last.node || !(prev.released || prev.node === acq.node)) return;
    const gate = last.inherited ?? last;
    acq.inherited = gate;
    acq.inheritedVia = prev.released ? KNOWN_HANDOFF : KNOWN_SELF;
    this.lastDirty.set(set, acq);
  }

  plainWrite(key: string): void {
    const fenced = this.setOf(key, 'fences');
    if (fenced !== null) this.fenceTimes.set(fenced, this.w.now());
    const set = this.setOf(key, 'owners') ?? this.setOf(key, 'status');
    if (set !== null) this.fail('txn-only', `${key.slice(this.w.keys.prefix.length)} changed by a plain write`);
  }

  leaseExpired(_leaseId: string, keys: string[]): void {
    for (const k of keys) {
      const set = this.setOf(k, 'owners');
      if (set !== null) this.ownerExpiredAtMs.set(set, this.w.now());
    }
  }

  // ---- starts ----------------------------------------------------------------------------------

  onStart(host: { name: string; agentEpoch: number }, req: RunRequest): void {
    this.startsChecked++;
    const etcd = this.w.etcd;
    const owner = etcd.get(this.w.keys.owner(req.set));
    const ownerNode = owner ? (JSON.parse(owner.value) as { node: string }).node : null;
    if (!owner || req.token === null || owner.createRevision !== req.token || ownerNode !== host.name || !etcd.leaseAlive(owner.lease)) {
      const now = owner ? `owner ${ownerNode} token ${owner.createRevision}${etcd.leaseAlive(owner.lease) ? '' : ' (lease dead)'}` : 'no owner';
      this.fail('token', `${host.name} started ${req.set}#${req.index} with token ${req.token}; server says ${now}`);
      return;
    }
    const acq = this.acquisitions.get(`${req.set}:${req.token}`);
    if (acq) acq.started = true;
    if (acq?.inherited) {
      const via = acq.inheritedVia ?? KNOWN_HANDOFF;
      if (this.checkTakeoverGate(host.name, req, acq.inherited, via)) this.knownCopies.set(`${req.set}/${host.name}`, via);
      return;
    }
    if (!acq?.prevHolder || acq.prevHolder.released || acq.prevHolder.node === host.name) return;
    const known = acq.agentEpoch !== host.agentEpoch ? KNOWN_GATE_LOST : undefined;
    if (this.checkTakeoverGate(host.name, req, acq, known) && known) this.knownCopies.set(`${req.set}/${host.name}`, known);
  }

  /** Returns true when the start broke the gate. */
  private checkTakeoverGate(me: string, req: RunRequest, acq: Acquisition, known: string | undefined): boolean {
    const spec = this.w.config.serviceSets[req.set];
    const old = acq.prevHolder!;
    const fence = this.w.etcd.get(`${this.w.keys.prefix}fences/${old.node}`);
    const fenced = fence !== undefined && fence.modRevision > old.modRevision;
    if (setRequiresFencing(spec)) {
      if (!fenced) this.fail('takeover-gate', `${me} started ${req.set}#${req.index} (token ${req.token}) without a fence of ${old.node} recorded after rev ${old.modRevision}`, known);
      return !fenced;
    }
    if (fenced) return false;
    const graceMs = takeoverGraceMs(spec, this.w.config.timing.fenceMargin);
    const expiredAt = acq.prevOwnerExpiredAtMs ?? acq.atMs;
    const earliest = expiredAt + graceMs * (1 - 2 * this.w.driftMax) - 1;
    if (this.w.now() < earliest) {
      this.fail('takeover-gate', `${me} started ${req.set}#${req.index} ${Math.round(earliest - this.w.now())}ms before the old owner's expiry + grace (${graceMs}ms)`, known);
      return true;
    }
    return false;
  }

  // ---- single run ------------------------------------------------------------------------------

  afterStep(): boolean {
    if (!this.dirty) return true;
    this.dirty = false;
    for (const [set, spec] of Object.entries(this.w.config.serviceSets)) {
      if (spec.mode !== 'singleton') continue;
      const holders = this.w.hosts.filter((h) => h.truth.get(set)!.some(isActive));
      for (const h of this.w.hosts) if (!h.truth.get(set)!.some(isActive)) this.knownCopies.delete(`${set}/${h.name}`);
      if (holders.length <= 1) {
        this.overlapping.delete(set);
        continue;
      }
      if (this.overlapping.has(set)) continue;
      this.overlapping.add(set);
      this.classifyOverlap(set, holders);
    }
    return true;
  }

  private classifyOverlap(set: string, holders: SimHost[]): void {
    const owner = this.w.etcd.get(this.w.keys.owner(set));
    const ownerNode = owner ? (JSON.parse(owner.value) as { node: string }).node : null;
    const stale = holders.filter((h) => h.name !== ownerNode);
    const current = holders.length > stale.length ? [ownerNode] : [];
    const fencing = setRequiresFencing(this.w.config.serviceSets[set]);
    const excuses = stale.map((h) => h.truth.get(set)!.find((t) => isActive(t) && t.orphan)?.orphan?.reason ?? null);
    const names = holders.map((h) => `${h.name}[${h.truth.get(set)!.map((t) => STATE_CHAR[t.state]).join('')}]`).join(' ');
    const text = `${set} active on ${names}; owner ${ownerNode ?? 'none'}${current.length ? '' : ' (not among them)'}`;
    if (!fencing && excuses.every((e) => e !== null) && (stale.length < holders.length || stale.length === holders.length)) {
      this.expected.push({ rule: 'expected: no fencing', atMs: this.w.now(), text: `${text}; stale copy ${excuses.join(', ')}` });
      this.w.trace('checker', `expected overlap (no fencing): ${text}; stale copy ${excuses.join(', ')}`);
      return;
    }
    const maintenance = stale.some((h) => {
      const view = h.agent?.view;
      return view !== undefined && (view.maintenance.cluster || view.maintenance.sets.has(set)) && !h.agent?.keeper?.isValid(0);
    });
    const inFlight = stale.some((h) => {
      const acting = h.agent?.sets.get(set)?.acting;
      return acting === 'start' || acting === 'monitor' || h.agent?.sets.get(set)?.lateSelfFence === true;
    });
    const copyKnown = holders.map((h) => this.knownCopies.get(`${set}/${h.name}`)).find((k) => k !== undefined);
    const ghost = excuses.includes(GHOST_START);
    const staleFence = fencing && stale.some((h) => {
      const fence = this.fenceTimes.get(h.name);
      return fence !== undefined && h.truth.get(set)!.some((t) => isActive(t) && (t.startedAtMs ?? 0) > fence);
    });
    const acq = owner ? this.acquisitions.get(`${set}:${owner.createRevision}`) : undefined;
    const spec = this.w.config.serviceSets[set];
    const sumStopMs = spec.resources.reduce((t, r) => t + (r.stop.timeout ?? 20_000), 0);
    const graceSum = !fencing && acq?.prevOwnerExpiredAtMs != null && this.w.now() < acq.prevOwnerExpiredAtMs + sumStopMs - this.w.config.timing.fenceMargin;
    const known = copyKnown ?? (graceSum ? KNOWN_GRACE_SUM : staleFence ? KNOWN_STALE_FENCE : ghost ? KNOWN_GHOST : maintenance ? KNOWN_MAINTENANCE : inFlight ? KNOWN_IN_FLIGHT : undefined);
    this.fail('single-run', `${text}${excuses.some((e) => e) ? `; stale copy ${excuses.join(', ')}` : ''}`, known);
  }
}
