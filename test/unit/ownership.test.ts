// core/ownership.ts: an owner key is this host's only when it names this host AND is bound to a
// lease this host holds now (the one in hand, or the one its keys move to during a leaseTtl change).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { holdsLease, ownedHere, ownedInstanceOf, ownedUnderLease } from '../../agent/core/ownership.js';
import type { ClusterView, OwnerRecord } from '../../agent/core/types.js';

const owner = (set: string, node: string, leaseId: string, token: number): OwnerRecord => ({ set, node, leaseId, token });

test('an owner key naming this host on a lease it no longer holds is not its own', () => {
  const held = { current: 'L2', movingTo: null };
  assert.equal(ownedHere(owner('S', 'n1', 'L1', 7), 'n1', held), undefined, 'the lease of an earlier run');
  assert.equal(ownedHere(owner('S', 'n2', 'L2', 7), 'n1', held), undefined, 'another host (same lease id on another host is impossible, but the node must match too)');
  assert.equal(ownedHere(undefined, 'n1', held), undefined);
  assert.equal(ownedHere(owner('S', 'n1', 'L2', 7), 'n1', held)?.token, 7);
  assert.equal(ownedHere(owner('S', 'n1', 'L2', 7), 'n1', { current: null, movingTo: null }), undefined, 'no lease in hand: owns nothing');
});

test('during a leaseTtl move both leases are held', () => {
  const held = { current: 'L1', movingTo: 'L3' };
  assert.equal(holdsLease(held, 'L1'), true);
  assert.equal(holdsLease(held, 'L3'), true);
  assert.equal(holdsLease(held, 'L2'), false);
  assert.equal(ownedHere(owner('S', 'n1', 'L3', 9), 'n1', held)?.token, 9);
});

test('the sets owned under exactly one lease, and the clone instance owned here', () => {
  const owners = new Map([
    ['A', owner('A', 'n1', 'L1', 3)],
    ['B', owner('B', 'n1', 'L3', 4)],
    ['C', owner('C', 'n2', 'L1', 5)],
    ['W:1', owner('W:1', 'n2', 'L9', 6)],
    ['W:2', owner('W:2', 'n1', 'L1', 8)],
  ]);
  const view = { owners } as unknown as ClusterView;
  assert.deepEqual(ownedUnderLease(view, 'n1', 'L1').map((o) => o.set), ['A', 'W:2']);
  assert.equal(ownedInstanceOf(view, 'W', 'n1', { current: 'L1', movingTo: null })?.set, 'W:2');
  assert.equal(ownedInstanceOf(view, 'W', 'n3', { current: 'L1', movingTo: null }), undefined);
});
