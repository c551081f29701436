// Least privilege in etcd for one hactl cluster (docs/security.md): three roles on the cluster's
// key prefix, users named like the client certificates' CNs (etcd takes the CN as the user name
// when --client-cert-auth is on), and root. `hactl rbac print` shows it as etcdctl commands,
// `hactl rbac apply` applies it; the CLI names the scope of a denied key with `permissionScope`.
import { clusterPrefix } from '../agent/etcd/keys.js';

export type Permission = 'Read' | 'Write' | 'Readwrite';

export interface Grant {
  permission: Permission;
  /** A key, or (with `prefix`) every key starting with it. */
  key: string;
  prefix: boolean;
}

export interface RolePlan {
  name: string;
  grants: Grant[];
}

export interface UserPlan {
  name: string;
  role: string;
}

export interface RbacPlan {
  cluster: string;
  roles: RolePlan[];
  users: UserPlan[];
}

export const ROLE = { agent: 'hactl-agent', operator: 'hactl-operator', observer: 'hactl-observer' } as const;
export const agentUser = (node: string): string => `hactl-agent-${node}`;

/** What an operator writes: intents (failover, standby, maintenance), the config, fence records, bans. */
export function operatorWriteScopes(cluster: string): Grant[] {
  const p = clusterPrefix(cluster);
  return [
    { permission: 'Readwrite', key: `${p}intents/`, prefix: true },
    { permission: 'Readwrite', key: `${p}config`, prefix: false },
    { permission: 'Readwrite', key: `${p}fences/`, prefix: true },
    { permission: 'Readwrite', key: `${p}bans/`, prefix: true },
  ];
}

export function rbacPlan(cluster: string, nodes: string[]): RbacPlan {
  const p = clusterPrefix(cluster);
  return {
    cluster,
    roles: [
      { name: ROLE.agent, grants: [{ permission: 'Readwrite', key: p, prefix: true }] },
      { name: ROLE.operator, grants: [...operatorWriteScopes(cluster), { permission: 'Read', key: p, prefix: true }] },
      { name: ROLE.observer, grants: [{ permission: 'Read', key: p, prefix: true }] },
    ],
    users: [
      ...nodes.map((n) => ({ name: agentUser(n), role: ROLE.agent })),
      { name: 'hactl-operator', role: ROLE.operator },
      { name: 'hactl-observer', role: ROLE.observer },
    ],
  };
}

/**
 * The narrowest granted scope that holds `key`: the prefix a person must be given to be allowed
 * (e.g. `/hactl/c/intents/` for a failover intent), or the cluster prefix for the agents' keys.
 */
export function permissionScope(key: string): string {
  const m = /^(\/hactl\/[^/]+\/)(.*)$/.exec(key);
  if (!m) return key;
  const [, prefix, rest] = m;
  if (rest === 'config') return `${prefix}config`;
  const first = rest.split('/')[0];
  if (['intents', 'fences', 'bans'].includes(first) && rest.includes('/')) return `${prefix}${first}/`;
  return prefix;
}

/** The plan as etcdctl commands (etcd 3.4+), for a person to read or run. */
export function etcdctlCommands(plan: RbacPlan, opts: { rootPasswordFile?: string; nodesGiven: boolean }): string[] {
  const lines: string[] = [];
  const perm = (g: Grant): string => ({ Read: 'read', Write: 'write', Readwrite: 'readwrite' })[g.permission];
  lines.push(`# hactl RBAC for cluster ${plan.cluster} (key prefix ${clusterPrefix(plan.cluster)})`);
  lines.push('# Run as root: a client certificate with CN=root (before auth is enabled any client may do this).');
  lines.push('# Connection: ETCDCTL_API=3 ETCDCTL_ENDPOINTS=https://... ETCDCTL_CACERT=ca.pem ETCDCTL_CERT=root.pem ETCDCTL_KEY=root-key.pem');
  for (const role of plan.roles) {
    lines.push(`etcdctl role add ${role.name}`);
    for (const g of role.grants) lines.push(`etcdctl role grant-permission ${role.name} ${perm(g)}${g.prefix ? ' --prefix=true' : ''} ${g.key}`);
  }
  if (!opts.nodesGiven) lines.push('# agents: one user per host, named like its certificate CN (hactl rbac print --nodes mq1,mq2 lists them)');
  for (const u of plan.users) {
    lines.push(`etcdctl user add ${u.name} --no-password`);
    lines.push(`etcdctl user grant-role ${u.name} ${u.role}`);
  }
  lines.push('etcdctl role add root');
  lines.push(
    opts.rootPasswordFile
      ? `etcdctl user add root --interactive=false < ${opts.rootPasswordFile}`
      : 'etcdctl user add root --no-password',
  );
  lines.push('etcdctl user grant-role root root');
  lines.push('etcdctl auth enable');
  return lines;
}
