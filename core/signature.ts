// Webhook signature checks over the raw body, in constant time.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Checks `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>` (Meta's format). */
export function verifyHubSignature(secret: string, rawBody: Uint8Array, header: string | undefined): boolean {
  // Parsed strictly: Buffer.from(hex) stops at the first bad character, so trailing junk would pass.
  if (!header || !/^sha256=[0-9a-fA-F]{64}$/.test(header)) return false;
  const given = Buffer.from(header.slice('sha256='.length), 'hex');
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Checks a base64 HMAC-SHA256 over `prefix + raw body` (Zendesk signs timestamp + body). */
export function verifyBase64Signature(secret: string, signedPrefix: string, rawBody: Uint8Array, header: string | undefined): boolean {
  // 32 bytes are 43 base64 characters and one '='; Buffer.from(base64) skips what it cannot read.
  if (!header || !/^[A-Za-z0-9+/]{43}=$/.test(header)) return false;
  const given = Buffer.from(header, 'base64');
  const expected = createHmac('sha256', secret).update(signedPrefix).update(rawBody).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}
