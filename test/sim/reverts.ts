// The fixes of the bugs the simulator found, each of which can be switched off again in a run
// (`--revert BUG-n`, `WorldOptions.revert`). The named scenario tests use this to prove that their
// seed still exercises the bug: with the fix the seed is clean, with the fix reverted it fails.
// Shell fixes are reverted in sim-agent.ts (its mirror of agent/shell/agent.ts); fixes in the core
// are reverted by wrapping the real decideSet so that it behaves as the core did before the fix.
import { decideSet } from '../../agent/core/decide.js';
import type { DecideFn } from './sim-env.js';

export const FIXES = {
  'BUG-1': 'probeSet takes the takeover gate up again from the holder record after an agent restart (agent.ts probeSet)',
  'BUG-2': 'self-fencing comes before maintenance (decide.ts decideSet)',
  'BUG-3': 'an in-flight start or monitor is aborted when the lease falls into doubt (agent.ts reconcile)',
  'BUG-4': 'a release keeps the hosts not yet settled in the holder record (agent.ts execute/release)',
  'BUG-5': 'process groups left by the previous agent are killed before the probe (agent.ts start)',
  'BUG-6': 'a lease renewal never postpones the wake-up; one after a doubt re-decides (agent.ts onLeaseRenewed/scheduleWake)',
  'BUG-7': 'a node fenced since its lease was registered does not resume that lease (agent.ts establishLease/fencedSince)',
  'BUG-8': 'the takeover grace is the SUM of the stop timeouts, not the longest (cluster-schema.ts takeoverGraceMs)',
  'BUG-9': 'registration restarts with a new lease when the lease died meanwhile (agent.ts establishLease)',
  'BUG-10': 'a dirty owner re-acquiring its own set keeps the unsettled hosts from the holder record (decide.ts decideAsNonOwner)',
  // Found after the others; the fix is proposed to agent.ts and applied in the mirror only (see docs/simulation.md).
  'BUG-11': 'probeSet takes the gate up again even when the probe found something active or unknown (agent.ts probeSet)',
  'BUG-12': 'an action aborted for lease doubt is SIGKILLed at once, not SIGTERM then SIGKILL 2 s later (agent.ts BUG-3 abort)',
  'BUG-13': 'a set waiting for its own write to show in the view still self-fences when the lease is in doubt (agent.ts reconcile)',
} as const;

export type Fix = keyof typeof FIXES;

export function isFix(name: string): name is Fix {
  return name in FIXES;
}

/** The core as it was before BUG-2's fix: maintenance was checked before the lease. */
const maintenanceFirst = (next: DecideFn): DecideFn => (input) => {
  const { view, set } = input;
  if (view.maintenance.cluster || view.maintenance.sets.has(set)) {
    return { action: { kind: 'none' }, reason: 'maintenance (BUG-2 reverted: checked before the lease)', cause: 'maintenance', state: 'maintenance' };
  }
  return next(input);
};

/** The core as it was before BUG-10's fix: a holder naming this host was "our own earlier run", settled. */
const ownHoldSettled = (next: DecideFn): DecideFn => (input) => {
  const holder = input.view.holders.get(input.set);
  if (!holder || holder.node !== input.me || holder.unsettled.length === 0) return next(input);
  const holders = new Map(input.view.holders);
  holders.set(input.set, { ...holder, unsettled: [] });
  return next({ ...input, view: { ...input.view, holders } });
};

/** The decision function of a run: the given one (real or mutant) with the reverted core fixes. */
export function withReverts(decide: DecideFn | undefined, reverted: ReadonlySet<Fix>): DecideFn {
  let fn = decide ?? decideSet;
  if (reverted.has('BUG-10')) fn = ownHoldSettled(fn);
  if (reverted.has('BUG-2')) fn = maintenanceFirst(fn);
  return fn;
}
