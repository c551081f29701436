// Guarded writes to etcd. Every ownership change is one transaction comparing the owner key
// (SPEC §5.1), and every write an owner makes about its set compares its fencing token. Outcomes
// are explicit: `committed`, `rejected` (the comparison failed: someone else changed it), or
// `unknown` (no answer: it may or may not have committed — never treated as success).
import type { Etcd3 } from 'etcd3';
import { Keys } from './keys.js';
import type { Unsettled } from '../core/types.js';

export type TxnOutcome = { status: 'committed'; revision: number } | { status: 'rejected'; revision: number } | { status: 'unknown'; error: string };

export interface HolderValue {
  node: string;
  released: boolean;
  /**
   * Hosts that may still run the set. Required on every write: a release that forgot them would
   * let the next owner start with no fence and no grace.
   */
  unsettled: Unsettled[];
  handoffTo?: string;
  failed?: string;
  /** The takeover grace this holder's configuration of the set needs (written on acquisition). */
  graceMs?: number;
  /** This holder, still the owner, failed to stop the set: only a fence settles it. */
  stopFailed?: boolean;
  reason: string;
  atWallMs: number;
}

export class ClusterStore {
  constructor(
    readonly client: Etcd3,
    readonly keys: Keys,
  ) {}

  /** Registers this node; the key lives as long as the lease. */
  async putNode(node: string, leaseId: string, record: Record<string, unknown>): Promise<TxnOutcome> {
    const member = JSON.stringify({ lastJoinedWallMs: record.startedAtWallMs });
    return this.commit(() =>
      this.client
        .if(this.keys.node(node), 'Create', '>', -1)
        .then(this.client.put(this.keys.node(node)).value(JSON.stringify(record)).lease(leaseId), this.client.put(this.keys.member(node)).value(member))
        .commit(),
    );
  }

  /** Rewrites this node's record, only while the key is bound to `leaseId` (never undoes a later registration). */
  async updateNode(node: string, leaseId: string, record: Record<string, unknown>): Promise<TxnOutcome> {
    const key = this.keys.node(node);
    return this.commit(() => this.client.if(key, 'Lease', '==', leaseId).then(this.client.put(key).value(JSON.stringify(record)).lease(leaseId)).commit());
  }

  /**
   * Moves this node's owner keys and its node key from lease `from` to lease `to` in one
   * transaction (a changed leaseTtl reaching an owner without a restart). Each owner key must still
   * carry its fencing token and be bound to `from`; a put on an existing key keeps its create
   * revision, so the tokens — and the node key's life — do not change.
   */
  async moveToLease(node: string, from: string, to: string, owned: { set: string; token: number }[], nodeRecord: Record<string, unknown>): Promise<TxnOutcome> {
    const k = this.keys;
    return this.commit(() => {
      let txn = this.client.if(k.node(node), 'Lease', '==', from);
      for (const o of owned) txn = txn.and(k.owner(o.set), 'Create', '==', o.token).and(k.owner(o.set), 'Lease', '==', from);
      const ops = [this.client.put(k.node(node)).value(JSON.stringify(nodeRecord)).lease(to), ...owned.map((o) => this.client.put(k.owner(o.set)).value(JSON.stringify({ node })).lease(to))];
      return txn.then(...ops).commit();
    });
  }

  /**
   * Takes ownership of a set that has no owner. Compares: no owner key, and the holder record
   * unchanged since the decision was made (so a decision on a stale view is rejected). On commit,
   * the response revision is the owner key's create revision: the fencing token.
   */
  async acquire(
    set: string,
    node: string,
    leaseId: string,
    holderRevision: number,
    holder: HolderValue,
    clearsIntentRevision?: number,
    /** Owner keys that must be as the decision saw them (create revision, 0 = absent): a clone's other instances. */
    unchangedOwners: { set: string; createRevision: number }[] = [],
  ): Promise<TxnOutcome> {
    const k = this.keys;
    const ops: Parameters<ReturnType<Etcd3['if']>['then']> = [this.client.put(k.owner(set)).value(JSON.stringify({ node })).lease(leaseId), this.client.put(k.holder(set)).value(JSON.stringify(holder))];
    // A move to this node is done once it owns the set: the intent goes in the same transaction.
    if (clearsIntentRevision !== undefined) ops.push(this.client.delete().key(k.failoverIntent(set)));
    return this.commit(() => {
      let txn = this.client.if(k.owner(set), 'Create', '==', 0).and(k.holder(set), 'Mod', '==', holderRevision);
      for (const o of unchangedOwners) txn = txn.and(k.owner(o.set), 'Create', '==', o.createRevision);
      return txn.then(...ops).commit();
    });
  }

  /**
   * Gives up ownership after the set was stopped cleanly, optionally naming the next owner, banning
   * this node, or marking the set failed. Clears a pending failover intent in the same transaction.
   */
  async release(set: string, token: number, holder: HolderValue, ban?: { node: string; untilWallMs: number; reason: string }): Promise<TxnOutcome> {
    const k = this.keys;
    const ops = [this.client.delete().key(k.owner(set)), this.client.put(k.holder(set)).value(JSON.stringify(holder)), this.client.delete().key(k.failoverIntent(set))];
    if (ban) ops.push(this.client.put(k.ban(set, ban.node)).value(JSON.stringify({ untilWallMs: ban.untilWallMs, reason: ban.reason })));
    return this.commit(() => this.client.if(k.owner(set), 'Create', '==', token).then(...ops).commit());
  }

  /**
   * Rewrites the holder record of a set this host still owns (a failed stop, or its clearing after
   * cleanup), only while `token` is still the owner's fencing token.
   */
  async updateHolder(set: string, token: number, holder: HolderValue): Promise<TxnOutcome> {
    const k = this.keys;
    return this.commit(() => this.client.if(k.owner(set), 'Create', '==', token).then(this.client.put(k.holder(set)).value(JSON.stringify(holder))).commit());
  }

  /** Writes the set's status, only while `token` is still the owner's fencing token. */
  async writeStatus(set: string, token: number, status: Record<string, unknown>): Promise<TxnOutcome> {
    const k = this.keys;
    return this.commit(() => this.client.if(k.owner(set), 'Create', '==', token).then(this.client.put(k.status(set)).value(JSON.stringify(status))).commit());
  }

  /**
   * Claims the right to fence `node`: only one host at a time holds the claim (bound to its own
   * lease, so a claimer that dies frees it), and only while `node`'s fence record is as the
   * decision saw it (mod revision `fenceModRevision`, 0 = none). With `registeredRevision`, also
   * only while `node` is still in the life the decision saw (its node key unchanged).
   */
  async claimFence(node: string, by: string, leaseId: string, claim: Record<string, unknown>, fenceModRevision: number, registeredRevision?: number): Promise<TxnOutcome> {
    const k = this.keys;
    return this.commit(() => {
      // No new fence of `node` since the view the decision was made on: a fence just recorded by
      // another host (or by us, not yet seen through the watch) is never repeated.
      let txn = this.client.if(k.fenceClaim(node), 'Create', '==', 0).and(k.fence(node), 'Mod', '==', fenceModRevision);
      if (registeredRevision !== undefined) txn = txn.and(k.node(node), 'Create', '==', registeredRevision);
      return txn.then(this.client.put(k.fenceClaim(node)).value(JSON.stringify({ by, ...claim })).lease(leaseId)).commit();
    });
  }

  /** Records a fence of `node` by the holder of the claim (create revision `claimRevision`) and ends the claim. */
  async recordClaimedFence(node: string, claimRevision: number, recordJson: string): Promise<TxnOutcome> {
    const k = this.keys;
    return this.commit(() =>
      this.client.if(k.fenceClaim(node), 'Create', '==', claimRevision).then(this.client.put(k.fence(node)).value(recordJson), this.client.delete().key(k.fenceClaim(node))).commit(),
    );
  }

  /** Updates our claim's value (its last failure, for the other hosts' status), only while we hold it. */
  async updateFenceClaim(node: string, claimRevision: number, claim: Record<string, unknown>, leaseId: string): Promise<TxnOutcome> {
    const key = this.keys.fenceClaim(node);
    return this.commit(() => this.client.if(key, 'Create', '==', claimRevision).then(this.client.put(key).value(JSON.stringify(claim)).lease(leaseId)).commit());
  }

  /** Gives a claim up (its reason to fence went away). */
  async dropFenceClaim(node: string, claimRevision: number): Promise<TxnOutcome> {
    const key = this.keys.fenceClaim(node);
    return this.commit(() => this.client.if(key, 'Create', '==', claimRevision).then(this.client.delete().key(key)).commit());
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
  async clearFailoverIntent(set: string, modRevision: number): Promise<TxnOutcome> {
    const key = this.keys.failoverIntent(set);
    return this.commit(() => this.client.if(key, 'Mod', '==', modRevision).then(this.client.delete().key(key)).commit());
  }

  private async commit(run: () => Promise<{ succeeded: boolean; header: { revision: string } }>): Promise<TxnOutcome> {
    try {
      const res = await run();
      const revision = Number(res.header.revision);
      return res.succeeded ? { status: 'committed', revision } : { status: 'rejected', revision };
    } catch (err) {
      return { status: 'unknown', error: err instanceof Error ? err.message.split('\n')[0] : String(err) };
    }
  }
}
