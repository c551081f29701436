// The agent reads each etcd member's version at start (Maintenance status) and logs it, with a
// warning when it is below the release the lease guarantees rely on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCluster } from '../lib/cluster.js';
import { checkEtcdVersion } from '../../agent/etcd/version-floor.js';

test('the agent logs the version of each etcd member, and warns below the floor', async () => {
  const tc = await startTestCluster({ nodes: 1, etcdMembers: 2 });
  try {
    await tc.waitFor('versions logged', 20_000, async () => (await tc.logLines('n1')).filter((l) => l.msg === 'etcd server version').length === 2);
    const lines = await tc.logLines('n1');
    const logged = lines.filter((l) => l.msg === 'etcd server version');
    const actual = String((await tc.client.maintenance.status()).version);
    assert.deepEqual(logged.map((l) => l.version), [actual, actual]);
    assert.deepEqual(logged.map((l) => l.endpoint).sort(), [...tc.lc.endpoints].sort());
    const warned = lines.filter((l) => l.msg === 'etcd server below the version the lease guarantees rely on');
    const check = checkEtcdVersion(actual);
    assert.equal(warned.length, check.status === 'below' ? 2 : 0, `etcd ${actual}: ${JSON.stringify(check)}`);
    if (check.status === 'below') assert.equal(warned[0].floor, check.floor);
  } finally {
    await tc.dispose();
  }
});
