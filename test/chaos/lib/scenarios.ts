// The chaos scenarios, shared by the runner (`npm run chaos`, test/chaos/run.ts) and the bounded
// subset in `npm test` (test/chaos/subset.test.ts): the faults, and one scenario run = a fresh seed
// deployment (QM1 = shared disk + floating IP + ActiveMQ + adapter, prefer [A, B, spare], leaseTtl
// 3s, failback false), the outside checker and the STOMP workload throughout, one fault, its heal.
//
// Each fault is one small object: inject (returns its heal), and what the set should do.
import { chmod, copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Host, TestbedOptions } from './testbed.js';
import { Checker } from './checker.js';
import { Workload, type WorkloadResult } from './workload.js';
import type { ScenarioRow } from './report.js';
import { CLI_TIMEOUT_MS, copyHostLogs, deploy, SET, type Deployment, type DeploymentOptions, type Topology } from './deployment.js';
import { run, signalPid, sleep, waitFor } from './exec.js';
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
  /** What the fault needs of the deployment beyond the seed one (these faults stay out of the soak). */
  deployment?: Pick<DeploymentOptions, 'gateStopDelay' | 'topology' | 'etcdLoopDisks' | 'smallHostFs' | 'wallClockStep'>;
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

/** The hosts the power switch powered off since `t`. */
function hostsFencedSince(c: Ctx, t: number): string[] {
  return (c.power?.events ?? []).filter((e) => e.ok && e.action === 'off' && e.at >= t).map((e) => e.plug);
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
    const r = await c.hactl(['move', SET, h.name], CLI_TIMEOUT_MS);
    if (r.code === 0) return h;
    refused.push((r.stderr || r.stdout).trim().slice(0, 200));
  }
  throw new Error(`no switchover target: ${refused.join('; ')}`);
}

async function mustHactl(c: Ctx, args: string[]): Promise<void> {
  const r = await c.hactl(args, CLI_TIMEOUT_MS);
  if (r.code !== 0) throw new Error(`hactl ${args.join(' ')}: exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 200)}`);
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

/** The lease (hex) a node's record is bound to: its agent's lease. */
async function leaseOf(c: Ctx, node: string): Promise<string> {
  const r = await c.etcd.ctl(['get', Keys.forCluster(c.tb.prefix).node(node), '-w', 'json']);
  // (a lease ID is above 2^53: read its digits, not a JSON number)
  const m = /"lease":(\d+)/.exec(r.stdout);
  if (!m) throw new Error(`no lease on ${node}'s node record`);
  return BigInt(m[1]!).toString(16);
}

/** Seconds etcd says the lease has left (`remaining`, truncated), or -1 once it is gone. */
async function leaseRemainingSec(c: Ctx, leaseHex: string): Promise<number> {
  const r = await c.etcd.ctl(['lease', 'timetolive', leaseHex]);
  const m = /remaining\((-?\d+)s\)/.exec(r.stdout);
  if (r.code !== 0 || !m) throw new Error(`etcdctl lease timetolive ${leaseHex}: ${(r.stderr || r.stdout).trim().slice(0, 200)}`);
  return Number(m[1]);
}

/**
 * The etcd member the host's agent talks to most: the member whose client connections from the
 * host received the most bytes over `windowMs` (its lease keepalive stream and watch).
 */
async function memberInUse(c: Ctx, h: Host, windowMs = 3000): Promise<string> {
  const snap = async () => {
    const r = await run('ip', ['netns', 'exec', h.ns, 'ss', '-Htin', 'state', 'established', '( dport = :2379 )']);
    const bytes = new Map<string, number>();
    let peer: string | undefined;
    for (const line of r.stdout.split('\n')) {
      const p = /\s(\d+\.\d+\.\d+\.\d+):2379\b/.exec(line);
      if (p) peer = p[1];
      const b = /bytes_received:(\d+)/.exec(line);
      if (b && peer) bytes.set(peer, (bytes.get(peer) ?? 0) + Number(b[1]));
    }
    return bytes;
  };
  const a = await snap();
  await sleep(windowMs);
  const b = await snap();
  let best: [string, number] | undefined;
  for (const [ip, n] of b) if (!best || n - (a.get(ip) ?? 0) > best[1]) best = [ip, n - (a.get(ip) ?? 0)];
  const name = c.etcd.names.find((n) => c.etcd.ip(n) === best?.[0]);
  if (!name) throw new Error(`${h.name} has no etcd connection with traffic`);
  return name;
}

/**
 * A member's WAL fsyncs so far (etcd's own /metrics: count and total seconds): the commit cost,
 * unlike a timed `etcdctl put`, whose process start alone took over 1 s on the loaded machine.
 */
async function walFsyncs(c: Ctx, member: string): Promise<{ count: number; sumSec: number }> {
  const res = await fetch(`${c.etcd.endpoint(member)}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const txt = await res.text();
  const num = (k: string) => Number(new RegExp(`^${k} (\\S+)$`, 'm').exec(txt)?.[1] ?? NaN);
  return { count: num('etcd_disk_wal_fsync_duration_seconds_count'), sumSec: num('etcd_disk_wal_fsync_duration_seconds_sum') };
}

/** Every host but `h` on the testbed's network, and the bridge (observer, power switch). */
function allBut(c: Ctx, h: Host): string[] {
  return [...c.tb.hosts.values()].filter((x) => x !== h).map((x) => x.ip).concat(c.tb.bridgeIp);
}

/** Kill or partition the host that is both the set's owner and the etcd leader (co-located). */
function ownerAndEtcdLeader(how: 'kill' | 'partition'): Fault {
  return {
    name: `${how}-owner-and-etcd-leader`,
    expect: 'move',
    holdMs: 10_000,
    deployment: { topology: 'colocated' },
    async inject(c, owner) {
      await c.etcd.moveLeader(owner.name);
      await waitFor(`${owner.name} leads etcd`, async () => (await c.etcd.leader()) === owner.name || undefined, 10_000, 200);
      c.notes.leader = owner.name;
      if (how === 'kill') {
        await owner.kill();
        return async () => {
          await revive(owner)();
          await c.etcd.waitHealthy(30_000);
        };
      }
      // everything but the host's own traffic to itself (its agent still reaches its own member)
      await owner.block(allBut(c, owner));
      return async () => {
        await unblockOrRevive(owner)();
        await c.etcd.waitHealthy(30_000);
      };
    },
  };
}

/** Slow commits: the etcd leader's (or every member's) writes to its data device throttled. */
function slowCommits(which: 'leader' | 'all', thenKillOwner: boolean): Fault {
  return {
    name: `etcd-slow-commits-${which}${thenKillOwner ? '-kill-owner' : ''}`,
    expect: thenKillOwner ? 'move' : 'either',
    holdMs: 20_000,
    boundMs: thenKillOwner ? 60_000 : undefined,
    deployment: { etcdLoopDisks: true },
    async inject(c, owner) {
      const members = which === 'all' ? c.etcd.names : [(await c.etcd.leader()) ?? c.etcd.names[0]!];
      const m0 = members[0]!;
      const before = await walFsyncs(c, m0);
      for (const m of members) await c.etcd.throttle(m, 8, 64 * 1024);
      if (thenKillOwner) await owner.kill();
      return async () => {
        // the mean WAL fsync of the first throttled member while it was throttled
        const after = await walFsyncs(c, m0).catch(() => undefined);
        const n = after ? after.count - before.count : 0;
        c.notes.commits = { members, fsyncs: n, meanFsyncMs: n > 0 ? Math.round(((after!.sumSec - before.sumSec) / n) * 1000) : null };
        for (const m of members) await c.etcd.unthrottle(m);
        if (thenKillOwner) await revive(owner)();
      };
    },
    async verify(c) {
      // the fault must have been one: the throttled member's fsyncs slow (unthrottled: about 1 ms)
      const n = c.notes.commits as { meanFsyncMs: number | null } | undefined;
      return n?.meanFsyncMs != null && n.meanFsyncMs >= 20 ? [] : [`commits not slowed: ${JSON.stringify(n)}`];
    },
  };
}

/** What a wall-clock step fault wrote where the owner's agent reads its clock offset. */
const clockStepFile = (c: Ctx, h: Host) => join(c.tb.root, 'hosts', h.name, 'clock-step-ms');

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
      const fenced = hostsFencedSince(c, (c.notes.ttl as { t: number }).t);
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
      await movedFrom(c, [owner.name], 45_000);
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
  // ---------------------------------------------------------------- etcd quirks (issue 18)
  {
    // the etcd leader paused (SIGSTOP) for longer than the agents' 2 s call deadline the moment
    // the dead owner is fenced: the next owner's acquire and first writes follow within
    // milliseconds, so they commit (or not) while their replies wait on a paused leader
    name: 'etcd-leader-paused-during-takeover',
    expect: 'move',
    holdMs: 8000,
    boundMs: 45_000,
    async inject(c, owner) {
      if (!c.power) throw new Error('needs the fence device (run with fencing)');
      const leader = await c.etcd.leader();
      if (!leader) throw new Error('no etcd leader');
      const t = Date.now();
      await owner.kill();
      await waitFor(`${owner.name} fenced`, async () => fencedAt(c, owner.name, t), 30_000, 10);
      await c.etcd.pauseMember(leader, true);
      await sleep(3500);
      await c.etcd.pauseMember(leader, false);
      c.notes.gate = { victim: owner.name, t } satisfies GateNote;
      return async () => {
        await revive(owner)();
        await c.etcd.waitHealthy(20_000);
      };
    },
    verify: verifyGate,
  },
  slowCommits('leader', false),
  slowCommits('all', false),
  slowCommits('all', true),
  {
    // the owner's agent stops renewing (SIGSTOP) and, in its lease's last second, etcd changes
    // leader: the new leader extends every lease. Nothing must move, or if it moves, never two owners.
    name: 'etcd-leader-change-lease-last-second',
    expect: 'either',
    holdMs: 10_000,
    async inject(c, owner) {
      const lease = await leaseOf(c, owner.name);
      const leader = await c.etcd.leader();
      const to = c.etcd.names.find((n) => n !== leader)!;
      const known = { from: leader ?? '', id: await c.etcd.memberId(to) };
      const pids = await agentPids(owner);
      for (const p of pids) signalPid(p, 'SIGSTOP');
      try {
        // remaining is truncated: 1 = under 2 s left. One etcdctl call took about 1 s on the loaded
        // machine, so waiting for 0 (under 1 s) let the lease run out before the move landed.
        const left = await waitFor('the owner lease in its last seconds', async () => {
          const r = await leaseRemainingSec(c, lease);
          return r <= 1 ? { r } : undefined;
        }, 10_000, 20);
        await c.etcd.moveLeader(to, known);
        const after = await leaseRemainingSec(c, lease).catch(() => -1);
        c.notes.leaseChange = { before: left.r, after, from: leader, to };
        await sleep(500);
      } finally {
        for (const p of pids) signalPid(p, 'SIGCONT');
      }
      return nothing;
    },
    async verify(c) {
      // the fault must have happened as meant: the leader changed before the lease ran out
      const n = c.notes.leaseChange as { after: number } | undefined;
      return n && n.after >= 0 ? [] : [`the lease ran out before the leader change (${JSON.stringify(n)})`];
    },
  },
  {
    // one etcd member cut from the other two (peer traffic) while clients still reach it: the
    // member the owner's agent talks to most answers, but cannot commit or renew anything
    name: 'etcd-member-cut-from-quorum',
    expect: 'either',
    holdMs: 12_000,
    async inject(c, owner) {
      const m = await memberInUse(c, owner);
      const leader = await c.etcd.leader();
      c.notes.cut = { member: m, wasLeader: m === leader };
      const h = c.etcd.host(m);
      await h.block(c.etcd.names.filter((n) => n !== m).map((n) => c.etcd.ip(n)));
      return async () => {
        await unblockOrRevive(h)();
        await c.etcd.waitHealthy(20_000);
      };
    },
  },
  // ---------------------------------------------------------------- host faults (issue 18)
  {
    // the filesystem with the owner's agent log, lease file and resource agents' run dir is full
    name: 'disk-full-owner',
    expect: 'either',
    holdMs: 15_000,
    deployment: { smallHostFs: true },
    async inject(c, owner) {
      const fill = join(owner.stateDir, 'fill');
      await run('dd', ['if=/dev/zero', `of=${fill}`, 'bs=1M'], { timeoutMs: 30_000 });
      const df = await run('df', ['--output=avail', owner.stateDir]);
      c.notes.full = df.stdout.trim().split('\n').pop();
      return async () => {
        await rm(fill, { force: true });
        await revive(owner)();
      };
    },
    async verify(c) {
      return Number(c.notes.full) <= 64 ? [] : [`the owner's filesystem was not full (${String(c.notes.full)} kB free)`];
    },
  },
  {
    // the owner's queue-manager resource agent made unreadable (mode 000) on that host only: a
    // copy with mode 000 bind-mounted over it in the host's mount namespace. Its monitor, stop and
    // start cannot run there; the stop counts as failed, so the set may move only after a fence.
    name: 'resource-agent-unreadable-owner',
    expect: 'either',
    holdMs: 15_000,
    boundMs: 60_000,
    async inject(c, owner) {
      const real = new URL('../../../../resources/queue-manager', import.meta.url).pathname;
      const copy = join(c.tb.root, 'ra-000', 'queue-manager');
      await mkdir(join(c.tb.root, 'ra-000'), { recursive: true });
      await copyFile(real, copy);
      await chmod(copy, 0o000);
      await owner.execOk(['mount', '--bind', copy, real]);
      c.notes.gate = { victim: owner.name, t: Date.now() } satisfies GateNote;
      return async () => {
        if ((await owner.running()) && !(await owner.frozen())) await owner.exec(['umount', real]);
        await revive(owner)();
      };
    },
    async verify(c) {
      // a host that could not stop the set must have been fenced before it ran elsewhere
      const g = c.notes.gate as GateNote;
      const started = heldElsewhereAt(c, g.victim, g.t);
      return started === undefined ? [] : startedOnlyAfterFence(c, g.victim, g.t);
    },
  },
  {
    // a switchover whose stop hangs: the gate resource's stop takes 60 s against its 5 s timeout
    // (a stop that times out is a failed stop): the set moves only after the owner is fenced
    name: 'ra-hangs-in-stop',
    expect: 'move',
    holdMs: 10_000,
    // the switchover's CLI call, the 5 s stop timeout, the fence, the broker's start (18 s loaded)
    boundMs: 90_000,
    gate: true,
    deployment: { gateStopDelay: '60s' },
    async inject(c, owner) {
      const t = Date.now();
      await switchover(c, owner);
      c.notes.gate = { victim: owner.name, t } satisfies GateNote;
      return revive(owner);
    },
    verify: verifyGate,
  },
  {
    // the owner's wall clock steps 15 min ahead, then back (as NTP would): lease validity is
    // monotonic, so nothing moves and no host is fenced
    name: 'wall-clock-step-owner',
    expect: 'stay',
    holdMs: 20_000,
    deployment: { wallClockStep: true },
    async inject(c, owner) {
      const t = Date.now();
      c.notes.ttl = { t };
      await writeFile(clockStepFile(c, owner), String(15 * 60_000));
      await sleep(8000);
      await writeFile(clockStepFile(c, owner), String(-15 * 60_000));
      await sleep(8000);
      await writeFile(clockStepFile(c, owner), '0');
      return nothing;
    },
    async verify(c) {
      const fenced = hostsFencedSince(c, (c.notes.ttl as { t: number }).t);
      return fenced.length === 0 ? [] : [`hosts fenced after a wall-clock step: ${fenced.join(', ')}`];
    },
  },
  // ---------------------------------------------------------------- co-located topology (issue 18)
  ownerAndEtcdLeader('kill'),
  ownerAndEtcdLeader('partition'),
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
  /** Every fault on this topology (a fault's own `deployment.topology` wins). */
  topology?: Topology;
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
  const notes: Record<string, unknown> = {};
  try {
    d = await deploy({ fencing: o.fencing, testbed: o.testbed, powerPort: o.powerPort, gate: fault.gate, topology: o.topology, ...fault.deployment });
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
      ...d, checker, workload, notes,
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
      // (the status read can take many seconds on a loaded machine: what it shows is as of its start)
      const tAsk = Date.now();
      ownerAfter = await owner().catch(() => undefined);
      const ack = workload.ackedAgainAfter(tStrike + 200);
      const placeOk = fault.expect !== 'move' || (ownerAfter !== undefined && !struck.has(ownerAfter));
      if (ownerAfter && ack !== undefined && placeOk) {
        recoveredAt = Math.max(ack, tAsk - 500);
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
    const finalOwner = await waitFor('set running after heal', owner, 60_000, 500).catch(() => undefined);
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
      if (!finalOwner) {
        // what status showed instead (a set that runs but reads as not running is a finding too)
        const st = await d.setStatus().catch(() => undefined);
        row.reasons.push(`set not running after heal (status: ${st ? `${st.state} on ${st.node ?? '-'}${st.reason ? `: ${st.reason.slice(0, 160)}` : ''}` : 'unreadable'})`);
      }
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
    if (d && (!isSuccess(row) || o.keepLogs)) await keepLogs(d, checker, notes, join(o.resultsDir, 'logs', `${fault.name}${o.fencing ? '' : '-nofence'}-${rep}`));
    await d?.down().catch((e: Error) => process.stderr.write(`teardown: ${e.message}\n`));
  }
  row.durationMs = Date.now() - t0;
  return row;
}

/** A row that is what it should be: passed, or (without fencing) the checker caught the unsafe fault. */
export function isSuccess(r: ScenarioRow): boolean {
  return r.outcome === 'pass' || r.outcome === 'caught';
}

async function keepLogs(d: Deployment, checker: Checker | undefined, notes: Record<string, unknown>, dest: string): Promise<void> {
  await copyHostLogs(d, dest).catch(() => undefined);
  await writeFile(join(dest, 'notes.json'), JSON.stringify(notes, null, 1)).catch(() => undefined);
  await writeFile(join(dest, 'checker.json'), JSON.stringify({ violations: checker?.violations ?? [], observations: checker?.observations ?? [] }, null, 1)).catch(() => undefined);
}
