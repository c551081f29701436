// The hactl command tree (SPEC §7), apart from running it: `hactl completion bash` and the tests
// walk this same tree, so the completion script, the help and the docs check cannot drift from
// what the CLI accepts. Command modules are imported when their command runs, so building the
// tree loads no agent code.
import { Command, Option } from 'commander';
import type { GlobalOptions } from './connect.js';
import { VERSION } from './version.js';

const globals = (cmd: Command): GlobalOptions => cmd.optsWithGlobals() as GlobalOptions;

/** Appends an "Examples:" block to a command's --help. */
function examples(cmd: Command, ...lines: string[]): Command {
  return cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}`);
}

export function buildProgram(): Command {
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
    .version(VERSION, '-V, --version', 'print the version of hactl')
    .showHelpAfterError(false)
    .exitOverride()
    // A mistyped `--password=...` must not echo the secret back (commander quotes unknown options).
    // And its "(Did you mean ...?)" stays on the error's one line.
    .configureOutput({ writeErr: (s) => process.stderr.write(s.replace(/(-[\w-]*(?:pass|secret|token)[\w-]*=)[^'"\s]*/gi, '$1[redacted]').replace(/\n\(Did you mean/g, ' (did you mean')) });
  examples(program, 'hactl status', 'hactl --config /etc/hactl/operator.yaml status --json', 'hactl <command> --help');

  examples(
    program
      .command('agent')
      .description('run the host agent in the foreground (what systemd starts)')
      .action(async (_o, cmd: Command) => (await import('./commands/agent.js')).agentCommand(globals(cmd))),
    'hactl agent --config /etc/hactl/agent.yaml',
  );

  examples(
    program
      .command('status')
      .description('nodes, sets, resources, owners, fencing tokens, fail counts and reasons')
      .option('--watch', 'redraw when the cluster changes (not on a timer); Ctrl-C stops')
      .action(async (_o, cmd: Command) => (await import('./commands/status.js')).statusCommand({ ...globals(cmd), watch: cmd.opts().watch })),
    'hactl status',
    'hactl status --watch',
    'hactl status --json',
  );

  examples(
    program
      .command('failover <set>')
      .description('planned switchover: stop the set in reverse order, hand it to NODE, start it there')
      .option('--to <node>', 'target node (default: the best eligible node)')
      .option('--wait', 'show progress on stderr and return when the set runs on the target')
      .option('--timeout <duration>', 'with --wait: give up after this long (default 2m)')
      .action(async (set: string, _o, cmd: Command) => (await import('./commands/failover.js')).failoverCommand(set, { ...globals(cmd), ...cmd.opts() })),
    'hactl failover QM1 --to mq2 --wait',
    'hactl failover QM1 --wait --timeout 5m',
  );

  examples(
    program
      .command('fence <node>')
      .description('fence NODE now through its fence device (nodes.<NODE>.fence), or record that it is down (--confirm-down); sets that require fencing may then start elsewhere')
      .option('--confirm-down', 'an operator has made sure the node is powered off (no device used)')
      .option('--yes', 'do not ask for confirmation')
      .option('--force-online', 'fence the node even though it is online (DANGER: its sets lose power without a clean stop)')
      .action(async (node: string, _o, cmd: Command) => (await import('./commands/fence.js')).fenceCommand(node, { ...globals(cmd), ...cmd.opts() })),
    'hactl fence mq1 --yes',
    'hactl fence mq1 --confirm-down',
  );

  const config = examples(program.command('config').description('check, store and print the cluster configuration'), 'hactl config validate cluster.yaml', 'hactl config diff cluster.yaml', 'hactl config apply cluster.yaml', 'hactl config show');
  const noAgentChecks = 'skip the checks against the resource agents installed here (types, required parameters, validate-all)';
  examples(
    config
      .command('validate <file>')
      .description('check a cluster configuration file without applying it (also against the agents on this machine)')
      .option('--no-agent-checks', noAgentChecks)
      .action(async (file: string, _o, cmd: Command) => (await import('./commands/config.js')).configValidateCommand(file, globals(cmd))),
    'hactl config validate cluster.yaml',
    'hactl config validate cluster.yaml --no-agent-checks --json',
  );
  examples(
    config
      .command('apply <file>')
      .description('validate and store a cluster configuration, showing what changes; agents follow it at once')
      .option('--no-agent-checks', noAgentChecks)
      .option('--force', 'also when it removes service sets or changes timing (refused otherwise)')
      .action(async (file: string, _o, cmd: Command) => (await import('./commands/config.js')).configApplyCommand(file, { ...globals(cmd), force: cmd.opts().force })),
    'hactl config apply cluster.yaml',
    'hactl config apply cluster.yaml --force   # after hactl config diff cluster.yaml',
  );
  examples(
    config
      .command('diff <file>')
      .description('what applying a file would change: sets added, removed and changed, resources, timing (nothing is applied)')
      .option('--no-agent-checks', noAgentChecks)
      .action(async (file: string, _o, cmd: Command) => (await import('./commands/config.js')).configDiffCommand(file, globals(cmd))),
    'hactl config diff cluster.yaml',
    'hactl config diff cluster.yaml --json',
  );
  examples(
    config
      .command('show')
      .description('print the stored cluster configuration and its revision')
      .action(async (_o, cmd: Command) => (await import('./commands/config.js')).configShowCommand(globals(cmd))),
    'hactl config show > cluster.yaml',
    'hactl config show --json',
  );

  const resources = examples(program.command('resources').description('the resource agents available on this machine and their parameters'), 'hactl resources list', 'hactl resources describe floating-ip');
  examples(
    resources
      .command('list')
      .description('every agent: built-ins, ocf:<provider>:<agent> under ocfRoot, names in resourceDirs')
      .action(async (_o, cmd: Command) => (await import('./commands/resources.js')).resourcesListCommand(globals(cmd))),
    'hactl resources list',
    'hactl --config /etc/hactl/agent.yaml resources list --json',
  );
  examples(
    resources
      .command('describe <type>')
      .description("an agent's parameters and actions, from its meta-data")
      .action(async (type: string, _o, cmd: Command) => (await import('./commands/resources.js')).resourcesDescribeCommand(type, globals(cmd))),
    'hactl resources describe floating-ip',
    'hactl resources describe ocf:heartbeat:IPaddr2 --json',
  );

  const rbac = examples(program.command('rbac').description('least-privilege etcd roles and users for this cluster (docs/security.md)'), 'hactl rbac print --nodes mq1,mq2', 'hactl rbac apply --nodes mq1,mq2');
  const nodesOpt = 'hosts whose agents get a user hactl-agent-<node>, comma-separated';
  const rootPwOpt = 'give root a password read from this file (default: certificate CN=root only)';
  examples(
    rbac
      .command('print')
      .description('print the etcdctl commands that set up roles hactl-agent, hactl-operator, hactl-observer, their users, root, and auth')
      .option('--nodes <names>', nodesOpt)
      .option('--root-password-file <file>', rootPwOpt)
      .action(async (_o, cmd: Command) => (await import('./commands/rbac.js')).rbacPrintCommand({ ...globals(cmd), ...cmd.opts() })),
    'hactl rbac print --cluster mq-prod --nodes mq1,mq2,spare',
  );
  examples(
    rbac
      .command('apply')
      .description('create those roles and users and enable authentication, connected as root')
      .option('--nodes <names>', nodesOpt)
      .option('--root-password-file <file>', rootPwOpt)
      .option('--no-enable', 'create roles and users but leave authentication as it is')
      .action(async (_o, cmd: Command) => (await import('./commands/rbac.js')).rbacApplyCommand({ ...globals(cmd), ...cmd.opts() })),
    'hactl rbac apply --nodes mq1,mq2 --cacert ca.pem --cert root.pem --key root-key.pem',
  );

  const intents = async () => import('./commands/intents.js');
  examples(
    program
      .command('move <set> <node>')
      .description('move a set to NODE by planned switchover; the move is cleared once done')
      .option('--wait', 'show progress on stderr and return when the set runs on NODE')
      .option('--timeout <duration>', 'with --wait: give up after this long (default 2m)')
      .action(async (set: string, node: string, _o, cmd: Command) => (await intents()).moveCommand(set, node, { ...globals(cmd), ...cmd.opts() })),
    'hactl move QM1 mq2',
    'hactl move QM1 mq2 --wait --timeout 5m',
  );
  examples(
    program
      .command('ban <set> <node>')
      .description('keep SET off NODE (moving it away if it runs there) until hactl clear, or for a while')
      .option('--for <duration>', 'how long (default: until hactl clear)')
      .action(async (set: string, node: string, _o, cmd: Command) => (await intents()).banCommand(set, node, { ...globals(cmd), ...cmd.opts() })),
    'hactl ban QM1 mq1',
    'hactl ban QM1 mq1 --for 2h',
  );
  examples(
    program
      .command('clear <set>')
      .description('remove the bans and pending moves of a set')
      .action(async (set: string, _o, cmd: Command) => (await intents()).clearCommand(set, globals(cmd))),
    'hactl clear QM1',
  );
  examples(
    program
      .command('standby <node>')
      .description('drain NODE for maintenance: its sets move away by planned switchover; it gets nothing new')
      .action(async (node: string, _o, cmd: Command) => (await intents()).standbyCommand(node, true, globals(cmd))),
    'hactl standby mq1',
  );
  examples(
    program
      .command('unstandby <node>')
      .description('bring NODE back into service')
      .action(async (node: string, _o, cmd: Command) => (await intents()).standbyCommand(node, false, globals(cmd))),
    'hactl unstandby mq1',
  );
  examples(
    program
      .command('maintenance <on|off> [set]')
      .description('stop (on) or resume (off) management, cluster-wide or for one set; resources are left as they are')
      .action(async (mode: string, set: string | undefined, _o, cmd: Command) => (await intents()).maintenanceCommand(mode, set, globals(cmd))),
    'hactl maintenance on',
    'hactl maintenance off QM1',
  );
  examples(
    program
      .command('disable <set>')
      .description('stop SET everywhere and keep it stopped (also across agent restarts) until hactl enable')
      .action(async (set: string, _o, cmd: Command) => (await intents()).disableCommand(set, true, globals(cmd))),
    'hactl disable QM1',
  );
  examples(
    program
      .command('enable <set>')
      .description('let a disabled SET run again: the best eligible node starts it')
      .action(async (set: string, _o, cmd: Command) => (await intents()).disableCommand(set, false, globals(cmd))),
    'hactl enable QM1',
  );
  examples(
    program
      .command('cleanup <set> [resource]')
      .description('reset fail counts, failure bans and a blocked or failed state; the agents probe again')
      .action(async (set: string, resource: string | undefined, _o, cmd: Command) => (await intents()).cleanupCommand(set, resource, globals(cmd))),
    'hactl cleanup QM1',
    'hactl cleanup QM1 qm1-jms',
  );
  examples(
    program
      .command('events')
      .description('the event history, each with its reason')
      .option('--follow', 'keep printing new events')
      .option('--since <duration>', 'only events this recent (e.g. 1h)')
      .option('--set <set>', 'only events of this set')
      .action(async (_o, cmd: Command) => (await import('./commands/events.js')).eventsCommand({ ...globals(cmd), ...cmd.opts() })),
    'hactl events --since 1h',
    'hactl events --set QM1 --follow --json',
  );

  examples(
    program
      .command('report')
      .description('availability per set from the event history: uptime %, nines, planned and unplanned downtime, failovers, budget left')
      .option('--since <when>', 'start of the period: a duration before now (30d, 12h) or a date (2025-01-31); default: the whole history')
      .option('--until <when>', 'end of the period, the same forms (default: now)')
      .option('--target <percent>', 'availability target for the yearly downtime budget', '99.99')
      .action(async (_o, cmd: Command) => (await import('./commands/report.js')).reportCommand({ ...globals(cmd), ...cmd.opts() })),
    'hactl report --since 30d',
    'hactl report --since 2025-01-01 --until 2025-04-01 --target 99.95 --json',
    '',
    'The rules: docs/operations.md, "Availability report".',
  );

  examples(program.command('web').description('the console in a browser: live status, events, availability and actions, with your etcd credentials (docs/web.md)').option('--listen <address>', 'where to serve it (a non-loopback address needs TLS and --allow-remote)', '127.0.0.1:8080').option('--tls-cert <file>', 'serve HTTPS with this certificate').option('--tls-key <file>', 'the key of --tls-cert').option('--allow-remote', 'allow a non-loopback --listen address').action(async (_o, cmd: Command) => (await import('./commands/web.js')).webCommand({ ...globals(cmd), ...cmd.opts() })), 'hactl web', 'hactl web --listen 127.0.0.1:9090');
  const many = (value: string, list: string[] = []): string[] => [...list, value];
  examples(
    program
      .command('simulate')
      .description('what would happen if a node died, went into standby, or a configuration were applied: predicted from the live cluster with the agents\' own rules; writes nothing')
      .option('--kill <node>', 'the node dies (repeatable)', many)
      .option('--standby <node>', 'the node goes into standby (repeatable)', many)
      .option('--apply <file>', 'this cluster configuration is applied')
      .action(async (_o, cmd: Command) => (await import('./commands/simulate.js')).simulateCommand({ ...globals(cmd), ...cmd.opts() })),
    'hactl simulate --kill mq1',
    'hactl simulate --kill mq1 --kill mq2 --json',
    'hactl simulate --standby mq2',
    'hactl simulate --apply new-cluster.yaml',
  );

  examples(
    program
      .command('completion <shell>')
      .description('print a completion script (bash), generated from these commands')
      .action(async (shell: string) => (await import('./commands/completion.js')).completionCommand(shell, program)),
    'hactl completion bash > /usr/share/bash-completion/completions/hactl',
    'source <(hactl completion bash)',
  );

  examples(
    program
      .command('dev')
      .description('a local cluster on this machine (embedded etcd + N agents) left running; Ctrl-C stops it')
      .addOption(new Option('--nodes <n>', 'number of agents (1 to 16)').default('3'))
      .action(async (_o, cmd: Command) => (await import('./commands/dev.js')).devCommand({ ...cmd.opts(), json: globals(cmd).json })),
    'hactl dev',
    'hactl dev --nodes 5',
    'hactl dev --nodes 1 --json   # one line: endpoints, cluster, nodes, data directory',
  );

  examples(
    program
      .command('demo')
      .description('start a local cluster, show a failover, stop everything (what npm run demo runs)')
      .option('--keep', 'keep the temporary directory with logs')
      .action(async (_o, cmd: Command) => (await import('./commands/dev.js')).demoCommand(cmd.opts())),
    'hactl demo',
    'hactl demo --keep',
  );

  return program;
}

/** Every command of the tree with its path ("config apply"), leaves and groups alike. */
export function allCommands(program: Command): { path: string; cmd: Command }[] {
  const out: { path: string; cmd: Command }[] = [];
  const walk = (cmd: Command, path: string): void => {
    for (const sub of cmd.commands) {
      const p = path ? `${path} ${sub.name()}` : sub.name();
      out.push({ path: p, cmd: sub });
      walk(sub, p);
    }
  };
  walk(program, '');
  return out;
}
