// Which hosts this host should fence now, and why (SPEC §4 fencing, §5.2). Three reasons lead to a
// fence, all of them needing a fence device for the victim:
//   - gate: a set this host owns waits for its old owner to be fenced before starting
//     (fence-then-start, after the old owner's lease expired);
//   - suspected: an owner's lease has gone unrenewed for `timing.suspectAfter` as etcd's leader
//     reports it: fence it now and revoke its lease instead of waiting for the expiry (fast
//     fenced takeover);
//   - stop-failed: a host whose stop failed asked to be fenced (its resources are in an unknown
//     state; the set can only move once that host is off).
// Whoever acts first takes the victim's claim key by transaction, so one incident gets one fence.
// Nothing is fenced while this host is itself unsure of etcd (lease in doubt), nor in cluster-wide
// maintenance. Pure: time and observations come in, targets with reasons go out.
import { suspectAfterMs, type ClusterConfig } from '../config/cluster-schema.js';
import { baseSetName } from './clones.js';
import type { ClusterView, LeaseState } from './types.js';
import type { Cause } from './causes.js';

/** What etcd's leader said about another host's lease (LeaseTimeToLive), and when it was asked. */
export interface LeaseObservation {
  leaseId: string;
  grantedTtlSec: number;
  /** Whole seconds left, truncated by etcd (so the true remaining time is below `remainingSec + 1`). */
  remainingSec: number;
  /** Monotonic ms when the request was sent. */
  observedAtMs: number;
}

export type FenceWhy = 'gate' | 'suspected' | 'stop-failed';

/** The cause code a fence carries in events and logs: what made the victim need it. */
export function fenceCause(why: FenceWhy): Cause {
  return why === 'gate' ? 'owner-lease-lost' : why === 'suspected' ? 'lease-unrenewed' : 'stop-failed';
}

export interface FenceTarget {
  node: string;
  why: FenceWhy;
  reason: string;
  /** The sets the fence is for (events are recorded under them). */
  sets: string[];
  /** The victim's live lease, revoked after the fence so its sets can be taken over at once. */
  leaseId?: string;
  /** The victim's node-key create revision: the claim is valid only for this life of its agent. */
  registeredRevision?: number;
}

export interface FenceTargetInput {
  me: string;
  nowMs: number;
  lease: LeaseState | null;
  view: ClusterView;
  config: ClusterConfig;
  /** Hosts the takeover gates of this host's sets wait for (SetDecision.awaitsFence), per set. */
  gates: ReadonlyMap<string, readonly string[]>;
  observations: ReadonlyMap<string, LeaseObservation>;
}

/** How often a watched lease is asked about: twice per keepalive period (TTL/4). */
export function observeIntervalMs(grantedTtlSec: number): number {
  return Math.max(100, Math.round((grantedTtlSec * 1000) / 8));
}

/** Hosts whose leases this host watches for the fast fenced takeover (empty when it is off). */
export function leasesToObserve(me: string, view: ClusterView, config: ClusterConfig): { node: string; leaseId: string }[] {
  if (suspectAfterMs(config) === null || view.maintenance.cluster) return [];
  return candidateOwners(me, view, config).map((n) => ({ node: n.name, leaseId: n.leaseId }));
}

export function fenceTargets(input: FenceTargetInput): FenceTarget[] {
  const { me, nowMs, lease, view, config } = input;
  if (lease === null || nowMs >= lease.validUntilMs - config.timing.fenceMargin) return [];
  if (view.maintenance.cluster) return [];
  const targets = new Map<string, FenceTarget>();
  const hasDevice = (node: string): boolean => hasFenceDevice(config, node);

  for (const [set, nodes] of input.gates) {
    for (const node of nodes) {
      if (node === me || !hasDevice(node)) continue;
      const known = targets.get(node);
      if (known) known.sets.push(set);
      else targets.set(node, { node, why: 'gate', reason: `${set} waits for ${node} to be fenced before it starts on ${me}`, sets: [set] });
    }
  }

  const suspectMs = suspectAfterMs(config);
  if (suspectMs !== null) {
    for (const n of candidateOwners(me, view, config)) {
      if (targets.has(n.name)) continue;
      const obs = input.observations.get(n.leaseId);
      if (!obs || nowMs - obs.observedAtMs > 3 * observeIntervalMs(obs.grantedTtlSec)) continue;
      // etcd truncates: the lease has at most remainingSec + 1 s left, so it went unrenewed for at
      // least grantedTtl - (remainingSec + 1) s. A leader change renews every lease in full, which
      // only ever delays a suspicion.
      const unrenewedMs = (obs.grantedTtlSec - obs.remainingSec - 1) * 1000;
      const thresholdMs = suspectAfterForGrantedMs(suspectMs, config.timing.leaseTtl, obs.grantedTtlSec);
      if (obs.remainingSec < 0 || unrenewedMs < thresholdMs) continue;
      const scaled = thresholdMs === suspectMs ? '' : ` scaled to its ${obs.grantedTtlSec}s lease: ${thresholdMs / 1000}s`;
      targets.set(n.name, {
        node: n.name,
        why: 'suspected',
        reason: `${n.name} has not renewed its lease for at least ${unrenewedMs / 1000}s (etcd: under ${obs.remainingSec + 1}s of ${obs.grantedTtlSec}s left; suspectAfter ${suspectMs / 1000}s${scaled}): fencing it before the lease expires`,
        sets: n.sets,
        leaseId: n.leaseId,
        registeredRevision: n.registeredRevision,
      });
    }
  }

  for (const [node, request] of view.fenceRequests) {
    const online = view.nodes.get(node);
    if (node === me || targets.has(node) || !hasDevice(node) || !online || online.leaseId !== request.leaseId) continue;
    if ((view.fences.get(node)?.modRevision ?? 0) > request.modRevision) continue;
    targets.set(node, {
      node,
      why: 'stop-failed',
      reason: `${node} could not stop ${request.set} (${request.reason}): fencing it so ${request.set} can move`,
      sets: [request.set],
      leaseId: request.leaseId,
      registeredRevision: online.registeredRevision,
    });
  }
  return [...targets.values()];
}

/**
 * The suspicion threshold for a lease granted `grantedTtlSec`: an owner keeps the TTL it was
 * granted until it moves to a new lease (a changed `timing.leaseTtl` applies to owners later), and
 * renews every grantedTtl/4, so `suspectAfter` is scaled by grantedTtl / leaseTtl — a 5 s lease
 * judged by a 2 s rule would look unrenewed between two healthy keepalives. Never below two
 * missed keepalives of that lease (grantedTtl / 2), never above what etcd's whole seconds can
 * show (grantedTtl - 1 s). With the TTL the configuration asks for, this is `suspectAfter` itself.
 */
export function suspectAfterForGrantedMs(suspectMs: number, leaseTtlMs: number, grantedTtlSec: number): number {
  const grantedMs = grantedTtlSec * 1000;
  if (grantedMs === leaseTtlMs) return suspectMs;
  if (grantedMs < 2000) return Infinity; // not a TTL hactl asks for: never judged
  const scaledMs = Math.round((suspectMs * grantedMs) / leaseTtlMs);
  return Math.min(grantedMs - 1000, Math.max(grantedMs / 2, scaledMs));
}

/**
 * Online hosts other than `me` that own a set not in maintenance, have a fence device, and were
 * not fenced since they registered.
 */
function candidateOwners(me: string, view: ClusterView, config: ClusterConfig): { name: string; leaseId: string; registeredRevision: number; sets: string[] }[] {
  const out: { name: string; leaseId: string; registeredRevision: number; sets: string[] }[] = [];
  for (const n of view.nodes.values()) {
    if (n.name === me) continue;
    if (!hasFenceDevice(config, n.name)) continue;
    if ((view.fences.get(n.name)?.modRevision ?? 0) > n.registeredRevision) continue;
    const sets = [...view.owners.values()].filter((o) => o.leaseId === n.leaseId && !view.maintenance.sets.has(baseSetName(o.set))).map((o) => o.set);
    if (sets.length > 0) out.push({ name: n.name, leaseId: n.leaseId, registeredRevision: n.registeredRevision, sets });
  }
  return out;
}

/** A host's life as the view shows it: its node key's create revision, 0 while it has none. */
export function lifeOf(view: ClusterView, node: string): number {
  return view.nodes.get(node)?.registeredRevision ?? 0;
}

/**
 * Whether a host registered again since a fence of it was claimed for life `claimedLife`: its node
 * key now is another one. A key that went away is not a new life (the old life's lease ended; its
 * host may still run what it ran): that fence is still due.
 */
export function isNewLife(claimedLife: number, nowLife: number): boolean {
  return nowLife !== 0 && nowLife !== claimedLife;
}

function hasFenceDevice(config: ClusterConfig, node: string): boolean {
  const name = config.nodes?.[node]?.fence;
  return name !== undefined && name in config.fencing.devices;
}

/**
 * Which fence devices this host monitors (SPEC §4: each device is checked periodically): each
 * device is checked by one online host, the first by name among those it does not fence (a host
 * checking its own power switch proves little about reaching it from elsewhere), else the first.
 */
export function devicesToMonitor(me: string, view: ClusterView, config: ClusterConfig): string[] {
  const online = [...view.nodes.keys()].sort();
  const mine: string[] = [];
  for (const device of Object.keys(config.fencing.devices)) {
    const fenced = new Set(Object.entries(config.nodes ?? {}).filter(([, n]) => n.fence === device).map(([name]) => name));
    const checker = online.find((n) => !fenced.has(n)) ?? online[0];
    if (checker === me) mine.push(device);
  }
  return mine;
}
