// Running a fence device (SPEC §3.2 `fencing.devices`, §4 fence-then-start, §7 `hactl fence`).
//
// A device's `agent` is either
//  - `fence_<name>`: a fence-agents program (Debian package fence-agents: /usr/sbin/fence_ipmilan,
//    fence_virsh, ...), started with NO arguments and its options on stdin (see protocol.ts), or
//  - `script:<absolute path>`: a site script with the same stdin contract, plus the environment
//    HA_FENCE_NODE (the node, empty for monitor), HA_FENCE_ACTION (off|reboot|status|monitor),
//    HA_FENCE_PLUG and HA_FENCE_DEVICE. Exit 0 = done (for status: the node is on), 2 for status =
//    the node is off, anything else = failed; the last line on stderr is the reason shown.
// Stdin lines: `action=`, then for a node `plug=` and `nodename=`, then every device parameter
// (except hactl's own `action`, `plug`, `plugs`), then each secret read from its `*_file` at call
// time. The executable must pass the agent-file safety check (agentFileProblem) first. It runs
// through the shared process runner (agent/exec/run.ts): its own process group, killed when the
// device's `timeout` passes. Nothing here throws.
import { join } from 'node:path';
import type { ClusterConfig } from '../config/cluster-schema.js';
import { agentFileProblem } from '../ocf/resolve.js';
import { baseEnv, runProgram, type RunResult } from '../exec/run.js';
import { configuredFenceAction, optionText, plugFor, RESERVED_PARAMS, stdinText, type FenceAction } from './protocol.js';
import { readSecretFile, scrub, secretOptionName } from './secrets.js';

export type { FenceAction } from './protocol.js';
export { configuredFenceAction, DEFAULT_FENCE_ACTION } from './protocol.js';

export type FenceDeviceConfig = ClusterConfig['fencing']['devices'][string];
/** A configured device with its name (the key under `fencing.devices`). */
export type FenceDevice = FenceDeviceConfig & { name: string };

export interface FenceOutcome {
  /** `fenced`: the action succeeded (for `status`: the device reports the node off). */
  status: 'fenced' | 'failed' | 'timed-out';
  /** One line, secrets scrubbed. */
  reason: string;
  durationMs: number;
}

export interface MonitorOutcome {
  status: 'ok' | 'failed' | 'timed-out';
  reason: string;
  durationMs: number;
}

export interface FenceContext {
  /** Where `fence_<name>` agents are looked up (default /usr/sbin, Debian's fence-agents). */
  agentDir?: string;
}

export const FENCE_AGENT_DIR = '/usr/sbin';
const REASON_MAX = 300;

/** The device configured for `node` (`nodes.<node>.fence`), or null when it has none. */
export function fenceDeviceFor(config: ClusterConfig, node: string): FenceDevice | null {
  const name = config.nodes?.[node]?.fence;
  if (!name) return null;
  const spec = config.fencing.devices[name];
  return spec ? { ...spec, name } : null;
}

/** `device ipmi-mq1 (fence_ipmilan)`: how a device is named in reasons and fence records. */
export function deviceLabel(device: FenceDevice): string {
  return `device ${device.name} (${device.agent})`;
}

/** Fences (or, with `status`, checks) `node` through `device`. Never throws. */
export async function fenceNode(device: FenceDevice, node: string, action: Exclude<FenceAction, 'monitor'>, ctx: FenceContext = {}): Promise<FenceOutcome> {
  const what = `${deviceLabel(device)} ${action} ${node}`;
  return attempt(device, action, node, ctx, what, (rc, said) => {
    if (action === 'status') {
      if (rc === 2) return { status: 'fenced', reason: `${what}: device reports it off` };
      if (rc === 0) return { status: 'failed', reason: `${what}: device reports it on` };
    } else if (rc === 0) {
      return { status: 'fenced', reason: oneLine(`${what} succeeded${said ? `: ${said}` : ''}`) };
    }
    return { status: 'failed', reason: oneLine(`${what} failed (exit ${rc})${said ? `: ${said}` : ''}`) };
  });
}

/** Checks the device itself (`action=monitor`: reachable, credentials accepted). Never throws. */
export async function monitorDevice(device: FenceDevice, ctx: FenceContext = {}): Promise<MonitorOutcome> {
  const what = `${deviceLabel(device)} monitor`;
  return attempt(device, 'monitor', null, ctx, what, (rc, said) =>
    rc === 0 ? { status: 'ok', reason: `${what}: ok` } : { status: 'failed', reason: oneLine(`${what} failed (exit ${rc})${said ? `: ${said}` : ''}`) },
  );
}

/**
 * Runs one device action and turns what happened into an outcome: refusals, timeouts and spawn
 * failures the same way for every action; an exit code through `onExit`. Never throws; every
 * reason is one line with secrets scrubbed.
 */
async function attempt<S extends string>(
  device: FenceDevice,
  action: FenceAction,
  node: string | null,
  ctx: FenceContext,
  what: string,
  onExit: (rc: number, said: string) => { status: S | 'failed'; reason: string },
): Promise<{ status: S | 'failed' | 'timed-out'; reason: string; durationMs: number }> {
  const startedMs = performance.now();
  try {
    const run = await runDevice(device, action, node, ctx);
    const durationMs = performance.now() - startedMs;
    if (!run.ok) return { status: 'failed', reason: `${what}: ${run.reason}`, durationMs };
    const { result, secrets } = run;
    if (result.status === 'timed-out') return { status: 'timed-out', reason: `${what} timed out after ${seconds(device.timeout)} (process group killed)`, durationMs };
    if (result.status === 'spawn-failed' || result.status === 'aborted') return { status: 'failed', reason: oneLine(`${what}: could not start: ${scrub(result.reason, secrets)}`), durationMs };
    return { ...onExit(result.rc, agentSaid(result, secrets)), durationMs };
  } catch (err) {
    return { status: 'failed', reason: oneLine(`${what}: ${(err as Error).message}`), durationMs: performance.now() - startedMs };
  }
}

/** The executable of a device's agent. */
export function agentPath(agent: string, ctx: FenceContext = {}): string {
  return agent.startsWith('script:') ? agent.slice('script:'.length) : join(ctx.agentDir ?? FENCE_AGENT_DIR, agent);
}

type DeviceRun = { ok: true; result: RunResult; secrets: string[] } | { ok: false; reason: string };

async function runDevice(device: FenceDevice, action: FenceAction, node: string | null, ctx: FenceContext): Promise<DeviceRun> {
  const isScript = device.agent.startsWith('script:');
  const path = agentPath(device.agent, ctx);
  const problem = await agentFileProblem(path);
  if (problem) {
    if (!isScript && problem.startsWith('not found')) return { ok: false, reason: `fence agent ${device.agent} is not installed here (no ${path}; on Debian: apt install fence-agents)` };
    return { ok: false, reason: problem };
  }

  const options: Array<[string, string]> = [['action', action]];
  let plug = '';
  if (node !== null) {
    const p = plugFor(device.params, node);
    if (!p.ok) return { ok: false, reason: p.reason };
    plug = p.value;
    options.push(['plug', plug], ['nodename', node]);
  }
  const fenceAction = configuredFenceAction(device.params);
  if (!fenceAction.ok) return { ok: false, reason: fenceAction.reason };
  const secrets: string[] = [];
  const secretOptions: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(device.params)) {
    if (RESERVED_PARAMS.has(name)) continue;
    const secretName = secretOptionName(name);
    if (secretName !== null) {
      if (typeof value !== 'string') return { ok: false, reason: `device parameter ${name} must be a file path` };
      const read = await readSecretFile(name, value);
      if (!read.ok) return { ok: false, reason: read.reason };
      secrets.push(read.value);
      secretOptions.push([secretName, read.value]);
      continue;
    }
    const text = optionText(name, value);
    if (!text.ok) return { ok: false, reason: text.reason };
    options.push([name, text.value]);
  }
  options.push(...secretOptions);

  const env = baseEnv();
  if (isScript) {
    env.HA_FENCE_NODE = node ?? '';
    env.HA_FENCE_ACTION = action;
    env.HA_FENCE_PLUG = plug;
    env.HA_FENCE_DEVICE = device.name;
  }
  // No arguments: fence-agents read stdin only when argv is empty.
  const result = await runProgram({ file: path, args: [], env, timeoutMs: device.timeout, stdin: stdinText(options) });
  return { ok: true, result, secrets };
}

/** The agent's own explanation: its last error-looking line on stderr, else its last line (stderr, then stdout). */
function agentSaid(result: RunResult & { status: 'exited' }, secrets: string[]): string {
  const lines = (text: string | undefined) =>
    scrub(text ?? '', secrets)
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
  const err = lines(result.stderr);
  const picked = [...err].reverse().find((l) => /error|fail|unable|denied|timed? ?out/i.test(l)) ?? err.at(-1) ?? lines(result.stdout).at(-1) ?? '';
  return picked.slice(0, REASON_MAX);
}

function oneLine(text: string): string {
  return text.replace(/[\r\n\t]+/g, ' ').slice(0, REASON_MAX * 2);
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
