// What the command files under server/cli/ share: the config option and path, a store opened for
// one command, the audit key and actor, a dispatcher that is never started, small parsers.
import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { InvalidArgumentError, Option } from 'commander';
import { connectorSettingsSchemas } from '../../connectors/registry.js';
import { AccountError } from '../../core/admin/accounts.js';
import { loadConfig } from '../../core/config/load.js';
import type { Config } from '../../core/config/schema.js';
import type { Connector } from '../../core/connector.js';
import { silentLogger } from '../../core/logger.js';
import { ConnectorDispatcher } from '../../core/outbox/dispatcher.js';
import { RateBudget } from '../../core/outbox/rate-budget.js';
import { auditKeyPath, loadAuditKey, type AuditKey } from '../../core/security/audit-trail.js';
import { openStore, type Store } from '../../core/store/store.js';
import { WhatsAppConnector } from '../../connectors/whatsapp/connector.js';
import { buildConnectors } from '../service.js';

/** The version in package.json, read beside the sources or beside dist/ (one level further up). */
export function packageVersion(): string {
  for (const relative of ['../../package.json', '../../../package.json']) {
    const file = new URL(relative, import.meta.url);
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'wa-crm-sync' && pkg.version) return pkg.version;
    }
  }
  return 'unknown';
}

export function configPath(options: { config?: string }): string {
  return options.config ?? process.env['WA_CRM_SYNC_CONFIG'] ?? './wa-crm-sync.yaml';
}

export const configOption = () => new Option('-c, --config <path>', 'config file (default: $WA_CRM_SYNC_CONFIG or ./wa-crm-sync.yaml)');

export async function withStore<T>(options: { config?: string }, run: (store: Store, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig(configPath(options), connectorSettingsSchemas);
  const store = await openStore(config.store.url);
  try {
    return await run(store, config);
  } finally {
    await store.close();
  }
}

/** The audit key the service uses (made beside the config when missing, as the service's first start would). */
export async function cliAuditKey(options: { config?: string }, create = true): Promise<AuditKey> {
  const path = configPath(options);
  const config = loadConfig(path, connectorSettingsSchemas);
  return loadAuditKey({ env: process.env, keyFile: auditKeyPath(config.security.auditKeyFile, path), create });
}

/** Who runs a command, for the audit trail: the operating-system user. */
export function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli';
  }
}

/** A repeatable option's values, in order. */
export const collect = (value: string, previous: string[] = []) => [...previous, value];

export function formatAge(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 1000)}s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)}m`;
  return `${(ms / 3_600_000).toFixed(1)}h`;
}

/** A password (or another secret) piped on standard input; refused from a terminal, where it would be echoed. */
export async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new AccountError('pipe the password on standard input, e.g. from a password manager');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A commander parser for a whole number within bounds: "12x", "-1" and "" are refused before anything runs. */
export function wholeNumber(bounds: { readonly min: number; readonly max: number }): (value: string) => number {
  return (value) => {
    const n = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
    if (!Number.isInteger(n) || n < bounds.min || n > bounds.max) throw new InvalidArgumentError(`expected a whole number from ${bounds.min} to ${bounds.max}, got "${value}"`);
    return n;
  };
}

/** A dispatcher that is never started: scope checks, setup and vendor reads from the command line. */
export function cliDispatcher(connector: Connector, store: Store): ConnectorDispatcher {
  return new ConnectorDispatcher({
    connector,
    store,
    budget: new RateBudget(store),
    applyEffects: async () => 0,
    log: silentLogger(),
    options: { workerId: 'cli', leaseMs: 60_000, pollIntervalMs: 1000, claimBatch: 1 },
  });
}

/**
 * Runs a command that calls WhatsApp's Graph API itself (templates, history requests): loads the
 * config, refuses with exit code 2 and a plain reason when no WhatsApp access token is set, and
 * opens the store for the command's execution context (rate budget, audit).
 */
export async function withWhatsApp(
  options: { config?: string },
  command: string,
  run: (whatsapp: WhatsAppConnector, store: Store, config: Config) => Promise<void>,
): Promise<void> {
  const config = loadConfig(configPath(options), connectorSettingsSchemas);
  const configured = buildConnectors(config, silentLogger()).get('whatsapp');
  if (!(configured?.connector instanceof WhatsAppConnector)) {
    console.error(`${command}: whatsapp.accessToken is not set; WhatsApp's Graph API is called with the system-user token (set it, or WHATSAPP_ACCESS_TOKEN)`);
    process.exitCode = 2;
    return;
  }
  const store = await openStore(config.store.url);
  try {
    await run(configured.connector, store, config);
  } finally {
    await store.close();
  }
}
