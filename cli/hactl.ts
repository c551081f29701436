#!/usr/bin/env node
// hactl: the operator CLI (SPEC §7). Errors end in one line and an exit code: 2 usage, 3 not
// found, 4 refused as unsafe, 5 timed out, 1 anything else. Never a stack trace.
import { Command, CommanderError, Option } from 'commander';
import { CliError, EXIT } from './errors.js';
import { etcdErrorLine, isEtcdError, type GlobalOptions } from './connect.js';
import { statusCommand } from './commands/status.js';
import { configApplyCommand, configShowCommand, configValidateCommand } from './commands/config.js';
import { failoverCommand } from './commands/failover.js';
import { agentCommand } from './commands/agent.js';
import { demoCommand, devCommand } from './commands/dev.js';
import { fenceCommand } from './commands/fence.js';

// One line on stderr, always: grpc-js sets the TLS server name to an IP endpoint, which Node
// reports with a two-line DeprecationWarning.
process.noDeprecation = true;

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
  // A mistyped `--password=...` must not echo the secret back (commander quotes unknown options).
  // And its "(Did you mean ...?)" stays on the error's one line.
  .configureOutput({ writeErr: (s) => process.stderr.write(s.replace(/(-[\w-]*(?:pass|secret|token)[\w-]*=)[^'"\s]*/gi, '$1[redacted]').replace(/\n\(Did you mean/g, ' (did you mean')) });

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
  .description('fence NODE now through its fence device (nodes.<NODE>.fence), or record that it is down (--confirm-down); sets that require fencing may then start elsewhere')
  .option('--confirm-down', 'an operator has made sure the node is powered off (no device used)')
  .option('--yes', 'do not ask for confirmation')
  .option('--force-online', 'fence the node even though it is online (DANGER: its sets lose power without a clean stop)')
  .addHelpText('after', '\nExamples:\n  hactl fence mq1 --yes\n  hactl fence mq1 --confirm-down')
  .action(async (node: string, _o, cmd: Command) => fenceCommand(node, { ...globals(cmd), ...cmd.opts() }));

const config = program.command('config').description('check, store and print the cluster configuration');
config
  .command('validate <file>')
  .description('check a cluster configuration file without applying it (also against the agents on this machine)')
  .option('--no-agent-checks', 'skip the checks against the resource agents installed here (types, required parameters, validate-all)')
  .action(async (file: string, _o, cmd: Command) => configValidateCommand(file, globals(cmd)));
config
  .command('apply <file>')
  .description('validate and store a cluster configuration; agents follow it at once')
  .option('--no-agent-checks', 'skip the checks against the resource agents installed here (types, required parameters, validate-all)')
  .action(async (file: string, _o, cmd: Command) => configApplyCommand(file, globals(cmd)));
config
  .command('show')
  .description('print the stored cluster configuration and its revision')
  .action(async (_o, cmd: Command) => configShowCommand(globals(cmd)));

const resources = program.command('resources').description('the resource agents available on this machine and their parameters');
resources
  .command('list')
  .description('every agent: built-ins, ocf:<provider>:<agent> under ocfRoot, names in resourceDirs')
  .action(async (_o, cmd: Command) => (await import('./commands/resources.js')).resourcesListCommand(globals(cmd)));
resources
  .command('describe <type>')
  .description("an agent's parameters and actions, from its meta-data")
  .addHelpText('after', '\nExamples:\n  hactl resources describe floating-ip\n  hactl resources describe ocf:heartbeat:IPaddr2 --json')
  .action(async (type: string, _o, cmd: Command) => (await import('./commands/resources.js')).resourcesDescribeCommand(type, globals(cmd)));

const rbac = program.command('rbac').description('least-privilege etcd roles and users for this cluster (docs/security.md)');
rbac
  .command('print')
  .description('print the etcdctl commands that set up roles hactl-agent, hactl-operator, hactl-observer, their users, root, and auth')
  .option('--nodes <names>', 'hosts whose agents get a user hactl-agent-<node>, comma-separated')
  .option('--root-password-file <file>', 'give root a password read from this file (default: certificate CN=root only)')
  .action(async (_o, cmd: Command) => (await import('./commands/rbac.js')).rbacPrintCommand({ ...globals(cmd), ...cmd.opts() }));
rbac
  .command('apply')
  .description('create those roles and users and enable authentication, connected as root')
  .option('--nodes <names>', 'hosts whose agents get a user hactl-agent-<node>, comma-separated')
  .option('--root-password-file <file>', 'give root a password read from this file (default: certificate CN=root only)')
  .option('--no-enable', 'create roles and users but leave authentication as it is')
  .addHelpText('after', '\nExample:\n  hactl rbac apply --nodes mq1,mq2 --cacert ca.pem --cert root.pem --key root-key.pem')
  .action(async (_o, cmd: Command) => (await import('./commands/rbac.js')).rbacApplyCommand({ ...globals(cmd), ...cmd.opts() }));

program
  .command('move <set> <node>')
  .description('move a set to NODE by planned switchover; the move is cleared once done')
  .action(async (set: string, node: string, _o, cmd: Command) => (await import('./commands/intents.js')).moveCommand(set, node, globals(cmd)));
program
  .command('ban <set> <node>')
  .description('keep SET off NODE (moving it away if it runs there) until hactl clear, or for a while')
  .option('--for <duration>', 'how long (default: until hactl clear)')
  .action(async (set: string, node: string, _o, cmd: Command) => (await import('./commands/intents.js')).banCommand(set, node, { ...globals(cmd), ...cmd.opts() }));
program
  .command('clear <set>')
  .description('remove the bans and pending moves of a set')
  .action(async (set: string, _o, cmd: Command) => (await import('./commands/intents.js')).clearCommand(set, globals(cmd)));
program
  .command('standby <node>')
  .description('drain NODE for maintenance: its sets move away by planned switchover; it gets nothing new')
  .action(async (node: string, _o, cmd: Command) => (await import('./commands/intents.js')).standbyCommand(node, true, globals(cmd)));
program
  .command('unstandby <node>')
  .description('bring NODE back into service')
  .action(async (node: string, _o, cmd: Command) => (await import('./commands/intents.js')).standbyCommand(node, false, globals(cmd)));
program
  .command('maintenance <on|off> [set]')
  .description('stop (on) or resume (off) management, cluster-wide or for one set; resources are left as they are')
  .action(async (mode: string, set: string | undefined, _o, cmd: Command) => (await import('./commands/intents.js')).maintenanceCommand(mode, set, globals(cmd)));
program
  .command('cleanup <set> [resource]')
  .description('reset fail counts, failure bans and a blocked or failed state; the agents probe again')
  .action(async (set: string, resource: string | undefined, _o, cmd: Command) => (await import('./commands/intents.js')).cleanupCommand(set, resource, globals(cmd)));
program
  .command('events')
  .description('the event history, each with its reason')
  .option('--follow', 'keep printing new events')
  .option('--since <duration>', 'only events this recent (e.g. 1h)')
  .option('--set <set>', 'only events of this set')
  .action(async (_o, cmd: Command) => (await import('./commands/events.js')).eventsCommand({ ...globals(cmd), ...cmd.opts() }));

program
  .command('report')
  .description('availability per set from the event history: uptime %, nines, planned and unplanned downtime, failovers, budget left')
  .option('--since <when>', 'start of the period: a duration before now (30d, 12h) or a date (2025-01-31); default: the whole history')
  .option('--until <when>', 'end of the period, the same forms (default: now)')
  .option('--target <percent>', 'availability target for the yearly downtime budget', '99.99')
  .addHelpText('after', '\nExamples:\n  hactl report --since 30d\n  hactl report --since 2025-01-01 --until 2025-04-01 --target 99.95 --json\n\nThe rules: docs/operations.md, "Availability report".')
  .action(async (_o, cmd: Command) => (await import('./commands/report.js')).reportCommand({ ...globals(cmd), ...cmd.opts() }));

program
  .command('completion <shell>')
  .description('print a completion script (bash), generated from these commands')
  .addHelpText('after', '\nExample:\n  hactl completion bash > /usr/share/bash-completion/completions/hactl')
  .action(async (shell: string) => (await import('./commands/completion.js')).completionCommand(shell, program));

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
  } catch (caught) {
    let err = caught;
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') process.exit(0);
      // commander already printed its one-line message
      process.exit(EXIT.USAGE);
    }
    if (isEtcdError(err)) err = etcdErrorLine(err, []);
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
