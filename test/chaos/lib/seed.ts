// The seed deployment of the chaos suite (SPEC §1): one service set QM1 = shared disk, floating IP,
// ActiveMQ queue manager with its data on the disk, and the adapter as a `process` resource;
// prefer [A, B, spare], leaseTtl 3s. Generates the per-host agent.yaml (SPEC §3.1) and the cluster
// configuration (SPEC §3.2) as YAML text.
import { stringify } from 'yaml';

export interface SeedOptions {
  cluster: string;
  etcdEndpoints: string[];
  nodes: string[]; // in preference order, e.g. [A, B, spare]
  vip: string; // without prefix length
  prefixLen?: number;
  /** The device path every host sees for its own loop device of the shared disk. */
  diskDevice: string;
  mountDir: string;
  adapterJs: string;
  nodeBin: string;
  stompPort?: number;
  leaseTtl?: string;
  fenceMargin?: string;
  /** timing.suspectAfter (the fast fenced takeover); the agents' default when absent. */
  suspectAfter?: string;
  /** Without the broker and the adapter: the set is the disk and the floating IP only. */
  brokerless?: boolean;
  /**
   * A `dummy` resource last in the set (stopped first): a file `<runDir>/qm1-gate.fail-stop` on a
   * host makes its stop fail there, while disk, IP and broker stay up (the failed-stop faults).
   */
  gate?: boolean;
  /** The gate's stop takes this long (its stop timeout is 5 s): a resource agent hanging in stop. */
  gateStopDelay?: string;
  /** requireFencing as an operator would set it (default: true with a fence device, false without). */
  requireFencing?: boolean;
  /** Fence device: the testbed's power switch (an executable path), or none. */
  fenceAgent?: string | undefined;
  fenceUrl?: string | undefined;
  /** A password file for the fence device (`password_file`): the agent gets the secret on stdin. */
  fencePasswordFile?: string | undefined;
}

export function hostConfigYaml(o: { node: string; cluster: string; endpoints: string[]; dataDir: string; level?: string; resourceDirs?: string[] }): string {
  return stringify({
    node: o.node,
    cluster: o.cluster,
    etcd: { endpoints: o.endpoints },
    dataDir: o.dataDir,
    log: { level: o.level ?? 'debug' },
  });
}

/** The CLI's own config (the root namespace's view of the cluster). */
export function cliConfigYaml(o: { cluster: string; endpoints: string[]; dataDir: string }): string {
  return stringify({ node: 'observer', cluster: o.cluster, etcd: { endpoints: o.endpoints }, dataDir: o.dataDir, log: { level: 'warn' } });
}

export function clusterConfig(o: SeedOptions): Record<string, unknown> {
  const port = o.stompPort ?? 61613;
  const nodes: Record<string, Record<string, string>> = {};
  for (const n of o.nodes) nodes[n] = o.fenceAgent ? { fence: 'testbed-power' } : {};
  const cfg: Record<string, unknown> = {
    timing: { leaseTtl: o.leaseTtl ?? '3s', fenceMargin: o.fenceMargin ?? '1s', ...(o.suspectAfter ? { suspectAfter: o.suspectAfter } : {}) },
    nodes,
    serviceSets: {
      QM1: {
        prefer: o.nodes,
        failback: false,
        onFailure: { restarts: 2, window: '10m', banFor: '1m' },
        // without a fence device the set may only move after lease expiry + self-fencing (SPEC 5.3):
        // a frozen owner then is a real split brain, which the checker must report
        ...(o.requireFencing !== undefined ? { requireFencing: o.requireFencing } : o.fenceAgent ? {} : { requireFencing: false }),
        resources: [
          {
            id: 'qm1-data',
            type: 'shared-disk',
            params: { device: o.diskDevice, directory: o.mountDir, fstype: 'ext4' },
            monitor: { interval: '2s', timeout: '5s' },
            start: { timeout: '20s' },
            stop: { timeout: '10s' },
          },
          {
            id: 'qm1-ip',
            type: 'floating-ip',
            params: { ip: `${o.vip}/${o.prefixLen ?? 24}`, interface: 'eth0' },
            monitor: { interval: '2s', timeout: '5s' },
            start: { timeout: '5s' },
            stop: { timeout: '5s' },
          },
          ...(o.brokerless ? [] : brokerResources(o, port)),
          ...(o.gate
            ? [{ id: 'qm1-gate', type: 'dummy', ...(o.gateStopDelay ? { params: { stopDelay: o.gateStopDelay } } : {}), monitor: { interval: '2s', timeout: '5s' }, stop: { timeout: '5s' } }]
            : []),
        ],
      },
    },
  };
  if (o.fenceAgent) {
    cfg.fencing = {
      devices: {
        'testbed-power': {
          agent: `script:${o.fenceAgent}`,
          params: { url: o.fenceUrl ?? '', ...(o.fencePasswordFile ? { login: 'admin', password_file: o.fencePasswordFile } : {}) },
          timeout: '10s',
        },
      },
    };
  }
  return cfg;
}

/** ActiveMQ on the shared disk, then the adapter that uses it through the floating IP. */
function brokerResources(o: SeedOptions, port: number): Record<string, unknown>[] {
  return [
    {
      id: 'qm1',
      type: 'queue-manager',
      params: { flavor: 'activemq', name: 'QM1', dataDir: `${o.mountDir}/activemq`, listen: o.vip, port, heap: '128m', stopTimeout: '5s' },
      monitor: { interval: '2s', timeout: '10s' },
      start: { timeout: '60s' },
      stop: { timeout: '10s' },
    },
    {
      id: 'qm1-adapter',
      type: 'process',
      params: { command: o.nodeBin, args: [o.adapterJs, '--host', o.vip, '--port', String(port)], stopTimeout: '3s' },
      monitor: { interval: '2s', timeout: '5s' },
      start: { timeout: '10s' },
      stop: { timeout: '5s' },
    },
  ];
}

export function clusterConfigYaml(o: SeedOptions): string {
  return stringify(clusterConfig(o));
}
