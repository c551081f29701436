// A 3-member etcd cluster on testbed hosts e1..e3 (own namespace hosts), tuned for short leases as
// SPEC §2 asks: --pre-vote=true --grpc-keepalive-min-time=500ms --heartbeat-interval=50
// --election-timeout=500. Faults: kill a member (the leader too), isolate one, lose and regain quorum.
import { join } from 'node:path';
import { mkdir, rmdir, writeFile } from 'node:fs/promises';
import type { Host, Testbed } from './testbed.js';
import { run, runOk, waitFor, signalPid, pidAlive } from './exec.js';

export interface EtcdOptions {
  names?: string[];
  /** Last octets of the members' addresses (default 11, 12, 13). */
  octets?: number[];
  heartbeatMs?: number;
  electionMs?: number;
  /**
   * Co-located: the members run on hosts made by the caller (the agent hosts), whose boot script
   * starts the member (`bootCommand`), so a rebooted host brings its member back as a real one would.
   */
  colocated?: boolean;
  /**
   * Each member's data directory on a loop device of its own (an ext4 image under the testbed
   * root), so that `throttle` can slow its commits down (blkio write limits on that device).
   */
  loopDisks?: boolean;
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
  readonly colocated: boolean;
  private readonly loopDisks: boolean;
  /** The loop device (maj:min) each member's data directory is on, with loopDisks. */
  private readonly disks = new Map<string, string>();

  constructor(
    readonly tb: Testbed,
    opts: EtcdOptions = {},
  ) {
    this.names = opts.names ?? ['e1', 'e2', 'e3'];
    this.octets = opts.octets ?? [11, 12, 13];
    this.hb = opts.heartbeatMs ?? 50;
    this.et = opts.electionMs ?? 500;
    this.colocated = opts.colocated ?? false;
    this.loopDisks = opts.loopDisks ?? false;
  }

  /** The member's data directory (inside its host's state directory, as Host.dataDir). */
  private dataDir(name: string): string {
    return join(this.tb.root, 'hosts', name, 'data', 'etcd');
  }

  /** Shell text that starts the member in the background (a co-located host's boot script). */
  bootCommand(name: string, logFile: string): string {
    const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
    return `GOMAXPROCS=1 ${this.args(name).map(q).join(' ')} >>${q(logFile)} 2>&1 &\n`;
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
    const cluster = this.names.map((n) => `${n}=http://${this.ip(n)}:2380`).join(',');
    return [
      '/usr/bin/etcd',
      '--name', name,
      '--data-dir', this.dataDir(name),
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
    if (this.colocated) throw new Error('co-located members start with their hosts: adopt() them');
    await this.mountDisks();
    await Promise.all(
      this.names.map(async (n, i) => {
        const h = await this.tb.addHost(n, { ip: this.octets[i]! });
        this.hosts.set(n, h);
      }),
    );
    await Promise.all(this.names.map((n) => this.startMember(n)));
    await this.waitHealthy(timeoutMs);
  }

  /**
   * Before the hosts boot: each member's data directory on an ext4 loop device of its own, mounted
   * in the root mount namespace (the hosts' namespaces are copies of it made at boot). Teardown:
   * the testbed's cleanup unmounts everything under its root and detaches loops backed by its files.
   */
  async mountDisks(): Promise<void> {
    if (this.loopDisks) for (const n of this.names) await this.mountDisk(n);
  }

  private async mountDisk(name: string): Promise<void> {
    const img = join(this.tb.root, 'etcd-disks', `${name}.img`);
    await mkdir(join(this.tb.root, 'etcd-disks'), { recursive: true });
    // etcd preallocates 64 MB WAL segments
    await runOk('truncate', ['-s', '512M', img]);
    await runOk('mkfs.ext4', ['-q', '-F', img], { timeoutMs: 30_000 });
    const dev = (await runOk('losetup', ['-f', '--show', img])).trim();
    await mkdir(this.dataDir(name), { recursive: true });
    await runOk('mount', [dev, this.dataDir(name)]);
    const majmin = (await runOk('cat', [`/sys/block/${dev.replace('/dev/', '')}/dev`])).trim();
    this.disks.set(name, majmin);
  }

  /** Co-located: the members' hosts, booted by the caller with `bootCommand` in their boot script. */
  async adopt(hosts: Host[], timeoutMs = 30_000): Promise<void> {
    for (const h of hosts) this.hosts.set(h.name, h);
    await this.waitHealthy(timeoutMs);
  }

  /** Start (or restart, with its existing data) one member; boots its host first if it was killed. */
  async startMember(name: string): Promise<void> {
    const h = this.host(name);
    if (!(await h.running())) await h.start();
    // a co-located host's boot script starts its member: give it the time to
    if (this.colocated) await waitFor(`etcd ${name} started by its host's boot`, async () => (await this.pid(name)) > 0, 5000, 50).catch(() => undefined);
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

  /** SIGSTOP (a process pause, e.g. a long GC or a stalled VM) or SIGCONT one member's etcd. */
  async pauseMember(name: string, pause: boolean): Promise<void> {
    const pid = await this.pid(name);
    if (!pid) throw new Error(`etcd ${name} is not running`);
    signalPid(pid, pause ? 'SIGSTOP' : 'SIGCONT');
    this.tb.log(`etcd ${name} ${pause ? 'paused' : 'continued'}`);
  }

  /**
   * Slow commits: the member's etcd in a blkio cgroup of its own that limits writes to its data
   * device (loopDisks) to `writeIops` per second; undo with `unthrottle`. A cgroup-v1 blkio
   * limit counts the bios the task submits itself: etcd's WAL fdatasync, so every commit.
   */
  async throttle(name: string, writeIops: number, writeBps = 256 * 1024): Promise<void> {
    const majmin = this.disks.get(name);
    if (!majmin) throw new Error('throttle needs the members on loop disks (loopDisks)');
    const cg = this.blkioCgroup(name);
    await mkdir(cg, { recursive: true });
    await writeFile(join(cg, 'blkio.throttle.write_iops_device'), `${majmin} ${writeIops}`);
    await writeFile(join(cg, 'blkio.throttle.write_bps_device'), `${majmin} ${writeBps}`);
    const pid = await this.pid(name);
    if (pid) await writeFile(join(cg, 'cgroup.procs'), String(pid));
    this.tb.log(`etcd ${name} throttled to ${writeIops} writes/s on ${majmin}`);
  }

  async unthrottle(name: string): Promise<void> {
    const cg = this.blkioCgroup(name);
    const pid = await this.pid(name);
    // back to the root blkio group, then the group can go
    if (pid) await writeFile('/sys/fs/cgroup/blkio/cgroup.procs', String(pid)).catch(() => undefined);
    await rmdir(cg).catch(() => undefined);
  }

  /** Named like the testbed's cgroups (`<prefix>-...`), so the testbed's cleanup removes it too. */
  private blkioCgroup(name: string): string {
    return join('/sys/fs/cgroup/blkio', `${this.tb.prefix}-${name}-io`);
  }

  /** The member's hex ID (`etcdctl member list`). */
  async memberId(name: string): Promise<string> {
    const r = await this.ctl(['member', 'list', '-w', 'simple']);
    const line = r.stdout.split('\n').find((l) => l.split(',')[2]?.trim() === name);
    if (!line) throw new Error(`etcd member ${name} not in the member list`);
    return line.split(',')[0]!.trim();
  }

  /**
   * Leadership handed to `to` (`etcdctl move-leader`, sent to the current leader). `known`: the
   * leader and `to`'s ID looked up beforehand, so that only the move itself is left to do.
   */
  async moveLeader(to: string, known?: { from: string; id: string }): Promise<void> {
    const from = known?.from ?? (await this.leader());
    if (!from) throw new Error('no etcd leader');
    if (from === to) return;
    const id = known?.id ?? (await this.memberId(to));
    const r = await run('etcdctl', ['--endpoints', this.endpoint(from), '--dial-timeout=500ms', '--command-timeout=3s', 'move-leader', id], {
      timeoutMs: 5000,
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    if (r.code !== 0) throw new Error(`etcdctl move-leader ${to}: ${(r.stderr || r.stdout).trim().slice(0, 200)}`);
    this.tb.log(`etcd leader moved ${from} -> ${to}`);
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
