// Fencing on namespace hosts (issue 6, SPEC §4, §5.2): the seed deployment without the broker (QM1
// = shared disk + floating IP, prefer [A, B, spare]), real agents on A, B and spare, the testbed's
// power switch as every host's fence device (its `off` is a power cut of the namespace host), and
// the outside checker polling from the root namespace throughout:
//   1. a frozen owner is fenced, and only then does the set start elsewhere;
//   2. with the fence device failing, the set stays down with the failure as its reason in
//      `hactl status`, and starts once the device works again; the device's password (which the
//      switch's careless agent prints in its error) is in no log, event, status output or etcd key;
//   3. only one host fences, although two survivors could (both watch the owner's lease);
//   4. the guards: with the shortest suspicion threshold the config allows (leaseTtl 2s,
//      suspectAfter 1s), a healthy owner whose link to its etcd member dies (its keepalives stall
//      until its keeper moves to the next member), or that is cut off from its peers, is not fenced.
// Each test brings its own deployment up and tears it down in `finally`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deploy, hactlJs, SET, type Deployment, type DeploymentOptions } from './lib/deployment.js';
import { Checker } from './lib/checker.js';
import { installSignalCleanup } from './lib/testbed.js';
import { sleep, waitFor } from './lib/exec.js';
import { FENCE_POWER_PORT, FENCE_TESTBED, actionsSince, allOnline, fenceRecord, logLinesSince, runningElsewhere } from './lib/fence-observe.js';

const FENCE_SECRET = `fx-Pw-${process.pid}-q8`;
const skip = process.getuid?.() !== 0 ? 'needs root (namespaces, cgroups, loop devices)' : !existsSync(hactlJs) ? 'hactl not built' : false;

/** A fresh fenced deployment with the checker running; both torn down whatever happens. */
async function withFencedDeployment(
  fn: (d: Deployment, ck: Checker) => Promise<void>,
  extra: Pick<DeploymentOptions, 'leaseTtl' | 'fenceMargin' | 'suspectAfter' | 'fenceSecret'> = {},
): Promise<void> {
  installSignalCleanup();
  const d = await deploy({ fencing: true, brokerless: true, testbed: FENCE_TESTBED, powerPort: FENCE_POWER_PORT, ...extra });
  const ck = new Checker(d.tb, { vips: [d.vip], disk: true });
  try {
    await allOnline(d);
    ck.start();
    await fn(d, ck);
  } finally {
    await ck.stop();
    await d.down();
  }
}

/** A second of steady state after the move, then no violation at all and the checker really ran. */
async function checkerClean(d: Deployment, ck: Checker, holder: string): Promise<void> {
  await sleep(1000);
  await ck.stop();
  assert.deepEqual(ck.violations, [], 'the outside checker saw the floating IP or the disk twice');
  assert.ok(ck.samples >= 20 && ck.arpRounds >= 2, `the checker ran (${ck.samples} samples, ${ck.arpRounds} arp rounds)`);
  assert.deepEqual(await ck.vipHolders(d.vip), [holder]);
  assert.deepEqual((await ck.diskState()).mounts.map((m) => m.split(':')[0]), [holder]);
}

test('a frozen owner is fenced (power switch off) and only then does the set start elsewhere; the checker sees no overlap', { skip, timeout: 150_000 }, () =>
  withFencedDeployment(async (d, ck) => {
    const victim = d.tb.host(d.firstOwner);
    const tFault = Date.now();
    await victim.freeze();
    const newOwner = await runningElsewhere(d, [victim.name], 30_000);
    const tookMs = Date.now() - tFault;

    const offs = d.power!.events.filter((e) => e.plug === victim.name && e.at >= tFault);
    assert.deepEqual(offs.map((e) => [e.action, e.ok]), [['off', true]], 'one power-off of the frozen owner');
    assert.equal(await victim.running(), false, 'the switch powered the frozen host off');
    const record = await fenceRecord(d, victim.name);
    assert.ok(record?.value.atWallMs, 'the fence is recorded');
    assert.match(record.value.how ?? '', /device testbed-power .* action off/);
    const fencing = await logLinesSince(d, 'fencing', tFault);
    // Normally on suspicion; on a badly loaded machine the lease may expire first (then the new
    // owner's gate asks for the fence): either way one host fences before anything starts.
    assert.deepEqual(fencing.map((l) => l.node), [victim.name], 'one host ran the device');
    assert.ok(['suspected', 'gate'].includes(String(fencing[0]!.why)));

    const starts = await actionsSince(d, newOwner, tFault, 'start');
    assert.deepEqual(starts.map((s) => s.resource), ['qm1-data', 'qm1-ip'], 'disk, then IP, on the new owner');
    const firstStart = Math.min(...starts.map((s) => s.beginMs));
    assert.ok(offs[0]!.at <= firstStart, `power-off at ${offs[0]!.at} before the first start at ${firstStart}`);
    assert.ok(record.value.atWallMs <= firstStart, 'the fence record came before the first start');
    for (const h of d.agents.filter((x) => x.name !== newOwner)) assert.deepEqual(await actionsSince(d, h.name, tFault, 'start'), [], `${h.name} started nothing`);
    process.stderr.write(`  frozen ${victim.name} (${String(fencing[0]!.why)}): powered off +${offs[0]!.at - tFault} ms, recorded +${record.value.atWallMs - tFault} ms, first start on ${newOwner} +${firstStart - tFault} ms, running +${tookMs} ms\n`);
    await checkerClean(d, ck, newOwner);
  }));

/** Everything a person or a program can read after a run: the hosts' logs, events, status, every etcd key. */
async function evidence(d: Deployment): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for (const h of d.agents) {
    for (const f of ['agent.log', 'boot.log', 'console.log']) out.push([`${h.name} ${f}`, await readFile(join(h.stateDir, f), 'utf8').catch(() => '')]);
  }
  for (const args of [['events'], ['--json', 'events'], ['status'], ['--json', 'status']]) {
    const r = await d.hactl(args);
    out.push([`hactl ${args.join(' ')}`, r.stdout + r.stderr]);
  }
  const all = await d.etcd.ctl(['get', '--prefix', '/'], 10_000);
  out.push(['etcd', all.stdout]);
  return out;
}

test('a failing fence device keeps the set down with the reason in hactl status; it starts once fencing succeeds; its password shows nowhere', { skip, timeout: 150_000 }, () =>
  withFencedDeployment(async (d, ck) => {
    const power = d.power!;
    const victim = d.tb.host(d.firstOwner);
    const failure = 'switch unreachable (testbed switch failing on purpose)';
    power.failing = failure;
    const tFault = Date.now();
    await victim.kill(); // a power cut the survivors cannot confirm: the switch does not answer

    const shown = await waitFor('the fence failure as the set reason', async () => {
      const s = await d.setStatus();
      return s && s.reason?.includes(failure) ? s : undefined;
    }, 30_000, 250);
    assert.notEqual(shown.state, 'running');
    assert.match(shown.reason!, new RegExp(`fenc[^;]*${victim.name}`), 'the reason names the fence of the old owner');
    const text = await d.hactl(['status']);
    assert.ok(text.stdout.includes(failure), `hactl status shows the failure:\n${text.stdout}`);
    // Held down while the device fails: nothing runs, nothing starts, nobody holds the IP or disk.
    const holdUntil = Date.now() + 4000;
    while (Date.now() < holdUntil) {
      const s = await d.setStatus();
      assert.notEqual(s?.state, 'running', 'the set must not start without a fence');
      await sleep(250);
    }
    for (const h of d.agents) assert.deepEqual(await actionsSince(d, h.name, tFault, 'start'), [], `${h.name} started nothing while fencing failed`);
    assert.deepEqual(await ck.vipHolders(d.vip), []);
    assert.deepEqual((await ck.diskState()).mounts, []);
    const failed = power.events.filter((e) => e.plug === victim.name && !e.ok);
    assert.ok(failed.length >= 1, 'the switch was tried and failed');
    const events = (await d.hactl(['events', '--set', SET])).stdout;
    assert.match(events, /fence-failed/);

    const tHeal = Date.now();
    power.failing = undefined;
    const newOwner = await runningElsewhere(d, [victim.name], 45_000);
    const offs = power.events.filter((e) => e.plug === victim.name && e.ok && e.at >= tFault);
    assert.deepEqual(offs.map((e) => e.action), ['off'], 'one successful fence, after the device recovered');
    assert.ok(offs[0]!.at >= tHeal);
    const starts = await actionsSince(d, newOwner, tFault, 'start');
    assert.ok(starts.length === 2 && starts.every((s) => s.beginMs >= offs[0]!.at), 'the set started only after the fence');
    const record = await fenceRecord(d, victim.name);
    assert.equal(record?.version, 1);
    process.stderr.write(`  fence failed ${failed.length}x while down for ${tHeal - tFault} ms; healed -> fenced +${offs[0]!.at - tHeal} ms, running on ${newOwner} +${Date.now() - tHeal} ms\n  reason shown: ${shown.reason}\n`);
    await checkerClean(d, ck, newOwner);

    // The switch's agent printed the password it got on stdin in its error; hactl scrubbed it.
    assert.match(shown.reason!, /\(as admin\/\*\*\*\)/, 'the agent got the password and printed it; the reason shows it scrubbed');
    const seen = await evidence(d);
    assert.ok(seen.some(([, text]) => text.includes('as admin/***')), 'the scrubbed failure was reported');
    for (const [where, text] of seen) assert.ok(!text.includes(FENCE_SECRET), `the fence password leaked into ${where}`);
  }, { fenceSecret: FENCE_SECRET }));

test('only one host fences although two survivors could: one power-off and one fence record per incident', { skip, timeout: 170_000 }, () =>
  withFencedDeployment(async (d, ck) => {
    const power = d.power!;
    let owner = d.firstOwner;
    const seen: string[] = [];
    for (let incident = 1; incident <= 2; incident++) {
      const victim = d.tb.host(owner);
      const survivors = d.agents.filter((h) => h !== victim).map((h) => h.name);
      await allOnline(d); // both survivors hold live leases and watch the owner's: either could fence
      const tFault = Date.now();
      await victim.kill();
      const newOwner = await runningElsewhere(d, [victim.name], 30_000);
      const offs = power.events.filter((e) => e.plug === victim.name && e.at >= tFault);
      assert.deepEqual(offs.map((e) => [e.action, e.ok]), [['off', true]], `incident ${incident}: exactly one power-off of ${victim.name}`);
      const fencing = await logLinesSince(d, 'fencing', tFault);
      const fenced = await logLinesSince(d, 'fenced', tFault);
      assert.equal(fencing.length, 1, `incident ${incident}: one host ran the device: ${JSON.stringify(fencing.map((l) => l.host))}`);
      assert.equal(fenced.length, 1);
      assert.ok(survivors.includes(fencing[0]!.host));
      const record = await fenceRecord(d, victim.name);
      assert.equal(record?.version, 1, `incident ${incident}: one fence record of ${victim.name}`);
      assert.equal(record.value.by, fencing[0]!.host);
      seen.push(`${victim.name} fenced by ${fencing[0]!.host} (${fencing[0]!.why}), set on ${newOwner}`);
      // the fenced host is powered on again and rejoins (with a new lease) before the next incident
      await victim.start();
      owner = newOwner;
    }
    await allOnline(d);
    process.stderr.write(`  ${seen.join('; ')}\n`);
    await checkerClean(d, ck, owner);
  }));

test('guards: a healthy owner is not fenced when its etcd member link dies or its peers are cut off (leaseTtl 2s, suspectAfter 1s)', { skip, timeout: 120_000 }, () =>
  withFencedDeployment(async (d, ck) => {
    const owner = d.tb.host(d.firstOwner);
    const peers = d.agents.filter((h) => h !== owner).map((h) => h.ip);
    const t0 = Date.now();
    // One member at a time: whichever carries the owner's keepalive stream goes silent under it.
    for (const member of d.etcd.ips()) {
      await owner.block([member]);
      await sleep(2500);
      await owner.unblock();
      await sleep(1000);
    }
    await owner.block(peers);
    await sleep(3000);
    await owner.unblock();
    await sleep(1000);
    const late = (await logLinesSince(d, 'lease keepalive late; moving to next etcd member', t0)).filter((l) => l.host === owner.name);
    assert.ok(late.length >= 1, "the owner's keepalive stream really stalled");
    assert.deepEqual(d.power!.events.filter((e) => e.at >= t0 && e.action !== 'status'), [], 'nobody was fenced');
    assert.deepEqual(await logLinesSince(d, 'fencing', t0), []);
    assert.equal(await d.owner(), owner.name, 'the set stayed where it was');
    process.stderr.write(`  ${owner.name}: ${late.length} stalled keepalive stream(s) (waited ${late.map((l) => Math.round(Number(l.waitedMs))).join(', ')} ms), not fenced\n`);
    await checkerClean(d, ck, owner.name);
  }, { leaseTtl: '2s', fenceMargin: '800ms', suspectAfter: '1s' }));
