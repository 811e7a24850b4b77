// Signs that the WhatsApp account or a credential is compromised, as alerts people can act on.
// Pure: each function turns one observation into an alert draft (or none).
import type { JsonValue } from '../model/types.js';
import { maskPhone } from '../model/phone.js';
import type { AlertDraft } from './alerts.js';

const MANAGER = 'WhatsApp Manager (business.facebook.com/wa/manage)';
const ACCESS_REVIEW = 'review who has access in Meta Business Settings > Users (people and system users) and > Apps';

function text(value: JsonValue | undefined): string {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
}

/** Account webhooks (security, restrictions, bans, quality drops) in plain words; undefined when nothing needs a person. */
export function accountEventAlert(field: string, accountId: string, raw: JsonValue): AlertDraft | undefined {
  const value = raw && typeof raw === 'object' && !Array.isArray(raw) ? raw : {};
  const event = text(value['event']).toUpperCase();
  const number = text(value['display_phone_number']) || text(value['phone_number']);
  const which = number ? `number ${maskPhone(number)}` : `account ${accountId}`;
  switch (field) {
    case 'security':
      return {
        kind: 'account_security',
        key: `${accountId}:${number}:${event}`,
        severity: 'critical',
        title: `WhatsApp ${which}: two-step verification ${event === 'PIN_CHANGED' ? 'PIN was changed' : event === 'PIN_RESET_REQUEST' || event === 'PIN_RESET_REQUESTED' ? 'PIN reset was requested' : `security event ${event || 'reported'}`}`,
        detail: `Meta reported "${event || 'a security event'}" for ${which}. If nobody on your team did this, someone may be taking over the number: in ${MANAGER} > Phone numbers, reset the two-step verification PIN, and ${ACCESS_REVIEW}.`,
      };
    case 'account_update': {
      const restrictive = /RESTRICT|VIOLATION|BAN|DISABLE|DELET|FLAG|SUSPEN|OFFBOARD/.test(event);
      if (!restrictive && !/PARTNER|ADDED|REMOVED|VERIF/.test(event)) return undefined;
      const restrictions = Array.isArray(value['restriction_info'])
        ? value['restriction_info'].map((r) => (r && typeof r === 'object' && !Array.isArray(r) ? text(r['restriction_type']) : '')).filter(Boolean).join(', ')
        : '';
      return {
        kind: 'account_update',
        key: `${accountId}:${event}`,
        severity: restrictive ? 'critical' : 'warning',
        title: `WhatsApp ${which}: ${event.toLowerCase().replaceAll('_', ' ')}`,
        detail: restrictive
          ? `Meta restricted or flagged the WhatsApp Business account (${event}${restrictions ? `: ${restrictions}` : ''}). Messages may stop going out. Check ${MANAGER} > Account quality for the reason and any appeal, and ${ACCESS_REVIEW}: a policy violation you did not commit can mean someone else is sending.`
          : `Meta reported a change to who can manage the WhatsApp Business account (${event}). If you did not expect it, ${ACCESS_REVIEW}.`,
      };
    }
    case 'phone_number_quality_update': {
      if (!/DOWNGRADE|FLAGGED/.test(event)) return undefined;
      return {
        kind: 'quality_drop',
        key: `${accountId}:${number}`,
        severity: 'warning',
        title: `WhatsApp ${which}: quality ${event === 'FLAGGED' ? 'flagged' : 'downgraded'}`,
        detail: `Meta ${event === 'FLAGGED' ? 'flagged the quality of' : 'lowered the messaging limit of'} ${which}${value['current_limit'] ? ` (now ${text(value['current_limit'])})` : ''}. Customers are blocking or reporting its messages. If your team did not send more than usual, someone else may be using the number: check ${MANAGER} > Insights and ${ACCESS_REVIEW}.`,
      };
    }
    case 'account_alerts':
      return {
        kind: 'account_alert',
        key: `${accountId}:${JSON.stringify(raw).slice(0, 120)}`,
        severity: 'warning',
        title: `WhatsApp account ${accountId}: Meta sent an account alert`,
        detail: `Meta sent an account alert: ${JSON.stringify(raw).slice(0, 400)}. Check ${MANAGER} for what it asks.`,
      };
    case 'message_template_status_update': {
      if (!/REJECTED|DISABLED|PAUSED/.test(event)) return undefined;
      const name = text(value['message_template_name']);
      return {
        kind: 'template_status',
        key: `${accountId}:${name}`,
        severity: 'warning',
        title: `WhatsApp template "${name}" ${event.toLowerCase()}`,
        detail: `Meta ${event.toLowerCase()} the message template "${name}"${value['reason'] ? ` (${text(value['reason'])})` : ''}. Replies outside the 24-hour window that use it will fail until it is approved again: check ${MANAGER} > Message templates.`,
      };
    }
    default:
      return undefined;
  }
}

export function unknownStatusAlert(businessNumberId: string, status: string): AlertDraft {
  return {
    kind: 'unknown_status',
    key: businessNumberId,
    severity: 'critical',
    title: `WhatsApp reported "${status}" for a message this service never sent`,
    detail: `Delivery statuses arrive for messages sent from business number ${businessNumberId} that wa-crm-sync did not send. If no other app of yours sends from this number, someone else is using it: in Meta Business Settings, check the system users and apps with access to the WhatsApp account, rotate the access tokens, and ${ACCESS_REVIEW}.`,
  };
}

export function unknownSenderAlert(businessNumberId: string): AlertDraft {
  return {
    kind: 'unknown_sender',
    key: businessNumberId,
    severity: 'critical',
    title: `Messages were sent from business number ${businessNumberId}, which this service does not serve`,
    detail: `WhatsApp echoed outbound messages from business number ${businessNumberId}, which is not in whatsapp.phoneNumbers. If you do not know that number, someone has linked it to your WhatsApp account: check ${MANAGER} > Phone numbers and ${ACCESS_REVIEW}.`,
  };
}

/** A window in words: "45 seconds", "1 minute", "10 minutes". */
function span(seconds: number): string {
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.round(seconds / 60);
  return `${minutes} minute${minutes === 1 ? '' : 's'}`;
}

export function badSignaturesAlert(source: string, count: number, windowSeconds: number): AlertDraft {
  return {
    kind: BAD_SIGNATURES,
    key: source,
    severity: 'warning',
    title: `${count} ${source} webhook calls with a bad signature in ${span(windowSeconds)}`,
    detail: `Someone is posting to /webhooks/${source} without a valid signature (they were refused and nothing was stored). Either the secret changed on the vendor's side (update the config), or someone is probing or forging webhooks: check the source addresses in the logs.`,
  };
}

/** The kind of a connector's blocked-credentials alert, keyed by the connector: resolved when its credentials work again. */
export const CREDENTIAL_REFUSED = 'credential_refused';
/** Bursts of refused webhook signatures and of failed sign-ins: resolved once a window passes without another. */
export const BAD_SIGNATURES = 'bad_signatures';
export const SIGN_IN_FAILURES = 'admin_signin_failures';

export function connectorBlockedAlert(connector: string, reason: string): AlertDraft {
  return {
    kind: CREDENTIAL_REFUSED,
    key: connector,
    severity: 'critical',
    title: `${connector}: credentials refused or missing scopes; sync to it has stopped`,
    detail: `${reason}. A credential that stops working without a change on your side may have been revoked because it leaked: rotate it. Operations stay queued and flow once it is fixed.`,
  };
}

export function overPrivilegedAlert(connector: string, extra: readonly string[]): AlertDraft {
  return {
    kind: 'over_privileged',
    key: `${connector}:${[...extra].sort().join(',')}`,
    severity: 'warning',
    title: `${connector}: the credentials hold more than they need`,
    detail: `The ${connector} credentials also grant ${extra.join(', ')}, which wa-crm-sync does not use. A leaked credential could do all of that: issue one with only the scopes \`wa-crm-sync scopes\` lists as required. If it gained these scopes recently without your doing, rotate it.`,
  };
}

export function auditFailedAlert(failed: ReadonlyArray<{ check: string; detail: string }>): AlertDraft {
  return {
    kind: 'audit_failed',
    key: failed.map((f) => f.check).sort().join('|'),
    severity: 'warning',
    title: `security self-audit: ${failed.length} check${failed.length === 1 ? '' : 's'} failed`,
    detail: `${failed.map((f) => `${f.check}: ${f.detail}`).join(' / ')}. Run wa-crm-sync audit for the full checklist.`,
  };
}

export function newDeviceAlert(user: string, ip: string, device: string): AlertDraft {
  return {
    kind: 'admin_new_device',
    key: `${user}:${ip}:${device.slice(0, 80)}`,
    severity: 'info',
    title: `${user} signed in from a new device or address (${ip})`,
    detail: `${user} signed in to the wa-crm-sync admin from ${ip} with "${device.slice(0, 120)}", which this account had not used before. If that was not them, revoke the session (DELETE /admin/api/sessions/{id}), run wa-crm-sync users reset-2fa ${user}, and change the password.`,
  };
}

export function signInFailuresAlert(ip: string, count: number, windowSeconds: number): AlertDraft {
  return {
    kind: SIGN_IN_FAILURES,
    key: ip,
    severity: 'warning',
    title: `${count} failed admin sign-ins from ${ip} in ${span(windowSeconds)}`,
    detail: `Someone at ${ip} keeps failing to sign in to the wa-crm-sync admin (accounts lock after 5 failures each). If it is not one of your people, block the address (admin.allowIps, or your firewall) and check the audit trail: wa-crm-sync audit log --action signin.`,
  };
}
