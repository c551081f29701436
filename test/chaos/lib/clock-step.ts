// A wall-clock step for one process (the chaos suite's `wall-clock-step-*` faults), loaded with
// `node --import` into an agent when the deployment asks for it (DeploymentOptions.wallClockStep).
//
// Why not the real clock: a time namespace virtualizes CLOCK_MONOTONIC and CLOCK_BOOTTIME only,
// never CLOCK_REALTIME, and stepping the machine's clock would step every testbed host (and
// everything else on the machine) at once. So this steps what the agent's JavaScript reads as
// the wall clock (Date.now(), new Date()) by the offset in milliseconds written in the file
// named by HACTL_CX_CLOCK_STEP_FILE (re-read every 200 ms; absent or empty: no offset). The
// monotonic clock (process.hrtime, performance.now) is untouched, as in a real NTP step.
// Limits: the processes the agent starts (resource agents, fence agents) and etcd see the real
// clock.
import { readFile } from 'node:fs/promises';

const file = process.env.HACTL_CX_CLOCK_STEP_FILE;
if (file) {
  let offsetMs = 0;
  const RealDate = Date;
  const realNow = RealDate.now.bind(RealDate);
  class SteppedDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(realNow() + offsetMs);
      else super(...(args as [string | number | Date]));
    }

    static override now(): number {
      return realNow() + offsetMs;
    }
  }
  globalThis.Date = SteppedDate as DateConstructor;
  const poll = setInterval(() => {
    readFile(file, 'utf8').then(
      (t) => {
        offsetMs = Number(t.trim()) || 0;
      },
      () => {
        offsetMs = 0;
      },
    );
  }, 200);
  poll.unref();
}
