// The testbed's "power switch" (a fence device for the chaos suite): an HTTP server in the root
// namespace on the bridge address; `off` crashes a host (SIGKILL init + netns gone, as a power cut),
// `on` boots it again, `status` says on/off. The fence agent is this same file run as a script,
// speaking the fence-agents conventions: options as `key=value` lines on stdin and/or `--key=value`
// (or `-o ACTION -n PLUG`) arguments; action off|on|reboot|status|monitor; exit 0 ok, 1 failed,
// 2 = status off.
import { createServer, request, type Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import { writeFile } from 'node:fs/promises';
import type { Testbed } from './testbed.js';

export interface FenceEvent {
  at: number;
  action: string;
  plug: string;
  ok: boolean;
}

export class PowerSwitch {
  private server: Server | undefined;
  readonly events: FenceEvent[] = [];
  /** While set, every request fails as an unreachable switch would (the device-failure scenario). */
  failing: string | undefined;
  /** Hosts the switch may power (agent hosts only, never etcd or the client). */
  constructor(
    readonly tb: Testbed,
    readonly plugs: string[],
    readonly port = 17950,
  ) {}

  get url(): string {
    return `http://${this.tb.bridgeIp}:${this.port}`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      const action = u.searchParams.get('action') ?? 'status';
      const plug = u.searchParams.get('plug') ?? '';
      void this.handle(action, plug).then(
        (body) => {
          res.writeHead(200).end(body);
        },
        (err: Error) => {
          this.events.push({ at: Date.now(), action, plug, ok: false });
          res.writeHead(500).end(err.message);
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.port, this.tb.bridgeIp, () => resolve());
    });
  }

  private async handle(action: string, plug: string): Promise<string> {
    if (this.failing) throw new Error(this.failing);
    // The agent's `monitor` asks about the switch itself (plug '-'): reachable and working.
    if (action === 'status' && plug === '-') return 'on';
    if (!this.plugs.includes(plug)) throw new Error(`unknown plug ${plug}`);
    const h = this.tb.host(plug);
    if (action === 'off' || action === 'reboot') {
      if (await h.running()) await h.kill();
      this.events.push({ at: Date.now(), action, plug, ok: true });
      this.tb.log(`power switch: ${plug} off`);
      if (action === 'reboot') await h.start();
      return 'ok';
    }
    if (action === 'on') {
      if (!(await h.running())) await h.start();
      this.events.push({ at: Date.now(), action, plug, ok: true });
      return 'ok';
    }
    if (action === 'status' || action === 'monitor') return (await h.running()) ? 'on' : 'off';
    throw new Error(`unsupported action ${action}`);
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  /** Write an executable wrapper for the agent side (`script:<path>` in the cluster config). */
  static async writeAgent(path: string, nodeBin: string): Promise<void> {
    const js = new URL(import.meta.url).pathname;
    await writeFile(path, `#!/bin/sh\nexec ${nodeBin} ${js} "$@"\n`, { mode: 0o755 });
  }
}

/**
 * One GET with node:http, not fetch: loading fetch's implementation costs this short-lived agent
 * 150–250 ms on the shared test machine, all of it inside every fence.
 */
function httpGet(url: URL, timeoutMs: number): Promise<{ ok: boolean; status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ ok: (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300, status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

async function agentMain(): Promise<void> {
  const opts: Record<string, string> = {};
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    const t = setTimeout(() => process.stdin.destroy(), 500);
    for await (const c of process.stdin) chunks.push(c as Buffer);
    clearTimeout(t);
    for (const line of Buffer.concat(chunks).toString().split('\n')) {
      const m = /^\s*([A-Za-z_]+)\s*=\s*(.*?)\s*$/.exec(line);
      if (m) opts[m[1]!] = m[2]!;
    }
  }
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--([a-z_-]+)=(.*)$/.exec(a);
    if (m) opts[m[1]!.replace(/-/g, '_')] = m[2]!;
    else if (a === '-o') opts.action = argv[++i] ?? '';
    else if (a === '-n') opts.plug = argv[++i] ?? '';
    else if (/^(on|off|reboot|status|monitor|metadata|meta-data)$/.test(a)) opts.action = a;
  }
  for (const [k, v] of Object.entries(process.env)) {
    const m = /^OCF_RESKEY_(.+)$/.exec(k);
    if (m && v !== undefined && opts[m[1]!] === undefined) opts[m[1]!] = v;
  }
  const action = opts.action ?? opts.option ?? 'reboot';
  const plug = opts.plug ?? opts.port ?? opts.nodename ?? process.env.HA_FENCE_NODE ?? '';
  const url = opts.url ?? process.env.HACTL_CX_FENCE_URL ?? '';
  if (action === 'metadata' || action === 'meta-data') {
    process.stdout.write('<?xml version="1.0" ?>\n<resource-agent name="fence_hactlcx" shortdesc="hactl chaos testbed power switch"><parameters><parameter name="url"/><parameter name="plug"/></parameters><actions><action name="on"/><action name="off"/><action name="reboot"/><action name="status"/><action name="monitor"/><action name="metadata"/></actions></resource-agent>\n');
    return;
  }
  if (!url || (!plug && action !== 'monitor')) {
    process.stderr.write('fence_hactlcx: need url= and plug=\n');
    process.exit(1);
  }
  const q = new URL(url);
  q.searchParams.set('action', action === 'monitor' ? 'status' : action);
  q.searchParams.set('plug', plug || '-');
  const res = await httpGet(q, 8000).catch((e: Error) => {
    process.stderr.write(`fence_hactlcx: ${e.message}\n`);
    process.exit(1);
  });
  const body = res.body;
  if (action === 'monitor') process.exit(res.ok || res.status === 500 ? 0 : 1);
  if (!res.ok) {
    // A careless agent that prints the credentials it was given: tests show hactl scrubs them.
    const who = opts.password !== undefined ? ` (as ${opts.login ?? ''}/${opts.password})` : '';
    process.stderr.write(`fence_hactlcx: ${body}${who}\n`);
    process.exit(1);
  }
  if (action === 'status') {
    process.stdout.write(`Status: ${body.toUpperCase()}\n`);
    process.exit(body === 'on' ? 0 : 2);
  }
  process.stdout.write(`Success: ${action} ${plug}\n`);
}

// not when `node --test <dir>` picks this file up (it is not a test)
if (!process.env.NODE_TEST_CONTEXT && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) void agentMain();
