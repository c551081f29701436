// A 3-member etcd cluster on testbed hosts e1..e3 (own namespace hosts), tuned for short leases as
// SPEC §2 asks: --pre-vote=true --grpc-keepalive-min-time=500ms --heartbeat-interval=50
// --election-timeout=500. Faults: kill a member (the leader too), isolate one, lose and regain quorum.
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { Host, Testbed } from './testbed.js';
import { run, waitFor, signalPid, pidAlive } from './exec.js';

export interface EtcdOptions {
  names?: string[];
  /** Last octets of the members' addresses (default 11, 12, 13). */
  octets?: number[];
  heartbeatMs?: number;
  electionMs?: number;
}

export interface MemberStatus {
  name: string;
  endpoint: string;
  up: boolean;
  leader: boolean;
  raftTerm?: number;
}

export class EtcdCluster {
  readonly names: string[];
  readonly hosts = new Map<string, Host>();
  private readonly octets: number[];
  private readonly hb: number;
  private readonly et: number;

  constructor(
    readonly tb: Testbed,
    opts: EtcdOptions = {},
  ) {
    this.names = opts.names ?? ['e1', 'e2', 'e3'];
    this.octets = opts.octets ?? [11, 12, 13];
    this.hb = opts.heartbeatMs ?? 50;
    this.et = opts.electionMs ?? 500;
  }

  ip(name: string): string {
    const i = this.names.indexOf(name);
    if (i < 0) throw new Error(`no etcd member ${name}`);
    return this.tb.addr(this.octets[i]!);
  }

  endpoint(name: string): string {
    return `http://${this.ip(name)}:2379`;
  }

  /** Client URLs, comma-free list. */
  endpoints(): string[] {
    return this.names.map((n) => this.endpoint(n));
  }

  ips(): string[] {
    return this.names.map((n) => this.ip(n));
  }

  host(name: string): Host {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`etcd member ${name} has no host`);
    return h;
  }

  private args(name: string): string[] {
    const ip = this.ip(name);
    const h = this.host(name);
    const cluster = this.names.map((n) => `${n}=http://${this.ip(n)}:2380`).join(',');
    return [
      '/usr/bin/etcd',
      '--name', name,
      '--data-dir', join(h.dataDir, 'etcd'),
      '--listen-peer-urls', `http://${ip}:2380`,
      '--initial-advertise-peer-urls', `http://${ip}:2380`,
      '--listen-client-urls', `http://${ip}:2379,http://127.0.0.1:2379`,
      '--advertise-client-urls', `http://${ip}:2379`,
      '--initial-cluster', cluster,
      '--initial-cluster-token', `${this.tb.prefix}-etcd`,
      '--initial-cluster-state', 'new',
      '--heartbeat-interval', String(this.hb),
      '--election-timeout', String(this.et),
      '--pre-vote=true',
      '--grpc-keepalive-min-time=500ms',
      '--logger', 'zap',
      '--log-outputs', 'stderr',
      '--log-level', 'warn',
    ];
  }

  /** Hosts + members, then wait until every member is healthy and there is a leader. */
  async start(timeoutMs = 30_000): Promise<void> {
    await Promise.all(
      this.names.map(async (n, i) => {
        const h = await this.tb.addHost(n, { ip: this.octets[i]! });
        this.hosts.set(n, h);
      }),
    );
    await Promise.all(this.names.map((n) => this.startMember(n)));
    await this.waitHealthy(timeoutMs);
  }

  /** Start (or restart, with its existing data) one member; boots its host first if it was killed. */
  async startMember(name: string): Promise<void> {
    const h = this.host(name);
    if (!(await h.running())) await h.start();
    if ((await this.pid(name)) > 0) return;
    await mkdir(h.dataDir, { recursive: true });
    await h.spawnDaemon(this.args(name), join(h.stateDir, 'etcd.log'), { GOMAXPROCS: '1' });
    await waitFor(`etcd ${name} process`, async () => (await this.pid(name)) > 0, 5000, 20);
    this.tb.log(`etcd ${name} started (pid ${await this.pid(name)})`);
  }

  /** Root-namespace PID of a member's etcd, 0 when not running. */
  async pid(name: string): Promise<number> {
    const h = this.host(name);
    if (!(await h.running())) return 0;
    const pids = await h.pidsOf((_cmd, comm) => comm === 'etcd');
    return pids[0] ?? 0;
  }

  /** SIGKILL one member's etcd process (its host stays up). */
  async killMember(name: string): Promise<void> {
    const pid = await this.pid(name);
    if (!pid) return;
    signalPid(pid, 'SIGKILL');
    await waitFor(`etcd ${name} dead`, async () => !(await pidAlive(pid)), 5000, 20);
    this.tb.log(`etcd ${name} killed`);
  }

  /** Cable pull on a member's host: the member loses peers and clients. */
  async isolateMember(name: string): Promise<void> {
    await this.host(name).isolate();
  }

  async healMember(name: string): Promise<void> {
    await this.host(name).healLink();
  }

  /** Per-endpoint status from `etcdctl endpoint status` (bounded). */
  async status(): Promise<MemberStatus[]> {
    const out: MemberStatus[] = [];
    await Promise.all(
      this.names.map(async (name) => {
        const ep = this.endpoint(name);
        const r = await run('etcdctl', ['--endpoints', ep, '--dial-timeout=500ms', '--command-timeout=1s', 'endpoint', 'status', '-w', 'simple'], {
          timeoutMs: 3000,
          env: { ...process.env, ETCDCTL_API: '3' },
        });
        // "http://10.232.0.11:2379, 8e9e05c52164694d, 3.4.23, 20 kB, true, false, 2, 8, 8, "
        const f = r.stdout.trim().split(',').map((s) => s.trim());
        if (r.code === 0 && f.length >= 7) out.push({ name, endpoint: ep, up: true, leader: f[4] === 'true', raftTerm: Number(f[6]) });
        else out.push({ name, endpoint: ep, up: false, leader: false });
      }),
    );
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The current leader's member name, or undefined. */
  async leader(): Promise<string | undefined> {
    return (await this.status()).find((s) => s.up && s.leader)?.name;
  }

  /** A member that is not the leader. */
  async follower(): Promise<string> {
    const st = await this.status();
    const f = st.find((s) => s.up && !s.leader);
    if (!f) throw new Error('no follower is up');
    return f.name;
  }

  async health(): Promise<boolean> {
    const r = await run('etcdctl', ['--endpoints', this.endpoints().join(','), '--dial-timeout=500ms', '--command-timeout=1s', 'endpoint', 'health'], {
      timeoutMs: 4000,
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    return r.code === 0;
  }

  /** Every member healthy and a leader elected. */
  async waitHealthy(timeoutMs = 30_000): Promise<string> {
    return waitFor(
      'etcd healthy with a leader',
      async () => {
        const st = await this.status();
        if (st.every((s) => s.up) && st.some((s) => s.leader)) return st.find((s) => s.leader)!.name;
        return undefined;
      },
      timeoutMs,
      200,
    );
  }

  /** etcdctl against the whole cluster (bounded). */
  async ctl(args: string[], timeoutMs = 3000) {
    return run('etcdctl', ['--endpoints', this.endpoints().join(','), '--dial-timeout=500ms', '--command-timeout=2s', ...args], {
      timeoutMs,
      env: { ...process.env, ETCDCTL_API: '3' },
    });
  }

  /** Quorum loss: kill all but one member (returns the killed ones, to restore). */
  async loseQuorum(keep?: string): Promise<string[]> {
    const keepName = keep ?? this.names[0]!;
    const victims = this.names.filter((n) => n !== keepName);
    await Promise.all(victims.map((n) => this.killMember(n)));
    return victims;
  }

  async regainQuorum(victims: string[], timeoutMs = 30_000): Promise<void> {
    await Promise.all(victims.map((n) => this.startMember(n)));
    await this.waitHealthy(timeoutMs);
  }
}
