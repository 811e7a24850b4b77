// Progress of a coexistence history import: the chunks and messages each phase brought, and how
// far each connector has written them (its background operations done of all queued).
import { BACKGROUND_KEY_PREFIX } from './outbox/key-queue.js';
import type { Db } from './store/store.js';

export interface PhaseProgress {
  /** 0: day 0-1, 1: day 1-90, 2: day 90-180 before onboarding. */
  readonly phase: number;
  readonly chunks: number;
  readonly messages: number;
}

export interface ConnectorImport {
  readonly connector: string;
  readonly done: number;
  readonly total: number;
  readonly dead: number;
}

export interface HistoryProgress {
  readonly phases: readonly PhaseProgress[];
  /** The sync's overall progress (0-100) as WhatsApp last said it; null before any chunk. */
  readonly progress: number | null;
  readonly declined: boolean;
  /** Past messages stored (each once, whatever was redelivered). */
  readonly messagesStored: number;
  readonly connectors: readonly ConnectorImport[];
}

export async function historyProgress(db: Db): Promise<HistoryProgress> {
  const chunks = await db.selectFrom('history_chunks').select(['phase', 'progress', 'messages', 'errors']).execute();
  const phases = [0, 1, 2].map((phase) => {
    const of = chunks.filter((c) => c.phase === phase);
    return { phase, chunks: of.length, messages: of.reduce((n, c) => n + c.messages, 0) };
  });
  const stored = await db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).where('history', '=', 1).executeTakeFirstOrThrow();
  const ops = await db
    .selectFrom('outbox')
    .select(['connector', 'state', (eb) => eb.fn.countAll<number>().as('n')])
    .where('ordering_key', 'like', `${BACKGROUND_KEY_PREFIX}%`)
    .groupBy(['connector', 'state'])
    .execute();
  const byConnector = new Map<string, { done: number; total: number; dead: number }>();
  for (const row of ops) {
    const entry = byConnector.get(row.connector) ?? { done: 0, total: 0, dead: 0 };
    entry.total += Number(row.n);
    if (row.state === 'done') entry.done += Number(row.n);
    if (row.state === 'dead') entry.dead += Number(row.n);
    byConnector.set(row.connector, entry);
  }
  const withProgress = chunks.filter((c) => c.phase >= 0);
  return {
    phases,
    progress: withProgress.length > 0 ? Math.max(...withProgress.map((c) => c.progress)) : null,
    declined: chunks.some((c) => c.errors !== null),
    messagesStored: Number(stored.n),
    connectors: [...byConnector].map(([connector, e]) => ({ connector, ...e })).sort((a, b) => a.connector.localeCompare(b.connector)),
  };
}

/** A text progress bar: `[#####-----]  50%`. */
export function progressBar(done: number, total: number, width = 30): string {
  const fraction = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.round(fraction * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%`;
}
