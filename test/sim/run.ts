// `npm run sim -- --seeds N` runs N seeds (safety then liveness each) on worker threads, one per
// core, and prints every failure with `reproduce: SEED=<seed> npm run sim`.
// `SEED=<seed> npm run sim` replays one seed and prints its trace: inputs (faults, operator
// actions), every decision with its reason, and effects (transactions, OCF actions).
// Options: --seeds N, --start S (first seed), --workers W, --mutation skip-gate (a deliberately
// broken core, to see the simulator catch it), --verbose.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { runSeed, type SeedResult } from './world.js';
import { MUTATIONS } from './mutations.js';

interface Args {
  seeds: number;
  start: number;
  workers: number;
  mutation?: string;
  verbose: boolean;
  strict: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { seeds: 200, start: 1, workers: Math.max(1, Math.min(availableParallelism(), 4)), verbose: false, strict: process.env.SIM_STRICT === '1' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--seeds') args.seeds = Number(argv[++i]);
    else if (a === '--start') args.start = Number(argv[++i]);
    else if (a === '--workers') args.workers = Number(argv[++i]);
    else if (a === '--mutation') args.mutation = argv[++i];
    else if (a === '--verbose') args.verbose = true;
    else if (a === '--strict') args.strict = true;
    else throw new Error(`unknown argument ${a} (use --seeds N, --start S, --workers W, --mutation NAME, --verbose)`);
  }
  if (args.mutation && !(args.mutation in MUTATIONS)) throw new Error(`unknown mutation ${args.mutation}: ${Object.keys(MUTATIONS).join(', ')}`);
  return args;
}

type Summary = Omit<SeedResult, 'trace'>;

function runOne(seed: number, mutation: string | undefined, tracing: boolean): SeedResult {
  return runSeed({ seed, tracing, decide: mutation ? MUTATIONS[mutation] : undefined });
}

let strict = false;

/** A seed fails on any violation that is not a known, reported bug (all of them with --strict). */
function failed(r: Summary): boolean {
  return r.violations.some((v) => strict || !v.known) || (r.liveness !== null && (strict || !r.livenessKnown));
}

function knownOf(r: Summary): string[] {
  const known = r.violations.filter((v) => v.known).map((v) => v.known!);
  if (r.liveness && r.livenessKnown) known.push(r.livenessKnown.replace(/ \(.*$/, ''));
  return [...new Set(known)];
}

function describe(r: Summary): string[] {
  const lines = r.violations.slice(0, 3).map((v) => `  safety ${v.rule}${v.known ? ` (known ${v.known.split(' ')[0]})` : ''} at ${(v.atMs / 1000).toFixed(3)}s: ${v.text}`);
  if (r.liveness) lines.push(`  liveness${r.livenessKnown ? ` (known ${r.livenessKnown.split(' ')[0]})` : ''}: ${r.liveness}`);
  lines.push(`  reproduce: SEED=${r.seed} npm run sim`);
  return lines;
}

function replay(seed: number, mutation: string | undefined): number {
  const t0 = performance.now();
  const r = runOne(seed, mutation, true);
  const elapsedS = (performance.now() - t0) / 1000;
  for (const line of r.trace) console.log(line);
  console.log(`\nseed ${seed}: ${r.steps} steps, ${(r.simMs / 1000).toFixed(1)}s simulated, ${r.expected.length} expected overlaps (no fencing), ${(r.steps / elapsedS).toFixed(0)} steps/s`);
  for (const f of r.findings) console.log(`finding: ${f}`);
  for (const k of knownOf(r)) console.log(`known bug hit: ${k}`);
  if (failed(r)) {
    console.log(`FAILED\n${describe(r).join('\n')}`);
    return 1;
  }
  console.log(knownOf(r).length > 0 ? 'ok apart from the known bugs above (fails with --strict)' : 'ok: no violation, converged');
  return 0;
}

async function many(args: Args): Promise<number> {
  const t0 = performance.now();
  const seeds = Array.from({ length: args.seeds }, (_, i) => args.start + i);
  const chunks = Array.from({ length: args.workers }, (_, w) => seeds.filter((_, i) => i % args.workers === w));
  const self = fileURLToPath(import.meta.url);
  const results = (
    await Promise.all(
      chunks.map(
        (chunk) =>
          new Promise<Summary[]>((resolve, reject) => {
            const worker = new Worker(self, { workerData: { seeds: chunk, mutation: args.mutation } });
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
  for (const r of bad) console.log(`FAIL seed ${r.seed}\n${describe(r).join('\n')}`);
  const findings = new Map<string, number>();
  for (const r of results) for (const f of r.findings) if (!findings.has(f.replace(/\d+/g, '#'))) findings.set(f.replace(/\d+/g, '#'), r.seed);
  for (const [f, seed] of findings) console.log(`finding (first at seed ${seed}): ${f}`);
  const known = new Map<string, number[]>();
  for (const r of results) for (const k of knownOf(r)) known.set(k, [...(known.get(k) ?? []), r.seed]);
  for (const [k, seeds] of known) console.log(`known bug hit in ${seeds.length} seeds (e.g. SEED=${seeds[0]}): ${k}`);
  const expected = results.reduce((s, r) => s + r.expected.length, 0);
  const expectedSeeds = results.filter((r) => r.expected.length > 0).length;
  console.log(
    `${results.length} seeds, ${bad.length} failed; expected overlaps (no fencing): ${expected} in ${expectedSeeds} seeds; ` +
      `${steps} steps in ${elapsedS.toFixed(1)}s: ${(steps / elapsedS).toFixed(0)} steps/s, ${(results.length / elapsedS).toFixed(1)} seeds/s (${args.workers} workers)`,
  );
  return bad.length > 0 ? 1 : 0;
}

function workerMain(): void {
  const { seeds, mutation } = workerData as { seeds: number[]; mutation?: string };
  const out: Summary[] = [];
  for (const seed of seeds) {
    const r = runOne(seed, mutation, false);
    out.push({ ...r, trace: undefined } as unknown as Summary);
  }
  parentPort!.postMessage(out);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  strict = args.strict;
  const seedEnv = process.env.SEED;
  process.exitCode = seedEnv ? replay(Number(seedEnv), args.mutation ?? process.env.MUTATION) : await many(args);
}

if (isMainThread) void main();
else workerMain();
