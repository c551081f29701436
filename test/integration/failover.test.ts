// Unplanned failover (SPEC §4, §5.2, §5.3): SIGKILL of the owner host moves the set to the next
// host with a larger fencing token, never before the old owner's lease has expired on the server,
// and — after an expiry — never before the takeover grace has passed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCluster, dummySetYaml } from '../lib/cluster.js';
import { watchOwner } from '../lib/owner-watch.js';

test('owner host killed: the set runs on the next preferred host within leaseTtl + 1 s, with a larger token, after the lease expired', async () => {
  const tc = await startTestCluster({ nodes: 3 });
  try {
    await tc.waitFor('3 agents online', 20_000, (s) => s.nodes.filter((n) => n.state === 'online').length === 3);
    await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2', 'n3'], leaseTtl: '2s', fenceMargin: '800ms', stopTimeout: '250ms' }));
    const before = await tc.waitRunning('S1', 20_000);
    assert.equal(before.node, 'n1');
    const watch = await watchOwner(tc.client, tc.keys.owner('S1'));
    const killedAtWallMs = Date.now();
    await tc.lc.killHost('n1');
    const after = await tc.waitRunning('S1', 10_000, (s) => s.node !== 'n1');
    const runningAtWallMs = Date.now();
    await watch.close();
    assert.equal(after.node, 'n2');
    assert.ok(after.fencingToken! > before.fencingToken!, `token ${after.fencingToken} > ${before.fencingToken}`);
    const deleted = watch.events.find((e) => e.type === 'delete');
    assert.ok(deleted, 'the old owner key was deleted by lease expiry');
    const firstStart = (await tc.actions('n2')).find((a) => a.action === 'start');
    assert.ok(firstStart);
    assert.ok(firstStart.beginWallMs >= deleted.atWallMs, `n2 started (${firstStart.beginWallMs}) only after the old lease expired (${deleted.atWallMs})`);
    const tookMs = runningAtWallMs - killedAtWallMs;
    // leaseTtl 2 s + 1 s; the status poll adds a little.
    assert.ok(tookMs <= 3000 + 300, `failover took ${tookMs} ms`);
  } finally {
    await tc.dispose();
  }
});

test('after an expiry the new owner waits the takeover grace (longest stop timeout - fenceMargin) before starting', async () => {
  const tc = await startTestCluster({ nodes: 2 });
  try {
    await tc.waitFor('2 agents online', 20_000, (s) => s.nodes.filter((n) => n.state === 'online').length === 2);
    // grace = 2 x 1500 ms - 500 ms = 2500 ms (stops run one after another)
    await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2'], leaseTtl: '2s', fenceMargin: '500ms', stopTimeout: '1500ms', resources: 2 }));
    const before = await tc.waitRunning('S1', 20_000);
    const watch = await watchOwner(tc.client, tc.keys.owner('S1'));
    await tc.lc.killHost('n1');
    const after = await tc.waitRunning('S1', 15_000, (s) => s.node === 'n2');
    await watch.close();
    assert.ok(after.fencingToken! > before.fencingToken!);
    const acquired = watch.events.find((e) => e.type === 'put' && e.node === 'n2');
    assert.ok(acquired, 'n2 acquired the owner key');
    const firstStart = (await tc.actions('n2')).find((a) => a.action === 'start');
    assert.ok(firstStart);
    const waitedMs = firstStart.beginWallMs - acquired.atWallMs;
    assert.ok(waitedMs >= 2500 - 20, `the first start began ${waitedMs} ms after the takeover (grace 2500 ms)`);
    const events = await tc.hactl(['status', '--json']);
    assert.equal(events.code, 0);
  } finally {
    await tc.dispose();
  }
});

test('a clean shutdown of the owner agent hands the set over without any grace', async () => {
  const tc = await startTestCluster({ nodes: 2 });
  try {
    await tc.waitFor('2 agents online', 20_000, (s) => s.nodes.filter((n) => n.state === 'online').length === 2);
    await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2'], leaseTtl: '3s', fenceMargin: '500ms', stopTimeout: '5s', resources: 2 }));
    await tc.waitRunning('S1', 20_000);
    const t0 = performance.now();
    await tc.lc.stopAgent('n1');
    const after = await tc.waitRunning('S1', 10_000, (s) => s.node === 'n2');
    const tookMs = performance.now() - t0;
    assert.equal(after.node, 'n2');
    // No lease wait (3 s) and no grace (4.5 s): a released set is clean.
    assert.ok(tookMs < 2500, `took ${tookMs} ms`);
  } finally {
    await tc.dispose();
  }
});
