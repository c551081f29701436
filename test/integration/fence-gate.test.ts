// Fence-then-start for a set that requires fencing (SPEC §4, §5.2): after the owner's lease
// expired, the next owner starts nothing until a fence of the old owner is recorded — here by an
// operator with `hactl fence NODE --confirm-down` — and `hactl status` says why meanwhile.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCluster, dummySetYaml } from '../lib/cluster.js';

test('requireFencing: the set stays down with the reason shown until the old owner is confirmed down', async () => {
  const tc = await startTestCluster({ nodes: 2 });
  try {
    await tc.waitFor('2 agents online', 20_000, (s) => s.nodes.filter((n) => n.state === 'online').length === 2);
    await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2'], extra: '    requireFencing: true' }));
    const before = await tc.waitRunning('S1', 20_000, (s) => s.node === 'n1');

    const online = await tc.hactl(['fence', 'n1', '--confirm-down']);
    assert.equal(online.code, 4, online.stderr);
    assert.match(online.stderr, /n1 is online/);

    await tc.lc.killHost('n1');
    const blocked = await tc.waitFor('S1 blocked on n2', 15_000, (s) => s.sets.some((x) => x.name === 'S1' && x.state === 'blocked' && x.node === 'n2'));
    const s1 = blocked.sets.find((x) => x.name === 'S1')!;
    assert.match(s1.reason ?? '', /waiting for n1 to be fenced before starting S1 .*hactl fence n1 --confirm-down/);
    const table = await tc.hactl(['status']);
    assert.match(table.stdout, /why: waiting for n1 to be fenced/);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await tc.actions('n2')).filter((a) => a.action === 'start').length, 0, 'nothing started without the fence');

    const confirm = await tc.hactl(['fence', 'n1', '--confirm-down']);
    assert.equal(confirm.code, 0, confirm.stderr);
    const after = await tc.waitRunning('S1', 10_000, (s) => s.node === 'n2');
    assert.ok(after.fencingToken! > before.fencingToken!);
    const st = await tc.hactl(['status', '--json']);
    assert.equal(JSON.parse(st.stdout).nodes.find((n: { name: string }) => n.name === 'n1').state, 'fenced');
  } finally {
    await tc.dispose();
  }
});
