// The randomized soak (`npm run soak -- --minutes N [--seed S]`): one seed deployment (with the
// fence device and the failure-injectable gate resource), the STOMP workload through the floating
// IP and the outside checker for N minutes, while a nemesis picks faults and operator actions from
// the chaos list (lib/scenarios.ts) at random, a few at a time with overlaps. The seed is printed
// and the same seed replays the same choices and delays (what the cluster does in between is not
// deterministic). After every round the world is put back (hosts booted and thawed, links and
// etcd members healed, maintenance off, standby cleared, the seed config applied again) before the
// next round starts. At the end: violations, acknowledged messages lost, duplicates, availability
// (the share of the run during which the producer's receipts kept coming) and every failover with
// its phases.
//
//   node dist/test/chaos/soak.js --minutes N [--seed S] [--testbed cr|cn] [--topology separate|colocated]
import { rm, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { installSignalCleanup } from './lib/testbed.js';
import { Checker, type Observation } from './lib/checker.js';
import { Workload } from './lib/workload.js';
import { CLI_TIMEOUT_MS, deploy, hactlJs, NODES, SET, type Deployment } from './lib/deployment.js';
import { FAULTS, type Ctx, type Fault } from './lib/scenarios.js';
import { sleep, waitFor } from './lib/exec.js';
import { existsSync } from 'node:fs';
import { TESTBEDS } from './run.js';

const repo = new URL('../../../', import.meta.url).pathname;
/** How long a round waits for the set to run again (acks flowing) before it heals anyway. */
const ROUND_RECOVERY_MS = 90_000;
/** A fault's inject is abandoned after this long (the round heals and goes on). */
const INJECT_BOUND_MS = 120_000;

/** mulberry32: a small seeded PRNG, so that a seed replays the same choices. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface ActionLog {
  round: number;
  fault: string;
  at: number;
  owner: string;
  ok: boolean;
  note?: string;
}

export interface Failover {
  from: string;
  to: string;
  /** The old holder's disk gone (stopped or powered off). */
  releasedAt: number;
  fencedAt?: number;
  mountedAt: number;
  vipAt?: number;
  arpAt?: number;
  ackedAt?: number;
}

/** Every change of the shared disk's holder, with its phases, from the checker's observations. */
export function failovers(obs: Observation[], fences: { at: number; plug: string; ok: boolean; action: string }[], gaps: [number, number][]): Failover[] {
  const out: Failover[] = [];
  let holder: string | undefined;
  let releasedAt = 0;
  for (const o of obs) {
    if (!o.diskHolders) continue;
    const now = o.diskHolders.map((h) => h.split(':')[0]!);
    if (now.length === 0) {
      if (holder !== undefined && releasedAt === 0) releasedAt = o.at;
      continue;
    }
    const to = now[now.length - 1]!;
    if (holder !== undefined && to !== holder) {
      const from = holder;
      const f: Failover = { from, to, releasedAt: releasedAt || o.at, mountedAt: o.at };
      f.fencedAt = fences.find((e) => e.ok && e.action === 'off' && e.plug === from && e.at <= o.at && e.at >= o.at - ROUND_RECOVERY_MS)?.at;
      f.vipAt = obs.find((x) => x.at >= o.at && x.vipHolders?.includes(to))?.at;
      f.arpAt = obs.find((x) => x.at >= o.at && x.arpMacs?.some((m) => m.startsWith(`${to}(`)))?.at;
      f.ackedAt = gaps.find(([, end]) => end >= o.at)?.[1];
      out.push(f);
    }
    holder = to;
    releasedAt = 0;
  }
  return out;
}

async function restoreWorld(c: Ctx, reapplyConfig: boolean): Promise<string[]> {
  const problems: string[] = [];
  const step = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (e) {
      problems.push(`${what}: ${(e as Error).message.split('\n')[0]!.slice(0, 160)}`);
    }
  };
  if (c.power) c.power.failing = undefined;
  for (const h of c.agents) {
    await step(`${h.name} boot`, async () => {
      if (!(await h.running())) await h.restart();
      else {
        if (await h.frozen()) await h.thaw();
        await h.unblock().catch(() => undefined);
        await h.healLink().catch(() => undefined);
      }
    });
    await rm(join(c.runDir(h.name), 'qm1-gate.fail-stop'), { force: true });
  }
  for (const m of c.etcd.names) {
    await step(`etcd ${m}`, async () => {
      await c.etcd.healMember(m).catch(() => undefined);
      await c.etcd.startMember(m);
    });
  }
  await step('etcd healthy', () => c.etcd.waitHealthy(30_000));
  await step('maintenance off', () => c.hactl(['maintenance', 'off'], CLI_TIMEOUT_MS));
  for (const n of NODES) await step(`unstandby ${n}`, () => c.hactl(['unstandby', n], CLI_TIMEOUT_MS));
  if (reapplyConfig) await step('config apply', () => c.applyConfig({}));
  await step('clear', () => c.hactl(['clear', SET], CLI_TIMEOUT_MS));
  return problems;
}

function fmtS(ms: number | undefined, from: number): string {
  return ms === undefined ? '–' : ((ms - from) / 1000).toFixed(2);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const val = (k: string) => {
    const i = argv.indexOf(k);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const minutes = Number(val('--minutes') ?? 10);
  const seed = val('--seed') !== undefined ? Number(val('--seed')) : Math.floor(Math.random() * 2 ** 31);
  if (!Number.isFinite(minutes) || minutes <= 0) {
    process.stderr.write(`soak: --minutes must be a positive number, not ${val('--minutes')}\n`);
    process.exit(2);
  }
  if (!Number.isInteger(seed) || seed < 0) {
    process.stderr.write(`soak: --seed must be a non-negative integer, not ${val('--seed')}\n`);
    process.exit(2);
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('soak: needs root (namespaces, cgroups, loop devices)\n');
    process.exit(2);
  }
  if (!existsSync(hactlJs)) {
    process.stderr.write(`soak: ${hactlJs} not built; run npm run build\n`);
    process.exit(2);
  }
  const which = val('--testbed') ?? 'cr';
  if (which !== 'cr' && which !== 'cn') {
    process.stderr.write(`soak: --testbed cr or cn, not ${which}\n`);
    process.exit(2);
  }
  const topology = val('--topology') ?? 'separate';
  if (topology !== 'separate' && topology !== 'colocated') {
    process.stderr.write(`soak: --topology separate or colocated, not ${topology}\n`);
    process.exit(2);
  }
  installSignalCleanup();
  process.stdout.write(`soak: seed ${seed} (replay: npm run soak -- --minutes ${minutes} --seed ${seed})\n`);
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  // every fault runs with the fence device here; those that need it are safe then
  // (a fault that needs a deployment of its own, e.g. co-located etcd or a small host filesystem, cannot join)
  const pool: Fault[] = FAULTS.filter((f) => !f.deployment);
  const log: ActionLog[] = [];
  const problems: string[] = [];
  let d: Deployment | undefined;
  let checker: Checker | undefined;
  let workload: Workload | undefined;
  const resultsDir = join(repo, 'chaos-results');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  try {
    d = await deploy({ fencing: true, gate: true, ...TESTBEDS[which], topology });
    const tb = d.tb;
    checker = new Checker(tb, { vips: [d.vip], disk: true, brokerDataDir: `${tb.mountDir}/activemq` });
    checker.start();
    const wdir = join(tb.root, 'workload');
    await mkdir(wdir, { recursive: true });
    workload = new Workload(d.client, { host: d.vip, dir: wdir, rate: 50 });
    workload.start();
    await workload.waitAcked(100, 60_000);
    const tStart = Date.now();
    const tEnd = tStart + minutes * 60_000;
    let round = 0;
    while (Date.now() < tEnd) {
      round++;
      // a fence that came after the last round's restore may have powered a host off: every round
      // starts with all agent hosts up (or a round could take out the last one)
      for (const h of d.agents) {
        if (!(await h.running())) {
          await h.restart().catch((e: Error) => problems.push(`round ${round}: boot ${h.name}: ${e.message.slice(0, 160)}`));
          await sleep(5000);
        }
      }
      const owner = await waitFor('set running before a round', d.owner, 60_000, 500).catch(() => undefined);
      if (!owner) {
        problems.push(`round ${round}: set not running before the round`);
        await restoreWorld({ ...d, checker, workload, notes: {}, strike: () => undefined }, true);
        continue;
      }
      const n = rnd() < 0.35 ? 2 : 1;
      const chosen = Array.from({ length: n }, () => pick(pool));
      const delays = chosen.map((_, i) => (i === 0 ? 0 : Math.floor(rnd() * 5000)));
      const pause = 5000 + Math.floor(rnd() * 10_000);
      process.stdout.write(`round ${round} @${((Date.now() - tStart) / 1000).toFixed(0)}s: ${chosen.map((f, i) => `${f.name}${i ? ` (+${delays[i]} ms)` : ''}`).join(' + ')}\n`);
      const ctx: Ctx = { ...d, checker, workload, notes: {}, strike: () => undefined };
      const tRound = Date.now();
      const heals = await Promise.all(
        chosen.map(async (f, i) => {
          await sleep(delays[i]!);
          const cur = (await d!.owner().catch(() => undefined)) ?? owner;
          const entry: ActionLog = { round, fault: f.name, at: Date.now(), owner: cur, ok: true };
          log.push(entry);
          try {
            const bound = sleep(INJECT_BOUND_MS).then(() => {
              throw new Error(`inject not done within ${INJECT_BOUND_MS / 1000} s`);
            });
            return await Promise.race([f.inject(ctx, d!.tb.host(cur)), bound]);
          } catch (e) {
            entry.ok = false;
            entry.note = (e as Error).message.split('\n')[0]!.slice(0, 160);
            return undefined;
          }
        }),
      );
      const injected = heals.map((h) => h !== undefined);
      // a fault the set cannot recover from while it holds (etcd without quorum) heals at its holdMs
      const early = chosen.map((f, i) => (f.recoversAfterHeal && heals[i] ? sleep(Math.max(0, tRound + f.holdMs - Date.now())).then(heals[i]).catch((err: Error) => {
        problems.push(`round ${round}: heal: ${err.message.slice(0, 160)}`);
      }) : undefined));
      early.forEach((e, i) => {
        if (e) heals[i] = undefined;
      });
      // hold: until the set runs and acks flow again, at least the longest hold, bounded
      const holdMs = Math.max(...chosen.map((f) => f.holdMs));
      await waitFor('recovered', async () => {
        if (Date.now() - tRound < holdMs) return undefined;
        return (await d!.owner().catch(() => undefined)) !== undefined && workload!.ackedAgainAfter(tRound) !== undefined ? true : undefined;
      }, ROUND_RECOVERY_MS, 500).catch(() => problems.push(`round ${round}: not recovered within ${ROUND_RECOVERY_MS / 1000} s (${chosen.map((f) => f.name).join(' + ')})`));
      for (const e of early) await e;
      for (const h of heals) await h?.().catch((e: Error) => problems.push(`round ${round}: heal: ${e.message.slice(0, 160)}`));
      for (const [i, f] of chosen.entries()) {
        if (!f.verify || !injected[i]) continue;
        const r = await f.verify(ctx, { first: owner, recovered: await d.owner().catch(() => undefined) }).catch((e: Error) => [e.message]);
        for (const x of r) problems.push(`round ${round}: ${f.name}: ${x}`);
      }
      const reapply = chosen.some((f) => f.name.includes('config') || f.name.includes('lease-ttl'));
      for (const p of await restoreWorld(ctx, reapply)) problems.push(`round ${round}: restore: ${p}`);
      await sleep(pause);
    }
    const tStop = Date.now();
    const stats = workload.producerStats();
    const res = await workload.finish(30_000);
    await checker.stop();
    const gaps = stats?.gaps ?? [];
    const downMs = gaps.filter(([a]) => a >= tStart).reduce((s, [a, b]) => s + (Math.min(b, tStop) - a), 0);
    const avail = 1 - downMs / (tStop - tStart);
    const fos = failovers(checker.observations.filter((o) => o.at >= tStart), d.power?.events ?? [], gaps);
    const kinds = Object.entries(checker.summary()).filter(([, v]) => v > 0).map(([k, v]) => `${k}:${v}`).join(' ') || '–';
    const lines = [
      `# soak: ${minutes} min, seed ${seed}, started ${new Date(tStart).toISOString()}`,
      '',
      '| violations | acked lost | duplicates | sent / acked / received | availability | rounds | actions (failed injects) | failovers |',
      '|---|---|---|---|---|---|---|---|',
      `| ${checker.violations.length} (${kinds}) | ${res.lost} | ${res.duplicates} | ${res.sent} / ${res.acked} / ${res.received} | ${(avail * 100).toFixed(2)} % (${(downMs / 1000).toFixed(1)} s without acks) | ${round} | ${log.length} (${log.filter((a) => !a.ok).length}) | ${fos.length} |`,
      '',
      '## Nemesis actions',
      '',
      '| round | t s | fault | owner | inject |',
      '|---|---|---|---|---|',
      ...log.map((a) => `| ${a.round} | ${((a.at - tStart) / 1000).toFixed(1)} | ${a.fault} | ${a.owner} | ${a.ok ? 'ok' : a.note ?? 'failed'} |`),
      '',
      '## Failovers (seconds after the old holder released the disk)',
      '',
      '| t s | from → to | fenced | mounted | VIP | ARP | acks again |',
      '|---|---|---|---|---|---|---|',
      ...fos.map((f) => `| ${((f.releasedAt - tStart) / 1000).toFixed(1)} | ${f.from} → ${f.to} | ${fmtS(f.fencedAt, f.releasedAt)} | ${fmtS(f.mountedAt, f.releasedAt)} | ${fmtS(f.vipAt, f.releasedAt)} | ${fmtS(f.arpAt, f.releasedAt)} | ${fmtS(f.ackedAt, f.releasedAt)} |`),
      '',
      '## Problems',
      '',
      ...(problems.length ? problems.map((p) => `- ${p}`) : ['- none']),
      '',
    ];
    const md = lines.join('\n');
    process.stdout.write(`${md}\n`);
    await mkdir(resultsDir, { recursive: true });
    const out = join(resultsDir, `soak-${stamp}.md`);
    await writeFile(out, md);
    await writeFile(join(resultsDir, `soak-${stamp}.json`), JSON.stringify({ seed, minutes, log, problems, failovers: fos, violations: checker.violations, result: res, availability: avail }, null, 1));
    process.stdout.write(`written ${out}\n`);
    const ok = checker.violations.length === 0 && res.lost === 0;
    await d.down();
    d = undefined;
    process.exit(ok ? 0 : 1);
  } finally {
    await checker?.stop().catch(() => undefined);
    if (d) {
      await workload?.abort().catch(() => undefined);
      await d.down().catch((e: Error) => process.stderr.write(`teardown: ${e.message}\n`));
    }
  }
}

// only when executed directly: not when `node --test <dir>` picks this file up, nor when imported
if (!process.env.NODE_TEST_CONTEXT && process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  main().catch((e: Error) => {
    process.stderr.write(`soak: ${e.stack ?? e.message}\n`);
    process.exit(1);
  });
}
