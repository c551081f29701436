// Runs one OCF action (SPEC §6.1): the agent executed directly with an argument vector (never a
// shell), parameters only as OCF_RESKEY_* environment variables, through the shared process
// runner (agent/exec/run.ts: own process group, SIGTERM then SIGKILL on timeout), and the last
// `ocf-exit-reason:` line on stderr kept as the reason people read.
import type { ParamValue } from '../config/cluster-schema.js';
import type { ActionOutcome } from '../core/results.js';
import { baseEnv, runProgram, SYSTEM_PATH } from '../exec/run.js';
import type { AgentRef } from './resolve.js';
import { builtinMonitor } from './builtin-monitor.js';

export type OcfAction = 'start' | 'stop' | 'monitor' | 'meta-data' | 'validate-all' | 'reload' | 'promote' | 'demote' | 'notify';

export interface ActionRequest {
  agent: AgentRef;
  action: OcfAction;
  resourceId: string;
  params: Record<string, ParamValue>;
  timeoutMs: number;
  /** 0 for a probe or a one-off action; the monitor interval for recurring monitors. */
  intervalMs: number;
  checkLevel?: number;
  ocfRoot: string;
  runDir: string;
  node: string;
  set: string;
  fencingToken: number | null;
  /** Aborting kills the action's process group at once (SIGKILL): the outcome is `aborted`. */
  signal?: AbortSignal;
  /** Told the PID (= process group) as soon as the agent runs. */
  onSpawn?: (pid: number) => void;
}

export type ActionResult = ActionOutcome & { durationMs: number; stdout: string };

const REASON_PREFIX = 'ocf-exit-reason:';

/** Flattens a parameter value into the text of its OCF_RESKEY_ variable (arrays and maps as JSON). */
export function paramText(value: ParamValue): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

export function actionEnv(req: ActionRequest): Record<string, string> {
  const env: Record<string, string> = {
    ...baseEnv(),
    OCF_ROOT: req.ocfRoot,
    OCF_RA_VERSION_MAJOR: '1',
    OCF_RA_VERSION_MINOR: '1',
    OCF_RESOURCE_INSTANCE: req.resourceId,
    OCF_RESOURCE_TYPE: req.agent.name,
    OCF_RESOURCE_PROVIDER: req.agent.provider,
    OCF_RESKEY_CRM_meta_timeout: String(req.timeoutMs),
    OCF_RESKEY_CRM_meta_interval: String(req.intervalMs),
    OCF_RESKEY_CRM_meta_on_node: req.node,
    OCF_CHECK_LEVEL: String(req.checkLevel ?? 0),
    OCF_EXIT_REASON_PREFIX: REASON_PREFIX,
    HA_NODE: req.node,
    HA_SERVICE_SET: req.set,
    HA_RSCTMP: req.runDir,
  };
  if (req.fencingToken !== null) env.HA_FENCING_TOKEN = String(req.fencingToken);
  for (const [name, value] of Object.entries(req.params)) env[`OCF_RESKEY_${name}`] = paramText(value);
  return env;
}

export async function runAction(req: ActionRequest): Promise<ActionResult> {
  if (req.agent.kind === 'systemd') return runSystemdAction(req);
  const answered = await builtinMonitor(req);
  if (answered) return answered;
  return runExecutable(req.agent.path, [req.action], actionEnv(req), req.timeoutMs, { signal: req.signal, onSpawn: req.onSpawn });
}

/** systemd:<unit> resources, driven with systemctl start/stop/is-active (SPEC §3.2). */
async function runSystemdAction(req: ActionRequest): Promise<ActionResult> {
  const unit = (req.agent as { unit: string }).unit;
  const env = { PATH: SYSTEM_PATH, LANG: 'C' };
  const systemctl = (args: string[]) => runExecutable('/usr/bin/systemctl', args, env, req.timeoutMs, { signal: req.signal, onSpawn: req.onSpawn });
  switch (req.action) {
    case 'start':
    case 'stop': {
      const r = await systemctl([req.action, unit]);
      return r.status === 'exited' && r.rc !== 0 ? { ...r, rc: 1, reason: firstLine(r.stdout) || `systemctl ${req.action} ${unit} failed (rc=${r.rc})` } : r;
    }
    case 'monitor': {
      const r = await systemctl(['is-active', '--quiet', unit]);
      return r.status === 'exited' && r.rc !== 0 ? { ...r, rc: 7 } : r;
    }
    case 'validate-all': {
      const r = await systemctl(['cat', unit]);
      return r.status === 'exited' && r.rc !== 0 ? { ...r, rc: 5, reason: `systemd unit ${unit} not found or systemd not running` } : { ...r, stdout: '' };
    }
    case 'meta-data':
      return { status: 'exited', rc: 0, durationMs: 0, stdout: systemdMetaData(unit) };
    default:
      return { status: 'exited', rc: 3, durationMs: 0, stdout: '' };
  }
}

function systemdMetaData(unit: string): string {
  return `<?xml version="1.0"?>
<resource-agent name="${unit}" version="1.0">
  <version>1.1</version>
  <shortdesc lang="en">systemd unit ${unit}</shortdesc>
  <longdesc lang="en">Started and stopped with systemctl; monitored with systemctl is-active.</longdesc>
  <parameters/>
  <actions>
    <action name="start" timeout="100s"/>
    <action name="stop" timeout="100s"/>
    <action name="monitor" timeout="100s" interval="60s"/>
    <action name="meta-data" timeout="5s"/>
    <action name="validate-all" timeout="5s"/>
  </actions>
</resource-agent>
`;
}

/** Optional extras of runExecutable. */
export interface ExecOptions {
  signal?: AbortSignal;
  onSpawn?: (pid: number) => void;
}

/**
 * Runs `file args` through the shared process runner (agent/exec: its own process group, SIGTERM
 * then SIGKILL on timeout, SIGKILL on abort, bounded output) and keeps the last
 * `ocf-exit-reason:` line on stderr as the reason. Never rejects.
 */
export async function runExecutable(file: string, args: string[], env: Record<string, string>, timeoutMs: number, opts: ExecOptions = {}): Promise<ActionResult> {
  const r = await runProgram({ file, args, env, timeoutMs, signal: opts.signal, onSpawn: opts.onSpawn });
  const { durationMs, stdout } = r;
  switch (r.status) {
    case 'exited':
      return { status: 'exited', rc: r.rc, reason: exitReason(r.stderr), durationMs, stdout };
    case 'timed-out':
      return { status: 'timed-out', durationMs, stdout };
    default:
      return { status: r.status, reason: r.reason, durationMs, stdout };
  }
}

/** The last `ocf-exit-reason:` line on stderr, if any. */
export function exitReason(stderr: string): string | undefined {
  let reason: string | undefined;
  for (const line of stderr.split('\n')) {
    const at = line.indexOf(REASON_PREFIX);
    if (at >= 0) reason = line.slice(at + REASON_PREFIX.length).trim().slice(0, 500);
  }
  return reason;
}

function firstLine(text: string): string {
  return text.split('\n')[0].trim();
}
