// The what-if engine behind `hactl simulate`: predictions for constructed views, each one what
// the agents' own rules decide when they are run step by step on the hypothetical view.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { predictWhatIf, type SetPrediction, type WhatIfChanges } from '../../agent/core/what-if.js';
import type { ClusterConfig } from '../../agent/config/cluster-schema.js';
import type { ClusterView, HolderRecord, OwnerRecord } from '../../agent/core/types.js';
import { config, view } from './core-fixtures.js';

const TWO_SETS = `
timing: { leaseTtl: 3s, fenceMargin: 1s, suspectAfter: off }
nodes: { a: {}, b: {}, c: {} }
serviceSets:
  APP:
    prefer: [a, b, c]
    resources:
      - { id: app1, type: dummy, stop: { timeout: 2s } }
      - { id: app2, type: dummy, stop: { timeout: 2s } }
  DB:
    prefer: [a, c, b]
    requireFencing: true
    resources:
      - { id: db1, type: dummy }
  WEB:
    prefer: [b, a]
    resources:
      - { id: web1, type: dummy }
`;

/** A view where each set runs on its owner (tokens from 50 up, holders not released). */
function running(cfg: ClusterConfig, where: Record<string, string>, extra: Partial<ClusterView> = {}): ClusterView {
  const owners = new Map<string, OwnerRecord>();
  const holders = new Map<string, HolderRecord>();
  let token = 50;
  for (const [set, node] of Object.entries(where)) {
    owners.set(set, { set, node, leaseId: `L${node}`, token });
    holders.set(set, { node, released: false, unsettled: [], modRevision: token });
    token++;
  }
  return { ...view({ owners, holders, revision: 100 }), config: cfg, ...extra };
}

function predict(v: ClusterView, changes: Partial<WhatIfChanges>): Map<string, SetPrediction> {
  const r = predictWhatIf({ view: v, changes: { kill: [], standby: [], ...changes }, wallMs: 1_000_000 });
  assert.equal(r.unsettled, false);
  return new Map(r.sets.map((s) => [s.set, s]));
}

test('kill: a set moves to the next preferred host after the takeover grace; one that requires fencing waits for an operator when there is no device', () => {
  const cfg = config(TWO_SETS);
  const p = predict(running(cfg, { APP: 'a', DB: 'a', WEB: 'b' }), { kill: ['a'] });
  const app = p.get('APP')!;
  assert.equal(app.now, 'a');
  assert.equal(app.then, 'b');
  assert.equal(app.outcome, 'moves');
  assert.equal(app.state, 'running');
  // grace = sum of stop timeouts (2 s + 2 s) - fenceMargin 1 s
  assert.deepEqual(app.waits, [{ kind: 'grace', nodes: ['a'], graceMs: 3000, waitedMs: 3000, on: 'b' }]);
  const db = p.get('DB')!;
  assert.equal(db.then, 'c');
  assert.equal(db.outcome, 'blocked');
  assert.deepEqual(db.waits, [{ kind: 'fence', node: 'a', device: null, by: null, why: 'gate' }]);
  assert.match(db.reason, /hactl fence a --confirm-down/);
  const web = p.get('WEB')!;
  assert.equal(web.outcome, 'unaffected');
  assert.equal(web.then, 'b');
  assert.deepEqual(web.steps, []);
});

test('kill with a fence device: the new owner fences the old one through it (fenceTargets), then starts without a grace', () => {
  const withDevice = TWO_SETS.replace('nodes: { a: {}, b: {}, c: {} }', 'nodes: { a: { fence: pdu }, b: {}, c: {} }\nfencing: { devices: { pdu: { agent: fence_dummy } } }');
  const cfg = config(withDevice);
  const p = predict(running(cfg, { APP: 'a', DB: 'a', WEB: 'b' }), { kill: ['a'] });
  const db = p.get('DB')!;
  assert.equal(db.then, 'c');
  assert.equal(db.state, 'running');
  assert.equal(db.outcome, 'moves');
  assert.deepEqual(db.waits, [{ kind: 'fence', node: 'a', device: 'pdu', by: 'c', why: 'gate' }]);
  // APP took over before the fence, so it began its grace; the fence of a (for DB) ended it early.
  assert.deepEqual(p.get('APP')!.waits, [{ kind: 'grace', nodes: ['a'], graceMs: 3000, waitedMs: 0, on: 'b' }]);
});

test('kill with a fence device and the fast fenced takeover on: a peer fences the silent owner before its lease expires, so nothing waits', () => {
  const fast = TWO_SETS.replace('suspectAfter: off', 'suspectAfter: 2s').replace('nodes: { a: {}, b: {}, c: {} }', 'nodes: { a: { fence: pdu }, b: {}, c: {} }\nfencing: { devices: { pdu: { agent: fence_dummy } } }');
  const cfg = config(fast);
  const p = predict(running(cfg, { APP: 'a', DB: 'a', WEB: 'b' }), { kill: ['a'] });
  const app = p.get('APP')!;
  assert.equal(app.then, 'b');
  assert.deepEqual(app.waits, [{ kind: 'fence', node: 'a', device: 'pdu', by: 'b', why: 'suspected' }]);
  assert.equal(p.get('DB')!.then, 'c');
  assert.equal(p.get('DB')!.state, 'running');
});

test('standby: the owner hands its sets over by planned switchover (no grace, no fence); a set with nowhere to go stops, saying why', () => {
  const cfg = config(TWO_SETS.replace('prefer: [b, a]', 'prefer: [b]'));
  const p = predict(running(cfg, { APP: 'b', DB: 'a', WEB: 'b' }), { standby: ['b'] });
  const app = p.get('APP')!;
  assert.equal(app.then, 'a');
  assert.equal(app.outcome, 'moves');
  assert.deepEqual(app.waits, []);
  assert.ok(app.steps.some((s) => /^b release: b is in standby: planned switchover to a/.test(s)), app.steps.join('\n'));
  const web = p.get('WEB')!;
  assert.equal(web.then, null);
  assert.equal(web.outcome, 'stops');
  assert.equal(web.reason, 'no eligible node: b in standby');
  assert.equal(p.get('DB')!.outcome, 'unaffected');
});

test('apply: a changed set is stopped, released and placed again by the new configuration; an unchanged set is untouched; a removed one is reported', () => {
  const cfg = config(TWO_SETS);
  const next = config(TWO_SETS.replace('prefer: [a, b, c]', 'prefer: [c, a, b]').replace(/ {2}WEB:\n[\s\S]*$/, ''));
  const p = predict(running(cfg, { APP: 'a', DB: 'a', WEB: 'b' }), { config: next });
  const app = p.get('APP')!;
  assert.equal(app.then, 'c');
  assert.equal(app.outcome, 'moves');
  assert.deepEqual(app.waits, [], 'a release after a config change is clean: no grace');
  assert.match(app.steps[0], /a stops APP and releases it: configuration of APP changed/);
  assert.equal(p.get('DB')!.outcome, 'unaffected');
  assert.equal(p.get('WEB')!.outcome, 'removed');
  const same = config(TWO_SETS.replace('{ id: app2, type: dummy, stop: { timeout: 2s } }', '{ id: app2, type: dummy, stop: { timeout: 3s } }'));
  const restart = predict(running(cfg, { APP: 'a', DB: 'a', WEB: 'b' }), { config: same }).get('APP')!;
  assert.equal(restart.then, 'a');
  assert.equal(restart.outcome, 'restarts');
});

test('clone sets: an instance of a killed host moves only to a host without another instance, else it stops saying why', () => {
  const clone = config(`
timing: { leaseTtl: 3s, fenceMargin: 1s, suspectAfter: off }
serviceSets:
  C:
    mode: clone
    instances: 2
    resources:
      - { id: c1, type: dummy, stop: { timeout: 1s } }
`);
  const three = predict(running(clone, { 'C:1': 'a', 'C:2': 'b' }), { kill: ['a'] });
  assert.equal(three.get('C:1')!.then, 'c');
  assert.equal(three.get('C:1')!.base, 'C');
  assert.equal(three.get('C:2')!.outcome, 'unaffected');
  const two = predict(running(clone, { 'C:1': 'a', 'C:2': 'b' }), { kill: ['a', 'c'] });
  assert.equal(two.get('C:1')!.then, null);
  assert.match(two.get('C:1')!.reason, /b runs another instance of C/);
});

test('the live view is never changed by a prediction', () => {
  const cfg = config(TWO_SETS);
  const v = running(cfg, { APP: 'a', DB: 'a', WEB: 'b' });
  const before = JSON.stringify({ nodes: [...v.nodes], owners: [...v.owners], holders: [...v.holders], standby: [...v.standby], fences: [...v.fences], revision: v.revision });
  predict(v, { kill: ['a'], standby: ['b'], config: config(TWO_SETS.replace('prefer: [a, b, c]', 'prefer: [c]')) });
  assert.equal(JSON.stringify({ nodes: [...v.nodes], owners: [...v.owners], holders: [...v.holders], standby: [...v.standby], fences: [...v.fences], revision: v.revision }), before);
});

test('a set that is still starting is predicted the same with and without the change, so it counts as unaffected', () => {
  const cfg = config(TWO_SETS);
  const r = predictWhatIf({ view: running(cfg, { APP: 'a', DB: 'a', WEB: 'b' }), changes: { kill: ['c'], standby: [] }, wallMs: 1_000_000, ownerPhases: new Map([['WEB', ['stopped' as const]]]) });
  const web = r.sets.find((s) => s.set === 'WEB')!;
  assert.equal(web.outcome, 'unaffected');
  assert.equal(web.state, 'running');
});

test('cluster-wide maintenance: the sets of a killed owner are taken by nobody, and the prediction says why', () => {
  const cfg = config(TWO_SETS);
  const p = predict(running(cfg, { APP: 'a', DB: 'a', WEB: 'b' }, { maintenance: { cluster: true, sets: new Set() } }), { kill: ['a'] });
  const app = p.get('APP')!;
  assert.equal(app.then, null);
  assert.equal(app.state, 'maintenance');
  assert.match(app.reason, /^cluster-wide maintenance: not starting, stopping or monitoring anything$/);
  assert.deepEqual(app.steps, []);
});
