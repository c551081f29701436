// One STOMP connection over TCP with bounded connect time and heart-beats, for the workload and the
// adapter. Reconnecting is the caller's job (a fresh Conn per attempt, bounded backoff), so that
// nothing of a dead connection (pending receipts, unacked messages) leaks into the next one.
import { Client, type IFrame, type IMessage, type StompHeaders } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';

export interface ConnOptions {
  host: string;
  port: number;
  connectTimeoutMs?: number;
  heartbeatMs?: number;
  log?: (msg: string) => void;
}

export class Conn {
  readonly client: Client;
  private closedCb: (() => void) | undefined;
  closed = false;
  private nextReceipt = 0;

  private constructor(client: Client) {
    this.client = client;
  }

  /** Connect; rejects when the connection is not established within the timeout. */
  static open(o: ConnOptions): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const hb = o.heartbeatMs ?? 1000;
      const client = new Client({
        webSocketFactory: () => new TCPWrapper(o.host, o.port),
        reconnectDelay: 0,
        connectionTimeout: o.connectTimeoutMs ?? 3000,
        heartbeatIncoming: hb,
        heartbeatOutgoing: hb,
        discardWebsocketOnCommFailure: true,
        connectHeaders: { host: 'localhost', 'accept-version': '1.2,1.1' },
        debug: () => undefined,
      });
      const conn = new Conn(client);
      let settled = false;
      const timer = setTimeout(() => fail(new Error(`connect to ${o.host}:${o.port} timed out`)), (o.connectTimeoutMs ?? 3000) + 500);
      const fail = (err: Error) => {
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          void client.deactivate({ force: true }).catch(() => undefined);
          reject(err);
        } else {
          conn.markClosed();
        }
      };
      client.onConnect = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(conn);
      };
      client.onStompError = (f: IFrame) => {
        o.log?.(`stomp error: ${f.headers.message ?? ''} ${f.body.slice(0, 200)}`);
        fail(new Error(`STOMP ERROR ${f.headers.message ?? ''}`));
        void client.deactivate({ force: true }).catch(() => undefined);
      };
      client.onWebSocketClose = () => fail(new Error(`connection to ${o.host}:${o.port} closed`));
      client.onWebSocketError = () => fail(new Error(`connection to ${o.host}:${o.port} failed`));
      client.activate();
    });
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.closedCb?.();
  }

  onClose(cb: () => void): void {
    this.closedCb = cb;
    if (this.closed) cb();
  }

  /** SEND persistent with a receipt; `onReceipt` fires when the broker has stored it. */
  sendPersistent(queue: string, id: string, body: string, onReceipt: () => void, extra: StompHeaders = {}): void {
    const receipt = `r${++this.nextReceipt}-${id}`;
    this.client.watchForReceipt(receipt, () => onReceipt());
    this.client.publish({ destination: `/queue/${queue}`, body, headers: { persistent: 'true', receipt, 'cx-id': id, ...extra } });
  }

  subscribe(queue: string, onMessage: (m: IMessage) => void, prefetch = 100): void {
    this.client.subscribe(`/queue/${queue}`, onMessage, { ack: 'client-individual', 'activemq.prefetchSize': String(prefetch) });
  }

  /** Drop the connection now (no DISCONNECT handshake: the peer may be dead). */
  async close(): Promise<void> {
    this.markClosed();
    await this.client.deactivate({ force: true }).catch(() => undefined);
  }
}

/** Bounded exponential backoff: 100 ms doubling to `maxMs`. */
export class Backoff {
  private cur: number;
  constructor(
    private readonly minMs = 100,
    private readonly maxMs = 1000,
  ) {
    this.cur = minMs;
  }
  next(): number {
    const v = this.cur;
    this.cur = Math.min(this.maxMs, this.cur * 2);
    return v;
  }
  reset(): void {
    this.cur = this.minMs;
  }
}

export function messageId(m: IMessage): string {
  return m.headers['cx-id'] ?? m.body;
}
