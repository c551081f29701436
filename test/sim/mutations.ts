// Deliberately broken versions of the core, to show the simulator catches a broken safety rule
// without editing agent/. Each wraps the real decideSet and breaks exactly one rule.
import { decideSet } from '../../agent/core/decide.js';
import type { DecideFn } from './sim-env.js';
import type { LeaseRules } from '../../agent/core/lease.js';

/** Skips the takeover grace (SPEC §5.3): an owner that took over after an expiry starts at once. */
export const skipGrace: DecideFn = (input) => decideSet({ ...input, local: { ...input.local, graceUntilMs: null } });

/** Skips the whole takeover gate: where the real core waits (grace) or blocks for a fence, start anyway. */
export const skipGate: DecideFn = (input) => {
  const real = decideSet(input);
  const gated = real.action.kind === 'wait' || (real.state === 'blocked' && input.local.unsettled.length > 0 && input.local.stopFailure === null);
  if (!gated) return real;
  return decideSet({ ...input, local: { ...input.local, graceUntilMs: null, unsettled: [] } });
};

/**
 * Starts before the fence is recorded (SPEC §5.2): the core is shown every unsettled host as
 * fenced, so a set requiring fencing starts once the grace has passed, fence or no fence.
 */
export const startBeforeFence: DecideFn = (input) =>
  decideSet({ ...input, view: { ...input.view, fences: new Map([...input.local.unsettled].map((u) => [u.node, { node: u.node, how: 'mutation', atWallMs: 0, modRevision: Number.MAX_SAFE_INTEGER }])) } });

/** Self-fences too late: uses the lease as if fenceMargin were 0. */
export const noFenceMargin: DecideFn = (input) =>
  decideSet({ ...input, config: { ...input.config, timing: { ...input.config.timing, fenceMargin: 0 } } });

export const MUTATIONS: Record<string, DecideFn> = {
  'skip-grace': skipGrace,
  'skip-gate': skipGate,
  'start-before-fence': startBeforeFence,
  'no-fence-margin': noFenceMargin,
};

/**
 * The classic lease bug, in the product's keeper (core/lease.ts rule table): validity counted from
 * the moment the answer is handled instead of the moment the keepalive was sent.
 */
export const arrivalStampedValidity: LeaseRules = { provenFromMs: (_sentAtMs, answeredAtMs) => answeredAtMs };

export const LEASE_MUTATIONS: Record<string, LeaseRules> = {
  'arrival-stamped-validity': arrivalStampedValidity,
};
