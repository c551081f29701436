// The chaos scenario runner (`npm run chaos`): every fault x 3 repetitions against the seed deployment
// on a fresh namespace testbed each time, with the outside checker and the STOMP workload running
// throughout (the faults and one scenario run: lib/scenarios.ts, shared with subset.test.ts).
//
//   node dist/test/chaos/run.js [--only name,name] [--reps N] [--no-fencing] [--keep-logs] [--testbed cr|cn]
//                               [--topology separate|colocated]
//
// --topology colocated runs every fault with an etcd member on each agent host (no etcd hosts of
// its own); the faults written for that topology use it whatever the flag says.
//
// Its testbed is its own (prefix hactl-cr, bridge hactlcrbr0, 10.235.0.0/24, power switch port
// 17953), so a full run never meets the testbeds of `npm test` (hactl-cx, hactl-cs) or the fencing
// work (hactl-fx) on the same machine. A run with --no-fencing (faults that need fencing are then
// expected to violate the invariants, and the checker must see it) has yet another (hactl-cn,
// 10.237.0.0/24, port 17954), so it can run beside a full run; `--testbed cr|cn` picks one
// explicitly (e.g. `--testbed cn --only X` re-runs X with fencing while a full run is busy).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { installSignalCleanup } from './lib/testbed.js';
import { Report } from './lib/report.js';
import { hactlJs } from './lib/deployment.js';
import { FAULTS, runScenario, isSuccess, type RunOpts } from './lib/scenarios.js';

const repo = new URL('../../../', import.meta.url).pathname;
export const TESTBEDS = {
  cr: { testbed: { prefix: 'hactl-cr', bridge: 'hactlcrbr0', subnet: '10.235.0.0/24' }, powerPort: 17953 },
  cn: { testbed: { prefix: 'hactl-cn', bridge: 'hactlcnbr0', subnet: '10.237.0.0/24' }, powerPort: 17954 },
};

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const val = (k: string) => {
    const i = argv.indexOf(k);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  if (process.getuid?.() !== 0) {
    process.stderr.write('chaos: needs root (namespaces, cgroups, loop devices)\n');
    process.exit(2);
  }
  if (!existsSync(hactlJs)) {
    process.stderr.write(`chaos: ${hactlJs} not built; run npm run build\n`);
    process.exit(2);
  }
  installSignalCleanup();
  const only = val('--only')?.split(',');
  const reps = Number(val('--reps') ?? 3);
  // (--only keeps its own order: the faults that matter most first when a run may be cut short)
  const faults = only ? only.map((n) => FAULTS.find((f) => f.name === n)).filter((f) => f !== undefined) : FAULTS;
  if (faults.length === 0 || (only && faults.length !== only.length)) {
    process.stderr.write(`chaos: no such fault in ${only?.join(',')}; known: ${FAULTS.map((f) => f.name).join(', ')}\n`);
    process.exit(2);
  }
  const resultsDir = join(repo, 'chaos-results');
  const report = new Report(resultsDir);
  const fencing = !argv.includes('--no-fencing');
  const which = val('--testbed') ?? (fencing ? 'cr' : 'cn');
  if (which !== 'cr' && which !== 'cn') {
    process.stderr.write(`chaos: --testbed cr or cn, not ${which}\n`);
    process.exit(2);
  }
  const topology = val('--topology') ?? 'separate';
  if (topology !== 'separate' && topology !== 'colocated') {
    process.stderr.write(`chaos: --topology separate or colocated, not ${topology}\n`);
    process.exit(2);
  }
  const o: RunOpts = { fencing, keepLogs: argv.includes('--keep-logs'), resultsDir, ...TESTBEDS[which], topology };
  // repetition by repetition (every fault once, then again): a run cut short still covers every
  // fault; the report files are rewritten after every row for the same reason
  for (let rep = 1; rep <= reps; rep++) {
    for (const f of faults) {
      report.add(await runScenario(f, rep, o));
      await report.write();
    }
  }
  report.printTable();
  const { json, md } = await report.write();
  process.stdout.write(`written ${json} and ${md}\n`);
  process.exit(report.rows.every(isSuccess) ? 0 : 1);
}

// only when executed directly: not when `node --test <dir>` picks this file up, nor when imported
if (!process.env.NODE_TEST_CONTEXT && process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  main().catch((e: Error) => {
    process.stderr.write(`chaos: ${e.stack ?? e.message}\n`);
    process.exit(1);
  });
}
