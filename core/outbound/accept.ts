// Accepting one outbound message (POST /api/v1/messages): the rules are checked before anything
// is queued, then the request, the person, their thread and the send operation are written in
// one transaction under the caller's idempotency key. The send itself is an outbox operation of
// the messaging connector, exactly as an agent's reply is: once, in order with everything else
// of that person, and recorded on every CRM when it went out.
import { createHash, randomBytes } from 'node:crypto';
import type { Transaction } from 'kysely';
import { mayMessageForMarketing } from '../consent/store.js';
import { errorMessage, SyncError } from '../errors.js';
import { isBsuid } from '../model/identity.js';
import { toE164 } from '../model/phone.js';
import { findContact, lastInboundAt, loadContact, resolveContact, threadFor } from '../model/repository.js';
import type { Contact, ModelChange, OutboundReply } from '../model/types.js';
import type { Database } from '../store/schema.js';
import type { Db, Store } from '../store/store.js';
import { checkIdempotencyKey, parseOutboundRequest, type OutboundMessageRequest, type OutboundRefusal } from './request.js';
import { checkTemplate, renderTemplateBody, type TemplateCache } from './templates.js';
import { CUSTOMER_SERVICE_WINDOW_MS } from './service-window.js';

/** The origin outbound-API sends carry (OutboundReply.origin, Message.origin): no connector's own. */
export const OUTBOUND_ORIGIN = 'api';


export interface OutboundDependencies {
  readonly store: Store;
  /** Plans the operations of model changes in the caller's transaction (Engine.planChanges). */
  planChanges(tx: Transaction<Database>, changes: readonly ModelChange[], now: number): Promise<number>;
  readonly templates: TemplateCache;
  /** The business numbers served (whatsapp.phoneNumbers); the first is the default sender. */
  businessNumbers(): readonly string[];
  threadGapMs(): number;
}

export type OutboundAnswer =
  | { readonly status: 202; readonly replayed: boolean; readonly body: { readonly id: string; readonly state: 'queued'; readonly kind: 'template' | 'text' } }
  | { readonly status: OutboundRefusal['status']; readonly refusal: OutboundRefusal };

function refuse(status: OutboundRefusal['status'], field: string | null, error: string, hint: string): OutboundAnswer {
  return { status, refusal: { status, field, error, hint } };
}

/** A stable text of the checked request: the same request written with keys in another order hashes the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

type Person = { readonly contact: Contact | undefined; readonly identity: { waId: string | null; bsuid: string | null; parentBsuid: string | null } | null };

/** The person a request names; for a phone or BSUID nobody knows yet, the identity to create them with. */
async function resolvePerson(db: Db, to: OutboundMessageRequest['to']): Promise<Person | OutboundAnswer> {
  if (to.phone !== undefined) {
    const e164 = toE164(to.phone);
    if (!e164) return refuse(422, 'to.phone', 'to.phone is not a phone number with a country code', 'write it with its country code, e.g. "+44 7700 900123" or "447700900123"');
    const identity = { waId: e164, bsuid: null, parentBsuid: null };
    return { contact: await findContact(db, identity), identity };
  }
  if (to.bsuid !== undefined) {
    if (!isBsuid(to.bsuid)) return refuse(422, 'to.bsuid', 'to.bsuid is not a business-scoped user id', 'a BSUID is a country code, a dot and up to 128 letters and digits, e.g. "US.13491208655302741918"');
    const parent = to.bsuid.includes('.ENT.');
    const identity = { waId: null, bsuid: parent ? null : to.bsuid, parentBsuid: parent ? to.bsuid : null };
    return { contact: await findContact(db, identity), identity };
  }
  // A CRM record id: the connector's refs name our contact (contact records) or thread (tickets, tasks).
  const record = to.record!;
  const refs = await db.selectFrom('external_refs').select('local_id').where('connector', '=', record.connector).where('external_id', '=', record.id).execute();
  for (const ref of refs) {
    const contact = (await loadContact(db, ref.local_id)) ?? (await db.selectFrom('threads').select('contact_id').where('id', '=', ref.local_id).executeTakeFirst().then((t) => (t ? loadContact(db, t.contact_id) : undefined)));
    if (contact) return { contact, identity: null };
  }
  return refuse(404, 'to.record', `no ${record.connector} record ${record.id} is known to this service`, 'use the id of a contact, person, user or ticket this service wrote, or address the person by phone or bsuid');
}

/**
 * Checks and queues one request of the token `tokenId`. The same key with the same body answers
 * with the first answer's message id and queues nothing; with another body it is refused (409).
 */
export async function acceptOutbound(deps: OutboundDependencies, tokenId: string, idempotencyKey: string | undefined, body: unknown, now = Date.now()): Promise<OutboundAnswer> {
  const keyProblem = checkIdempotencyKey(idempotencyKey);
  if (keyProblem) return { status: keyProblem.status, refusal: keyProblem };
  const parsed = parseOutboundRequest(body);
  if (!parsed.ok) return { status: parsed.refusal.status, refusal: parsed.refusal };
  const request = parsed.value;
  const bodyHash = createHash('sha256').update(canonical(request)).digest('hex');
  const db = deps.store.db;
  const kind = request.template ? 'template' : 'text';

  const earlier = async (from: Db) => from.selectFrom('outbound_requests').select(['id', 'body_hash', 'kind']).where('token_id', '=', tokenId).where('idempotency_key', '=', idempotencyKey!).executeTakeFirst();
  const replay = (row: { id: string; body_hash: string; kind: string }): OutboundAnswer =>
    row.body_hash === bodyHash
      ? { status: 202, replayed: true, body: { id: row.id, state: 'queued', kind: row.kind as 'template' | 'text' } }
      : refuse(409, 'Idempotency-Key', `this Idempotency-Key was used for another request (message ${row.id})`, 'use a new key for a new message; a retry must send the same body as the first request');
  const first = await earlier(db);
  if (first) return replay(first);

  const person = await resolvePerson(db, request.to);
  if ('status' in person) return person;

  const numbers = deps.businessNumbers();
  if (request.from !== undefined && numbers.length > 0 && !numbers.includes(request.from)) {
    return refuse(422, 'from', `business number ${request.from} is not in whatsapp.phoneNumbers`, `use one of: ${numbers.join(', ')}`);
  }
  let businessNumberId = request.from ?? numbers[0];
  if (!businessNumberId && person.contact) {
    businessNumberId = (await db.selectFrom('threads').select('business_number_id').where('contact_id', '=', person.contact.id).orderBy('last_message_at', 'desc').limit(1).executeTakeFirst())?.business_number_id;
  }
  if (!businessNumberId) return refuse(422, 'from', 'no business number to send from', 'give "from" (a phone_number_id), or list the numbers in whatsapp.phoneNumbers');

  let template: OutboundReply['template'] = null;
  let category: string | null = null;
  if (request.template) {
    let templates;
    try {
      templates = await deps.templates.templates(now);
    } catch (error) {
      const retryable = error instanceof SyncError ? error.retryable : true;
      return refuse(retryable ? 503 : 422, 'template', `the templates of the WhatsApp Business Account could not be read: ${errorMessage(error)}`, retryable ? 'try again shortly; nothing was queued' : 'fix the setting named in the error; nothing was queued');
    }
    if (!templates) return refuse(422, 'template', 'templates cannot be checked: the messaging connector is not configured', 'configure whatsapp.accessToken and whatsapp.businessAccountId');
    const check = checkTemplate(templates, request.template);
    if (!check.ok) return refuse(422, check.field, check.error, check.hint);
    const given = request.template.parameters;
    const parameters = Array.isArray(given) ? given : check.template.bodyParameters.map((name) => (given as Record<string, string>)[name]!);
    category = check.template.category;
    const givenHeader = request.template.header ?? [];
    const header = Array.isArray(givenHeader) ? givenHeader : check.template.headerParameters.map((name) => (givenHeader as Record<string, string>)[name]!);
    const buttons = [...(request.template.buttons ?? [])].sort((a, b) => a.index - b.index);
    template = {
      name: check.template.name,
      language: check.template.language,
      parameters,
      parameterNames: check.parameterNames,
      ...(header.length > 0 ? { header, headerNames: check.headerNames } : {}),
      ...(buttons.length > 0 ? { buttons } : {}),
      rendered: renderTemplateBody(check.template, parameters),
    };
  }

  if (category === 'MARKETING' && person.contact) {
    const permission = await mayMessageForMarketing(db, { contactId: person.contact.id });
    if (!permission.allowed) return refuse(403, 'to', `this person ${permission.reason}`, 'do not send marketing templates to them; a utility template, or a reply while they write to you, is still possible');
  }

  if (kind === 'text') {
    const last = person.contact ? await lastInboundAt(db, person.contact.id) : undefined;
    if (last === undefined || now - last >= CUSTOMER_SERVICE_WINDOW_MS) {
      const since = last === undefined ? 'has never written to this business' : `last wrote ${new Date(last).toISOString()}, more than 24 hours ago`;
      return refuse(422, 'text', `free text cannot be sent: the person ${since}, so WhatsApp's 24-hour customer service window is closed`, 'send an approved template instead ("template": { "name", "language", "parameters" }; list them with `wa-crm-sync templates`)');
    }
  }

  const id = `msg_${randomBytes(12).toString('hex')}`;
  return deps.store.db.transaction().execute(async (tx) => {
    // Serialised with delivery processing: contacts and threads are created one writer at a time,
    // and a second request with this key, sent meanwhile, finds this one here.
    await deps.store.lockForTransaction(tx, 'process-deliveries');
    const raced = await earlier(tx);
    if (raced) return replay(raced);
    const changes: ModelChange[] = [];
    let contact = person.contact;
    if (!contact) {
      const resolved = await resolveContact(tx, { customer: { ...person.identity!, username: null }, profileName: null, now });
      if (!resolved) throw new Error('outbound: a checked identity named nobody');
      contact = resolved.contact;
      if (resolved.changed) changes.push({ type: 'contact.upserted', contact, created: resolved.created });
    }
    const { thread } = await threadFor(tx, { contactId: contact.id, businessNumberId: businessNumberId!, sentAt: now, gapMs: deps.threadGapMs() });
    const reply: OutboundReply = { origin: OUTBOUND_ORIGIN, sourceId: id, sourceRecord: id, text: request.text ?? '', attachments: [], template, ...(template ? { templateOnly: true } : {}) };
    await tx
      .insertInto('outbound_requests')
      .values({ id, token_id: tokenId, idempotency_key: idempotencyKey!, body_hash: bodyHash, contact_id: contact.id, thread_id: thread.id, kind, template: template ? JSON.stringify({ ...template, category }) : null, created_at: now })
      .execute();
    changes.push({ type: 'reply.requested', contact, thread, reply });
    await deps.planChanges(tx, changes, now);
    return { status: 202 as const, replayed: false, body: { id, state: 'queued' as const, kind } };
  });
}
