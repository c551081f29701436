// Every guarded write of the cluster, as data: which keys must be as a decision saw them, and what
// to write if they are. One definition serves the agent (ClusterStore), the CLI, and the
// simulator's etcd, so the guards the simulator checks are the guards production sends.
//
// Guarantees the builders encode (SPEC §5.1):
// - every ownership change compares the owner key's create revision (the fencing token; 0 = none);
// - every write an owner makes about its set compares its token, so a host that lost the set
//   can never overwrite what the new owner wrote;
// - a takeover compares the holder record's mod revision, so a decision made on a stale view is
//   rejected, never applied.
import type { Keys } from './keys.js';
import type { HolderRecord } from '../core/types.js';

export interface Compare {
  key: string;
  /** What of the key is compared: create revision, mod revision, or the lease it is bound to. */
  target: 'create' | 'mod' | 'lease';
  /** `==` unless said; `>` with create 0 means "the key exists". */
  op?: '==' | '>';
  value: number | string;
}

export type Op = { kind: 'put'; key: string; value: string; lease?: string } | { kind: 'delete'; key: string };

export interface Txn {
  compares: Compare[];
  ops: Op[];
}

export type TxnOutcome = { status: 'committed'; revision: number } | { status: 'rejected'; revision: number } | { status: 'unknown'; error: string };

/**
 * The holder record as written: what the core reads back as a HolderRecord (every field, so a
 * write can never drop the hosts not yet settled), plus the reason and time for people.
 */
export type HolderValue = Omit<HolderRecord, 'modRevision'> & { reason: string; atWallMs: number };

const ownerIs = (keys: Keys, set: string, token: number): Compare => ({ key: keys.owner(set), target: 'create', value: token });
const put = (key: string, value: unknown, lease?: string): Op => ({ kind: 'put', key, value: typeof value === 'string' ? value : JSON.stringify(value), ...(lease ? { lease } : {}) });
const del = (key: string): Op => ({ kind: 'delete', key });

/** Registers a node (its key lives as long as `leaseId`) and remembers when it last joined. */
export function putNodeTxn(keys: Keys, node: string, leaseId: string, record: Record<string, unknown>): Txn {
  return {
    compares: [{ key: keys.node(node), target: 'create', op: '>', value: -1 }],
    ops: [put(keys.node(node), record, leaseId), put(keys.member(node), { lastJoinedWallMs: record.startedAtWallMs })],
  };
}

/** Rewrites a node's record, only while its key is bound to `leaseId` (never undoes a later registration). */
export function updateNodeTxn(keys: Keys, node: string, leaseId: string, record: Record<string, unknown>): Txn {
  return { compares: [{ key: keys.node(node), target: 'lease', value: leaseId }], ops: [put(keys.node(node), record, leaseId)] };
}

/**
 * Moves a node's owner keys and its node key from lease `from` to lease `to` at once (a changed
 * leaseTtl). A put on an existing key keeps its create revision: the tokens do not change.
 */
export function moveToLeaseTxn(keys: Keys, node: string, from: string, to: string, owned: { set: string; token: number }[], nodeRecord: Record<string, unknown>): Txn {
  return {
    compares: [{ key: keys.node(node), target: 'lease', value: from }, ...owned.flatMap((o) => [ownerIs(keys, o.set, o.token), { key: keys.owner(o.set), target: 'lease' as const, value: from }])],
    ops: [put(keys.node(node), nodeRecord, to), ...owned.map((o) => put(keys.owner(o.set), { node }, to))],
  };
}

export interface Acquisition {
  set: string;
  node: string;
  leaseId: string;
  /** The holder record's mod revision the decision saw (0 = none). */
  holderRevision: number;
  holder: HolderValue;
  /** A failover intent to this node, done once it owns the set. */
  clearsIntent?: boolean;
  /** Owner keys that must be as the decision saw them (create revision, 0 = absent): a clone's other instances. */
  unchangedOwners?: { set: string; createRevision: number }[];
}

/** Takes a set nobody owns. On commit the response revision is the owner key's create revision: the token. */
export function acquireTxn(keys: Keys, a: Acquisition): Txn {
  return {
    compares: [ownerIs(keys, a.set, 0), { key: keys.holder(a.set), target: 'mod', value: a.holderRevision }, ...(a.unchangedOwners ?? []).map((o) => ownerIs(keys, o.set, o.createRevision))],
    ops: [put(keys.owner(a.set), { node: a.node }, a.leaseId), put(keys.holder(a.set), a.holder), ...(a.clearsIntent ? [del(keys.failoverIntent(a.set))] : [])],
  };
}

export interface Ban {
  node: string;
  untilWallMs: number;
  reason: string;
}

/** Gives a set up (after a clean stop), with its holder record; clears a pending intent; may ban this node. */
export function releaseTxn(keys: Keys, set: string, token: number, holder: HolderValue, ban?: Ban): Txn {
  return {
    compares: [ownerIs(keys, set, token)],
    ops: [del(keys.owner(set)), put(keys.holder(set), holder), del(keys.failoverIntent(set)), ...(ban ? [put(keys.ban(set, ban.node), { untilWallMs: ban.untilWallMs, reason: ban.reason })] : [])],
  };
}

/** Rewrites the holder record of a set `token` still owns (a failed stop, or its clearing). */
export function updateHolderTxn(keys: Keys, set: string, token: number, holder: HolderValue): Txn {
  return { compares: [ownerIs(keys, set, token)], ops: [put(keys.holder(set), holder)] };
}

/** Writes a set's status, only while `token` still owns it. */
export function writeStatusTxn(keys: Keys, set: string, token: number, status: Record<string, unknown>): Txn {
  return { compares: [ownerIs(keys, set, token)], ops: [put(keys.status(set), status)] };
}

/** Asks the owner holding `token` to move the set (a failover, or a move with `--wait`). */
export function failoverIntentTxn(keys: Keys, set: string, token: number, intent: Record<string, unknown>): Txn {
  return { compares: [ownerIs(keys, set, token)], ops: [put(keys.failoverIntent(set), intent)] };
}

/**
 * Lifts a fatal-failure mark (`hactl cleanup`), only if the holder record is still the one seen.
 * The rewritten record keeps every host not yet settled: cleanup forgives the failure, never the gate.
 */
export function clearFailedMarkTxn(keys: Keys, set: string, holderModRevision: number, holder: HolderValue): Txn {
  return { compares: [{ key: keys.holder(set), target: 'mod', value: holderModRevision }], ops: [put(keys.holder(set), holder)] };
}

/** Removes a failover intent the owner refused, only if it is still the one seen. */
export function clearIntentTxn(keys: Keys, set: string, modRevision: number): Txn {
  return { compares: [{ key: keys.failoverIntent(set), target: 'mod', value: modRevision }], ops: [del(keys.failoverIntent(set))] };
}

/**
 * Claims the right to fence `node`: one claimer at a time (bound to its lease, so a claimer that
 * dies frees it); only while `node`'s fence record is as seen (0 = none) and, with
 * `registeredRevision`, while `node` is in the life the decision saw.
 */
export function claimFenceTxn(keys: Keys, node: string, by: string, leaseId: string, claim: Record<string, unknown>, fenceModRevision: number, registeredRevision?: number): Txn {
  return {
    compares: [
      { key: keys.fenceClaim(node), target: 'create', value: 0 },
      { key: keys.fence(node), target: 'mod', value: fenceModRevision },
      ...(registeredRevision !== undefined ? [{ key: keys.node(node), target: 'create' as const, value: registeredRevision }] : []),
    ],
    ops: [put(keys.fenceClaim(node), { by, ...claim }, leaseId)],
  };
}

/** Records a fence by the holder of the claim (create revision `claimRevision`) and ends the claim. */
export function recordFenceTxn(keys: Keys, node: string, claimRevision: number, recordJson: string): Txn {
  return { compares: [{ key: keys.fenceClaim(node), target: 'create', value: claimRevision }], ops: [put(keys.fence(node), recordJson), del(keys.fenceClaim(node))] };
}

/** Updates our claim's value (its last failure), only while we hold it. */
export function updateFenceClaimTxn(keys: Keys, node: string, claimRevision: number, claim: Record<string, unknown>, leaseId: string): Txn {
  return { compares: [{ key: keys.fenceClaim(node), target: 'create', value: claimRevision }], ops: [put(keys.fenceClaim(node), claim, leaseId)] };
}

/** Gives a claim up (its reason to fence went away). */
export function dropFenceClaimTxn(keys: Keys, node: string, claimRevision: number): Txn {
  return { compares: [{ key: keys.fenceClaim(node), target: 'create', value: claimRevision }], ops: [del(keys.fenceClaim(node))] };
}
