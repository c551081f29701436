// Guarded writes to etcd: the agent's side of txns.ts (where each guard is defined and explained).
// Outcomes are explicit: `committed`, `rejected` (the comparison failed: someone else changed it),
// or `unknown` (no answer: it may or may not have committed — never treated as success).
import type { Etcd3 } from 'etcd3';
import { Keys } from './keys.js';
import { commitTxn } from './commit.js';
import * as txns from './txns.js';
import type { Acquisition, Ban, HolderValue, TxnOutcome } from './txns.js';

export type { HolderValue, TxnOutcome } from './txns.js';

export class ClusterStore {
  constructor(
    readonly client: Etcd3,
    readonly keys: Keys,
  ) {}

  putNode(node: string, leaseId: string, record: Record<string, unknown>): Promise<TxnOutcome> {
    return commitTxn(this.client, txns.putNodeTxn(this.keys, node, leaseId, record));
  }

  updateNode(node: string, leaseId: string, record: Record<string, unknown>): Promise<TxnOutcome> {
    return commitTxn(this.client, txns.updateNodeTxn(this.keys, node, leaseId, record));
  }

  moveToLease(node: string, from: string, to: string, owned: { set: string; token: number }[], nodeRecord: Record<string, unknown>): Promise<TxnOutcome> {
    return commitTxn(this.client, txns.moveToLeaseTxn(this.keys, node, from, to, owned, nodeRecord));
  }

  acquire(a: Acquisition): Promise<TxnOutcome> {
    return commitTxn(this.client, txns.acquireTxn(this.keys, a));
  }

  release(set: string, token: number, holder: HolderValue, ban?: Ban): Promise<TxnOutcome> {
    return commitTxn(this.client, txns.releaseTxn(this.keys, set, token, holder, ban));
  }

  updateHolder(set: string, token: number, holder: HolderValue): Promise<TxnOutcome> {
    return commitTxn(this.client, txns.updateHolderTxn(this.keys, set, token, holder));
  }

  writeStatus(set: string, token: number, status: Record<string, unknown>): Promise<TxnOutcome> {
    return commitTxn(this.client, txns.writeStatusTxn(this.keys, set, token, status));
  }

  claimFence(node: string, by: string, leaseId: string, claim: Record<string, unknown>, fenceModRevision: number, registeredRevision?: number): Promise<TxnOutcome> {
    return commitTxn(this.client, txns.claimFenceTxn(this.keys, node, by, leaseId, claim, fenceModRevision, registeredRevision));
  }

  recordClaimedFence(node: string, claimRevision: number, recordJson: string): Promise<TxnOutcome> {
    return commitTxn(this.client, txns.recordFenceTxn(this.keys, node, claimRevision, recordJson));
  }

  updateFenceClaim(node: string, claimRevision: number, claim: Record<string, unknown>, leaseId: string): Promise<TxnOutcome> {
    return commitTxn(this.client, txns.updateFenceClaimTxn(this.keys, node, claimRevision, claim, leaseId));
  }

  dropFenceClaim(node: string, claimRevision: number): Promise<TxnOutcome> {
    return commitTxn(this.client, txns.dropFenceClaimTxn(this.keys, node, claimRevision));
  }

  /** A host whose stop failed asks to be fenced; the request lives as long as its lease. */
  async requestFence(node: string, leaseId: string, request: Record<string, unknown>): Promise<void> {
    await this.client.put(this.keys.fenceRequest(node)).value(JSON.stringify(request)).lease(leaseId);
  }

  async withdrawFenceRequest(node: string): Promise<void> {
    await this.client.delete().key(this.keys.fenceRequest(node));
  }

  /** Ends a fenced host's lease: its owner keys go at once, so its sets can be taken over now. */
  async revokeLease(leaseId: string): Promise<'revoked' | 'gone' | 'unknown'> {
    try {
      await this.client.leaseClient.leaseRevoke({ ID: leaseId });
      return 'revoked';
    } catch (err) {
      return /not found/i.test(String(err)) ? 'gone' : 'unknown';
    }
  }

  /** The last monitor of a fence device, for `hactl status`. */
  async writeDeviceHealth(device: string, health: Record<string, unknown>): Promise<void> {
    await this.client.put(this.keys.deviceHealth(device)).value(JSON.stringify(health));
  }

  /** Removes a failover intent the owner refused (it says why in the event history). */
  clearFailoverIntent(set: string, modRevision: number): Promise<TxnOutcome> {
    return commitTxn(this.client, txns.clearIntentTxn(this.keys, set, modRevision));
  }
}
