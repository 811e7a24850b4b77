// Webhook signatures: the one right header passes; every malformed form of it is refused,
// whatever its bytes decode to. Each case is a header an attacker or a broken proxy could send.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyBase64Signature, verifyHubSignature } from '../../core/signature.js';

const SECRET = 'unit-test-app-secret';
const BODY = Buffer.from('{"object":"whatsapp_business_account","entry":[]}');
const hex = (secret = SECRET, body: Uint8Array = BODY) => createHmac('sha256', secret).update(body).digest('hex');

describe('verifyHubSignature (X-Hub-Signature-256, WhatsApp)', () => {
  const good = `sha256=${hex()}`;

  it('accepts the HMAC-SHA256 of the raw body in lowercase hex after sha256=', () => {
    expect(verifyHubSignature(SECRET, BODY, good)).toBe(true);
    // An empty body is still signed (and checked).
    expect(verifyHubSignature(SECRET, Buffer.alloc(0), `sha256=${hex(SECRET, Buffer.alloc(0))}`)).toBe(true);
  });

  it('refuses a signature made with another secret or over another body', () => {
    expect(verifyHubSignature(SECRET, BODY, `sha256=${hex('another-secret')}`)).toBe(false);
    expect(verifyHubSignature(SECRET, Buffer.from(`${BODY.toString()} `), good)).toBe(false);
  });

  it.each([
    ['no header', undefined],
    ['an empty header', ''],
    ['the prefix with nothing after it', 'sha256='],
    ['one byte of the right signature', `sha256=${hex().slice(0, 2)}`],
    ['the right signature but its last byte', `sha256=${hex().slice(0, 62)}`],
    ['an odd number of hex digits (the right 64 and one more)', `sha256=${hex()}0`],
    ['an odd number of hex digits (one short)', `sha256=${hex().slice(0, 63)}`],
    ['non-hex characters after the right digits', `sha256=${hex()}zz`],
    ['non-hex characters in place of the last digits', `sha256=${hex().slice(0, 62)}zz`],
    ['the header twice, joined by Node as "a, b"', `${good}, ${good}`],
    ['the right one and a wrong one, joined', `${good}, sha256=${'0'.repeat(64)}`],
    ['trailing whitespace', `${good} `],
    ['leading whitespace', ` ${good}`],
    ['the prefix in capitals', `SHA256=${hex()}`],
    ['the SHA-1 header format', `sha1=${hex()}`],
    ['no prefix at all', hex()],
    ['the prefix twice', `sha256=sha256=${hex()}`],
    ['a prefix without "="', `sha256${hex()}`],
    ['uppercase hex digits (Meta sends lowercase)', `sha256=${hex().toUpperCase()}`],
    ['the digest in base64 instead of hex', `sha256=${createHmac('sha256', SECRET).update(BODY).digest('base64')}`],
    ['zeros of the right length', `sha256=${'0'.repeat(64)}`],
  ])('refuses %s', (_case, header) => {
    expect(verifyHubSignature(SECRET, BODY, header)).toBe(false);
  });
});

describe('verifyBase64Signature (X-Zendesk-Webhook-Signature)', () => {
  const TIMESTAMP = '2026-12-01T21:00:00Z';
  const digest = (secret = SECRET, prefix = TIMESTAMP, body: Uint8Array = BODY) => createHmac('sha256', secret).update(prefix).update(body).digest();
  const good = digest().toString('base64');

  it('accepts base64(HMAC-SHA256(secret, timestamp + raw body)), with no separator between the two', () => {
    expect(verifyBase64Signature(SECRET, TIMESTAMP, BODY, good)).toBe(true);
    expect(verifyBase64Signature(SECRET, TIMESTAMP, BODY, createHmac('sha256', SECRET).update(`${TIMESTAMP}.`).update(BODY).digest('base64'))).toBe(false);
    // Calls with no body sign the timestamp alone.
    expect(verifyBase64Signature(SECRET, TIMESTAMP, Buffer.alloc(0), digest(SECRET, TIMESTAMP, Buffer.alloc(0)).toString('base64'))).toBe(true);
  });

  it('refuses a signature over another timestamp, another body or with another secret', () => {
    expect(verifyBase64Signature(SECRET, '2026-12-01T21:00:01Z', BODY, good)).toBe(false);
    expect(verifyBase64Signature(SECRET, TIMESTAMP, Buffer.from(`${BODY.toString()} `), good)).toBe(false);
    expect(verifyBase64Signature(SECRET, TIMESTAMP, BODY, digest('another-secret').toString('base64'))).toBe(false);
  });

  // The last base64 digit before "=" carries two unused bits: setting them gives another text for the same bytes.
  const lastDigit = good.at(-2)!;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const nonCanonical = `${good.slice(0, -2)}${alphabet[alphabet.indexOf(lastDigit) + 1]}=`;

  it.each([
    ['no header', undefined],
    ['an empty header', ''],
    ['padding alone', '='],
    ['one byte of the right signature', digest().subarray(0, 1).toString('base64')],
    ['the right signature but its last byte', digest().subarray(0, 31).toString('base64')],
    ['the right signature without its padding', good.slice(0, -1)],
    ['an odd length: the right signature and one more character', `${good}A`],
    ['characters outside base64 after it', `${good}!!`],
    ['characters outside base64 in place of the last ones', `${good.slice(0, -3)}!!=`],
    ['the header twice, joined by Node as "a, b"', `${good}, ${good}`],
    ['the right one and a wrong one, joined', `${good},${Buffer.alloc(32).toString('base64')}`],
    ['trailing whitespace', `${good} `],
    ['leading whitespace', ` ${good}`],
    ['base64url instead of base64', digest().toString('base64url')],
    ['a non-canonical last digit that decodes to the same bytes', nonCanonical],
    ['a prefix in front', `sha256=${good}`],
    ['the digest in hex instead of base64', digest().toString('hex')],
    ['zeros of the right length', Buffer.alloc(32).toString('base64')],
  ])('refuses %s', (_case, header) => {
    // Whatever the header decodes to, a malformed one is refused before any comparison.
    expect(verifyBase64Signature(SECRET, TIMESTAMP, BODY, header)).toBe(false);
  });

  it('the non-canonical case above really decodes to the right bytes (so only the strict parse refuses it)', () => {
    expect(nonCanonical).not.toBe(good);
    expect(Buffer.from(nonCanonical, 'base64').equals(digest())).toBe(true);
  });
});
