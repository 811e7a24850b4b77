// The audit trail: append-only records of what people and the service did (backups, restores,
// purges, config reloads, setup, replays; sign-ins once admin access exists), each hashed with
// the one before it, so an edited, removed or reordered record is detected by `verify`.
import { createHash } from 'node:crypto';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { JsonValue } from '../model/types.js';
import type { Store } from '../store/store.js';

export interface AuditEntry {
  /** Who: `service`, `cli:<os user>`, later `user:<name>` or `token:<name>`. */
  readonly actor: string;
  /** What, as a dotted name: `backup`, `restore`, `config.reload`, `setup`, `replay`, `retention.purge`. */
  readonly action: string;
  /** What it was done to (a connector, a file, operation ids), when anything. */
  readonly target?: string;
  /** Details that help later; never secrets or message bodies. */
  readonly detail?: JsonValue;
}

export interface AuditRecord extends Required<Omit<AuditEntry, 'detail'>> {
  readonly seq: number;
  readonly at: number;
  readonly detail: JsonValue;
  readonly prevHash: string;
  readonly hash: string;
}

const GENESIS = '0'.repeat(64);
/** Longest actor and target kept: both can come from a request (a path, a name typed at sign-in). */
export const AUDIT_TEXT_LIMIT = 200;

function bounded(text: string): string {
  return text.length <= AUDIT_TEXT_LIMIT ? text : `${text.slice(0, AUDIT_TEXT_LIMIT)}… (${text.length} characters)`;
}
/** Where the newest record's number and hash are kept too, so cutting records off the end shows. */
const HEAD = { connector: '_service', key: 'audit-head' } as const;

function recordHash(prevHash: string, r: { seq: number; at: number; actor: string; action: string; target: string; detail: JsonValue }): string {
  return createHash('sha256').update(prevHash).update(JSON.stringify([r.seq, r.at, r.actor, r.action, r.target, r.detail])).digest('hex');
}

/** Appends one record, chained to the newest one (serialised across instances). */
export async function appendAudit(store: Store, entry: AuditEntry, now = Date.now()): Promise<AuditRecord> {
  return store.db.transaction().execute(async (tx) => {
    await store.lockForTransaction(tx, 'audit-trail');
    const last = await tx.selectFrom('audit_trail').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    const base = { seq: (last?.seq ?? 0) + 1, at: now, actor: bounded(entry.actor), action: entry.action, target: bounded(entry.target ?? ''), detail: entry.detail ?? null };
    const prevHash = last?.hash ?? GENESIS;
    const hash = recordHash(prevHash, base);
    await tx.insertInto('audit_trail').values({ seq: base.seq, at: base.at, actor: base.actor, action: base.action, target: base.target, detail: JSON.stringify(base.detail), prev_hash: prevHash, hash }).execute();
    const head = JSON.stringify({ seq: base.seq, hash });
    await tx
      .insertInto('connector_state')
      .values({ ...HEAD, value: head, updated_at: now })
      .onConflict((oc) => oc.columns(['connector', 'key']).doUpdateSet({ value: head, updated_at: now }))
      .execute();
    return { ...base, prevHash, hash };
  });
}

/** Appends a record for an action that already happened: a failure to record is logged, never fatal to the action. */
export async function recordAudit(store: Store, log: Logger, entry: AuditEntry): Promise<void> {
  await appendAudit(store, entry).catch((error: unknown) => log.error({ err: errorMessage(error), action: entry.action }, 'could not append to the audit trail'));
}

export type AuditVerdict = { readonly ok: true; readonly records: number } | { readonly ok: false; readonly records: number; readonly firstBad: number; readonly reason: string };

/** Walks the chain from the first record; names the first record that was edited, removed or reordered. */
export async function verifyAuditTrail(store: Store): Promise<AuditVerdict> {
  const rows = await store.db.selectFrom('audit_trail').selectAll().orderBy('seq').execute();
  let prevHash = GENESIS;
  for (const [index, row] of rows.entries()) {
    const expectedSeq = index + 1;
    if (row.seq !== expectedSeq) return { ok: false, records: rows.length, firstBad: expectedSeq, reason: `record ${expectedSeq} is missing (the next one is ${row.seq}): records were removed` };
    if (row.prev_hash !== prevHash) return { ok: false, records: rows.length, firstBad: row.seq, reason: `record ${row.seq} does not follow record ${row.seq - 1}: records were removed, reordered or replaced` };
    const hash = recordHash(prevHash, { seq: row.seq, at: row.at, actor: row.actor, action: row.action, target: row.target, detail: JSON.parse(row.detail) as JsonValue });
    if (hash !== row.hash) return { ok: false, records: rows.length, firstBad: row.seq, reason: `record ${row.seq} (${row.action} by ${row.actor}) was edited after it was written` };
    prevHash = row.hash;
  }
  const head = await store.db.selectFrom('connector_state').select('value').where('connector', '=', HEAD.connector).where('key', '=', HEAD.key).executeTakeFirst();
  const expected = head ? (JSON.parse(head.value) as { seq: number; hash: string }) : { seq: 0, hash: GENESIS };
  if (expected.seq !== rows.length || expected.hash !== prevHash) {
    return { ok: false, records: rows.length, firstBad: Math.min(rows.length, expected.seq) + 1, reason: `the trail ends at record ${rows.length} but the last record written was ${expected.seq}: records were cut off the end` };
  }
  return { ok: true, records: rows.length };
}

/** Records, newest first, optionally filtered by action or actor (for listing and export). */
export async function listAudit(store: Store, filter: { action?: string; actor?: string; limit?: number } = {}): Promise<AuditRecord[]> {
  let query = store.db.selectFrom('audit_trail').selectAll().orderBy('seq', 'desc').limit(Math.max(1, filter.limit ?? 100));
  if (filter.action) query = query.where('action', 'like', `${filter.action}%`);
  if (filter.actor) query = query.where('actor', '=', filter.actor);
  return (await query.execute()).map((r) => ({ seq: r.seq, at: r.at, actor: r.actor, action: r.action, target: r.target, detail: JSON.parse(r.detail) as JsonValue, prevHash: r.prev_hash, hash: r.hash }));
}
