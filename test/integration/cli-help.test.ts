// Help, usage errors and bash completion of every hactl command (issue 9). The expected lists come
// from the command tree itself (cli/program.ts), so a command or option added later is checked
// without touching this file: it must have examples in its --help and be offered by completion.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildProgram, allCommands } from '../../cli/program.js';
import { runHactl } from '../lib/cluster.js';
import { repoRoot } from '../lib/paths.js';

const program = buildProgram();
const commands = allCommands(program).filter((c) => c.path !== 'help');
const longOptions = (cmd: typeof program): string[] => cmd.options.map((o) => o.long!).filter(Boolean);

/** Runs `check` over items, a few at a time (each spawns a node process; the machine has 2 cores). */
async function inBatches<T>(items: T[], size: number, check: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(check));
}

test('every command has --help with a description, its options and examples, exit 0', async () => {
  assert.ok(commands.length >= 25, `the tree has ${commands.length} commands`);
  await inBatches([{ path: '', cmd: program }, ...commands], 4, async ({ path, cmd }) => {
    const r = await runHactl([...path.split(' ').filter(Boolean), '--help'], {}, 20_000);
    assert.equal(r.code, 0, `${path} --help: ${r.stderr}`);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^Usage: hactl/, path);
    assert.ok(r.stdout.includes(cmd.description().slice(0, 40)), `${path}: description`);
    for (const o of longOptions(cmd)) assert.ok(r.stdout.includes(o), `${path} --help lacks ${o}`);
    assert.match(r.stdout, /\nExamples:\n {2}hactl /, `${path} --help has no examples`);
  });
});

test('usage errors: one line, exit 2, no stack trace, for every command that takes arguments', async () => {
  // Every command with a required argument, called without it.
  const needArgs = commands.filter(({ cmd }) => cmd.registeredArguments.some((a) => a.required));
  assert.ok(needArgs.length >= 10);
  const cases: string[][] = [...needArgs.map(({ path }) => path.split(' ')), ['frobnicate'], ['status', '--bogus'], ['config', 'show', 'extra', 'words'], ['failover', 'S1', '--to']];
  await inBatches(cases, 4, async (args) => {
    const r = await runHactl(args, { HACTL_ENDPOINTS: 'http://127.0.0.1:1' }, 20_000);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line: ${r.stderr}`);
    assert.match(r.stderr, /^error: /);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.equal(r.stdout, '');
  });
});

test('hactl completion bash offers every command, subcommand and option of the tree; other shells exit 2', async () => {
  const r = await runHactl(['completion', 'bash'], {}, 20_000);
  assert.equal(r.code, 0, r.stderr);
  // The shipped copy (installed by systemd/install.sh) is the current output.
  assert.equal(await readFile(join(repoRoot, 'cli/completion/hactl.bash'), 'utf8'), r.stdout, 'cli/completion/hactl.bash is stale: regenerate it with hactl completion bash');
  const script = join(repoRoot, 'cli/completion/hactl.bash');
  const globalOpts = longOptions(program);
  // Ask bash itself: for each command path, complete an empty word after it and list COMPREPLY.
  const paths = ['', ...commands.map((c) => c.path)];
  const probe = paths
    .map((p) => {
      const words = ['hactl', ...p.split(' ').filter(Boolean), ''];
      return `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; COMPREPLY=(); _hactl; echo "${p}|\${COMPREPLY[*]}"`;
    })
    .join('\n');
  const { stdout } = await promisify(execFile)('bash', ['-c', `source ${script}\n${probe}`], { timeout: 20_000 });
  const offered = new Map(stdout.trim().split('\n').map((l) => [l.split('|')[0], new Set(l.split('|')[1].split(' '))]));
  for (const p of paths) {
    const cmd = p === '' ? program : commands.find((c) => c.path === p)!.cmd;
    const expected = [...cmd.commands.map((c) => c.name()).filter((n) => n !== 'help'), ...longOptions(cmd), ...(p === '' ? [] : globalOpts)];
    const got = offered.get(p);
    assert.ok(got, `no completion for "${p}"`);
    for (const w of expected) assert.ok(got.has(w), `completion of "hactl ${p}" lacks ${w}: ${[...got].join(' ')}`);
  }
  // The value of an option that takes one is not completed with commands.
  const value = await promisify(execFile)('bash', ['-c', `source ${script}\nCOMP_WORDS=(hactl failover S1 --to ''); COMP_CWORD=4; _hactl; echo "\${COMPREPLY[*]}"`], { cwd: '/', timeout: 20_000 });
  assert.doesNotMatch(value.stdout, /status|--wait/);

  const zsh = await runHactl(['completion', 'zsh'], {}, 20_000);
  assert.equal(zsh.code, 2);
  assert.equal(zsh.stderr, 'hactl: completion: only bash is supported, not zsh\n');
  assert.equal(zsh.stdout, '');
});

test('docs/cli.md documents every command with its options, every connection option and every exit code', async () => {
  const doc = await readFile(join(repoRoot, 'docs/cli.md'), 'utf8');
  const lines = doc.split('\n');
  for (const { path, cmd } of commands) {
    const rows = lines.filter((l) => l.includes(`\`hactl ${path}`));
    assert.ok(rows.length > 0, `docs/cli.md does not mention hactl ${path}`);
    for (const o of longOptions(cmd)) assert.ok(rows.some((r) => r.includes(o)), `docs/cli.md: hactl ${path} lacks ${o}`);
  }
  for (const o of longOptions(program)) assert.ok(doc.includes(`\`${o}`), `docs/cli.md lacks the connection option ${o}`);
  for (const code of [0, 1, 2, 3, 4, 5]) assert.match(doc, new RegExp(`^\\| ${code} \\| `, 'm'), `docs/cli.md lacks exit code ${code}`);
});

test('hactl --version and -V print the version of package.json, exit 0', async () => {
  const { version } = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const r = await runHactl([flag], {}, 20_000);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${version}\n`);
  }
});
