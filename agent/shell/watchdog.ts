// The optional Linux watchdog (SPEC §4: "Optional Linux watchdog reboots a host whose agent
// hangs"). Opening the device arms it; the kernel reboots the host when nobody writes to it within
// its timeout (softdog's soft_margin). The agent writes only while it may: its event loop runs the
// feeding timer (a hung agent stops feeding) and `mayFeed` says the lease is sound or nothing
// runs here — a host that lost its lease while its resources are still active stops feeding and
// is rebooted, while a host that stopped everything survives an etcd outage. A clean agent stop
// writes the magic 'V' so the driver disarms (unless the kernel was built with nowayout).
import { open, type FileHandle } from 'node:fs/promises';
import type { Logger } from './log.js';

export class Watchdog {
  private handle: FileHandle | undefined;
  private timer: NodeJS.Timeout | undefined;
  private feeding = true;
  /** The feed write in flight, if any: the magic close must land after it, never before. */
  private writing: Promise<void> | undefined;

  constructor(
    private readonly device: string,
    private readonly feedIntervalMs: number,
    private readonly mayFeed: () => { ok: boolean; why: string },
    private readonly log: Logger,
  ) {}

  /** Arms the watchdog. Throws with a one-line reason when the device cannot be opened. */
  async start(): Promise<void> {
    try {
      this.handle = await open(this.device, 'w');
    } catch (err) {
      throw new Error(`watchdog ${this.device} cannot be opened: ${(err as NodeJS.ErrnoException).code ?? String(err)} (load a driver, e.g. modprobe softdog soft_margin=5)`);
    }
    this.log.info({ device: this.device, feedIntervalMs: this.feedIntervalMs }, 'watchdog armed');
    this.timer = setInterval(() => this.feed(), this.feedIntervalMs);
    this.feed();
  }

  /** Whether it was fed at the last tick, for the health endpoint. */
  get fed(): boolean {
    return this.feeding;
  }

  /** Disarms (magic close) and closes the device. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const h = this.handle;
    this.handle = undefined;
    if (!h) return;
    await this.writing;
    try {
      await h.write('V');
      this.log.info({ device: this.device }, 'watchdog disarmed');
    } finally {
      await h.close();
    }
  }

  private feed(): void {
    const h = this.handle;
    if (!h || this.writing) return;
    const verdict = this.mayFeed();
    if (verdict.ok !== this.feeding) {
      this.feeding = verdict.ok;
      if (verdict.ok) this.log.warn({ device: this.device }, 'watchdog fed again');
      else this.log.error({ device: this.device, reason: verdict.why }, 'watchdog not fed: the host reboots unless this ends first');
    }
    if (!verdict.ok) return;
    this.writing = h
      .write('\0')
      .then(
        () => undefined,
        (err: unknown) => this.log.error({ device: this.device, err: String(err) }, 'watchdog write failed'),
      )
      .finally(() => {
        this.writing = undefined;
      });
  }
}
