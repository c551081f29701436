// floating-ip on namespace hosts: two hosts and a client on a bridge. The address moves from
// host A to host B (stop on A, start on B); a client probing every 5 ms must get answers from B
// within 200 ms of B's start (gratuitous ARP). IPv6 add/monitor/remove, ocf-tester, idempotence.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Cleanup,
  isRoot,
  killGroup,
  makeBridge,
  makeHost,
  makeTempDir,
  ocfTester,
  pidAlive,
  removeStaleNamespaces,
  run,
  runAgent,
  waitFor,
  type AgentCall,
  type NsHost,
} from '../lib/ra-harness.js';

const VIP = '10.231.0.100';
const VIP6 = 'fd00:231::100';
const PORT = 7777;

const cleanup = new Cleanup();
let dir = '';
let hostA: NsHost;
let hostB: NsHost;
let client: NsHost;
const skip = isRoot() ? false : 'needs root (network namespaces)';

const RESPONDER = `
const dgram = require('node:dgram');
const name = process.argv[2];
// One dual-stack socket: answers IPv4 (as mapped addresses) and IPv6.
const s = dgram.createSocket('udp6');
s.on('message', (m, r) => s.send(name, r.port, r.address));
s.bind(${PORT});
setTimeout(() => process.exit(0), 120000);
`;

// Sends a datagram to the VIP every 5 ms; prints "<wall ms> <answering host>" per answer.
const PROBER = `
const dgram = require('node:dgram');
const s = dgram.createSocket('udp4');
s.on('message', (m) => process.stdout.write(Date.now() + ' ' + m.toString() + '\\n'));
setInterval(() => s.send('?', ${PORT}, process.argv[2]), 5);
setTimeout(() => process.exit(0), 60000);
`;

// One question over UDP (IPv4 or IPv6), retried every 100 ms; prints the answer; 3 s bound.
const ASK = `
const dgram = require('node:dgram');
const addr = process.argv[2];
const s = dgram.createSocket(addr.includes(':') ? 'udp6' : 'udp4');
s.on('message', (m) => { process.stdout.write(m.toString() + '\\n'); process.exit(0); });
const ask = () => s.send('?', ${PORT}, addr);
ask();
setInterval(ask, 100);
setTimeout(() => process.exit(1), 3000);
`;

function spawnIn(host: NsHost, argv: string[]): ChildProcess {
  const [cmd, ...args] = [...host.enterArgv(), ...argv];
  const child = spawn(cmd ?? 'false', args, { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
  const pid = child.pid ?? 0;
  cleanup.add(`kill ${argv[1] ?? argv[0]} in ${host.netns}`, async () => killGroup(pid, 'SIGKILL'));
  return child;
}

/** Which of our hosts hold address `addr` (control plane, from the root namespace). */
async function holders(addr: string): Promise<string[]> {
  const out: string[] = [];
  for (const h of [hostA, hostB, client]) {
    const r = await run(['ip', '-n', h.netns, '-o', 'addr', 'show']);
    if (r.stdout.split('\n').some((l) => l.split(/\s+/)[3]?.split('/')[0] === addr)) out.push(h.name);
  }
  return out;
}

void describe('floating-ip agent', { skip }, () => {
  let rA = '';
  let rB = '';

  before(async () => {
    await removeStaleNamespaces();
    dir = await makeTempDir(cleanup, 'fip');
    rA = join(dir, 'runA');
    rB = join(dir, 'runB');
    await run(['mkdir', '-p', rA, rB]);
    await makeBridge(cleanup);
    hostA = await makeHost(cleanup, 'fa', { v4: '10.231.0.11/24', v6: 'fd00:231::11/64' });
    hostB = await makeHost(cleanup, 'fb', { v4: '10.231.0.12/24', v6: 'fd00:231::12/64' });
    client = await makeHost(cleanup, 'fc', { v4: '10.231.0.13/24', v6: 'fd00:231::13/64' });
  });
  after(async () => {
    await cleanup.run();
  });

  void it('passes ocf-tester (IPv4 and IPv6) inside a namespace host', async () => {
    const v4 = await ocfTester('floating-ip', 'hactl_ra_vip', { ip: `${VIP}/24`, arpCount: '1' }, hostA);
    assert.equal(v4.code, 0, v4.stdout + v4.stderr);
    const v6 = await ocfTester('floating-ip', 'hactl_ra_vip6', { ip: `${VIP6}/64`, interface: 'eth0', arpCount: '1' }, hostA);
    assert.equal(v6.code, 0, v6.stdout + v6.stderr);
    assert.deepEqual(await holders(VIP), []);
    assert.deepEqual(await holders(VIP6), []);
  });

  void it('moves from host A to host B; the client reaches B within 200 ms of the start', async () => {
    const responder = join(dir, 'responder.cjs');
    const prober = join(dir, 'prober.cjs');
    await writeFile(responder, RESPONDER);
    await writeFile(prober, PROBER);
    spawnIn(hostA, [process.execPath, responder, 'A']);
    spawnIn(hostB, [process.execPath, responder, 'B']);
    const callA: AgentCall = { instance: 'vip', rsctmp: rA, host: hostA, params: { ip: `${VIP}/24`, arpCount: '3' } };
    const callB: AgentCall = { ...callA, rsctmp: rB, host: hostB };

    assert.equal((await runAgent('floating-ip', 'monitor', { ...callA, intervalMs: 0 })).rc, 7);
    const sA = await runAgent('floating-ip', 'start', callA);
    assert.equal(sA.rc, 0, sA.stderr);
    assert.ok(sA.ms < 500, `start must not wait for the ARP announcements (${sA.ms} ms)`);
    assert.deepEqual(await holders(VIP), ['fa']);
    assert.equal((await runAgent('floating-ip', 'start', callA)).rc, 0, 'start when started');
    assert.equal((await runAgent('floating-ip', 'monitor', callA)).rc, 0);

    const probe = spawnIn(client, [process.execPath, prober, VIP]);
    const answers: { t: number; from: string }[] = [];
    let buf = '';
    probe.stdout?.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const [t, from] = buf.slice(0, i).split(' ');
        buf = buf.slice(i + 1);
        answers.push({ t: Number(t), from: from ?? '' });
      }
    });
    assert.ok(await waitFor(() => answers.some((a) => a.from === 'A'), 3000), 'client reaches A');

    // A's announcer (arping, 3 s with arpCount 3) is still running: stop must silence it, or A
    // would keep pulling the address back to its MAC after B took over.
    const announcer = Number((await readFile(join(rA, 'vip.announce'), 'utf8')).split(' ')[0]);
    assert.equal(await pidAlive(announcer), true, 'announcer runs in the background after start');
    const stopA = await runAgent('floating-ip', 'stop', callA);
    assert.equal(await pidAlive(announcer), false, 'stop silenced the announcer');
    assert.equal(stopA.rc, 0, stopA.stderr);
    assert.equal((await runAgent('floating-ip', 'monitor', callA)).rc, 7);
    assert.deepEqual(await holders(VIP), []);
    const t0 = Date.now();
    const sB = await runAgent('floating-ip', 'start', callB);
    assert.equal(sB.rc, 0, sB.stderr);
    assert.deepEqual(await holders(VIP), ['fb']);
    assert.ok(await waitFor(() => answers.some((a) => a.from === 'B'), 2000), 'client reaches B');
    const first = answers.find((a) => a.from === 'B');
    const delay = (first?.t ?? Infinity) - t0;
    process.stdout.write(`# floating-ip: client reached B ${delay} ms after start on B began (start took ${sB.ms.toFixed(0)} ms)\n`);
    assert.ok(delay <= 200, `client reached B ${delay} ms after the start`);
    const late = answers.filter((a) => a.t > (first?.t ?? 0) + 50 && a.from === 'A');
    assert.deepEqual(late, [], 'no answers from A after B took over');
    killGroup(probe.pid ?? 0, 'SIGKILL');

    assert.equal((await runAgent('floating-ip', 'stop', callB)).rc, 0);
    assert.equal((await runAgent('floating-ip', 'stop', callB)).rc, 0, 'stop when stopped');
    assert.deepEqual(await holders(VIP), []);
  });

  void it('IPv6: add, monitor, remove; the interface is found from the subnet', async () => {
    const c: AgentCall = { instance: 'vip6', rsctmp: rA, host: hostA, params: { ip: `${VIP6}/64`, arpCount: '1' } };
    assert.equal((await runAgent('floating-ip', 'monitor', c)).rc, 7);
    const s = await runAgent('floating-ip', 'start', c);
    assert.equal(s.rc, 0, s.stderr);
    const r = await run(['ip', '-n', hostA.netns, '-o', '-6', 'addr', 'show', 'dev', 'eth0']);
    assert.match(r.stdout, /inet6 fd00:231::100\/64/);
    assert.doesNotMatch(r.stdout, /fd00:231::100\/64.*tentative/, 'usable at once (no DAD wait)');
    assert.equal((await runAgent('floating-ip', 'monitor', c)).rc, 0);
    // The client reaches the address over IPv6 (A's responder, started by the previous test).
    const ask = join(dir, 'ask.cjs');
    await writeFile(ask, ASK);
    const reply = await client.exec([process.execPath, ask, VIP6], { timeoutMs: 5000 });
    assert.equal(reply.code, 0, reply.stderr);
    assert.equal(reply.stdout.trim(), 'A');
    assert.equal((await runAgent('floating-ip', 'start', c)).rc, 0);
    // The unsolicited-NA sender (send_ua, from resource-agents) finishes on its own (1 NA).
    const ua = await readFile(join(rA, 'vip6.announce'), 'utf8').catch(() => '');
    if (ua !== '') {
      const pid = Number(ua.split(' ')[0]);
      assert.ok(await waitFor(async () => !(await pidAlive(pid)), 3000), 'send_ua exits by itself');
    }
    assert.equal((await runAgent('floating-ip', 'stop', c)).rc, 0);
    assert.equal((await runAgent('floating-ip', 'monitor', c)).rc, 7);
    assert.deepEqual(await holders(VIP6), []);
  });

  void it('monitor fails (1) when the address sits on an interface that is down', async () => {
    const c: AgentCall = { instance: 'vipdown', rsctmp: rA, host: hostA, params: { ip: '10.231.0.101/24', interface: 'eth0', arpCount: '0' } };
    assert.equal((await runAgent('floating-ip', 'start', c)).rc, 0);
    await run(['ip', '-n', hostA.netns, 'link', 'set', 'eth0', 'down']);
    try {
      const m = await runAgent('floating-ip', 'monitor', c);
      assert.equal(m.rc, 1);
      assert.match(m.reason ?? '', /down/);
    } finally {
      await run(['ip', '-n', hostA.netns, 'link', 'set', 'eth0', 'up']);
    }
    assert.equal((await runAgent('floating-ip', 'stop', c)).rc, 0);
    assert.deepEqual(await holders('10.231.0.101'), []);
  });
});
