// hactl dev [--nodes N] and hactl demo: a local cluster on this machine with an embedded etcd.
import { fileURLToPath } from 'node:url';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { Keys } from '../../agent/etcd/keys.js';
import { LocalCluster } from '../dev/local-cluster.js';
import { freePort } from '../dev/etcd-process.js';
import { clusterStatus, type ClusterStatus } from '../status-model.js';
import { renderStatus } from './status.js';
import { CliError, EXIT, usageError } from '../errors.js';
import { checkClusterConfig } from '../../agent/config/load-cluster.js';

const DEMO_APP_JS = fileURLToPath(new URL('../dev/demo-app.js', import.meta.url));

/** The demo's service set: harmless resources whose stop timeouts add up to fenceMargin (no takeover grace). */
export function demoConfigYaml(appPort: number): string {
  return `# hactl demo cluster: one service set of harmless resources.
timing:
  leaseTtl: 2s
  fenceMargin: 800ms
serviceSets:
  DEMO:
    prefer: [n1, n2, n3]
    resources:
      - id: demo-data
        type: dummy
        monitor: { interval: 2s, timeout: 2s }
        stop: { timeout: 300ms }
      - id: demo-app
        type: process
        params:
          command: ${process.execPath}
          args: [${JSON.stringify(DEMO_APP_JS)}]
          env: { DEMO_PORT: "${appPort}" }
          tcpPort: ${appPort}
          stopTimeout: 300ms
        monitor: { interval: 2s, timeout: 2s }
        start: { timeout: 5s }
        stop: { timeout: 500ms }
`;
}

async function applyConfig(lc: LocalCluster, yaml: string): Promise<void> {
  const check = checkClusterConfig(yaml);
  if (!check.ok) throw new CliError(`demo config invalid: ${check.errors[0]}`, EXIT.OTHER);
  const client = new Etcd3({ hosts: lc.endpoints });
  try {
    await client.put(Keys.forCluster(lc.cluster).config()).value(JSON.stringify({ yaml, appliedAtWallMs: Date.now(), appliedBy: 'hactl dev' })).exec();
  } finally {
    client.close();
  }
}

/** Waits until every agent of the local cluster has registered, so placement sees them all. */
async function waitForAgents(lc: LocalCluster): Promise<void> {
  const names = lc.agents.map((a) => a.node);
  await waitFor(lc, 'all agents online', 30_000, (s) => names.every((n) => s.nodes.some((x) => x.name === n && x.state === 'online')));
}

async function status(lc: LocalCluster): Promise<ClusterStatus> {
  const client = new Etcd3({ hosts: lc.endpoints });
  try {
    return await clusterStatus(client, Keys.forCluster(lc.cluster), lc.cluster, Date.now());
  } finally {
    client.close();
  }
}

async function waitFor(lc: LocalCluster, what: string, timeoutMs: number, pred: (s: ClusterStatus) => boolean): Promise<ClusterStatus> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const s = await status(lc).catch(() => null);
    if (s && pred(s)) return s;
    if (performance.now() > deadline) throw new CliError(`demo: ${what} did not happen within ${timeoutMs / 1000}s (logs in ${lc.dir})`, EXIT.TIMEOUT);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function askApp(port: number): Promise<string> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) });
    return (await res.text()).trim();
  } catch {
    return '(no answer)';
  }
}

/** Set once the local cluster is being stopped on purpose: its etcd exiting is then expected. */
let stopping = false;

/** Stops the cluster on Ctrl-C / SIGTERM, once. */
function stopOnSignals(lc: LocalCluster): () => void {
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${signal}: stopping the local cluster...\n`);
    void lc.stop().finally(() => process.exit(130));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/**
 * `hactl dev` without its etcd is no cluster: the agents would only retry and self-fence. When the
 * embedded etcd exits (killed, out of disk, crashed) hactl dev says so with its log file, stops the
 * agents and exits 1, rather than restarting it: a restarted etcd would hide whatever killed it.
 */
function stopWhenEtcdDies(lc: LocalCluster): void {
  for (const m of lc.etcd.members) {
    m.process?.once('exit', (code, signal) => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`hactl dev: etcd (pid ${m.process?.pid ?? '?'}) exited (${signal ?? `code ${code}`}); its log: ${m.logFile}; stopping the local cluster\n`);
      void lc.stop().finally(() => process.exit(EXIT.OTHER));
    });
  }
}

export async function demoCommand(opts: { keep?: boolean }): Promise<void> {
  const out = (line = ''): boolean => process.stdout.write(line + '\n');
  out('hactl demo: a local cluster with an embedded etcd and three agents, then a failover.');
  const lc = await LocalCluster.start({ nodes: 3, keepDir: opts.keep });
  const unhook = stopOnSignals(lc);
  try {
    out(`  etcd      ${lc.endpoints.join(',')} (pid ${lc.etcd.members[0].process?.pid}, data in ${lc.dir})`);
    out(`  agents    ${lc.agents.map((a) => `${a.node} (pid ${a.process?.pid})`).join(', ')}`);
    const appPort = await freePort();
    const yaml = demoConfigYaml(appPort);
    await writeFile(join(lc.dir, 'demo.yaml'), yaml);
    await waitForAgents(lc);
    out('');
    out('Applying the demo configuration: service set DEMO = dummy "demo-data" + process "demo-app",');
    out('preferring n1, then n2, then n3; leaseTtl 2s, fenceMargin 800ms.');
    await applyConfig(lc, yaml);
    const running = await waitFor(lc, 'DEMO running', 30_000, (s) => s.sets.some((x) => x.name === 'DEMO' && x.state === 'running'));
    out('');
    out(renderStatus(running));
    const first = running.sets.find((x) => x.name === 'DEMO')!;
    out('');
    out(`demo-app at 127.0.0.1:${appPort} answers: ${await askApp(appPort)}`);
    out('');
    out(`Killing host ${first.node}: SIGKILL of its agent and of the processes its resources started.`);
    const killedAtMs = performance.now();
    await lc.killHost(first.node!);
    const after = await waitFor(lc, 'failover', 30_000, (s) => s.sets.some((x) => x.name === 'DEMO' && x.state === 'running' && x.node !== first.node));
    const tookMs = performance.now() - killedAtMs;
    const moved = after.sets.find((x) => x.name === 'DEMO')!;
    out(`DEMO is running on ${moved.node} ${(tookMs / 1000).toFixed(2)}s after the kill ` + `(fencing token ${moved.fencingToken}, was ${first.fencingToken}).`);
    out(`demo-app answers: ${await askApp(appPort)}`);
    out('');
    out(renderStatus(after));
    out('');
    out('Stopping everything this demo started...');
  } finally {
    unhook();
    await lc.stop();
  }
  out('Done. Next: `hactl dev` keeps such a cluster running for you to explore.');
}

export async function devCommand(opts: { nodes?: string; json?: boolean }): Promise<void> {
  const nodes = opts.nodes === undefined ? 3 : Number(opts.nodes);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 16) throw usageError(`--nodes: a whole number from 1 to 16, not ${opts.nodes}`);
  const lc = await LocalCluster.start({ nodes });
  stopOnSignals(lc);
  stopWhenEtcdDies(lc);
  const appPort = await freePort();
  const yaml = demoConfigYaml(appPort).replace('prefer: [n1, n2, n3]', `prefer: [${lc.agents.map((a) => a.node).join(', ')}]`);
  await writeFile(join(lc.dir, 'demo.yaml'), yaml);
  await waitForAgents(lc);
  await applyConfig(lc, yaml);
  const env = lc.cliEnv();
  if (opts.json) {
    // One line a script can read to point hactl at the cluster; the cluster runs until SIGINT/SIGTERM.
    process.stdout.write(JSON.stringify({ endpoints: lc.endpoints, cluster: lc.cluster, nodes: lc.agents.map((a) => a.node), dir: lc.dir, config: join(lc.dir, 'demo.yaml') }) + '\n');
    await new Promise<void>(() => undefined);
  }
  process.stdout.write(
    [
      `hactl dev: etcd at ${lc.endpoints.join(',')}, agents ${lc.agents.map((a) => a.node).join(' ')}, cluster "${lc.cluster}".`,
      `Logs and data: ${lc.dir}  (demo config: ${join(lc.dir, 'demo.yaml')})`,
      '',
      'Point hactl at it from another terminal:',
      `  export HACTL_ENDPOINTS=${env.HACTL_ENDPOINTS} HACTL_CLUSTER=${env.HACTL_CLUSTER}`,
      '  hactl status',
      '  hactl failover DEMO --to n2 --wait',
      '  hactl web          # the console in a browser, at http://127.0.0.1:8080',
      '',
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
  await new Promise<void>(() => undefined);
}
