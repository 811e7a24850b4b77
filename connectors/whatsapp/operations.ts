// The WhatsApp operation kinds, declared (core/operations.ts): an agent's reply to send and a
// received message's media to fetch, one at a time. Neither kind reconciles: fetching media
// again is harmless (files are content-addressed), and a send in doubt is settled by its status
// webhooks, the only answer to be had: the Cloud API has no call that finds or lists sent
// messages (`/{phone-number-id}/messages` takes POST only), see ReplySender.
import { declareKind, OperationTable } from '../../core/operations.js';
import { KIND, fetchMediaPayload, sendReplyPayload } from './mappers.js';
import type { MediaFetcher } from './media.js';
import type { ReplySender } from './sender.js';

export function whatsappOperations(sender: ReplySender, media: MediaFetcher): OperationTable {
  return new OperationTable([
    declareKind({ kind: KIND.send, payload: sendReplyPayload, handle: (op, context) => sender.send(op, context) }),
    declareKind({ kind: KIND.fetchMedia, payload: fetchMediaPayload, handle: (op, context) => media.fetch(op.payload, context) }),
  ]);
}
