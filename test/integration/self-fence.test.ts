// Self-fencing (SPEC §5.3): an owner cut off from etcd stops its set before its lease can expire
// on the server, and never starts it again while another host owns it. The owner's only etcd
// member is frozen (SIGSTOP: a member that goes silent, the hardest case for a client).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { startTestCluster, dummySetYaml } from '../lib/cluster.js';
import { watchOwner } from '../lib/owner-watch.js';

test('an owner cut off from etcd stops its set before the lease expires on the server', async () => {
  const tc = await startTestCluster({
    nodes: 3,
    etcdMembers: 3,
    endpointsFor: (node, all) => (node === 'n1' ? [all[0]] : all.slice(1)),
  });
  const outside = new Etcd3({ hosts: tc.lc.endpoints.slice(1) });
  let watch: Awaited<ReturnType<typeof watchOwner>> | undefined;
  try {
    await tc.waitFor('3 agents online', 20_000, (s) => s.nodes.filter((n) => n.state === 'online').length === 3);
    await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2', 'n3'], leaseTtl: '3s', fenceMargin: '1s', stopTimeout: '500ms' }));
    const before = await tc.waitRunning('S1', 20_000, (s) => s.node === 'n1');
    watch = await watchOwner(outside, tc.keys.owner('S1'));
    const events = watch.events;
    const cutAtWallMs = Date.now();
    tc.lc.etcd.pauseMember('e1', true);
    const deadline = Date.now() + 20_000;
    while (!events.some((e) => e.type === 'put' && e.node === 'n2') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const deleted = events.find((e) => e.type === 'delete');
    assert.ok(deleted, 'the lease of n1 expired on the server');
    const n1Stops = (await tc.actions('n1')).filter((a) => a.action === 'stop' && a.endWallMs >= cutAtWallMs);
    assert.deepEqual(
      n1Stops.map((a) => a.resource),
      ['s1-r3', 's1-r2', 's1-r1'],
      'n1 stopped its resources in reverse order',
    );
    const lastStop = n1Stops[n1Stops.length - 1];
    const marginMs = deleted.atWallMs - lastStop.endWallMs;
    process.stdout.write(`# cut at 0 ms; n1 finished stopping at +${lastStop.endWallMs - cutAtWallMs} ms; server expired the lease at +${deleted.atWallMs - cutAtWallMs} ms (margin ${marginMs} ms)\n`);
    assert.ok(marginMs > 0, `n1 finished stopping ${marginMs} ms before the server expired its lease`);
    const after = await tc.waitRunning('S1', 10_000, (s) => s.node === 'n2');
    assert.ok(after.fencingToken! > before.fencingToken!);
    const firstStartN2 = (await tc.actions('n2')).find((a) => a.action === 'start');
    assert.ok(firstStartN2 && firstStartN2.beginWallMs > lastStop.endWallMs, `n2 started only after n1 had stopped (n2 start ${firstStartN2?.beginWallMs}, n1 stopped ${lastStop.endWallMs}, n2 actions ${JSON.stringify(await tc.actions('n2'))})`);

    // Heal: n1 comes back, finds its lease gone, and does not start the set again.
    tc.lc.etcd.pauseMember('e1', false);
    await tc.waitFor('n1 back online', 20_000, (s) => s.nodes.some((n) => n.name === 'n1' && n.state === 'online'));
    await new Promise((r) => setTimeout(r, 1500));
    const lateStarts = (await tc.actions('n1')).filter((a) => a.action === 'start' && a.beginWallMs > cutAtWallMs);
    assert.equal(lateStarts.length, 0, 'n1 started nothing after the cut');
    assert.equal((await tc.set('S1'))?.node, 'n2');
  } finally {
    await watch?.close().catch(() => undefined);
    outside.close();
    tc.lc.etcd.pauseMember('e1', false);
    await tc.dispose();
  }
});
