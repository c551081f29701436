// Agents for the security tests, which bring their own etcd (TLS, auth) instead of LocalCluster's:
// a host config file per agent, the compiled `hactl agent` as a child process, stop by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { HACTL_JS } from '../../cli/dev/local-cluster.js';
import { freePort, stopProcess } from '../../cli/dev/etcd-process.js';
import { AGENT_ENV, AGENT_NODE_FLAGS } from '../../agent/shell/runtime-flags.js';
import { Keys } from '../../agent/etcd/keys.js';
import { clusterStatus, type ClusterStatus } from '../../cli/status-model.js';
import { registerCleanup } from './cleanup.js';

export interface SecAgent {
  node: string;
  dir: string;
  configFile: string;
  logFile: string;
  httpPort: number;
  process: ChildProcess;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Writes `<dir>/<node>/agent.yaml` (with `etcdYaml` as the etcd: block) and starts the agent. */
export async function startSecAgent(dir: string, node: string, cluster: string, etcdYaml: string, extra = ''): Promise<SecAgent> {
  const agentDir = join(dir, node);
  await mkdir(agentDir, { recursive: true });
  const configFile = join(agentDir, 'agent.yaml');
  const httpPort = await freePort();
  await writeFile(
    configFile,
    [`node: ${node}`, `cluster: ${cluster}`, `etcd: ${etcdYaml}`, `dataDir: ${join(agentDir, 'data')}`, 'resourceDirs: []', `http: { listen: 127.0.0.1:${httpPort} }`, 'log: { level: info }', extra].join('\n') + '\n',
  );
  const logFile = join(agentDir, 'agent.log');
  const log = await open(logFile, 'a');
  const child = spawn(process.execPath, [...AGENT_NODE_FLAGS, HACTL_JS, 'agent', '--config', configFile], {
    stdio: ['ignore', log.fd, log.fd],
    detached: true,
    env: { ...process.env, ...AGENT_ENV, HACTL_DEV_PARENT_PID: String(process.pid) },
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => log.close().catch(() => undefined));
  const unregister = registerCleanup(
    () => stopProcess(child, 'SIGKILL'),
    () => {
      try {
        if (child.pid) process.kill(child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    },
  );
  return {
    node,
    dir: agentDir,
    configFile,
    logFile,
    httpPort,
    process: child,
    exited,
    async stop(signal = 'SIGTERM') {
      await stopProcess(child, signal);
      unregister();
    },
  };
}

export async function readText(file: string): Promise<string> {
  return readFile(file, 'utf8').catch(() => '');
}

/** Polls the cluster status (through the same code as `hactl status`) until `pred` holds. */
export async function waitStatus(client: Etcd3, cluster: string, what: string, timeoutMs: number, pred: (s: ClusterStatus) => boolean): Promise<ClusterStatus> {
  const keys = Keys.forCluster(cluster);
  const deadline = performance.now() + timeoutMs;
  let last: ClusterStatus | undefined;
  for (;;) {
    last = await clusterStatus(client, keys, cluster, Date.now()).catch(() => last);
    if (last && pred(last)) return last;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last?.sets)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
