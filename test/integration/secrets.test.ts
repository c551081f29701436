// Secrets (docs/security.md): etcd passwords and fence device passwords come only from files. A
// run with a password-authenticated agent and operator, and a fence device whose password is in a
// file, leaves no secret in any log, etcd key or value, CLI output or error message; an inline
// fence password is refused without being echoed, and so is an inline etcd password.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { startTestEtcd } from '../lib/etcd.js';
import { runHactl } from '../lib/cluster.js';
import { readText, startSecAgent, waitStatus, type SecAgent } from '../lib/sec-agents.js';

const CLUSTER = 'secrets';

test('secrets never leave their files: logs, etcd, status, errors', async () => {
  const etcd = await startTestEtcd(1);
  const dir = await mkdtemp(join(tmpdir(), 'hactl-sec-secrets-'));
  const agents: SecAgent[] = [];
  const secrets = {
    root: `root-Pw-${process.pid}-x9`,
    agent: `agent-Pw-${process.pid}-k7`,
    operator: `ops-Pw-${process.pid}-q3`,
    fence: `ipmi-Pw-${process.pid}-z5`,
    wrong: `wrong-Pw-${process.pid}-m1`,
  };
  const outputs: string[] = [];
  const run = async (args: string[], expect: number | null = 0) => {
    const r = await runHactl([...args, '--endpoints', etcd.endpoints[0], '--cluster', CLUSTER], {});
    outputs.push(r.stdout + r.stderr);
    if (expect !== null) assert.equal(r.code, expect, `hactl ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  let root: Etcd3 | undefined;
  try {
    const file = async (name: string, text: string) => {
      const p = join(dir, name);
      await writeFile(p, text + '\n', { mode: 0o600 });
      return p;
    };
    const rootPw = await file('root.pw', secrets.root);
    const agentPw = await file('agent.pw', secrets.agent);
    const opsPw = await file('ops.pw', secrets.operator);
    const fencePw = await file('ipmi.pw', secrets.fence);
    const wrongPw = await file('wrong.pw', secrets.wrong);

    // The CLI takes no inline password, and the host config no `password`.
    const inlineFlag = await run(['status', '--user', 'ops', `--password=${secrets.operator}`], 2);
    assert.doesNotMatch(inlineFlag.stderr, new RegExp(secrets.operator));
    const inlineHost = join(dir, 'inline.yaml');
    await writeFile(inlineHost, `node: n9\ncluster: ${CLUSTER}\netcd: { endpoints: [${etcd.endpoints[0]}], auth: { username: svc, password: ${secrets.agent} } }\n`);
    const inline = await runHactl(['agent', '--config', inlineHost], {});
    outputs.push(inline.stderr);
    assert.equal(inline.code, 2);
    assert.match(inline.stderr, /etcd\.auth(\.passwordFile)?: /);
    assert.doesNotMatch(inline.stderr, new RegExp(secrets.agent));

    // Roles, root with a password (read from its file), then auth on.
    await run(['rbac', 'apply', '--nodes', 'n1', '--root-password-file', rootPw]);
    root = new Etcd3({ hosts: etcd.endpoints, auth: { username: 'root', password: secrets.root }, defaultCallOptions: (c) => (c.isStream ? {} : { deadline: Date.now() + 3000 }) });
    await root.user('svc-n1').create(secrets.agent);
    await root.user('svc-n1').addRole('hactl-agent');
    await root.user('ops').create(secrets.operator);
    await root.user('ops').addRole('hactl-operator');
    const ops = ['--user', 'ops', '--password-file', opsPw];

    // A fence device with an inline password is refused, by path, without echoing it.
    const device = (params: string) =>
      [
        'timing: { leaseTtl: 2s, fenceMargin: 800ms }',
        'nodes: { n1: { fence: ipmi-n1 } }',
        'fencing:',
        '  devices:',
        `    ipmi-n1: { agent: fence_ipmilan, params: { ip: 10.1.0.11, username: admin, ${params} } }`,
        'serviceSets:',
        '  S1:',
        '    prefer: [n1]',
        '    resources:',
        '      - { id: s1-r1, type: dummy, stop: { timeout: 500ms }, monitor: { interval: 1s, timeout: 2s } }',
      ].join('\n') + '\n';
    const inlineCfg = await file('inline-cluster.yaml', device(`password: ${secrets.fence}`));
    const refused = await run(['config', 'apply', '--no-agent-checks', inlineCfg, ...ops], 2);
    assert.match(refused.stderr, /fencing\.devices\.ipmi-n1\.params\.password: secrets are not stored in the cluster configuration/);
    assert.equal(await root.get(`/hactl/${CLUSTER}/config`).string(), null, 'nothing applied');
    const cfg = await file('cluster.yaml', device(`password_file: ${fencePw}`));
    await run(['config', 'apply', '--no-agent-checks', cfg, ...ops]);

    // A password-authenticated agent runs the set.
    agents.push(await startSecAgent(dir, 'n1', CLUSTER, `{ endpoints: [${etcd.endpoints[0]}], auth: { username: svc-n1, passwordFile: ${agentPw} } }`));
    await waitStatus(root, CLUSTER, 'S1 running on n1', 30_000, (s) => s.sets.some((x) => x.name === 'S1' && x.state === 'running' && x.node === 'n1'));

    await run(['status', ...ops]);
    await run(['status', '--json', ...ops]);
    await run(['config', 'show', ...ops]);
    await run(['config', 'show', '--json', ...ops]);
    const noTarget = await run(['failover', 'S1', ...ops], null);
    assert.notEqual(noTarget.code, 0);
    const wrong = await run(['status', '--user', 'ops', '--password-file', wrongPw], 4);
    assert.match(wrong.stderr, /^hactl: ops cannot read the cluster status: etcd authentication failed for ops/);
    const agentAsOps = await run(['config', 'apply', '--no-agent-checks', cfg, '--user', 'ops', '--password-file', agentPw], 4);
    assert.equal(agentAsOps.stderr.trim().split('\n').length, 1);
    await agents[0].stop('SIGTERM');

    // Everything the run left behind: agent logs, etcd's own logs, every key and value, every output.
    const evidence: [string, string][] = outputs.map((o, i) => [`output ${i}`, o]);
    evidence.push(['agent log', await readText(agents[0].logFile)]);
    for (const f of await readdir(etcd.dir)) if (f.endsWith('.log')) evidence.push([`etcd ${f}`, await readText(join(etcd.dir, f))]);
    const all = await root.getAll().prefix('/').strings();
    for (const [k, v] of Object.entries(all)) evidence.push([`etcd key ${k}`, `${k}\n${v}`]);
    assert.ok(Object.keys(all).some((k) => k.includes('/events/')), 'the run wrote events');
    assert.ok(evidence.find(([w]) => w === 'agent log')![1].includes('"msg":"agent started"'));
    for (const [what, text] of evidence) {
      for (const [name, secret] of Object.entries(secrets)) {
        assert.ok(!text.includes(secret), `${name} secret found in ${what}`);
      }
    }
    // The files still hold them (the test proves absence, not that the secrets were never there).
    assert.equal((await readFile(fencePw, 'utf8')).trim(), secrets.fence);
  } finally {
    root?.close();
    for (const a of agents) await a.stop('SIGKILL');
    await etcd.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});
