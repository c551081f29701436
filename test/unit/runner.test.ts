// The OCF runner with real processes: environment, exit reasons, and timeouts that end the whole
// process group (SIGTERM, then SIGKILL).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAction, exitReason, actionEnv, type ActionRequest } from '../../agent/ocf/runner.js';
import { classify } from '../../agent/core/results.js';

async function withAgent(script: string, fn: (req: ActionRequest, dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hactl-test-runner-'));
  try {
    const path = join(dir, 'agent');
    await writeFile(path, script);
    await chmod(path, 0o755);
    const req: ActionRequest = {
      agent: { kind: 'ocf', path, provider: 'test', name: 'agent' },
      action: 'start',
      resourceId: 'r1',
      params: { ip: '10.0.0.1/24', args: ['--qm', 'QM1'], count: 5, flag: true },
      timeoutMs: 2000,
      intervalMs: 0,
      ocfRoot: '/usr/lib/ocf',
      runDir: dir,
      node: 'n1',
      set: 'S',
      fencingToken: 42,
    };
    await fn(req, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('parameters reach the agent only as OCF_RESKEY_* variables, with the OCF and HA variables', async () => {
  await withAgent('#!/bin/sh\nenv | sort\n', async (req) => {
    const r = await runAction(req);
    assert.equal(r.status, 'exited');
    for (const line of [
      'OCF_RESKEY_ip=10.0.0.1/24',
      'OCF_RESKEY_args=["--qm","QM1"]',
      'OCF_RESKEY_count=5',
      'OCF_RESKEY_flag=true',
      'OCF_RESKEY_CRM_meta_timeout=2000',
      'OCF_RESKEY_CRM_meta_interval=0',
      'OCF_RESOURCE_INSTANCE=r1',
      'OCF_RA_VERSION_MAJOR=1',
      'HA_FENCING_TOKEN=42',
      'HA_NODE=n1',
      'HA_SERVICE_SET=S',
    ]) {
      assert.ok(r.stdout.includes(line + '\n'), `missing ${line}`);
    }
    assert.ok(!/HACTL_|npm_/.test(r.stdout), 'the agent environment is not leaked');
  });
  assert.equal(actionEnv({ ...(null as unknown as ActionRequest), params: {}, agent: { kind: 'ocf', path: '/x', provider: 'p', name: 'n' }, fencingToken: null, timeoutMs: 1, intervalMs: 0, resourceId: 'r', ocfRoot: '/o', runDir: '/r', node: 'n', set: 's', action: 'start' }).HA_FENCING_TOKEN, undefined);
});

test('the exit code and the last ocf-exit-reason line are kept', async () => {
  await withAgent('#!/bin/sh\necho "ocf-exit-reason:first" >&2\necho "ocf-exit-reason:interface eth9 not found" >&2\nexit 5\n', async (req) => {
    const r = await runAction(req);
    assert.equal(r.status, 'exited');
    assert.equal((r as { rc: number }).rc, 5);
    assert.equal((r as { reason?: string }).reason, 'interface eth9 not found');
    assert.equal(classify(r), 'hard');
  });
  assert.equal(exitReason('noise\nocf-exit-reason: x \n'), 'x');
});

test('a timed-out action has its whole process group killed, children included', async () => {
  await withAgent('#!/bin/sh\ntrap "" TERM\nsleep 30 &\necho $! > "$HA_RSCTMP/child.pid"\nwait\n', async (req, dir) => {
    const t0 = performance.now();
    const r = await runAction({ ...req, timeoutMs: 300 });
    const tookMs = performance.now() - t0;
    assert.equal(r.status, 'timed-out');
    assert.ok(tookMs < 300 + 2000 + 1000, `took ${tookMs} ms`);
    const { readFile } = await import('node:fs/promises');
    const childPid = Number(await readFile(join(dir, 'child.pid'), 'utf8'));
    await new Promise((res) => setTimeout(res, 100));
    assert.equal(await isAlive(childPid), false, 'the child was killed with its group');
  });
});

test('an aborted action has its process group killed at once (SIGKILL, even if it ignores TERM), and says why', async () => {
  await withAgent('#!/bin/sh\ntrap "" TERM\nsleep 30 &\necho $! > "$HA_RSCTMP/child.pid"\nwait\n', async (req, dir) => {
    const ac = new AbortController();
    let spawned = 0;
    const t0 = performance.now();
    const running = runAction({ ...req, timeoutMs: 30_000, signal: ac.signal, onSpawn: (pid) => (spawned = pid) });
    await new Promise((res) => setTimeout(res, 200));
    assert.ok(spawned > 1, 'onSpawn told the PID');
    ac.abort('lease in doubt');
    const r = await running;
    const tookMs = performance.now() - t0;
    assert.equal(r.status, 'aborted');
    assert.equal(r.status === 'aborted' ? r.reason : '', 'lease in doubt');
    assert.ok(tookMs < 200 + 1500, `took ${tookMs} ms (a TERM-then-KILL would take 2 s more)`);
    const { readFile } = await import('node:fs/promises');
    const childPid = Number(await readFile(join(dir, 'child.pid'), 'utf8'));
    await new Promise((res) => setTimeout(res, 100));
    assert.equal(await isAlive(childPid), false, 'the child ended with its group');
  });
});

/** Alive and not a zombie (PID 1 here may be slow to reap orphans). */
async function isAlive(pid: number): Promise<boolean> {
  const { readFile } = await import('node:fs/promises');
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

test('a daemon that keeps the pipes open does not hold the action', async () => {
  await withAgent('#!/bin/sh\n(sleep 5 &)\nexit 0\n', async (req) => {
    const t0 = performance.now();
    const r = await runAction(req);
    assert.equal(r.status, 'exited');
    assert.ok(performance.now() - t0 < 1000);
  });
});

test('an agent that cannot be executed is reported, not thrown', async () => {
  const r = await runAction({
    agent: { kind: 'ocf', path: '/nonexistent/agent', provider: 'x', name: 'agent' },
    action: 'start', resourceId: 'r', params: {}, timeoutMs: 1000, intervalMs: 0, ocfRoot: '/', runDir: '/tmp', node: 'n', set: 's', fencingToken: null,
  });
  assert.equal(r.status, 'spawn-failed');
});

test('a parameter that cannot be passed to a process (a NUL byte) is a spawn failure, not a throw', async () => {
  await withAgent('#!/bin/sh\nexit 0\n', async (req) => {
    const r = await runAction({ ...req, params: { ...req.params, name: 'QM\u00001' } });
    assert.equal(r.status, 'spawn-failed');
    assert.match(r.status === 'spawn-failed' ? r.reason : '', /null bytes|NUL/i);
    assert.equal(classify(r), 'soft');
  });
});
