// The fence device layer with real script devices: the fence-agents stdin protocol, secrets read
// from their files at call time and kept out of argv, the environment and reasons, timeouts that
// end the whole process group, the agent-file safety check, and unknown fence_<name> agents.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chmod, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fenceNode, monitorDevice, fenceDeviceFor, configuredFenceAction, type FenceDevice } from '../../agent/fence/device.js';
import { scrub, secretOptionName } from '../../agent/fence/secrets.js';
import { ClusterConfigSchema } from '../../agent/config/cluster-schema.js';

const isRoot = process.getuid?.() === 0;

/** A script device in a fresh temp dir: records its stdin, argv and environment, then runs `body`. */
async function withScriptDevice(body: string, params: FenceDevice['params'], fn: (device: FenceDevice, dir: string) => Promise<void>, timeout = 5000): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hactl-fence-'));
  try {
    const path = join(dir, 'fence-script');
    await writeFile(path, `#!/bin/sh\ncat > ${dir}/stdin\necho "$#:$*" > ${dir}/argv\nenv > ${dir}/env\n${body}\n`);
    await chmod(path, 0o755);
    const resolved = JSON.parse(JSON.stringify(params).replaceAll('$DIR', dir)) as FenceDevice['params'];
    await fn({ name: 'pdu1', agent: `script:${path}`, params: resolved, timeout, monitorInterval: 300_000 }, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const read = (dir: string, f: string) => readFile(join(dir, f), 'utf8');

test('a fence sends the fence-agents stdin protocol: action, plug, nodename, device params, secrets; no argv', async () => {
  const params = { ip: '10.0.0.9', username: 'admin', password_file: '$DIR/pw', lanplus: true, ipport: 623, plugs: { n1: 'vm-n1' }, identity_file: '/root/.ssh/id_fence', action: 'reboot' };
  await withScriptDevice('exit 0', params, async (device, dir) => {
    await writeFile(join(dir, 'pw'), 's3cret-pw\n', { mode: 0o600 });
    const out = await fenceNode(device, 'n1', 'reboot');
    assert.equal(out.status, 'fenced', out.reason);
    assert.match(out.reason, /^device pdu1 \(script:.*\) reboot n1 succeeded/);
    assert.ok(out.durationMs > 0);
    assert.equal(
      await read(dir, 'stdin'),
      ['action=reboot', 'plug=vm-n1', 'nodename=n1', 'ip=10.0.0.9', 'username=admin', 'lanplus=1', 'ipport=623', 'identity_file=/root/.ssh/id_fence', 'password=s3cret-pw', ''].join('\n'),
    );
    assert.equal((await read(dir, 'argv')).trim(), '0:', 'no arguments (fence-agents read stdin only without argv)');
    const env = await read(dir, 'env');
    for (const line of ['HA_FENCE_NODE=n1', 'HA_FENCE_ACTION=reboot', 'HA_FENCE_PLUG=vm-n1', 'HA_FENCE_DEVICE=pdu1', 'LANG=C']) assert.ok(env.split('\n').includes(line), `missing ${line}`);
    assert.ok(!env.includes('s3cret'), 'the secret is not in the environment');
    assert.ok(!/HACTL_|npm_|NODE_TEST/.test(env), 'the caller environment is not leaked');

    // a node not in plugs is its own plug
    await fenceNode(device, 'n2', 'off');
    assert.match(await read(dir, 'stdin'), /^action=off\nplug=n2\nnodename=n2\n/);
  });
});

test('a fixed plug param wins over the node name; monitor sends no plug', async () => {
  await withScriptDevice('exit 0', { plug: '7', ip: 'pdu.example' }, async (device, dir) => {
    assert.equal((await fenceNode(device, 'mq1', 'off')).status, 'fenced');
    assert.equal(await read(dir, 'stdin'), 'action=off\nplug=7\nnodename=mq1\nip=pdu.example\n');
    const m = await monitorDevice(device);
    assert.equal(m.status, 'ok', m.reason);
    assert.equal(await read(dir, 'stdin'), 'action=monitor\nip=pdu.example\n');
    assert.match(await read(dir, 'env'), /^HA_FENCE_ACTION=monitor$/m);
    assert.match(await read(dir, 'env'), /^HA_FENCE_NODE=$/m);
  });
});

test('secrets are read at call time and scrubbed from reasons, even when the agent prints them', async () => {
  // The agent fails and echoes its whole stdin (password included) on stderr and stdout.
  const body = 'sed "s/^/ERROR: bad option /" < "$(dirname "$0")/stdin" >&2; cat "$(dirname "$0")/stdin"; exit 1';
  await withScriptDevice(body, { username: 'admin', password_file: '$DIR/pw', snmp_priv_passwd_file: '$DIR/priv' }, async (device, dir) => {
    await writeFile(join(dir, 'pw'), 'first-secret\n');
    await writeFile(join(dir, 'priv'), 'priv-secret');
    const a = await fenceNode(device, 'n1', 'off');
    assert.equal(a.status, 'failed');
    assert.match(a.reason, /^device pdu1 \(script:.*\) off n1 failed \(exit 1\): ERROR: bad option /);
    assert.ok(!a.reason.includes('first-secret') && !a.reason.includes('priv-secret'), a.reason);
    assert.ok(!a.reason.includes('\n'));
    assert.match(await read(dir, 'stdin'), /^password=first-secret$/m);
    assert.match(await read(dir, 'stdin'), /^snmp_priv_passwd=priv-secret$/m);

    // rotated on disk: the next call uses the new value, no restart or reload
    await writeFile(join(dir, 'pw'), 'second-secret\n');
    const b = await fenceNode(device, 'n1', 'off');
    assert.match(await read(dir, 'stdin'), /^password=second-secret$/m);
    assert.ok(!b.reason.includes('second-secret'), b.reason);
    const argvEnv = (await read(dir, 'argv')) + (await read(dir, 'env'));
    assert.ok(!argvEnv.includes('secret'), 'secrets never in argv or the environment');

    // the last line of stderr, scrubbed, is the reason
    await writeFile(join(dir, 'pw'), 'third-secret\n');
    const c = await fenceNode(device, 'n1', 'off');
    assert.match(c.reason, /ERROR: bad option (password|snmp_priv_passwd)=\*\*\*/);
  });
});

test('a missing, empty or multi-line secret file fails the fence without running the agent', async () => {
  await withScriptDevice('exit 0', { password_file: '$DIR/pw' }, async (device, dir) => {
    const missing = await fenceNode(device, 'n1', 'off');
    assert.equal(missing.status, 'failed');
    assert.match(missing.reason, /cannot read password_file .*\/pw \(ENOENT\)/);
    await assert.rejects(read(dir, 'stdin'), 'the agent did not run');
    await writeFile(join(dir, 'pw'), '\n');
    assert.match((await fenceNode(device, 'n1', 'off')).reason, /is empty/);
    await writeFile(join(dir, 'pw'), 'line-one\nline-two\n');
    const multi = await fenceNode(device, 'n1', 'off');
    assert.match(multi.reason, /more than one line/);
    assert.ok(!multi.reason.includes('line-one'));
  });
});

test('status: exit 2 is off (fenced), exit 0 is on; other failures keep the agent line', async () => {
  await withScriptDevice('echo "Status: OFF"; exit 2', {}, async (device) => {
    const out = await fenceNode(device, 'n1', 'status');
    assert.equal(out.status, 'fenced');
    assert.match(out.reason, /reports it off/);
  });
  await withScriptDevice('echo "Status: ON"; exit 0', {}, async (device) => {
    const out = await fenceNode(device, 'n1', 'status');
    assert.equal(out.status, 'failed');
    assert.match(out.reason, /reports it on/);
  });
  await withScriptDevice('echo "2024-01-01 10:00:00,000 ERROR: Failed: Unable to obtain correct plug status" >&2; echo "more" >&2; exit 1', {}, async (device) => {
    const out = await fenceNode(device, 'n1', 'off');
    assert.equal(out.status, 'failed');
    assert.match(out.reason, /failed \(exit 1\): 2024-01-01 10:00:00,000 ERROR: Failed: Unable to obtain correct plug status$/);
  });
});

function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  // a zombie waiting for a reaper counts as gone
  return /\)\s+Z\s/.test(readProcStat(pid));
}
function readProcStat(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return ') Z ';
  }
}

test('a device that overruns its timeout is timed out and its whole process group killed', async () => {
  await withScriptDevice('sleep 30 &\necho $! > "$(dirname "$0")/child"\nwait', {}, async (device, dir) => {
    const t0 = Date.now();
    const out = await fenceNode(device, 'n1', 'off');
    assert.equal(out.status, 'timed-out');
    assert.match(out.reason, /off n1 timed out after 600ms \(process group killed\)/);
    assert.ok(Date.now() - t0 < 5000);
    const child = Number((await read(dir, 'child')).trim());
    assert.ok(child > 0);
    const deadline = Date.now() + 3000;
    while (!gone(child) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(gone(child), `the agent's child ${child} was killed with its group`);
  }, 600);
});

test('an unsafe agent file is refused before it runs (root: not root-owned, group-writable)', { skip: !isRoot && 'needs root' }, async () => {
  await withScriptDevice('exit 0', {}, async (device, dir) => {
    const path = device.agent.slice('script:'.length);
    await chown(path, 65534, 65534);
    const a = await fenceNode(device, 'n1', 'off');
    assert.equal(a.status, 'failed');
    assert.match(a.reason, /refused: .* is owned by uid 65534, not root/);
    await chown(path, 0, 0);
    await chmod(path, 0o775);
    const b = await fenceNode(device, 'n1', 'off');
    assert.equal(b.status, 'failed');
    assert.match(b.reason, /refused: .* writable by group or others/);
    assert.equal((await monitorDevice(device)).status, 'failed');
    await assert.rejects(read(dir, 'stdin'), 'never ran');
  });
});

test('fence_<name> agents: looked up in the agent dir (no HA_FENCE_* env); an unknown one is reported', async () => {
  const unknown = await fenceNode({ name: 'x', agent: 'fence_nosuch_hactl_test', params: {}, timeout: 1000, monitorInterval: 300_000 }, 'n1', 'off');
  assert.equal(unknown.status, 'failed');
  assert.match(unknown.reason, /fence agent fence_nosuch_hactl_test is not installed here \(no \/usr\/sbin\/fence_nosuch_hactl_test; on Debian: apt install fence-agents\)/);

  const dir = await mkdtemp(join(tmpdir(), 'hactl-fence-'));
  try {
    await writeFile(join(dir, 'fence_fake'), `#!/bin/sh\ncat > ${dir}/stdin\nenv > ${dir}/env\necho "Success: Powered OFF"\n`, { mode: 0o755 });
    const out = await fenceNode({ name: 'ipmi-n1', agent: 'fence_fake', params: { ip: '10.1.0.11' }, timeout: 5000, monitorInterval: 300_000 }, 'n1', 'off', { agentDir: dir });
    assert.equal(out.status, 'fenced', out.reason);
    assert.equal(out.reason, 'device ipmi-n1 (fence_fake) off n1 succeeded: Success: Powered OFF');
    assert.equal(await read(dir, 'stdin'), 'action=off\nplug=n1\nnodename=n1\nip=10.1.0.11\n');
    assert.ok(!(await read(dir, 'env')).includes('HA_FENCE_'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('device lookup, the configured action, secret names and scrubbing', () => {
  const cfg = ClusterConfigSchema.parse({
    nodes: { n1: { fence: 'd1' }, n2: {} },
    fencing: { devices: { d1: { agent: 'script:/usr/local/sbin/fence-site', params: { action: 'reboot' }, timeout: '10s' } } },
    serviceSets: {},
  } as unknown);
  const d = fenceDeviceFor(cfg, 'n1');
  assert.equal(d?.name, 'd1');
  assert.equal(d?.timeout, 10_000);
  assert.equal(fenceDeviceFor(cfg, 'n2'), null);
  assert.equal(fenceDeviceFor(cfg, 'n3'), null);
  assert.deepEqual(configuredFenceAction({}), { ok: true, value: 'off' });
  assert.deepEqual(configuredFenceAction({ action: 'reboot' }), { ok: true, value: 'reboot' });
  assert.equal(configuredFenceAction({ action: 'on' }).ok, false);
  assert.equal(secretOptionName('password_file'), 'password');
  assert.equal(secretOptionName('snmp_priv_passwd_file'), 'snmp_priv_passwd');
  assert.equal(secretOptionName('identity_file'), null);
  assert.equal(secretOptionName('bypass_file'), null);
  assert.equal(scrub('a pw=abc and abcd', ['abc', 'abcd', '']), 'a pw=*** and ***');
});
