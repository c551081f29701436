#!/usr/bin/env node
// hactl: the operator CLI (SPEC §7). Errors end in one line and an exit code: 2 usage, 3 not
// found, 4 refused as unsafe, 5 timed out, 1 anything else. Never a stack trace.
import { CommanderError } from 'commander';
import { CliError, EXIT } from './errors.js';
import { buildProgram } from './program.js';

// One line on stderr, always: grpc-js sets the TLS server name to an IP endpoint, which Node
// reports with a two-line DeprecationWarning.
process.noDeprecation = true;

/**
 * Ends the process with `code` once everything written to stdout and stderr has been handed to the
 * OS. A pipe takes 64 KiB at once; the rest waits in Node's queue, and a bare process.exit() would
 * drop it. An empty write's callback runs after every write queued before it. process.exit() (not
 * just the exit code) because a connection attempt to an etcd member that is gone would otherwise
 * keep the process alive until it gives up. A reader that went away (EPIPE) ends the wait too.
 */
function exitWhenFlushed(code: number): void {
  process.exitCode = code;
  let pending = 2;
  const done = (): void => {
    if (--pending === 0) process.exit(code);
  };
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', () => process.exit(code));
    stream.write('', done);
  }
}

async function main(): Promise<number> {
  try {
    await buildProgram().parseAsync(process.argv);
    // The command is done (the long-running ones, agent and dev, never get here).
    return EXIT.OK;
  } catch (caught) {
    let err = caught;
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.OK;
      // commander already printed its one-line message
      return EXIT.USAGE;
    }
    if (!(err instanceof CliError)) {
      // Imported here, not at the top: connect.js loads the etcd client (grpc, protobuf), which
      // --help, --version and usage errors must not pay for. An etcd error means it is loaded already.
      const { etcdErrorLine, isEtcdError } = await import('./connect.js');
      if (isEtcdError(err)) err = etcdErrorLine(err, []);
    }
    if (err instanceof CliError) {
      process.stderr.write(`hactl: ${err.message}\n`);
      return err.exitCode;
    }
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    process.stderr.write(`hactl: ${message}\n`);
    return EXIT.OTHER;
  }
}

void main().then(exitWhenFlushed);
