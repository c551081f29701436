// The shared process runner (agent/exec/run.ts) with real processes: what it promises both the
// OCF runner and the fence devices beyond what test/unit/runner.test.ts checks through runAction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { OUTPUT_LIMIT_BYTES, runProgram } from '../../agent/exec/run.js';

test('the environment is exactly the one given; stdin is written and closed', async () => {
  const r = await runProgram({ file: '/bin/sh', args: ['-c', 'env; echo "in:$(cat)"'], env: { ONLY: 'this' }, stdin: 'a=1\nb=2\n', timeoutMs: 5000 });
  assert.equal(r.status, 'exited');
  const vars = r.stdout.split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => l.split('=')[0]).filter((n) => n !== 'PWD' && n !== 'SHLVL' && n !== '_');
  assert.deepEqual(vars, ['ONLY'], 'nothing inherited (no PATH, no HOME)');
  assert.match(r.stdout, /in:a=1\nb=2/);
});

test('output past the limit is dropped, and the program still runs to its end', async () => {
  const bytes = OUTPUT_LIMIT_BYTES * 3;
  const r = await runProgram({ file: '/bin/sh', args: ['-c', `head -c ${bytes} /dev/zero | tr '\\0' x; head -c ${bytes} /dev/zero | tr '\\0' y >&2; exit 3`], env: { PATH: '/usr/bin:/bin' }, timeoutMs: 20_000 });
  assert.equal(r.status, 'exited');
  assert.equal(r.status === 'exited' ? r.rc : -1, 3);
  assert.ok(r.stdout.length >= OUTPUT_LIMIT_BYTES && r.stdout.length < OUTPUT_LIMIT_BYTES * 2, `stdout kept ${r.stdout.length}`);
  assert.ok(r.stderr.length >= OUTPUT_LIMIT_BYTES && r.stderr.length < OUTPUT_LIMIT_BYTES * 2, `stderr kept ${r.stderr.length}`);
});

test('onSpawn is told the pid, which leads its own process group', async () => {
  let pgid: number | undefined;
  let told: number | undefined;
  const r = await runProgram({
    file: '/bin/sleep',
    args: ['0.3'],
    env: {},
    timeoutMs: 5000,
    onSpawn: (pid) => {
      told = pid;
      void readFile(`/proc/${pid}/stat`, 'utf8').then((stat) => (pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2])));
    },
  });
  assert.equal(r.status, 'exited');
  assert.ok(told !== undefined && told > 0);
  assert.equal(pgid, told, 'the program is the leader of its own group');
});

test('a program that cannot be started is spawn-failed with the reason, never a throw', async () => {
  const missing = await runProgram({ file: '/nonexistent/agent', args: [], env: {}, timeoutMs: 1000 });
  assert.equal(missing.status, 'spawn-failed');
  assert.match(missing.status === 'spawn-failed' ? missing.reason : '', /ENOENT/);
  const nul = await runProgram({ file: '/bin/true', args: ['a\u0000b'], env: {}, timeoutMs: 1000 });
  assert.equal(nul.status, 'spawn-failed');
});

test('a program that finished in time is not timed out because the event loop was blocked past its timeout', async () => {
  // Under overload the agent's loop can be held for longer than an action's timeout (a burst of
  // forks); the timeout timer then fires before the exit, already there, is read (issue 16: stops
  // "failed" that had succeeded).
  const pending = runProgram({ file: '/bin/true', args: [], env: {}, timeoutMs: 150 });
  const until = performance.now() + 1500;
  while (performance.now() < until) {
    // hold the event loop, as a burst of synchronous forks does
  }
  const r = await pending;
  assert.equal(r.status, 'exited', JSON.stringify(r));
  assert.equal(r.status === 'exited' ? r.rc : -1, 0);
});
