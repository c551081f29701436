// Clone sets (`mode: clone, instances: N`) run as N instances named `<set>:1` .. `<set>:N`. Each
// instance is handled exactly like a singleton set — its own owner key, fencing token, ordered
// start and stop — with one more placement rule: a host runs at most one instance of a clone set.
// Bans, maintenance, cleanup and status are addressed by the clone set's own name.
import type { ClusterConfig } from '../config/cluster-schema.js';
import type { ClusterView } from './types.js';

export const INSTANCE_SEPARATOR = ':';

/** `CONSUMER:2` -> `CONSUMER`; a singleton's name is its own base. */
export function baseSetName(set: string): string {
  const at = set.indexOf(INSTANCE_SEPARATOR);
  return at < 0 ? set : set.slice(0, at);
}

/** The configuration with every clone set replaced by its instances (singletons unchanged). */
export function expandClones(config: ClusterConfig): ClusterConfig {
  if (!Object.values(config.serviceSets).some((s) => s.mode === 'clone')) return config;
  const serviceSets: ClusterConfig['serviceSets'] = {};
  for (const [name, spec] of Object.entries(config.serviceSets)) {
    if (spec.mode !== 'clone') {
      serviceSets[name] = spec;
      continue;
    }
    for (let i = 1; i <= (spec.instances ?? 1); i++) serviceSets[`${name}${INSTANCE_SEPARATOR}${i}`] = spec;
  }
  return { ...config, serviceSets };
}

/** Instance names of a clone set, in order. */
export function instancesOf(config: ClusterConfig, base: string): string[] {
  const spec = config.serviceSets[base];
  if (!spec || spec.mode !== 'clone') return [base];
  return Array.from({ length: spec.instances ?? 1 }, (_, i) => `${base}${INSTANCE_SEPARATOR}${i + 1}`);
}

/** Hosts that own another instance of the same clone set. */
export function hostsWithSiblings(view: ClusterView, set: string): Set<string> {
  const hosts = new Set<string>();
  if (!set.includes(INSTANCE_SEPARATOR)) return hosts;
  const prefix = baseSetName(set) + INSTANCE_SEPARATOR;
  for (const owner of view.owners.values()) if (owner.set !== set && owner.set.startsWith(prefix)) hosts.add(owner.node);
  return hosts;
}
