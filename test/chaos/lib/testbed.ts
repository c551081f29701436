// The chaos testbed: namespace "hosts" on a Linux bridge, with the faults the chaos suite injects.
//
// A host is a network namespace (veth `eth0` inside, the other end on the bridge) plus new PID,
// mount, UTS and IPC namespaces, and all its processes sit in a freezer cgroup of their own. Its
// PID 1 is a small bash init (written below) that sets the hostname, mounts a private tmpfs on /run
// (resource agents keep state there), links the host's own loop device of the shared disk to
// /run/hactl-cx/disk, runs the host's boot script and reaps orphans. Every host has a private
// state directory (`<root>/hosts/<name>/`, with `data/` for the agent's dataDir).
//
// Names: netns and cgroups `<prefix>-<host>`, bridge `hactlcxbr0`, veths `hactlcx<host>` (<= 15
// chars), files and mount points under /tmp/<prefix>/. Addresses only in the testbed subnet.
// Everything is stopped by PID (the host's init, or the PIDs of our own cgroups and namespaces).
//
// Every namespace testbed of the project has a /24 of its own, so any of them can run beside any
// other: 10.231 resource agents (hactl-ra), 10.232 this default (hactl-cx: self-tests), 10.233
// compat (hactl-cp), 10.234 chaos subset (hactl-cs), 10.235 chaos runner (hactl-cr), 10.236
// fencing tests and bench (hactl-fx), 10.237 the runner's second bed (hactl-cn), 10.238 nspawn
// (hactl-ns), 10.239 the TLS walkthrough (hactl-wk). A new testbed takes a new one.
import { mkdir, readFile, readdir, rm, rmdir, stat, writeFile, access, open } from 'node:fs/promises';
import { constants as fsc, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { run, runOk, waitFor, pidAlive, signalPid } from './exec.js';

export const DEFAULT_PREFIX = 'hactl-cx';
export const DEFAULT_SUBNET = '10.232.0.0/24';
export const DEFAULT_BRIDGE = 'hactlcxbr0';

export interface TestbedOptions {
  prefix?: string;
  /** A /24 (the testbed uses .1 for the bridge/observer, hosts get addresses from the caller). */
  subnet?: string;
  bridge?: string;
  /** Where state, images and logs go (default /tmp/<prefix>). */
  root?: string;
  log?: (msg: string) => void;
}

export interface HostOptions {
  /** Last octet or full address inside the subnet. */
  ip: string | number;
  /** Shell text run by the host's init at boot (as systemd would start the agent). */
  boot?: string;
  /** Give the host its own loop device on the shared disk image (createDisk first). */
  disk?: boolean;
}

export type Direction = 'both' | 'in' | 'out';

type FreezerKind = { kind: 'v1'; base: string } | { kind: 'v2'; base: string };

function detectFreezer(): FreezerKind {
  if (existsSync('/sys/fs/cgroup/freezer/cgroup.procs')) return { kind: 'v1', base: '/sys/fs/cgroup/freezer' };
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) return { kind: 'v2', base: '/sys/fs/cgroup' };
  if (existsSync('/sys/fs/cgroup/unified/cgroup.controllers')) return { kind: 'v2', base: '/sys/fs/cgroup/unified' };
  throw new Error('no freezer: neither cgroup v1 freezer nor cgroup2 found');
}

/** Every cgroup location a testbed of this prefix may have created (for cleanup). */
function cgroupBases(): string[] {
  // (blkio: the slow-commit fault's write limits on an etcd member, lib/etcd.ts)
  return ['/sys/fs/cgroup/freezer', '/sys/fs/cgroup/unified', '/sys/fs/cgroup', '/sys/fs/cgroup/systemd', '/sys/fs/cgroup/blkio'].filter((b) =>
    existsSync(b),
  );
}

const INIT_SCRIPT = `#!/bin/bash
# PID 1 of a hactl-cx testbed host (new PID/mount/UTS/IPC namespaces, inside the host's netns).
# Args: NAME STATE_DIR. Signals sent from inside the host are ignored; SIGKILL from outside ends it.
n=$1 st=$2
trap '' TERM INT HUP QUIT USR1 USR2
hostname "$n"
mount -t tmpfs -o mode=0755,size=64m hactl-cx-run /run || echo "init: tmpfs on /run failed"
mkdir -p /run/lock /run/hactl-cx
if [ -s "$st/disk" ]; then ln -sf "$(cat "$st/disk")" /run/hactl-cx/disk; fi
echo "[$(date +%T.%N)] $n: init $$ booted"
: > "$st/booted"
if [ -s "$st/boot" ]; then /bin/bash "$st/boot" </dev/null >>"$st/boot.log" 2>&1 & fi
while :; do
  wait -n 2>/dev/null
  [ $? -eq 127 ] && sleep 1
done
`;

/** A fixed, locally administered MAC per address (a restarted host keeps its MAC, as hardware does). */
function macFor(ip: string): string {
  return `02:cc:${ip.split('.').map((x) => Number(x).toString(16).padStart(2, '0')).join(':')}`;
}

export class Host {
  readonly ns: string;
  readonly veth: string;
  readonly mac: string;
  readonly stateDir: string;
  readonly dataDir: string;
  readonly cgroup: string;
  initPid = 0;
  /** The `unshare` process (our child) whose only child is the init. */
  private launcher: ChildProcess | undefined;
  loopDevice: string | undefined;
  boot: string | undefined;

  constructor(
    readonly tb: Testbed,
    readonly name: string,
    readonly ip: string,
  ) {
    this.ns = `${tb.prefix}-${name}`;
    this.veth = `${tb.ifPrefix}${name}`;
    if (this.veth.length > 15) throw new Error(`interface name ${this.veth} longer than 15 characters: use a shorter host name`);
    this.mac = macFor(ip);
    this.stateDir = join(tb.root, 'hosts', name);
    this.dataDir = join(this.stateDir, 'data');
    this.cgroup = join(tb.freezer.base, this.ns);
  }

  private log(msg: string): void {
    this.tb.log(`[${this.name}] ${msg}`);
  }

  /** Network namespace + veth on the bridge (idempotent: reuses an existing netns). */
  async netUp(): Promise<void> {
    const list = await runOk('ip', ['netns', 'list']);
    if (list.split('\n').some((l) => l.split(' ')[0] === this.ns)) {
      if ((await run('ip', ['link', 'show', this.veth])).code === 0) return;
      await runOk('ip', ['netns', 'del', this.ns]);
    }
    await run('ip', ['link', 'del', this.veth]);
    await runOk('ip', ['netns', 'add', this.ns]);
    await runOk('ip', ['link', 'add', this.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.ns, 'address', this.mac]);
    await runOk('ip', ['link', 'set', this.veth, 'master', this.tb.bridge, 'up']);
    await runOk('ip', ['-n', this.ns, 'link', 'set', 'lo', 'up']);
    await runOk('ip', ['-n', this.ns, 'addr', 'add', `${this.ip}/${this.tb.prefixLen}`, 'dev', 'eth0']);
    await runOk('ip', ['-n', this.ns, 'link', 'set', 'eth0', 'up']);
    await run('ip', ['netns', 'exec', this.ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  }

  /** Boot the host: netns (if absent), cgroup, and PID 1 in fresh PID/mount/UTS/IPC namespaces. */
  async start(): Promise<void> {
    if (this.initPid && (await pidAlive(this.initPid))) throw new Error(`host ${this.name} is already running`);
    await mkdir(this.dataDir, { recursive: true });
    await writeFile(join(this.stateDir, 'init.sh'), INIT_SCRIPT, { mode: 0o755 });
    await writeFile(join(this.stateDir, 'boot'), this.boot ?? '');
    await writeFile(join(this.stateDir, 'disk'), this.loopDevice ?? '');
    await rm(join(this.stateDir, 'booted'), { force: true });
    await this.netUp();
    await mkdir(this.cgroup, { recursive: true });
    await this.thaw();
    const console = await open(join(this.stateDir, 'console.log'), 'a');
    try {
      // sh joins the cgroup first, so that everything the host ever forks is in it, then becomes
      // `ip netns exec ... unshare`, whose forked child is the host's init.
      const child = spawn(
        'sh',
        [
          '-c',
          'echo $$ > "$0" && exec ip netns exec "$1" unshare --fork --pid --mount-proc --mount --uts --ipc --propagation private -- /bin/bash "$2" "$3" "$4"',
          join(this.cgroup, 'cgroup.procs'),
          this.ns,
          join(this.stateDir, 'init.sh'),
          this.name,
          this.stateDir,
        ],
        { detached: true, stdio: ['ignore', console.fd, console.fd], env: hostEnv() },
      );
      child.on('error', (err) => this.log(`launcher error: ${err.message}`));
      child.unref();
      this.launcher = child;
    } finally {
      await console.close();
    }
    const launcherPid = this.launcher.pid ?? 0;
    this.initPid = await waitFor(
      `init of host ${this.name}`,
      async () => {
        const kids = await readFile(`/proc/${launcherPid}/task/${launcherPid}/children`, 'utf8').catch(() => '');
        const pid = Number(kids.trim().split(/\s+/)[0]);
        return pid > 0 ? pid : undefined;
      },
      5000,
      10,
    );
    await waitFor(`host ${this.name} booted`, () => access(join(this.stateDir, 'booted')).then(() => true), 5000, 10);
    this.log(`up: init ${this.initPid}, ${this.ip}, ${this.mac}${this.loopDevice ? `, disk ${this.loopDevice}` : ''}`);
  }

  /** PIDs (root PID namespace) of every process of the host, from its cgroup. */
  async pids(): Promise<number[]> {
    const txt = await readFile(join(this.cgroup, 'cgroup.procs'), 'utf8').catch(() => '');
    return txt
      .split('\n')
      .map(Number)
      .filter((p) => p > 0);
  }

  /** PIDs of the host's processes whose /proc/PID/comm equals `comm` (or whose cmdline contains it). */
  async pidsOf(match: string | ((cmdline: string, comm: string) => boolean)): Promise<number[]> {
    const out: number[] = [];
    for (const pid of await this.pids()) {
      if (pid === this.initPid || pid === this.launcher?.pid) continue;
      const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ').trim();
      if (!comm) continue;
      const ok = typeof match === 'string' ? comm === match || cmdline.includes(match) : match(cmdline, comm);
      if (ok && (await pidAlive(pid))) out.push(pid);
    }
    return out;
  }

  async running(): Promise<boolean> {
    return this.initPid > 0 && (await pidAlive(this.initPid));
  }

  private nsenterArgs(): string[] {
    return ['-t', String(this.initPid), '-n', '-m', '-u', '-i', '-p', '--wd=/', '--'];
  }

  /**
   * Run a command inside the host (all its namespaces and its cgroup) and wait for it. On a frozen
   * host the command freezes too: observers must use `ip -n` or /proc instead.
   */
  async exec(argv: string[], timeoutMs = 10_000, input?: string) {
    if (!(await this.running())) throw new Error(`host ${this.name} is not running`);
    if (await this.frozen()) throw new Error(`host ${this.name} is frozen: exec would hang (observe with ip -n or /proc)`);
    return run('sh', ['-c', 'echo $$ > "$0" && shift && exec nsenter "$@"', join(this.cgroup, 'cgroup.procs'), 'x', ...this.nsenterArgs(), ...argv], {
      timeoutMs,
      input,
    });
  }

  async execOk(argv: string[], timeoutMs = 10_000): Promise<string> {
    const r = await this.exec(argv, timeoutMs);
    if (r.code !== 0) throw new Error(`[${this.name}] ${argv.join(' ')}: exit ${r.code}: ${r.stderr.trim().slice(0, 400)}`);
    return r.stdout;
  }

  /** Start a daemon inside the host, detached and re-parented to the host's init; output to `logFile`. */
  async spawnDaemon(argv: string[], logFile: string, env: Record<string, string> = {}): Promise<void> {
    if (!(await this.running())) throw new Error(`host ${this.name} is not running`);
    if (await this.frozen()) throw new Error(`host ${this.name} is frozen`);
    const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    const fh = await open(logFile, 'a');
    try {
      const child = spawn(
        'sh',
        ['-c', 'echo $$ > "$0" && shift && exec nsenter "$@"', join(this.cgroup, 'cgroup.procs'), 'x', ...this.nsenterArgs(), 'setsid', '-f', 'env', ...envArgs, ...argv],
        { stdio: ['ignore', fh.fd, fh.fd], env: hostEnv() },
      );
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`[${this.name}] spawn ${argv[0]}: launcher did not exit`)), 5000);
        child.on('error', (e) => {
          clearTimeout(t);
          reject(e);
        });
        child.on('exit', (code) => {
          clearTimeout(t);
          if (code === 0) resolve();
          else reject(new Error(`[${this.name}] spawn ${argv[0]}: exit ${code}`));
        });
      });
    } finally {
      await fh.close();
    }
  }

  /**
   * Start a command inside the host as our own child (through nsenter), with pipes, for workload
   * processes we talk to. `innerPid()` finds the real process (nsenter's child).
   */
  spawnAttached(argv: string[], env: Record<string, string> = {}): ChildProcess {
    if (!this.initPid) throw new Error(`host ${this.name} is not running`);
    const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    return spawn('sh', ['-c', 'echo $$ > "$0" && shift && exec nsenter "$@"', join(this.cgroup, 'cgroup.procs'), 'x', ...this.nsenterArgs(), 'env', ...envArgs, ...argv], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: hostEnv(),
    });
  }

  /** Kill one process of this host by its root-namespace PID. */
  async killPid(pid: number, sig: NodeJS.Signals = 'SIGKILL', waitMs = 5000): Promise<void> {
    const mine = await this.pids();
    if (!mine.includes(pid)) throw new Error(`pid ${pid} is not a process of host ${this.name}`);
    signalPid(pid, sig);
    if (sig === 'SIGKILL' && (await this.frozen())) return; // stays pending until thawed
    await waitFor(`pid ${pid} gone`, async () => !(await pidAlive(pid)), waitMs, 20);
  }

  async frozen(): Promise<boolean> {
    if (this.tb.freezer.kind === 'v1') {
      const s = await readFile(join(this.cgroup, 'freezer.state'), 'utf8').catch(() => 'THAWED');
      return s.trim() !== 'THAWED';
    }
    const s = await readFile(join(this.cgroup, 'cgroup.freeze'), 'utf8').catch(() => '0');
    return s.trim() === '1';
  }

  /** Freeze every process of the host (userspace hang; the kernel still answers ARP/ping). */
  async freeze(): Promise<void> {
    if (this.tb.freezer.kind === 'v1') {
      await writeFile(join(this.cgroup, 'freezer.state'), 'FROZEN');
      await waitFor(`${this.name} frozen`, async () => (await readFile(join(this.cgroup, 'freezer.state'), 'utf8')).trim() === 'FROZEN', 5000, 10);
    } else {
      await writeFile(join(this.cgroup, 'cgroup.freeze'), '1');
      await waitFor(`${this.name} frozen`, async () => /frozen 1/.test(await readFile(join(this.cgroup, 'cgroup.events'), 'utf8')), 5000, 10);
    }
    this.log('frozen');
  }

  async thaw(): Promise<void> {
    if (!existsSync(this.cgroup)) return;
    if (!(await this.frozen())) return;
    if (this.tb.freezer.kind === 'v1') {
      await writeFile(join(this.cgroup, 'freezer.state'), 'THAWED');
      await waitFor(`${this.name} thawed`, async () => (await readFile(join(this.cgroup, 'freezer.state'), 'utf8')).trim() === 'THAWED', 5000, 10);
    } else {
      await writeFile(join(this.cgroup, 'cgroup.freeze'), '0');
    }
    this.log('thawed');
  }

  /**
   * Crash the whole host: SIGKILL its init (the kernel kills the whole PID namespace; a kill queued
   * on a frozen host is delivered by thawing afterwards, so no host code runs in between), then,
   * unless keepNet, delete the netns so that the dead host answers nothing (no ARP, no RST, no VIP).
   */
  async kill(opts: { keepNet?: boolean } = {}): Promise<void> {
    if (this.initPid) signalPid(this.initPid, 'SIGKILL');
    await this.thaw().catch(() => undefined);
    const gone = async () => {
      const left = [];
      for (const p of await this.pids()) if (await pidAlive(p)) left.push(p);
      return left.length === 0;
    };
    try {
      await waitFor(`host ${this.name} processes gone`, gone, 5000, 20);
    } catch {
      // should not happen (everything is in the PID namespace); kill stragglers of our cgroup by PID
      for (const p of await this.pids()) signalPid(p, 'SIGKILL');
      await waitFor(`host ${this.name} processes gone`, gone, 3000, 20);
    }
    this.initPid = 0;
    this.launcher = undefined;
    await rm(join(this.stateDir, 'booted'), { force: true });
    if (!opts.keepNet) await this.netDown();
    this.log(`killed${opts.keepNet ? ' (netns kept)' : ''}`);
  }

  async netDown(): Promise<void> {
    await run('ip', ['netns', 'del', this.ns]);
    // netns teardown is asynchronous: wait for the bridge port to go
    await waitFor(`${this.veth} gone`, async () => (await run('ip', ['link', 'show', this.veth])).code !== 0, 5000, 20).catch(async () => {
      await run('ip', ['link', 'del', this.veth]);
    });
  }

  /** Restart a killed (or running) host with the same name, MAC, IP, disk and boot script. */
  async restart(): Promise<void> {
    if (await this.running()) await this.kill();
    await this.start();
  }

  /** Cable pull: the bridge-side veth goes down; the host loses everyone, including etcd. */
  async isolate(): Promise<void> {
    await runOk('ip', ['link', 'set', this.veth, 'down']);
    this.log('link down');
  }

  async healLink(): Promise<void> {
    await runOk('ip', ['link', 'set', this.veth, 'up']);
    this.log('link up');
  }

  /** Drop IPv4 traffic to and/or from the given addresses with nftables inside the host's netns. */
  async block(addrs: string[], dir: Direction = 'both'): Promise<void> {
    if (addrs.length === 0) return;
    for (const a of addrs) if (!/^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(a)) throw new Error(`not an IPv4 address: ${a}`);
    const set = addrs.join(', ');
    let rules = '';
    if (dir !== 'out') rules += `  chain in { type filter hook input priority -10; policy accept; ip saddr { ${set} } drop; }\n`;
    if (dir !== 'in') rules += `  chain out { type filter hook output priority -10; policy accept; ip daddr { ${set} } drop; }\n`;
    const script = `table inet hactl_cx_fault\ndelete table inet hactl_cx_fault\ntable inet hactl_cx_fault {\n${rules}}\n`;
    await runOk('ip', ['netns', 'exec', this.ns, 'nft', '-f', '-'], { input: script });
    this.log(`blocked ${dir} ${set}`);
  }

  async unblock(): Promise<void> {
    await run('ip', ['netns', 'exec', this.ns, 'nft', 'delete', 'table', 'inet', 'hactl_cx_fault']);
    this.log('unblocked');
  }

  /** Random inbound loss (there is no netem in the test kernel; nft numgen instead). */
  async loss(percent: number): Promise<void> {
    const p = Math.max(0, Math.min(100, Math.round(percent)));
    const script = `table inet hactl_cx_loss\ndelete table inet hactl_cx_loss\ntable inet hactl_cx_loss {\n  chain in { type filter hook input priority -20; policy accept; iifname "eth0" numgen random mod 100 < ${p} drop; }\n}\n`;
    await runOk('ip', ['netns', 'exec', this.ns, 'nft', '-f', '-'], { input: script });
  }

  async noLoss(): Promise<void> {
    await run('ip', ['netns', 'exec', this.ns, 'nft', 'delete', 'table', 'inet', 'hactl_cx_loss']);
  }

  /** Full teardown of this host: processes, netns, cgroup, state directory (unless keepState). */
  async destroy(keepState = false): Promise<void> {
    await this.kill().catch((e: Error) => this.log(`kill during destroy: ${e.message}`));
    await run('ip', ['link', 'del', this.veth]);
    await rmCgroup(this.cgroup);
    if (!keepState) await rm(this.stateDir, { recursive: true, force: true });
  }
}

/** The environment host processes get: ours, minus what `node --test` sets for its own children. */
function hostEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  return env;
}

async function rmCgroup(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) if (e.isDirectory()) await rmCgroup(join(dir, e.name));
  await waitFor(`cgroup ${dir} removed`, async () => {
    try {
      await rmdir(dir);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ENOENT';
    }
  }, 3000, 50).catch(() => undefined);
}

const liveTestbeds = new Set<Testbed>();
let handlersInstalled = false;

/** SIGINT/SIGTERM: tear every live testbed down, then exit. Installed once per process. */
export function installSignalCleanup(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  let busy = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (busy) return;
    busy = true;
    process.stderr.write(`\nhactl-cx: ${sig}: tearing the testbed down\n`);
    const all = [...liveTestbeds].map((tb) => tb.destroy().catch(() => undefined));
    const hard = setTimeout(() => process.exit(sig === 'SIGINT' ? 130 : 143), 20_000);
    hard.unref();
    void Promise.all(all).finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
}

export class Testbed {
  readonly prefix: string;
  readonly bridge: string;
  readonly root: string;
  readonly ifPrefix: string;
  readonly net: string; // first three octets
  readonly prefixLen = 24;
  readonly bridgeIp: string;
  readonly freezer: FreezerKind;
  readonly hosts = new Map<string, Host>();
  readonly log: (msg: string) => void;
  /** The shared disk image (createDisk). */
  image: string | undefined;
  readonly mountDir: string;

  constructor(opts: TestbedOptions = {}) {
    this.prefix = opts.prefix ?? DEFAULT_PREFIX;
    if (!/^[a-z][a-z0-9-]{1,15}$/.test(this.prefix)) throw new Error(`bad prefix ${this.prefix}`);
    this.bridge = opts.bridge ?? DEFAULT_BRIDGE;
    if (this.bridge.length > 15) throw new Error(`bridge name ${this.bridge} longer than 15 characters`);
    this.ifPrefix = this.prefix.replace(/-/g, '');
    this.root = opts.root ?? `/tmp/${this.prefix}`;
    const subnet = opts.subnet ?? DEFAULT_SUBNET;
    const m = /^(\d+\.\d+\.\d+)\.0\/24$/.exec(subnet);
    if (!m) throw new Error(`subnet must be a /24 ending in .0: ${subnet}`);
    this.net = m[1]!;
    this.bridgeIp = `${this.net}.1`;
    this.freezer = detectFreezer();
    this.mountDir = join(this.root, 'mnt');
    const t0 = Date.now();
    this.log =
      opts.log ??
      ((msg: string) => {
        if (process.env.HACTL_CX_VERBOSE) process.stderr.write(`[cx +${((Date.now() - t0) / 1000).toFixed(2)}s] ${msg}\n`);
      });
  }

  addr(ip: string | number): string {
    const s = String(ip);
    const full = /^\d+$/.test(s) ? `${this.net}.${s}` : s;
    if (!full.startsWith(`${this.net}.`)) throw new Error(`${full} is outside the testbed subnet ${this.net}.0/24`);
    return full;
  }

  /** Bridge (with the observer address) and state directories. Cleans leftovers of a crashed run first. */
  async up(): Promise<void> {
    liveTestbeds.add(this);
    await cleanupAll(this.prefix, { bridge: this.bridge, root: this.root, log: this.log });
    await mkdir(join(this.root, 'hosts'), { recursive: true });
    await mkdir(this.mountDir, { recursive: true });
    if ((await run('ip', ['link', 'show', this.bridge])).code !== 0) {
      // A fixed MAC: a bridge left to itself takes the lowest MAC of its ports and changes it as
      // hosts come and go, and every host's ARP entry for the observer address (the power switch)
      // then points nowhere until it times out — a fence after a host kill hung for 8 s on that.
      await runOk('ip', ['link', 'add', this.bridge, 'address', macFor(this.bridgeIp), 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
      await runOk('ip', ['addr', 'add', `${this.bridgeIp}/${this.prefixLen}`, 'dev', this.bridge]);
      await runOk('ip', ['link', 'set', this.bridge, 'up']);
    }
    this.log(`bridge ${this.bridge} ${this.bridgeIp}/24, freezer ${this.freezer.kind}`);
  }

  /** Create (and boot) a host. */
  async addHost(name: string, opts: HostOptions): Promise<Host> {
    if (!/^[A-Za-z0-9]+$/.test(name)) throw new Error(`bad host name ${name}`);
    if (this.hosts.has(name)) throw new Error(`host ${name} exists`);
    const h = new Host(this, name, this.addr(opts.ip));
    h.boot = opts.boot;
    this.hosts.set(name, h);
    await mkdir(h.dataDir, { recursive: true });
    if (opts.disk) h.loopDevice = await this.attachLoop();
    await h.start();
    return h;
  }

  host(name: string): Host {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no host ${name}`);
    return h;
  }

  /** The shared disk: an ext4 image; each host later gets its own loop device on it. */
  async createDisk(sizeMb = 64, dirs: string[] = []): Promise<string> {
    await mkdir(join(this.root, 'disk'), { recursive: true });
    const img = join(this.root, 'disk', 'shared.img');
    await rm(img, { force: true });
    await runOk('truncate', ['-s', `${sizeMb}M`, img]);
    // directories the service expects on a provisioned disk (e.g. the broker's data dir): mkfs -d
    const seed = join(this.root, 'disk', 'seed');
    await rm(seed, { recursive: true, force: true });
    await mkdir(seed, { recursive: true });
    for (const d of dirs) await mkdir(join(seed, d), { recursive: true });
    await runOk('mkfs.ext4', ['-q', '-F', '-L', 'hactlcx', '-d', seed, img], { timeoutMs: 30_000 });
    this.image = img;
    return img;
  }

  async attachLoop(): Promise<string> {
    if (!this.image) throw new Error('createDisk first');
    const dev = (await runOk('losetup', ['-f', '--show', this.image])).trim();
    this.log(`loop ${dev} -> ${this.image}`);
    return dev;
  }

  /** Loop devices (names like loop5) whose backing file is our image, read from /sys. */
  async imageLoops(): Promise<{ dev: string; majmin: string }[]> {
    if (!this.image) return [];
    return loopsBackedBy((b) => b === this.image);
  }

  async destroy(): Promise<void> {
    const hosts = [...this.hosts.values()];
    await Promise.all(hosts.map((h) => h.destroy().catch((e: Error) => this.log(`destroy ${h.name}: ${e.message}`))));
    this.hosts.clear();
    await cleanupAll(this.prefix, { bridge: this.bridge, root: this.root, log: this.log });
    liveTestbeds.delete(this);
  }
}

export async function loopsBackedBy(pred: (backing: string) => boolean): Promise<{ dev: string; majmin: string }[]> {
  const out: { dev: string; majmin: string }[] = [];
  const names = await readdir('/sys/block').catch(() => [] as string[]);
  for (const n of names) {
    if (!n.startsWith('loop')) continue;
    const back = (await readFile(`/sys/block/${n}/loop/backing_file`, 'utf8').catch(() => '')).trim().replace(/ \(deleted\)$/, '');
    if (!back || !pred(back)) continue;
    const majmin = (await readFile(`/sys/block/${n}/dev`, 'utf8').catch(() => '')).trim();
    out.push({ dev: n, majmin });
  }
  return out;
}

export interface CleanupOptions {
  bridge?: string;
  root?: string;
  log?: (msg: string) => void;
}

/**
 * Remove everything a testbed with this prefix may have left behind (also after a crashed run):
 * processes (by PID: members of our cgroups and of our namespaces), namespaces, veths, the bridge,
 * mounts under our root, loop devices backed by files under our root, cgroups. Touches nothing else.
 */
export async function cleanupAll(prefix: string = DEFAULT_PREFIX, opts: CleanupOptions = {}): Promise<string[]> {
  const done: string[] = [];
  const note = (s: string) => {
    done.push(s);
    opts.log?.(`cleanup: ${s}`);
  };
  const root = opts.root ?? `/tmp/${prefix}`;
  const bridge = opts.bridge ?? DEFAULT_BRIDGE;
  const ifPrefix = prefix.replace(/-/g, '');
  const cgs: string[] = [];
  for (const base of cgroupBases()) {
    for (const d of await readdir(base).catch(() => [] as string[])) if (d.startsWith(`${prefix}-`)) cgs.push(join(base, d));
  }
  // 1. thaw our freezer cgroups (a SIGKILL to a frozen task stays pending), collect their PIDs
  const pids = new Set<number>();
  for (const cg of cgs) {
    if (existsSync(join(cg, 'freezer.state'))) await writeFile(join(cg, 'freezer.state'), 'THAWED').catch(() => undefined);
    if (existsSync(join(cg, 'cgroup.freeze'))) await writeFile(join(cg, 'cgroup.freeze'), '0').catch(() => undefined);
    const txt = await readFile(join(cg, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const p of txt.split('\n').map(Number)) if (p > 1) pids.add(p);
  }
  // 2. PIDs in our network namespaces
  const nsList = (await run('ip', ['netns', 'list'])).stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(`${prefix}-`));
  for (const ns of nsList) {
    const r = await run('ip', ['netns', 'pids', ns]);
    for (const p of r.stdout.split('\n').map(Number)) if (p > 1) pids.add(p);
  }
  for (const p of pids) if (p !== process.pid && signalPid(p, 'SIGKILL')) note(`killed pid ${p}`);
  if (pids.size > 0) {
    await waitFor('leftover processes gone', async () => {
      for (const p of pids) if (await pidAlive(p)) return false;
      return true;
    }, 5000, 20).catch(() => note('some processes survived SIGKILL'));
  }
  // 3. namespaces, veths, bridge
  for (const ns of nsList) {
    await run('ip', ['netns', 'del', ns]);
    note(`netns ${ns}`);
  }
  const links = (await run('ip', ['-o', 'link', 'show'])).stdout
    .split('\n')
    .map((l) => (l.split(': ')[1] ?? '').split('@')[0] ?? '')
    .filter((n) => n.startsWith(ifPrefix) && n !== bridge);
  for (const l of links) {
    await run('ip', ['link', 'del', l]);
    note(`link ${l}`);
  }
  if ((await run('ip', ['link', 'show', bridge])).code === 0) {
    await run('ip', ['link', 'del', bridge]);
    note(`bridge ${bridge}`);
  }
  // 4. mounts under our root in the root mount namespace (deepest first)
  const mi = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const mnts = mi
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === root || m.startsWith(`${root}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mnts) {
    const r = await run('umount', [m]);
    note(`umount ${m}${r.code ? ` failed: ${r.stderr.trim()}` : ''}`);
  }
  // 5. loop devices backed by our files
  for (const l of await loopsBackedBy((b) => b.startsWith(`${root}/`))) {
    const r = await run('losetup', ['-d', `/dev/${l.dev}`]);
    note(`losetup -d /dev/${l.dev}${r.code ? ` failed: ${r.stderr.trim()}` : ''}`);
  }
  // 6. cgroups
  for (const cg of cgs) {
    await rmCgroup(cg);
    note(`cgroup ${cg}`);
  }
  // 7. state (images, logs); after the loops are detached
  if (existsSync(root)) {
    const st = await stat(root).catch(() => undefined);
    if (st?.isDirectory()) await rm(root, { recursive: true, force: true }).catch((e: Error) => note(`rm ${root}: ${e.message}`));
  }
  return done;
}

/** What is left of a prefix (for the cleanliness assertions). Empty lists = clean. */
export async function leftovers(prefix: string = DEFAULT_PREFIX, root = `/tmp/${prefix}`, bridge = DEFAULT_BRIDGE) {
  const netns = (await run('ip', ['netns', 'list'])).stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(`${prefix}-`));
  const ifPrefix = prefix.replace(/-/g, '');
  const links = (await run('ip', ['-o', 'link', 'show'])).stdout
    .split('\n')
    .map((l) => (l.split(': ')[1] ?? '').split('@')[0] ?? '')
    .filter((n) => n.startsWith(ifPrefix) || n === bridge);
  const loops = (await loopsBackedBy((b) => b.startsWith(`${root}/`))).map((l) => l.dev);
  const cgroups: string[] = [];
  for (const base of cgroupBases()) {
    for (const d of await readdir(base).catch(() => [] as string[])) if (d.startsWith(`${prefix}-`)) cgroups.push(join(base, d));
  }
  const mi = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const mounts = mi
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === root || m.startsWith(`${root}/`));
  const dir = existsSync(root) ? [root] : [];
  void fsc;
  return { netns, links, loops, cgroups, mounts, dir };
}
