// hactl failover SET [--to NODE] [--wait] [--timeout D]: a planned switchover (SPEC §4). The CLI
// only records the intent, guarded by the current owner's fencing token; the owner stops the set in
// reverse order and hands ownership to the target, which starts it at once.
import { userInfo, hostname } from 'node:os';
import { parseDurationMs } from '../../agent/config/duration.js';
import { placeSet, noEligibleReason } from '../../agent/core/placement.js';
import { connect, etcdErrorLine, type GlobalOptions, type Session } from '../connect.js';
import { notFound, refused, timedOut, usageError } from '../errors.js';
import { clusterStatus, readView } from '../status-model.js';

export interface FailoverOptions extends GlobalOptions {
  to?: string;
  wait?: boolean;
  timeout?: string;
}

export async function failoverCommand(set: string, opts: FailoverOptions): Promise<void> {
  const timeoutMs = opts.timeout === undefined ? 120_000 : parseDurationMs(opts.timeout);
  if (timeoutMs === null) throw usageError(`--timeout: not a duration: ${opts.timeout} (write e.g. 30s, 2m)`);
  const session = await connect(opts);
  try {
    const { target, fromNode, token } = await requestFailover(session, set, opts.to);
    if (!opts.wait) {
      say(opts, { set, from: fromNode, to: target, requested: true }, `failover of ${set} from ${fromNode} to ${target} requested`);
      return;
    }
    await waitForMove(session, set, target, token, timeoutMs, opts);
  } finally {
    session.close();
  }
}

async function requestFailover(session: Session, set: string, to: string | undefined): Promise<{ target: string; fromNode: string; token: number }> {
  let view;
  try {
    ({ view } = await readView(session.client, session.keys));
  } catch (err) {
    throw etcdErrorLine(err, session.config.etcd.endpoints, { doing: 'read the cluster state', key: session.keys.prefix, who: session.identity });
  }
  const config = view.config;
  if (!config || !(set in config.serviceSets)) throw notFound(`no service set named ${set}`);
  if (config.serviceSets[set].mode === 'clone') throw refused(`${set} is a clone set: its instances move by themselves; use hactl ban ${set} NODE to keep one off a node`);
  if (to !== undefined && !view.nodes.has(to) && !view.members.has(to) && !(config.nodes && to in config.nodes)) throw notFound(`no node named ${to}`);
  const owner = view.owners.get(set);
  if (!owner) throw refused(`${set} is not running anywhere; a failover needs a running owner`);
  if (to === owner.node) throw refused(`${set} already runs on ${to}`);
  const placement = placeSet(view, config, set, Date.now());
  const candidates = placement.ranked.filter((n) => n !== owner.node);
  if (to !== undefined && !candidates.includes(to)) {
    const why = placement.excluded.find((e) => e.startsWith(`${to} `)) ?? `${to} is not in ${set}.prefer`;
    throw refused(`cannot fail ${set} over to ${to}: ${why}`);
  }
  const target = to ?? candidates[0];
  if (target === undefined) throw refused(`cannot fail ${set} over: ${noEligibleReason({ ranked: [], excluded: placement.excluded })}`);
  const intent = JSON.stringify({ to: target, requestedAtWallMs: Date.now(), by: `${userInfo().username}@${hostname()}` });
  let res;
  try {
    res = await session.client
      .if(session.keys.owner(set), 'Create', '==', owner.token)
      .then(session.client.put(session.keys.failoverIntent(set)).value(intent))
      .commit();
  } catch (err) {
    throw etcdErrorLine(err, session.config.etcd.endpoints, { doing: 'fail over', key: session.keys.failoverIntent(set), who: session.identity });
  }
  if (!res.succeeded) throw refused(`the owner of ${set} changed while requesting the failover; look at hactl status and try again`);
  return { target, fromNode: owner.node, token: owner.token };
}

async function waitForMove(session: Session, set: string, target: string, oldToken: number, timeoutMs: number, opts: FailoverOptions): Promise<void> {
  const startedMs = performance.now();
  let lastLine = '';
  while (performance.now() - startedMs < timeoutMs) {
    let status;
    try {
      status = await clusterStatus(session.client, session.keys, session.config.cluster, Date.now());
    } catch {
      await sleep(100);
      continue;
    }
    const s = status.sets.find((x) => x.name === set);
    if (s) {
      const line = `${set}: ${s.state}${s.node ? ` on ${s.node}` : ''}${s.reason ? ` (${s.reason})` : ''}`;
      if (line !== lastLine && !opts.json) process.stderr.write(`${line}\n`);
      lastLine = line;
      if (s.state === 'running' && s.node === target && (s.fencingToken ?? 0) > oldToken) {
        const seconds = ((performance.now() - startedMs) / 1000).toFixed(2);
        say(opts, { set, node: target, fencingToken: s.fencingToken, seconds: Number(seconds) }, `${set} running on ${target} (token ${s.fencingToken}) after ${seconds}s`);
        return;
      }
      const intentGone = !(await session.client.get(session.keys.failoverIntent(set)).string().catch(() => 'unknown'));
      if (intentGone && s.node !== target && s.fencingToken === oldToken) {
        throw refused(`the owner refused the failover of ${set}${s.reason ? `: ${s.reason}` : ''} (see hactl events --set ${set})`);
      }
    }
    await sleep(50);
  }
  throw timedOut(`${set} was not running on ${target} within ${Math.round(timeoutMs / 1000)}s (last: ${lastLine || 'unknown'})`);
}

function say(opts: GlobalOptions, json: Record<string, unknown>, text: string): void {
  process.stdout.write(opts.json ? JSON.stringify(json) + '\n' : text + '\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
