// A local hactl cluster for integration tests: real etcd, real agent processes (the compiled
// `hactl agent`), real resource agents. Helpers read status through the same code as `hactl
// status`, and the agents' JSON logs as evidence of what ran when.
import { readFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { Etcd3 } from 'etcd3';
import { LocalCluster, HACTL_JS, type LocalClusterOptions } from '../../cli/dev/local-cluster.js';
import { Keys } from '../../agent/etcd/keys.js';
import { clusterStatus, type ClusterStatus, type SetStatus } from '../../cli/status-model.js';
import { registerCleanup } from './cleanup.js';

export interface TestCluster {
  lc: LocalCluster;
  client: Etcd3;
  keys: Keys;
  status(): Promise<ClusterStatus>;
  set(name: string): Promise<SetStatus | undefined>;
  waitFor(what: string, timeoutMs: number, pred: (s: ClusterStatus) => boolean | Promise<boolean>): Promise<ClusterStatus>;
  waitRunning(set: string, timeoutMs: number, pred?: (s: SetStatus) => boolean): Promise<SetStatus>;
  applyConfig(yaml: string): Promise<number>;
  hactl(args: string[], timeoutMs?: number): Promise<{ code: number; stdout: string; stderr: string }>;
  actions(node: string): Promise<ActionLogEntry[]>;
  logLines(node: string): Promise<Record<string, unknown>[]>;
  dispose(): Promise<void>;
}

export interface ActionLogEntry {
  set: string;
  resource: string;
  action: string;
  rc?: number;
  status: string;
  /** Wall-clock ms when the action finished and when it began. */
  endWallMs: number;
  beginWallMs: number;
}

export async function startTestCluster(options: Partial<LocalClusterOptions> & { nodes: number }): Promise<TestCluster> {
  const lc = await LocalCluster.start({ logLevel: 'info', ...options });
  const unregister = registerCleanup(
    () => lc.stop(),
    () => {
      for (const a of lc.agents) if (a.process?.pid) tryKill(a.process.pid);
      for (const m of lc.etcd.members) if (m.process?.pid) tryKill(m.process.pid);
    },
  );
  const client = new Etcd3({ hosts: lc.endpoints, defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 3000 }) });
  const keys = Keys.forCluster(lc.cluster);
  const status = () => clusterStatus(client, keys, lc.cluster, Date.now());
  const tc: TestCluster = {
    lc,
    client,
    keys,
    status,
    async set(name) {
      return (await status()).sets.find((s) => s.name === name);
    },
    async waitFor(what, timeoutMs, pred) {
      const deadline = performance.now() + timeoutMs;
      let last: ClusterStatus | undefined;
      for (;;) {
        last = await status().catch(() => last);
        if (last && (await pred(last))) return last;
        if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last status: ${JSON.stringify(last?.sets)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async waitRunning(set, timeoutMs, pred = () => true) {
      const s = await tc.waitFor(`${set} running`, timeoutMs, (st) => st.sets.some((x) => x.name === set && x.state === 'running' && pred(x)));
      return s.sets.find((x) => x.name === set)!;
    },
    async applyConfig(yaml) {
      const res = await client.put(keys.config()).value(JSON.stringify({ yaml, appliedAtWallMs: Date.now(), appliedBy: 'test' })).exec();
      return Number(res.header.revision);
    },
    hactl(args, timeoutMs = 60_000) {
      return runHactl(args, { HACTL_ENDPOINTS: lc.endpoints.join(','), HACTL_CLUSTER: lc.cluster }, timeoutMs);
    },
    async logLines(node) {
      const text = await readFile(lc.agent(node).logFile, 'utf8').catch(() => '');
      const out: Record<string, unknown>[] = [];
      for (const line of text.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          out.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // partial line
        }
      }
      return out;
    },
    async actions(node) {
      return (await tc.logLines(node))
        .filter((l) => l.msg === 'action finished')
        .map((l) => {
          const endWallMs = Date.parse(String(l.time));
          return {
            set: String(l.set),
            resource: String(l.resource),
            action: String(l.action),
            rc: typeof l.rc === 'number' ? l.rc : undefined,
            status: String(l.status),
            endWallMs,
            beginWallMs: endWallMs - Number(l.durationMs ?? 0),
          };
        });
    },
    async dispose() {
      client.close();
      await lc.stop();
      unregister();
    },
  };
  return tc;
}

export function runHactl(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [HACTL_JS, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

function tryKill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

/** A cluster config with one set of dummy resources, for tests. */
/** Waits (at most 20 s) until `n` agents are online. */
export async function waitOnline(tc: TestCluster, n: number): Promise<void> {
  await tc.waitFor(`${n} agents online`, 20_000, (s) => s.nodes.filter((x) => x.state === 'online').length === n);
}

export function dummySetYaml(opts: { set?: string; prefer?: string[]; resources?: number; leaseTtl?: string; fenceMargin?: string; stopTimeout?: string; extra?: string; monitorInterval?: string } = {}): string {
  const set = opts.set ?? 'S1';
  const n = opts.resources ?? 3;
  const lines = [
    'timing:',
    `  leaseTtl: ${opts.leaseTtl ?? '2s'}`,
    `  fenceMargin: ${opts.fenceMargin ?? '800ms'}`,
    'serviceSets:',
    `  ${set}:`,
    ...(opts.prefer ? [`    prefer: [${opts.prefer.join(', ')}]`] : []),
    ...(opts.extra ? [opts.extra] : []),
    '    resources:',
  ];
  for (let i = 1; i <= n; i++) {
    lines.push(`      - { id: ${set.toLowerCase()}-r${i}, type: dummy, stop: { timeout: ${opts.stopTimeout ?? '250ms'} }, monitor: { interval: ${opts.monitorInterval ?? '1s'}, timeout: 2s } }`);
  }
  return lines.join('\n') + '\n';
}
