// Overload (issue 16, "the first wall"): many sets applied at once must make the cluster slower,
// never wedge it. One real etcd, three real agents on loopback, 300 one-resource sets of the
// built-in `dummy` applied in one configuration. Every host then has 300 probes and ~100 starts to
// run at the same moment; before bounded action concurrency, the forks starved the lease keeper,
// every agent fell into lease doubt and aborted what it was doing, stops failed and the sets
// stayed blocked.
//
// Asserted: all 300 sets run within RUNNING_BOUND_MS, no stop failed anywhere, no host's lease
// fell into doubt (neither in the logs nor in hactl_lease_doubts_total). And, on its own: the lease
// keeper on its thread keeps the lease through a stall of the agent's event loop, but not for ever.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Etcd3 } from 'etcd3';
import { startTestCluster, waitOnline, type TestCluster } from '../lib/cluster.js';
import { startTestEtcd } from '../lib/etcd.js';
import type { EventRecord } from '../../agent/shell/events.js';
import { mainStallLimitMs, ThreadedLeaseKeeper } from '../../agent/etcd/keeper-thread.js';
import { systemClock } from '../../agent/ports/clock.js';

const SETS = 300;
const NODES = ['n1', 'n2', 'n3'];
/**
 * Measured on this project's shared 2-core machine while other test suites ran beside it (load
 * average 25–30): all 300 ran 128 s and 159 s after the apply, with no doubt and no failed stop
 * (a third run: all ran after 115 s, but 2 status records still said `starting` at 180 s)
 * (figures in docs/performance.md, "Overload"). Each host has 300 probes and ~100 starts to run,
 * about 400 forks of a shell agent at 0.4–0.5 s each under that load, four at a time. 180 s
 * leaves room above the slowest run measured; before the fix the cluster never got there (after
 * 120 s only half of 150 sets ran, and stayed so), so the bound still tells "slow" from "wedged".
 */
const RUNNING_BOUND_MS = 180_000;

function overloadYaml(): string {
  const lines = ['timing:', '  leaseTtl: 3s', '  fenceMargin: 1s', 'serviceSets:'];
  for (let i = 0; i < SETS; i++) {
    const name = `S${String(i).padStart(3, '0')}`;
    // Spread by preference, as an operator would: each host is the first choice of a third.
    const prefer = NODES.map((_, k) => NODES[(i + k) % NODES.length]);
    lines.push(
      `  ${name}: { prefer: [${prefer.join(', ')}], resources: [ { id: ${name.toLowerCase()}-r1, type: dummy, stop: { timeout: 5s }, monitor: { interval: 10s, timeout: 5s } } ] }`,
    );
  }
  return lines.join('\n') + '\n';
}

async function eventRecords(tc: TestCluster, what: string): Promise<EventRecord[]> {
  const all = await tc.client.getAll().prefix(tc.keys.eventsPrefix()).strings();
  return Object.values(all)
    .map((v) => JSON.parse(v) as EventRecord)
    .filter((e) => e.what === what);
}

async function metricValue(tc: TestCluster, node: string, name: string): Promise<number | null> {
  const listen = /listen: (127\.0\.0\.1:\d+)/.exec(await readFile(tc.lc.agent(node).configFile, 'utf8'))?.[1];
  const text = await (await fetch(`http://${listen}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : null;
}

test('300 sets applied at once on 3 agents: all run, no stop fails, no lease falls into doubt', { timeout: 300_000 }, async () => {
  const tc = await startTestCluster({ nodes: NODES.length });
  try {
    await waitOnline(tc, NODES.length);
    const t0 = performance.now();
    await tc.applyConfig(overloadYaml());
    // Polled every 500 ms: reading 300 status keys 50 times a second would be load of its own.
    let running = 0;
    let states: Record<string, number> = {};
    let allRunningMs: number | null = null;
    while (performance.now() - t0 < RUNNING_BOUND_MS) {
      const st = await tc.status().catch((err: unknown) => ({ error: String(err) }));
      if ('error' in st) states = { [st.error]: 1 };
      else {
        states = {};
        for (const s of st.sets) states[s.state] = (states[s.state] ?? 0) + 1;
        running = states.running ?? 0;
      }
      if (running === SETS) {
        allRunningMs = performance.now() - t0;
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const doubts: Record<string, number> = {};
    const stopFailedLogs: Record<string, number> = {};
    const lateKeepalives: Record<string, number> = {};
    for (const node of NODES) {
      const logs = await tc.logLines(node);
      doubts[node] = logs.filter((l) => l.msg === 'etcd lost: lease in doubt, self-fencing').length;
      stopFailedLogs[node] = logs.filter((l) => l.msg === 'stop failed; set blocked').length;
      lateKeepalives[node] = logs.filter((l) => l.msg === 'lease keepalive late; moving to next etcd member').length;
    }
    const figures = { running, states, allRunningMs: allRunningMs && Math.round(allRunningMs), doubts, stopFailedLogs, lateKeepalives };
    console.log(`overload figures: ${JSON.stringify(figures)}`);
    assert.equal(running, SETS, `only ${running} of ${SETS} sets running ${RUNNING_BOUND_MS} ms after the apply: ${JSON.stringify(figures)}`);
    assert.deepEqual(await eventRecords(tc, 'stop-failed'), [], 'no stop failed');
    assert.deepEqual(stopFailedLogs, { n1: 0, n2: 0, n3: 0 }, 'no stop failed (logs)');
    assert.deepEqual(await eventRecords(tc, 'etcd-lost'), [], 'no lease doubt (events)');
    assert.deepEqual(doubts, { n1: 0, n2: 0, n3: 0 }, 'no lease doubt (logs)');
    for (const node of NODES) assert.equal(await metricValue(tc, node, 'hactl_lease_doubts_total'), 0, `hactl_lease_doubts_total on ${node}`);
  } finally {
    await tc.dispose();
  }
});

/** Holds this thread's event loop, as a burst of synchronous work does. */
function holdEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // nothing: the loop is held
  }
}

test('the lease keeper on its own thread keeps the lease through a 3 s stall of the event loop (TTL 2 s), and stops when the loop stalls for good', { timeout: 60_000 }, async () => {
  const etcd = await startTestEtcd(1);
  const client = new Etcd3({ hosts: etcd.endpoints });
  const events: string[] = [];
  const listener = { renewed: () => undefined, late: () => events.push('late'), lost: (reason: string) => events.push(`lost: ${reason}`) };
  const keeper = new ThreadedLeaseKeeper({ endpoints: etcd.endpoints, callTimeoutMs: 2000 }, { ttlSec: 2, callTimeoutMs: 2000, jitterSeed: 'n1' }, systemClock, listener);
  try {
    await keeper.grant();
    assert.equal(keeper.grantedTtlSec, 2);
    holdEventLoop(3000);
    // Read before any I/O of this thread: what the keeper thread renewed meanwhile.
    assert.ok(keeper.isValid(500), `lease not sound after the stall: valid for ${Math.round(keeper.validUntilMs - systemClock.monotonicMs())} ms`);
    const ttl = await client.leaseClient.leaseTimeToLive({ ID: keeper.leaseId });
    assert.ok(Number(ttl.TTL) > 0, `etcd says the lease has ${ttl.TTL} s left`);
    assert.deepEqual(events, []);

    // A main thread that never turns again must not keep the lease for ever.
    holdEventLoop(mainStallLimitMs(2) + 1000);
    const deadline = performance.now() + 10_000;
    while (events.length === 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.match(events[0] ?? '', /^lost: the agent's main thread has not run for \d+ ms: keepalives stopped/);
    assert.equal(keeper.isValid(0), false);
    let left = 1;
    while (left > 0 && performance.now() < deadline) {
      left = Number((await client.leaseClient.leaseTimeToLive({ ID: keeper.leaseId })).TTL);
      if (left > 0) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(left <= 0, 'etcd let the lease expire');
  } finally {
    keeper.release();
    client.close();
    await etcd.dispose();
  }
});
