// The dummy and process agents, run for real: state files, failure injection, a long-lived
// process in its own process group, pid-reuse safety, stop escalation, health checks, and
// survival when the caller's process group dies.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import {
  agentPath,
  Cleanup,
  isRoot,
  killGroup,
  makeTempDir,
  ocfTester,
  pidAlive,
  run,
  runAgent,
  sleep,
  waitFor,
  type AgentCall,
} from '../lib/ra-harness.js';

const cleanup = new Cleanup();
let dir = '';
let rsctmp = '';

before(async () => {
  dir = await makeTempDir(cleanup, 'proc');
  rsctmp = join(dir, 'run');
  await run(['mkdir', '-m', '0700', rsctmp]);
});
after(async () => {
  await cleanup.run();
});

async function script(name: string, body: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, `#!/bin/bash\n${body}\n`);
  await chmod(p, 0o755);
  return p;
}

async function readPid(instance: string): Promise<{ pid: number; start: string }> {
  const [pid, start] = (await readFile(join(rsctmp, `${instance}.pid`), 'utf8')).trim().split(' ');
  return { pid: Number(pid), start: start ?? '' };
}

/** Kill whatever a process instance left behind (by its recorded pid), for cleanup. */
function killInstanceOnCleanup(instance: string): void {
  cleanup.add(`kill process instance ${instance}`, async () => {
    try {
      const { pid } = await readPid(instance);
      if (pid > 1) killGroup(pid, 'SIGKILL');
    } catch {
      /* no pidfile: nothing running */
    }
  });
}

void describe('dummy agent', () => {
  const call = (extra: Partial<AgentCall> = {}): AgentCall => ({ instance: 'd1', rsctmp, ...extra });

  void it('passes ocf-tester', { skip: !isRoot() && 'ocf-tester needs root' }, async () => {
    const r = await ocfTester('dummy', 'hactl_ra_dummy', {});
    assert.equal(r.code, 0, r.stdout + r.stderr);
    await rm('/run/hactl/hactl_ra_dummy.state', { force: true });
  });

  void it('start/monitor/stop are idempotent and fast (< 50 ms each)', async () => {
    const seq: [string, number][] = [
      ['monitor', 7],
      ['start', 0],
      ['start', 0],
      ['monitor', 0],
      ['stop', 0],
      ['stop', 0],
      ['monitor', 7],
    ];
    for (const [action, want] of seq) {
      const r = await runAgent('dummy', action, call());
      assert.equal(r.rc, want, `${action}: ${r.stderr}`);
      assert.ok(r.ms < 50, `${action} took ${r.ms.toFixed(1)} ms`);
    }
  });

  void it('injected failures return the file code and reason instead of working', async () => {
    await writeFile(join(rsctmp, 'd1.fail-start'), '1\ninjected start failure\n');
    const r = await runAgent('dummy', 'start', call());
    assert.equal(r.rc, 1);
    assert.equal(r.reason, 'injected start failure');
    assert.equal((await runAgent('dummy', 'monitor', call())).rc, 7, 'an injected start must not start');
    await rm(join(rsctmp, 'd1.fail-start'));
    assert.equal((await runAgent('dummy', 'start', call())).rc, 0);
    await writeFile(join(rsctmp, 'd1.fail-monitor'), '7\n');
    assert.equal((await runAgent('dummy', 'monitor', call())).rc, 7);
    await rm(join(rsctmp, 'd1.fail-monitor'));
    assert.equal((await runAgent('dummy', 'monitor', call())).rc, 0);
    await writeFile(join(rsctmp, 'd1.fail-stop'), '4\nno permission\n');
    const s = await runAgent('dummy', 'stop', call());
    assert.equal(s.rc, 4);
    assert.equal(s.reason, 'no permission');
    await rm(join(rsctmp, 'd1.fail-stop'));
    assert.equal((await runAgent('dummy', 'stop', call())).rc, 0);
  });

  void it('delays are honoured', async () => {
    const r = await runAgent('dummy', 'start', call({ params: { startDelay: '300ms' } }));
    assert.equal(r.rc, 0);
    assert.ok(r.ms >= 290 && r.ms < 1500, `start with 300ms delay took ${r.ms}`);
    const m = await runAgent('dummy', 'monitor', call({ params: { monitorDelay: '0.2' } }));
    assert.equal(m.rc, 0);
    assert.ok(m.ms >= 190, `monitor with 0.2s delay took ${m.ms}`);
    assert.equal((await runAgent('dummy', 'stop', call())).rc, 0);
  });

  void it('meta-data, validate-all and usage work without root and without HA_RSCTMP', async () => {
    const asNobody = isRoot() ? ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'] : [];
    for (const agent of ['dummy', 'process', 'floating-ip', 'shared-disk', 'queue-manager']) {
      const md = await run([...asNobody, agentPath(agent), 'meta-data']);
      assert.equal(md.code, 0, `${agent} meta-data: ${md.stderr}`);
      assert.match(md.stdout, new RegExp(`<resource-agent name="${agent}"`));
      const v = await run([...asNobody, agentPath(agent), 'validate-all'], { env: { PATH: '/usr/bin:/bin', OCF_RESOURCE_INSTANCE: 'x' } });
      assert.ok([0, 5, 6].includes(v.code), `${agent} validate-all without root or params: ${v.code} ${v.stderr}`);
    }
    const r = await run([...asNobody, agentPath('dummy'), 'meta-data']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /<resource-agent name="dummy"/);
    const u = await run([agentPath('dummy'), 'usage']);
    assert.equal(u.code, 0);
    const bogus = await run([agentPath('dummy'), 'frobnicate']);
    assert.equal(bogus.code, 3);
  });
});

void describe('process agent', () => {
  let server = '';
  let stubborn = '';

  before(async () => {
    // A well-behaved server: logs its argv/env/cwd, exits on TERM.
    server = await script(
      'server.sh',
      `trap 'echo "got TERM"; exit 0' TERM
echo "argv=[$*] FOO=[$FOO] cwd=[$PWD] reskey=[\${OCF_RESKEY_command:-}]"
while :; do sleep 0.1; done`,
    );
    // Ignores TERM (and so does its child): only SIGKILL ends it.
    stubborn = await script(
      'stubborn.sh',
      `trap '' TERM
sleep 300 &
while :; do sleep 0.1; done`,
    );
  });

  void it('passes ocf-tester', { skip: !isRoot() && 'ocf-tester needs root' }, async () => {
    const r = await ocfTester('process', 'hactl_ra_process', { command: server, args: '["x"]', stopTimeout: '2s' });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    await rm('/run/hactl/hactl_ra_process.log', { force: true });
  });

  void it('starts the command in its own session with args, env and cwd; monitor and stop', async () => {
    killInstanceOnCleanup('p1');
    const pwned = join(dir, 'pwned');
    const params = { command: server, args: JSON.stringify(['a b', `$(touch ${pwned})`, ';']), env: '{"FOO":"x y"}', cwd: dir };
    const c: AgentCall = { instance: 'p1', rsctmp, params };
    assert.equal((await runAgent('process', 'monitor', { ...c, intervalMs: 0 })).rc, 7);
    const s = await runAgent('process', 'start', c);
    assert.equal(s.rc, 0, s.stderr);
    const { pid } = await readPid('p1');
    const st = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
    assert.equal(st[2], String(pid), 'process group id = its pid');
    assert.equal(st[3], String(pid), 'session id = its pid');
    assert.equal((await runAgent('process', 'start', c)).rc, 0, 'start when running');
    assert.equal((await readPid('p1')).pid, pid, 'no second instance');
    assert.equal((await runAgent('process', 'monitor', c)).rc, 0);
    const log = join(rsctmp, 'p1.log');
    await waitFor(async () => (await readFile(log, 'utf8')).includes('argv='), 2000);
    const text = await readFile(log, 'utf8');
    assert.ok(text.includes(`argv=[a b $(touch ${pwned}) ;] FOO=[x y] cwd=[${dir}] reskey=[]`), text);
    await assert.rejects(stat(pwned), 'arguments are never run by a shell');
    const t = await runAgent('process', 'stop', c);
    assert.equal(t.rc, 0, t.stderr);
    assert.ok(t.ms < 2000, `stop took ${t.ms}`);
    assert.equal(await pidAlive(pid), false);
    assert.ok((await readFile(log, 'utf8')).includes('got TERM'), 'stopped with SIGTERM');
    assert.equal((await runAgent('process', 'stop', c)).rc, 0, 'stop when stopped');
    assert.equal((await runAgent('process', 'monitor', c)).rc, 7);
  });

  void it('passes HA_NODE, HA_SERVICE_SET and HA_FENCING_TOKEN to the command; env cannot override them', async () => {
    const envDump = await script(
      'env-dump.sh',
      `echo "node=[\${HA_NODE-unset}] set=[\${HA_SERVICE_SET-unset}] token=[\${HA_FENCING_TOKEN-unset}] bar=[\${BAR-unset}]"
while :; do sleep 0.1; done`,
    );
    const params = { command: envDump, env: '{"HA_FENCING_TOKEN":"1","HA_NODE":"evil","BAR":"b"}', stopTimeout: '1s' };
    const cases: { instance: string; call: Partial<AgentCall>; want: string }[] = [
      { instance: 'p9', call: { fencingToken: '42', extraEnv: { HA_NODE: 'mq1', HA_SERVICE_SET: 'QM1' } }, want: 'node=[mq1] set=[QM1] token=[42] bar=[b]' },
      // Without a token from hactl the command has none (not the one from env).
      { instance: 'p10', call: { extraEnv: { HA_NODE: 'mq2', HA_SERVICE_SET: 'QM1' } }, want: 'node=[mq2] set=[QM1] token=[unset] bar=[b]' },
    ];
    for (const { instance, call, want } of cases) {
      killInstanceOnCleanup(instance);
      const c: AgentCall = { instance, rsctmp, params, ...call };
      const s = await runAgent('process', 'start', c);
      assert.equal(s.rc, 0, s.stderr);
      assert.match(s.stderr, /env HA_FENCING_TOKEN ignored/);
      const log = join(rsctmp, `${instance}.log`);
      assert.ok(await waitFor(async () => (await readFile(log, 'utf8')).includes('node='), 2000), 'the command ran');
      const line = (await readFile(log, 'utf8')).split('\n').find((l) => l.startsWith('node='));
      assert.equal(line, want);
      assert.equal((await runAgent('process', 'stop', c)).rc, 0);
    }
  });

  void it('a reused pid is not mistaken for the resource (pid + start time)', async () => {
    // An unrelated process whose pid we write into the pidfile with a different start time.
    const other = spawn('sleep', ['30'], { stdio: 'ignore', detached: true });
    const pid = other.pid ?? 0;
    cleanup.add(`kill sleep ${pid}`, async () => killGroup(pid, 'SIGKILL'));
    const st = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
    const start = Number(st[19]);
    await writeFile(join(rsctmp, 'p2.pid'), `${pid} ${start + 1}\n`);
    const c: AgentCall = { instance: 'p2', rsctmp, params: { command: server } };
    assert.equal((await runAgent('process', 'monitor', c)).rc, 7, 'not ours: not running');
    assert.equal((await runAgent('process', 'stop', c)).rc, 0);
    assert.equal(await pidAlive(pid), true, 'stop must not kill an unrelated process');
    // With the right start time it is "ours".
    await writeFile(join(rsctmp, 'p2.pid'), `${pid} ${start}\n`);
    assert.equal((await runAgent('process', 'monitor', c)).rc, 0);
    killGroup(pid, 'SIGKILL');
    await rm(join(rsctmp, 'p2.pid'), { force: true });
  });

  void it('stopTimeout escalates to SIGKILL of the whole process group; stopSignal is used', async () => {
    killInstanceOnCleanup('p3');
    const c: AgentCall = { instance: 'p3', rsctmp, params: { command: stubborn, stopTimeout: '700ms' } };
    assert.equal((await runAgent('process', 'start', c)).rc, 0);
    const { pid } = await readPid('p3');
    // Its child `sleep 300` is in the same group.
    const members = async (): Promise<number[]> => {
      const r = await run(['pgrep', '-g', String(pid)]);
      const pids = r.stdout.split('\n').filter(Boolean).map(Number);
      const live: number[] = [];
      for (const p of pids) if (await pidAlive(p)) live.push(p);
      return live;
    };
    assert.ok((await members()).length >= 2, 'the script and its child');
    const t = await runAgent('process', 'stop', c);
    assert.equal(t.rc, 0, t.stderr);
    assert.ok(t.ms >= 650 && t.ms < 3000, `stop took ${t.ms} ms (700ms grace, then SIGKILL)`);
    assert.match(t.stderr, /SIGKILL/);
    assert.deepEqual(await members(), [], 'the whole group is gone');

    // stopSignal=INT: a script that exits only on INT stops within the grace period.
    const intOnly = await script('int-only.sh', `trap '' TERM\ntrap 'echo got INT; exit 0' INT\nwhile :; do sleep 0.1; done`);
    killInstanceOnCleanup('p4');
    const c4: AgentCall = { instance: 'p4', rsctmp, params: { command: intOnly, stopSignal: 'INT', stopTimeout: '5s' } };
    assert.equal((await runAgent('process', 'start', c4)).rc, 0);
    const t4 = await runAgent('process', 'stop', c4);
    assert.equal(t4.rc, 0);
    assert.ok(t4.ms < 2000, `INT stop took ${t4.ms}`);
    assert.match(await readFile(join(rsctmp, 'p4.log'), 'utf8'), /got INT/);
  });

  void it('healthCommand decides monitor; start waits for it', async () => {
    killInstanceOnCleanup('p5');
    const flag = join(dir, 'healthy');
    const health = await script('health.sh', `[[ -f ${flag} ]]`);
    // The server becomes healthy 400 ms after it starts.
    const slow = await script('slow.sh', `sleep 0.4; touch ${flag}; while :; do sleep 0.1; done`);
    const c: AgentCall = { instance: 'p5', rsctmp, params: { command: slow, healthCommand: health, stopTimeout: '1s' } };
    const s = await runAgent('process', 'start', c);
    assert.equal(s.rc, 0, s.stderr);
    assert.ok(s.ms >= 350, `start returned after ${s.ms} ms, before the health check passed`);
    assert.equal((await runAgent('process', 'monitor', c)).rc, 0);
    await rm(flag);
    const m = await runAgent('process', 'monitor', c);
    assert.equal(m.rc, 1, 'unhealthy = failed');
    assert.match(m.reason ?? '', /health command .* failed/);
    assert.equal((await runAgent('process', 'stop', c)).rc, 0);
  });

  void it('tcpPort decides monitor: satisfied only by a listener of the process or its children, not by another program on the port', async () => {
    killInstanceOnCleanup('p6b');
    killInstanceOnCleanup('p6c');
    // A free port, then a command that listens on it itself: healthy.
    const probe: Server = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(() => r(undefined)));
    const listener = await script('listener.sh', `exec ${JSON.stringify(process.execPath)} -e 'require("net").createServer((s) => s.end()).listen(${port}, "127.0.0.1")'`);
    const own: AgentCall = { instance: 'p6b', rsctmp, params: { command: listener, tcpPort: String(port), stopTimeout: '1s' } };
    const s = await runAgent('process', 'start', own);
    assert.equal(s.rc, 0, s.stderr);
    assert.equal((await runAgent('process', 'monitor', own)).rc, 0, 'its own listener counts');
    assert.equal((await runAgent('process', 'stop', own)).rc, 0);
    // Another program (this test) holds the port while the process runs without listening.
    const other: Server = createServer((sock) => sock.end());
    await new Promise<void>((r) => other.listen(port, '127.0.0.1', r));
    cleanup.add('close tcp server', () => new Promise((r) => other.close(() => r(undefined))));
    assert.equal((await runAgent('process', 'start', { instance: 'p6c', rsctmp, params: { command: server, stopTimeout: '1s' } })).rc, 0);
    const m = await runAgent('process', 'monitor', { instance: 'p6c', rsctmp, params: { command: server, tcpPort: String(port), stopTimeout: '1s' } });
    assert.equal(m.rc, 1, 'a port held by another program is not health');
    assert.match(m.reason ?? '', new RegExp(`TCP port 127\\.0\\.0\\.1:${port} is held by another program, not by process \\d+ or its children`));
    // Nobody on the port: it does not accept connections.
    await new Promise((r) => other.close(() => r(undefined)));
    const gone = await runAgent('process', 'monitor', { instance: 'p6c', rsctmp, params: { command: server, tcpPort: String(port), stopTimeout: '1s' } });
    assert.equal(gone.rc, 1);
    assert.match(gone.reason ?? '', /does not accept connections/);
    assert.equal((await runAgent('process', 'stop', { instance: 'p6c', rsctmp, params: { command: server, stopTimeout: '1s' } })).rc, 0);
  });

  void it('a command that exits at once fails start with a reason', async () => {
    const c: AgentCall = { instance: 'p7', rsctmp, params: { command: '/bin/false' } };
    const s = await runAgent('process', 'start', c);
    assert.equal(s.rc, 1);
    assert.match(s.reason ?? '', /exited/);
    assert.equal((await runAgent('process', 'monitor', c)).rc, 7);
    await assert.rejects(stat(join(rsctmp, 'p7.pid')));
  });

  void it('survives when the caller (hactl agent) process group is killed', async () => {
    killInstanceOnCleanup('p8');
    // A stand-in for the hactl agent: a process group that runs the start action, then lingers.
    const caller = await script('caller.sh', `"$1" start\necho started\nsleep 30`);
    const env = {
      PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
      OCF_RESOURCE_INSTANCE: 'p8',
      HA_RSCTMP: rsctmp,
      OCF_RESKEY_command: server,
    };
    const child = spawn(caller, [agentPath('process')], { env, detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    const cpid = child.pid ?? 0;
    cleanup.add(`kill caller ${cpid}`, async () => killGroup(cpid, 'SIGKILL'));
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    assert.ok(await waitFor(() => out.includes('started'), 5000), 'start finished');
    const { pid } = await readPid('p8');
    killGroup(cpid, 'SIGKILL');
    await sleep(200);
    assert.equal(await pidAlive(pid), true, 'the resource outlives its caller');
    assert.equal((await runAgent('process', 'monitor', { instance: 'p8', rsctmp, params: { command: server } })).rc, 0);
    assert.equal((await runAgent('process', 'stop', { instance: 'p8', rsctmp, params: { command: server } })).rc, 0);
    assert.equal(await pidAlive(pid), false);
  });
});
