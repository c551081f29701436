// The host configuration (SPEC §3.1, /etc/hactl/agent.yaml): who this host is and how it reaches
// etcd. Every field has a default, so an empty file (or none, for the CLI) is a valid configuration.
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { parseDurationMs } from './duration.js';
import { formatIssues } from './load-cluster.js';

export const DEFAULT_HOST_CONFIG_PATH = '/etc/hactl/agent.yaml';

const NODE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const ENDPOINT_RE = /^https?:\/\/[^\s/]+(?::\d+)?\/?$/;

export const HostConfigSchema = z.strictObject({
  node: z.string().regex(NODE_RE, 'not a valid node name (letters, digits, _ . -)').optional(),
  cluster: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'not a valid cluster name').default('default'),
  etcd: z
    .strictObject({
      endpoints: z.array(z.string().regex(ENDPOINT_RE, 'not an etcd endpoint URL (http(s)://host:port)')).min(1).default(['http://127.0.0.1:2379']),
      tls: z.strictObject({ ca: z.string().min(1), cert: z.string().min(1).optional(), key: z.string().min(1).optional() }).optional(),
      auth: z.strictObject({ username: z.string().min(1), passwordFile: z.string().min(1) }).optional(),
      /** Deadline of every unary etcd call (SPEC §5.5). */
      callTimeout: z.string().default('2s'),
    })
    .prefault({}),
  dataDir: z.string().startsWith('/', 'must be an absolute path').default('/var/lib/hactl'),
  ocfRoot: z.string().startsWith('/', 'must be an absolute path').default('/usr/lib/ocf'),
  resourceDirs: z.array(z.string().startsWith('/', 'must be an absolute path')).default(['/etc/hactl/resources.d']),
  http: z.strictObject({ listen: z.string().default('127.0.0.1:7946') }).prefault({}),
  log: z.strictObject({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info') }).prefault({}),
  /**
   * How many resource actions (start, stop, probe, monitor) run at once on this host; the rest wait
   * in a queue (agent/shell/action-slots.ts). Default: twice the cores (defaultActionLimit).
   */
  actionLimit: z
    .unknown()
    .refine((n) => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 1024, 'must be a whole number from 1 to 1024 (resource actions run at once on this host)')
    .transform((n) => n as number)
    .optional(),
  /**
   * Optional Linux watchdog (e.g. /dev/watchdog from `modprobe softdog soft_margin=5`): fed while
   * this host's lease is sound or nothing runs here, so a host whose agent hangs, or that keeps
   * resources without a lease, is rebooted by the kernel. See docs/fencing.md for its trade-offs.
   */
  watchdog: z
    .strictObject({
      device: z.string().startsWith('/', 'must be an absolute path'),
      /** How often it is fed while feeding is allowed. */
      feedInterval: z
        .string()
        .default('500ms')
        .refine((t) => (parseDurationMs(t) ?? 0) >= 50, 'not a duration of at least 50ms (write e.g. 500ms, 1s)'),
    })
    .optional(),
});

export type HostConfig = z.output<typeof HostConfigSchema> & { node: string };

export class HostConfigError extends Error {
  override name = 'HostConfigError';
}

/**
 * Reads and validates the host configuration. A missing file is an error only when `required`
 * (the agent's explicit --config); the CLI falls back to defaults and its flags.
 */
export async function loadHostConfig(path: string, required: boolean): Promise<HostConfig> {
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !required) text = '';
    else if (code === 'ENOENT') throw new HostConfigError(`config file not found: ${path}`);
    else throw new HostConfigError(`cannot read config file ${path}: ${code ?? String(err)}`);
  }
  return parseHostConfig(text, path);
}

export function parseHostConfig(text: string, source: string): HostConfig {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) throw new HostConfigError(`${source}: yaml: ${doc.errors[0].message.split('\n')[0]}`);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 50 }) ?? {};
  } catch (err) {
    // e.g. an alias without its anchor (`*a`), or an alias bomb: yaml throws while resolving.
    throw new HostConfigError(`${source}: yaml: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
  }
  const parsed = HostConfigSchema.safeParse(data);
  if (!parsed.success) throw new HostConfigError(`${source}: ${formatIssues(parsed.error.issues)[0]}`);
  return { ...parsed.data, node: parsed.data.node ?? hostname().split('.')[0] };
}
