// The chaos scenario runner (`npm run chaos`): every fault x 3 repetitions against the seed deployment
// (QM1 = shared disk + floating IP + ActiveMQ + adapter, prefer [A, B, spare], leaseTtl 3s) on a fresh
// namespace testbed each time, with the outside checker and the STOMP workload running throughout.
//
//   node dist/test/chaos/run.js [--only name,name] [--reps N] [--no-fencing] [--keep-logs]
//
// Each fault is one small function: inject (returns its heal), and what the set should do.
import { cp, mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { installSignalCleanup, type Host } from './lib/testbed.js';
import { Checker } from './lib/checker.js';
import { Workload, type WorkloadResult } from './lib/workload.js';
import { Report, type ScenarioRow } from './lib/report.js';
import { deploy, hactlJs, type Deployment } from './lib/deployment.js';
import { sleep, waitFor } from './lib/exec.js';

const repo = new URL('../../../', import.meta.url).pathname;
const RECOVERY_BOUND_MS = 30_000;

export interface Ctx extends Deployment {
  checker: Checker;
  workload: Workload;
}

type Heal = () => Promise<void>;
type Expect = 'move' | 'stay' | 'either';

export interface Fault {
  name: string;
  expect: Expect;
  /** How long the fault is held before healing (ms). */
  holdMs: number;
  inject(ctx: Ctx, owner: Host): Promise<Heal>;
}

const nothing: Heal = async () => undefined;

/** Boot the host again if the fault (or a fence) left it dead. */
const revive = (h: Host): Heal => async () => {
  if (!(await h.running())) await h.restart();
};

// ------------------------------------------------------------------ the faults
export const FAULTS: Fault[] = [
  {
    name: 'kill-owner-host',
    expect: 'move',
    holdMs: 8000,
    async inject(_c, owner) {
      await owner.kill();
      return revive(owner);
    },
  },
  {
    name: 'kill-owner-agent',
    expect: 'either',
    holdMs: 5000,
    async inject(_c, owner) {
      for (const pid of await owner.pidsOf((cmd) => cmd.includes('hactl.js agent'))) await owner.killPid(pid);
      return nothing; // the host's supervisor loop restarts it after 1 s, as systemd would
    },
  },
  {
    name: 'kill-broker',
    expect: 'either',
    holdMs: 5000,
    async inject(_c, owner) {
      for (const pid of await owner.pidsOf((_cmd, comm) => comm === 'java')) await owner.killPid(pid);
      return nothing;
    },
  },
  {
    name: 'kill-adapter',
    expect: 'either',
    holdMs: 5000,
    async inject(_c, owner) {
      for (const pid of await owner.pidsOf((cmd) => cmd.includes('adapter.js'))) await owner.killPid(pid);
      return nothing;
    },
  },
  {
    name: 'freeze-owner',
    expect: 'move',
    holdMs: 10_000,
    async inject(_c, owner) {
      await owner.freeze();
      return async () => {
        if (await owner.running()) await owner.thaw();
        await revive(owner)();
      };
    },
  },
  {
    name: 'isolate-owner-link',
    expect: 'move',
    holdMs: 10_000,
    async inject(_c, owner) {
      await owner.isolate();
      return async () => {
        if (await owner.running()) await owner.healLink();
        await revive(owner)();
      };
    },
  },
  {
    name: 'partition-owner-from-peers',
    expect: 'stay',
    holdMs: 10_000,
    async inject(c, owner) {
      await owner.block(c.agents.filter((h) => h !== owner).map((h) => h.ip));
      return async () => {
        if (await owner.running()) await owner.unblock();
        await revive(owner)();
      };
    },
  },
  {
    name: 'partition-owner-from-etcd',
    expect: 'move',
    holdMs: 10_000,
    async inject(c, owner) {
      await owner.block(c.etcd.ips());
      return async () => {
        if (await owner.running()) await owner.unblock();
        await revive(owner)();
      };
    },
  },
  {
    name: 'owner-etcd-one-way-out',
    expect: 'move',
    holdMs: 10_000,
    async inject(c, owner) {
      await owner.block(c.etcd.ips(), 'out');
      return async () => {
        if (await owner.running()) await owner.unblock();
        await revive(owner)();
      };
    },
  },
  {
    name: 'etcd-kill-leader',
    expect: 'stay',
    holdMs: 5000,
    async inject(c) {
      const leader = await c.etcd.leader();
      if (!leader) throw new Error('no etcd leader');
      await c.etcd.killMember(leader);
      return async () => {
        await c.etcd.startMember(leader);
        await c.etcd.waitHealthy(20_000);
      };
    },
  },
  {
    name: 'etcd-isolate-leader',
    expect: 'stay',
    holdMs: 8000,
    async inject(c) {
      const leader = await c.etcd.leader();
      if (!leader) throw new Error('no etcd leader');
      await c.etcd.isolateMember(leader);
      return async () => {
        await c.etcd.healMember(leader);
        await c.etcd.waitHealthy(20_000);
      };
    },
  },
  {
    name: 'etcd-quorum-loss',
    expect: 'either',
    holdMs: 8000,
    async inject(c) {
      const victims = await c.etcd.loseQuorum();
      return async () => c.etcd.regainQuorum(victims);
    },
  },
];

// ------------------------------------------------------------------ one scenario
interface RunOpts {
  fencing: boolean;
  keepLogs: boolean;
  resultsDir: string;
}

async function runScenario(fault: Fault, rep: number, o: RunOpts): Promise<ScenarioRow> {
  const t0 = Date.now();
  const row: ScenarioRow = {
    scenario: fault.name, rep, fault: fault.name, outcome: 'error', reasons: [], recoveryMs: null, violations: 0, violationKinds: {},
    sent: 0, acked: 0, received: 0, lost: 0, duplicates: 0, durationMs: 0, startedAt: new Date(t0).toISOString(),
  };
  let d: Deployment | undefined;
  let checker: Checker | undefined;
  let workload: Workload | undefined;
  let res: WorkloadResult | undefined;
  try {
    d = await deploy({ fencing: o.fencing });
    const { tb, vip, owner } = d;
    const first = d.firstOwner;
    row.ownerBefore = first;
    checker = new Checker(tb, { vips: [vip], disk: true });
    checker.start();
    const wdir = join(tb.root, 'workload');
    await mkdir(wdir, { recursive: true });
    workload = new Workload(d.client, { host: vip, dir: wdir, rate: 50 });
    workload.start();
    await workload.waitAcked(100, 60_000);
    const ctx: Ctx = { ...d, checker, workload };
    const ownerHost = tb.host(first);
    // ---- the fault
    const tFault = Date.now();
    const heal = await fault.inject(ctx, ownerHost);
    // ---- recovery: the set running (somewhere) and acks flowing again after the fault
    let recoveredAt: number | undefined;
    let ownerAfter: string | undefined;
    const deadline = tFault + Math.max(RECOVERY_BOUND_MS, fault.holdMs + 5000);
    while (Date.now() < deadline) {
      ownerAfter = await owner().catch(() => undefined);
      const ack = workload.firstAckAfter(tFault + 200);
      if (ownerAfter && ack !== undefined && (fault.expect !== 'move' || ownerAfter !== first)) {
        recoveredAt = Math.max(ack, Date.now() - 500);
        break;
      }
      await sleep(250);
    }
    const held = fault.holdMs - (Date.now() - tFault);
    if (held > 0) await sleep(held);
    await heal();
    // let things settle, then check the set is still (or again) running
    await sleep(5000);
    const finalOwner = await waitFor('set running after heal', owner, 30_000, 500).catch(() => undefined);
    row.ownerAfter = ownerAfter ?? finalOwner;
    res = await workload.finish(30_000);
    await checker.stop();
    row.recoveryMs = recoveredAt !== undefined ? recoveredAt - tFault : null;
    row.violations = checker.violations.length;
    row.violationKinds = checker.summary();
    Object.assign(row, { sent: res.sent, acked: res.acked, received: res.received, lost: res.lost, duplicates: res.duplicates });
    if (row.violations > 0) row.reasons.push(`${row.violations} invariant violations (${Object.entries(row.violationKinds).filter(([, n]) => n > 0).map(([k, n]) => `${k}:${n}`).join(' ')})`);
    if (res.lost > 0) row.reasons.push(`${res.lost} acknowledged messages lost`);
    if (recoveredAt === undefined) row.reasons.push(`not recovered within ${Math.round((deadline - tFault) / 1000)} s`);
    if (fault.expect === 'stay' && ownerAfter && ownerAfter !== first) row.reasons.push(`set moved ${first} -> ${ownerAfter} (expected to stay)`);
    if (!finalOwner) row.reasons.push('set not running after heal');
    row.outcome = row.reasons.length === 0 ? 'pass' : 'fail';
  } catch (err) {
    row.outcome = 'error';
    row.reasons.push((err as Error).message.split('\n')[0]!.slice(0, 300));
  } finally {
    await checker?.stop().catch(() => undefined);
    if (!res) await workload?.abort().catch(() => undefined);
    if (d && (row.outcome !== 'pass' || o.keepLogs)) {
      const tb = d.tb;
      const dest = join(o.resultsDir, 'logs', `${fault.name}-${rep}`);
      await mkdir(dest, { recursive: true }).catch(() => undefined);
      if (existsSync(join(tb.root, 'hosts'))) {
        await cp(join(tb.root, 'hosts'), dest, {
          recursive: true,
          filter: (src) => !src.includes('/data/') && !src.endsWith('.sh') && !src.includes('/etcd/'),
        }).catch(() => undefined);
      }
      await writeFile(join(dest, 'checker.json'), JSON.stringify({ violations: checker?.violations ?? [], observations: checker?.observations ?? [] }, null, 1)).catch(() => undefined);
    }
    await d?.down().catch((e: Error) => process.stderr.write(`teardown: ${e.message}\n`));
  }
  row.durationMs = Date.now() - t0;
  return row;
}

// ------------------------------------------------------------------ main
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
  const faults = only ? FAULTS.filter((f) => only.includes(f.name)) : FAULTS;
  if (faults.length === 0) {
    process.stderr.write(`chaos: no such fault; known: ${FAULTS.map((f) => f.name).join(', ')}\n`);
    process.exit(2);
  }
  const resultsDir = join(repo, 'chaos-results');
  const report = new Report(resultsDir);
  const o: RunOpts = { fencing: !argv.includes('--no-fencing'), keepLogs: argv.includes('--keep-logs'), resultsDir };
  for (const f of faults) {
    for (let rep = 1; rep <= reps; rep++) report.add(await runScenario(f, rep, o));
  }
  report.printTable();
  const { json, md } = await report.write();
  process.stdout.write(`written ${json} and ${md}\n`);
  process.exit(report.rows.every((r) => r.outcome === 'pass') ? 0 : 1);
}

// not when `node --test <dir>` picks this file up (it is not a test)
if (!process.env.NODE_TEST_CONTEXT && process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  main().catch((e: Error) => {
    process.stderr.write(`chaos: ${e.stack ?? e.message}\n`);
    process.exit(1);
  });
}
