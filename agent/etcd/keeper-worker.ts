// The lease thread's entry (keeper-thread.ts starts it, one per agent process): the agent's
// LeaseKeepers with their own single-member etcd clients, on this thread's event loop, which runs
// nothing else — so no work of the agent can hold up a keepalive. Each lease's validity goes to
// memory shared with the main thread at each renewal; events go to it as messages. Keepers stop
// renewing when the main thread has not beaten for their `mainStallMs` (a hung agent must not keep
// its leases for ever).
import { parentPort, workerData } from 'node:worker_threads';
import { makeEtcdClient, type EtcdConnection } from './client.js';
import { LeaseKeeper } from './lease-keeper.js';
import { etcdLeaseTransport } from './lease-transport.js';
import { seededJitter } from '../core/backoff.js';
import { systemClock, systemTimers } from '../ports/clock.js';
import { SLOT, type KeeperEvent, type KeeperMessage, type KeeperWorkerData } from './keeper-thread.js';

/** How often the main thread's beat is checked. */
const STALL_CHECK_MS = 100;

interface Kept {
  keeper: LeaseKeeper;
  shared: BigInt64Array;
  mainStallMs: number;
}

const data = workerData as KeeperWorkerData;
const port = parentPort!;
const mainBeat = new BigInt64Array(data.mainBeat);
const post = (e: KeeperEvent): void => port.postMessage(e);
const kept = new Map<number, Kept>();

// Buffers arrive as plain Uint8Arrays after the structured clone; grpc wants Buffers.
const tls = data.conn.tls && {
  ca: Buffer.from(data.conn.tls.ca),
  cert: data.conn.tls.cert && Buffer.from(data.conn.tls.cert),
  key: data.conn.tls.key && Buffer.from(data.conn.tls.key),
};
const conn: EtcdConnection = { ...data.conn, tls };
const members = conn.endpoints.map((e) => makeEtcdClient(conn, [e]));

function init(m: Extract<KeeperMessage, { kind: 'init' }>): void {
  const shared = new BigInt64Array(m.shared);
  const id = m.keeper;
  const { ttlSec, callTimeoutMs, jitterSeed } = m.options;
  const ports = { transport: etcdLeaseTransport(members), clock: systemClock, timers: systemTimers };
  const keeper: LeaseKeeper = new LeaseKeeper(ports, { ttlSec, callTimeoutMs, jitter: seededJitter(jitterSeed) }, {
    renewed: (validUntilMs) => {
      Atomics.store(shared, SLOT.validUntilUs, BigInt(Math.round(validUntilMs * 1000)));
      Atomics.store(shared, SLOT.grantedTtlSec, BigInt(keeper.grantedTtlSec));
      post({ keeper: id, kind: 'renewed' });
    },
    answered: (rttMs, peer) => post({ keeper: id, kind: 'answered', rttMs, peer }),
    late: (info) => post({ keeper: id, kind: 'late', ...info }),
    lost: (reason) => {
      Atomics.store(shared, SLOT.stopped, 1n);
      post({ keeper: id, kind: 'lost', reason });
    },
  });
  kept.set(id, { keeper, shared, mainStallMs: m.mainStallMs });
}

async function call(m: Extract<KeeperMessage, { kind: 'call' }>): Promise<void> {
  const k = kept.get(m.keeper);
  try {
    if (!k) throw new Error('no such lease keeper');
    let value: unknown;
    if (m.op === 'grant') {
      value = await k.keeper.grant();
      Atomics.store(k.shared, SLOT.stopped, 0n); // a grant after a failed resume: sound again
    } else if (m.op === 'resume') {
      const [leaseId, ttlSec, timeoutMs] = m.args as [string, number, number];
      Atomics.store(k.shared, SLOT.grantedTtlSec, BigInt(ttlSec));
      value = await k.keeper.resume(leaseId, ttlSec, timeoutMs);
    } else {
      await k.keeper.revoke();
      value = true;
    }
    Atomics.store(k.shared, SLOT.grantedTtlSec, BigInt(k.keeper.grantedTtlSec));
    post({ keeper: m.keeper, kind: 'reply', id: m.id, ok: true, value });
  } catch (err) {
    post({ keeper: m.keeper, kind: 'reply', id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) });
  }
}

setInterval(() => {
  const silentMs = systemClock.monotonicMs() - Number(Atomics.load(mainBeat, 0)) / 1000;
  for (const [id, k] of kept) {
    if (silentMs <= k.mainStallMs || !k.keeper.isValid(0)) continue;
    k.keeper.release();
    Atomics.store(k.shared, SLOT.stopped, 1n);
    post({ keeper: id, kind: 'lost', reason: `the agent's main thread has not run for ${Math.round(silentMs)} ms: keepalives stopped, the lease expires by itself` });
  }
}, STALL_CHECK_MS);

port.on('message', (m: KeeperMessage) => {
  if (m.kind === 'init') init(m);
  else if (m.kind === 'call') void call(m);
  else {
    kept.get(m.keeper)?.keeper.release();
    kept.delete(m.keeper);
  }
});
