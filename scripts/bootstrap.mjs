#!/usr/bin/env node
// Bootstrap: install what is missing, and nothing else, then build.
// Called first by `npm run demo`, `npm test` and `npm run bench`. Dependency-free on purpose: it runs
// before node_modules exists. Running it twice does nothing the second time (a few stat calls).
//
//   node scripts/bootstrap.mjs [--for demo|test]   (default: test when run by `npm test`, else demo)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const forIdx = args.indexOf('--for');
const lifecycle = process.env.npm_lifecycle_event ?? '';
const purpose = forIdx >= 0 ? args[forIdx + 1] : lifecycle === 'test' || lifecycle === 'bench' || lifecycle === 'chaos' || lifecycle === 'sim' ? 'test' : 'demo';
if (purpose !== 'demo' && purpose !== 'test') fail(`bootstrap: --for must be demo or test, not ${purpose}`, 2);

function say(msg) {
  process.stderr.write(`bootstrap: ${msg}\n`);
}
function fail(msg, code = 1) {
  process.stderr.write(`${msg}\n`);
  process.exit(code);
}
function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { stdio: 'inherit', cwd: root, ...opts });
  if (r.error) fail(`bootstrap: could not run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`bootstrap: ${cmd} ${argv.join(' ')} failed (exit ${r.status})`);
}

// 1. Debian packages: checked by a file each provides (cheap), installed with apt-get when root.
const wanted = readFileSync(join(root, 'scripts/debian-packages.txt'), 'utf8')
  .split('\n')
  .map((l) => l.replace(/#.*/, '').trim())
  .filter(Boolean)
  .map((l) => l.split(/\s+/))
  .filter(([, group]) => group === 'demo' || purpose === 'test');
const missing = wanted.filter(([, , probe]) => !existsSync(probe)).map(([pkg]) => pkg);
if (missing.length > 0) {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = existsSync('/usr/bin/apt-get');
  if (!isRoot || !hasApt) {
    fail(
      `bootstrap: missing Debian packages: ${missing.join(' ')}\n` +
        (hasApt
          ? `run: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing.join(' ')}`
          : `install these packages (or their equivalents for your distribution), then run this again`),
    );
  }
  say(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], { env });
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env });
  // The Debian etcd-server package starts a system etcd on 127.0.0.1:2379; hactl never uses it
  // (every test and the demo launch their own etcd on free ports), so leave it as Debian set it up.
}

// 2. npm packages from the lockfile, when node_modules is absent or older than the lockfile.
const lockHash = createHash('sha256').update(readFileSync(join(root, 'package-lock.json'))).digest('hex');
const stamp = join(root, 'node_modules/.hactl-lock-sha256');
if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== lockHash) {
  say('installing npm packages from the lockfile (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error']);
  writeFileSync(stamp, lockHash);
}

// 3. Build when any TypeScript source is newer than the last build.
const buildStamp = join(root, 'dist/.build-stamp');
function newestMtime(dir) {
  let newest = 0;
  if (!existsSync(dir)) return newest;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}
const sourcesMtime = Math.max(
  ...['agent', 'cli', 'test'].map((d) => newestMtime(join(root, d))),
  statSync(join(root, 'tsconfig.json')).mtimeMs,
  statSync(join(root, 'package-lock.json')).mtimeMs,
);
if (!existsSync(buildStamp) || statSync(buildStamp).mtimeMs < sourcesMtime) {
  say('building (tsc)');
  run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json']);
  writeFileSync(buildStamp, new Date().toISOString() + '\n');
}
