// Builders for the core's inputs, so rule tests read like the situations they describe.
import { checkClusterConfig } from '../../agent/config/load-cluster.js';
import type { ClusterConfig } from '../../agent/config/cluster-schema.js';
import { emptyLocalSet, type ClusterView, type DecideInput, type LocalSet, type HolderRecord } from '../../agent/core/types.js';

export function config(yaml: string): ClusterConfig {
  const check = checkClusterConfig(yaml);
  if (!check.ok) throw new Error(check.errors.join('; '));
  return check.config;
}

export const QM_YAML = `
timing: { leaseTtl: 3s, fenceMargin: 1s }
nodes: { a: {}, b: {}, c: {} }
serviceSets:
  QM:
    prefer: [a, b, c]
    resources:
      - { id: disk, type: shared-disk, params: { device: /dev/x, directory: /d, fstype: ext4 }, stop: { timeout: 3s } }
      - { id: ip, type: floating-ip, params: { ip: 10.0.0.1/24 }, stop: { timeout: 2s } }
      - { id: qm, type: dummy, stop: { timeout: 2s } }
`;

export function view(partial: Partial<ClusterView> = {}): ClusterView {
  return {
    revision: 100,
    config: null,
    nodes: new Map(['a', 'b', 'c'].map((n) => [n, { name: n, leaseId: `L${n}`, startedAtWallMs: 0, registeredRevision: 10 }])),
    members: new Set(['a', 'b', 'c']),
    owners: new Map(),
    holders: new Map(),
    failoverIntents: new Map(),
    cleanups: new Map(),
    bans: new Map(),
    fences: new Map(),
    fenceClaims: new Map(),
    fenceRequests: new Map(),
    standby: new Set(),
    maintenance: { cluster: false, sets: new Set() },
    ...partial,
  };
}

export function owned(node: string, token: number): Pick<ClusterView, 'owners' | 'holders'> {
  const holder: HolderRecord = { node, released: false, unsettled: [], modRevision: token };
  return { owners: new Map([['QM', { set: 'QM', node, leaseId: `L${node}`, token }]]), holders: new Map([['QM', holder]]) };
}

export function local(phases: LocalSet['resources'], extra: Partial<LocalSet> = {}): LocalSet {
  return { ...emptyLocalSet(phases.length), resources: phases, probed: true, ...extra };
}

export function input(me: string, v: ClusterView, l: LocalSet, cfg: ClusterConfig, over: Partial<DecideInput> = {}): DecideInput {
  return { me, nowMs: 10_000, wallMs: 1_000_000, lease: { leaseId: `L${me}`, validUntilMs: 13_000 }, view: { ...v, config: cfg }, config: cfg, set: 'QM', local: l, ...over };
}
