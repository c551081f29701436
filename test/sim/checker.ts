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
//   takeover gate    a host whose owner key of a set died by lease expiry is *unsettled* for that
//                    set: it may still run it. A start of the set on any other host waits until
//                    it is fenced (a fence recorded after it last started the set; required for
//                    sets that require fencing) or, for the others, until its owner key's expiry
//                    on the server plus the grace (sum of the stop timeouts minus fenceMargin: the
//                    old owner stops its resources one after another from validUntil - fenceMargin).
//                    It is settled by the first start that passes that gate, or when it acquires
//                    the set again itself with nothing of it active (its own probe and stops).
//                    This model is the checker's own, from the server and the ground truth; it
//                    does not read the holder records the agents keep for the same purpose.
//   txn-only         owner and status keys change only by transactions that compare the owner key
//                    (or by lease expiry); never by a plain put.
// Every violation fails the seed. A `hint` names the earlier bug whose pattern it matches, to help
// the diagnosis only (see docs/simulation.md); it never excuses anything.
import { setRequiresFencing, stopTimeoutMs, type ClusterConfig } from '../../agent/config/cluster-schema.js';
import type { Keys } from '../../agent/etcd/keys.js';
import type { KvEntry } from '../../agent/etcd/view.js';
import type { CheckerPort } from './sim-env.js';
import type { EtcdObserver, SimEtcd, TxnRequest } from './sim-etcd.js';
import { isActive, type RunRequest } from './sim-runner.js';
import { GHOST_START, type SimHost } from './sim-host.js';

export interface Violation {
  rule: string;
  /** The earlier bug this violation looks like (diagnosis only; see docs/simulation.md). */
  hint?: string;
  atMs: number;
  text: string;
}

/** A host that may still run a set: it lost the set by lease expiry and is not yet known to be done. */
interface UnsettledHost {
  /** A fence recorded after this revision settles it (its last acquisition or start of the set). */
  afterRevision: number;
  /** Server time its owner key died by lease expiry. */
  expiredAtMs: number;
}

const STATE_CHAR = { stopped: '.', starting: '^', running: 'R', stopping: 'v' } as const;

export const HINT_IN_FLIGHT = 'BUG-3 a start/monitor in flight delays self-fencing beyond the takeover grace';
export const HINT_GHOST = 'BUG-5 an action of a dead agent finished after the restarted agent probed: a copy no agent knows about';
export const HINT_STALE_FENCE = 'BUG-7 a copy started after the host\'s last fence: an old fence record covered a new life';
export const HINT_MAINTENANCE = 'BUG-2 maintenance overrides self-fencing of an owner that lost its lease';

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
  /** set -> host -> why it may still run the set (see the takeover gate above). */
  private readonly unsettled = new Map<string, Map<string, UnsettledHost>>();
  /** set -> the owner's node and token, as last written (the expiry notice carries only keys). */
  private readonly owners = new Map<string, { node: string; token: number }>();
  /** "set/host" -> etcd revision when that host last started a resource of the set. */
  private readonly lastStartRevision = new Map<string, number>();
  private readonly overlapping = new Set<string>();
  /** True time of each host's last fence record. */
  private readonly fenceTimes = new Map<string, number>();

  constructor(private readonly w: CheckerWorld) {}

  truthChanged(): void {
    this.dirty = true;
  }

  private fail(rule: string, text: string, hint?: string): void {
    this.violations.push({ rule, atMs: this.w.now(), text, hint });
    this.w.trace('checker', `VIOLATION ${rule}${hint ? ` (looks like ${hint.split(' ')[0]})` : ''}: ${text}`);
  }

  private unsettledOf(set: string): Map<string, UnsettledHost> {
    let m = this.unsettled.get(set);
    if (!m) this.unsettled.set(set, (m = new Map()));
    return m;
  }

  private fencedAfter(node: string, revision: number): boolean {
    const fence = this.w.etcd.get(this.w.keys.fence(node));
    return fence !== undefined && fence.modRevision > revision;
  }

  /** Unsettled hosts that the current owner of a set requiring fencing waits for (the fence daemon's work list). */
  pendingFences(): string[] {
    const out = new Set<string>();
    for (const [set, hosts] of this.unsettled) {
      const owner = this.owners.get(set);
      if (!owner || !this.w.etcd.get(this.w.keys.owner(set)) || !setRequiresFencing(this.w.config.serviceSets[set])) continue;
      for (const [node, u] of hosts) if (node !== owner.node && !this.fencedAfter(node, u.afterRevision)) out.add(node);
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
      if (ownerSet !== null) this.checkOwnerOp(ownerSet, op, req, before, revision);
      if (statusSet !== null && !req.compares.some((c) => c.key === this.w.keys.owner(statusSet) && c.target === 'create' && Number(c.value) > 0)) {
        this.fail('txn-only', `status/${statusSet} written without comparing the fencing token`);
      }
    }
  }

  private checkOwnerOp(set: string, op: TxnRequest['ops'][number], req: TxnRequest, before: (key: string) => KvEntry | undefined, revision: number): void {
    const key = this.w.keys.owner(set);
    const old = before(key);
    if (op.kind === 'put') {
      if (old || !req.compares.some((c) => c.key === key && c.target === 'create' && c.value === 0)) {
        this.fail('txn-only', `owners/${set} written without "no owner" compare`);
        return;
      }
      const node = (JSON.parse(op.value) as { node: string }).node;
      this.owners.set(set, { node, token: revision });
      // Acquiring with nothing of the set active on it: the host probed and stopped its own copies.
      const h = this.w.hosts.find((x) => x.name === node);
      if (h && !h.truth.get(set)!.some(isActive)) this.unsettledOf(set).delete(node);
    } else if (old && !req.compares.some((c) => c.key === key && c.target === 'create' && c.value === old.createRevision)) {
      this.fail('txn-only', `owners/${set} deleted without comparing its token`);
    }
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
      const owner = set !== null ? this.owners.get(set) : undefined;
      if (set === null || !owner) continue;
      const started = this.lastStartRevision.get(`${set}/${owner.node}`) ?? 0;
      this.unsettledOf(set).set(owner.node, { afterRevision: Math.max(owner.token, started), expiredAtMs: this.w.now() });
    }
  }

  // ---- starts ----------------------------------------------------------------------------------

  onStart(host: { name: string; agentEpoch: number }, req: RunRequest): void {
    this.startsChecked++;
    const etcd = this.w.etcd;
    this.lastStartRevision.set(`${req.set}/${host.name}`, etcd.revision);
    const owner = etcd.get(this.w.keys.owner(req.set));
    const ownerNode = owner ? (JSON.parse(owner.value) as { node: string }).node : null;
    if (!owner || req.token === null || owner.createRevision !== req.token || ownerNode !== host.name || !etcd.leaseAlive(owner.lease)) {
      const now = owner ? `owner ${ownerNode} token ${owner.createRevision}${etcd.leaseAlive(owner.lease) ? '' : ' (lease dead)'}` : 'no owner';
      this.fail('token', `${host.name} started ${req.set}#${req.index} with token ${req.token}; server says ${now}`);
      return;
    }
    const hosts = this.unsettledOf(req.set);
    hosts.delete(host.name);
    for (const [node, u] of [...hosts]) {
      this.checkTakeoverGate(host.name, req, node, u);
      hosts.delete(node); // settled: by this legitimate start, or reported once
    }
  }

  private checkTakeoverGate(me: string, req: RunRequest, node: string, u: UnsettledHost): void {
    const spec = this.w.config.serviceSets[req.set];
    const fenced = this.fencedAfter(node, u.afterRevision);
    if (setRequiresFencing(spec)) {
      if (!fenced) this.fail('takeover-gate', `${me} started ${req.set}#${req.index} (token ${req.token}) without a fence of ${node} recorded after rev ${u.afterRevision}`);
      return;
    }
    if (fenced) return;
    // The checker's own grace (not the agent's function): the old owner starts stopping at
    // validUntil - fenceMargin at the latest and stops one resource after another.
    const graceMs = Math.max(0, spec.resources.reduce((t, r) => t + stopTimeoutMs(r), 0) - this.w.config.timing.fenceMargin);
    const earliest = u.expiredAtMs + graceMs * (1 - 2 * this.w.driftMax) - 1;
    if (this.w.now() < earliest) {
      this.fail('takeover-gate', `${me} started ${req.set}#${req.index} ${Math.round(earliest - this.w.now())}ms before ${node}'s expiry + grace (${graceMs}ms)`);
    }
  }

  // ---- single run ------------------------------------------------------------------------------

  afterStep(): boolean {
    if (!this.dirty) return true;
    this.dirty = false;
    for (const [set, spec] of Object.entries(this.w.config.serviceSets)) {
      if (spec.mode !== 'singleton') continue;
      const holders = this.w.hosts.filter((h) => h.truth.get(set)!.some(isActive));
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
    const fencing = setRequiresFencing(this.w.config.serviceSets[set]);
    // A copy that finished starting after a newer agent had started is no excuse: nothing may
    // outlive its agent's restart (BUG-5).
    const excuses = stale.map((h) => h.truth.get(set)!.find((t) => isActive(t) && t.orphan && t.orphan.reason !== GHOST_START)?.orphan?.reason ?? null);
    const names = holders.map((h) => `${h.name}[${h.truth.get(set)!.map((t) => STATE_CHAR[t.state]).join('')}]`).join(' ');
    const text = `${set} active on ${names}; owner ${ownerNode ?? 'none'}${holders.length > stale.length ? '' : ' (not among them)'}`;
    if (!fencing && excuses.every((e) => e !== null)) {
      this.expected.push({ rule: 'expected: no fencing', atMs: this.w.now(), text: `${text}; stale copy ${excuses.join(', ')}` });
      this.w.trace('checker', `expected overlap (no fencing): ${text}; stale copy ${excuses.join(', ')}`);
      return;
    }
    this.fail('single-run', `${text}${excuses.some((e) => e) ? `; stale copy ${excuses.join(', ')}` : ''}`, this.hintFor(set, stale, fencing));
  }

  /** Which earlier bug an overlap looks like, from what the stale hosts are doing. */
  private hintFor(set: string, stale: SimHost[], fencing: boolean): string | undefined {
    if (stale.some((h) => h.truth.get(set)!.some((t) => isActive(t) && t.orphan?.reason === GHOST_START))) return HINT_GHOST;
    const staleFence = fencing && stale.some((h) => {
      const fence = this.fenceTimes.get(h.name);
      return fence !== undefined && h.truth.get(set)!.some((t) => isActive(t) && (t.startedAtMs ?? 0) > fence);
    });
    if (staleFence) return HINT_STALE_FENCE;
    const maintenance = stale.some((h) => {
      const view = h.agent?.view;
      return view !== undefined && (view.maintenance.cluster || view.maintenance.sets.has(set)) && !h.agent?.keeper?.isValid(0);
    });
    if (maintenance) return HINT_MAINTENANCE;
    const inFlight = stale.some((h) => {
      const rt = h.agent?.sets.get(set);
      return rt?.acting?.action === 'start' || rt?.acting?.action === 'monitor' || rt?.lateSelfFence === true;
    });
    return inFlight ? HINT_IN_FLIGHT : undefined;
  }
}
