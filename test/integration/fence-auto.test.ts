// Fence-then-start done by the agents (SPEC §4, §5.2, issue 6): after the owner host dies, the new
// owner fences it through its device before starting; a failing device leaves the set stopped with
// the reason shown and is retried until it succeeds; one host fences (the fence claim).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestCluster, dummySetYaml } from '../lib/cluster.js';

test('the new owner fences the old one through its device before starting, retrying a failing device', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hactl-fence-auto-'));
  const script = join(dir, 'fence.sh');
  const calls = join(dir, 'calls.log');
  const armed = join(dir, 'armed');
  // A power switch that fails until `armed` exists; it logs what it was asked on stdin.
  await writeFile(
    script,
    `#!/bin/sh\nin=$(cat)\nprintf '%s\\n---\\n' "$in" >> ${calls}\n[ -e ${armed} ] || { echo "switch unreachable" >&2; exit 1; }\nexit 0\n`,
  );
  await chmod(script, 0o755);
  const tc = await startTestCluster({ nodes: 3 });
  try {
    await tc.waitFor('3 agents online', 20_000, (s) => s.nodes.filter((n) => n.state === 'online').length === 3);
    const yaml = dummySetYaml({ prefer: ['n1', 'n2', 'n3'], extra: '    requireFencing: true' }).replace(
      'serviceSets:',
      `nodes: { n1: { fence: sw }, n2: { fence: sw }, n3: { fence: sw } }\nfencing:\n  devices:\n    sw: { agent: "script:${script}", timeout: 5s }\nserviceSets:`,
    );
    await tc.applyConfig(yaml);
    const before = await tc.waitRunning('S1', 20_000, (s) => s.node === 'n1');
    await tc.lc.killHost('n1');
    const blocked = await tc.waitFor('fence failure shown', 15_000, (s) => s.sets[0].state === 'blocked' && /switch unreachable/.test(s.sets[0].reason ?? ''));
    assert.equal(blocked.sets[0].node, 'n2');
    assert.match(blocked.sets[0].reason ?? '', /waiting for n1 to be fenced .*fencing n1 through sw failed: .*switch unreachable/);
    assert.equal((await tc.actions('n2')).filter((a) => a.action === 'start').length, 0, 'nothing starts before the fence');
    await writeFile(armed, '');
    const after = await tc.waitRunning('S1', 20_000, (s) => s.node === 'n2');
    assert.ok(after.fencingToken! > before.fencingToken!);
    const log = await readFile(calls, 'utf8');
    assert.match(log, /action=off\nplug=n1/);
    // Both survivors suspect n1 (fast fenced takeover) and the new owner's gate wants it fenced too;
    // the claim lets one host at a time run the device, and exactly one fence is recorded.
    const fencers: string[] = [];
    for (const n of ['n2', 'n3']) if ((await tc.logLines(n)).some((l) => l.msg === 'fenced')) fencers.push(n);
    assert.equal(fencers.length, 1, `one host fenced n1 (${fencers.join(', ')})`);
    const st = JSON.parse((await tc.hactl(['status', '--json'])).stdout) as { nodes: { name: string; state: string }[] };
    assert.equal(st.nodes.find((n) => n.name === 'n1')?.state, 'fenced');
    const ev = await tc.hactl(['events', '--set', 'S1']);
    assert.match(ev.stdout, /fence-failed/);
    assert.match(ev.stdout, /n1 fenced by n2: device sw/);
  } finally {
    await tc.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});
