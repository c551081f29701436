// hactl events [--follow] [--since D] [--set S]: the event history, each with its reason.
import { parseDurationMs } from '../../agent/config/duration.js';
import type { EventRecord } from '../../agent/shell/events.js';
import { connect, etcdErrorLine, type GlobalOptions } from '../connect.js';
import { usageError } from '../errors.js';

function line(e: EventRecord, json: boolean): string {
  if (json) return JSON.stringify({ ...e, at: new Date(e.atWallMs).toISOString() });
  const at = shownTime(e.atWallMs);
  const extra = [e.resource ? `resource=${e.resource}` : '', e.rc !== undefined ? `rc=${e.rc}` : '', e.token ? `token=${e.token}` : ''].filter(Boolean).join(' ');
  // A folded record stands for several identical events: say how many, and when the last was.
  const repeated = e.count !== undefined && e.count > 1 ? `  (${e.count} times, last at ${shownTime(e.lastAtWallMs ?? e.atWallMs)})` : '';
  return `${at}  ${e.node.padEnd(10)} ${(e.set ?? '-').padEnd(10)} ${e.what.padEnd(15)} ${e.reason}${extra ? `  [${extra}]` : ''}${repeated}`;
}

function shownTime(wallMs: number): string {
  return new Date(wallMs).toISOString().replace('T', ' ').slice(0, 23);
}

export async function eventsCommand(opts: GlobalOptions & { follow?: boolean; since?: string; set?: string }): Promise<void> {
  const sinceMs = opts.since === undefined ? null : parseDurationMs(opts.since);
  if (opts.since !== undefined && sinceMs === null) throw usageError(`--since: not a duration: ${opts.since} (write e.g. 1h, 30m)`);
  const session = await connect(opts);
  const fromWallMs = sinceMs === null ? 0 : Date.now() - sinceMs;
  const keep = (e: EventRecord): boolean => e.atWallMs >= fromWallMs && (opts.set === undefined || e.set === opts.set);
  try {
    let res;
    try {
      res = await session.client.getAll().prefix(session.keys.eventsPrefix()).sort('Key', 'Ascend').exec();
    } catch (err) {
      throw etcdErrorLine(err, session.config.etcd.endpoints);
    }
    for (const kv of res.kvs) {
      const e = parse(kv.value.toString());
      if (e && keep(e)) process.stdout.write(line(e, opts.json === true) + '\n');
    }
    if (!opts.follow) return;
    const watcher = await session.client.watch().prefix(session.keys.eventsPrefix()).startRevision(String(Number(res.header.revision) + 1)).create();
    watcher.on('put', (kv) => {
      const e = parse(kv.value.toString());
      if (e && keep(e)) process.stdout.write(line(e, opts.json === true) + '\n');
    });
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    await watcher.cancel();
  } finally {
    session.close();
  }
}

function parse(text: string): EventRecord | null {
  try {
    const e = JSON.parse(text) as EventRecord;
    return typeof e.atWallMs === 'number' && typeof e.what === 'string' ? e : null;
  } catch {
    return null;
  }
}
