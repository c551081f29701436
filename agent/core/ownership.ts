// Does this host own a set? One answer, used everywhere the agent asks (decisions, releases on
// shutdown or retirement, status writes, probes, health). An owner key counts as this host's only
// when it names this host AND is bound to a lease this host holds now: a key left on the lease of
// an earlier run (or of a lease this agent let go) is not ours, whatever its node field says — a
// write guarded by its token would be the write of a host that may no longer own the set.
import type { ClusterView, OwnerRecord } from './types.js';
import { baseSetName } from './clones.js';

/** The leases a host holds: the one in hand, and during a leaseTtl change the one its keys move to. */
export interface HeldLeases {
  current: string | null;
  movingTo: string | null;
}

export function holdsLease(held: HeldLeases, leaseId: string): boolean {
  return leaseId === held.current || (held.movingTo !== null && leaseId === held.movingTo);
}

/** `owner` when it is this host's under a lease it holds, else undefined. */
export function ownedHere(owner: OwnerRecord | undefined, me: string, held: HeldLeases): OwnerRecord | undefined {
  return owner !== undefined && owner.node === me && holdsLease(held, owner.leaseId) ? owner : undefined;
}

/** Every set this host owns under exactly `leaseId` (what a lease move must carry over). */
export function ownedUnderLease(view: ClusterView, me: string, leaseId: string): OwnerRecord[] {
  return [...view.owners.values()].filter((o) => o.node === me && o.leaseId === leaseId);
}

/** The instance of clone `base` this host owns, if any. */
export function ownedInstanceOf(view: ClusterView, base: string, me: string, held: HeldLeases): OwnerRecord | undefined {
  return [...view.owners.values()].find((o) => baseSetName(o.set) === base && ownedHere(o, me, held) !== undefined);
}
