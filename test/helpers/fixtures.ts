// Test fixtures: Meta's webhook examples from ../shared/vendor-specs, signing, and message builders.
import { createHmac } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { messagesEnvelope } from '../../sandbox/whatsapp.js';

export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const specsDir = resolve(projectRoot, '../shared/vendor-specs');
export const examplesDir = resolve(specsDir, 'whatsapp/examples');

export function exampleNames(prefix = ''): string[] {
  return readdirSync(examplesDir)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.json'))
    .map((f) => f.replace(/\.json$/, ''));
}

export function readExample(name: string): string {
  return readFileSync(join(examplesDir, `${name}.json`), 'utf8');
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
function messagesWebhook(value: Record<string, unknown>, phoneNumberId = '106540352242922'): string {
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
