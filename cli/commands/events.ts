// hactl events [--follow] [--since D] [--set S]: the event history, each with its reason and cause code.
import { parseDurationMs } from '../../agent/config/duration.js';
import type { EventRecord } from '../../agent/shell/events.js';
import { connect, etcdErrorLine, requireCluster, type GlobalOptions, type Session } from '../connect.js';
import { readView } from '../status-model.js';
import { notFound, usageError } from '../errors.js';
import { localDateTime } from '../table.js';

function line(e: EventRecord, json: boolean): string {
  if (json) return JSON.stringify({ ...e, at: new Date(e.atWallMs).toISOString() });
  const at = localDateTime(e.atWallMs, true);
  const extra = [e.cause ? `cause=${e.cause}` : '', e.resource ? `resource=${e.resource}` : '', e.rc !== undefined ? `rc=${e.rc}` : '', e.token ? `token=${e.token}` : ''].filter(Boolean).join(' ');
  // A folded record stands for several identical events: say how many, and when the last was.
  const repeated = e.count !== undefined && e.count > 1 ? `  (${e.count} times, last at ${localDateTime(e.lastAtWallMs ?? e.atWallMs, true)})` : '';
  return `${at}  ${e.node.padEnd(10)} ${(e.set ?? '-').padEnd(10)} ${e.what.padEnd(15)} ${e.reason}${extra ? `  [${extra}]` : ''}${repeated}`;
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
    const events = res.kvs.map((kv) => parse(kv.value.toString())).filter((e): e is EventRecord => e !== null);
    await requireKnown(session, opts.set, events);
    for (const e of events) if (keep(e)) process.stdout.write(line(e, opts.json === true) + '\n');
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

/**
 * Exit 3, as other commands do, for a cluster with nothing stored (a wrong --cluster) and for a set
 * that is neither configured nor in the history: an empty answer would look like "no events".
 */
async function requireKnown(session: Session, set: string | undefined, events: EventRecord[]): Promise<void> {
  if (events.length === 0) await requireCluster(session);
  if (set === undefined || events.some((e) => e.set === set)) return;
  let configured: string[] = [];
  try {
    configured = Object.keys((await readView(session.client, session.keys)).view.config?.serviceSets ?? {});
  } catch (err) {
    throw etcdErrorLine(err, session.config.etcd.endpoints);
  }
  if (!configured.includes(set)) throw notFound(`no service set named ${set} (neither configured nor in the history)`);
}

function parse(text: string): EventRecord | null {
  try {
    const e = JSON.parse(text) as EventRecord;
    return typeof e.atWallMs === 'number' && typeof e.what === 'string' ? e : null;
  } catch {
    return null;
  }
}
