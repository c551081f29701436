// The lease port on etcd3: one single-endpoint client per member (etcd3's random member choice put
// the keepalive stream back on a dead member repeatedly), each call with its own deadline.
import type { Etcd3, ILeaseKeepAliveResponse } from 'etcd3';
import type { CallResult, KeepaliveChannel, KeepaliveHandlers, LeaseTransport } from '../ports/lease-transport.js';
import { callEndsAt } from './client.js';

function failure(err: unknown): { ok: false; error: string } {
  return { ok: false, error: err instanceof Error ? err.message : String(err) };
}

export function etcdLeaseTransport(members: Etcd3[]): LeaseTransport {
  return {
    memberCount: members.length,
    grant(member, ttlSec, timeoutMs, done) {
      members[member].leaseClient.leaseGrant({ TTL: ttlSec, ID: 0 }, { deadline: callEndsAt(timeoutMs) }).then(
        (res) => done({ ok: true, value: { leaseId: String(res.ID), ttlSec: Number(res.TTL) } }),
        (err: unknown) => done(failure(err)),
      );
    },
    revoke(member, leaseId, timeoutMs, done) {
      members[member].leaseClient.leaseRevoke({ ID: leaseId }, { deadline: callEndsAt(timeoutMs) }).then(
        () => done({ ok: true, value: null }),
        (err: unknown) => done(failure(err)),
      );
    },
    open(member, handlers: KeepaliveHandlers, done: (r: CallResult<KeepaliveChannel>) => void) {
      members[member].leaseClient.leaseKeepAlive().then(
        (stream) => {
          let open = true;
          let peer = '';
          const end = (): void => {
            if (!open) return;
            open = false;
            handlers.ended();
          };
          stream.on('data', (res: ILeaseKeepAliveResponse) => {
            if (open) handlers.answer(Number(res.TTL));
          });
          stream.on('error', end);
          stream.on('end', end);
          done({
            ok: true,
            value: {
              send: (leaseId) => {
                try {
                  stream.write({ ID: leaseId });
                } catch {
                  end();
                }
              },
              close: () => {
                open = false;
                try {
                  stream.cancel();
                } catch {
                  // already closed
                }
              },
              peer: () => (peer ||= (stream as unknown as { getPeer?: () => string }).getPeer?.() ?? '?'),
            },
          });
        },
        (err: unknown) => done(failure(err)),
      );
    },
  };
}
