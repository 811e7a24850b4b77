// Small HTTP load generators for the benchmarks: closed loop (as fast as the server answers,
// with a fixed number of connections) and open loop (a fixed request rate, latency recorded).
import { Agent, request } from 'node:http';

export interface LoadTarget {
  readonly url: string;
  /** Body and headers for request number i. */
  readonly build: (i: number) => { body: string; headers: Record<string, string> };
}

function send(agent: Agent, target: LoadTarget, i: number): Promise<number> {
  const { body, headers } = target.build(i);
  const url = new URL(target.url);
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Requests per second with `connections` requests always in flight, for `durationMs`. */
export async function closedLoop(target: LoadTarget, connections: number, durationMs: number): Promise<{ rps: number; errors: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  let done = 0;
  let errors = 0;
  let next = 0;
  const end = Date.now() + durationMs;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (Date.now() < end) {
        const status = await send(agent, target, next++).catch(() => 0);
        if (status === 200) done++;
        else errors++;
      }
    }),
  );
  agent.destroy();
  return { rps: done / ((Date.now() - started) / 1000), errors };
}

/** Sends `rate` requests per second for `durationMs` regardless of answers; returns latencies in ms. */
export async function openLoop(target: LoadTarget, rate: number, durationMs: number): Promise<{ latencies: number[]; errors: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const latencies: number[] = [];
  let errors = 0;
  const total = Math.round((rate * durationMs) / 1000);
  const start = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inFlight.push(
      send(agent, target, i).then(
        (status) => {
          // Latency from the scheduled send time, so a stalled generator cannot hide queueing.
          if (status === 200) latencies.push(performance.now() - due);
          else errors++;
        },
        () => void errors++,
      ),
    );
  }
  await Promise.all(inFlight);
  agent.destroy();
  return { latencies, errors };
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
