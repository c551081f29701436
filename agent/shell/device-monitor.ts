// The periodic check of fence devices (`action=monitor`, every `monitorInterval`, default 5 min):
// a broken power switch is found when nothing is at stake, not in the middle of a failover. The
// core names the devices this host checks; each result goes to etcd for `hactl status` (secrets
// scrubbed by the device runner).
import type { ClusterConfig } from '../config/cluster-schema.js';
import { monitorDevice } from '../fence/device.js';
import type { ClusterStore } from '../etcd/store.js';
import type { Logger } from './log.js';
import type { Clock } from '../ports/clock.js';

/** A device this host just became responsible for is checked this soon (not all at once at start). */
const FIRST_CHECK_MS = 2000;

interface Duty {
  timer: NodeJS.Timeout | undefined;
  running: boolean;
  lastState?: string;
}

export class DeviceMonitor {
  private readonly duties = new Map<string, Duty>();
  private config: ClusterConfig | null = null;
  private closed = false;

  constructor(
    private readonly me: string,
    private readonly store: ClusterStore,
    private readonly log: Logger,
    private readonly clock: Clock,
  ) {}

  /** Checks exactly these devices from now on, with this configuration. */
  follow(devices: readonly string[], config: ClusterConfig): void {
    if (this.closed) return;
    this.config = config;
    const want = new Set(devices);
    for (const [name, d] of this.duties) {
      if (want.has(name)) continue;
      if (d.timer) clearTimeout(d.timer);
      this.duties.delete(name);
    }
    for (const name of want) {
      if (this.duties.has(name)) continue;
      const d: Duty = { timer: undefined, running: false };
      this.duties.set(name, d);
      d.timer = setTimeout(() => void this.check(name, d), FIRST_CHECK_MS);
    }
  }

  close(): void {
    this.closed = true;
    for (const d of this.duties.values()) if (d.timer) clearTimeout(d.timer);
    this.duties.clear();
  }

  private async check(name: string, d: Duty): Promise<void> {
    const spec = this.config?.fencing.devices[name];
    if (this.closed || this.duties.get(name) !== d || !spec || d.running) return;
    d.running = true;
    try {
      const outcome = await monitorDevice({ ...spec, name });
      const state = outcome.status === 'ok' ? 'ok' : 'failed';
      if (state !== d.lastState) {
        this.log[state === 'ok' ? 'info' : 'error']({ device: name, state, reason: outcome.reason, durationMs: Math.round(outcome.durationMs) }, 'fence device checked');
      }
      d.lastState = state;
      await this.store
        .writeDeviceHealth(name, { state, reason: outcome.reason, by: this.me, atWallMs: this.clock.wallMs(), durationMs: Math.round(outcome.durationMs) })
        .catch((err: unknown) => this.log.warn({ device: name, err: String(err) }, 'could not record the device check'));
    } finally {
      d.running = false;
      if (!this.closed && this.duties.get(name) === d) d.timer = setTimeout(() => void this.check(name, d), this.config?.fencing.devices[name]?.monitorInterval ?? 300_000);
    }
  }
}
