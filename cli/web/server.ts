// The HTTP(S) side of `hactl web`: the page and its two assets, one Server-Sent Events stream of
// snapshots, and two POST endpoints (preview an action, run it).
//
// Who may use it. The console acts with the etcd credentials of the operator who started it, so
// anyone who can reach it acts as that operator. Beyond the bind address (cli/web/listen.ts):
//   - a secret token, printed once in the URL; the first visit trades it for an HttpOnly,
//     SameSite=Strict cookie, and every other request needs that cookie (other users of the same
//     machine can reach the loopback port too, and DNS-rebinding pages carry no such cookie);
//   - a POST must be JSON from the page's own origin (a form on another site can send neither);
//   - the page loads nothing from elsewhere, and says so in its Content-Security-Policy.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { GlobalOptions } from '../connect.js';
import { ActionInputError, commandLine, describe, exitClass, parseActionRequest, runAction, ACTIONS } from './actions.js';
import type { LiveConsole, Snapshot } from './live.js';
import { APP_CSS } from './assets/app-css.js';
import { APP_JS } from './assets/app-js.js';
import { INDEX_HTML } from './assets/index-html.js';

export interface WebServerOptions {
  live: LiveConsole;
  /** The connection options the actions' hactl runs with. */
  connection: GlobalOptions;
  tls?: { cert: Buffer; key: Buffer };
  /** For tests: a fixed token. */
  token?: string;
  /** Each action, as it finishes (the command prints it: an audit line on stderr). */
  onAction?: (line: string) => void;
}

/** Cookies are per host, not per port: one name per port lets two consoles run side by side. */
const cookieName = (req: IncomingMessage): string => `hactl_web_${req.socket.localPort ?? 0}`;
const MAX_BODY_BYTES = 4096;
/** A comment line on idle streams, so proxies and browsers keep them open (not a poll: no data). */
const KEEPALIVE_MS = 15_000;

const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

export interface WebServer {
  server: Server;
  token: string;
  close(): Promise<void>;
}

export function createWebServer(opts: WebServerOptions): WebServer {
  const token = opts.token ?? randomBytes(24).toString('base64url');
  const secure = opts.tls !== undefined;
  const streams = new Set<ServerResponse>();
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, 'text/plain', `internal error: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`);
      else res.end();
    });
  };
  const server = opts.tls ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, handler) : createHttpServer(handler);

  const tokenOk = (given: string | undefined): boolean => {
    if (!given) return false;
    const a = Buffer.from(given);
    const b = Buffer.from(token);
    return a.length === b.length && timingSafeEqual(a, b);
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://console');
    // First visit with the printed URL: keep the token in a cookie and drop it from the address bar.
    if (req.method === 'GET' && url.pathname === '/' && url.searchParams.has('token')) {
      if (!tokenOk(url.searchParams.get('token') ?? undefined)) return send(res, 403, 'text/plain', 'wrong token: open the URL hactl web printed\n');
      res.writeHead(303, { ...SECURITY_HEADERS, Location: '/', 'Set-Cookie': `${cookieName(req)}=${token}; Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}` });
      res.end();
      return;
    }
    if (!tokenOk(cookie(req, cookieName(req)))) return send(res, 401, 'text/plain', 'not signed in: open the URL hactl web printed (it carries a token)\n');

    if (req.method === 'GET') {
      if (url.pathname === '/') return send(res, 200, 'text/html; charset=utf-8', INDEX_HTML);
      if (url.pathname === '/app.js') return send(res, 200, 'text/javascript; charset=utf-8', APP_JS);
      if (url.pathname === '/app.css') return send(res, 200, 'text/css; charset=utf-8', APP_CSS);
      if (url.pathname === '/api/stream') return stream(res);
      return send(res, 404, 'text/plain', 'not found\n');
    }
    if (req.method === 'POST' && (url.pathname === '/api/preview' || url.pathname === '/api/action')) {
      const origin = req.headers.origin;
      if (origin !== undefined && origin !== `${secure ? 'https' : 'http'}://${req.headers.host ?? ''}`) return send(res, 403, 'text/plain', 'cross-origin request refused\n');
      if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) return send(res, 415, 'text/plain', 'send JSON\n');
      let action;
      try {
        action = parseActionRequest(JSON.parse(await body(req)) as unknown);
      } catch (err) {
        const message = err instanceof ActionInputError ? err.message : err instanceof SyntaxError ? 'the request is not JSON' : err instanceof Error ? err.message : String(err);
        return json(res, 400, { ok: false, message });
      }
      if (url.pathname === '/api/preview') return json(res, 200, { text: describe(action, opts.live.snapshot), command: commandLine(action) });
      const result = await runAction(action, opts.connection);
      opts.onAction?.(`${result.command}: ${result.ok ? 'done' : `${exitClass(result.exitCode)} (exit ${result.exitCode})`}: ${result.message}`);
      return json(res, 200, { ...result, outcome: exitClass(result.exitCode) });
    }
    return send(res, 405, 'text/plain', 'method not allowed\n');
  }

  function stream(res: ServerResponse): void {
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive' });
    res.write(`event: actions\ndata: ${JSON.stringify(ACTIONS)}\n\n`);
    const push = (s: Snapshot): void => void res.write(`event: snapshot\ndata: ${JSON.stringify(s)}\n\n`);
    const unsubscribe = opts.live.subscribe(push);
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
    streams.add(res);
    res.on('close', () => {
      clearInterval(keepalive);
      unsubscribe();
      streams.delete(res);
    });
  }

  return {
    server,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of streams) s.end();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function send(res: ServerResponse, code: number, type: string, text: string): void {
  res.writeHead(code, { ...SECURITY_HEADERS, 'Content-Type': type });
  res.end(text);
}

function json(res: ServerResponse, code: number, value: unknown): void {
  send(res, code, 'application/json', JSON.stringify(value));
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new ActionInputError(`the request is larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
