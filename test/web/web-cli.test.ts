// `hactl web` refuses what it must before it connects anywhere: an address that is not one, and a
// non-loopback address without TLS and --allow-remote (the console acts with the operator's etcd
// credentials). One line each, exit 2. And the action requests the page may send are checked
// before any hactl runs: a name that could pass for an option is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runHactl } from '../lib/cluster.js';
import { commandLine, parseActionRequest, plan } from '../../cli/web/actions.js';
import { parseListen } from '../../cli/web/listen.js';
import { bansFromKvs } from '../../cli/web/live.js';
import { BAN_FOREVER_WALL_MS } from '../../cli/commands/intents.js';

// Loopback port 9 (discard), where no etcd listens: a check that let the command through would fail differently.
const env = { HACTL_ENDPOINTS: 'http://127.0.0.1:9', HACTL_CLUSTER: 'webcli' };

test('hactl web refuses a bad or exposed --listen in one line, exit 2, before connecting', async () => {
  const cases: [string[], string][] = [
    [['--listen', 'nonsense'], 'hactl: --listen: not an address:port: nonsense (write e.g. 127.0.0.1:8080)'],
    [['--listen', '127.0.0.1:70000'], 'hactl: --listen: port out of range: 70000'],
    [['--listen', '0.0.0.0:8080'], 'hactl: --listen 0.0.0.0: not a loopback address; serving the console to other machines needs --tls-cert, --tls-key and --allow-remote'],
    [['--listen', '0.0.0.0:8080', '--allow-remote'], 'hactl: --listen 0.0.0.0: not a loopback address; serving the console to other machines needs --tls-cert, --tls-key and --allow-remote'],
    [['--listen', '[::]:8080', '--tls-cert', 'c.pem', '--tls-key', 'k.pem'], 'hactl: --listen [::]: not a loopback address; add --allow-remote to serve the console to other machines (it acts with your etcd credentials)'],
    [['--tls-cert', 'c.pem'], 'hactl: --tls-cert needs --tls-key'],
    [['--listen', '0.0.0.0:8080', '--tls-cert', '/nonexistent/c.pem', '--tls-key', '/nonexistent/k.pem', '--allow-remote'], 'hactl: --tls-cert: cannot read /nonexistent/c.pem: ENOENT'],
  ];
  for (const [args, line] of cases) {
    const r = await runHactl(['web', ...args], env, 20_000);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, `${line}\n`, args.join(' '));
    assert.equal(r.stdout, '');
  }
});

test('listen addresses: loopback by name, IPv4 127/8 and ::1', () => {
  assert.deepEqual(parseListen('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080, loopback: true });
  assert.deepEqual(parseListen('127.1.2.3:0'), { host: '127.1.2.3', port: 0, loopback: true });
  assert.deepEqual(parseListen('[::1]:8080'), { host: '::1', port: 8080, loopback: true });
  assert.deepEqual(parseListen('localhost:8080'), { host: 'localhost', port: 8080, loopback: true });
  assert.equal(parseListen('10.0.0.5:8080').loopback, false);
  assert.equal(parseListen('console.example:443').loopback, false);
});

test('action requests: names are checked, options cannot be smuggled in, the argv ends options with --', () => {
  assert.throws(() => parseActionRequest({ action: 'failover', set: '--to' }), /set: not a valid name: --to/);
  assert.throws(() => parseActionRequest({ action: 'ban', set: 'S1', node: '-x' }), /node: not a valid name/);
  assert.throws(() => parseActionRequest({ action: 'rm -rf' }), /unknown action/);
  assert.throws(() => parseActionRequest({ action: 'move', set: 'S1' }), /move needs a node/);
  assert.throws(() => parseActionRequest([]), /unknown action/);
  const req = parseActionRequest({ action: 'failover', set: 'S1', node: 'n2' });
  assert.deepEqual(plan(req), ['failover', '--to', 'n2', '--', 'S1']);
  assert.equal(commandLine(req), 'hactl failover S1 --to n2');
  assert.equal(commandLine(parseActionRequest({ action: 'maintenance-on' })), 'hactl maintenance on');
  assert.equal(commandLine(parseActionRequest({ action: 'cleanup', set: 'Q:2', resource: 'r1' })), 'hactl cleanup Q:2 r1');
});

test('bans shown: expired ones left out, "until hactl clear" as null, unreadable records still shown', () => {
  const p = '/hactl/c/';
  const kv = (key: string, value: string) => [`${p}${key}`, { key: `${p}${key}`, value, createRevision: 1, modRevision: 1, lease: '0' }] as const;
  const kvs = new Map([
    kv('bans/S1/n1', JSON.stringify({ untilWallMs: BAN_FOREVER_WALL_MS, reason: 'banned by op@h', operator: true })),
    kv('bans/S1/n2', JSON.stringify({ untilWallMs: 1_000, reason: 'start failed' })),
    kv('bans/S2/n3', JSON.stringify({ untilWallMs: 90_000, reason: 'monitor failed 3 times' })),
    kv('bans/S2/n1', '{not json'),
    kv('events/x', '{}'),
  ]);
  assert.deepEqual(bansFromKvs(kvs, p, 60_000), [
    { set: 'S1', node: 'n1', until: null, reason: 'banned by op@h', operator: true },
    { set: 'S2', node: 'n1', until: null, reason: 'banned', operator: false },
    { set: 'S2', node: 'n3', until: new Date(90_000).toISOString(), reason: 'monitor failed 3 times', operator: false },
  ]);
});
