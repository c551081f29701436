#!/usr/bin/env node
// Runs every test with node's built-in runner, one file at a time: the integration, resource and
// chaos tests use fixed namespace names and real etcd processes, so files must not overlap.
// Unit and simulation tests are fast and run first. Extra arguments narrow the run to those paths
// (e.g. `node scripts/run-tests.mjs dist/test/unit`).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const requested = process.argv.slice(2);
const suites = requested.length > 0 ? requested : ['dist/test/unit', 'dist/test/sim', 'dist/test/resources', 'dist/test/integration', 'dist/test/web', 'dist/test/chaos'];
const present = suites.filter((p) => existsSync(p));
const r = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=1', '--test-timeout=300000', ...present],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
