// A loopback "vendor" that records every event the webhook connector POSTs, answers the
// reconcile look-up (GET /events/{key}), and can be slowed down to keep work in flight.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedEvent {
  readonly idempotencyKey: string;
  readonly type: string;
  readonly data: Record<string, unknown>;
  readonly receivedAt: number;
}

export class Recorder {
  readonly events: RecordedEvent[] = [];
  readonly posts = new Map<string, number>();
  lookups = 0;
  delayMs = 0;
  /** Answer this status to every POST while set (e.g. 503). */
  failWith: number | undefined;
  #server: Server | undefined;

  async start(): Promise<string> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.method === 'GET') {
          this.lookups++;
          const key = decodeURIComponent(req.url!.split('/').pop()!);
          res.writeHead(this.posts.has(key) ? 200 : 404).end();
          return;
        }
        if (this.failWith !== undefined) {
          res.writeHead(this.failWith).end();
          return;
        }
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Omit<RecordedEvent, 'receivedAt'>;
        this.posts.set(body.idempotencyKey, (this.posts.get(body.idempotencyKey) ?? 0) + 1);
        this.events.push({ ...body, receivedAt: Date.now() });
        setTimeout(() => res.writeHead(200).end('ok'), this.delayMs);
      });
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server!.address() as AddressInfo).port}/events`;
  }

  messages(): RecordedEvent[] {
    return this.events.filter((e) => e.type === 'message');
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()) ?? resolve());
  }
}
