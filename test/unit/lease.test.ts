// The lease arithmetic (agent/core/lease.ts): validity counts from the SEND of the keepalive an
// answer belongs to, never from the answer's arrival; answers are matched to sends in order and a
// dropped stream forgets its sends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeepaliveLedger, defaultPacing } from '../../agent/core/lease.js';

test('an answer proves the lease from its send time, not from its arrival', () => {
  const ledger = new KeepaliveLedger(2);
  ledger.sent(1000);
  // The answer took 700 ms (a stalled stream, a slow member): the server refreshed the lease at
  // some instant after 1000, so it may expire it as early as 3000 — not 3700.
  const answer = ledger.answered(2, 1700);
  assert.deepEqual(answer, { kind: 'renewed', validUntilMs: 3000, rttMs: 700 });
  assert.equal(ledger.isSound(2999, 0), true);
  assert.equal(ledger.isSound(3000, 0), false);
  assert.equal(ledger.isSound(2600, 500), false, 'the margin counts against validity');
});

test('answers match the oldest unanswered send; a lost answer only makes the next one more conservative', () => {
  const ledger = new KeepaliveLedger(4);
  ledger.sent(0);
  ledger.sent(1000); // the answer to the first is lost on the way
  assert.equal(ledger.answered(4, 1010).kind, 'renewed');
  assert.equal(ledger.validUntilMs, 4000, 'matched to the send at 0, not the one at 1000');
  assert.deepEqual(ledger.answered(4, 1020), { kind: 'renewed', validUntilMs: 5000, rttMs: 20 });
  assert.deepEqual(ledger.answered(4, 1030), { kind: 'no-change', rttMs: null }, 'an answer with no send to match proves nothing');
});

test('validity never moves backwards, and a TTL 0 answer is definitive', () => {
  const ledger = new KeepaliveLedger(2);
  ledger.granted(500, 2);
  ledger.sent(100); // stamped before the grant's send: proves less than what is known
  assert.equal(ledger.answered(2, 200).kind, 'no-change');
  assert.equal(ledger.validUntilMs, 2500);
  ledger.sent(600);
  assert.deepEqual(ledger.answered(0, 610), { kind: 'lost' });
});

test('a dropped stream forgets its pending sends: a late answer is not matched to an old send', () => {
  const ledger = new KeepaliveLedger(2);
  ledger.sent(0);
  assert.deepEqual(ledger.late(301), { sentAtMs: 0, waitedMs: 301 });
  ledger.streamDropped();
  assert.equal(ledger.late(5000), null);
  assert.equal(ledger.sendDue(5000), true, 'a new stream sends at once');
  ledger.sent(5000);
  assert.equal((ledger.answered(2, 5004) as { validUntilMs: number }).validUntilMs, 7000);
});

test('pacing: keepalives every TTL/4, answers awaited min(300 ms, TTL/4); the next due moment is the earlier', () => {
  assert.deepEqual(defaultPacing(2), { intervalMs: 500, responseTimeoutMs: 300 });
  assert.deepEqual(defaultPacing(1), { intervalMs: 250, responseTimeoutMs: 250 });
  const ledger = new KeepaliveLedger(2);
  ledger.sent(1000);
  assert.equal(ledger.nextDueMs(), 1301, 'the response deadline of the pending send comes first');
  ledger.answered(2, 1005);
  assert.equal(ledger.nextDueMs(), 1500);
  assert.equal(ledger.sendDue(1499), false);
  assert.equal(ledger.sendDue(1500), true);
});
