// Starting and stopping a sandbox's HTTP server on a free loopback port.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';

export class LoopbackServer {
  #server: Server | undefined;

  /** Listens on 127.0.0.1 (port 0 picks a free one) and returns the base URL. */
  async start(app: Express, port = 0): Promise<string> {
    await new Promise<void>((resolve) => (this.#server = app.listen(port, '127.0.0.1', () => resolve())));
    return `http://127.0.0.1:${(this.#server!.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()) ?? resolve());
  }
}
