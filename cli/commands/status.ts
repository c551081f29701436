// hactl status [--json] [--watch]
import { connect, etcdErrorLine, type GlobalOptions, type Session } from '../connect.js';
import { VERSION } from '../version.js';
import { followStatus } from '../follow.js';
import { addLeaseHealth, readView, statusFromView, type ClusterStatus, type SetStatus } from '../status-model.js';
import { localDateTime, table, tableTime } from '../table.js';

/** The bans of a set, one row each; UNTIL "hactl clear" for a ban without an end. */
function banTable(set: SetStatus): string {
  return table(['BANNED', 'UNTIL', 'WHY'], set.bans.map((b) => [b.node, b.until === null ? 'hactl clear' : localDateTime(b.until), b.reason]), '  ');
}

export function renderStatus(s: ClusterStatus): string {
  const lines: string[] = [];
  lines.push(`cluster ${s.cluster}   revision ${s.revision}${s.maintenance ? '   MAINTENANCE (cluster-wide)' : ''}`);
  lines.push('');
  // LEASE: the TTL etcd granted the node's lease (its key exists, so the lease is alive); '?' when it could not be read.
  const lease = (n: ClusterStatus['nodes'][number]): string => (n.lease ? `${n.lease.grantedTtlSeconds}s` : n.lease === null ? '?' : '-');
  lines.push(table(['NODE', 'STATE', 'LEASE', 'SETS'], s.nodes.map((n) => [n.name, n.state, lease(n), n.sets.join(',')])));
  lines.push('');
  if (s.sets.length === 0) lines.push('no service sets configured (hactl config apply FILE)');
  for (const set of s.sets) {
    if (set.instances) {
      lines.push(table(['SET', 'MODE', 'STATE', 'NODES'], [[set.name, `clone x${set.instances.length}`, set.state, (set.nodes ?? []).join(',')]]));
      lines.push(table(['INSTANCE', 'STATE', 'NODE', 'SINCE', 'TOKEN', 'WHY'], set.instances.map((i) => [i.name, i.state, i.node, tableTime(i.since), i.fencingToken, i.reason]), '  '));
      if (set.bans.length > 0) lines.push(banTable(set));
      lines.push('');
      continue;
    }
    lines.push(table(['SET', 'MODE', 'STATE', 'NODE', 'SINCE', 'TOKEN'], [[set.name, set.mode, set.state, set.node, tableTime(set.since), set.fencingToken]]));
    if (set.reason) lines.push(`  why: ${set.reason}`);
    if (set.bans.length > 0) lines.push(banTable(set));
    lines.push(table(['RESOURCE', 'TYPE', 'STATE', 'FAILS', 'LAST FAILURE'], set.resources.map((r) => [r.id, r.type, r.state, r.failCount, r.lastReason]), '  '));
    lines.push('');
  }
  if (s.devices.length > 0) {
    lines.push(table(['FENCE DEVICE', 'AGENT', 'FENCES', 'HEALTH', 'CHECKED', 'BY'], s.devices.map((d) => [d.name, d.agent, d.fences.join(','), d.state, tableTime(d.checkedAt ?? null), d.by])));
    for (const d of s.devices) if (d.reason) lines.push(`  ${d.name}: ${d.reason}`);
    lines.push('');
  }
  for (const p of s.problems) lines.push(`warning: ${p}`);
  return lines.join('\n').trimEnd();
}

export async function statusCommand(opts: GlobalOptions & { watch?: boolean }): Promise<void> {
  const session = await connect(opts);
  try {
    let first: ClusterStatus;
    try {
      const { view, kvs, configRevision, problems } = await readView(session.client, session.keys);
      first = statusFromView(view, kvs, session.keys, session.config.cluster, configRevision, problems, Date.now());
      await addLeaseHealth(session.client, first, kvs, session.keys);
    } catch (err) {
      throw etcdErrorLine(err, session.config.etcd.endpoints, { doing: 'read the cluster status', key: session.keys.prefix, who: session.identity });
    }
    if (!opts.watch) {
      process.stdout.write(opts.json ? JSON.stringify({ version: VERSION, ...first }, null, 2) + '\n' : renderStatus(first) + '\n');
      return;
    }
    await watchStatus(session, first, opts.json === true);
  } finally {
    session.close();
  }
}

/**
 * Redraws on change, not on a timer: every write under the cluster prefix wakes the watch, but the
 * screen (or, with --json, a new line) is redrawn only when what it shows differs. The revision
 * alone does not count: a write that changes nothing visible would otherwise flicker the screen.
 * On a terminal each redraw clears the screen; piped, drawings follow one another, separated by a
 * blank line, so a log of them stays readable.
 */
async function watchStatus(session: Session, first: ClusterStatus, json: boolean): Promise<void> {
  const tty = process.stdout.isTTY === true;
  let last = '';
  let drawn = 0;
  const draw = (s: ClusterStatus): void => {
    // What counts as a change: not the revision, not the seconds a lease has left (they tick).
    const steady = { ...s, revision: 0, nodes: s.nodes.map((n) => (n.lease ? { ...n, lease: { ...n.lease, remainingMs: 0 } } : n)) };
    const shown = json ? JSON.stringify(steady) : renderStatus(steady);
    if (shown === last) return;
    last = shown;
    if (json) process.stdout.write(JSON.stringify({ version: VERSION, ...s }) + '\n');
    else process.stdout.write((tty ? '\x1b[2J\x1b[H' : drawn > 0 ? '\n' : '') + renderStatus(s) + '\n');
    drawn++;
  };
  draw(first);
  let trouble = '';
  // Lease reads are async: draw in the order the changes came.
  let drawing = Promise.resolve();
  const following = await followStatus(
    session,
    (s, kvs) => {
      trouble = '';
      drawing = drawing.then(async () => {
        await addLeaseHealth(session.client, s, kvs, session.keys);
        draw(s);
      });
    },
    (what) => {
      // Say once that the picture may be stale; the watcher reconnects by itself.
      if (what !== trouble) process.stderr.write(`hactl: ${what}; retrying\n`);
      trouble = what;
    },
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  following.close();
}
