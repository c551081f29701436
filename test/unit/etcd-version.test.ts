// The etcd version floor the lease guarantees rely on: versions parsed as the Maintenance API
// reports them, compared per release line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkEtcdVersion } from '../../agent/etcd/version-floor.js';

test('etcd versions: below the floor of their release line, at or above it, or unreadable', () => {
  const cases: [string, 'ok' | 'below' | 'unknown'][] = [
    ['3.4.23', 'below'],
    ['3.4.37', 'below'],
    ['3.4.38', 'ok'],
    ['3.4.41', 'ok'],
    ['3.5.13', 'below'],
    ['3.5.22', 'below'],
    ['3.5.23', 'ok'],
    ['3.6.0', 'below'],
    ['3.6.4', 'below'],
    ['3.6.5', 'ok'],
    ['3.6.10', 'ok'],
    ['3.7.0', 'ok'],
    ['4.0.0', 'ok'],
    ['3.3.27', 'below'],
    ['2.3.8', 'below'],
    ['v3.5.23', 'ok'],
    ['3.6.5-rc.0', 'below'],
    ['3.6.6-rc.0', 'ok'],
    ['', 'unknown'],
    ['three', 'unknown'],
    ['3.5', 'unknown'],
  ];
  for (const [version, expected] of cases) {
    const r = checkEtcdVersion(version);
    assert.equal(r.status, expected, `${version}: ${JSON.stringify(r)}`);
  }
  const low = checkEtcdVersion('3.4.23');
  assert.equal(low.status === 'below' && low.floor, '3.4.38');
  assert.match(low.status === 'below' ? low.reason : '', /3\.4\.23 is below 3\.4\.38/);
});
