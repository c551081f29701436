// hactl report [--since D] [--until T] [--target 99.99] [--json]: availability per set from the
// event history (SPEC §1, §7). The rules are in cli/availability.ts and docs/operations.md.
import { formatDurationMs, parseDurationMs } from '../../agent/config/duration.js';
import { expandClones } from '../../agent/core/clones.js';
import { ViewBuilder } from '../../agent/etcd/view.js';
import { computeAvailability, fmt, historyFromKvs, type AvailabilityReport, type SetAvailability } from '../availability.js';
import { connect, sessionError, type GlobalOptions } from '../connect.js';
import { usageError } from '../errors.js';
import { readKeys } from '../status-model.js';
import { localDateTime, table } from '../table.js';

export interface ReportOptions extends GlobalOptions {
  since?: string;
  until?: string;
  target?: string;
}

/** A point in time: an ISO date/time, epoch milliseconds, or a duration before `nowMs` ("7d"). */
export function parseTimeArg(flag: string, text: string, nowMs: number): number {
  const ago = parseDurationMs(text);
  if (ago !== null) return nowMs - ago;
  if (/^\d{12,}$/.test(text)) return Number(text);
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const ms = Date.parse(text);
    if (Number.isFinite(ms)) return ms;
  }
  throw usageError(`${flag}: not a duration (7d, 12h, 30m) or a date (2025-01-31, 2025-01-31T12:00:00Z): ${text}`);
}

export function parseTarget(text: string | undefined): number {
  if (text === undefined) return 99.99;
  const t = Number(text.replace(/%$/, ''));
  if (!/^\d+(\.\d+)?%?$/.test(text) || !(t > 0 && t < 100)) throw usageError(`--target: a percentage above 0 and below 100, e.g. 99.99: ${text}`);
  return t;
}

export async function reportCommand(opts: ReportOptions): Promise<void> {
  const nowMs = Date.now();
  const untilMs = opts.until !== undefined ? parseTimeArg('--until', opts.until, nowMs) : nowMs;
  const sinceMs = opts.since !== undefined ? parseTimeArg('--since', opts.since, nowMs) : null;
  if (sinceMs !== null && sinceMs >= untilMs) throw usageError('--since must be before --until');
  const targetPercent = parseTarget(opts.target);
  const session = await connect(opts);
  try {
    let read;
    try {
      read = await readKeys(session.client, session.keys.prefix);
    } catch (err) {
      throw sessionError(session, err, 'read the event history', session.keys.eventsPrefix());
    }
    const { view } = new ViewBuilder(session.keys.prefix).build(read.kvs, read.revision);
    const { events, unreadable } = historyFromKvs(read.kvs, session.keys.eventsPrefix());
    // Clone sets are reported per instance (SET:1, SET:2...), as the agents record them.
    const configuredSets = view.config ? Object.keys(expandClones(view.config).serviceSets) : [];
    const report = computeAvailability({ events, configuredSets, sinceMs, untilMs, targetPercent });
    if (unreadable > 0) report.notes.push(`${unreadable} event record(s) could not be read and were ignored`);
    const retention = view.config?.events;
    if (retention) {
      if (events.length >= retention.retain) {
        report.notes.push(`the history holds ${events.length} events, the cluster's limit (events.retain: ${retention.retain}): older events have been trimmed`);
      } else if (report.periodStartMs < untilMs - retention.maxAge) {
        report.notes.push(`the cluster keeps events for ${formatDurationMs(retention.maxAge)} (events.maxAge): the period reaches further back than the history can`);
      }
    }
    if (opts.json) process.stdout.write(JSON.stringify({ cluster: session.config.cluster, revision: read.revision, ...report }, null, 2) + '\n');
    else process.stdout.write(renderReport(session.config.cluster, report) + '\n');
  } finally {
    session.close();
  }
}

/** Uptime with 4 decimals, truncated (99.99999 % must not print as 100.0000 %). */
export function percent(p: number | null): string {
  if (p === null) return 'n/a';
  return `${(Math.floor(p * 10_000) / 10_000).toFixed(4)}%`;
}

function nines(s: SetAvailability): string {
  if (s.uptimePercent === null) return 'n/a';
  if (s.ninesExact === null) return 'no downtime';
  return `${s.nines} (${s.ninesExact.toFixed(2)})`;
}

export function renderReport(cluster: string, r: AvailabilityReport): string {
  const lines: string[] = [];
  const when = (ms: number): string => localDateTime(ms);
  lines.push(`cluster ${cluster}   availability from ${when(r.periodStartMs)} to ${when(r.periodEndMs)} (${fmt(r.periodEndMs - r.periodStartMs)})`);
  lines.push(`target ${r.targetPercent}%: a yearly downtime budget of ${fmt(r.yearlyBudgetMs)}${r.historyStartMs !== null ? `   history from ${when(r.historyStartMs)}` : ''}`);
  lines.push('');
  if (r.sets.length === 0) lines.push('no service sets configured and none in the history');
  else {
    lines.push(
      table(
        ['SET', 'NOW', 'UPTIME', 'NINES', 'PLANNED DOWN', 'UNPLANNED DOWN', 'FAILOVERS', 'RESTARTS', 'SWITCHOVERS', 'BUDGET LEFT'],
        r.sets.map((s) => [
          s.set,
          s.state === 'up' ? `up on ${s.node}` : s.state,
          percent(s.uptimePercent),
          nines(s),
          fmt(s.plannedDownMs),
          fmt(s.unplannedDownMs),
          s.failovers,
          s.restarts,
          s.switchovers,
          `${fmt(s.budget.remainingMs)}${s.budget.remainingMs < 0 ? ' EXCEEDED' : ''}`,
        ]),
      ),
    );
  }
  for (const s of r.sets) {
    if (s.outages.length === 0) continue;
    lines.push('');
    lines.push(`${s.set}: outages`);
    lines.push(
      table(
        ['START', 'DURATION', 'KIND', 'FROM', 'TO', 'CAUSE', 'WHAT HAPPENED'],
        s.outages.map((o) => [
          when(o.startMs),
          `${o.startIsLowerBound ? '>=' : ''}${fmt(o.durationMs)}${o.ongoing ? ' (ongoing)' : ''}`,
          o.kind === 'mixed' ? `planned ${fmt(o.plannedMs)} + unplanned ${fmt(o.unplannedMs)}` : o.kind,
          o.fromNode,
          o.toNode,
          o.causeCode ?? '-',
          o.cause.length > 100 ? `${o.cause.slice(0, 97)}...` : o.cause,
        ]),
        '  ',
      ),
    );
  }
  const notes = [...r.notes, ...r.sets.flatMap((s) => s.notes)];
  if (notes.length > 0) {
    lines.push('');
    lines.push('notes:');
    for (const n of notes) lines.push(`  - ${n}`);
  }
  return lines.join('\n');
}
