// What a running agent picks up from disk without a restart (agent/shell/reload.ts), with a real
// agent process: log.level and resourceDirs from its agent.yaml, a refused (bad) agent.yaml, a new
// agent file in a resource directory, and an agent file made group-writable.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestCluster, type TestCluster } from '../lib/cluster.js';

const isRoot = process.getuid?.() === 0;
/** pino's number for `debug`. */
const DEBUG = 20;

let tc: TestCluster;
let dir: string;
let agentPid: number | undefined;

/** A site agent on its own (no library beside it): "running" means its state file exists. */
const SITE_AGENT = `#!/bin/sh
state="$HA_RSCTMP/$OCF_RESOURCE_INSTANCE.site-state"
case "$1" in
  start) touch "$state" ;;
  stop) rm -f "$state" ;;
  monitor) [ -e "$state" ] || exit 7 ;;
  meta-data) printf '<?xml version="1.0"?>\\n<resource-agent name="site-dummy"><version>1.1</version><parameters/><actions><action name="start" timeout="5s"/><action name="stop" timeout="5s"/><action name="monitor" timeout="5s" interval="10s"/><action name="meta-data" timeout="5s"/></actions></resource-agent>\\n' ;;
  validate-all) ;;
  *) exit 3 ;;
esac
exit 0
`;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hactl-reload-'));
  await chmod(dir, 0o755);
  tc = await startTestCluster({ nodes: 1, cluster: 'reload' });
  agentPid = tc.lc.agent('n1').process?.pid;
  await tc.applyConfig(
    ['timing: { leaseTtl: 2s, fenceMargin: 800ms }', 'serviceSets:', '  A:', '    resources:', '      - { id: a1, type: dummy, stop: { timeout: 2s }, monitor: { interval: 300ms } }'].join('\n') + '\n',
  );
  await tc.waitRunning('A', 30_000);
});

after(async () => {
  await tc?.dispose();
  await rm(dir, { recursive: true, force: true });
});

async function editConfig(edit: (text: string) => string): Promise<void> {
  const file = tc.lc.agent('n1').configFile;
  await writeFile(file, edit(await readFile(file, 'utf8')));
}

/** Waits (bounded) for a log line of n1 that `pred` accepts, counting only lines after `skip`. */
async function waitLog(what: string, timeoutMs: number, pred: (l: Record<string, unknown>) => boolean, skip = 0): Promise<Record<string, unknown>> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const found = (await tc.logLines('n1')).slice(skip).find(pred);
    if (found) return found;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for the log line: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function sameAgentProcess(): void {
  const pid = tc.lc.agent('n1').process?.pid;
  assert.equal(pid, agentPid, 'the agent was not restarted');
  assert.doesNotThrow(() => process.kill(pid!, 0), 'the agent still runs');
}

test('log.level changed to debug in agent.yaml: debug lines appear without a restart', async () => {
  const before = await tc.logLines('n1');
  assert.ok(!before.some((l) => l.level === DEBUG), 'no debug lines at level info');
  await editConfig((t) => t.replace(/log: \{ level: \w+ \}/, 'log: { level: debug }'));
  const line = await waitLog('a debug line', 10_000, (l) => l.level === DEBUG && l.msg === 'monitor ok', before.length);
  assert.equal(line.set, 'A');
  sameAgentProcess();
});

test('a bad agent.yaml is refused with the reason; the agent keeps running on the old settings', async () => {
  const skip = (await tc.logLines('n1')).length;
  await editConfig((t) => t.replace(/log: \{ level: \w+ \}/, 'log: { level: loud }'));
  const refused = await waitLog('the refusal', 10_000, (l) => l.msg === 'host configuration refused; the settings in use stay', skip);
  assert.match(String(refused.reason), /log\.level/);
  // Still at debug: the old settings stay.
  const after = (await tc.logLines('n1')).length;
  await waitLog('a debug line after the refusal', 10_000, (l) => l.level === DEBUG, after);
  sameAgentProcess();

  // A field read only at start-up is named as needing a restart; the live ones still apply.
  const skip2 = (await tc.logLines('n1')).length;
  await editConfig((t) => t.replace(/log: \{ level: \w+ \}/, 'log: { level: info }').replace(/^http: .*$/m, 'http: { listen: 127.0.0.1:1 }'));
  const restart = await waitLog('needs a restart', 10_000, (l) => l.msg === 'host configuration change needs a restart; ignored until then', skip2);
  assert.deepEqual(restart.fields, ['http']);
  await waitLog('reloaded', 10_000, (l) => l.msg === 'host configuration reloaded', skip2);
  sameAgentProcess();
});

test('resourceDirs and a new agent file in it: a set using that type starts without a restart', async () => {
  let skip = (await tc.logLines('n1')).length;
  await editConfig((t) => t.replace(/^resourceDirs: .*$/m, `resourceDirs: [${dir}]`));
  await waitLog('resourceDirs reloaded', 10_000, (l) => l.msg === 'host configuration reloaded' && JSON.stringify(l.changed).includes('resourceDirs'), skip);
  skip = (await tc.logLines('n1')).length;
  await writeFile(join(dir, 'site-dummy'), SITE_AGENT, { mode: 0o755 });
  await chmod(join(dir, 'site-dummy'), 0o755);
  await waitLog('the new agent picked up', 10_000, (l) => l.msg === 'resource agent picked up' && l.type === 'site-dummy', skip);
  await tc.applyConfig(
    [
      'timing: { leaseTtl: 2s, fenceMargin: 800ms }',
      'serviceSets:',
      '  A:',
      '    resources:',
      '      - { id: a1, type: dummy, stop: { timeout: 2s }, monitor: { interval: 300ms } }',
      '  B:',
      '    resources:',
      '      - { id: b1, type: site-dummy, stop: { timeout: 2s }, monitor: { interval: 300ms } }',
    ].join('\n') + '\n',
  );
  await tc.waitRunning('B', 30_000);
  sameAgentProcess();
});

test('an agent file made group-writable is refused with the reason, in the log and the set status', { skip: !isRoot && 'the file checks apply to root only' }, async () => {
  const skip = (await tc.logLines('n1')).length;
  await chmod(join(dir, 'site-dummy'), 0o775);
  const refused = await waitLog('the refusal', 10_000, (l) => l.msg === 'resource agent refused' && l.type === 'site-dummy', skip);
  assert.match(String(refused.reason), /writable by group or others \(mode 775\)/);
  await tc.waitFor('B shows the refusal', 20_000, (s) => /writable by group or others/.test(JSON.stringify(s.sets.find((x) => x.name === 'B'))));
  sameAgentProcess();
});
