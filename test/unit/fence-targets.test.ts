// The fencing rule of the core (agent/core/fence-targets.ts): who is fenced, when, and — as
// important — when nobody is: a healthy owner, an observer unsure of etcd, a stale observation, a
// host without a device, a host already fenced in this life, maintenance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { devicesToMonitor, fenceTargets, isNewLife, leasesToObserve, lifeOf, suspectAfterForGrantedMs, type FenceTargetInput, type LeaseObservation } from '../../agent/core/fence-targets.js';
import { checkClusterConfig } from '../../agent/config/load-cluster.js';
import { config, owned, view } from './core-fixtures.js';
import type { ClusterView } from '../../agent/core/types.js';

const YAML = `
timing: { leaseTtl: 3s, fenceMargin: 1s }
nodes: { a: { fence: sw }, b: { fence: sw }, c: {} }
fencing: { devices: { sw: { agent: "script:/usr/local/bin/switch" } } }
serviceSets:
  QM:
    prefer: [a, b, c]
    resources:
      - { id: qm, type: dummy }
`;
const cfg = config(YAML);

function obs(remainingSec: number, observedAtMs = 10_000, grantedTtlSec = 3): Map<string, LeaseObservation> {
  return new Map([['La', { leaseId: 'La', grantedTtlSec, remainingSec, observedAtMs }]]);
}

function targetsFor(me: string, v: ClusterView, over: Partial<FenceTargetInput> = {}) {
  return fenceTargets({ me, nowMs: 10_100, lease: { leaseId: `L${me}`, validUntilMs: 13_000 }, view: { ...v, config: cfg }, config: cfg, gates: new Map(), observations: new Map(), ...over });
}

test('an owner whose lease went unrenewed for suspectAfter (default TTL - 1 s) is a target; one still renewing is not', () => {
  const v = view(owned('a', 50));
  const t = targetsFor('b', v, { observations: obs(0) });
  assert.equal(t.length, 1);
  assert.equal(t[0].node, 'a');
  assert.equal(t[0].why, 'suspected');
  assert.equal(t[0].leaseId, 'La');
  assert.deepEqual(t[0].sets, ['QM']);
  assert.match(t[0].reason, /a has not renewed its lease for at least 2s/);
  // remaining 1 s: unrenewed for at least 1 s only — a keepalive period or two late, not suspect.
  assert.deepEqual(targetsFor('b', v, { observations: obs(1) }), []);
  assert.deepEqual(targetsFor('b', v, { observations: obs(2) }), []);
  // an expired lease (TTL -1) is the ordinary expiry path, not a suspicion
  assert.deepEqual(targetsFor('b', v, { observations: obs(-1) }), []);
});

test('no suspicion without a fresh answer from etcd, while the observer is unsure of its own lease, or in maintenance', () => {
  const v = view(owned('a', 50));
  assert.deepEqual(targetsFor('b', v, { observations: obs(0, 10_100 - 3 * 375 - 1) }), [], 'stale observation');
  assert.deepEqual(targetsFor('b', v, { observations: obs(0), lease: { leaseId: 'Lb', validUntilMs: 11_000 } }), [], 'observer lease in doubt');
  assert.deepEqual(targetsFor('b', v, { observations: obs(0), lease: null }), [], 'observer has no lease');
  assert.deepEqual(targetsFor('b', { ...v, maintenance: { cluster: true, sets: new Set() } }, { observations: obs(0) }), [], 'cluster maintenance');
  assert.deepEqual(targetsFor('b', { ...v, maintenance: { cluster: false, sets: new Set(['QM']) } }, { observations: obs(0) }), [], 'the only set in maintenance');
});

test('no suspicion of a host without a device, of this host, of a non-owner, or of a host fenced in this life', () => {
  const ownedByC = view({ ...owned('c', 50) });
  assert.deepEqual(targetsFor('b', ownedByC, { observations: new Map([['Lc', { leaseId: 'Lc', grantedTtlSec: 3, remainingSec: 0, observedAtMs: 10_000 }]]) }), [], 'c has no device');
  assert.deepEqual(targetsFor('a', view(owned('a', 50)), { observations: obs(0) }), [], 'never itself');
  assert.deepEqual(targetsFor('b', view(), { observations: obs(0) }), [], 'a owns nothing');
  const fencedAfterRegistration = view({ ...owned('a', 50), fences: new Map([['a', { node: 'a', how: 'x', atWallMs: 0, modRevision: 11 }]]) });
  assert.deepEqual(targetsFor('b', fencedAfterRegistration, { observations: obs(0) }), [], 'already fenced since it registered (revision 10)');
  const fencedBefore = view({ ...owned('a', 50), fences: new Map([['a', { node: 'a', how: 'x', atWallMs: 0, modRevision: 9 }]]) });
  assert.equal(targetsFor('b', fencedBefore, { observations: obs(0) }).length, 1, 'a fence of an earlier life does not count');
});

test('suspectAfter: off disables watching; a higher threshold needs a lower remaining time; the range is validated', () => {
  const off = config(YAML.replace('fenceMargin: 1s }', 'fenceMargin: 1s, suspectAfter: off }'));
  const v = view(owned('a', 50));
  assert.deepEqual(leasesToObserve('b', { ...v, config: off }, off), []);
  assert.deepEqual(fenceTargets({ me: 'b', nowMs: 10_100, lease: { leaseId: 'Lb', validUntilMs: 13_000 }, view: { ...v, config: off }, config: off, gates: new Map(), observations: obs(0) }), []);
  assert.deepEqual(leasesToObserve('b', { ...v, config: cfg }, cfg), [{ node: 'a', leaseId: 'La' }]);
  const five = config(YAML.replace('leaseTtl: 3s, fenceMargin: 1s }', 'leaseTtl: 5s, fenceMargin: 1s, suspectAfter: 3s }'));
  const at = (remainingSec: number) =>
    fenceTargets({ me: 'b', nowMs: 10_100, lease: { leaseId: 'Lb', validUntilMs: 13_000 }, view: { ...v, config: five }, config: five, gates: new Map(), observations: obs(remainingSec, 10_000, 5) }).length;
  assert.equal(at(1), 1, '5 - (1 + 1) = 3 s unrenewed');
  assert.equal(at(2), 0, 'only 2 s unrenewed');
  for (const [bad, why] of [
    ['suspectAfter: 1s', /timing\.suspectAfter: must be between leaseTtl \/ 2 \(1\.5s: two missed keepalives\) and leaseTtl - 1s \(2s\)/],
    ['suspectAfter: 2500ms', /timing\.suspectAfter: must be between/],
    ['suspectAfter: maybe', /timing\.suspectAfter/],
  ] as const) {
    const r = checkClusterConfig(YAML.replace('fenceMargin: 1s }', `fenceMargin: 1s, ${bad} }`));
    assert.equal(r.ok, false, bad);
    if (!r.ok) assert.match(r.errors.join('\n'), why);
  }
});

test('a lease granted with another TTL than timing.leaseTtl is judged by its own TTL (an owner keeps its TTL after a change)', () => {
  const v = view(owned('a', 50));
  const two = config(YAML.replace('leaseTtl: 3s, fenceMargin: 1s }', 'leaseTtl: 2s, fenceMargin: 800ms }'));
  const at = (c: typeof cfg, remainingSec: number, grantedTtlSec: number) =>
    fenceTargets({ me: 'b', nowMs: 10_100, lease: { leaseId: 'Lb', validUntilMs: 13_000 }, view: { ...v, config: c }, config: c, gates: new Map(), observations: obs(remainingSec, 10_000, grantedTtlSec) });
  // leaseTtl lowered from 5 s to 2 s (suspectAfter 1 s): a 5 s lease renewed every 1.25 s shows
  // 3 or 4 whole seconds left — 1 s "unrenewed" by the 2 s rule, healthy by its own.
  assert.deepEqual(at(two, 3, 5), [], 'healthy 5 s owner, 3 s left');
  assert.deepEqual(at(two, 2, 5), [], '2 s unrenewed of 5 s: under the scaled 2.5 s');
  const late = at(two, 1, 5);
  assert.equal(late.length, 1, '3 s unrenewed of a 5 s lease');
  assert.match(late[0].reason, /suspectAfter 1s scaled to its 5s lease: 2\.5s/);
  // leaseTtl raised from 2 s to 5 s (suspectAfter 4 s): a 2 s lease is judged as a 2 s lease.
  const five = config(YAML.replace('leaseTtl: 3s, fenceMargin: 1s }', 'leaseTtl: 5s, fenceMargin: 1s }'));
  assert.equal(at(five, 0, 2).length, 1, '1 s unrenewed of a 2 s lease');
  assert.deepEqual(at(five, 1, 2), []);
  // the threshold itself: the configured one for the configured TTL, else scaled, within [TTL/2, TTL - 1 s]
  assert.equal(suspectAfterForGrantedMs(1000, 2000, 2), 1000);
  assert.equal(suspectAfterForGrantedMs(1000, 2000, 5), 2500);
  assert.equal(suspectAfterForGrantedMs(1000, 2000, 3), 1500);
  assert.equal(suspectAfterForGrantedMs(4000, 5000, 2), 1000);
  assert.equal(suspectAfterForGrantedMs(2500, 5000, 10), 5000);
  assert.equal(suspectAfterForGrantedMs(4000, 5000, 60), 48_000);
});

test('gates and stop-failure requests are targets; a request from an earlier lease, or already answered by a fence, is not', () => {
  const v = view(owned('b', 60));
  const gated = targetsFor('b', v, { gates: new Map([['QM', ['a', 'c']]]) });
  assert.deepEqual(gated.map((t) => [t.node, t.why, t.sets]), [['a', 'gate', ['QM']]], 'c has no device: it needs an operator');
  const request = { set: 'QM', reason: 'stop of qm failed (rc=1)', leaseId: 'La', modRevision: 70 };
  const asked = targetsFor('b', view({ fenceRequests: new Map([['a', request]]) }));
  assert.equal(asked.length, 1);
  assert.equal(asked[0].why, 'stop-failed');
  assert.equal(asked[0].leaseId, 'La');
  assert.match(asked[0].reason, /a could not stop QM \(stop of qm failed \(rc=1\)\)/);
  assert.deepEqual(targetsFor('b', view({ fenceRequests: new Map([['a', { ...request, leaseId: 'Lold' }]]) })), []);
  assert.deepEqual(targetsFor('b', view({ fenceRequests: new Map([['a', request]]), fences: new Map([['a', { node: 'a', how: 'x', atWallMs: 0, modRevision: 71 }]]) })), []);
  assert.deepEqual(targetsFor('a', view({ fenceRequests: new Map([['a', request]]) })), [], 'a host never fences itself');
});

test('each fence device is monitored by one online host, preferably one it does not fence', () => {
  const two = config(YAML.replace('fencing: { devices: { sw: { agent: "script:/usr/local/bin/switch" } } }', 'fencing: { devices: { sw: { agent: "script:/usr/local/bin/switch" }, pdu: { agent: "script:/usr/local/bin/pdu" } } }').replace('c: {} }', 'c: { fence: pdu } }'));
  const v = view();
  assert.deepEqual(devicesToMonitor('a', v, two), ['pdu']);
  assert.deepEqual(devicesToMonitor('b', v, two), []);
  assert.deepEqual(devicesToMonitor('c', v, two), ['sw'], 'sw fences a and b: c checks it');
  const onlyAB = view({ nodes: new Map(['a', 'b'].map((n) => [n, { name: n, leaseId: `L${n}`, startedAtWallMs: 0, registeredRevision: 10 }])) });
  assert.deepEqual(devicesToMonitor('a', onlyAB, two), ['sw', 'pdu'], 'no host outside sw online: the first checks it');
});

test("a fence is for one life of its victim: a registration since the claim is a new life, a key that went is not", () => {
  const v = view(owned('a', 50));
  assert.equal(lifeOf(v, 'a'), 10);
  assert.equal(lifeOf(v, 'zz'), 0, 'no node key');
  assert.equal(isNewLife(10, 10), false, 'same life');
  assert.equal(isNewLife(10, 0), false, 'its key went with its lease: the old life may still run, the fence is still due');
  assert.equal(isNewLife(10, 80), true, 'registered again');
  assert.equal(isNewLife(0, 80), true, 'claimed while it had no key, registered since');
  assert.equal(isNewLife(0, 0), false);
});
