// The product's lease keeper (agent/etcd/lease-keeper.ts) on simulated ports: its grant, revoke
// and keepalive stream go through SimNet to SimEtcd, its timers run on the host's drifting clock
// (dropped with the agent incarnation, held while the host is frozen). Keepalive answers travel
// with independent latencies, so they can arrive late, out of order, or not at all (a cut path);
// the keeper's arithmetic (agent/core/lease.ts) must stay safe under all three.
import { LeaseKeeper, type LeaseKeeperListener } from '../../agent/etcd/lease-keeper.js';
import type { Timers } from '../../agent/ports/clock.js';
import type { KeepaliveChannel, LeaseTransport } from '../../agent/ports/lease-transport.js';
import type { SimEtcd } from './sim-etcd.js';
import type { NetEndpoint, SimNet } from './sim-net.js';
import type { Prng } from './prng.js';
import type { LeaseRules } from '../../agent/core/lease.js';

export interface KeeperHost extends NetEndpoint {
  monotonicMs(): number;
  wallMs(): number;
  /** A timer on the host's monotonic clock, dropped when the agent incarnation ends. */
  timer(epoch: number, delayMs: number, task: () => void): void;
  /** A keepalive left this host (a fault may freeze the host while its answer is in flight). */
  keepaliveSent(): void;
}

/** One-shot timers of one agent incarnation, cancellable. */
export function simTimers(host: KeeperHost, epoch: number): Timers {
  return {
    after(delayMs, task) {
      let live = true;
      host.timer(epoch, delayMs, () => {
        if (live) task();
      });
      return () => {
        live = false;
      };
    },
    // The simulator delivers I/O as events of its own queue: what is already due runs first.
    afterIo(task) {
      host.timer(epoch, 0, task);
    },
  };
}

function simLeaseTransport(host: KeeperHost, epoch: number, net: SimNet, etcd: SimEtcd): LeaseTransport {
  return {
    // One simulated etcd endpoint stands for the cluster; member choice does not change its answers.
    memberCount: 3,
    grant(_member, ttlSec, timeoutMs, done) {
      net.call(host, epoch, () => etcd.leaseGrant(ttlSec), (r) => done(r.ok ? { ok: true, value: { leaseId: r.value.id, ttlSec: r.value.ttlSec } } : r), timeoutMs);
    },
    revoke(_member, leaseId, timeoutMs, done) {
      net.call(host, epoch, () => etcd.leaseRevoke(leaseId), (r) => done(r.ok ? { ok: true, value: null } : r), timeoutMs);
    },
    open(_member, handlers, done) {
      let open = true;
      const channel: KeepaliveChannel = {
        send: (leaseId) => {
          host.keepaliveSent();
          net.stream(host, epoch, () => etcd.leaseKeepAlive(leaseId), (ttlSec) => open && handlers.answer(ttlSec));
        },
        close: () => {
          open = false;
        },
        peer: () => 'sim-etcd',
      };
      host.timer(epoch, net.latencyMs(), () => done({ ok: true, value: channel }));
    },
  };
}

export function simKeeper(host: KeeperHost, epoch: number, net: SimNet, etcd: SimEtcd, prng: Prng, rules: LeaseRules, ttlSec: number, listener: LeaseKeeperListener): LeaseKeeper {
  const ports = { transport: simLeaseTransport(host, epoch, net, etcd), clock: host, timers: simTimers(host, epoch) };
  return new LeaseKeeper(ports, { ttlSec, callTimeoutMs: 2000, jitter: () => prng.float(), rules }, listener);
}
