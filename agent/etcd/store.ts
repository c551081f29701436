// Guarded writes to etcd. Every ownership change is one transaction comparing the owner key
// (SPEC §5.1), and every write an owner makes about its set compares its fencing token. Outcomes
// are explicit: `committed`, `rejected` (the comparison failed: someone else changed it), or
// `unknown` (no answer: it may or may not have committed — never treated as success).
import type { Etcd3 } from 'etcd3';
import { Keys } from './keys.js';

export type TxnOutcome = { status: 'committed'; revision: number } | { status: 'rejected'; revision: number } | { status: 'unknown'; error: string };

export interface HolderValue {
  node: string;
  released: boolean;
  unsettled?: { node: string; afterRevision: number }[];
  handoffTo?: string;
  failed?: string;
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

  /** Writes the set's status, only while `token` is still the owner's fencing token. */
  async writeStatus(set: string, token: number, status: Record<string, unknown>): Promise<TxnOutcome> {
    const k = this.keys;
    return this.commit(() => this.client.if(k.owner(set), 'Create', '==', token).then(this.client.put(k.status(set)).value(JSON.stringify(status))).commit());
  }

  /** Records a fence of `node`, only while `token` still owns `set` (the owner fences for its set). */
  async recordFence(node: string, set: string, token: number, recordJson: string): Promise<TxnOutcome> {
    const k = this.keys;
    return this.commit(() => this.client.if(k.owner(set), 'Create', '==', token).then(this.client.put(k.fence(node)).value(recordJson)).commit());
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
