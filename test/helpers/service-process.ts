// Runs the real service as a child process (`wa-crm-sync start`), as an admin would.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { auditKeyPath, loadAuditKey, type AuditKey } from '../../core/security/audit-trail.js';
import { projectRoot, sign } from './fixtures.js';
import { freshStoreUrl, tempDir } from './stores.js';

export { holdsFor } from './wait.js';

export const APP_SECRET = 'test-app-secret-0123456789';
/** The heap flags of bin/wa-crm-sync.js's shebang and `npm start`: the service runs as shipped. */
export const SERVICE_NODE_FLAGS = ['--max-semi-space-size=4', '--max-old-space-size=256'];
/** The environment bin/wa-crm-sync.js's first line, npm start, the Dockerfile and the systemd unit give the service. */
export const SERVICE_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** The audit key a service made beside its config at its first start. */
export function serviceAuditKey(configPath: string): Promise<AuditKey> {
  return loadAuditKey({ env: {}, keyFile: auditKeyPath(undefined, configPath), create: false });
}

export function writeConfig(path: string, config: Record<string, unknown>): void {
  writeFileSync(path, stringify(config));
}

export function baseConfig(options: { storeUrl: string; port: number; dir: string; recorderUrl?: string; webhookEnabled?: boolean }): Record<string, unknown> {
  return {
    server: { port: options.port, host: '127.0.0.1' },
    store: { url: options.storeUrl },
    log: { level: 'info' },
    whatsapp: { appSecret: APP_SECRET, verifyToken: 'verify-me', media: { dir: join(options.dir, 'media') } },
    outbox: { leaseMs: 1500, pollIntervalMs: 50, claimBatch: 100 },
    // A customer service window write waits 1 s for the rest of a burst (60 s by default), so a
    // test that waits for a CRM's outbox to drain is not held a minute behind it.
    sync: { windowWriteSettleSeconds: 1 },
    connectors: options.recorderUrl
      ? { webhook: { enabled: options.webhookEnabled ?? true, url: options.recorderUrl, timeoutMs: 2000, rateLimit: { backoffBaseMs: 50, backoffMaxMs: 500, maxAttempts: 50 } } }
      : {},
  };
}

export type BaseConfig = Record<string, unknown> & { whatsapp: Record<string, unknown> };

/** A service (not started yet) on a fresh SQLite store and a free port, its base config changed by `adjust`. */
export async function serviceWith(
  adjust: (base: { config: BaseConfig; port: number; dir: string }) => Record<string, unknown>,
  options: { env?: Readonly<Record<string, string>> } = {},
): Promise<{ service: ServiceProcess; configPath: string; port: number }> {
  const dir = tempDir();
  const port = await freePort();
  const configPath = join(dir, 'wa-crm-sync.yaml');
  const config = baseConfig({ storeUrl: freshStoreUrl('sqlite').url, port, dir }) as BaseConfig;
  writeConfig(configPath, adjust({ config, port, dir }));
  return { service: new ServiceProcess(configPath, port, options.env), configPath, port };
}

export class ServiceProcess {
  child: ChildProcess | undefined;
  output = '';

  constructor(
    readonly configPath: string,
    readonly port: number,
    /** Added to this process's environment (e.g. WA_CRM_SYNC_CONNECTOR_MODULES). */
    readonly env: Readonly<Record<string, string>> = {},
  ) {}

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Waits up to `timeoutMs` for /healthz (a loaded machine can take 20 s and more); a service that never answers is killed. */
  async start(timeoutMs = 20_000): Promise<void> {
    this.child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, join(projectRoot, 'bin/wa-crm-sync.js'), 'start', '--config', this.configPath], {
      cwd: projectRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...SERVICE_ENV, NODE_ENV: 'test', ...this.env },
    });
    this.child.stdout!.on('data', (c: Buffer) => (this.output += c.toString()));
    this.child.stderr!.on('data', (c: Buffer) => (this.output += c.toString()));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`service exited with ${this.child.exitCode}:\n${this.output}`);
      try {
        const res = await fetch(`${this.baseUrl}/healthz`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await this.kill('SIGKILL');
    throw new Error(`service did not start within ${timeoutMs} ms:\n${this.output}`);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    // 'close', not 'exit': at 'exit' the child's stdout may still hold unread lines (Node's
    // docs say so), and a test reading the last log line ("stopped") then misses it.
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    child.kill(signal);
    await closed;
  }

  /** POSTs a signed webhook; resolves with the HTTP status, or 0 when the service did not answer. */
  async sendWebhook(body: string, signature = sign(APP_SECRET, body)): Promise<number> {
    try {
      const res = await fetch(`${this.baseUrl}/webhooks/whatsapp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature },
        body,
      });
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 0;
    }
  }

  /** Like Meta: delivers until the service answers 200. */
  async deliver(body: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if ((await this.sendWebhook(body)) === 200) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('webhook never acknowledged');
  }
}

export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Outbox operations of `connector` in `state`, as the service's /metrics reads them from the store (0 when none). */
export async function outboxOperations(service: ServiceProcess, connector: string, state: 'pending' | 'in_flight' | 'done' | 'dead'): Promise<number> {
  const metrics = await (await fetch(`${service.baseUrl}/metrics`)).text();
  return Number(new RegExp(`wa_crm_sync_outbox_operations\\{connector="${connector}",state="${state}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
}

/** Nothing of `connector` waiting or under way: whatever it was going to do, it has done. */
export async function outboxSettled(service: ServiceProcess, connector: string): Promise<boolean> {
  return (await outboxOperations(service, connector, 'pending')) === 0 && (await outboxOperations(service, connector, 'in_flight')) === 0;
}
