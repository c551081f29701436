// The simulator as a test: a bounded seed sweep (safety + liveness), named stories, the known bugs
// of agent/ as `todo` tests (each replays the seed that found it), and a mutation test showing that
// a deliberately broken safety rule is caught within the default seed count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSeed, World, type SeedResult, type WorldOptions } from './world.js';
import { skipGate, ignoreFence } from './mutations.js';
import type { SimHost } from './sim-host.js';

const SWEEP_SEEDS = 80;

function unknownViolations(r: SeedResult): string[] {
  return r.violations.map((v) => `${v.rule}: ${v.text}`);
}

function assertClean(r: SeedResult): void {
  const bad = unknownViolations(r);
  assert.deepEqual(bad, [], `safety violated; reproduce: SEED=${r.seed} npm run sim`);
  assert.equal(r.liveness === null || false, true, `liveness: ${r.liveness}; reproduce: SEED=${r.seed} npm run sim`);
}

function assertNoKnown(r: SeedResult): void {
  assert.deepEqual(r.violations.map((v) => v.rule), [], `reproduce: SEED=${r.seed} npm run sim`);
  assert.equal(r.liveness, null, `reproduce: SEED=${r.seed} npm run sim`);
}

/** A scripted story: no random faults, `script` runs once the cluster has converged. */
function story(seed: number, script: (w: World) => void, extra: Partial<WorldOptions> = {}): SeedResult & { world: World } {
  const w = new World({ seed, faults: false, tracing: true, ...extra });
  w.bootstrap();
  w.runSafety(8000);
  script(w);
  w.advance(w.sched.nowMs + 30_000);
  w.heal();
  const liveness = w.runLiveness(60_000);
  return { ...w.result(liveness), world: w };
}

function ownerOf(w: World, set: string): SimHost {
  const owner = w.etcd.get(w.keys.owner(set));
  assert.ok(owner, `${set} has an owner`);
  return w.host((JSON.parse(owner.value) as { node: string }).node);
}

test(`seed sweep: ${SWEEP_SEEDS} seeds, safety under faults then liveness`, () => {
  for (let seed = 1; seed <= SWEEP_SEEDS; seed++) assertClean(runSeed({ seed }));
});

test('a seed replays exactly', () => {
  const a = runSeed({ seed: 7, tracing: true });
  const b = runSeed({ seed: 7, tracing: true });
  assert.equal(a.steps, b.steps);
  assert.deepEqual(a.trace, b.trace);
});

test('owner paused past its TTL does not run alongside the new owner', () => {
  for (const seed of [11, 12, 13, 14]) {
    const r = story(seed, (w) => {
      for (const set of ['QM', 'WEB']) {
        const h = ownerOf(w, set);
        h.pause();
        w.sched.after(3 * w.config.timing.leaseTtl, () => h.resume());
      }
    });
    assertClean(r);
    // QM requires fencing: the paused owner was powered off by its fence before QM started elsewhere.
    assert.ok(r.trace.some((l) => l.includes('powered off (fenced)')), 'the paused QM owner was fenced');
    // WEB has no exclusive resource and no fencing: the overlap is the documented limitation.
    assert.ok(r.expected.every((e) => !e.text.startsWith('QM ')), 'no overlap of the fenced set');
  }
});

test('handoff racing an expiry: a switchover requested while the owner is cut off', () => {
  for (const seed of [21, 22, 23]) {
    const r = story(seed, (w) => {
      const h = ownerOf(w, 'WEB');
      const to = w.hosts.find((x) => x !== h && (w.config.serviceSets.WEB.prefer ?? []).includes(x.name))!;
      w.net.cut(h.name);
      w.sched.after(w.config.timing.leaseTtl - 300, () => w.operatorPut(w.keys.failoverIntent('WEB'), { to: to.name }));
      w.sched.after(2 * w.config.timing.leaseTtl, () => w.net.heal(h.name));
    });
    assertClean(r);
  }
});

test('unknown acquire outcome still arms the grace and the fence gate', () => {
  const r = story(31, (w) => {
    const h = ownerOf(w, 'QM');
    h.powerOff('crash');
    // Every reply is lost around the takeover: the acquire commits but its caller sees `unknown`.
    w.sched.after(w.config.timing.leaseTtl / 2, () => (w.net.replyLossRate = 1));
    w.sched.after(w.config.timing.leaseTtl + 3000, () => (w.net.replyLossRate = 0));
  });
  assert.ok(r.trace.some((l) => /acquire QM \(dirty\): unknown/.test(l)), 'an acquire outcome was unknown');
  assertClean(r);
});

test('stop timeout during takeover: the old owner cannot stop, the set stays safe', () => {
  const r = story(41, (w) => {
    const h = ownerOf(w, 'QM');
    w.rates = { ...w.rates, stopHang: 1 };
    w.net.cut(h.name);
    w.sched.after(3 * w.config.timing.leaseTtl, () => {
      w.rates = { ...w.rates, stopHang: 0 };
      w.net.heal(h.name);
    });
  });
  assert.ok(r.trace.some((l) => /stop .*: timed-out/.test(l)), 'a stop timed out');
  assertClean(r);
});

test('mutation: a core that skips the takeover gate is caught within the default seed count', () => {
  for (const [name, decide] of [['skip-gate', skipGate], ['ignore-fence', ignoreFence]] as const) {
    let caught: SeedResult | undefined;
    for (let seed = 1; seed <= 200 && !caught; seed++) {
      const r = runSeed({ seed, decide });
      if (unknownViolations(r).length > 0) caught = r;
    }
    assert.ok(caught, `mutation ${name} was not caught in 200 seeds`);
    // The failure replays from its seed alone.
    const again = runSeed({ seed: caught.seed, decide });
    assert.deepEqual(unknownViolations(again), unknownViolations(caught), `reproduce: SEED=${caught.seed} MUTATION=${name} npm run sim`);
  }
});

// ---- known bugs of agent/ (reported to the lead; todo until fixed) ------------------------------

const KNOWN: [string, number][] = [
  ['BUG-1 takeover gate (fenceOf/grace) lost when the agent restarts', 7],
  ['BUG-2 maintenance overrides self-fencing of an owner that lost its lease', 72],
  ['BUG-3 an action in flight delays self-fencing beyond the takeover grace', 38],
  ['BUG-4 a release before the takeover gate passed launders the dirty holder', 6],
  ['BUG-5 a start in flight when the agent dies leaves a copy no agent knows about', 37],
  ['BUG-6 lease renewals postpone the idle wake-up: no re-decision after a lease doubt', 48],
  ['BUG-7 a fenced host that reboots within the TTL resumes its lease; its old fence looks fresh', 151],
  ['BUG-8 the takeover grace uses the longest stop timeout, not the sum', 72],
  ['BUG-10 a dirty owner that lost its lease re-acquires clean and skips the gate', 76],
  ['BUG-9 establishLease retries putNode forever on a dead lease: a starting agent never watches', 8149],
];

for (const [title, seed] of KNOWN) {
  test(`${title} (SEED=${seed})`, { todo: 'bug in agent/, reported to the lead; see docs/simulation.md' }, () => {
    assertNoKnown(runSeed({ seed }));
  });
}
