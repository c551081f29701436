// The JMS-adapter stand-in of the seed deployment, run by hactl as a `process` resource on the owner
// host: it consumes the inbound queue and produces every message to the outbound queue, persistent
// with a receipt, and acknowledges the inbound message only after the outbound receipt arrived, so
// nothing the broker acknowledged to the producer is ever lost (a crash in between gives a duplicate,
// which the consumer counts). Reconnects with bounded backoff while the broker restarts; exits 0 on
// SIGTERM.
//
//   node adapter.js --host 10.232.0.100 [--port 61613] [--in hactl.in] [--out hactl.out]
import type { IMessage } from '@stomp/stompjs';
import { Backoff, Conn, messageId } from './stomp.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : (process.env[`ADAPTER_${name.toUpperCase()}`] ?? dflt);
}

const host = arg('host', '127.0.0.1');
const port = Number(arg('port', '61613'));
const inQ = arg('in', 'hactl.in');
const outQ = arg('out', 'hactl.out');
let stopping = false;
let current: Conn | undefined;
let forwarded = 0;

function log(msg: string): void {
  process.stderr.write(`${new Date().toISOString()} adapter: ${msg}\n`);
}

async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  log(`stopping after ${forwarded} messages`);
  await current?.close();
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.on('unhandledRejection', (e) => log(`unhandled: ${String(e)}`));

async function main(): Promise<void> {
  const backoff = new Backoff(100, 1000);
  while (!stopping) {
    let conn: Conn;
    try {
      conn = await Conn.open({ host, port, log });
    } catch (e) {
      await new Promise((r) => setTimeout(r, backoff.next()));
      void e;
      continue;
    }
    current = conn;
    backoff.reset();
    log(`connected to ${host}:${port}`);
    let alive = true;
    conn.onClose(() => {
      alive = false;
    });
    conn.subscribe(
      inQ,
      (m: IMessage) => {
        const id = messageId(m);
        try {
          conn.sendPersistent(outQ, id, m.body, () => {
            forwarded++;
            try {
              m.ack();
            } catch {
              /* connection gone: the broker redelivers the inbound message */
            }
          });
        } catch {
          /* connection gone */
        }
      },
      50,
    );
    while (alive && !stopping) await new Promise((r) => setTimeout(r, 100));
    await conn.close();
    if (!stopping) {
      log('connection lost; reconnecting');
      await new Promise((r) => setTimeout(r, backoff.next()));
    }
  }
}

// not when `node --test <dir>` picks this file up (it is not a test)
if (!process.env.NODE_TEST_CONTEXT) void main();
