// Builds the core's ClusterView from the raw keys under the cluster prefix. Values that do not
// parse are skipped (and reported), never trusted: a hand-edited key must not crash an agent.
import { checkClusterConfig } from '../config/load-cluster.js';
import type { ClusterConfig } from '../config/cluster-schema.js';
import type { BanRecord, CleanupIntent, ClusterView, FailoverIntent, FenceClaim, FenceRecord, FenceRequest, HolderRecord, NodeRecord, OwnerRecord } from '../core/types.js';

export interface KvEntry {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  lease: string;
}

/** The stored form of the cluster configuration. */
export interface StoredConfig {
  yaml: string;
  appliedAtWallMs: number;
  appliedBy: string;
}

export interface ViewBuild {
  view: ClusterView;
  /** Keys whose values could not be read, with why. */
  problems: string[];
  configRevision: number;
  /**
   * Set when the stored configuration cannot be read and the view carries the last good one
   * instead (a builder that read a good one before: an agent's). Says why, for logs and status.
   */
  configProblem?: { revision: number; reason: string };
}

/** Parsing the config is the costly part; it is cached by the config key's mod revision. */
export class ViewBuilder {
  private cachedConfig: { modRevision: number; config: ClusterConfig | null; problem?: string } = { modRevision: -1, config: null };
  /**
   * The last configuration that parsed. A stored value this version cannot read (written by a
   * newer CLI, or edited by hand) must not make the agents retire every set: they keep running
   * what they run with this one, and say why, until a readable configuration is stored again.
   */
  private lastGood: { modRevision: number; config: ClusterConfig } | null = null;

  /**
   * Parsed values by key, kept while the key's mod revision is unchanged: a rebuild after one
   * change parses one value, not every key of the cluster again.
   */
  private readonly parsed = new Map<string, { modRevision: number; value: Record<string, unknown> | null }>();

  constructor(private readonly prefix: string) {}

  private parse(kv: KvEntry): Record<string, unknown> | null {
    const hit = this.parsed.get(kv.key);
    if (hit && hit.modRevision === kv.modRevision) return hit.value;
    let value: Record<string, unknown> | null = null;
    try {
      const v = JSON.parse(kv.value) as unknown;
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) value = v as Record<string, unknown>;
    } catch {
      value = null;
    }
    this.parsed.set(kv.key, { modRevision: kv.modRevision, value });
    return value;
  }

  build(kvs: ReadonlyMap<string, KvEntry>, revision: number): ViewBuild {
    const problems: string[] = [];
    const nodes = new Map<string, NodeRecord>();
    const owners = new Map<string, OwnerRecord>();
    const holders = new Map<string, HolderRecord>();
    const failoverIntents = new Map<string, FailoverIntent>();
    const cleanups = new Map<string, CleanupIntent>();
    const bans = new Map<string, Map<string, BanRecord>>();
    const fences = new Map<string, FenceRecord>();
    const fenceClaims = new Map<string, FenceClaim>();
    const fenceRequests = new Map<string, FenceRequest>();
    const standby = new Set<string>();
    const members = new Set<string>();
    const maintenanceSets = new Set<string>();
    let maintenanceCluster = false;
    const disabled = new Set<string>();
    let configEntry: KvEntry | undefined;

    for (const kv of kvs.values()) {
      const rel = kv.key.slice(this.prefix.length);
      const parts = rel.split('/');
      const json = (): Record<string, unknown> | null => {
        const v = this.parse(kv);
        if (v === null) problems.push(`${rel}: not a JSON object`);
        return v;
      };
      switch (parts[0]) {
        case 'config':
          if (parts.length === 1) configEntry = kv;
          break;
        case 'nodes': {
          const v = json();
          if (v && parts.length === 2) nodes.set(parts[1], { name: parts[1], leaseId: kv.lease, startedAtWallMs: Number(v.startedAtWallMs ?? 0), registeredRevision: kv.createRevision });
          break;
        }
        case 'members':
          if (parts.length === 2) members.add(parts[1]);
          break;
        case 'owners': {
          const v = json();
          if (v && parts.length === 2 && typeof v.node === 'string') {
            owners.set(parts[1], { set: parts[1], node: v.node, leaseId: kv.lease, token: kv.createRevision });
          }
          break;
        }
        case 'holders': {
          const v = json();
          if (v && parts.length === 2 && typeof v.node === 'string') {
            holders.set(parts[1], {
              node: v.node,
              released: v.released === true,
              handoffTo: typeof v.handoffTo === 'string' ? v.handoffTo : undefined,
              failed: typeof v.failed === 'string' ? v.failed : undefined,
              unsettled: Array.isArray(v.unsettled)
                ? (v.unsettled as unknown[])
                    .filter((u): u is { node: string; afterRevision: number; graceMs?: unknown; stopFailed?: unknown } => typeof u === 'object' && u !== null && typeof (u as { node?: unknown }).node === 'string')
                    .map((u) => ({
                      node: u.node,
                      afterRevision: Number(u.afterRevision ?? 0),
                      ...(typeof u.graceMs === 'number' ? { graceMs: u.graceMs } : {}),
                      ...(u.stopFailed === true ? { stopFailed: true } : {}),
                    }))
                : [],
              ...(typeof v.graceMs === 'number' ? { graceMs: v.graceMs } : {}),
              ...(v.stopFailed === true ? { stopFailed: true } : {}),
              modRevision: kv.modRevision,
            });
          }
          break;
        }
        case 'intents':
          if (parts[1] === 'failover' && parts.length === 3) {
            const v = json();
            if (v) failoverIntents.set(parts[2], { to: typeof v.to === 'string' ? v.to : undefined, modRevision: kv.modRevision });
          } else if (parts[1] === 'cleanup' && parts.length === 3) {
            const v = json();
            if (v) cleanups.set(parts[2], { resource: typeof v.resource === 'string' ? v.resource : undefined, modRevision: kv.modRevision });
          } else if (parts[1] === 'standby' && parts.length === 3) standby.add(parts[2]);
          else if (parts[1] === 'maintenance' && parts.length === 2) maintenanceCluster = true;
          else if (parts[1] === 'maintenance' && parts.length === 3) maintenanceSets.add(parts[2]);
          else if (parts[1] === 'disabled' && parts.length === 3) disabled.add(parts[2]);
          break;
        case 'bans': {
          const v = json();
          if (v && parts.length === 3) {
            const perSet = bans.get(parts[1]) ?? new Map<string, BanRecord>();
            perSet.set(parts[2], { untilWallMs: Number(v.untilWallMs ?? 0), reason: String(v.reason ?? 'banned') });
            bans.set(parts[1], perSet);
          }
          break;
        }
        case 'fences': {
          const v = json();
          if (v && parts.length === 2) {
            fences.set(parts[1], { node: parts[1], how: String(v.how ?? ''), atWallMs: Number(v.atWallMs ?? 0), modRevision: kv.modRevision });
          }
          break;
        }
        case 'fence-claims': {
          const v = json();
          if (v && parts.length === 2 && typeof v.by === 'string') fenceClaims.set(parts[1], { by: v.by, createRevision: kv.createRevision, lastFailure: typeof v.lastFailure === 'string' ? v.lastFailure : undefined, failures: typeof v.failures === 'number' ? v.failures : undefined });
          break;
        }
        case 'fence-requests': {
          const v = json();
          if (v && parts.length === 2) {
            fenceRequests.set(parts[1], { set: String(v.set ?? ''), reason: String(v.reason ?? 'stop failed'), leaseId: kv.lease, modRevision: kv.modRevision });
          }
          break;
        }
        default:
          break;
      }
    }

    // Forget the parsed values of keys that are gone (bounded by the keys that exist).
    if (this.parsed.size > kvs.size) for (const key of this.parsed.keys()) if (!kvs.has(key)) this.parsed.delete(key);
    let config: ClusterConfig | null = null;
    let configProblem: ViewBuild['configProblem'];
    if (configEntry) {
      if (this.cachedConfig.modRevision !== configEntry.modRevision) this.cachedConfig = parseStoredConfig(configEntry);
      config = this.cachedConfig.config;
      if (config) this.lastGood = { modRevision: configEntry.modRevision, config };
      else if (this.lastGood) {
        config = this.lastGood.config;
        configProblem = {
          revision: configEntry.modRevision,
          reason: `stored configuration (revision ${configEntry.modRevision}) cannot be read: ${this.cachedConfig.problem?.replace(/^config: /, '') ?? 'unknown'}; running with the last good configuration (revision ${this.lastGood.modRevision})`,
        };
      }
      if (this.cachedConfig.problem) problems.push(this.cachedConfig.problem);
    }
    return {
      view: { revision, config, nodes, members, owners, holders, failoverIntents, cleanups, bans, fences, fenceClaims, fenceRequests, standby, maintenance: { cluster: maintenanceCluster, sets: maintenanceSets }, disabled },
      problems,
      configRevision: configEntry?.modRevision ?? 0,
      ...(configProblem ? { configProblem } : {}),
    };
  }
}

function parseStoredConfig(kv: KvEntry): { modRevision: number; config: ClusterConfig | null; problem?: string } {
  let stored: StoredConfig;
  try {
    stored = JSON.parse(kv.value) as StoredConfig;
  } catch {
    return { modRevision: kv.modRevision, config: null, problem: 'config: stored value is not JSON' };
  }
  const check = checkClusterConfig(String(stored.yaml ?? ''));
  if (!check.ok) return { modRevision: kv.modRevision, config: null, problem: `config: ${check.errors[0]}` };
  return { modRevision: kv.modRevision, config: check.config };
}
