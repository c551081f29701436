// The cluster configuration of one seed, written as the YAML an operator would apply and validated
// by the real checkClusterConfig. Each seed draws host count, TTL, fenceMargin and stop timeouts:
//   QM    exclusive (shared-disk, floating-ip, queue-manager): requireFencing by default
//   WEB   no exclusive resource, stop timeout above fenceMargin: a takeover grace > 0, failback
//   BATCH no exclusive resource, stop timeout below fenceMargin: grace 0, no prefer (any node)
//   QM2   (4-5 hosts) a second exclusive set preferring the other end of the cluster
import { checkClusterConfig } from '../../agent/config/load-cluster.js';
import type { ClusterConfig } from '../../agent/config/cluster-schema.js';
import type { Prng } from './prng.js';

export interface SimConfig {
  hosts: string[];
  yaml: string;
  config: ClusterConfig;
}

export function makeConfig(prng: Prng, hostCount?: number): SimConfig {
  const n = hostCount ?? prng.int(3, 5);
  const hosts = Array.from({ length: n }, (_, i) => `h${i + 1}`);
  const ttlSec = prng.int(2, 5);
  const marginMs = Math.min(prng.pick([300, 500, 700, 1000]), ttlSec * 500 - 100);
  const ms = (x: number): string => `${Math.round(x)}ms`;
  const stopAbove = (): string => ms(marginMs + prng.range(200, 3000));
  const stopBelow = (): string => ms(prng.range(100, marginMs - 50));
  const monitor = (): string => `{ interval: ${ms(prng.range(800, 3000))}, timeout: ${ms(prng.range(500, 1500))} }`;
  const withDevice = hosts.filter(() => prng.chance(0.7));
  const prefer = (order: string[]): string => `[${order.slice(0, Math.max(2, Math.min(order.length, prng.int(2, 4)))).join(', ')}]`;
  const rev = [...hosts].reverse();
  const lines = [
    `timing: { leaseTtl: ${ttlSec}s, fenceMargin: ${marginMs}ms }`,
    'nodes:',
    ...hosts.map((h) => `  ${h}: { ${withDevice.includes(h) ? `fence: ipmi-${h}` : ''} }`),
    'fencing:',
    '  devices:',
    ...(withDevice.length ? withDevice.map((h) => `    ipmi-${h}: { agent: fence_ipmilan, params: { ip: 10.1.0.${hosts.indexOf(h) + 11} } }`) : ['    {}']),
    'serviceSets:',
    '  QM:',
    `    prefer: ${prefer(hosts)}`,
    `    onFailure: { restarts: ${prng.int(0, 2)}, window: 60s, banFor: ${prng.int(10, 40)}s }`,
    '    resources:',
    `      - { id: qm-data, type: shared-disk, params: { device: /dev/sdb1, directory: /q }, stop: { timeout: ${prng.chance(0.5) ? stopAbove() : stopBelow()} }, monitor: ${monitor()} }`,
    `      - { id: qm-ip, type: floating-ip, params: { ip: 10.0.0.50/24 }, stop: { timeout: ${stopBelow()} }, monitor: ${monitor()} }`,
    `      - { id: qm, type: queue-manager, start: { timeout: ${ms(prng.range(1000, 4000))} }, stop: { timeout: ${prng.chance(0.5) ? stopAbove() : stopBelow()} }, monitor: ${monitor()} }`,
    '  WEB:',
    `    prefer: ${prefer([...hosts.slice(1), hosts[0]])}`,
    `    failback: ${prng.chance(0.5)}`,
    `    onFailure: { restarts: ${prng.int(0, 2)}, window: 60s, banFor: ${prng.int(10, 40)}s }`,
    '    resources:',
    `      - { id: web, type: process, params: { command: /bin/web }, stop: { timeout: ${stopAbove()} }, monitor: ${monitor()} }`,
    `      - { id: web-cache, type: dummy, stop: { timeout: ${stopBelow()} }, monitor: ${monitor()} }`,
    '  BATCH:',
    `    onFailure: { restarts: 1, window: 60s, banFor: ${prng.int(10, 40)}s }`,
    '    resources:',
    `      - { id: batch, type: dummy, stop: { timeout: ${stopBelow()} }, monitor: ${monitor()} }`,
  ];
  if (n >= 4) {
    lines.push('  QM2:', `    prefer: ${prefer(rev)}`, '    resources:');
    lines.push(`      - { id: qm2-ip, type: floating-ip, params: { ip: 10.0.0.51/24 }, stop: { timeout: ${stopAbove()} }, monitor: ${monitor()} }`);
    lines.push(`      - { id: qm2, type: dummy, stop: { timeout: ${stopBelow()} }, monitor: ${monitor()} }`);
  }
  const yaml = lines.join('\n') + '\n';
  const check = checkClusterConfig(yaml);
  if (!check.ok) throw new Error(`simulator produced an invalid configuration: ${check.errors.join('; ')}\n${yaml}`);
  return { hosts, yaml, config: check.config };
}
