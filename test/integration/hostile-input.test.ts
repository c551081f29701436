// Hostile input against a running agent: the health endpoint binds to loopback by default and
// survives garbage, huge headers, bad methods and a slowloris (cut off by its timeouts); and a
// series of invalid configurations never replaces the applied one, even partly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { parseHostConfig } from '../../agent/config/host-config.js';
import { dummySetYaml, startTestCluster } from '../lib/cluster.js';

/** Sends raw bytes, returns what came back before the server closed (or `waitMs` passed). */
function raw(port: number, chunks: (string | Buffer)[], waitMs = 2000, gapMs = 0): Promise<{ reply: string; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let reply = '';
    let closedByServer = false;
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ reply, closedByServer });
    }, waitMs);
    sock.on('data', (d) => (reply += d.toString('latin1')));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      closedByServer = true;
      clearTimeout(timer);
      resolve({ reply, closedByServer });
    });
    sock.on('connect', async () => {
      for (const c of chunks) {
        if (sock.destroyed) break;
        sock.write(c);
        if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
      }
    });
  });
}

test('health endpoint: loopback by default, survives malformed requests', async () => {
  assert.equal(parseHostConfig('', 'x').http.listen, '127.0.0.1:7946', 'the default binds to loopback only');
  const tc = await startTestCluster({ nodes: 1, cluster: 'hostile' });
  try {
    const text = await readFile(tc.lc.agent('n1').configFile, 'utf8');
    const port = Number(/listen: 127\.0\.0\.1:(\d+)/.exec(text)?.[1]);
    const health = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const deadline = Date.now() + 10_000;
    while ((await health().catch(() => null))?.status !== 200) {
      assert.ok(Date.now() < deadline, 'health endpoint up');
      await new Promise((r) => setTimeout(r, 100));
    }
    const attacks = await Promise.all([
      raw(port, [Buffer.from([0, 1, 2, 255, 254, 13, 10, 13, 10])]),
      raw(port, ['GARBAGE / HTTP/1.1\r\n\r\n']),
      raw(port, ['GET /health HTTP/9.9\r\n\r\n']),
      raw(port, ['DELETE /health HTTP/1.1\r\nHost: x\r\n\r\n']),
      raw(port, ['GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n']),
      raw(port, [`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100_000)}\r\n\r\n`]),
      raw(port, [`GET /health HTTP/1.1\r\n${Array.from({ length: 200 }, (_, i) => `X-${i}: y`).join('\r\n')}\r\n\r\n`]),
      raw(port, ['POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\nabc']),
      raw(port, ['GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nzz\r\n']),
    ]);
    for (const a of attacks) assert.doesNotMatch(a.reply, /"lease"|\bat .*\.js/, 'no health data or stack for a malformed request');
    assert.match(attacks[3].reply, /^HTTP\/1\.1 404/, 'a bad method is a 404');
    assert.match(attacks[5].reply, /^HTTP\/1\.1 431|^$/, 'huge headers are refused');

    // Slowloris: one header byte every 300 ms; the server's headersTimeout (5 s) cuts it off.
    const t0 = performance.now();
    const slow = await raw(port, ['GET /health HTTP/1.1\r\n', ...Array.from({ length: 40 }, () => 'X')], 12_000, 300);
    assert.ok(slow.closedByServer, 'the server hung up on the slow client');
    assert.ok(performance.now() - t0 < 11_000);

    // Many idle sockets at once do not stop it either.
    const idle = Array.from({ length: 50 }, () => connect(port, '127.0.0.1').on('error', () => undefined));
    const after = await health();
    assert.equal(after.status, 200);
    assert.equal(after.body.node, 'n1');
    for (const s of idle) s.destroy();
    assert.equal((await tc.status()).nodes.find((n) => n.name === 'n1')?.state, 'online', 'the agent is still in the cluster');
  } finally {
    await tc.dispose();
  }
});

test('config apply never applies a partial configuration', async () => {
  const tc = await startTestCluster({ nodes: 1, cluster: 'partial' });
  const dir = await mkdtemp(join(tmpdir(), 'hactl-sec-partial-'));
  try {
    const good = join(dir, 'good.yaml');
    await writeFile(good, dummySetYaml({ prefer: ['n1'] }));
    const ok = await tc.hactl(['config', 'apply', '--no-agent-checks', good]);
    assert.equal(ok.code, 0, ok.stderr);
    const before = (await tc.client.get(tc.keys.config()).exec()).kvs[0];
    // Valid documents with one hostile field each: every one refused, nothing stored.
    const valid = { timing: { leaseTtl: '2s', fenceMargin: '800ms' }, serviceSets: { S1: { prefer: ['n1'], resources: [{ id: 's1-r1', type: 'dummy' }, { id: 's1-r2', type: 'dummy' }] } } };
    const hostile = fc.constantFrom('$(reboot)', '; rm -rf /', '../../x', 'a\u0000b', '💥', -1, null, [], { x: 1 }, '-x y');
    const field = fc.constantFrom<((c: typeof valid, h: unknown) => unknown)[]>(
      (c, h) => ({ ...c, timing: { ...c.timing, leaseTtl: h } }),
      (c, h) => ({ ...c, serviceSets: { S1: { ...c.serviceSets.S1, prefer: [h] } } }),
      (c, h) => ({ ...c, serviceSets: { S1: { ...c.serviceSets.S1, resources: [c.serviceSets.S1.resources[0], { id: h, type: 'dummy' }] } } }),
      (c, h) => ({ ...c, serviceSets: { S1: { ...c.serviceSets.S1, resources: [c.serviceSets.S1.resources[0], { id: 's1-r2', type: h }] } } }),
      (c, h) => ({ ...c, serviceSets: { ...c.serviceSets, [String(h)]: c.serviceSets.S1 } }),
    );
    const samples = fc.sample(fc.tuple(field, hostile), { numRuns: 8, seed: 7 });
    for (const [mutate, h] of samples) {
      const f = join(dir, 'bad.yaml');
      await writeFile(f, stringify(mutate(valid, h)));
      const r = await tc.hactl(['config', 'apply', '--no-agent-checks', f]);
      assert.notEqual(r.code, 0, `refused: ${await readFile(f, 'utf8')}`);
      assert.equal(r.stderr.trim().split('\n').length >= 1, true);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
    const after = (await tc.client.get(tc.keys.config()).exec()).kvs[0];
    assert.equal(String(after.mod_revision), String(before.mod_revision), 'the config key was never written');
    assert.equal(after.value.toString(), before.value.toString());
  } finally {
    await tc.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});
