// Plain aligned text tables for the terminal.
export function table(headers: string[], rows: (string | number | null | undefined)[][], indent = ''): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined || c === '' ? '-' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd())
    .join('\n');
}

/** "14:05:31" in local time, or "-". */
export function clockTime(iso: string | null): string {
  if (!iso) return '-';
  const d = new Date(iso);
  return d.toTimeString().slice(0, 8);
}
