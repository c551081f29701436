// What a hactl command loads (issue 16): --help, --version and usage errors need commander and the
// command tree only, never the etcd client (grpc, protobuf), the configuration schemas or the
// agent's libraries, which cost most of a command's start-up. This guards the structure (which
// packages a child process resolves), not wall time, which flakes on a shared machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runHactl } from '../lib/cluster.js';

/** Packages a command that does not talk to etcd or read a configuration must not load. */
const HEAVY = ['etcd3', '@grpc/grpc-js', '@grpc/proto-loader', 'protobufjs', 'cockatiel', 'zod', 'yaml', 'pino', 'prom-client', 'systeminformation', 'chokidar', 'puppeteer-core'];

// Two records, both appended synchronously so none is lost at exit: every URL the ES module
// loader resolves (a hook runs on the loader's thread), and at exit every CommonJS module in the
// require cache (a package's own require() calls do not pass the ES hooks on this Node).
const HOOKS = `import { appendFileSync } from 'node:fs';
let file;
export function initialize(data) { file = data.file; }
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(file, resolved.url + '\\n');
  return resolved;
}
`;
const PRELOAD = `import { register, createRequire } from 'node:module';
import { appendFileSync } from 'node:fs';
const file = process.env.HACTL_TEST_MODULE_LOG;
register('./hooks.mjs', import.meta.url, { data: { file } });
const require = createRequire(import.meta.url);
process.on('exit', () => appendFileSync(file, Object.keys(require.cache).join('\\n') + '\\n'));
`;

/** Runs hactl with `args` and returns its result and the npm packages it loaded. */
async function packagesLoadedBy(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string; packages: Set<string> }> {
  const dir = await mkdtemp(join(tmpdir(), 'hactl-test-load-'));
  try {
    await writeFile(join(dir, 'hooks.mjs'), HOOKS);
    await writeFile(join(dir, 'preload.mjs'), PRELOAD);
    const log = join(dir, 'modules.log');
    await writeFile(log, '');
    const r = await runHactl(args, { ...env, NODE_OPTIONS: `--import=${join(dir, 'preload.mjs')}`, HACTL_TEST_MODULE_LOG: log }, 30_000);
    const packages = new Set<string>();
    for (const line of (await readFile(log, 'utf8')).split('\n')) {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(line);
      if (m) packages.add(m[1]);
    }
    return { ...r, packages };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

for (const args of [['--help'], ['--version'], ['status', '--help'], ['config', 'apply', '--help'], ['frobnicate']]) {
  test(`hactl ${args.join(' ')} loads no etcd client, schema or agent library`, async () => {
    const r = await packagesLoadedBy(args);
    assert.equal(r.code, args[0] === 'frobnicate' ? 2 : 0, r.stderr);
    // The record works: commander is what these do load.
    assert.ok(r.packages.has('commander'), `module record is empty or broken: ${[...r.packages].join(',')}`);
    const heavy = HEAVY.filter((p) => r.packages.has(p));
    assert.deepEqual(heavy, [], `hactl ${args.join(' ')} loaded ${heavy.join(', ')}`);
  });
}

test('the record sees the etcd client when a command does load it', async () => {
  // Nothing listens on port 1: status fails fast, after loading the client.
  const r = await packagesLoadedBy(['status'], { HACTL_ENDPOINTS: 'http://127.0.0.1:1', HACTL_CLUSTER: 'c' });
  assert.notEqual(r.code, 0);
  for (const p of ['etcd3', '@grpc/grpc-js', 'protobufjs']) assert.ok(r.packages.has(p), `${p} not recorded: ${[...r.packages].join(',')}`);
});
