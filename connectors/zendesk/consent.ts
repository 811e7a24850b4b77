// Consent in Zendesk: the tag `whatsapp_opted_out` on the end user while they are opted out
// (visible on the user's profile and usable in views, triggers and macros), removed when they
// opt in again; each opt-out is also an internal note on the person's latest ticket, if any.
// Tags are added and removed through the user tags endpoints, which leave the user's other tags alone:
// https://developer.zendesk.com/api-reference/ticketing/ticket-management/tags/#add-tags
// https://developer.zendesk.com/api-reference/ticketing/ticket-management/tags/#remove-tags
import type { ExecutionContext } from '../../core/connector.js';
import type { ConsentPayload } from '../../core/consent/operation.js';
import { requirePrerequisite } from '../../core/operations.js';
import type { ZendeskApi } from './client.js';
import { REF } from './refs.js';

export const OPTED_OUT_TAG = 'whatsapp_opted_out';

/** Tags the user (opt-out) or removes the tag (opt-in); repeating either is harmless, so a retry simply repeats it. */
export async function writeZendeskConsentTag(api: ZendeskApi, payload: ConsentPayload, context: ExecutionContext): Promise<{ zendeskUserId: string }> {
  const userId = requirePrerequisite(await context.getRef(REF.user, payload.contactId), "the customer's Zendesk user");
  // node-zendesk types the body as a bare list, but sends what it is given; Zendesk wants { tags: [...] }.
  const body = { tags: [OPTED_OUT_TAG] } as unknown as string[];
  if (payload.status === 'opted_out') {
    await api.call(context, 'tagging the end user as opted out', (c) => c.users.addTags(Number(userId), body));
  } else {
    // Not users.removeTags: node-zendesk 6's delete drops the body, and Zendesk needs the tags in it
    // (request takes path segments like every other call, though typed as a string).
    await api.call(context, 'removing the opted-out tag from the end user', (c) => c.users.request('DELETE', ['users', userId, 'tags'] as unknown as string, body));
  }
  return { zendeskUserId: userId };
}
