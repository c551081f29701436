// `hactl fence NODE --yes` through the node's fence device (SPEC §7), against a real etcd and real
// agents: refused while the node is online, refused without confirmation off a terminal, a failing
// device gives exit 1 with the (secret-scrubbed) agent line, and a working device is run with the
// fence-agents stdin protocol (plug=n1) and its fence recorded — after which a set that requires
// fencing, blocked on n2 waiting for n1's fence, starts there (fence-then-start through the gate).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestCluster, dummySetYaml } from '../lib/cluster.js';

test('hactl fence NODE --yes runs the device with plug=NODE and records the fence; the blocked set starts', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hactl-fence-'));
  const tc = await startTestCluster({ nodes: 2 });
  try {
    // The "power switch": logs every call; fails (echoing the password) until the test arms it, so
    // that an agent's own fence attempt cannot get there first.
    const script = join(dir, 'fence-switch');
    await writeFile(
      script,
      [
        '#!/bin/sh',
        'in=$(cat)',
        `{ echo "--- node=$HA_FENCE_NODE action=$HA_FENCE_ACTION argc=$#"; echo "$in"; } >> ${dir}/calls.log`,
        'pw=$(echo "$in" | sed -n "s/^password=//p")',
        `if [ ! -e ${dir}/armed ]; then echo "ERROR: switch unreachable (tried password=$pw)" >&2; exit 1; fi`,
        'echo "Success: Powered OFF"',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    await writeFile(join(dir, 'pw'), 'top-secret-pw\n', { mode: 0o600 });
    const calls = () => readFile(join(dir, 'calls.log'), 'utf8').catch(() => '');

    await tc.waitFor('2 agents online', 20_000, (s) => s.nodes.filter((n) => n.state === 'online').length === 2);
    const yaml =
      dummySetYaml({ prefer: ['n1', 'n2'], extra: '    requireFencing: true' }) +
      ['nodes:', '  n1: { fence: switch-n1 }', '  n2: {}', 'fencing:', '  devices:', `    switch-n1: { agent: "script:${script}", params: { ip: 192.0.2.1, password_file: ${join(dir, 'pw')} }, timeout: 10s }`, ''].join('\n');
    await tc.applyConfig(yaml);
    const before = await tc.waitRunning('S1', 20_000, (s) => s.node === 'n1');

    const online = await tc.hactl(['fence', 'n1', '--yes']);
    assert.equal(online.code, 4, online.stderr);
    assert.match(online.stderr, /n1 is online/);
    assert.match(online.stderr, /--force-online/);
    // (the agents' periodic device check runs `monitor`; nothing was powered off)
    assert.doesNotMatch(await calls(), /action=off/, 'the device was not run for an online node');

    await tc.lc.killHost('n1');
    await tc.waitFor('S1 owned by n2, not started', 15_000, (s) => s.sets.some((x) => x.name === 'S1' && x.node === 'n2' && x.state !== 'running' && x.state !== 'starting'));

    const noTty = await tc.hactl(['fence', 'n1']);
    assert.equal(noTty.code, 2, noTty.stderr);
    assert.match(noTty.stderr, /without confirmation.*--yes/);

    const failing = await tc.hactl(['fence', 'n1', '--yes']);
    assert.equal(failing.code, 1, failing.stderr);
    assert.match(failing.stderr, /device switch-n1 \(script:.*\) off n1 failed \(exit 1\): ERROR: switch unreachable \(tried password=\*\*\*\)/);
    assert.ok(!failing.stderr.includes('top-secret') && !failing.stdout.includes('top-secret'), 'the secret is scrubbed');
    assert.equal(failing.stderr.trim().split('\n').length, 1, 'one line');
    assert.equal((await tc.actions('n2')).filter((a) => a.action === 'start').length, 0, 'nothing started without a fence');

    await writeFile(join(dir, 'armed'), '');
    const fenced = await tc.hactl(['fence', 'n1', '--yes', '--json']);
    assert.equal(fenced.code, 0, fenced.stderr);
    const out = JSON.parse(fenced.stdout) as { node: string; fenced: boolean; how: string };
    assert.equal(out.node, 'n1');
    assert.equal(out.how, `device switch-n1 (script:${script}) action off`);
    const last = (await calls()).split('--- ').filter((c) => c.includes('action=off')).at(-1)!;
    assert.match(last, /^node=n1 action=off argc=0\n/);
    assert.match(last, /^action=off\nplug=n1\nnodename=n1\nip=192\.0\.2\.1\npassword=top-secret-pw\n/m);

    const record = JSON.parse((await tc.client.get(tc.keys.fence('n1')).string()) ?? '{}') as { how?: string; by?: string; atWallMs?: number };
    assert.match(record.how ?? '', /^device switch-n1 \(script:.*\) action off$/);
    assert.ok(typeof record.atWallMs === 'number' && Date.now() - record.atWallMs < 60_000);

    const after = await tc.waitRunning('S1', 15_000, (s) => s.node === 'n2');
    assert.ok(after.fencingToken! > before.fencingToken!);
    const st = await tc.hactl(['status', '--json']);
    assert.equal(JSON.parse(st.stdout).nodes.find((n: { name: string }) => n.name === 'n1').state, 'fenced');
  } finally {
    await tc.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});
