// The chaos scenarios, shared by the runner (`npm run chaos`, test/chaos/run.ts) and the bounded
// subset in `npm test` (test/chaos/subset.test.ts): the faults, and one scenario run = a fresh seed
// deployment (QM1 = shared disk + floating IP + ActiveMQ + adapter, prefer [A, B, spare], leaseTtl
// 3s, failback false), the outside checker and the STOMP workload throughout, one fault, its heal.
//
// Each fault is one small object: inject (returns its heal), and what the set should do.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Host, TestbedOptions } from './testbed.js';
import { Checker } from './checker.js';
import { Workload, type WorkloadResult } from './workload.js';
import type { ScenarioRow } from './report.js';
import { copyHostLogs, deploy, SET, type Deployment } from './deployment.js';
import { sleep, waitFor } from './exec.js';
import { Keys } from '../../../agent/etcd/keys.js';
import type { SeedOptions } from './seed.js';

export const RECOVERY_BOUND_MS = 30_000;
/** How long a fault that needs fencing is held at most when run without it (waiting for violations). */
const UNFENCED_HOLD_MS = 90_000;

export interface Ctx extends Deployment {
  checker: Checker;
  workload: Workload;
  /**
   * A fault that strikes again (two faults in a row) marks it: the hosts it took out cannot count
   * as where the set recovered, and acks only count from the last strike on.
   */
  strike(...hosts: string[]): void;
  /** What a fault's inject noted for its verify. */
  notes: Record<string, unknown>;
}

type Heal = () => Promise<void>;
type Expect = 'move' | 'stay' | 'either';

export interface Fault {
  name: string;
  expect: Expect;
  /** How long the fault is held before healing (ms). */
  holdMs: number;
  /** Recovery bound (fault -> service back) when it is not RECOVERY_BOUND_MS. */
  boundMs?: number;
  /**
   * The set cannot come back while the fault holds (etcd without quorum): heal after holdMs
   * whether or not it recovered. Otherwise the heal waits for the recovery (or the bound), so a
   * killed owner is never booted again before the set has moved.
   */
  recoversAfterHeal?: boolean;
  /** Only safe with a fence device (a frozen owner keeps disk and IP): run without, violations are expected. */
  needsFencing?: boolean;
  /** Deploy with the failure-injectable `qm1-gate` resource (SeedOptions.gate). */
  gate?: boolean;
  inject(ctx: Ctx, owner: Host): Promise<Heal>;
  /** Checks after the heal; returns failure reasons. */
  verify?(ctx: Ctx, s: { first: string; recovered: string | undefined }): Promise<string[]>;
}

const nothing: Heal = async () => undefined;

/** Boot the host again if the fault (or a fence) left it dead. */
const revive = (h: Host): Heal => async () => {
  if (!(await h.running())) await h.restart();
};

/** Undo a block (if the host still runs: a fence may have powered it off) and boot it if dead. */
const unblockOrRevive = (h: Host): Heal => async () => {
  if (await h.running()) await h.unblock();
  await revive(h)();
};

/** The node the set is placed on once it is no longer `from` (starting or running), bounded. */
async function movedFrom(c: Ctx, from: string[], timeoutMs: number, running = false): Promise<string> {
  return waitFor(`${SET} placed off ${from.join(',')}`, async () => {
    const s = await c.setStatus();
    if (!s?.node || from.includes(s.node)) return undefined;
    if (running && s.state !== 'running') return undefined;
    return s.node;
  }, timeoutMs, 100);
}

const agentPids = (h: Host) => h.pidsOf((cmd) => cmd.includes('hactl.js agent'));

/** One etcd member killed (its process) or isolated (its link), the leader or a follower: the set stays. */
function etcdMemberFault(how: 'kill' | 'isolate', which: 'leader' | 'follower', holdMs: number): Fault {
  return {
    name: `etcd-${how}-${which}`,
    expect: 'stay',
    holdMs,
    async inject(c) {
      const m = which === 'leader' ? await c.etcd.leader() : await c.etcd.follower();
      if (!m) throw new Error('no etcd leader');
      if (how === 'kill') await c.etcd.killMember(m);
      else await c.etcd.isolateMember(m);
      return async () => {
        if (how === 'kill') await c.etcd.startMember(m);
        else await c.etcd.healMember(m);
        await c.etcd.waitHealthy(20_000);
      };
    },
  };
}

/** When the checker first saw the shared disk mounted on a host other than `victim` after `since`. */
function heldElsewhereAt(c: Ctx, victim: string, since: number): number | undefined {
  return c.checker.observations.find((o) => o.at >= since && o.diskHolders?.some((h) => !h.startsWith(`${victim}:`)))?.at;
}

/** When the power switch first powered `victim` off after `since`. */
function fencedAt(c: Ctx, victim: string, since: number): number | undefined {
  return c.power?.events.find((e) => e.ok && e.action === 'off' && e.plug === victim && e.at >= since)?.at;
}

/** The takeover gate: the set must not be seen on another host before `victim` was fenced. */
function startedOnlyAfterFence(c: Ctx, victim: string, since: number): string[] {
  const started = heldElsewhereAt(c, victim, since);
  const fenced = fencedAt(c, victim, since);
  if (started === undefined) return [];
  return fenced !== undefined && fenced <= started ? [] : [`set started off ${victim} ${fenced === undefined ? 'without a fence' : `${fenced - started} ms before the fence`}`];
}

/** What a fault that tests the takeover gate noted: whose fence must come first, since when. */
interface GateNote {
  victim: string;
  t: number;
}

async function verifyGate(c: Ctx): Promise<string[]> {
  const g = c.notes.gate as GateNote | undefined;
  return g ? startedOnlyAfterFence(c, g.victim, g.t) : ['the fault noted no victim'];
}

/** The host's agent asked to stop as systemd would (SIGTERM); its supervisor loop starts it again. */
async function sigtermAgent(h: Host): Promise<void> {
  for (const pid of await agentPids(h)) await h.killPid(pid, 'SIGTERM', 40_000).catch(() => undefined);
}

/** A fence claim on `victim` that has failed at least `failures` times (the takeover is blocked). */
async function blockedClaim(c: Ctx, victim: string, failures: number, timeoutMs = 30_000): Promise<{ by: string; failures?: number }> {
  const key = Keys.forCluster(c.tb.prefix).fenceClaim(victim);
  return waitFor(`a fence claim on ${victim} with ${failures} failures`, async () => {
    const r = await c.etcd.ctl(['get', key, '--print-value-only']);
    const v = r.code === 0 && r.stdout.trim() ? (JSON.parse(r.stdout.trim()) as { by: string; failures?: number }) : undefined;
    return v && (v.failures ?? 0) >= failures ? v : undefined;
  }, timeoutMs, 100);
}

/** `hactl move` to the first other agent host that accepts it (one may be banned after a failed start). */
async function switchover(c: Ctx, owner: Host): Promise<Host> {
  const refused: string[] = [];
  for (const h of c.agents.filter((x) => x !== owner)) {
    const r = await c.hactl(['move', SET, h.name], 20_000);
    if (r.code === 0) return h;
    refused.push((r.stderr || r.stdout).trim().slice(0, 200));
  }
  throw new Error(`no switchover target: ${refused.join('; ')}`);
}

async function mustHactl(c: Ctx, args: string[]): Promise<void> {
  const r = await c.hactl(args, 20_000);
  if (r.code !== 0) throw new Error(`hactl ${args.join(' ')}: ${(r.stderr || r.stdout).trim().slice(0, 200)}`);
}

/**
 * The owner dies while the fence device fails, so the next owner's takeover is blocked on the fence;
 * then an operator applies a config change (the set changed, or requireFencing: false "to unblock
 * it"). A change must not erase the gate (issue 14 item 2): without a fence, the set may start only
 * after the takeover grace the old owner's configuration needs (stop timeouts: 30 s here).
 */
function configApplyDuringBlockedTakeover(name: string, change: Partial<SeedOptions>, fenceComesBack: boolean): Fault {
  return {
    name,
    expect: 'move',
    holdMs: 15_000,
    // without the fence: the 30 s grace after the change, then the broker's start
    boundMs: 90_000,
    async inject(c, owner) {
      const power = c.power;
      if (!power) throw new Error('needs the fence device (run with fencing)');
      power.failing = 'switch unreachable (chaos)';
      const tKill = Date.now();
      await owner.kill();
      await blockedClaim(c, owner.name, 1);
      await c.applyConfig(change);
      c.notes.blocked = { victim: owner.name, tKill };
      // hold the device broken a while: a gate erased by the change shows as a start now
      await sleep(8000);
      if (fenceComesBack) power.failing = undefined;
      return async () => {
        power.failing = undefined;
        await revive(owner)();
      };
    },
    async verify(c) {
      const b = c.notes.blocked as { victim: string; tKill: number } | undefined;
      if (!b) return ['no blocked takeover'];
      if (fenceComesBack) return startedOnlyAfterFence(c, b.victim, b.tKill);
      const started = heldElsewhereAt(c, b.victim, b.tKill);
      const fenced = fencedAt(c, b.victim, b.tKill);
      if (started === undefined || (fenced !== undefined && fenced <= started)) return [];
      // grace: sum of the stop timeouts (30 s) minus the margins; a lost gate starts within seconds
      return started - b.tKill >= 20_000 ? [] : [`set started off ${b.victim} ${started - b.tKill} ms after it died, unfenced (grace lost)`];
    },
  };
}

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
      for (const pid of await agentPids(owner)) await owner.killPid(pid);
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
    needsFencing: true,
    async inject(_c, owner) {
      await owner.freeze();
      return async () => {
        if (await owner.running()) await owner.thaw();
        await revive(owner)();
      };
    },
  },
  {
    // a paused VM whose network is gone too: thawed while still unlinked, then relinked
    name: 'freeze-owner-isolated',
    expect: 'move',
    holdMs: 10_000,
    needsFencing: true,
    async inject(_c, owner) {
      await owner.freeze();
      await owner.isolate();
      return async () => {
        if (await owner.running()) {
          await owner.thaw();
          await sleep(1000);
          await owner.healLink();
        }
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
      return unblockOrRevive(owner);
    },
  },
  {
    name: 'partition-owner-from-etcd',
    expect: 'move',
    holdMs: 10_000,
    async inject(c, owner) {
      await owner.block(c.etcd.ips());
      return unblockOrRevive(owner);
    },
  },
  {
    // from everything but its own link: peers, etcd, the client and the checker's bridge address
    name: 'partition-owner-from-all',
    expect: 'move',
    holdMs: 10_000,
    async inject(c, owner) {
      await owner.block([`${c.tb.net}.0/24`]);
      return unblockOrRevive(owner);
    },
  },
  {
    name: 'owner-etcd-one-way-out',
    expect: 'move',
    holdMs: 10_000,
    async inject(c, owner) {
      await owner.block(c.etcd.ips(), 'out');
      return unblockOrRevive(owner);
    },
  },
  etcdMemberFault('kill', 'leader', 5000),
  etcdMemberFault('kill', 'follower', 5000),
  etcdMemberFault('isolate', 'leader', 8000),
  etcdMemberFault('isolate', 'follower', 8000),
  {
    // every lease is in doubt: owners stop (self-fencing), nothing can start until quorum is back
    name: 'etcd-quorum-loss',
    expect: 'either',
    holdMs: 8000,
    recoversAfterHeal: true,
    async inject(c) {
      const victims = await c.etcd.loseQuorum();
      return async () => c.etcd.regainQuorum(victims);
    },
  },
  {
    // the killed owner boots again while the set runs elsewhere: with failback false nothing moves
    // back, and it never runs twice
    name: 'restart-killed-owner',
    expect: 'move',
    holdMs: 8000,
    async inject(_c, owner) {
      await owner.kill();
      return async () => {
        await revive(owner)();
        // its agent back online, then time for a wrong move back to show
        await waitFor(`${owner.name}'s agent running`, async () => (await agentPids(owner)).length > 0, 15_000, 200);
        await sleep(8000);
      };
    },
    async verify(c, s) {
      const now = await c.owner();
      return now === s.recovered ? [] : [`set on ${now ?? 'nothing'} after ${s.first} rebooted (ran on ${s.recovered ?? '?'}; failback is false)`];
    },
  },
  {
    // two faults in a row: the owner dies, and while the set is starting on the next host, that dies too
    name: 'kill-owner-then-next',
    expect: 'move',
    holdMs: 12_000,
    boundMs: 45_000,
    async inject(c, owner) {
      await owner.kill();
      const next = c.tb.host(await movedFrom(c, [owner.name], 20_000));
      await next.kill();
      c.strike(next.name);
      return async () => {
        await revive(owner)();
        await revive(next)();
      };
    },
  },
  {
    // two faults in a row: the owner freezes (fenced), and once the set runs on the next host, that
    // one loses etcd
    name: 'freeze-then-partition-next',
    expect: 'move',
    holdMs: 15_000,
    boundMs: 50_000,
    needsFencing: true,
    async inject(c, owner) {
      await owner.freeze();
      // (without fencing the takeover waits out the grace of SPEC 5.3: the sum of the stop timeouts)
      const next = c.tb.host(await movedFrom(c, [owner.name], 60_000, true));
      await next.block(c.etcd.ips());
      c.strike(next.name);
      return async () => {
        if (await owner.running()) await owner.thaw();
        await revive(owner)();
        await unblockOrRevive(next)();
      };
    },
  },
  {
    // the fence device fails, and the host fencing the frozen owner dies while it retries: the
    // survivor that takes the claim over continues the backoff (9bdeff8) instead of starting at
    // 1 s again, and the set starts once the device works
    name: 'fence-claimer-dies-switch-failing',
    expect: 'move',
    holdMs: 10_000,
    boundMs: 45_000,
    async inject(c, owner) {
      const power = c.power;
      if (!power) throw new Error('needs the fence device (run with fencing)');
      const failedOn = (plug: string, since: number) => power.events.filter((e) => e.plug === plug && !e.ok && e.at >= since);
      power.failing = 'switch unreachable (chaos)';
      await owner.freeze();
      // the claim records 2 failures: the next retry would be in 2 s, a takeover's first retry after
      // its own failure in 4 s (a fresh backoff: 1 s)
      const key = Keys.forCluster(c.tb.prefix).fenceClaim(owner.name);
      const claim = await waitFor('a fence claim with 2 failures', async () => {
        const r = await c.etcd.ctl(['get', key, '--print-value-only']);
        const v = r.code === 0 && r.stdout.trim() ? (JSON.parse(r.stdout.trim()) as { by: string; failures?: number }) : undefined;
        return v && (v.failures ?? 0) >= 2 ? v : undefined;
      }, 20_000, 100);
      const claimer = c.tb.host(claim.by);
      await claimer.kill();
      c.strike(claimer.name);
      const tKill = Date.now();
      // the next claimer's first attempt fails too; then the switch works again
      const first = await waitFor('a failed fence by the next claimer', () => failedOn(owner.name, tKill)[0], 20_000, 50);
      power.failing = undefined;
      c.notes.fenceGap = { plug: owner.name, failures: claim.failures ?? 0, firstFailAt: first.at } satisfies FenceGap;
      return async () => {
        if (await owner.running()) await owner.thaw();
        await revive(owner)();
        await revive(claimer)();
      };
    },
    async verify(c) {
      const g = c.notes.fenceGap as FenceGap | undefined;
      const ok = c.power?.events.find((e) => e.ok && e.action === 'off' && g !== undefined && e.plug === g.plug && e.at > g.firstFailAt);
      if (!g || !ok) return ['no successful fence after the claim changed hands'];
      // N failures taken over: after its own first failure the next claimer waits 2^N s (N >= 2:
      // at least 4 s); a backoff started afresh waits 1 s (plus the fence agent's own run)
      const gap = ok.at - g.firstFailAt;
      return gap >= 0.75 * 1000 * 2 ** g.failures ? [] : [`the next claimer retried ${gap} ms after its first failure (claim had ${g.failures} failures): backoff lost`];
    },
  },
  {
    // the owner's stop fails during a switchover (disk, IP and broker stay up there) while the fence
    // device fails too, then the operator stops its agent (SIGTERM): a set that could not be
    // stopped is never released, so no host may start it before the owner is fenced, however long
    // the device stays broken (longer than the 30 s grace here) (issue 14 item 3)
    name: 'sigterm-owner-after-failed-stop',
    expect: 'move',
    holdMs: 10_000,
    boundMs: 90_000,
    gate: true,
    async inject(c, owner) {
      const power = c.power;
      if (!power) throw new Error('needs the fence device (run with fencing)');
      const fail = join(c.runDir(owner.name), 'qm1-gate.fail-stop');
      await writeFile(fail, '1\nstop refused (chaos)\n');
      power.failing = 'switch unreachable (chaos)';
      const t = Date.now();
      await switchover(c, owner);
      await waitFor('the gate stop failed', async () => {
        const r = await c.hactl(['--json', 'status'], 5000);
        return r.stdout.includes('stop refused (chaos)') || undefined;
      }, 20_000, 250).catch(() => undefined);
      await sigtermAgent(owner);
      c.notes.gate = { victim: owner.name, t } satisfies GateNote;
      await sleep(40_000);
      power.failing = undefined;
      return async () => {
        power.failing = undefined;
        await rm(fail, { force: true });
        await revive(owner)();
      };
    },
    verify: verifyGate,
  },
  {
    // the owner freezes while the fence device fails; the next owner, waiting for the fence, is
    // stopped by the operator (SIGTERM): its release must carry the unsettled owner, so the next
    // owner still waits for the fence (issue 14 item 2)
    name: 'sigterm-new-owner-waiting-for-fence',
    expect: 'move',
    holdMs: 10_000,
    boundMs: 60_000,
    async inject(c, owner) {
      const power = c.power;
      if (!power) throw new Error('needs the fence device (run with fencing)');
      power.failing = 'switch unreachable (chaos)';
      const t = Date.now();
      await owner.freeze();
      await blockedClaim(c, owner.name, 1);
      // the new owner: placed there, blocked on the fence
      const next = c.tb.host(await movedFrom(c, [owner.name], 30_000));
      await sigtermAgent(next);
      // the device stays broken a while: a lost gate shows as a second mount (the owner is frozen)
      await sleep(12_000);
      power.failing = undefined;
      c.notes.gate = { victim: owner.name, t } satisfies GateNote;
      return async () => {
        power.failing = undefined;
        if (await owner.running()) await owner.thaw();
        await revive(owner)();
      };
    },
    verify: verifyGate,
  },
  configApplyDuringBlockedTakeover('config-apply-during-blocked-takeover', { gate: true }, true),
  configApplyDuringBlockedTakeover('config-apply-no-fencing-during-blocked-takeover', { requireFencing: false }, false),
  {
    // leaseTtl lowered 3 s -> 2 s (fenceMargin 1 s -> 500 ms) and raised back, with fence devices: owners keep the TTL they were
    // granted, so no healthy host is suspected and fenced, and nothing moves (issue 14 item 7)
    name: 'lease-ttl-lowered-with-fencing',
    expect: 'stay',
    holdMs: 12_000,
    async inject(c) {
      const t = Date.now();
      // (fenceMargin must stay below leaseTtl / 2: an operator lowers both)
      await c.applyConfig({ leaseTtl: '2s', fenceMargin: '500ms' });
      await sleep(10_000);
      await c.applyConfig({});
      c.notes.ttl = { t };
      return async () => sleep(5000);
    },
    async verify(c) {
      const t = (c.notes.ttl as { t: number }).t;
      const fenced = (c.power?.events ?? []).filter((e) => e.ok && e.action === 'off' && e.at >= t).map((e) => e.plug);
      return fenced.length === 0 ? [] : [`healthy hosts fenced after a TTL change: ${fenced.join(', ')}`];
    },
  },
  {
    // the owner dies; while the next host is starting the set, the operator runs cleanup
    name: 'cleanup-during-takeover',
    expect: 'move',
    holdMs: 8000,
    async inject(c, owner) {
      const t = Date.now();
      await owner.kill();
      await movedFrom(c, [owner.name], 20_000);
      await mustHactl(c, ['cleanup', SET]);
      c.notes.gate = { victim: owner.name, t } satisfies GateNote;
      return revive(owner);
    },
    verify: verifyGate,
  },
  {
    // a switchover to B, and B put on standby while the set moves there: it ends running, not on B
    name: 'standby-target-during-switchover',
    expect: 'either',
    holdMs: 8000,
    async inject(c, owner) {
      const target = await switchover(c, owner);
      await sleep(300);
      await mustHactl(c, ['standby', target.name]);
      c.notes.standby = target.name;
      return async () => {
        await mustHactl(c, ['unstandby', target.name]);
      };
    },
    async verify(c, s) {
      return s.recovered === c.notes.standby ? [`set recovered on ${s.recovered}, which is on standby`] : [];
    },
  },
  {
    // maintenance on, the owner host dies, nothing may take over while management is off (the
    // dead owner's disk state is unknown); maintenance off: fenced, then the set moves
    name: 'maintenance-around-crash',
    expect: 'move',
    holdMs: 8000,
    boundMs: 45_000,
    async inject(c, owner) {
      await mustHactl(c, ['maintenance', 'on']);
      const t = Date.now();
      await owner.kill();
      await sleep(8000);
      c.notes.maint = { victim: owner.name, t, startedInMaintenance: heldElsewhereAt(c, owner.name, t) };
      await mustHactl(c, ['maintenance', 'off']);
      return revive(owner);
    },
    async verify(c) {
      const m = c.notes.maint as { victim: string; t: number; startedInMaintenance?: number };
      const r = startedOnlyAfterFence(c, m.victim, m.t);
      if (m.startedInMaintenance !== undefined) r.push('set started elsewhere while the cluster was in maintenance');
      return r;
    },
  },
];

/** What fence-claimer-dies-switch-failing saw when the claim changed hands. */
interface FenceGap {
  plug: string;
  failures: number;
  firstFailAt: number;
}

// ------------------------------------------------------------------ one scenario
export interface RunOpts {
  fencing: boolean;
  keepLogs: boolean;
  resultsDir: string;
  testbed: TestbedOptions;
  powerPort: number;
}

export async function runScenario(fault: Fault, rep: number, o: RunOpts): Promise<ScenarioRow> {
  const t0 = Date.now();
  const expectViolations = !o.fencing && fault.needsFencing === true;
  const row: ScenarioRow = {
    scenario: fault.name, rep, fault: fault.name, outcome: 'error', reasons: [], recoveryMs: null, violations: 0, violationKinds: {},
    sent: 0, acked: 0, received: 0, lost: 0, duplicates: 0, durationMs: 0, startedAt: new Date(t0).toISOString(),
    fencing: o.fencing, expectViolations,
  };
  let d: Deployment | undefined;
  let checker: Checker | undefined;
  let workload: Workload | undefined;
  let res: WorkloadResult | undefined;
  try {
    d = await deploy({ fencing: o.fencing, testbed: o.testbed, powerPort: o.powerPort, gate: fault.gate });
    const { tb, vip, owner } = d;
    const first = d.firstOwner;
    row.ownerBefore = first;
    checker = new Checker(tb, { vips: [vip], disk: true, brokerDataDir: `${tb.mountDir}/activemq` });
    checker.start();
    const wdir = join(tb.root, 'workload');
    await mkdir(wdir, { recursive: true });
    workload = new Workload(d.client, { host: vip, dir: wdir, rate: 50 });
    workload.start();
    await workload.waitAcked(100, 60_000);
    const struck = new Set<string>([first]);
    let tStrike = 0;
    const ctx: Ctx = {
      ...d, checker, workload, notes: {},
      strike: (...hosts) => {
        for (const h of hosts) struck.add(h);
        tStrike = Date.now();
      },
    };
    const ownerHost = tb.host(first);
    // ---- the fault
    const tFault = Date.now();
    tStrike = tFault;
    const heal = await fault.inject(ctx, ownerHost);
    const healing = fault.recoversAfterHeal ? sleep(Math.max(0, tFault + fault.holdMs - Date.now())).then(heal) : undefined;
    // ---- recovery: the set running (somewhere allowed) and acks flowing again after the fault
    let recoveredAt: number | undefined;
    let ownerAfter: string | undefined;
    const deadline = tFault + Math.max(fault.boundMs ?? RECOVERY_BOUND_MS, fault.holdMs + 5000);
    // Without fencing, a takeover from a frozen owner waits out the stop-timeout grace (SPEC 5.3,
    // about 30 s here) and the client keeps talking to the frozen host, so acks do not come back:
    // hold the fault until the checker sees the double start (bounded), not a race with the grace.
    const holdUntil = expectViolations ? tFault + UNFENCED_HOLD_MS : deadline;
    while (Date.now() < holdUntil) {
      if (expectViolations && checker.violations.length > 0) break;
      ownerAfter = await owner().catch(() => undefined);
      const ack = workload.ackedAgainAfter(tStrike + 200);
      const placeOk = fault.expect !== 'move' || (ownerAfter !== undefined && !struck.has(ownerAfter));
      if (ownerAfter && ack !== undefined && placeOk) {
        recoveredAt = Math.max(ack, Date.now() - 500);
        break;
      }
      await sleep(250);
    }
    if (healing) await healing;
    else {
      const held = fault.holdMs - (Date.now() - tFault);
      if (held > 0) await sleep(held);
      await heal();
    }
    // let things settle, then check the set is still (or again) running
    await sleep(5000);
    const finalOwner = await waitFor('set running after heal', owner, 30_000, 500).catch(() => undefined);
    row.ownerAfter = ownerAfter ?? finalOwner;
    const verified = fault.verify ? await fault.verify(ctx, { first, recovered: recoveredAt !== undefined ? ownerAfter : undefined }) : [];
    res = await workload.finish(30_000);
    await checker.stop();
    row.recoveryMs = recoveredAt !== undefined ? recoveredAt - tFault : null;
    row.violations = checker.violations.length;
    row.violationKinds = checker.summary();
    Object.assign(row, { sent: res.sent, acked: res.acked, received: res.received, lost: res.lost, duplicates: res.duplicates });
    const kinds = Object.entries(row.violationKinds).filter(([, n]) => n > 0).map(([k, n]) => `${k}:${n}`).join(' ');
    if (expectViolations) {
      // the checker must be able to fail: without the fence device this fault is unsafe, and it must see it
      if (row.violations === 0) row.reasons.push('without fencing: violations expected, the checker saw none');
    } else {
      if (row.violations > 0) row.reasons.push(`${row.violations} invariant violations (${kinds})`);
      if (res.lost > 0) row.reasons.push(`${res.lost} acknowledged messages lost`);
      if (recoveredAt === undefined) row.reasons.push(`not recovered within ${Math.round((deadline - tFault) / 1000)} s`);
      if (fault.expect === 'stay' && ownerAfter && ownerAfter !== first) row.reasons.push(`set moved ${first} -> ${ownerAfter} (expected to stay)`);
      if (!finalOwner) row.reasons.push('set not running after heal');
      row.reasons.push(...verified);
    }
    row.outcome = row.reasons.length > 0 ? 'fail' : expectViolations ? 'caught' : 'pass';
    if (expectViolations && row.outcome === 'caught') row.reasons.push(`without fencing: violations expected, caught ${kinds}${res.lost > 0 ? `; ${res.lost} acked lost` : ''}`);
  } catch (err) {
    row.outcome = 'error';
    row.reasons.push((err as Error).message.split('\n')[0]!.slice(0, 300));
    if (checker) {
      // what the checker saw up to the error still counts (and is what an unfenced run is about)
      row.violations = checker.violations.length;
      row.violationKinds = checker.summary();
      if (expectViolations && row.violations > 0) row.outcome = 'caught';
    }
  } finally {
    await checker?.stop().catch(() => undefined);
    if (!res) await workload?.abort().catch(() => undefined);
    if (d && (!isSuccess(row) || o.keepLogs)) await keepLogs(d, checker, join(o.resultsDir, 'logs', `${fault.name}${o.fencing ? '' : '-nofence'}-${rep}`));
    await d?.down().catch((e: Error) => process.stderr.write(`teardown: ${e.message}\n`));
  }
  row.durationMs = Date.now() - t0;
  return row;
}

/** A row that is what it should be: passed, or (without fencing) the checker caught the unsafe fault. */
export function isSuccess(r: ScenarioRow): boolean {
  return r.outcome === 'pass' || r.outcome === 'caught';
}

async function keepLogs(d: Deployment, checker: Checker | undefined, dest: string): Promise<void> {
  await copyHostLogs(d, dest).catch(() => undefined);
  await writeFile(join(dest, 'checker.json'), JSON.stringify({ violations: checker?.violations ?? [], observations: checker?.observations ?? [] }, null, 1)).catch(() => undefined);
}
