// Self-tests of the chaos testbed, its outside checker and cleanup. They need root but not the
// hactl agent: hosts come up, each fault does what it says, the checker catches a double floating IP
// and a double mount, a 3-member etcd survives losing one member, and nothing is left behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Testbed, cleanupAll, leftovers, installSignalCleanup, type Host } from './lib/testbed.js';
import { EtcdCluster } from './lib/etcd.js';
import { Checker } from './lib/checker.js';
import { run, sleep, waitFor, pidAlive } from './lib/exec.js';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root (namespaces, cgroups, loop devices)';

const tb = new Testbed();
const VIP = tb.addr(100);
let A: Host;
let B: Host;
let C: Host;

// a heartbeat: the boot script stamps a file every 50 ms
const heartbeat = (file: string) => `while :; do date +%s%N > ${file}.tmp && mv ${file}.tmp ${file}; sleep 0.05; done\n`;
const hbFile = (h: Host) => join(h.stateDir, 'hb');
async function hbAge(h: Host): Promise<number> {
  const s = await stat(hbFile(h));
  return Date.now() - s.mtimeMs;
}
/**
 * Reachability without ping (not installed): a TCP connect to a closed port. A live kernel answers
 * RST (connection refused, well under a second); a dead, cut or blocked address times out.
 */
async function ping(ip: string, from?: Host): Promise<boolean> {
  const argv = ['timeout', '1', 'bash', '-c', `exec 3<>/dev/tcp/${ip}/9`];
  const r = from ? await run('ip', ['netns', 'exec', from.ns, ...argv], { timeoutMs: 3000 }) : await run(argv[0]!, argv.slice(1), { timeoutMs: 3000 });
  return /refused/i.test(r.stderr);
}

before(async () => {
  if (skip) return;
  installSignalCleanup();
  await tb.up();
  await tb.createDisk(32);
  [A, B, C] = await Promise.all(
    (['A', 'B', 'C'] as const).map((n, i) => tb.addHost(n, { ip: 21 + i, disk: true, boot: heartbeat(join(tb.root, 'hosts', n, 'hb')) })),
  );
});

after(async () => {
  if (skip) return;
  await tb.destroy();
});

test('hosts come up: own PID namespace, hostname, private /run, heartbeat, disk link, bridge reachability', { skip }, async () => {
  for (const h of [A, B, C]) {
    assert.equal((await h.execOk(['hostname'])).trim(), h.name);
    // PID 1 inside is our init
    const comm = (await h.execOk(['cat', '/proc/1/comm'])).trim();
    assert.equal(comm, 'bash');
    const mnt = await h.execOk(['findmnt', '-n', '-o', 'FSTYPE', '/run']);
    assert.equal(mnt.trim(), 'tmpfs');
    const link = (await h.execOk(['readlink', '/run/hactl-cx/disk'])).trim();
    assert.equal(link, h.loopDevice);
    await waitFor(`${h.name} heartbeat`, async () => (await hbAge(h)) < 500, 3000);
    assert.ok(await ping(h.ip), `${h.name} answers ping from the bridge`);
  }
  // a file written in A's /run is not in B's
  await A.execOk(['sh', '-c', 'echo a > /run/only-a']);
  assert.notEqual((await B.exec(['test', '-e', '/run/only-a'])).code, 0);
  assert.ok(await ping(B.ip, A), 'A reaches B');
  // each host has its own loop device on the one image
  assert.equal(new Set([A.loopDevice, B.loopDevice, C.loopDevice]).size, 3);
});

test('freeze stops the heartbeat, thaw resumes it; kill while frozen works', { skip }, async () => {
  await A.freeze();
  let before: string;
  try {
    await sleep(150);
    before = await readFile(hbFile(A), 'utf8');
    await sleep(500);
    assert.equal(await readFile(hbFile(A), 'utf8'), before, 'heartbeat stopped while frozen');
    assert.ok(await ping(A.ip), 'a frozen host kernel still answers TCP (RST)');
    await assert.rejects(A.exec(['true']), /frozen/, 'exec into a frozen host is refused');
  } finally {
    await A.thaw();
  }
  await waitFor('heartbeat resumes', async () => (await readFile(hbFile(A), 'utf8')) !== before, 2000);
  // kill one process by PID: the heartbeat's sleep loop shell
  const pids = await A.pidsOf((cmd) => cmd.includes('/boot'));
  assert.ok(pids.length >= 1, 'boot script process found');
  await A.killPid(pids[0]!);
  await sleep(300);
  assert.ok((await hbAge(A)) > 250, 'heartbeat stopped after killing its process');
  assert.ok(await A.running(), 'host itself still up');
});

test('kill host: IP stops answering, processes and netns are gone; restart keeps MAC and IP', { skip }, async () => {
  assert.ok(await ping(C.ip));
  await C.freeze(); // kill must work on a frozen host as well
  const pidsBefore = await C.pids();
  await C.kill();
  for (const p of pidsBefore) assert.equal(await pidAlive(p), false, `pid ${p} gone`);
  assert.equal(await ping(C.ip), false, 'killed host does not answer');
  assert.notEqual((await run('ip', ['netns', 'pids', C.ns])).code, 0, 'netns deleted');
  await C.restart();
  assert.ok(await ping(C.ip), 'restarted host answers');
  const mac = (await run('ip', ['-n', C.ns, '-o', 'link', 'show', 'eth0'])).stdout;
  assert.match(mac, new RegExp(C.mac));
  await waitFor('restarted heartbeat', async () => (await hbAge(C)) < 300, 3000);
});

test('isolate link and nftables blocks cut what they say', { skip }, async () => {
  await A.isolate();
  assert.equal(await ping(A.ip), false, 'isolated from the observer');
  assert.equal(await ping(A.ip, B), false, 'isolated from peers');
  await A.healLink();
  await waitFor('A reachable again', () => ping(A.ip), 5000, 100);

  await A.block([B.ip]);
  assert.equal(await ping(B.ip, A), false, 'A cannot reach B');
  assert.ok(await ping(C.ip, A), 'A still reaches C');
  assert.ok(await ping(A.ip), 'A still reaches the observer');
  await A.unblock();
  assert.ok(await ping(B.ip, A), 'unblocked');

  // one-way: only inbound from B dropped on A -> B's pings die, the rule set has no output chain
  await A.block([B.ip], 'in');
  const rules = (await run('ip', ['netns', 'exec', A.ns, 'nft', 'list', 'table', 'inet', 'hactl_cx_fault'])).stdout;
  assert.match(rules, /hook input/);
  assert.doesNotMatch(rules, /hook output/);
  assert.equal(await ping(A.ip, B), false);
  await A.unblock();
  assert.ok(await ping(A.ip, B));
});

test('checker: quiet when the invariants hold, catches a double floating IP and a double mount', { skip }, async () => {
  const ck = new Checker(tb, { vips: [VIP], disk: true, intervalMs: 50 });
  ck.start();
  try {
    // one holder, one mount: no violation
    await runOkIp(['-n', A.ns, 'addr', 'add', `${VIP}/24`, 'dev', 'eth0']);
    await A.execOk(['mkdir', '-p', tb.mountDir]);
    await A.execOk(['mount', '/run/hactl-cx/disk', tb.mountDir]);
    await sleep(1500);
    assert.equal(ck.violations.length, 0, `no false positives: ${JSON.stringify(ck.violations)}`);
    assert.deepEqual(await ck.vipHolders(VIP), ['A']);
    assert.deepEqual((await ck.diskState()).mounts, [`A:${A.loopDevice!.replace('/dev/', '')}`]);
    assert.ok(ck.samples >= 10, `polled (${ck.samples} samples)`);

    // split brain by hand
    const t0 = Date.now();
    await runOkIp(['-n', B.ns, 'addr', 'add', `${VIP}/24`, 'dev', 'eth0']);
    await B.execOk(['mount', '/run/hactl-cx/disk', tb.mountDir]);
    await waitFor('checker reports all four kinds', () => {
      const kinds = new Set(ck.violationsSince(t0).map((v) => v.kind));
      return kinds.has('vip-holders') && kinds.has('vip-arp') && kinds.has('disk-mounts') && kinds.has('disk-superblocks');
    }, 4000);
    const vipV = ck.violations.find((v) => v.kind === 'vip-holders')!;
    assert.deepEqual(vipV.who, [VIP, 'A', 'B']);
    assert.ok(vipV.at - t0 < 500, `double VIP seen within ${vipV.at - t0} ms`);
  } finally {
    await ck.stop();
    await run('ip', ['-n', B.ns, 'addr', 'del', `${VIP}/24`, 'dev', 'eth0']);
    await run('ip', ['-n', A.ns, 'addr', 'del', `${VIP}/24`, 'dev', 'eth0']);
    await B.exec(['umount', tb.mountDir]);
    await A.exec(['umount', tb.mountDir]);
  }
  const st = await new Checker(tb, { vips: [VIP], disk: true }).diskState();
  assert.deepEqual(st, { mounts: [], superblocks: [] });
});

test('etcd: 3 members elect a leader, survive killing the leader, lose and regain quorum', { skip }, async () => {
  const etcd = new EtcdCluster(tb);
  await etcd.start();
  const leader = (await etcd.leader())!;
  assert.ok(leader, 'a leader');
  assert.equal((await etcd.ctl(['put', '/cx/k', 'v1'])).code, 0);
  await etcd.killMember(leader);
  const next = await waitFor('new leader', async () => {
    const l = await etcd.leader();
    return l && l !== leader ? l : undefined;
  }, 5000, 100);
  assert.notEqual(next, leader);
  assert.equal((await etcd.ctl(['put', '/cx/k', 'v2'])).code, 0, 'writes work with 2 of 3');
  await etcd.startMember(leader);
  await etcd.waitHealthy(15_000);
  // isolate a follower: still a quorum
  const f = await etcd.follower();
  await etcd.isolateMember(f);
  assert.equal((await etcd.ctl(['put', '/cx/k', 'v3'])).code, 0, 'writes work with a follower cut off');
  await etcd.healMember(f);
  await etcd.waitHealthy(15_000);
  // quorum loss: writes fail; regain: they work again
  const victims = await etcd.loseQuorum();
  const w = await etcd.ctl(['put', '/cx/k', 'v4'], 4000);
  assert.notEqual(w.code, 0, 'no writes without quorum');
  await etcd.regainQuorum(victims);
  assert.equal((await etcd.ctl(['put', '/cx/k', 'v5'])).code, 0);
  assert.match((await etcd.ctl(['get', '/cx/k', '--print-value-only'])).stdout, /v5/);
});

test('cleanup leaves nothing behind, also after a crashed run', { skip }, async () => {
  await tb.destroy();
  assert.deepEqual(await leftovers(), { netns: [], links: [], loops: [], cgroups: [], mounts: [], dir: [] });
  // a "crashed run": a bed with a frozen host, a loop device mounted in the root namespace, never destroyed
  const crashed = new Testbed();
  await crashed.up();
  await crashed.createDisk(16);
  const x = await crashed.addHost('X', { ip: 30, disk: true, boot: 'sleep 1000\n' });
  await x.freeze();
  await run('mount', [x.loopDevice!, crashed.mountDir]);
  const l1 = await leftovers();
  assert.ok(l1.netns.length === 1 && l1.loops.length === 1 && l1.cgroups.length >= 1 && l1.mounts.length === 1, JSON.stringify(l1));
  const done = await cleanupAll();
  assert.ok(done.some((d) => d.startsWith('killed pid')), 'processes killed by PID');
  assert.deepEqual(await leftovers(), { netns: [], links: [], loops: [], cgroups: [], mounts: [], dir: [] });
  assert.deepEqual(await cleanupAll(), [], 'a second cleanup has nothing to do');
});

async function runOkIp(args: string[]): Promise<void> {
  const r = await run('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}
