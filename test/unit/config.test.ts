// The cluster configuration schema (SPEC §3.2): defaults, durations, cross-field rules, and
// errors that name the path and the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkClusterConfig } from '../../agent/config/load-cluster.js';
import { setRequiresFencing, takeoverGraceMs } from '../../agent/config/cluster-schema.js';
import { parseDurationMs, formatDurationMs } from '../../agent/config/duration.js';
import { parseHostConfig } from '../../agent/config/host-config.js';

const SPEC_EXAMPLE = `
timing:
  leaseTtl: 5s
  fenceMargin: 1s
nodes:
  mq1: { fence: ipmi-mq1 }
  mq2: { fence: ipmi-mq2 }
  spare: {}
fencing:
  devices:
    ipmi-mq1: { agent: fence_ipmilan, params: { ip: 10.1.0.11, username: admin, password_file: /etc/hactl/ipmi.pw } }
    ipmi-mq2: { agent: fence_ipmilan, params: { ip: 10.1.0.12, username: admin, password_file: /etc/hactl/ipmi.pw } }
serviceSets:
  QM1:
    prefer: [mq1, mq2, spare]
    failback: false
    onFailure: { restarts: 2, window: 10m, banFor: 30m }
    requireFencing: true
    resources:
      - id: qm1-data
        type: shared-disk
        params: { device: /dev/disk/by-uuid/1234, directory: /MQHA/QM1, fstype: ext4 }
      - id: qm1-ip
        type: floating-ip
        params: { ip: 10.0.0.50/24, interface: eth0 }
      - id: qm1
        type: queue-manager
        params: { flavor: ibm-mq, name: QM1 }
        monitor: { interval: 10s, timeout: 30s }
        start: { timeout: 120s }
        stop: { timeout: 120s }
      - id: qm1-jms
        type: process
        params: { command: /opt/adapter/bin/adapter, args: [--qm, QM1], user: mqm }
  CONSUMER:
    mode: clone
    instances: 2
    resources:
      - { id: consumer, type: process, params: { command: /opt/consumer/run } }
`;

test('the SPEC example validates, with durations in ms and a warning about its long takeover grace', () => {
  const r = checkClusterConfig(SPEC_EXAMPLE);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  if (!r.ok) return;
  assert.equal(r.config.timing.leaseTtl, 5000);
  assert.equal(r.config.serviceSets.QM1.onFailure.window, 600_000);
  assert.equal(r.config.serviceSets.QM1.resources[2].stop.timeout, 120_000);
  assert.equal(takeoverGraceMs(r.config.serviceSets.QM1, 1000), 179_000, 'the sum of the stop timeouts (stops run in sequence) minus fenceMargin');
  assert.ok(setRequiresFencing(r.config.serviceSets.QM1));
  assert.equal(setRequiresFencing(r.config.serviceSets.CONSUMER), false);
  assert.match(r.warnings.join('\n'), /serviceSets\.CONSUMER: takeover grace after an unplanned loss is 19s/);
  assert.match(r.warnings.join('\n'), /serviceSets\.QM1: requires fencing, but spare have no fence device/, 'mq1 and mq2 have devices, spare has none');
});

test('an empty document is a valid, empty configuration with defaults', () => {
  const r = checkClusterConfig('');
  assert.ok(r.ok);
  if (r.ok) {
    assert.equal(r.config.timing.leaseTtl, 5000);
    assert.equal(r.config.timing.fenceMargin, 1000);
  }
});

test('errors name the path and the reason', () => {
  const cases: [string, string][] = [
    ['timing: { leaseTtl: 1s }', 'timing.leaseTtl: must be whole seconds and at least 2s'],
    ['timing: { leaseTtl: 4s, fenceMargin: 2s }', 'timing.fenceMargin: must be less than leaseTtl / 2 (2s), got 2s'],
    ['serviceSets: { A: { resources: [] } }', 'serviceSets.A.resources: a service set needs at least one resource'],
    ['serviceSets: { A: { resources: [{ id: x, type: dummy }] }, B: { resources: [{ id: x, type: dummy }] } }', 'serviceSets.B.resources[0].id: resource id x is already used in serviceSets.A'],
    ['nodes: { a: { fence: f1 } }', 'nodes.a.fence: no fence device named f1 in fencing.devices'],
    ['bogus: 1', 'config: unknown key bogus'],
    ['serviceSets: { A: { resources: [{ id: "x;y", type: dummy }] } }', 'serviceSets.A.resources[0].id: not a valid resource name'],
    ['serviceSets: { A: { mode: singleton, instances: 2, resources: [{ id: x, type: dummy }] } }', 'serviceSets.A.instances: only a clone set'],
    ['- a\n- b', 'config: the document must be a mapping'],
    ['a: 1\na: 2', '2:1: duplicate key a (a key may appear once in a mapping)'],
    ['serviceSets: { A: { resources: [{ id: x, type: dummy, params: { qm: "QM\\0x" } }] } }', 'serviceSets.A.resources[0].params.qm: contains a NUL byte'],
    ['serviceSets: { A: { resources: [{ id: x, type: dummy, params: { args: [a, "b\\0"] } }] } }', 'serviceSets.A.resources[0].params.args[1]: contains a NUL byte'],
    ['fencing: { devices: { f: { agent: fence_x, params: { ip: "\\0" } } } }', 'fencing.devices.f.params.ip: contains a NUL byte'],
  ];
  for (const [yaml, expected] of cases) {
    const r = checkClusterConfig(yaml);
    assert.ok(!r.ok, yaml);
    if (!r.ok) assert.ok(r.errors.some((e) => e.startsWith(expected)), `${yaml}\n  expected ${expected}\n  got ${r.errors.join(' | ')}`);
  }
});

test('alias bombs and huge documents are refused, not expanded', () => {
  const bomb = 'a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n';
  const r = checkClusterConfig(bomb);
  assert.ok(!r.ok);
  const huge = checkClusterConfig('x: "' + 'y'.repeat(1_100_000) + '"');
  assert.ok(!huge.ok);
  if (!huge.ok) assert.match(huge.errors[0], /larger than/);
});

test('durations', () => {
  assert.equal(parseDurationMs('500ms'), 500);
  assert.equal(parseDurationMs('1.5s'), 1500);
  assert.equal(parseDurationMs('10m'), 600_000);
  assert.equal(parseDurationMs('5'), null);
  assert.equal(parseDurationMs('-1s'), null);
  assert.equal(formatDurationMs(1500), '1.5s');
  assert.equal(formatDurationMs(600_000), '10m');
  assert.equal(formatDurationMs(119_000), '1m59s');
});

test('host configuration: defaults and path-named errors', () => {
  const c = parseHostConfig('node: mq1\ncluster: prod\n', 'agent.yaml');
  assert.equal(c.node, 'mq1');
  assert.deepEqual(c.etcd.endpoints, ['http://127.0.0.1:2379']);
  assert.equal(c.http.listen, '127.0.0.1:7946');
  assert.throws(() => parseHostConfig('dataDir: relative/path\n', 'agent.yaml'), /agent\.yaml: dataDir: must be an absolute path/);
  assert.throws(() => parseHostConfig('etcd: { endpoints: [nope] }\n', 'agent.yaml'), /etcd\.endpoints\[0\]: not an etcd endpoint URL/);
});

test('actionLimit (host) and priority (service set): whole numbers in range, one clear line otherwise', () => {
  assert.equal(parseHostConfig('node: mq1\n', 'agent.yaml').actionLimit, undefined, 'default: twice the cores, decided by the agent');
  assert.equal(parseHostConfig('node: mq1\nactionLimit: 8\n', 'agent.yaml').actionLimit, 8);
  for (const bad of ['0', '2.5', '2000', 'lots']) {
    assert.throws(() => parseHostConfig(`node: mq1\nactionLimit: ${bad}\n`, 'agent.yaml'), /^HostConfigError: agent\.yaml: actionLimit: must be a whole number from 1 to 1024 \(resource actions run at once on this host\)$/, bad);
  }
  const ok = checkClusterConfig('serviceSets: { A: { priority: 10, resources: [{ id: x, type: dummy }] }, B: { resources: [{ id: y, type: dummy }] } }');
  assert.ok(ok.ok);
  if (ok.ok) assert.deepEqual([ok.config.serviceSets.A.priority, ok.config.serviceSets.B.priority], [10, undefined]);
  for (const bad of ['1001', '1.5', 'high']) {
    const r = checkClusterConfig(`serviceSets: { A: { priority: ${bad}, resources: [{ id: x, type: dummy }] } }`);
    assert.ok(!r.ok && r.errors.some((e) => e === 'serviceSets.A.priority: must be a whole number from -1000 to 1000'), JSON.stringify(!r.ok && r.errors));
  }
});

test('action timeouts and intervals of zero or absurdly small are refused: at least 100ms', () => {
  const set = (r: string): string => `serviceSets: { A: { resources: [{ id: x, type: dummy, ${r} }] } }`;
  const cases: [string, string][] = [
    [set('start: { timeout: 0s }'), 'serviceSets.A.resources[0].start.timeout: must be at least 100ms (no agent finishes an action sooner), got 0ms'],
    [set('stop: { timeout: 1ms }'), 'serviceSets.A.resources[0].stop.timeout: must be at least 100ms (no agent finishes an action sooner), got 1ms'],
    [set('monitor: { timeout: 99ms }'), 'serviceSets.A.resources[0].monitor.timeout: must be at least 100ms'],
    [set('monitor: { interval: 0s }'), 'serviceSets.A.resources[0].monitor.interval: must be at least 100ms'],
    ['fencing: { devices: { f1: { agent: fence_ipmilan, timeout: 0s } } }', 'fencing.devices.f1.timeout: must be at least 100ms'],
  ];
  for (const [yaml, expected] of cases) {
    const r = checkClusterConfig(yaml);
    assert.ok(!r.ok, yaml);
    if (!r.ok) assert.ok(r.errors.some((e) => e.startsWith(expected)), `${yaml}\n  expected ${expected}\n  got ${r.errors.join(' | ')}`);
  }
  assert.ok(checkClusterConfig(set('start: { timeout: 100ms }, stop: { timeout: 100ms }, monitor: { interval: 100ms, timeout: 100ms }')).ok, '100ms is allowed');
});

test('YAML errors say line:column and name the duplicate key; binary and deeply nested input is refused in one line', () => {
  const cases: [string, RegExp][] = [
    ['timing:\n  leaseTtl: 2s\n  leaseTtl: 3s\n', /^3:3: duplicate key leaseTtl \(a key may appear once in a mapping\)$/],
    ['serviceSets:\n  "QM 1": {}\n  "QM 1": {}\n', /^3:3: duplicate key "QM 1" /],
    ['serviceSets: [\n', /^\d+:\d+: \S/],
    ['\u007fELF\u0002\u0001\u0001\u0000\u0000binary: \u00ff', /^config: not a text file \(control character 0x7f at 1:1\); a cluster configuration is YAML text$/],
    ['timing: x\nbad: "\ufffd"\n', /^config: not a text file \(a byte that is not UTF-8 at 2:7\); a cluster configuration is YAML text$/],
    ['serviceSets: ' + '['.repeat(5000) + ']'.repeat(5000), /^config: nested more than 64 levels deep \(at 1:78\); a cluster configuration needs far fewer$/],
    ['serviceSets: ' + '{a: '.repeat(3000) + '1' + '}'.repeat(3000), /^config: nested more than 64 levels deep/],
    [Array.from({ length: 1400 }, (_, i) => ' '.repeat(i) + 'a:\n').join(''), /^config: nested too deeply to read \(at \d+:\d+\); a cluster configuration needs far fewer levels$/],
  ];
  for (const [yaml, re] of cases) {
    const r = checkClusterConfig(yaml);
    assert.ok(!r.ok, yaml.slice(0, 60));
    if (!r.ok) {
      assert.match(r.errors[0], re, r.errors.join(' | '));
      assert.ok(r.errors.length < 5 && r.errors.every((e) => !e.includes('\n') && e.length < 300), r.errors.join(' | '));
    }
  }
});

test('schema errors are sentences about the field, not zod\'s wording', () => {
  const cases: [string, string][] = [
    ['serviceSets:\n  QM1:\n    resources:\n      - { id: a }\n', 'serviceSets.QM1.resources[0].type: required'],
    ['serviceSets: { A: { resources: [{ id: a, type: 5 }] } }', 'serviceSets.A.resources[0].type: must be a string, not a number'],
    ['serviceSets: { A: { mode: both, resources: [{ id: a, type: dummy }] } }', 'serviceSets.A.mode: must be one of singleton, clone'],
    ['serviceSets: { A: { onFailure: { restarts: -1 }, resources: [{ id: a, type: dummy }] } }', 'serviceSets.A.onFailure.restarts: must be at least 0'],
    ['serviceSets: { A: { onFailure: { restarts: 1.5 }, resources: [{ id: a, type: dummy }] } }', 'serviceSets.A.onFailure.restarts: must be a whole number'],
    ['serviceSets: []', 'serviceSets: must be a mapping, not a list'],
    ['serviceSets: { A: { anyNode: yes please, resources: [{ id: a, type: dummy }] } }', 'serviceSets.A.anyNode: must be true or false, not a string'],
    ['serviceSets: { A: { resources: [{ id: a, type: dummy, params: { x: null } }] } }', 'serviceSets.A.resources[0].params.x: must be a string, a number, true or false, a list of strings or a mapping of strings'],
    ['timing: { suspectAfter: never }', 'timing.suspectAfter: must be off or a duration (e.g. 500ms, 5s, 10m)'],
  ];
  for (const [yaml, expected] of cases) {
    const r = checkClusterConfig(yaml);
    assert.ok(!r.ok, yaml);
    if (!r.ok) assert.ok(r.errors.includes(expected), `${yaml}\n  expected ${expected}\n  got ${r.errors.join(' | ')}`);
    if (!r.ok) assert.ok(r.errors.every((e) => !/Invalid input|expected \w+, received/.test(e)), r.errors.join(' | '));
  }
});
