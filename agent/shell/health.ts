// The local HTTP endpoint (`http.listen`, loopback by default) for machines: GET /health
// (liveness), GET /ready (readiness) and GET /metrics (Prometheus text format). Anything else is
// 404; malformed requests are closed by Node's HTTP parser without reaching this code; slow clients
// are cut off by the timeouts below.
//   /health  200 while the agent's decision loop keeps turning (it runs at least once a second);
//            503 when it has not run for LOOP_STALE_MS. Restarting the agent is the cure.
//   /ready   200 while the lease is sound (renewed within TTL - fenceMargin) and the agent is not
//            shutting down: this host may run its sets. 503 otherwise (etcd unreachable, lease
//            lost, self-fencing): take traffic away from this host; restarting does not help.
// Both answer JSON with a `reason` when they say no.
import { createServer } from 'node:http';

/** The decision loop runs at least every second; five missed turns mean it is stuck. */
export const LOOP_STALE_MS = 5000;

export interface HealthServer {
  close(): Promise<void>;
}

/** What the probes are decided from, read at each request. */
export interface ProbeState {
  /** Milliseconds since the agent's decision loop last ran. */
  loopAgeMs: number;
  stopping: boolean;
  /** null: no lease (lost, or a new one being granted). */
  lease: { validForMs: number; fenceMarginMs: number } | null;
}

export interface HealthSources {
  probeState(): ProbeState;
  /** The agent's own summary (node, lease, sets), added to /health's body. */
  report(): Record<string, unknown>;
  metrics(): Promise<{ contentType: string; text: string }>;
}

export interface ProbeAnswer {
  ok: boolean;
  reason?: string;
}

export function liveness(s: ProbeState): ProbeAnswer {
  if (s.loopAgeMs > LOOP_STALE_MS) return { ok: false, reason: `the decision loop has not run for ${Math.round(s.loopAgeMs)} ms` };
  return { ok: true };
}

export function readiness(s: ProbeState): ProbeAnswer {
  if (s.stopping) return { ok: false, reason: 'the agent is shutting down' };
  if (!s.lease) return { ok: false, reason: 'no lease: etcd unreachable or the lease lost; a new one is being granted' };
  if (s.lease.validForMs <= s.lease.fenceMarginMs) {
    const past = s.lease.validForMs <= 0 ? `expired ${Math.round(-s.lease.validForMs)} ms ago` : `${Math.round(s.lease.validForMs)} ms left`;
    return { ok: false, reason: `lease not renewed in time (${past}, fenceMargin ${s.lease.fenceMarginMs} ms): self-fencing` };
  }
  const alive = liveness(s);
  return alive.ok ? { ok: true } : alive;
}

export async function startHealthServer(listen: string, sources: HealthSources): Promise<HealthServer> {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(listen.slice(at + 1));
  if (!host || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`http.listen: not host:port: ${listen}`);
  // Node checks the header/request timeouts only every connectionsCheckingInterval (30 s by
  // default), which would let a slowloris hold a socket for ~35 s: check every second.
  const server = createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
    const path = req.url?.split('?')[0];
    if (req.method === 'GET' && (path === '/health' || path === '/')) {
      const state = sources.probeState();
      const alive = liveness(state);
      const ready = readiness(state);
      sendJson(res, alive.ok ? 200 : 503, { alive: alive.ok, ready: ready.ok, reason: alive.reason ?? ready.reason, ...sources.report() });
      return;
    }
    if (req.method === 'GET' && path === '/ready') {
      const ready = readiness(sources.probeState());
      sendJson(res, ready.ok ? 200 : 503, { ready: ready.ok, reason: ready.reason });
      return;
    }
    if (req.method === 'GET' && path === '/metrics') {
      sources.metrics().then(
        ({ contentType, text }) => {
          res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
          res.end(text);
        },
        () => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end('metrics unavailable\n');
        },
      );
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

function sendJson(res: import('node:http').ServerResponse, status: number, value: Record<string, unknown>): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
