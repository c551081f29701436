// Ownership against a real etcd and real agent processes (SPEC §4, §5.1): a set starts on its
// first preferred host, resources in order; only one host ever starts it; the etcd transaction
// lets exactly one contender win.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { startTestCluster, dummySetYaml } from '../lib/cluster.js';
import { startTestEtcd } from '../lib/etcd.js';
import { ClusterStore } from '../../agent/etcd/store.js';
import { Keys } from '../../agent/etcd/keys.js';

test('a set starts on the first preferred host, its resources in order, and on no other host', async () => {
  const tc = await startTestCluster({ nodes: 3 });
  try {
    await tc.waitFor('3 agents online', 20_000, (s) => s.nodes.filter((n) => n.state === 'online').length === 3);
    await tc.applyConfig(dummySetYaml({ prefer: ['n2', 'n1', 'n3'], resources: 4 }));
    const s = await tc.waitRunning('S1', 20_000);
    assert.equal(s.node, 'n2');
    assert.ok(s.fencingToken && s.fencingToken > 0);
    const starts = (await tc.actions('n2')).filter((a) => a.action === 'start');
    assert.deepEqual(
      starts.map((a) => a.resource),
      ['s1-r1', 's1-r2', 's1-r3', 's1-r4'],
    );
    for (let i = 1; i < starts.length; i++) assert.ok(starts[i].beginWallMs >= starts[i - 1].endWallMs - 1, 'each start begins after the previous one ended');
    for (const other of ['n1', 'n3']) {
      assert.equal((await tc.actions(other)).filter((a) => a.action === 'start').length, 0, `${other} started nothing`);
    }
  } finally {
    await tc.dispose();
  }
});

test('agents started at the same moment never both start a set (anyNode, no preference)', async () => {
  const tc = await startTestCluster({ nodes: 3 });
  try {
    // Applied before the agents have all registered: each may briefly see a different "best" node.
    await tc.applyConfig(dummySetYaml({ resources: 2 }));
    await tc.waitRunning('S1', 20_000);
    await new Promise((r) => setTimeout(r, 1500));
    const starters: string[] = [];
    for (const n of ['n1', 'n2', 'n3']) if ((await tc.actions(n)).some((a) => a.action === 'start' && a.resource === 's1-r1')) starters.push(n);
    const s = await tc.set('S1');
    assert.deepEqual(starters, [s!.node], `only the owner started the set (starters: ${starters.join(',')})`);
  } finally {
    await tc.dispose();
  }
});

test('concurrent acquire transactions: exactly one wins and its revision is the fencing token', async () => {
  const etcd = await startTestEtcd(1);
  const clients: Etcd3[] = [];
  try {
    const keys = Keys.forCluster('race');
    const leases: string[] = [];
    for (let i = 0; i < 8; i++) {
      const c = new Etcd3({ hosts: etcd.endpoints });
      clients.push(c);
      const lease = await c.leaseClient.leaseGrant({ TTL: 10, ID: 0 });
      leases.push(String(lease.ID));
    }
    const outcomes = await Promise.all(
      clients.map((c, i) => new ClusterStore(c, keys).acquire({ set: 'S', node: `h${i}`, leaseId: leases[i], holderRevision: 0, holder: { node: `h${i}`, released: false, unsettled: [], reason: 'test', atWallMs: 0 } })),
    );
    const won = outcomes.filter((o) => o.status === 'committed');
    assert.equal(won.length, 1);
    assert.equal(outcomes.filter((o) => o.status === 'rejected').length, 7);
    const kv = (await clients[0].get(keys.owner('S')).exec()).kvs[0];
    assert.equal(Number(kv.create_revision), (won[0] as { revision: number }).revision);
  } finally {
    for (const c of clients) c.close();
    await etcd.dispose();
  }
});
