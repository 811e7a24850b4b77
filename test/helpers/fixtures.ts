// Test fixtures: the project's WhatsApp webhook and Cloud API bodies (test/fixtures/whatsapp),
// Meta's vendored OpenAPI description (test/contract/specs/whatsapp), signing, and message builders.
import { createHmac } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { auditKeyFrom } from '../../core/security/audit-trail.js';
import { messagesEnvelope } from '../../sandbox/whatsapp.js';

/** The audit key of tests that write the trail themselves (the service makes its own beside its config). */
export const TEST_AUDIT_KEY = auditKeyFrom('test-audit-key-0123456789');

export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const examplesDir = resolve(projectRoot, 'test/fixtures/whatsapp');
/** Meta's OpenAPI description of the Cloud API (MIT, from facebook/openapi), vendored for the contract tests. */
export const whatsappSpecPath = resolve(projectRoot, 'test/contract/specs/whatsapp/business-messaging-api_v23.0.yaml');

/** The ids every body in test/fixtures/whatsapp uses (see test/fixtures/README.md). */
export const FIXTURE = {
  wabaId: '730019445812266',
  phoneNumberId: '214880073361540',
  displayNumber: '15550130147',
  customerWaId: '447700900461',
  customerName: 'Priya Raman',
  customerNewWaId: '447700900782',
} as const;

export function exampleNames(prefix = ''): string[] {
  return readdirSync(examplesDir)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.json'))
    .map((f) => f.replace(/\.json$/, ''));
}

/** One fixture body as stored (the exact bytes a test signs or ingests). */
export function readExample(name: string): string {
  const path = join(examplesDir, `${name}.json`);
  if (!existsSync(path)) throw new Error(`No fixture ${name}.json in test/fixtures/whatsapp; the fixtures there are: ${exampleNames().join(', ')}`);
  return readFileSync(path, 'utf8');
}

export function sign(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export interface TextMessageSpec {
  readonly from: string;
  readonly id: string;
  readonly timestamp: number;
  readonly body: string;
  readonly name?: string;
  readonly phoneNumberId?: string;
}

/** A `messages` webhook envelope around one change value, shaped like Meta's own examples. */
export function messagesWebhook(value: Record<string, unknown>, phoneNumberId = '106540352242922'): string {
  return messagesEnvelope(value, { phoneNumberId, displayNumber: '15550783881' });
}

/** A `messages` webhook carrying one text message. */
export function textWebhook(spec: TextMessageSpec): string {
  return messagesWebhook(
    {
      contacts: [{ profile: { name: spec.name ?? 'Test Customer' }, wa_id: spec.from }],
      messages: [{ from: spec.from, id: spec.id, timestamp: String(spec.timestamp), type: 'text', text: { body: spec.body } }],
    },
    spec.phoneNumberId,
  );
}

export function statusWebhook(spec: { id: string; status: string; timestamp: number; recipient: string }): string {
  return messagesWebhook({ statuses: [{ id: spec.id, status: spec.status, timestamp: String(spec.timestamp), recipient_id: spec.recipient }] });
}
