// Cause codes (agent/core/causes.ts) are a contract with users: the docs list every code with the
// meaning the code gives it, and nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CAUSES, isCause } from '../../agent/core/causes.js';
import type { SetDecision } from '../../agent/core/types.js';
import type { EventLog, NewEventRecord } from '../../agent/shell/events.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

test('docs/operations.md "Cause codes" lists exactly the codes of the code, each with its meaning', () => {
  const text = readFileSync(join(REPO, 'docs/operations.md'), 'utf8');
  const section = text.split('\n### Cause codes\n')[1]?.split('\n## ')[0];
  assert.ok(section, 'docs/operations.md has a "### Cause codes" section');
  const rows = [...section.matchAll(/^\| `([a-z-]+)` \| (.+?) \| (.+?) \|$/gm)].map((m) => [m[1], m[2].replaceAll('`', '')]);
  assert.deepEqual(rows.map(([code]) => code).sort(), Object.keys(CAUSES).sort(), 'the same codes');
  for (const [code, meaning] of rows) assert.equal(meaning, CAUSES[code as keyof typeof CAUSES], `the meaning of ${code}`);
});

test('codes are kebab-case words; isCause knows them and nothing else', () => {
  for (const code of Object.keys(CAUSES)) assert.match(code, /^[a-z]+(?:-[a-z]+)*$/);
  assert.equal(isCause('owner-lease-lost'), true);
  assert.equal(isCause('toString'), false, 'not a property of every object');
  assert.equal(isCause('Owner-Lease-Lost'), false);
  assert.equal(isCause(undefined), false);
});

// The compiler forces a cause on every decision and every event written: if `cause` ever became
// optional, these @ts-expect-error lines would no longer be errors and the build would fail.
// @ts-expect-error a decision without a cause does not compile
const decisionWithoutCause: SetDecision = { action: { kind: 'none' }, reason: 'r', state: 'stopped' };
// @ts-expect-error an event appended without a cause does not compile
const appendedWithoutCause: Parameters<EventLog['append']>[0] = { what: 'running', reason: 'r' };
// @ts-expect-error an event record written by hactl without a cause does not compile
const writtenWithoutCause: NewEventRecord = { atWallMs: 0, node: 'n1', what: 'disabled', reason: 'r' };
// @ts-expect-error a cause outside the list does not compile
const unlisted: SetDecision = { action: { kind: 'none' }, reason: 'r', state: 'stopped', cause: 'something-new' };

test('the compile-time checks above are in the build', () => {
  assert.deepEqual([decisionWithoutCause, appendedWithoutCause, writtenWithoutCause, unlisted].map((x) => typeof x), ['object', 'object', 'object', 'object']);
});
