// The simulated OCF runner of one host, and the ground truth the checker trusts: whether each
// resource is *actually* active on this host (starting, running, stopping, or left running by a
// failed stop, a crashed agent or a frozen host), independently of what any agent believes.
//
// A resource counts as active from the moment its start begins (a start may bring the address up
// first and fail later) until a stop or probe-confirmed crash ends it. Fault profiles come from the
// world's Prng: latency, hangs until the action's timeout, chosen exit codes, spontaneous crashes.
import type { ActionOutcome } from '../../agent/core/results.js';
import type { Prng } from './prng.js';

export type TruthState = 'stopped' | 'starting' | 'running' | 'stopping';

export interface Truth {
  state: TruthState;
  /** Token the copy was started under. */
  token: number | null;
  /** Why no agent is looking after this copy (agent crash, frozen host, failed stop), or null. */
  orphan: { reason: string; leaseId: string } | null;
  /** True time the copy's current start began (for the checker's diagnosis). */
  startedAtMs?: number;
}

export interface FaultRates {
  startFail: number;
  startHard: number;
  startFatal: number;
  startHang: number;
  stopFail: number;
  stopHang: number;
  monitorFail: number;
  monitorHang: number;
}

export const NO_FAULTS: FaultRates = { startFail: 0, startHard: 0, startFatal: 0, startHang: 0, stopFail: 0, stopHang: 0, monitorFail: 0, monitorHang: 0 };

export type OcfAction = 'start' | 'stop' | 'monitor';

export interface RunRequest {
  set: string;
  index: number;
  action: OcfAction;
  timeoutMs: number;
  token: number | null;
}

export interface PlannedAction {
  /** Duration on the host's clock. */
  durationMs: number;
  outcome: ActionOutcome;
}

/** Draws how one action goes, from the fault rates (pure apart from the Prng). */
export function planAction(prng: Prng, rates: FaultRates, req: RunRequest, truth: Truth): PlannedAction {
  const quick = (): number => (prng.chance(0.9) ? prng.range(5, 150) : prng.range(150, Math.min(1500, req.timeoutMs * 0.9)));
  const exited = (rc: number, reason?: string): PlannedAction => ({ durationMs: quick(), outcome: { status: 'exited', rc, reason } });
  const hang: PlannedAction = { durationMs: req.timeoutMs, outcome: { status: 'timed-out' } };
  if (req.action === 'start') {
    const x = prng.float();
    if (x < rates.startHang) return hang;
    if (x < rates.startHang + rates.startFail) return exited(1, 'simulated start failure');
    if (x < rates.startHang + rates.startFail + rates.startHard) return exited(prng.pick([2, 4, 5]), 'simulated hard error');
    if (x < rates.startHang + rates.startFail + rates.startHard + rates.startFatal) return exited(6, 'simulated not configured');
    return exited(prng.chance(0.05) ? 190 : 0);
  }
  if (req.action === 'stop') {
    const x = prng.float();
    if (x < rates.stopHang) return hang;
    if (x < rates.stopHang + rates.stopFail) return exited(1, 'simulated stop failure');
    return exited(0);
  }
  const running = truth.state === 'running' || truth.state === 'stopping';
  const x = prng.float();
  if (x < rates.monitorHang) return hang;
  if (x < rates.monitorHang + rates.monitorFail) return exited(1, 'simulated monitor error');
  return exited(running ? 0 : 7);
}

/** The ground truth after an action ends. A failed or timed-out stop leaves the copy running. */
export function truthAfter(action: OcfAction, outcome: ActionOutcome, before: Truth, prng: Prng): Truth {
  const ok = outcome.status === 'exited' && (outcome.rc === 0 || outcome.rc === 190);
  if (action === 'start') {
    if (ok) return { ...before, state: 'running' };
    // A failed start may leave part of the resource up; the agent treats it as unknown and stops it.
    return prng.chance(0.5) ? { ...before, state: 'running' } : { state: 'stopped', token: null, orphan: null };
  }
  if (action === 'stop') {
    if (ok || (outcome.status === 'exited' && outcome.rc === 7)) return { state: 'stopped', token: null, orphan: null };
    return before.state === 'stopped' ? before : { ...before, state: 'running' };
  }
  return before;
}

export function isActive(t: Truth): boolean {
  return t.state !== 'stopped';
}
