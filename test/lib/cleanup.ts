// Cleanup that runs even when a test fails or the run is interrupted: async cleanups run on
// SIGINT/SIGTERM; synchronous last-resort kills (by PID) run on process exit.
type Async = () => Promise<void>;
type Sync = () => void;

const entries = new Set<{ run: Async; last: Sync }>();
let hooked = false;

function hook(): void {
  if (hooked) return;
  hooked = true;
  const onSignal = (signal: NodeJS.Signals): void => {
    void Promise.allSettled([...entries].map((e) => e.run())).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', () => {
    for (const e of entries) e.last();
  });
}

/** Registers a cleanup; returns a function that unregisters it (call it once cleaned up). */
export function registerCleanup(run: Async, lastResort: Sync): () => void {
  hook();
  const entry = { run, last: lastResort };
  entries.add(entry);
  return () => entries.delete(entry);
}
