// HubSpot calling us: the custom channel's webhook (an agent answered in the inbox), verified by
// its v3 signature over the raw body, and its stored body parsed into a helpdesk event naming the
// HubSpot message; the connector then reads that message and queues the reply. Pure.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { InboundWebhook } from '../../core/connector.js';
import type { InboundEvent, ParsedDelivery } from '../../core/model/types.js';
import { checkHubSpotSignatureV3 } from './request-signature.js';
import type { HubSpotSettings } from './settings.js';

/** The ref kind under which the connector keeps, per thread of ours, the HubSpot conversation it was published to. */
export const INBOX_THREAD_REF = 'inbox-thread';

/** A message an agent sent from the inbox: HubSpot posts it to the channel's webhookUrl. */
export const OUTGOING_MESSAGE_CREATED = 'OUTGOING_CHANNEL_MESSAGE_CREATED';

/**
 * The parts of a channel webhook we read: its `type` and, for outgoing messages, the message as
 * the message endpoints describe it (id, conversationsThreadId). The guide names the event types
 * posted to webhookUrl; the envelope's `message` field is read loosely (only the two ids, the
 * message itself is read back from the conversation), and an array of events is accepted too:
 * https://developers.hubspot.com/docs/api-reference/legacy/conversations/custom-channels/guide
 * https://developers.hubspot.com/docs/api-reference/legacy/conversations/conversations/messages/get-conversation
 */
const channelEvent = z.looseObject({
  type: z.string(),
  message: z.looseObject({ id: z.string().min(1), conversationsThreadId: z.string().min(1) }).optional(),
});

/** The record id a helpdesk event carries for one HubSpot message: its conversation and its id. */
export function inboxRecordId(conversationsThreadId: string, messageId: string): string {
  return `${conversationsThreadId}:${messageId}`;
}

export function parseInboxRecordId(recordId: string): { conversationsThreadId: string; messageId: string } | undefined {
  const at = recordId.indexOf(':');
  if (at <= 0 || at === recordId.length - 1) return undefined;
  return { conversationsThreadId: recordId.slice(0, at), messageId: recordId.slice(at + 1) };
}

export function parseHubSpotDelivery(body: string): ParsedDelivery {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { events: [], problems: ['hubspot webhook body is not JSON'] };
  }
  const events: InboundEvent[] = [];
  const problems: string[] = [];
  for (const [index, item] of (Array.isArray(json) ? json : [json]).entries()) {
    const parsed = channelEvent.safeParse(item);
    if (!parsed.success) {
      problems.push(`hubspot webhook event ${index}: no type: ${parsed.error.issues[0]?.message ?? 'unknown shape'}`);
      continue;
    }
    // Channel account created or updated, and whatever HubSpot adds later: nothing to do for us.
    if (parsed.data.type !== OUTGOING_MESSAGE_CREATED) continue;
    const message = parsed.data.message;
    if (!message) {
      problems.push(`hubspot webhook event ${index}: ${OUTGOING_MESSAGE_CREATED} without message.id and message.conversationsThreadId`);
      continue;
    }
    events.push({
      kind: 'helpdesk',
      connector: 'hubspot',
      recordId: inboxRecordId(message.conversationsThreadId, message.id),
      threadId: null,
      threadRef: { kind: INBOX_THREAD_REF, externalId: message.conversationsThreadId },
    });
  }
  return { events, problems };
}

/**
 * Signed with HubSpot's v3 signature (see request-signature.ts). The URI is the channel's
 * webhookUrl as registered (inbox.webhookUrl).
 */
export const hubspotInbound: InboundWebhook<HubSpotSettings> = {
  secretSetting: 'inbox.clientSecret',
  missingSecretHint: "set connectors.hubspot.inbox.clientSecret to the app's client secret (HubSpot signs the channel's webhooks with it)",
  accepts: (settings) => settings.inbox.enabled,
  verify(raw, headers, secret, now, settings) {
    const toleranceMs = settings.inbox.signatureToleranceSeconds * 1000;
    const check = checkHubSpotSignatureV3(raw, headers, secret, settings.inbox.webhookUrl ?? '', toleranceMs, now);
    if (!check.ok && check.reason === 'stale') {
      return { ok: false, reason: 'stale', log: 'hubspot webhook refused: X-HubSpot-Request-Timestamp missing or too far from now (a replay, or a clock off)', answer: 'stale or missing timestamp' };
    }
    if (!check.ok) {
      return {
        ok: false,
        reason: 'bad_signature',
        log: 'hubspot webhook refused: wrong X-HubSpot-Signature-v3 (check connectors.hubspot.inbox.clientSecret, and that inbox.webhookUrl is exactly the URL registered on the channel)',
        answer: 'invalid signature',
      };
    }
    // A captured call sent again inside the window passes both checks: it is stored once.
    const key = createHash('sha256').update('hubspot\n').update(check.timestamp).update('\n').update(check.signature).digest('hex');
    return { ok: true, replay: { key, until: check.signedAt + toleranceMs } };
  },
  parse: parseHubSpotDelivery,
};
