// A message.forward payload as the webhook connector's planner writes it, for tests and benches
// that queue its operations directly: the connector checks each payload with its schema.
import type { MessageForwardPayload } from '../../connectors/webhook/mappers.js';

export function forwardedMessage(messageId: string, text: string, contactId = 'c1'): MessageForwardPayload & { [key: string]: string | number | boolean | null } {
  return {
    messageId,
    contactId,
    waId: '+447700900123',
    bsuid: null,
    threadId: `thread-${contactId}`,
    newThread: false,
    direction: 'inbound',
    type: 'text',
    originalType: 'text',
    text,
    media: null,
    sentAt: '2026-01-05T10:00:00.000Z',
    arrivalSeq: 1,
    replyToId: null,
    history: false,
  };
}
