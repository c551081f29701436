// Failure handling and operator control (SPEC §4, issue 5) against a real etcd and real agents:
// monitors restart in place then move and ban; start failures move; rc 6 stops everywhere until
// cleanup; a failed stop blocks; standby drains; maintenance freezes; every story is in the events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestCluster, dummySetYaml, type TestCluster, waitOnline } from '../lib/cluster.js';

const runFile = (tc: TestCluster, node: string, name: string): string => join(tc.lc.agent(node).dir, 'data', 'run', name);
const crash = (tc: TestCluster, node: string, resource: string) => rm(runFile(tc, node, `${resource}.state`), { force: true });
const failNext = (tc: TestCluster, node: string, resource: string, action: string, rc: number, reason: string) =>
  writeFile(runFile(tc, node, `${resource}.fail-${action}`), `${rc}\n${reason}\n`);

async function events(tc: TestCluster, set: string): Promise<string[]> {
  const r = await tc.hactl(['events', '--set', set, '--json']);
  assert.equal(r.code, 0, r.stderr);
  // A folded record (count) stands for that many identical events.
  return r.stdout.trim().split('\n').filter(Boolean).flatMap((l) => {
    const e = JSON.parse(l) as { node: string; what: string; count?: number };
    return Array<string>(e.count ?? 1).fill(`${e.node}:${e.what}`);
  });
}

test('a monitor failure restarts in place; the third within the window moves the set and bans the host; the ban expires', async () => {
  const tc = await startTestCluster({ nodes: 2 });
  try {
    await waitOnline(tc, 2);
    await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2'], monitorInterval: '500ms', extra: '    onFailure: { restarts: 2, window: 1m, banFor: 6s }' }));
    const first = await tc.waitRunning('S1', 20_000, (s) => s.node === 'n1');
    // Failure 1: s1-r2 "crashes"; the set restarts in place from it (r3 stopped first).
    const t1 = Date.now();
    await crash(tc, 'n1', 's1-r2');
    await tc.waitFor('restart in place', 10_000, async () => (await tc.actions('n1')).some((a) => a.action === 'start' && a.resource === 's1-r3' && a.beginWallMs > t1));
    const acts = (await tc.actions('n1')).filter((a) => a.beginWallMs > t1 && (a.action === 'start' || a.action === 'stop')).map((a) => `${a.action}:${a.resource}`);
    assert.deepEqual(acts.slice(0, 4), ['stop:s1-r3', 'stop:s1-r2', 'start:s1-r2', 'start:s1-r3']);
    let s = await tc.waitRunning('S1', 10_000);
    assert.equal(s.node, 'n1');
    assert.equal(s.fencingToken, first.fencingToken, 'restarted in place: same ownership');
    assert.equal(s.resources[1].failCount, 1);
    // Failures 2 and 3: the third moves the set to n2 and bans n1.
    for (let i = 2; i <= 3; i++) {
      const before = Date.now();
      await crash(tc, 'n1', 's1-r2');
      if (i === 2) await tc.waitFor('second restart', 10_000, async () => (await tc.actions('n1')).some((a) => a.action === 'start' && a.resource === 's1-r3' && a.beginWallMs > before));
    }
    s = await tc.waitRunning('S1', 15_000, (x) => x.node === 'n2');
    const st = await tc.status();
    assert.ok(s.fencingToken! > first.fencingToken!);
    const r = await tc.hactl(['failover', 'S1', '--to', 'n1']);
    assert.equal(r.code, 4, 'n1 is banned');
    assert.match(r.stderr, /n1 banned until/);
    assert.ok(st.sets[0].state === 'running');
    // The ban ends by itself after banFor (6 s): n1 is eligible again (no failback: S1 stays).
    await new Promise((res) => setTimeout(res, 6500));
    const ok = await tc.hactl(['failover', 'S1', '--to', 'n1', '--wait', '--timeout', '15s']);
    assert.equal(ok.code, 0, ok.stderr);
    const story = await events(tc, 'S1');
    assert.ok(story.filter((e) => e === 'n1:monitor-failed').length >= 3, story.join(' '));
    assert.ok(story.includes('n1:released') && story.includes('n2:acquired'), story.join(' '));
  } finally {
    await tc.dispose();
  }
});

test('a start failure moves the set; rc 6 stops it everywhere until cleanup', async () => {
  const tc = await startTestCluster({ nodes: 2 });
  try {
    await waitOnline(tc, 2);
    await failNext(tc, 'n1', 's1-r2', 'start', 1, 'queue manager QM1 failed to start');
    await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2'] }));
    const s = await tc.waitRunning('S1', 20_000, (x) => x.node === 'n2');
    assert.equal(s.node, 'n2');
    const n1 = (await tc.actions('n1')).filter((a) => a.action !== 'monitor').map((a) => `${a.action}:${a.resource}:${a.rc}`);
    assert.deepEqual(n1, ['start:s1-r1:0', 'start:s1-r2:1', 'stop:s1-r2:0', 'stop:s1-r1:0'], 'stopped what started, in reverse');
    const st = await tc.hactl(['status']);
    assert.match(st.stdout, /S1\s+singleton\s+running\s+n2/);
    // Fatal: rc 6 on n2 stops the set everywhere.
    await failNext(tc, 'n2', 's1-r3', 'monitor', 6, 'not configured: bad parameter');
    const failed = await tc.waitFor('S1 failed', 15_000, (x) => x.sets.some((y) => y.name === 'S1' && y.state === 'failed'));
    assert.match(failed.sets[0].reason ?? '', /monitor of s1-r3 failed \(rc=6: not configured: bad parameter\).*hactl cleanup S1/);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await tc.set('S1'))?.state, 'failed', 'no node starts it again');
    await rm(runFile(tc, 'n2', 's1-r3.fail-monitor'), { force: true });
    await rm(runFile(tc, 'n1', 's1-r2.fail-start'), { force: true });
    const c = await tc.hactl(['cleanup', 'S1']);
    assert.equal(c.code, 0, c.stderr);
    await tc.waitRunning('S1', 15_000);
  } finally {
    await tc.dispose();
  }
});

test('a stop that times out leaves the set blocked on its host, never started elsewhere, until cleanup', async () => {
  const tc = await startTestCluster({ nodes: 2 });
  try {
    await waitOnline(tc, 2);
    await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2'], leaseTtl: '3s', fenceMargin: '1s' }));
    await tc.waitRunning('S1', 20_000, (x) => x.node === 'n1');
    await failNext(tc, 'n1', 's1-r3', 'stop', 1, 'device busy');
    // --wait stops waiting as soon as the set is blocked: exit 4 with the reason, not the timeout.
    const t0 = performance.now();
    const r = await tc.hactl(['failover', 'S1', '--to', 'n2', '--wait', '--timeout', '60s']);
    assert.equal(r.code, 4, r.stderr);
    assert.ok(performance.now() - t0 < 30_000, 'not the 60s timeout');
    assert.match(r.stderr.trim().split('\n').at(-1)!, /^hactl: S1 is blocked on n1: .*stop of s1-r3 failed \(rc=1: device busy\).*; the move cannot finish$/);
    const blocked = await tc.waitFor('S1 blocked', 10_000, (x) => x.sets.some((y) => y.name === 'S1' && y.state === 'blocked'));
    assert.equal(blocked.sets[0].node, 'n1', 'ownership is kept');
    assert.match(blocked.sets[0].reason ?? '', /stop of s1-r3 failed \(rc=1: device busy\).*until hactl cleanup/);
    await new Promise((res) => setTimeout(res, 4000));
    assert.equal((await tc.actions('n2')).filter((a) => a.action === 'start').length, 0, 'never started elsewhere');
    assert.equal((await tc.set('S1'))?.state, 'blocked');
    await rm(runFile(tc, 'n1', 's1-r3.fail-stop'), { force: true });
    assert.equal((await tc.hactl(['cleanup', 'S1'])).code, 0);
    // After cleanup the pending switchover completes.
    await tc.waitRunning('S1', 15_000, (x) => x.node === 'n2');
  } finally {
    await tc.dispose();
  }
});

test('standby drains by planned switchover with no overlap; unstandby restores without failback; maintenance freezes', async () => {
  const tc = await startTestCluster({ nodes: 2 });
  try {
    await waitOnline(tc, 2);
    await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2'], leaseTtl: '5s', fenceMargin: '1s', stopTimeout: '10s' }));
    await tc.waitRunning('S1', 20_000, (x) => x.node === 'n1');
    const t0 = Date.now();
    assert.equal((await tc.hactl(['standby', 'n1'])).code, 0);
    await tc.waitRunning('S1', 10_000, (x) => x.node === 'n2');
    assert.ok(Date.now() - t0 < 4000, 'a planned switchover, not a lease wait');
    const stops = (await tc.actions('n1')).filter((a) => a.action === 'stop' && a.beginWallMs > t0);
    const starts = (await tc.actions('n2')).filter((a) => a.action === 'start' && a.beginWallMs > t0);
    assert.ok(starts[0].beginWallMs >= stops[stops.length - 1].endWallMs, 'no overlap');
    const st = await tc.status();
    assert.equal(st.nodes.find((n) => n.name === 'n1')?.state, 'standby');
    const mv = await tc.hactl(['move', 'S1', 'n1']);
    assert.equal(mv.code, 4, 'move to a host in standby is refused');
    assert.match(mv.stderr, /n1 in standby/);
    assert.equal((await tc.hactl(['unstandby', 'n1'])).code, 0);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await tc.set('S1'))?.node, 'n2', 'failback: false — nothing moves back');

    // Maintenance: a crashed resource is not restarted until maintenance is off.
    assert.equal((await tc.hactl(['maintenance', 'on'])).code, 0);
    await tc.waitFor('maintenance', 5000, (x) => x.sets[0].state === 'maintenance');
    const tm = Date.now();
    await crash(tc, 'n2', 's1-r2');
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal((await tc.actions('n2')).filter((a) => a.beginWallMs > tm).length, 0, 'no action at all in maintenance');
    assert.equal((await tc.hactl(['maintenance', 'off'])).code, 0);
    await tc.waitFor('s1-r2 restarted', 10_000, async () => (await tc.actions('n2')).some((a) => a.action === 'start' && a.resource === 's1-r2' && a.beginWallMs > tm));
  } finally {
    await tc.dispose();
  }
});

test('operator commands refuse bad input with one line and the SPEC exit code, changing nothing', async () => {
  const tc = await startTestCluster({ nodes: 2 });
  try {
    await waitOnline(tc, 2);
    await tc.applyConfig(dummySetYaml({ prefer: ['n1'] }));
    await tc.waitRunning('S1', 20_000, (x) => x.node === 'n1');
    const before = await tc.client.getAll().prefix(tc.keys.prefix + 'intents/').keys();
    const cases: [string[], number, RegExp][] = [
      [['move', 'NOPE', 'n1'], 3, /no service set named NOPE/],
      [['move', 'S1', 'n7'], 3, /no node named n7/],
      [['move', 'S1', 'n2'], 4, /not in S1\.prefer/],
      [['ban', 'S1', 'n1'], 4, /only eligible node for S1/],
      [['ban', 'S1', 'n1', '--for', 'a while'], 2, /--for: not a duration/],
      [['standby', 'n9'], 3, /no node named n9/],
      [['maintenance', 'maybe'], 2, /say on or off/],
      [['cleanup', 'S1', 'nope'], 3, /S1 has no resource nope/],
      [['events', '--since', 'yesterday'], 2, /--since: not a duration/],
    ];
    for (const [args, code, re] of cases) {
      const r = await tc.hactl(args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
    assert.deepEqual(await tc.client.getAll().prefix(tc.keys.prefix + 'intents/').keys(), before);
    assert.equal((await tc.set('S1'))?.node, 'n1');
  } finally {
    await tc.dispose();
  }
});
