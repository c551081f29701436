// Hostile input, property-based (fast-check): the cluster config checker, the host config parser
// and the compiled CLI never throw, never hang, and always answer with errors that name a path and
// a reason on one line. Every property has a bounded number of runs and a time budget.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { checkClusterConfig } from '../../agent/config/load-cluster.js';
import { HostConfigError, parseHostConfig } from '../../agent/config/host-config.js';
import { hactlBin } from '../lib/paths.js';

const HOSTILE = [
  '$(reboot)', '`reboot`', '; rm -rf /', '&& rm -rf / #', '| nc evil 1', '../../etc/passwd', '/../../../../bin/sh', 'a\u0000b', '\u0000',
  'ünïcödé', '名前', '\u202e\u0644\u0627', '💥', '\r\n', 'a\nb: c', '{{7*7}}', '${HOME}', '%s%s%n', "'; DROP TABLE x; --", '-', '--help', '*', '~',
  'x'.repeat(5000), '9'.repeat(400), '-1', '1e999', 'NaN', 'true', 'null', '0x10', '5s', '500ms', 'script:/tmp/x', 'ocf:a:b', 'systemd:x;y',
];
const TOP_KEYS = ['timing', 'nodes', 'fencing', 'events', 'serviceSets'];
const hostileString = fc.oneof(fc.constantFrom(...HOSTILE), fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 20 }));
const hostileValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileString,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(hostileString, tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** A cluster config whose every field may be replaced by something hostile. */
const mostlyConfig = fc.record(
  {
    timing: fc.oneof(hostileValue, fc.record({ leaseTtl: fc.oneof(fc.constant('2s'), hostileValue), fenceMargin: fc.oneof(fc.constant('500ms'), hostileValue) }, { requiredKeys: [] })),
    nodes: fc.oneof(hostileValue, fc.dictionary(hostileString, fc.oneof(fc.constant({}), fc.record({ fence: hostileValue }), hostileValue), { maxKeys: 3 })),
    fencing: fc.oneof(hostileValue, fc.record({ devices: fc.dictionary(hostileString, fc.record({ agent: fc.oneof(fc.constant('fence_ipmilan'), hostileString), params: fc.dictionary(hostileString, hostileValue, { maxKeys: 3 }) }, { requiredKeys: [] }), { maxKeys: 2 }) })),
    serviceSets: fc.oneof(
      hostileValue,
      fc.dictionary(
        hostileString,
        fc.record(
          {
            mode: fc.oneof(fc.constant('singleton'), hostileValue),
            prefer: fc.oneof(fc.array(hostileString, { maxLength: 3 }), hostileValue),
            resources: fc.oneof(
              hostileValue,
              fc.array(
                fc.record(
                  {
                    id: fc.oneof(fc.constant('r1'), hostileString),
                    type: fc.oneof(fc.constantFrom('dummy', 'process', 'script:/opt/x'), hostileString),
                    params: fc.oneof(fc.dictionary(hostileString, hostileValue, { maxKeys: 4 }), hostileValue),
                    monitor: fc.oneof(fc.record({ interval: hostileValue, timeout: hostileValue }, { requiredKeys: [] }), hostileValue),
                  },
                  { requiredKeys: ['id', 'type'] },
                ),
                { maxLength: 3 },
              ),
            ),
          },
          { requiredKeys: ['resources'] },
        ),
        { maxKeys: 3 },
      ),
    ),
    extraKey: hostileValue,
  },
  { requiredKeys: [] },
);

function toYaml(value: unknown): string {
  try {
    return stringify(value, { aliasDuplicateObjects: false });
  } catch {
    return String(value);
  }
}

/** Each error: one line, `path: reason`, the path being `config`, `yaml`, or a top-level key's. */
function assertWellFormedErrors(errors: string[]): void {
  assert.ok(errors.length > 0, 'a refusal has at least one error');
  for (const e of errors) {
    assert.equal(typeof e, 'string');
    assert.ok(!/[\r\n]/.test(e), `one line: ${JSON.stringify(e).slice(0, 200)}`);
    const at = e.indexOf(': ');
    assert.ok(at > 0 && e.length > at + 2, `path and reason: ${JSON.stringify(e).slice(0, 200)}`);
    const path = e.slice(0, at);
    assert.ok(path === 'config' || path === 'yaml' || /^\d+:\d+$/.test(path) || TOP_KEYS.some((k) => path === k || path.startsWith(`${k}.`) || path.startsWith(`${k}[`)), `known path: ${JSON.stringify(path).slice(0, 200)}`);
  }
}

function checkBounded(text: string, maxMs: number): void {
  const t0 = performance.now();
  const r = checkClusterConfig(text);
  const ms = performance.now() - t0;
  assert.ok(ms < maxMs, `checkClusterConfig took ${Math.round(ms)} ms on ${text.length} chars`);
  if (!r.ok) assertWellFormedErrors(r.errors);
  else assert.ok(typeof r.config === 'object' && Array.isArray(r.warnings));
}

const budget = (ms: number) => ({ interruptAfterTimeLimit: ms, markInterruptAsFailure: false });

test('checkClusterConfig: arbitrary text never throws, answers fast, errors name a path', () => {
  fc.assert(fc.property(fc.string({ maxLength: 2000 }), (t) => checkBounded(t, 500)), { numRuns: 1500, ...budget(2500) });
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 500 }), (t) => checkBounded(t, 500)), { numRuns: 500, ...budget(1000) });
  // YAML-ish token soup: flow collections, anchors, tags, directives.
  const token = fc.constantFrom('{', '}', '[', ']', ':', ',', '- ', '&a ', '*a ', '!!str ', '!!binary ', '%YAML 1.2\n', '---\n', '? ', '|', '>', '"', "'", '\n  ', '\n', 'serviceSets', 'timing', 'resources', 'x', '0', '<<: ');
  fc.assert(fc.property(fc.array(token, { maxLength: 200 }), (ts) => checkBounded(ts.join(''), 500)), { numRuns: 1500, ...budget(2500) });
});

test('checkClusterConfig: hostile values in every field never throw and are refused by path', () => {
  fc.assert(
    fc.property(mostlyConfig, (cfg) => {
      const text = toYaml(cfg);
      checkBounded(text, 500);
      // Injection strings are data: a config that passes keeps them verbatim as parameters, never as types or names.
      const r = checkClusterConfig(text);
      if (r.ok) {
        for (const [name, set] of Object.entries(r.config.serviceSets)) {
          assert.match(name, /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/);
          for (const res of set.resources) assert.doesNotMatch(res.type, /[\s;$`|&()<>'"\\]/);
        }
      }
    }),
    { numRuns: 600, ...budget(4000) },
  );
});

test('checkClusterConfig: size and nesting bombs are refused quickly', () => {
  const cases = [
    'x: ' + 'a'.repeat(2_000_000),
    '['.repeat(20_000),
    '{a: '.repeat(5_000) + '1' + '}'.repeat(5_000),
    '- '.repeat(3_000) + 'x',
    // billion laughs: aliases are capped
    'a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n',
    `serviceSets:\n  S:\n    resources:\n${'      - { id: r, type: dummy }\n'.repeat(5000)}`,
    'timing: { leaseTtl: ' + '9'.repeat(10_000) + 's }',
    `serviceSets: { "$(reboot)": { resources: [{ id: "; rm -rf /", type: "../../bin/sh", params: { "a b": "\\0" } }] } }`,
  ];
  for (const text of cases) checkBounded(text, 3000);
});

test('parseHostConfig: arbitrary and hostile input only ever gives a one-line HostConfigError', () => {
  const hostConfig = fc.record(
    {
      node: hostileValue,
      cluster: hostileValue,
      etcd: fc.oneof(hostileValue, fc.record({ endpoints: fc.oneof(fc.array(hostileString, { maxLength: 3 }), hostileValue), tls: hostileValue, auth: hostileValue, callTimeout: hostileValue }, { requiredKeys: [] })),
      dataDir: hostileValue,
      resourceDirs: hostileValue,
      http: hostileValue,
      log: hostileValue,
    },
    { requiredKeys: [] },
  );
  const parse = (text: string): void => {
    const t0 = performance.now();
    try {
      const c = parseHostConfig(text, '/etc/hactl/agent.yaml');
      assert.equal(typeof c.node, 'string');
      assert.ok(c.etcd.endpoints.every((e) => /^https?:\/\/[^\s/]+(:\d+)?\/?$/.test(e)));
      assert.ok(c.dataDir.startsWith('/'));
    } catch (err) {
      assert.ok(err instanceof HostConfigError, `not a HostConfigError: ${String(err)}`);
      assert.ok(!/[\r\n]/.test(err.message), `one line: ${JSON.stringify(err.message).slice(0, 200)}`);
      assert.ok(err.message.startsWith('/etc/hactl/agent.yaml: '));
    }
    assert.ok(performance.now() - t0 < 500);
  };
  fc.assert(fc.property(fc.string({ maxLength: 1000 }), parse), { numRuns: 1000, ...budget(2000) });
  fc.assert(fc.property(hostConfig, (c) => parse(toYaml(c))), { numRuns: 600, ...budget(2500) });
});

function runCli(argv: string[], timeoutMs = 15_000): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, HACTL_ENDPOINTS: 'http://127.0.0.1:9', HACTL_CLUSTER: 'fuzz' };
    delete env.HACTL_CONFIG;
    const child = spawn(process.execPath, [hactlBin, ...argv], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

test('hactl CLI: random and hostile argv against no etcd: one line on stderr, exit 1-5, no stack trace', async () => {
  const word = fc.oneof(
    fc.constantFrom('status', 'failover', 'fence', 'config', 'validate', 'apply', 'show', 'rbac', 'print', 'resources', 'describe', 'agent',
      '--json', '--watch', '--to', '--wait', '--timeout', '--confirm-down', '--yes', '--config', '--endpoints', '--cluster', '--cacert', '--cert', '--key',
      '--user', '--password-file', '--nodes', '--root-password-file', '--no-agent-checks', '-x', '--', '--timeout=-5s', '--endpoints=ftp://x', '--cluster=../..'),
    fc.constantFrom(...HOSTILE.map((h) => h.split(String.fromCharCode(0)).join(''))),
    fc.string({ maxLength: 12 }).map((s) => s.split(String.fromCharCode(0)).join('')),
  );
  // `dev` and `demo` start local clusters, and `--help`/`--version` succeed: not what this probes.
  const argvs = fc.sample(
    fc.array(word, { minLength: 1, maxLength: 6 }).filter((a) => !a.some((w) => /^(dev|demo|help|-h|--help|-V|--version)$/.test(w))),
    { numRuns: 40, seed: 4242 },
  );
  const t0 = performance.now();
  for (let i = 0; i < argvs.length; i += 10) {
    const batch = argvs.slice(i, i + 10);
    const results = await Promise.all(batch.map((a) => runCli(a)));
    results.forEach((r, j) => {
      const what = `hactl ${JSON.stringify(batch[j])} -> ${r.code}\nstderr: ${r.stderr}\nstdout: ${r.stdout.slice(0, 300)}`;
      assert.ok(!r.timedOut, `hung: ${what}`);
      assert.doesNotMatch(r.stderr, /\n\s+at |Error: .*\n.*node:internal|TypeError|ReferenceError/, `stack trace: ${what}`);
      if (r.code === 0) return; // e.g. `resources list`, `rbac print`: a success with no complaint
      assert.ok([1, 2, 3, 4, 5].includes(r.code ?? -1), `exit code: ${what}`);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line: ${what}`);
      assert.ok(r.stderr.trim().length > 0, `a reason: ${what}`);
    });
  }
  assert.ok(performance.now() - t0 < 60_000);
});
