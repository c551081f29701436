// What the console's buttons do. Each action IS the hactl command: it runs `hactl <command>` as a
// child process of `hactl web`, with the same connection options (--endpoints, --cluster, TLS files,
// --user/--password-file, --config) and the same environment. So an action checks the same rules,
// writes the same intent, leaves the same event and is refused with the same one line and exit
// code as the CLI — there is no second implementation to drift. The console adds only the
// sentence that says, before the operator confirms, what will happen.
import { spawn } from 'node:child_process';
import { HACTL_JS } from '../dev/local-cluster.js';
import type { GlobalOptions } from '../connect.js';
import { EXIT } from '../errors.js';
import type { ClusterStatus } from '../status-model.js';
import type { BanView } from './live.js';

export const ACTIONS = ['failover', 'move', 'standby', 'unstandby', 'maintenance-on', 'maintenance-off', 'cleanup', 'ban', 'clear'] as const;
// enable/disable: add 'enable' and 'disable' here, in plan() and in describe() once the CLI has
// `hactl enable SET` / `hactl disable SET`; the page shows every action the server lists.
export type ActionName = (typeof ACTIONS)[number];

export interface ActionRequest {
  action: ActionName;
  set?: string;
  node?: string;
  resource?: string;
}

export interface ActionResult {
  ok: boolean;
  exitCode: number;
  /** What the CLI printed: its stdout line when it succeeded, its error line (without "hactl: ") when not. */
  message: string;
  /** The command as an operator would type it. */
  command: string;
}

/** Names as the configuration allows them (and clone instances, SET:N); never an option ("-x"). */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}(?::\d{1,4})?$/;

export class ActionInputError extends Error {}

/** Checks a request's shape; a bad one is answered with this one line (HTTP 400). */
export function parseActionRequest(body: unknown): ActionRequest {
  if (typeof body !== 'object' || body === null) throw new ActionInputError('the request is not a JSON object');
  const b = body as Record<string, unknown>;
  if (typeof b.action !== 'string' || !(ACTIONS as readonly string[]).includes(b.action)) throw new ActionInputError(`unknown action: ${String(b.action)}`);
  const req: ActionRequest = { action: b.action as ActionName };
  for (const field of ['set', 'node', 'resource'] as const) {
    const v = b[field];
    if (v === undefined || v === null || v === '') continue;
    if (typeof v !== 'string' || !NAME_RE.test(v)) throw new ActionInputError(`${field}: not a valid name: ${String(v).slice(0, 80)}`);
    req[field] = v;
  }
  const need = (field: 'set' | 'node'): void => {
    if (req[field] === undefined) throw new ActionInputError(`${req.action} needs a ${field === 'set' ? 'service set' : 'node'}`);
  };
  if (['failover', 'move', 'cleanup', 'ban', 'clear'].includes(req.action)) need('set');
  if (['move', 'standby', 'unstandby', 'ban'].includes(req.action)) need('node');
  return req;
}

/** The hactl arguments of a request (after the connection options). */
export function plan(req: ActionRequest): string[] {
  const set = req.set ?? '';
  const node = req.node ?? '';
  switch (req.action) {
    case 'failover':
      return ['failover', ...(req.node ? ['--to', node] : []), '--', set];
    case 'move':
      return ['move', '--', set, node];
    case 'standby':
    case 'unstandby':
      return [req.action, '--', node];
    case 'maintenance-on':
    case 'maintenance-off':
      return ['maintenance', '--', req.action === 'maintenance-on' ? 'on' : 'off', ...(req.set ? [set] : [])];
    case 'cleanup':
      return ['cleanup', '--', set, ...(req.resource ? [req.resource] : [])];
    case 'ban':
      return ['ban', '--', set, node];
    case 'clear':
      return ['clear', '--', set];
  }
}

/** The command line an operator would type for the request. */
export function commandLine(req: ActionRequest): string {
  const argv = plan(req);
  const end = argv.indexOf('--');
  return ['hactl', argv[0], ...argv.slice(end + 1), ...argv.slice(1, end)].join(' ');
}

const list = (xs: string[]): string => xs.join(', ');

/** What will happen, in one or two sentences, from the current view (shown before confirming). */
export function describe(req: ActionRequest, view: { status: ClusterStatus; bans: BanView[] } | null): string {
  const status = view?.status ?? null;
  const set = status?.sets.find((s) => s.name === req.set);
  const owner = set?.node ?? null;
  const ids = set?.resources.map((r) => r.id) ?? [];
  const to = req.node ?? 'the best eligible node';
  switch (req.action) {
    case 'failover':
      return (
        `Planned switchover of ${req.set}${owner ? ` from ${owner}` : ''} to ${to}: ${owner ?? 'the owner'} stops ${ids.length > 0 ? `${list([...ids].reverse())} (reverse order)` : 'its resources in reverse order'} ` +
        `and hands ${req.set} over; ${to} then starts ${ids.length > 0 ? list(ids) : 'them in order'}. ${req.set} is not available between the stop and the start.`
      );
    case 'move':
      return owner
        ? `Move ${req.set} from ${owner} to ${req.node} by planned switchover (stop in reverse order on ${owner}, start on ${req.node}). The move request stays until ${req.set} runs on ${req.node}.`
        : `${req.set} runs nowhere now: ${req.node} is asked to take and start it. The move request stays until ${req.set} runs on ${req.node}.`;
    case 'standby': {
      const owned = status?.nodes.find((n) => n.name === req.node)?.sets ?? [];
      return `Put ${req.node} in standby: it takes no new sets${owned.length > 0 ? `, and ${list(owned)} move${owned.length === 1 ? 's' : ''} away by planned switchover (a set no other node can run stops)` : ' (it runs no sets now)'}.`;
    }
    case 'unstandby':
      return `Bring ${req.node} back into service: it may take sets again. Sets stay where they run unless their failback setting moves them.`;
    case 'maintenance-on':
      return `Maintenance on ${req.set ? `for ${req.set}` : 'cluster-wide'}: the agents start, stop and monitor nothing${req.set ? ` of ${req.set}` : ''} and nothing fails over; resources are left running as they are.`;
    case 'maintenance-off':
      return `Maintenance off ${req.set ? `for ${req.set}` : 'cluster-wide'}: the agents probe the resources and manage them again (a resource found stopped is started, or fails over).`;
    case 'cleanup':
      return `Clean up ${req.set}${req.resource ? ` (${req.resource})` : ''}: fail counts and the bans failures caused are removed, a blocked or failed state is lifted, and the agents probe again. Operator bans stay.`;
    case 'ban':
      return `Keep ${req.set} off ${req.node} until it is cleared${owner === req.node ? `; ${req.set} runs there now, so it moves away by planned switchover (or stops if no other node may run it — then hactl refuses)` : ''}.`;
    case 'clear': {
      const bans = (view?.bans ?? []).filter((b) => b.set === req.set).map((b) => b.node);
      return `Remove every ban${bans.length > 0 ? ` (on ${list(bans)})` : ''} and any pending move of ${req.set}, failure bans included. ${req.set} may then run on those nodes again.`;
    }
  }
}

/** The connection options of `hactl web`, as arguments for the hactl it runs. */
export function connectionArgs(opts: GlobalOptions): string[] {
  const flags: [keyof GlobalOptions, string][] = [
    ['config', '--config'],
    ['endpoints', '--endpoints'],
    ['cluster', '--cluster'],
    ['cacert', '--cacert'],
    ['cert', '--cert'],
    ['key', '--key'],
    ['user', '--user'],
    ['passwordFile', '--password-file'],
  ];
  return flags.flatMap(([k, flag]) => (typeof opts[k] === 'string' ? [flag, opts[k] as string] : []));
}

/** How long an action may take: they only write an intent (failover/move do not --wait). */
const ACTION_TIMEOUT_MS = 60_000;

/** Runs the hactl command of a request and returns what it said. */
export function runAction(req: ActionRequest, opts: GlobalOptions): Promise<ActionResult> {
  const command = commandLine(req);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [HACTL_JS, ...connectionArgs(opts), ...plan(req)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), ACTION_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, exitCode: EXIT.OTHER, message: `could not run hactl: ${err.message}`, command });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const exitCode = code ?? EXIT.OTHER;
      if (exitCode === 0) return resolve({ ok: true, exitCode, message: stdout.trim().split('\n').pop() ?? 'done', command });
      const line = stderr.trim().split('\n').pop()?.replace(/^hactl: /, '') ?? '';
      resolve({ ok: false, exitCode, message: line || (signal ? `hactl ended by ${signal} (took longer than ${ACTION_TIMEOUT_MS / 1000} s)` : `hactl exited ${exitCode}`), command });
    });
  });
}

/** The CLI's exit code classes, for the page's words. */
export function exitClass(code: number): string {
  return code === EXIT.OK ? 'done' : code === EXIT.USAGE ? 'bad input' : code === EXIT.NOT_FOUND ? 'not found' : code === EXIT.REFUSED ? 'refused' : code === EXIT.TIMEOUT ? 'timed out' : 'failed';
}
