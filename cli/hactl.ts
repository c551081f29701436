#!/usr/bin/env node
// hactl: the operator CLI (SPEC §7). Errors end in one line and an exit code: 2 usage, 3 not
// found, 4 refused as unsafe, 5 timed out, 1 anything else. Never a stack trace.
import { Command, CommanderError, Option } from 'commander';
import { CliError, EXIT } from './errors.js';
import type { GlobalOptions } from './connect.js';
import { statusCommand } from './commands/status.js';
import { configApplyCommand, configShowCommand, configValidateCommand } from './commands/config.js';
import { failoverCommand } from './commands/failover.js';
import { agentCommand } from './commands/agent.js';
import { demoCommand, devCommand } from './commands/dev.js';
import { fenceCommand } from './commands/fence.js';

const program = new Command();
program
  .name('hactl')
  .description('hactl: failover cluster manager on etcd')
  .option('--config <file>', 'host configuration (default: $HACTL_CONFIG or /etc/hactl/agent.yaml)')
  .option('--endpoints <urls>', 'etcd endpoints, comma-separated (default: from the host configuration; $HACTL_ENDPOINTS)')
  .option('--cluster <name>', 'cluster name (default: from the host configuration; $HACTL_CLUSTER)')
  .option('--cacert <file>', 'CA certificate for etcd TLS')
  .option('--cert <file>', 'client certificate for etcd TLS')
  .option('--key <file>', 'client key for etcd TLS')
  .option('--user <name>', 'etcd user (with --password-file)')
  .option('--password-file <file>', 'file holding the etcd password')
  .option('--json', 'machine-readable JSON output')
  .showHelpAfterError(false)
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

const globals = (cmd: Command): GlobalOptions => cmd.optsWithGlobals() as GlobalOptions;

program
  .command('agent')
  .description('run the host agent in the foreground (what systemd starts)')
  .action(async (_o, cmd: Command) => agentCommand(globals(cmd)));

program
  .command('status')
  .description('nodes, sets, resources, owners, fencing tokens, fail counts and reasons')
  .option('--watch', 'redraw on every change')
  .action(async (_o, cmd: Command) => statusCommand({ ...globals(cmd), watch: cmd.opts().watch }));

program
  .command('failover <set>')
  .description('planned switchover: stop the set in reverse order, hand it to NODE, start it there')
  .option('--to <node>', 'target node (default: the best eligible node)')
  .option('--wait', 'return when the set runs on the target')
  .option('--timeout <duration>', 'with --wait: give up after this long (default 2m)')
  .addHelpText('after', '\nExamples:\n  hactl failover QM1 --to mq2 --wait\n  hactl failover QM1 --wait --timeout 5m')
  .action(async (set: string, _o, cmd: Command) => failoverCommand(set, { ...globals(cmd), ...cmd.opts() }));

program
  .command('fence <node>')
  .description('record that NODE is down (--confirm-down), so sets that require fencing may start elsewhere')
  .option('--confirm-down', 'an operator has made sure the node is powered off')
  .option('--yes', 'do not ask for confirmation')
  .addHelpText('after', '\nExample:\n  hactl fence mq1 --confirm-down')
  .action(async (node: string, _o, cmd: Command) => fenceCommand(node, { ...globals(cmd), ...cmd.opts() }));

const config = program.command('config').description('check, store and print the cluster configuration');
config
  .command('validate <file>')
  .description('check a cluster configuration file without applying it')
  .action(async (file: string, _o, cmd: Command) => configValidateCommand(file, globals(cmd)));
config
  .command('apply <file>')
  .description('validate and store a cluster configuration; agents follow it at once')
  .action(async (file: string, _o, cmd: Command) => configApplyCommand(file, globals(cmd)));
config
  .command('show')
  .description('print the stored cluster configuration and its revision')
  .action(async (_o, cmd: Command) => configShowCommand(globals(cmd)));

program
  .command('dev')
  .description('a local cluster on this machine (embedded etcd + N agents) left running; Ctrl-C stops it')
  .addOption(new Option('--nodes <n>', 'number of agents').default('3'))
  .action(async (_o, cmd: Command) => devCommand(cmd.opts()));

program
  .command('demo')
  .description('start a local cluster, show a failover, stop everything (what npm run demo runs)')
  .option('--keep', 'keep the temporary directory with logs')
  .action(async (_o, cmd: Command) => demoCommand(cmd.opts()));

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') process.exit(0);
      // commander already printed its one-line message
      process.exit(EXIT.USAGE);
    }
    if (err instanceof CliError) {
      process.stderr.write(`hactl: ${err.message}\n`);
      process.exit(err.exitCode);
    }
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    process.stderr.write(`hactl: ${message}\n`);
    process.exit(EXIT.OTHER);
  }
}

void main();
