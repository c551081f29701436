// What agents this machine has (`hactl resources list|describe`, SPEC §7) and their meta-data: the
// built-ins, `ocf:<provider>:<agent>` under `<ocfRoot>/resource.d/`, and names in `resourceDirs`.
// meta-data is run through the same runner as every action (argv, OCF environment, process-group
// kill), bounded in time, a few agents at a time; a broken agent is a value, never an exception.
import { readdir, stat } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILTIN_TYPES } from '../config/cluster-schema.js';
import { parseMetaData, type AgentMetaData } from './meta-data.js';
import { BUILTIN_AGENT_DIR, resolveAgent, type AgentRef, type ResolveContext } from './resolve.js';
import { runAction } from './runner.js';

export const META_DATA_TIMEOUT_MS = 5_000;
export const META_DATA_CONCURRENCY = 4;

export interface AgentEntry {
  type: string;
  /** built-in | ocf | site */
  source: 'built-in' | 'ocf' | 'site';
  path: string;
}

export type MetaFetch = { ok: true; agent: AgentRef; meta: AgentMetaData } | { ok: false; error: string; notFound?: boolean; refused?: boolean };

/** Runs `fn` over `items` with at most `limit` at a time; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

async function executableFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const name of names.sort()) {
    if (name.startsWith('.')) continue;
    try {
      const st = await stat(join(dir, name));
      if (st.isFile() && (st.mode & 0o111) !== 0) out.push(name);
    } catch {
      // vanished or a dangling link
    }
  }
  return out;
}

/** Every agent type available on this machine, built-ins first. */
export async function listAgentTypes(ctx: ResolveContext): Promise<AgentEntry[]> {
  const entries: AgentEntry[] = BUILTIN_TYPES.map((t) => ({ type: t, source: 'built-in' as const, path: join(BUILTIN_AGENT_DIR, t) }));
  const root = join(ctx.ocfRoot, 'resource.d');
  let providers: string[] = [];
  try {
    providers = (await readdir(root)).sort();
  } catch {
    // no OCF agents installed
  }
  for (const provider of providers) {
    const dir = join(root, provider);
    for (const name of await executableFiles(dir)) entries.push({ type: `ocf:${provider}:${name}`, source: 'ocf', path: join(dir, name) });
  }
  const seen = new Set<string>(BUILTIN_TYPES);
  for (const dir of ctx.resourceDirs) {
    for (const name of await executableFiles(dir)) {
      // The first directory wins (as in resolveAgent); built-in names are never looked up there.
      if (seen.has(name) || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) continue;
      seen.add(name);
      entries.push({ type: name, source: 'site', path: join(dir, name) });
    }
  }
  return entries;
}

/** Resolves a type and runs its meta-data action (bounded); parses the XML. */
export async function fetchMetaData(type: string, ctx: ResolveContext, timeoutMs = META_DATA_TIMEOUT_MS): Promise<MetaFetch> {
  const resolved = await resolveAgent(type, ctx);
  if (!resolved.ok) {
    return { ok: false, error: resolved.reason, notFound: resolved.reason.startsWith('not found'), refused: resolved.reason.startsWith('refused') };
  }
  const r = await runAction({
    agent: resolved.agent,
    action: 'meta-data',
    resourceId: 'meta-data',
    params: {},
    timeoutMs,
    intervalMs: 0,
    ocfRoot: ctx.ocfRoot,
    runDir: tmpdir(),
    node: hostname().split('.')[0],
    set: '',
    fencingToken: null,
  });
  if (r.status === 'timed-out') return { ok: false, error: `meta-data timed out after ${timeoutMs} ms` };
  if (r.status === 'spawn-failed' || r.status === 'aborted') return { ok: false, error: `meta-data could not be run: ${r.reason}` };
  if (r.rc !== 0) return { ok: false, error: `meta-data exited ${r.rc}${r.reason ? `: ${r.reason}` : ''}` };
  const parsed = parseMetaData(r.stdout);
  if (!parsed.ok) return { ok: false, error: parsed.error };
  return { ok: true, agent: resolved.agent, meta: parsed.meta };
}
