// Small async process helpers for the chaos testbed. Everything is bounded in time: a command that
// does not finish within its timeout is SIGKILLed and reported as failed. No synchronous children.
import { execFile, spawn } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  /** Milliseconds before the command is killed (default 10 s). */
  timeoutMs?: number;
  /** Text written to the command's stdin. */
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Run a command (argument vector, never a shell string of untrusted text); never rejects. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args as string[],
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 32 * 1024 * 1024, env: opts.env ?? process.env, cwd: opts.cwd, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (!err) {
          resolve({ code: 0, stdout, stderr, timedOut: false });
          return;
        }
        const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean; signal?: string };
        const timedOut = e.killed === true && e.signal === 'SIGKILL';
        const code = typeof e.code === 'number' ? e.code : 127;
        resolve({ code: timedOut ? 124 : code, stdout: stdout ?? '', stderr: (stderr ?? '') + (typeof e.code === 'string' ? `${e.message}\n` : ''), timedOut });
      },
    );
    child.on('error', () => undefined);
    if (opts.input !== undefined) {
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(opts.input);
    } else {
      child.stdin?.end();
    }
  });
}

/** Like run(), but rejects with a readable message when the command fails. */
export async function runOk(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')}: exit ${r.code}${r.timedOut ? ' (timed out)' : ''}: ${r.stderr.trim().slice(0, 500)}`);
  }
  return r.stdout;
}

export const sleep = (ms: number): Promise<void> => delay(ms);

/** Poll `probe` every `everyMs` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs: number,
  everyMs = 50,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() >= end) {
      const why = lastErr instanceof Error ? `: last error: ${lastErr.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await delay(everyMs);
  }
}

/** Monotonic milliseconds. */
export function nowMs(): number {
  return performance.now();
}

/** True when the process exists and is not a zombie. */
export async function pidAlive(pid: number): Promise<boolean> {
  const { readFile } = await import('node:fs/promises');
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Send a signal to one PID; false when it does not exist. */
export function signalPid(pid: number, sig: NodeJS.Signals = 'SIGKILL'): boolean {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Start a long-lived child (not awaited); stdio as given. */
export { spawn };
