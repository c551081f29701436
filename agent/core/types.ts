// Types of the pure decision core. The core never performs I/O, never reads a clock and never
// logs: time comes in as `nowMs` (monotonic) and `wallMs`, facts come in as a ClusterView (what
// etcd says) and a LocalSet (what this host's resources are doing), and a decision comes out with
// the reason a person will read in `hactl status` and the event history.
import type { ClusterConfig } from '../config/cluster-schema.js';
import type { Cause } from './causes.js';

export interface NodeRecord {
  name: string;
  leaseId: string;
  /** Wall-clock ms when the agent registered. */
  startedAtWallMs: number;
  /** Create revision of the node key: one life of the agent (a re-registration changes it). */
  registeredRevision: number;
}

export interface OwnerRecord {
  set: string;
  node: string;
  leaseId: string;
  /** The owner key's create revision: the fencing token. */
  token: number;
}

/**
 * A host that may still run a set: it lost the set by lease expiry and has not been seen to stop.
 * A fence of `node` recorded after `afterRevision` settles it; so does the takeover grace.
 */
export interface Unsettled {
  node: string;
  afterRevision: number;
  /**
   * The takeover grace this host's own configuration needed (its stop timeouts minus fenceMargin),
   * as it recorded when it acquired the set: the grace follows the spec the old owner ran, not the
   * new owner's current configuration.
   */
  graceMs?: number;
  /**
   * A stop failed on this host: its resources are in an unknown state. Only a recorded fence (or an
   * operator's `hactl fence NODE --confirm-down`) settles it — never a grace, whatever
   * `requireFencing` says.
   */
  stopFailed?: boolean;
}

/** Who last acquired a set, and whether it let go cleanly (see agent/etcd/keys.ts). */
export interface HolderRecord {
  node: string;
  released: boolean;
  /**
   * Hosts that may still run the set, carried from owner to owner until a start proves them
   * settled: a release before the takeover gate was passed, a re-acquisition, or an agent restart
   * must not forget them (all three were found by the simulator).
   */
  unsettled: Unsettled[];
  /** A planned switchover names the node that takes over next. */
  handoffTo?: string;
  /** A fatal failure (OCF rc 6) stops the set everywhere until `hactl cleanup`. */
  failed?: string;
  /** The takeover grace the holder's configuration of the set needs (see Unsettled.graceMs). */
  graceMs?: number;
  /** The holder (still the owner) failed to stop the set: only a fence settles it (see Unsettled). */
  stopFailed?: boolean;
  /** Revision of the acquisition or release that wrote this record. */
  modRevision: number;
}

export interface BanRecord {
  untilWallMs: number;
  reason: string;
}

export interface FenceRecord {
  node: string;
  how: string;
  atWallMs: number;
  modRevision: number;
}

/**
 * A host's claim to fence `node` (key bound to the claimer's lease): only the claimer runs a fence
 * device against `node`, so one incident gets one fence however many hosts could act.
 */
export interface FenceClaim {
  by: string;
  createRevision: number;
  /** The claimer's last failed attempt, when its device failed (it retries with backoff). */
  lastFailure?: string;
  /** How many attempts failed so far: a host that takes the claim over continues the backoff. */
  failures?: number;
}

/** A host whose stop failed asks its peers to fence it (the key lives as long as its lease). */
export interface FenceRequest {
  set: string;
  reason: string;
  leaseId: string;
  modRevision: number;
}

export interface FailoverIntent {
  to?: string;
  modRevision: number;
}

/** `hactl cleanup SET [RESOURCE]`: each agent acts once per generation (the key's mod revision). */
export interface CleanupIntent {
  resource?: string;
  modRevision: number;
}

/** Everything the core knows about the cluster, as read from etcd at `revision`. */
export interface ClusterView {
  revision: number;
  config: ClusterConfig | null;
  nodes: ReadonlyMap<string, NodeRecord>;
  /** Every node that ever joined, online or not. */
  members: ReadonlySet<string>;
  owners: ReadonlyMap<string, OwnerRecord>;
  holders: ReadonlyMap<string, HolderRecord>;
  failoverIntents: ReadonlyMap<string, FailoverIntent>;
  cleanups: ReadonlyMap<string, CleanupIntent>;
  /** set -> node -> ban */
  bans: ReadonlyMap<string, ReadonlyMap<string, BanRecord>>;
  fences: ReadonlyMap<string, FenceRecord>;
  fenceClaims: ReadonlyMap<string, FenceClaim>;
  fenceRequests: ReadonlyMap<string, FenceRequest>;
  standby: ReadonlySet<string>;
  maintenance: { cluster: boolean; sets: ReadonlySet<string> };
  /** Sets an operator disabled (`hactl disable`): stopped everywhere until `hactl enable`. Absent: none. */
  disabled?: ReadonlySet<string>;
}

/** What a resource is doing on this host, as far as this agent knows. */
export type ResourcePhase = 'stopped' | 'running' | 'unknown';

/** A recorded failure that makes the set leave this host. */
export interface MoveAway {
  reason: string;
  /** `start-failed` or `monitor-failed`: the release and its event carry it. */
  cause: Cause;
  /** Ban this host for the set's `banFor` (start failure, hard error, too many restarts). */
  ban: boolean;
  /** OCF rc 6: stop everywhere until an operator runs `hactl cleanup`. */
  fatal: boolean;
}

/** This host's runtime state of one service set, kept by the shell from action results. */
export interface LocalSet {
  /** One phase per configured resource, in configuration order. */
  resources: ResourcePhase[];
  /** The fencing token under which the running resources were started (null: none running). */
  token: number | null;
  /**
   * The owner key (token) this host knows it holds: set by its own acquisition, or adopted from the
   * holder record when the view shows this host as owner of a token it has no memory of (an acquire
   * whose reply was lost, an agent restart). Adoption takes the takeover gate up from that record.
   */
  heldToken: number | null;
  /** Start no exclusive resource before this monotonic time (takeover grace after an expiry). */
  graceUntilMs: number | null;
  /** After an unplanned takeover: the hosts that may still run the set (fence or grace first). */
  unsettled: Unsettled[];
  /** A stop failed: the resource state is unknown; never release ownership (SPEC §4). */
  stopFailure: string | null;
  /** Leave this host: stop everything, then release (with a ban). */
  moveAway: MoveAway | null;
  /** Monotonic times of recent failures, for `onFailure.restarts` within `onFailure.window`. */
  failureTimesMs: number[];
  /** True once this agent has probed the set's resources after its own start. */
  probed: boolean;
}

export interface LeaseState {
  leaseId: string;
  validUntilMs: number;
}

export type SetState = 'running' | 'starting' | 'stopping' | 'stopped' | 'failed' | 'blocked' | 'maintenance';

export type SetAction =
  | { kind: 'none' }
  | { kind: 'acquire'; dirty: boolean; holderRevision: number; unsettled: Unsettled[]; clearsIntent?: number }
  | { kind: 'start'; index: number }
  | { kind: 'stop'; index: number }
  | { kind: 'release'; handoffTo?: string; ban?: BanRecord; failed?: string }
  | { kind: 'clear-intent' }
  | { kind: 'wait'; untilMs: number };

/** A decision: what to do next for one set, and why: a stable code, and words a person can read. */
export interface SetDecision {
  action: SetAction;
  reason: string;
  /** Why, for programs (the availability report reads it from the events): never reworded. */
  cause: Cause;
  /** The set's state as this host reports it (meaningful when this host owns the set). */
  state: SetState;
  /** The takeover gate waits for these hosts to be fenced (fence-then-start): the owner fences them. */
  awaitsFence?: string[];
}

export interface DecideInput {
  me: string;
  nowMs: number;
  wallMs: number;
  lease: LeaseState | null;
  view: ClusterView;
  config: ClusterConfig;
  set: string;
  local: LocalSet;
}

export function emptyLocalSet(resourceCount: number): LocalSet {
  return {
    resources: new Array<ResourcePhase>(resourceCount).fill('stopped'),
    token: null,
    heldToken: null,
    graceUntilMs: null,
    unsettled: [],
    stopFailure: null,
    moveAway: null,
    failureTimesMs: [],
    probed: false,
  };
}
