// A committed transaction whose reply is lost must never come back as `rejected` (found by
// review, reproduced here first): the etcd3 library used to re-send a timed-out call on a new
// connection, and the re-sent acquire failed its compare against the owner key the first copy had
// just created — so the agent read "lost the race" and armed no takeover gate. hactl's client
// makes no library retries of transactions: the outcome is `unknown`, and the agent treats it as
// "may have committed". The reply is lost by a loopback proxy in front of a real etcd.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { startTestEtcd } from '../lib/etcd.js';
import { startTcpProxy } from '../lib/tcp-proxy.js';
import { makeEtcdClient } from '../../agent/etcd/client.js';
import { ClusterStore } from '../../agent/etcd/store.js';
import { Keys } from '../../agent/etcd/keys.js';

test('an acquire that commits while its reply is lost is reported unknown, never rejected', async () => {
  const etcd = await startTestEtcd(1);
  const url = new URL(etcd.endpoints[0]);
  const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port) });
  const direct = new Etcd3({ hosts: etcd.endpoints });
  const client = makeEtcdClient({ endpoints: [`http://${proxy.endpoint}`], callTimeoutMs: 800 });
  try {
    const keys = Keys.forCluster('lost');
    const lease = await direct.leaseClient.leaseGrant({ TTL: 30, ID: 0 });
    const store = new ClusterStore(client, keys);
    // A first call opens the proxied connection; its replies are then held back.
    await client.get(keys.config()).string();
    proxy.holdReplies();
    const out = await store.acquire({ set: 'S', node: 'h1', leaseId: String(lease.ID), holderRevision: 0, holder: { node: 'h1', released: false, unsettled: [], reason: 'test', atWallMs: 0 } });
    const owner = (await direct.get(keys.owner('S')).exec()).kvs[0];
    assert.ok(owner, 'the transaction committed (the owner key exists)');
    assert.equal(String(owner.lease), String(lease.ID));
    assert.notEqual(out.status, 'rejected', `a committed acquire was reported ${JSON.stringify(out)}`);
    assert.equal(out.status, 'unknown');
  } finally {
    client.close();
    direct.close();
    await proxy.close();
    await etcd.dispose();
  }
});

test('after etcd comes back, calls go through at once: a member that failed is skipped only briefly', async () => {
  const etcd = await startTestEtcd(1);
  const client = makeEtcdClient({ endpoints: etcd.endpoints, callTimeoutMs: 300 });
  const pid = etcd.members[0].process?.pid;
  assert.ok(pid);
  try {
    const keys = Keys.forCluster('breaker');
    await client.get(keys.config()).string();
    process.kill(pid, 'SIGSTOP');
    for (let i = 0; i < 4; i++) await client.get(keys.config()).string().catch(() => undefined);
    process.kill(pid, 'SIGCONT');
    const back = performance.now();
    let firstOkMs = Infinity;
    while (performance.now() - back < 8000) {
      const ok = await client.get(keys.config()).string().then(() => true, () => false);
      if (ok) {
        firstOkMs = performance.now() - back;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(firstOkMs < 1500, `first call through ${Math.round(firstOkMs)}ms after etcd came back`);
  } finally {
    process.kill(pid, 'SIGCONT');
    client.close();
    await etcd.dispose();
  }
});
