// How the CLI reaches etcd: the host configuration file (SPEC §3.1; --config, HACTL_CONFIG, or
// /etc/hactl/agent.yaml when it exists), overridden by flags and HACTL_ENDPOINTS / HACTL_CLUSTER.
import type { Etcd3 } from 'etcd3';
import { DEFAULT_HOST_CONFIG_PATH, HostConfigError, loadHostConfig, type HostConfig } from '../agent/config/host-config.js';
import { connectionFromHostConfig, makeEtcdClient } from '../agent/etcd/client.js';
import { Keys } from '../agent/etcd/keys.js';
import { CliError, EXIT, usageError } from './errors.js';

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

export async function hostConfigFrom(opts: GlobalOptions, requireFile = false): Promise<HostConfig> {
  const explicit = opts.config ?? process.env.HACTL_CONFIG;
  let config: HostConfig;
  try {
    config = await loadHostConfig(explicit ?? DEFAULT_HOST_CONFIG_PATH, explicit !== undefined || requireFile);
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
  if (opts.cacert) config.etcd.tls = { ca: opts.cacert, cert: opts.cert, key: opts.key };
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
  const client = makeEtcdClient(conn);
  return { config, client, keys: Keys.forCluster(config.cluster), close: () => client.close() };
}

/** Turns an etcd client error into one line a person can act on. */
export function etcdErrorLine(err: unknown, endpoints: string[]): CliError {
  const name = err instanceof Error ? err.constructor.name : '';
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
  if (/PermissionDenied/.test(name) || /permission denied/i.test(message)) return new CliError(`etcd permission denied: ${message}`, EXIT.REFUSED);
  if (/deadline|Unavailable|ECONNREFUSED|No connection/i.test(name + ' ' + message)) {
    return new CliError(`etcd not reachable at ${endpoints.join(',')}: ${message}`, EXIT.OTHER);
  }
  return new CliError(`etcd: ${message}`, EXIT.OTHER);
}
