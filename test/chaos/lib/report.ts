// Chaos report: one row per scenario run, printed as a table and written as JSON and markdown to
// chaos-results/ (git-ignored).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** `caught`: a run without fencing of a fault that needs it, where the checker saw the violation it must see. */
export type Outcome = 'pass' | 'fail' | 'error' | 'caught';

export interface ScenarioRow {
  scenario: string;
  rep: number;
  fault: string;
  outcome: Outcome;
  /** Why it failed (empty when it passed). */
  reasons: string[];
  /** Fault injected -> service back (set running and the producer's acks flowing again), ms. */
  recoveryMs: number | null;
  ownerBefore?: string | undefined;
  ownerAfter?: string | undefined;
  violations: number;
  violationKinds: Record<string, number>;
  sent: number;
  acked: number;
  received: number;
  lost: number;
  duplicates: number;
  durationMs: number;
  startedAt: string;
  /** Whether the agents had the fence device. */
  fencing?: boolean;
  /** Without fencing, a fault that needs it: violations are expected (and must be seen). */
  expectViolations?: boolean;
}

export class Report {
  readonly rows: ScenarioRow[] = [];
  readonly startedAt = new Date();

  constructor(readonly outDir: string) {}

  add(row: ScenarioRow): void {
    this.rows.push(row);
    process.stdout.write(`${formatRow(row)}\n`);
  }

  markdown(): string {
    const head = '| scenario | rep | fencing | outcome | recovery | owner | violations | sent | acked | received | lost | dup | notes |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|';
    const lines = this.rows.map(
      (r) =>
        `| ${r.scenario} | ${r.rep} | ${r.fencing === false ? '**off**' : 'on'} | ${r.outcome === 'caught' ? '**caught** (violations expected)' : r.outcome} | ${r.recoveryMs === null ? '–' : `${(r.recoveryMs / 1000).toFixed(2)} s`} | ${r.ownerBefore ?? '?'} → ${r.ownerAfter ?? '?'} | ${r.violations} | ${r.sent} | ${r.acked} | ${r.received} | ${r.lost} | ${r.duplicates} | ${r.reasons.join('; ').replace(/\|/g, '\\|')} |`,
    );
    const pass = this.rows.filter((r) => r.outcome === 'pass').length;
    const caught = this.rows.filter((r) => r.outcome === 'caught').length;
    const unfenced = this.rows.some((r) => r.fencing === false)
      ? '\n**Without fencing** (fencing off): faults that need a fence device to be safe are expected to violate the invariants; `caught` means the checker saw it (the checker can fail). They are not passes.\n'
      : '';
    return `# hactl chaos results\n\nStarted ${this.startedAt.toISOString()}; ${pass}/${this.rows.length} passed${caught ? `, ${caught} caught as expected without fencing` : ''}.\n${unfenced}\n${head}\n${lines.join('\n')}\n`;
  }

  async write(): Promise<{ json: string; md: string }> {
    await mkdir(this.outDir, { recursive: true });
    const stamp = this.startedAt.toISOString().replace(/[:.]/g, '-');
    const json = join(this.outDir, `chaos-${stamp}.json`);
    const md = join(this.outDir, `chaos-${stamp}.md`);
    await writeFile(json, `${JSON.stringify({ startedAt: this.startedAt.toISOString(), rows: this.rows }, null, 2)}\n`);
    await writeFile(md, this.markdown());
    await writeFile(join(this.outDir, 'latest.md'), this.markdown());
    return { json, md };
  }

  printTable(): void {
    process.stdout.write(`\n${this.markdown()}\n`);
  }
}

export function formatRow(r: ScenarioRow): string {
  const rec = r.recoveryMs === null ? '   –   ' : `${(r.recoveryMs / 1000).toFixed(2).padStart(6)}s`;
  return `${r.outcome.toUpperCase().padEnd(6)} ${`${r.scenario}#${r.rep}${r.fencing === false ? ' (no fencing)' : ''}`.padEnd(30)} recovery ${rec}  violations ${r.violations}  sent ${r.sent} acked ${r.acked} received ${r.received} lost ${r.lost} dup ${r.duplicates}${r.reasons.length ? `  (${r.reasons.join('; ')})` : ''}`;
}
