// hactl resources list|describe and the agent checks of hactl config validate|apply (SPEC §3.2,
// §5.6, §7), run as the compiled CLI against real agents: the built-ins, Debian's heartbeat
// agents (when installed) and site agents in a resourceDirs directory — one fine, one broken,
// one that hangs in meta-data, one writable by its group (refused when root).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runHactl, startTestCluster, type TestCluster } from '../lib/cluster.js';

const HEARTBEAT = existsSync('/usr/lib/ocf/resource.d/heartbeat/Dummy');
const root = process.getuid?.() === 0;

let dir = '';
let siteDir = '';
let env: Record<string, string> = {};

const SITE_META = `<?xml version="1.0"?>
<resource-agent name="marker" version="1.0">
<version>1.1</version>
<shortdesc lang="en">Marker file</shortdesc>
<longdesc lang="en">Keeps a marker file.</longdesc>
<parameters>
<parameter name="path" unique="1" required="1"><shortdesc lang="en">Marker path</shortdesc><content type="string"/></parameter>
</parameters>
<actions><action name="start" timeout="10s"/><action name="monitor" timeout="10s" interval="10s"/></actions>
</resource-agent>`;

async function agent(name: string, body: string, mode = 0o755): Promise<void> {
  const p = join(siteDir, name);
  await writeFile(p, `#!/bin/bash\n${body}\n`);
  await chmod(p, mode);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hactl-rescli-'));
  siteDir = join(dir, 'resources.d');
  await writeFile(join(dir, 'agent.yaml'), `ocfRoot: /usr/lib/ocf\nresourceDirs: [${siteDir}]\n`);
  await mkdir(siteDir, { mode: 0o755 });
  await agent('marker', `case $1 in meta-data) cat <<'EOF'\n${SITE_META}\nEOF\n;; *) exit 0 ;; esac`);
  await agent('broken', `echo '<resource-agent name="broken"><parameters>'; exit 0`);
  await agent('failing', `echo "ocf-exit-reason:cannot find libfoo" >&2; exit 5`);
  await agent('hangs', `sleep 60`);
  await agent('writable', `exit 0`, 0o775);
  env = { HACTL_CONFIG: join(dir, 'agent.yaml') };
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

void describe('hactl resources', () => {
  void it('list --json: built-ins, ocf agents, site agents; a broken agent is listed with its error; meta-data is bounded', async () => {
    const t0 = performance.now();
    const r = await runHactl(['resources', 'list', '--json'], env);
    const ms = performance.now() - t0;
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { agents: { type: string; source: string; shortdesc?: string; error?: string }[] };
    const by = new Map(out.agents.map((a) => [a.type, a]));
    for (const t of ['floating-ip', 'shared-disk', 'queue-manager', 'process', 'dummy']) {
      assert.equal(by.get(t)?.source, 'built-in');
      assert.ok(by.get(t)?.shortdesc, `${t} has a description`);
    }
    assert.equal(out.agents[0].type, 'floating-ip', 'built-ins first');
    if (HEARTBEAT) assert.equal(by.get('ocf:heartbeat:Dummy')?.shortdesc, 'Example stateless resource agent');
    assert.equal(by.get('marker')?.shortdesc, 'Marker file');
    assert.equal(by.get('marker')?.source, 'site');
    assert.match(by.get('broken')?.error ?? '', /not well-formed XML/);
    assert.match(by.get('failing')?.error ?? '', /meta-data exited 5: cannot find libfoo/);
    assert.match(by.get('hangs')?.error ?? '', /timed out/);
    if (root) assert.match(by.get('writable')?.error ?? '', /refused: .* writable by group or others/);
    // The hanging agent costs its 5 s timeout once, not the whole list serially.
    assert.ok(ms < 20_000, `list took ${ms} ms`);
  });

  void it('list prints a table', async () => {
    const r = await runHactl(['resources', 'list'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^TYPE\s+SOURCE\s+DESCRIPTION/m);
    assert.match(r.stdout, /^floating-ip\s+built-in\s+Floating/m);
    assert.match(r.stdout, /^broken\s+site\s+error: /m);
  });

  void it('describe: parameters and actions from meta-data', async () => {
    const r = await runHactl(['resources', 'describe', 'floating-ip', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const d = JSON.parse(r.stdout) as { type: string; parameters: { name: string; required: boolean; unique: boolean; type: string; default?: string }[]; actions: { name: string; timeoutMs?: number }[] };
    assert.equal(d.type, 'floating-ip');
    const ip = d.parameters.find((p) => p.name === 'ip');
    assert.deepEqual([ip?.required, ip?.unique], [true, true]);
    assert.equal(d.parameters.find((p) => p.name === 'arpCount')?.default, '5');
    assert.ok(d.actions.some((a) => a.name === 'start' && a.timeoutMs === 20_000));
    const text = await runHactl(['resources', 'describe', 'marker'], env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^marker — Marker file/);
    assert.match(text.stdout, /^\s+path\s+yes\s+yes\s+string/m);
    assert.match(text.stdout, /^\s+monitor\s+10s\s+10s/m);
    if (HEARTBEAT) {
      const ip2 = await runHactl(['resources', 'describe', 'ocf:heartbeat:IPaddr2', '--json'], env);
      assert.equal(ip2.code, 0, ip2.stderr);
      assert.ok((JSON.parse(ip2.stdout) as { parameters: { name: string; required: boolean }[] }).parameters.some((p) => p.name === 'ip' && p.required));
    }
  });

  void it('describe: unknown type exits 3, bad type 2, unsafe file 4, broken agent 1 — one line each', async () => {
    const cases: [string, number, RegExp][] = [
      ['nosuchagent', 3, /not found/],
      ['ocf:heartbeat:NoSuchAgent', 3, /not found/],
      ['ocf:x', 2, /not a resource type/],
      ['broken', 1, /not well-formed/],
    ];
    if (root) cases.push(['writable', 4, /refused/]);
    for (const [type, code, re] of cases) {
      const r = await runHactl(['resources', 'describe', type], env);
      assert.equal(r.code, code, `${type}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
      assert.ok(!r.stderr.includes('    at '), 'no stack trace');
    }
  });
});

void describe('hactl config validate|apply against the agents', () => {
  let tc: TestCluster;
  let cfg = '';
  before(async () => {
    tc = await startTestCluster({ nodes: 0 });
    cfg = join(dir, 'cluster.yaml');
  });
  after(async () => {
    await tc.dispose();
  });

  const yaml = (resources: string[]) => ['serviceSets:', '  QM1:', '    requireFencing: false', '    resources:', ...resources.map((r) => `      - ${r}`)].join('\n') + '\n';
  const validate = async (resources: string[], extra: string[] = []) => {
    await writeFile(cfg, yaml(resources));
    return runHactl(['config', 'validate', cfg, ...extra], env);
  };

  void it('a missing required parameter is named by its path', async () => {
    const r = await validate(['{ id: d1, type: dummy }', '{ id: ip1, type: floating-ip, params: { interface: eth0 } }']);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /serviceSets\.QM1\.resources\[1\]\.params\.ip: required by floating-ip/);
  });

  void it("validate-all's reason is the error text for a built-in agent", async () => {
    const r = await validate(['{ id: d1, type: dummy }', '{ id: ip1, type: floating-ip, params: { ip: 10.0.0.500/24 } }']);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /serviceSets\.QM1\.resources\[1\]\.params: floating-ip validate-all: ip '?10\.0\.0\.500\/24'? is not an IPv4\/IPv6 CIDR/);
  });

  void it('unknown types, unsafe agent files and unknown parameters', async () => {
    const unknown = await validate(['{ id: x1, type: ocf:heartbeat:NoSuchAgent }', '{ id: x2, type: nosuch }']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /serviceSets\.QM1\.resources\[0\]\.type: ocf:heartbeat:NoSuchAgent: not found/);
    assert.match(unknown.stderr, /serviceSets\.QM1\.resources\[1\]\.type: nosuch: not found/);
    if (root) {
      const unsafe = await validate(['{ id: w1, type: writable }']);
      assert.equal(unsafe.code, 4, unsafe.stderr);
      assert.match(unsafe.stderr, /resources\[0\]\.type: writable: refused: .* writable by group or others/);
    }
    const ok = await validate(['{ id: m1, type: marker, params: { path: /tmp/x, colour: red } }']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /warning: serviceSets\.QM1\.resources\[0\]\.params\.colour: not a parameter of marker/);
  });

  void it('--no-agent-checks skips them (an operator machine without the agents)', async () => {
    const r = await validate(['{ id: x1, type: ocf:heartbeat:NoSuchAgent }', '{ id: ip1, type: floating-ip }'], ['--no-agent-checks']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /valid/);
  });

  void it('apply stores nothing when an agent check fails; stores a config that passes', async () => {
    await writeFile(cfg, yaml(['{ id: ip1, type: floating-ip, params: { ip: 10.0.0.500/24 } }']));
    const bad = await runHactl(['config', 'apply', cfg], { ...env, ...tc.lc.cliEnv() });
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /floating-ip validate-all/);
    assert.equal((await tc.client.get(tc.keys.config()).exec()).kvs.length, 0, 'nothing written to etcd');
    await writeFile(cfg, yaml(['{ id: d1, type: dummy }', '{ id: p1, type: process, params: { command: /bin/sleep, args: ["60"] } }']));
    const good = await runHactl(['config', 'apply', cfg, '--json'], { ...env, ...tc.lc.cliEnv() });
    assert.equal(good.code, 0, good.stderr);
    assert.equal((JSON.parse(good.stdout) as { applied: boolean }).applied, true);
    assert.equal((await tc.client.get(tc.keys.config()).exec()).kvs.length, 1);
  });
});
