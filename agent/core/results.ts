// How action results change this host's view of a set (pure). The OCF exit codes of SPEC §6.1:
// 0 success; 1 generic (soft: restart in place); 2, 4, 5 hard for this host (move and ban);
// 6 not configured (fatal: stop everywhere until cleanup); 7 not running; 8/9 promoted (running);
// 190/191 degraded (success with a warning). Anything else, or a timeout, is an error.
import type { ServiceSetConfig } from '../config/cluster-schema.js';
import type { HolderRecord, LocalSet, ResourcePhase, Unsettled } from './types.js';

export type ActionOutcome =
  | { status: 'exited'; rc: number; reason?: string }
  | { status: 'timed-out' }
  | { status: 'spawn-failed'; reason: string }
  /** Cut short by the agent itself (its lease fell into doubt): the resource's state is unknown. */
  | { status: 'aborted'; reason: string };

export const OCF = {
  SUCCESS: 0,
  ERR_GENERIC: 1,
  ERR_ARGS: 2,
  ERR_UNIMPLEMENTED: 3,
  ERR_PERM: 4,
  ERR_INSTALLED: 5,
  ERR_CONFIGURED: 6,
  NOT_RUNNING: 7,
  RUNNING_PROMOTED: 8,
  FAILED_PROMOTED: 9,
  DEGRADED: 190,
  DEGRADED_PROMOTED: 191,
} as const;

export type FailureClass = 'ok' | 'not-running' | 'soft' | 'hard' | 'fatal';

export function classify(outcome: ActionOutcome): FailureClass {
  if (outcome.status !== 'exited') return 'soft';
  switch (outcome.rc) {
    case OCF.SUCCESS:
    case OCF.RUNNING_PROMOTED:
    case OCF.DEGRADED:
    case OCF.DEGRADED_PROMOTED:
      return 'ok';
    case OCF.NOT_RUNNING:
      return 'not-running';
    case OCF.ERR_ARGS:
    case OCF.ERR_PERM:
    case OCF.ERR_INSTALLED:
      return 'hard';
    case OCF.ERR_CONFIGURED:
      return 'fatal';
    default:
      return 'soft';
  }
}

/** "rc=1: queue manager QM1 failed to start", "timed out", ... */
export function describeOutcome(outcome: ActionOutcome): string {
  if (outcome.status === 'timed-out') return 'timed out';
  if (outcome.status === 'spawn-failed') return `could not run the agent: ${outcome.reason}`;
  if (outcome.status === 'aborted') return `aborted: ${outcome.reason}`;
  return outcome.reason ? `rc=${outcome.rc}: ${outcome.reason}` : `rc=${outcome.rc}`;
}

function withPhase(local: LocalSet, index: number, phase: ResourcePhase): LocalSet {
  const resources = local.resources.slice();
  resources[index] = phase;
  return { ...local, resources };
}

/** A start finished. Any failure makes the set leave this host (SPEC §4), banned for `banFor`. */
export function afterStart(local: LocalSet, index: number, resourceId: string, outcome: ActionOutcome, token: number): LocalSet {
  // Aborted for a self-fence: not the resource's failure, so no move and no ban; it is stopped next.
  if (outcome.status === 'aborted') return { ...withPhase(local, index, 'unknown'), token };
  const cls = classify(outcome);
  // A successful start settles the takeover: the gate was passed to get here.
  if (cls === 'ok') return { ...withPhase(local, index, 'running'), token, unsettled: [] };
  const reason = `start of ${resourceId} failed (${describeOutcome(outcome)})`;
  return { ...withPhase(local, index, 'unknown'), token, moveAway: { reason, cause: 'start-failed', ban: true, fatal: cls === 'fatal' } };
}

/** A stop finished. A failed stop leaves the state unknown: the set is blocked, never released. */
export function afterStop(local: LocalSet, index: number, resourceId: string, outcome: ActionOutcome): LocalSet {
  if (classify(outcome) === 'ok' || notHere(outcome)) {
    const next = withPhase(local, index, 'stopped');
    return next.resources.every((p) => p === 'stopped') ? { ...next, token: null } : next;
  }
  return { ...withPhase(local, index, 'unknown'), stopFailure: `stop of ${resourceId} failed (${describeOutcome(outcome)})` };
}

/** A probe (monitor with interval 0) at agent start-up or before taking a set. */
export function afterProbe(local: LocalSet, index: number, outcome: ActionOutcome): LocalSet {
  const cls = classify(outcome);
  return withPhase(local, index, cls === 'ok' ? 'running' : notHere(outcome) ? 'stopped' : 'unknown');
}

/**
 * "Not running" (7) or "not installed here" (5) — from a probe or a stop, both mean nothing of the
 * resource can run on this host (as Pacemaker reads them). rc 5 includes an agent file hactl
 * refuses to execute, which therefore never blocks a set: starting it fails and bans the host.
 */
function notHere(outcome: ActionOutcome): boolean {
  return outcome.status === 'exited' && (outcome.rc === OCF.NOT_RUNNING || outcome.rc === OCF.ERR_INSTALLED);
}

/**
 * A recurring monitor finished. "Not running" when it should run is a failure too. Soft failures
 * restart in place up to `onFailure.restarts` times within `onFailure.window`; then the set moves
 * and this host is banned. Hard errors move at once; fatal ones stop the set everywhere.
 */
export function afterMonitor(local: LocalSet, index: number, resourceId: string, outcome: ActionOutcome, spec: ServiceSetConfig, nowMs: number): LocalSet {
  if (outcome.status === 'aborted') return withPhase(local, index, 'unknown'); // not counted as a failure
  const cls = classify(outcome);
  if (cls === 'ok') return local;
  const what = cls === 'not-running' ? `${resourceId} is not running` : `monitor of ${resourceId} failed (${describeOutcome(outcome)})`;
  const failureTimesMs = [...local.failureTimesMs.filter((t) => nowMs - t < spec.onFailure.window), nowMs];
  // Recovery is stop-then-start even when the monitor says "not running" (as Pacemaker does):
  // stop is idempotent and clears what a crashed resource left behind (pidfiles, children).
  const next: LocalSet = { ...withPhase(local, index, 'unknown'), failureTimesMs };
  if (cls === 'hard' || cls === 'fatal') return { ...next, moveAway: { reason: what, cause: 'monitor-failed', ban: true, fatal: cls === 'fatal' } };
  if (failureTimesMs.length > spec.onFailure.restarts) {
    return { ...next, moveAway: { reason: `${what}: ${failureTimesMs.length} failures within ${Math.round(spec.onFailure.window / 1000)}s`, cause: 'monitor-failed', ban: true, fatal: false } };
  }
  return next;
}

/**
 * The takeover grace for `unsettled` hosts: the longest of this host's own (from its configuration)
 * and what each unsettled host recorded for the configuration it ran.
 */
export function graceFor(unsettled: readonly Unsettled[], ownGraceMs: number): number {
  return unsettled.reduce((ms, u) => Math.max(ms, u.graceMs ?? 0), ownGraceMs);
}

/** Ownership acquired: record the token, and the hosts an unplanned takeover must settle first. */
export function afterAcquire(local: LocalSet, token: number, takeover: { unsettled: Unsettled[]; graceMs: number; nowMs: number }): LocalSet {
  const dirty = takeover.unsettled.length > 0;
  return { ...local, token, heldToken: token, moveAway: null, unsettled: takeover.unsettled, graceUntilMs: dirty ? takeover.nowMs + graceFor(takeover.unsettled, takeover.graceMs) : null };
}

/**
 * The view shows this host as the owner under `token`, but this host has no memory of acquiring it:
 * its acquire committed while the reply was lost (a library retry then saw `rejected`, or the
 * outcome was unknown), or the agent restarted. The gate is taken up again from the holder record
 * that acquisition wrote — never from local memory, which may be empty — and the grace counts
 * afresh from now (longer than needed, never shorter).
 */
export function adoptOwnership(local: LocalSet, me: string, token: number, holder: HolderRecord | undefined, ownGraceMs: number, nowMs: number): LocalSet {
  const fromThisHold = holder !== undefined && holder.node === me && !holder.released && holder.modRevision >= token;
  const unsettled = fromThisHold ? holder.unsettled : [];
  return { ...local, heldToken: token, unsettled, graceUntilMs: unsettled.length > 0 ? nowMs + graceFor(unsettled, ownGraceMs) : null };
}

/** Ownership released (after everything stopped). */
export function afterRelease(local: LocalSet): LocalSet {
  return { ...local, token: null, heldToken: null, graceUntilMs: null, unsettled: [], moveAway: null, failureTimesMs: [] };
}
