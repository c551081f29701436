// The decision rule for one service set on one host: given the cluster view, this host's lease and
// what its resources are doing, what is the single next step, and why (a stable cause code from
// causes.ts for programs, a reason for people). Level-triggered: the shell
// calls it again after every change, so a decision never depends on remembering an earlier one.
//
// The rules, in priority order (each a guarantee of SPEC §4–§5):
//   0. maintenance: touch nothing.
//   1. lease in doubt (now >= validUntil - fenceMargin): stop everything local, start nothing.
//   2. a stop failed: blocked; ownership is never released (peers may fence; an operator cleans up).
//   2b. disabled (`hactl disable`): stop any local copy; the owner then releases cleanly; no acquire.
//   3. not the owner: stop any local copy; if the set has no owner and this host is the best
//      eligible one, acquire it by transaction.
//   4. the owner: leave (failure, switchover, standby, ban, failback) by stopping in reverse and then
//      releasing; otherwise, after an unplanned takeover, wait for the fence or the grace; then start
//      the resources in order.
import { placeSet, noEligibleReason } from './placement.js';
import { baseSetName } from './clones.js';
import { setRequiresFencing } from '../config/cluster-schema.js';
import type { DecideInput, SetDecision, LocalSet, ClusterView, OwnerRecord } from './types.js';
import type { ClusterConfig } from '../config/cluster-schema.js';
import type { Cause } from './causes.js';

export function decideSet(input: DecideInput): SetDecision {
  const { me, nowMs, lease, view, config, set, local } = input;
  const owner = view.owners.get(set);
  const active = highestActive(local);

  // Self-fencing comes before maintenance: a host that cannot renew its lease stops its sets even
  // in maintenance, because once maintenance ends another host may take them over (found by the
  // simulator). Maintenance leaves resources alone only while this host's lease is sound.
  const leaseOk = lease !== null && nowMs < lease.validUntilMs - config.timing.fenceMargin;
  if (!leaseOk) {
    const why = lease === null ? 'no etcd lease' : `etcd lease in doubt (valid ${Math.max(0, Math.round(lease.validUntilMs - nowMs))}ms more, fenceMargin ${config.timing.fenceMargin}ms)`;
    // After a failed stop, the resources still known to run are stopped first (below the failed
    // one too: the floating IP goes even when the queue manager above it hangs); the failed one is
    // tried again only after them (the shell paces those retries).
    const running = local.stopFailure ? local.resources.lastIndexOf('running') : -1;
    if (running >= 0) return stop(running, 'lease-doubt', `${why}: self-fencing; stop failed earlier (${local.stopFailure}), stopping ${resourceId(input, running)} meanwhile`);
    if (active >= 0) return stop(active, 'lease-doubt', `${why}: self-fencing, stopping ${resourceId(input, active)}`);
    if (local.stopFailure) return none('blocked', 'lease-doubt', `${why}; stop failed earlier: ${local.stopFailure}`);
    return none('stopped', 'lease-doubt', `${why}: not starting anything`);
  }

  if (view.maintenance.cluster || view.maintenance.sets.has(baseSetName(set))) {
    const scope = view.maintenance.cluster ? 'cluster-wide maintenance' : `maintenance of ${baseSetName(set)}`;
    return none('maintenance', 'maintenance', `${scope}: not starting, stopping or monitoring anything`);
  }

  if (local.stopFailure) {
    const device = config.nodes?.[me]?.fence;
    const escalation = device ? `; ${me} asked the other hosts to fence it through device ${device}, then ${set} moves` : `; no fence device for ${me}, so ${set} stays blocked here until hactl cleanup`;
    return none('blocked', 'stop-failed', `stop failed on ${me}: ${local.stopFailure}${escalation}`);
  }

  const iOwn = owner !== undefined && owner.node === me && owner.leaseId === lease.leaseId;

  // Disabled by an operator (Pacemaker's target-role Stopped): stopped everywhere. Any local copy
  // stops in reverse order; the owner then releases cleanly (a planned stop: whoever takes the set
  // after `hactl enable` needs no fence and no grace); nobody acquires it meanwhile.
  const base = baseSetName(set);
  if (view.disabled?.has(base)) {
    const why = `${base} is disabled (hactl enable ${base} starts it again)`;
    if (active >= 0) return stop(active, 'disabled', `${why}: stopping ${resourceId(input, active)}`);
    if (iOwn) return { action: { kind: 'release' }, reason: `${why}: releasing ${set}`, cause: 'disabled', state: 'stopping' };
    return none('stopped', 'disabled', why);
  }

  if (!iOwn) return decideAsNonOwner(input, owner, active);
  return decideAsOwner(input, owner, active);
}

function decideAsNonOwner(input: DecideInput, owner: OwnerRecord | undefined, active: number): SetDecision {
  const { me, view, config, set, local, wallMs } = input;
  if (active >= 0) {
    const whose = owner ? `${owner.node} owns ${set} (token ${owner.token})` : `${me} does not own ${set}`;
    return stop(active, 'stale-copy', `${whose}: stopping local ${resourceId(input, active)}`);
  }
  if (!local.probed) return none('stopped', 'probing', `probing the resources of ${set} on ${me} first`);
  if (owner) return none('stopped', 'owned-elsewhere', `owned by ${owner.node} (token ${owner.token})`);

  const holder = view.holders.get(set);
  if (holder?.failed) return none('failed', 'set-failed', `${holder.failed}; stopped everywhere until hactl cleanup ${set}`);

  const placement = placeSet(view, config, set, wallMs);
  let best = placement.ranked[0];
  const handoff = holder?.released && holder.handoffTo !== undefined && placement.ranked.includes(holder.handoffTo);
  if (handoff) best = holder!.handoffTo!;
  // `hactl move` of a set that runs nowhere: the named node takes it, if it can.
  const intent = view.failoverIntents.get(set);
  const moved = intent?.to !== undefined && placement.ranked.includes(intent.to);
  if (moved) best = intent!.to!;
  if (best === undefined) return none('stopped', 'no-eligible-host', noEligibleReason(placement));
  if (best !== me) return none('stopped', 'waiting-for-host', `waiting for ${best} to take ${set}`);

  // Unsettled: hosts that may still run the set. A holder that never released it lost its lease
  // while it may have been running it (our own earlier run counts as settled: we probed and
  // stopped); hosts an earlier owner had not yet settled stay unsettled, whoever held it since.
  // This host is settled for itself (it probed and stopped); a node listed twice keeps only its
  // latest revision — a fence must come after its most recent hold (found by the simulator).
  let unsettled = (holder?.unsettled ?? []).filter((u) => u.node !== me);
  if (holder !== undefined && !holder.released && holder.node !== me) {
    const lost = { node: holder.node, afterRevision: holder.modRevision, ...(holder.graceMs !== undefined ? { graceMs: holder.graceMs } : {}), ...(holder.stopFailed ? { stopFailed: true } : {}) };
    unsettled = [...unsettled.filter((u) => u.node !== holder.node), lost];
  }
  const dirty = unsettled.length > 0;
  const reason = dirty
    ? `${unsettled.map((u) => u.node).join(', ')} lost ${set} without stopping it cleanly: taking over`
    : handoff
      ? `planned switchover from ${holder!.node}: taking ${set}`
      : moved
        ? `operator moved ${set} to ${me}: taking it`
        : `${set} has no owner and ${me} is the best eligible node`;
  const cause: Cause = dirty ? 'owner-lease-lost' : handoff ? 'planned-switchover' : moved ? 'operator-failover' : 'no-owner';
  const action = { kind: 'acquire' as const, dirty, holderRevision: holder?.modRevision ?? 0, unsettled, ...(moved ? { clearsIntent: intent!.modRevision } : {}) };
  return { action, reason, cause, state: 'stopped' };
}

function decideAsOwner(input: DecideInput, owner: OwnerRecord, active: number): SetDecision {
  const { me, nowMs, wallMs, view, config, set, local } = input;
  const spec = config.serviceSets[set];

  if (local.token !== null && local.token !== owner.token && active >= 0) {
    return stop(active, 'token-changed', `resources were started under token ${local.token}, ownership is now token ${owner.token}: stopping them`);
  }

  if (local.moveAway) {
    const why = local.moveAway.reason;
    const cause = local.moveAway.cause;
    if (active >= 0) return stop(active, cause, `${why}: stopping ${set} to move it`);
    return {
      action: {
        kind: 'release',
        ban: local.moveAway.ban ? { untilWallMs: wallMs + spec.onFailure.banFor, reason: why } : undefined,
        failed: local.moveAway.fatal ? why : undefined,
      },
      reason: local.moveAway.fatal ? `${why}: releasing ${set}, stopped everywhere until cleanup` : `${why}: releasing ${set} so another node can run it`,
      cause,
      state: local.moveAway.fatal ? 'failed' : 'stopping',
    };
  }

  const planned = plannedMove(input);
  if (planned?.kind === 'refuse') return { action: { kind: 'clear-intent' }, reason: planned.why, cause: 'failover-refused', state: active >= 0 ? 'running' : 'stopped' };
  if (planned) {
    const where = planned.to ? `planned switchover to ${planned.to}` : 'stopping it here with nowhere to go';
    if (active >= 0) return stop(active, planned.cause, `${planned.why}: ${where}, stopping ${resourceId(input, active)}`);
    return { action: { kind: 'release', handoffTo: planned.to }, reason: `${planned.why}: ${where}, releasing ${set}`, cause: planned.cause, state: 'stopping' };
  }

  const first = local.resources.findIndex((phase) => phase !== 'running');
  if (first < 0) return none('running', 'running', `running on ${me}`);

  // A resource that is not running while a later one runs (a failed monitor, or a probe after
  // restart) means: stop the later ones in reverse, then start again from it. Stopping is always
  // allowed; starting is what the gate below guards.
  if (active >= first) {
    return stop(active, 'resource-not-running', `${resourceId(input, first)} is not running: restarting ${set} from it`, 'starting');
  }

  // The takeover gate (SPEC §5.2): hosts that may still run the set are fenced (required for
  // exclusive sets) or given the takeover grace, before ANY start — also of a later resource while
  // earlier ones run (an agent restart mid-takeover; found by the simulator, BUG-11).
  const unfenced = local.unsettled.filter((u) => (view.fences.get(u.node)?.modRevision ?? 0) <= u.afterRevision);
  // A host whose stop failed may run anything of the set: no grace can cover an unknown state, so
  // it needs a fence (or an operator's confirmation) whether or not the set requires fencing.
  const stopFailed = unfenced.filter((u) => u.stopFailed);
  if (stopFailed.length > 0) {
    const node = stopFailed[0].node;
    return { ...none('blocked', 'waiting-for-fence', `waiting for ${node} to be fenced before starting ${set}: a stop of ${set} failed on ${node}, so what runs there is unknown; ${fenceHint(config, node)}`), awaitsFence: unfenced.map((u) => u.node) };
  }
  if (unfenced.length > 0 && setRequiresFencing(spec)) {
    const node = unfenced[0].node;
    return { ...none('blocked', 'waiting-for-fence', `waiting for ${node} to be fenced before starting ${set} (requireFencing): ${fenceHint(config, node)}`), awaitsFence: unfenced.map((u) => u.node) };
  }
  if (unfenced.length > 0 && local.graceUntilMs !== null && nowMs < local.graceUntilMs) {
    return {
      action: { kind: 'wait', untilMs: local.graceUntilMs },
      // A stable text: a countdown would change the status record on every reconciliation.
      reason: `takeover grace: ${unfenced.map((u) => u.node).join(', ')} lost ${set} by lease expiry; waiting for it to finish stopping (sum of stop timeouts minus fenceMargin)`,
      cause: 'takeover-grace',
      state: 'starting',
    };
  }

  return {
    action: { kind: 'start', index: first },
    reason: `starting ${resourceId(input, first)} (${first + 1}/${local.resources.length}) on ${me}`,
    cause: 'starting',
    state: 'starting',
  };
}

type Planned = { kind: 'move'; to?: string; why: string; cause: Cause } | { kind: 'refuse'; why: string } | null;

/** An operator intent or placement change that makes the owner leave: switchover, standby, ban, failback. */
function plannedMove(input: DecideInput): Planned {
  const { me, view, config, set, wallMs } = input;
  const spec = config.serviceSets[set];
  const placement = placeSet(view, config, set, wallMs);
  const others = placement.ranked.filter((n) => n !== me);
  const intent = view.failoverIntents.get(set);
  if (intent) {
    if (intent.to === me) return { kind: 'refuse', why: `failover of ${set} to ${me}: it already runs there` };
    if (intent.to !== undefined && !others.includes(intent.to)) {
      const why = placement.excluded.find((e) => e.startsWith(`${intent.to} `)) ?? `${intent.to} is not a candidate for ${set}`;
      return { kind: 'refuse', why: `failover of ${set} to ${intent.to} refused: ${why}` };
    }
    const to = intent.to ?? others[0];
    if (to === undefined) return { kind: 'refuse', why: `failover of ${set} refused: ${noEligibleReason({ ranked: [], excluded: placement.excluded })}` };
    return { kind: 'move', to, why: `operator requested failover of ${set}`, cause: 'operator-failover' };
  }
  if (view.standby.has(me)) return { kind: 'move', to: others[0], why: `${me} is in standby`, cause: 'standby' };
  const ban = view.bans.get(baseSetName(set))?.get(me);
  if (ban && ban.untilWallMs > wallMs) return { kind: 'move', to: others[0], why: `${me} is banned for ${set} (${ban.reason})`, cause: 'banned' };
  const prefer = spec.prefer ?? [];
  if (!spec.anyNode && prefer.length > 0 && !prefer.includes(me)) return { kind: 'move', to: others[0], why: `${me} is not in ${set}.prefer`, cause: 'not-preferred' };
  if (spec.failback && others.length > 0) {
    const best = others[0];
    const rank = (n: string): number => (prefer.indexOf(n) < 0 ? prefer.length : prefer.indexOf(n));
    if (rank(best) < rank(me)) return { kind: 'move', to: best, why: `failback: ${best} is preferred over ${me}`, cause: 'failback' };
  }
  return null;
}

function fenceHint(config: ClusterConfig, node: string): string {
  const device = config.nodes?.[node]?.fence;
  return device
    ? `fencing through device ${device}`
    : `no fence device configured for ${node}; after making sure it is off, run hactl fence ${node} --confirm-down`;
}

/** The highest index whose resource may be active here (running or unknown), or -1. */
export function highestActive(local: LocalSet): number {
  for (let i = local.resources.length - 1; i >= 0; i--) if (local.resources[i] !== 'stopped') return i;
  return -1;
}

function resourceId(input: DecideInput, index: number): string {
  return input.config.serviceSets[input.set].resources[index]?.id ?? `#${index}`;
}

function none(state: SetDecision['state'], cause: Cause, reason: string): SetDecision {
  return { action: { kind: 'none' }, reason, cause, state };
}

function stop(index: number, cause: Cause, reason: string, state: SetDecision['state'] = 'stopping'): SetDecision {
  return { action: { kind: 'stop', index }, reason, cause, state };
}

export type { ClusterView };
