// Fence-then-start, the agent's side (SPEC §4, §5.2): the owner of a set that waits for a host to be
// fenced runs that host's fence device, records the fence, and so lifts its own gate. Only the
// owner does it — ownership was settled by an etcd transaction — so for one set one host fences.
// A failed fence is retried with exponential backoff; its reason is kept for `hactl status`.
import type { ClusterConfig } from '../config/cluster-schema.js';
import { configuredFenceAction, fenceDeviceFor, fenceNode } from '../fence/device.js';
import { deviceFenceHow, fenceRecordJson } from '../fence/record.js';
import type { ClusterStore } from '../etcd/store.js';
import type { EventLog } from './events.js';
import type { Logger } from './log.js';
import type { Clock } from './clock.js';

const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 30_000;

interface Attempt {
  running: boolean;
  nextTryMs: number;
  failures: number;
  lastFailure?: string;
}

export class Fencer {
  private readonly attempts = new Map<string, Attempt>();

  constructor(
    private readonly me: string,
    private readonly store: ClusterStore,
    private readonly events: EventLog,
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly onDone: () => void,
  ) {}

  /** Why the last attempt on `node` failed, for status (undefined when none failed). */
  lastFailure(node: string): string | undefined {
    return this.attempts.get(node)?.lastFailure;
  }

  /** When the next retry of `node` is due (monotonic), for the agent's wake-up. */
  nextTryMs(node: string): number | undefined {
    const a = this.attempts.get(node);
    return a && !a.running ? a.nextTryMs : undefined;
  }

  /**
   * Fences `node` for `set` if it has a device, no attempt is running and the backoff has passed.
   * The record is written only while this host still owns `set` with `token`.
   */
  ensure(config: ClusterConfig, set: string, token: number, node: string): void {
    const device = fenceDeviceFor(config, node);
    if (!device) return; // the operator must confirm it down
    const attempt = this.attempts.get(node) ?? { running: false, nextTryMs: 0, failures: 0 };
    this.attempts.set(node, attempt);
    if (attempt.running || this.clock.monotonicMs() < attempt.nextTryMs) return;
    const action = configuredFenceAction(device.params);
    if (!action.ok) {
      attempt.lastFailure = action.reason;
      attempt.nextTryMs = this.clock.monotonicMs() + MAX_RETRY_MS;
      return;
    }
    attempt.running = true;
    this.log.warn({ set, node, device: device.name, action: action.value }, 'fencing');
    void (async () => {
      const outcome = await fenceNode(device, node, action.value);
      attempt.running = false;
      if (outcome.status === 'fenced') {
        const how = deviceFenceHow(device, action.value);
        const out = await this.store.recordFence(node, set, token, fenceRecordJson(how, this.me, this.clock.wallMs()));
        this.log.warn({ set, node, how, durationMs: Math.round(outcome.durationMs), recorded: out.status }, 'fenced');
        if (out.status === 'committed') {
          this.attempts.delete(node);
          void this.events.append({ set, what: 'fenced', reason: `${node} fenced by ${this.me}: ${how} (${Math.round(outcome.durationMs)}ms)`, token });
        }
      } else {
        attempt.failures++;
        attempt.lastFailure = `fencing ${node} through ${device.name} ${outcome.status === 'timed-out' ? 'timed out' : 'failed'}: ${outcome.reason}`;
        const backoffMs = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (attempt.failures - 1));
        attempt.nextTryMs = this.clock.monotonicMs() + backoffMs;
        this.log.error({ set, node, reason: attempt.lastFailure, retryInMs: backoffMs }, 'fence failed');
        void this.events.append({ set, what: 'fence-failed', reason: `${attempt.lastFailure}; retrying in ${Math.round(backoffMs / 1000)}s`, token });
      }
      this.onDone();
    })();
  }
}
