// hactl report against a real etcd holding a constructed event history (the keys and records the
// agents write: events/<15-digit wall ms>-<node>-<seq>), run through the real CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { Keys } from '../../agent/etcd/keys.js';
import { eventKeySuffix, type EventRecord } from '../../agent/shell/events.js';
import { startTestEtcd } from '../lib/etcd.js';
import { runHactl } from '../lib/cluster.js';
import { dummySetYaml } from '../lib/cluster.js';

const T0 = Date.UTC(2025, 2, 1);
const H = 3_600_000;

test('hactl report: uptime, nines, planned and unplanned downtime, failovers and budget from etcd', async () => {
  const etcd = await startTestEtcd(1);
  const client = new Etcd3({ hosts: etcd.endpoints, defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 3000 }) });
  const cluster = 'report';
  const keys = Keys.forCluster(cluster);
  try {
    await client.put(keys.config()).value(JSON.stringify({ yaml: dummySetYaml({ set: 'QM1', prefer: ['n1', 'n2', 'n3'] }) + dummySetYaml({ set: 'QM2' }).split('serviceSets:\n')[1], appliedAtWallMs: T0 - 1000, appliedBy: 'test' })).exec();
    const seq = new Map<string, number>();
    const put = async (at: number, node: string, what: string, reason: string, set?: string): Promise<void> => {
      const n = seq.get(node) ?? 0;
      seq.set(node, n + 1);
      const rec: EventRecord = { atWallMs: at, node, set, what, reason, token: 10 };
      await client.put(keys.event(eventKeySuffix(at, node, n))).value(JSON.stringify(rec)).exec();
    };
    await put(T0 - 2000, 'n1', 'node-online', 'n1 joined with lease 1');
    await put(T0 - 1000, 'n1', 'acquired', 'QM1 has no owner and n1 is the best eligible node', 'QM1');
    await put(T0, 'n1', 'running', 'QM1 running on n1', 'QM1');
    await put(T0 + 1 * H, 'n1', 'stopped', 'operator requested failover of QM1: planned switchover to n2, stopping qm1-r1', 'QM1');
    await put(T0 + 1 * H + 50, 'n1', 'handed-off', 'operator requested failover of QM1: planned switchover to n2, releasing QM1', 'QM1');
    await put(T0 + 1 * H + 60, 'n2', 'acquired', 'planned switchover from n1: taking QM1', 'QM1');
    await put(T0 + 1 * H + 1200, 'n2', 'running', 'QM1 running on n2', 'QM1');
    await put(T0 + 3 * H, 'n3', 'acquired', 'n2 lost its lease while owning QM1: taking over', 'QM1');
    await put(T0 + 3 * H + 2800, 'n3', 'running', 'QM1 running on n3', 'QM1');
    // QM2: its history begins mid-life (trimmed), and it is down at the end.
    await put(T0 + 2 * H, 'n3', 'running', 'QM2 running on n3', 'QM2');
    await put(T0 + 10 * H - 60_000, 'n3', 'monitor-failed', 'qm2-r1 failed its monitor (rc=7: not running): restarting in place', 'QM2');

    const env = { HACTL_ENDPOINTS: etcd.endpoints.join(','), HACTL_CLUSTER: cluster };
    const period = ['--since', new Date(T0).toISOString(), '--until', new Date(T0 + 10 * H).toISOString()];
    const json = await runHactl(['report', ...period, '--json'], env, 30_000);
    assert.equal(json.code, 0, json.stderr);
    assert.equal(json.stderr, '');
    const r = JSON.parse(json.stdout) as { cluster: string; sets: { set: string; upMs: number; plannedDownMs: number; unplannedDownMs: number; unknownMs: number; uptimePercent: number; nines: number; failovers: number; switchovers: number; state: string; budget: { remainingMs: number }; outages: { kind: string; durationMs: number; fromNode: string; toNode: string }[]; notes: string[] }[] };
    assert.equal(r.cluster, cluster);
    const qm1 = r.sets.find((s) => s.set === 'QM1')!;
    assert.equal(qm1.plannedDownMs, 1200);
    assert.equal(qm1.unplannedDownMs, 2800);
    assert.equal(qm1.upMs, 10 * H - 4000);
    assert.equal(qm1.uptimePercent, ((10 * H - 4000) / (10 * H)) * 100);
    assert.equal(qm1.nines, 3);
    assert.equal(qm1.failovers, 1);
    assert.equal(qm1.switchovers, 1);
    assert.equal(qm1.budget.remainingMs, 3_155_760 - 4000);
    assert.deepEqual(qm1.outages.map((o) => [o.kind, o.durationMs, o.fromNode, o.toNode]), [['planned', 1200, 'n1', 'n2'], ['unplanned', 2800, 'n2', 'n3']]);
    const qm2 = r.sets.find((s) => s.set === 'QM2')!;
    assert.equal(qm2.unknownMs, 2 * H);
    assert.equal(qm2.unplannedDownMs, 60_000);
    assert.equal(qm2.state, 'down');
    assert.ok(qm2.notes.some((n) => /earlier events are missing/.test(n)));

    const text = await runHactl(['report', ...period, '--target', '99.9'], env, 30_000);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /target 99\.9%: a yearly downtime budget of 8h45m/);
    assert.match(text.stdout, /^cluster report {3}availability from \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC(?:[+-]\d\d:\d\d)? to /);
    assert.match(text.stdout, /^QM1\s+up on n3\s+99\.9888%\s+3 \(3\.95\)\s+1\.2s\s+2\.8s\s+1\s+0\s+1\s+8h45m/m);
    assert.match(text.stdout, /QM2: outages\n.*\n.*1m0s \(ongoing\)\s+unplanned\s+n3/);
    assert.match(text.stdout, /notes:\n/);

    const bad = await runHactl(['report', '--since', 'yesterday'], env, 30_000);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^hactl: --since: not a duration/);
  } finally {
    client.close();
    await etcd.dispose();
  }
});
