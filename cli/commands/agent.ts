// hactl agent [--config F]: the host agent in the foreground (what systemd starts).
import { connectionFromHostConfig, makeEtcdClient, type EtcdConnection } from '../../agent/etcd/client.js';
import { prestartKeeperThread } from '../../agent/etcd/keeper-thread.js';
import { Keys } from '../../agent/etcd/keys.js';
import { systemClock } from '../../agent/ports/clock.js';
import { certificateCn, etcdErrorLine, hostConfigFrom, hostConfigPath, type GlobalOptions } from '../connect.js';
import { CliError, EXIT } from '../errors.js';

export async function agentCommand(opts: GlobalOptions): Promise<void> {
  const config = await hostConfigFrom(opts, true);
  let conn;
  try {
    conn = await connectionFromHostConfig(config);
  } catch (err) {
    throw new CliError(`cannot read etcd credentials: ${(err as NodeJS.ErrnoException).message}`, EXIT.USAGE);
  }
  // The lease thread first: it loads its etcd client while this thread loads the rest of the
  // agent, so a restarted agent reaches its lease (to resume it within the TTL) sooner.
  prestartKeeperThread(conn);
  const [{ HostAgent }, { makeLogger }, { HostConfigReloader }] = await Promise.all([
    import('../../agent/shell/agent.js'),
    import('../../agent/shell/log.js'),
    import('../../agent/shell/reload.js'),
  ]);
  const log = makeLogger(config.log.level, { node: config.node, cluster: config.cluster });
  await refuseIfDenied(conn, config.cluster, config.node);
  const agent = new HostAgent(config, conn, systemClock, log);
  process.on('uncaughtException', (err) => {
    // Crash, don't limp: the lease expires safely and systemd restarts the agent.
    log.fatal({ err: err.stack }, 'uncaught exception; exiting');
    process.exit(70);
  });
  await agent.start();
  // log.level, resourceDirs and the agent files in them are picked up without a restart.
  // Not awaited: the signal handlers below must not wait for the watchers.
  const reloader = new HostConfigReloader(hostConfigPath(opts), config, log, agent);
  reloader.start().catch((err: unknown) => log.warn({ err: String(err) }, 'host configuration is not watched'));
  // In development clusters, leave when the parent that launched us is gone.
  const devParent = Number(process.env.HACTL_DEV_PARENT_PID ?? 0);
  if (devParent > 0) {
    setInterval(() => {
      if (process.ppid !== devParent) void shutdown('SIGTERM');
    }, 500).unref();
  }
  let shuttingDown = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (shuttingDown) return;
    shuttingDown = true;
    const leave = agent.inMaintenance();
    log.info({ signal, leaveResources: leave }, 'shutting down');
    await reloader.close();
    await agent.stop(leave);
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  await new Promise<void>(() => undefined);
}

/**
 * One read before the agent starts: a certificate etcd does not trust, a user it does not know, or
 * a role without access is a configuration error to report in one line and exit 4 (the agent
 * would otherwise retry forever). An etcd that is merely not reachable yet is left to the agent's
 * own retries.
 */
async function refuseIfDenied(conn: EtcdConnection, cluster: string, node: string): Promise<void> {
  const client = makeEtcdClient(conn);
  try {
    await client.get(Keys.forCluster(cluster).config()).exec();
  } catch (err) {
    const line = etcdErrorLine(err, conn.endpoints, {
      doing: `start the agent of ${node}`,
      key: Keys.forCluster(cluster).config(),
      who: conn.auth?.username ?? certificateCn(conn.tls?.cert),
    });
    if (line.exitCode === EXIT.REFUSED) throw line;
  } finally {
    client.close();
  }
}
