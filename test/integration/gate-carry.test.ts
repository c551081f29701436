// The takeover gate survives operator actions (found by review, reproduced here first):
//   - a new owner blocked on a fence is restarted (SIGTERM) or its set's configuration changes:
//     the release it writes must carry the unsettled old owner forward, or the next owner starts
//     with no fence and no grace;
//   - a host whose stop failed is shut down (SIGTERM): its set must not be released by the lease
//     ending — only a recorded fence (or an operator's confirmation) settles a failed stop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestCluster, dummySetYaml, type TestCluster, waitOnline } from '../lib/cluster.js';

async function startsSince(tc: TestCluster, nodes: string[], sinceWallMs: number): Promise<{ node: string; beginWallMs: number }[]> {
  const out: { node: string; beginWallMs: number }[] = [];
  for (const node of nodes) {
    for (const a of await tc.actions(node)) if (a.action === 'start' && a.beginWallMs >= sinceWallMs) out.push({ node, beginWallMs: a.beginWallMs });
  }
  return out.sort((a, b) => a.beginWallMs - b.beginWallMs);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a new owner blocked on a fence that is shut down hands the unsettled host on: the next owner still waits for the fence', async () => {
  const tc = await startTestCluster({ nodes: 3 });
  try {
    await waitOnline(tc, 3);
    await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2', 'n3'], extra: '    requireFencing: true' }));
    await tc.waitRunning('S1', 20_000, (s) => s.node === 'n1');
    await tc.lc.killHost('n1');
    await tc.waitFor('S1 blocked on n2', 15_000, (s) => s.sets.some((x) => x.name === 'S1' && x.state === 'blocked' && x.node === 'n2'));

    const t0 = Date.now();
    await tc.lc.stopAgent('n2');
    await tc.waitFor('S1 blocked on n3', 15_000, (s) => s.sets.some((x) => x.name === 'S1' && x.state === 'blocked' && x.node === 'n3'));
    const s1 = await tc.set('S1');
    assert.match(s1?.reason ?? '', /waiting for n1 to be fenced/);
    await sleep(2000);
    assert.deepEqual(await startsSince(tc, ['n2', 'n3'], t0), [], 'nothing started without the fence of n1');

    assert.equal((await tc.hactl(['fence', 'n1', '--confirm-down'])).code, 0);
    await tc.waitRunning('S1', 10_000, (s) => s.node === 'n3');
  } finally {
    await tc.dispose();
  }
});

test('a configuration change during a blocked takeover keeps the old owner unsettled: requireFencing off still waits the grace', async () => {
  const tc = await startTestCluster({ nodes: 2 });
  try {
    await waitOnline(tc, 2);
    // Stop timeouts 3 x 3s, fenceMargin 0.8s: a takeover grace of 8.2s.
    const yaml = (requireFencing: boolean) => dummySetYaml({ prefer: ['n1', 'n2'], stopTimeout: '3s', extra: `    requireFencing: ${requireFencing}` });
    await tc.applyConfig(yaml(true));
    await tc.waitRunning('S1', 20_000, (s) => s.node === 'n1');
    await tc.lc.killHost('n1');
    await tc.waitFor('S1 blocked on n2', 15_000, (s) => s.sets.some((x) => x.name === 'S1' && x.state === 'blocked' && x.node === 'n2'));

    const t0 = Date.now();
    await tc.applyConfig(yaml(false));
    await tc.waitRunning('S1', 20_000, (s) => s.node === 'n2');
    const starts = await startsSince(tc, ['n2'], t0);
    assert.ok(starts.length > 0);
    assert.ok(starts[0].beginWallMs - t0 >= 7500, `n1 never stopped cleanly: the first start must wait the grace (started ${starts[0].beginWallMs - t0}ms after the change)`);
  } finally {
    await tc.dispose();
  }
});

test('SIGTERM of a host whose stop failed does not release its set: the next owner waits for a fence, not only the grace', async () => {
  const tc = await startTestCluster({ nodes: 2 });
  try {
    await waitOnline(tc, 2);
    await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2'], leaseTtl: '3s', fenceMargin: '1s' }));
    await tc.waitRunning('S1', 20_000, (s) => s.node === 'n1');
    await writeFile(join(tc.lc.agent('n1').dir, 'data', 'run', 's1-r3.fail-stop'), '1\ndevice busy\n');
    assert.equal((await tc.hactl(['failover', 'S1', '--to', 'n2'])).code, 0);
    await tc.waitFor('S1 blocked on n1', 10_000, (s) => s.sets.some((x) => x.name === 'S1' && x.state === 'blocked' && x.node === 'n1'));

    const t0 = Date.now();
    await tc.lc.stopAgent('n1');
    // The lease of n1 ends (revoked or expired) within its TTL; give the takeover time to happen.
    await sleep(6000);
    assert.deepEqual(await startsSince(tc, ['n2'], t0), [], 'n2 must not start S1 while n1 may still run it');
    const s1 = await tc.set('S1');
    assert.notEqual(s1?.state, 'running');
    assert.match(s1?.reason ?? '', /n1/);

    assert.equal((await tc.hactl(['fence', 'n1', '--confirm-down'])).code, 0);
    await tc.waitRunning('S1', 10_000, (s) => s.node === 'n2');
  } finally {
    await tc.dispose();
  }
});

test('hactl cleanup of a set marked failed keeps the hosts not yet settled: the next owner still waits for their fence', async () => {
  const tc = await startTestCluster({ nodes: 1 });
  try {
    await waitOnline(tc, 1);
    // A set released with a fatal-failure mark while a host (n9, gone) was not yet settled — as a
    // release during a blocked takeover writes it. Cleanup lifts the mark; it must not lift the gate.
    const holder = { node: 'n9', released: true, unsettled: [{ node: 'n9', afterRevision: 1 }], failed: 'fatal failure (rc 6) of s1-r1', reason: 'test', atWallMs: Date.now() };
    await tc.client.put(tc.keys.holder('S1')).value(JSON.stringify(holder));
    await tc.applyConfig(dummySetYaml({ prefer: ['n1'], extra: '    requireFencing: true' }));
    await tc.waitFor('S1 failed', 10_000, (s) => s.sets.some((x) => x.name === 'S1' && x.state === 'failed'));

    const t0 = Date.now();
    assert.equal((await tc.hactl(['cleanup', 'S1'])).code, 0);
    await tc.waitFor('S1 blocked on n1', 10_000, (s) => s.sets.some((x) => x.name === 'S1' && x.state === 'blocked' && x.node === 'n1'));
    await sleep(2000);
    assert.deepEqual(await startsSince(tc, ['n1'], t0), [], 'n1 must not start S1 before n9 is fenced');
    const after = JSON.parse((await tc.client.get(tc.keys.holder('S1')).string()) ?? '{}') as { unsettled?: { node: string }[] };
    assert.deepEqual(after.unsettled?.map((u) => u.node), ['n9']);
    assert.match((await tc.set('S1'))?.reason ?? '', /n9/, 'blocked because of n9, not for another reason');
  } finally {
    await tc.dispose();
  }
});
