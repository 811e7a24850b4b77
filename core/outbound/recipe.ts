// Ready-made CRM workflow recipes: a CRM's own automation (a workflow's webhook action, a flow's
// HTTP callout, a trigger's webhook) posts one flat JSON object; the connector checks the vendor's
// signature or token, and this module turns the object into an outbound message request accepted
// by the same code as POST /api/v1/messages. Refusals name the field of the recipe payload the
// CRM admin mapped, not the outbound API's own field names.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { sameSecret } from '../signature.js';
import { acceptOutbound, type OutboundAnswer, type OutboundDependencies } from './accept.js';
import { hintFor, type OutboundRefusal } from './request.js';

/** Request headers by lower-case name, undefined when absent (the shape of the connector contract's RecipeHeaders). */
export type RecipeHeaders = (name: string) => string | undefined;

/** The settings every recipe has, inside its connector's section (each connector adds its authentication). */
export const recipeSettingsShape = {
  /** Off by default: the route answers 404 until an admin switches the recipe on. */
  enabled: z.boolean().default(false),
  /** The template sent when the payload names none (a workflow that always sends one template). */
  template: z.strictObject({ name: z.string().regex(/^[a-z0-9_]+$/, 'a template name: lower-case letters, digits and _'), language: z.string().min(1).default('en_US') }).optional(),
  /** The business number (phone_number_id) to send from; default the first of whatsapp.phoneNumbers. */
  from: z.string().regex(/^\d+$/, 'a phone_number_id is digits only').optional(),
};
export interface RecipeSettings {
  readonly enabled: boolean;
  readonly template?: { readonly name: string; readonly language: string } | undefined;
  readonly from?: string | undefined;
}

/** A call the connector authenticated; `eventId` is the vendor's own id of this event when it sends one (kept as the idempotency key). */
export type RecipeAuthentication =
  | { readonly ok: true; readonly eventId?: string }
  | { readonly ok: false; readonly reason: 'bad_signature' | 'stale' | 'bad_token' | 'no_secret'; readonly error: string; readonly hint: string };

/**
 * A connector's recipe: `POST /api/v1/recipes/<path>`. The connector says where its settings sit
 * and how the vendor authenticates its calls; everything after that is common.
 */
export interface WorkflowRecipe<Settings = unknown> {
  /** The route's last segment, e.g. `crm-workflow`: the vendor's name for the automation. */
  readonly path: string;
  /** The settings key of the recipe inside the connector's section, for messages (`connectors.<id>.<key>`). */
  readonly settingsKey: string;
  settings(connectorSettings: Settings): RecipeSettings;
  /** Checks the call's signature or token over the raw body, in constant time. Pure. */
  authenticate(raw: Buffer, headers: RecipeHeaders, connectorSettings: Settings, now: number): RecipeAuthentication;
}

const value = z.union([z.string(), z.number()]).transform((v) => String(v).trim());
const optionalValue = value.optional().transform((v) => (v === '' ? undefined : v));

/**
 * The recipe payload: flat, so that a workflow's key/value body, a flow's callout body and a
 * trigger's JSON with placeholders can all write it.
 * `param_1`, `param_2`, … fill a positional template; `param_<name>` a named one.
 */
const recipePayloadSchema = z
  .object({
    phone: optionalValue,
    bsuid: optionalValue,
    record_id: optionalValue,
    template: optionalValue,
    language: optionalValue,
    parameters: z.array(value).max(100).optional(),
    text: optionalValue,
    from: optionalValue,
    idempotency_key: optionalValue,
  })
  .catchall(value);
type RecipePayload = z.infer<typeof recipePayloadSchema>;

const PARAM = /^param_([a-z0-9_]+)$/;

/** What to write in the payload, per field of it. */
const RECIPE_HINTS: Readonly<Record<string, string>> = {
  phone: 'map "phone" to the record\'s phone (or mobile phone) property, written with its country code, e.g. "+44 7700 900123"',
  bsuid: 'a business-scoped user id as WhatsApp gives it, e.g. "US.13491208655302741918"',
  record_id: 'the id of a record this service wrote (a contact, lead, person, user or ticket), or send "phone" instead',
  template: 'the name of an approved template (list them with `wa-crm-sync templates`), or set the recipe\'s template in the config',
  language: 'the template language code as in WhatsApp Manager, e.g. "en_US"',
  parameters: 'param_1, param_2, … in order (or param_<name> for a template with named parameters), each a non-empty value',
  text: 'free text reaches a person only within 24 hours of their last message: send "template" instead',
  from: 'the phone_number_id of one of the business numbers in whatsapp.phoneNumbers',
  idempotency_key: 'a value unique to this event, 1 to 200 printable characters without spaces (e.g. the record id and the stage, joined by "-")',
};

function refusal(status: OutboundRefusal['status'], field: string, error: string, hint = RECIPE_HINTS[field] ?? 'see the README, "Workflow recipes"'): OutboundAnswer {
  return { status, refusal: { status, field, error, hint } };
}

/** The outbound request a payload asks for, or the refusal naming the payload's field. */
export function recipeRequest(body: unknown, connectorId: string, settings: RecipeSettings): { ok: true; request: Record<string, unknown>; paramFields: string[] } | { ok: false; answer: OutboundAnswer } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return { ok: false, answer: refusal(400, '(body)', 'the body must be a JSON object', 'send the recipe payload: { "phone": …, "template": …, "param_1": … } (README, "Workflow recipes")') };
  }
  const parsed = recipePayloadSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.map(String).join('.') || '(body)';
    const top = field.split('.')[0]!;
    return { ok: false, answer: refusal(400, field, `${field}: ${issue.code === 'invalid_type' || issue.code === 'invalid_union' ? 'must be a text or a number' : issue.message}`, RECIPE_HINTS[top] ?? RECIPE_HINTS['parameters']) };
  }
  const payload: RecipePayload = parsed.data;
  const known = new Set(Object.keys(recipePayloadSchema.shape));
  const extra = Object.keys(payload).filter((k) => !known.has(k));
  const unknown = extra.filter((k) => !PARAM.test(k));
  if (unknown.length > 0) {
    return { ok: false, answer: refusal(400, unknown[0]!, `unknown field${unknown.length === 1 ? '' : 's'} ${unknown.join(', ')}`, 'the fields are phone, bsuid, record_id, template, language, param_1 … (or parameters), text, from, idempotency_key; remove the others from the request body') };
  }

  const to = [payload.phone !== undefined && { phone: payload.phone }, payload.bsuid !== undefined && { bsuid: payload.bsuid }, payload.record_id !== undefined && { record: { connector: connectorId, id: payload.record_id } }].filter((v) => v !== false);
  if (to.length !== 1) {
    const error = to.length === 0 ? 'no person: phone, bsuid and record_id are all missing or empty (is the property set on this record?)' : 'give exactly one of phone, bsuid or record_id';
    return { ok: false, answer: refusal(400, 'phone', error) };
  }
  if (payload.text !== undefined) {
    if (payload.template !== undefined || extra.length > 0 || payload.parameters !== undefined) return { ok: false, answer: refusal(400, 'text', 'give either template (with its parameters) or text, not both') };
    return { ok: true, request: { to: to[0], text: payload.text, ...(payload.from ?? settings.from ? { from: payload.from ?? settings.from } : {}) }, paramFields: [] };
  }

  const name = payload.template ?? settings.template?.name;
  if (name === undefined) return { ok: false, answer: refusal(400, 'template', 'no template: the payload names none and the recipe has no template set') };
  const language = payload.language ?? (payload.template === undefined || payload.template === settings.template?.name ? settings.template?.language : undefined) ?? 'en_US';

  let parameters: string[] | Record<string, string> = [];
  let paramFields: string[] = [];
  if (payload.parameters !== undefined) {
    if (extra.length > 0) return { ok: false, answer: refusal(400, extra[0]!, 'give the parameters either as a "parameters" list or as param_… fields, not both', RECIPE_HINTS['parameters']) };
    const empty = payload.parameters.findIndex((p) => p === '');
    if (empty >= 0) return { ok: false, answer: refusal(400, `parameters.${empty}`, `parameters.${empty} is empty (is the property or placeholder set on this record?)`, RECIPE_HINTS['parameters']) };
    parameters = payload.parameters;
    paramFields = payload.parameters.map((_p, i) => `parameters.${i}`);
  } else if (extra.length > 0) {
    const names = extra.map((k) => PARAM.exec(k)![1]!);
    const positional = names.every((n) => /^\d+$/.test(n));
    if (!positional && names.some((n) => /^\d+$/.test(n))) return { ok: false, answer: refusal(400, extra[0]!, 'mix of numbered (param_1) and named (param_first_name) parameters', RECIPE_HINTS['parameters']) };
    const empty = extra.find((k) => payload[k] === '');
    if (empty !== undefined) return { ok: false, answer: refusal(400, empty, `${empty} is empty (is the property or placeholder set on this record?)`, RECIPE_HINTS['parameters']) };
    if (positional) {
      const numbers = names.map(Number).sort((a, b) => a - b);
      const gap = numbers.findIndex((n, i) => n !== i + 1);
      if (gap >= 0) return { ok: false, answer: refusal(400, `param_${gap + 1}`, `param_${gap + 1} is missing: numbered parameters run param_1, param_2, … without gaps`, RECIPE_HINTS['parameters']) };
      paramFields = numbers.map((n) => `param_${n}`);
      parameters = paramFields.map((k) => payload[k] as string);
    } else {
      paramFields = extra;
      parameters = Object.fromEntries(extra.map((k) => [PARAM.exec(k)![1]!, payload[k] as string]));
    }
  }
  const from = payload.from ?? settings.from;
  return { ok: true, request: { to: to[0], template: { name, language, parameters }, ...(from !== undefined ? { from } : {}) }, paramFields };
}

/** The payload field an outbound refusal's field stands for. */
function payloadField(field: string | null, request: Record<string, unknown>, paramFields: readonly string[]): string | null {
  if (field === null) return null;
  if (field === 'to' || field === 'to.phone') return (request['to'] as Record<string, unknown>)['bsuid'] !== undefined ? 'bsuid' : (request['to'] as Record<string, unknown>)['record'] ? 'record_id' : 'phone';
  if (field === 'to.bsuid') return 'bsuid';
  if (field.startsWith('to.record')) return 'record_id';
  if (field === 'template' || field === 'template.name') return 'template';
  if (field === 'template.language') return 'language';
  if (field.startsWith('template.parameters')) {
    const index = /^template\.parameters\.(\d+)$/.exec(field)?.[1];
    return index !== undefined ? (paramFields[Number(index)] ?? 'parameters') : paramFields[0]?.startsWith('parameters') ? 'parameters' : 'param_1';
  }
  if (field === 'Idempotency-Key') return 'idempotency_key';
  return field;
}

/** The key a repeated call is recognised by: the payload's, else the vendor's event id, else the payload itself. */
export function recipeIdempotencyKey(body: unknown, eventId: string | undefined): string {
  const given = body !== null && typeof body === 'object' ? (body as Record<string, unknown>)['idempotency_key'] : undefined;
  if ((typeof given === 'string' && given.trim() !== '') || typeof given === 'number') {
    const key = String(given).trim();
    // A flow's formula may well give "006Ab-Closed Won": keys the API would refuse (spaces, over 200 characters) are hashed instead.
    return /^[\x21-\x7e]{1,200}$/.test(key) ? key : `key:${createHash('sha256').update(key).digest('hex')}`;
  }
  if (eventId !== undefined) return `event:${eventId}`;
  // The same values again (a vendor's retry of the same call) send once.
  return `payload:${createHash('sha256').update(canonicalJson(body)).digest('hex')}`;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(value) ?? 'null';
}

/** The caller id a recipe's requests are kept under (outbound_requests.token_id): each recipe has its own keys. */
export function recipeCaller(connectorId: string, path: string): string {
  return `recipe:${connectorId}:${path}`;
}

/**
 * Checks and queues one recipe call, already authenticated: the payload is mapped, then accepted
 * exactly as an outbound API request, and a refusal is told in the payload's field names.
 */
export async function acceptRecipe(deps: OutboundDependencies, call: { readonly connectorId: string; readonly path: string; readonly body: unknown; readonly eventId?: string | undefined; readonly settings: RecipeSettings }, now = Date.now()): Promise<OutboundAnswer> {
  const mapped = recipeRequest(call.body, call.connectorId, call.settings);
  if (!mapped.ok) return mapped.answer;
  const key = recipeIdempotencyKey(call.body, call.eventId);
  const answer = await acceptOutbound(deps, recipeCaller(call.connectorId, call.path), key, mapped.request, now);
  if (!('refusal' in answer)) return answer;
  const field = payloadField(answer.refusal.field, mapped.request, mapped.paramFields);
  const original = answer.refusal.field;
  const error = original && field && original !== field ? answer.refusal.error.replaceAll(original, field) : answer.refusal.error;
  // Hints written for the API's JSON shape are replaced by the payload's; the template checks' hints (its body, its languages) stay.
  const apiHint = original !== null && answer.refusal.hint === hintFor(original);
  return { status: answer.status, refusal: { ...answer.refusal, field, error, hint: apiHint && field ? (RECIPE_HINTS[field.replace(/^param_.*|^parameters\..*/, 'parameters')] ?? answer.refusal.hint) : answer.refusal.hint } };
}

/** A header's name as HTTP writes it (a token of letters, digits and - _). */
export const headerName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'a header name: letters, digits, - and _').transform((v) => v.toLowerCase());

/** A shared secret the vendor sends as is: long enough not to be guessed. */
export const sharedToken = z.string().min(24, 'use at least 24 random characters (e.g. `openssl rand -hex 24`)');

/**
 * A call carrying a shared token in `header` (for `authorization`, as `Bearer <token>`), compared
 * in constant time. For vendors that sign nothing: the token is all there is, so TLS is a must.
 */
export function authenticateSharedToken(headers: RecipeHeaders, header: string, expected: string | undefined, settingsPath: string): RecipeAuthentication {
  if (expected === undefined) return { ok: false, reason: 'no_secret', error: 'the recipe has no token configured', hint: `set ${settingsPath} (best as \${ENV_VAR})` };
  const raw = headers(header);
  const given = header === 'authorization' ? /^Bearer (.+)$/i.exec(raw ?? '')?.[1] : raw;
  if (!sameSecret(given?.trim(), expected)) {
    return { ok: false, reason: 'bad_token', error: `missing or wrong ${header} header`, hint: `send the token of ${settingsPath} in the ${header} header${header === 'authorization' ? ' as "Bearer <token>"' : ''}` };
  }
  return { ok: true };
}
