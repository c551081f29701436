// hactl status [--json] [--watch]
import { PrefixWatcher } from '../../agent/etcd/watcher.js';
import { connect, etcdErrorLine, type GlobalOptions } from '../connect.js';
import { clusterStatus, type ClusterStatus } from '../status-model.js';
import { clockTime, table } from '../table.js';

export function renderStatus(s: ClusterStatus): string {
  const lines: string[] = [];
  lines.push(`cluster ${s.cluster}   revision ${s.revision}${s.maintenance ? '   MAINTENANCE (cluster-wide)' : ''}`);
  lines.push('');
  lines.push(table(['NODE', 'STATE', 'SETS'], s.nodes.map((n) => [n.name, n.state, n.sets.join(',')])));
  lines.push('');
  if (s.sets.length === 0) lines.push('no service sets configured (hactl config apply FILE)');
  for (const set of s.sets) {
    if (set.instances) {
      lines.push(table(['SET', 'MODE', 'STATE', 'NODES'], [[set.name, `clone x${set.instances.length}`, set.state, (set.nodes ?? []).join(',')]]));
      lines.push(table(['INSTANCE', 'STATE', 'NODE', 'SINCE', 'TOKEN', 'WHY'], set.instances.map((i) => [i.name, i.state, i.node, clockTime(i.since), i.fencingToken, i.reason]), '  '));
      lines.push('');
      continue;
    }
    lines.push(table(['SET', 'MODE', 'STATE', 'NODE', 'SINCE', 'TOKEN'], [[set.name, set.mode, set.state, set.node, clockTime(set.since), set.fencingToken]]));
    if (set.reason) lines.push(`  why: ${set.reason}`);
    lines.push(table(['RESOURCE', 'TYPE', 'STATE', 'FAILS', 'LAST FAILURE'], set.resources.map((r) => [r.id, r.type, r.state, r.failCount, r.lastReason]), '  '));
    lines.push('');
  }
  if (s.devices.length > 0) {
    lines.push(table(['FENCE DEVICE', 'AGENT', 'FENCES', 'HEALTH', 'CHECKED', 'BY'], s.devices.map((d) => [d.name, d.agent, d.fences.join(','), d.state, clockTime(d.checkedAt ?? null), d.by])));
    for (const d of s.devices) if (d.reason) lines.push(`  ${d.name}: ${d.reason}`);
    lines.push('');
  }
  for (const p of s.problems) lines.push(`warning: ${p}`);
  return lines.join('\n').trimEnd();
}

export async function statusCommand(opts: GlobalOptions & { watch?: boolean }): Promise<void> {
  const session = await connect(opts);
  const show = async (): Promise<void> => {
    let s: ClusterStatus;
    try {
      s = await clusterStatus(session.client, session.keys, session.config.cluster, Date.now());
    } catch (err) {
      throw etcdErrorLine(err, session.config.etcd.endpoints, { doing: 'read the cluster status', key: session.keys.prefix, who: session.identity });
    }
    if (opts.json) process.stdout.write(JSON.stringify(s, null, opts.watch ? 0 : 2) + '\n');
    else process.stdout.write((opts.watch ? '\x1b[2J\x1b[H' : '') + renderStatus(s) + '\n');
  };
  try {
    await show();
    if (!opts.watch) return;
    // Redraw on change, not on a timer.
    let pending = false;
    const watcher = new PrefixWatcher(session.client, session.keys.prefix, {
      changed: () => {
        if (pending) return;
        pending = true;
        setTimeout(() => {
          pending = false;
          void show().catch(() => undefined);
        }, 50);
      },
      trouble: () => undefined,
    });
    await watcher.start();
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    watcher.close();
  } finally {
    session.close();
  }
}
