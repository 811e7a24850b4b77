// Webhook signature headers are parsed strictly: a valid signature with anything after it is refused.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyBase64Signature, verifyHubSignature } from '../../core/signature.js';

const SECRET = 'a signing secret';
const body = Buffer.from('{"object":"whatsapp_business_account"}');

describe('webhook signatures', () => {
  it("Meta's X-Hub-Signature-256: exact sha256=<64 hex>, nothing after it", () => {
    const good = `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;
    expect(verifyHubSignature(SECRET, body, good)).toBe(true);
    for (const bad of [`${good}zz`, `${good}00`, `${good} `, ` ${good}`, good.slice(0, -1), `SHA256=${good.slice(7)}`]) expect(verifyHubSignature(SECRET, body, bad), bad).toBe(false);
  });

  it("Zendesk's base64 signature: 44 characters of base64, nothing after it", () => {
    const timestamp = '2026-12-01T22:00:00Z';
    const good = createHmac('sha256', SECRET).update(timestamp).update(body).digest('base64');
    expect(verifyBase64Signature(SECRET, timestamp, body, good)).toBe(true);
    for (const bad of [`${good}!!`, `${good}junk`, `${good.slice(0, -1)}`, `${good} x`]) expect(verifyBase64Signature(SECRET, timestamp, body, bad), bad).toBe(false);
  });
});
