// Bad input (SPEC 5.6): every agent refuses it in validate-all AND in start, with one clear
// ocf-exit-reason and the OCF code for the case, and nothing is mounted, added or started.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  attachLoop,
  Cleanup,
  isRoot,
  makeHost,
  makeTempDir,
  removeStaleNamespaces,
  run,
  runAgent,
  sh,
  type NsHost,
} from '../lib/ra-harness.js';

interface Case {
  what: string;
  params: Record<string, string>;
  rc: number;
  reason: RegExp;
  instance?: string;
}

const cleanup = new Cleanup();
const skip = isRoot() ? false : 'needs root (namespaces, loop devices)';
let dir = '';
let host: NsHost;
let loop = '';
let marker = '';

/** What an agent could have changed in the host: addresses, mounts, files in its run dir. */
async function snapshot(): Promise<string> {
  const addrs = (await run(['ip', '-n', host.netns, '-o', 'addr', 'show'])).stdout;
  const mounts = (await readFile(`/proc/${host.sleeperPid}/mountinfo`, 'utf8'))
    .split('\n')
    .map((l) => l.split(' ')[4])
    .join('\n');
  const files = (await readdir(join(dir, 'run'))).sort().join(' ');
  return `${addrs}\n${mounts}\n${files}`;
}

async function expectRefused(agent: string, c: Case): Promise<void> {
  const before = await snapshot();
  for (const action of ['validate-all', 'start']) {
    const r = await runAgent(agent, action, { instance: c.instance ?? 'bad', rsctmp: join(dir, 'run'), host, params: c.params });
    assert.equal(r.rc, c.rc, `${agent} ${action} (${c.what}): rc ${r.rc}, stderr: ${r.stderr}`);
    assert.match(r.reason ?? '', c.reason, `${agent} ${action} (${c.what}): reason`);
    const reasons = r.stderr.split('\n').filter((l) => l.startsWith('ocf-exit-reason:'));
    assert.equal(reasons.length, 1, `exactly one reason: ${r.stderr}`);
  }
  assert.equal(await snapshot(), before, `${agent} (${c.what}) changed nothing`);
  await assert.rejects(readFile(marker), `${agent} (${c.what}): no injected command ran`);
}

void describe('bad input is refused by validate-all and start', { skip }, () => {
  before(async () => {
    await removeStaleNamespaces();
    dir = await makeTempDir(cleanup, 'bad');
    marker = join(dir, 'pwned');
    await sh(['mkdir', '-p', join(dir, 'run'), join(dir, 'mnt')]);
    const image = join(dir, 'bad.img');
    await sh(['truncate', '-s', '16M', image]);
    await sh(['mkfs.ext4', '-q', '-F', image]);
    loop = await attachLoop(cleanup, image);
    host = await makeHost(cleanup, 'bad', {}, null);
    // One interface with a subnet, so floating-ip can only fail on its parameters.
    await sh(['ip', '-n', host.netns, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1']);
    await sh(['ip', '-n', host.netns, 'addr', 'add', '10.231.0.31/24', 'dev', 'v0']);
    await sh(['ip', '-n', host.netns, 'link', 'set', 'v0', 'up']);
  });
  after(async () => {
    await cleanup.run();
  });

  void it('floating-ip', async () => {
    const cases: Case[] = [
      { what: 'no ip', params: {}, rc: 6, reason: /ip is required/ },
      { what: 'not a CIDR', params: { ip: '10.231.0.50' }, rc: 6, reason: /not an IPv4\/IPv6 CIDR/ },
      { what: 'octet > 255', params: { ip: '10.231.0.300/24' }, rc: 6, reason: /not an IPv4\/IPv6 CIDR/ },
      { what: 'prefix > 32', params: { ip: '10.231.0.50/33' }, rc: 6, reason: /not an IPv4\/IPv6 CIDR/ },
      { what: 'shell metacharacters', params: { ip: `10.231.0.50/24;touch ${marker}` }, rc: 6, reason: /not an IPv4\/IPv6 CIDR/ },
      { what: 'bad IPv6', params: { ip: 'fd00:231::1::5/64' }, rc: 6, reason: /not an IPv4\/IPv6 CIDR/ },
      { what: 'bad interface name', params: { ip: '10.231.0.50/24', interface: 'v0$(id)' }, rc: 6, reason: /not a valid interface name/ },
      { what: 'missing interface', params: { ip: '10.231.0.50/24', interface: 'nope0' }, rc: 2, reason: /nope0 does not exist on this host/ },
      { what: 'no matching subnet', params: { ip: '10.232.0.50/24' }, rc: 2, reason: /no interface .* subnet/ },
      { what: 'bad arpCount', params: { ip: '10.231.0.50/24', arpCount: 'many' }, rc: 6, reason: /arpCount/ },
    ];
    for (const c of cases) await expectRefused('floating-ip', c);
  });

  void it('shared-disk', async () => {
    const ok = { device: loop, directory: join(dir, 'mnt'), fstype: 'ext4' };
    const cases: Case[] = [
      { what: 'no device', params: { directory: ok.directory }, rc: 6, reason: /device is required/ },
      { what: 'missing device', params: { ...ok, device: '/dev/hactl-ra-nonexistent' }, rc: 2, reason: /does not exist on this host/ },
      { what: 'not a block device', params: { ...ok, device: '/etc/hostname' }, rc: 2, reason: /not a block device/ },
      { what: 'relative directory', params: { ...ok, directory: 'mnt/data' }, rc: 6, reason: /not an absolute path/ },
      { what: 'metacharacters in directory', params: { ...ok, directory: `/tmp/x;touch ${marker}` }, rc: 6, reason: /not allowed/ },
      { what: 'metacharacters in device', params: { ...ok, device: `/dev/$(touch ${marker})` }, rc: 6, reason: /not allowed/ },
      { what: 'dot-dot in directory', params: { ...ok, directory: '/tmp/../etc' }, rc: 6, reason: /'\.\.'/ },
      { what: 'bad options', params: { ...ok, options: 'rw,x`id`' }, rc: 6, reason: /options/ },
      { what: 'bad fstype', params: { ...ok, fstype: 'ext4 -o exec' }, rc: 6, reason: /fstype/ },
      { what: 'bad fsck', params: { ...ok, fsck: 'maybe' }, rc: 6, reason: /fsck 'maybe' must be auto, yes or no/ },
      { what: 'bad killUsers', params: { ...ok, killUsers: 'yes' }, rc: 6, reason: /killUsers 'yes' must be true or false/ },
    ];
    for (const c of cases) await expectRefused('shared-disk', c);
  });

  void it('process', async () => {
    const cases: Case[] = [
      { what: 'no command', params: {}, rc: 6, reason: /command is required/ },
      { what: 'relative command', params: { command: 'sleep' }, rc: 6, reason: /not an absolute path/ },
      { what: 'metacharacters in command', params: { command: `/bin/sleep;touch ${marker}` }, rc: 6, reason: /not allowed/ },
      { what: 'command with a space', params: { command: '/bin/sh -c id' }, rc: 6, reason: /not allowed/ },
      { what: 'missing command', params: { command: '/opt/hactl-ra/none' }, rc: 5, reason: /not an executable file on this host/ },
      { what: 'args not JSON', params: { command: '/bin/sleep', args: '10 20' }, rc: 6, reason: /args is not valid JSON/ },
      { what: 'args not an array', params: { command: '/bin/sleep', args: '{"a":1}' }, rc: 6, reason: /args must be a JSON array/ },
      { what: 'env bad key', params: { command: '/bin/sleep', env: '{"A;B":"x"}' }, rc: 6, reason: /not a valid environment variable name/ },
      { what: 'bad stopSignal', params: { command: '/bin/sleep', stopSignal: 'BOGUS' }, rc: 6, reason: /stopSignal/ },
      { what: 'bad stopTimeout', params: { command: '/bin/sleep', stopTimeout: 'soon' }, rc: 6, reason: /not a duration/ },
      { what: 'bad tcpPort', params: { command: '/bin/sleep', tcpPort: '99999' }, rc: 6, reason: /tcpPort/ },
      { what: 'bad user', params: { command: '/bin/sleep', user: 'root;id' }, rc: 6, reason: /user .* not a valid name/ },
      { what: 'relative cwd', params: { command: '/bin/sleep', cwd: 'tmp' }, rc: 6, reason: /cwd .* not an absolute path/ },
      { what: 'missing healthCommand', params: { command: '/bin/sleep', healthCommand: '/opt/hactl-ra/health' }, rc: 5, reason: /healthCommand/ },
      { what: 'unsafe instance name', params: { command: '/bin/sleep' }, rc: 6, reason: /not a safe name/, instance: '../../etc/x' },
    ];
    for (const c of cases) await expectRefused('process', c);
  });

  void it('queue-manager and dummy', async () => {
    const cases: Case[] = [
      { what: 'no flavor', params: {}, rc: 6, reason: /flavor is required/ },
      { what: 'unknown flavor', params: { flavor: 'rabbit' }, rc: 6, reason: /not one of ibm-mq, activemq, command/ },
      { what: 'bad QM name', params: { flavor: 'ibm-mq', name: `QM1;touch ${marker}` }, rc: 6, reason: /not a valid queue manager name/ },
      { what: 'MQ not installed', params: { flavor: 'ibm-mq', name: 'QM1', mqBin: '/opt/hactl-ra-none/bin' }, rc: 5, reason: /not installed/ },
      { what: 'relative dataDir', params: { flavor: 'activemq', dataDir: 'data' }, rc: 6, reason: /dataDir .* not an absolute path/ },
      { what: 'bad listen', params: { flavor: 'activemq', dataDir: '/tmp', listen: 'localhost;id' }, rc: 6, reason: /listen .* not an IPv4\/IPv6 address/ },
      { what: 'bad port', params: { flavor: 'activemq', dataDir: '/tmp', port: '0' }, rc: 6, reason: /port/ },
      { what: 'command with arguments', params: { flavor: 'command', startCommand: '/bin/sh -c id', stopCommand: '/bin/true', statusCommand: '/bin/true' }, rc: 6, reason: /startCommand .* not allowed/ },
      { what: 'missing stopCommand', params: { flavor: 'command', startCommand: '/bin/true', statusCommand: '/bin/true' }, rc: 6, reason: /stopCommand is required/ },
    ];
    for (const c of cases) await expectRefused('queue-manager', c);
    await expectRefused('dummy', { what: 'bad delay', params: { startDelay: 'soon' }, rc: 6, reason: /startDelay 'soon' is not a duration/ });
  });
});
