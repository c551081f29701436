// Operator intents (SPEC §7): move, ban, clear, standby, unstandby, maintenance, cleanup. The CLI
// only writes intents to etcd, each checked first against the current view and refused with one
// line when it would be unsafe or cannot be honoured; the agents carry them out.
import { userInfo, hostname } from 'node:os';
import { parseDurationMs, formatDurationMs } from '../../agent/config/duration.js';
import { placeSet } from '../../agent/core/placement.js';
import { baseSetName } from '../../agent/core/clones.js';
import type { ClusterView } from '../../agent/core/types.js';
import type { ClusterConfig } from '../../agent/config/cluster-schema.js';
import { connect, etcdErrorLine, type GlobalOptions, type Session } from '../connect.js';
import { CliError, EXIT, notFound, refused, usageError } from '../errors.js';
import { readView } from '../status-model.js';
import { eventKeySuffix, type NewEventRecord } from '../../agent/shell/events.js';
import { waitForMove, waitTimeoutMs } from './failover.js';
import { commitTxn } from '../../agent/etcd/commit.js';
import { clearFailedMarkTxn, failoverIntentTxn } from '../../agent/etcd/txns.js';

/** A ban without --for lasts until `hactl clear`; stored as the largest time a Date can hold. */
export const BAN_FOREVER_WALL_MS = 8_640_000_000_000_000;

const by = (): string => `${userInfo().username}@${hostname()}`;

async function withView<T>(opts: GlobalOptions, fn: (s: Session, view: ClusterView, config: ClusterConfig) => Promise<T>): Promise<T> {
  const session = await connect(opts);
  try {
    let view: ClusterView;
    try {
      ({ view } = await readView(session.client, session.keys));
    } catch (err) {
      throw etcdErrorLine(err, session.config.etcd.endpoints);
    }
    if (!view.config) throw notFound(`cluster ${session.config.cluster} has no configuration (hactl config apply FILE)`);
    return await fn(session, view, view.config);
  } finally {
    session.close();
  }
}

function requireSet(config: ClusterConfig, set: string): void {
  if (!(set in config.serviceSets)) throw notFound(`no service set named ${set}`);
}

function requireNode(view: ClusterView, config: ClusterConfig, node: string): void {
  if (!view.nodes.has(node) && !view.members.has(node) && !(config.nodes && node in config.nodes)) throw notFound(`no node named ${node}`);
}

async function commit(session: Session, what: string, run: () => Promise<{ succeeded: boolean }>): Promise<void> {
  let res;
  try {
    res = await run();
  } catch (err) {
    throw etcdErrorLine(err, session.config.etcd.endpoints);
  }
  if (!res.succeeded) throw refused(`the cluster changed while ${what}; look at hactl status and try again`);
}

function say(opts: GlobalOptions, json: Record<string, unknown>, text: string): void {
  process.stdout.write(opts.json ? JSON.stringify(json) + '\n' : text + '\n');
}

export async function moveCommand(set: string, node: string, opts: GlobalOptions & { wait?: boolean; timeout?: string }): Promise<void> {
  const timeoutMs = waitTimeoutMs(opts);
  await withView(opts, async (session, view, config) => {
    requireSet(config, set);
    requireNode(view, config, node);
    if (config.serviceSets[set].mode === 'clone') throw refused(`${set} is a clone set: its instances move by themselves; use hactl ban ${set} NODE to keep one off a node`);
    const owner = view.owners.get(set);
    if (owner?.node === node) throw refused(`${set} already runs on ${node}`);
    const placement = placeSet(view, config, set, Date.now());
    if (!placement.ranked.includes(node)) {
      const why = placement.excluded.find((e) => e.startsWith(`${node} `)) ?? `${node} is not in ${set}.prefer`;
      throw refused(`cannot move ${set} to ${node}: ${why}`);
    }
    const intent = { to: node, move: true, requestedAtWallMs: Date.now(), by: by() };
    await commit(session, `moving ${set}`, async () => {
      const out = await commitTxn(session.client, failoverIntentTxn(session.keys, set, owner?.token ?? 0, intent));
      if (out.status === 'unknown') throw new Error(out.error);
      return { succeeded: out.status === 'committed' };
    });
    if (opts.wait) return waitForMove(session, set, owner?.node ?? null, node, owner?.token ?? 0, timeoutMs, opts);
    say(opts, { set, to: node, requested: true }, `move of ${set} to ${node} requested${owner ? ` (from ${owner.node})` : ''}; it is cleared once ${set} runs there`);
  });
}

export async function banCommand(set: string, node: string, opts: GlobalOptions & { for?: string }): Promise<void> {
  const forMs = opts.for === undefined ? null : parseDurationMs(opts.for);
  if (opts.for !== undefined && forMs === null) throw usageError(`--for: not a duration: ${opts.for} (write e.g. 30m, 2h)`);
  await withView(opts, async (session, view, config) => {
    requireSet(config, set);
    requireNode(view, config, node);
    const placement = placeSet(view, config, set, Date.now());
    const others = placement.ranked.filter((n) => n !== node);
    if (others.length === 0 && view.owners.has(set)) {
      throw refused(`${node} is the only eligible node for ${set}; banning it would stop ${set} (use hactl maintenance, or stop it deliberately)`);
    }
    const untilWallMs = forMs === null ? BAN_FOREVER_WALL_MS : Date.now() + forMs;
    const record = JSON.stringify({ untilWallMs, reason: `banned by ${by()}`, operator: true });
    await commit(session, `banning ${node}`, async () => {
      await session.client.put(session.keys.ban(set, node)).value(record).exec();
      return { succeeded: true };
    });
    say(opts, { set, node, untilWallMs: forMs === null ? null : untilWallMs }, `${node} banned for ${set}${forMs === null ? ' until hactl clear' : ` for ${formatDurationMs(forMs)}`}`);
  });
}

export async function clearCommand(set: string, opts: GlobalOptions): Promise<void> {
  await withView(opts, async (session, _view, config) => {
    requireSet(config, set);
    await commit(session, `clearing ${set}`, async () => {
      await session.client.delete().prefix(session.keys.bansOf(set)).exec();
      await session.client.delete().key(session.keys.failoverIntent(set)).exec();
      return { succeeded: true };
    });
    say(opts, { set, cleared: true }, `cleared bans and pending moves of ${set}`);
  });
}

export async function standbyCommand(node: string, on: boolean, opts: GlobalOptions): Promise<void> {
  await withView(opts, async (session, view, config) => {
    requireNode(view, config, node);
    const key = session.keys.standby(node);
    await commit(session, `${on ? 'setting' : 'clearing'} standby`, async () => {
      if (on) await session.client.put(key).value(JSON.stringify({ by: by(), atWallMs: Date.now() })).exec();
      else await session.client.delete().key(key).exec();
      return { succeeded: true };
    });
    if (!on) {
      say(opts, { node, standby: false }, `${node} is back in service (sets stay where they run unless failback is set)`);
      return;
    }
    const owned = [...view.owners.values()].filter((o) => o.node === node).map((o) => o.set);
    const stranded = owned.filter((set) => placeSet(view, config, set, Date.now()).ranked.filter((n) => n !== node).length === 0);
    say(
      opts,
      { node, standby: true, moving: owned, stopping: stranded },
      `${node} is in standby: ${owned.length === 0 ? 'it runs no sets' : `moving ${owned.join(', ')} away by planned switchover`}` +
        (stranded.length > 0 ? `; warning: no other node can run ${stranded.join(', ')}, so ${stranded.length > 1 ? 'they stop' : 'it stops'}` : ''),
    );
  });
}

export async function maintenanceCommand(mode: string, set: string | undefined, opts: GlobalOptions): Promise<void> {
  if (mode !== 'on' && mode !== 'off') throw usageError(`maintenance: say on or off, not ${mode}`);
  await withView(opts, async (session, _view, config) => {
    if (set !== undefined) requireSet(config, set);
    const key = session.keys.maintenance(set);
    await commit(session, 'changing maintenance', async () => {
      if (mode === 'on') await session.client.put(key).value(JSON.stringify({ by: by(), atWallMs: Date.now() })).exec();
      else await session.client.delete().key(key).exec();
      return { succeeded: true };
    });
    const scope = set === undefined ? 'cluster-wide' : `for ${set}`;
    say(opts, { maintenance: mode === 'on', set: set ?? null }, mode === 'on' ? `maintenance on (${scope}): agents start, stop and monitor nothing; resources are left as they are` : `maintenance off (${scope}): agents manage again`);
  });
}

/**
 * `hactl disable SET` / `enable SET`: the intent key intents/disabled/<set> (kept in etcd, so it
 * survives agent restarts) and an event saying who did it, in one transaction. The owner stops the
 * set in reverse and releases it cleanly; no node acquires it until it is enabled.
 */
export async function disableCommand(set: string, disable: boolean, opts: GlobalOptions): Promise<void> {
  await withView(opts, async (session, view, config) => {
    requireSet(config, set);
    const key = session.keys.disabled(set);
    const already = view.disabled?.has(set) === disable;
    if (!already) {
      const atWallMs = Date.now();
      const who = by();
      const event: NewEventRecord = { atWallMs, node: hostname(), set, what: disable ? 'disabled' : 'enabled', cause: disable ? 'disabled' : 'enabled', reason: `${set} ${disable ? 'disabled' : 'enabled'} by ${who}` };
      const eventKey = session.keys.event(eventKeySuffix(atWallMs, `${hostname()}-hactl`, process.pid % 1_000_000));
      await commit(session, `${disable ? 'disabling' : 'enabling'} ${set}`, () =>
        session.client
          .if(key, 'Create', disable ? '==' : '>', 0)
          .then(disable ? session.client.put(key).value(JSON.stringify({ by: who, atWallMs })) : session.client.delete().key(key), session.client.put(eventKey).value(JSON.stringify(event)))
          .commit(),
      );
    }
    const owner = view.owners.get(set);
    let text: string;
    if (disable) text = already ? `${set} is already disabled` : `${set} disabled: ${owner ? `${owner.node} stops it; ` : ''}it stays stopped until hactl enable ${set}`;
    else text = already ? `${set} is not disabled` : `${set} enabled: the best eligible node starts it`;
    say(opts, { set, disabled: disable, changed: !already }, text);
  });
}

export async function cleanupCommand(set: string, resource: string | undefined, opts: GlobalOptions): Promise<void> {
  await withView(opts, async (session, view, config) => {
    // A set removed from the configuration may still be owned (its stop failed): cleanup must reach it.
    const retired = !(set in config.serviceSets) && [...view.owners.keys(), ...view.holders.keys()].some((name) => baseSetName(name) === set);
    if (!retired) requireSet(config, set);
    if (resource !== undefined && !retired && !config.serviceSets[set].resources.some((r) => r.id === resource)) throw notFound(`${set} has no resource ${resource}`);
    const k = session.keys;
    const holder = view.holders.get(set);
    await commit(session, `cleaning up ${set}`, async () => {
      // A fatal failure (rc 6) marked the set failed everywhere: cleanup lifts the mark.
      if (holder?.failed) {
        const kept = { node: holder.node, unsettled: holder.unsettled, ...(holder.graceMs !== undefined ? { graceMs: holder.graceMs } : {}) };
        const out = await commitTxn(session.client, clearFailedMarkTxn(k, set, holder.modRevision, { ...kept, released: true, reason: `cleanup by ${by()}`, atWallMs: Date.now() }));
        if (out.status === 'unknown') throw new Error(out.error);
        if (out.status === 'rejected') return { succeeded: false };
      }
      // Bans that failures caused (not operator bans) go with the fail counts.
      const bans = await session.client.getAll().prefix(k.bansOf(set)).strings();
      for (const [key, value] of Object.entries(bans)) {
        let operator = false;
        try {
          operator = (JSON.parse(value) as { operator?: boolean }).operator === true;
        } catch {
          operator = false;
        }
        if (!operator) await session.client.delete().key(key).exec();
      }
      await session.client.put(k.cleanup(set)).value(JSON.stringify({ resource, by: by(), atWallMs: Date.now() })).exec();
      return { succeeded: true };
    });
    say(opts, { set, resource: resource ?? null, cleanup: true }, `cleanup of ${set}${resource ? ` (${resource})` : ''} requested: fail counts and failure bans cleared; agents probe again`);
  });
}
export { CliError, EXIT };
