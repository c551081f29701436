// The etcd client with the hygiene of SPEC §5.5: a deadline on every unary call, HTTP/2 keepalive
// pings (etcd must run with --grpc-keepalive-min-time=500ms), and require-leader metadata on every
// stream so that a watch or keepalive on a member cut off from its quorum fails over instead of
// going silent.
import { readFile } from 'node:fs/promises';
import { Etcd3, type IOptions } from 'etcd3';
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import { circuitBreaker, ConsecutiveBreaker, handleWhen, noop } from 'cockatiel';
import { isRecoverableError } from 'etcd3';
import type { HostConfig } from '../config/host-config.js';
import { parseDurationMs } from '../config/duration.js';

/** HTTP/2 ping period; etcd refuses pings more often than --grpc-keepalive-min-time. */
const GRPC_KEEPALIVE_MS = 1000;
/**
 * How long a member that failed three calls in a row is skipped before it is tried again. The
 * library's default (5 s) kept every call blocked for up to 5 s after etcd's quorum came back.
 */
const MEMBER_HALF_OPEN_MS = 300;

export interface EtcdConnection {
  endpoints: string[];
  callTimeoutMs: number;
  tls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
  auth?: { username: string; password: string };
}

/**
 * The instant a gRPC call must finish by, `ms` from now. grpc-js takes this as a wall-clock Date;
 * it only bounds how long a call may hang — lease validity never depends on it (SPEC §5.3: the
 * keeper measures validity on the monotonic clock).
 */
export function callEndsAt(ms: number): Date {
  return new Date(Date.now() + ms);
}

/** Adds `hasleader: true` to a stream's metadata: etcd then cancels it when its member has no leader. */
const requireLeader: Interceptor = (options, nextCall) =>
  new InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      metadata.set('hasleader', 'true');
      next(metadata, listener);
    },
  });

/**
 * `skipFailedMemberMs`: how long a member that failed three calls in a row is skipped. Agents want
 * it short (they must act as soon as etcd is back); a one-shot CLI command against a dead etcd
 * wants it long, so that its calls fail at once instead of each waiting for a connection.
 */
export function makeEtcdClient(conn: EtcdConnection, endpoints: string[] = conn.endpoints, skipFailedMemberMs = MEMBER_HALF_OPEN_MS): Etcd3 {
  const options: IOptions = {
    hosts: endpoints,
    faultHandling: {
      // No library retries, for any call: a transaction (or a lease grant or revoke) that timed out
      // may have committed, and a re-sent copy then fails its compare and reads as `rejected` — a
      // committed acquire reported as lost skipped the takeover gate. hactl decides what to repeat:
      // every caller treats an error as `unknown` and re-reads or retries by itself.
      global: noop,
      // A member that keeps failing is skipped (the call goes to the next member) for a short while.
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: skipFailedMemberMs, breaker: new ConsecutiveBreaker(3) }),
    },
    defaultCallOptions: (ctx) => (ctx.isStream ? { interceptors: [requireLeader] } : { deadline: callEndsAt(conn.callTimeoutMs) }),
    grpcOptions: {
      'grpc.keepalive_time_ms': GRPC_KEEPALIVE_MS,
      'grpc.keepalive_timeout_ms': GRPC_KEEPALIVE_MS,
      // etcd enforces PermitWithoutStream=false: pings on idle connections earn GOAWAY too_many_pings.
      'grpc.keepalive_permit_without_calls': 0,
    },
  };
  if (conn.tls) {
    options.credentials = { rootCertificate: conn.tls.ca, privateKey: conn.tls.key, certChain: conn.tls.cert };
  }
  if (conn.auth) options.auth = conn.auth;
  return new Etcd3(options);
}

/** Reads the certificate and password files named by the host configuration (at start-up only). */
export async function connectionFromHostConfig(config: HostConfig): Promise<EtcdConnection> {
  const callTimeoutMs = parseDurationMs(config.etcd.callTimeout) ?? 2000;
  const conn: EtcdConnection = { endpoints: config.etcd.endpoints, callTimeoutMs };
  if (config.etcd.tls) {
    const t = config.etcd.tls;
    conn.tls = {
      ca: await readFile(t.ca),
      cert: t.cert ? await readFile(t.cert) : undefined,
      key: t.key ? await readFile(t.key) : undefined,
    };
  }
  if (config.etcd.auth) {
    const password = (await readFile(config.etcd.auth.passwordFile, 'utf8')).trim();
    conn.auth = { username: config.etcd.auth.username, password };
  }
  return conn;
}
