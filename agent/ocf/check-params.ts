// Checks a cluster configuration against the agents installed on this machine (`hactl config
// validate|apply`, after the schema check): every resource type resolves to a safe agent file
// (SPEC §5.6), every parameter the agent's meta-data marks required is given, and — for the
// built-in agents — `validate-all` with the resource's parameters accepts them. Errors name the
// path, like the schema's: `serviceSets.QM1.resources[1].params.ip: required by floating-ip`.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILTIN_TYPES, type ClusterConfig, type ResourceConfig } from '../config/cluster-schema.js';
import { formatDurationMs } from '../config/duration.js';
import { fetchMetaData, mapLimit, META_DATA_CONCURRENCY, type MetaFetch } from './catalog.js';
import type { MetaAction } from './meta-data.js';
import type { ResolveContext } from './resolve.js';
import { runAction } from './runner.js';

export const VALIDATE_ALL_TIMEOUT_MS = 10_000;

export interface AgentCheckOptions extends ResolveContext {
  node: string;
  /** Run the built-in agents' validate-all with each resource's params (default true). */
  validateAll?: boolean;
  validateAllTimeoutMs?: number;
}

export interface AgentCheckResult {
  errors: string[];
  warnings: string[];
  /** True when at least one error is an unsafe agent file (the CLI exits 4, "refused"). */
  refused: boolean;
}

interface Item {
  path: string;
  set: string;
  resource: ResourceConfig;
}

export async function checkConfigAgents(config: ClusterConfig, opts: AgentCheckOptions): Promise<AgentCheckResult> {
  const items: Item[] = [];
  for (const [set, spec] of Object.entries(config.serviceSets)) {
    spec.resources.forEach((resource, i) => items.push({ path: `serviceSets.${set}.resources[${i}]`, set, resource }));
  }
  // One meta-data run per type.
  const types = [...new Set(items.map((it) => it.resource.type))];
  const metas = new Map<string, MetaFetch>();
  await mapLimit(types, META_DATA_CONCURRENCY, async (type) => metas.set(type, await fetchMetaData(type, opts)));

  const errors: string[] = [];
  const warnings: string[] = [];
  let refused = false;
  const toValidate: Item[] = [];
  for (const it of items) {
    const type = it.resource.type;
    const meta = metas.get(type)!;
    if (!meta.ok) {
      if (meta.refused) refused = true;
      errors.push(`${it.path}.type: ${type}: ${meta.error}`);
      continue;
    }
    if (meta.agent.kind === 'systemd') continue;
    const declared = new Set(meta.meta.parameters.map((p) => p.name));
    let missing = false;
    for (const p of meta.meta.parameters) {
      if (p.required && !(p.name in it.resource.params)) {
        errors.push(`${it.path}.params.${p.name}: required by ${type}`);
        missing = true;
      }
    }
    for (const name of Object.keys(it.resource.params)) {
      if (!declared.has(name)) {
        warnings.push(`${it.path}.params.${name}: not a parameter of ${type} (it has: ${[...declared].join(', ') || 'none'})`);
      }
    }
    warnings.push(...adviceWarnings(it, meta.meta.actions));
    if (!missing && opts.validateAll !== false && (BUILTIN_TYPES as readonly string[]).includes(type)) toValidate.push(it);
  }

  if (toValidate.length > 0) {
    // validate-all may look for HA_RSCTMP; give it a private scratch directory, removed afterwards.
    const runDir = await mkdtemp(join(tmpdir(), 'hactl-validate-'));
    try {
      const timeoutMs = opts.validateAllTimeoutMs ?? VALIDATE_ALL_TIMEOUT_MS;
      const results = await mapLimit(toValidate, META_DATA_CONCURRENCY, async (it) => {
        const fetched = metas.get(it.resource.type);
        if (!fetched?.ok) return null;
        return runAction({
          agent: fetched.agent,
          action: 'validate-all',
          resourceId: it.resource.id,
          params: it.resource.params,
          timeoutMs,
          intervalMs: 0,
          ocfRoot: opts.ocfRoot,
          runDir,
          node: opts.node,
          set: it.set,
          fencingToken: null,
        });
      });
      toValidate.forEach((it, i) => {
        const r = results[i];
        if (!r) return;
        const type = it.resource.type;
        const where = `${it.path}.params`;
        if (r.status === 'timed-out') warnings.push(`${where}: ${type} validate-all timed out after ${timeoutMs} ms`);
        else if (r.status === 'spawn-failed' || r.status === 'aborted') warnings.push(`${where}: ${type} validate-all could not be run: ${r.reason}`);
        else if (r.rc === 6) errors.push(`${where}: ${type} validate-all: ${r.reason ?? 'parameters not valid (rc=6)'}`);
        else if (r.rc !== 0 && r.rc !== 3) {
          // 2, 4, 5: not valid *on this host* (no such interface, device or binary here): the
          // machine running hactl may not be a cluster host, so this is worth saying, not fatal.
          warnings.push(`${where}: ${type} validate-all on this host: ${r.reason ?? `rc=${r.rc}`}`);
        }
      });
    } finally {
      await rm(runDir, { recursive: true, force: true });
    }
  }
  return { errors, warnings, refused };
}

/**
 * A configured start, stop or monitor timeout below the one the agent's meta-data advises is a
 * warning, as in Pacemaker ("timeout lower than recommended"), not an error: the advice is generous
 * for most agents, but some size their work to it (ocf:heartbeat:Filesystem tries to unmount for
 * timeout/1000 rounds, none at all under 1s). Only timeouts written in the file are compared.
 */
function adviceWarnings(it: Item, actions: MetaAction[]): string[] {
  const out: string[] = [];
  for (const action of ['start', 'stop', 'monitor'] as const) {
    const configuredMs = it.resource[action].timeout;
    const advisedMs = actions.find((a) => a.name === action && a.timeoutMs !== undefined)?.timeoutMs;
    if (configuredMs === undefined || advisedMs === undefined || configuredMs >= advisedMs) continue;
    out.push(
      `${it.path}.${action}.timeout: ${formatDurationMs(configuredMs)} is less than the ${formatDurationMs(advisedMs)} that ${it.resource.type}'s meta-data advises for ${action}; the agent may not finish in time`,
    );
  }
  return out;
}
