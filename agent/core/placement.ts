// Placement (SPEC §4): which hosts may run a set, and which one should. Eligible hosts are online,
// not in standby, not banned for the set, and in `prefer` (unless `anyNode`, or no `prefer`). The
// first eligible host in `prefer` wins; ties by fewest sets owned, then name. Every host computes
// the same answer from the same view, so normally only the best host tries to acquire; the etcd
// transaction settles the rare race.
import type { ClusterConfig } from '../config/cluster-schema.js';
import type { ClusterView } from './types.js';
import { baseSetName, hostsWithSiblings } from './clones.js';

export interface Placement {
  /** Eligible hosts, best first. */
  ranked: string[];
  /** Why each online host that is not eligible was excluded, e.g. "mq2 banned until 14:05 (...)". */
  excluded: string[];
}

export function placeSet(view: ClusterView, config: ClusterConfig, set: string, wallMs: number): Placement {
  const spec = config.serviceSets[set];
  const excluded: string[] = [];
  const prefer = spec.prefer ?? [];
  const anyNode = spec.anyNode || prefer.length === 0;
  const bans = view.bans.get(baseSetName(set));
  const siblings = hostsWithSiblings(view, set);
  const candidates: string[] = [];
  const known = new Set<string>([...view.nodes.keys(), ...prefer]);
  for (const node of [...known].sort()) {
    if (!view.nodes.has(node)) {
      if (prefer.includes(node)) excluded.push(`${node} offline`);
      continue;
    }
    if (!anyNode && !prefer.includes(node)) continue;
    if (view.standby.has(node)) {
      excluded.push(`${node} in standby`);
      continue;
    }
    if (siblings.has(node)) {
      excluded.push(`${node} runs another instance of ${baseSetName(set)}`);
      continue;
    }
    const ban = bans?.get(node);
    if (ban && ban.untilWallMs > wallMs) {
      excluded.push(ban.untilWallMs >= 1e15 ? `${node} banned (${ban.reason})` : `${node} banned until ${clockTime(ban.untilWallMs)} (${ban.reason})`);
      continue;
    }
    candidates.push(node);
  }
  const load = ownedCounts(view);
  const rank = (node: string): number => {
    const i = prefer.indexOf(node);
    return i < 0 ? prefer.length : i;
  };
  candidates.sort((a, b) => rank(a) - rank(b) || (load.get(a) ?? 0) - (load.get(b) ?? 0) || (a < b ? -1 : a > b ? 1 : 0));
  return { ranked: candidates, excluded };
}

/** Explains an empty placement: "no eligible node: mq1 offline, mq2 banned until 14:05 (...)". */
export function noEligibleReason(p: Placement): string {
  return p.excluded.length > 0 ? `no eligible node: ${p.excluded.join(', ')}` : 'no eligible node: no host online';
}

function ownedCounts(view: ClusterView): Map<string, number> {
  const counts = new Map<string, number>();
  for (const owner of view.owners.values()) counts.set(owner.node, (counts.get(owner.node) ?? 0) + 1);
  return counts;
}

/** HH:MM in UTC: the core has no time zone; the CLI shows local times where it formats its own. */
function clockTime(wallMs: number): string {
  return new Date(wallMs).toISOString().slice(11, 16) + 'Z';
}
