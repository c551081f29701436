// Plain aligned text tables for the terminal.
export function table(headers: string[], rows: (string | number | null | undefined)[][], indent = ''): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined || c === '' ? '-' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd())
    .join('\n');
}

/** A time in a table: local date and time with the zone ("2026-12-03 14:05:31 UTC+01:00"), or "-". */
export function tableTime(iso: string | null): string {
  return iso ? localDateTime(iso) : '-';
}

/**
 * "2026-12-03 14:05:31 UTC+01:00": local date and time with the zone's offset, the one format of
 * times in every table (JSON has ISO 8601 in UTC). `withMs` adds milliseconds (event lines).
 */
export function localDateTime(when: string | number, withMs = false): string {
  const d = new Date(when);
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  const ms = withMs ? `.${pad(d.getMilliseconds(), 3)}` : '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${ms} ${zoneName(d)}`;
}

/**
 * The local zone at that date as its offset ("UTC+01:00", "UTC-05:00", "UTC"): zone abbreviations
 * differ between locales (CET or GMT+1, EST or GMT-5) and some zones have none.
 */
export function zoneName(d: Date): string {
  const off = -d.getTimezoneOffset();
  if (off === 0) return 'UTC';
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `UTC${off < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
}
