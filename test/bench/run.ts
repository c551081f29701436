// npm run bench: failover and overhead figures on loopback with a real etcd and three agents.
// Prints a table and writes JSON to bench-results/. Not a pass/fail test; quote medians.
//   (a) host kill (SIGKILL of the agent and its resources) to the set running elsewhere, TTL 2 s and 3 s
//   (b) planned switchover time minus the agents' own stop+start time
//   (c) takeover decision latency: owner key deletion seen to first start spawned
//   (d) idle agent: one agent, 20 sets of dummy, 10 s monitors: its CPU and RSS (idle.ts)
//   (e) with a fence device, host crash to the floating IP answering from the new host, on the
//       namespace testbed (needs root; fenced-ns.ts)
//   (f) CLI latency: hactl --help, --version, status, --json status beside etcdctl get (cli.ts)
// BENCH_ONLY=failover|switchover|idle|fenced|cli runs one part; BENCH_TRIALS applies to the
// failover, switchover and fenced parts; BENCH_CLI_RUNS (default 20) to cli; BENCH_IDLE_MS
// (default 60000), BENCH_IDLE_RESOURCES (dummies per set, default 2) and BENCH_MONITOR_INTERVAL
// (default 10s) to idle.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestCluster, dummySetYaml, type TestCluster } from '../lib/cluster.js';
import { repoRoot, resourcesDir } from '../lib/paths.js';
import { summarize, fmt, type Summary } from './stats.js';
import { fencedNsTrials, medianTimeline, type FencedNsResult } from './fenced-ns.js';
import { idleFootprint, type IdleResult } from './idle.js';
import { cliLatency } from './cli.js';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 10);

interface Row {
  what: string;
  unit: string;
  summary: Summary;
  target: string;
}

async function online(tc: TestCluster, n: number): Promise<void> {
  await tc.waitFor(`${n} agents online`, 30_000, (s) => s.nodes.filter((x) => x.state === 'online').length === n);
}

async function failoverTrials(ttl: string, margin: string): Promise<{ failoverMs: number[]; decisionMs: number[] }> {
  const tc = await startTestCluster({ nodes: 3, logLevel: 'info' });
  const failoverMs: number[] = [];
  const decisionMs: number[] = [];
  try {
    await online(tc, 3);
    await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2', 'n3'], leaseTtl: ttl, fenceMargin: margin, stopTimeout: '400ms', resources: 2, monitorInterval: '5s' }));
    let s = await tc.waitRunning('S1', 30_000);
    for (let i = 0; i < TRIALS; i++) {
      const victim = s.node!;
      // Land the kill at a random point of the keepalive cycle.
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 700));
      const killedAtWallMs = Date.now();
      await tc.lc.killHost(victim);
      s = await tc.waitRunning('S1', 20_000, (x) => x.node !== victim);
      const owner = s.node!;
      const lines = await tc.logLines(owner);
      const starts = (await tc.actions(owner)).filter((a) => a.action === 'start' && a.beginWallMs >= killedAtWallMs);
      const lastStart = starts[starts.length - 1];
      failoverMs.push(lastStart.endWallMs - killedAtWallMs);
      const acquireDecision = lines.find((l) => l.msg === 'decision' && l.action === 'acquire' && Date.parse(String(l.time)) >= killedAtWallMs);
      if (acquireDecision && starts[0]) decisionMs.push(starts[0].beginWallMs - Date.parse(String(acquireDecision.time)));
      await tc.lc.startAgent(victim);
      await online(tc, 3);
      process.stderr.write(`  ttl ${ttl} trial ${i + 1}/${TRIALS}: ${failoverMs[failoverMs.length - 1]} ms (${victim} -> ${owner})\n`);
    }
  } finally {
    await tc.dispose();
  }
  return { failoverMs, decisionMs };
}

async function switchoverTrials(): Promise<{ totalMs: number[]; overheadMs: number[] }> {
  const tc = await startTestCluster({ nodes: 3 });
  const totalMs: number[] = [];
  const overheadMs: number[] = [];
  try {
    await online(tc, 3);
    await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2', 'n3'], leaseTtl: '5s', fenceMargin: '1s', stopTimeout: '5s', resources: 3, monitorInterval: '5s' }));
    let s = await tc.waitRunning('S1', 30_000);
    for (let i = 0; i < TRIALS; i++) {
      const from = s.node!;
      const to = ['n1', 'n2', 'n3'].find((n) => n !== from)!;
      const t0 = Date.now();
      await tc.client.put(tc.keys.failoverIntent('S1')).value(JSON.stringify({ to, requestedAtWallMs: t0, by: 'bench' })).exec();
      s = await tc.waitRunning('S1', 20_000, (x) => x.node === to);
      const stops = (await tc.actions(from)).filter((a) => a.action === 'stop' && a.beginWallMs >= t0);
      const starts = (await tc.actions(to)).filter((a) => a.action === 'start' && a.beginWallMs >= t0);
      const end = starts[starts.length - 1].endWallMs;
      const agentsMs = [...stops, ...starts].reduce((sum, a) => sum + (a.endWallMs - a.beginWallMs), 0);
      totalMs.push(end - t0);
      overheadMs.push(end - t0 - agentsMs);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await tc.dispose();
  }
  return { totalMs, overheadMs };
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const only = process.env.BENCH_ONLY; // e.g. BENCH_ONLY=idle for one part
  process.stderr.write(`hactl bench: ${TRIALS} trials each, loopback etcd (--heartbeat-interval=50 --election-timeout=500), 3 agents (1 for idle and cli)\n`);
  const none = { failoverMs: [], decisionMs: [] };
  const ttl2 = !only || only === 'failover' ? await failoverTrials('2s', '800ms') : none;
  rows.push({ what: '(a) host kill -> set running elsewhere, leaseTtl 2s', unit: 'ms', summary: summarize(ttl2.failoverMs), target: '<= 3000 (leaseTtl + 1 s)' });
  const ttl3 = !only || only === 'failover' ? await failoverTrials('3s', '1s') : none;
  rows.push({ what: '(a) host kill -> set running elsewhere, leaseTtl 3s', unit: 'ms', summary: summarize(ttl3.failoverMs), target: '<= 4000 (leaseTtl + 1 s)' });
  const sw = !only || only === 'switchover' ? await switchoverTrials() : { totalMs: [], overheadMs: [] };
  rows.push({ what: '(b) planned switchover, total (3 resources)', unit: 'ms', summary: summarize(sw.totalMs), target: '-' });
  rows.push({ what: "(b) planned switchover minus agents' own time", unit: 'ms', summary: summarize(sw.overheadMs), target: '<= 100' });
  rows.push({ what: '(c) takeover decision -> first start spawned', unit: 'ms', summary: summarize([...ttl2.decisionMs, ...ttl3.decisionMs]), target: 'p99 <= 50' });
  const idle = !only || only === 'idle' ? await idlePart() : [];
  const one = (v: number): Summary => ({ n: 1, min: v, median: v, p90: v, p95: v, p99: v, max: v });
  for (const r of idle) {
    const what = `${r.sets} sets x ${r.resourcesPerSet} ${r.type === 'dummy' ? 'dummy (monitor in-process)' : 'dummy script (a fork per monitor)'}, every ${r.monitorInterval}, ${r.monitorsPerSecond.toFixed(1)} monitors/s`;
    rows.push({ what: `(d) idle agent RSS (end of window; max ${r.maxRssMb.toFixed(1)}), ${what}`, unit: 'MB', summary: one(r.rssMb), target: '<= 80' });
    rows.push({ what: `(d) idle agent CPU (own; ${r.agentSystemCpuPct.toFixed(2)} in the kernel), ${r.agentCpuMsPerMonitor.toFixed(2)} ms per monitor, ${what}`, unit: '% core', summary: one(r.agentCpuPct), target: '<= 1' });
    rows.push({ what: '(d) ... its resource agents (forked monitors)', unit: '% core', summary: one(r.childrenCpuPct), target: '-' });
  }

  const fenced = !only || only === 'fenced' ? await fencedPart() : undefined;
  rows.push({
    what:
      `(e) fenced host crash -> floating IP answers from new host (ns testbed, leaseTtl ${fenced?.options.leaseTtl ?? '-'}, suspectAfter ${fenced?.options.suspectAfter ?? '-'})` +
      (fenced && fenced.answerMs.length < fenced.trials.length ? `; ${fenced.trials.length - fenced.answerMs.length} trial(s) failed` : ''),
    unit: 'ms',
    summary: summarize(fenced?.answerMs ?? []),
    target: 'median < 2000',
  });

  const cli = !only || only === 'cli' ? await cliLatency({ sets: 20, runs: Number(process.env.BENCH_CLI_RUNS ?? 20) }, (l) => process.stderr.write(l + '\n')) : undefined;
  const cliTarget: Record<string, string> = { 'hactl --help': '<= 100', 'hactl --version': '<= 100', 'hactl status': '<= 150', 'hactl --json status': '<= 150' };
  for (const c of cli?.commands ?? []) {
    rows.push({ what: `(f) ${c.command}, wall (${cli!.sets} sets, ${cli!.node})`, unit: 'ms', summary: c.wallMs, target: cliTarget[c.command] ?? '-' });
    rows.push({ what: `(f) ${c.command}, CPU user+sys`, unit: 'ms', summary: c.cpuMs, target: '-' });
  }

  // Parts that did not run (BENCH_ONLY, no root) are left out rather than shown as empty rows.
  const measured = rows.filter((r) => r.summary.n > 0 && !Number.isNaN(r.summary.median));
  const header = ['measure', 'unit', 'n', 'median', 'p90', 'p95', 'p99', 'max', 'target'];
  const body = measured.map((r) => [r.what, r.unit, String(r.summary.n), r.unit === 'ms' ? fmt(r.summary.median) : r.summary.median.toFixed(2), fmt(r.summary.p90), fmt(r.summary.p95), fmt(r.summary.p99), fmt(r.summary.max), r.target]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]): string => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  const out = [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
  process.stdout.write(out + '\n');
  const dir = join(repoRoot, 'bench-results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, JSON.stringify({ at: new Date().toISOString(), trials: TRIALS, rows: measured, raw: { ttl2, ttl3, switchover: sw, idle, fenced, cli } }, null, 2));
  if (fenced) process.stdout.write(`(e) median timeline, ms after the crash: ${JSON.stringify(medianTimeline(fenced.trials))}\n`);
  process.stdout.write(`written ${file}\n`);
}

/** Part (d), with its BENCH_ variables: the built-in dummy, then the same script forked per monitor. */
async function idlePart(): Promise<IdleResult[]> {
  const o = { sets: 20, resourcesPerSet: Number(process.env.BENCH_IDLE_RESOURCES ?? 2), monitorInterval: process.env.BENCH_MONITOR_INTERVAL ?? '10s', windowMs: Number(process.env.BENCH_IDLE_MS ?? 60_000) };
  const progress = (l: string): boolean => process.stderr.write(l + '\n');
  return [await idleFootprint({ ...o, type: 'dummy' }, progress), await idleFootprint({ ...o, type: `script:${join(resourcesDir, 'dummy')}` }, progress)];
}

/** Part (e): skipped (with a note) without root, which namespace hosts need. */
async function fencedPart(): Promise<FencedNsResult | undefined> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('  (e) skipped: the namespace testbed needs root\n');
    return undefined;
  }
  const o = {
    trials: TRIALS,
    leaseTtl: process.env.BENCH_FENCED_LEASE_TTL ?? '2s',
    fenceMargin: process.env.BENCH_FENCED_FENCE_MARGIN ?? '800ms',
    suspectAfter: process.env.BENCH_FENCED_SUSPECT_AFTER ?? '1s',
    logsDir: join(repoRoot, 'bench-results'),
  };
  return fencedNsTrials(o, (s) => process.stderr.write(s + '\n'));
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
