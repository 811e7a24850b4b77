// `status`: connector states, outbox depth, flagged deliveries and consent writes not done.
import type { Command } from 'commander';
import { pausedConnectors } from '../../core/admin/pause.js';
import type { Config } from '../../core/config/schema.js';
import { silentLogger } from '../../core/logger.js';
import { outboxDepth } from '../../core/outbox/queries.js';
import { unfinishedConsentWrites } from '../../core/consent/operation.js';
import { acknowledgedNotImported } from '../../core/store/intake.js';
import type { Store } from '../../core/store/store.js';
import { buildConnectors } from '../service.js';
import { configOption, formatAge, withStore } from './shared.js';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('connector states, outbox depth by connector and state, oldest pending age, flagged deliveries and why')
    .addOption(configOption())
    .option('--json', 'machine-readable output')
    .action(async (options: { config?: string; json?: boolean }) => {
      await withStore(options, async (store, config) => {
        const depth = await outboxDepth(store.db);
        const flagged = await store.db.selectFrom('webhook_deliveries').select((eb) => eb.fn.countAll<number>().as('n')).where('state', '=', 'flagged').executeTakeFirstOrThrow();
        const pending = await store.db.selectFrom('webhook_deliveries').select((eb) => eb.fn.countAll<number>().as('n')).where('state', '=', 'pending').executeTakeFirstOrThrow();
        // Acknowledged into the intake file (SQLite) and not yet imported by processing: waiting too.
        const waiting = Number(pending.n) + (await acknowledgedNotImported(store));
        const recentFlagged = (
          await store.db.selectFrom('webhook_deliveries').select(['id', 'source', 'received_at', 'problems']).where('state', '=', 'flagged').orderBy('id', 'desc').limit(FLAGGED_SHOWN).execute()
        ).map((row) => ({ id: row.id, source: row.source, receivedAt: row.received_at, problems: row.problems === null ? [] : (JSON.parse(row.problems) as string[]) }));
        const quotas = (await store.db.selectFrom('connector_state').select(['connector', 'value']).where('key', '=', 'quota').execute()).map((row) => ({
          connector: row.connector,
          ...(JSON.parse(row.value) as { remaining: number; max: number; at: number }),
        }));
        const connectors = await connectorStatus(config, store);
        const consentWrites = await unfinishedConsentWrites(store.db);
        const now = Date.now();
        if (options.json) {
          console.log(JSON.stringify({ connectors, outbox: depth, consentWrites, deliveries: { pending: waiting, flagged: Number(flagged.n), recentFlagged }, vendorAllowance: quotas }, null, 2));
          return;
        }
        if (connectors.states.length === 0) console.log('connectors: none configured');
        for (const c of connectors.states) console.log(`${c.connector.padEnd(12)} ${c.state}${c.reason ? `: ${c.reason}` : ''}`);
        if (!connectors.service) console.log(`  (no running service answered at ${connectors.readyUrl}: states from the config and the store only; a block is known only to the service)`);
        for (const q of quotas) {
          console.log(`${q.connector}: ${q.remaining} of ${q.max} API requests left today (as of ${formatAge(now - q.at)} ago)`);
        }
        console.log(`deliveries: ${waiting} waiting, ${Number(flagged.n)} flagged`);
        for (const d of recentFlagged) console.log(`  flagged ${d.id} (${d.source}, ${new Date(d.receivedAt).toISOString()}): ${d.problems.join('; ') || 'no reason recorded'}`);
        if (Number(flagged.n) > recentFlagged.length) console.log(`  ... and ${Number(flagged.n) - recentFlagged.length} older; wa-crm-sync replay --deliveries processes them again once the cause is fixed`);
        if (depth.length === 0) console.log('outbox: empty');
        for (const row of depth) {
          const age = row.oldestCreatedAt !== null && (row.state === 'pending' || row.state === 'in_flight') ? `  oldest ${formatAge(now - row.oldestCreatedAt)}` : '';
          console.log(`${row.connector.padEnd(12)} ${row.state.padEnd(10)} ${String(row.count).padStart(8)}${age}`);
        }
        // An opt-out a CRM has not taken yet is named one by one: nobody should market to that person meanwhile.
        if (consentWrites.length > 0) console.log(`consent writes not done: ${consentWrites.length}`);
        for (const w of consentWrites) {
          const what = w.state === 'dead' ? `failed after ${w.attempts} attempts (wa-crm-sync replay --id ${w.operationId} once fixed)` : `${w.state === 'in_flight' ? 'being written' : 'waiting'}, ${w.attempts} attempts so far`;
          console.log(`  ${w.connector.padEnd(12)} ${w.status.replace('_', '-')} of ${new Date(w.changedAt).toISOString()} (operation ${w.operationId}): ${what}${w.lastError ? `; last error: ${w.lastError}` : ''}`);
        }
      });
    });
}

/** Flagged deliveries shown one by one; the rest are counted. */
const FLAGGED_SHOWN = 10;

interface ConnectorStatus {
  readonly connector: string;
  readonly state: 'running' | 'paused' | 'blocked' | 'disabled';
  readonly reason?: string;
}

/**
 * Each configured connector's state: from the running service's /readyz when one answers on
 * this machine (only it knows a block), else from the config and the pauses in the store.
 */
async function connectorStatus(config: Config, store: Store): Promise<{ states: ConnectorStatus[]; service: boolean; readyUrl: string }> {
  const host = ['0.0.0.0', '::', ''].includes(config.server.host) ? '127.0.0.1' : config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
  const readyUrl = `http://${host}:${config.server.port}/readyz`;
  try {
    const res = await fetch(readyUrl, { signal: AbortSignal.timeout(2000) });
    const body = (await res.json()) as { connectors?: ConnectorStatus[] };
    if (Array.isArray(body.connectors)) return { states: body.connectors, service: true, readyUrl };
  } catch {
    // No service here (or another program on the port): fall back to what the store says.
  }
  const paused = await pausedConnectors(store);
  const states = [...buildConnectors(config, silentLogger())].map(([id, c]): ConnectorStatus => {
    if (!c.enabled) return { connector: id, state: 'disabled', reason: 'enabled: false in the config' };
    const by = paused.get(id);
    return by ? { connector: id, state: 'paused', reason: `paused by ${by.by} at ${new Date(by.at).toISOString()}` } : { connector: id, state: 'running' };
  });
  return { states, service: false, readyUrl };
}
