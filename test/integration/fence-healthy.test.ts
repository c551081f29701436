// Healthy hosts are not fenced (issue 14, items 7–9), against a real etcd and real agents with a
// "power switch" that SIGKILLs the victim's agent:
//   - lowering timing.leaseTtl: owners keep the TTL they were granted, and suspicion is measured
//     against that TTL, not the new one;
//   - an agent killed and restarted resumes its lease before anything slow (host facts), so it is
//     not suspected and its set keeps running;
//   - a fence claimed for one life of a host is never carried out on its next life (the host
//     re-registered while the device was failing and the claim waited for its retry).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dummySetYaml, type TestCluster } from '../lib/cluster.js';
import { alive, withSwitchCluster, type Switch } from '../lib/power-switch.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The switch's power-off calls for `node` at or after `sinceWallMs`. */
async function offCalls(sw: Switch, node: string, sinceWallMs = 0): Promise<string[]> {
  const text = await readFile(sw.calls, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => new RegExp(` (off|reboot) ${node}$`).test(l) && Number(l.split(' ')[0]) >= sinceWallMs);
}

async function fencingLines(tc: TestCluster, node: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (const a of tc.lc.agents) out.push(...(await tc.logLines(a.node)).filter((l) => l.msg === 'fencing' && l.node === node));
  return out;
}

test('lowering leaseTtl from 5s to 2s fences no healthy owner: the set stays where it runs', () =>
  withSwitchCluster(async (tc, sw) => {
    const yaml5 = sw.yaml(dummySetYaml({ prefer: ['n1', 'n2', 'n3'], leaseTtl: '5s', fenceMargin: '1s' }), ['n1', 'n2', 'n3']);
    await tc.applyConfig(yaml5);
    const before = await tc.waitRunning('S1', 20_000, (s) => s.node === 'n1');
    const owner = tc.lc.agent('n1').process!.pid!;
    // Same set, shorter TTL: suspectAfter now defaults to 1 s, but n1 still renews a 5 s lease
    // every 1.25 s, which etcd reports as "3 whole seconds left" — 1 s unrenewed by the new rule.
    await tc.applyConfig(yaml5.replace('leaseTtl: 5s', 'leaseTtl: 2s').replace('fenceMargin: 1s', 'fenceMargin: 800ms'));
    await sleep(10_000);
    assert.deepEqual(await fencingLines(tc, 'n1'), [], 'nobody started fencing n1');
    assert.deepEqual(await offCalls(sw, 'n1'), [], 'the switch was never asked to power n1 off');
    assert.ok(alive(owner), 'n1 runs');
    const after = await tc.set('S1');
    assert.equal(after?.node, 'n1');
    assert.equal(after?.state, 'running');
    assert.equal(after?.fencingToken, before.fencingToken, 'same ownership, same token');
    // The owner moved its keys to a 2 s lease without a restart (test/integration/ttl-move.test.ts).
    assert.ok((await tc.logLines('n1')).some((l) => l.msg === 'leaseTtl changed; owner keys moved to a new lease'));
  }));

test('an agent killed and restarted while its host facts are slow resumes its lease before it is suspected: no fence, no restart', () =>
  withSwitchCluster(async (tc, sw) => {
    // Host facts run `hostname -f` (systeminformation); this one takes 7 s, as a slow probe would.
    // With leaseTtl 8s (suspectAfter 7s) a restart has 5-7 s to resume its lease: enough for the
    // agent's own start-up even on a loaded machine, not if the facts come first.
    const slowBin = join(sw.dir, 'slow-bin');
    await mkdir(slowBin);
    await writeFile(join(slowBin, 'hostname'), '#!/bin/sh\nsleep 7\nexec /bin/hostname "$@"\n', { mode: 0o755 });
    await tc.applyConfig(sw.yaml(dummySetYaml({ prefer: ['n1', 'n2'], leaseTtl: '8s', fenceMargin: '1s' }), ['n1', 'n2']));
    const before = await tc.waitRunning('S1', 20_000, (s) => s.node === 'n1');
    const firstKillAt = Date.now();
    const tookMs: number[] = [];
    const path = process.env.PATH;
    for (let round = 0; round < 2; round++) {
      await tc.lc.killAgent('n1');
      const spawnedAt = Date.now();
      process.env.PATH = `${slowBin}:${path}`;
      try {
        await tc.lc.startAgent('n1');
      } finally {
        process.env.PATH = path;
      }
      await sw.wire(tc); // a fence now powers off the restarted agent
      const pid = tc.lc.agent('n1').process!.pid!;
      const deadline = Date.now() + 15_000;
      let resumedAt: number | undefined;
      while (resumedAt === undefined && alive(pid) && Date.now() < deadline) {
        const l = (await tc.logLines('n1')).find((x) => x.msg === 'lease resumed' && Date.parse(String(x.time)) >= spawnedAt);
        if (l) resumedAt = Date.parse(String(l.time));
        else await sleep(50);
      }
      if (resumedAt === undefined) break;
      tookMs.push(resumedAt - spawnedAt);
      await sleep(2000);
    }
    process.stderr.write(`  agent spawn -> lease resumed: ${tookMs.join(', ')} ms (TTL 8 s, suspectAfter 7 s, facts 7 s)\n`);
    assert.deepEqual(await fencingLines(tc, 'n1'), [], 'nobody started fencing n1');
    assert.deepEqual(await offCalls(sw, 'n1'), [], 'the switch was never asked to power n1 off');
    assert.equal(tookMs.length, 2, 'the restarted agent resumed its lease each time');
    assert.ok(alive(tc.lc.agent('n1').process!.pid!), 'the restarted agent runs');
    const after = await tc.set('S1');
    assert.equal(after?.node, 'n1');
    assert.equal(after?.state, 'running');
    assert.equal(after?.fencingToken, before.fencingToken, 'same ownership, same token');
    const restarted = (await tc.actions('n1')).filter((a) => (a.action === 'start' || a.action === 'stop') && a.beginWallMs > firstKillAt);
    assert.deepEqual(restarted, [], 'nothing was stopped or started again');
    assert.equal((await tc.actions('n2')).filter((a) => a.action === 'start').length, 0);
    // The facts still reach the node record, once gathered (after the lease).
    await tc.waitFor('n1 facts in its node record', 45_000, async () => {
      const node = JSON.parse((await tc.client.get(tc.keys.node('n1')).string()) ?? '{}') as { facts?: { os?: string } };
      return node.facts?.os !== undefined;
    });
  }, 2));

test('a fence claimed for one life of a host is not carried out on its next life', () =>
  withSwitchCluster(async (tc, sw) => {
    await writeFile(join(sw.dir, 'broken'), '');
    await tc.applyConfig(sw.yaml(dummySetYaml({ prefer: ['n1', 'n2', 'n3'], leaseTtl: '2s', fenceMargin: '800ms', extra: '    requireFencing: true' }), ['n1', 'n2', 'n3']));
    await tc.waitRunning('S1', 20_000, (s) => s.node === 'n1');
    // n1 dies; n2 takes S1 over and must fence n1 first, but the switch fails: retried with backoff.
    await tc.lc.killHost('n1');
    await tc.waitFor('fence failure shown', 20_000, (s) => s.sets[0].state === 'blocked' && /refused/.test(s.sets[0].reason ?? ''));
    // n1 comes back (a new life: its old lease expired) before the next retry, and the switch works again.
    await tc.lc.startAgent('n1');
    await tc.waitFor('n1 online again', 10_000, (s) => s.nodes.some((n) => n.name === 'n1' && n.state === 'online'));
    const rejoinedAt = Date.now();
    await sw.wire(tc);
    await rm(join(sw.dir, 'broken'));
    // Longer than any retry the failures so far can have scheduled (1 s, 2 s, 4 s, 8 s ...).
    await sleep(20_000);
    assert.deepEqual(await offCalls(sw, 'n1', rejoinedAt), [], 'the switch was never asked to power off n1 in its new life');
    assert.ok(alive(tc.lc.agent('n1').process!.pid!), "n1's new life runs");
    const ev = (await tc.hactl(['events', '--set', 'S1'])).stdout;
    assert.match(ev, /fence-dropped/);
    assert.match(ev, /n1 registered again/);
  }));
