// Security end to end (docs/security.md): a TLS-only etcd that requires client certificates, with
// RBAC set up by `hactl rbac apply` as root (CN=root). Agents authenticate by certificate CN, run a
// set and fail it over; an observer can read but not fail over (exit 4, one line naming what was
// denied); an agent with a certificate from another CA is refused and writes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcdCluster, type EtcdCluster } from '../../cli/dev/etcd-process.js';
import { makeEtcdClient } from '../../agent/etcd/client.js';
import { makeTestPki, type CertFiles } from '../lib/pki.js';
import { registerCleanup } from '../lib/cleanup.js';
import { dummySetYaml, runHactl } from '../lib/cluster.js';
import { readText, startSecAgent, waitStatus, type SecAgent } from '../lib/sec-agents.js';

const CLUSTER = 'sec';

test('TLS + client-certificate identities + RBAC: agents fail over, observer is refused, untrusted cert is refused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hactl-sec-tls-'));
  const agents: SecAgent[] = [];
  let etcd: EtcdCluster | undefined;
  const unregister = registerCleanup(
    async () => {
      for (const a of agents) await a.stop('SIGKILL');
      await etcd?.stop();
    },
    () => {
      for (const m of etcd?.members ?? []) if (m.process?.pid) process.kill(m.process.pid, 'SIGKILL');
    },
  );
  try {
    const pki = await makeTestPki(dir, ['root', 'hactl-agent-n1', 'hactl-agent-n2', 'hactl-operator', 'hactl-observer', 'nobody'], ['hactl-agent-n3']);
    etcd = await startEtcdCluster(join(dir, 'etcd'), 1, `hactl-sec-${process.pid}`, { tls: { ca: pki.ca, ...pki.server, clientCertAuth: true } });
    const endpoint = etcd.endpoints[0];
    assert.match(endpoint, /^https:\/\/127\.0\.0\.1:\d+$/);
    const as = (c: CertFiles, ca = pki.ca): string[] => ['--endpoints', endpoint, '--cluster', CLUSTER, '--cacert', ca, '--cert', c.cert, '--key', c.key];
    const hactl = (who: CertFiles, args: string[]) => runHactl([...args, ...as(who)], {}, 60_000);

    // No client certificate at all: refused by TLS, in one line, exit 4.
    const noCert = await runHactl(['status', '--endpoints', endpoint, '--cluster', CLUSTER, '--cacert', pki.ca], {});
    assert.equal(noCert.code, 4, noCert.stderr);
    assert.equal(noCert.stderr.trim().split('\n').length, 1, noCert.stderr);
    assert.match(noCert.stderr, /TLS handshake with etcd at https:\/\/127\.0\.0\.1:\d+ failed: alert bad certificate/);

    // The printed commands are the plan that apply carries out.
    const printed = await runHactl(['rbac', 'print', '--cluster', CLUSTER, '--nodes', 'n1,n2'], {});
    assert.equal(printed.code, 0, printed.stderr);
    for (const line of [
      'etcdctl role grant-permission hactl-agent readwrite --prefix=true /hactl/sec/',
      'etcdctl role grant-permission hactl-operator readwrite --prefix=true /hactl/sec/intents/',
      'etcdctl role grant-permission hactl-operator readwrite /hactl/sec/config',
      'etcdctl role grant-permission hactl-operator readwrite --prefix=true /hactl/sec/fences/',
      'etcdctl role grant-permission hactl-operator read --prefix=true /hactl/sec/',
      'etcdctl role grant-permission hactl-observer read --prefix=true /hactl/sec/',
      'etcdctl user add hactl-agent-n1 --no-password',
      'etcdctl user grant-role hactl-agent-n2 hactl-agent',
      'etcdctl user grant-role hactl-observer hactl-observer',
      'etcdctl user grant-role root root',
      'etcdctl auth enable',
    ]) {
      assert.ok(printed.stdout.split('\n').includes(line), `rbac print lacks: ${line}\n${printed.stdout}`);
    }

    // Root applies it (twice: idempotent).
    for (let i = 0; i < 2; i++) {
      const applied = await hactl(pki.client('root'), ['rbac', 'apply', '--nodes', 'n1,n2']);
      assert.equal(applied.code, 0, applied.stderr);
      assert.match(applied.stdout, /authentication enabled/);
    }
    // The operator (not root) can apply the cluster configuration; the observer cannot.
    const cfgFile = join(dir, 'cluster.yaml');
    await writeFile(cfgFile, dummySetYaml({ prefer: ['n1', 'n2'], resources: 2 }));
    const obsApply = await hactl(pki.client('hactl-observer'), ['config', 'apply', cfgFile]);
    assert.equal(obsApply.code, 4, obsApply.stderr);
    assert.equal(obsApply.stderr.trim(), 'hactl: hactl-observer cannot apply the configuration: etcd permission denied on /hactl/sec/config');
    const opApply = await hactl(pki.client('hactl-operator'), ['config', 'apply', cfgFile]);
    assert.equal(opApply.code, 0, opApply.stderr);

    // Agents with their certificates (etcd.tls ca/cert/key) run the set.
    const tlsYaml = (c: CertFiles, ca = pki.ca) => `{ endpoints: [${endpoint}], tls: { ca: ${ca}, cert: ${c.cert}, key: ${c.key} } }`;
    agents.push(await startSecAgent(dir, 'n1', CLUSTER, tlsYaml(pki.client('hactl-agent-n1'))));
    agents.push(await startSecAgent(dir, 'n2', CLUSTER, tlsYaml(pki.client('hactl-agent-n2'))));
    const root = makeEtcdClient({
      endpoints: [endpoint],
      callTimeoutMs: 3000,
      tls: { ca: await readFile(pki.ca), cert: await readFile(pki.client('root').cert), key: await readFile(pki.client('root').key) },
    });
    try {
      // Whichever agent came up first took S1 (no failback): call it `a`, the other `b`.
      const first = await waitStatus(root, CLUSTER, 'S1 running', 30_000, (s) => s.sets.some((x) => x.name === 'S1' && x.state === 'running'));
      const token1 = first.sets.find((x) => x.name === 'S1')!.fencingToken ?? 0;
      const a = first.sets.find((x) => x.name === 'S1')!.node!;
      const b = a === 'n1' ? 'n2' : 'n1';

      // The observer reads the status, but cannot fail over: one line, exit 4, names the denied scope.
      const obsStatus = await hactl(pki.client('hactl-observer'), ['status', '--json']);
      assert.equal(obsStatus.code, 0, obsStatus.stderr);
      assert.equal((JSON.parse(obsStatus.stdout) as { sets: { name: string; node: string }[] }).sets[0].node, a);
      const obsFailover = await hactl(pki.client('hactl-observer'), ['failover', 'S1', '--to', b]);
      assert.equal(obsFailover.code, 4, obsFailover.stderr);
      assert.equal(obsFailover.stderr, 'hactl: hactl-observer cannot fail over: etcd permission denied on /hactl/sec/intents/\n');
      assert.equal((await root.get('/hactl/sec/intents/failover/S1').string()) ?? null, null, 'no intent was written');

      // The operator's planned failover goes through.
      const moved = await hactl(pki.client('hactl-operator'), ['failover', 'S1', '--to', b, '--wait', '--timeout', '30s']);
      assert.equal(moved.code, 0, moved.stderr);
      const onB = await waitStatus(root, CLUSTER, `S1 running on ${b}`, 30_000, (s) => s.sets.some((x) => x.name === 'S1' && x.state === 'running' && x.node === b));
      assert.ok((onB.sets[0].fencingToken ?? 0) > token1);

      // And an unplanned one: b's agent dies, a takes over when b's lease expires.
      await agents.find((x) => x.node === b)!.stop('SIGKILL');
      await waitStatus(root, CLUSTER, `S1 back on ${a}`, 30_000, (s) => s.sets.some((x) => x.name === 'S1' && x.state === 'running' && x.node === a));

      // An agent whose certificate another CA signed is refused: one line, exit 4, nothing written.
      const before = (await root.getAll().prefix('/hactl/sec/').keys()).filter((k) => !k.startsWith('/hactl/sec/events/')).sort();
      const evil = await startSecAgent(dir, 'n3', CLUSTER, tlsYaml(pki.untrusted('hactl-agent-n3')));
      agents.push(evil);
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([evil.exited, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 15_000)))]);
      clearTimeout(timer);
      assert.equal(code, 4, await readText(evil.logFile));
      const out = (await readText(evil.logFile)).trim().split('\n');
      assert.equal(out.length, 1, out.join('\n'));
      assert.match(out[0], /^hactl: hactl-agent-n3 cannot start the agent of n3: TLS handshake with etcd at https:\/\/127\.0\.0\.1:\d+ failed: alert bad certificate/);
      const after = (await root.getAll().prefix('/hactl/sec/').keys()).filter((k) => !k.startsWith('/hactl/sec/events/')).sort();
      assert.ok(!after.some((k) => k.includes('n3')), `n3 wrote nothing: ${after.join(' ')}`);
      assert.deepEqual(after.filter((k) => !before.includes(k)), []);
      assert.equal(Object.values(await root.getAll().prefix('/hactl/sec/events/').strings()).filter((v) => v.includes('"node":"n3"')).length, 0);

      // A client certificate from the trusted CA whose CN is not an etcd user: refused by RBAC.
      const nobody = await hactl(pki.client('nobody'), ['status']);
      assert.equal(nobody.code, 4, nobody.stderr);
      assert.equal(nobody.stderr, 'hactl: nobody cannot read the cluster status: etcd permission denied on /hactl/sec/\n');
    } finally {
      root.close();
    }
  } finally {
    for (const a of agents) await a.stop('SIGTERM');
    await etcd?.stop();
    unregister();
    await rm(dir, { recursive: true, force: true });
  }
});
