// The agent's probes (agent/shell/health.ts): liveness from the decision loop's age, readiness from
// the lease, each "no" with a reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LOOP_STALE_MS, liveness, readiness } from '../../agent/shell/health.js';

const sound = { loopAgeMs: 200, stopping: false, lease: { validForMs: 4000, fenceMarginMs: 1000 } };

test('a sound lease and a turning loop: alive and ready', () => {
  assert.deepEqual(liveness(sound), { ok: true });
  assert.deepEqual(readiness(sound), { ok: true });
});

test('readiness says no, with the reason, in each case', () => {
  assert.match(readiness({ ...sound, lease: null }).reason ?? '', /no lease/);
  assert.match(readiness({ ...sound, lease: { validForMs: 1000, fenceMarginMs: 1000 } }).reason ?? '', /1000 ms left.*self-fencing/);
  assert.match(readiness({ ...sound, lease: { validForMs: -2500, fenceMarginMs: 800 } }).reason ?? '', /expired 2500 ms ago/);
  assert.match(readiness({ ...sound, stopping: true }).reason ?? '', /shutting down/);
  assert.equal(readiness({ ...sound, loopAgeMs: LOOP_STALE_MS + 1 }).ok, false, 'a stuck agent is not ready either');
});

test('liveness ignores the lease: an agent self-fencing through an etcd outage is alive', () => {
  assert.deepEqual(liveness({ ...sound, lease: null }), { ok: true });
  const stuck = liveness({ ...sound, loopAgeMs: 7000 });
  assert.equal(stuck.ok, false);
  assert.match(stuck.reason ?? '', /decision loop has not run for 7000 ms/);
});
