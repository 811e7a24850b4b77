// The schemas of the payloads every CRM connector's shared kinds carry (contact identity, consent,
// window, stored media): what the planners write parses back unchanged, and what older versions
// queued is still read, as contactPayloadOf reads it.
import { describe, expect, it } from 'vitest';
import { consentPayloadSchema } from '../../core/consent/operation.js';
import { contactIdentityPayloadSchema, contactPayloadOf, identityFields } from '../../core/model/identity.js';
import { storedMediaPayloadSchema } from '../../core/model/types.js';
import { windowPayloadSchema } from '../../core/outbound/window.js';

describe('shared payload schemas', () => {
  it('a contact identity as this release writes it parses back unchanged', () => {
    const written = identityFields({ id: 'c1', crmKey: '+447700900123', waId: '+447700900123', bsuid: 'GB.123', parentBsuid: null, username: 'sheena', profileName: 'Sheena' }, '+447700900999');
    expect(contactIdentityPayloadSchema.parse(written)).toEqual(written);
  });

  it('a pre-BSUID contact payload reads as contactPayloadOf reads it; fields an older version left out read as null', () => {
    const legacy = { contactId: 'c1', waId: '+447700900123', profileName: 'Sheena' };
    expect(contactIdentityPayloadSchema.parse(legacy)).toEqual(contactPayloadOf(legacy));
    expect(contactIdentityPayloadSchema.parse({ contactId: 'c2', crmKey: 'k2', phone: null, extra: 1 })).toEqual({
      contactId: 'c2',
      crmKey: 'k2',
      phone: null,
      bsuid: null,
      parentBsuid: null,
      username: null,
      profileName: null,
      previousPhone: null,
    });
  });

  it('refuses what no version wrote: a phone without its +, a consent of an unknown status', () => {
    expect(contactIdentityPayloadSchema.safeParse({ contactId: 'c1', crmKey: 'k', phone: '447700900123' }).success).toBe(false);
    expect(consentPayloadSchema.safeParse({ contactId: 'c1', crmKey: 'k', status: 'maybe', changedAt: 1, source: 'webhook', threadId: null }).success).toBe(false);
  });

  it('consent, window and stored media payloads parse back unchanged', () => {
    const consent = { contactId: 'c1', crmKey: 'k', status: 'opted_out' as const, changedAt: 1, source: 'keyword' as const, threadId: 't1' };
    expect(consentPayloadSchema.parse(consent)).toEqual(consent);
    expect(windowPayloadSchema.parse({ contactId: 'c1', crmKey: 'k', lastInboundAt: 5 })).toEqual({ contactId: 'c1', crmKey: 'k', lastInboundAt: 5 });
    const media = { messageId: 'm', contactId: 'c', threadId: 't', path: '/m/x', sha256: 'ab', mimeType: 'image/png', size: 3, filename: null };
    expect(storedMediaPayloadSchema.parse(media)).toEqual(media);
  });
});
