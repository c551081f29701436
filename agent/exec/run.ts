// The one process runner of the agent, shared by resource agents (ocf/runner.ts) and fence devices
// (fence/device.ts). What it guarantees to both:
//  - the program is executed directly (argument vector, never a shell) with exactly the environment
//    given (nothing inherited from the agent: no PATH, no credentials), cwd `/`;
//  - it runs in its own process group, so a timeout ends everything it started: SIGTERM to the
//    group, then SIGKILL after `killGraceMs`; an abort SIGKILLs the group at once (a self-fence
//    must not wait for an agent that ignores TERM);
//  - stdout and stderr are kept up to OUTPUT_LIMIT_BYTES each; more is read and dropped, never a
//    reason to kill the program;
//  - `onSpawn(pid)` is told the PID (= process group) as soon as the program runs;
//  - it never throws and never rejects: a program that cannot be started (ENOENT, EACCES, a NUL
//    byte in an argument or the environment) is `spawn-failed`;
//  - after the program exits, output pipes held open by something it left behind (a daemon) are
//    not waited for longer than STREAM_DRAIN_MS.
// It spawns with node:child_process directly, not with execa: measured on the dummy agent's monitor,
// execa added about 3 ms of CPU per run in the agent (+50 %) and its group kills would be ours
// anyway (execa signals only the child itself).
import { spawn } from 'node:child_process';
import { dirname } from 'node:path';

export interface RunRequest {
  file: string;
  args: string[];
  env: Record<string, string>;
  timeoutMs: number;
  /** Written to the program's stdin, which is then closed (default: stdin is /dev/null). */
  stdin?: string;
  /** Aborting kills the process group at once (SIGKILL): the outcome is `aborted`. */
  signal?: AbortSignal;
  /** Told the PID (= process group) as soon as the program runs. */
  onSpawn?: (pid: number) => void;
  /** Time between SIGTERM and SIGKILL of a timed-out group (default KILL_GRACE_MS). */
  killGraceMs?: number;
}

interface Output {
  durationMs: number;
  stdout: string;
  stderr: string;
}

export type RunResult = Output &
  ({ status: 'exited'; rc: number } | { status: 'timed-out' } | { status: 'spawn-failed'; reason: string } | { status: 'aborted'; reason: string });

/** Time between SIGTERM and SIGKILL of a timed-out process group. */
export const KILL_GRACE_MS = 2000;
/** After the program exits, stdout/stderr held open by something it left behind are not waited for. */
const STREAM_DRAIN_MS = 100;
export const OUTPUT_LIMIT_BYTES = 1 << 20;
const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The base environment of every program the agent runs: a fixed PATH (this node's directory first,
 * for agents written in node) and the C locale, so output the agent parses is not translated.
 */
export function baseEnv(): Record<string, string> {
  return { PATH: `${dirname(process.execPath)}:${SAFE_PATH}`, LANG: 'C', LC_ALL: 'C' };
}

/** The PATH for programs that must not find anything next to node (systemctl). */
export const SYSTEM_PATH = SAFE_PATH;

/** Runs `file args` in its own process group, bounded by `timeoutMs`. Never rejects. */
export function runProgram(req: RunRequest): Promise<RunResult> {
  return new Promise((resolve) => {
    const startedMs = performance.now();
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let aborted: string | undefined;
    let settled = false;
    let exited: { code: number | null; signal: NodeJS.Signals | null; durationMs: number } | undefined;
    // Assigned once the program runs; `finish` may come first (a spawn failure).
    let termTimer: NodeJS.Timeout | undefined = undefined;
    let killTimer: NodeJS.Timeout | undefined;

    const finish = (result: RunResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(termTimer);
      clearTimeout(killTimer);
      req.signal?.removeEventListener('abort', onAbort);
      child?.stdout?.destroy();
      child?.stderr?.destroy();
      resolve(result);
    };
    const spawnFailed = (reason: string): void => finish({ status: 'spawn-failed', reason, durationMs: performance.now() - startedMs, stdout: '', stderr: '' });
    const killGroup = (signal: NodeJS.Signals): void => {
      try {
        if (child?.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // the group is already gone
      }
    };
    // An abort is a self-fence: no grace for the program to clean up (a TERM it ignores would
    // outlast a short takeover grace).
    const onAbort = (): void => {
      if (settled || timedOut || aborted !== undefined) return;
      aborted = String(req.signal?.reason ?? 'aborted');
      clearTimeout(termTimer);
      killGroup('SIGKILL');
    };

    let child: ReturnType<typeof spawn> | undefined;
    try {
      child = spawn(req.file, req.args, { env: req.env, detached: true, stdio: [req.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], cwd: '/' });
    } catch (err) {
      // spawn throws (rather than emitting 'error') on arguments no process can take, such as a
      // NUL byte in a parameter: the program could not run, reported like any spawn failure.
      spawnFailed(err instanceof Error ? err.message : String(err));
      return;
    }
    child.on('error', (err) => spawnFailed(err.message));
    const pid = child.pid;
    if (pid === undefined) return; // spawn failed: reported by 'error'
    req.onSpawn?.(pid);

    if (req.stdin !== undefined && child.stdin) {
      // A program that exits without reading its stdin makes this write fail (EPIPE): not an error here.
      child.stdin.on('error', () => undefined);
      child.stdin.end(req.stdin);
    }
    child.stdout?.on('data', (d: Buffer) => {
      if (stdout.length < OUTPUT_LIMIT_BYTES) stdout += d.toString('utf8');
    });
    child.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < OUTPUT_LIMIT_BYTES) stderr += d.toString('utf8');
    });
    // Reading stopped early (destroy after the drain) must not surface as an error.
    child.stdout?.on('error', () => undefined);
    child.stderr?.on('error', () => undefined);

    termTimer = setTimeout(() => {
      // After the event loop was held past the timeout (a burst of forks under load), timers run
      // before the I/O that already carries the exit: look again once this turn's I/O is read, so
      // a program that finished in time is never called timed out (issue 16).
      setImmediate(() => {
        if (settled || exited || aborted !== undefined) return;
        timedOut = true;
        killGroup('SIGTERM');
        killTimer = setTimeout(() => killGroup('SIGKILL'), req.killGraceMs ?? KILL_GRACE_MS);
      });
    }, req.timeoutMs);
    if (req.signal?.aborted) queueMicrotask(onAbort);
    else req.signal?.addEventListener('abort', onAbort, { once: true });

    const complete = (): void => {
      if (!exited) return;
      const out = { durationMs: exited.durationMs, stdout, stderr };
      if (timedOut || aborted !== undefined) {
        // Whatever the group left behind goes too.
        killGroup('SIGKILL');
        finish(aborted !== undefined ? { status: 'aborted', reason: aborted, ...out } : { status: 'timed-out', ...out });
        return;
      }
      const rc = exited.code ?? (exited.signal ? 128 + (signalNumbers[exited.signal] ?? 0) : 1);
      finish({ status: 'exited', rc, ...out });
    };
    child.once('exit', (code, signal) => {
      exited = { code, signal, durationMs: performance.now() - startedMs };
      // Normally 'close' follows at once; a daemon that inherited the pipes would hold them open
      // forever, so do not wait for it longer than STREAM_DRAIN_MS.
      setTimeout(complete, STREAM_DRAIN_MS);
    });
    child.once('close', complete);
  });
}

const signalNumbers: Partial<Record<NodeJS.Signals, number>> = { SIGTERM: 15, SIGKILL: 9, SIGINT: 2, SIGHUP: 1, SIGSEGV: 11, SIGABRT: 6 };
