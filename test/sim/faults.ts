// The nemesis of the safety phase: a seeded schedule of faults at random moments. Each fault is a
// small function of the world; each one undoes itself after a drawn duration (restarts, thaws,
// heals), so the cluster keeps moving between faults. Faults are drawn when they fire, so the
// schedule adapts to the state (e.g. crash a host that currently owns something).
import type { World } from './world.js';

type Fault = (w: World) => void;

const ttlMs = (w: World): number => w.config.timing.leaseTtl;

const pickHost = (w: World) => w.prng.pick(w.hosts);
/** Prefer a host that runs something, to make faults bite. */
const pickBusyHost = (w: World) => {
  const busy = w.hosts.filter((h) => h.activeSets().length > 0);
  return busy.length > 0 && w.prng.chance(0.8) ? w.prng.pick(busy) : pickHost(w);
};

const FAULTS: [number, string, Fault][] = [
  [3, 'host crash', (w) => {
    const h = pickBusyHost(w);
    h.powerOff('crash');
    w.sched.after(w.prng.range(500, 4 * ttlMs(w)), () => h.powerOn());
  }],
  [3, 'agent crash', (w) => {
    const h = pickBusyHost(w);
    h.crashAgent();
    // Within the TTL (it resumes its lease and adopts its sets) or after it.
    w.sched.after(w.prng.chance(0.5) ? w.prng.range(100, ttlMs(w) * 0.7) : w.prng.range(ttlMs(w), 3 * ttlMs(w)), () => h.startAgent());
  }],
  [3, 'pause', (w) => {
    const h = pickBusyHost(w);
    h.pause();
    w.sched.after(w.prng.chance(0.5) ? w.prng.range(50, ttlMs(w)) : w.prng.range(ttlMs(w), 3 * ttlMs(w)), () => h.resume());
  }],
  [2, 'pause in flight', (w) => {
    // A GC or VM pause right after a keepalive left: its answer is handled only after the thaw.
    // Validity counted from the answer's handling would claim the whole pause (the classic bug).
    const h = pickBusyHost(w);
    h.pauseOnKeepaliveMs = w.prng.range(ttlMs(w), 3 * ttlMs(w));
    w.trace('nemesis', `${h.name} freezes right after its next keepalive`);
  }],
  [4, 'partition', (w) => {
    const h = pickBusyHost(w);
    w.net.cut(h.name);
    w.trace('nemesis', `partition ${h.name} from etcd`);
    w.sched.after(w.prng.range(200, 3 * ttlMs(w)), () => {
      w.net.heal(h.name);
      w.trace('nemesis', `heal ${h.name}`);
    });
  }],
  [1, 'swizzle-clog', (w) => {
    const subset = w.hosts.filter(() => w.prng.chance(0.5));
    let t = 0;
    for (const h of subset) w.sched.after((t += w.prng.range(100, 1000)), () => w.faultsOn && (w.net.cut(h.name), w.trace('nemesis', `clog ${h.name}`)));
    const order = [...subset].sort(() => w.prng.float() - 0.5);
    for (const h of order) w.sched.after((t += w.prng.range(100, 1500)), () => (w.net.heal(h.name), w.trace('nemesis', `unclog ${h.name}`)));
  }],
  [2, 'lost replies', (w) => {
    w.net.replyLossRate = w.prng.range(0.1, 0.5);
    w.trace('nemesis', `replies lost at rate ${w.net.replyLossRate.toFixed(2)}`);
    w.sched.after(w.prng.range(1000, 5000), () => (w.net.replyLossRate = 0));
  }],
  [1, 'slow network', (w) => {
    w.net.slowRate = w.prng.range(0.1, 0.4);
    w.trace('nemesis', 'slow network');
    w.sched.after(w.prng.range(1000, 5000), () => (w.net.slowRate = 0));
  }],
  [2, 'watch lag', (w) => {
    const h = pickHost(w);
    w.lagMs.set(h.name, w.prng.range(300, 2 * ttlMs(w)));
    w.trace('nemesis', `watch lag of ${h.name} now ${Math.round(w.lagMs.get(h.name)!)}ms`);
    w.sched.after(w.prng.range(1000, 8000), () => w.lagMs.set(h.name, w.prng.range(0.5, 5)));
  }],
  [1, 'etcd leader change', (w) => {
    w.etcd.leaderChange();
    w.trace('nemesis', 'etcd leader change: every lease renewed for a full TTL');
  }],
  [3, 'resource dies', (w) => {
    const h = pickBusyHost(w);
    const sets = h.activeSets();
    if (sets.length === 0) return;
    const set = w.prng.pick(sets);
    h.crashResource(set, w.prng.int(0, w.config.serviceSets[set].resources.length - 1));
  }],
  [2, 'failover intent', (w) => {
    const set = w.prng.pick(Object.keys(w.config.serviceSets));
    const to = w.prng.chance(0.7) ? pickHost(w).name : undefined;
    w.operatorPut(w.keys.failoverIntent(set), to ? { to } : {});
  }],
  [1, 'standby', (w) => {
    const h = pickHost(w);
    w.operatorPut(w.keys.standby(h.name), {});
    w.sched.after(w.prng.range(2000, 10000), () => w.operatorDelete(w.keys.standby(h.name)));
  }],
  [1, 'ban', (w) => {
    const set = w.prng.pick(Object.keys(w.config.serviceSets));
    const h = pickHost(w);
    w.operatorPut(w.keys.ban(set, h.name), { untilWallMs: h.wallMs() + w.prng.range(2000, 15000), reason: 'operator ban' });
  }],
  [1, 'maintenance', (w) => {
    const set = w.prng.chance(0.5) ? w.prng.pick(Object.keys(w.config.serviceSets)) : undefined;
    w.operatorPut(w.keys.maintenance(set), {});
    w.sched.after(w.prng.range(500, 5000), () => w.operatorDelete(w.keys.maintenance(set)));
  }],
];

const TOTAL_WEIGHT = FAULTS.reduce((s, [weight]) => s + weight, 0);

function drawFault(w: World): [string, Fault] {
  let x = w.prng.float() * TOTAL_WEIGHT;
  for (const [weight, name, fault] of FAULTS) {
    if ((x -= weight) < 0) return [name, fault];
  }
  return [FAULTS[0][1], FAULTS[0][2]];
}

/** Faults every 0.5–4 s from the first few seconds until the end of the safety phase. */
export function scheduleFaults(w: World, untilMs: number): void {
  const next = (): void => {
    if (!w.faultsOn || w.sched.nowMs >= untilMs - 1000) return;
    const [name, fault] = drawFault(w);
    w.trace('nemesis', name);
    fault(w);
    w.sched.after(w.prng.range(500, 4000), next);
  };
  w.sched.after(w.prng.range(2000, 6000), next);
}
