// A "power switch" for loopback fencing tests: a site fence script that powers a node off by
// SIGKILL of the agent PID written in pids/<plug> (a host powered off), logs every call with its
// time, and fails (printing the password it was given, as a careless fence agent might) while
// the file `broken` exists in its directory.
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestCluster, type TestCluster } from './cluster.js';

export interface Switch {
  dir: string;
  /** One line per call: `<epoch ms> <action> <plug>`. */
  calls: string;
  passwordFile: string;
  password: string;
  /** Writes every agent's PID where the switch finds it. */
  wire(tc: TestCluster): Promise<void>;
  yaml(base: string, nodes: string[]): string;
}

export async function powerSwitch(): Promise<Switch> {
  const dir = await mkdtemp(join(tmpdir(), 'hactl-switch-'));
  const calls = join(dir, 'calls.log');
  const password = `sw-Pw-${process.pid}-f4`;
  const passwordFile = join(dir, 'sw.pw');
  await writeFile(passwordFile, password + '\n', { mode: 0o600 });
  const script = join(dir, 'switch.sh');
  await writeFile(
    script,
    [
      '#!/bin/sh',
      'in=$(cat)',
      'plug=$(printf "%s\\n" "$in" | sed -n "s/^plug=//p")',
      'action=$(printf "%s\\n" "$in" | sed -n "s/^action=//p")',
      'pw=$(printf "%s\\n" "$in" | sed -n "s/^password=//p")',
      `echo "$(date +%s%3N) $action $plug" >> ${calls}`,
      `[ -e ${dir}/broken ] && { echo "login as admin/$pw refused" >&2; exit 1; }`,
      '[ "$action" = monitor ] && exit 0',
      `pid=$(cat ${dir}/pids/$plug 2>/dev/null) || { echo "no such plug $plug" >&2; exit 1; }`,
      'kill -9 "$pid" 2>/dev/null',
      'exit 0',
    ].join('\n') + '\n',
  );
  await chmod(script, 0o755);
  return {
    dir,
    calls,
    passwordFile,
    password,
    async wire(tc) {
      await mkdir(join(dir, 'pids'), { recursive: true });
      for (const a of tc.lc.agents) if (a.process?.pid) await writeFile(join(dir, 'pids', a.node), String(a.process.pid));
    },
    yaml(base, nodes) {
      return base.replace(
        'serviceSets:',
        `nodes: { ${nodes.map((n) => `${n}: { fence: sw }`).join(', ')} }\nfencing:\n  devices:\n    sw: { agent: "script:${script}", params: { login: admin, password_file: ${passwordFile} }, timeout: 5s }\nserviceSets:`,
      );
    },
  };
}

/** `nodes` agents online (3 by default), wired to a fresh power switch; everything is removed afterwards. */
export async function withSwitchCluster(fn: (tc: TestCluster, sw: Switch) => Promise<void>, nodes = 3): Promise<void> {
  const sw = await powerSwitch();
  const tc = await startTestCluster({ nodes });
  try {
    await tc.waitFor(`${nodes} agents online`, 20_000, (s) => s.nodes.filter((x) => x.state === 'online').length === nodes);
    await sw.wire(tc);
    await fn(tc, sw);
  } finally {
    await tc.dispose();
    await rm(sw.dir, { recursive: true, force: true });
  }
}

/** Whether a process (an agent the switch may have powered off) still exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
