#!/usr/bin/env node
// hactl: the operator CLI (SPEC §7). Errors end in one line and an exit code: 2 usage, 3 not
// found, 4 refused as unsafe, 5 timed out, 1 anything else. Never a stack trace.
import { CommanderError } from 'commander';
import { CliError, EXIT } from './errors.js';
import { etcdErrorLine, isEtcdError } from './connect.js';
import { buildProgram } from './program.js';

// One line on stderr, always: grpc-js sets the TLS server name to an IP endpoint, which Node
// reports with a two-line DeprecationWarning.
process.noDeprecation = true;

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
    // The command is done (the long-running ones, agent and dev, never get here): leave now rather
    // than when a connection attempt to an etcd member that is gone gives up. Writes to stdout and
    // stderr are synchronous on Linux (files, pipes, terminals), so nothing printed is lost.
    process.exit(0);
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
