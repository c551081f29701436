// Small statistics for benchmarks: medians and percentiles, not means (shared, noisy machines).
export interface Summary {
  n: number;
  min: number;
  median: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
}

export function summarize(xs: number[]): Summary {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => (s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]);
  const median = s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { n: s.length, min: s[0] ?? NaN, median, p90: q(0.9), p95: q(0.95), p99: q(0.99), max: s[s.length - 1] ?? NaN };
}

export function fmt(ms: number): string {
  return Number.isFinite(ms) ? `${Math.round(ms)}` : '-';
}
