// hactl resources list | describe TYPE (SPEC §7): the agents available on this machine and their
// parameters, from each agent's meta-data. Agents are found with the host configuration's
// ocfRoot and resourceDirs, like the agent resolves them; no etcd needed.
import { fetchMetaData, listAgentTypes, mapLimit, type AgentEntry } from '../../agent/ocf/catalog.js';
import type { AgentMetaData } from '../../agent/ocf/meta-data.js';
import { hostConfigFrom, type GlobalOptions } from '../connect.js';
import { CliError, EXIT, notFound, refused, usageError } from '../errors.js';
import { table } from '../table.js';

/** meta-data runs in parallel, this many at a time. */
const LIST_CONCURRENCY = 8;
/** The same shape the cluster schema accepts for `type`. */
const TYPE_RE = /^(?:ocf:[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+|systemd:[A-Za-z0-9@_.:\\-]+|script:\/[A-Za-z0-9_./+-]+|[A-Za-z0-9][A-Za-z0-9_.-]*)$/;

export interface ListedAgent extends AgentEntry {
  shortdesc?: string;
  error?: string;
}

async function context(opts: GlobalOptions): Promise<{ ocfRoot: string; resourceDirs: string[] }> {
  const host = await hostConfigFrom(opts);
  return { ocfRoot: host.ocfRoot, resourceDirs: host.resourceDirs };
}

export async function resourcesListCommand(opts: GlobalOptions): Promise<void> {
  // `hactl resources list | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
  });
  const ctx = await context(opts);
  const entries = await listAgentTypes(ctx);
  const agents: ListedAgent[] = await mapLimit(entries, LIST_CONCURRENCY, async (e) => {
    const m = await fetchMetaData(e.type, ctx);
    return m.ok ? { ...e, shortdesc: m.meta.shortdesc } : { ...e, error: m.error };
  });
  if (opts.json) {
    process.stdout.write(JSON.stringify({ ocfRoot: ctx.ocfRoot, resourceDirs: ctx.resourceDirs, agents }, null, 2) + '\n');
    return;
  }
  const rows = agents.map((a) => [a.type, a.source, a.error ? `error: ${a.error}` : oneLine(a.shortdesc ?? '', 100)]);
  process.stdout.write(table(['TYPE', 'SOURCE', 'DESCRIPTION'], rows) + '\n');
  process.stdout.write(`\nAlso: systemd:<unit> (a systemd unit), script:<absolute path> (any OCF agent). hactl resources describe TYPE for parameters.\n`);
}

export async function resourcesDescribeCommand(type: string, opts: GlobalOptions): Promise<void> {
  if (!TYPE_RE.test(type)) throw usageError(`not a resource type: ${type} (a built-in name, ocf:<provider>:<agent>, systemd:<unit>, script:<absolute path>, or an agent name)`);
  const ctx = await context(opts);
  const m = await fetchMetaData(type, ctx);
  if (!m.ok) {
    if (m.notFound) throw notFound(`no agent for ${type}: ${m.error}`);
    if (m.refused) throw refused(`${type}: ${m.error}`);
    throw new CliError(`${type}: ${m.error}`, EXIT.OTHER);
  }
  const path = m.agent.kind === 'ocf' ? m.agent.path : null;
  if (opts.json) {
    process.stdout.write(JSON.stringify({ type, path, ...m.meta }, null, 2) + '\n');
    return;
  }
  process.stdout.write(describeText(type, path, m.meta));
}

function describeText(type: string, path: string | null, meta: AgentMetaData): string {
  const out: string[] = [];
  out.push(`${type}${meta.shortdesc ? ` — ${meta.shortdesc}` : ''}`);
  if (path) out.push(`agent: ${path}`);
  if (meta.longdesc) out.push('', ...wrap(meta.longdesc, 100, ''));
  out.push('', 'Parameters:');
  if (meta.parameters.length === 0) out.push('  (none)');
  else {
    const rows = meta.parameters.map((p) => [
      p.name,
      p.required ? 'yes' : 'no',
      p.unique ? 'yes' : 'no',
      p.options ? `select(${p.options.join('|')})` : p.type,
      p.default === undefined || p.default === '' ? '-' : p.default,
      oneLine(p.shortdesc + (p.deprecated ? ' (deprecated)' : ''), 70),
    ]);
    out.push(table(['NAME', 'REQUIRED', 'UNIQUE', 'TYPE', 'DEFAULT', 'DESCRIPTION'], rows, '  '));
  }
  out.push('', 'Actions:');
  out.push(
    table(
      ['ACTION', 'TIMEOUT', 'INTERVAL', 'DEPTH'],
      meta.actions.map((a) => [a.name, a.timeout ?? '-', a.interval ?? '-', a.depth ?? '-']),
      '  ',
    ),
  );
  const detailed = meta.parameters.filter((p) => p.longdesc && p.longdesc !== p.shortdesc);
  if (detailed.length > 0) {
    out.push('', 'Parameter details:');
    for (const p of detailed) out.push(`  ${p.name}${p.required ? ' (required)' : ''}`, ...wrap(p.longdesc, 96, '    '));
  }
  return out.join('\n') + '\n';
}

function oneLine(text: string, max: number): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > max ? t.slice(0, max - 1) + '…' : t;
}

function wrap(text: string, width: number, indent: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(indent + line);
  return lines;
}
