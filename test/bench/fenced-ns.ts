// Bench part (e): with a fence device, host crash to the floating IP answering from the new host,
// on the namespace testbed (SPEC §8: well under 2 s; keepalived's default 3.1 s and Pacemaker's
// 6.5 s were measured on the same kind of testbed, shared/reference/peers-lab).
//
// The seed deployment without the broker (QM1 = shared disk + floating IP), the testbed's power
// switch as every host's fence device, `leaseTtl: 2s` and `suspectAfter: 1s` (the shortest the
// config allows: two missed keepalives). A UDP responder on every agent host answers with its
// name; a prober in the client host sends to the floating IP every 10 ms. A trial: wait for
// answers from the owner, a random pause (the crash lands anywhere in the keepalive cycle),
// `host.kill()` of the owner (power cut: every process gone, the netns deleted), then the first
// answer from another host ends it. The fenced host is powered on again before the next trial.
// The timeline of each trial comes from the agents' logs and the switch's own record.
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { copyHostLogs, deploy, SET, type Deployment } from '../chaos/lib/deployment.js';
import { installSignalCleanup, type Host } from '../chaos/lib/testbed.js';
import { sleep, waitFor } from '../chaos/lib/exec.js';
import { summarize } from './stats.js';
import { FENCE_POWER_PORT, FENCE_TESTBED, actionsSince, agentLog, allOnline, logLinesSince } from '../chaos/lib/fence-observe.js';

const PORT = 7777;
const probeJs = new URL('./udp-probe.js', import.meta.url).pathname;
/** A trial whose new host does not answer within this is recorded as failed. */
const ANSWER_BOUND_MS = 15_000;

export interface FencedNsOptions {
  trials: number;
  leaseTtl: string;
  fenceMargin: string;
  suspectAfter: string;
  /** A failed trial copies the hosts' logs under here. */
  logsDir: string;
}

/** Milliseconds after the crash at which each step of the takeover was seen (undefined: not seen). */
export interface Timeline {
  /** The claim committed; the device is called next ('fencing' on the fencer). Includes the detection. */
  claimed?: number;
  /** The switch finished the power-off (its own record). */
  poweredOff?: number;
  /** How long the fence agent call took, as the fencer measured it. */
  fenceCallMs?: number;
  /** The fence recorded in etcd ('fenced'). */
  recorded?: number;
  /** The victim's lease revoked. */
  revoked?: number;
  /** The new owner's acquire transaction committed. */
  acquired?: number;
  diskStartBegin?: number;
  diskStartEnd?: number;
  ipStartBegin?: number;
  ipStartEnd?: number;
  /** First answer from the new host at the client. */
  answered?: number;
}

export interface FencedTrial {
  victim: string;
  newOwner?: string;
  fencer?: string;
  why?: string;
  answerMs?: number;
  jitterMs: number;
  timeline: Timeline;
  /** Failed fence attempts of this incident, and the first one's reason. */
  fenceFailures?: number;
  firstFenceFailure?: string;
  error?: string;
}

export interface FencedNsResult {
  options: Omit<FencedNsOptions, 'logsDir'>;
  /** Where the hosts' logs were copied after the first failed trial. */
  logsDir?: string;
  answerMs: number[];
  trials: FencedTrial[];
}

/** The prober's answers as they arrive: who answered last, and the first answer from others after a time. */
class ProbeLog {
  private readonly answers: { atMs: number; host: string }[] = [];
  constructor(readonly child: ChildProcess) {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      const [at, host] = line.split(' ');
      if (at && host) this.answers.push({ atMs: Number(at), host });
      if (this.answers.length > 20_000) this.answers.splice(0, 10_000);
    });
  }

  last(): { atMs: number; host: string } | undefined {
    return this.answers.at(-1);
  }

  firstOtherSince(sinceMs: number, not: string): { atMs: number; host: string } | undefined {
    return this.answers.find((a) => a.atMs >= sinceMs && a.host !== not);
  }
}

async function startResponder(h: Host): Promise<void> {
  await h.spawnDaemon([process.execPath, probeJs, 'respond', h.name, String(PORT)], join(h.stateDir, 'responder.log'));
}

/** Milliseconds after `t0`, or undefined. */
const after = (t0: number, atMs: number | undefined): number | undefined => (atMs === undefined || Number.isNaN(atMs) ? undefined : atMs - t0);

async function timelineOf(d: Deployment, tKill: number, victim: string, newOwner: string, answeredAt: number): Promise<Pick<FencedTrial, 'fencer' | 'why' | 'timeline' | 'fenceFailures' | 'firstFenceFailure'>> {
  const failures = (await logLinesSince(d, 'fence failed', tKill)).filter((l) => l.node === victim);
  const claimed = (await logLinesSince(d, 'fencing', tKill)).find((l) => l.node === victim);
  const fenced = (await logLinesSince(d, 'fenced', tKill)).find((l) => l.node === victim);
  const revoked = (await logLinesSince(d, 'fenced host lease revoked', tKill)).find((l) => l.node === victim);
  const off = d.power?.events.find((e) => e.plug === victim && e.ok && e.at >= tKill);
  const acquired = (await agentLog(d, newOwner)).find((l) => l.msg === 'ownership acquired' && l.set === SET && l.atMs >= tKill);
  const starts = await actionsSince(d, newOwner, tKill, 'start');
  const disk = starts.find((s) => s.resource === 'qm1-data');
  const ip = starts.find((s) => s.resource === 'qm1-ip');
  return {
    fenceFailures: failures.length,
    firstFenceFailure: failures[0] ? `${failures[0].host} +${failures[0].atMs - tKill} ms: ${String(failures[0].reason)}` : undefined,
    fencer: claimed?.host,
    why: claimed ? String(claimed.why) : undefined,
    timeline: {
      claimed: after(tKill, claimed?.atMs),
      poweredOff: after(tKill, off?.at),
      fenceCallMs: fenced ? Number(fenced.durationMs) : undefined,
      recorded: after(tKill, fenced?.atMs),
      revoked: after(tKill, revoked?.atMs),
      acquired: after(tKill, acquired?.atMs),
      diskStartBegin: after(tKill, disk?.beginMs),
      diskStartEnd: after(tKill, disk?.endMs),
      ipStartBegin: after(tKill, ip?.beginMs),
      ipStartEnd: after(tKill, ip?.endMs),
      answered: answeredAt - tKill,
    },
  };
}

async function oneTrial(d: Deployment, probe: ProbeLog, log: (s: string) => void): Promise<FencedTrial> {
  const victimName = await waitFor('QM1 running', () => d.owner(), 30_000, 200);
  const victim = d.tb.host(victimName);
  await allOnline(d);
  await waitFor(`answers from ${victimName}`, () => {
    const a = probe.last();
    return a !== undefined && a.host === victimName && Date.now() - a.atMs < 200;
  }, 15_000, 20);
  // Land the crash anywhere in the keepalive cycle (TTL/4 = 500 ms at leaseTtl 2 s), after the
  // survivors had time to watch the owner's lease.
  const jitterMs = Math.round(500 + Math.random() * 1000);
  await sleep(jitterMs);
  const tKill = Date.now();
  await victim.kill();
  const trial: FencedTrial = { victim: victimName, jitterMs, timeline: {} };
  try {
    const answer = await waitFor('an answer from another host', () => probe.firstOtherSince(tKill, victimName), ANSWER_BOUND_MS, 5);
    trial.answerMs = answer.atMs - tKill;
    trial.newOwner = answer.host;
    // the agents' log lines of the takeover are written by now or very soon after
    await sleep(300);
    Object.assign(trial, await timelineOf(d, tKill, victimName, answer.host, answer.atMs));
  } catch (err) {
    trial.error = (err as Error).message;
  }
  log(`  fenced ns trial: ${victimName} crashed -> ${trial.newOwner ?? '?'} answering ${trial.answerMs ?? 'never'} ms (fenced by ${trial.fencer ?? '?'}, ${trial.why ?? '?'})${trial.firstFenceFailure ? `; ${trial.fenceFailures} failed fence attempt(s), first: ${trial.firstFenceFailure}` : ''}`);
  // power the fenced host on again: its agent rejoins with a new lease, its responder restarts
  if (!(await victim.running())) await victim.start();
  await startResponder(victim);
  return trial;
}

export async function fencedNsTrials(o: FencedNsOptions, log: (s: string) => void): Promise<FencedNsResult> {
  installSignalCleanup();
  const d = await deploy({ fencing: true, brokerless: true, testbed: FENCE_TESTBED, powerPort: FENCE_POWER_PORT, leaseTtl: o.leaseTtl, fenceMargin: o.fenceMargin, suspectAfter: o.suspectAfter });
  const { logsDir: _logs, ...options } = o;
  const result: FencedNsResult = { options, answerMs: [], trials: [] };
  let prober: ChildProcess | undefined;
  try {
    for (const h of d.agents) await startResponder(h);
    prober = d.client.spawnAttached([process.execPath, probeJs, 'probe', d.vip, String(PORT)]);
    const probe = new ProbeLog(prober);
    for (let i = 0; i < o.trials; i++) {
      const t = await oneTrial(d, probe, log).catch((err: Error): FencedTrial => ({ victim: '?', jitterMs: 0, timeline: {}, error: err.message }));
      result.trials.push(t);
      if (t.answerMs !== undefined) result.answerMs.push(t.answerMs);
      if (t.error !== undefined) {
        log(`  fenced ns trial ${i + 1} failed: ${t.error}`);
        result.logsDir ??= await keepLogs(d, o.logsDir);
      }
    }
  } finally {
    prober?.kill('SIGKILL');
    await d.down();
  }
  return result;
}

/** The hosts' logs (agents, boot, console) as they are now, for a failed trial. */
async function keepLogs(d: Deployment, under: string): Promise<string> {
  const dest = join(under, `fenced-ns-logs-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  await copyHostLogs(d, dest).catch(() => undefined);
  return dest;
}

/** Median of each timeline step over the trials that saw it. */
export function medianTimeline(trials: FencedTrial[]): Record<string, number> {
  const out: Record<string, number> = {};
  const keys = new Set(trials.flatMap((t) => Object.keys(t.timeline)));
  for (const k of keys) {
    const xs = trials.map((t) => t.timeline[k as keyof Timeline]).filter((x): x is number => x !== undefined);
    if (xs.length > 0) out[k] = summarize(xs).median;
  }
  return out;
}
