// The user_preferences webhook as consent: stop and resume, by number and/or BSUID, with its time.
import { describe, expect, it } from 'vitest';
import { parseWhatsAppDelivery } from '../../../connectors/whatsapp/webhook.js';
import type { InboundConsentEvent } from '../../../core/model/types.js';
import { FIXTURE, readExample } from '../../helpers/fixtures.js';

const BSUID = 'GB.80412277419022635518';

function preferences(entries: unknown[], contacts: unknown[] = []): string {
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{ id: FIXTURE.wabaId, changes: [{ field: 'user_preferences', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: FIXTURE.displayNumber, phone_number_id: FIXTURE.phoneNumberId }, contacts, user_preferences: entries } }] }],
  });
}
const consents = (body: string) => parseWhatsAppDelivery(body, 1_700_000_000_000).events.filter((e): e is InboundConsentEvent => e.kind === 'consent');

describe('user_preferences webhooks', () => {
  it('reads a stop as an opt-out at the webhook time, with the number and profile name (fixture)', () => {
    const { events, problems } = parseWhatsAppDelivery(readExample('user-preferences-stop'));
    expect(problems).toEqual([]);
    expect(events.filter((e) => e.kind === 'consent')).toEqual([
      { kind: 'consent', businessNumberId: FIXTURE.phoneNumberId, customer: { waId: FIXTURE.customerWaId, bsuid: null, parentBsuid: null, username: null }, profileName: FIXTURE.customerName, status: 'opted_out', at: 1_764_584_520_000 },
    ]);
  });

  it('reads a resume as an opt-in, and a BSUID-only entry by its user_id', () => {
    const [event] = consents(preferences([{ user_id: BSUID, category: 'marketing_messages', value: 'resume', timestamp: 1_780_000_000 }]));
    expect(event).toMatchObject({ status: 'opted_in', at: 1_780_000_000_000, customer: { waId: null, bsuid: BSUID } });
  });

  it('reads every entry of one webhook, and a numeric string timestamp', () => {
    const events = consents(
      preferences([
        { wa_id: '447700900111', category: 'marketing_messages', value: 'stop', timestamp: '1780000001' },
        { wa_id: '447700900222', category: 'marketing_messages', value: 'resume', timestamp: 1_780_000_002 },
      ]),
    );
    expect(events.map((e) => [e.customer.waId, e.status, e.at])).toEqual([
      ['447700900111', 'opted_out', 1_780_000_001_000],
      ['447700900222', 'opted_in', 1_780_000_002_000],
    ]);
  });

  it('takes the delivery time when the entry has no timestamp', () => {
    expect(consents(preferences([{ wa_id: '447700900111', category: 'marketing_messages', value: 'stop' }]))[0]!.at).toBe(1_700_000_000_000);
  });

  it('changes no consent for another category or value, but still links the identifiers', () => {
    const { events, problems } = parseWhatsAppDelivery(preferences([{ wa_id: '447700900111', user_id: BSUID, category: 'something_new', value: 'stop', timestamp: 1 }]));
    expect(problems).toEqual([]);
    expect(events.some((e) => e.kind === 'consent')).toBe(false);
    expect(events.find((e) => e.kind === 'identity')).toMatchObject({ customer: { waId: '447700900111', bsuid: BSUID } });
  });

  it('flags an entry that names nobody instead of dropping it', () => {
    const { problems } = parseWhatsAppDelivery(preferences([{ category: 'marketing_messages', value: 'stop', timestamp: 1 }]));
    expect(problems).toEqual(['entry[0].changes[0].user_preferences[0]: names nobody (no wa_id, user_id or parent_user_id)']);
  });

  it('carries what the customer typed or tapped, verbatim, on text, button and button-reply messages', () => {
    const words = (name: string) => (parseWhatsAppDelivery(readExample(name)).events[0] as { words?: unknown }).words;
    expect(words('message-button')).toEqual({ text: 'Stop reminders', payload: 'STOP_REMINDERS' });
    expect(words('message-text')).toMatchObject({ payload: null });
    expect(words('message-interactive-button-reply')).toMatchObject({ text: expect.any(String), payload: expect.any(String) });
    expect(words('message-location')).toBeUndefined();
  });
});
