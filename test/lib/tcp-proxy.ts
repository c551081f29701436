// A loopback TCP proxy in front of a real etcd member, for tests of what the agent's client does
// when replies are lost: `holdReplies()` keeps forwarding requests to etcd but stops delivering
// what etcd sends back on the connections open at that moment (the request commits, its reply
// never arrives). New connections work normally. Everything is closed by `close()`.
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  /** host:port of the proxy on loopback. */
  endpoint: string;
  /** From now on, replies on the connections open now are held back (never delivered). */
  holdReplies(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<{ client: Socket; server: Socket; held: boolean }>();
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    const pair = { client, server: upstream, held: false };
    pairs.add(pair);
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
      if (!pair.held) client.write(chunk);
    });
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('proxy has no TCP address');
  return {
    endpoint: `127.0.0.1:${addr.port}`,
    holdReplies() {
      for (const p of pairs) p.held = true;
    },
    async close() {
      for (const p of pairs) {
        p.client.destroy();
        p.server.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
