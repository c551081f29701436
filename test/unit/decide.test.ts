// The decision rules of the pure core (SPEC §4–§5), each with the reason a person would read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideSet } from '../../agent/core/decide.js';
import { adoptOwnership, afterAcquire, afterMonitor, afterStart } from '../../agent/core/results.js';
import { config, QM_YAML, view, owned, local, input } from './core-fixtures.js';

const cfg = config(QM_YAML);
const S = 'stopped' as const;
const R = 'running' as const;
const U = 'unknown' as const;

test('the best eligible node acquires a set that has no owner; others wait for it', () => {
  const d = decideSet(input('a', view(), local([S, S, S]), cfg));
  assert.deepEqual(d.action, { kind: 'acquire', dirty: false, holderRevision: 0, unsettled: [] });
  assert.match(d.reason, /QM has no owner and a is the best eligible node/);
  const other = decideSet(input('b', view(), local([S, S, S]), cfg));
  assert.equal(other.action.kind, 'none');
  assert.equal(other.reason, 'waiting for a to take QM');
});

test('a node does not acquire before it has probed its resources', () => {
  const d = decideSet(input('a', view(), local([S, S, S], { probed: false }), cfg));
  assert.equal(d.action.kind, 'none');
  assert.match(d.reason, /probing/);
});

test('an owner starts its resources in order, one at a time', () => {
  const v = view(owned('a', 50));
  assert.deepEqual(decideSet(input('a', v, local([S, S, S], { token: 50 }), cfg)).action, { kind: 'start', index: 0 });
  assert.deepEqual(decideSet(input('a', v, local([R, S, S], { token: 50 }), cfg)).action, { kind: 'start', index: 1 });
  const done = decideSet(input('a', v, local([R, R, R], { token: 50 }), cfg));
  assert.equal(done.state, 'running');
});

test('lease in doubt (now >= validUntil - fenceMargin): stop in reverse, start nothing', () => {
  const v = view(owned('a', 50));
  const inDoubt = { lease: { leaseId: 'La', validUntilMs: 10_900 } };
  const d = decideSet(input('a', v, local([R, R, R], { token: 50 }), cfg, inDoubt));
  assert.deepEqual(d.action, { kind: 'stop', index: 2 });
  assert.match(d.reason, /etcd lease in doubt .*self-fencing/);
  const none = decideSet(input('a', view(), local([S, S, S]), cfg, inDoubt));
  assert.equal(none.action.kind, 'none', 'no acquisition while the lease is in doubt');
  const noLease = decideSet(input('a', view(), local([S, S, S]), cfg, { lease: null }));
  assert.equal(noLease.action.kind, 'none');
});

test('a takeover after an expiry is dirty; a set that requires fencing waits for the fence', () => {
  const v = view({ holders: new Map([['QM', { node: 'a', released: false, unsettled: [], modRevision: 40 }]]) });
  const d = decideSet(input('b', { ...v, nodes: new Map([['b', { name: 'b', leaseId: 'Lb', startedAtWallMs: 0, registeredRevision: 10 }]]) }, local([S, S, S]), cfg));
  assert.deepEqual(d.action, { kind: 'acquire', dirty: true, holderRevision: 40, unsettled: [{ node: 'a', afterRevision: 40 }] });
  assert.match(d.reason, /a lost QM without stopping it cleanly: taking over/);
  const ownedByB = view({ ...owned('b', 60), nodes: new Map([['b', { name: 'b', leaseId: 'Lb', startedAtWallMs: 0, registeredRevision: 10 }]]) });
  const gated = local([S, S, S], { token: 60, unsettled: [{ node: 'a', afterRevision: 40 }], graceUntilMs: 12_000 });
  const blocked = decideSet(input('b', ownedByB, gated, cfg));
  assert.equal(blocked.state, 'blocked');
  assert.match(blocked.reason, /waiting for a to be fenced .*hactl fence a --confirm-down/);
  const staleFence = new Map([['a', { node: 'a', how: 'confirm', atWallMs: 0, modRevision: 30 }]]);
  assert.equal(decideSet(input('b', { ...ownedByB, fences: staleFence }, gated, cfg)).state, 'blocked', 'a fence older than the acquisition does not count');
  const fence = new Map([['a', { node: 'a', how: 'confirm', atWallMs: 0, modRevision: 61 }]]);
  const go = decideSet(input('b', { ...ownedByB, fences: fence }, gated, cfg));
  assert.deepEqual(go.action, { kind: 'start', index: 0 }, 'a recorded fence lifts the gate and the grace');
});

test('without required fencing, a dirty takeover waits the grace, then starts', () => {
  const noFence = config(QM_YAML.replace('prefer: [a, b, c]', 'prefer: [a, b, c]\n    requireFencing: false'));
  const v = view(owned('b', 60));
  const graced = local([S, S, S], { token: 60, graceUntilMs: 12_000, unsettled: [{ node: 'a', afterRevision: 40 }] });
  const d = decideSet(input('b', v, graced, noFence));
  assert.deepEqual(d.action, { kind: 'wait', untilMs: 12_000 });
  assert.match(d.reason, /takeover grace/);
  assert.deepEqual(decideSet(input('b', v, graced, noFence, { nowMs: 12_000, lease: { leaseId: 'Lb', validUntilMs: 15_000 } })).action, { kind: 'start', index: 0 });
});

test('a planned handoff names the next owner, which takes the set at once and clean', () => {
  const v = view({ holders: new Map([['QM', { node: 'a', released: true, handoffTo: 'c', unsettled: [], modRevision: 70 }]]) });
  assert.deepEqual(decideSet(input('c', v, local([S, S, S]), cfg)).action, { kind: 'acquire', dirty: false, holderRevision: 70, unsettled: [] });
  assert.equal(decideSet(input('b', v, local([S, S, S]), cfg)).reason, 'waiting for c to take QM');
});

test('failover intent: the owner stops in reverse, then releases to the target', () => {
  const v = view({ ...owned('a', 50), failoverIntents: new Map([['QM', { to: 'c', modRevision: 80 }]]) });
  assert.deepEqual(decideSet(input('a', v, local([R, R, R], { token: 50 }), cfg)).action, { kind: 'stop', index: 2 });
  assert.deepEqual(decideSet(input('a', v, local([R, S, S], { token: 50 }), cfg)).action, { kind: 'stop', index: 0 });
  assert.deepEqual(decideSet(input('a', v, local([S, S, S], { token: 50 }), cfg)).action, { kind: 'release', handoffTo: 'c' });
  const toBanned = view({
    ...owned('a', 50),
    failoverIntents: new Map([['QM', { to: 'c', modRevision: 80 }]]),
    bans: new Map([['QM', new Map([['c', { untilWallMs: 2_000_000, reason: 'start failure' }]])]]),
  });
  const refused = decideSet(input('a', toBanned, local([R, R, R], { token: 50 }), cfg));
  assert.equal(refused.action.kind, 'clear-intent');
  assert.match(refused.reason, /refused: c banned until/);
});

test('a start failure stops what started, in reverse, then releases with a ban', () => {
  const v = view(owned('a', 50));
  const failed = local([R, U, S], { token: 50, moveAway: { reason: 'start of ip failed (rc=1: no such interface)', cause: 'start-failed', ban: true, fatal: false } });
  assert.deepEqual(decideSet(input('a', v, failed, cfg)).action, { kind: 'stop', index: 1 });
  const d = decideSet(input('a', v, local([S, S, S], { token: 50, moveAway: failed.moveAway }), cfg));
  assert.equal(d.action.kind, 'release');
  assert.equal(d.cause, 'start-failed', 'the release carries the failure\'s cause');
  assert.deepEqual((d.action as { ban?: unknown }).ban, { untilWallMs: 1_000_000 + 1_800_000, reason: 'start of ip failed (rc=1: no such interface)' });
});

test('a failed stop blocks the set on its host; ownership is never released', () => {
  const v = view(owned('a', 50));
  const d = decideSet(input('a', v, local([R, U, S], { token: 50, stopFailure: 'stop of ip failed (timed out)' }), cfg));
  assert.equal(d.action.kind, 'none');
  assert.equal(d.state, 'blocked');
  assert.match(d.reason, /stays blocked here until hactl cleanup/);
});

test('a non-owner stops any local copy; a resource not running restarts the set from it', () => {
  const v = view(owned('b', 50));
  const d = decideSet(input('a', v, local([R, R, S]), cfg));
  assert.deepEqual(d.action, { kind: 'stop', index: 1 });
  assert.match(d.reason, /b owns QM \(token 50\)/);
  const mine = view(owned('a', 50));
  assert.deepEqual(decideSet(input('a', mine, local([R, S, R], { token: 50 }), cfg)).action, { kind: 'stop', index: 2 });
});

test('standby, ban and failback move the set; maintenance touches nothing', () => {
  const v = view({ ...owned('b', 50), standby: new Set(['b']) });
  const d = decideSet(input('b', v, local([S, S, S], { token: 50 }), cfg));
  assert.deepEqual(d.action, { kind: 'release', handoffTo: 'a' });
  const fb = config(QM_YAML.replace('prefer: [a, b, c]', 'prefer: [a, b, c]\n    failback: true'));
  assert.deepEqual(decideSet(input('b', view(owned('b', 50)), local([R, R, R], { token: 50 }), fb)).action, { kind: 'stop', index: 2 });
  assert.equal(decideSet(input('b', view(owned('b', 50)), local([R, R, R], { token: 50 }), cfg)).state, 'running', 'no failback by default');
  const m = decideSet(input('a', view({ ...owned('a', 50), maintenance: { cluster: true, sets: new Set() } }), local([S, R, R], { token: 50 }), cfg));
  assert.equal(m.action.kind, 'none');
  assert.equal(m.state, 'maintenance');
});

test('placement explains why no node is eligible', () => {
  const v = view({
    nodes: new Map([['b', { name: 'b', leaseId: 'Lb', startedAtWallMs: 0, registeredRevision: 10 }]]),
    bans: new Map([['QM', new Map([['b', { untilWallMs: 1_000_000 + 60_000, reason: 'start of qm failed (rc=1)' }]])]]),
  });
  const d = decideSet(input('b', v, local([S, S, S]), cfg));
  assert.match(d.reason, /^no eligible node: a offline, b banned until \d\d:\d\dZ \(start of qm failed \(rc=1\)\), c offline$/);
});

test('hosts not yet settled stay on record across a release and a re-acquisition (simulator BUG-4, BUG-10)', () => {
  // b took QM over from a (unfenced), then released it before starting anything: a is still unsettled.
  const v = view({ holders: new Map([['QM', { node: 'b', released: true, unsettled: [{ node: 'a', afterRevision: 40 }], modRevision: 90 }]]) });
  const d = decideSet(input('c', { ...v, nodes: new Map([['c', { name: 'c', leaseId: 'Lc', startedAtWallMs: 0, registeredRevision: 10 }]]) }, local([S, S, S]), cfg));
  assert.deepEqual(d.action, { kind: 'acquire', dirty: true, holderRevision: 90, unsettled: [{ node: 'a', afterRevision: 40 }] });
  // b's own earlier (dirty) hold, re-acquired by b itself: a is still unsettled.
  const again = view({ holders: new Map([['QM', { node: 'b', released: false, unsettled: [{ node: 'a', afterRevision: 40 }], modRevision: 95 }]]) });
  const d2 = decideSet(input('b', { ...again, nodes: new Map([['b', { name: 'b', leaseId: 'Lb', startedAtWallMs: 0, registeredRevision: 10 }]]) }, local([S, S, S]), cfg));
  assert.deepEqual((d2.action as { unsettled: unknown }).unsettled, [{ node: 'a', afterRevision: 40 }]);
});

test('an action aborted for a self-fence leaves the resource unknown: no move, no ban, no failure counted', () => {
  const spec = config(QM_YAML).serviceSets.QM;
  const started = afterStart(local([R, S, S]), 1, 'ip', { status: 'aborted', reason: 'etcd lease in doubt' }, 60);
  assert.deepEqual(started.resources, [R, 'unknown', S]);
  assert.equal(started.moveAway, null);
  const monitored = afterMonitor(local([R, R, R]), 2, 'qm', { status: 'aborted', reason: 'etcd lease in doubt' }, spec, 10_000);
  assert.deepEqual(monitored.resources, [R, R, 'unknown']);
  assert.deepEqual(monitored.failureTimesMs, []);
  assert.equal(monitored.moveAway, null);
});

test('the takeover gate guards every start, also of a later resource while earlier ones run (BUG-11)', () => {
  const ownedByB = view(owned('b', 60));
  // After an agent restart mid-takeover the probe found the first resource running.
  const partly = local([R, S, S], { token: 60, unsettled: [{ node: 'a', afterRevision: 40 }], graceUntilMs: 12_000 });
  const d = decideSet(input('b', ownedByB, partly, cfg));
  assert.equal(d.action.kind, 'none');
  assert.equal(d.state, 'blocked');
  assert.deepEqual(d.awaitsFence, ['a']);
  const noFence = config(QM_YAML.replace('prefer: [a, b, c]', 'prefer: [a, b, c]\n    requireFencing: false'));
  assert.deepEqual(decideSet(input('b', ownedByB, partly, noFence)).action, { kind: 'wait', untilMs: 12_000 }, 'or waits the grace');
  // Stopping is never gated: an unknown resource with a running one after it is stopped first.
  const unknownFirst = local(['unknown', R, S], { token: 60, unsettled: [{ node: 'a', afterRevision: 40 }] });
  assert.deepEqual(decideSet(input('b', ownedByB, unknownFirst, cfg)).action, { kind: 'stop', index: 1 });
});

test('an owner with no memory of its acquisition (reply lost, agent restart) takes the gate up from the holder record', () => {
  const holder = { node: 'b', released: false, unsettled: [{ node: 'a', afterRevision: 40 }], modRevision: 60 };
  const v = view({ owners: new Map([['QM', { set: 'QM', node: 'b', leaseId: 'Lb', token: 60 }]]), holders: new Map([['QM', holder]]) });
  const forgetful = local([S, S, S]);
  // Without adoption the core sees an owner with nothing unsettled and starts at once: the defect.
  assert.equal(decideSet(input('b', v, forgetful, cfg)).action.kind, 'start');
  const adopted = adoptOwnership(forgetful, 'b', 60, holder, 5000, 10_000);
  assert.equal(adopted.heldToken, 60);
  assert.deepEqual(adopted.unsettled, [{ node: 'a', afterRevision: 40 }]);
  assert.equal(adopted.graceUntilMs, 15_000);
  const d = decideSet(input('b', v, adopted, cfg));
  assert.equal(d.state, 'blocked');
  assert.match(d.reason, /waiting for a to be fenced/);
  // A holder record from another holder, or a released one, arms nothing.
  assert.deepEqual(adoptOwnership(forgetful, 'b', 60, { ...holder, node: 'c' }, 5000, 10_000).unsettled, []);
});

const onlyB = new Map([['b', { name: 'b', leaseId: 'Lb', startedAtWallMs: 0, registeredRevision: 10 }]]);

test('a host whose stop failed is settled only by a fence, even for a set that does not require fencing', () => {
  const relaxed = config(QM_YAML.replace('prefer: [a, b, c]', 'prefer: [a, b, c]\n    requireFencing: false'));
  const holder = { node: 'a', released: false, stopFailed: true, unsettled: [], modRevision: 45 };
  const d = decideSet(input('b', view({ holders: new Map([['QM', holder]]), nodes: onlyB }), local([S, S, S]), relaxed));
  assert.equal(d.action.kind, 'acquire');
  const unsettled = (d.action as { unsettled: { node: string; stopFailed?: boolean }[] }).unsettled;
  assert.deepEqual(unsettled, [{ node: 'a', afterRevision: 45, stopFailed: true }]);
  const mine = view({ ...owned('b', 60), nodes: onlyB });
  const gated = afterAcquire(local([S, S, S]), 60, { unsettled: unsettled.map((u) => ({ ...u, afterRevision: 45 })), graceMs: 0, nowMs: 10_000 });
  const later = input('b', mine, gated, relaxed, { nowMs: 60_000, lease: { leaseId: 'Lb', validUntilMs: 63_000 } });
  const blocked = decideSet(later);
  assert.equal(blocked.state, 'blocked', 'no grace settles a failed stop');
  assert.match(blocked.reason, /a stop of QM failed on a/);
  const fenced = new Map([['a', { node: 'a', how: 'confirm', atWallMs: 0, modRevision: 61 }]]);
  assert.equal(decideSet({ ...later, view: { ...later.view, fences: fenced } }).action.kind, 'start');
});

test('the takeover grace follows the configuration the old owner ran (recorded in the holder record), when longer', () => {
  const holder = { node: 'a', released: false, graceMs: 9000, unsettled: [], modRevision: 45 };
  const d = decideSet(input('b', view({ holders: new Map([['QM', holder]]), nodes: onlyB }), local([S, S, S]), cfg));
  const unsettled = (d.action as { unsettled: { node: string; graceMs?: number }[] }).unsettled;
  assert.deepEqual(unsettled, [{ node: 'a', afterRevision: 45, graceMs: 9000 }]);
  assert.equal(afterAcquire(local([S, S, S]), 60, { unsettled, graceMs: 2000, nowMs: 10_000 }).graceUntilMs, 19_000);
  assert.equal(afterAcquire(local([S, S, S]), 60, { unsettled, graceMs: 12_000, nowMs: 10_000 }).graceUntilMs, 22_000);
});

test('self-fencing after a failed stop stops the resources still running below it, then retries the failed one', () => {
  const v = view(owned('a', 50));
  const inDoubt = { lease: { leaseId: 'La', validUntilMs: 10_900 } };
  const failedTop = local([R, R, U], { token: 50, stopFailure: 'stop of qm failed (timed out)' });
  const d = decideSet(input('a', v, failedTop, cfg, inDoubt));
  assert.deepEqual(d.action, { kind: 'stop', index: 1 }, 'the IP below the hung queue manager goes first');
  assert.match(d.reason, /stop failed earlier .* stopping ip meanwhile/);
  assert.deepEqual(decideSet(input('a', v, local([S, S, U], { token: 50, stopFailure: 'x' }), cfg, inDoubt)).action, { kind: 'stop', index: 2 });
});

test('a disabled set (hactl disable): the owner stops in reverse and releases cleanly; nobody acquires it', () => {
  const disabled = new Set(['QM']);
  const v = view({ ...owned('a', 50), disabled });
  const stopping = decideSet(input('a', v, local([R, R, R], { token: 50 }), cfg));
  assert.deepEqual(stopping.action, { kind: 'stop', index: 2 });
  assert.equal(stopping.reason, 'QM is disabled (hactl enable QM starts it again): stopping qm');
  assert.deepEqual(decideSet(input('a', v, local([R, S, S], { token: 50 }), cfg)).action, { kind: 'stop', index: 0 });
  const release = decideSet(input('a', v, local([S, S, S], { token: 50 }), cfg));
  assert.deepEqual(release.action, { kind: 'release' }, 'a clean release: no ban, no handoff, not failed');
  assert.equal(release.state, 'stopping');
  // No owner: the best node does not acquire it, and a leftover local copy elsewhere is stopped.
  const free = view({ disabled });
  const idle = decideSet(input('a', free, local([S, S, S]), cfg));
  assert.deepEqual(idle.action, { kind: 'none' });
  assert.equal(idle.reason, 'QM is disabled (hactl enable QM starts it again)');
  assert.deepEqual(decideSet(input('b', free, local([R, S, S]), cfg)).action, { kind: 'stop', index: 0 });
  // Enabled again: the best node acquires it.
  assert.equal(decideSet(input('a', view(), local([S, S, S]), cfg)).action.kind, 'acquire');
});

test('every kind of decision names its stable cause code beside the reason', () => {
  const cause = (me: string, v: ReturnType<typeof view>, l: ReturnType<typeof local>, over = {}): string => decideSet(input(me, v, l, cfg, over)).cause;
  assert.equal(cause('a', view(), local([S, S, S])), 'no-owner');
  assert.equal(cause('b', view(), local([S, S, S])), 'waiting-for-host');
  assert.equal(cause('a', view(), local([S, S, S], { probed: false })), 'probing');
  const onlyB = new Map([['b', { name: 'b', leaseId: 'Lb', startedAtWallMs: 0, registeredRevision: 10 }]]);
  const lost = view({ nodes: onlyB, holders: new Map([['QM', { node: 'a', released: false, unsettled: [], modRevision: 40 }]]) });
  assert.equal(cause('b', lost, local([S, S, S])), 'owner-lease-lost');
  const handedOff = view({ holders: new Map([['QM', { node: 'a', released: true, unsettled: [], handoffTo: 'b', modRevision: 40 }]]) });
  assert.equal(cause('b', handedOff, local([S, S, S])), 'planned-switchover');
  const v = view(owned('a', 50));
  assert.equal(cause('a', v, local([R, R, R], { token: 50 })), 'running');
  assert.equal(cause('a', v, local([R, S, S], { token: 50 })), 'starting');
  assert.equal(cause('a', v, local([S, R, R], { token: 50 })), 'resource-not-running');
  assert.equal(cause('b', v, local([R, S, S])), 'stale-copy');
  assert.equal(cause('b', v, local([S, S, S])), 'owned-elsewhere');
  assert.equal(cause('a', v, local([R, R, R], { token: 50 }), { lease: { leaseId: 'La', validUntilMs: 10_900 } }), 'lease-doubt');
  assert.equal(cause('a', { ...v, standby: new Set(['a']) }, local([R, R, R], { token: 50 })), 'standby');
  assert.equal(cause('a', { ...v, standby: new Set(['a']) }, local([S, S, S], { token: 50 })), 'standby', 'the release too');
  assert.equal(cause('a', { ...v, maintenance: { cluster: true, sets: new Set() } }, local([R, R, R], { token: 50 })), 'maintenance');
  assert.equal(cause('a', { ...v, failoverIntents: new Map([['QM', { to: 'b', modRevision: 70 }]]) }, local([R, R, R], { token: 50 })), 'operator-failover');
  const gated = local([S, S, S], { token: 50, unsettled: [{ node: 'c', afterRevision: 40 }], graceUntilMs: 12_000 });
  assert.equal(cause('a', v, gated), 'waiting-for-fence', 'requireFencing (the default for this set) waits for the fence');
  assert.equal(cause('a', v, local([S, S, S], { token: 50, stopFailure: 'stop of qm failed (rc=1)' })), 'stop-failed');
});
