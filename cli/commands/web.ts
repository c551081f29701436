// hactl web [--listen 127.0.0.1:8080] [--tls-cert F --tls-key F --allow-remote]: the console in a
// browser, served by this process with the operator's own etcd connection (like `kubectl proxy`).
// It can see what the operator's etcd role may read and do what it may write: nothing more, since
// every action is the hactl command itself (cli/web/actions.ts). Docs: docs/web.md.
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { connect, etcdErrorLine, type GlobalOptions } from '../connect.js';
import { CliError, EXIT, usageError } from '../errors.js';
import { readView } from '../status-model.js';
import { checkExposure, DEFAULT_LISTEN, parseListen } from '../web/listen.js';
import { LiveConsole } from '../web/live.js';
import { createWebServer } from '../web/server.js';

export interface WebOptions extends GlobalOptions {
  listen?: string;
  tlsCert?: string;
  tlsKey?: string;
  allowRemote?: boolean;
}

export async function webCommand(opts: WebOptions): Promise<void> {
  const addr = parseListen(opts.listen ?? DEFAULT_LISTEN);
  checkExposure(addr, opts);
  const tls = opts.tlsCert && opts.tlsKey ? { cert: await readTlsFile('--tls-cert', opts.tlsCert), key: await readTlsFile('--tls-key', opts.tlsKey) } : undefined;
  const session = await connect(opts);
  let live: LiveConsole | undefined;
  let web: ReturnType<typeof createWebServer> | undefined;
  try {
    // Fail at once, in the CLI's words, when these credentials cannot read the cluster.
    try {
      await readView(session.client, session.keys);
    } catch (err) {
      throw etcdErrorLine(err, session.config.etcd.endpoints, { doing: 'read the cluster status', key: session.keys.prefix, who: session.identity });
    }
    live = new LiveConsole(session);
    await live.start();
    web = createWebServer({ live, connection: opts, tls, onAction: (line) => process.stderr.write(`hactl web: ${line}\n`) });
    const server = web.server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new CliError(`--listen ${addr.host}:${addr.port}: ${err.code === 'EADDRINUSE' ? 'address in use (choose another with --listen)' : err.code === 'EADDRNOTAVAIL' ? 'no such address on this machine' : err.code === 'EACCES' ? 'not allowed (a port below 1024 needs privileges)' : err.message}`, EXIT.USAGE)),
      );
      server.listen(addr.port, addr.host, () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    const host = addr.host.includes(':') ? `[${addr.host}]` : addr.host;
    const url = `${tls ? 'https' : 'http'}://${host}:${port}/?token=${web.token}`;
    const who = session.identity ? ` as ${session.identity}` : '';
    process.stdout.write(
      opts.json
        ? JSON.stringify({ url, cluster: session.config.cluster, identity: session.identity ?? null }) + '\n'
        : `hactl web: cluster ${session.config.cluster}${who} at ${url}\nopen that URL (it carries this run's secret token); Ctrl-C stops\n`,
    );
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
  } finally {
    await web?.close();
    live?.close();
    session.close();
  }
}

async function readTlsFile(flag: string, file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw usageError(`${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}
