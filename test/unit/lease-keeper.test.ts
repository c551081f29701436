// The lease keeper's reconnect pacing, against stand-in etcd members whose keepalive streams fail
// at once (as while no member has a leader): reopening is backed off, not a busy loop. Also the
// backoff arithmetic itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import { etcdLeaseTransport } from '../../agent/etcd/lease-transport.js';
import { LeaseKeeper } from '../../agent/etcd/lease-keeper.js';
import { backoffDelayMs, seededJitter } from '../../agent/core/backoff.js';
import { systemClock, systemTimers } from '../../agent/ports/clock.js';

/** A member whose keepalive stream opens, then errors on the next turn ("no leader"). */
function leaderlessMember(opened: { count: number }): Etcd3 {
  const leaseClient = {
    leaseKeepAlive: () => {
      opened.count++;
      const stream = Object.assign(new EventEmitter(), { write: () => true, cancel: () => undefined });
      setImmediate(() => stream.emit('error', new Error('etcdserver: no leader')));
      return Promise.resolve(stream);
    },
  };
  return { leaseClient } as unknown as Etcd3;
}

test('keepalive streams that fail at once are reopened with a capped backoff, not in a busy loop', async () => {
  const opened = { count: 0 };
  const members = [leaderlessMember(opened), leaderlessMember(opened), leaderlessMember(opened)];
  const keeper = new LeaseKeeper({ transport: etcdLeaseTransport(members), clock: systemClock, timers: systemTimers }, { ttlSec: 2, callTimeoutMs: 1000, jitter: seededJitter('n1') }, {
    renewed: () => undefined,
    late: () => undefined,
    lost: () => undefined,
  });
  const resumed = keeper.resume('123', 2, 2000);
  await new Promise((r) => setTimeout(r, 2000));
  keeper.release();
  assert.equal(await resumed, false);
  // TTL 2 s: keepalives every 500 ms, so the backoff is capped at 500 ms (250–500 ms with jitter).
  assert.ok(opened.count <= 20, `${opened.count} streams opened in 2 s`);
  assert.ok(opened.count >= 4, `${opened.count} streams opened in 2 s: it must keep trying`);
});

test('backoff: doubles from the base up to the cap; jitter draws from the upper half', () => {
  const policy = { baseMs: 100, capMs: 1000 };
  assert.deepEqual([0, 1, 2, 3, 4, 5, 40].map((n) => backoffDelayMs(n, policy)), [0, 100, 200, 400, 800, 1000, 1000]);
  const jitter = seededJitter('n1');
  for (let i = 0; i < 100; i++) {
    const d = backoffDelayMs(3, policy, jitter);
    assert.ok(d >= 200 && d < 400, String(d));
  }
  const a = seededJitter('n1');
  const b = seededJitter('n1');
  const c = seededJitter('n2');
  const seqA = [a(), a(), a()];
  assert.deepEqual([b(), b(), b()], seqA, 'the same seed gives the same sequence');
  assert.notDeepEqual([c(), c(), c()], seqA, 'another seed another');
});

test('a keepalive answered while the event loop was held is not called late: the answer waiting in I/O is read first', async () => {
  // Under overload the loop can be held past the response deadline (300 ms) while the answer has
  // already arrived; the keeper's timer then runs before that I/O is read. Calling it late dropped
  // the stream and its answer, and the lease fell into doubt for nothing (issue 16).
  const { port1, port2 } = new MessageChannel();
  let writes = 0;
  const stream = Object.assign(new EventEmitter(), {
    write: () => {
      writes++;
      const held = writes === 2; // the second keepalive: etcd answers, the loop is held meanwhile
      setImmediate(() => {
        port1.postMessage('answer'); // delivered as I/O (poll phase), like a gRPC answer
        if (held) {
          const until = performance.now() + 1000;
          while (performance.now() < until) {
            // hold the event loop, as a burst of synchronous forks does
          }
        }
      });
      return true;
    },
    cancel: () => undefined,
  });
  port2.on('message', () => stream.emit('data', { TTL: '2', ID: '123' }));
  const member = { leaseClient: { leaseKeepAlive: () => Promise.resolve(stream) } } as unknown as Etcd3;
  const late: number[] = [];
  const keeper = new LeaseKeeper({ transport: etcdLeaseTransport([member]), clock: systemClock, timers: systemTimers }, { ttlSec: 2, callTimeoutMs: 1000 }, {
    renewed: () => undefined,
    late: (info) => late.push(info.waitedMs),
    lost: () => undefined,
  });
  try {
    assert.equal(await keeper.resume('123', 2, 2000), true);
    const deadline = performance.now() + 5000;
    while (writes < 3 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(writes >= 3, `${writes} keepalives sent`);
    assert.deepEqual(late, [], 'no keepalive called late');
  } finally {
    keeper.release();
    port1.close();
  }
});
