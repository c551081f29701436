// Configuration through the CLI against a real etcd (SPEC §3.2): a file that fails validation is
// refused with the path of the error and leaves etcd unchanged; a valid one is applied and shown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestEtcd } from '../lib/etcd.js';
import { runHactl, dummySetYaml } from '../lib/cluster.js';

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
