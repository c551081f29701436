// SPEC §5.6: when hactl runs as root, an agent (or fence script) owned by another user, or writable
// by group or others, is refused with the reason — for real, with chown/chmod on temp files, and
// through a running agent: a set with such a `script:` resource does not start and `hactl status`
// shows why. Skipped when not root (the check only applies to root).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, chown, copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentFileProblem, BUILTIN_AGENT_DIR } from '../../agent/ocf/resolve.js';
import { startTestCluster } from '../lib/cluster.js';

const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

test('agentFileProblem: ownership and mode of agent and fence scripts, for real', { skip: !isRoot && 'needs root' }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hactl-sec-files-'));
  try {
    const script = join(dir, 'fence_site');
    await writeFile(script, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    await chmod(script, 0o755);
    assert.equal(await agentFileProblem(script), null, 'root-owned, 0755: allowed');
    await chmod(script, 0o775);
    assert.equal(await agentFileProblem(script), `refused: ${script} is writable by group or others (mode 775)`);
    await chmod(script, 0o757);
    assert.equal(await agentFileProblem(script), `refused: ${script} is writable by group or others (mode 757)`);
    await chmod(script, 0o4777);
    assert.match((await agentFileProblem(script)) ?? '', /^refused: .* is writable by group or others/);
    await chmod(script, 0o755);
    await chown(script, NOBODY, 0);
    assert.equal(await agentFileProblem(script), `refused: ${script} is owned by uid ${NOBODY}, not root (an agent run as root must be root's)`);
    await chown(script, 0, NOBODY);
    assert.equal(await agentFileProblem(script), null, 'a group other than root does not matter when it cannot write');
    await chmod(script, 0o644);
    assert.equal(await agentFileProblem(script), `not executable: ${script}`);
    assert.equal(await agentFileProblem(join(dir, 'missing')), `not found: ${join(dir, 'missing')}`);
    assert.equal(await agentFileProblem(dir), `not a file: ${dir}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a set whose script: agent is owned by another user does not start; status says why', { skip: !isRoot && 'needs root' }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hactl-sec-files-'));
  const tc = await startTestCluster({ nodes: 1, cluster: 'agentfiles' });
  try {
    await chmod(dir, 0o755);
    const foreign = join(dir, 'foreign-agent');
    await copyFile(join(BUILTIN_AGENT_DIR, 'dummy'), foreign);
    await chmod(foreign, 0o755);
    await chown(foreign, NOBODY, NOBODY);
    const writable = join(dir, 'writable-agent');
    await copyFile(join(BUILTIN_AGENT_DIR, 'dummy'), writable);
    await chmod(writable, 0o777);

    const yaml = [
      'timing: { leaseTtl: 2s, fenceMargin: 800ms }',
      'serviceSets:',
      '  BAD:',
      '    resources:',
      `      - { id: bad-r1, type: "script:${foreign}", stop: { timeout: 500ms } }`,
      '  WORLD:',
      '    resources:',
      `      - { id: world-r1, type: "script:${writable}", stop: { timeout: 500ms } }`,
      '  GOOD:',
      '    resources:',
      '      - { id: good-r1, type: dummy, stop: { timeout: 500ms }, monitor: { interval: 1s } }',
    ].join('\n') + '\n';

    // The CLI refuses it before it reaches etcd (exit 4: unsafe).
    const file = join(dir, 'cluster.yaml');
    await writeFile(file, yaml);
    const validate = await tc.hactl(['config', 'validate', file]);
    assert.equal(validate.code, 4, validate.stderr + validate.stdout);
    assert.match(validate.stderr, /owned by uid 65534|writable by group or others/);

    // Stored anyway (another host's checks, or an older CLI): the agent still refuses to run it.
    await tc.applyConfig(yaml);
    await tc.waitRunning('GOOD', 20_000);
    const st = await tc.waitFor('BAD and WORLD refused', 20_000, (s) =>
      ['BAD', 'WORLD'].every((n) => {
        const set = s.sets.find((x) => x.name === n);
        return set !== undefined && set.state !== 'running' && /refused/.test(JSON.stringify(set));
      }),
    );
    const bad = st.sets.find((x) => x.name === 'BAD')!;
    assert.match(JSON.stringify(bad), new RegExp(`refused: ${foreign} is owned by uid ${NOBODY}, not root`));
    const world = st.sets.find((x) => x.name === 'WORLD')!;
    assert.match(JSON.stringify(world), /is writable by group or others \(mode 777\)/);
    const actions = await tc.actions('n1');
    assert.ok(!actions.some((a) => a.resource === 'bad-r1' || a.resource === 'world-r1'), 'neither agent was ever executed');

    const shown = await tc.hactl(['status']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /owned by uid 65534, not root/);
    assert.match(shown.stdout, /writable by group or others/);
  } finally {
    await tc.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});
