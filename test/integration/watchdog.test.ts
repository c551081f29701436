// The optional watchdog (SPEC §4, issue 6), with a plain file standing in for /dev/watchdog (the
// kernel side — softdog rebooting the host — cannot run in this sandbox; the agent's side can):
// the agent feeds it while its lease is sound, stops feeding while it holds resources without a
// sound lease (etcd silenced while a slow stop runs), feeds again once nothing runs, and writes
// the magic 'V' on a clean stop. A watchdog that cannot be opened stops the agent with one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestCluster, dummySetYaml, runHactl } from '../lib/cluster.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function sizeOf(path: string): Promise<number> {
  return (await stat(path)).size;
}

test('the watchdog is fed only while the lease is sound or nothing runs, and disarmed on a clean stop', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hactl-watchdog-'));
  const device = join(dir, 'watchdog');
  const tc = await startTestCluster({ nodes: 1, extraHostConfig: () => `watchdog: { device: ${device}, feedInterval: 100ms }` });
  try {
    await tc.waitFor('n1 online', 20_000, (s) => s.nodes.some((n) => n.state === 'online'));
    // The agent arms the watchdog right after registering.
    for (let i = 0; i < 50 && (await sizeOf(device).catch(() => -1)) < 0; i++) await sleep(100);
    const s0 = await sizeOf(device);
    await sleep(600);
    assert.ok((await sizeOf(device)) >= s0 + 3, 'fed while healthy');

    // A set whose stop takes 4 s: when etcd goes silent the agent self-fences and, while that stop
    // runs without a sound lease, must not feed.
    await tc.applyConfig(dummySetYaml({ prefer: ['n1'], leaseTtl: '2s', fenceMargin: '800ms', resources: 1, stopTimeout: '15s' }).replace('type: dummy,', 'type: dummy, params: { stopDelay: 8s },'));
    await tc.waitRunning('S1', 20_000, (s) => s.node === 'n1');
    const member = tc.lc.etcd.members[0].name;
    const pausedAt = Date.now();
    tc.lc.etcd.pauseMember(member, true);
    try {
      const deadline = Date.now() + 6000;
      let stopped = false;
      while (!stopped && Date.now() < deadline) {
        stopped = (await tc.logLines('n1')).some((l) => l.msg === 'watchdog not fed: the host reboots unless this ends first' && Date.parse(String(l.time)) >= pausedAt);
        if (!stopped) await sleep(100);
      }
      assert.ok(stopped, 'feeding stopped while the stop ran without a lease');
      const a = await sizeOf(device);
      await sleep(1000);
      assert.equal(await sizeOf(device), a, 'not one byte while not fed');
    } finally {
      tc.lc.etcd.pauseMember(member, false);
    }
    // Once the stop finished (or the lease is back) feeding resumes.
    const deadline = Date.now() + 15_000;
    while (!(await tc.logLines('n1')).some((l) => l.msg === 'watchdog fed again') && Date.now() < deadline) await sleep(100);
    const b = await sizeOf(device);
    await sleep(500);
    assert.ok((await sizeOf(device)) > b, 'fed again');

    // The set may be running again (its lease came back), and its stop takes 8 s: a clean stop must
    // not be cut short by the harness's SIGKILL, or the watchdog is (rightly) left armed.
    await tc.lc.stopAgent('n1', 30_000);
    const bytes = await readFile(device);
    assert.equal(String.fromCharCode(bytes[bytes.length - 1]), 'V', 'magic close on a clean stop');

    // A device that cannot be opened: one line, no stack trace.
    const bad = join(dir, 'agent-bad.yaml');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(bad, `node: n9\ncluster: ${tc.lc.cluster}\netcd: { endpoints: [${tc.lc.endpoints[0]}] }\ndataDir: ${join(dir, 'n9')}\nhttp: { listen: '' }\nwatchdog: { device: ${join(dir, 'no', 'such', 'watchdog')} }\n`);
    const r = await runHactl(['agent', '--config', bad], {}, 20_000);
    assert.notEqual(r.code, 0);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /watchdog .* cannot be opened: ENOENT/);
  } finally {
    await tc.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});
