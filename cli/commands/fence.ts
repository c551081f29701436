// hactl fence NODE --confirm-down: record that an operator made sure the node is off (the
// equivalent of Pacemaker's `stonith_admin --confirm`). A set that requires fencing and lost its
// owner to a lease expiry may then start elsewhere. Refused while the node is online.
//
// hactl fence NODE [--yes]: fence the node now through its device (`nodes.<NODE>.fence`, SPEC §7)
// with the device's action (`params.action`, default off), from this host (which needs the device's
// secret files), then record the fence exactly as --confirm-down does. Refused while the node is
// online unless --force-online: fencing a healthy host cuts the power under running sets, and its
// agent had no chance to stop them cleanly.
import { userInfo, hostname } from 'node:os';
import { createInterface } from 'node:readline/promises';
import { connect, etcdErrorLine, type GlobalOptions, type Session } from '../connect.js';
import { CliError, EXIT, notFound, refused, timedOut, usageError } from '../errors.js';
import { readView } from '../status-model.js';
import { configuredFenceAction, deviceLabel, fenceDeviceFor, fenceNode } from '../../agent/fence/device.js';
import { deviceFenceHow, fenceRecordJson } from '../../agent/fence/record.js';

export async function fenceCommand(node: string, opts: GlobalOptions & { confirmDown?: boolean; yes?: boolean; forceOnline?: boolean }): Promise<void> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(node)) throw usageError(`not a valid node name: ${node}`);
  const session = await connect(opts);
  try {
    let view;
    try {
      ({ view } = await readView(session.client, session.keys));
    } catch (err) {
      throw etcdErrorLine(err, session.config.etcd.endpoints, { doing: 'read the cluster state', key: session.keys.prefix, who: session.identity });
    }
    const known = view.nodes.has(node) || view.members.has(node) || (view.config?.nodes !== undefined && node in view.config.nodes);
    if (!known) throw notFound(`no node named ${node}`);
    if (opts.confirmDown) {
      const revision = await recordFence(session, node, 'operator confirmed down', { onlyIfOffline: true });
      process.stdout.write(opts.json ? JSON.stringify({ node, fenced: true, how: 'operator confirmed down', revision }) + '\n' : `recorded ${node} as down (confirmed by operator) at revision ${revision}\n`);
      return;
    }

    const device = view.config ? fenceDeviceFor(view.config, node) : null;
    if (!device) {
      throw new CliError(`no fence device configured for ${node} (nodes.${node}.fence in the cluster configuration); after making sure it is powered off, run hactl fence ${node} --confirm-down`, EXIT.OTHER);
    }
    if (view.nodes.has(node) && !opts.forceOnline) {
      throw refused(`${node} is online (its agent holds a live lease); refusing to fence it (--force-online fences it anyway, cutting its sets off without a clean stop)`);
    }
    const action = configuredFenceAction(device.params);
    if (!action.ok) throw new CliError(`${deviceLabel(device)}: ${action.reason}`, EXIT.OTHER);
    const how = deviceFenceHow(device, action.value);
    if (!opts.yes) {
      if (!process.stdin.isTTY) throw usageError(`refusing to fence ${node} without confirmation (stdin is not a terminal); add --yes`);
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      const answer = await rl.question(`fence ${node} through ${how}${view.nodes.has(node) ? ' (it is ONLINE)' : ''}? [y/N] `).finally(() => rl.close());
      if (!/^y(es)?$/i.test(answer.trim())) throw new CliError(`not fenced: ${node} (not confirmed)`, EXIT.OTHER);
    }
    const outcome = await fenceNode(device, node, action.value);
    if (outcome.status === 'timed-out') throw timedOut(outcome.reason);
    if (outcome.status !== 'fenced') throw new CliError(outcome.reason, EXIT.OTHER);
    // The device confirmed the fence: recorded even if the node's lease is still live (--force-online).
    const revision = await recordFence(session, node, how, { onlyIfOffline: false });
    process.stdout.write(
      opts.json ? JSON.stringify({ node, fenced: true, how, revision, durationMs: Math.round(outcome.durationMs) }) + '\n' : `fenced ${node} through ${how} in ${(outcome.durationMs / 1000).toFixed(1)}s; recorded at revision ${revision}\n`,
    );
  } finally {
    session.close();
  }
}

/** Writes `fences/<node>` (the record the fence gate waits for); with onlyIfOffline, only while the node key is absent. */
async function recordFence(session: Session, node: string, how: string, opts: { onlyIfOffline: boolean }): Promise<number> {
  const nodeKey = session.keys.node(node);
  const record = fenceRecordJson(how, `${userInfo().username}@${hostname()}`, Date.now());
  const put = session.client.put(session.keys.fence(node)).value(record);
  const failed = (err: unknown): never => {
    throw etcdErrorLine(err, session.config.etcd.endpoints, { doing: `record ${node} as ${opts.onlyIfOffline ? 'down' : 'fenced'}`, key: session.keys.fence(node), who: session.identity });
  };
  if (!opts.onlyIfOffline) return Number((await put.exec().catch(failed)).header.revision);
  // Guarded: the node key must not exist (an online node is not down).
  const res = await session.client.if(nodeKey, 'Create', '==', 0).then(put).commit().catch(failed);
  if (!res.succeeded) throw refused(`${node} is online (its agent holds a live lease); refusing to record it as down`);
  return Number(res.header.revision);
}
