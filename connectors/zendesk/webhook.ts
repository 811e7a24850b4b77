// Zendesk calling us: the setup trigger's webhook, verified over its raw body, and its stored
// body parsed into a helpdesk event (the ticket changed, go and read its new comments). Pure.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { InboundHeaders, InboundWebhook } from '../../core/connector.js';
import type { ParsedDelivery } from '../../core/model/types.js';
import { verifyBase64Signature } from '../../core/signature.js';
import type { ZendeskSettings } from './settings.js';

const triggerBody = z.looseObject({
  ticket_id: z.union([z.string().regex(/^\d+$/), z.number().int().positive()]),
  external_id: z.string().nullish(),
});

export function parseZendeskDelivery(body: string): ParsedDelivery {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { events: [], problems: ['zendesk webhook body is not JSON'] };
  }
  const parsed = triggerBody.safeParse(json);
  if (!parsed.success) return { events: [], problems: [`zendesk webhook body lacks ticket_id: ${parsed.error.issues[0]?.message ?? 'unknown shape'}`] };
  const threadId = parsed.data.external_id?.trim() || null;
  return { events: [{ kind: 'helpdesk', connector: 'zendesk', recordId: String(parsed.data.ticket_id), threadId }], problems: [] };
}

/**
 * Zendesk signs base64(HMAC-SHA256(secret, timestamp + body)) and sends the timestamp beside it;
 * a timestamp further from now than the tolerance is a replay (or a clock off).
 * https://developer.zendesk.com/documentation/webhooks/verifying/
 */
export function checkZendeskSignature(raw: Buffer, headers: InboundHeaders, secret: string, toleranceMs: number, now: number): { ok: true; timestamp: string; signature: string; signedAt: number } | { ok: false; reason: 'stale' | 'bad_signature' } {
  const timestamp = headers('x-zendesk-webhook-signature-timestamp') ?? '';
  const signature = headers('x-zendesk-webhook-signature') ?? '';
  const signedAt = Date.parse(timestamp);
  if (!Number.isFinite(signedAt) || Math.abs(now - signedAt) > toleranceMs) return { ok: false, reason: 'stale' };
  if (!verifyBase64Signature(secret, timestamp, raw, signature)) return { ok: false, reason: 'bad_signature' };
  return { ok: true, timestamp, signature, signedAt };
}

export const zendeskInbound: InboundWebhook<ZendeskSettings> = {
  secretSetting: 'webhookSecret',
  missingSecretHint: 'set connectors.zendesk.webhookSecret or run wa-crm-sync setup zendesk',
  verify(raw, headers, secret, now, settings) {
    const toleranceMs = settings.webhookToleranceSeconds * 1000;
    const check = checkZendeskSignature(raw, headers, secret, toleranceMs, now);
    if (!check.ok && check.reason === 'stale') {
      return { ok: false, reason: 'stale', log: 'zendesk webhook refused: timestamp missing or too far from now (a replay, or a clock off)', answer: 'stale or missing timestamp' };
    }
    if (!check.ok) {
      return { ok: false, reason: 'bad_signature', log: 'zendesk webhook refused: wrong X-Zendesk-Webhook-Signature (check connectors.zendesk.webhookSecret)', answer: 'invalid signature' };
    }
    // A captured call sent again inside the tolerance passes both checks: it is stored once.
    // Zendesk retries with a fresh timestamp and signature, so only a true replay matches.
    const key = createHash('sha256').update(check.timestamp).update('\n').update(check.signature).digest('hex');
    return { ok: true, replay: { key, until: check.signedAt + toleranceMs } };
  },
  parse: parseZendeskDelivery,
};
