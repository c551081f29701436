// Agent restart (SPEC §4): an agent killed and restarted within the lease TTL resumes its lease and
// its running sets without restarting them; resources running where the host does not own them
// are stopped at start-up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestCluster, dummySetYaml } from '../lib/cluster.js';

test('an agent killed and restarted within the TTL keeps its sets running, untouched', async () => {
  const tc = await startTestCluster({ nodes: 2 });
  try {
    await tc.waitFor('2 agents online', 20_000, (s) => s.nodes.filter((n) => n.state === 'online').length === 2);
    await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2'], leaseTtl: '5s', fenceMargin: '1s' }));
    const before = await tc.waitRunning('S1', 20_000, (s) => s.node === 'n1');
    const leaseBefore = JSON.parse(await readFile(join(tc.lc.agent('n1').dir, 'data', 'lease.json'), 'utf8')) as { leaseId: string };
    const killedAt = Date.now();
    await tc.lc.killAgent('n1');
    await new Promise((r) => setTimeout(r, 1000));
    await tc.lc.startAgent('n1');
    const deadline = Date.now() + 10_000;
    let resumed = false;
    while (Date.now() < deadline && !resumed) {
      resumed = (await tc.logLines('n1')).some((l) => l.msg === 'probe finished' && Date.parse(String(l.time)) > killedAt);
      if (!resumed) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(resumed, 'the restarted agent probed its resources');
    await new Promise((r) => setTimeout(r, 1500));
    const lines = await tc.logLines('n1');
    assert.ok(lines.some((l) => l.msg === 'lease resumed' && l.leaseId === leaseBefore.leaseId), 'the lease was resumed');
    const after = await tc.set('S1');
    assert.equal(after?.node, 'n1');
    assert.equal(after?.state, 'running');
    assert.equal(after?.fencingToken, before.fencingToken, 'same ownership, same token');
    const restarted = (await tc.actions('n1')).filter((a) => (a.action === 'start' || a.action === 'stop') && a.beginWallMs > killedAt);
    assert.deepEqual(restarted, [], 'nothing was stopped or started again');
    assert.equal((await tc.actions('n2')).filter((a) => a.action === 'start').length, 0);
  } finally {
    await tc.dispose();
  }
});

test('at start-up an agent stops resources running on its host for a set it does not own', async () => {
  const tc = await startTestCluster({ nodes: 2 });
  try {
    await tc.waitFor('2 agents online', 20_000, (s) => s.nodes.filter((n) => n.state === 'online').length === 2);
    await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2'], leaseTtl: '2s', fenceMargin: '800ms' }));
    await tc.waitRunning('S1', 20_000, (s) => s.node === 'n1');
    // Kill only the agent: its resources keep running; the set moves to n2 after the lease expires.
    await tc.lc.killAgent('n1');
    await tc.waitRunning('S1', 10_000, (s) => s.node === 'n2');
    const restartAt = Date.now();
    await tc.lc.startAgent('n1');
    const deadline = Date.now() + 10_000;
    let stops: string[] = [];
    while (Date.now() < deadline && stops.length < 3) {
      stops = (await tc.actions('n1')).filter((a) => a.action === 'stop' && a.beginWallMs > restartAt).map((a) => a.resource);
      if (stops.length < 3) await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(stops, ['s1-r3', 's1-r2', 's1-r1'], 'the leftovers on n1 were stopped in reverse order');
    assert.equal((await tc.set('S1'))?.node, 'n2');
  } finally {
    await tc.dispose();
  }
});
