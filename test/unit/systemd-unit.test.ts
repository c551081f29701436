// systemd/hactl-agent.service: `systemd-analyze verify` accepts it with nothing at all on stderr
// (unknown keys and deprecated settings only warn, with rc 0), it runs the agent with the flags of
// agent/shell/runtime-flags.ts, and systemd/install.sh installs a tree whose CLI runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AGENT_ENV, AGENT_NODE_FLAGS } from '../../agent/shell/runtime-flags.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const UNIT = join(REPO, 'systemd', 'hactl-agent.service');

function findSystemdAnalyze(): string | null {
  for (const p of ['/usr/bin/systemd-analyze', '/bin/systemd-analyze']) if (existsSync(p)) return p;
  return null;
}

const analyze = findSystemdAnalyze();

test('systemd-analyze verify: the unit has no errors and no warnings', { skip: analyze ? false : 'systemd-analyze is not installed (Debian package systemd)' }, () => {
  const r = spawnSync(analyze!, ['verify', UNIT], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.error, undefined, String(r.error));
  assert.equal(r.stderr, '', `systemd-analyze verify printed:\n${r.stderr}`);
  assert.equal(r.status, 0);
});

test('the unit runs the compiled agent with the runtime flags and environment of runtime-flags.ts', () => {
  const text = readFileSync(UNIT, 'utf8');
  const lines = text.split('\n').filter((l) => !l.startsWith('#'));
  const value = (key: string): string[] => lines.filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
  assert.deepEqual(value('ExecStart'), [['/usr/bin/node', ...AGENT_NODE_FLAGS, '/usr/lib/hactl/dist/cli/hactl.js', 'agent', '--config', '/etc/hactl/agent.yaml'].join(' ')]);
  assert.deepEqual(value('Environment').sort(), Object.entries(AGENT_ENV).map(([k, v]) => `${k}=${v}`).sort());
  assert.deepEqual(value('Type'), ['simple']);
  assert.deepEqual(value('Restart'), ['on-failure']);
  assert.deepEqual(value('KillMode'), ['process']);
  assert.ok(Number(value('TimeoutStopSec')[0]) >= 600, 'TimeoutStopSec covers the agent stopping its sets (600 s)');
  for (const forbidden of ['PrivateNetwork', 'ProtectSystem', 'PrivateTmp', 'PrivateDevices', 'PrivateMounts', 'NoNewPrivileges', 'MemoryDenyWriteExecute', 'CapabilityBoundingSet']) {
    assert.equal(value(forbidden).length, 0, `${forbidden} would break managing IPs, mounts or processes`);
  }
});

test('install.sh --root installs a tree whose hactl runs, and is idempotent', { skip: process.getuid?.() === 0 ? false : 'needs root (chown to root)' }, () => {
  const root = mkdtempSync(join(tmpdir(), 'hactl-test-install-'));
  try {
    for (let i = 0; i < 2; i++) {
      const r = spawnSync('bash', [join(REPO, 'systemd', 'install.sh'), '--root', root, '--enable'], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 0, r.stderr);
    }
    assert.ok(existsSync(join(root, 'etc/systemd/system/hactl-agent.service')));
    assert.ok(lstatSync(join(root, 'etc/systemd/system/multi-user.target.wants/hactl-agent.service')).isSymbolicLink(), 'enabled');
    assert.ok(existsSync(join(root, 'var/lib/hactl')));
    assert.ok(existsSync(join(root, 'etc/hactl/resources.d')));
    assert.ok(existsSync(join(root, 'usr/lib/hactl/resources/dummy')));
    assert.ok(!existsSync(join(root, 'usr/lib/hactl/node_modules/typescript')), 'no dev dependencies');
    const wrapper = readFileSync(join(root, 'usr/bin/hactl'), 'utf8');
    assert.match(wrapper, /exec \/usr\/bin\/node \/usr\/lib\/hactl\/dist\/cli\/hactl\.js "\$@"/);
    // The installed CLI loads its dependencies from the installed tree only.
    const help = spawnSync(process.execPath, [join(root, 'usr/lib/hactl/dist/cli/hactl.js'), 'report', '--help'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /--since/);
    const completion = spawnSync(process.execPath, [join(root, 'usr/lib/hactl/dist/cli/hactl.js'), 'completion', 'bash'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(completion.status, 0, completion.stderr);
    assert.match(completion.stdout, /complete -o bashdefault -o default -F _hactl hactl/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
