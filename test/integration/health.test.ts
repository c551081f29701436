// The agent's probes for machines (keepalived, HAProxy, systemd): /health is liveness (the agent's
// decision loop keeps turning) and /ready is readiness (the lease is sound, so this host may run
// its sets). During an etcd outage the lease goes into doubt: /ready must answer 503 with a JSON
// reason (issue 17: /health answered 200 with the lease long expired), /health stays 200 — the
// agent is alive and self-fencing, restarting it would not help.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { dummySetYaml, startTestCluster } from '../lib/cluster.js';

async function probe(port: number, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return { status: res.status, body };
}

async function waitProbe(port: number, path: string, status: number, timeoutMs: number): Promise<{ status: number; body: Record<string, unknown> }> {
  const deadline = Date.now() + timeoutMs;
  let last: { status: number; body: Record<string, unknown> } | null = null;
  for (;;) {
    last = await probe(port, path).catch(() => last);
    if (last?.status === status) return last;
    if (Date.now() > deadline) throw new Error(`${path} did not answer ${status} within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('etcd frozen past the lease: /ready answers 503 with a reason, /health stays 200; both recover', async () => {
  const tc = await startTestCluster({ nodes: 1, cluster: 'probes' });
  try {
    const port = Number(/listen: 127\.0\.0\.1:(\d+)/.exec(await readFile(tc.lc.agent('n1').configFile, 'utf8'))?.[1]);
    await tc.waitFor('n1 online', 20_000, (s) => s.nodes.some((n) => n.name === 'n1' && n.state === 'online'));
    await tc.applyConfig(dummySetYaml({ prefer: ['n1'], leaseTtl: '2s', fenceMargin: '800ms' }));
    await tc.waitRunning('S1', 20_000);
    assert.equal((await waitProbe(port, '/health', 200, 5000)).status, 200);

    tc.lc.etcd.pauseMember('e1', true);
    // Past the whole lease TTL: the lease is certainly no longer known to be ours.
    await new Promise((r) => setTimeout(r, 3000));
    const health = await probe(port, '/health');
    const ready = await probe(port, '/ready');
    process.stdout.write(`# etcd frozen 3 s: /health ${health.status}, /ready ${ready.status} ${JSON.stringify(ready.body)}\n`);
    assert.equal(ready.status, 503, '/ready refuses while the lease is not sound');
    assert.equal(ready.body.ready, false);
    assert.match(String(ready.body.reason), /lease/);
    assert.equal(health.status, 200, 'the agent itself is alive (self-fencing), so /health stays 200');
    assert.equal(health.body.ready, false, '/health says the host is not ready');

    tc.lc.etcd.pauseMember('e1', false);
    const back = await waitProbe(port, '/ready', 200, 20_000);
    assert.equal(back.body.ready, true);
    assert.equal((await probe(port, '/health')).status, 200);
    assert.equal((await probe(port, '/nope')).status, 404);
  } finally {
    tc.lc.etcd.pauseMember('e1', false);
    await tc.dispose();
  }
});
