// "Nodes in VMs": three Debian bookworm hosts booted with systemd as PID 1 (systemd-nspawn) on a
// bridge, hactl installed into them with systemd/install.sh, the agent started by the shipped unit
// (`systemctl enable --now hactl-agent`), etcd on the bridge address in the root namespace. A set
// (dummy + process) runs on n1; n1 is killed as a whole (SIGKILL of its systemd); the set must run
// on n2. Everything is cleaned up by PID and by our own names: containers, netns hactl-ns-*,
// veths hactlns*, bridge hactlnsbr0, cgroups hactl-ns-*, etcd and its data directory.
//
// The rootfs is debootstrap'd once (about 40 s, ~260 MB) into /var/tmp/hactl-nspawn-rootfs and
// reused; every host boots it with --volatile=overlay (a tmpfs upper layer, gone when it exits).
// Needs root, debootstrap and systemd-container (scripts/debian-packages.txt), etcd-server and a
// built tree. Not part of `npm test`: run `node --test dist/test/nspawn/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, renameSync, rmdirSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findEtcdBinary, startEtcdCluster, type EtcdCluster } from '../../cli/dev/etcd-process.js';
import { runHactl } from '../lib/cluster.js';
import { registerCleanup } from '../lib/cleanup.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const ROOTFS = process.env.HACTL_NSPAWN_ROOTFS ?? '/var/tmp/hactl-nspawn-rootfs';
const MIRROR = process.env.HACTL_NSPAWN_MIRROR ?? 'http://deb.debian.org/debian';
const BRIDGE = 'hactlnsbr0';
const BRIDGE_IP = '10.238.0.1';
const CLUSTER = 'nspawn';
const HOSTS = ['n1', 'n2', 'n3'];
const hostIp = (i: number): string => `10.238.0.${11 + i}`;
const netns = (h: string): string => `hactl-ns-${h}`;
const veth = (h: string): string => `hactlns${h}h`;
const CGROUP_ROOTS = ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified', '/sys/fs/cgroup/freezer', '/sys/fs/cgroup'];

function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}
async function must(cmd: string, args: string[], timeoutMs = 30_000): Promise<string> {
  const r = await run(cmd, args, timeoutMs);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim().slice(0, 500)}`);
  return r.stdout;
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function waitUntil(what: string, timeoutMs: number, pred: () => Promise<boolean> | boolean, everyMs = 100): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await pred()) return;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
function kill(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(pid, signal);
  } catch {
    // gone
  }
}

function skipReason(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, systemd-nspawn)';
  for (const [bin, pkg] of [['/usr/bin/systemd-nspawn', 'systemd-container'], ['/usr/sbin/debootstrap', 'debootstrap'], ['/usr/sbin/ip', 'iproute2'], ['/usr/bin/nsenter', 'util-linux']]) {
    if (!existsSync(bin)) return `${bin} missing (Debian package ${pkg}; npm run bootstrap installs it)`;
  }
  if (!findEtcdBinary()) return 'etcd missing (Debian package etcd-server)';
  if (!existsSync(join(REPO, 'dist/cli/hactl.js'))) return 'not built (npx tsc -p tsconfig.json)';
  return false;
}

/** Debootstraps the template once; a half-made one is never left under the final name. */
async function ensureRootfs(): Promise<number> {
  if (existsSync(join(ROOTFS, 'lib/systemd/systemd'))) return 0;
  const t0 = performance.now();
  const tmp = `${ROOTFS}.tmp.${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const r = await run('debootstrap', ['--variant=minbase', '--include=systemd,systemd-sysv,dbus,iproute2,procps', 'bookworm', tmp, MIRROR], 900_000);
  if (r.code !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`debootstrap failed (${r.code}): ${r.stderr.slice(-500)}`);
  }
  renameSync(tmp, ROOTFS);
  return performance.now() - t0;
}

interface Host {
  name: string;
  ip: string;
  nspawn?: ChildProcess;
  pid1?: number;
  cgroups: string[];
}

class Testbed {
  hosts: Host[] = HOSTS.map((name, i) => ({ name, ip: hostIp(i), cgroups: [] }));
  etcd?: EtcdCluster;
  dir = mkdtempSync(join(tmpdir(), 'hactl-nspawn-'));

  async netUp(): Promise<void> {
    await this.netDown();
    await must('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
    await must('ip', ['addr', 'add', `${BRIDGE_IP}/24`, 'dev', BRIDGE]);
    await must('ip', ['link', 'set', BRIDGE, 'up']);
    for (const h of this.hosts) {
      const ns = netns(h.name);
      await must('ip', ['netns', 'add', ns]);
      await must('ip', ['link', 'add', veth(h.name), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await must('ip', ['link', 'set', veth(h.name), 'master', BRIDGE, 'up']);
      await must('ip', ['-n', ns, 'addr', 'add', `${h.ip}/24`, 'dev', 'eth0']);
      await must('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
  }

  /** Removes only what this test names: our netns, veths and bridge. */
  async netDown(): Promise<void> {
    for (const h of this.hosts) {
      await run('ip', ['netns', 'del', netns(h.name)]);
      await run('ip', ['link', 'del', veth(h.name)]);
    }
    await run('ip', ['link', 'del', BRIDGE]);
  }

  async install(): Promise<void> {
    await must('bash', [join(REPO, 'systemd/install.sh'), '--root', ROOTFS], 300_000);
    // No `node:` line: each container's hostname (--hostname) is its node name.
    writeFileSync(join(ROOTFS, 'etc/hactl/agent.yaml'), ['cluster: ' + CLUSTER, 'etcd:', `  endpoints: [${this.etcd!.endpoints.join(', ')}]`, 'log: { level: info }', ''].join('\n'), { mode: 0o640 });
    rmSync(join(ROOTFS, 'etc/hostname'), { force: true });
    // Never enabled in the shared template: the test enables it in each booted host.
    rmSync(join(ROOTFS, 'etc/systemd/system/multi-user.target.wants/hactl-agent.service'), { force: true });
  }

  async boot(h: Host): Promise<void> {
    // nspawn runs inside our own cgroups, so its payload/ and supervisor/ sub-cgroups are created
    // below hactl-ns-<host>, never at the root of a hierarchy (reference/testbed-lab NOTES §4).
    h.cgroups = CGROUP_ROOTS.filter((r) => existsSync(join(r, 'cgroup.procs'))).map((r) => join(r, `hactl-ns-${h.name}`));
    const enter = h.cgroups.map((cg) => `mkdir -p ${cg} && echo $$ > ${cg}/cgroup.procs`).join(' && ');
    const args = [
      '-q', '-D', ROOTFS, '--volatile=overlay', '--boot', '--register=no', '--keep-unit',
      `--machine=hactl-ns-${h.name}`, `--hostname=${h.name}`, `--network-namespace-path=/run/netns/${netns(h.name)}`,
      '--console=passive', '--bind-ro=/usr/bin/node',
    ];
    const log = openSync(join(this.dir, `${h.name}.console.log`), 'a');
    h.nspawn = spawn('bash', ['-c', `${enter} && exec systemd-nspawn "$@"`, 'nspawn', ...args], { stdio: ['ignore', log, log] });
    closeSync(log);
    const sp = h.nspawn.pid!;
    const myns = readlinkSync(`/proc/${sp}/ns/pid`);
    // PID 1 = the child of nspawn in another PID namespace.
    await waitUntil(`${h.name}: nspawn's PID 1`, 10_000, () => {
      let children: string[] = [];
      try {
        children = readFileSync(`/proc/${sp}/task/${sp}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      } catch {
        return false;
      }
      for (const c of children) {
        try {
          if (readlinkSync(`/proc/${c}/ns/pid`) !== myns) {
            h.pid1 = Number(c);
            return true;
          }
        } catch {
          // exited
        }
      }
      return false;
    }, 20);
    await waitUntil(`${h.name}: systemd running`, 30_000, async () => {
      const r = await this.exec(h, ['systemctl', 'is-system-running'], 5000);
      return /^(running|degraded)\s*$/.test(r.stdout);
    }, 100);
  }

  exec(h: Host, cmd: string[], timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
    return run('nsenter', ['-t', String(h.pid1), '-a', '--', ...cmd], timeoutMs);
  }

  /** A host crash: SIGKILL of its systemd; the PID namespace dies and nspawn exits. */
  async crash(h: Host): Promise<void> {
    kill(h.pid1, 'SIGKILL');
    const sp = h.nspawn?.pid;
    if (sp) await waitUntil(`${h.name}: nspawn gone`, 10_000, () => h.nspawn!.exitCode !== null || h.nspawn!.signalCode !== null || !alive(sp), 20);
    h.pid1 = undefined;
  }

  async down(): Promise<void> {
    for (const h of this.hosts) {
      if (h.pid1 && alive(h.pid1)) await this.crash(h).catch(() => undefined);
      kill(h.nspawn?.pid, 'SIGKILL');
      for (const cg of h.cgroups) removeCgroup(cg);
    }
    await this.etcd?.stop().catch(() => undefined);
    await this.netDown();
    rmSync(this.dir, { recursive: true, force: true });
  }

  lastResort(): void {
    for (const h of this.hosts) {
      kill(h.pid1, 'SIGKILL');
      kill(h.nspawn?.pid, 'SIGKILL');
    }
    for (const m of this.etcd?.members ?? []) kill(m.process?.pid, 'SIGKILL');
  }
}

function removeCgroup(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroup(join(dir, e.name));
  try {
    rmdirSync(dir); // cgroup directories go with rmdir, once empty
  } catch {
    // still busy: left for the next run (same name)
  }
}

test('hosts with systemd as PID 1: the shipped unit runs the agent; killing the owner host moves the set', { skip: skipReason() }, async (t) => {
  const timings: Record<string, number> = {};
  const t0 = performance.now();
  const debootstrapMs = await ensureRootfs();
  if (debootstrapMs > 0) timings.debootstrapMs = Math.round(debootstrapMs);
  const bed = new Testbed();
  const unregister = registerCleanup(() => bed.down(), () => bed.lastResort());
  try {
    await bed.netUp();
    bed.etcd = await startEtcdCluster(join(bed.dir, 'etcd'), 1, `hactl-nspawn-${process.pid}`, { host: BRIDGE_IP });
    let t1 = performance.now();
    await bed.install();
    timings.installMs = Math.round(performance.now() - t1);
    t1 = performance.now();
    await Promise.all(bed.hosts.map((h) => bed.boot(h)));
    timings.bootMs = Math.round(performance.now() - t1);

    t1 = performance.now();
    for (const h of bed.hosts) {
      const r = await bed.exec(h, ['systemctl', 'enable', '--now', 'hactl-agent.service'], 30_000);
      assert.equal(r.code, 0, `${h.name}: systemctl enable --now hactl-agent: ${r.stderr}`);
    }
    const env = { HACTL_ENDPOINTS: bed.etcd.endpoints.join(','), HACTL_CLUSTER: CLUSTER };
    const status = async (): Promise<{ nodes: { name: string; state: string }[]; sets: { name: string; state: string; node: string | null; fencingToken: number | null }[] } | null> => {
      const r = await runHactl(['status', '--json'], env, 10_000);
      if (r.code !== 0) return null;
      try {
        return JSON.parse(r.stdout);
      } catch {
        return null;
      }
    };
    await waitUntil('3 agents online', 30_000, async () => (await status())?.nodes.filter((n) => n.state === 'online').length === 3, 250);
    timings.agentsOnlineMs = Math.round(performance.now() - t1);
    for (const h of bed.hosts) {
      const active = await bed.exec(h, ['systemctl', 'is-active', 'hactl-agent.service'], 10_000);
      assert.equal(active.stdout.trim(), 'active', `${h.name}: hactl-agent.service is active`);
      const main = await bed.exec(h, ['systemctl', 'show', '-p', 'MainPID', '--value', 'hactl-agent.service'], 10_000);
      const cmdline = await bed.exec(h, ['cat', `/proc/${main.stdout.trim()}/cmdline`], 10_000);
      assert.equal(cmdline.stdout.split('\0').slice(0, 3).join(' '), '/usr/bin/node --max-semi-space-size=1 --v8-pool-size=1', `${h.name}: the unit's Node flags`);
    }

    const configFile = join(bed.dir, 'cluster.yaml');
    writeFileSync(
      configFile,
      [
        'timing: { leaseTtl: 3s, fenceMargin: 1s }',
        'serviceSets:',
        '  WEB:',
        '    prefer: [n1, n2, n3]',
        '    resources:',
        '      - { id: web-state, type: dummy, stop: { timeout: 1s }, monitor: { interval: 1s, timeout: 2s } }',
        '      - { id: web-proc, type: process, params: { command: /bin/sleep, args: ["424242"], stopTimeout: 500ms }, stop: { timeout: 1s }, monitor: { interval: 1s, timeout: 2s } }',
        '',
      ].join('\n'),
    );
    const applied = await runHactl(['config', 'apply', configFile], env, 30_000);
    assert.equal(applied.code, 0, applied.stderr);
    t1 = performance.now();
    let before: { node: string | null; fencingToken: number | null } | undefined;
    await waitUntil('WEB running', 30_000, async () => {
      before = (await status())?.sets.find((s) => s.name === 'WEB' && s.state === 'running');
      return before !== undefined;
    }, 200);
    timings.firstStartMs = Math.round(performance.now() - t1);
    assert.equal(before!.node, 'n1');
    const n1 = bed.hosts[0];
    const proc = await bed.exec(n1, ['pgrep', '-f', 'sleep 424242'], 10_000);
    assert.equal(proc.code, 0, 'the process resource runs inside n1');

    t1 = performance.now();
    await bed.crash(n1);
    let after: { node: string | null; fencingToken: number | null } | undefined;
    await waitUntil('WEB running on another host', 20_000, async () => {
      after = (await status())?.sets.find((s) => s.name === 'WEB' && s.state === 'running' && s.node !== 'n1');
      return after !== undefined;
    }, 100);
    timings.failoverMs = Math.round(performance.now() - t1);
    assert.equal(after!.node, 'n2');
    assert.ok(after!.fencingToken! > before!.fencingToken!, 'a larger fencing token');
    const moved = await bed.exec(bed.hosts[1], ['pgrep', '-f', 'sleep 424242'], 10_000);
    assert.equal(moved.code, 0, 'the process resource runs inside n2');
    const report = await runHactl(['report', '--json'], env, 30_000);
    assert.equal(report.code, 0, report.stderr);
    const web = (JSON.parse(report.stdout) as { sets: { set: string; failovers: number }[] }).sets.find((s) => s.set === 'WEB');
    assert.equal(web?.failovers, 1, 'hactl report counts the failover');
  } finally {
    const t1 = performance.now();
    await bed.down();
    unregister();
    timings.cleanupMs = Math.round(performance.now() - t1);
    timings.totalMs = Math.round(performance.now() - t0);
    t.diagnostic(`timings: ${JSON.stringify(timings)}`);
    process.stderr.write(`nspawn test timings: ${JSON.stringify(timings)}\n`);
  }
  // Nothing of ours is left.
  const links = await must('ip', ['-o', 'link', 'show']);
  assert.doesNotMatch(links, /hactlns/);
  const nss = await must('ip', ['netns', 'list']);
  assert.doesNotMatch(nss, /hactl-ns-/);
});
