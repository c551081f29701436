// The availability calculator behind `hactl report` (SPEC §1, §7): per service set, from the event
// history alone, how long it ran, how long it was down and why, each outage and how long it took,
// and how much of a yearly downtime budget is left. Pure and deterministic: events in, figures
// out; no clock, no etcd (cli/commands/report.ts reads the history and prints the result).
//
// THE RULES (docs/operations.md "Availability report" repeats them for operators)
//
// Order. Events are taken in order of `atWallMs`, ties broken by their key (which starts with the
// same time, then the node and its sequence number). Each event carries the wall clock of the node
// that wrote it; skew between hosts shifts the figures by that skew.
//
// States of a set. At any moment a set is
//   up        its last `running` event has not been followed by a sign that the instance is gone;
//   down      an outage: planned or unplanned (see below), until the next `running` on any node;
//   new       configured and acquired, but never yet running: the first start after a set is
//             configured is not downtime (the service did not exist before);
//   gone      removed from the configuration (a `stopped` with cause `config-removed`): not
//             downtime;
//   unknown   nothing in the history says: before the set's first event.
// Uptime % = up / (up + planned + unplanned) over the report period; `new`, `gone` and `unknown`
// time is left out of both sides, and reported (unknownMs/excludedMs) so nothing is hidden.
//
// Causes. Every event carries a cause code (agent/core/causes.ts) beside its reason; the rules
// below read the event kind and the cause, never the wording of a reason. Events written before
// cause codes existed have none: their cause is read once from their reason by the wording those
// agents used (legacyCause, below; the only place a reason is read).
//
// What ends an `up` period (only events written by the node the set runs on count, except
// `acquired`, which the taking node writes; a peer stopping a stale copy of the set is not an
// outage):
//   handed-off                                   planned   (switchover: `hactl failover`, move, standby)
//   stopped / released, with a planned cause     planned   (operator-failover, standby, failback,
//                                                           banned, not-preferred, config-changed,
//                                                           disabled, agent-shutdown: systemctl stop or
//                                                           an upgrade without maintenance)
//   stopped / released, any other cause          unplanned (failure, self-fencing, lost lease, ...);
//                                                           a cause not known (or none) counts as unplanned
//   monitor-failed, start-failed, stop-failed    unplanned (a restart in place is an outage too, from
//                                                           the failed monitor to the next `running`)
//   self-fenced                                  unplanned (the owner lost etcd and stopped the set
//                                                           before its lease could expire; written when
//                                                           etcd answered again, with the time it happened)
//   acquired, cause owner-lease-lost             unplanned (node loss). The host died earlier than
//                                                           this: up to leaseTtl before. That part is not
//                                                           recorded, so such an outage is a lower bound
//                                                           (`startIsLowerBound`).
//   acquired, any other cause                    unplanned, with a note: the events that ended the
//                                                           previous run are missing.
// While down, a failure (monitor-failed, start-failed, stop-failed, acquired after a lost lease, or a
// stop/release with a failure cause) turns a planned outage into an unplanned one from that event
// on: the outage keeps its planned part and its unplanned part separately.
// An outage ends at the next `running` event (any node). Outages still open at the end of the
// period are counted up to the end and marked `ongoing`.
// Maintenance mode stops nothing and records no event: time in maintenance counts as up, although
// hactl does not watch the resources then (said in the report's notes when it applies is not
// possible from the history; the docs say it).
//
// Ambiguity is reported, never resolved silently (`notes`):
//   - the history of a set does not begin with `acquired` ("has no owner"): its beginning is
//     missing (trimmed, restored etcd, lost writes); the time before its first event is unknown;
//   - the requested period begins before the first event in the history;
//   - `running` on another node while the set was up elsewhere, with nothing in between: events
//     are missing; no downtime is counted for that gap (it cannot be measured);
//   - an outage that would end before it began (clock skew): counted as 0;
//   - sets that appear in the history but are not configured now;
//   - event kinds this version does not know: ignored, and counted;
//   - cause codes this version does not know (written by a newer one): unplanned, and counted.
//
// The downtime budget. yearlyBudgetMs = (1 - target/100) x 365.25 days (99.99 % -> 52.6 min).
// It is spent by the downtime (planned and unplanned) inside the last year of the report period —
// the whole period when it is shorter than a year, in which case the rest of the year is assumed to
// have no downtime (a note says so). remainingMs may be negative: the budget is exceeded.
// `remainingUnplannedOnlyMs` is the same with planned downtime not charged, for SLAs that exclude
// announced maintenance.

/** An event record as the agents write it (agent/shell/events.ts), with its key for ordering. */
import type { EventRecord } from '../agent/shell/events.js';
import type { KvEntry } from '../agent/etcd/view.js';
import { isCause, type Cause } from '../agent/core/causes.js';

export interface HistoryEvent extends EventRecord {
  /** The etcd key suffix, for stable ordering of events in the same millisecond. */
  key?: string;
}

export interface ReportInput {
  events: HistoryEvent[];
  /** The sets configured now (others in the history are reported with a note). */
  configuredSets: string[];
  /** Start of the report period; null: from the first event in the history. */
  sinceMs: number | null;
  /** End of the report period (usually now). */
  untilMs: number;
  /** Availability target in percent, e.g. 99.99. */
  targetPercent: number;
}

export type DownKind = 'planned' | 'unplanned';

export interface Outage {
  kind: DownKind | 'mixed';
  /** What started it, in words: the event kind, its node and its reason. */
  cause: string;
  /** The cause code of the event that started it; null when it has none this version knows. */
  causeCode: Cause | null;
  startMs: number;
  /** null while ongoing at the end of the period. */
  endMs: number | null;
  ongoing: boolean;
  /** The whole outage (also the parts outside the report period). */
  durationMs: number;
  plannedMs: number;
  unplannedMs: number;
  fromNode: string | null;
  toNode: string | null;
  /** Node loss: the host died before the takeover that reveals it (up to leaseTtl earlier). */
  startIsLowerBound: boolean;
}

export interface SetAvailability {
  set: string;
  configured: boolean;
  /** The state at the end of the period. */
  state: 'up' | 'down' | 'new' | 'gone' | 'unknown';
  node: string | null;
  periodStartMs: number;
  periodEndMs: number;
  upMs: number;
  plannedDownMs: number;
  unplannedDownMs: number;
  /** Time in the period with no information (before the set's first event). */
  unknownMs: number;
  /** Time in the period before the first start, or after removal (not counted either way). */
  excludedMs: number;
  /** null when no time was measured. */
  uptimePercent: number | null;
  /** Whole nines (99.95 % -> 3); null with no downtime (or nothing measured). */
  nines: number | null;
  /** -log10(unavailability), two decimals; null as above. */
  ninesExact: number | null;
  meetsTarget: boolean | null;
  /** Outages that overlap the period, oldest first. */
  outages: Outage[];
  /** Unplanned outages that ended on another node (or have not ended yet). */
  failovers: number;
  /** Unplanned outages that ended on the node they began on: a restart in place, not a failover. */
  restarts: number;
  switchovers: number;
  budget: {
    targetPercent: number;
    yearlyMs: number;
    /** The part of the period the budget is charged for (the last year of it at most). */
    fromMs: number;
    toMs: number;
    spentMs: number;
    remainingMs: number;
    spentUnplannedMs: number;
    remainingUnplannedOnlyMs: number;
  };
  notes: string[];
}

export interface AvailabilityReport {
  periodStartMs: number;
  periodEndMs: number;
  /** The first event in the whole history, or null when it is empty. */
  historyStartMs: number | null;
  targetPercent: number;
  yearlyBudgetMs: number;
  sets: SetAvailability[];
  notes: string[];
}

export const YEAR_MS = 365.25 * 86_400_000;

export function yearlyBudgetMs(targetPercent: number): number {
  return Math.round(((100 - targetPercent) * YEAR_MS) / 100); // whole ms: 99.99 -> 3 155 760 ms
}

// `cleanup` (hactl cleanup) changes no state by itself: the next `running` ends an outage.
// `etcd-lost`, `etcd-resumed` and `events-lost` are about a node, not a set: they explain, `self-fenced` counts.
// `disabled`/`enabled` (hactl disable/enable) are the operator's record; the owner's stop says it too.
const KNOWN = new Set(['node-online', 'acquired', 'running', 'stopped', 'released', 'handed-off', 'start-failed', 'stop-failed', 'monitor-failed', 'self-fenced', 'intent-refused', 'cleanup', 'etcd-lost', 'etcd-resumed', 'events-lost', 'disabled', 'enabled']);

/** Causes of a `stopped`/`released` that make it a planned stop: an operator's or the configuration's doing. */
const PLANNED_CAUSES: ReadonlySet<Cause> = new Set<Cause>(['operator-failover', 'standby', 'failback', 'disabled', 'banned', 'not-preferred', 'config-changed', 'agent-shutdown']);

/**
 * The cause of an event: its code, or — for a record written before cause codes existed — the one
 * its reason's wording implies (legacyCause). null: none this version knows (counted unplanned).
 */
export function causeOf(e: Pick<EventRecord, 'what' | 'cause' | 'reason'>): Cause | null {
  if (e.cause === undefined) return legacyCause(e);
  return isCause(e.cause) ? e.cause : null;
}

// ---- LEGACY: events written before cause codes ------------------------------------------------
// Agents before cause codes wrote only a reason. Such records stay in users' etcd (up to
// events.maxAge), so their reasons are read by the wording those agents used — here and nowhere
// else. Frozen: new events carry their cause; never add a pattern for a new wording.
/** Kinds that name their cause whatever the reason says. */
const LEGACY_KINDS: ReadonlyMap<string, Cause> = new Map<string, Cause>([
  ['monitor-failed', 'monitor-failed'],
  ['start-failed', 'start-failed'],
  ['stop-failed', 'stop-failed'],
  ['self-fenced', 'lease-doubt'],
  ['etcd-lost', 'lease-doubt'],
  ['etcd-resumed', 'lease-sound'],
  ['events-lost', 'events-dropped'],
  ['node-online', 'agent-started'],
  ['running', 'started'],
  ['cleanup', 'operator-cleanup'],
  ['disabled', 'disabled'],
  ['enabled', 'enabled'],
]);
const LEGACY_REASONS: readonly (readonly [RegExp, Cause])[] = [
  [/ was removed from the configuration/, 'config-removed'],
  [/^(?:no etcd lease|etcd lease in doubt)\b/, 'lease-doubt'],
  [/^start of \S+ failed/, 'start-failed'],
  [/^monitor of \S+ failed|^\S+ is not running: \d+ failures within/, 'monitor-failed'],
  [/^\S+ is not running: restarting /, 'resource-not-running'],
  [/ has no owner and \S+ is the best eligible node/, 'no-owner'],
  // Older agents wrote "n2 lost its lease while owning QM1", later ones "n2 lost QM1 without stopping it cleanly".
  [/lost its lease|\blost \S+ without stopping it cleanly/, 'owner-lease-lost'],
  [/planned switchover from/, 'planned-switchover'],
  [/operator requested failover of /, 'operator-failover'],
  [/ is in standby\b/, 'standby'],
  [/^failback: /, 'failback'],
  [/ is disabled \(hactl enable /, 'disabled'],
  [/ is banned for /, 'banned'],
  [/ is not in \S+\.prefer\b/, 'not-preferred'],
  [/^configuration of \S+ changed/, 'config-changed'],
  [/^configuration changed/, 'config-changed'],
  [/^agent on \S+ (?:shutting down|shut down)/, 'agent-shutdown'],
  // A peer stopping a leftover local copy while another node owns the set (not this instance).
  [/ owns \S+ \(token \d+\): stopping local | does not own \S+: stopping local /, 'stale-copy'],
];

/** LEGACY: the cause an old record's kind or reason implies, by the old agents' wording; null: none recognised. */
export function legacyCause(e: Pick<EventRecord, 'what' | 'reason'>): Cause | null {
  return LEGACY_KINDS.get(e.what) ?? LEGACY_REASONS.find(([re]) => re.test(e.reason))?.[1] ?? null;
}

/** LEGACY: true when an old `stopped`/`released` record's reason meant a planned stop. */
export function isPlannedReason(reason: string): boolean {
  const cause = legacyCause({ what: 'stopped', reason });
  return cause !== null && PLANNED_CAUSES.has(cause);
}
// ---- end of LEGACY ----------------------------------------------------------------------------

type State = SetAvailability['state'];

interface Segment {
  fromMs: number;
  toMs: number;
  kind: 'up' | DownKind | 'unknown' | 'excluded';
}

/** The availability of every set over [sinceMs, untilMs]. */
export function computeAvailability(input: ReportInput): AvailabilityReport {
  const events = [...input.events].sort((a, b) => a.atWallMs - b.atWallMs || (a.key ?? '').localeCompare(b.key ?? ''));
  const historyStartMs = events.length > 0 ? events[0].atWallMs : null;
  const periodStartMs = input.sinceMs ?? historyStartMs ?? input.untilMs;
  const periodEndMs = input.untilMs;
  const notes: string[] = [];
  if (input.sinceMs !== null && historyStartMs !== null && input.sinceMs < historyStartMs) {
    notes.push(`the history begins at ${iso(historyStartMs)}, after the start of the requested period (${iso(input.sinceMs)}); the time before it is not counted`);
  }
  if (historyStartMs === null) notes.push('the event history is empty: nothing can be measured');
  const unknownKinds = new Map<string, number>();
  for (const e of events) if (!KNOWN.has(e.what)) unknownKinds.set(e.what, (unknownKinds.get(e.what) ?? 0) + 1);
  if (unknownKinds.size > 0) {
    notes.push(`ignored events of kinds this version does not know: ${[...unknownKinds].map(([k, n]) => `${k} (${n})`).join(', ')}`);
  }
  const unknownCauses = new Map<string, number>();
  for (const e of events) if (e.cause !== undefined && !isCause(e.cause)) unknownCauses.set(String(e.cause), (unknownCauses.get(String(e.cause)) ?? 0) + 1);
  if (unknownCauses.size > 0) {
    notes.push(`cause codes this version does not know, counted as unplanned: ${[...unknownCauses].map(([c, n]) => `${c} (${n})`).join(', ')}`);
  }
  const names = new Set<string>(input.configuredSets);
  for (const e of events) if (e.set) names.add(e.set);
  const sets = [...names].sort().map((name) =>
    setAvailability(
      name,
      events.filter((e) => e.set === name && e.atWallMs <= periodEndMs),
      input.configuredSets.includes(name),
      periodStartMs,
      periodEndMs,
      input.targetPercent,
    ),
  );
  if (periodEndMs - periodStartMs < YEAR_MS && historyStartMs !== null) {
    notes.push(`the downtime budget is charged with the downtime of the ${fmt(periodEndMs - periodStartMs)} reported; the rest of the year is assumed to have none`);
  }
  return { periodStartMs, periodEndMs, historyStartMs, targetPercent: input.targetPercent, yearlyBudgetMs: yearlyBudgetMs(input.targetPercent), sets, notes };
}

function setAvailability(name: string, events: HistoryEvent[], configured: boolean, periodStartMs: number, periodEndMs: number, targetPercent: number): SetAvailability {
  const notes: string[] = [];
  const segments: Segment[] = [];
  const outages: Outage[] = [];
  let state = 'unknown' as State;
  let node: string | null = null;
  let since = -Infinity;
  let open = null as (Outage & { segFromMs: number; current: DownKind }) | null;

  const segKind = (): Segment['kind'] => (state === 'up' ? 'up' : state === 'down' ? open!.current : state === 'unknown' ? 'unknown' : 'excluded');
  const enter = (next: State, at: number): void => {
    segments.push({ fromMs: since, toMs: at, kind: segKind() });
    state = next;
    since = at;
  };
  const openOutage = (kind: DownKind, e: HistoryEvent, lowerBound: boolean): void => {
    segments.push({ fromMs: since, toMs: e.atWallMs, kind: segKind() });
    open = { kind, cause: `${e.what} on ${e.node}: ${e.reason}`, causeCode: causeOf(e), startMs: e.atWallMs, endMs: null, ongoing: true, durationMs: 0, plannedMs: 0, unplannedMs: 0, fromNode: state === 'up' ? node : null, toNode: null, startIsLowerBound: lowerBound, segFromMs: e.atWallMs, current: kind };
    state = 'down';
    since = e.atWallMs;
  };
  const escalate = (at: number): void => {
    if (!open || open.current === 'unplanned') return;
    segments.push({ fromMs: since, toMs: at, kind: 'planned' });
    open.plannedMs += Math.max(0, at - open.segFromMs);
    open.segFromMs = at;
    open.current = 'unplanned';
    open.kind = 'mixed';
    since = at;
  };
  const closeOutage = (at: number, toNode: string | null, ongoing: boolean): void => {
    if (!open) return;
    const part = at - open.segFromMs;
    if (part < 0) notes.push(`an outage of ${name} begun at ${iso(open.startMs)} ends at ${iso(at)}, earlier (clock skew between hosts?); counted as 0`);
    if (open.current === 'planned') open.plannedMs += Math.max(0, part);
    else open.unplannedMs += Math.max(0, part);
    const { segFromMs: _s, current: _c, ...outage } = open;
    outages.push({ ...outage, endMs: ongoing ? null : at, ongoing, toNode, durationMs: outage.plannedMs + outage.unplannedMs });
    open = null;
  };

  if (events.length === 0) {
    notes.push(`no events for ${name} in the history: its availability cannot be measured`);
  } else {
    const first = events[0];
    const cause = causeOf(first);
    if (!(first.what === 'acquired' && cause !== 'owner-lease-lost' && cause !== 'planned-switchover')) {
      notes.push(`the history of ${name} begins with "${first.what}" on ${first.node} at ${iso(first.atWallMs)}, not with its first acquisition: earlier events are missing, the state before then is unknown and not counted`);
    }
  }

  for (const e of events) {
    const t = e.atWallMs;
    const fromUpNode = state === 'up' && e.node === node;
    const cause = causeOf(e);
    switch (e.what) {
      case 'running': {
        if (state === 'down') {
          enter('up', t);
          closeOutage(t, e.node, false);
        } else if (state === 'up') {
          if (node !== e.node) notes.push(`${name} was recorded running on ${node} and then on ${e.node} at ${iso(t)} with no event in between: events are missing; no downtime could be measured for that change`);
        } else {
          enter('up', t);
        }
        node = e.node;
        break;
      }
      case 'acquired': {
        const lost = cause === 'owner-lease-lost';
        if (state === 'up') {
          if (lost) openOutage('unplanned', e, true);
          else if (cause === 'planned-switchover') openOutage('planned', e, false);
          else {
            notes.push(`${name} was acquired by ${e.node} at ${iso(t)} while recorded running on ${node}, with no event saying why it stopped there: events are missing; counted as unplanned downtime from the acquisition`);
            openOutage('unplanned', e, true);
          }
        } else if (state === 'down') {
          if (lost) escalate(t);
        } else if (state === 'unknown') {
          if (lost) {
            openOutage('unplanned', e, true);
          } else if (cause === 'planned-switchover') {
            openOutage('planned', e, true);
          } else {
            enter('new', t);
          }
        } else if (state === 'gone') {
          enter('new', t);
        }
        break;
      }
      case 'stopped':
      case 'released':
      case 'handed-off': {
        const removed = e.what === 'stopped' && cause === 'config-removed';
        const planned = e.what === 'handed-off' || (cause !== null && PLANNED_CAUSES.has(cause));
        if (state === 'up') {
          if (!fromUpNode) break; // a peer stopping a stale copy: not this instance
          if (removed) {
            enter('gone', t);
            node = null;
          } else openOutage(planned ? 'planned' : 'unplanned', e, false);
        } else if (state === 'down') {
          if (removed) {
            enter('gone', t);
            closeOutage(t, null, false);
          } else if (!planned && cause !== 'stale-copy') escalate(t);
        } else if (state === 'unknown') {
          if (removed) enter('gone', t);
          else openOutage(planned ? 'planned' : 'unplanned', e, true);
        }
        break;
      }
      case 'monitor-failed':
      case 'start-failed':
      case 'stop-failed':
      case 'self-fenced': {
        if (state === 'up') {
          if (fromUpNode) openOutage('unplanned', e, false);
        } else if (state === 'down') escalate(t);
        else if (state === 'unknown') openOutage('unplanned', e, true);
        break;
      }
      default:
        break; // node-online, intent-refused, unknown kinds
    }
  }
  if (open) {
    const o = open as Outage & { segFromMs: number; current: DownKind };
    segments.push({ fromMs: since, toMs: periodEndMs, kind: o.current });
    closeOutage(periodEndMs, null, true);
  } else {
    segments.push({ fromMs: since, toMs: periodEndMs, kind: segKind() });
  }

  // Sum over the period.
  const sum = (kind: Segment['kind'], from = periodStartMs, to = periodEndMs): number =>
    segments.filter((s) => s.kind === kind).reduce((acc, s) => acc + Math.max(0, Math.min(s.toMs, to) - Math.max(s.fromMs, from)), 0);
  const upMs = sum('up');
  const plannedDownMs = sum('planned');
  const unplannedDownMs = sum('unplanned');
  const unknownMs = sum('unknown');
  const excludedMs = sum('excluded');
  const measured = upMs + plannedDownMs + unplannedDownMs;
  const uptime = measured > 0 ? upMs / measured : null;
  const down = plannedDownMs + unplannedDownMs;
  const ninesExact = uptime !== null && down > 0 ? -Math.log10(1 - uptime) : null;
  if (unknownMs > 0 && events.length > 0) notes.push(`${fmt(unknownMs)} of the period has no information for ${name} and is not counted`);

  const inPeriod = outages.filter((o) => (o.endMs ?? periodEndMs) >= periodStartMs && o.startMs <= periodEndMs);
  for (const o of inPeriod) {
    if (o.startMs < periodStartMs) notes.push(`the outage of ${name} from ${iso(o.startMs)} began before the period; only its part inside is counted in the totals`);
    if (o.ongoing) notes.push(`${name} is still down at the end of the period (since ${iso(o.startMs)}): counted up to the end`);
    if (o.startIsLowerBound && o.causeCode === 'owner-lease-lost') notes.push(`the node-loss outage of ${name} at ${iso(o.startMs)} is counted from the takeover; the host failed up to leaseTtl earlier (not recorded)`);
  }

  const budgetFrom = Math.max(periodStartMs, periodEndMs - YEAR_MS);
  const yearly = yearlyBudgetMs(targetPercent);
  const spentUnplanned = sum('unplanned', budgetFrom);
  const spent = sum('planned', budgetFrom) + spentUnplanned;

  return {
    set: name,
    configured,
    state,
    node: state === 'up' ? node : null,
    periodStartMs,
    periodEndMs,
    upMs,
    plannedDownMs,
    unplannedDownMs,
    unknownMs,
    excludedMs,
    uptimePercent: uptime === null ? null : uptime * 100,
    nines: ninesExact === null ? null : Math.floor(ninesExact + 1e-9),
    ninesExact: ninesExact === null ? null : Math.floor(ninesExact * 100 + 1e-7) / 100,
    meetsTarget: uptime === null ? null : uptime * 100 >= targetPercent,
    outages: inPeriod,
    failovers: inPeriod.filter((o) => o.kind !== 'planned' && !restartedInPlace(o)).length,
    restarts: inPeriod.filter((o) => o.kind !== 'planned' && restartedInPlace(o)).length,
    switchovers: inPeriod.filter((o) => o.kind === 'planned').length,
    budget: {
      targetPercent,
      yearlyMs: yearly,
      fromMs: budgetFrom,
      toMs: periodEndMs,
      spentMs: spent,
      remainingMs: yearly - spent,
      spentUnplannedMs: spentUnplanned,
      remainingUnplannedOnlyMs: yearly - spentUnplanned,
    },
    notes: configured ? notes : [`${name} is in the history but not in the current configuration`, ...notes],
  };
}

/** The set came back on the node it went down on. */
function restartedInPlace(o: Outage): boolean {
  return o.fromNode !== null && o.toNode === o.fromNode;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** "1h2m3s", "52.6m"-style short durations for notes and tables. */
export function fmt(ms: number): string {
  const neg = ms < 0;
  const a = Math.abs(ms);
  let text: string;
  if (a < 1000) text = `${Math.round(a)}ms`;
  else if (a < 60_000) text = `${(Math.round(a / 100) / 10).toString()}s`;
  else if (a < 3_600_000) text = `${Math.floor(a / 60_000)}m${(Math.round((a % 60_000) / 100) / 10).toString()}s`;
  else if (a < 86_400_000) text = `${Math.floor(a / 3_600_000)}h${Math.floor((a % 3_600_000) / 60_000)}m`;
  else text = `${Math.floor(a / 86_400_000)}d${Math.floor((a % 86_400_000) / 3_600_000)}h`;
  return neg ? `-${text}` : text;
}

/** The event history from the cluster's keys, oldest first; unreadable records are counted. */
export function historyFromKvs(kvs: ReadonlyMap<string, KvEntry>, eventsPrefix: string): { events: HistoryEvent[]; unreadable: number } {
  const events: HistoryEvent[] = [];
  let unreadable = 0;
  for (const [key, kv] of kvs) {
    if (!key.startsWith(eventsPrefix)) continue;
    try {
      const e = JSON.parse(kv.value) as HistoryEvent;
      if (typeof e.atWallMs !== 'number' || typeof e.what !== 'string') throw new Error('shape');
      events.push({ ...e, reason: String(e.reason ?? ''), node: String(e.node ?? ''), key: key.slice(eventsPrefix.length) });
    } catch {
      unreadable++;
    }
  }
  events.sort((a, b) => a.atWallMs - b.atWallMs || (a.key ?? '').localeCompare(b.key ?? ''));
  return { events, unreadable };
}
