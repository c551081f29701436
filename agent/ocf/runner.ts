// Runs one OCF action (SPEC §6.1): the agent executed directly with an argument vector (never a
// shell), parameters only as OCF_RESKEY_* environment variables, its own process group so that a
// timeout can end everything it started (SIGTERM, then SIGKILL after `killGraceMs`), and the last
// `ocf-exit-reason:` line on stderr kept as the reason people read.
import { spawn } from 'node:child_process';
import { dirname } from 'node:path';
import type { ParamValue } from '../config/cluster-schema.js';
import type { ActionOutcome } from '../core/results.js';
import type { AgentRef } from './resolve.js';

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

/** Time between SIGTERM and SIGKILL of a timed-out action's process group. */
const KILL_GRACE_MS = 2000;
/** After the agent exits, stdout/stderr held open by something it left behind are not waited for. */
const STREAM_DRAIN_MS = 100;
const OUTPUT_LIMIT_BYTES = 1 << 20;
const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const REASON_PREFIX = 'ocf-exit-reason:';

/** Flattens a parameter value into the text of its OCF_RESKEY_ variable (arrays and maps as JSON). */
export function paramText(value: ParamValue): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

export function actionEnv(req: ActionRequest): Record<string, string> {
  const env: Record<string, string> = {
    PATH: `${dirname(process.execPath)}:${SAFE_PATH}`,
    LANG: 'C',
    LC_ALL: 'C',
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

export function runAction(req: ActionRequest): Promise<ActionResult> {
  if (req.agent.kind === 'systemd') return runSystemdAction(req);
  return runExecutable(req.agent.path, [req.action], actionEnv(req), req.timeoutMs, { signal: req.signal, onSpawn: req.onSpawn });
}

/** systemd:<unit> resources, driven with systemctl start/stop/is-active (SPEC §3.2). */
async function runSystemdAction(req: ActionRequest): Promise<ActionResult> {
  const unit = (req.agent as { unit: string }).unit;
  const env = { PATH: SAFE_PATH, LANG: 'C' };
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

/** Optional extras of runExecutable (fence agents take their options on stdin, SPEC §3.2). */
export interface ExecOptions {
  /** Written to the child's stdin, which is then closed (default: stdin is /dev/null). */
  stdin?: string;
  /** Return the child's stderr too (callers that need more than the `ocf-exit-reason:` line). */
  captureStderr?: boolean;
  signal?: AbortSignal;
  onSpawn?: (pid: number) => void;
}

export type ExecResult = ActionResult & { stderr?: string };

/** Spawns `file args` in its own process group, bounded by `timeoutMs`. Never rejects. */
export function runExecutable(file: string, args: string[], env: Record<string, string>, timeoutMs: number, opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const startedMs = performance.now();
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let aborted: string | undefined;
    let settled = false;
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(file, args, { env, detached: true, stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], cwd: '/' });
    } catch (err) {
      // spawn throws (rather than emitting 'error') on arguments no process can take, such as a
      // NUL byte in a parameter: the action could not run, which is reported like any spawn failure.
      resolve({ status: 'spawn-failed', reason: err instanceof Error ? err.message : String(err), durationMs: performance.now() - startedMs, stdout: '' });
      return;
    }
    if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    if (opts.stdin !== undefined && child.stdin) {
      // An agent that exits without reading its stdin makes this write fail (EPIPE): not an error here.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.stdin);
    }
    const finish = (result: ExecResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(termTimer);
      clearTimeout(killTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve(opts.captureStderr ? { ...result, stderr } : result);
    };
    child.stdout?.on('data', (d: Buffer) => {
      if (stdout.length < OUTPUT_LIMIT_BYTES) stdout += d.toString('utf8');
    });
    child.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < OUTPUT_LIMIT_BYTES) stderr += d.toString('utf8');
    });
    const killGroup = (signal: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // the group is already gone
      }
    };
    let killTimer: NodeJS.Timeout | undefined;
    const endGroup = (): void => {
      clearTimeout(termTimer);
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS);
    };
    const termTimer = setTimeout(() => {
      timedOut = true;
      endGroup();
    }, timeoutMs);
    // An abort is a self-fence: no grace for the agent to clean up (a TERM it ignores would
    // outlast a short takeover grace; found by the simulator, BUG-12).
    const onAbort = (): void => {
      if (timedOut || aborted !== undefined) return;
      aborted = String(opts.signal?.reason ?? 'aborted');
      clearTimeout(termTimer);
      killGroup('SIGKILL');
    };
    if (opts.signal?.aborted) queueMicrotask(onAbort);
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err) => finish({ status: 'spawn-failed', reason: err.message, durationMs: performance.now() - startedMs, stdout: '' }));
    let exited: { code: number | null; signal: NodeJS.Signals | null; durationMs: number } | undefined;
    const complete = (): void => {
      if (!exited) return;
      if (timedOut || aborted !== undefined) {
        killGroup('SIGKILL');
        finish(aborted !== undefined ? { status: 'aborted', reason: aborted, durationMs: exited.durationMs, stdout } : { status: 'timed-out', durationMs: exited.durationMs, stdout });
        return;
      }
      const rc = exited.code ?? (exited.signal ? 128 + (signalNumbers[exited.signal] ?? 0) : 1);
      finish({ status: 'exited', rc, reason: exitReason(stderr), durationMs: exited.durationMs, stdout });
    };
    child.on('exit', (code, signal) => {
      exited = { code, signal, durationMs: performance.now() - startedMs };
      // Normally 'close' follows at once; a daemon that inherited the pipes would hold them open
      // forever, so do not wait for it longer than STREAM_DRAIN_MS.
      setTimeout(complete, STREAM_DRAIN_MS);
    });
    child.on('close', complete);
  });
}

const signalNumbers: Partial<Record<NodeJS.Signals, number>> = { SIGTERM: 15, SIGKILL: 9, SIGINT: 2, SIGHUP: 1, SIGSEGV: 11, SIGABRT: 6 };

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
