// Webhooks naming customers the 2026 way: BSUIDs, parent BSUIDs, usernames, the phone withheld.
// Fixtures in test/fixtures/whatsapp-bsuid-webhooks.json follow Meta's business-scoped user id pages.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseWhatsAppDelivery } from '../../../connectors/whatsapp/webhook.js';
import type { InboundConsentEvent, InboundMessageEvent, InboundStatusEvent } from '../../../core/model/types.js';
import { projectRoot } from '../../helpers/fixtures.js';

const fixtures = JSON.parse(readFileSync(join(projectRoot, 'test/fixtures/whatsapp-bsuid-webhooks.json'), 'utf8')) as Record<string, unknown>;
const parse = (name: string) => parseWhatsAppDelivery(JSON.stringify(fixtures[name]));
const BSUID = 'GB.80412277419022635518';
const PARENT = 'GB.ENT.99120044718823340071';

describe('WhatsApp webhooks with business-scoped user ids', () => {
  it('reads a message from a username user who withholds the number: BSUID, parent BSUID and username, no phone', () => {
    const { events, problems } = parse('message-bsuid-only');
    expect(problems).toEqual([]);
    const event = events[0] as InboundMessageEvent;
    expect(event.customer).toEqual({ waId: null, bsuid: BSUID, parentBsuid: PARENT, username: 'ada.builds' });
    expect(event.profileName).toBe('Ada Ortiz');
    expect(event.text).toBe('Do you ship to Leeds?');
  });

  it('reads the phone and the BSUID together when both are sent, matching the contacts entry by number', () => {
    const event = parse('message-phone-and-bsuid').events[0] as InboundMessageEvent;
    expect(event.customer).toEqual({ waId: '447700900456', bsuid: BSUID, parentBsuid: null, username: 'ada.builds' });
  });

  it('reads a delivered status with only recipient_user_id, and its username from the contacts entry', () => {
    const { events, problems } = parse('status-delivered-bsuid-only');
    expect(problems).toEqual([]);
    const status = events[0] as InboundStatusEvent;
    expect(status).toMatchObject({ kind: 'status', messageId: 'wamid.OUT1', status: 'delivered' });
    expect(status.recipient).toEqual({ waId: null, bsuid: BSUID, parentBsuid: PARENT, username: 'ada.builds' });
  });

  it('reads a failed status with no contacts array and the parent BSUID under either of its names', () => {
    const status = parse('status-failed-bsuid').events[0] as InboundStatusEvent;
    expect(status.recipient).toEqual({ waId: null, bsuid: BSUID, parentBsuid: PARENT, username: null });
    expect(status.errors[0]).toMatchObject({ code: 131026 });
  });

  it('reads user_changed_number: the new number, the sender by number and BSUID', () => {
    const event = parse('system-user-changed-number').events[0] as InboundMessageEvent;
    expect(event).toMatchObject({ type: 'system', newWaId: '447700900789', newBsuid: null });
    expect(event.customer).toMatchObject({ waId: '447700900456', bsuid: BSUID });
  });

  it('reads user_changed_user_id: the person named by the BSUID they had, the new one to move to', () => {
    const event = parse('system-user-changed-user-id').events[0] as InboundMessageEvent;
    expect(event).toMatchObject({ type: 'system', newWaId: null, newBsuid: 'GB.11223344556677889900' });
    expect(event.customer).toMatchObject({ waId: null, bsuid: BSUID, parentBsuid: PARENT });
  });

  it('reads the user_id of a user_preferences webhook with its number (a consent event links them), and still keeps the account event', () => {
    const { events, problems } = parse('user-preferences-with-user-id');
    expect(problems).toEqual([]);
    const identity = events.find((e) => e.kind === 'consent') as InboundConsentEvent;
    expect(identity.customer).toEqual({ waId: '447700900456', bsuid: BSUID, parentBsuid: null, username: null });
    expect(events.some((e) => e.kind === 'account' && e.field === 'user_preferences')).toBe(true);
  });

  it('flags a message naming no sender at all, saying what is missing', () => {
    expect(parse('message-no-sender').problems).toEqual(['entry[0].changes[0].messages[0]: names no sender (no from, from_user_id or contacts entry)']);
  });
});
