// A resource agent that cannot be executed leaves the resource's state unknown (found by review,
// reproduced here first): hactl never ran it, so "not installed here" (rc 5) must not be read as
// "stopped". Before the fix, an agent restart after the agent file went missing probed rc 5, took
// the running copy for stopped, failed the start (rc 5: move and ban), released the set cleanly —
// and the next host started it while the first copy still ran. Now a probe or stop that could not
// run is a failed stop: the set stays blocked on its host until cleanup or a fence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestCluster, type TestCluster } from '../lib/cluster.js';
import { resourcesDir } from '../lib/paths.js';

/** Gives every agent a resourceDirs folder holding `mydummy` (a link to the built-in dummy), and restarts it. */
async function withSiteAgent(tc: TestCluster, nodes: string[]): Promise<void> {
  for (const node of nodes) {
    const a = tc.lc.agent(node);
    const dir = join(a.dir, 'ra');
    await mkdir(dir, { recursive: true });
    await symlink(join(resourcesDir, 'dummy'), join(dir, 'mydummy'));
    const config = await readFile(a.configFile, 'utf8');
    await writeFile(a.configFile, config.replace('resourceDirs: []', `resourceDirs: [${dir}]`));
    await tc.lc.stopAgent(node);
    await tc.lc.startAgent(node);
  }
}

test('an agent restart that finds the resource agent missing blocks the set on its host: never released, never started elsewhere', async () => {
  const tc = await startTestCluster({ nodes: 2 });
  try {
    await withSiteAgent(tc, ['n1', 'n2']);
    await tc.waitFor('2 agents online', 20_000, (s) => s.nodes.filter((x) => x.state === 'online').length === 2);
    await tc.applyConfig(
      [
        'timing: { leaseTtl: 10s, fenceMargin: 1s }', // long enough for the agent restart to resume its lease on a loaded machine
        'serviceSets:',
        '  S1:',
        '    prefer: [n1, n2]',
        '    resources:',
        '      - { id: s1-r1, type: mydummy, stop: { timeout: 250ms }, monitor: { interval: 1s, timeout: 2s } }',
      ].join('\n') + '\n',
    );
    await tc.waitRunning('S1', 20_000, (s) => s.node === 'n1');

    const t0 = Date.now();
    await rm(join(tc.lc.agent('n1').dir, 'ra', 'mydummy'));
    await tc.lc.killAgent('n1');
    await tc.lc.startAgent('n1');
    const blocked = await tc.waitFor('S1 blocked on n1', 15_000, (s) => s.sets.some((x) => x.name === 'S1' && x.state === 'blocked' && x.node === 'n1'));
    assert.match(blocked.sets[0].reason ?? '', /could not run the agent/);
    await new Promise((r) => setTimeout(r, 4000));
    const starts = (await tc.actions('n2')).filter((a) => a.action === 'start' && a.beginWallMs >= t0);
    assert.deepEqual(starts, [], 'n2 must not start S1 while n1 may still run it');
  } finally {
    await tc.dispose();
  }
});
