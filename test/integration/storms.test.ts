// Retry storms and failures that must not stop an agent (issue 14, items 10 and 11), against a
// real etcd and real agents:
//   - a stop that fails while a configuration change is applied is not retried in a loop: the set
//     stays blocked (status says so, never `running`) until `hactl cleanup`, a repeated identical
//     event is folded into one record with a count, and cleanup then completes the change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestCluster, dummySetYaml, type TestCluster, waitOnline } from '../lib/cluster.js';
import type { EventRecord } from '../../agent/shell/events.js';

const runFile = (tc: TestCluster, node: string, name: string): string => join(tc.lc.agent(node).dir, 'data', 'run', name);

/** The stored event records of `set` with kind `what` (each may stand for several, see `count`). */
async function eventRecords(tc: TestCluster, set: string | undefined, what: string): Promise<EventRecord[]> {
  const all = await tc.client.getAll().prefix(tc.keys.eventsPrefix()).strings();
  return Object.values(all)
    .map((v) => JSON.parse(v) as EventRecord)
    .filter((e) => e.set === set && e.what === what);
}

/** S1 runs on n1 (of two agents), and every stop of s1-r3 there fails from now on. */
async function runningWithFailingStop(tc: TestCluster): Promise<void> {
  await waitOnline(tc, 2);
  await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2'], leaseTtl: '3s', fenceMargin: '1s' }));
  await tc.waitRunning('S1', 20_000, (x) => x.node === 'n1');
  await writeFile(runFile(tc, 'n1', 's1-r3.fail-stop'), '1\ndevice busy\n');
}

const occurrences = (records: EventRecord[]): number => records.reduce((n, e) => n + (e.count ?? 1), 0);

test('a stop that fails during a configuration change blocks the set without a retry storm; cleanup completes the change', async () => {
  const tc = await startTestCluster({ nodes: 2 });
  try {
    await runningWithFailingStop(tc);
    // A changed set is stopped with its old configuration, then started with the new one.
    await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2'], leaseTtl: '3s', fenceMargin: '1s', monitorInterval: '2s' }));
    await tc.waitFor('stop-failed recorded', 10_000, async () => (await eventRecords(tc, 'S1', 'stop-failed')).length > 0);
    await new Promise((r) => setTimeout(r, 10_000));
    const failed = occurrences(await eventRecords(tc, 'S1', 'stop-failed'));
    const stops = (await tc.actions('n1')).filter((a) => a.action === 'stop' && a.resource === 's1-r3').length;
    assert.ok(failed < 10, `stop-failed ${failed} times in 10 s (a retry storm)`);
    assert.ok(stops < 10, `the failing stop ran ${stops} times in 10 s`);
    const blocked = await tc.set('S1');
    assert.equal(blocked?.state, 'blocked', `status says ${blocked?.state}, not blocked: ${blocked?.reason}`);
    assert.equal(blocked?.node, 'n1', 'ownership is kept');
    assert.match(blocked?.reason ?? '', /stop of s1-r3 failed \(rc=1: device busy\)/);
    assert.equal((await tc.actions('n2')).filter((a) => a.action === 'start').length, 0, 'never started elsewhere');

    // Cleanup while the stop still fails: one more attempt, one more (folded) stop-failed.
    assert.equal((await tc.hactl(['cleanup', 'S1'])).code, 0);
    await tc.waitFor('second stop-failed', 15_000, async () => occurrences(await eventRecords(tc, 'S1', 'stop-failed')) >= failed + 1);
    const records = await eventRecords(tc, 'S1', 'stop-failed');
    assert.equal(records.length, 1, 'identical stop-failed events are folded into one record');
    assert.ok((records[0].count ?? 1) >= 2 && records[0].lastAtWallMs! > records[0].atWallMs, JSON.stringify(records[0]));
    const shown = await tc.hactl(['events', '--set', 'S1']);
    assert.match(shown.stdout, new RegExp(`stop-failed .*\\(${records[0].count} times, last at `), shown.stdout);
    assert.equal((await tc.set('S1'))?.state, 'blocked');

    // The stop works again: cleanup lets the change complete.
    await rm(runFile(tc, 'n1', 's1-r3.fail-stop'), { force: true });
    assert.equal((await tc.hactl(['cleanup', 'S1'])).code, 0);
    await tc.waitRunning('S1', 20_000);
  } finally {
    await tc.dispose();
  }
});

test('a set removed from the configuration whose stop failed stays owned and blocked; hactl cleanup still reaches it', async () => {
  const tc = await startTestCluster({ nodes: 2 });
  try {
    await runningWithFailingStop(tc);
    await tc.applyConfig(dummySetYaml({ set: 'S2', prefer: ['n2', 'n1'], leaseTtl: '3s', fenceMargin: '1s' }));
    await tc.waitFor('stop-failed recorded', 10_000, async () => (await eventRecords(tc, 'S1', 'stop-failed')).length > 0);
    await new Promise((r) => setTimeout(r, 3000));
    assert.ok(occurrences(await eventRecords(tc, 'S1', 'stop-failed')) < 5, 'no retry storm');
    assert.ok((await tc.client.get(tc.keys.owner('S1')).string()) !== null, 'a set that could not be stopped is never released');
    await rm(runFile(tc, 'n1', 's1-r3.fail-stop'), { force: true });
    const c = await tc.hactl(['cleanup', 'S1']);
    assert.equal(c.code, 0, c.stderr);
    await tc.waitFor('S1 stopped and released', 15_000, async () => (await tc.client.get(tc.keys.owner('S1')).string()) === null);
    const stops = (await tc.actions('n1')).filter((a) => a.set === 'S1' && a.action === 'stop' && a.status === 'exited' && a.rc === 0).map((a) => a.resource);
    assert.deepEqual(stops.slice(-3), ['s1-r3', 's1-r2', 's1-r1'], 'the removed set was stopped on its host');
  } finally {
    await tc.dispose();
  }
});

test('a stored configuration the agents cannot read leaves what runs running, and says why', async () => {
  const tc = await startTestCluster({ nodes: 2 });
  try {
    await waitOnline(tc, 2);
    await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2'], leaseTtl: '3s', fenceMargin: '1s' }));
    const before = await tc.waitRunning('S1', 20_000, (x) => x.node === 'n1');
    // As a newer CLI or a hand edit might leave it: valid JSON, YAML this version rejects.
    const t0 = Date.now();
    await tc.client.put(tc.keys.config()).value(JSON.stringify({ yaml: 'serviceSets:\n  S1: { resources: [ { id: x, type: dummy, fancy: yes } ] }\nfutureFeature: 1\n', appliedAtWallMs: t0, appliedBy: 'test' })).exec();
    await new Promise((r) => setTimeout(r, 4000));
    const stops = (await tc.actions('n1')).filter((a) => a.action === 'stop' && a.beginWallMs >= t0);
    assert.deepEqual(stops, [], 'nothing was stopped');
    const st = await tc.hactl(['status']);
    assert.match(st.stdout, /S1 +singleton +running +n1/, st.stdout);
    assert.match(st.stdout, /cannot be read.*last good configuration/, st.stdout);
    const logs = (await tc.logLines('n1')).filter((l) => l.msg === 'stored configuration unreadable; keeping the last good one');
    assert.equal(logs.length, 1, 'logged once for the revision');
    assert.equal((await eventRecords(tc, undefined, 'config-unreadable')).length > 0, true, 'an event says so');
    // A good configuration again: the agents follow it (the set was unchanged, so it keeps running).
    await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2'], leaseTtl: '3s', fenceMargin: '1s' }));
    const after = await tc.waitRunning('S1', 10_000);
    assert.equal(after.fencingToken, before.fencingToken, 'never stopped or moved');
    assert.doesNotMatch((await tc.hactl(['status'])).stdout, /cannot be read/);
  } finally {
    await tc.dispose();
  }
});

test('an agent that cannot write its lease file keeps running and runs its set', async () => {
  const tc = await startTestCluster({ nodes: 2 });
  try {
    await waitOnline(tc, 2);
    // A directory where the lease file's temporary copy goes: every write fails (as on a full disk).
    await tc.lc.killAgent('n1');
    const tmp = join(tc.lc.agent('n1').dir, 'data', 'lease.json.tmp');
    await rm(tmp, { recursive: true, force: true });
    await mkdir(join(tmp, 'blocker'), { recursive: true });
    await tc.lc.startAgent('n1');
    // Registered by the new process (its node key carries its PID), not by the killed one.
    await tc.waitFor('n1 registered again', 30_000, async () => {
      const record = JSON.parse((await tc.client.get(tc.keys.node('n1')).string()) ?? '{}') as { pid?: number };
      return record.pid === tc.lc.agent('n1').process?.pid;
    });
    await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2'], leaseTtl: '3s', fenceMargin: '1s' }));
    await tc.waitRunning('S1', 20_000, (x) => x.node === 'n1');
    assert.equal(tc.lc.agent('n1').process?.exitCode, null, 'the agent is still running');
    const logs = await tc.logLines('n1');
    const warned = logs.find((l) => l.msg === 'lease file not written; a restart will not resume this lease');
    assert.ok(warned, 'the failure is logged');
    assert.match(String(warned.err), /EISDIR/);
    // … and exposed on the agent's health endpoint.
    const listen = /listen: (127\.0\.0\.1:\d+)/.exec(await readFile(tc.lc.agent('n1').configFile, 'utf8'))?.[1];
    const health = (await (await fetch(`http://${listen}/health`)).json()) as { leaseFileProblem?: string };
    assert.match(health.leaseFileProblem ?? '', /EISDIR/);
  } finally {
    await tc.dispose();
  }
});
