// A pass-through HTTP proxy in front of a sandbox: logs each request (`METHOD /path`, no query)
// so a test can count the calls a connector made, and answers chosen requests with a fault
// instead of forwarding them (the vendor never saw them).
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export class VendorProxy {
  /** Every request forwarded or refused, in arrival order. */
  readonly requests: string[] = [];
  readonly #faults: Array<{ match: RegExp; status: number; body: unknown; count: number }> = [];
  #server: Server | undefined;

  constructor(private readonly target: string) {}

  /** The next `count` requests whose `METHOD /path` matches get `status` with `body`, unforwarded. */
  failNext(match: RegExp, status: number, body: unknown, count = 1): void {
    this.#faults.push({ match, status, body, count });
  }

  /** Requests logged since `from` (an index into `requests`). */
  since(from: number): string[] {
    return this.requests.slice(from);
  }

  async start(): Promise<string> {
    const target = new URL(this.target);
    this.#server = createServer((req: IncomingMessage, res) => {
      const line = `${req.method} ${(req.url ?? '/').split('?')[0]}`;
      this.requests.push(line);
      const fault = this.#faults.find((f) => f.count > 0 && f.match.test(line));
      if (fault) {
        fault.count--;
        req.resume();
        res.writeHead(fault.status, { 'content-type': 'application/json' }).end(JSON.stringify(fault.body));
        return;
      }
      // The Host header stays the proxy's: a sandbox that answers with its own URL (Salesforce's instance_url) points back here.
      const upstream = request({ hostname: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    // Clients keep connections alive: close them, or close() waits for their idle timeout.
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
