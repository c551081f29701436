// The data behind `hactl status` (SPEC §7), read from etcd in one range read. For a set that is
// not running, the reason comes from its owner's status record, or — when it has no owner — from
// the same placement code the agents run, so the CLI explains exactly what the agents decide.
import type { Etcd3 } from 'etcd3';
import { placeSet, noEligibleReason } from '../agent/core/placement.js';
import type { ClusterView } from '../agent/core/types.js';
import { expandClones, instancesOf } from '../agent/core/clones.js';
import type { ClusterConfig, ServiceSetConfig } from '../agent/config/cluster-schema.js';
import type { Keys } from '../agent/etcd/keys.js';
import { ViewBuilder, type KvEntry } from '../agent/etcd/view.js';
import { isCause, type Cause } from '../agent/core/causes.js';

export interface ResourceStatus {
  id: string;
  type: string;
  state: string;
  failCount: number;
  lastReason?: string;
}

export interface SetStatus {
  name: string;
  mode: 'singleton' | 'clone';
  state: 'running' | 'starting' | 'stopping' | 'stopped' | 'failed' | 'blocked' | 'maintenance' | 'stale' | 'disabled';
  node: string | null;
  /** Clone sets: the nodes running an instance. */
  nodes?: string[];
  /** Clone sets: each instance, as a singleton's status. */
  instances?: SetStatus[];
  since: string | null;
  fencingToken: number | null;
  reason?: string;
  /**
   * The cause code of `reason` (docs/operations.md "Cause codes"): the owner's last decision, or
   * what keeps the set from running. Absent when the status is stale, or the owner's agent wrote none.
   */
  cause?: Cause;
  /**
   * The owner's status record cannot be trusted (state `stale`): its owner has not been heard from
   * for `ageMs` (etcd outage, agent stopped), or is gone. `lastState` is what the record said.
   */
  stale?: { ageMs: number; lastState: string };
  /** Every ban in force on the set (operator bans and failure bans), by node name. */
  bans: BanStatus[];
  resources: ResourceStatus[];
}

export interface BanStatus {
  node: string;
  /** ISO 8601; null: until `hactl clear`. */
  until: string | null;
  reason: string;
  /** Set by an operator (`hactl ban`), not by a failure (`onFailure.banFor`). */
  operator: boolean;
}

export interface NodeStatus {
  name: string;
  state: 'online' | 'standby' | 'offline' | 'fenced';
  maintenance: boolean;
  sets: string[];
  /** The lease behind an online node's key, as etcd reports it (see addLeaseHealth); null when it could not be read. */
  lease?: NodeLease | null;
}

export interface NodeLease {
  id: string;
  /** The TTL etcd granted; etcd silently raises TTLs below 1.5 × its election timeout. */
  grantedTtlSeconds: number;
  /** Time left before etcd expires the lease, as of the read. */
  remainingMs: number;
}

/** A fence device and its last periodic check (`devices/<name>`, written by the agent on duty). */
export interface DeviceStatus {
  name: string;
  agent: string;
  /** The nodes it fences. */
  fences: string[];
  state: 'ok' | 'failed' | 'unchecked';
  reason?: string;
  checkedAt?: string;
  by?: string;
}

export interface ClusterStatus {
  cluster: string;
  revision: number;
  configRevision: number;
  /** timing.leaseTtl of the stored configuration (the TTL agents ask etcd for). */
  leaseTtlMs?: number;
  maintenance: boolean;
  nodes: NodeStatus[];
  sets: SetStatus[];
  devices: DeviceStatus[];
  problems: string[];
}

export async function readKeys(client: Etcd3, prefix: string): Promise<{ kvs: Map<string, KvEntry>; revision: number }> {
  const res = await client.getAll().prefix(prefix).exec();
  const kvs = new Map<string, KvEntry>();
  for (const kv of res.kvs) {
    const key = kv.key.toString();
    kvs.set(key, { key, value: kv.value.toString(), createRevision: Number(kv.create_revision), modRevision: Number(kv.mod_revision), lease: String(kv.lease) });
  }
  return { kvs, revision: Number(res.header.revision) };
}

export async function readView(client: Etcd3, keys: Keys): Promise<{ view: ClusterView; kvs: Map<string, KvEntry>; configRevision: number; problems: string[] }> {
  const { kvs, revision } = await readKeys(client, keys.prefix);
  const built = new ViewBuilder(keys.prefix).build(kvs, revision);
  return { view: built.view, kvs, configRevision: built.configRevision, problems: built.problems };
}

/** The status from a copy of the cluster's keys (a PrefixWatcher's), without another read. */
export function statusFromKvs(kvs: ReadonlyMap<string, KvEntry>, revision: number, keys: Keys, cluster: string, wallMs: number): ClusterStatus {
  const built = new ViewBuilder(keys.prefix).build(kvs, revision);
  return statusFromView(built.view, kvs, keys, cluster, built.configRevision, built.problems, wallMs);
}

export async function clusterStatus(client: Etcd3, keys: Keys, cluster: string, wallMs: number): Promise<ClusterStatus> {
  const { view, kvs, configRevision, problems } = await readView(client, keys);
  return statusFromView(view, kvs, keys, cluster, configRevision, problems, wallMs);
}

export function statusFromView(view: ClusterView, kvs: ReadonlyMap<string, KvEntry>, keys: Keys, cluster: string, configRevision: number, problems: string[], wallMs: number): ClusterStatus {
  const config = view.config;
  const expanded = config ? expandClones(config) : null;
  const sets: SetStatus[] = [];
  for (const [name, spec] of Object.entries(config?.serviceSets ?? {})) {
    if (spec.mode !== 'clone') {
      sets.push(instanceStatus(view, kvs, keys, expanded!, name, name, spec, wallMs));
      continue;
    }
    const instances = instancesOf(config!, name).map((i) => instanceStatus(view, kvs, keys, expanded!, i, name, spec, wallMs));
    const running = instances.filter((i) => i.state === 'running');
    const notRunning = instances.filter((i) => i.state !== 'running');
    const worst = notRunning.find((i) => i.state === 'failed' || i.state === 'blocked' || i.state === 'maintenance') ?? notRunning[0];
    sets.push({
      name,
      mode: 'clone',
      state: notRunning.length === 0 ? 'running' : running.length > 0 && !worst ? 'running' : (worst?.state ?? 'stopped'),
      node: null,
      nodes: running.map((i) => i.node!).sort(),
      since: null,
      fencingToken: null,
      ...(notRunning.length > 0 ? { reason: `${running.length} of ${instances.length} instances running; ` + notRunning.map((i) => `${i.name}: ${i.reason ?? i.state}`).join('; ') } : {}),
      ...(worst?.cause ? { cause: worst.cause } : {}),
      bans: bansOf(view, kvs, keys, name, wallMs),
      resources: running[0]?.resources ?? instances[0].resources,
      instances,
    });
  }
  if (!config) sets.push(...ownedSetsWithoutConfig(view, kvs, keys));
  const nodeNames = new Set<string>([...Object.keys(config?.nodes ?? {}), ...view.nodes.keys(), ...view.members]);
  const nodes: NodeStatus[] = [...nodeNames].sort().map((n) => {
    const online = view.nodes.has(n);
    const state: NodeStatus['state'] = !online ? (view.fences.has(n) ? 'fenced' : 'offline') : view.standby.has(n) ? 'standby' : 'online';
    return { name: n, state, maintenance: view.maintenance.cluster, sets: [...view.owners.values()].filter((o) => o.node === n).map((o) => o.set).sort() };
  });
  const devices: DeviceStatus[] = Object.entries(config?.fencing.devices ?? {}).map(([name, spec]) => {
    const checked = parseJson(kvs.get(keys.deviceHealth(name))?.value);
    const state = checked?.state === 'ok' || checked?.state === 'failed' ? checked.state : 'unchecked';
    return {
      name,
      agent: spec.agent,
      fences: Object.entries(config?.nodes ?? {}).filter(([, n]) => n.fence === name).map(([n]) => n).sort(),
      state,
      ...(state === 'failed' && typeof checked?.reason === 'string' ? { reason: checked.reason } : {}),
      ...(typeof checked?.atWallMs === 'number' ? { checkedAt: new Date(checked.atWallMs).toISOString() } : {}),
      ...(typeof checked?.by === 'string' ? { by: checked.by } : {}),
    };
  });
  return { cluster, revision: view.revision, configRevision, ...(config ? { leaseTtlMs: config.timing.leaseTtl } : {}), maintenance: view.maintenance.cluster, nodes, sets, devices, problems: [...problems] };
}

/** The status of a singleton set or of one clone instance (`name`); `base` names its config. */
function instanceStatus(view: ClusterView, kvs: ReadonlyMap<string, KvEntry>, keys: Keys, expanded: ClusterConfig, name: string, base: string, spec: ServiceSetConfig, wallMs: number): SetStatus {
  const owner = view.owners.get(name);
  const record = parseStatus(kvs.get(keys.status(name))?.value);
  const current = owner && record && record.fencingToken === owner.token && record.node === owner.node ? record : null;
  const stale = current && owner ? staleness(view, kvs, keys, owner, current, expanded.timing.leaseTtl, wallMs) : null;
  const resources: ResourceStatus[] = spec.resources.map((r, i) => {
    const rs = current?.resources?.[i];
    return { id: r.id, type: r.type, state: stale ? 'unknown' : (rs?.state ?? 'stopped'), failCount: rs?.failCount ?? 0, ...(rs?.lastReason ? { lastReason: rs.lastReason } : {}) };
  });
  let state: SetStatus['state'];
  let reason: string | undefined;
  let cause: Cause | undefined;
  if (stale) {
    state = 'stale';
    reason = `${stale.why}; it last reported ${current!.state}${current!.reason ? ` (${current!.reason})` : ''}`;
  } else if (view.maintenance.cluster || view.maintenance.sets.has(base)) {
    state = 'maintenance';
    reason = view.maintenance.cluster ? 'cluster-wide maintenance' : `maintenance of ${base}`;
    cause = 'maintenance';
  } else if (view.disabled?.has(base) && !owner) {
    state = 'disabled';
    reason = `disabled by an operator; hactl enable ${base} starts it again`;
    cause = 'disabled';
  } else if (owner) {
    state = (current?.state as SetStatus['state']) ?? 'starting';
    reason = current?.reason ?? (current ? banReason(view, expanded, name, owner.node, wallMs) : `owned by ${owner.node}; waiting for its first status`);
    if (isCause(current?.cause)) cause = current.cause;
  } else {
    const holder = view.holders.get(name);
    if (holder?.failed) {
      state = 'failed';
      reason = `${holder.failed}; run hactl cleanup ${base}`;
      cause = 'set-failed';
    } else {
      const blockedOn = pendingStopFailure(view, kvs, keys, name);
      if (blockedOn) {
        // A host that could not stop (or could not even run) the set's agent is blocked for it; it
        // writes no status record (it does not own the set), but its stop-failed event says why.
        state = 'blocked';
        reason = `stop failed on ${blockedOn.node}: ${blockedOn.reason}; what runs there is unknown, so ${name} starts nowhere until hactl cleanup ${base} on it (or a fence of ${blockedOn.node})`;
        cause = 'stop-failed';
      } else {
        state = 'stopped';
        const p = placeSet(view, expanded, name, wallMs);
        reason = p.ranked.length === 0 ? noEligibleReason(p) : `no owner; ${p.ranked[0]} should take it`;
        cause = p.ranked.length === 0 ? 'no-eligible-host' : 'waiting-for-host';
      }
    }
  }
  return {
    name,
    mode: spec.mode,
    state,
    node: owner?.node ?? null,
    since: current?.sinceWallMs ? new Date(current.sinceWallMs).toISOString() : null,
    fencingToken: owner?.token ?? null,
    ...(reason ? { reason } : {}),
    ...(cause ? { cause } : {}),
    ...(stale ? { stale: { ageMs: stale.ageMs, lastState: current!.state } } : {}),
    bans: bansOf(view, kvs, keys, base, wallMs),
    resources,
  };
}

/**
 * A status record is written by its owner only when something changes, so its age alone says
 * nothing; the owner's heartbeat (`aliveAtWallMs` in its node key, refreshed once per leaseTtl
 * while its lease is sound) does. The record is stale when the owner's node key is gone or belongs
 * to another life of its agent, or when neither the heartbeat nor the record's own state change
 * is more recent than 2 × leaseTtl + 2 s (the slack allows for clock skew between hosts). Right
 * after an etcd outage the agents' heartbeats are old: a record written before it (a set shown
 * running while its owner had stopped it) is shown as stale until the owner writes again.
 */
function staleness(view: ClusterView, kvs: ReadonlyMap<string, KvEntry>, keys: Keys, owner: { node: string; leaseId: string }, record: StoredStatus, leaseTtlMs: number, wallMs: number): { why: string; ageMs: number } | null {
  const node = view.nodes.get(owner.node);
  if (!node) return { why: `${owner.node} is offline: its status record is stale`, ageMs: record.sinceWallMs ? Math.max(0, wallMs - record.sinceWallMs) : 0 };
  if (node.leaseId !== owner.leaseId) return { why: `the status record is from an earlier run of ${owner.node}'s agent`, ageMs: record.sinceWallMs ? Math.max(0, wallMs - record.sinceWallMs) : 0 };
  const aliveAtWallMs = parseJson(kvs.get(keys.node(owner.node))?.value)?.aliveAtWallMs;
  if (typeof aliveAtWallMs !== 'number') return null; // an agent without a heartbeat (older version): cannot tell
  const lastSignMs = Math.max(aliveAtWallMs, record.sinceWallMs ?? 0);
  const ageMs = wallMs - lastSignMs;
  if (ageMs <= 2 * leaseTtlMs + 2000) return null;
  return { why: `${owner.node} has not been heard from for ${(ageMs / 1000).toFixed(1)} s (etcd unreachable from it, or its agent stuck): its status record is stale`, ageMs };
}

/**
 * With no readable configuration (none stored, or one this CLI cannot parse) the sets that are
 * owned are still shown, from their owners' status records: the agents may be running them on
 * their last good configuration, and a status that lists nothing would hide that.
 */
function ownedSetsWithoutConfig(view: ClusterView, kvs: ReadonlyMap<string, KvEntry>, keys: Keys): SetStatus[] {
  return [...view.owners.values()]
    .sort((a, b) => a.set.localeCompare(b.set))
    .map((owner) => {
      const record = parseStatus(kvs.get(keys.status(owner.set))?.value);
      const current = record && record.fencingToken === owner.token && record.node === owner.node ? record : null;
      const resources = (current?.resources ?? []).map((r) => ({ id: r.id ?? '?', type: r.type ?? '?', state: r.state, failCount: r.failCount, ...(r.lastReason ? { lastReason: r.lastReason } : {}) }));
      const reason = current?.reason ?? (current ? undefined : `owned by ${owner.node}; waiting for its first status`);
      return {
        name: owner.set,
        mode: 'singleton' as const,
        state: (current?.state as SetStatus['state'] | undefined) ?? 'starting',
        node: owner.node,
        since: current?.sinceWallMs ? new Date(current.sinceWallMs).toISOString() : null,
        fencingToken: owner.token,
        ...(reason ? { reason } : {}),
        resources,
        bans: [],
      };
    });
}

/**
 * An online host whose last word about `set` in the event history is a failed stop (no cleanup,
 * stop, start or acquisition by it since): it holds the set blocked although it does not own it.
 */
function pendingStopFailure(view: ClusterView, kvs: ReadonlyMap<string, KvEntry>, keys: Keys, set: string): { node: string; reason: string } | null {
  const prefix = keys.eventsPrefix();
  const last = new Map<string, { what: string; reason: string; atWallMs: number }>();
  for (const key of [...kvs.keys()].filter((k) => k.startsWith(prefix)).sort()) {
    const e = parseJson(kvs.get(key)?.value);
    if (!e || e.set !== set || typeof e.node !== 'string' || typeof e.what !== 'string') continue;
    if (['stop-failed', 'cleanup', 'stopped', 'running', 'acquired', 'released', 'handed-off'].includes(e.what)) last.set(e.node, { what: e.what, reason: String(e.reason ?? ''), atWallMs: Number(e.lastAtWallMs ?? e.atWallMs ?? 0) });
  }
  // Only from the host's current run: a restarted agent probes afresh and says so again if it must.
  for (const [node, e] of last) if (e.what === 'stop-failed' && e.atWallMs >= (view.nodes.get(node)?.startedAtWallMs ?? Infinity)) return { node, reason: e.reason };
  return null;
}

/** The bans in force on a set, by node; `until` null for a ban that lasts until `hactl clear`. */
function bansOf(view: ClusterView, kvs: ReadonlyMap<string, KvEntry>, keys: Keys, set: string, wallMs: number): BanStatus[] {
  const out: BanStatus[] = [];
  for (const [node, ban] of view.bans.get(set) ?? []) {
    if (ban.untilWallMs <= wallMs) continue;
    const stored = parseJson(kvs.get(keys.ban(set, node))?.value);
    // Beyond what a Date can show is the "until hactl clear" ban (see BAN_FOREVER_WALL_MS).
    const until = ban.untilWallMs >= 1e15 ? null : new Date(ban.untilWallMs).toISOString();
    out.push({ node, until, reason: ban.reason, operator: stored?.operator === true });
  }
  return out.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}

/**
 * For a set running on `ownerNode`, when bans decide where it runs: it has no node left to fail
 * over to, or it runs where it does because a node it prefers is banned. Undefined otherwise.
 */
function banReason(view: ClusterView, config: ClusterConfig, set: string, ownerNode: string, wallMs: number): string | undefined {
  const p = placeSet(view, config, set, wallMs);
  const banned = p.excluded.filter((e) => / banned( |$)/.test(e));
  if (banned.length === 0) return undefined;
  if (p.ranked.every((n) => n === ownerNode)) return `no node to fail over to: ${p.excluded.join(', ')}`;
  const prefer = config.serviceSets[set].prefer ?? [];
  const before = prefer.slice(0, Math.max(0, prefer.indexOf(ownerNode)));
  const bannedBefore = banned.filter((e) => before.includes(e.split(' ')[0]));
  return bannedBefore.length > 0 ? `runs on ${ownerNode}, not a preferred node: ${bannedBefore.join(', ')}` : undefined;
}

interface StoredStatus {
  node: string;
  state: string;
  reason?: string;
  /** Absent in records of agents before cause codes. */
  cause?: string;
  sinceWallMs?: number;
  fencingToken: number;
  resources?: { id?: string; type?: string; state: string; failCount: number; lastReason?: string }[];
}

function parseStatus(value: string | undefined): StoredStatus | null {
  return parseJson(value) as StoredStatus | null;
}

function parseJson(text: string | undefined): Record<string, unknown> | null {
  if (text === undefined) return null;
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * Lease health of the online nodes: one LeaseTimeToLive call per node (in parallel, 1 s deadline).
 * A granted TTL other than the configured leaseTtl is a problem worth a warning: etcd raised it
 * (election timeout too long for that TTL, install.md §4), or an owner kept its lease after a
 * leaseTtl change; failure detection then follows the granted TTL.
 */
export async function addLeaseHealth(client: Etcd3, status: ClusterStatus, kvs: ReadonlyMap<string, KvEntry>, keys: Keys): Promise<void> {
  const leaseTtlMs = status.leaseTtlMs;
  await Promise.all(
    status.nodes.map(async (n) => {
      const id = kvs.get(keys.node(n.name))?.lease;
      if (n.state === 'offline' || n.state === 'fenced' || !id || id === '0') return;
      try {
        const res = await client.leaseClient.leaseTimeToLive({ ID: id, keys: false }, { deadline: Date.now() + 1000 });
        const ttl = Number(res.TTL);
        n.lease = { id, grantedTtlSeconds: Number(res.grantedTTL), remainingMs: ttl > 0 ? ttl * 1000 : 0 };
        if (leaseTtlMs !== undefined && Number(res.grantedTTL) * 1000 !== leaseTtlMs) {
          // Two causes: etcd raised it, or the agent owns a set and keeps its lease (and TTL) until
          // it restarts; failure detection (and the fast fenced takeover) follows the granted TTL.
          status.problems.push(
            `${n.name}'s lease was granted ${res.grantedTTL}s, not timing.leaseTtl ${leaseTtlMs / 1000}s: an owner moves its keys to a lease with the new TTL within moments, and etcd raises TTLs below 1.5 × its --election-timeout (install.md §4); failures of ${n.name} are detected on the ${res.grantedTTL}s TTL`,
          );
        }
      } catch {
        n.lease = null;
      }
    }),
  );
}
