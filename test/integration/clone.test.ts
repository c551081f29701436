// Clone sets (SPEC §1 "continuous queue consumers", §4): N instances on distinct hosts; a lost
// instance is replaced on another host; hactl status lists where each runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCluster } from '../lib/cluster.js';

const CLONE_YAML = `timing: { leaseTtl: 2s, fenceMargin: 800ms }
serviceSets:
  CONSUMER:
    mode: clone
    instances: 2
    resources:
      - { id: consumer-a, type: dummy, stop: { timeout: 500ms }, monitor: { interval: 1s } }
      - { id: consumer-b, type: dummy, stop: { timeout: 500ms }, monitor: { interval: 1s } }
`;

test('a clone set with 2 instances on 3 hosts keeps 2 instances on distinct hosts when one host dies', async () => {
  const tc = await startTestCluster({ nodes: 3 });
  try {
    await tc.waitFor('3 agents online', 20_000, (s) => s.nodes.filter((n) => n.state === 'online').length === 3);
    await tc.applyConfig(CLONE_YAML);
    const up = await tc.waitFor('2 instances running', 20_000, (s) => s.sets[0]?.state === 'running' && (s.sets[0].nodes ?? []).length === 2);
    const nodes = up.sets[0].nodes!;
    assert.equal(new Set(nodes).size, 2, `distinct hosts: ${nodes.join(',')}`);
    const spare = ['n1', 'n2', 'n3'].find((n) => !nodes.includes(n))!;
    const table = await tc.hactl(['status']);
    assert.match(table.stdout, /CONSUMER\s+clone x2\s+running\s+n\d,n\d/);
    assert.match(table.stdout, /CONSUMER:1\s+running\s+n\d/);

    await tc.lc.killHost(nodes[0]);
    const after = await tc.waitFor('replaced', 15_000, (s) => s.sets[0]?.state === 'running' && (s.sets[0].nodes ?? []).length === 2 && !s.sets[0].nodes!.includes(nodes[0]));
    assert.deepEqual([...after.sets[0].nodes!].sort(), [nodes[1], spare].sort());
    // The surviving instance was not touched.
    const survivorStarts = (await tc.actions(nodes[1])).filter((a) => a.action === 'start');
    assert.equal(survivorStarts.length, 2, 'the surviving instance started once and was never restarted');
    const json = JSON.parse((await tc.hactl(['status', '--json'])).stdout) as { sets: { instances: { name: string; node: string }[] }[] };
    assert.equal(json.sets[0].instances.length, 2);
    const f = await tc.hactl(['failover', 'CONSUMER']);
    assert.equal(f.code, 4);
    assert.match(f.stderr, /clone set/);
  } finally {
    await tc.dispose();
  }
});

test('an agent restart keeps its clone instance running and never stops it through another instance', async () => {
  const tc = await startTestCluster({ nodes: 2 });
  try {
    await tc.waitFor('2 agents online', 20_000, (s) => s.nodes.filter((n) => n.state === 'online').length === 2);
    await tc.applyConfig(CLONE_YAML.replace('leaseTtl: 2s', 'leaseTtl: 5s').replace('fenceMargin: 800ms', 'fenceMargin: 1s'));
    const up = await tc.waitFor('2 instances', 20_000, (s) => (s.sets[0]?.nodes ?? []).length === 2);
    const t0 = Date.now();
    await tc.lc.killAgent('n2');
    await tc.lc.startAgent('n2');
    await tc.waitFor('n2 probed', 10_000, async () => (await tc.logLines('n2')).filter((l) => l.msg === 'probe finished' && Date.parse(String(l.time)) > t0).length >= 1);
    await new Promise((r) => setTimeout(r, 2000));
    const n2 = (await tc.actions('n2')).filter((a) => (a.action === 'stop' || a.action === 'start') && a.beginWallMs > t0);
    assert.deepEqual(n2, [], 'nothing stopped or started on n2');
    const now = await tc.status();
    assert.deepEqual(now.sets[0].nodes, up.sets[0].nodes);
  } finally {
    await tc.dispose();
  }
});
