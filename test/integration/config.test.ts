// Configuration through the CLI against a real etcd (SPEC §3.2): a file that fails validation is
// refused with the path of the error and leaves etcd unchanged; a valid one is applied and shown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestEtcd } from '../lib/etcd.js';
import { runHactl, dummySetYaml } from '../lib/cluster.js';
import { HACTL_JS } from '../../cli/dev/local-cluster.js';
import { Etcd3 } from 'etcd3';
import { Keys } from '../../agent/etcd/keys.js';

test('config apply: invalid files are refused with the path and change nothing; valid ones are stored', async () => {
  const etcd = await startTestEtcd(1);
  const dir = await mkdtemp(join(tmpdir(), 'hactl-test-config-'));
  const env = { HACTL_ENDPOINTS: etcd.endpoints.join(','), HACTL_CLUSTER: 'cfgtest' };
  try {
    const good = join(dir, 'good.yaml');
    await writeFile(good, dummySetYaml({ prefer: ['a', 'b'] }));
    const applied = await runHactl(['config', 'apply', good], env);
    assert.equal(applied.code, 0, applied.stderr);
    const revision = Number(/revision (\d+)/.exec(applied.stdout)?.[1]);
    assert.ok(revision > 0);

    const bad: [string, RegExp][] = [
      ['timing: { leaseTtl: 2500ms }\n', /timing\.leaseTtl: must be whole seconds/],
      ['timing: { leaseTtl: 2s, fenceMargin: 1s }\n', /timing\.fenceMargin: must be less than leaseTtl \/ 2/],
      ['serviceSets:\n  QM1:\n    resources:\n      - { id: a, type: dummy }\n      - { id: b, type: dummy, bogus: 1 }\n', /serviceSets\.QM1\.resources\[1\]: unknown key bogus/],
      ['serviceSets:\n  QM1:\n    resources:\n      - { id: a, type: "rm -rf /" }\n', /serviceSets\.QM1\.resources\[0\]\.type: not a resource type/],
      ['serviceSets:\n  QM1:\n    resources:\n      - { id: a, type: dummy, params: { "bad name": x } }\n', /serviceSets\.QM1\.resources\[0\]\.params/],
      ['nodes: { a: {} }\nserviceSets:\n  QM1:\n    prefer: [a, zz]\n    resources: [{ id: a1, type: dummy }]\n', /serviceSets\.QM1\.prefer\[1\]: unknown node zz/],
      ['serviceSets: [\n', /^hactl: .*yaml/m],
      ['timing: { leaseTtl: soon }\n', /timing\.leaseTtl: not a duration/],
      ['serviceSets:\n  QM1:\n    resources:\n      - { id: a, type: dummy, params: { qm: "QM\\01" } }\n', /serviceSets\.QM1\.resources\[0\]\.params\.qm: contains a NUL byte/],
    ];
    for (const [text, re] of bad) {
      const f = join(dir, 'bad.yaml');
      await writeFile(f, text);
      const r = await runHactl(['config', 'apply', f], env);
      assert.equal(r.code, 2, `${text}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
      const v = await runHactl(['config', 'validate', f], env);
      assert.equal(v.code, 2);
    }
    const shown = await runHactl(['config', 'show', '--json'], env);
    assert.equal(shown.code, 0);
    assert.equal(JSON.parse(shown.stdout).revision, revision, 'etcd still holds the valid config at the same revision');

    const missing = await runHactl(['config', 'apply', join(dir, 'nope.yaml')], env);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /config file not found/);
  } finally {
    await rm(dir, { recursive: true, force: true });
    await etcd.dispose();
  }
});

test('hactl: unknown command and missing --config file give one line and exit 2', async () => {
  const r1 = await runHactl(['frobnicate'], {});
  assert.equal(r1.code, 2);
  assert.equal(r1.stderr.trim().split('\n').length, 1);
  const r2 = await runHactl(['agent', '--config', '/nonexistent/agent.yaml'], {});
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /config file not found: \/nonexistent\/agent.yaml/);
  assert.equal(r2.stderr.trim().split('\n').length, 1);
});

test('output through a pipe is complete, whatever its size: status --json | cat equals status --json > file (400 sets, > 64 KiB)', async () => {
  const etcd = await startTestEtcd(1);
  const dir = await mkdtemp(join(tmpdir(), 'hactl-test-pipe-'));
  const env = { HACTL_ENDPOINTS: etcd.endpoints.join(','), HACTL_CLUSTER: 'pipetest' };
  try {
    // No agent runs: status still lists every set (stopped, with its reason), which is plenty of output.
    const sets = Array.from({ length: 400 }, (_, i) => `  SET${i}:\n    resources:\n      - { id: r${i}, type: dummy }\n`).join('');
    const big = join(dir, 'big.yaml');
    await writeFile(big, `serviceSets:\n${sets}`);
    const applied = await runHactl(['config', 'apply', '--no-agent-checks', big], env);
    assert.equal(applied.code, 0, applied.stderr);
    const toFile = join(dir, 'status.json');
    const hactl = `'${process.execPath}' '${HACTL_JS}'`;
    const shell = (cmd: string): Promise<{ code: number | null; stdout: string }> =>
      new Promise((resolve) => {
        const child = spawn('sh', ['-c', cmd], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
        let stdout = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, stdout });
        });
      });
    const f = await shell(`${hactl} status --json > '${toFile}'`);
    assert.equal(f.code, 0);
    const fileText = await readFile(toFile, 'utf8');
    assert.ok(fileText.length > 65_536, `more than a pipe buffer: ${fileText.length} bytes`);
    // `| (sleep; cat)`: the reader starts late, so the pipe fills up and hactl must wait for it.
    for (const cmd of ['status --json', 'status', 'config show']) {
      const piped = await shell(`${hactl} ${cmd} | (sleep 0.5; cat)`);
      assert.equal(piped.code, 0);
      if (cmd === 'status --json') {
        assert.equal(piped.stdout.length, fileText.length, 'every byte through the pipe');
        assert.equal(JSON.parse(piped.stdout).sets.length, 400);
      } else if (cmd === 'status') {
        assert.match(piped.stdout.trimEnd(), /\n {2}r399 +dummy +stopped +0 +-$/, 'the table ends with the last set');
      } else {
        assert.ok(piped.stdout.endsWith('      - { id: r399, type: dummy }\n'), 'config show ends with the last set');
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
    await etcd.dispose();
  }
});

test('config diff and apply: a diff of what changes; removing sets or changing timing needs --force; an empty file is refused', async () => {
  const etcd = await startTestEtcd(1);
  const dir = await mkdtemp(join(tmpdir(), 'hactl-test-diff-'));
  const env = { HACTL_ENDPOINTS: etcd.endpoints.join(','), HACTL_CLUSTER: 'difftest' };
  const file = async (name: string, text: string): Promise<string> => {
    const f = join(dir, name);
    await writeFile(f, text);
    return f;
  };
  const stored = async (): Promise<number> => JSON.parse((await runHactl(['config', 'show', '--json'], env)).stdout).revision as number;
  try {
    const one = await file('one.yaml', dummySetYaml({ set: 'S1', resources: 2 }));
    const first = await runHactl(['config', 'apply', one], env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^\+ set S1 \(2 resources\)$/m);
    const revision = await stored();

    // S1 loses a resource and changes another, S2 is added: no --force needed.
    const twoText = dummySetYaml({ set: 'S1', resources: 1, stopTimeout: '300ms' }) + dummySetYaml({ set: 'S2', resources: 1 }).split('serviceSets:\n')[1];
    const two = await file('two.yaml', twoText);
    const d = await runHactl(['config', 'diff', two], env);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(d.stdout, '+ set S2 (1 resource)\n~ set S1: resources removed s1-r2; changed s1-r1 (stop)\n');
    const dj = await runHactl(['config', 'diff', two, '--json'], env);
    assert.deepEqual(JSON.parse(dj.stdout), {
      storedRevision: revision,
      changed: true,
      setsAdded: ['S2'],
      setsRemoved: [],
      setsChanged: [{ set: 'S1', resourcesAdded: [], resourcesRemoved: ['s1-r2'], resourcesChanged: [{ id: 's1-r1', fields: ['stop'] }], settingsChanged: [] }],
      timing: [],
      otherChanged: [],
      needsForce: [],
    });
    assert.equal(await stored(), revision, 'diff writes nothing');

    // Removing a set, or changing timing, is refused without --force: one line, exit 4, nothing stored.
    const refusals: [string, RegExp][] = [
      [dummySetYaml({ set: 'S2', resources: 1 }), /^hactl: .*: would remove service set S1; see hactl config diff .*, then apply with --force$/],
      [dummySetYaml({ set: 'S1', resources: 2, leaseTtl: '4s' }), /^hactl: .*: would change timing\.leaseTtl \(2s -> 4s\); see hactl config diff .*, then apply with --force$/],
    ];
    for (const [text, re] of refusals) {
      const f = await file('refused.yaml', text);
      const r = await runHactl(['config', 'apply', f], env);
      assert.equal(r.code, 4, r.stderr);
      assert.match(r.stderr.trimEnd(), re);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(await stored(), revision);
    }
    // An empty (or comments-only) file is refused in any case, even with --force.
    for (const text of ['', '\n', '# nothing yet\n']) {
      const f = await file('empty.yaml', text);
      for (const args of [['config', 'apply', f, '--force'], ['config', 'validate', f], ['config', 'diff', f]]) {
        const r = await runHactl(args, env);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr.trimEnd(), /^hactl: .*empty\.yaml: the file is empty; a configuration without service sets is written serviceSets: \{\}$/);
      }
    }
    assert.equal(await stored(), revision);

    const f = await file('forced.yaml', dummySetYaml({ set: 'S2', resources: 1 }));
    const ok = await runHactl(['config', 'apply', f, '--force', '--json'], env);
    assert.equal(ok.code, 0, ok.stderr);
    const j = JSON.parse(ok.stdout);
    assert.equal(j.applied, true);
    assert.deepEqual([j.diff.setsAdded, j.diff.setsRemoved], [['S2'], ['S1']]);
    assert.ok((await stored()) > revision);
  } finally {
    await rm(dir, { recursive: true, force: true });
    await etcd.dispose();
  }
});

test('config validate: a zero action timeout is refused; one below what the agent advises is a warning', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hactl-test-advice-'));
  try {
    const f = join(dir, 'cluster.yaml');
    await writeFile(f, 'serviceSets:\n  S1:\n    resources:\n      - { id: a, type: dummy, stop: { timeout: 0s } }\n');
    const zero = await runHactl(['config', 'validate', f], {});
    assert.equal(zero.code, 2, zero.stderr);
    assert.match(zero.stderr.trimEnd(), /^hactl: .*cluster\.yaml: serviceSets\.S1\.resources\[0\]\.stop\.timeout: must be at least 100ms \(no agent finishes an action sooner\), got 0ms$/);
    // The dummy agent's meta-data advises 20s for start, stop and monitor.
    await writeFile(f, 'serviceSets:\n  S1:\n    resources:\n      - { id: a, type: dummy, stop: { timeout: 500ms }, monitor: { timeout: 20s } }\n');
    const low = await runHactl(['config', 'validate', f], {});
    assert.equal(low.code, 0, low.stderr);
    assert.equal(low.stdout, `warning: serviceSets.S1.resources[0].stop.timeout: 500ms is less than the 20s that dummy's meta-data advises for stop; the agent may not finish in time\n${f}: valid\n`);
    const j = await runHactl(['config', 'validate', f, '--json'], {});
    assert.deepEqual(JSON.parse(j.stdout), { valid: true, warnings: [low.stdout.split('\n')[0].slice('warning: '.length)] });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('config validate: YAML errors as FILE:line:col with the duplicate key named; a binary file in one line', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hactl-test-yaml-'));
  try {
    const f = join(dir, 'cluster.yaml');
    await writeFile(f, 'timing:\n  leaseTtl: 2s\n  leaseTtl: 3s\n');
    const dup = await runHactl(['config', 'validate', f], {});
    assert.equal(dup.code, 2, dup.stderr);
    assert.equal(dup.stderr, `hactl: ${f}:3:3: duplicate key leaseTtl (a key may appear once in a mapping)\n`);
    await writeFile(f, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0xff, 0xfe, 0x0a, 0x3a, 0x3a]));
    const bin = await runHactl(['config', 'validate', f], {});
    assert.equal(bin.code, 2, bin.stderr);
    assert.equal(bin.stderr, `hactl: ${f}: config: not a text file (control character 0x7f at 1:1); a cluster configuration is YAML text\n`);
    await writeFile(f, 'serviceSets:\n  QM1:\n    resources:\n      - { id: a }\n');
    const field = await runHactl(['config', 'validate', f], {});
    assert.equal(field.stderr, `hactl: ${f}: serviceSets.QM1.resources[0].type: required\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('config apply warns about a prefer entry naming a host that never joined the cluster (no nodes: list)', async () => {
  const etcd = await startTestEtcd(1);
  const dir = await mkdtemp(join(tmpdir(), 'hactl-test-config-'));
  const env = { HACTL_ENDPOINTS: etcd.endpoints.join(','), HACTL_CLUSTER: 'joined' };
  const client = new Etcd3({ hosts: etcd.endpoints });
  try {
    const keys = Keys.forCluster('joined');
    for (const n of ['n1', 'n2']) await client.put(keys.member(n)).value('{}').exec();
    const f = join(dir, 'c.yaml');
    await writeFile(f, dummySetYaml({ prefer: ['n1', 'nn2'] }));
    const r = await runHactl(['config', 'apply', f], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /warning: serviceSets\.S1\.prefer\[1\]: nn2 has never joined cluster joined \(known: n1, n2\)/);
    await writeFile(f, dummySetYaml({ prefer: ['n1', 'n2'] }));
    const ok = await runHactl(['config', 'apply', f], env);
    assert.doesNotMatch(ok.stdout, /never joined/);
  } finally {
    client.close();
    await etcd.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});
