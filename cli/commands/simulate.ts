// hactl simulate --kill NODE | --standby NODE | --apply FILE (combinable): what the agents would do,
// predicted from the live view with their own rules (agent/core/what-if.ts). Reads only: nothing
// is written to the cluster, whatever is simulated.
import { readFile } from 'node:fs/promises';
import { checkClusterConfig } from '../../agent/config/load-cluster.js';
import type { ClusterConfig } from '../../agent/config/cluster-schema.js';
import { formatDurationMs } from '../../agent/config/duration.js';
import { predictWhatIf, type WhatIfResult, type WhatIfWait } from '../../agent/core/what-if.js';
import type { ClusterView, ResourcePhase } from '../../agent/core/types.js';
import type { KvEntry } from '../../agent/etcd/view.js';
import type { Keys } from '../../agent/etcd/keys.js';
import { connect, etcdErrorLine, type GlobalOptions } from '../connect.js';
import { CliError, EXIT, notFound, usageError } from '../errors.js';
import { readView } from '../status-model.js';
import { table } from '../table.js';

export interface SimulateOptions extends GlobalOptions {
  kill?: string[];
  standby?: string[];
  apply?: string;
}

export interface Simulation extends WhatIfResult {
  cluster: string;
  revision: number;
  changes: { kill: string[]; standby: string[]; apply: string | null };
  /** Facts worth knowing to read the prediction (a node already offline, detection time). */
  notes: string[];
}

const NODE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export async function simulateCommand(opts: SimulateOptions): Promise<void> {
  const kill = opts.kill ?? [];
  const standby = opts.standby ?? [];
  if (kill.length === 0 && standby.length === 0 && opts.apply === undefined) throw usageError('nothing to simulate: give --kill NODE, --standby NODE or --apply FILE');
  for (const node of [...kill, ...standby]) if (!NODE_RE.test(node)) throw usageError(`not a valid node name: ${node}`);
  const next = opts.apply === undefined ? undefined : await readConfig(opts.apply);
  const session = await connect(opts);
  try {
    let read;
    try {
      read = await readView(session.client, session.keys);
    } catch (err) {
      throw etcdErrorLine(err, session.config.etcd.endpoints, { doing: 'read the cluster state', key: session.keys.prefix, who: session.identity });
    }
    const { view, kvs } = read;
    const config = view.config;
    if (!config) throw notFound(`cluster ${session.config.cluster} has no configuration (hactl config apply FILE)`);
    for (const node of [...kill, ...standby]) {
      if (!view.nodes.has(node) && !view.members.has(node) && !(config.nodes && node in config.nodes)) throw notFound(`no node named ${node}`);
    }
    const result = predictWhatIf({ view, changes: { kill, standby, config: next }, wallMs: Date.now(), ownerPhases: ownerPhases(view, kvs, session.keys) });
    const sim: Simulation = { cluster: session.config.cluster, revision: view.revision, changes: { kill, standby, apply: opts.apply ?? null }, notes: notes(view, config, kill, standby, result), ...result };
    process.stdout.write(opts.json ? JSON.stringify(sim, null, 2) + '\n' : renderSimulation(sim) + '\n');
  } finally {
    session.close();
  }
}

async function readConfig(file: string): Promise<ClusterConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw code === 'ENOENT' ? notFound(`config file not found: ${file}`) : new CliError(`cannot read ${file}: ${code ?? String(err)}`, EXIT.USAGE);
  }
  const check = checkClusterConfig(text);
  if (!check.ok) throw usageError(`${file}: ${check.errors[0]}`);
  return check.config;
}

/** What each owner runs now, from its status record when the record is its own (same token). */
function ownerPhases(view: ClusterView, kvs: ReadonlyMap<string, KvEntry>, keys: Keys): Map<string, ResourcePhase[]> {
  const phases = new Map<string, ResourcePhase[]>();
  for (const [set, owner] of view.owners) {
    const record = parseRecord(kvs.get(keys.status(set))?.value);
    if (!record || record.node !== owner.node || record.fencingToken !== owner.token || !Array.isArray(record.resources)) continue;
    phases.set(
      set,
      (record.resources as { state?: unknown }[]).map((r) => (r?.state === 'running' ? 'running' : r?.state === 'stopped' ? 'stopped' : 'unknown')),
    );
  }
  return phases;
}

function parseRecord(text: string | undefined): { node?: unknown; fencingToken?: unknown; resources?: unknown } | null {
  try {
    const v = JSON.parse(text ?? 'null') as unknown;
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function notes(view: ClusterView, config: ClusterConfig, kill: string[], standby: string[], result: WhatIfResult): string[] {
  const out: string[] = [];
  for (const node of kill) if (!view.nodes.has(node)) out.push(`${node} is already offline`);
  for (const node of standby) if (view.standby.has(node)) out.push(`${node} is already in standby`);
  const killedOwners = kill.filter((n) => [...view.owners.values()].some((o) => o.node === n));
  const suspected = result.sets.some((s) => s.waits.some((w) => w.kind === 'fence' && w.why === 'suspected'));
  if (killedOwners.length > 0 && !suspected) out.push(`the agents notice a dead host when its lease expires (timing.leaseTtl ${formatDurationMs(config.timing.leaseTtl)}); the waits shown come after that`);
  if (result.unsettled) out.push('the prediction did not settle (the rules keep moving a set): it is incomplete');
  return out;
}

function describeWait(w: WhatIfWait): string {
  if (w.kind === 'grace') {
    const early = w.waitedMs !== undefined && w.waitedMs < w.graceMs ? `, cut to ${formatDurationMs(w.waitedMs)} by a fence` : '';
    return `takeover grace ${formatDurationMs(w.graceMs)} on ${w.on} (${w.nodes.join(', ')} lost it by lease expiry${early})`;
  }
  if (w.device === null) return `waits for ${w.node} to be fenced: no fence device; needs hactl fence ${w.node} --confirm-down`;
  const when = w.why === 'suspected' ? ', before its lease expires' : '';
  return `${w.by ?? 'a peer'} fences ${w.node} through device ${w.device}${when}`;
}

export function renderSimulation(s: Simulation): string {
  const what = [...s.changes.kill.map((n) => `${n} dies`), ...s.changes.standby.map((n) => `${n} goes into standby`), ...(s.changes.apply ? [`${s.changes.apply} is applied`] : [])].join(', ');
  const lines = [`cluster ${s.cluster}   revision ${s.revision}   what if ${what}`, 'a prediction from the agents\' own rules; nothing was changed', ''];
  if (s.sets.length === 0) lines.push('no service sets configured');
  else {
    lines.push(table(['SET', 'NOW', 'THEN', 'OUTCOME', 'ON THE WAY'], s.sets.map((p) => [p.set, p.now, p.then, p.outcome, p.waits.map(describeWait).join('; ')])));
    for (const p of s.sets) if (p.outcome !== 'unaffected' && p.state !== 'running') lines.push(`  ${p.set} why: ${p.reason}`);
  }
  if (s.notes.length > 0) lines.push('');
  for (const n of s.notes) lines.push(`note: ${n}`);
  return lines.join('\n').trimEnd();
}
