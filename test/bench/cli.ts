// Bench part `cli`: how long an operator waits for hactl. One etcd and one agent with 20 running
// sets of the built-in `dummy`; each command runs `runs` times as a fresh process (what a person
// or a script gets), the commands taking turns so that a burst of load elsewhere on the machine
// spreads over all of them. `etcdctl get` of the same keys is the reference: the cost of asking
// etcd, without hactl's start-up. Wall time from spawn to exit, and the CPU the process used
// (user + system, from /usr/bin/time when it is there), which a busy machine inflates less.
import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { HACTL_JS } from '../../cli/dev/local-cluster.js';
import { startTestCluster, waitOnline } from '../lib/cluster.js';
import { idleYaml } from './idle.js';
import { summarize, type Summary } from './stats.js';

export interface CliCommandResult {
  command: string;
  wallMs: Summary;
  /** user + system CPU, ms; empty without /usr/bin/time. */
  cpuMs: Summary;
  maxRssMb: Summary;
  raw: { wallMs: number[]; cpuMs: number[]; maxRssMb: number[] };
}

export interface CliResult {
  sets: number;
  runs: number;
  node: string;
  commands: CliCommandResult[];
}

const TIME = '/usr/bin/time';

interface Sample {
  wallMs: number;
  cpuMs?: number;
  maxRssMb?: number;
}

/** Runs argv once; with /usr/bin/time its last stderr line is "user system maxrssKB". */
function runOnce(argv: string[], env: NodeJS.ProcessEnv, timed: boolean): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const full = timed ? [TIME, '-f', '%U %S %M', ...argv] : argv;
    const t0 = performance.now();
    const child = spawn(full[0], full.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const wallMs = performance.now() - t0;
      if (code !== 0) return reject(new Error(`${argv.join(' ')} exited ${code}: ${stderr.trim().split('\n').slice(-2).join(' / ')}`));
      const last = stderr.trim().split('\n').pop() ?? '';
      const m = /^([\d.]+) ([\d.]+) (\d+)$/.exec(last);
      resolve(m ? { wallMs, cpuMs: (Number(m[1]) + Number(m[2])) * 1000, maxRssMb: Number(m[3]) / 1024 } : { wallMs });
    });
  });
}

export async function cliLatency(o: { sets: number; runs: number }, progress: (line: string) => void): Promise<CliResult> {
  const timed = await access(TIME).then(
    () => true,
    () => false,
  );
  const tc = await startTestCluster({ nodes: 1, logLevel: 'warn' });
  try {
    await waitOnline(tc, 1);
    await tc.applyConfig(idleYaml({ type: 'dummy', sets: o.sets, resourcesPerSet: 1, monitorInterval: '10s' }));
    await tc.waitFor(`${o.sets} sets running`, 120_000, (s) => s.sets.filter((x) => x.state === 'running').length === o.sets);
    const env = { ...process.env, HACTL_ENDPOINTS: tc.lc.endpoints.join(','), HACTL_CLUSTER: tc.lc.cluster };
    const hactl = (...args: string[]): string[] => [process.execPath, HACTL_JS, ...args];
    const commands: [string, string[]][] = [
      ['hactl --help', hactl('--help')],
      ['hactl --version', hactl('--version')],
      ['hactl status', hactl('status')],
      ['hactl --json status', hactl('--json', 'status')],
      ['etcdctl get --prefix (reference)', ['etcdctl', `--endpoints=${tc.lc.endpoints.join(',')}`, 'get', '--prefix', tc.keys.prefix]],
    ];
    // One unmeasured round: the first run pays for cold file caches.
    for (const [, argv] of commands) await runOnce(argv, env, false);
    const samples = new Map<string, Sample[]>(commands.map(([name]) => [name, []]));
    for (let i = 0; i < o.runs; i++) {
      for (const [name, argv] of commands) samples.get(name)!.push(await runOnce(argv, env, timed));
      if ((i + 1) % 5 === 0) progress(`  cli: ${i + 1}/${o.runs} rounds`);
    }
    return {
      sets: o.sets,
      runs: o.runs,
      node: process.version,
      commands: commands.map(([name]) => {
        const s = samples.get(name)!;
        const raw = { wallMs: s.map((x) => x.wallMs), cpuMs: s.flatMap((x) => (x.cpuMs === undefined ? [] : [x.cpuMs])), maxRssMb: s.flatMap((x) => (x.maxRssMb === undefined ? [] : [x.maxRssMb])) };
        return { command: name, wallMs: summarize(raw.wallMs), cpuMs: summarize(raw.cpuMs), maxRssMb: summarize(raw.maxRssMb), raw };
      }),
    };
  } finally {
    await tc.dispose();
  }
}
