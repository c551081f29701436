// hactl config validate FILE | apply FILE | show
import { readFile } from 'node:fs/promises';
import { userInfo, hostname } from 'node:os';
import { checkClusterConfig, inFile } from '../../agent/config/load-cluster.js';
import type { StoredConfig } from '../../agent/etcd/view.js';
import { checkConfigAgents } from '../../agent/ocf/check-params.js';
import type { ClusterConfig } from '../../agent/config/cluster-schema.js';
import { diffConfigs, renderDiff } from '../config-diff.js';
import { connect, etcdErrorLine, hostConfigFrom, type GlobalOptions, type Session } from '../connect.js';
import { CliError, EXIT, refused, usageError } from '../errors.js';
import { localDateTime } from '../table.js';

async function readConfigFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? `config file not found: ${file}` : `cannot read ${file}: ${code ?? String(err)}`, EXIT.USAGE);
  }
}

/** Only blank lines and comments: applied, it would remove every set (refused even with --force). */
const EMPTY_RE = /^(?:\s*(?:#[^\n]*)?\n?)*$/;

/** Validates a file; prints every error with its path. Invalid input exits 2 and changes nothing. */
export async function validateFile(file: string, opts: GlobalOptions): Promise<{ yaml: string; config: ClusterConfig; warnings: string[] }> {
  const yaml = await readConfigFile(file);
  if (EMPTY_RE.test(yaml)) throw usageError(`${file}: the file is empty; a configuration without service sets is written serviceSets: {}`);
  const check = checkClusterConfig(yaml);
  if (!check.ok) {
    if (opts.json) process.stdout.write(JSON.stringify({ valid: false, errors: check.errors }, null, 2) + '\n');
    else for (const e of check.errors.slice(1)) process.stderr.write(`${inFile(file, e)}\n`);
    throw new CliError(inFile(file, check.errors[0]), EXIT.USAGE);
  }
  // Against the agents on this machine (--no-agent-checks skips it, e.g. on an operator laptop).
  if ((opts as { agentChecks?: boolean }).agentChecks === false) return { yaml, config: check.config, warnings: check.warnings };
  const host = await hostConfigFrom(opts);
  const agents = await checkConfigAgents(check.config, { ocfRoot: host.ocfRoot, resourceDirs: host.resourceDirs, node: host.node });
  if (agents.errors.length > 0) {
    if (opts.json) process.stdout.write(JSON.stringify({ valid: false, errors: agents.errors, warnings: agents.warnings }, null, 2) + '\n');
    else for (const e of agents.errors.slice(1)) process.stderr.write(`${file}: ${e}\n`);
    throw new CliError(`${file}: ${agents.errors[0]}`, agents.refused ? EXIT.REFUSED : EXIT.USAGE);
  }
  return { yaml, config: check.config, warnings: [...check.warnings, ...agents.warnings] };
}

export async function configValidateCommand(file: string, opts: GlobalOptions): Promise<void> {
  const { warnings } = await validateFile(file, opts);
  if (opts.json) process.stdout.write(JSON.stringify({ valid: true, warnings }, null, 2) + '\n');
  else {
    for (const w of warnings) process.stdout.write(`warning: ${w}\n`);
    process.stdout.write(`${file}: valid\n`);
  }
}

/** The stored configuration (null: none, or one this version cannot read) and its key's mod revision (0: none). */
async function readStored(session: Session): Promise<{ config: ClusterConfig | null; modRevision: number }> {
  let res;
  try {
    res = await session.client.get(session.keys.config()).exec();
  } catch (err) {
    throw etcdErrorLine(err, session.config.etcd.endpoints, { doing: 'read the stored configuration', key: session.keys.config(), who: session.identity });
  }
  const kv = res.kvs[0];
  if (!kv) return { config: null, modRevision: 0 };
  let check: ReturnType<typeof checkClusterConfig> | null = null;
  try {
    check = checkClusterConfig((JSON.parse(kv.value.toString()) as StoredConfig).yaml);
  } catch {
    // not JSON: compared as nothing stored
  }
  return { config: check?.ok ? check.config : null, modRevision: Number(kv.mod_revision) };
}

export async function configDiffCommand(file: string, opts: GlobalOptions): Promise<void> {
  const { config } = await validateFile(file, opts);
  const session = await connect(opts);
  try {
    const stored = await readStored(session);
    const diff = diffConfigs(stored.config, config);
    if (opts.json) process.stdout.write(JSON.stringify({ storedRevision: stored.modRevision, ...diff }, null, 2) + '\n');
    else process.stdout.write(renderDiff(diff, config, stored.config).join('\n') + '\n');
  } finally {
    session.close();
  }
}

export async function configApplyCommand(file: string, opts: GlobalOptions & { force?: boolean }): Promise<void> {
  const { yaml, config, warnings } = await validateFile(file, opts);
  const session = await connect(opts);
  try {
    const current = await readStored(session);
    warnings.push(...(await unknownNodeWarnings(session, config)));
    const diff = diffConfigs(current.config, config);
    if (diff.needsForce.length > 0 && opts.force !== true) {
      throw refused(`${file}: would ${diff.needsForce.join(' and ')}; see hactl config diff ${file}, then apply with --force`);
    }
    const stored: StoredConfig = { yaml, appliedAtWallMs: Date.now(), appliedBy: `${userInfo().username}@${hostname()}` };
    let revision: number;
    try {
      // Only over the configuration the diff was made against: another apply in between is not overwritten unseen.
      const key = session.keys.config();
      const res = await session.client.if(key, 'Mod', '==', current.modRevision).then(session.client.put(key).value(JSON.stringify(stored))).commit();
      if (!res.succeeded) throw new CliError(`${file}: the stored configuration changed while applying (someone else applied one); nothing applied, run again`, EXIT.OTHER);
      revision = Number(res.header.revision);
    } catch (err) {
      if (err instanceof CliError) throw err;
      throw etcdErrorLine(err, session.config.etcd.endpoints, { doing: 'apply the configuration', key: session.keys.config(), who: session.identity });
    }
    if (opts.json) process.stdout.write(JSON.stringify({ applied: true, revision, warnings, diff }, null, 2) + '\n');
    else {
      process.stdout.write(renderDiff(diff, config, current.config).join('\n') + '\n');
      for (const w of warnings) process.stdout.write(`warning: ${w}\n`);
      process.stdout.write(`applied ${file} to cluster ${session.config.cluster} at revision ${revision}\n`);
    }
  } finally {
    session.close();
  }
}

/**
 * Without a `nodes:` list the file cannot say which hosts exist, but the cluster can: a `prefer`
 * entry naming a host that never joined is most likely a typo (the set would never run there).
 * A warning, not a refusal: a configuration may be applied before a new host's first start.
 */
async function unknownNodeWarnings(session: Session, config: ClusterConfig): Promise<string[]> {
  if (config.nodes !== undefined) return []; // validation already refuses names not in nodes:
  const prefix = session.keys.member('');
  const joined = new Set((await session.client.getAll().prefix(prefix).keys().catch(() => [] as string[])).map((k) => k.slice(prefix.length)));
  if (joined.size === 0) return [];
  const out: string[] = [];
  for (const [name, set] of Object.entries(config.serviceSets)) {
    (set.prefer ?? []).forEach((node, i) => {
      if (!joined.has(node)) out.push(`serviceSets.${name}.prefer[${i}]: ${node} has never joined cluster ${session.config.cluster} (known: ${[...joined].sort().join(', ')})`);
    });
  }
  return out;
}

export async function configShowCommand(opts: GlobalOptions): Promise<void> {
  const session = await connect(opts);
  try {
    let res;
    try {
      res = await session.client.get(session.keys.config()).exec();
    } catch (err) {
      throw etcdErrorLine(err, session.config.etcd.endpoints, { doing: 'show the configuration', key: session.keys.config(), who: session.identity });
    }
    const kv = res.kvs[0];
    if (!kv) throw new CliError(`cluster ${session.config.cluster} has no configuration (hactl config apply FILE)`, EXIT.NOT_FOUND);
    const stored = JSON.parse(kv.value.toString()) as StoredConfig;
    if (opts.json) {
      process.stdout.write(JSON.stringify({ revision: Number(kv.mod_revision), appliedAt: new Date(stored.appliedAtWallMs).toISOString(), appliedBy: stored.appliedBy, yaml: stored.yaml }, null, 2) + '\n');
    } else {
      process.stdout.write(`# revision ${kv.mod_revision}, applied ${localDateTime(stored.appliedAtWallMs)} by ${stored.appliedBy}\n${stored.yaml}`);
      if (!stored.yaml.endsWith('\n')) process.stdout.write('\n');
    }
  } finally {
    session.close();
  }
}
export { usageError };
