// Actions in flight at the worst moment (found by the simulator; docs/simulation.md BUG-3, BUG-5),
// against a real etcd and real agents:
//   - BUG-3: a slow start in flight when the lease falls into doubt is aborted at once (its process
//     group ended), so the self-fence stop is not held up for the start's timeout;
//   - BUG-5: a start in flight when the agent is killed is killed by the restarted agent before it
//     probes, so it cannot finish later and leave a copy nobody knows about.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestCluster, dummySetYaml, type ActionLogEntry, type TestCluster } from '../lib/cluster.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Running (a zombie waiting for a reaper counts as gone). */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  return stat !== null && !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]);
}

async function waitLog(tc: TestCluster, node: string, msg: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = (await tc.logLines(node)).find((l) => l.msg === msg);
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`no "${msg}" in ${node}'s log within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** The first `action` the agent on `node` finished (bounded wait). */
async function waitAction(tc: TestCluster, node: string, action: string, timeoutMs: number): Promise<ActionLogEntry | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const a = (await tc.actions(node)).find((x) => x.action === action);
    if (a || Date.now() > deadline) return a;
    await sleep(100);
  }
}

/** The start records on file while a start runs (bounded wait for the first). */
async function waitInflight(runDir: string, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const records = (await readdir(join(runDir, 'inflight')).catch(() => [])).filter((n) => n.endsWith('.json'));
    if (records.length > 0 || Date.now() > deadline) return records;
    await sleep(50);
  }
}

/** A one-resource set whose start takes `startDelay` (timeout 60 s). */
function slowStartYaml(startDelay: string): string {
  return dummySetYaml({ prefer: ['n1'], leaseTtl: '3s', fenceMargin: '1s', resources: 1 })
    .replace('type: dummy,', `type: dummy, params: { startDelay: ${startDelay} }, start: { timeout: 60s },`);
}

test('a start in flight when the lease falls into doubt is aborted, not waited for', async () => {
  const tc = await startTestCluster({ nodes: 1 });
  try {
    await tc.waitFor('n1 online', 20_000, (s) => s.nodes.some((n) => n.state === 'online'));
    await tc.applyConfig(slowStartYaml('30s'));
    const runDir = join(tc.lc.agent('n1').dir, 'data', 'run');
    // The start is running once its process group is on record.
    assert.equal((await waitInflight(runDir, 15_000)).length, 1);
    const member = tc.lc.etcd.members[0].name;
    const pausedAt = Date.now();
    tc.lc.etcd.pauseMember(member, true);
    try {
      await waitLog(tc, 'n1', 'lease in doubt: aborting the action in flight', 6000);
      const start = await waitAction(tc, 'n1', 'start', 6000);
      assert.ok(start, 'the start ended');
      assert.equal(start.status, 'aborted');
      // Lease doubt comes at most TTL - fenceMargin = 2 s after the pause; TERM ends the dummy's sleep.
      assert.ok(start.endWallMs - pausedAt < 4500, `aborted ${start.endWallMs - pausedAt} ms after etcd went silent`);
      const stop = await waitAction(tc, 'n1', 'stop', 6000);
      assert.ok(stop && stop.rc === 0, 'then the self-fence stop ran');
    } finally {
      tc.lc.etcd.pauseMember(member, false);
    }
  } finally {
    await tc.dispose();
  }
});

test('a start left running by a killed agent is killed by the restarted agent before it probes', async () => {
  const tc = await startTestCluster({ nodes: 1 });
  try {
    await tc.waitFor('n1 online', 20_000, (s) => s.nodes.some((n) => n.state === 'online'));
    await tc.applyConfig(slowStartYaml('4s'));
    const runDir = join(tc.lc.agent('n1').dir, 'data', 'run');
    const records = await waitInflight(runDir, 15_000);
    assert.equal(records.length, 1, 'the start is on record while it runs');
    const orphan = Number(records[0].replace('.json', ''));
    await tc.lc.killAgent('n1');
    assert.equal(await alive(orphan), true, 'the orphaned start still runs');
    await tc.lc.startAgent('n1');
    const killed = await waitLog(tc, 'n1', 'killing a start left running by the previous agent', 10_000);
    assert.equal(killed.pid, orphan);
    assert.equal(await alive(orphan), false, 'the orphan is gone');
    // The restarted agent probes only after the kill.
    const probeDeadline = Date.now() + 10_000;
    let lines = await tc.logLines('n1');
    const restartedAt = lines.findIndex((l) => l.msg === 'killing a start left running by the previous agent');
    while (!lines.some((l, i) => i > restartedAt && l.msg === 'probe finished') && Date.now() < probeDeadline) {
      await sleep(100);
      lines = await tc.logLines('n1');
    }
    assert.ok(lines.some((l, i) => i > restartedAt && l.msg === 'probe finished'), 'the new agent probed after the kill');
    // The restarted agent (same lease, still the owner) starts the set itself.
    await tc.waitRunning('S1', 20_000, (s) => s.node === 'n1');
  } finally {
    await tc.dispose();
  }
});
