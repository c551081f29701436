// What the namespace fencing tests and the fenced-failover benchmark read back from a deployment:
// the testbed they share (its own prefix, bridge, subnet and power-switch port, so it never meets
// another testbed on the same machine), the agents' JSON log lines, the set's resource starts, and
// the fence record in etcd. Read only from the root namespace (files and etcd), never by entering a
// host: a frozen host would freeze the reader too.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestbedOptions } from './testbed.js';
import { SET, type Deployment } from './deployment.js';
import { waitFor } from './exec.js';

export const FENCE_TESTBED: TestbedOptions = { prefix: 'hactl-fx', bridge: 'hactlfxbr0', subnet: '10.236.0.0/24' };
export const FENCE_POWER_PORT = 17951;

export interface AgentLogLine {
  msg: string;
  /** Wall-clock ms of the line. */
  atMs: number;
  [field: string]: unknown;
}

/** The agent's log lines on `node` (its pino JSON; the supervisor's own lines are skipped). */
export async function agentLog(d: Deployment, node: string): Promise<AgentLogLine[]> {
  const text = await readFile(join(d.tb.root, 'hosts', node, 'agent.log'), 'utf8').catch(() => '');
  const out: AgentLogLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const l = JSON.parse(line) as Record<string, unknown>;
      out.push({ ...l, msg: String(l.msg), atMs: Date.parse(String(l.time)) });
    } catch {
      // a line cut by a power-off
    }
  }
  return out;
}

export interface ActionSpan {
  node: string;
  resource: string;
  action: string;
  rc: unknown;
  beginMs: number;
  endMs: number;
}

/** Resource actions `node`'s agent finished since `sinceMs` (wall clock), begin = end - duration. */
export async function actionsSince(d: Deployment, node: string, sinceMs: number, action?: string): Promise<ActionSpan[]> {
  return (await agentLog(d, node))
    .filter((l) => l.msg === 'action finished' && (action === undefined || l.action === action))
    .map((l) => ({ node, resource: String(l.resource), action: String(l.action), rc: l.rc, endMs: l.atMs, beginMs: l.atMs - Number(l.durationMs ?? 0) }))
    .filter((a) => a.beginMs >= sinceMs);
}

/** Log lines with message `msg` on every agent host since `sinceMs`. */
export async function logLinesSince(d: Deployment, msg: string, sinceMs: number): Promise<(AgentLogLine & { host: string })[]> {
  const out: (AgentLogLine & { host: string })[] = [];
  for (const h of d.agents) for (const l of await agentLog(d, h.name)) if (l.msg === msg && l.atMs >= sinceMs) out.push({ ...l, host: h.name });
  return out.sort((a, b) => a.atMs - b.atMs);
}

export interface FenceRecordKv {
  /** How many times the key was written since it was created (etcd's version). */
  version: number;
  modRevision: number;
  value: { how?: string; by?: string; atWallMs?: number; reason?: string };
}

/** fences/<node> as etcd holds it, or undefined when the node was never fenced. */
export async function fenceRecord(d: Deployment, node: string): Promise<FenceRecordKv | undefined> {
  const r = await d.etcd.ctl(['get', `/hactl/${d.tb.prefix}/fences/${node}`, '-w', 'json']);
  if (r.code !== 0) throw new Error(`etcdctl get fences/${node}: ${r.stderr.trim()}`);
  const kv = (JSON.parse(r.stdout) as { kvs?: { version: number; mod_revision: number; value: string }[] }).kvs?.[0];
  if (!kv) return undefined;
  return { version: Number(kv.version), modRevision: Number(kv.mod_revision), value: JSON.parse(Buffer.from(kv.value, 'base64').toString('utf8')) as FenceRecordKv['value'] };
}

/** Every agent host online (a live lease) as `hactl status` shows it. */
export async function allOnline(d: Deployment, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    'every agent host online',
    async () => {
      const r = await d.hactl(['--json', 'status'], 5000);
      const nodes = (JSON.parse(r.stdout) as { nodes: { name: string; state: string }[] }).nodes;
      return d.agents.every((h) => nodes.some((n) => n.name === h.name && n.state === 'online'));
    },
    timeoutMs,
    250,
  );
}

/** Waits for the set to run on a host not in `not`; returns that host. */
export function runningElsewhere(d: Deployment, not: string[], timeoutMs: number): Promise<string> {
  return waitFor(`${SET} running elsewhere than ${not.join(', ')}`, async () => {
    const o = await d.owner();
    return o !== undefined && !not.includes(o) ? o : undefined;
  }, timeoutMs, 200);
}
