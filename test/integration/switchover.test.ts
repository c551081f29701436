// Planned switchover (SPEC §4): `hactl failover SET --to NODE --wait` — the owner stops the set in
// reverse order, hands ownership to the target by transaction, the target starts at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCluster, dummySetYaml } from '../lib/cluster.js';
import type { EventRecord } from '../../agent/shell/events.js';

test('hactl failover --to --wait: reverse stop on the owner, then start on the target, no lease wait', async () => {
  const tc = await startTestCluster({ nodes: 3 });
  try {
    await tc.waitFor('3 agents online', 20_000, (s) => s.nodes.filter((n) => n.state === 'online').length === 3);
    // A long TTL and long stop timeouts: a switchover must wait for neither.
    await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2', 'n3'], leaseTtl: '5s', fenceMargin: '1s', stopTimeout: '10s' }));
    const before = await tc.waitRunning('S1', 20_000, (s) => s.node === 'n1');
    const t0 = Date.now();
    const r = await tc.hactl(['failover', 'S1', '--to', 'n3', '--wait', '--timeout', '20s']);
    const tookMs = Date.now() - t0;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /S1 running on n3 \(token \d+\)/);
    const s = await tc.set('S1');
    assert.equal(s?.node, 'n3');
    assert.ok(s!.fencingToken! > before.fencingToken!);
    const stops = (await tc.actions('n1')).filter((a) => a.action === 'stop');
    assert.deepEqual(stops.map((a) => a.resource), ['s1-r3', 's1-r2', 's1-r1']);
    const starts = (await tc.actions('n3')).filter((a) => a.action === 'start');
    assert.deepEqual(starts.map((a) => a.resource), ['s1-r1', 's1-r2', 's1-r3']);
    assert.ok(starts[0].beginWallMs >= stops[2].endWallMs, 'the target started only after the owner had stopped everything');
    const agentsMs = [...stops, ...starts].reduce((sum, a) => sum + (a.endWallMs - a.beginWallMs), 0);
    const overheadMs = starts[2].endWallMs - stops[0].beginWallMs - agentsMs;
    process.stdout.write(`# switchover: CLI returned after ${tookMs} ms; stop+start by the agents ${agentsMs} ms; hactl overhead ${overheadMs} ms\n`);
    assert.ok(tookMs < 4000, `switchover took ${tookMs} ms; no lease wait (5 s) or grace (9 s)`);
    // The intent is cleared once done.
    assert.equal(await tc.client.get(tc.keys.failoverIntent('S1')).string(), null);
    // Every event of the switchover carries its cause code, and the report reads it: one planned outage.
    const want = [['n1', 'stopped', 'operator-failover'], ['n1', 'handed-off', 'operator-failover'], ['n3', 'acquired', 'planned-switchover'], ['n3', 'running', 'started']];
    let seen: string[][] = [];
    for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
      const all = Object.values(await tc.client.getAll().prefix(tc.keys.eventsPrefix()).strings()).map((v) => JSON.parse(v) as EventRecord);
      seen = all.filter((e) => e.set === 'S1' && e.atWallMs >= t0).map((e) => [e.node, e.what, String(e.cause)]);
      if (want.every((w) => seen.some((x) => x.join() === w.join()))) break;
    }
    for (const w of want) assert.ok(seen.some((x) => x.join() === w.join()), `event ${w.join(' ')} in ${JSON.stringify(seen)}`);
    const report = await tc.hactl(['report', '--json']);
    assert.equal(report.code, 0, report.stderr);
    const outages = (JSON.parse(report.stdout) as { sets: { set: string; outages: { kind: string; causeCode: string | null }[] }[] }).sets.find((x) => x.set === 'S1')?.outages;
    assert.deepEqual(outages?.map((o) => [o.kind, o.causeCode]), [['planned', 'operator-failover']]);
  } finally {
    await tc.dispose();
  }
});

test('hactl failover refuses bad requests with one line and the right exit code, changing nothing', async () => {
  const tc = await startTestCluster({ nodes: 2 });
  try {
    await tc.waitFor('2 agents online', 20_000, (s) => s.nodes.filter((n) => n.state === 'online').length === 2);
    await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2'] }));
    await tc.waitRunning('S1', 20_000, (s) => s.node === 'n1');
    const cases: [string[], number, RegExp][] = [
      [['failover', 'NOPE'], 3, /no service set named NOPE/],
      [['failover', 'S1', '--to', 'n9'], 3, /no node named n9/],
      [['failover', 'S1', '--to', 'n1'], 4, /already runs on n1/],
      [['failover', 'S1', '--wait', '--timeout', 'soon'], 2, /--timeout: not a duration/],
    ];
    for (const [args, code, re] of cases) {
      const r = await tc.hactl(args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
    assert.equal(await tc.client.get(tc.keys.failoverIntent('S1')).string(), null);
    assert.equal((await tc.set('S1'))?.node, 'n1');
  } finally {
    await tc.dispose();
  }
});
