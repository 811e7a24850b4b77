// HubSpot's v3 request signature, shared by every call HubSpot makes to us (the inbox channel's
// webhook, a workflow's "Send a webhook" action): base64(HMAC-SHA256(client secret,
// method + URI + body + timestamp)) in `X-HubSpot-Signature-v3`, with `X-HubSpot-Request-Timestamp`
// (milliseconds); a timestamp older than 5 minutes is to be refused:
// https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation
// https://developers.hubspot.com/changelog/introducing-version-3-of-webhook-signatures
import type { InboundHeaders } from '../../core/connector.js';
import { verifyBase64SignatureOver } from '../../core/signature.js';

export type HubSpotSignatureCheck = { readonly ok: true; readonly timestamp: string; readonly signature: string; readonly signedAt: number } | { readonly ok: false; readonly reason: 'stale' | 'bad_signature' };

/** `uri` is the URL as registered in HubSpot: behind a proxy the service cannot see the URL HubSpot called. */
export function checkHubSpotSignatureV3(raw: Buffer, headers: InboundHeaders, secret: string, uri: string, toleranceMs: number, now: number): HubSpotSignatureCheck {
  const timestamp = headers('x-hubspot-request-timestamp') ?? '';
  const signature = headers('x-hubspot-signature-v3') ?? '';
  const signedAt = /^\d{10,16}$/.test(timestamp) ? Number(timestamp) : Number.NaN;
  if (!Number.isFinite(signedAt) || Math.abs(now - signedAt) > toleranceMs) return { ok: false, reason: 'stale' };
  if (!verifyBase64SignatureOver(secret, ['POST', uri, raw, timestamp], signature)) return { ok: false, reason: 'bad_signature' };
  return { ok: true, timestamp, signature, signedAt };
}
