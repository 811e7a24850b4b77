// The 24-hour customer service window as every CRM shows it: one "open until" time on the
// person's record, so a CRM workflow can choose between free text and a template. One operation
// kind and one payload for every CRM; each connector only says where the time goes.
//
// A timestamp is all a CRM needs: the window has expired once "open until" is in the past, which
// a workflow compares with now (nothing has to be written when it closes).
import { z } from 'zod';
import { contactOrderingKey } from '../outbox/key-queue.js';
import type { ExecutionContext, OperationOutcome } from '../connector.js';
import type { OperationDraft } from '../outbox/queries.js';
import type { ModelChange } from '../model/types.js';

export { CUSTOMER_SERVICE_WINDOW_MS } from './service-window.js';
import { CUSTOMER_SERVICE_WINDOW_MS } from './service-window.js';

export const WINDOW_KIND = 'window.write';

/** How long a window write waits for more messages of a burst, so one write carries them all (sync.windowWriteSettleSeconds). */
export const DEFAULT_WINDOW_WRITE_SETTLE_MS = 60_000;

export interface WindowPayload {
  readonly contactId: string;
  /** The contact's CRM key (what each CRM finds the person by). */
  readonly crmKey: string;
  /** When the message that queued this write was sent (ms): the least the window runs from. */
  readonly lastInboundAt: number;
  [key: string]: string | number;
}

/** What a window write's payload must be, for the connectors that declare WINDOW_KIND (see core/operations.ts). */
export const windowPayloadSchema = z.object({ contactId: z.string(), crmKey: z.string(), lastInboundAt: z.number() }) satisfies z.ZodType<WindowPayload>;

/**
 * The window write a live customer message needs: on the person's key (after their contact
 * operation, so the record exists), not claimable for `settleMs`, and keyed by the slice of time
 * the message was sent in, so a burst within one slice queues one write. History (the app's
 * past) and echoes of the business's own messages open no window and queue nothing.
 */
export function windowDrafts(change: ModelChange, settleMs: number): OperationDraft[] {
  if (change.type !== 'message.recorded' || change.refilled) return [];
  const { contact, message } = change;
  if (message.direction !== 'inbound' || message.history) return [];
  const slice = Math.floor(message.sentAt / Math.max(1, settleMs));
  const payload: WindowPayload = { contactId: contact.id, crmKey: contact.crmKey, lastInboundAt: message.sentAt };
  return [{ kind: WINDOW_KIND, key: `${contact.id}:${slice}`, orderingKey: contactOrderingKey(contact.id), payload, settleMs }];
}

/**
 * Until when the window is open, read when the write runs: the newest live message known then
 * (messages of the burst that came after this write was queued, or out of order, count too),
 * never earlier than the payload's own message.
 */
export async function windowOpenUntil(payload: WindowPayload, lastInboundAt: (contactId: string) => Promise<number | undefined>): Promise<string> {
  const last = Math.max(payload.lastInboundAt, (await lastInboundAt(payload.contactId)) ?? 0);
  return new Date(last + CUSTOMER_SERVICE_WINDOW_MS).toISOString();
}

/** The ref under which a connector keeps the "open until" it last wrote for a contact. */
const WRITTEN_REF = 'window-written';

/**
 * Runs one window write: works out "open until" when it runs and skips the vendor call when that
 * is what was last written for the person (the writes queued for earlier messages of a burst
 * that spans several slices all find the newest message, so only the first of them calls).
 */
export async function writeWindowOnce(
  payload: WindowPayload,
  context: ExecutionContext,
  write: (openUntil: string) => Promise<OperationOutcome>,
): Promise<OperationOutcome> {
  const openUntil = await windowOpenUntil(payload, (id) => context.lastInboundAt(id));
  if ((await context.getRef(WRITTEN_REF, payload.contactId)) === openUntil) return { ok: true, result: { openUntil, unchanged: true } };
  const outcome = await write(openUntil);
  if (outcome.ok) await context.setRef(WRITTEN_REF, payload.contactId, openUntil);
  return outcome;
}
