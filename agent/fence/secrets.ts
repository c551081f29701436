// Secrets of fence devices (SPEC §3.2): never in the cluster configuration (every etcd role can
// read it), but in files on each host, named by `<name>_file` device parameters and read at the
// moment of each call (a rotated password is picked up without a restart). Their values go to the
// agent on stdin only — never in argv, the environment, logs or reasons — and are scrubbed from
// anything the agent prints before it becomes a reason.
import { readFile } from 'node:fs/promises';

/**
 * A `<name>_file` parameter is a secret file when `<name>` is a secret's name: `password_file`,
 * `passwd_file`, `snmp_priv_passwd_file`, `secret_file`... (the names cluster-schema.ts refuses
 * inline, INLINE_SECRET_RE). Other `_file` parameters (`identity_file`, `debug_file`) are paths the
 * agent opens itself and are passed through unchanged.
 */
const SECRET_FILE_RE = /^((?:.*_)?(?:password|passwd|pass|secret))_file$/i;

/** The option a secret-file parameter becomes (`password_file` -> `password`), or null when it is not one. */
export function secretOptionName(param: string): string | null {
  return SECRET_FILE_RE.exec(param)?.[1] ?? null;
}

export type SecretRead = { ok: true; value: string } | { ok: false; reason: string };

/** Reads one secret file: one line, the trailing newline dropped. The reason never holds the content. */
export async function readSecretFile(param: string, path: string): Promise<SecretRead> {
  if (!path.startsWith('/')) return { ok: false, reason: `${param} must be an absolute path, got ${oneLine(path)}` };
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return { ok: false, reason: `cannot read ${param} ${path} (${code})` };
  }
  const value = text.replace(/[\r\n]+$/, '');
  if (value === '') return { ok: false, reason: `${param} ${path} is empty` };
  if (/[\r\n]/.test(value)) return { ok: false, reason: `${param} ${path} holds more than one line (the fence agent protocol is one key=value per line)` };
  return { ok: true, value };
}

/** Replaces every occurrence of each secret in `text` with `***`. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  // Longest first, so that a secret containing another is replaced whole.
  for (const s of [...secrets].filter((x) => x !== '').sort((a, b) => b.length - a.length)) out = out.split(s).join('***');
  return out;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').slice(0, 200);
}
