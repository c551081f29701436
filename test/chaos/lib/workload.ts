// The chaos workload: a producer and a consumer, each a child process running inside the client host
// (nsenter), talking STOMP to the broker through the floating IP.
//   producer: persistent SENDs with a receipt each, unique ids (`<run>-<seq>`); a message counts as
//             acknowledged only once its receipt arrived (the broker fsynced it). Reconnects with
//             bounded backoff; messages without a receipt are re-sent with the same id.
//   consumer: reads the outbound queue (client-individual acks), dedupes by id, counts duplicates.
// Each process appends the ids it acked/received to a file and prints JSON stats lines on stdout;
// it stops on a `stop` line (or EOF) on stdin. Loss = acked by the broker but never received.
//
// Run as a script: node workload.js producer|consumer --host H --port P --queue Q --out FILE [...]
import { appendFileSync, readFileSync, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Backoff, Conn, messageId } from './stomp.js';
import type { Host } from './testbed.js';
import { signalPid, sleep, waitFor } from './exec.js';

export interface ProducerStats {
  type: 'stats';
  role: 'producer';
  at: number;
  sent: number; // unique ids sent at least once
  attempts: number; // SEND frames including re-sends
  acked: number;
  outstanding: number;
  connects: number;
  connected: boolean;
  lastAckAt: number;
  /** Gaps between consecutive acks longer than 500 ms: [from, to] epoch ms. */
  gaps: [number, number][];
  final?: boolean;
}

export interface ConsumerStats {
  type: 'stats';
  role: 'consumer';
  at: number;
  received: number;
  duplicates: number;
  connects: number;
  connected: boolean;
  lastRecvAt: number;
  final?: boolean;
}

interface Args {
  host: string;
  port: number;
  queue: string;
  out: string;
  run: string;
  rate: number;
  window: number;
  drainMs: number;
}

function parseArgs(argv: string[]): Args {
  const get = (k: string, d?: string) => {
    const i = argv.indexOf(`--${k}`);
    const v = i >= 0 ? argv[i + 1] : d;
    if (v === undefined) throw new Error(`missing --${k}`);
    return v;
  };
  return {
    host: get('host'),
    port: Number(get('port', '61613')),
    queue: get('queue'),
    out: get('out'),
    run: get('run', 'cx'),
    rate: Number(get('rate', '50')),
    window: Number(get('window', '20')),
    drainMs: Number(get('drain-ms', '10000')),
  };
}

function emit(o: object): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

/** Resolves when stdin says stop (or closes). */
function stopSignal(): Promise<void> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin });
    rl.on('line', (l) => {
      if (l.trim() === 'stop') resolve();
    });
    rl.on('close', () => resolve());
    process.on('SIGTERM', () => resolve());
  });
}

async function producerMain(a: Args): Promise<void> {
  let stopping = false;
  const stopped = stopSignal().then(() => {
    stopping = true;
  });
  const acked = new Set<string>();
  const outstanding = new Map<string, number>(); // id -> send time (current connection)
  const retry: string[] = [];
  let seq = 0;
  let attempts = 0;
  let connects = 0;
  let connected = false;
  let lastAckAt = 0;
  const gaps: [number, number][] = [];
  const stats = (final = false): ProducerStats => ({
    type: 'stats', role: 'producer', at: Date.now(), sent: seq, attempts, acked: acked.size, outstanding: outstanding.size + retry.length,
    connects, connected, lastAckAt, gaps, final,
  });
  const ticker = setInterval(() => emit(stats()), 250);
  const backoff = new Backoff(100, 1000);
  const drainEnd = () => stopping && (retry.length === 0 && outstanding.size === 0);
  let stopAt = 0;
  void stopped.then(() => {
    stopAt = Date.now();
  });
  while (!drainEnd() && !(stopAt && Date.now() - stopAt > a.drainMs)) {
    let conn: Conn;
    try {
      conn = await Conn.open({ host: a.host, port: a.port });
    } catch {
      await sleep(backoff.next());
      continue;
    }
    connects++;
    connected = true;
    backoff.reset();
    let alive = true;
    conn.onClose(() => {
      alive = false;
    });
    while (alive && !drainEnd() && !(stopAt && Date.now() - stopAt > a.drainMs)) {
      // a connection that stopped answering (no receipt for 5 s) is abandoned
      const oldest = Math.min(...outstanding.values());
      if (outstanding.size > 0 && Date.now() - oldest > 5000) break;
      if (outstanding.size < a.window && (retry.length > 0 || !stopping)) {
        const id = retry.shift() ?? `${a.run}-${++seq}`;
        outstanding.set(id, Date.now());
        attempts++;
        try {
          conn.sendPersistent(a.queue, id, id, () => {
            if (!outstanding.delete(id)) return;
            if (!acked.has(id)) {
              const now = Date.now();
              if (lastAckAt && now - lastAckAt > 500) gaps.push([lastAckAt, now]);
              lastAckAt = now;
              acked.add(id);
              appendFileSync(a.out, `${id}\n`);
            }
          });
        } catch {
          break;
        }
        await sleep(Math.max(1, Math.floor(1000 / a.rate)));
      } else {
        await sleep(10);
      }
    }
    connected = false;
    await conn.close();
    // everything without a receipt is re-sent on the next connection, with the same id
    for (const id of outstanding.keys()) retry.push(id);
    outstanding.clear();
    if (!stopping) await sleep(backoff.next());
  }
  clearInterval(ticker);
  emit(stats(true));
  process.exit(0);
}

async function consumerMain(a: Args): Promise<void> {
  let stopping = false;
  void stopSignal().then(() => {
    stopping = true;
  });
  const seen = new Set<string>();
  let duplicates = 0;
  let connects = 0;
  let connected = false;
  let lastRecvAt = 0;
  const stats = (final = false): ConsumerStats => ({
    type: 'stats', role: 'consumer', at: Date.now(), received: seen.size, duplicates, connects, connected, lastRecvAt, final,
  });
  const ticker = setInterval(() => emit(stats()), 250);
  const backoff = new Backoff(100, 1000);
  while (!stopping) {
    let conn: Conn;
    try {
      conn = await Conn.open({ host: a.host, port: a.port });
    } catch {
      await sleep(backoff.next());
      continue;
    }
    connects++;
    connected = true;
    backoff.reset();
    let alive = true;
    conn.onClose(() => {
      alive = false;
    });
    conn.subscribe(a.queue, (m) => {
      const id = messageId(m);
      if (seen.has(id)) duplicates++;
      else {
        seen.add(id);
        lastRecvAt = Date.now();
        appendFileSync(a.out, `${id}\n`);
      }
      try {
        m.ack();
      } catch {
        /* connection gone: the broker redelivers, we dedupe */
      }
    });
    while (alive && !stopping) await sleep(50);
    connected = false;
    await conn.close();
    if (!stopping) await sleep(backoff.next());
  }
  clearInterval(ticker);
  emit(stats(true));
  process.exit(0);
}

// ------------------------------------------------------------------ orchestration (test side)

export interface WorkloadOptions {
  /** Broker address (the floating IP) and STOMP port. */
  host: string;
  port?: number;
  inQueue?: string;
  outQueue?: string;
  /** Where the id files go (shared filesystem, readable from the test). */
  dir: string;
  rate?: number;
  runId?: string;
}

export interface WorkloadResult {
  sent: number;
  acked: number;
  received: number;
  lost: number;
  duplicates: number;
  lostIds: string[];
  producerConnects: number;
  consumerConnects: number;
  gaps: [number, number][];
}

class Proc<S extends { at: number }> {
  last: S | undefined;
  exited = false;
  constructor(
    readonly child: ChildProcess,
    readonly name: string,
    log: (m: string) => void,
  ) {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (l) => {
      try {
        const o = JSON.parse(l) as S & { type?: string };
        if (o.type === 'stats') this.last = o;
      } catch {
        log(`${name}: ${l}`);
      }
    });
    child.stderr!.on('data', (d: Buffer) => log(`${name}: ${d.toString().trim()}`));
    child.on('exit', () => {
      this.exited = true;
    });
    child.stdin!.on('error', () => undefined);
  }

  async stop(timeoutMs: number): Promise<void> {
    if (this.exited) return;
    this.child.stdin!.write('stop\n');
    try {
      await waitFor(`${this.name} exit`, () => this.exited, timeoutMs, 50);
    } catch {
      // nsenter's child is the real process; kill it by PID, then nsenter
      const pid = this.child.pid ?? 0;
      const kids = (() => {
        try {
          return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
        } catch {
          return [];
        }
      })();
      for (const k of kids) signalPid(k, 'SIGKILL');
      signalPid(pid, 'SIGKILL');
      await waitFor(`${this.name} killed`, () => this.exited, 3000, 50).catch(() => undefined);
    }
  }
}

export class Workload {
  private producer: Proc<ProducerStats> | undefined;
  private consumer: Proc<ConsumerStats> | undefined;
  readonly ackedFile: string;
  readonly receivedFile: string;
  private readonly o: Required<WorkloadOptions>;

  constructor(
    readonly client: Host,
    opts: WorkloadOptions,
    private readonly log: (m: string) => void = () => undefined,
  ) {
    this.o = { port: 61613, inQueue: 'hactl.in', outQueue: 'hactl.out', rate: 50, runId: `cx${Date.now().toString(36)}`, ...opts };
    this.ackedFile = join(this.o.dir, 'acked.ids');
    this.receivedFile = join(this.o.dir, 'received.ids');
  }

  private script(): string {
    return new URL(import.meta.url).pathname;
  }

  startConsumer(): void {
    const c = this.client.spawnAttached([process.execPath, this.script(), 'consumer', '--host', this.o.host, '--port', String(this.o.port), '--queue', this.o.outQueue, '--out', this.receivedFile]);
    this.consumer = new Proc(c, 'consumer', this.log);
  }

  startProducer(): void {
    const p = this.client.spawnAttached([
      process.execPath, this.script(), 'producer', '--host', this.o.host, '--port', String(this.o.port), '--queue', this.o.inQueue, '--out', this.ackedFile,
      '--rate', String(this.o.rate), '--run', this.o.runId,
    ]);
    this.producer = new Proc(p, 'producer', this.log);
  }

  start(): void {
    this.startConsumer();
    this.startProducer();
  }

  producerStats(): ProducerStats | undefined {
    return this.producer?.last;
  }

  consumerStats(): ConsumerStats | undefined {
    return this.consumer?.last;
  }

  /** Wait until at least `n` more messages than now are acknowledged (bounded). */
  async waitAcked(n: number, timeoutMs: number): Promise<number> {
    const base = this.producer?.last?.acked ?? 0;
    return waitFor(`${n} messages acknowledged`, () => {
      const a = this.producer?.last?.acked ?? 0;
      return a >= base + n ? a : undefined;
    }, timeoutMs, 100);
  }

  /** Epoch ms of the first acknowledgement after `t` (ack progress seen through the stats stream). */
  firstAckAfter(t: number): number | undefined {
    const s = this.producer?.last;
    if (!s) return undefined;
    const g = s.gaps.find(([from, to]) => to > t && from <= t + 1000);
    if (g) return g[1];
    return s.lastAckAt > t ? s.lastAckAt : undefined;
  }

  /**
   * When the service came back for good after `t`: acks are flowing now (one in the last second
   * of the latest stats), and it is the end of the last pause over 500 ms that ended after `t`,
   * or `t` itself when acks never paused. Undefined while acks are not flowing. Unlike
   * firstAckAfter, acks between `t` and an outage that begins later (a self-fence seconds after
   * the fault) do not count as the service back.
   */
  ackedAgainAfter(t: number): number | undefined {
    const s = this.producer?.last;
    if (!s || s.lastAckAt <= t || s.at - s.lastAckAt > 1000 || Date.now() - s.at > 2000) return undefined;
    const g = [...s.gaps].reverse().find(([, to]) => to > t);
    return g ? g[1] : t;
  }

  /** Stop the producer, let the consumer drain (until it has every acked id or timeout), stop it, count. */
  async finish(drainMs = 30_000): Promise<WorkloadResult> {
    await this.producer?.stop(20_000);
    const acked = readIds(this.ackedFile);
    await waitFor('consumer received every acknowledged message', () => {
      const got = readIds(this.receivedFile);
      for (const id of acked) if (!got.has(id)) return false;
      return true;
    }, drainMs, 250).catch(() => undefined);
    await this.consumer?.stop(10_000);
    const received = readIds(this.receivedFile);
    const lostIds = [...acked].filter((id) => !received.has(id));
    const ps = this.producer?.last;
    const cs = this.consumer?.last;
    return {
      sent: ps?.sent ?? 0,
      acked: acked.size,
      received: received.size,
      lost: lostIds.length,
      duplicates: cs?.duplicates ?? 0,
      lostIds: lostIds.slice(0, 50),
      producerConnects: ps?.connects ?? 0,
      consumerConnects: cs?.connects ?? 0,
      gaps: ps?.gaps ?? [],
    };
  }

  /** Kill both processes (teardown); no counting. */
  async abort(): Promise<void> {
    await Promise.all([this.producer?.stop(2000), this.consumer?.stop(2000)]);
  }
}

export function readIds(file: string): Set<string> {
  if (!existsSync(file)) return new Set();
  return new Set(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.length > 0),
  );
}

// not when `node --test <dir>` picks this file up (it is not a test)
if (!process.env.NODE_TEST_CONTEXT && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const role = process.argv[2];
  const a = parseArgs(process.argv.slice(3));
  process.on('unhandledRejection', (e) => process.stderr.write(`unhandled: ${String(e)}\n`));
  if (role === 'producer') void producerMain(a);
  else if (role === 'consumer') void consumerMain(a);
  else {
    process.stderr.write('usage: workload.js producer|consumer --host H --port P --queue Q --out FILE\n');
    process.exit(2);
  }
}
