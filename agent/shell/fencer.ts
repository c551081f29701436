// Fencing done by the agents (SPEC §4, §5.2), for the targets the core names (core/fence-targets):
// fence-then-start for a set this host took over, the fast fenced takeover of a suspected owner,
// and a host whose stop failed. For each victim:
//   1. claim it by transaction (one claimer at a time, bound to the claimer's lease): one incident,
//      one fence, however many hosts could act;
//   2. run its fence device; a failure is retried with exponential backoff (1 s to 30 s) while the
//      reason stays, and the claim is kept meanwhile. A fence is for one life of the victim (its
//      node key's create revision, or no key): right before the claim and before every device
//      call the life is compared with the current view, and when the victim registered again
//      meanwhile (rebooted, rejoined) the claim is dropped with an event and the device is not
//      called — that new life is never fenced for the old one's incident;
//   3. record the fence (only while the claim is still ours) — the record is what lifts the gates;
//   4. revoke the victim's lease when it still has one, so its sets are taken over now rather than
//      at the expiry.
// A claim whose reason went away (the owner renewed after all, the gate passed) is given up.
import type { ClusterConfig } from '../config/cluster-schema.js';
import { fenceCause, isNewLife, lifeOf, type FenceTarget } from '../core/fence-targets.js';
import type { ClusterView } from '../core/types.js';
import { configuredFenceAction, fenceDeviceFor, fenceNode } from '../fence/device.js';
import { deviceFenceHow, fenceRecordJson } from '../fence/record.js';
import type { ClusterStore } from '../etcd/store.js';
import type { EventLog } from './events.js';
import type { Logger } from './log.js';
import type { Clock } from '../ports/clock.js';
import { agentMetrics } from './metrics.js';

const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 30_000;
/** After losing a claim race, look again soon: the winner may die before it records. */
const CLAIM_LOST_RETRY_MS = 250;
/** A victim's failure count is forgotten this long after the last failure seen (no fence came). */
const FORGET_FAILURES_MS = 2 * MAX_RETRY_MS;

interface Attempt {
  target: FenceTarget;
  /** A claim, fence, record or revoke is in flight. */
  running: boolean;
  nextTryMs: number;
  failures: number;
  lastFailure?: string;
  /** Create revision of our claim on the victim, while we hold it. */
  claimRevision?: number;
  /** When this host's claim was committed (monotonic), for the fence phase metric. */
  claimedAtMs?: number;
  /** The victim's life this fence is for: its node key's create revision, 0 when it had none. */
  life: number;
  /** Set when the victim registered again: this attempt fences nothing more (why, for status). */
  lifeGone?: string;
}


export class Fencer {
  private readonly attempts = new Map<string, Attempt>();
  /**
   * Failed attempts per victim, ours and other claimers', until the victim is fenced: a claim that
   * changes hands keeps its backoff, also when it is given up (the gate moved to another host) and
   * taken again after the claim's key went with its claimer's lease (chaos suite,
   * fence-claimer-dies-switch-failing). `fenceRevision`: the victim's fence record when counted.
   */
  private readonly knownFailures = new Map<string, { failures: number; atMs: number; fenceRevision: number }>();
  /** The newest view seen, for the life check right before each device call. */
  private view: ClusterView | undefined;

  constructor(
    private readonly me: string,
    private readonly store: ClusterStore,
    private readonly events: EventLog,
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly onDone: () => void,
  ) {}

  /** Why the last attempt on `node` failed, or who else is fencing it, for status (undefined: nothing to say). */
  statusOf(node: string, view: ClusterView): string | undefined {
    const claim = view.fenceClaims.get(node);
    if (claim && claim.by !== this.me) return `${claim.by} is fencing ${node}${claim.lastFailure ? ` (${claim.lastFailure}; retrying)` : ''}`;
    const a = this.attempts.get(node);
    return a?.lifeGone ?? a?.lastFailure;
  }

  /** When the next retry on `node` is due (monotonic), for the agent's wake-up. */
  nextTryMs(node: string): number | undefined {
    const a = this.attempts.get(node);
    return a && !a.running ? a.nextTryMs : undefined;
  }

  /** Every pending retry time, for the agent's wake-up. */
  retryTimesMs(): number[] {
    return [...this.attempts.values()].filter((a) => !a.running).map((a) => a.nextTryMs);
  }

  /**
   * Acts on the targets the core named now (called after every reconciliation and observation).
   * `leaseId` is this host's lease (claims are bound to it); null: claim nothing.
   */
  update(targets: readonly FenceTarget[], view: ClusterView, config: ClusterConfig, leaseId: string | null): void {
    this.view = view;
    const wanted = new Map(targets.map((t) => [t.node, t]));
    for (const [node, claim] of view.fenceClaims) {
      if (claim.by !== this.me && claim.failures) this.noteFailures(node, claim.failures, view.fences.get(node)?.modRevision ?? 0);
    }
    for (const [node, k] of this.knownFailures) {
      const fencedSince = (view.fences.get(node)?.modRevision ?? 0) > k.fenceRevision;
      if (fencedSince || this.clock.monotonicMs() - k.atMs > FORGET_FAILURES_MS) this.knownFailures.delete(node);
    }
    for (const [node, a] of this.attempts) {
      if (wanted.has(node) || a.running) continue;
      this.attempts.delete(node);
      if (a.claimRevision !== undefined) {
        this.log.info({ node, why: a.target.why }, 'fence no longer needed; giving up the claim');
        void this.store.dropFenceClaim(node, a.claimRevision);
      }
    }
    if (leaseId === null) return;
    const now = this.clock.monotonicMs();
    for (const target of targets) {
      let a = this.attempts.get(target.node);
      // A target named for another life than the attempt's is a new incident (the new life itself
      // is suspected, or asked to be fenced): it starts afresh. A gate names no life: it keeps the
      // life its attempt began with.
      if (a && !a.running && target.registeredRevision !== undefined && target.registeredRevision !== a.life) a = undefined;
      a ??= { target, running: false, nextTryMs: 0, failures: this.knownFailures.get(target.node)?.failures ?? 0, life: target.registeredRevision ?? lifeOf(view, target.node) };
      this.attempts.set(target.node, a);
      a.target = target;
      if (a.running || a.lifeGone !== undefined || now < a.nextTryMs) continue;
      const claim = view.fenceClaims.get(target.node);
      if (claim && claim.createRevision !== a.claimRevision) {
        if (claim.by !== this.me) {
          a.claimRevision = undefined; // another host fences; its record (or its death) comes through the watch
          continue;
        }
        a.claimRevision = claim.createRevision; // ours, from an attempt whose outcome we did not learn
      } else if (!claim && a.claimRevision !== undefined && view.revision >= a.claimRevision) {
        a.claimRevision = undefined; // gone with a lease we lost meanwhile
      }
      this.run(a, config, leaseId, view.fences.get(target.node)?.modRevision ?? 0);
    }
  }

  /** True (and the claim dropped, with an event) when the victim registered again since this attempt began. */
  private lifeChanged(a: Attempt): boolean {
    const { node, why } = a.target;
    const now = this.view ? lifeOf(this.view, node) : a.life;
    if (!isNewLife(a.life, now)) return false;
    a.lifeGone = `${node} registered again since its fence was claimed (a new life, registered at revision ${now}): not fencing it for the earlier life's incident`;
    this.log.warn({ node, why, fromRevision: a.life, toRevision: now, reason: a.lifeGone, cause: 'fence-victim-restarted' }, 'fence dropped');
    if (a.claimRevision !== undefined) void this.store.dropFenceClaim(node, a.claimRevision);
    a.claimRevision = undefined;
    for (const set of a.target.sets) void this.events.append({ set, what: 'fence-dropped', cause: 'fence-victim-restarted', reason: a.lifeGone });
    return true;
  }

  private noteFailures(node: string, failures: number, fenceRevision: number): void {
    const k = this.knownFailures.get(node);
    if (k && k.failures > failures) return;
    this.knownFailures.set(node, { failures, atMs: this.clock.monotonicMs(), fenceRevision });
  }

  private run(a: Attempt, config: ClusterConfig, leaseId: string, fenceModRevision: number): void {
    const { node, why, reason } = a.target;
    const device = fenceDeviceFor(config, node);
    if (!device) return;
    const action = configuredFenceAction(device.params);
    if (!action.ok) {
      a.lastFailure = action.reason;
      a.nextTryMs = this.clock.monotonicMs() + MAX_RETRY_MS;
      return;
    }
    a.running = true;
    void (async () => {
      try {
        if (this.lifeChanged(a)) return;
        if (a.claimRevision === undefined) {
          // The claim compares the life as the view shows it (0: no node key, e.g. the old life's
          // key went with its lease): a registration the view has not shown yet rejects it.
          const life = this.view ? lifeOf(this.view, node) : a.life;
          const claim = await this.store.claimFence(node, this.me, leaseId, { why, reason, atWallMs: this.clock.wallMs() }, fenceModRevision, life);
          if (claim.status !== 'committed') {
            a.nextTryMs = this.clock.monotonicMs() + (claim.status === 'rejected' ? CLAIM_LOST_RETRY_MS : FIRST_RETRY_MS);
            return;
          }
          a.claimRevision = claim.revision;
          a.claimedAtMs = this.clock.monotonicMs();
        }
        if (this.lifeChanged(a)) return;
        this.log.warn({ node, device: device.name, action: action.value, why, reason, cause: fenceCause(why) }, 'fencing');
        const outcome = await fenceNode(device, node, action.value);
        agentMetrics.fenceCall(device.name, outcome.status, outcome.durationMs);
        if (outcome.status !== 'fenced') {
          a.failures++;
          a.lastFailure = `fencing ${node} through ${device.name} ${outcome.status === 'timed-out' ? 'timed out' : 'failed'}: ${outcome.reason}`;
          const backoffMs = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (a.failures - 1));
          a.nextTryMs = this.clock.monotonicMs() + backoffMs;
          this.noteFailures(node, a.failures, fenceModRevision);
          this.log.error({ node, why, reason: a.lastFailure, cause: 'fence-failed', retryInMs: backoffMs }, 'fence failed');
          void this.store.updateFenceClaim(node, a.claimRevision, { by: this.me, why, reason, lastFailure: a.lastFailure, failures: a.failures, atWallMs: this.clock.wallMs() }, leaseId);
          for (const set of a.target.sets) void this.events.append({ set, what: 'fence-failed', cause: 'fence-failed', reason: `${a.lastFailure}; retrying in ${Math.round(backoffMs / 1000)}s` });
          return;
        }
        const how = deviceFenceHow(device, action.value);
        const recorded = await this.store.recordClaimedFence(node, a.claimRevision, fenceRecordJson(how, this.me, this.clock.wallMs(), reason));
        this.log.warn({ node, how, why, cause: fenceCause(why), durationMs: Math.round(outcome.durationMs), recorded: recorded.status }, 'fenced');
        if (recorded.status !== 'committed') {
          // The claim went with our lease, or the answer was lost: look again with a fresh view.
          a.claimRevision = undefined;
          a.nextTryMs = this.clock.monotonicMs() + FIRST_RETRY_MS;
          return;
        }
        this.attempts.delete(node);
        if (a.claimedAtMs !== undefined) agentMetrics.fenced(a.target.sets, why, this.clock.monotonicMs() - a.claimedAtMs);
        const revoked = a.target.leaseId !== undefined ? await this.store.revokeLease(a.target.leaseId) : undefined;
        if (revoked) this.log.warn({ node, leaseId: a.target.leaseId, revoked }, 'fenced host lease revoked');
        for (const set of a.target.sets) {
          void this.events.append({ set, what: 'fenced', cause: fenceCause(why), reason: `${node} fenced by ${this.me}: ${how} (${Math.round(outcome.durationMs)}ms) because ${reason}` });
        }
      } finally {
        a.running = false;
        this.onDone();
      }
    })();
  }
}
