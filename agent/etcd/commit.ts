// Sends a Txn (txns.ts) to etcd as one transaction. The outcome is explicit: `committed`,
// `rejected` (a comparison failed: someone else changed it), or `unknown` (no answer: it may or
// may not have committed — never treated as success). Nothing here retries: a transaction whose
// reply was lost must not be sent again blindly (the client's library retries are off too).
import type { Etcd3 } from 'etcd3';
import type { Txn, TxnOutcome } from './txns.js';

const TARGETS = { create: 'Create', mod: 'Mod', lease: 'Lease' } as const;

export async function commitTxn(client: Etcd3, txn: Txn): Promise<TxnOutcome> {
  try {
    const [first, ...rest] = txn.compares;
    if (!first) throw new Error('a guarded write needs at least one comparison');
    let builder = client.if(first.key, TARGETS[first.target], first.op ?? '==', first.value);
    for (const c of rest) builder = builder.and(c.key, TARGETS[c.target], c.op ?? '==', c.value);
    const ops = txn.ops.map((op) => {
      if (op.kind === 'delete') return client.delete().key(op.key);
      const put = client.put(op.key).value(op.value);
      return op.lease ? put.lease(op.lease) : put;
    });
    const res = await builder.then(...ops).commit();
    const revision = Number(res.header.revision);
    return res.succeeded ? { status: 'committed', revision } : { status: 'rejected', revision };
  } catch (err) {
    return { status: 'unknown', error: err instanceof Error ? err.message.split('\n')[0] : String(err) };
  }
}
