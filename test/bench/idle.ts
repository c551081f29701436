// Bench part `idle`: what one agent costs when nothing happens. One etcd, one agent (the compiled
// `hactl agent` with the Node flags of the systemd unit), 20 sets of the built-in `dummy` with
// 10 s monitors, all running on it. The built-in dummy's monitor is answered without a fork
// (agent/ocf/builtin-monitor.ts); `type` names the same script as `script:<path>` to measure what
// every other agent costs: a fork per monitor. Over a window (60 s by default) it samples /proc/<pid>/stat:
// the agent's own CPU (which includes forking each monitor) and its children's (the monitors
// themselves, counted by the kernel when the agent reaps them), and its RSS.
import { readFile } from 'node:fs/promises';
import { startTestCluster, waitOnline } from '../lib/cluster.js';

export interface IdleOptions {
  /** The resource type: dummy, or script:<path of resources/dummy> for forked monitors. */
  type: string;
  sets: number;
  /** dummy resources per set (each monitored every monitorInterval). */
  resourcesPerSet: number;
  monitorInterval: string;
  windowMs: number;
}

export interface IdleResult extends IdleOptions {
  /** Percent of one core over the window. */
  agentCpuPct: number;
  /** Of agentCpuPct, the part spent in the kernel (forks, pipes, timers). */
  agentSystemCpuPct: number;
  childrenCpuPct: number;
  /** Resident set size at the end of the window, and the largest seen by the samples. */
  rssMb: number;
  maxRssMb: number;
  /** Monitors that ran in the window, per second (from the agents' debug log). */
  monitorsPerSecond: number;
  /** The agent's own CPU per monitor run, ms (all of its CPU divided by the monitors). */
  agentCpuMsPerMonitor: number;
}

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on every Linux this runs on). */
const TICKS_PER_SECOND = 100;
const RSS_SAMPLE_MS = 5000;

export function idleYaml(o: Pick<IdleOptions, 'type' | 'sets' | 'resourcesPerSet' | 'monitorInterval'>): string {
  let yaml = 'timing: { leaseTtl: 5s, fenceMargin: 1s }\nserviceSets:\n';
  for (let i = 1; i <= o.sets; i++) {
    yaml += `  S${i}:\n    prefer: [n1]\n    resources:\n`;
    for (let r = 1; r <= o.resourcesPerSet; r++) yaml += `      - { id: s${i}-r${r}, type: '${o.type}', monitor: { interval: ${o.monitorInterval} } }\n`;
  }
  return yaml;
}

async function cpuTicks(pid: number): Promise<{ self: number; system: number; children: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may hold spaces: utime stime cutime cstime are 14..17.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { self: Number(f[11]) + Number(f[12]), system: Number(f[12]), children: Number(f[13]) + Number(f[14]) };
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
}

export async function idleFootprint(o: IdleOptions, progress: (line: string) => void): Promise<IdleResult> {
  // debug: the agent logs each monitor ('monitor ok'), which is how the window's monitors are
  // counted. The log line costs the agent a little CPU, counted in its figure (the real cost at
  // the default level is lower, never higher).
  const tc = await startTestCluster({ nodes: 1, logLevel: 'debug' });
  try {
    await waitOnline(tc, 1);
    await tc.applyConfig(idleYaml(o));
    await tc.waitFor(`${o.sets} sets running`, 120_000, (s) => s.sets.filter((x) => x.state === 'running').length === o.sets);
    // Let start-up work (probes, first monitors, status writes) settle before the window.
    await new Promise((r) => setTimeout(r, 5000));
    const pid = tc.lc.agent('n1').process!.pid!;
    const monitorsBefore = (await tc.logLines('n1')).filter((l) => l.msg === 'monitor ok').length;
    progress(`  idle: sampling agent pid ${pid} for ${o.windowMs / 1000} s (${o.sets} sets x ${o.resourcesPerSet} ${o.type}, monitors every ${o.monitorInterval})`);
    const a = await cpuTicks(pid);
    const t0 = performance.now();
    let maxRss = await rssMb(pid);
    while (performance.now() - t0 < o.windowMs) {
      await new Promise((r) => setTimeout(r, Math.min(RSS_SAMPLE_MS, o.windowMs - (performance.now() - t0))));
      maxRss = Math.max(maxRss, await rssMb(pid));
    }
    const b = await cpuTicks(pid);
    const seconds = (performance.now() - t0) / 1000;
    const rss = await rssMb(pid);
    const monitors = (await tc.logLines('n1')).filter((l) => l.msg === 'monitor ok').length - monitorsBefore;
    const pct = (ticks: number): number => (ticks / TICKS_PER_SECOND / seconds) * 100;
    return {
      ...o,
      agentCpuPct: pct(b.self - a.self),
      agentSystemCpuPct: pct(b.system - a.system),
      childrenCpuPct: pct(b.children - a.children),
      rssMb: rss,
      maxRssMb: Math.max(maxRss, rss),
      monitorsPerSecond: monitors / seconds,
      agentCpuMsPerMonitor: monitors > 0 ? (((b.self - a.self) / TICKS_PER_SECOND) * 1000) / monitors : NaN,
    };
  } finally {
    await tc.dispose();
  }
}
