// Measures the cost of one OCF monitor (spawn -> exit) through the process runner: the median
// wall time of 50 runs of the dummy agent's monitor, plus the CPU time this process spent per run.
// Run after a build: node scripts/bench-monitor.mjs
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runAction } from '../dist/agent/ocf/runner.js';
import { resolveAgent } from '../dist/agent/ocf/resolve.js';

const RUNS = 50;
const runDir = await mkdtemp(join(tmpdir(), 'hactl-bench-'));
try {
  const resolved = await resolveAgent('dummy', { ocfRoot: '/usr/lib/ocf', resourceDirs: [] });
  if (!resolved.ok) throw new Error(resolved.reason);
  const req = { agent: resolved.agent, action: 'monitor', resourceId: 'bench', params: {}, timeoutMs: 10_000, intervalMs: 0, ocfRoot: '/usr/lib/ocf', runDir, node: 'bench', set: 'bench', fencingToken: null };
  for (let i = 0; i < 5; i++) await runAction(req); // warm-up
  const wallMs = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const r = await runAction(req);
    wallMs.push(performance.now() - t0);
    if (r.status !== 'exited') throw new Error(`monitor did not exit: ${JSON.stringify(r)}`);
  }
  const cpu = process.cpuUsage(cpu0);
  wallMs.sort((a, b) => a - b);
  console.log(JSON.stringify({ runs: RUNS, medianMs: +wallMs[RUNS >> 1].toFixed(2), p90Ms: +wallMs[Math.floor(RUNS * 0.9)].toFixed(2), parentCpuMsPerRun: +((cpu.user + cpu.system) / 1000 / RUNS).toFixed(2) }));
} finally {
  await rm(runDir, { recursive: true, force: true });
}
