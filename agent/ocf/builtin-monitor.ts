// The built-in dummy's monitor answered inside the agent, without a fork. Forking the agent
// (70-90 MB resident) costs it about 3-6 ms of CPU per action; with 20 sets of two dummies
// monitored every 10 s that was most of what an idle agent spent. What is guaranteed: the answer
// is the one resources/dummy gives for the same request. Its monitor (and probe) is "is
// $HA_RSCTMP/<instance>.state a file": 0 when it is, 7 when not. Everything else the script does
// differently is left to the script, which then runs as before: any parameter (delays and their
// validation), an injected failure file (<instance>.fail-monitor), an instance name it refuses.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ActionRequest, ActionResult } from './runner.js';

/** The instance names the dummy accepts (hactl_require_instance in resources/lib/hactl-ocf.sh). */
const INSTANCE_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$/;

/** Like the shell's `[[ -f path ]]`: a regular file, following links; false on any error. */
async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** The dummy's monitor or probe answered here, or undefined when only the script can answer it. */
export async function builtinMonitor(req: ActionRequest): Promise<ActionResult | undefined> {
  const { agent } = req;
  if (req.action !== 'monitor' || agent.kind !== 'ocf' || agent.provider !== 'hactl' || agent.name !== 'dummy') return undefined;
  if (Object.keys(req.params).length > 0 || !INSTANCE_RE.test(req.resourceId) || req.runDir === '') return undefined;
  const startedMs = performance.now();
  const aborted = (): ActionResult => ({ status: 'aborted', reason: String(req.signal?.reason ?? 'aborted'), durationMs: performance.now() - startedMs, stdout: '' });
  if (req.signal?.aborted) return aborted();
  if (await isFile(join(req.runDir, `${req.resourceId}.fail-monitor`))) return undefined;
  const running = await isFile(join(req.runDir, `${req.resourceId}.state`));
  // An abort during the check wins, as it would over a forked monitor.
  if (req.signal?.aborted) return aborted();
  return { status: 'exited', rc: running ? 0 : 7, durationMs: performance.now() - startedMs, stdout: '' };
}
