// What applying a cluster configuration would change, compared with the stored one: sets added,
// removed and changed (resources and settings), timing, and the other sections. `hactl config diff`
// prints it; `hactl config apply` prints it and refuses, without --force, the changes that stop
// services or change failure detection for every set (removing sets, changing timing).
import type { ClusterConfig, ServiceSetConfig } from '../agent/config/cluster-schema.js';
import { formatDurationMs } from '../agent/config/duration.js';

export interface TimingChange {
  key: string;
  /** Milliseconds, or 'off' (suspectAfter); null when not set. */
  from: number | string | null;
  to: number | string | null;
}

export interface SetChange {
  set: string;
  resourcesAdded: string[];
  resourcesRemoved: string[];
  /** Resources whose configuration changed, with the keys that did (type, params, monitor, start, stop). */
  resourcesChanged: { id: string; fields: string[] }[];
  /** Set settings that changed (prefer, anyNode, failback, onFailure, ...; `order` for the resource order). */
  settingsChanged: string[];
}

export interface ConfigDiff {
  changed: boolean;
  setsAdded: string[];
  setsRemoved: string[];
  setsChanged: SetChange[];
  timing: TimingChange[];
  /** Other top-level sections that changed: nodes, fencing, events. */
  otherChanged: string[];
  /** What needs --force, one phrase each ("remove service set QM1"). */
  needsForce: string[];
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** `stored` null: nothing stored yet, every set is added. */
export function diffConfigs(stored: ClusterConfig | null, next: ClusterConfig): ConfigDiff {
  const before = stored?.serviceSets ?? {};
  const after = next.serviceSets;
  const setsAdded = Object.keys(after).filter((s) => !(s in before));
  const setsRemoved = Object.keys(before).filter((s) => !(s in after));
  const setsChanged: SetChange[] = [];
  for (const [name, set] of Object.entries(after)) {
    const old = before[name];
    if (old && !same(old, set)) setsChanged.push(diffSet(name, old, set));
  }
  const timing: TimingChange[] = [];
  if (stored) {
    for (const key of ['leaseTtl', 'fenceMargin', 'suspectAfter'] as const) {
      const from = stored.timing[key] ?? null;
      const to = next.timing[key] ?? null;
      if (from !== to) timing.push({ key: `timing.${key}`, from, to });
    }
  }
  const otherChanged = stored ? (['nodes', 'fencing', 'events'] as const).filter((k) => !same(stored[k], next[k])) : [];
  const needsForce = [
    ...(setsRemoved.length > 0 ? [`remove service set${setsRemoved.length > 1 ? 's' : ''} ${setsRemoved.join(', ')}`] : []),
    ...timing.map((t) => `change ${t.key} (${shownDuration(t.from)} -> ${shownDuration(t.to)})`),
  ];
  const changed = !stored || setsAdded.length + setsRemoved.length + setsChanged.length + timing.length + otherChanged.length > 0;
  return { changed, setsAdded, setsRemoved, setsChanged, timing, otherChanged, needsForce };
}

function diffSet(name: string, old: ServiceSetConfig, set: ServiceSetConfig): SetChange {
  const oldById = new Map(old.resources.map((r) => [r.id, r]));
  const newIds = new Set(set.resources.map((r) => r.id));
  const resourcesChanged: SetChange['resourcesChanged'] = [];
  for (const r of set.resources) {
    const o = oldById.get(r.id);
    if (!o || same(o, r)) continue;
    const keys = [...new Set([...Object.keys(o), ...Object.keys(r)])] as (keyof typeof r)[];
    resourcesChanged.push({ id: r.id, fields: keys.filter((k) => !same(o[k], r[k])) });
  }
  const keys = [...new Set([...Object.keys(old), ...Object.keys(set)])].filter((k) => k !== 'resources') as (keyof ServiceSetConfig)[];
  const settingsChanged: string[] = keys.filter((k) => !same(old[k], set[k]));
  const kept = (ids: string[]): string[] => ids.filter((id) => oldById.has(id) && newIds.has(id));
  if (!same(kept(old.resources.map((r) => r.id)), kept(set.resources.map((r) => r.id)))) settingsChanged.push('order');
  return {
    set: name,
    resourcesAdded: set.resources.filter((r) => !oldById.has(r.id)).map((r) => r.id),
    resourcesRemoved: old.resources.filter((r) => !newIds.has(r.id)).map((r) => r.id),
    resourcesChanged,
    settingsChanged,
  };
}

function shownDuration(v: number | string | null): string {
  return v === null ? 'default' : typeof v === 'number' ? formatDurationMs(v) : v;
}

/** The diff as lines: `+ set`, `- set`, `~ set: ...`, `~ timing.x: a -> b`, `~ nodes`; "no changes". */
export function renderDiff(d: ConfigDiff, next: ClusterConfig, stored: ClusterConfig | null): string[] {
  if (!d.changed) return ['no changes'];
  const count = (n: number): string => `${n} resource${n === 1 ? '' : 's'}`;
  const lines = [
    ...d.setsAdded.map((s) => `+ set ${s} (${count(next.serviceSets[s].resources.length)})`),
    ...d.setsRemoved.map((s) => `- set ${s} (${count(stored!.serviceSets[s].resources.length)}; its resources are stopped)`),
  ];
  for (const c of d.setsChanged) {
    const parts = [
      c.resourcesAdded.length > 0 ? `resources added ${c.resourcesAdded.join(', ')}` : '',
      c.resourcesRemoved.length > 0 ? `${c.resourcesAdded.length > 0 ? '' : 'resources '}removed ${c.resourcesRemoved.join(', ')}` : '',
      c.resourcesChanged.length > 0 ? `${c.resourcesAdded.length + c.resourcesRemoved.length > 0 ? '' : 'resources '}changed ${c.resourcesChanged.map((r) => `${r.id} (${r.fields.join(', ')})`).join(', ')}` : '',
      c.settingsChanged.length > 0 ? `settings ${c.settingsChanged.join(', ')}` : '',
    ].filter(Boolean);
    lines.push(`~ set ${c.set}: ${parts.join('; ')}`);
  }
  for (const t of d.timing) lines.push(`~ ${t.key}: ${shownDuration(t.from)} -> ${shownDuration(t.to)}`);
  for (const o of d.otherChanged) lines.push(`~ ${o}`);
  return lines;
}
