// An etcd outage leaves a trace (issue 17): the agents record what they saw — etcd lost, the sets
// they self-fenced, etcd back — once they can write again; `hactl report` counts the self-fenced
// time as down; and `hactl status` never shows a set running from the status record written
// before the outage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EventRecord } from '../../agent/shell/events.js';
import { dummySetYaml, startTestCluster } from '../lib/cluster.js';

test('etcd stopped ~10 s: events show lost/self-fenced/resumed, report counts the downtime, status never claims running from the stale record', async () => {
  const tc = await startTestCluster({ nodes: 2, cluster: 'outage' });
  try {
    await tc.waitFor('2 agents online', 20_000, (s) => s.nodes.filter((n) => n.state === 'online').length === 2);
    await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2'], leaseTtl: '2s', fenceMargin: '800ms' }));
    const before = await tc.waitRunning('S1', 20_000, (s) => s.node === 'n1');
    const sinceBefore = before.since;

    const stopAtWallMs = Date.now();
    await tc.lc.etcd.stopMember('e1');
    await new Promise((r) => setTimeout(r, 10_000));
    await tc.lc.etcd.startMember('e1');
    const backAtWallMs = Date.now();

    // From the moment etcd answers again: every status read that says running must be a new run.
    const staleClaims: string[] = [];
    let stalesSeen = 0;
    const deadline = Date.now() + 20_000;
    for (;;) {
      const s = await tc.set('S1').catch(() => undefined);
      if (s?.state === 'running' && s.since === sinceBefore) staleClaims.push(`${new Date().toISOString()} ${JSON.stringify(s)}`);
      if (s?.state === 'stale') stalesSeen++;
      if (s?.state === 'running' && s.since !== sinceBefore) break;
      assert.ok(Date.now() < deadline, `S1 running again within 20 s; last ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    process.stdout.write(`# status reads showing the stale record as stale: ${stalesSeen}\n`);
    assert.deepEqual(staleClaims, [], 'status never claimed running from the record written before the outage');

    // The agents' records of the outage, written once etcd was back.
    const events = await waitEvents(tc.client, tc.keys.eventsPrefix(), (evs) => evs.some((e) => e.what === 'etcd-resumed' && e.node === 'n1'));
    const of = (what: string, node: string, set?: string) => events.find((e) => e.what === what && e.node === node && (set === undefined || e.set === set));
    const lost = of('etcd-lost', 'n1');
    const fenced = of('self-fenced', 'n1', 'S1');
    const resumed = of('etcd-resumed', 'n1');
    process.stdout.write(`# n1: etcd-lost +${lost ? lost.atWallMs - stopAtWallMs : '?'} ms, self-fenced S1 +${fenced ? fenced.atWallMs - stopAtWallMs : '?'} ms, resumed +${resumed ? resumed.atWallMs - stopAtWallMs : '?'} ms (etcd back at +${backAtWallMs - stopAtWallMs} ms)\n`);
    assert.ok(lost && lost.atWallMs > stopAtWallMs && lost.atWallMs < backAtWallMs, `n1 recorded losing etcd during the outage: ${JSON.stringify(lost)}`);
    assert.ok(fenced && fenced.atWallMs > stopAtWallMs && fenced.atWallMs < backAtWallMs, `n1 recorded self-fencing S1 during the outage: ${JSON.stringify(fenced)}`);
    assert.ok(resumed && resumed.atWallMs >= backAtWallMs - 1000, `n1 recorded etcd back: ${JSON.stringify(resumed)}`);
    assert.ok(of('etcd-lost', 'n2') && of('etcd-resumed', 'n2'), 'n2 recorded the outage too');

    const report = await tc.hactl(['report', '--json']);
    assert.equal(report.code, 0, report.stderr);
    const s1 = (JSON.parse(report.stdout) as { sets: { set: string; unplannedDownMs: number; outages: { cause: string; causeCode: string | null; durationMs: number }[] }[] }).sets.find((x) => x.set === 'S1');
    process.stdout.write(`# report: S1 unplanned down ${s1?.unplannedDownMs} ms; outages ${JSON.stringify(s1?.outages.map((o) => [o.cause, o.durationMs]))}\n`);
    assert.ok(s1, 'S1 in the report');
    const outage = s1.outages.find((o) => /^self-fenced on n1/.test(o.cause));
    assert.ok(outage, 'the self-fence is an outage of S1');
    assert.equal(outage.causeCode, 'lease-doubt');
    assert.ok(fenced.cause === 'lease-doubt' && lost.cause === 'lease-doubt' && resumed.cause === 'lease-sound', 'the outage events carry their causes');
    assert.ok(s1.unplannedDownMs >= 8000, `the ~10 s outage counts as down (from the self-fence to running again): ${s1.unplannedDownMs} ms`);
  } finally {
    await tc.lc.etcd.startMember('e1').catch(() => undefined);
    await tc.dispose();
  }
});

async function waitEvents(client: import('etcd3').Etcd3, prefix: string, pred: (evs: EventRecord[]) => boolean): Promise<EventRecord[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const evs = Object.values(await client.getAll().prefix(prefix).strings()).map((v) => JSON.parse(v) as EventRecord);
    if (pred(evs) || Date.now() > deadline) return evs;
    await new Promise((r) => setTimeout(r, 100));
  }
}
