// The bounded chaos subset of `npm test`: host kill, agent kill, partition from etcd and freeze with
// fencing, once each, by the same scenario code as the full runner (lib/scenarios.ts): a fresh seed
// deployment (broker + adapter + workload) per fault, the outside checker throughout. Each must show
// zero invariant violations, zero lost acknowledged messages and recovery within the bound. Its own
// testbed identity (hactl-cs, 10.234.0.0/24, power port 17952) keeps it apart from the other chaos
// tests (hactl-cx), the runner (hactl-cr) and the fencing work (hactl-fx). Budget: 6 minutes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { installSignalCleanup, leftovers } from './lib/testbed.js';
import { hactlJs } from './lib/deployment.js';
import { formatRow } from './lib/report.js';
import { FAULTS, RECOVERY_BOUND_MS, runScenario, type RunOpts } from './lib/scenarios.js';

const skip =
  process.getuid?.() !== 0 ? 'needs root' : !existsSync('/usr/share/activemq/bin/activemq.jar') ? 'needs the activemq package' : !existsSync(hactlJs) ? 'hactl not built' : false;
const testbed = { prefix: 'hactl-cs', bridge: 'hactlcsbr0', subnet: '10.234.0.0/24' };
const o: RunOpts = {
  fencing: true, keepLogs: false, resultsDir: join(new URL('../../../', import.meta.url).pathname, 'chaos-results', 'subset'), testbed, powerPort: 17952,
};

if (!skip) installSignalCleanup();

after(async () => {
  if (skip) return;
  const left = await leftovers(testbed.prefix, `/tmp/${testbed.prefix}`, testbed.bridge);
  assert.deepEqual(Object.values(left).flat(), [], `testbed ${testbed.prefix} left behind: ${JSON.stringify(left)}`);
});

for (const name of ['kill-owner-host', 'kill-owner-agent', 'partition-owner-from-etcd', 'freeze-owner']) {
  const fault = FAULTS.find((f) => f.name === name);
  test(`chaos ${name}: 0 violations, 0 acked lost, recovered within the bound`, { skip, timeout: 150_000 }, async (t) => {
    assert.ok(fault, `no fault ${name}`);
    const row = await runScenario(fault, 1, o);
    t.diagnostic(formatRow(row));
    assert.equal(row.violations, 0, `invariant violations: ${JSON.stringify(row.violationKinds)}`);
    assert.equal(row.lost, 0, 'acknowledged messages lost');
    assert.ok(row.acked > 0 && row.received >= row.acked - row.lost, `workload: ${row.acked} acked, ${row.received} received`);
    assert.notEqual(row.recoveryMs, null, `not recovered: ${row.reasons.join('; ')}`);
    assert.ok(row.recoveryMs! <= Math.max(fault.boundMs ?? RECOVERY_BOUND_MS, fault.holdMs + 5000), `recovery ${row.recoveryMs} ms`);
    assert.equal(row.outcome, 'pass', row.reasons.join('; '));
  });
}
