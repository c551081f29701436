// `hactl dev` and `hactl demo` (issue 9): their output, that they really run a cluster (its own
// etcd and agents, reachable by the other commands), that they stop everything they started, and
// their error cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { HACTL_JS } from '../../cli/dev/local-cluster.js';
import { runHactl } from '../lib/cluster.js';
import type { ClusterStatus } from '../../cli/status-model.js';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Child processes of `pid` (from /proc), to check that dev leaves none behind. */
async function childrenOf(pid: number): Promise<number[]> {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return text.trim().split(/\s+/).filter(Boolean).map(Number);
}

/** `hactl dev --nodes N --json` started, once it printed its line; stderr collected; `exited` its exit code. */
async function startDev(nodes: number): Promise<{ child: ChildProcess; out: string; err: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [HACTL_JS, 'dev', '--nodes', String(nodes), '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const deadline = performance.now() + 60_000;
  while (!out.includes('\n')) {
    if (performance.now() > deadline || child.exitCode !== null) {
      child.kill('SIGINT');
      assert.fail(`dev printed nothing: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, out, err: () => err, exited };
}

test('hactl dev --nodes 2 --json: one line to connect with; the cluster answers hactl; Ctrl-C stops all of it', async () => {
  const child = spawn(process.execPath, [HACTL_JS, 'dev', '--nodes', '2', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  let spawned: number[] = [];
  try {
    const deadline = performance.now() + 60_000;
    while (!out.includes('\n')) {
      assert.ok(performance.now() < deadline && child.exitCode === null, `dev printed nothing: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const info = JSON.parse(out.split('\n')[0]) as { endpoints: string[]; cluster: string; nodes: string[]; dir: string; config: string };
    assert.deepEqual(info.nodes, ['n1', 'n2']);
    assert.equal(info.cluster, 'dev');
    assert.ok(existsSync(info.config) && existsSync(info.dir));
    spawned = await childrenOf(child.pid!);
    assert.ok(spawned.length >= 3, `etcd and two agents: ${spawned.join(',')}`);
    const env = { HACTL_ENDPOINTS: info.endpoints.join(','), HACTL_CLUSTER: info.cluster };
    let st: ClusterStatus | undefined;
    for (let i = 0; i < 100 && st?.sets[0]?.state !== 'running'; i++) {
      const r = await runHactl(['status', '--json'], env, 20_000);
      if (r.code === 0) st = JSON.parse(r.stdout) as ClusterStatus;
      else await new Promise((res) => setTimeout(res, 200));
    }
    assert.equal(st?.sets[0]?.name, 'DEMO');
    assert.equal(st?.sets[0]?.state, 'running');
    assert.deepEqual(st?.nodes.map((n) => n.state), ['online', 'online']);
  } finally {
    child.kill('SIGINT');
    const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
    assert.equal(await exited, 130, `stopped by Ctrl-C: ${err}`);
    clearTimeout(t);
  }
  assert.match(err, /SIGINT: stopping the local cluster/);
  for (const pid of spawned) assert.ok(!alive(pid), `process ${pid} that dev started is still running`);
});

test('hactl demo: shows the cluster, kills the owner, shows the failover with new token, stops everything', async () => {
  const r = await runHactl(['demo'], {}, 120_000);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^hactl demo: a local cluster/);
  assert.match(r.stdout, /^ {2}agents {4}n1 \(pid \d+\), n2 \(pid \d+\), n3 \(pid \d+\)$/m);
  assert.match(r.stdout, /^DEMO +singleton +running +n1 /m);
  assert.match(r.stdout, /^demo-app at 127\.0\.0\.1:\d+ answers: \S+/m);
  const moved = /^DEMO is running on (n2|n3) [\d.]+s after the kill \(fencing token (\d+), was (\d+)\)\.$/m.exec(r.stdout);
  assert.ok(moved, r.stdout);
  assert.ok(Number(moved[2]) > Number(moved[3]));
  assert.match(r.stdout, /Done\. Next: `hactl dev`/);
  const pids = [...r.stdout.matchAll(/\(pid (\d+)/g)].map((m) => Number(m[1]));
  assert.ok(pids.length >= 4);
  for (const pid of pids) assert.ok(!alive(pid), `demo left pid ${pid} running`);
});

test('hactl dev refuses a bad --nodes with one line and exit 2, starting nothing', async () => {
  for (const n of ['0', '17', 'three']) {
    const r = await runHactl(['dev', '--nodes', n], {}, 20_000);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, `hactl: --nodes: a whole number from 1 to 16, not ${n}\n`);
    assert.equal(r.stdout, '');
  }
});

test('hactl dev notices that its etcd died: says so with the log file, stops the agents, exits 1', async () => {
  const dev = await startDev(1);
  let spawned: number[] = [];
  try {
    spawned = await childrenOf(dev.child.pid!);
    const { readFile } = await import('node:fs/promises');
    const comm = async (pid: number): Promise<string> => (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
    const etcd = (await Promise.all(spawned.map(async (pid) => [pid, await comm(pid)] as const))).find(([, c]) => c === 'etcd')?.[0];
    assert.ok(etcd, `an etcd among dev's children: ${spawned.join(',')}`);
    process.kill(etcd, 'SIGKILL');
    const timer = setTimeout(() => dev.child.kill('SIGKILL'), 30_000);
    assert.equal(await dev.exited, 1, `dev exits 1 when its etcd dies: ${dev.err()}`);
    clearTimeout(timer);
  } finally {
    if (dev.child.exitCode === null) dev.child.kill('SIGINT');
  }
  assert.match(dev.err(), /^hactl dev: etcd \(pid \d+\) exited \(SIGKILL\); its log: \S+\.log; stopping the local cluster$/m);
  for (const pid of spawned) assert.ok(!alive(pid), `process ${pid} that dev started is still running`);
});
