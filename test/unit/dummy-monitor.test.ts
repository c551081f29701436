// The built-in dummy's monitor answered inside the agent (agent/ocf/builtin-monitor.ts): no fork,
// and always the answer the script itself gives, which these tests get by running the script.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { actionEnv, runAction, runExecutable, type ActionRequest } from '../../agent/ocf/runner.js';
import { BUILTIN_AGENT_DIR } from '../../agent/ocf/resolve.js';

const DUMMY = join(BUILTIN_AGENT_DIR, 'dummy');

async function withRunDir(fn: (req: ActionRequest, forks: number[], dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hactl-test-dummy-monitor-'));
  const forks: number[] = [];
  try {
    const req: ActionRequest = {
      agent: { kind: 'ocf', path: DUMMY, provider: 'hactl', name: 'dummy' },
      action: 'monitor',
      resourceId: 's1-r1',
      params: {},
      timeoutMs: 20_000,
      intervalMs: 10_000,
      ocfRoot: '/usr/lib/ocf',
      runDir: dir,
      node: 'n1',
      set: 'S1',
      fencingToken: 7,
      onSpawn: (pid) => forks.push(pid),
    };
    await fn(req, forks, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** What the dummy script answers for `req` (always a fork). */
async function scriptAnswer(req: ActionRequest): Promise<{ status: string; rc?: number; reason?: string }> {
  const r = await runExecutable(DUMMY, [req.action], actionEnv(req), req.timeoutMs);
  return r.status === 'exited' ? { status: r.status, rc: r.rc, reason: r.reason } : { status: r.status };
}

test("the dummy's monitor and probe are answered without a fork, as the script answers them", async () => {
  await withRunDir(async (req, forks, dir) => {
    for (const running of [false, true]) {
      if (running) await writeFile(join(dir, 's1-r1.state'), 'started\n');
      for (const intervalMs of [10_000, 0]) {
        const r = await runAction({ ...req, intervalMs });
        assert.deepEqual(forks, [], `running=${running} interval=${intervalMs}: the monitor forked`);
        assert.deepEqual({ status: r.status, rc: r.status === 'exited' ? r.rc : undefined }, { status: 'exited', rc: running ? 0 : 7 }, `running=${running} interval=${intervalMs}`);
        assert.deepEqual(await scriptAnswer({ ...req, intervalMs }), { status: 'exited', rc: running ? 0 : 7, reason: undefined }, 'the script agrees');
      }
    }
  });
});

test('what only the script can answer runs the script: an injected failure, parameters, a name it refuses', async () => {
  await withRunDir(async (req, forks, dir) => {
    await writeFile(join(dir, 's1-r1.state'), 'started\n');
    const cases: [string, ActionRequest, () => Promise<void>][] = [
      ['injected failure', req, () => writeFile(join(dir, 's1-r1.fail-monitor'), '1\ndisk on fire\n')],
      ['a monitorDelay', { ...req, params: { monitorDelay: '10ms' } }, () => rm(join(dir, 's1-r1.fail-monitor'))],
      ['a parameter the script refuses', { ...req, params: { monitorDelay: 'soon' } }, async () => undefined],
      ['an instance name the script refuses', { ...req, resourceId: '-x' }, async () => undefined],
    ];
    for (const [what, caseReq, setUp] of cases) {
      await setUp();
      forks.length = 0;
      const r = await runAction(caseReq);
      assert.equal(forks.length, 1, `${what}: the script ran`);
      const got = r.status === 'exited' ? { status: r.status, rc: r.rc, reason: r.reason } : { status: r.status };
      assert.deepEqual(got, await scriptAnswer(caseReq), what);
    }
  });
});

test("an aborted dummy monitor is 'aborted', as a forked one would be", async () => {
  await withRunDir(async (req) => {
    const abort = new AbortController();
    abort.abort('lease in doubt');
    const r = await runAction({ ...req, signal: abort.signal });
    assert.deepEqual({ status: r.status, reason: r.status === 'aborted' ? r.reason : undefined }, { status: 'aborted', reason: 'lease in doubt' });
  });
});
