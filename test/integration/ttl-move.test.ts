// A lowered timing.leaseTtl reaches owners without a restart (issue 14 item 7, second half): an
// owner grants a lease with the new TTL and moves its owner keys and its node key onto it in one
// transaction that compares each key's fencing token and current lease — the tokens stay, nothing
// is stopped or started — then revokes the old lease. Before, an owner kept its old TTL until its
// agent restarted, so its failures were still detected on the old, longer TTL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCluster, dummySetYaml } from '../lib/cluster.js';

test('an owner moves to a lowered leaseTtl without a restart: same token, nothing stopped, failures detected on the new TTL', async () => {
  const tc = await startTestCluster({ nodes: 2 });
  try {
    await tc.waitFor('2 agents online', 20_000, (s) => s.nodes.filter((x) => x.state === 'online').length === 2);
    await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2'], leaseTtl: '6s', fenceMargin: '1s' }));
    const before = await tc.waitRunning('S1', 20_000, (s) => s.node === 'n1');
    const changedAt = Date.now();
    await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2'], leaseTtl: '2s', fenceMargin: '800ms' }));

    const grantedTtlOfOwner = async (): Promise<number> => {
      const kv = (await tc.client.get(tc.keys.owner('S1')).exec()).kvs[0];
      if (!kv || kv.lease === '0') return -1;
      return Number((await tc.client.leaseClient.leaseTimeToLive({ ID: kv.lease, keys: false })).grantedTTL);
    };
    const deadline = Date.now() + 15_000;
    let ttl = await grantedTtlOfOwner();
    while (ttl !== 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      ttl = await grantedTtlOfOwner();
    }
    assert.equal(ttl, 2, "the owner key is bound to a lease granted with the new TTL");
    const after = await tc.set('S1');
    assert.equal(after?.node, 'n1');
    assert.equal(after?.fencingToken, before.fencingToken, 'the same ownership: the token did not change');
    assert.equal(after?.state, 'running');
    const acts = (await tc.actions('n1')).filter((a) => a.beginWallMs > changedAt && (a.action === 'start' || a.action === 'stop'));
    assert.deepEqual(acts, [], 'nothing was stopped or started');

    // Failures of the owner are now detected on the new TTL.
    const killedAt = Date.now();
    await tc.lc.killHost('n1');
    await tc.waitRunning('S1', 15_000, (s) => s.node === 'n2');
    assert.ok(Date.now() - killedAt < 5500, `taken over ${Date.now() - killedAt}ms after the kill (lease 2 s, not 6 s)`);
  } finally {
    await tc.dispose();
  }
});
