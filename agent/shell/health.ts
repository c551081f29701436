// The local health endpoint (SPEC §3.1 `http.listen`, loopback by default): GET /health answers
// JSON about the lease and the sets. Anything else is 404; malformed requests are closed by Node's
// HTTP parser without reaching this code; slow clients are cut off by the timeouts below.
import { createServer } from 'node:http';

export interface HealthServer {
  close(): Promise<void>;
}

export async function startHealthServer(listen: string, report: () => Record<string, unknown>): Promise<HealthServer> {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(listen.slice(at + 1));
  if (!host || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`http.listen: not host:port: ${listen}`);
  // Node checks the header/request timeouts only every connectionsCheckingInterval (30 s by
  // default), which would let a slowloris hold a socket for ~35 s: check every second.
  const server = createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
    if (req.method === 'GET' && (req.url === '/health' || req.url === '/')) {
      const body = JSON.stringify(report());
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
  server.requestTimeout = 5000;
  server.headersTimeout = 5000;
  server.maxHeadersCount = 50;
  // Bounded sockets: a local flood must not exhaust the agent's file descriptors (etcd, agents).
  server.maxConnections = 64;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { close: () => new Promise((resolve) => server.close(() => resolve())) };
}
