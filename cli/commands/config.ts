// hactl config validate FILE | apply FILE | show
import { readFile } from 'node:fs/promises';
import { userInfo, hostname } from 'node:os';
import { checkClusterConfig } from '../../agent/config/load-cluster.js';
import type { StoredConfig } from '../../agent/etcd/view.js';
import { checkConfigAgents } from '../../agent/ocf/check-params.js';
import { connect, etcdErrorLine, hostConfigFrom, type GlobalOptions } from '../connect.js';
import { CliError, EXIT, usageError } from '../errors.js';

async function readConfigFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? `config file not found: ${file}` : `cannot read ${file}: ${code ?? String(err)}`, EXIT.USAGE);
  }
}

/** Validates a file; prints every error with its path. Invalid input exits 2 and changes nothing. */
export async function validateFile(file: string, opts: GlobalOptions): Promise<{ yaml: string; warnings: string[] }> {
  const yaml = await readConfigFile(file);
  const check = checkClusterConfig(yaml);
  if (!check.ok) {
    if (opts.json) process.stdout.write(JSON.stringify({ valid: false, errors: check.errors }, null, 2) + '\n');
    else for (const e of check.errors.slice(1)) process.stderr.write(`${file}: ${e}\n`);
    throw new CliError(`${file}: ${check.errors[0]}`, EXIT.USAGE);
  }
  // Against the agents on this machine (--no-agent-checks skips it, e.g. on an operator laptop).
  if ((opts as { agentChecks?: boolean }).agentChecks === false) return { yaml, warnings: check.warnings };
  const host = await hostConfigFrom(opts);
  const agents = await checkConfigAgents(check.config, { ocfRoot: host.ocfRoot, resourceDirs: host.resourceDirs, node: host.node });
  if (agents.errors.length > 0) {
    if (opts.json) process.stdout.write(JSON.stringify({ valid: false, errors: agents.errors, warnings: agents.warnings }, null, 2) + '\n');
    else for (const e of agents.errors.slice(1)) process.stderr.write(`${file}: ${e}\n`);
    throw new CliError(`${file}: ${agents.errors[0]}`, agents.refused ? EXIT.REFUSED : EXIT.USAGE);
  }
  return { yaml, warnings: [...check.warnings, ...agents.warnings] };
}

export async function configValidateCommand(file: string, opts: GlobalOptions): Promise<void> {
  const { warnings } = await validateFile(file, opts);
  if (opts.json) process.stdout.write(JSON.stringify({ valid: true, warnings }, null, 2) + '\n');
  else {
    for (const w of warnings) process.stdout.write(`warning: ${w}\n`);
    process.stdout.write(`${file}: valid\n`);
  }
}

export async function configApplyCommand(file: string, opts: GlobalOptions): Promise<void> {
  const { yaml, warnings } = await validateFile(file, opts);
  const session = await connect(opts);
  try {
    const stored: StoredConfig = { yaml, appliedAtWallMs: Date.now(), appliedBy: `${userInfo().username}@${hostname()}` };
    let revision: number;
    try {
      const res = await session.client.put(session.keys.config()).value(JSON.stringify(stored)).exec();
      revision = Number(res.header.revision);
    } catch (err) {
      throw etcdErrorLine(err, session.config.etcd.endpoints, { doing: 'apply the configuration', key: session.keys.config(), who: session.identity });
    }
    if (opts.json) process.stdout.write(JSON.stringify({ applied: true, revision, warnings }, null, 2) + '\n');
    else {
      for (const w of warnings) process.stdout.write(`warning: ${w}\n`);
      process.stdout.write(`applied ${file} to cluster ${session.config.cluster} at revision ${revision}\n`);
    }
  } finally {
    session.close();
  }
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
      process.stdout.write(`# revision ${kv.mod_revision}, applied ${new Date(stored.appliedAtWallMs).toISOString()} by ${stored.appliedBy}\n${stored.yaml}`);
      if (!stored.yaml.endsWith('\n')) process.stdout.write('\n');
    }
  } finally {
    session.close();
  }
}
export { usageError };
