// The operator commands' output (table and --json) and their error cases (issue 9, SPEC §7),
// against one real etcd and three real agents shared by the whole file. Each error case checks
// the exit code, that stderr is one line naming what is wrong, no stack trace, and that nothing
// was written (the operator keys under the cluster prefix are unchanged).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { HACTL_JS } from '../../cli/dev/local-cluster.js';
import { startTestCluster, type TestCluster } from '../lib/cluster.js';
import type { ClusterStatus } from '../../cli/status-model.js';
import { VERSION } from '../../cli/version.js';

const CONFIG = `timing:
  leaseTtl: 2s
  fenceMargin: 800ms
serviceSets:
  S1:
    prefer: [n1, n2, n3]
    resources:
      - { id: s1-a, type: dummy, stop: { timeout: 250ms }, monitor: { interval: 2s, timeout: 2s } }
      - { id: s1-b, type: dummy, stop: { timeout: 250ms }, monitor: { interval: 2s, timeout: 2s } }
  S2:
    prefer: [n3]
    resources:
      - { id: s2-a, type: dummy, stop: { timeout: 250ms }, monitor: { interval: 2s, timeout: 2s } }
`;

let tc: TestCluster;

async function ok(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const r = await tc.hactl(args, 30_000);
  assert.equal(r.code, 0, `hactl ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return r;
}

async function okJson<T = Record<string, unknown>>(args: string[]): Promise<T> {
  const r = await ok([...args, '--json']);
  return JSON.parse(r.stdout) as T;
}

/** The keys operators write (config, intents, bans, fences): an error must leave them as they were. */
async function operatorKeys(): Promise<Record<string, string>> {
  const all = await tc.client.getAll().prefix(tc.keys.prefix).strings();
  return Object.fromEntries(Object.entries(all).filter(([k]) => /\/(config|intents\/.*|bans\/.*|fences\/.*)$/.test(k)));
}

async function fails(cases: [string[], number, RegExp][]): Promise<void> {
  const before = await operatorKeys();
  for (const [args, code, re] of cases) {
    const r = await tc.hactl(args, 30_000);
    const what = `hactl ${args.join(' ')}: ${r.stderr}`;
    assert.equal(r.code, code, what);
    assert.match(r.stderr.trimEnd(), re, what);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${what}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, `no stack trace: ${what}`);
    assert.equal(r.stdout, '', `nothing on stdout: ${what}`);
  }
  assert.deepEqual(await operatorKeys(), before, 'an error changed nothing');
}

/** A long-running hactl (status --watch, events --follow) whose stdout/stderr are collected. */
function background(args: string[]): { child: ChildProcess; out: () => string; err: () => string; until: (what: string, pred: (out: string) => boolean, ms: number) => Promise<void>; stop: () => Promise<number | null> } {
  const child = spawn(process.execPath, [HACTL_JS, ...args], { env: { ...process.env, ...tc.lc.cliEnv() }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return {
    child,
    out: () => out,
    err: () => err,
    async until(what, pred, ms) {
      const deadline = performance.now() + ms;
      while (!pred(out)) {
        if (performance.now() > deadline) throw new Error(`hactl ${args.join(' ')}: ${what} not seen within ${ms} ms; stdout: ${out.slice(-2000)} stderr: ${err}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async stop() {
      child.kill('SIGINT');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

describe('hactl operator commands against a real cluster', () => {
  before(async () => {
    tc = await startTestCluster({ nodes: 3 });
    await tc.waitFor('3 agents online', 30_000, (s) => s.nodes.filter((n) => n.state === 'online').length === 3);
    await tc.applyConfig(CONFIG);
    await tc.waitRunning('S1', 30_000, (s) => s.node === 'n1');
    await tc.waitRunning('S2', 30_000, (s) => s.node === 'n3');
  });
  after(async () => {
    await tc?.dispose();
  });

  it('status: a table of nodes, sets and resources; --json per SPEC §7; connection errors in one line', async () => {
    const { stdout } = await ok(['status']);
    const lines = stdout.split('\n');
    assert.match(lines[0], /^cluster \S+ {3}revision \d+$/);
    // LEASE: the TTL etcd granted each node's lease (the config's leaseTtl, 2s).
    assert.match(stdout, /^NODE +STATE +LEASE +SETS\nn1 +online +2s +S1\nn2 +online +2s +-\nn3 +online +2s +S2$/m);
    // Times in tables: local date and time with the zone (issue 17); in JSON: ISO 8601 with the zone.
    assert.match(stdout, /^SET +MODE +STATE +NODE +SINCE +TOKEN\nS1 +singleton +running +n1 +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC(?:[+-]\d\d:\d\d)? +\d+$/m);
    assert.match(stdout, /^ {2}RESOURCE +TYPE +STATE +FAILS +LAST FAILURE\n {2}s1-a +dummy +running +0 +-\n {2}s1-b +dummy +running +0 +-$/m);
    const s = await okJson<ClusterStatus & { version: string }>(['status']);
    assert.equal(s.cluster, tc.lc.cluster);
    assert.equal(s.version, VERSION, 'the version of hactl that answered');
    assert.ok(s.revision > 0);
    assert.deepEqual(s.nodes.map((n) => [n.name, n.state, n.maintenance]), [['n1', 'online', false], ['n2', 'online', false], ['n3', 'online', false]]);
    for (const n of s.nodes) {
      assert.equal(n.lease?.grantedTtlSeconds, 2, JSON.stringify(n));
      assert.ok(n.lease.remainingMs > 0 && n.lease.remainingMs <= 2000 && /^\d+$/.test(n.lease.id), JSON.stringify(n));
    }
    assert.equal(s.leaseTtlMs, 2000);
    assert.deepEqual(s.problems, [], 'no lease granted other than leaseTtl');
    const s1 = s.sets.find((x) => x.name === 'S1')!;
    assert.equal(s1.mode, 'singleton');
    assert.equal(s1.state, 'running');
    assert.equal(s1.node, 'n1');
    assert.ok(s1.fencingToken! > 0 && !Number.isNaN(Date.parse(s1.since!)));
    assert.deepEqual(s1.resources, [{ id: 's1-a', type: 'dummy', state: 'running', failCount: 0 }, { id: 's1-b', type: 'dummy', state: 'running', failCount: 0 }]);

    await fails([
      [['status', '--endpoints', 'http://127.0.0.1:1'], 1, /^hactl: cannot read the cluster status: etcd not reachable at http:\/\/127\.0\.0\.1:1: connect ECONNREFUSED 127\.0\.0\.1:1$/],
      [['status', '--endpoints', 'localhost:2379'], 2, /^hactl: --endpoints: not an etcd endpoint URL: localhost:2379$/],
      [['status', '--cluster', 'no such/cluster'], 2, /^hactl: --cluster: not a valid cluster name: no such\/cluster$/],
      [['status', '--config', '/nonexistent/agent.yaml'], 2, /\/nonexistent\/agent\.yaml/],
      [['status', '--user', 'ops'], 2, /^hactl: --user needs --password-file/],
      [['status', '--cacert', '/nonexistent/ca.pem'], 2, /^hactl: cannot read etcd credentials: ENOENT \/nonexistent\/ca\.pem$/],
      [['status', '--cert', '/nonexistent/op.pem'], 2, /^hactl: --cert needs --key \(a client certificate and its key go together\)$/],
      [['status', '--cert', 'op.pem', '--key', 'op-key.pem'], 2, /^hactl: --cert and --key need --cacert \(or etcd\.tls\.ca in the host configuration\)/],
    ]);
  });

  it('a member that is gone (connects, never answers) does not slow hactl down or lose its answers', async () => {
    // A TCP listener that accepts and never speaks: like an etcd host that froze or was cut off.
    const hung = createServer(() => undefined);
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    const dead = `http://127.0.0.1:${(hung.address() as AddressInfo).port}`;
    try {
      const endpoints = [dead, ...tc.lc.endpoints].join(',');
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        const r = await tc.hactl(['status', '--endpoints', endpoints], 30_000);
        const ms = Math.round(performance.now() - t0);
        assert.equal(r.code, 0, r.stderr);
        // Every lease read answered: none went to the silent member (each would wait out its deadline).
        assert.match(r.stdout, /^n1 +online +2s +\S+\nn2 +online +2s +\S+\nn3 +online +2s +\S+$/m, r.stdout);
        process.stdout.write(`# status with one silent member of ${tc.lc.endpoints.length + 1}: ${ms} ms\n`);
      }
      await fails([[['status', '--endpoints', dead], 1, /^hactl: cannot read the cluster status: etcd not reachable at http:\/\/127\.0\.0\.1:\d+: .*DEADLINE_EXCEEDED/]]);
    } finally {
      hung.close();
    }
  });

  it('status --watch redraws when the cluster changes, not on a timer (table and --json)', async () => {
    const table = background(['status', '--watch']);
    const json = background(['status', '--watch', '--json']);
    try {
      const drawings = (out: string): number => out.split('\n').filter((l) => l.startsWith('cluster ')).length;
      const jsonLines = (out: string): ClusterStatus[] => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as ClusterStatus);
      await table.until('the first drawing', (o) => drawings(o) === 1 && o.includes('s1-b'), 15_000);
      await json.until('the first JSON line', (o) => jsonLines(o).length === 1, 15_000);
      // Nothing changes for 3 s: no redraw (the agents keep renewing their leases meanwhile).
      await new Promise((r) => setTimeout(r, 3000));
      assert.equal(drawings(table.out()), 1, `redrawn without a change:\n${table.out()}`);
      assert.equal(jsonLines(json.out()).length, 1);
      // A change: redrawn soon after, showing it.
      const changedAt = performance.now();
      await ok(['maintenance', 'on', 'S2']);
      await table.until('a redraw showing S2 in maintenance', (o) => drawings(o) >= 2 && /S2 +singleton +maintenance/.test(o.slice(o.lastIndexOf('cluster '))), 5000);
      await json.until('a JSON line showing S2 in maintenance', (o) => jsonLines(o).at(-1)!.sets.find((x) => x.name === 'S2')?.state === 'maintenance', 5000);
      const redrawMs = performance.now() - changedAt;
      process.stdout.write(`# status --watch redrew ${Math.round(redrawMs)} ms after hactl maintenance on (including that command's own run)\n`);
      assert.ok(redrawMs < 5000);
      await ok(['maintenance', 'off', 'S2']);
      await table.until('a redraw showing S2 running again', (o) => /S2 +singleton +running/.test(o.slice(o.lastIndexOf('cluster '))), 10_000);
      // Piped (not a terminal), drawings follow one another: no screen-clearing escapes in a log.
      assert.ok(!table.out().includes(String.fromCharCode(27)), "no escape sequences when piped");
      assert.equal(table.err(), '');
    } finally {
      assert.equal(await table.stop(), 0, 'Ctrl-C ends status --watch with exit 0');
      assert.equal(await json.stop(), 0);
    }
  });

  it('failover --wait shows each step on stderr and the result on stdout; --json keeps both machine-readable', async () => {
    const requested = await okJson(['failover', 'S1', '--to', 'n2']);
    assert.deepEqual(requested, { set: 'S1', from: 'n1', to: 'n2', requested: true });
    await tc.waitRunning('S1', 15_000, (s) => s.node === 'n2');

    const follow = background(['events', '--follow', '--set', 'S1']);
    try {
      await new Promise((r) => setTimeout(r, 1000));
      const before = (await tc.set('S1'))!;
      const r = await ok(['failover', 'S1', '--to', 'n1', '--wait', '--timeout', '20s']);
      assert.match(r.stdout, /^S1 running on n1 \(token (\d+)\) after \d+\.\d\d s\n$/);
      const token = Number(/token (\d+)/.exec(r.stdout)![1]);
      assert.ok(token > before.fencingToken!);
      const steps = r.stderr.trim().split('\n');
      assert.equal(steps[0], 'S1: n2 asked to hand S1 to n1');
      assert.ok(steps.includes(`S1: n1 took S1 (token ${token})`), r.stderr);
      assert.match(steps.at(-1)!, /^S1: running on n1 after \d+\.\d s$/);
      // events --follow printed the switchover as it happened.
      await follow.until('the acquisition by n1', (o) => /n1 +S1 +acquired/.test(o), 10_000);
    } finally {
      assert.equal(await follow.stop(), 0);
    }

    const j = await tc.hactl(['failover', 'S1', '--to', 'n2', '--wait', '--json'], 30_000);
    assert.equal(j.code, 0, j.stderr);
    const result = JSON.parse(j.stdout) as { set: string; node: string; fencingToken: number; seconds: number };
    assert.equal(result.set, 'S1');
    assert.equal(result.node, 'n2');
    assert.ok(result.seconds > 0 && result.seconds < 20);
    const progress = j.stderr.trim().split('\n').map((l) => JSON.parse(l) as { set: string; event: string; node: string; token?: number; elapsedMs: number });
    assert.deepEqual(progress[0], { set: 'S1', event: 'requested', node: 'n1', elapsedMs: progress[0].elapsedMs });
    assert.ok(progress.some((p) => p.event === 'taken' && p.node === 'n2' && p.token === result.fencingToken), j.stderr);
    assert.equal(progress.at(-1)!.event, 'running');
    await tc.waitRunning('S1', 10_000, (s) => s.node === 'n2');
  });

  it('move: text and --json, --wait with progress, a timed-out wait exits 5; errors change nothing', async () => {
    const t = await ok(['move', 'S1', 'n3']);
    assert.equal(t.stdout, 'move of S1 to n3 requested (from n2); it is cleared once S1 runs there\n');
    await tc.waitRunning('S1', 15_000, (s) => s.node === 'n3');
    assert.equal(await tc.client.get(tc.keys.failoverIntent('S1')).string(), null, 'the move is cleared once done');
    assert.deepEqual(await okJson(['move', 'S1', 'n2']), { set: 'S1', to: 'n2', requested: true });
    await tc.waitRunning('S1', 15_000, (s) => s.node === 'n2');

    const w = await ok(['move', 'S1', 'n1', '--wait', '--timeout', '20s']);
    assert.match(w.stdout, /^S1 running on n1 \(token \d+\) after \d+\.\d\d s\n$/);
    assert.match(w.stderr, /^S1: n2 asked to hand S1 to n1\n(.*\n)*S1: n1 took S1 \(token \d+\)\n(.*\n)*S1: running on n1 after/);

    // A wait too short for any switchover: exit 5, one line saying how far it got.
    const late = await tc.hactl(['move', 'S1', 'n2', '--wait', '--timeout', '1ms', '--json'], 30_000);
    assert.equal(late.code, 5, late.stderr);
    assert.match(late.stderr.trim().split('\n').at(-1)!, /^hactl: S1 was not running on n2 within 1ms \(last: /);
    assert.equal(late.stdout, '');
    await tc.waitRunning('S1', 15_000, (s) => s.node === 'n2');

    await fails([
      [['move', 'S1', 'n1', '--wait', '--timeout', 'soon'], 2, /^hactl: --timeout: not a duration: soon/],
      [['move', 'S2', 'n1'], 4, /^hactl: cannot move S2 to n1: n1 is not in S2\.prefer$/],
      [['move', 'S1', 'n2'], 4, /^hactl: S1 already runs on n2$/],
      [['move', 'S9', 'n1'], 3, /^hactl: no service set named S9$/],
      [['move', 'S1', 'n9'], 3, /^hactl: no node named n9$/],
    ]);
  });

  it('ban and clear: text and --json; the ban is stored and cleared; errors change nothing', async () => {
    const t = await ok(['ban', 'S1', 'n3', '--for', '10m']);
    assert.equal(t.stdout, 'n3 banned for S1 for 10m\n');
    const ban = JSON.parse((await tc.client.get(tc.keys.ban('S1', 'n3')).string())!) as { untilWallMs: number; operator: boolean };
    assert.ok(Math.abs(ban.untilWallMs - (Date.now() + 600_000)) < 30_000 && ban.operator);
    const j = await okJson<{ set: string; node: string; untilWallMs: number | null }>(['ban', 'S1', 'n1']);
    assert.deepEqual(j, { set: 'S1', node: 'n1', untilWallMs: null });
    const st = await okJson<ClusterStatus>(['status']);
    const s1 = st.sets.find((s) => s.name === 'S1')!;
    assert.equal(s1.node, 'n2', 'S1 stays on n2, the only node not banned');
    // Every ban is shown (issue 17): node, until (null: until hactl clear), why, and who set it.
    assert.deepEqual(s1.bans.map((b) => [b.node, b.until === null ? null : typeof b.until, b.operator]), [['n1', null, true], ['n3', 'string', true]]);
    assert.ok(Math.abs(Date.parse(s1.bans[1].until!) - ban.untilWallMs) < 1000 && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(s1.bans[1].until!), s1.bans[1].until!);
    assert.match(s1.bans[0].reason, /^banned by /);
    assert.deepEqual(st.sets.find((s) => s.name === 'S2')!.bans, []);
    // The table: a why line saying the bans leave S1 nowhere to fail over to, and one row per ban.
    const table = (await ok(['status'])).stdout;
    assert.match(table, /S1 +singleton +running +n2 .*\n {2}why: no node to fail over to: n1 banned \(banned by [^)]*\), n3 banned until [^(]+ \(banned by [^)]*\)\n/);
    assert.match(table, /\n {2}BANNED +UNTIL +WHY\n {2}n1 +hactl clear +banned by \S+\n {2}n3 +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+ +banned by \S+\n/);
    await fails([
      [['ban', 'S1', 'n2'], 4, /^hactl: n2 is the only eligible node for S1; banning it would stop S1/],
      [['ban', 'S2', 'n3'], 4, /^hactl: n3 is the only eligible node for S2/],
      [['ban', 'S9', 'n1'], 3, /^hactl: no service set named S9$/],
      [['ban', 'S1', 'n1', '--for', '-5m'], 2, /^hactl: --for: not a duration: -5m/],
      [['clear', 'S9'], 3, /^hactl: no service set named S9$/],
    ]);
    assert.equal((await ok(['clear', 'S1'])).stdout, 'cleared bans and pending moves of S1\n');
    assert.deepEqual(await tc.client.getAll().prefix(tc.keys.bansOf('S1')).keys(), []);
    assert.deepEqual(await okJson(['clear', 'S1']), { set: 'S1', cleared: true });
  });

  it('standby and unstandby: text and --json; the node drains and comes back; errors change nothing', async () => {
    const j = await okJson(['standby', 'n2']);
    assert.deepEqual(j, { node: 'n2', standby: true, moving: ['S1'], stopping: [] });
    const st = await tc.waitFor('n2 in standby and empty', 15_000, (s) => s.nodes.find((n) => n.name === 'n2')?.state === 'standby' && s.sets.find((x) => x.name === 'S1')?.state === 'running' && s.sets.find((x) => x.name === 'S1')?.node !== 'n2');
    assert.match((await ok(['status'])).stdout, /^n2 +standby +2s +-$/m);
    assert.equal(st.nodes.find((n) => n.name === 'n2')!.sets.length, 0);
    assert.equal((await ok(['standby', 'n2'])).stdout, 'n2 is in standby: it runs no sets\n');
    assert.equal((await ok(['unstandby', 'n2'])).stdout, 'n2 is back in service (sets stay where they run unless failback is set)\n');
    assert.deepEqual(await okJson(['unstandby', 'n2']), { node: 'n2', standby: false });
    await tc.waitFor('n2 online', 10_000, (s) => s.nodes.find((n) => n.name === 'n2')?.state === 'online');
    // Standby of the only node S2 may use: said plainly, and S2 stops.
    const t = await ok(['standby', 'n3']);
    assert.match(t.stdout, /^n3 is in standby: moving .*S2.* away by planned switchover; warning: no other node can run S2, so it stops\n$/);
    await tc.waitFor('S2 stopped', 15_000, (s) => s.sets.find((x) => x.name === 'S2')?.state === 'stopped');
    const why = (await ok(['status'])).stdout;
    assert.match(why, /S2 +singleton +stopped +- +- +-\n {2}why: no eligible node: n3 in standby/);
    await ok(['unstandby', 'n3']);
    await tc.waitRunning('S2', 15_000, (s) => s.node === 'n3');
    await fails([
      [['standby', 'n9'], 3, /^hactl: no node named n9$/],
      [['unstandby', 'n9'], 3, /^hactl: no node named n9$/],
    ]);
  });

  it('maintenance and cleanup: text and --json; errors change nothing', async () => {
    assert.equal((await ok(['maintenance', 'on', 'S2'])).stdout, 'maintenance on (for S2): agents start, stop and monitor nothing; resources are left as they are\n');
    assert.match((await ok(['status'])).stdout, /S2 +singleton +maintenance +n3 .*\n {2}why: maintenance of S2\n/);
    assert.deepEqual(await okJson(['maintenance', 'off', 'S2']), { maintenance: false, set: 'S2' });
    assert.deepEqual(await okJson(['maintenance', 'on']), { maintenance: true, set: null });
    const cw = await okJson<ClusterStatus>(['status']);
    assert.ok(cw.maintenance && cw.nodes.every((n) => n.maintenance) && cw.sets.every((s) => s.state === 'maintenance'));
    assert.match((await ok(['status'])).stdout, /^cluster \S+ {3}revision \d+ {3}MAINTENANCE \(cluster-wide\)$/m);
    assert.equal((await ok(['maintenance', 'off'])).stdout, 'maintenance off (cluster-wide): agents manage again\n');

    assert.equal((await ok(['cleanup', 'S1'])).stdout, 'cleanup of S1 requested: fail counts and failure bans cleared; agents probe again\n');
    assert.deepEqual(await okJson(['cleanup', 'S1', 's1-b']), { set: 'S1', resource: 's1-b', cleanup: true });
    await fails([
      [['maintenance', 'on', 'S9'], 3, /^hactl: no service set named S9$/],
      [['maintenance', 'perhaps'], 2, /^hactl: maintenance: say on or off, not perhaps$/],
      [['cleanup', 'S9'], 3, /^hactl: no service set named S9$/],
      [['cleanup', 'S1', 's2-a'], 3, /^hactl: S1 has no resource s2-a$/],
    ]);
    await tc.waitRunning('S1', 15_000);
    await tc.waitRunning('S2', 15_000);
  });

  it('events: one line per event with time, node, set, what, reason; --json one object a line; filters', async () => {
    const t = await ok(['events', '--set', 'S1', '--since', '1h']);
    const lines = t.stdout.trim().split('\n');
    assert.ok(lines.length >= 4, t.stdout);
    for (const l of lines) assert.match(l, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC(?:[+-]\d\d:\d\d)? {2}n\d +S1 +\S+ +\S/, l);
    assert.ok(lines.some((l) => /n1 +S1 +acquired +.*\[cause=[a-z-]+ .*token=\d+/.test(l)), t.stdout);
    const j = await ok(['events', '--json']);
    const evs = j.stdout.trim().split('\n').map((l) => JSON.parse(l) as { at: string; atWallMs: number; node: string; what: string; reason: string; set?: string });
    assert.ok(evs.length > lines.length, 'unfiltered has more (S2 too)');
    for (const e of evs) assert.ok(e.node && e.what && typeof e.reason === 'string' && e.at === new Date(e.atWallMs).toISOString(), JSON.stringify(e));
    assert.ok(evs.some((e) => e.set === 'S2'));
    assert.equal((await ok(['events', '--since', '1ms'])).stdout, '');
    await fails([
      [['events', '--since', 'last week'], 2, /^hactl: --since: not a duration: last week/],
      [['events', '--set', 'S9'], 3, /^hactl: no service set named S9 \(neither configured nor in the history\)$/],
      [['events', '--cluster', 'nosuch'], 3, /^hactl: cluster nosuch: nothing stored under \/hactl\/nosuch\/ \(a wrong --cluster or HACTL_CLUSTER\?\)$/],
    ]);
  });

  it('disable and enable: stopped everywhere and shown as disabled (table and --json), across an agent restart; events; errors change nothing', async () => {
    assert.equal((await ok(['disable', 'S2'])).stdout, 'S2 disabled: n3 stops it; it stays stopped until hactl enable S2\n');
    const st = await tc.waitFor('S2 disabled', 15_000, (x) => x.sets.find((y) => y.name === 'S2')?.state === 'disabled');
    assert.equal(st.sets.find((y) => y.name === 'S2')!.node, null);
    assert.match((await ok(['status'])).stdout, /\nS2 +singleton +disabled +- +- +-\n {2}why: disabled by an operator; hactl enable S2 starts it again\n/);
    assert.equal((await okJson<ClusterStatus>(['status'])).sets.find((y) => y.name === 'S2')!.state, 'disabled');
    assert.deepEqual(await okJson(['disable', 'S2']), { set: 'S2', disabled: true, changed: false });
    // A restarted agent does not start it: the intent is in etcd, not in the agent.
    await tc.lc.stopAgent('n3');
    await tc.lc.startAgent('n3');
    await tc.waitFor('n3 back online', 20_000, (x) => x.nodes.find((n) => n.name === 'n3')?.state === 'online');
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal((await tc.set('S2'))?.state, 'disabled', 'still disabled after n3 restarted');
    // Events: who disabled it, and the owner's planned stop saying why.
    const evs = (await ok(['events', '--set', 'S2', '--json'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { what: string; reason: string; node: string });
    assert.ok(evs.some((e) => e.what === 'disabled' && /^S2 disabled by \S+@\S+$/.test(e.reason)), JSON.stringify(evs.slice(-5)));
    assert.ok(evs.some((e) => e.node === 'n3' && /S2 is disabled \(hactl enable S2 starts it again\)/.test(e.reason)), JSON.stringify(evs.slice(-5)));
    await fails([
      [['disable', 'S9'], 3, /^hactl: no service set named S9$/],
      [['enable', 'S9'], 3, /^hactl: no service set named S9$/],
    ]);
    assert.equal((await ok(['enable', 'S2'])).stdout, 'S2 enabled: the best eligible node starts it\n');
    await tc.waitRunning('S2', 20_000, (x) => x.node === 'n3');
    assert.ok((await ok(['events', '--set', 'S2'])).stdout.includes('enabled'));
    assert.deepEqual(await okJson(['enable', 'S2']), { set: 'S2', disabled: false, changed: false });
  });

  it('config show: the stored YAML under a revision line, and --json; a cluster without one exits 3', async () => {
    const t = await ok(['config', 'show']);
    assert.match(t.stdout, /^# revision \d+, applied \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC(?:[+-]\d\d:\d\d)? by test\n/);
    assert.ok(t.stdout.endsWith(CONFIG), t.stdout);
    const j = await okJson<{ revision: number; appliedAt: string; appliedBy: string; yaml: string }>(['config', 'show']);
    assert.equal(j.yaml, CONFIG);
    assert.equal(j.appliedBy, 'test');
    assert.ok(j.revision > 0);
    const empty = ['--cluster', 'nothing-here'];
    await fails([
      [['config', 'show', ...empty], 3, /^hactl: cluster nothing-here has no configuration \(hactl config apply FILE\)$/],
      [['move', 'S1', 'n1', ...empty], 3, /^hactl: cluster nothing-here has no configuration/],
      [['config', 'apply', '/nonexistent/cluster.yaml'], 2, /^hactl: config file not found: \/nonexistent\/cluster\.yaml$/],
      [['config', 'validate', '/nonexistent/cluster.yaml'], 2, /^hactl: config file not found/],
    ]);
    // status of an empty cluster is not an error: it says what to do.
    assert.match((await ok(['status', ...empty])).stdout, /no service sets configured \(hactl config apply FILE\)/);
  });

  it('rbac print and apply: etcdctl commands, --json the plan; roles and users created (auth left off); bad node names and apply without --nodes exit 2', async () => {
    const t = await ok(['rbac', 'print', '--nodes', 'n1,n2']);
    assert.match(t.stdout, /^etcdctl role add hactl-agent$/m);
    assert.match(t.stdout, new RegExp(`^etcdctl role grant-permission hactl-agent readwrite --prefix=true /hactl/${tc.lc.cluster}/$`, 'm'));
    assert.match(t.stdout, /^etcdctl user add hactl-agent-n2 --no-password$/m);
    assert.match(t.stdout, /^etcdctl auth enable$/m);
    const plan = await okJson<{ roles: { name: string }[]; users: { name: string }[] }>(['rbac', 'print', '--nodes', 'n1,n2']);
    assert.deepEqual(plan.roles.map((r) => r.name), ['hactl-agent', 'hactl-operator', 'hactl-observer']);
    assert.ok(plan.users.some((u) => u.name === 'hactl-agent-n1'));
    // apply without enabling authentication (the rest of this file's cluster keeps running open).
    assert.equal(
      (await ok(['rbac', 'apply', '--nodes', 'n1,n2,n3', '--no-enable'])).stdout,
      'roles hactl-agent, hactl-operator, hactl-observer; users hactl-agent-n1, hactl-agent-n2, hactl-agent-n3, hactl-operator, hactl-observer, root; authentication left as it was\n',
    );
    assert.deepEqual(await okJson(['rbac', 'apply', '--nodes', 'n1,n2,n3', '--no-enable']), { applied: true, authEnabled: false }, 'applying again changes nothing and says so');
    const roles = (await tc.client.getRoles()).map((r) => r.name).sort();
    assert.deepEqual(roles, ['hactl-agent', 'hactl-observer', 'hactl-operator', 'root']);
    const perms = await tc.client.role('hactl-observer').permissions();
    assert.deepEqual(perms.map((p) => [p.permission, p.range.start.toString()]), [['Read', `/hactl/${tc.lc.cluster}/`]]);
    await fails([
      [['rbac', 'print', '--nodes', 'n1,bad name'], 2, /^hactl: --nodes: not a valid node name: bad name$/],
      [['rbac', 'apply'], 2, /^hactl: rbac apply needs --nodes/],
      [['rbac', 'apply', '--nodes', 'n1', '--root-password-file', '/nonexistent/pw'], 2, /^hactl: cannot read --root-password-file \/nonexistent\/pw: ENOENT$/],
    ]);
  });
});
