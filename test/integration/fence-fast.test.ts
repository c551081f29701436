// Fencing by the agents beyond fence-then-start (SPEC §4, issue 6), against a real etcd and real
// agents, with a "power switch" script that SIGKILLs the victim's agent (a host powered off):
//   - a frozen owner (SIGSTOP: its keepalives stop, as in a paused VM) is suspected once etcd says
//     its lease went unrenewed for suspectAfter, fenced, its lease revoked, and only then is the set
//     taken over — before the lease would have expired by itself;
//   - a failed stop escalates: the host asks to be fenced, a peer fences it, the set moves;
//   - the fence device's password (read from its file) never reaches a log, an event or status,
//     even when the fence agent prints it in its error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dummySetYaml } from '../lib/cluster.js';
import { withSwitchCluster } from '../lib/power-switch.js';

test('a frozen owner is fenced on suspicion and its lease revoked: the set moves before the lease would expire', () =>
  withSwitchCluster(async (tc, sw) => {
    await writeFile(join(sw.dir, 'broken'), '');
    // TTL 3 s: suspectAfter defaults to 2 s (leaseTtl - 1 s).
    await tc.applyConfig(sw.yaml(dummySetYaml({ prefer: ['n1', 'n2', 'n3'], leaseTtl: '3s', fenceMargin: '1s', extra: '    requireFencing: true' }), ['n1', 'n2', 'n3']));
    const before = await tc.waitRunning('S1', 20_000, (s) => s.node === 'n1');
    // The periodic check finds the broken switch before anything is at stake.
    const unhealthy = await tc.waitFor('sw check failed', 15_000, (s) => s.devices.some((d) => d.state === 'failed'));
    assert.match(unhealthy.devices[0].reason ?? '', /device sw \(script:.*\) monitor failed \(exit 1\): login as admin\/\*\*\* refused/);
    const victim = tc.lc.agent('n1').process!.pid!;

    // Freeze n1 with the switch failing: suspicion, a failed fence (retried), then the expiry.
    process.kill(victim, 'SIGSTOP');
    const blocked = await tc.waitFor('fence failure shown', 15_000, (s) => /login as admin\/\*\*\* refused/.test(s.sets[0].reason ?? ''));
    assert.equal(blocked.sets[0].state, 'blocked');
    assert.equal((await tc.actions('n2')).concat(await tc.actions('n3')).filter((a) => a.action === 'start').length, 0, 'nothing starts before the fence');
    await rm(join(sw.dir, 'broken'));
    const after = await tc.waitRunning('S1', 20_000, (s) => s.node !== 'n1');
    assert.ok(after.fencingToken! > before.fencingToken!);
    const fence = JSON.parse((await tc.client.get(tc.keys.fence('n1')).string()) ?? '{}') as { atWallMs?: number };
    assert.ok(fence.atWallMs, 'the fence is recorded');
    const starts = (await tc.actions(after.node!)).filter((a) => a.action === 'start');
    assert.ok(starts.length > 0 && starts.every((a) => a.beginWallMs >= fence.atWallMs!), 'every start came after the fence record');
    let alive = true;
    try {
      process.kill(victim, 0);
    } catch {
      alive = false;
    }
    assert.equal(alive, false, 'the switch powered n1 off');

    // A clean run of the same on n2 (now the owner): freeze, fence, revoke, take over — measured.
    await sw.wire(tc);
    const owner = after.node!;
    const frozen = tc.lc.agent(owner).process!.pid!;
    const t0 = Date.now();
    process.kill(frozen, 'SIGSTOP');
    const moved = await tc.waitRunning('S1', 15_000, (s) => s.node !== owner && s.node !== 'n1');
    const tookMs = Date.now() - t0;
    const other = moved.node!;
    const logs = await tc.logLines(other);
    const revoked = logs.find((l) => l.msg === 'fenced host lease revoked' && l.node === owner);
    assert.ok(revoked, `${other} revoked ${owner}'s lease after fencing it`);
    assert.equal(revoked.revoked, 'revoked');
    const fencing = logs.find((l) => l.msg === 'fencing' && l.node === owner);
    assert.equal(fencing?.why, 'suspected');
    // Fast path: fenced and recorded while the frozen host still held its lease, then taken over.
    const fence2 = (await tc.client.get(tc.keys.fence(owner)).exec()).kvs[0];
    assert.ok(Number(fence2.mod_revision) < moved.fencingToken!, 'the fence was recorded before the takeover');
    // The time is reported, not asserted (a loaded machine stretches it); the revoke above and the
    // fence-before-token order below are what show the takeover did not wait for the expiry.
    process.stderr.write(`  frozen owner -> running on ${other}: ${tookMs} ms (TTL 3 s, suspectAfter 2 s)\n`);

    // The password the careless switch printed is nowhere.
    const evidence: string[] = [];
    for (const n of ['n1', 'n2', 'n3']) evidence.push(await readFile(tc.lc.agent(n).logFile, 'utf8'));
    evidence.push((await tc.hactl(['events'])).stdout, (await tc.hactl(['events', '--json'])).stdout);
    evidence.push((await tc.hactl(['status'])).stdout, (await tc.hactl(['status', '--json'])).stdout);
    const all = await tc.client.getAll().prefix('/').strings();
    evidence.push(JSON.stringify(all));
    assert.ok(evidence.join('\n').includes('refused'), 'the failure itself was reported');
    for (const e of evidence) assert.ok(!e.includes(sw.password), 'the fence password leaked');
  }));

test('a failed stop escalates to fencing: the host asks, one peer fences it, the set moves', () =>
  withSwitchCluster(async (tc, sw) => {
    await tc.applyConfig(sw.yaml(dummySetYaml({ prefer: ['n1', 'n2', 'n3'], leaseTtl: '3s', fenceMargin: '1s' }), ['n1', 'n2', 'n3']));
    await tc.waitRunning('S1', 20_000, (s) => s.node === 'n1');
    // The periodic device check (one host on duty, first check 2 s after it took the duty).
    const checked = await tc.waitFor('sw checked', 15_000, (s) => s.devices.some((d) => d.name === 'sw' && d.state === 'ok'));
    const sw1 = checked.devices.find((d) => d.name === 'sw')!;
    assert.deepEqual(sw1.fences, ['n1', 'n2', 'n3']);
    assert.equal(sw1.by, 'n1', 'sw fences every node: the first online one checks it');
    assert.match((await tc.hactl(['status'])).stdout, /FENCE DEVICE +AGENT +FENCES +HEALTH[^\n]*\nsw +script:\S+ +n1,n2,n3 +ok /);
    assert.match(await readFile(sw.calls, 'utf8'), / monitor $/m);
    await writeFile(join(tc.lc.agent('n1').dir, 'data', 'run', 's1-r3.fail-stop'), '1\ndevice busy\n');
    assert.equal((await tc.hactl(['failover', 'S1', '--to', 'n2'])).code, 0);
    const moved = await tc.waitRunning('S1', 20_000, (s) => s.node === 'n2');
    assert.equal(moved.state, 'running');
    const ev = (await tc.hactl(['events', '--set', 'S1'])).stdout;
    assert.match(ev, /stop-failed/);
    assert.match(ev, /n1 fenced by n[23]: .*because n1 could not stop S1 \(stop of s1-r3 failed \(rc=1: device busy\)\)/);
    const calls = (await readFile(sw.calls, 'utf8')).split('\n').filter((l) => / off n1$/.test(l));
    assert.equal(calls.length, 1, 'one fence of n1');
  }));
