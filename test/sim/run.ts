// `npm run sim -- --seeds N` runs N seeds (safety then liveness each) on worker threads, one per
// core, and prints every failure with `reproduce: SEED=<seed> npm run sim`.
// `SEED=<seed> npm run sim` replays one seed and prints its trace: inputs (faults, operator
// actions), every decision with its reason, and effects (transactions, OCF actions).
// Options: --seeds N, --start S (first seed), --workers W, --mutation NAME (a deliberately broken
// core, to see the simulator catch it; or MUTATION=NAME), --revert BUG-n[,BUG-m] (switch the fix of
// a found bug off again, to find or check the seed of its scenario test; or REVERT=...).
// Every violation and every liveness failure fails the run.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { runSeed, type SeedResult } from './world.js';
import { LEASE_MUTATIONS, MUTATIONS } from './mutations.js';
import { FIXES, isFix, type Fix } from './reverts.js';

interface Args {
  seeds: number;
  start: number;
  workers: number;
  mutation?: string;
  revert: Fix[];
}

function parseReverts(list: string | undefined): Fix[] {
  const names = (list ?? '').split(',').filter((x) => x !== '');
  for (const n of names) if (!isFix(n)) throw new Error(`unknown fix ${n}: ${Object.keys(FIXES).join(', ')}`);
  return names as Fix[];
}

function parseArgs(argv: string[]): Args {
  const args: Args = { seeds: 200, start: 1, workers: Math.max(1, Math.min(availableParallelism(), 4)), mutation: process.env.MUTATION, revert: parseReverts(process.env.REVERT) };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--seeds') args.seeds = Number(argv[++i]);
    else if (a === '--start') args.start = Number(argv[++i]);
    else if (a === '--workers') args.workers = Number(argv[++i]);
    else if (a === '--mutation') args.mutation = argv[++i];
    else if (a === '--revert') args.revert = parseReverts(argv[++i]);
    else throw new Error(`unknown argument ${a} (use --seeds N, --start S, --workers W, --mutation NAME, --revert BUG-n)`);
  }
  if (args.mutation && !(args.mutation in MUTATIONS) && !(args.mutation in LEASE_MUTATIONS)) throw new Error(`unknown mutation ${args.mutation}: ${[...Object.keys(MUTATIONS), ...Object.keys(LEASE_MUTATIONS)].join(', ')}`);
  return args;
}

type Summary = Omit<SeedResult, 'trace'>;

interface RunSpec {
  mutation?: string;
  revert: Fix[];
}

function runOne(seed: number, spec: RunSpec, tracing: boolean): SeedResult {
  return runSeed({ seed, tracing, decide: spec.mutation ? MUTATIONS[spec.mutation] : undefined, leaseRules: spec.mutation ? LEASE_MUTATIONS[spec.mutation] : undefined, revert: spec.revert });
}

function failed(r: Summary): boolean {
  return r.violations.length > 0 || r.liveness !== null;
}

/** The command that replays a seed exactly as it ran. */
function reproduce(seed: number, spec: RunSpec): string {
  const env = [`SEED=${seed}`, spec.mutation ? `MUTATION=${spec.mutation}` : '', spec.revert.length ? `REVERT=${spec.revert.join(',')}` : ''].filter((x) => x);
  return `${env.join(' ')} npm run sim`;
}

function describe(r: Summary, spec: RunSpec): string[] {
  const lines = r.violations.slice(0, 3).map((v) => `  safety ${v.rule}${v.hint ? ` (looks like ${v.hint.split(' ')[0]})` : ''} at ${(v.atMs / 1000).toFixed(3)}s: ${v.text}`);
  if (r.liveness) lines.push(`  liveness${r.livenessHint ? ` (looks like ${r.livenessHint.split(' ')[0]})` : ''}: ${r.liveness}`);
  lines.push(`  reproduce: ${reproduce(r.seed, spec)}`);
  return lines;
}

/** Counts per hint, so a sweep says which earlier bug its failures look like. */
function hintsOf(r: Summary): string[] {
  const hints = r.violations.filter((v) => v.hint).map((v) => v.hint!);
  if (r.liveness && r.livenessHint) hints.push(r.livenessHint.replace(/ \(.*$/, ''));
  return [...new Set(hints)];
}

function replay(seed: number, spec: RunSpec): number {
  const t0 = performance.now();
  const r = runOne(seed, spec, true);
  const elapsedS = (performance.now() - t0) / 1000;
  for (const line of r.trace) console.log(line);
  console.log(`\nseed ${seed}: ${r.steps} steps, ${(r.simMs / 1000).toFixed(1)}s simulated, ${r.expected.length} expected overlaps (no fencing), ${(r.steps / elapsedS).toFixed(0)} steps/s`);
  for (const f of r.findings) console.log(`finding: ${f}`);
  for (const k of hintsOf(r)) console.log(`looks like: ${k}`);
  if (failed(r)) {
    console.log(`FAILED\n${describe(r, spec).join('\n')}`);
    return 1;
  }
  console.log('ok: no violation, converged');
  return 0;
}

async function many(args: Args): Promise<number> {
  const t0 = performance.now();
  const spec: RunSpec = { mutation: args.mutation, revert: args.revert };
  const seeds = Array.from({ length: args.seeds }, (_, i) => args.start + i);
  const chunks = Array.from({ length: args.workers }, (_, w) => seeds.filter((_, i) => i % args.workers === w));
  const self = fileURLToPath(import.meta.url);
  const results = (
    await Promise.all(
      chunks.map(
        (chunk) =>
          new Promise<Summary[]>((resolve, reject) => {
            const worker = new Worker(self, { workerData: { seeds: chunk, spec } });
            worker.on('message', resolve);
            worker.on('error', reject);
          }),
      ),
    )
  ).flat();
  results.sort((a, b) => a.seed - b.seed);
  const elapsedS = (performance.now() - t0) / 1000;
  const steps = results.reduce((s, r) => s + r.steps, 0);
  const bad = results.filter(failed);
  for (const r of bad.slice(0, 20)) console.log(`FAIL seed ${r.seed}\n${describe(r, spec).join('\n')}`);
  if (bad.length > 20) console.log(`... and ${bad.length - 20} more failed seeds: ${bad.slice(20).map((r) => r.seed).join(' ')}`);
  const findings = new Map<string, number>();
  for (const r of results) for (const f of r.findings) if (!findings.has(f.replace(/\d+/g, '#'))) findings.set(f.replace(/\d+/g, '#'), r.seed);
  for (const [f, seed] of findings) console.log(`finding (first at seed ${seed}): ${f}`);
  const hinted = new Map<string, number[]>();
  for (const r of results) for (const k of hintsOf(r)) hinted.set(k, [...(hinted.get(k) ?? []), r.seed]);
  for (const [k, seeds] of hinted) console.log(`failures that look like an earlier bug in ${seeds.length} seeds (e.g. SEED=${seeds[0]}): ${k}`);
  const expected = results.reduce((s, r) => s + r.expected.length, 0);
  const expectedSeeds = results.filter((r) => r.expected.length > 0).length;
  const what = [args.mutation ? `mutation ${args.mutation}` : '', args.revert.length ? `reverted ${args.revert.join(',')}` : ''].filter((x) => x).join(', ');
  console.log(
    `${results.length} seeds${what ? ` (${what})` : ''}, ${bad.length} failed; expected overlaps (no fencing): ${expected} in ${expectedSeeds} seeds; ` +
      `${steps} steps simulated in ${elapsedS.toFixed(1)}s: ${(steps / elapsedS).toFixed(0)} steps/s, ${(results.length / elapsedS).toFixed(1)} seeds/s (${args.workers} workers)`,
  );
  return bad.length > 0 ? 1 : 0;
}

function workerMain(): void {
  const { seeds, spec } = workerData as { seeds: number[]; spec: RunSpec };
  const out: Summary[] = [];
  for (const seed of seeds) {
    const r = runOne(seed, spec, false);
    out.push({ ...r, trace: undefined } as unknown as Summary);
  }
  parentPort!.postMessage(out);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const seedEnv = process.env.SEED;
  process.exitCode = seedEnv ? replay(Number(seedEnv), { mutation: args.mutation, revert: args.revert }) : await many(args);
}

if (isMainThread) void main();
else workerMain();
