// Resolution of a resource `type` to the agent that runs it (SPEC §3.2), and the file checks of
// SPEC §5.6: when hactl runs as root, an agent must be owned by root (or by us) and not writable
// by group or others — otherwise any local user could run code as root through it.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILTIN_TYPES } from '../config/cluster-schema.js';

/** The built-in agents ship in resources/ at the package root (dist/agent/ocf -> ../../../resources). */
export const BUILTIN_AGENT_DIR = fileURLToPath(new URL('../../../resources/', import.meta.url));

export type AgentRef =
  | { kind: 'ocf'; path: string; provider: string; name: string }
  | { kind: 'systemd'; unit: string; provider: 'systemd'; name: string };

export interface ResolveContext {
  ocfRoot: string;
  resourceDirs: string[];
}

export type Resolved = { ok: true; agent: AgentRef } | { ok: false; reason: string };

export async function resolveAgent(type: string, ctx: ResolveContext): Promise<Resolved> {
  if ((BUILTIN_TYPES as readonly string[]).includes(type)) {
    return checked({ kind: 'ocf', path: join(BUILTIN_AGENT_DIR, type), provider: 'hactl', name: type });
  }
  if (type.startsWith('ocf:')) {
    const [, provider, name] = type.split(':');
    return checked({ kind: 'ocf', path: join(ctx.ocfRoot, 'resource.d', provider, name), provider, name });
  }
  if (type.startsWith('systemd:')) {
    const unit = type.slice('systemd:'.length);
    return { ok: true, agent: { kind: 'systemd', unit, provider: 'systemd', name: unit } };
  }
  if (type.startsWith('script:')) {
    const path = type.slice('script:'.length);
    return checked({ kind: 'ocf', path, provider: 'script', name: path.split('/').pop() ?? path });
  }
  for (const dir of ctx.resourceDirs) {
    const path = join(dir, type);
    const found = await checked({ kind: 'ocf', path, provider: 'site', name: type });
    if (found.ok || !found.reason.startsWith('not found')) return found;
  }
  return { ok: false, reason: `not found: no built-in agent or agent in ${ctx.resourceDirs.join(', ') || '(no resourceDirs)'} named ${type}` };
}

async function checked(agent: AgentRef & { kind: 'ocf' }): Promise<Resolved> {
  const problem = await agentFileProblem(agent.path);
  return problem ? { ok: false, reason: problem } : { ok: true, agent };
}

/** Why an executable must not be run (null when it may). */
export async function agentFileProblem(path: string): Promise<string | null> {
  let st;
  try {
    st = await stat(path);
  } catch {
    return `not found: ${path}`;
  }
  if (!st.isFile()) return `not a file: ${path}`;
  if ((st.mode & 0o111) === 0) return `not executable: ${path}`;
  const uid = process.getuid?.() ?? -1;
  if (uid === 0) {
    if (st.uid !== 0) return `refused: ${path} is owned by uid ${st.uid}, not root (an agent run as root must be root's)`;
    if ((st.mode & 0o022) !== 0) return `refused: ${path} is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`;
  }
  return null;
}
