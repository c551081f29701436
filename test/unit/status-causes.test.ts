// `hactl status --json` gives each set's cause code beside its reason: from the owner's status
// record (its last decision), or from what keeps an unowned set from running.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Keys } from '../../agent/etcd/keys.js';
import type { KvEntry } from '../../agent/etcd/view.js';
import { statusFromKvs } from '../../cli/status-model.js';

const NOW = Date.UTC(2026, 0, 1);
const YAML = `
timing: { leaseTtl: 3s, fenceMargin: 1s }
nodes: { a: {}, b: {} }
serviceSets:
  QM:
    prefer: [a, b]
    resources:
      - { id: qm, type: dummy }
  MQ:
    prefer: [a, b]
    resources:
      - { id: mq, type: dummy }
`;

const keys = Keys.forCluster('c');

/** The status with the configuration above, node a online, and these keys besides. */
function statusWith(entries: [string, unknown, { lease?: string; createRevision?: number }?][]): ReturnType<typeof statusFromKvs> {
  const all: typeof entries = [[keys.config(), { yaml: YAML, appliedAtWallMs: NOW, appliedBy: 'test' }], [keys.node('a'), { startedAtWallMs: NOW, aliveAtWallMs: NOW }, { lease: '11' }], ...entries];
  const kvs = new Map<string, KvEntry>(all.map(([key, value, o]) => [key, { key, value: JSON.stringify(value), createRevision: o?.createRevision ?? 5, modRevision: o?.createRevision ?? 5, lease: o?.lease ?? '0' }]));
  return statusFromKvs(kvs, 50, keys, 'c', NOW);
}

test('status carries the cause code of the owner\'s decision, and of what keeps a set from running', () => {
  const status = statusWith([
    [keys.owner('QM'), { node: 'a' }, { lease: '11', createRevision: 40 }],
    [keys.status('QM'), { node: 'a', state: 'blocked', reason: 'waiting for b to be fenced before starting QM (requireFencing): ...', cause: 'waiting-for-fence', sinceWallMs: NOW, fencingToken: 40, resources: [{ state: 'stopped', failCount: 0 }] }],
  ]);
  const qm = status.sets.find((s) => s.name === 'QM')!;
  assert.deepEqual([qm.state, qm.cause], ['blocked', 'waiting-for-fence']);
  const mq = status.sets.find((s) => s.name === 'MQ')!;
  assert.deepEqual([mq.state, mq.cause], ['stopped', 'waiting-for-host'], `${mq.reason}`);
});

test('a status record of an agent before cause codes (or with a code unknown here) gives no cause, never a wrong one', () => {
  const status = statusWith([
    [keys.owner('QM'), { node: 'a' }, { lease: '11', createRevision: 40 }],
    [keys.status('QM'), { node: 'a', state: 'starting', reason: 'takeover grace: ...', sinceWallMs: NOW, fencingToken: 40 }],
    [keys.owner('MQ'), { node: 'a' }, { lease: '11', createRevision: 41 }],
    [keys.status('MQ'), { node: 'a', state: 'starting', reason: 'new', cause: 'from-a-newer-version', sinceWallMs: NOW, fencingToken: 41 }],
  ]);
  for (const s of status.sets) assert.equal(s.cause, undefined, s.name);
});
