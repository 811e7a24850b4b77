// Webhook signature checks over the raw body, in constant time. The header is parsed strictly
// first: Node's hex and base64 decoders stop at (or skip) characters they do not know, so a valid
// signature followed by junk, or the same header sent twice (Node joins repeats with ", "),
// would otherwise decode to the right 32 bytes and pass.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Exactly what Meta sends: `sha256=` and the HMAC-SHA256 in 64 lowercase hex digits.
 * https://developers.facebook.com/docs/graph-api/webhooks/getting-started ("Validating Payloads":
 * the signature is generated "with lowercase hex digits").
 */
const HUB_SIGNATURE = /^sha256=([0-9a-f]{64})$/;

/** One base64 HMAC-SHA256 (32 bytes): 43 characters and one `=` of padding, nothing else. */
const BASE64_SHA256 = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** The header our own outbound posts (forwarded events, alert webhooks) are signed with, so receivers check them one way. */
export const OUTBOUND_SIGNATURE_HEADER = 'x-wa-crm-sync-signature';

/** `sha256=<hex HMAC-SHA256(secret, body)>`: Meta's format, which receivers of WhatsApp webhooks already know how to check. */
export function signOutbound(secret: string, body: string | Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Checks `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>` (Meta's format). */
export function verifyHubSignature(secret: string, rawBody: Uint8Array, header: string | undefined): boolean {
  const hex = HUB_SIGNATURE.exec(header ?? '')?.[1];
  if (hex === undefined) return false;
  return sameDigest(Buffer.from(hex, 'hex'), createHmac('sha256', secret).update(rawBody).digest());
}

/**
 * Checks a base64 HMAC-SHA256 over `prefix + raw body` (Zendesk signs timestamp + body:
 * https://developer.zendesk.com/documentation/webhooks/verifying/).
 */
export function verifyBase64Signature(secret: string, signedPrefix: string, rawBody: Uint8Array, header: string | undefined): boolean {
  return verifyBase64SignatureOver(secret, [signedPrefix, rawBody], header);
}

/**
 * Checks a base64 HMAC-SHA256 over several parts signed one after the other, for vendors that
 * sign more than a prefix and the body (HubSpot's v3 signs method + URI + body + timestamp:
 * https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation).
 */
export function verifyBase64SignatureOver(secret: string, parts: ReadonlyArray<string | Uint8Array>, header: string | undefined): boolean {
  if (header === undefined || !BASE64_SHA256.test(header)) return false;
  const hmac = createHmac('sha256', secret);
  for (const part of parts) hmac.update(part);
  return sameDigest(Buffer.from(header, 'base64'), hmac.digest());
}

/**
 * Whether a shared secret sent as is (a bearer token, an API key header) is the expected one, in
 * constant time: both are hashed first, so neither their contents nor their lengths leak.
 */
export function sameSecret(given: string | undefined, expected: string): boolean {
  const digest = (v: string) => createHash('sha256').update(v).digest();
  return timingSafeEqual(digest(given ?? ''), digest(expected)) && given !== undefined;
}

/** Constant time; the lengths are public (both are 32 bytes once the header has parsed). */
function sameDigest(given: Buffer, expected: Buffer): boolean {
  return given.length === expected.length && timingSafeEqual(given, expected);
}
