// The customer service window in Zendesk: the end user's text field `whatsapp_window_open_until`
// (created by setup) holding an ISO 8601 UTC time, which sorts as text. Zendesk's date user fields
// keep the day only (https://developer.zendesk.com/api-reference/ticketing/users/user_fields/),
// too coarse for a 24-hour window, so an agent or app compares the time with now.
import type { ExecutionContext } from '../../core/connector.js';
import { requirePrerequisite, type OperationDone } from '../../core/operations.js';
import { writeWindowOnce, type WindowPayload } from '../../core/outbound/window.js';
import type { ZendeskApi } from './client.js';
import { USER_FIELDS } from './mappers.js';
import { REF } from './refs.js';


/**
 * Writes the window's end on the end user with Update User, which changes only the fields sent
 * (https://developer.zendesk.com/api-reference/ticketing/users/users/#update-user), within
 * Zendesk's limit of 5 updates per user per minute (the `user:<id>` bucket; writes are coalesced
 * per burst before they get here). Repeating it writes the same time, so a retry simply runs again.
 */
export async function writeZendeskWindow(api: ZendeskApi, payload: WindowPayload, context: ExecutionContext): Promise<OperationDone> {
  const userId = requirePrerequisite(await context.getRef(REF.user, payload.contactId), "the customer's Zendesk user");
  const outcome = await writeWindowOnce(payload, context, async (openUntil) => {
    await api.call(context, 'writing the customer service window on the end user', (c) => c.users.update(Number(userId), { user: { user_fields: { [USER_FIELDS.windowOpenUntil]: openUntil } } } as never), { buckets: [`user:${userId}`] });
    return { ok: true, result: { zendeskUserId: userId, openUntil } };
  });
  // The write above throws when it fails: an outcome that is not ok comes from nowhere else.
  if (!outcome.ok) throw outcome.error;
  return { result: outcome.result };
}
