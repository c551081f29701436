// The lease port: what the lease keeper needs from etcd, one member at a time. Callbacks, not
// promises, so that the simulator can drive the product's keeper on its virtual time.
// Non-idempotent calls (grant, revoke) are never retried here: the keeper decides.

export interface KeepaliveChannel {
  /** Sends one keepalive request for `leaseId` (answers come back in order, on `answer`). */
  send(leaseId: string): void;
  /** Drops the stream; no callback of its handlers runs afterwards. */
  close(): void;
  /** The member the stream is on (for logs and metrics), once known. */
  peer(): string;
}

export interface KeepaliveHandlers {
  /** An answer, with the TTL the server reports (0: the lease is gone). */
  answer(ttlSec: number): void;
  /** The stream ended or failed. */
  ended(): void;
}

export type CallResult<T> = { ok: true; value: T } | { ok: false; error: string };

export interface LeaseTransport {
  readonly memberCount: number;
  grant(member: number, ttlSec: number, timeoutMs: number, done: (r: CallResult<{ leaseId: string; ttlSec: number }>) => void): void;
  revoke(member: number, leaseId: string, timeoutMs: number, done: (r: CallResult<null>) => void): void;
  /** Opens a keepalive stream on `member`; `done` gets the channel or the failure. */
  open(member: number, handlers: KeepaliveHandlers, done: (r: CallResult<KeepaliveChannel>) => void): void;
}
