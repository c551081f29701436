// Starts in flight, on disk: an OCF start runs in its own process group, so it survives the agent
// that launched it. If the agent dies mid-start and comes back, that orphaned start could finish
// after the new agent probed and found nothing — a running copy no agent knows about (found by the
// simulator, BUG-5). So each start's process group is recorded under dataDir/run/inflight/ while it
// runs, and a starting agent kills the groups its previous life left, before it probes anything.
// A group is killed only if its leader is the very process recorded (same PID and kernel start
// time), so a reused PID is never hit.
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from './log.js';

/** How long a starting agent waits for a killed group's leader to be gone. */
const GONE_WAIT_MS = 5000;

function dirOf(runDir: string): string {
  return join(runDir, 'inflight');
}

/** The kernel's start time of `pid` (field 22 of /proc/<pid>/stat), or null when it is gone (or a zombie). */
async function startTicks(pid: number): Promise<string | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return null; // exited, waiting to be reaped
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/** Records a start's process group; returns the record's path (null if it could not be written). */
export async function recordInflight(runDir: string, pid: number, what: Record<string, unknown>): Promise<string | null> {
  const ticks = await startTicks(pid);
  if (ticks === null) return null; // already finished
  const path = join(dirOf(runDir), `${pid}.json`);
  try {
    await mkdir(dirOf(runDir), { recursive: true, mode: 0o750 });
    await writeFile(path, JSON.stringify({ pid, ticks, ...what }) + '\n', { mode: 0o640 });
    return path;
  } catch {
    return null;
  }
}

export async function clearInflight(path: string): Promise<void> {
  await rm(path, { force: true });
}

/** Kills the start process groups an earlier life of this agent left running; waits until they are gone. */
export async function killLeftoverStarts(runDir: string, log: Logger): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dirOf(runDir));
  } catch {
    return;
  }
  for (const name of names.filter((n) => n.endsWith('.json'))) {
    const path = join(dirOf(runDir), name);
    try {
      const rec = JSON.parse(await readFile(path, 'utf8')) as { pid?: number; ticks?: string; set?: string; resource?: string };
      const pid = Number(rec.pid);
      if (Number.isInteger(pid) && pid > 1 && rec.ticks !== undefined && (await startTicks(pid)) === rec.ticks) {
        log.warn({ pid, set: rec.set, resource: rec.resource }, 'killing a start left running by the previous agent');
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // already gone
        }
        const deadline = performance.now() + GONE_WAIT_MS;
        while ((await startTicks(pid)) === rec.ticks && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      }
    } catch {
      // unreadable record: nothing to trust in it
    }
    await rm(path, { force: true });
  }
}
