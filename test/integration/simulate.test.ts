// `hactl simulate`: the prediction it makes from the live cluster is what the agents then really
// do. Three real agents on real etcd, two sets with different prefer lists, one that requires
// fencing (and no fence device): `--kill n1` is predicted, then n1 is killed and the agents'
// outcome compared; then the same for `--standby n2`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestCluster, type TestCluster } from '../lib/cluster.js';
import { watchOwner } from '../lib/owner-watch.js';
import type { Simulation } from '../../cli/commands/simulate.js';
import type { SetPrediction } from '../../agent/core/what-if.js';
import type { ClusterStatus } from '../../cli/status-model.js';

const resource = (id: string, stop: string): string => `      - { id: ${id}, type: dummy, stop: { timeout: ${stop} }, monitor: { interval: 1s, timeout: 2s } }`;

const YAML = [
  'timing: { leaseTtl: 2s, fenceMargin: 500ms }',
  'serviceSets:',
  '  APP:',
  '    prefer: [n1, n2, n3]',
  '    resources:',
  resource('app-r1', '1500ms'),
  resource('app-r2', '1500ms'),
  '  DB:',
  '    prefer: [n1, n3, n2]',
  '    requireFencing: true',
  '    resources:',
  resource('db-r1', '250ms'),
  '',
].join('\n');

async function simulate(tc: TestCluster, ...args: string[]): Promise<Map<string, SetPrediction>> {
  const out = await tc.hactl(['simulate', ...args, '--json']);
  assert.equal(out.code, 0, out.stderr);
  const sim = JSON.parse(out.stdout) as Simulation;
  assert.equal(sim.unsettled, false);
  return new Map(sim.sets.map((s) => [s.set, s]));
}

/** The agents' outcome matches the prediction: the same owner, running or blocked as foretold. */
function assertAsPredicted(status: ClusterStatus, predicted: Map<string, SetPrediction>): void {
  for (const p of predicted.values()) {
    const actual = status.sets.find((s) => s.name === p.set)!;
    assert.equal(actual.node, p.then, `${p.set}: predicted on ${p.then}, runs on ${actual.node}`);
    assert.equal(actual.state, p.state, `${p.set}: predicted ${p.state}, is ${actual.state} (${actual.reason})`);
    if (p.state !== 'running') assert.equal(actual.reason, p.reason);
  }
}

const settled = (predicted: Map<string, SetPrediction>) => (s: ClusterStatus): boolean =>
  [...predicted.values()].every((p) => s.sets.some((x) => x.name === p.set && x.node === p.then && x.state === p.state));

test('simulate --kill n1 and --standby n2 predict what the agents then really do; usage errors exit 2 or 3', async () => {
  const tc = await startTestCluster({ nodes: 3 });
  const dir = await mkdtemp(join(tmpdir(), 'hactl-simulate-'));
  try {
    await tc.waitFor('3 agents online', 20_000, (s) => s.nodes.filter((n) => n.state === 'online').length === 3);
    await tc.applyConfig(YAML);
    await tc.waitFor('APP and DB running on n1', 20_000, (s) => ['APP', 'DB'].every((n) => s.sets.some((x) => x.name === n && x.state === 'running' && x.node === 'n1')));

    const none = await tc.hactl(['simulate']);
    assert.equal(none.code, 2);
    assert.equal(none.stderr, 'hactl: nothing to simulate: give --kill NODE, --standby NODE or --apply FILE\n');
    const unknown = await tc.hactl(['simulate', '--kill', 'n9']);
    assert.equal(unknown.code, 3);
    assert.equal(unknown.stderr, 'hactl: no node named n9\n');
    const missing = await tc.hactl(['simulate', '--apply', join(dir, 'nope.yaml')]);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /^hactl: config file not found: .*nope\.yaml\n$/);
    await writeFile(join(dir, 'bad.yaml'), 'serviceSets: { X: { resources: [] } }\n');
    const bad = await tc.hactl(['simulate', '--apply', join(dir, 'bad.yaml')]);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr.split('\n').length, 2, bad.stderr);

    // The table says the same in words.
    const table = await tc.hactl(['simulate', '--kill', 'n1']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^APP +n1 +n2 +moves +takeover grace 2\.5s on n2 \(n1 lost it by lease expiry\)$/m);
    assert.match(table.stdout, /^DB +n1 +n3 +blocked +waits for n1 to be fenced: no fence device; needs hactl fence n1 --confirm-down$/m);

    const onKill = await simulate(tc, '--kill', 'n1');
    assert.equal(onKill.get('APP')!.then, 'n2');
    assert.deepEqual(onKill.get('APP')!.waits, [{ kind: 'grace', nodes: ['n1'], graceMs: 2500, waitedMs: 2500, on: 'n2' }]);
    assert.equal(onKill.get('DB')!.then, 'n3');
    assert.equal(onKill.get('DB')!.state, 'blocked');
    assert.deepEqual(onKill.get('DB')!.waits, [{ kind: 'fence', node: 'n1', device: null, by: null, why: 'gate' }]);

    const watch = await watchOwner(tc.client, tc.keys.owner('APP'));
    await tc.lc.killHost('n1');
    assertAsPredicted(await tc.waitFor('the sets as predicted after the kill', 20_000, settled(onKill)), onKill);
    await watch.close();
    // The predicted grace was really waited: n2's first start of APP came 2.5 s after it took APP
    // (less up to 200 ms: the watch sees the acquisition late, the log's start time is derived).
    const acquired = watch.events.find((e) => e.type === 'put' && e.node === 'n2');
    const firstStart = (await tc.actions('n2')).find((a) => a.set === 'APP' && a.action === 'start');
    assert.ok(acquired && firstStart);
    assert.ok(firstStart.beginWallMs - acquired.atWallMs >= 2500 - 200, `n2 started APP ${firstStart.beginWallMs - acquired.atWallMs} ms after taking it`);

    const onStandby = await simulate(tc, '--standby', 'n2');
    assert.equal(onStandby.get('APP')!.then, 'n3');
    assert.equal(onStandby.get('APP')!.outcome, 'moves');
    assert.deepEqual(onStandby.get('APP')!.waits, []);
    assert.equal(onStandby.get('DB')!.outcome, 'unaffected');

    const standby = await tc.hactl(['standby', 'n2']);
    assert.equal(standby.code, 0, standby.stderr);
    const beforeApply = await tc.waitFor('the sets as predicted after the standby', 20_000, settled(onStandby));
    assertAsPredicted(beforeApply, onStandby);

    // A new configuration: APP changed (restarted where it runs), WEB added, DB unchanged.
    const next = YAML.replace('app-r2, type: dummy, stop: { timeout: 1500ms }', 'app-r2, type: dummy, stop: { timeout: 1s }') + ['  WEB:', '    prefer: [n2, n3]', '    resources:', resource('web-r1', '250ms'), ''].join('\n');
    await writeFile(join(dir, 'next.yaml'), next);
    const onApply = await simulate(tc, '--apply', join(dir, 'next.yaml'));
    assert.equal(onApply.get('APP')!.outcome, 'restarts');
    assert.equal(onApply.get('WEB')!.outcome, 'starts');
    assert.equal(onApply.get('WEB')!.then, 'n3');
    assert.equal(onApply.get('DB')!.outcome, 'unaffected');
    const applied = await tc.hactl(['config', 'apply', '--no-agent-checks', join(dir, 'next.yaml')]);
    assert.equal(applied.code, 0, applied.stderr);
    const afterApply = await tc.waitFor('the sets as predicted after the apply', 20_000, (s) => settled(onApply)(s) && s.sets.find((x) => x.name === 'APP')!.fencingToken! > beforeApply.sets.find((x) => x.name === 'APP')!.fencingToken!);
    assertAsPredicted(afterApply, onApply);
  } finally {
    await tc.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});

test('simulate --kill n1 with a fence device for n1: the prediction (fenced through the device, nothing waits for an operator) is what the agents do', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hactl-simulate-'));
  // A power switch that always succeeds (n1 is killed by the test itself).
  const script = join(dir, 'switch.sh');
  await writeFile(script, '#!/bin/sh\ncat > /dev/null\nexit 0\n');
  await chmod(script, 0o755);
  const tc = await startTestCluster({ nodes: 3 });
  try {
    await tc.waitFor('3 agents online', 20_000, (s) => s.nodes.filter((n) => n.state === 'online').length === 3);
    const withDevice = YAML.replace('timing: { leaseTtl: 2s, fenceMargin: 500ms }', `timing: { leaseTtl: 3s, fenceMargin: 1s }\nnodes: { n1: { fence: sw }, n2: {}, n3: {} }\nfencing:\n  devices:\n    sw: { agent: "script:${script}", timeout: 5s }`);
    await tc.applyConfig(withDevice);
    await tc.waitFor('APP and DB running on n1', 20_000, (s) => ['APP', 'DB'].every((n) => s.sets.some((x) => x.name === n && x.state === 'running' && x.node === 'n1')));

    const onKill = await simulate(tc, '--kill', 'n1');
    assert.equal(onKill.get('DB')!.then, 'n3');
    assert.equal(onKill.get('DB')!.state, 'running');
    const fence = onKill.get('DB')!.waits.find((w) => w.kind === 'fence');
    assert.ok(fence && fence.kind === 'fence' && fence.node === 'n1' && fence.device === 'sw', JSON.stringify(onKill.get('DB')!.waits));
    assert.equal(onKill.get('APP')!.then, 'n2');

    await tc.lc.killHost('n1');
    assertAsPredicted(await tc.waitFor('the sets as predicted after the kill', 20_000, settled(onKill)), onKill);
    const st = await tc.hactl(['status', '--json']);
    assert.equal((JSON.parse(st.stdout) as ClusterStatus).nodes.find((n) => n.name === 'n1')!.state, 'fenced');
  } finally {
    await tc.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});
