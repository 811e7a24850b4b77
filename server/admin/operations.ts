// Operations in the admin API: dead, discarded and waiting ones as a person acts on them (when,
// attempts, whose, what they carry, the vendor record, what each waits for), one by id, and
// discarding dead ones and replaying them (operator, audited).
import type { Role } from '../../core/admin/accounts.js';
import type { VendorRecordLink } from '../../core/connector.js';
import { replayDeadOperations } from '../../core/outbox/queries.js';
import { discardDeadOperations, listOperationViews, operationView, type OperationFilter, type OperationView, type VendorRecord } from '../../core/outbox/inspect.js';
import type { AuditEntry } from '../../core/security/audit-trail.js';
import type { Store } from '../../core/store/store.js';
import { customerLabels } from './customers.js';
import { numericId, type DefineRoute } from './route.js';

/** Most operations one list answers. */
const OPERATIONS_PAGE_MAX = 200;
/** Most ids one discard takes. */
const DISCARD_MAX = 500;

export interface OperationRouteDependencies {
  readonly store: Store;
  audit(entry: AuditEntry): Promise<void>;
  /** The connector's own words and link for one of its refs; undefined hides a ref that is not a record. */
  describeRecord(connector: string, kind: string, externalId: string): VendorRecordLink | undefined;
}

export interface RecordLink extends VendorRecordLink {
  readonly kind: string;
  readonly externalId: string;
}

/** The vendor records the connector calls records, with their links. */
export function recordLinks(deps: Pick<OperationRouteDependencies, 'describeRecord'>, connector: string, records: readonly VendorRecord[]): RecordLink[] {
  return records.flatMap((r) => {
    const link = deps.describeRecord(connector, r.kind, r.externalId);
    return link ? [{ kind: r.kind, externalId: r.externalId, ...link }] : [];
  });
}

/** Operations as the API answers them: the customer named for the caller's role, records linked. */
export async function presentOperations(deps: Pick<OperationRouteDependencies, 'store' | 'describeRecord'>, views: readonly OperationView[], role: Role) {
  const customers = await customerLabels(deps.store.db, views.map((v) => v.contactId), role);
  return views.map(({ records, contactId, ...view }) => ({
    ...view,
    customer: contactId === null ? null : (customers.get(contactId) ?? null),
    records: recordLinks(deps, view.connector, records),
  }));
}

const STATES: ReadonlyArray<OperationFilter['state']> = ['dead', 'waiting', 'discarded', 'pending'];

export function operationRoutes(route: DefineRoute, deps: OperationRouteDependencies): void {
  route('get', '/operations', async (req, res, caller) => {
    const wanted = typeof req.query['state'] === 'string' ? req.query['state'] : 'dead';
    const state = STATES.find((s) => s === wanted);
    if (!state) return void res.status(400).json({ error: `state is one of ${STATES.join(', ')}` });
    const connector = typeof req.query['connector'] === 'string' ? req.query['connector'] : undefined;
    const views = await listOperationViews(deps.store.db, { state, ...(connector ? { connector } : {}), limit: OPERATIONS_PAGE_MAX });
    // Payloads hold message texts and numbers: the list names what they carry, never the values.
    res.json({ operations: await presentOperations(deps, views, caller.role) });
  });
  route('get', '/operations/:id', async (req, res, caller) => {
    const id = numericId(req);
    if (id === undefined) return void res.status(400).json({ error: 'the operation id is a whole number' });
    const view = await operationView(deps.store.db, id);
    if (!view) return void res.status(404).json({ error: `no operation ${id}` });
    res.json({ operation: (await presentOperations(deps, [view], caller.role))[0] });
  });
  route('post', '/operations/discard', async (req, res, caller) => {
    const body = (req.body ?? {}) as { ids?: unknown };
    const ids = Array.isArray(body.ids) ? body.ids.map(Number).filter((n) => Number.isSafeInteger(n) && n > 0) : [];
    if (ids.length === 0 || ids.length > DISCARD_MAX || !Array.isArray(body.ids) || ids.length !== body.ids.length) {
      return void res.status(400).json({ error: `give { ids: [...] }: 1 to ${DISCARD_MAX} ids of dead operations` });
    }
    const discarded = await discardDeadOperations(deps.store.db, ids, Date.now());
    await deps.audit({ actor: caller.actor, action: 'discard.operations', target: ids.join(','), detail: { discarded: discarded.length, ids: discarded } });
    res.json({ discarded });
  });
  route('post', '/operations/replay', async (req, res, caller) => {
    const body = (req.body ?? {}) as { ids?: unknown; connector?: unknown; allDead?: unknown };
    const ids = Array.isArray(body.ids) ? body.ids.map(Number).filter(Number.isInteger) : undefined;
    const connector = typeof body.connector === 'string' ? body.connector : undefined;
    if (!ids && !connector && body.allDead !== true) {
      res.status(400).json({ error: 'say what to replay: { ids: [...] }, { connector } or { allDead: true }' });
      return;
    }
    const count = await replayDeadOperations(deps.store.db, { ...(ids ? { ids } : {}), ...(connector ? { connector } : {}) }, Date.now());
    await deps.audit({ actor: caller.actor, action: 'replay.operations', target: connector ?? (ids ? ids.join(',') : 'all dead'), detail: { operations: count } });
    res.json({ replayed: count });
  });
}
