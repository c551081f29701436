// The per-host action queue (agent/shell/action-slots.ts): the limit, the order (stops, starts by
// set priority, probes, monitors), one grant per event-loop turn, urgent stops during a lease
// doubt, aborts while waiting, and overload with hysteresis.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ActionSlots, defaultActionLimit, OVERLOAD_QUEUE_FACTOR, type ActionClass, type Slot } from '../../agent/shell/action-slots.js';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Lets the queue hand out what it will (one slot per turn), bounded. */
async function settle(turns = 50): Promise<void> {
  for (let i = 0; i < turns; i++) await turn();
}

function requester(slots: ActionSlots): { granted: string[]; held: Map<string, Slot>; ask: (name: string, kind: ActionClass, priority?: number, signal?: AbortSignal) => Promise<Slot | null> } {
  const granted: string[] = [];
  const held = new Map<string, Slot>();
  return {
    granted,
    held,
    ask: async (name, kind, priority = 0, signal) => {
      const slot = await slots.acquire({ kind, priority, signal });
      if (slot) {
        granted.push(name);
        held.set(name, slot);
      }
      return slot;
    },
  };
}

test('at most `limit` actions hold a slot; then stops, starts by priority, probes, monitors, each first come first served', async () => {
  const slots = new ActionSlots(1, () => false);
  const r = requester(slots);
  void r.ask('first', 'monitor');
  await settle();
  assert.deepEqual(r.granted, ['first']);
  void r.ask('mon', 'monitor');
  void r.ask('probe', 'probe');
  void r.ask('start-low', 'start', 0);
  void r.ask('start-high', 'start', 10);
  void r.ask('start-low-2', 'start', 0);
  void r.ask('stop', 'stop');
  await settle();
  assert.deepEqual(r.granted, ['first'], 'the limit holds');
  assert.equal(slots.queued, 6);
  for (const expected of ['stop', 'start-high', 'start-low', 'start-low-2', 'probe', 'mon']) {
    const last = r.granted[r.granted.length - 1];
    r.held.get(last)!.release();
    await settle();
    assert.equal(r.granted[r.granted.length - 1], expected);
    assert.equal(slots.active, 1);
  }
  r.held.get('mon')!.release();
  r.held.get('mon')!.release(); // twice: counted once
  assert.equal(slots.active, 0);
});

test('slots are handed out one per event-loop turn (I/O is served between two forks)', async () => {
  const slots = new ActionSlots(4, () => false);
  const r = requester(slots);
  for (let i = 0; i < 4; i++) void r.ask(`p${i}`, 'probe');
  await turn();
  assert.equal(r.granted.length, 1, 'one grant in the first turn');
  await settle();
  assert.equal(r.granted.length, 4);
});

test('while stops are urgent (lease in doubt) they go beyond the limit, still one per turn; expedite() starts the queued ones', async () => {
  let urgent = false;
  const slots = new ActionSlots(1, () => urgent);
  const r = requester(slots);
  void r.ask('start', 'start');
  await settle();
  void r.ask('queued-stop', 'stop');
  void r.ask('queued-probe', 'probe');
  await settle();
  assert.deepEqual(r.granted, ['start']);
  urgent = true;
  slots.expedite();
  await settle();
  assert.deepEqual(r.granted, ['start', 'queued-stop'], 'the queued stop went beyond the limit');
  void r.ask('stop-a', 'stop');
  void r.ask('stop-b', 'stop');
  await turn();
  assert.equal(r.granted.length, 3, 'one per turn');
  await settle();
  assert.deepEqual(r.granted, ['start', 'queued-stop', 'stop-a', 'stop-b'], 'new stops do not wait for a slot');
  assert.equal(slots.active, 4);
  assert.equal(slots.queued, 1, 'the probe still waits for a free slot');
});

test('a request aborted while it waits leaves the queue and resolves to null; an aborted signal is refused at once', async () => {
  const slots = new ActionSlots(1, () => false);
  const r = requester(slots);
  void r.ask('holder', 'start');
  await settle();
  const abort = new AbortController();
  const waiting = r.ask('aborted', 'monitor', 0, abort.signal);
  void r.ask('after', 'monitor');
  abort.abort('lease in doubt');
  assert.equal(await waiting, null);
  assert.equal(slots.queued, 1);
  assert.equal(await slots.acquire({ kind: 'start', priority: 0, signal: abort.signal }), null);
  r.held.get('holder')!.release();
  await settle();
  assert.deepEqual(r.granted, ['holder', 'after']);
});

test('overload turns on at OVERLOAD_QUEUE_FACTOR × limit waiting actions and off at half of that', async () => {
  const changes: boolean[] = [];
  const slots = new ActionSlots(2, () => false, (on) => changes.push(on));
  const r = requester(slots);
  void r.ask('a', 'start');
  void r.ask('b', 'start');
  await settle();
  const threshold = 2 * OVERLOAD_QUEUE_FACTOR;
  for (let i = 0; i < threshold - 1; i++) void r.ask(`q${i}`, 'probe');
  assert.equal(slots.overloaded, false);
  void r.ask('last', 'probe');
  assert.equal(slots.overloaded, true);
  assert.deepEqual(changes, [true]);
  assert.match(slots.report().reason ?? '', /^overloaded: 8 resource actions waiting for 2 action slots; recurring monitors are delayed/);
  // Drain: each release lets one more in, until at most half the threshold waits.
  while (slots.overloaded) {
    for (const s of r.held.values()) s.release();
    r.held.clear();
    await settle();
  }
  assert.ok(slots.queued <= threshold / 2, `off at ${slots.queued} waiting`);
  assert.deepEqual(changes, [true, false]);
  assert.equal(slots.report().reason, null);
});

test('the default limit is twice the cores (at least 2); a limit below 1 is refused', () => {
  assert.equal(defaultActionLimit(2), 4);
  assert.equal(defaultActionLimit(1), 2);
  assert.equal(defaultActionLimit(16), 32);
  assert.throws(() => new ActionSlots(0, () => false), /at least 1/);
});
