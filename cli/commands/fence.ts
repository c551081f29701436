// hactl fence NODE --confirm-down: record that an operator made sure the node is off (the
// equivalent of Pacemaker's `stonith_admin --confirm`). A set that requires fencing and lost its
// owner to a lease expiry may then start elsewhere. Refused while the node is online.
import { userInfo, hostname } from 'node:os';
import { connect, etcdErrorLine, type GlobalOptions } from '../connect.js';
import { CliError, EXIT, notFound, refused, usageError } from '../errors.js';
import { readView } from '../status-model.js';

export async function fenceCommand(node: string, opts: GlobalOptions & { confirmDown?: boolean; yes?: boolean }): Promise<void> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(node)) throw usageError(`not a valid node name: ${node}`);
  if (!opts.confirmDown) {
    throw new CliError('fencing through a fence device is not available in this version; after making sure the node is powered off, run hactl fence NODE --confirm-down', EXIT.OTHER);
  }
  const session = await connect(opts);
  try {
    let view;
    try {
      ({ view } = await readView(session.client, session.keys));
    } catch (err) {
      throw etcdErrorLine(err, session.config.etcd.endpoints);
    }
    const known = view.nodes.has(node) || view.members.has(node) || (view.config?.nodes !== undefined && node in view.config.nodes);
    if (!known) throw notFound(`no node named ${node}`);
    const nodeKey = session.keys.node(node);
    const record = JSON.stringify({ how: 'operator confirmed down', by: `${userInfo().username}@${hostname()}`, atWallMs: Date.now() });
    // Guarded: the node key must not exist (an online node is not down).
    const res = await session.client
      .if(nodeKey, 'Create', '==', 0)
      .then(session.client.put(session.keys.fence(node)).value(record))
      .commit()
      .catch((err: unknown) => {
        throw etcdErrorLine(err, session.config.etcd.endpoints);
      });
    if (!res.succeeded) throw refused(`${node} is online (its agent holds a live lease); refusing to record it as down`);
    const revision = Number(res.header.revision);
    process.stdout.write(opts.json ? JSON.stringify({ node, fenced: true, how: 'operator confirmed down', revision }) + '\n' : `recorded ${node} as down (confirmed by operator) at revision ${revision}\n`);
  } finally {
    session.close();
  }
}
