// The body of POST /api/v1/messages, checked at the door: who the message is for, and either a
// template or free text. Each refusal names the field and says what to write instead.
import { z } from 'zod';

/** What a caller gets back for a request refused before anything was queued. */
export interface OutboundRefusal {
  readonly status: 400 | 401 | 403 | 404 | 409 | 422 | 429 | 503;
  readonly error: string;
  readonly field: string | null;
  readonly hint: string;
}

const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max, `at most ${max} characters`);

export const outboundMessageSchema = z
  .strictObject({
    to: z
      .strictObject({
        /** A phone number in any written form, with its country code (+44 7700 900123, 0044…, 447700900123). */
        phone: text(40).optional(),
        /** A business-scoped user id (US.1234…) or parent BSUID (US.ENT.…). */
        bsuid: text(140).optional(),
        /** A CRM record this service wrote (a contact, person, user, ticket or task), by the connector's id for it. */
        record: z.strictObject({ connector: text(40), id: text(100) }).optional(),
      })
      .refine((to) => [to.phone, to.bsuid, to.record].filter((v) => v !== undefined).length === 1, { message: 'give exactly one of phone, bsuid or record' }),
    template: z
      .strictObject({
        name: text(512),
        language: text(15),
        /** Positional parameters in order, or named ones by name. */
        parameters: z.union([z.array(z.string().max(1024, 'at most 1024 characters')).max(100), z.record(z.string().regex(/^[a-z0-9_]+$/), z.string().max(1024))]).default([]),
        /** A text header's parameter: a list of one, or for a named template an object by name (a header is at most 60 characters). */
        header: z.union([z.array(z.string().max(60, 'at most 60 characters (a header is)')).max(1, 'a header has at most one parameter'), z.record(z.string().regex(/^[a-z0-9_]+$/), z.string().max(60, 'at most 60 characters (a header is)'))]).optional(),
        /** The URL suffix of each URL button whose URL ends in a parameter, by the button's position among all buttons (from 0). */
        buttons: z.array(z.strictObject({ index: z.number().int().min(0).max(9), urlSuffix: z.string().min(1).max(2000) })).max(10).optional(),
      })
      .optional(),
    text: text(4096).optional(),
    /** The business number to send from (its phone_number_id); default the first of whatsapp.phoneNumbers. */
    from: z.string().regex(/^\d+$/, 'a phone_number_id is digits only').optional(),
  })
  .refine((body) => (body.template === undefined) !== (body.text === undefined), { message: 'give either template or text, not both and not neither', path: ['template'] });
export type OutboundMessageRequest = z.infer<typeof outboundMessageSchema>;

/** What to write instead, per field (the first issue's path decides). */
const HINTS: ReadonlyArray<[RegExp, string]> = [
  [/^to\.phone$/, 'a phone number with its country code, e.g. "+44 7700 900123"'],
  [/^to\.bsuid$/, 'a business-scoped user id as WhatsApp gives it, e.g. "US.13491208655302741918"'],
  [/^to\.record/, 'e.g. { "connector": "<connector id>", "id": "12345" }: a record this service wrote'],
  [/^to$/, 'e.g. "to": { "phone": "+44 7700 900123" }, { "bsuid": "US.1349…" } or { "record": { "connector": "<connector id>", "id": "881" } }'],
  [/^template\.parameters/, 'a list of strings in order (["Jane", "A-1042"]) or, for a named template, an object ({ "first_name": "Jane" })'],
  [/^template\.header/, 'the text header\'s parameter: a list of one (["A-1042"]) or, for a named template, an object ({ "order_id": "A-1042" })'],
  [/^template\.buttons/, 'a list of { "index": <the URL button\'s position, from 0>, "urlSuffix": "…" }, one per URL button ending in a parameter'],
  [/^template\.language$/, 'the template language code as in WhatsApp Manager, e.g. "en_US"'],
  [/^template/, 'e.g. "template": { "name": "order_shipped", "language": "en_US", "parameters": ["Jane"] }, or "text": "…" instead'],
  [/^text$/, 'the message text, at most 4096 characters (only inside the 24-hour customer service window)'],
  [/^from$/, 'the phone_number_id of one of the business numbers in whatsapp.phoneNumbers'],
];

export function hintFor(field: string): string {
  return HINTS.find(([pattern]) => pattern.test(field))?.[1] ?? 'see the README, "Outbound API"';
}

/** The request as checked, or the refusal naming its first problem. */
export function parseOutboundRequest(body: unknown): { ok: true; value: OutboundMessageRequest } | { ok: false; refusal: OutboundRefusal } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return { ok: false, refusal: { status: 400, error: 'the body must be a JSON object', field: null, hint: 'send Content-Type: application/json with { "to": …, "template": … } or { "to": …, "text": … }' } };
  }
  const parsed = outboundMessageSchema.safeParse(body);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issue = parsed.error.issues[0]!;
  const field = issue.path.map(String).join('.') || '(body)';
  const message = issue.code === 'unrecognized_keys' ? `unknown field${issue.keys.length === 1 ? '' : 's'} ${issue.keys.join(', ')}` : issue.message;
  return { ok: false, refusal: { status: 400, error: `${field}: ${message}`, field, hint: hintFor(field) } };
}

/** The caller's Idempotency-Key header: required, printable, at most 200 characters. */
export function checkIdempotencyKey(value: string | undefined): OutboundRefusal | undefined {
  if (value !== undefined && /^[\x21-\x7e]{1,200}$/.test(value)) return undefined;
  return {
    status: 400,
    error: value === undefined ? 'the Idempotency-Key header is missing' : 'the Idempotency-Key header must be 1 to 200 printable characters without spaces',
    field: 'Idempotency-Key',
    hint: 'send a key unique to this message (e.g. a UUID, or "deal-4411-stage-won"); a retry with the same key and body sends nothing twice',
  };
}
