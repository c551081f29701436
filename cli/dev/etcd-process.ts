// Launches and owns etcd processes (the installed `etcd` binary) for `hactl dev`, the demo and the
// test harness: data in a directory we own, free loopback ports, the server flags SPEC §2
// recommends for failover use, a bounded wait for health, and stop by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { existsSync } from 'node:fs';

/** Flags that make a 2–3 s lease TTL safe: a fast etcd election, pre-vote, and keepalive pings. */
export const FAILOVER_FLAGS = ['--heartbeat-interval=50', '--election-timeout=500', '--pre-vote=true', '--grpc-keepalive-min-time=500ms'];

export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  process: ChildProcess | null;
  args: string[];
  logFile: string;
  /** Where health is checked: the client URL, or (with TLS) a plain-http metrics URL on loopback. */
  healthUrl?: string;
}

/** Optional TLS for the client URLs: https only, and with `clientCertAuth` a client certificate signed by `ca` is required. */
export interface EtcdTlsOptions {
  ca: string;
  cert: string;
  key: string;
  clientCertAuth?: boolean;
}

export interface EtcdCluster {
  members: EtcdMember[];
  endpoints: string[];
  /** Stops one member (SIGTERM, SIGKILL after 5 s) — or kills it at once with SIGKILL. */
  stopMember(name: string, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a stopped member again with its data. */
  startMember(name: string): Promise<void>;
  /** Pauses or resumes a member's process (SIGSTOP/SIGCONT): a member that goes silent. */
  pauseMember(name: string, paused: boolean): void;
  stop(): Promise<void>;
}

export function findEtcdBinary(): string | null {
  for (const p of ['/usr/bin/etcd', '/usr/local/bin/etcd', '/usr/sbin/etcd']) if (existsSync(p)) return p;
  return null;
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Starts `size` members on loopback and waits (at most 20 s) until every one is healthy. */
export async function startEtcdCluster(dir: string, size = 1, token = 'hactl', options: { tls?: EtcdTlsOptions; host?: string } = {}): Promise<EtcdCluster> {
  const tls = options.tls;
  // The address members listen on (default loopback); e.g. a bridge address that network-namespace hosts can reach.
  const host = options.host ?? '127.0.0.1';
  const binary = findEtcdBinary();
  if (!binary) throw new Error('etcd is not installed (Debian package etcd-server); run npm run bootstrap');
  const members: EtcdMember[] = [];
  for (let i = 1; i <= size; i++) {
    const name = `e${i}`;
    members.push({
      name,
      clientUrl: `${tls ? 'https' : 'http'}://${host}:${await freePort(host)}`,
      peerUrl: `http://${host}:${await freePort(host)}`,
      dataDir: join(dir, name),
      process: null,
      args: [],
      logFile: join(dir, `${name}.log`),
      healthUrl: tls ? `http://127.0.0.1:${await freePort()}` : undefined,
    });
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  for (const m of members) {
    m.args = [
      `--name=${m.name}`,
      `--data-dir=${m.dataDir}`,
      `--listen-client-urls=${m.clientUrl}`,
      `--advertise-client-urls=${m.clientUrl}`,
      `--listen-peer-urls=${m.peerUrl}`,
      `--initial-advertise-peer-urls=${m.peerUrl}`,
      `--initial-cluster=${initialCluster}`,
      `--initial-cluster-token=${token}`,
      '--initial-cluster-state=new',
      '--logger=zap',
      '--log-outputs=stderr',
      '--log-level=warn',
      ...FAILOVER_FLAGS,
      ...(tls
        ? [
            `--cert-file=${tls.cert}`,
            `--key-file=${tls.key}`,
            `--trusted-ca-file=${tls.ca}`,
            ...(tls.clientCertAuth === false ? [] : ['--client-cert-auth']),
            `--listen-metrics-urls=${m.healthUrl}`,
          ]
        : []),
    ];
  }
  await mkdir(dir, { recursive: true });
  const launch = async (m: EtcdMember): Promise<void> => {
    const log = await open(m.logFile, 'a');
    m.process = spawn(binary, m.args, { stdio: ['ignore', log.fd, log.fd], detached: true });
    m.process.once('exit', () => void log.close().catch(() => undefined));
  };
  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => m.clientUrl),
    async stopMember(name, signal = 'SIGTERM') {
      const m = members.find((x) => x.name === name);
      if (!m?.process) return;
      await stopProcess(m.process, signal);
      m.process = null;
    },
    async startMember(name) {
      const m = members.find((x) => x.name === name);
      if (!m || m.process) return;
      await launch(m);
      await waitHealthy([m], 20_000);
    },
    pauseMember(name, paused) {
      const m = members.find((x) => x.name === name);
      if (m?.process?.pid) process.kill(m.process.pid, paused ? 'SIGSTOP' : 'SIGCONT');
    },
    async stop() {
      await Promise.all(
        members.map(async (m) => {
          if (!m.process) return;
          if (m.process.pid) {
            try {
              process.kill(m.process.pid, 'SIGCONT');
            } catch {
              // gone
            }
          }
          await stopProcess(m.process, 'SIGTERM');
          m.process = null;
        }),
      );
    },
  };
  try {
    for (const m of members) await launch(m);
    await waitHealthy(members, 20_000);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

async function waitHealthy(members: EtcdMember[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const m of members) {
    for (;;) {
      if (m.process && m.process.exitCode !== null) throw new Error(`etcd ${m.name} exited with code ${m.process.exitCode}; see ${m.logFile}`);
      try {
        const res = await fetch(`${m.healthUrl ?? m.clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
        const body = (await res.json()) as { health?: string };
        if (body.health === 'true') break;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error(`etcd ${m.name} not healthy within ${timeoutMs} ms; see ${m.logFile}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Signals a child by PID and waits for it to exit; SIGKILL after `killAfterMs`. */
export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', killAfterMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(child.pid, signal);
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }, killAfterMs);
  await exited;
  clearTimeout(timer);
}
