// shared-disk on namespace hosts: one ext4 image, one loop device per host (each host has its own
// path to the "LUN"), a private mount namespace per host that persists between actions.
// Hand-over A -> B, killUsers, a loud stop failure, monitor levels, a device mounted elsewhere,
// fencing-token file behaviour, ocf-tester.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  attachLoop,
  Cleanup,
  isRoot,
  killGroup,
  makeHost,
  makeTempDir,
  ocfTester,
  pidAlive,
  removeStaleNamespaces,
  runAgent,
  sh,
  waitFor,
  type AgentCall,
  type NsHost,
} from '../lib/ra-harness.js';

const cleanup = new Cleanup();
const skip = isRoot() ? false : 'needs root (loop devices, mount namespaces)';
let dir = '';
let mnt = '';
let hostA: NsHost;
let hostB: NsHost;
let loopA = '';
let loopB = '';
let callA: AgentCall;
let callB: AgentCall;

/** The mount points of `host` (from the root namespace, via its sleeper's mountinfo). */
async function mountsOf(host: NsHost): Promise<string[]> {
  const text = await readFile(`/proc/${host.sleeperPid}/mountinfo`, 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[4] ?? '');
}

async function rootMounts(): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[4] ?? '');
}

/** A process inside `host` with its working directory on the mount; ignores TERM if asked. */
function userIn(host: NsHost, cwd: string, ignoreTerm: boolean): number {
  const script = `${ignoreTerm ? "trap '' TERM; " : ''}cd "$1" || exit 1; exec sleep 60`;
  const child = spawn('nsenter', ['-t', String(host.sleeperPid), '-n', '-m', '--', 'bash', '-c', script, 'user', cwd], {
    detached: true,
    stdio: 'ignore',
  });
  const pid = child.pid ?? 0;
  cleanup.add(`kill disk user ${pid}`, async () => killGroup(pid, 'SIGKILL'));
  return pid;
}

void describe('shared-disk agent', { skip }, () => {
  before(async () => {
    await removeStaleNamespaces();
    dir = await makeTempDir(cleanup, 'disk');
    const image = join(dir, 'disk.img');
    await sh(['truncate', '-s', '64M', image]);
    await sh(['mkfs.ext4', '-q', '-F', image]);
    mnt = join(dir, 'mnt');
    await sh(['mkdir', '-p', join(dir, 'runA'), join(dir, 'runB'), mnt]);
    loopA = await attachLoop(cleanup, image);
    loopB = await attachLoop(cleanup, image);
    hostA = await makeHost(cleanup, 'da', {}, null);
    hostB = await makeHost(cleanup, 'db', {}, null);
    const params = { directory: mnt, fstype: 'ext4', options: 'noatime' };
    callA = { instance: 'disk', rsctmp: join(dir, 'runA'), host: hostA, params: { ...params, device: loopA }, timeoutMs: 20_000 };
    callB = { instance: 'disk', rsctmp: join(dir, 'runB'), host: hostB, params: { ...params, device: loopB }, timeoutMs: 20_000 };
    // Unmount anything we left in the hosts before the sleepers die (LIFO: runs before that).
    cleanup.add('unmount in hosts', async () => {
      for (const h of [hostA, hostB]) {
        for (const m of (await mountsOf(h)).filter((p) => p.startsWith(dir)).reverse()) await h.exec(['umount', m]);
      }
    });
  });
  after(async () => {
    await cleanup.run();
  });

  void it('passes ocf-tester inside a namespace host', async () => {
    const r = await ocfTester('shared-disk', 'hactl_ra_disk', { device: loopA, directory: join(dir, 'mnt-ocf'), fstype: 'ext4' }, hostA);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.ok(!(await mountsOf(hostA)).includes(join(dir, 'mnt-ocf')));
  });

  void it('hands over: write on A, read on B; mounts stay private to their host', async () => {
    assert.equal((await runAgent('shared-disk', 'monitor', { ...callA, intervalMs: 0 })).rc, 7);
    const s = await runAgent('shared-disk', 'start', { ...callA, fencingToken: '10' });
    assert.equal(s.rc, 0, s.stderr);
    assert.ok((await mountsOf(hostA)).includes(mnt), 'mounted in A');
    assert.ok(!(await mountsOf(hostB)).includes(mnt), 'not visible in B');
    assert.ok(!(await rootMounts()).includes(mnt), 'not visible in the root namespace');
    assert.equal((await runAgent('shared-disk', 'start', { ...callA, fencingToken: '10' })).rc, 0, 'start when started');
    await hostA.sh(['dd', 'of=' + join(mnt, 'data.txt'), 'status=none'], { input: 'written on A\n' });
    assert.equal((await runAgent('shared-disk', 'stop', callA)).rc, 0);
    assert.ok(!(await mountsOf(hostA)).includes(mnt));
    assert.equal((await runAgent('shared-disk', 'stop', callA)).rc, 0, 'stop when stopped');

    const sb = await runAgent('shared-disk', 'start', { ...callB, fencingToken: '11' });
    assert.equal(sb.rc, 0, sb.stderr);
    assert.equal(await hostB.sh(['cat', join(mnt, 'data.txt')]), 'written on A\n');
    assert.equal((await hostB.sh(['cat', join(mnt, '.hactl-fencing-token')])).trim(), '11');
    assert.equal((await runAgent('shared-disk', 'stop', callB)).rc, 0);
  });

  void it('monitor levels 0, 10, 20; level 20 fails on a read-only remount', async () => {
    assert.equal((await runAgent('shared-disk', 'start', callA)).rc, 0);
    for (const level of [0, 10, 20]) {
      const m = await runAgent('shared-disk', 'monitor', { ...callA, checkLevel: level });
      assert.equal(m.rc, 0, `level ${level}: ${m.stderr}`);
    }
    assert.ok(!(await hostA.sh(['ls', '-a', mnt])).includes('.hactl-monitor'), 'the probe file is removed');
    await hostA.sh(['mount', '-o', 'remount,ro', mnt]);
    try {
      assert.equal((await runAgent('shared-disk', 'monitor', { ...callA, checkLevel: 10 })).rc, 0);
      const m20 = await runAgent('shared-disk', 'monitor', { ...callA, checkLevel: 20 });
      assert.equal(m20.rc, 1);
      assert.match(m20.reason ?? '', /cannot write probe file/);
    } finally {
      await hostA.sh(['mount', '-o', 'remount,rw', mnt]);
    }
    assert.equal((await runAgent('shared-disk', 'stop', callA)).rc, 0);
    assert.equal((await runAgent('shared-disk', 'monitor', { ...callA, checkLevel: 20 })).rc, 7);
  });

  void it('stop fails loudly when busy and killUsers=false; killUsers clears a TERM-ignoring user', async () => {
    assert.equal((await runAgent('shared-disk', 'start', callA)).rc, 0);
    const user = userIn(hostA, mnt, true);
    assert.ok(await waitFor(async () => (await hostA.exec(['fuser', '-m', mnt])).stdout.trim() !== '', 3000), 'user holds the mount');
    const noKill = { ...callA, params: { ...callA.params, killUsers: 'false' } };
    const t = await runAgent('shared-disk', 'stop', noKill);
    assert.equal(t.rc, 1, 'stop must fail, not pretend');
    assert.match(t.reason ?? '', /cannot unmount .*busy/);
    assert.ok((await mountsOf(hostA)).includes(mnt), 'still mounted (never a lazy unmount)');
    assert.equal(await pidAlive(user), true, 'killUsers=false kills nobody');
    assert.equal((await runAgent('shared-disk', 'monitor', callA)).rc, 0);

    const k = await runAgent('shared-disk', 'stop', callA);
    assert.equal(k.rc, 0, k.stderr);
    assert.match(k.stderr, /SIGKILL/, 'escalated from TERM to KILL');
    assert.ok(k.ms < 5000, `stop took ${k.ms}`);
    assert.ok(!(await mountsOf(hostA)).includes(mnt));
    assert.ok(await waitFor(async () => !(await pidAlive(user)), 2000), 'user killed');
  });

  void it('refuses a device that is already mounted elsewhere on this host', async () => {
    const other = join(dir, 'other');
    await sh(['mkdir', '-p', other]);
    await hostA.sh(['mount', loopA, other]);
    try {
      const s = await runAgent('shared-disk', 'start', callA);
      assert.equal(s.rc, 2, s.stderr);
      assert.match(s.reason ?? '', /already mounted on .*other/);
      assert.ok(!(await mountsOf(hostA)).includes(mnt), 'nothing mounted on the directory');
      assert.equal((await runAgent('shared-disk', 'monitor', callA)).rc, 7);
    } finally {
      await hostA.sh(['umount', other]);
    }
  });

  void it('refuses to start with an older fencing token than the one on the disk', async () => {
    // B used the disk last with token 11 (hand-over test): A with 9 is a stale owner.
    const s = await runAgent('shared-disk', 'start', { ...callA, fencingToken: '9' });
    assert.equal(s.rc, 1);
    assert.match(s.reason ?? '', /stale owner.*11.*9/);
    assert.ok(!(await mountsOf(hostA)).includes(mnt), 'unmounted again after refusing');
    // A newer token takes over and records itself.
    assert.equal((await runAgent('shared-disk', 'start', { ...callA, fencingToken: '12' })).rc, 0);
    assert.equal((await hostA.sh(['cat', join(mnt, '.hactl-fencing-token')])).trim(), '12');
    assert.equal((await runAgent('shared-disk', 'stop', callA)).rc, 0);
    // A bigger-than-64-bit comparison is still right.
    const huge = await runAgent('shared-disk', 'start', { ...callA, fencingToken: '9999999999999999999' });
    assert.equal(huge.rc, 0, huge.stderr);
    assert.equal((await runAgent('shared-disk', 'stop', callA)).rc, 0);
    const older = await runAgent('shared-disk', 'start', { ...callA, fencingToken: '999999999999999999' });
    assert.equal(older.rc, 1);
    assert.ok(!(await mountsOf(hostA)).includes(mnt));
  });

  void it('fsck=auto repairs a filesystem marked not clean before mounting', async () => {
    // Mark the filesystem as having errors (what the kernel does on corruption), through A's device.
    await sh(['debugfs', '-w', '-R', 'ssv state 2', loopA]);
    const state = await sh(['dumpe2fs', '-h', loopA]);
    assert.match(state, /Filesystem state:\s+not clean/);
    const s = await runAgent('shared-disk', 'start', callA);
    assert.equal(s.rc, 0, s.stderr);
    assert.match(s.stderr, /running e2fsck -p/);
    assert.equal((await runAgent('shared-disk', 'stop', callA)).rc, 0);
    assert.match(await sh(['dumpe2fs', '-h', loopA]), /Filesystem state:\s+clean/);
  });
});
