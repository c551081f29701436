// How the CLI reaches etcd: the host configuration file (SPEC §3.1; --config, HACTL_CONFIG, or
// /etc/hactl/agent.yaml when it exists), overridden by flags and HACTL_ENDPOINTS / HACTL_CLUSTER.
import { X509Certificate } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import { DEFAULT_HOST_CONFIG_PATH, HostConfigError, loadHostConfig, type HostConfig } from '../agent/config/host-config.js';
import { connectionFromHostConfig, makeEtcdClient, type EtcdConnection } from '../agent/etcd/client.js';
import { Keys } from '../agent/etcd/keys.js';
import { CliError, EXIT, usageError } from './errors.js';
import { permissionScope } from './rbac-plan.js';

export interface GlobalOptions {
  config?: string;
  endpoints?: string;
  cluster?: string;
  cacert?: string;
  cert?: string;
  key?: string;
  user?: string;
  passwordFile?: string;
  json?: boolean;
}

/** The host configuration file: --config, else HACTL_CONFIG, else the default path. */
export function hostConfigPath(opts: GlobalOptions): string {
  return opts.config ?? process.env.HACTL_CONFIG ?? DEFAULT_HOST_CONFIG_PATH;
}

export async function hostConfigFrom(opts: GlobalOptions, requireFile = false): Promise<HostConfig> {
  const explicit = opts.config ?? process.env.HACTL_CONFIG;
  let config: HostConfig;
  try {
    config = await loadHostConfig(hostConfigPath(opts), explicit !== undefined || requireFile);
  } catch (err) {
    if (err instanceof HostConfigError) throw usageError(err.message);
    throw err;
  }
  const endpoints = opts.endpoints ?? process.env.HACTL_ENDPOINTS;
  if (endpoints) {
    const list = endpoints.split(',').map((e) => e.trim()).filter(Boolean);
    for (const e of list) if (!/^https?:\/\/[^\s/]+(:\d+)?\/?$/.test(e)) throw usageError(`--endpoints: not an etcd endpoint URL: ${e}`);
    config.etcd.endpoints = list;
  }
  const cluster = opts.cluster ?? process.env.HACTL_CLUSTER;
  if (cluster) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(cluster)) throw usageError(`--cluster: not a valid cluster name: ${cluster}`);
    config.cluster = cluster;
  }
  // Each TLS flag overrides its own file: `--cert op.pem --key op-key.pem` with a host config that
  // names the CA must act as op, never silently as the config's identity.
  if (opts.cacert || opts.cert || opts.key) {
    if (!opts.cert !== !opts.key) throw usageError(`${opts.cert ? '--cert needs --key' : '--key needs --cert'} (a client certificate and its key go together)`);
    const ca = opts.cacert ?? config.etcd.tls?.ca;
    if (!ca) throw usageError('--cert and --key need --cacert (or etcd.tls.ca in the host configuration): the CA that signed the etcd servers');
    config.etcd.tls = { ca, cert: opts.cert ?? config.etcd.tls?.cert, key: opts.key ?? config.etcd.tls?.key };
  }
  if (opts.user) {
    if (!opts.passwordFile) throw usageError('--user needs --password-file (passwords are read from files only)');
    config.etcd.auth = { username: opts.user, passwordFile: opts.passwordFile };
  }
  return config;
}

export interface Session {
  config: HostConfig;
  client: Etcd3;
  keys: Keys;
  /** Who etcd will take us for: the --user name, or the client certificate's CN. */
  identity?: string;
  close(): void;
}

export async function connect(opts: GlobalOptions): Promise<Session> {
  const config = await hostConfigFrom(opts);
  let conn;
  try {
    conn = await connectionFromHostConfig(config);
  } catch (err) {
    throw new CliError(`cannot read etcd credentials: ${(err as NodeJS.ErrnoException).code ?? String(err)} ${(err as { path?: string }).path ?? ''}`.trim(), EXIT.USAGE);
  }
  const keys = Keys.forCluster(config.cluster);
  const client = makeEtcdClient(conn, await answeringEndpoints(conn, keys.config()), CLI_SKIP_FAILED_MEMBER_MS);
  return { config, client, keys, identity: conn.auth?.username ?? certificateCn(conn.tls?.cert), close: () => client.close() };
}

/** A one-shot command fails fast once a member failed three calls in a row (see makeEtcdClient). */
const CLI_SKIP_FAILED_MEMBER_MS = 5000;

/** How long after the first member answers the others may still answer and be kept. */
const PROBE_GRACE_MS = 150;

/**
 * The endpoints that answer now. Operators run hactl exactly when a host is down, and a member
 * that is gone (powered off, partitioned: no RST, nothing) makes every call the client happens to
 * send it wait for the whole call deadline. So every member gets one small read at once, and the
 * client uses those that answered by PROBE_GRACE_MS after the first: the usual cost is one round
 * trip. Any etcd answer counts, a refusal too (permission, authentication): the command itself
 * then says what is wrong. When none answers, all are kept, so the command's own error names them.
 */
async function answeringEndpoints(conn: EtcdConnection, probeKey: string): Promise<string[]> {
  if (conn.endpoints.length < 2) return conn.endpoints;
  const probes = conn.endpoints.map((e) => makeEtcdClient(conn, [e]));
  const answered: string[] = [];
  let grace: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve) => {
      let pending = probes.length;
      probes.forEach((probe, i) => {
        const alive = (): void => {
          answered.push(conn.endpoints[i]);
          grace ??= setTimeout(resolve, PROBE_GRACE_MS);
        };
        probe
          .get(probeKey)
          .exec()
          .then(alive, (err: unknown) => (unreachable(err) ? undefined : alive()))
          .finally(() => {
            if (--pending === 0) resolve();
          });
      });
    });
  } finally {
    if (grace) clearTimeout(grace);
    for (const p of probes) p.close();
  }
  return answered.length > 0 ? conn.endpoints.filter((e) => answered.includes(e)) : conn.endpoints;
}

/** A connection failure (as opposed to an answer from etcd, even a refusal). */
function unreachable(err: unknown): boolean {
  const text = err instanceof Error ? `${err.constructor.name} ${err.message}` : String(err);
  return /Unavailable|DeadlineExceeded|Deadline exceeded|BrokenCircuit|circuit breaker|ECONNREFUSED|No connection|handshake|certificate|SSL|TLS/i.test(text);
}

/** The CN of a PEM certificate (etcd's user name for it), or undefined. */
export function certificateCn(pem: Buffer | undefined): string | undefined {
  if (!pem) return undefined;
  try {
    return /(?:^|\n)CN=([^\n]+)/.exec(new X509Certificate(pem).subject)?.[1];
  } catch {
    return undefined;
  }
}

/** Exit 3 when nothing at all is stored for the session's cluster: most likely a wrong --cluster or HACTL_CLUSTER. */
export async function requireCluster(session: Session): Promise<void> {
  let keys: string[];
  try {
    keys = await session.client.getAll().prefix(session.keys.prefix).limit(1).keys();
  } catch (err) {
    throw etcdErrorLine(err, session.config.etcd.endpoints, { doing: 'read the cluster', key: session.keys.prefix, who: session.identity });
  }
  if (keys.length === 0) throw new CliError(`cluster ${session.config.cluster}: nothing stored under ${session.keys.prefix} (a wrong --cluster or HACTL_CLUSTER?)`, EXIT.NOT_FOUND);
}

/** etcdErrorLine for a session: `doing` is what the command was doing ('fail over'), `key` the key it touched. */
export function sessionError(session: Session, err: unknown, doing: string, key?: string): CliError {
  return etcdErrorLine(err, session.config.etcd.endpoints, { doing, key, who: session.identity });
}

export interface EtcdErrorContext {
  /** What the command was doing, as a verb phrase: 'fail over', 'read the cluster status'. */
  doing?: string;
  /** The key it read or wrote; a permission error names its granted scope (e.g. /hactl/c/intents/). */
  key?: string;
  /** The etcd identity (user name or certificate CN). */
  who?: string;
}

/** Whether an error came from the etcd client (as opposed to our own code). */
export function isEtcdError(err: unknown): boolean {
  return err instanceof Error && /^(Etcd|GRPC)/.test(err.constructor.name);
}

/** Turns an etcd client error into one line a person can act on. */
export function etcdErrorLine(err: unknown, endpoints: string[], context: EtcdErrorContext = {}): CliError {
  const name = err instanceof Error ? err.constructor.name : '';
  // grpc-js ends connection errors with an empty "Resolution note: ": it says nothing.
  const message = (err instanceof Error ? err.message : String(err)).split('\n')[0].slice(0, 300).replace(/\s*Resolution note:\s*$/, '');
  const cannot = context.doing ? `${context.who ? `${context.who} ` : ''}cannot ${context.doing}: ` : '';
  const at = endpoints.length > 0 ? ` at ${endpoints.join(',')}` : '';
  if (/PermissionDenied/.test(name) || /permission denied/i.test(message)) {
    const scope = context.key ? ` on ${permissionScope(context.key)}` : '';
    return new CliError(`${cannot}etcd permission denied${scope}${context.doing ? '' : `: ${message}`}`, EXIT.REFUSED);
  }
  if (/AuthenticationFailed|InvalidAuth|UserNotFound|AuthNotEnabled/.test(name) || /authentication failed|user name not found|invalid auth token/i.test(message)) {
    return new CliError(`${cannot}etcd authentication failed${context.who ? ` for ${context.who}` : ''} (check --user and --password-file, or the client certificate): ${message}`, EXIT.REFUSED);
  }
  if (/certificate|handshake|SSL|TLS|alert|self[- ]signed|unable to (get|verify)/i.test(message)) {
    const why = /alert ([a-z ]+)/i.exec(message)?.[0] ?? /[^:]*certificate[^:]*/i.exec(message)?.[0]?.trim() ?? message;
    return new CliError(`${cannot}TLS handshake with etcd${at} failed: ${why} (is the client certificate signed by the CA etcd trusts, and the server's by --cacert?)`, EXIT.REFUSED);
  }
  if (/deadline|Unavailable|ECONNREFUSED|No connection/i.test(name + ' ' + message)) {
    // grpc-js wraps the socket's error ("14 UNAVAILABLE: No connection established. Last error:
    // Error: connect ECONNREFUSED 127.0.0.1:2379."): the socket's own words are the useful part.
    const socket = /Last error: (?:Error: )?(.*?)\.?$/.exec(message)?.[1];
    return new CliError(`${cannot}etcd not reachable${at}: ${socket || message}`, EXIT.OTHER);
  }
  return new CliError(`${cannot}etcd: ${message}`, EXIT.OTHER);
}
