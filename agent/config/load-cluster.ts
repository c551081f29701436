// Parsing and validating a cluster configuration document. Errors are values, each naming the path
// and the reason (`serviceSets.QM1.resources[2].params.ip: ...`), never exceptions.
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ClusterConfigSchema, GRACE_WARNING_MS, setRequiresFencing, takeoverGraceMs, type ClusterConfig } from './cluster-schema.js';
import { formatDurationMs } from './duration.js';

/** Larger documents are refused before parsing: a cluster config is a few kilobytes. */
export const MAX_CONFIG_BYTES = 1_048_576;

export type ConfigCheck =
  | { ok: true; config: ClusterConfig; warnings: string[] }
  | { ok: false; errors: string[] };

/** Parses YAML text and validates it against the schema and its cross-field rules. */
export function checkClusterConfig(text: string): ConfigCheck {
  if (Buffer.byteLength(text, 'utf8') > MAX_CONFIG_BYTES) {
    return { ok: false, errors: [`config: larger than ${MAX_CONFIG_BYTES} bytes`] };
  }
  let data: unknown;
  try {
    const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
    if (doc.errors.length > 0) {
      return { ok: false, errors: doc.errors.map((e) => `yaml: ${oneLine(e.message)}`) };
    }
    data = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (err) {
    return { ok: false, errors: [`yaml: ${oneLine(err instanceof Error ? err.message : String(err))}`] };
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return { ok: false, errors: ['config: the document must be a mapping (timing, nodes, fencing, serviceSets)'] };
  }
  const parsed = ClusterConfigSchema.safeParse(data);
  if (!parsed.success) return { ok: false, errors: formatIssues(parsed.error.issues) };
  return { ok: true, config: parsed.data, warnings: configWarnings(parsed.data) };
}

function configWarnings(config: ClusterConfig): string[] {
  const warnings: string[] = [];
  for (const [setName, set] of Object.entries(config.serviceSets)) {
    if (setRequiresFencing(set)) {
      // Fence-then-start: no grace, but without a device an unplanned loss waits for an operator.
      const nodes = set.prefer ?? Object.keys(config.nodes ?? {});
      const unfenced = nodes.filter((n) => !config.nodes?.[n]?.fence);
      if (unfenced.length > 0 || nodes.length === 0) {
        warnings.push(
          `serviceSets.${setName}: requires fencing, but ${unfenced.length > 0 ? unfenced.join(', ') + ' have' : 'its nodes have'} no fence device; ` +
            'after an unplanned loss of such a node the set stays stopped until hactl fence NODE --confirm-down',
        );
      }
      continue;
    }
    const graceMs = takeoverGraceMs(set, config.timing.fenceMargin);
    if (graceMs > GRACE_WARNING_MS) {
      warnings.push(
        `serviceSets.${setName}: takeover grace after an unplanned loss is ${formatDurationMs(graceMs)} ` +
          '(longest stop timeout minus fenceMargin); configure fencing, or shorter stop timeouts',
      );
    }
  }
  return warnings;
}

/** zod issues as `path: reason` lines, with array indexes written as `[i]`. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const path = issue.path.reduce<string>((acc, seg) => {
      if (typeof seg === 'number') return `${acc}[${seg}]`;
      // A hostile key (newlines, control characters, spaces) is quoted, so an error stays one line.
      const name = /^[A-Za-z0-9_.-]+$/.test(String(seg)) ? String(seg) : JSON.stringify(String(seg)).slice(0, 80);
      return acc === '' ? name : `${acc}.${name}`;
    }, '');
    let message = issue.message;
    const shown = (k: string): string => (/^[A-Za-z0-9_.-]+$/.test(k) ? k : JSON.stringify(k).slice(0, 80));
    if (issue.code === 'unrecognized_keys') message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map(shown).join(', ')}`;
    return `${path === '' ? 'config' : path}: ${oneLine(message)}`;
  });
}

function oneLine(text: string): string {
  return text.split('\n')[0].slice(0, 300);
}
