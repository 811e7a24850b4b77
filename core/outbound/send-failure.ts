// The words every CRM shows when WhatsApp could not deliver a message we sent: what was sent
// (its start), each error with the source's explanation, and for 131047 what to do instead.
import type { VendorErrorDetail } from '../model/types.js';

/** WhatsApp's code for "more than 24 hours since the customer last wrote". */
const OUTSIDE_WINDOW = 131047;

/** The note of a failed send; `what` names it ("a reply", "a message"). Quotes at most 200 characters of the text. */
export function undeliveredNote(what: string, text: string, errors: readonly VendorErrorDetail[]): string {
  const reasons = errors.map((e) => `${e.code} ${e.title}${e.details ? ` (${e.details})` : ''}${e.explanation ? `: ${e.explanation}` : ''}`).join('; ') || 'no reason given';
  const window = errors.some((e) => e.code === OUTSIDE_WINDOW) ? ' The customer has not written for more than 24 hours: only an approved template can reach them now.' : '';
  return `WhatsApp could not deliver ${what} to the customer ("${text.slice(0, 200)}"): ${reasons}.${window}`;
}
