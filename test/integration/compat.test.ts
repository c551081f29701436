// Compatibility with unmodified agents (SPEC §6.2): a service set of Debian's ocf:heartbeat:
// Filesystem + IPaddr2 + Dummy runs on one hactl agent, fails over to a second when the first
// host dies, and stops cleanly. Real addresses and real mounts, so each hactl agent runs in its
// own namespace host: a network namespace on a bridge plus a private mount namespace with its
// own /run (tmpfs; Debian's agents keep state there) and its own loop device of one shared ext4
// image, visible at the same path (/run/hactl-cp-disk) on both hosts. etcd runs in the root
// namespace on the bridge address (a netns cannot reach the root namespace's 127.0.0.1).
//
// Names: namespaces hactl-cp-*, bridge hactlcpbr0, 10.233.0.0/24, files /tmp/hactl-cp-*.
// Everything is removed afterwards, also on failure; processes are stopped by PID.
//
// Also systemd:<unit>, run only where systemd is PID 1 (skipped with the reason elsewhere).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, open, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { startEtcdCluster, stopProcess, type EtcdCluster } from '../../cli/dev/etcd-process.js';
import { HACTL_JS } from '../../cli/dev/local-cluster.js';
import { Keys } from '../../agent/etcd/keys.js';
import { AGENT_ENV, AGENT_NODE_FLAGS } from '../../agent/shell/runtime-flags.js';
import { clusterStatus, type ClusterStatus, type SetStatus } from '../../cli/status-model.js';
import { Cleanup, isRoot, killGroup, NsHost, PATH_ENV, run, sh, sleep, waitFor } from '../lib/ra-harness.js';
import { registerCleanup } from '../lib/cleanup.js';
import { runHactl, startTestCluster } from '../lib/cluster.js';

const PREFIX = 'hactl-cp-';
const BRIDGE = 'hactlcpbr0';
const BRIDGE_IP = '10.233.0.1';
const VIP = '10.233.0.100';
const HEARTBEAT = '/usr/lib/ocf/resource.d/heartbeat';
const CLUSTER = 'compat';

function skipReason(): string | false {
  if (!isRoot()) return 'needs root (network namespaces, loop devices, mounts)';
  for (const agent of ['IPaddr2', 'Filesystem', 'Dummy']) {
    if (!existsSync(join(HEARTBEAT, agent))) return `Debian resource-agents not installed (${HEARTBEAT}/${agent} missing)`;
  }
  for (const tool of ['/usr/sbin/modprobe', '/usr/sbin/mkfs.ext4', '/usr/sbin/losetup', '/usr/bin/nsenter', '/usr/bin/unshare']) {
    if (!existsSync(tool)) return `${tool} missing`;
  }
  return false;
}

/** Removes what a crashed earlier run left: our namespaces (by prefix) and our bridge. */
async function removeLeftovers(): Promise<void> {
  const r = await run(['ip', 'netns', 'list'], { env: { PATH: PATH_ENV } });
  for (const line of r.stdout.split('\n')) {
    const name = line.split(' ')[0];
    if (name?.startsWith(PREFIX)) await run(['ip', 'netns', 'del', name]);
  }
  await run(['ip', 'link', 'del', BRIDGE]);
}

interface CpHost {
  node: string;
  ns: NsHost;
  veth: string;
  dataDir: string;
  configFile: string;
  logFile: string;
  agent: ChildProcess | null;
}

async function mountNsOf(pid: number): Promise<string | null> {
  return readlink(`/proc/${pid}/ns/mnt`).catch(() => null);
}

/** Every process whose mount namespace is `mntNs` (the processes of one namespace host). */
async function processesIn(mntNs: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    if ((await mountNsOf(Number(name))) === mntNs) pids.push(Number(name));
  }
  return pids;
}

/** Creates namespace host hactl-cp-<node>: netns on the bridge, sleeper holding a private mount ns with a tmpfs /run. */
async function makeCpHost(cleanup: Cleanup, dir: string, node: string, ip: string, loopDev: string): Promise<CpHost> {
  const netns = `${PREFIX}${node}`;
  const veth = `hcp${node}`;
  await sh(['ip', 'netns', 'add', netns]);
  cleanup.add(`delete netns ${netns}`, () => sh(['ip', 'netns', 'del', netns]));
  await sh(['ip', '-n', netns, 'link', 'set', 'lo', 'up']);
  await sh(['ip', 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
  cleanup.add(`delete ${veth}`, async () => {
    await run(['ip', 'link', 'del', veth]);
  });
  await sh(['ip', 'link', 'set', veth, 'master', BRIDGE, 'up']);
  await sh(['ip', '-n', netns, 'link', 'set', 'eth0', 'up']);
  await sh(['ip', '-n', netns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
  const ns = new NsHost(node, netns);
  const sleeper = spawn('ip', ['netns', 'exec', netns, 'unshare', '--mount', '--propagation', 'private', 'sleep', '900'], {
    stdio: 'ignore',
    detached: true,
    env: { PATH: PATH_ENV },
  });
  if (sleeper.pid === undefined) throw new Error('cannot start the host sleeper');
  sleeper.unref();
  const sleeperPid = sleeper.pid;
  ns.sleeperPid = sleeperPid;
  // The host "dies" with every process in its mount namespace; that also unmounts what it mounted.
  let mntNs: string | null = null;
  cleanup.add(`kill every process of host ${node}`, async () => {
    killGroup(sleeperPid, 'SIGKILL');
    if (mntNs) for (const pid of await processesIn(mntNs)) tryKill(pid);
    await sleep(100);
  });
  const ready = await waitFor(async () => {
    const mine = await mountNsOf(process.pid);
    const its = await mountNsOf(sleeperPid);
    return its !== null && its !== mine && (await readlink(`/proc/${sleeperPid}/exe`).catch(() => '')).endsWith('sleep');
  }, 5000, 20);
  if (!ready) throw new Error(`host ${netns}: sleeper did not enter its namespaces`);
  mntNs = await mountNsOf(sleeperPid);
  // A private /run (Debian's agents keep state in /run/resource-agents), holding this host's
  // disk device node at the path the cluster config names.
  await ns.sh(['mount', '-t', 'tmpfs', '-o', 'mode=0755,size=16m', 'tmpfs', '/run']);
  const { rdev } = await stat(loopDev);
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
  await ns.sh(['mknod', '-m', '0600', '/run/hactl-cp-disk', 'b', String(major), String(minor)]);
  const hostDir = join(dir, node);
  await sh(['mkdir', '-p', join(hostDir, 'data')]);
  const configFile = join(hostDir, 'agent.yaml');
  await writeFile(
    configFile,
    [
      `node: ${node}`,
      `cluster: ${CLUSTER}`,
      `etcd: { endpoints: [ENDPOINTS] }`,
      `dataDir: ${join(hostDir, 'data')}`,
      'ocfRoot: /usr/lib/ocf',
      'resourceDirs: []',
      'http: { listen: 127.0.0.1:7946 }',
      'log: { level: info }',
    ].join('\n') + '\n',
  );
  return { node, ns, veth, dataDir: join(hostDir, 'data'), configFile, logFile: join(hostDir, 'agent.log'), agent: null };
}

function tryKill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

/** Starts `hactl agent` inside the host's namespaces (nsenter execs node: the pid is the agent's). */
async function startAgent(h: CpHost): Promise<void> {
  const log = await open(h.logFile, 'a');
  h.agent = spawn('nsenter', ['-t', String(h.ns.sleeperPid), '-n', '-m', '--', process.execPath, ...AGENT_NODE_FLAGS, HACTL_JS, 'agent', '--config', h.configFile], {
    stdio: ['ignore', log.fd, log.fd],
    detached: true,
    env: { ...process.env, ...AGENT_ENV },
  });
  h.agent.once('exit', () => void log.close().catch(() => undefined));
}

interface ActionLine {
  resource: string;
  action: string;
  rc?: number;
  status: string;
}

async function actions(h: CpHost): Promise<ActionLine[]> {
  const text = await readFile(h.logFile, 'utf8').catch(() => '');
  const out: ActionLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const l = JSON.parse(line) as Record<string, unknown>;
      if (l.msg === 'action finished') out.push({ resource: String(l.resource), action: String(l.action), rc: typeof l.rc === 'number' ? l.rc : undefined, status: String(l.status) });
    } catch {
      // partial line
    }
  }
  return out;
}

async function hasVip(h: CpHost): Promise<boolean> {
  const r = await run(['ip', '-n', h.ns.netns, '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
  return r.stdout.includes(` ${VIP}/`);
}

/** The MAC address that answers ARP for the floating address on the bridge (seen from the root namespace). */
async function vipAnsweredBy(): Promise<string | null> {
  const r = await run(['arping', '-c', '1', '-w', '2', '-I', BRIDGE, VIP]);
  return /\[([0-9a-f:]{17})\]/i.exec(r.stdout)?.[1]?.toLowerCase() ?? null;
}

async function macOf(h: CpHost): Promise<string> {
  const r = await run(['ip', '-n', h.ns.netns, '-o', 'link', 'show', 'eth0']);
  return /link\/ether ([0-9a-f:]{17})/.exec(r.stdout)?.[1] ?? 'unknown';
}

async function mountedIn(h: CpHost, dir: string): Promise<boolean> {
  const r = await h.ns.exec(['findmnt', '-n', '-o', 'SOURCE', '--mountpoint', dir]);
  return r.code === 0 && r.stdout.trim() !== '';
}

void test('Debian ocf:heartbeat Filesystem + IPaddr2 + Dummy: run on h1, fail over to h2 when h1 dies, stop cleanly', { skip: skipReason(), timeout: 240_000 }, async (t) => {
  const cleanup = new Cleanup();
  const lastResort: number[] = [];
  const unregister = registerCleanup(
    async () => void (await cleanup.run()),
    () => lastResort.forEach((pid) => tryKill(pid)),
  );
  let client: Etcd3 | null = null;
  const hosts: CpHost[] = [];
  let cleanupProblems: string[] = [];
  try {
    await removeLeftovers();
    const dir = await mkdtemp(join(tmpdir(), PREFIX));
    cleanup.add(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
    await sh(['ip', 'link', 'add', BRIDGE, 'type', 'bridge']);
    cleanup.add(`delete bridge ${BRIDGE}`, () => sh(['ip', 'link', 'del', BRIDGE]));
    await sh(['ip', 'addr', 'add', `${BRIDGE_IP}/24`, 'dev', BRIDGE]);
    await sh(['ip', 'link', 'set', BRIDGE, 'up']);

    // One ext4 image, one loop device per host (detached after the hosts are gone: LIFO).
    const image = join(dir, 'disk.img');
    await sh(['truncate', '-s', '64M', image]);
    await sh(['mkfs.ext4', '-q', '-F', image]);
    const loops: string[] = [];
    for (let i = 0; i < 2; i++) {
      const dev = (await sh(['losetup', '-f', '--show', image])).trim();
      cleanup.add(`detach ${dev}`, () => sh(['losetup', '-d', dev]));
      loops.push(dev);
    }
    const mnt = join(dir, 'mnt');
    await sh(['mkdir', '-p', mnt]);

    // etcd in the root namespace, on the bridge address.
    const etcd: EtcdCluster = await startEtcdCluster(join(dir, 'etcd'), 1, `hactl-cp-${process.pid}`, { host: BRIDGE_IP });
    for (const m of etcd.members) if (m.process?.pid) lastResort.push(m.process.pid);
    cleanup.add('stop etcd', () => etcd.stop());
    const endpoints = etcd.endpoints;

    for (const [i, node] of ['h1', 'h2'].entries()) {
      const h = await makeCpHost(cleanup, dir, node, `10.233.0.${11 + i}`, loops[i]);
      await writeFile(h.configFile, (await readFile(h.configFile, 'utf8')).replace('ENDPOINTS', endpoints.join(', ')));
      hosts.push(h);
    }
    const [h1, h2] = hosts;
    cleanup.add('stop the hactl agents', async () => {
      await Promise.all(hosts.map(async (h) => (h.agent ? stopProcess(h.agent, 'SIGTERM') : undefined)));
    });
    for (const h of hosts) {
      await startAgent(h);
      if (h.agent?.pid) lastResort.push(h.agent.pid);
    }

    client = new Etcd3({ hosts: endpoints, defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 3000 }) });
    const keys = Keys.forCluster(CLUSTER);
    const status = (): Promise<ClusterStatus> => clusterStatus(client!, keys, CLUSTER, Date.now());
    const waitStatus = async (what: string, timeoutMs: number, pred: (s: ClusterStatus) => boolean): Promise<ClusterStatus> => {
      let last: ClusterStatus | undefined;
      const ok = await waitFor(async () => {
        last = await status().catch(() => last);
        return last !== undefined && pred(last);
      }, timeoutMs, 50);
      if (!ok) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}`);
      return last!;
    };
    const runningOn = (s: ClusterStatus, node: string): SetStatus | undefined => s.sets.find((x) => x.name === 'WEB' && x.state === 'running' && x.node === node);
    await waitStatus('h1 and h2 online', 30_000, (s) => s.nodes.filter((n) => n.state === 'online').length === 2);

    // The CLI checks the config against these agents (types resolve, required params) and stores it.
    const cliEnv = { HACTL_ENDPOINTS: endpoints.join(','), HACTL_CLUSTER: CLUSTER };
    const configFile = join(dir, 'cluster.yaml');
    const resources = [
      `      - id: web-fs`,
      `        type: ocf:heartbeat:Filesystem`,
      `        params: { device: /run/hactl-cp-disk, directory: ${mnt}, fstype: ext4 }`,
      `        start: { timeout: 60s }`,
      `        stop: { timeout: 60s }`,
      `        monitor: { interval: 5s, timeout: 40s }`,
      `      - id: web-ip`,
      `        type: ocf:heartbeat:IPaddr2`,
      `        params: { ip: ${VIP}, cidr_netmask: 24, nic: eth0 }`,
      `        monitor: { interval: 5s, timeout: 20s }`,
      `      - id: web-dummy`,
      `        type: ocf:heartbeat:Dummy`,
      `        monitor: { interval: 5s, timeout: 20s }`,
    ];
    const clusterYaml = (res: string[]) =>
      ['timing: { leaseTtl: 2s, fenceMargin: 800ms }', 'nodes: { h1: {}, h2: {} }', 'serviceSets:', '  WEB:', '    prefer: [h1, h2]', '    resources:', ...res].join('\n') + '\n';

    // A missing required parameter of a Debian agent is refused before anything is stored.
    await writeFile(configFile, clusterYaml(resources.map((l) => l.replace('fstype: ext4', 'options: noatime'))));
    const bad = await runHactl(['config', 'apply', configFile], cliEnv);
    assert.equal(bad.code, 2, bad.stdout + bad.stderr);
    assert.match(bad.stderr, /serviceSets\.WEB\.resources\[0\]\.params\.fstype: required by ocf:heartbeat:Filesystem/);
    assert.equal((await client.get(keys.config()).exec()).kvs.length, 0, 'nothing stored');

    await writeFile(configFile, clusterYaml(resources));
    const applied = await runHactl(['config', 'apply', configFile], cliEnv);
    assert.equal(applied.code, 0, applied.stdout + applied.stderr);

    const s1 = runningOn(await waitStatus('WEB running on h1', 60_000, (s) => runningOn(s, 'h1') !== undefined), 'h1')!;
    assert.ok(await hasVip(h1), 'h1 holds the floating address');
    assert.ok(await mountedIn(h1, mnt), 'h1 mounted the disk');
    assert.equal(await hasVip(h2), false);
    assert.equal(await mountedIn(h2, mnt), false);
    // The address answers ARP on the bridge from h1's interface; data goes on the disk.
    assert.equal(await vipAnsweredBy(), await macOf(h1), 'the floating address answers from h1');
    await h1.ns.sh(['sh', '-c', `echo from-h1 > ${mnt}/proof && sync`]);
    const starts1 = (await actions(h1)).filter((a) => a.action === 'start');
    assert.deepEqual(starts1.map((a) => `${a.resource}:${a.rc}`), ['web-fs:0', 'web-ip:0', 'web-dummy:0']);

    // h1 dies: its agent and every process of the host are killed, its link goes away; the
    // mount namespace dies with its last process, which unmounts the disk there.
    const mntNs1 = await mountNsOf(h1.ns.sleeperPid);
    t.diagnostic(`killing host h1 (agent pid ${h1.agent?.pid})`);
    if (h1.agent) await stopProcess(h1.agent, 'SIGKILL');
    h1.agent = null;
    await run(['ip', 'link', 'del', h1.veth]);
    if (mntNs1) for (const pid of await processesIn(mntNs1)) tryKill(pid);
    await waitStatus('h1 offline', 20_000, (s) => s.nodes.find((n) => n.name === 'h1')?.state !== 'online');
    // The set holds exclusive resources, so it requires fencing: an operator confirms h1 is down.
    let fenced = await runHactl(['fence', 'h1', '--confirm-down'], cliEnv);
    for (let i = 0; i < 50 && fenced.code !== 0; i++) {
      await sleep(200);
      fenced = await runHactl(['fence', 'h1', '--confirm-down'], cliEnv);
    }
    assert.equal(fenced.code, 0, fenced.stdout + fenced.stderr);

    const s2 = runningOn(await waitStatus('WEB running on h2', 60_000, (s) => runningOn(s, 'h2') !== undefined), 'h2')!;
    assert.ok(s2.fencingToken! > s1.fencingToken!, `token ${s2.fencingToken} > ${s1.fencingToken}`);
    assert.ok(await hasVip(h2), 'h2 holds the floating address');
    assert.ok(await mountedIn(h2, mnt), 'h2 mounted the disk');
    assert.equal(await vipAnsweredBy(), await macOf(h2), 'the floating address answers from h2');
    assert.equal((await h2.ns.sh(['cat', `${mnt}/proof`])).trim(), 'from-h1', 'the data moved with the disk');
    const starts2 = (await actions(h2)).filter((a) => a.action === 'start');
    assert.deepEqual(starts2.map((a) => `${a.resource}:${a.rc}`), ['web-fs:0', 'web-ip:0', 'web-dummy:0']);
    // Let a recurring monitor round pass (every 5 s): no failure (failed monitors are logged,
    // successful recurring ones are not), no restart, still running on h2.
    await sleep(6000);
    const after = await actions(h2);
    const failedMonitors = after.filter((a) => a.action === 'monitor' && a.rc !== 0 && a.rc !== 7);
    assert.deepEqual(failedMonitors, [], 'no monitor failed');
    assert.equal(after.filter((a) => a.action === 'start').length, 3, 'nothing was restarted');
    assert.ok(runningOn(await status(), 'h2'), 'still running on h2');

    // A clean shutdown of h2's agent stops the set in reverse order; nothing is left.
    await stopProcess(h2.agent!, 'SIGTERM');
    h2.agent = null;
    const stops = (await actions(h2)).filter((a) => a.action === 'stop');
    assert.deepEqual(stops.map((a) => `${a.resource}:${a.rc}`), ['web-dummy:0', 'web-ip:0', 'web-fs:0']);
    assert.equal(await hasVip(h2), false, 'the address was removed');
    assert.equal(await mountedIn(h2, mnt), false, 'the disk was unmounted');
  } finally {
    client?.close();
    cleanupProblems = await cleanup.run();
    unregister();
  }
  assert.deepEqual(cleanupProblems, [], 'cleanup');
  // Nothing left behind.
  const leftover = (await run(['ip', 'netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith(PREFIX));
  assert.deepEqual(leftover, []);
  assert.equal((await run(['ip', 'link', 'show', BRIDGE])).code !== 0, true, 'bridge removed');
});

// ---- systemd:<unit> ------------------------------------------------------------------------------

async function systemdSkipReason(): Promise<string | false> {
  if (!isRoot()) return 'needs root (writes a unit to /run/systemd/system)';
  const comm = (await readFile('/proc/1/comm', 'utf8').catch(() => '')).trim();
  if (comm !== 'systemd') return `systemd is not PID 1 here (PID 1 is ${comm || 'unknown'}); the systemd:<unit> test needs a booted systemd (a later nspawn test covers it)`;
  if (!existsSync('/usr/bin/systemctl')) return '/usr/bin/systemctl missing';
  return false;
}

const systemdSkip = await systemdSkipReason();
if (systemdSkip) process.stdout.write(`# skipping systemd:<unit> test: ${systemdSkip}\n`);

void test('systemd:<unit> is started, monitored and stopped with systemctl', { skip: systemdSkip, timeout: 120_000 }, async () => {
  const unit = `hactl-cp-test-${process.pid}.service`;
  const unitFile = join('/run/systemd/system', unit);
  await writeFile(unitFile, `[Unit]\nDescription=hactl compat test unit\n\n[Service]\nExecStart=/bin/sleep 600\n`);
  const systemctl = (...args: string[]) => run(['systemctl', ...args]);
  await systemctl('daemon-reload');
  const tc = await startTestCluster({ nodes: 1 });
  try {
    await tc.waitFor('n1 online', 20_000, (s) => s.nodes.some((n) => n.name === 'n1' && n.state === 'online'));
    await tc.applyConfig(
      ['timing: { leaseTtl: 2s, fenceMargin: 800ms }', 'serviceSets:', '  U:', '    resources:', `      - { id: unit1, type: "systemd:${unit}", monitor: { interval: 1s, timeout: 5s } }`].join('\n') + '\n',
    );
    await tc.waitRunning('U', 30_000);
    assert.equal((await systemctl('is-active', '--quiet', unit)).code, 0, 'the unit is active');
    // A unit that stops behind hactl's back is noticed by monitor and started again.
    await systemctl('stop', unit);
    const restarted = await waitFor(async () => (await tc.actions('n1')).filter((a) => a.resource === 'unit1' && a.action === 'start').length >= 2, 20_000);
    assert.ok(restarted, 'restarted after a failed monitor');
    await tc.waitRunning('U', 20_000);
    await tc.lc.stopAgent('n1');
    assert.notEqual((await systemctl('is-active', '--quiet', unit)).code, 0, 'stopped with the agent');
  } finally {
    await tc.dispose();
    await systemctl('stop', unit);
    await rm(unitFile, { force: true });
    await systemctl('daemon-reload');
  }
});
