// hactl rbac print [--cluster C] [--nodes A,B] | apply: least privilege in etcd (docs/security.md).
// `print` writes the etcdctl commands; `apply` carries them out through the etcd3 client's auth
// API, connected as root (a client certificate with CN=root, or --user root --password-file F).
// Only calls that exist on etcd 3.4 are used: role/user add, grant, auth enable (not authStatus,
// a 3.5 RPC). Applying twice is harmless: "already exists" is not an error.
import { readFile } from 'node:fs/promises';
import { Range, type Etcd3 } from 'etcd3';
import { connect, etcdErrorLine, hostConfigFrom, type GlobalOptions, type Session } from '../connect.js';
import { usageError } from '../errors.js';
import { etcdctlCommands, rbacPlan, type RbacPlan } from '../rbac-plan.js';

export interface RbacOptions extends GlobalOptions {
  nodes?: string;
  rootPasswordFile?: string;
  /** apply: leave authentication disabled (only create roles and users). */
  enable?: boolean;
}

const NODE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

function nodeList(opts: RbacOptions): string[] {
  if (!opts.nodes) return [];
  const nodes = opts.nodes.split(',').map((n) => n.trim()).filter(Boolean);
  for (const n of nodes) if (!NODE_RE.test(n)) throw usageError(`--nodes: not a valid node name: ${n}`);
  return nodes;
}

export async function rbacPrintCommand(opts: RbacOptions): Promise<void> {
  const config = await hostConfigFrom(opts);
  const nodes = nodeList(opts);
  const plan = rbacPlan(config.cluster, nodes);
  if (opts.json) {
    process.stdout.write(JSON.stringify(plan, null, 2) + '\n');
    return;
  }
  process.stdout.write(etcdctlCommands(plan, { rootPasswordFile: opts.rootPasswordFile, nodesGiven: nodes.length > 0 }).join('\n') + '\n');
}

export async function rbacApplyCommand(opts: RbacOptions): Promise<void> {
  const nodes = nodeList(opts);
  if (nodes.length === 0) throw usageError('rbac apply needs --nodes (the hosts whose agents get a user hactl-agent-<node>)');
  let rootPassword: string | undefined;
  if (opts.rootPasswordFile) {
    try {
      rootPassword = (await readFile(opts.rootPasswordFile, 'utf8')).trim();
    } catch (err) {
      throw usageError(`cannot read --root-password-file ${opts.rootPasswordFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    if (!rootPassword) throw usageError(`--root-password-file ${opts.rootPasswordFile} is empty`);
  }
  const session = await connect(opts);
  const plan = rbacPlan(session.config.cluster, nodes);
  try {
    const done = await applyPlan(session, plan, rootPassword, opts.enable !== false);
    if (opts.json) process.stdout.write(JSON.stringify({ applied: true, ...done }) + '\n');
    else {
      process.stdout.write(
        `roles ${plan.roles.map((r) => r.name).join(', ')}; users ${plan.users.map((u) => u.name).join(', ')}, root; ` +
          `${done.authEnabled ? 'authentication enabled' : 'authentication left as it was'}\n`,
      );
    }
  } finally {
    session.close();
  }
}

/** Applies a plan; each step tolerates "already exists", so running it again changes nothing. */
export async function applyPlan(session: Session, plan: RbacPlan, rootPassword: string | undefined, enable: boolean): Promise<{ authEnabled: boolean }> {
  const client: Etcd3 = session.client;
  const step = async (doing: string, key: string | undefined, fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      if (err instanceof Error && /already exists|already granted/i.test(err.message)) return;
      throw etcdErrorLine(err, session.config.etcd.endpoints, { doing, key, who: session.identity });
    }
  };
  for (const role of ['root', ...plan.roles.map((r) => r.name)]) {
    await step(`add role ${role}`, undefined, () => client.role(role).create());
  }
  for (const role of plan.roles) {
    for (const g of role.grants) {
      await step(`grant ${role.name} ${g.permission.toLowerCase()} on ${g.key}`, undefined, () =>
        client.role(role.name).grant(g.prefix ? { permission: g.permission, range: Range.prefix(g.key) } : { permission: g.permission, key: g.key }),
      );
    }
  }
  const addUser = async (name: string, role: string, password?: string): Promise<void> => {
    // No password: the identity is the client certificate's CN (etcd 3.4 UserAddOptions.no_password).
    await step(`add user ${name}`, undefined, () =>
      client.auth.userAdd(password ? { name, password } : { name, password: '', options: { no_password: true } }),
    );
    await step(`grant role ${role} to ${name}`, undefined, () => client.user(name).addRole(role));
  };
  for (const u of plan.users) await addUser(u.name, u.role);
  await addUser('root', 'root', rootPassword);
  if (!enable) return { authEnabled: false };
  try {
    await client.auth.authEnable();
  } catch (err) {
    throw etcdErrorLine(err, session.config.etcd.endpoints, { doing: 'enable authentication', who: session.identity });
  }
  return { authEnabled: true };
}
