// The outside invariant checker. It runs in the root namespace only and never enters a host (a
// command joining a frozen host's cgroup would freeze too). Sources:
//   floating IP, control plane: `ip -n <ns> -o -4 addr show` for every host of the testbed
//   floating IP, data plane:    `arping` from the root netns on the bridge, distinct MACs that answer
//   shared disk, per host:      /proc/<init>/mountinfo matched on maj:min of loop devices backed by the image
//   shared disk, kernel-wide:   /proc/fs/ext4/<loopN> (one directory per live ext4 superblock)
//   fencing token, storage:     the token the newest broker started under, from the file the
//                               queue-manager agent writes next to its data on the shared disk (read
//                               through /proc/<init>/root of a host that mounts it), against every
//                               live broker's own HA_FENCING_TOKEN (/proc/<pid>/environ) and its
//                               write count (/proc/<pid>/io wchar): a broker with an older token
//                               that writes after a newer one started is a violation
// Every violation is recorded with its time. Holder changes are recorded too (for recovery times).
import { readFile, access } from 'node:fs/promises';
import type { Testbed } from './testbed.js';
import { run, sleep } from './exec.js';

export type ViolationKind = 'vip-holders' | 'vip-arp' | 'disk-mounts' | 'disk-superblocks' | 'stale-token-write';

export interface Violation {
  /** Wall-clock time (ms since epoch) and ISO string. */
  at: number;
  iso: string;
  kind: ViolationKind;
  /** Who: host names, MACs or loop devices. */
  who: string[];
}

export interface Observation {
  at: number;
  vipHolders?: string[];
  diskHolders?: string[];
  arpMacs?: string[];
  /** The newest token a broker started under (the token file on the shared disk). */
  brokerToken?: string;
  /** Live brokers with an older token than that one: host:pid:token. */
  staleBrokers?: string[];
}

export interface CheckerOptions {
  /** Floating IPs to watch (without prefix length). */
  vips?: string[];
  /** Watch the testbed's shared disk image. */
  disk?: boolean;
  /** Poll interval of the control-plane and disk checks (50–100 ms). */
  intervalMs?: number;
  /** Pause between arping rounds. */
  arpPauseMs?: number;
  /** arping round deadline in seconds. */
  arpWaitS?: number;
  /** The broker's data directory as the hosts see it: watch the fencing token there. */
  brokerDataDir?: string;
}

/** The token file the queue-manager agent writes in its data directory ("TOKEN NODE"). */
export const BROKER_TOKEN_FILE = '.hactl-broker-token';

export class Checker {
  readonly violations: Violation[] = [];
  readonly observations: Observation[] = [];
  samples = 0;
  arpRounds = 0;
  errors = 0;
  private running = false;
  private loops: Promise<void>[] = [];
  private lastVip = new Map<string, string>();
  private lastDisk = '';
  private lastArp = new Map<string, string>();
  /** The newest broker token seen (tokens only grow: a file showing a smaller one is a stale start). */
  private newestToken: bigint | undefined;
  /** A stale broker's write count when it was first seen stale (pid -> wchar). */
  private staleWchar = new Map<number, bigint>();
  private lastStale = '';
  private readonly vips: string[];
  private readonly intervalMs: number;

  constructor(
    readonly tb: Testbed,
    readonly opts: CheckerOptions = {},
  ) {
    this.vips = opts.vips ?? [];
    this.intervalMs = Math.max(50, Math.min(100, opts.intervalMs ?? 75));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loops.push(this.pollLoop());
    for (const vip of this.vips) this.loops.push(this.arpLoop(vip));
    if (this.opts.brokerDataDir) this.loops.push(this.tokenLoop(this.opts.brokerDataDir));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.loops = [];
  }

  /** Violations since `sinceMs` (epoch ms). */
  violationsSince(sinceMs: number): Violation[] {
    return this.violations.filter((v) => v.at >= sinceMs);
  }

  summary(): Record<ViolationKind, number> {
    const s: Record<ViolationKind, number> = { 'vip-holders': 0, 'vip-arp': 0, 'disk-mounts': 0, 'disk-superblocks': 0, 'stale-token-write': 0 };
    for (const v of this.violations) s[v.kind]++;
    return s;
  }

  private record(kind: ViolationKind, who: string[]): void {
    const at = Date.now();
    this.violations.push({ at, iso: new Date(at).toISOString(), kind, who });
    this.tb.log(`checker: VIOLATION ${kind}: ${who.join(' ')}`);
  }

  private async pollLoop(): Promise<void> {
    while (this.running) {
      const t0 = Date.now();
      try {
        await this.checkOnce();
      } catch (err) {
        this.errors++;
        this.tb.log(`checker: ${(err as Error).message}`);
      }
      const left = this.intervalMs - (Date.now() - t0);
      if (left > 0) await sleep(left);
    }
  }

  /** One round of the control-plane VIP check and the disk checks. */
  async checkOnce(): Promise<void> {
    const hosts = [...this.tb.hosts.values()];
    const [vipHolders, disk] = await Promise.all([
      Promise.all(this.vips.map((vip) => this.vipHolders(vip, hosts))),
      this.opts.disk ? this.diskState(hosts) : Promise.resolve(undefined),
    ]);
    this.samples++;
    this.vips.forEach((vip, i) => {
      const holders = vipHolders[i]!;
      if (holders.length > 1) this.record('vip-holders', [vip, ...holders]);
      const key = holders.join(',');
      if (this.lastVip.get(vip) !== key) {
        this.lastVip.set(vip, key);
        this.observations.push({ at: Date.now(), vipHolders: holders });
      }
    });
    if (disk) {
      if (disk.mounts.length > 1) this.record('disk-mounts', disk.mounts);
      if (disk.superblocks.length > 1) this.record('disk-superblocks', disk.superblocks);
      const key = disk.mounts.join(',');
      if (key !== this.lastDisk) {
        this.lastDisk = key;
        this.observations.push({ at: Date.now(), diskHolders: disk.mounts });
      }
    }
  }

  /** Hosts whose netns has `vip` configured (ip -n, from outside). */
  async vipHolders(vip: string, hosts = [...this.tb.hosts.values()]): Promise<string[]> {
    const res = await Promise.all(
      hosts.map(async (h) => {
        const r = await run('ip', ['-n', h.ns, '-o', '-4', 'addr', 'show'], { timeoutMs: 2000 });
        return r.code === 0 && r.stdout.includes(` ${vip}/`) ? h.name : undefined;
      }),
    );
    return res.filter((x): x is string => x !== undefined);
  }

  /** Mounts of the shared disk per host (host:loopN) and live ext4 superblocks of our loops. */
  async diskState(hosts = [...this.tb.hosts.values()]): Promise<{ mounts: string[]; superblocks: string[] }> {
    const loops = await this.tb.imageLoops();
    const byMm = new Map(loops.map((l) => [l.majmin, l.dev]));
    const mounts: string[] = [];
    await Promise.all(
      hosts.map(async (h) => {
        if (!h.initPid) return;
        const mi = await readFile(`/proc/${h.initPid}/mountinfo`, 'utf8').catch(() => '');
        const seen = new Set<string>();
        for (const line of mi.split('\n')) {
          const mm = line.split(' ')[2];
          const dev = mm ? byMm.get(mm) : undefined;
          if (dev && !seen.has(dev)) {
            seen.add(dev);
            mounts.push(`${h.name}:${dev}`);
          }
        }
      }),
    );
    const superblocks: string[] = [];
    await Promise.all(
      loops.map(async (l) => {
        if (
          await access(`/proc/fs/ext4/${l.dev}`).then(
            () => true,
            () => false,
          )
        )
          superblocks.push(l.dev);
      }),
    );
    return { mounts: mounts.sort(), superblocks: superblocks.sort() };
  }

  /** Distinct MACs answering ARP for `vip` on the bridge (bounded arping). */
  async arpMacs(vip: string, count = 2, waitS = this.opts.arpWaitS ?? 1): Promise<string[]> {
    const r = await run('arping', ['-c', String(count), '-w', String(waitS), '-I', this.tb.bridge, vip], { timeoutMs: (waitS + 2) * 1000 });
    const macs = new Set<string>();
    for (const m of r.stdout.matchAll(/\[([0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5})\]/g)) macs.add(m[1]!.toLowerCase());
    return [...macs].sort();
  }

  private async arpLoop(vip: string): Promise<void> {
    while (this.running) {
      try {
        // -c 3: with two answering MACs, replies to the first request already show both
        const macs = await this.arpMacs(vip, 3);
        this.arpRounds++;
        if (macs.length > 1) this.record('vip-arp', [vip, ...macs.map((m) => this.macOwner(m))]);
        const key = macs.join(',');
        if (this.lastArp.get(vip) !== key) {
          this.lastArp.set(vip, key);
          this.observations.push({ at: Date.now(), arpMacs: macs.map((m) => this.macOwner(m)) });
        }
      } catch (err) {
        this.errors++;
        this.tb.log(`checker arp: ${(err as Error).message}`);
      }
      await sleep(this.opts.arpPauseMs ?? 50);
    }
  }

  private async tokenLoop(dataDir: string): Promise<void> {
    while (this.running) {
      try {
        await this.checkTokens(dataDir);
      } catch (err) {
        this.errors++;
        this.tb.log(`checker token: ${(err as Error).message}`);
      }
      await sleep(250);
    }
  }

  /** One round of the storage-layer fencing-token check. */
  async checkTokens(dataDir: string): Promise<void> {
    const hosts = [...this.tb.hosts.values()].filter((h) => h.initPid > 0);
    for (const h of hosts) {
      const txt = await readFile(`/proc/${h.initPid}/root${dataDir}/${BROKER_TOKEN_FILE}`, 'utf8').catch(() => '');
      const m = /^(\d{1,20}) /.exec(txt);
      if (m && (this.newestToken === undefined || BigInt(m[1]!) > this.newestToken)) this.newestToken = BigInt(m[1]!);
    }
    if (this.newestToken === undefined) return;
    const stale: string[] = [];
    const seen = new Set<number>();
    for (const h of hosts) {
      for (const pid of await h.pidsOf((_cmd, comm) => comm === 'java')) {
        const env = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
        const tok = /(?:^|\0)HA_FENCING_TOKEN=(\d{1,20})(?:\0|$)/.exec(env)?.[1];
        if (tok === undefined || BigInt(tok) >= this.newestToken) continue;
        const io = await readFile(`/proc/${pid}/io`, 'utf8').catch(() => '');
        const wchar = /^wchar: (\d+)$/m.exec(io)?.[1];
        if (wchar === undefined) continue; // gone meanwhile
        seen.add(pid);
        stale.push(`${h.name}:${pid}:${tok}`);
        const before = this.staleWchar.get(pid);
        if (before === undefined) this.staleWchar.set(pid, BigInt(wchar));
        else if (BigInt(wchar) > before) {
          this.record('stale-token-write', [`${h.name}`, `broker pid ${pid} token ${tok} wrote ${BigInt(wchar) - before} bytes after token ${this.newestToken} started`]);
          this.staleWchar.set(pid, BigInt(wchar));
        }
      }
    }
    for (const pid of this.staleWchar.keys()) if (!seen.has(pid)) this.staleWchar.delete(pid);
    const key = `${this.newestToken}|${stale.join(',')}`;
    if (key !== this.lastStale) {
      this.lastStale = key;
      this.observations.push({ at: Date.now(), brokerToken: String(this.newestToken), staleBrokers: stale });
    }
  }

  private macOwner(mac: string): string {
    for (const h of this.tb.hosts.values()) if (h.mac === mac) return `${h.name}(${mac})`;
    return mac;
  }
}
