// Durations in configuration are strings with a unit ("500ms", "5s", "10m", "2h", "1d").
// Everything inside hactl is milliseconds, named with an `Ms` suffix.

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** Parses "500ms", "5s", "10m"... into milliseconds; returns null when the text is not a duration. */
export function parseDurationMs(text: string): number | null {
  const match = DURATION_RE.exec(text.trim());
  if (!match) return null;
  const ms = Number(match[1]) * UNIT_MS[match[2]];
  return Number.isFinite(ms) ? Math.round(ms) : null;
}

/** Formats milliseconds the way a person writes them: 1500 -> "1.5s", 600000 -> "10m". */
export function formatDurationMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${trim(ms / 1000)}s`;
  const units: [string, number][] = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]];
  let rest = Math.round(ms / 1000) * 1000;
  let text = '';
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0) text += `${n}${unit}`;
    rest -= n * size;
  }
  return text;
}

function trim(x: number): string {
  return String(Math.round(x * 10) / 10);
}
