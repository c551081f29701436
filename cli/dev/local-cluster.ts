// A local cluster on this machine, for `hactl dev`, `hactl demo` and tests: an embedded etcd that
// hactl launches and owns, and N agents as child processes, each with its own data directory.
// Everything it starts it stops, by PID, including on Ctrl-C.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, writeFile, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startEtcdCluster, stopProcess, type EtcdCluster } from './etcd-process.js';
import { AGENT_ENV, AGENT_NODE_FLAGS } from '../../agent/shell/runtime-flags.js';

export const HACTL_JS = fileURLToPath(new URL('../hactl.js', import.meta.url));

export interface LocalAgent {
  node: string;
  dir: string;
  configFile: string;
  logFile: string;
  process: ChildProcess | null;
}

export interface LocalClusterOptions {
  nodes: number;
  cluster?: string;
  /** Keep the directory after stop (for looking at logs). */
  keepDir?: boolean;
  etcdMembers?: number;
  logLevel?: string;
  /** The etcd endpoints an agent is given (default: all members). */
  endpointsFor?: (node: string, all: string[]) => string[];
  /** Extra host-config YAML lines per agent. */
  extraHostConfig?: (node: string) => string;
}

export class LocalCluster {
  readonly agents: LocalAgent[] = [];
  private constructor(
    readonly dir: string,
    readonly etcd: EtcdCluster,
    readonly cluster: string,
    private readonly options: LocalClusterOptions,
  ) {}

  static async start(options: LocalClusterOptions): Promise<LocalCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'hactl-dev-'));
    let etcd: EtcdCluster;
    try {
      etcd = await startEtcdCluster(join(dir, 'etcd'), options.etcdMembers ?? 1);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    const lc = new LocalCluster(dir, etcd, options.cluster ?? 'dev', options);
    try {
      for (let i = 1; i <= options.nodes; i++) await lc.addAgent(`n${i}`);
    } catch (err) {
      await lc.stop();
      throw err;
    }
    return lc;
  }

  get endpoints(): string[] {
    return this.etcd.endpoints;
  }

  /** Environment that points the hactl CLI at this cluster. */
  cliEnv(): Record<string, string> {
    return { HACTL_ENDPOINTS: this.endpoints.join(','), HACTL_CLUSTER: this.cluster };
  }

  async addAgent(node: string): Promise<LocalAgent> {
    const agentDir = join(this.dir, node);
    await mkdir(agentDir, { recursive: true });
    const configFile = join(agentDir, 'agent.yaml');
    const httpPort = await freePort();
    await writeFile(
      configFile,
      [
        `node: ${node}`,
        `cluster: ${this.cluster}`,
        `etcd: { endpoints: [${(this.options.endpointsFor?.(node, this.endpoints) ?? this.endpoints).join(', ')}] }`,
        `dataDir: ${join(agentDir, 'data')}`,
        `resourceDirs: []`,
        `http: { listen: 127.0.0.1:${httpPort} }`,
        `log: { level: ${this.options.logLevel ?? 'info'} }`,
        this.options.extraHostConfig?.(node) ?? '',
      ].join('\n') + '\n',
    );
    const agent: LocalAgent = { node, dir: agentDir, configFile, logFile: join(agentDir, 'agent.log'), process: null };
    this.agents.push(agent);
    await this.startAgent(node);
    return agent;
  }

  agent(node: string): LocalAgent {
    const a = this.agents.find((x) => x.node === node);
    if (!a) throw new Error(`no agent ${node}`);
    return a;
  }

  async startAgent(node: string): Promise<void> {
    const a = this.agent(node);
    if (a.process && a.process.exitCode === null && a.process.signalCode === null) return;
    const log = await open(a.logFile, 'a');
    a.process = spawn(process.execPath, [...AGENT_NODE_FLAGS, HACTL_JS, 'agent', '--config', a.configFile], {
      stdio: ['ignore', log.fd, log.fd],
      detached: true,
      env: { ...process.env, ...AGENT_ENV, HACTL_DEV_PARENT_PID: String(process.pid) },
    });
    a.process.once('exit', () => void log.close().catch(() => undefined));
  }

  /**
   * Stops an agent the way systemd would (SIGTERM: stops its sets and leaves cleanly), with
   * SIGKILL after `killAfterMs` as systemd's TimeoutStopSec (give slow stops more).
   */
  async stopAgent(node: string, killAfterMs = 5000): Promise<void> {
    const a = this.agent(node);
    if (a.process) await stopProcess(a.process, 'SIGTERM', killAfterMs);
    a.process = null;
  }

  /** Kills only the agent process (SIGKILL): its resources keep running. */
  async killAgent(node: string): Promise<void> {
    const a = this.agent(node);
    if (a.process) await stopProcess(a.process, 'SIGKILL');
    a.process = null;
  }

  /**
   * Stands in for the death of a whole host: SIGKILL of its agent and of every process its
   * resources left running (found through the pidfiles in its run directory, by PID).
   */
  async killHost(node: string): Promise<void> {
    await this.killAgent(node);
    const runDir = join(this.agent(node).dir, 'data', 'run');
    let entries: string[] = [];
    try {
      entries = await readdir(runDir);
    } catch {
      return;
    }
    for (const name of entries) {
      if (name.endsWith('.pid')) {
        const pid = Number((await readFile(join(runDir, name), 'utf8').catch(() => '')).trim().split(/\s+/)[0]);
        if (Number.isInteger(pid) && pid > 1) {
          try {
            process.kill(-pid, 'SIGKILL');
          } catch {
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              // already gone
            }
          }
        }
      }
      // A dead host's state files die with it (its /run is a tmpfs).
      await rm(join(runDir, name), { force: true, recursive: true });
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.agents.map((a) => (a.process ? stopProcess(a.process, 'SIGTERM') : Promise.resolve())));
    for (const a of this.agents) a.process = null;
    await this.etcd.stop();
    if (!this.options.keepDir) await rm(this.dir, { recursive: true, force: true });
  }
}
