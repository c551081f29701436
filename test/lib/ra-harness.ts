// Harness for the resource-agent tests (test/resources): run an agent the way hactl's runner
// does (argv + OCF_* environment, process-group kill on timeout), run plain commands without a
// shell, build namespace hosts on a bridge, and undo everything in reverse order.
//
// Names and addresses: namespaces hactl-ra-*, bridge hactlrabr0, 10.231.0.0/24 and fd00:231::/64.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resourcesDir } from './paths.js';

export const BRIDGE = 'hactlrabr0';
export const BRIDGE_V4 = '10.231.0.1';
export const BRIDGE_V6 = 'fd00:231::1';
export const PATH_ENV = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface CmdResult {
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

export interface CmdOptions {
  env?: Record<string, string>;
  timeoutMs?: number;
  input?: string;
  cwd?: string;
}

/** Run argv[0] with argv[1..] (no shell) in its own process group; kill the group on timeout. */
export function run(argv: readonly string[], opts: CmdOptions = {}): Promise<CmdResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('run: empty argv');
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? { PATH: PATH_ENV },
      cwd: opts.cwd ?? '/',
      detached: true,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
    }, opts.timeoutMs ?? 30_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    // 'exit' rather than 'close': a daemon started by the command may keep a pipe open.
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      // Let buffered output arrive.
      setImmediate(() =>
        resolve({ code: code ?? 128, signal, stdout, stderr, ms: performance.now() - started, timedOut }),
      );
    });
  });
}

/** Like run, but throws with the command's stderr when it does not exit 0. */
export async function sh(argv: readonly string[], opts: CmdOptions = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} exited ${r.code}${r.timedOut ? ' (timed out)' : ''}: ${r.stderr.trim()}`);
  return r.stdout;
}

export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    /* already gone */
  }
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll fn every stepMs until it returns true or timeoutMs passes; returns whether it did. */
export async function waitFor(fn: () => Promise<boolean> | boolean, timeoutMs: number, stepMs = 50): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    if (await fn()) return true;
    if (performance.now() >= until) return false;
    await sleep(stepMs);
  }
}

// ---- cleanup ---------------------------------------------------------------------------------

/** Undo steps, run last-in first-out; every step runs even when an earlier one throws. */
export class Cleanup {
  private readonly steps: { what: string; fn: () => Promise<unknown> }[] = [];

  add(what: string, fn: () => Promise<unknown>): void {
    this.steps.push({ what, fn });
  }

  async run(): Promise<string[]> {
    const errors: string[] = [];
    while (this.steps.length > 0) {
      const step = this.steps.pop();
      if (step === undefined) break;
      try {
        await step.fn();
      } catch (e) {
        errors.push(`${step.what}: ${(e as Error).message}`);
      }
    }
    if (errors.length > 0) process.stderr.write(`cleanup problems:\n  ${errors.join('\n  ')}\n`);
    return errors;
  }
}

export async function makeTempDir(cleanup: Cleanup, tag: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `hactl-ra-${tag}-`));
  cleanup.add(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
  return dir;
}

// ---- running agents --------------------------------------------------------------------------

export interface AgentCall {
  instance: string;
  rsctmp: string;
  params?: Record<string, string>;
  /** Action timeout in ms (OCF_RESKEY_CRM_meta_timeout); the process group is killed after it. */
  timeoutMs?: number;
  /** OCF_RESKEY_CRM_meta_interval in ms; default 10000 (a recurring monitor, not a probe). */
  intervalMs?: number;
  checkLevel?: number;
  fencingToken?: string;
  extraEnv?: Record<string, string>;
  /** Run inside this namespace host. */
  host?: NsHost;
}

export interface AgentResult extends CmdResult {
  rc: number;
  /** The ocf-exit-reason text, if the agent printed one. */
  reason: string | undefined;
}

export function agentPath(name: string): string {
  return join(resourcesDir, name);
}

export function agentEnv(agent: string, action: string, call: AgentCall): Record<string, string> {
  const env: Record<string, string> = {
    PATH: PATH_ENV,
    OCF_ROOT: '/usr/lib/ocf',
    OCF_RA_VERSION_MAJOR: '1',
    OCF_RA_VERSION_MINOR: '1',
    OCF_RESOURCE_INSTANCE: call.instance,
    OCF_RESOURCE_TYPE: agent,
    OCF_RESOURCE_PROVIDER: 'hactl',
    OCF_EXIT_REASON_PREFIX: 'ocf-exit-reason:',
    OCF_RESKEY_CRM_meta_timeout: String(call.timeoutMs ?? 20_000),
    OCF_RESKEY_CRM_meta_interval: String(call.intervalMs ?? (action === 'monitor' ? 10_000 : 0)),
    OCF_CHECK_LEVEL: String(call.checkLevel ?? 0),
    HA_NODE: call.host?.name ?? 'local',
    HA_SERVICE_SET: 'TEST',
    HA_RSCTMP: call.rsctmp,
    ...(call.fencingToken !== undefined ? { HA_FENCING_TOKEN: call.fencingToken } : {}),
    ...(call.extraEnv ?? {}),
  };
  for (const [k, v] of Object.entries(call.params ?? {})) env[`OCF_RESKEY_${k}`] = v;
  return env;
}

/** Run `<agent> <action>` as hactl's runner does. */
export async function runAgent(agent: string, action: string, call: AgentCall): Promise<AgentResult> {
  const env = agentEnv(agent, action, call);
  const argv = call.host ? [...call.host.enterArgv(), agentPath(agent), action] : [agentPath(agent), action];
  const r = await run(argv, { env, timeoutMs: (call.timeoutMs ?? 20_000) + 2_000 });
  const m = /^ocf-exit-reason:(.*)$/m.exec(r.stderr);
  return { ...r, rc: r.timedOut ? -1 : r.code, reason: m?.[1] };
}

/** Run Debian's ocf-tester against an agent; returns its result (code 0 = passed). */
export async function ocfTester(agent: string, instance: string, params: Record<string, string>, host?: NsHost): Promise<CmdResult> {
  const argv = [...(host ? host.enterArgv() : []), '/usr/sbin/ocf-tester', '-n', instance];
  for (const [k, v] of Object.entries(params)) argv.push('-o', `${k}=${v}`);
  argv.push(agentPath(agent));
  // HA_RSCTMP unset on purpose: agents must fall back to /run/hactl.
  const r = await run(argv, { env: { PATH: PATH_ENV, OCF_ROOT: '/usr/lib/ocf' }, timeoutMs: 120_000 });
  if (r.code === 0) {
    // Passed, so everything is stopped: remove the instance's files (logs, generated config).
    // On failure they stay, so the caller's cleanup can still find pids in them.
    const files = (await run(['ls', '/run/hactl'])).stdout.split('\n').filter((f) => f.startsWith(`${instance}.`));
    for (const f of files) await run(['rm', '-rf', `/run/hactl/${f}`]);
  }
  return r;
}

// ---- namespace hosts -------------------------------------------------------------------------

/**
 * A namespace host: a network namespace plus a private mount namespace, both held by a sleeper
 * process; commands enter both with nsenter, so mounts persist between agent actions (unlike
 * `ip netns exec`, which makes a fresh mount namespace per call).
 */
export class NsHost {
  sleeperPid = 0;

  constructor(
    readonly name: string,
    readonly netns: string,
  ) {}

  enterArgv(): string[] {
    return ['nsenter', '-t', String(this.sleeperPid), '-n', '-m', '--'];
  }

  exec(argv: readonly string[], opts: CmdOptions = {}): Promise<CmdResult> {
    return run([...this.enterArgv(), ...argv], opts);
  }

  async sh(argv: readonly string[], opts: CmdOptions = {}): Promise<string> {
    return sh([...this.enterArgv(), ...argv], opts);
  }
}

/**
 * Create host `hactl-ra-<suffix>`: netns, veth `hrv<suffix>` enslaved to the bridge (eth0 inside),
 * addresses, and the sleeper holding a private mount namespace. Registers its removal.
 */
export async function makeHost(
  cleanup: Cleanup,
  suffix: string,
  addrs: { v4?: string; v6?: string },
  bridge: string | null = BRIDGE,
): Promise<NsHost> {
  const netns = `hactl-ra-${suffix}`;
  const veth = `hrv${suffix}`;
  if (veth.length > 15) throw new Error(`interface name ${veth} too long`);
  const host = new NsHost(suffix, netns);
  await sh(['ip', 'netns', 'add', netns]);
  cleanup.add(`delete netns ${netns}`, () => sh(['ip', 'netns', 'del', netns]));
  await sh(['ip', '-n', netns, 'link', 'set', 'lo', 'up']);
  if (bridge !== null) {
    await sh(['ip', 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
    cleanup.add(`delete ${veth}`, async () => {
      await run(['ip', 'link', 'del', veth]);
    });
    await sh(['ip', 'link', 'set', veth, 'master', bridge, 'up']);
    await sh(['ip', '-n', netns, 'link', 'set', 'eth0', 'up']);
    if (addrs.v4) await sh(['ip', '-n', netns, 'addr', 'add', addrs.v4, 'dev', 'eth0']);
    if (addrs.v6) await sh(['ip', '-n', netns, 'addr', 'add', addrs.v6, 'dev', 'eth0', 'nodad']);
  }
  // The sleeper: ip netns exec -> unshare (new private mount ns) -> sleep, all by exec, so the
  // pid we get is the sleep holding both namespaces. Bounded life (10 min) even if we crash.
  const child = spawn('ip', ['netns', 'exec', netns, 'unshare', '--mount', '--propagation', 'private', 'sleep', '600'], {
    stdio: 'ignore',
    detached: true,
    env: { PATH: PATH_ENV },
  });
  if (child.pid === undefined) throw new Error('cannot start the host sleeper');
  child.unref();
  const pid = child.pid;
  cleanup.add(`kill sleeper ${pid} of ${netns}`, async () => {
    killGroup(pid, 'SIGKILL');
  });
  host.sleeperPid = pid;
  // Ready when the sleeper's mount namespace differs from ours.
  const ok = await waitFor(async () => {
    const r = await run(['readlink', `/proc/${pid}/ns/mnt`, '/proc/self/ns/mnt']);
    const [a, b] = r.stdout.trim().split('\n');
    return r.code === 0 && a !== b && (await run(['readlink', `/proc/${pid}/exe`])).stdout.includes('sleep');
  }, 5_000, 20);
  if (!ok) throw new Error(`host ${netns}: sleeper did not enter its namespaces`);
  return host;
}

/** Create the bridge (with the observer addresses) and register its removal. */
export async function makeBridge(cleanup: Cleanup): Promise<void> {
  await run(['ip', 'link', 'del', BRIDGE]); // a leftover from a crashed run
  await sh(['ip', 'link', 'add', BRIDGE, 'type', 'bridge']);
  cleanup.add(`delete bridge ${BRIDGE}`, () => sh(['ip', 'link', 'del', BRIDGE]));
  await sh(['ip', 'addr', 'add', `${BRIDGE_V4}/24`, 'dev', BRIDGE]);
  await sh(['ip', 'addr', 'add', `${BRIDGE_V6}/64`, 'dev', BRIDGE, 'nodad']);
  await sh(['ip', 'link', 'set', BRIDGE, 'up']);
}

/** Remove namespaces `hactl-ra-*` left by a crashed earlier run (only ours, by prefix). */
export async function removeStaleNamespaces(): Promise<void> {
  const r = await run(['ip', 'netns', 'list']);
  for (const line of r.stdout.split('\n')) {
    const name = line.split(' ')[0];
    if (name?.startsWith('hactl-ra-')) await run(['ip', 'netns', 'del', name]);
  }
}

/** Attach a loop device to image; registers its detach (after unmounting, LIFO). */
export async function attachLoop(cleanup: Cleanup, image: string): Promise<string> {
  const dev = (await sh(['losetup', '-f', '--show', image])).trim();
  cleanup.add(`detach ${dev}`, () => sh(['losetup', '-d', dev]));
  return dev;
}

/** Is a pid alive (and not a zombie)? */
export async function pidAlive(pid: number): Promise<boolean> {
  const r = await run(['cat', `/proc/${pid}/stat`]);
  if (r.code !== 0) return false;
  const state = r.stdout.slice(r.stdout.lastIndexOf(')') + 2).split(' ')[0];
  return state !== 'Z' && state !== 'X';
}
