// Where `hactl web` listens, and whether it may. The console acts with the operator's own etcd
// credentials, so by default it is reachable from this machine only (loopback). Any other address
// needs TLS (--tls-cert/--tls-key: the session cookie and the actions must not cross a network in
// clear text) AND --allow-remote, a deliberate "yes, other machines may reach this".
import { isIP } from 'node:net';
import { usageError } from '../errors.js';

export interface ListenAddress {
  host: string;
  port: number;
  loopback: boolean;
}

export const DEFAULT_LISTEN = '127.0.0.1:8080';

/** "127.0.0.1:8080", "[::1]:8080", "localhost:8080"; port 0 picks a free port. */
export function parseListen(text: string): ListenAddress {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text.trim());
  if (!m) throw usageError(`--listen: not an address:port: ${text} (write e.g. 127.0.0.1:8080)`);
  const host = m[1] ?? m[2];
  const port = Number(m[3]);
  if (port > 65535) throw usageError(`--listen: port out of range: ${m[3]}`);
  if (m[1] !== undefined && isIP(host) !== 6) throw usageError(`--listen: not an IPv6 address: ${host}`);
  if (m[2] !== undefined && isIP(host) === 0 && !/^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/.test(host)) throw usageError(`--listen: not a host name or IP address: ${host}`);
  return { host, port, loopback: isLoopback(host) };
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/** Refuses a non-loopback address unless both TLS files and --allow-remote are given. */
export function checkExposure(addr: ListenAddress, opts: { tlsCert?: string; tlsKey?: string; allowRemote?: boolean }): void {
  if (!opts.tlsCert !== !opts.tlsKey) throw usageError(opts.tlsCert ? '--tls-cert needs --tls-key' : '--tls-key needs --tls-cert');
  if (addr.loopback) return;
  const host = addr.host.includes(':') ? `[${addr.host}]` : addr.host;
  if (!opts.tlsCert) throw usageError(`--listen ${host}: not a loopback address; serving the console to other machines needs --tls-cert, --tls-key and --allow-remote`);
  if (!opts.allowRemote) throw usageError(`--listen ${host}: not a loopback address; add --allow-remote to serve the console to other machines (it acts with your etcd credentials)`);
}
