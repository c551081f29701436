// Self-test of the workload and the checker end to end, without the hactl agent: a hand-driven
// failover of the seed service set (shared disk, floating IP, ActiveMQ, adapter) from host A to host
// B while the producer and consumer run in the client host. Expect: no lost acknowledged message,
// no checker violation, and the producer reconnecting through the moved floating IP.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Testbed, installSignalCleanup, type Host } from './lib/testbed.js';
import { Checker } from './lib/checker.js';
import { Workload } from './lib/workload.js';
import { startBroker, stopBroker } from './lib/broker.js';
import { run, runOk, sleep } from './lib/exec.js';

const skip = process.getuid?.() !== 0 ? 'needs root' : !existsSync('/usr/share/activemq/bin/activemq.jar') ? 'needs the activemq package' : false;
const tb = new Testbed();
const VIP = tb.addr(100);
const adapterJs = join(new URL('.', import.meta.url).pathname, 'lib', 'adapter.js');
let A: Host;
let B: Host;
let client: Host;

/** What the service set's start does, by hand: disk, IP (+GARP), broker, adapter. */
async function startSet(h: Host): Promise<void> {
  await h.execOk(['mkdir', '-p', tb.mountDir]);
  await h.execOk(['mount', '/run/hactl-cx/disk', tb.mountDir]);
  await runOk('ip', ['-n', h.ns, 'addr', 'add', `${VIP}/24`, 'dev', 'eth0']);
  await run('ip', ['netns', 'exec', h.ns, 'arping', '-U', '-c', '1', '-w', '0', '-I', 'eth0', VIP], { timeoutMs: 3000 });
  await startBroker(h, { dataDir: join(tb.mountDir, 'amq'), addr: VIP });
  await h.spawnDaemon([process.execPath, adapterJs, '--host', VIP], join(h.stateDir, 'adapter.log'));
}

before(async () => {
  if (skip) return;
  installSignalCleanup();
  await tb.up();
  await tb.createDisk(64);
  [A, B, client] = await Promise.all([
    tb.addHost('A', { ip: 21, disk: true }),
    tb.addHost('B', { ip: 22, disk: true }),
    tb.addHost('client', { ip: 50 }),
  ]);
});

after(async () => {
  if (skip) return;
  await tb.destroy();
});

test('workload survives a hand-driven host crash failover: 0 lost, 0 violations', { skip, timeout: 120_000 }, async () => {
  const ck = new Checker(tb, { vips: [VIP], disk: true });
  ck.start();
  const dir = join(tb.root, 'wl');
  await runOk('mkdir', ['-p', dir]);
  const wl = new Workload(client, { host: VIP, dir, rate: 100 });
  try {
    await startSet(A);
    wl.start();
    await wl.waitAcked(200, 20_000);
    // crash A (the kernel unmounts its disk, the VIP vanishes with the netns), take over on B
    const tFault = Date.now();
    await A.kill();
    await startSet(B);
    await wl.waitAcked(200, 30_000);
    const back = wl.firstAckAfter(tFault);
    assert.ok(back !== undefined, 'acks resumed');
    // and back again: A restarts, a clean switchover B -> A (adapter, broker, IP, disk stopped in reverse)
    await A.restart();
    for (const pid of await B.pidsOf((c) => c.includes('adapter.js'))) await B.killPid(pid, 'SIGTERM');
    await stopBroker(B);
    await runOk('ip', ['-n', B.ns, 'addr', 'del', `${VIP}/24`, 'dev', 'eth0']);
    await B.execOk(['umount', tb.mountDir]);
    await startSet(A);
    await wl.waitAcked(200, 30_000);
    const res = await wl.finish(30_000);
    await ck.stop();
    process.stderr.write(`workload: ${JSON.stringify({ ...res, lostIds: res.lostIds.length, gaps: res.gaps.length })} recovery ${back! - tFault} ms, checker ${ck.samples} samples ${ck.arpRounds} arp rounds\n`);
    assert.equal(ck.violations.length, 0, JSON.stringify(ck.violations));
    assert.ok(res.acked >= 600, `acked ${res.acked}`);
    assert.equal(res.lost, 0, `lost: ${res.lostIds.join(' ')}`);
    assert.ok(res.producerConnects >= 3, 'producer reconnected after each move');
    assert.ok(ck.samples > 50);
  } finally {
    await ck.stop();
    await wl.abort();
  }
  await sleep(0);
});
