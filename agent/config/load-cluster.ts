// Parsing and validating a cluster configuration document. Errors are values, each naming the path
// and the reason (`serviceSets.QM1.resources[2].params.ip: ...`), never exceptions.
import { LineCounter, parseDocument, type YAMLError } from 'yaml';
import type { z } from 'zod';
import { ClusterConfigSchema, GRACE_WARNING_MS, setRequiresFencing, takeoverGraceMs, type ClusterConfig } from './cluster-schema.js';
import { formatDurationMs } from './duration.js';

/** Larger documents are refused before parsing: a cluster config is a few kilobytes. */
export const MAX_CONFIG_BYTES = 1_048_576;

export type ConfigCheck =
  | { ok: true; config: ClusterConfig; warnings: string[] }
  | { ok: false; errors: string[] };

/** Deeper flow nesting is refused before parsing: the parser recurses, and a config needs a handful of levels. */
export const MAX_NESTING = 64;

/** Parses YAML text and validates it against the schema and its cross-field rules. */
export function checkClusterConfig(text: string): ConfigCheck {
  if (Buffer.byteLength(text, 'utf8') > MAX_CONFIG_BYTES) {
    return { ok: false, errors: [`config: larger than ${MAX_CONFIG_BYTES} bytes`] };
  }
  const refusal = notText(text) ?? tooDeep(text);
  if (refusal) return { ok: false, errors: [refusal] };
  let data: unknown;
  try {
    const lines = new LineCounter();
    const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter: lines });
    if (doc.errors.length > 0) {
      // Block nesting (indentation) deep enough to exhaust the parser's stack: one clear line.
      const overflow = doc.errors.find((e) => /call stack/i.test(e.message));
      if (overflow) return { ok: false, errors: [`config: nested too deeply to read (at ${at(lines, overflow.pos[0])}); a cluster configuration needs far fewer levels`] };
      return { ok: false, errors: [...new Set(doc.errors.map((e) => yamlError(text, lines, e)))] };
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

/** An error of checkClusterConfig as a file names it: `FILE:3:5: ...` for a YAML position, else `FILE: ...`. */
export function inFile(file: string, error: string): string {
  return /^\d+:\d+: /.test(error) ? `${file}:${error}` : `${file}: ${error}`;
}

/** `line:column` (1-based) of a character offset. */
function at(lines: LineCounter, offset: number): string {
  const { line, col } = lines.linePos(offset);
  return `${line}:${col}`;
}

/** A parser error as `line:column: message`; a duplicate key is named. */
function yamlError(text: string, lines: LineCounter, e: YAMLError): string {
  const where = at(lines, e.pos[0]);
  if (e.code === 'DUPLICATE_KEY') {
    const key = /^(?:"(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[^:#\n]*[^:#\s])/.exec(text.slice(e.pos[0], e.pos[0] + 200))?.[0];
    return `${where}: duplicate key ${key ? oneLine(key) : '(unnamed)'} (a key may appear once in a mapping)`;
  }
  return `${where}: ${oneLine(e.message)}`;
}

/**
 * A file that is not text (a binary, a wrong file) is refused in one line, before the parser
 * quotes any of it back: YAML allows no control characters but tab and line breaks, and U+FFFD is
 * what a byte that is not UTF-8 became when the file was read.
 */
function notText(text: string): string | null {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is looked for
  const m = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffd]/.exec(text);
  if (!m) return null;
  const lines = new LineCounter();
  let offset = 0;
  for (const line of text.split('\n')) {
    lines.addNewLine(offset);
    offset += line.length + 1;
  }
  const what = m[0] === '\ufffd' ? 'a byte that is not UTF-8' : `control character 0x${m[0].charCodeAt(0).toString(16).padStart(2, '0')}`;
  return `config: not a text file (${what} at ${at(lines, m.index)}); a cluster configuration is YAML text`;
}

/**
 * Flow nesting ([ and { outside quotes and comments) deeper than MAX_NESTING, found by a scan that
 * does not recurse: the parser would run out of stack ("Maximum call stack size exceeded").
 */
function tooDeep(text: string): string | null {
  let depth = 0;
  let lineStart = 0;
  let line = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') {
      line++;
      lineStart = i + 1;
    } else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]))) {
      const end = text.indexOf('\n', i);
      i = (end < 0 ? text.length : end) - 1;
    } else if (c === '"' || c === "'") {
      // Skip a quoted scalar (a quote inside a plain word, like don't, is not one: the scan may
      // then over-count, and over-counting only refuses what no configuration needs anyway).
      const close = c === '"' ? /"/g : /'/g;
      close.lastIndex = i + 1;
      for (let m = close.exec(text); m; m = close.exec(text)) {
        if (c === "'" || text[m.index - 1] !== '\\') {
          i = m.index;
          break;
        }
      }
    } else if (c === '[' || c === '{') {
      if (++depth > MAX_NESTING) return `config: nested more than ${MAX_NESTING} levels deep (at ${line}:${i - lineStart + 1}); a cluster configuration needs far fewer`;
    } else if ((c === ']' || c === '}') && depth > 0) depth--;
  }
  return null;
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
    let message = sentence(issue);
    const shown = (k: string): string => (/^[A-Za-z0-9_.-]+$/.test(k) ? k : JSON.stringify(k).slice(0, 80));
    if (issue.code === 'unrecognized_keys') message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map(shown).join(', ')}`;
    return `${path === '' ? 'config' : path}: ${oneLine(message)}`;
  });
}

/** What zod's own wording means for the user's field ("required", "must be a list, not a string"); the schema's messages as they are. */
function sentence(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type': {
      const received = /received (\w+)/.exec(issue.message)?.[1];
      if (received === 'undefined') return 'required';
      const expected = TYPE_WORDS[issue.expected] ?? `a ${issue.expected}`;
      return received && !(issue.expected === 'int' && received === 'number') ? `must be ${expected}, not ${TYPE_WORDS[received] ?? `a ${received}`}` : `must be ${expected}`;
    }
    case 'invalid_value':
      return issue.values.length === 1 ? `must be ${String(issue.values[0])}` : `must be one of ${issue.values.map(String).join(', ')}`;
    case 'too_small':
    case 'too_big': {
      if (!/^Too (small|big):/.test(issue.message)) return issue.message;
      const limit = Number(issue.code === 'too_small' ? issue.minimum : issue.maximum);
      const word = issue.code === 'too_small' ? 'at least' : 'at most';
      if (issue.origin === 'array') return `must have ${word} ${limit} item${limit === 1 ? '' : 's'}`;
      if (issue.origin === 'string') return `must be ${word} ${limit} characters long`;
      return `must be ${word} ${limit}`;
    }
    default:
      return issue.message === 'Invalid input' ? 'not a valid value' : issue.message;
  }
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
  null: 'empty',
};

function oneLine(text: string): string {
  return text.split('\n')[0].slice(0, 300);
}
