// How the console names a customer: the number (or, when WhatsApp withholds it, the BSUID) and
// the @username, in full only for admins and masked for everyone else; never the message texts.
import { roleAllows, type Role } from '../../core/admin/accounts.js';
import { maskIdentifier, maskUsername } from '../../core/model/identity.js';
import type { Db } from '../../core/store/store.js';

export interface CustomerFields {
  readonly wa_id: string | null;
  readonly bsuid: string | null;
  readonly username: string | null;
}

export function customerLabel(contact: CustomerFields, role: Role): string {
  const full = roleAllows(role, 'admin');
  const id = contact.wa_id ?? contact.bsuid ?? '';
  const handle = contact.username ? ` @${full ? contact.username : maskUsername(contact.username).slice(1)}` : '';
  return `${full ? id : maskIdentifier(id)}${handle}`.trim();
}

/** Labels of these contacts (by our contact id), in one read. */
export async function customerLabels(db: Db, contactIds: ReadonlyArray<string | null>, role: Role): Promise<Map<string, string>> {
  const ids = [...new Set(contactIds.filter((id): id is string => id !== null))];
  const labels = new Map<string, string>();
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await db.selectFrom('contacts').select(['id', 'wa_id', 'bsuid', 'username']).where('id', 'in', ids.slice(i, i + 500)).execute();
    for (const row of rows) labels.set(row.id, customerLabel(row, role));
  }
  return labels;
}
