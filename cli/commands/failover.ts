// hactl failover SET [--to NODE] [--wait] [--timeout D]: a planned switchover (SPEC §4). The CLI
// only records the intent, guarded by the current owner's fencing token; the owner stops the set in
// reverse order and hands ownership to the target, which starts it at once.
import { userInfo, hostname } from 'node:os';
import { formatDurationMs, parseDurationMs } from '../../agent/config/duration.js';
import { placeSet, noEligibleReason } from '../../agent/core/placement.js';
import { connect, etcdErrorLine, type GlobalOptions, type Session } from '../connect.js';
import { notFound, refused, timedOut, usageError } from '../errors.js';
import { followStatus, type Following } from '../follow.js';
import { readView, type SetStatus } from '../status-model.js';
import { commitTxn } from '../../agent/etcd/commit.js';
import { failoverIntentTxn } from '../../agent/etcd/txns.js';

export interface FailoverOptions extends GlobalOptions {
  to?: string;
  wait?: boolean;
  timeout?: string;
}

/** The --timeout of a --wait, in ms (default 2 minutes). */
export function waitTimeoutMs(opts: { timeout?: string }): number {
  const timeoutMs = opts.timeout === undefined ? 120_000 : parseDurationMs(opts.timeout);
  if (timeoutMs === null || timeoutMs <= 0) throw usageError(`--timeout: not a duration: ${opts.timeout} (write e.g. 30s, 2m)`);
  return timeoutMs;
}

export async function failoverCommand(set: string, opts: FailoverOptions): Promise<void> {
  const timeoutMs = waitTimeoutMs(opts);
  const session = await connect(opts);
  try {
    const { target, fromNode, token } = await requestFailover(session, set, opts.to);
    if (!opts.wait) {
      say(opts, { set, from: fromNode, to: target, requested: true }, `failover of ${set} from ${fromNode} to ${target} requested`);
      return;
    }
    await waitForMove(session, set, fromNode, target, token, timeoutMs, opts);
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
  const intent = { to: target, requestedAtWallMs: Date.now(), by: `${userInfo().username}@${hostname()}` };
  const out = await commitTxn(session.client, failoverIntentTxn(session.keys, set, owner.token, intent));
  if (out.status === 'unknown') throw etcdErrorLine(new Error(out.error), session.config.etcd.endpoints, { doing: 'fail over', key: session.keys.failoverIntent(set), who: session.identity });
  if (out.status === 'rejected') throw refused(`the owner of ${set} changed while requesting the failover; look at hactl status and try again`);
  return { target, fromNode: owner.node, token: owner.token };
}

/** What `--wait` reports while a set moves: one line (or JSON object) per step, on stderr. */
interface Step {
  event: 'requested' | 'stopping' | 'released' | 'taken' | 'starting' | 'running' | 'state';
  node?: string | null;
  token?: number | null;
  state?: string;
  reason?: string;
  text: string;
}

/** The steps that a status of the set shows: the new owner taking it comes before its start. */
function stepsOf(s: SetStatus, set: string, from: string | null, target: string, oldToken: number, elapsed: string): Step[] {
  const token = s.fencingToken;
  if (s.node === target && (token ?? 0) > oldToken) {
    const took: Step = { event: 'taken', node: target, token, text: `${target} took ${set} (token ${token})` };
    if (s.state === 'running') return [took, { event: 'running', node: target, token, text: `running on ${target} after ${elapsed}` }];
    if (s.state === 'starting') return [took, { event: 'starting', node: target, token, text: `starting on ${target} …` }];
    return [took, stateStep(s)];
  }
  // Nothing has happened yet: the owner has not picked up the request.
  if (s.node === from && token === oldToken && s.state === 'running') return [];
  if (s.node !== null && token === oldToken && s.state === 'stopping') return [{ event: 'stopping', node: s.node, text: `stopping on ${s.node} …` }];
  if (s.node === null && from !== null && s.state === 'stopped') return [{ event: 'released', node: from, text: `${from} released ${set}` }];
  return [stateStep(s)];
}

function stateStep(s: SetStatus): Step {
  const reason = s.reason ? `: ${s.reason}` : '';
  return { event: 'state', node: s.node, token: s.fencingToken, state: s.state, ...(s.reason ? { reason: s.reason } : {}), text: `${s.state}${s.node ? ` on ${s.node}` : ''}${reason}` };
}

/**
 * Waits until `set` runs on `target` under a newer fencing token than `oldToken`, following the
 * cluster through one watch. Each step is shown once on stderr as it happens — plain lines, or
 * with --json one JSON object a line — and the result goes to stdout (one JSON object with --json).
 */
export async function waitForMove(session: Session, set: string, from: string | null, target: string, oldToken: number, timeoutMs: number, opts: GlobalOptions): Promise<void> {
  const startedMs = performance.now();
  const elapsed = (): string => `${((performance.now() - startedMs) / 1000).toFixed(1)} s`;
  let lastText = '';
  const shown = new Set<string>();
  const report = (step: Step): void => {
    // Each step once (a 'took' line stays shown while the set then starts); other states once in a row.
    if (step.text === lastText || (step.event !== 'state' && shown.has(step.text))) return;
    lastText = step.text;
    shown.add(step.text);
    const { text, ...fields } = step;
    process.stderr.write(opts.json ? JSON.stringify({ set, ...fields, elapsedMs: Math.round(performance.now() - startedMs) }) + '\n' : `${set}: ${text}\n`);
  };
  report({ event: 'requested', node: from, text: from ? `${from} asked to hand ${set} to ${target}` : `${target} asked to take ${set}` });
  let following: Following | undefined;
  let timer: NodeJS.Timeout | undefined;
  let settled = false;
  try {
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(timedOut(`${set} was not running on ${target} within ${formatDurationMs(timeoutMs)} (last: ${lastText || 'unknown'})`)), timeoutMs);
      const intentKey = session.keys.failoverIntent(set);
      followStatus(
        session,
        (status, kvs) => {
          const s = status.sets.find((x) => x.name === set);
          if (!s) return reject(notFound(`${set} disappeared from the configuration while moving`));
          const steps = stepsOf(s, set, from, target, oldToken, elapsed());
          for (const step of steps) report(step);
          if (steps.some((step) => step.event === 'running')) {
            const seconds = Number(((performance.now() - startedMs) / 1000).toFixed(2));
            say(opts, { set, node: target, fencingToken: s.fencingToken, seconds }, `${set} running on ${target} (token ${s.fencingToken}) after ${seconds.toFixed(2)} s`);
            return resolve();
          }
          // Blocked (a stop failed) or failed (a fatal error) needs an operator: waiting longer cannot help.
          if (s.state === 'blocked' || s.state === 'failed') {
            return reject(refused(`${set} is ${s.state}${s.node ? ` on ${s.node}` : ''}${s.reason ? `: ${s.reason}` : ''}; the move cannot finish`));
          }
          // The owner drops an intent it cannot honour and keeps the set; the reason is in its status.
          if (!kvs.has(intentKey) && s.node !== target && oldToken !== 0 && s.fencingToken === oldToken) {
            reject(refused(`the owner refused to move ${set}${s.reason ? `: ${s.reason}` : ''} (see hactl events --set ${set})`));
          }
        },
        () => undefined,
      ).then((f) => {
        // A wait that ended (timed out) before the watch was set up closes it at once.
        if (settled) f.close();
        else following = f;
      }, reject);
    });
  } finally {
    settled = true;
    if (timer) clearTimeout(timer);
    following?.close();
  }
}

function say(opts: GlobalOptions, json: Record<string, unknown>, text: string): void {
  process.stdout.write(opts.json ? JSON.stringify(json) + '\n' : text + '\n');
}
