// The availability calculator (cli/availability.ts): constructed event histories with known
// outages, and the exact figures they must give.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeAvailability, isPlannedReason, yearlyBudgetMs, YEAR_MS, type HistoryEvent } from '../../cli/availability.js';
import { percent, parseTarget, parseTimeArg } from '../../cli/commands/report.js';
import type { Cause } from '../../agent/core/causes.js';

const T0 = Date.UTC(2025, 0, 1);
const S = 1000;
const H = 3_600_000;
const D = 86_400_000;

let seq = 0;
function ev(at: number, node: string, what: string, reason = '', set = 'QM1'): HistoryEvent {
  return { atWallMs: at, node, set, what, reason, key: `${String(at).padStart(15, '0')}-${node}-${String(seq++).padStart(6, '0')}` };
}
const first = (at: number, node = 'n1'): HistoryEvent[] => [
  ev(at, node, 'acquired', `QM1 has no owner and ${node} is the best eligible node`),
  ev(at + S, node, 'running', `QM1 running on ${node}`),
];

test('a day with a restart in place, a planned switchover and a node loss', () => {
  const events = [
    { atWallMs: T0 - 5, node: 'n1', what: 'node-online', reason: 'n1 joined with lease 1' },
    ...first(T0),
    ev(T0 + 1 * H, 'n1', 'monitor-failed', 'qm1 failed its monitor (rc=7): restarting in place'),
    ev(T0 + 1 * H + 5 * S, 'n1', 'running', 'QM1 running on n1'),
    ev(T0 + 2 * H, 'n1', 'stopped', 'operator requested failover of QM1: planned switchover to n2, stopping qm1-data'),
    ev(T0 + 2 * H + 100, 'n1', 'handed-off', 'operator requested failover of QM1: planned switchover to n2, releasing QM1'),
    ev(T0 + 2 * H + 200, 'n2', 'acquired', 'planned switchover from n1: taking QM1'),
    ev(T0 + 2 * H + 3 * S, 'n2', 'running', 'QM1 running on n2'),
    ev(T0 + 5 * H, 'n3', 'acquired', 'n2 lost its lease while owning QM1: taking over'),
    ev(T0 + 5 * H + 2500, 'n3', 'running', 'QM1 running on n3'),
  ];
  const r = computeAvailability({ events, configuredSets: ['QM1'], sinceMs: T0, untilMs: T0 + D, targetPercent: 99.99 });
  assert.equal(r.sets.length, 1);
  const s = r.sets[0];
  assert.equal(s.state, 'up');
  assert.equal(s.node, 'n3');
  assert.equal(s.excludedMs, 1000, 'the first start is not downtime');
  assert.equal(s.unknownMs, 0);
  assert.equal(s.plannedDownMs, 3000);
  assert.equal(s.unplannedDownMs, 7500);
  assert.equal(s.upMs, D - 1000 - 10_500);
  assert.equal(s.uptimePercent, ((D - 11_500) / (D - 1000)) * 100);
  assert.equal(percent(s.uptimePercent), '99.9878%');
  assert.equal(s.nines, 3);
  assert.equal(s.ninesExact, 3.91);
  assert.equal(s.meetsTarget, false);
  // The restart in place (n1 -> n1) is an outage but not a failover (issue 17): the node loss is.
  assert.equal(s.failovers, 1);
  assert.equal(s.restarts, 1);
  assert.equal(s.switchovers, 1);
  assert.deepEqual(
    s.outages.map((o) => [o.kind, o.startMs - T0, o.durationMs, o.fromNode, o.toNode, o.startIsLowerBound]),
    [
      ['unplanned', 1 * H, 5000, 'n1', 'n1', false],
      ['planned', 2 * H, 3000, 'n1', 'n2', false],
      ['unplanned', 5 * H, 2500, 'n2', 'n3', true],
    ],
  );
  assert.equal(s.budget.yearlyMs, 3_155_760);
  assert.equal(Math.round((s.budget.yearlyMs / 60_000) * 10) / 10, 52.6);
  assert.equal(s.budget.spentMs, 10_500);
  assert.equal(s.budget.remainingMs, 3_155_760 - 10_500);
  assert.equal(s.budget.spentUnplannedMs, 7500);
  assert.equal(s.budget.remainingUnplannedOnlyMs, 3_155_760 - 7500);
  assert.ok(s.notes.some((n) => /node-loss outage .* counted from the takeover/.test(n)), s.notes.join('\n'));
  assert.ok(r.notes.some((n) => /rest of the year is assumed to have none/.test(n)));
});

test('a planned switchover whose target fails to start becomes unplanned from the failure on', () => {
  const t = T0 + H;
  const events = [
    ...first(T0),
    ev(t, 'n1', 'stopped', 'operator requested failover of QM1: planned switchover to n2, stopping qm1-data'),
    ev(t + 500, 'n1', 'handed-off', 'operator requested failover of QM1: planned switchover to n2, releasing QM1'),
    ev(t + 600, 'n2', 'acquired', 'planned switchover from n1: taking QM1'),
    ev(t + 2500, 'n2', 'start-failed', 'start of qm1 failed (rc=5: not installed)'),
    ev(t + 3000, 'n2', 'released', 'start of qm1 failed (rc=5: not installed): releasing QM1 so another node can run it'),
    ev(t + 3100, 'n3', 'acquired', 'QM1 has no owner and n3 is the best eligible node'),
    ev(t + 6500, 'n3', 'running', 'QM1 running on n3'),
  ];
  const s = computeAvailability({ events, configuredSets: ['QM1'], sinceMs: T0 + S, untilMs: T0 + 2 * H, targetPercent: 99.9 }).sets[0];
  assert.equal(s.outages.length, 1);
  const o = s.outages[0];
  assert.equal(o.kind, 'mixed');
  assert.equal(o.plannedMs, 2500);
  assert.equal(o.unplannedMs, 4000);
  assert.equal(o.durationMs, 6500);
  assert.equal(o.fromNode, 'n1');
  assert.equal(o.toNode, 'n3');
  assert.equal(s.plannedDownMs, 2500);
  assert.equal(s.unplannedDownMs, 4000);
  assert.equal(s.failovers, 1, 'a mixed outage counts as a failover');
  assert.equal(s.switchovers, 0);
  assert.equal(s.upMs, 2 * H - S - 6500);
});

test('a peer stopping a stale copy is not an outage; the agent shutting down is planned', () => {
  const events = [
    ...first(T0, 'n2'),
    ev(T0 + 10 * S, 'n1', 'stopped', 'n2 owns QM1 (token 7): stopping local qm1'),
    ev(T0 + 20 * S, 'n2', 'stopped', 'agent on n2 shutting down'),
    ev(T0 + 21 * S, 'n1', 'acquired', 'QM1 has no owner and n1 is the best eligible node'),
    ev(T0 + 24 * S, 'n1', 'running', 'QM1 running on n1'),
  ];
  const s = computeAvailability({ events, configuredSets: ['QM1'], sinceMs: null, untilMs: T0 + 60 * S, targetPercent: 99.99 }).sets[0];
  assert.equal(s.periodStartMs, T0, 'without --since the period starts with the history');
  assert.equal(s.outages.length, 1);
  assert.equal(s.outages[0].kind, 'planned');
  assert.equal(s.outages[0].durationMs, 4000);
  assert.equal(s.plannedDownMs, 4000);
  assert.equal(s.unplannedDownMs, 0);
  assert.equal(s.upMs, 60 * S - S - 4000);
});

test('a self-fencing owner still down at the end: an ongoing unplanned outage', () => {
  const until = T0 + H;
  const events = [...first(T0), ev(until - 10 * S, 'n1', 'stopped', 'etcd lease in doubt (valid 700ms more, fenceMargin 800ms): self-fencing, stopping qm1')];
  const s = computeAvailability({ events, configuredSets: ['QM1'], sinceMs: T0, untilMs: until, targetPercent: 99.99 }).sets[0];
  assert.equal(s.state, 'down');
  assert.equal(s.unplannedDownMs, 10_000);
  assert.equal(s.outages[0].ongoing, true);
  assert.equal(s.outages[0].endMs, null);
  assert.equal(s.outages[0].durationMs, 10_000);
  assert.ok(s.notes.some((n) => /still down at the end/.test(n)));
});

test('a trimmed history: the time before the first event is unknown, not up, and said so', () => {
  const events = [ev(T0 + H, 'n1', 'running', 'QM1 running on n1')];
  const r = computeAvailability({ events, configuredSets: ['QM1', 'QM2'], sinceMs: T0, untilMs: T0 + 2 * H, targetPercent: 99.99 });
  const s = r.sets.find((x) => x.set === 'QM1')!;
  assert.equal(s.unknownMs, H);
  assert.equal(s.upMs, H);
  assert.equal(s.uptimePercent, 100);
  assert.equal(s.nines, null);
  assert.equal(s.meetsTarget, true);
  assert.ok(s.notes.some((n) => /begins with "running" .* earlier events are missing/.test(n)), s.notes.join('\n'));
  assert.ok(r.notes.some((n) => /history begins at .* after the start of the requested period/.test(n)));
  const q2 = r.sets.find((x) => x.set === 'QM2')!;
  assert.equal(q2.uptimePercent, null);
  assert.equal(q2.state, 'unknown');
  assert.ok(q2.notes.some((n) => /no events for QM2/.test(n)));
});

test('--since cutting an outage counts only its part inside the period, and says so', () => {
  const events = [...first(T0), ev(T0 + H, 'n1', 'monitor-failed', 'qm1 failed'), ev(T0 + H + 10 * S, 'n1', 'running', 'QM1 running on n1')];
  const s = computeAvailability({ events, configuredSets: ['QM1'], sinceMs: T0 + H + 4 * S, untilMs: T0 + 2 * H, targetPercent: 99.99 }).sets[0];
  assert.equal(s.unplannedDownMs, 6000);
  assert.equal(s.outages[0].durationMs, 10_000, 'the outage itself is reported whole');
  assert.equal(s.upMs, H - 10 * S);
  assert.ok(s.notes.some((n) => /began before the period/.test(n)));
});

test('budget: exceeded within a day; over a longer period only the last year is charged', () => {
  const events = [...first(T0), ev(T0 + H, 'n1', 'monitor-failed', 'qm1 failed'), ev(T0 + 2 * H, 'n1', 'running', 'QM1 running on n1')];
  const day = computeAvailability({ events, configuredSets: ['QM1'], sinceMs: T0 + S, untilMs: T0 + D + S, targetPercent: 99.99 }).sets[0];
  assert.equal(day.unplannedDownMs, H);
  assert.equal(day.budget.remainingMs, 3_155_760 - H);
  assert.ok(day.budget.remainingMs < 0);
  assert.equal(day.uptimePercent, (23 / 24) * 100);
  assert.equal(day.nines, 1);
  const later = T0 + 2 * YEAR_MS;
  const twoYears = computeAvailability({ events, configuredSets: ['QM1'], sinceMs: T0 + S, untilMs: later, targetPercent: 99.99 }).sets[0];
  assert.equal(twoYears.unplannedDownMs, H, 'the period counts the outage');
  assert.equal(twoYears.budget.fromMs, later - YEAR_MS);
  assert.equal(twoYears.budget.spentMs, 0, 'the budget only the last year');
  assert.equal(twoYears.budget.remainingMs, 3_155_760);
});

test('removal from the configuration is not downtime; missing events are reported', () => {
  const events = [
    ...first(T0),
    ev(T0 + 10 * S, 'n2', 'running', 'QM1 running on n2'),
    ev(T0 + 20 * S, 'n2', 'stopped', 'QM1 was removed from the configuration: stopping it'),
  ];
  const s = computeAvailability({ events, configuredSets: [], sinceMs: T0, untilMs: T0 + 60 * S, targetPercent: 99.99 }).sets[0];
  assert.equal(s.configured, false);
  assert.equal(s.state, 'gone');
  assert.equal(s.upMs, 19_000);
  assert.equal(s.excludedMs, 41_000);
  assert.equal(s.outages.length, 0);
  assert.ok(s.notes[0].includes('not in the current configuration'));
  assert.ok(s.notes.some((n) => /running on n1 and then on n2 .* events are missing/.test(n)));
});

test('reasons, targets and times', () => {
  assert.equal(isPlannedReason('n1 is in standby: planned switchover to n2, stopping qm1'), true);
  assert.equal(isPlannedReason('failback: n1 is preferred over n2: planned switchover to n1, releasing QM1'), true);
  assert.equal(isPlannedReason('configuration of QM1 changed: stopping it to apply the new one'), true);
  assert.equal(isPlannedReason('QM1 is disabled (hactl enable QM1 starts it again): stopping qm1'), true, 'hactl disable is a planned stop');
  assert.equal(isPlannedReason('start of qm1 failed (rc=1): stopping QM1 to move it'), false);
  assert.equal(isPlannedReason('no etcd lease: self-fencing, stopping qm1'), false);
  assert.equal(isPlannedReason('something new'), false, 'unknown reasons count as unplanned');
  assert.equal(Math.round(yearlyBudgetMs(99.99) / 6000) / 10, 52.6);
  assert.equal(yearlyBudgetMs(99.9), 31_557_600);
  assert.equal(parseTarget(undefined), 99.99);
  assert.equal(parseTarget('99.95%'), 99.95);
  assert.throws(() => parseTarget('100'));
  assert.throws(() => parseTarget('abc'));
  const now = T0 + D;
  assert.equal(parseTimeArg('--since', '12h', now), now - 12 * H);
  assert.equal(parseTimeArg('--since', '2025-01-01T00:00:00Z', now), T0);
  assert.equal(parseTimeArg('--since', String(T0), now), T0);
  assert.throws(() => parseTimeArg('--since', 'yesterday', now));
  assert.equal(percent(99.99999), '99.9999%');
  assert.equal(percent(null), 'n/a');
});

test('a takeover in the agents\' current wording ("lost QM1 without stopping it cleanly") is a node loss, not missing events', () => {
  const events = [
    ...first(T0),
    ev(T0 + H, 'n2', 'acquired', 'n1 lost QM1 without stopping it cleanly: taking over'),
    ev(T0 + H + 4 * S, 'n2', 'running', 'QM1 running on n2'),
  ];
  const s = computeAvailability({ events, configuredSets: ['QM1'], sinceMs: T0, untilMs: T0 + 2 * H, targetPercent: 99.99 }).sets[0];
  assert.deepEqual(s.outages.map((o) => [o.kind, o.durationMs, o.fromNode, o.toNode, o.startIsLowerBound]), [['unplanned', 4 * S, 'n1', 'n2', true]]);
  assert.ok(!s.notes.some((n) => /events are missing/.test(n)), s.notes.join('\n'));
  assert.ok(s.notes.some((n) => /node-loss outage .* counted from the takeover/.test(n)), `the lower bound is said for this wording too:\n${s.notes.join('\n')}`);
});

test('an etcd outage: the self-fenced time is unplanned downtime; the node events explain, they count nothing', () => {
  const events = [
    ...first(T0),
    { atWallMs: T0 + H, node: 'n1', what: 'etcd-lost', reason: 'n1 has had no lease renewal from etcd for 1200 ms: self-fencing' },
    ev(T0 + H, 'n1', 'self-fenced', 'n1 lost etcd: stopping QM1 before its lease can expire'),
    ev(T0 + H + 300, 'n1', 'stopped', 'etcd lease in doubt (valid 0ms more, fenceMargin 800ms): self-fencing, stopping qm1-r1'),
    { atWallMs: T0 + H + 48 * S, node: 'n1', what: 'etcd-resumed', reason: 'n1 has a sound lease again after 48 s' },
    ev(T0 + H + 50 * S, 'n1', 'running', 'QM1 running on n1'),
  ];
  const r = computeAvailability({ events, configuredSets: ['QM1'], sinceMs: T0, untilMs: T0 + D, targetPercent: 99.99 });
  const s = r.sets[0];
  assert.equal(s.unplannedDownMs, 50 * S);
  assert.equal(s.plannedDownMs, 0);
  assert.deepEqual(s.outages.map((o) => [o.kind, o.startMs - T0, o.durationMs]), [['unplanned', H, 50 * S]]);
  assert.match(s.outages[0].cause, /^self-fenced on n1: /);
  assert.deepEqual(r.notes.filter((n) => /do(es)? not know/.test(n)), [], 'the outage events are known kinds');
});

// Events as the agents write them now: with a cause code beside the reason.
function evc(at: number, node: string, what: string, cause: Cause, reason: string, set = 'QM1'): HistoryEvent {
  return { ...ev(at, node, what, reason, set), cause };
}
/** A week of everything the report tells apart, in the agents' current words and codes. */
function week(): HistoryEvent[] {
  return [
    evc(T0, 'n1', 'acquired', 'no-owner', 'QM1 has no owner and n1 is the best eligible node'),
    evc(T0 + S, 'n1', 'running', 'started', 'QM1 running on n1'),
    evc(T0 + H, 'n1', 'monitor-failed', 'monitor-failed', 'qm1 failed its monitor (rc=7): restarting in place'),
    evc(T0 + H + 5 * S, 'n1', 'running', 'started', 'QM1 running on n1'),
    evc(T0 + 2 * H, 'n1', 'stopped', 'standby', 'n1 is in standby: planned switchover to n2, stopping qm1-data'),
    evc(T0 + 2 * H + 100, 'n1', 'handed-off', 'standby', 'n1 is in standby: planned switchover to n2, releasing QM1'),
    evc(T0 + 2 * H + 200, 'n2', 'acquired', 'planned-switchover', 'planned switchover from n1: taking QM1'),
    evc(T0 + 2 * H + 3 * S, 'n2', 'running', 'started', 'QM1 running on n2'),
    evc(T0 + 3 * H, 'n1', 'stopped', 'stale-copy', 'n2 owns QM1 (token 7): stopping local qm1'),
    evc(T0 + 5 * H, 'n3', 'acquired', 'owner-lease-lost', 'n2 lost QM1 without stopping it cleanly: taking over'),
    evc(T0 + 5 * H + 2500, 'n3', 'running', 'started', 'QM1 running on n3'),
    evc(T0 + 6 * H, 'n3', 'stopped', 'config-changed', 'configuration of QM1 changed: stopping it to apply the new one'),
    evc(T0 + 6 * H + 2 * S, 'n3', 'running', 'started', 'QM1 running on n3'),
    evc(T0 + 7 * H, 'n3', 'stopped', 'lease-doubt', 'etcd lease in doubt (valid 0ms more, fenceMargin 800ms): self-fencing, stopping qm1'),
    evc(T0 + 7 * H + 9 * S, 'n3', 'running', 'started', 'QM1 running on n3'),
    evc(T0 + 8 * H, 'n3', 'stopped', 'config-removed', 'QM1 was removed from the configuration: stopping it'),
  ];
}
const figures = (r: ReturnType<typeof computeAvailability>): unknown =>
  r.sets.map((s) => ({ ...s, outages: s.outages.map(({ cause: _text, ...o }) => o) }));

test('the report reads cause codes, never the wording of reasons: reworded reasons give the same report', () => {
  const events = week();
  const run = (evs: HistoryEvent[]): ReturnType<typeof computeAvailability> => computeAvailability({ events: evs, configuredSets: [], sinceMs: T0, untilMs: T0 + D, targetPercent: 99.99 });
  const asWritten = run(events);
  const s = asWritten.sets[0];
  assert.deepEqual(
    s.outages.map((o) => [o.kind, o.causeCode, o.durationMs, o.fromNode, o.toNode, o.startIsLowerBound]),
    [
      ['unplanned', 'monitor-failed', 5 * S, 'n1', 'n1', false],
      ['planned', 'standby', 3 * S, 'n1', 'n2', false],
      ['unplanned', 'owner-lease-lost', 2500, 'n2', 'n3', true],
      ['planned', 'config-changed', 2 * S, 'n3', 'n3', false],
      ['unplanned', 'lease-doubt', 9 * S, 'n3', 'n3', false],
    ],
  );
  assert.equal(s.state, 'gone', 'removal from the configuration ends the history without downtime');
  assert.ok(s.notes.some((n) => /node-loss outage .* counted from the takeover/.test(n)), s.notes.join('\n'));
  const reworded = events.map((e, i) => ({ ...e, reason: `reworded reason number ${i}, in words no rule knows` }));
  assert.deepEqual(figures(run(reworded)), figures(asWritten));
});

test('events written before cause codes are read by their reasons (legacy): the same report as with codes', () => {
  const withCodes = week();
  const legacy = withCodes.map(({ cause: _cause, ...e }) => e);
  const run = (evs: HistoryEvent[]): ReturnType<typeof computeAvailability> => computeAvailability({ events: evs, configuredSets: [], sinceMs: T0, untilMs: T0 + D, targetPercent: 99.99 });
  assert.deepEqual(figures(run(legacy)), figures(run(withCodes)));
  // The older agents' wording of a node loss too.
  const older = [...first(T0), ev(T0 + H, 'n2', 'acquired', 'n1 lost its lease while owning QM1: taking over'), ev(T0 + H + 4 * S, 'n2', 'running', 'QM1 running on n2')];
  const o = run(older).sets[0].outages;
  assert.deepEqual(o.map((x) => [x.kind, x.causeCode, x.startIsLowerBound]), [['unplanned', 'owner-lease-lost', true]]);
});

test('a cause code this version does not know counts as unplanned, and is said', () => {
  const events = [...first(T0), { ...ev(T0 + H, 'n1', 'stopped', 'operator requested failover of QM1: stopping qm1'), cause: 'from-a-newer-version' as Cause }, ev(T0 + H + 2 * S, 'n1', 'running', 'QM1 running on n1')];
  const r = computeAvailability({ events, configuredSets: ['QM1'], sinceMs: T0, untilMs: T0 + 2 * H, targetPercent: 99.99 });
  assert.deepEqual(r.sets[0].outages.map((o) => [o.kind, o.causeCode]), [['unplanned', null]]);
  assert.ok(r.notes.some((n) => /cause codes this version does not know, counted as unplanned: from-a-newer-version \(1\)/.test(n)), r.notes.join('\n'));
});
