// The agent's Prometheus metrics (GET /metrics on the `http.listen` endpoint): one registry per
// agent process, fed by a few one-line hooks in the shell (agent.ts, fencer.ts, the lease keeper's
// round-trip callback) and, at scrape time, by a snapshot of what the agent knows. Labels carry
// names only (node, set, resource, type, device, member): never parameters, credentials or reasons.
//
// Failover phases, as the new owner measures them on its monotonic clock, back to back:
//   acquire  decision to take the set -> ownership committed in etcd
//   gate     commit -> first start begins (watch round trip, takeover grace, fence-then-start)
//   start    first start begins -> last resource running
// so acquire + gate + start is exactly decision -> running. Alongside:
//   detection  last renewal of the lost lease -> the moment it was known gone: on the new owner,
//              the old owner's expiry as seen (the server expires a lease one TTL after the last
//              renewal it received, so that TTL is counted in); on an owner whose own lease fell
//              into doubt, last renewal -> doubt (cause `self-fence`);
//   fence      claim -> fence recorded (overlaps gate: the gate waits for it);
//   stop, handover  on the old owner of a planned move or a failure move: first stop -> all
//              stopped, all stopped -> release committed.
import { readFile } from 'node:fs/promises';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ClusterView, SetAction } from '../core/types.js';
import type { ActionResult } from '../ocf/runner.js';
import { baseSetName } from '../core/clones.js';
import { systemClock } from '../ports/clock.js';
import type { SlotsReport } from './action-slots.js';

export type TakeoverCause = 'initial' | 'host-lost' | 'fenced' | 'released' | 'switchover' | 'move' | 'monitor-failure' | 'self-fence' | 'stop-failed';
export type Phase = 'detection' | 'fence' | 'acquire' | 'gate' | 'start' | 'stop' | 'handover';

const SET_STATES = ['running', 'starting', 'stopping', 'stopped', 'failed', 'blocked', 'maintenance'] as const;
/** Failover phases span ~1 ms (an acquire) to a minute (a long grace or fence). */
const PHASE_BUCKETS_SEC = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120];
const RTT_BUCKETS_SEC = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
const ACTION_BUCKETS_SEC = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];

/** What the agent knows at scrape time (built by HostAgent.metricsSnapshot). */
export interface AgentSnapshot {
  node: string;
  lease: { grantedTtlSec: number; validForMs: number; sinceRenewalMs: number; sound: boolean } | null;
  watchdogArmed: boolean;
  sets: {
    set: string;
    /** The owner as this host sees it. */
    owner: string | null;
    /** Only the owner reports state, token, fail counts (other hosts' view would be stale). */
    ownedHere: boolean;
    /** A resource of the set may run here. */
    activeHere: boolean;
    state: string;
    token: number | null;
    resources: { id: string; failCount: number }[];
    bans: number;
  }[];
  /** The host's action slots (limit, running, queued, overloaded). */
  actions?: SlotsReport;
  /** Event-loop delay: the last window's p99 and max, and the worst since start (ms). */
  loopDelay?: { p99Ms: number; maxMs: number; worstMs: number };
}

interface Takeover {
  cause: TakeoverCause;
  decidedMs: number;
  committedMs?: number;
  firstStartMs?: number;
}

export class AgentMetrics {
  readonly registry = new Registry();
  private snapshot: (() => AgentSnapshot) | null = null;
  private version = 'unknown';
  private readonly takeovers = new Map<string, Takeover>();
  /** Stops on the way out, until the release: timed as `stop` and `handover` once the release says why. */
  private readonly releases = new Map<string, { firstStopMs: number; stoppedMs?: number }>();
  /** When this host saw each set's owner key vanish without a release (monotonic ms). */
  private readonly ownerGoneSeenMs = new Map<string, number>();
  private lastOwners = new Map<string, string>();
  private leaseSound = false;
  /** The etcd member (gRPC peer) that answered the last lease keepalive. */
  private etcdMember: string | null = null;

  private readonly phase = new Histogram({
    name: 'hactl_failover_phase_seconds',
    help: 'Duration of each failover phase (detection, fence, acquire, gate, start; stop, handover on the old owner), by set and cause',
    labelNames: ['set', 'cause', 'phase'],
    buckets: PHASE_BUCKETS_SEC,
    registers: [this.registry],
  });
  private readonly takeover = new Histogram({
    name: 'hactl_takeover_seconds',
    help: 'Decision to take a set -> all its resources running, on the new owner (acquire + gate + start)',
    labelNames: ['set', 'cause'],
    buckets: PHASE_BUCKETS_SEC,
    registers: [this.registry],
  });
  private readonly keepaliveRtt = new Histogram({
    name: 'hactl_lease_keepalive_rtt_seconds',
    help: 'Lease keepalive round trip (request sent -> etcd answered)',
    buckets: RTT_BUCKETS_SEC,
    registers: [this.registry],
  });
  private readonly doubts = new Counter({
    name: 'hactl_lease_doubts_total',
    help: 'Times the lease fell into doubt (not renewed within TTL - fenceMargin, or lost): this host self-fenced',
    registers: [this.registry],
  });
  private readonly actionDuration = new Histogram({
    name: 'hactl_ocf_action_duration_seconds',
    help: 'Resource agent action duration, by resource type and action',
    labelNames: ['type', 'action'],
    buckets: ACTION_BUCKETS_SEC,
    registers: [this.registry],
  });
  private readonly actionResults = new Counter({
    name: 'hactl_ocf_action_results_total',
    help: 'Resource agent action results: the OCF exit code (rc), or timed-out, aborted, spawn-failed',
    labelNames: ['type', 'action', 'result'],
    registers: [this.registry],
  });
  private readonly fenceCalls = new Counter({
    name: 'hactl_fence_device_calls_total',
    help: 'Fence device calls made by this host, by device and outcome (fenced, failed, timed-out)',
    labelNames: ['device', 'outcome'],
    registers: [this.registry],
  });
  private readonly fenceCallDuration = new Histogram({
    name: 'hactl_fence_device_call_seconds',
    help: 'Fence device call duration, by device',
    labelNames: ['device'],
    buckets: ACTION_BUCKETS_SEC,
    registers: [this.registry],
  });

  constructor() {
    const snap = (): AgentSnapshot | null => this.snapshot?.() ?? null;
    const reg = [this.registry];
    new Gauge({
      name: 'hactl_agent_info',
      help: 'Always 1; the agent version and node as labels',
      labelNames: ['version', 'node'],
      registers: reg,
      collect: () => {
        const s = snap();
        if (s) this.gaugeOf('hactl_agent_info').set({ version: this.version, node: s.node }, 1);
      },
    });
    new Gauge({
      name: 'hactl_lease_granted_ttl_seconds',
      help: 'TTL etcd granted this host lease (0: no lease)',
      registers: reg,
      collect: () => this.gaugeOf('hactl_lease_granted_ttl_seconds').set(snap()?.lease?.grantedTtlSec ?? 0),
    });
    new Gauge({
      name: 'hactl_lease_remaining_seconds',
      help: 'Time the lease is certainly still ours (from the send time of the last answered keepalive); negative once past',
      registers: reg,
      collect: () => this.gaugeOf('hactl_lease_remaining_seconds').set((snap()?.lease?.validForMs ?? 0) / 1000),
    });
    new Gauge({
      name: 'hactl_lease_sound',
      help: '1 while the lease is sound (renewed within TTL - fenceMargin): this host may run sets',
      registers: reg,
      collect: () => this.gaugeOf('hactl_lease_sound').set(snap()?.lease?.sound ? 1 : 0),
    });
    new Gauge({
      name: 'hactl_etcd_member_in_use',
      help: '1 for the etcd member the lease keepalives go to',
      labelNames: ['member'],
      registers: reg,
      collect: () => {
        const g = this.gaugeOf('hactl_etcd_member_in_use');
        g.reset();
        const member = this.etcdMember;
        if (member) g.set({ member }, 1);
      },
    });
    new Gauge({
      name: 'hactl_watchdog_armed',
      help: '1 when a hardware watchdog is armed and fed by this agent',
      registers: reg,
      collect: () => this.gaugeOf('hactl_watchdog_armed').set(snap()?.watchdogArmed ? 1 : 0),
    });
    new Gauge({
      name: 'hactl_set_state',
      help: 'The set state as its owner reports it: one series per state, 1 for the current one',
      labelNames: ['set', 'state'],
      registers: reg,
      collect: () => {
        const g = this.gaugeOf('hactl_set_state');
        g.reset();
        for (const s of snap()?.sets ?? []) {
          if (!s.ownedHere) continue;
          for (const state of SET_STATES) g.set({ set: s.set, state }, s.state === state ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'hactl_set_owner',
      help: '1 for the node that owns the set, as this host sees it',
      labelNames: ['set', 'owner'],
      registers: reg,
      collect: () => {
        const g = this.gaugeOf('hactl_set_owner');
        g.reset();
        for (const s of snap()?.sets ?? []) if (s.owner) g.set({ set: s.set, owner: s.owner }, 1);
      },
    });
    new Gauge({
      name: 'hactl_set_fencing_token',
      help: 'The fencing token (owner key create revision) of a set this host owns',
      labelNames: ['set'],
      registers: reg,
      collect: () => {
        const g = this.gaugeOf('hactl_set_fencing_token');
        g.reset();
        for (const s of snap()?.sets ?? []) if (s.ownedHere && s.token !== null) g.set({ set: s.set }, s.token);
      },
    });
    new Gauge({
      name: 'hactl_resource_fail_count',
      help: 'Failures of a resource on its owner since the last cleanup (start, monitor)',
      labelNames: ['set', 'resource'],
      registers: reg,
      collect: () => {
        const g = this.gaugeOf('hactl_resource_fail_count');
        g.reset();
        for (const s of snap()?.sets ?? []) if (s.ownedHere) for (const r of s.resources) g.set({ set: s.set, resource: r.id }, r.failCount);
      },
    });
    new Gauge({
      name: 'hactl_action_limit',
      help: 'Resource actions this host runs at once at most (actionLimit)',
      registers: reg,
      collect: () => this.gaugeOf('hactl_action_limit').set(snap()?.actions?.limit ?? 0),
    });
    new Gauge({
      name: 'hactl_actions_running',
      help: 'Resource actions running now on this host',
      registers: reg,
      collect: () => this.gaugeOf('hactl_actions_running').set(snap()?.actions?.running ?? 0),
    });
    new Gauge({
      name: 'hactl_actions_queued',
      help: 'Resource actions waiting for one of the action slots on this host',
      registers: reg,
      collect: () => this.gaugeOf('hactl_actions_queued').set(snap()?.actions?.queued ?? 0),
    });
    new Gauge({
      name: 'hactl_overloaded',
      help: '1 while this host sheds work (a long action queue): monitors delayed, no new sets taken',
      registers: reg,
      collect: () => this.gaugeOf('hactl_overloaded').set(snap()?.actions?.overloaded ? 1 : 0),
    });
    new Gauge({
      name: 'hactl_event_loop_delay_seconds',
      help: 'How late the agent event loop ran: p99 and max of the last 5 s window (quantile 0.99, 1)',
      labelNames: ['quantile'],
      registers: reg,
      collect: () => {
        const d = snap()?.loopDelay;
        const g = this.gaugeOf('hactl_event_loop_delay_seconds');
        g.set({ quantile: '0.99' }, (d?.p99Ms ?? 0) / 1000);
        g.set({ quantile: '1' }, (d?.maxMs ?? 0) / 1000);
      },
    });
    new Gauge({
      name: 'hactl_event_loop_delay_max_seconds',
      help: 'The largest event-loop delay since the agent started',
      registers: reg,
      collect: () => this.gaugeOf('hactl_event_loop_delay_max_seconds').set((snap()?.loopDelay?.worstMs ?? 0) / 1000),
    });
    new Gauge({
      name: 'hactl_set_bans',
      help: 'Bans in force for the set (operator bans and failure bans), as this host sees them',
      labelNames: ['set'],
      registers: reg,
      collect: () => {
        const g = this.gaugeOf('hactl_set_bans');
        g.reset();
        for (const s of snap()?.sets ?? []) g.set({ set: s.set }, s.bans);
      },
    });
  }

  /** The agent's snapshot source, and its version (read once, off the event loop's hot path). */
  async attach(snapshot: () => AgentSnapshot): Promise<void> {
    this.snapshot = snapshot;
    try {
      const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
      this.version = pkg.version ?? 'unknown';
    } catch {
      // an unusual install layout: the version label says unknown
    }
  }

  async scrape(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }

  // ---- hooks --------------------------------------------------------------------------------

  keepaliveAnswered(rttMs: number, peer: string): void {
    this.keepaliveRtt.observe(rttMs / 1000);
    this.etcdMember = peer || null;
  }

  /**
   * Called at every reconciliation with whether the lease is sound. A fall into doubt counts once
   * and observes detection (last renewal -> doubt) for each set still active here.
   */
  leaseSoundness(sound: boolean): void {
    if (this.leaseSound && !sound) {
      this.doubts.inc();
      const s = this.snapshot?.();
      const sinceRenewalMs = s?.lease?.sinceRenewalMs;
      if (s && sinceRenewalMs !== undefined) for (const set of s.sets) if (set.activeHere) this.observePhase(set.set, 'self-fence', 'detection', sinceRenewalMs);
    }
    this.leaseSound = sound;
  }

  /** A new view: notes when an owner key vanished without a release (an expiry or a revoked lease). */
  viewChanged(view: ClusterView): void {
    const owners = new Map([...view.owners].map(([set, o]) => [set, o.node]));
    for (const [set] of this.lastOwners) {
      if (owners.has(set)) continue;
      const holder = view.holders.get(set);
      if (holder && !holder.released) this.ownerGoneSeenMs.set(set, now());
    }
    for (const set of owners.keys()) this.ownerGoneSeenMs.delete(set);
    this.lastOwners = owners;
  }

  /** This host decided to take `set` (about to write the acquisition). */
  takeoverDecided(set: string, view: ClusterView, action: Extract<SetAction, { kind: 'acquire' }>, leaseTtlMs: number): void {
    const cause = takeoverCause(set, view, action);
    const decidedMs = now();
    this.takeovers.set(set, { cause, decidedMs });
    this.releases.delete(set); // a stop that never led to a release (self-fence) is over
    const goneMs = this.ownerGoneSeenMs.get(set);
    if (cause === 'host-lost' && goneMs !== undefined) this.observePhase(set, cause, 'detection', decidedMs - goneMs + leaseTtlMs);
  }

  takeoverCommitted(set: string, committed: boolean): void {
    const t = this.takeovers.get(set);
    if (!t) return;
    if (!committed) {
      this.takeovers.delete(set);
      return;
    }
    t.committedMs = now();
    this.observePhase(set, t.cause, 'acquire', t.committedMs - t.decidedMs);
  }

  /** A start of `set`'s resource `index` begins. */
  startBegins(set: string, index: number): void {
    this.releases.delete(set); // stops that led to no release (restart in place) are not a move
    const t = this.takeovers.get(set);
    if (!t || t.committedMs === undefined || t.firstStartMs !== undefined || index !== 0) return;
    t.firstStartMs = now();
    this.observePhase(set, t.cause, 'gate', t.firstStartMs - t.committedMs);
  }

  /** The last resource of `set` is running (or a start failed: the takeover ends unmeasured). */
  startEnded(set: string, running: boolean): void {
    const t = this.takeovers.get(set);
    if (!t || t.firstStartMs === undefined) return;
    this.takeovers.delete(set);
    if (!running) return;
    const endMs = now();
    this.observePhase(set, t.cause, 'start', endMs - t.firstStartMs);
    this.takeover.observe({ set, cause: t.cause }, (endMs - t.decidedMs) / 1000);
  }

  /** A stop of one of `set`'s resources begins (the first one starts the clock). */
  stopBegins(set: string): void {
    if (!this.releases.has(set)) this.releases.set(set, { firstStopMs: now() });
  }

  /** The first resource of `set` stopped: everything is stopped. */
  stopEnded(set: string): void {
    const r = this.releases.get(set);
    if (r && r.stoppedMs === undefined) r.stoppedMs = now();
  }

  /** The release of `set` was committed (the hand-over is done), for `cause`. */
  released(set: string, cause: TakeoverCause): void {
    const r = this.releases.get(set);
    this.releases.delete(set);
    if (r?.stoppedMs === undefined) return;
    this.observePhase(set, cause, 'stop', r.stoppedMs - r.firstStopMs);
    this.observePhase(set, cause, 'handover', now() - r.stoppedMs);
  }

  /**
   * A fence for `sets` was recorded `durationMs` after its claim. Cause: `fenced` for a suspected
   * owner (fast fenced takeover), `host-lost` for fence-then-start after an expiry.
   */
  fenced(sets: readonly string[], why: string, durationMs: number): void {
    const cause: TakeoverCause = why === 'suspected' ? 'fenced' : why === 'gate' ? 'host-lost' : 'stop-failed';
    for (const set of sets) this.observePhase(set, cause, 'fence', durationMs);
  }

  fenceCall(device: string, outcome: string, durationMs: number): void {
    this.fenceCalls.inc({ device, outcome });
    this.fenceCallDuration.observe({ device }, durationMs / 1000);
  }

  action(type: string, action: string, result: ActionResult): void {
    this.actionDuration.observe({ type, action }, result.durationMs / 1000);
    this.actionResults.inc({ type, action, result: result.status === 'exited' ? String(result.rc) : result.status });
  }

  private observePhase(set: string, cause: TakeoverCause, phase: Phase, ms: number): void {
    this.phase.observe({ set, cause, phase }, Math.max(0, ms) / 1000);
  }

  private gaugeOf(name: string): Gauge {
    return this.registry.getSingleMetric(name) as Gauge;
  }
}

/** Why this host takes the set, from what etcd shows at the decision. */
export function takeoverCause(set: string, view: ClusterView, action: Extract<SetAction, { kind: 'acquire' }>): TakeoverCause {
  const holder = view.holders.get(set);
  if (!holder) return 'initial';
  if (action.clearsIntent !== undefined) return 'move';
  if (holder.released) {
    if (holder.handoffTo !== undefined) return 'switchover';
    // A failure move bans the host it left (onFailure.banFor); an operator ban is a hand-over.
    const ban = view.bans.get(baseSetName(set))?.get(holder.node);
    return ban && ban.untilWallMs > systemClock.wallMs() ? 'monitor-failure' : 'released';
  }
  const fence = view.fences.get(holder.node);
  return fence && fence.modRevision > holder.modRevision ? 'fenced' : 'host-lost';
}

/** Why an owner releases its set: a planned hand-over, a resource failure, or anything else. */
export function releaseCause(action: Extract<SetAction, { kind: 'release' }>, moveAway: boolean): TakeoverCause {
  if (moveAway) return 'monitor-failure';
  return action.handoffTo !== undefined ? 'switchover' : 'released';
}

function now(): number {
  return systemClock.monotonicMs();
}

/** The agent process's metrics (one agent per process). */
export const agentMetrics = new AgentMetrics();
