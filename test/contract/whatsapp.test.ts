// Contract tests against Meta's own OpenAPI description of the Cloud API (Graph v23.0, vendored
// in test/contract/specs/whatsapp): what the WhatsApp connector sends, what the WhatsApp sandbox answers,
// and the webhooks the simulator builds must all validate against the spec's schemas.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { whatsappConnector } from '../../connectors/whatsapp/index.js';
import { KIND } from '../../connectors/whatsapp/mappers.js';
import { whatsappSection } from '../../core/config/schema.js';
import { silentLogger } from '../../core/logger.js';
import { WhatsAppSandbox, WhatsAppSimulator } from '../../sandbox/whatsapp.js';
import { claimedOperation, testContext } from '../helpers/context.js';
import { exampleNames, readExample, whatsappSpecPath } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/stores.js';

const spec = parse(readFileSync(whatsappSpecPath, 'utf8')) as {
  paths: Record<string, Record<string, { responses: Record<string, { content: Record<string, { schema: unknown }> }>; requestBody?: { content: Record<string, { examples?: Record<string, { value: unknown }> }> } }>>;
  components: { schemas: Record<string, Record<string, unknown>> };
};
type SchemaNode = { [key: string]: unknown };

/**
 * Meta writes each message type as `allOf: [BaseMessageProperties, { additionalProperties: false, ... }]`.
 * Read literally by JSON Schema, the second part forbids the first part's properties and no message
 * could ever validate; Meta's own tooling reads it as one object. So allOf members are merged into
 * one object schema (properties and required joined, closed if any member is closed) before validating.
 */
function mergeAllOf(node: unknown, root: { components: { schemas: Record<string, SchemaNode> } }): unknown {
  if (Array.isArray(node)) return node.map((n) => mergeAllOf(n, root));
  if (!node || typeof node !== 'object') return node;
  const entries = Object.entries(node as SchemaNode).map(([k, v]) => [k, mergeAllOf(v, root)] as const);
  const merged = Object.fromEntries(entries) as SchemaNode;
  const members = merged['allOf'];
  if (!Array.isArray(members)) return merged;
  const resolved = members.map((m) => {
    const ref = (m as SchemaNode)['$ref'];
    return typeof ref === 'string' ? (mergeAllOf(root.components.schemas[ref.split('/').pop()!], root) as SchemaNode) : (m as SchemaNode);
  });
  if (!resolved.every((m) => m && (m['type'] === 'object' || m['properties']))) return merged;
  const { allOf: _allOf, ...rest } = merged;
  return {
    ...rest,
    type: 'object',
    properties: Object.assign({}, ...resolved.map((m) => (m['properties'] as object | undefined) ?? {})),
    required: [...new Set(resolved.flatMap((m) => (m['required'] as string[] | undefined) ?? []))],
    ...(resolved.some((m) => m['additionalProperties'] === false) ? { additionalProperties: false } : {}),
  };
}

// OpenAPI 3.1 schemas are JSON Schema 2020-12; the spec's other keywords (paths, examples) are ignored.
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
ajv.addSchema(mergeAllOf(spec, spec as never) as object, 'wa');

function validator(ref: string) {
  const validate = ajv.getSchema(`wa#${ref}`);
  if (!validate) throw new Error(`no schema at ${ref}`);
  return (value: unknown) => {
    const ok = validate(value);
    return ok ? 'valid' : ajv.errorsText(validate.errors, { dataVar: ref.split('/').pop() });
  };
}
const message = validator('/components/schemas/Message');
const messageResponse = validator('/components/schemas/MessageResponsePayload');
const webhook = validator('/components/schemas/WebhookPayload');
const mediaInfo = (value: unknown) => {
  const schema = spec.paths['/{Version}/{Media-ID}']!['get']!.responses['200']!.content['application/json']!.schema;
  const validate = ajv.compile(schema as object);
  return validate(value) ? 'valid' : ajv.errorsText(validate.errors);
};

describe('WhatsApp Cloud API contract', () => {
  const sandbox = new WhatsAppSandbox();
  const simulator = new WhatsAppSimulator('secret');
  let graph = '';

  beforeAll(async () => {
    graph = await sandbox.start();
  });
  afterAll(() => sandbox.stop());

  it('every message the connector sends for a reply (text, file, template) is a valid Message', async () => {
    const connector = whatsappConnector.create(whatsappSection.parse({ appSecret: 'a', verifyToken: 'b', accessToken: sandbox.accessToken, graphBaseUrl: graph }), { log: silentLogger(), mediaDir: '/tmp' });
    const dir = tempDir();
    const pdf = join(dir, 'guide');
    writeFileSync(pdf, '%PDF-1.7');
    const photo = join(dir, 'photo');
    writeFileSync(photo, 'jpeg');
    const context = testContext();
    context.lastInbound.set('c1', Date.now());
    const reply = (sourceId: string, extra: Record<string, unknown>) =>
      claimedOperation('whatsapp', KIND.send, { contactId: 'c1', threadId: 't1', to: '+447700900123', businessNumberId: '106540352242922', reply: { origin: 'zendesk', sourceId, sourceRecord: '1', text: '', attachments: [], template: null, ...extra } });
    const outcomes = await connector.execute(
      [
        reply('1', { text: 'Your order ships today.' }),
        reply('2', { attachments: [{ path: pdf, sha256: 'a'.repeat(64), mimeType: 'application/pdf', size: 8, filename: 'guide.pdf' }, { path: photo, sha256: 'b'.repeat(64), mimeType: 'image/jpeg', size: 4, filename: null }] }),
      ],
      context,
    );
    context.lastInbound.set('c1', Date.now() - 48 * 3_600_000);
    // The sandbox sends only templates of its account (as Meta does: 132001 otherwise).
    sandbox.templates.push({ id: '2001', name: 'ticket_update', language: 'en_US', status: 'APPROVED', category: 'UTILITY', parameter_format: 'POSITIONAL', components: [{ type: 'BODY', text: 'Update on ticket {{1}}' }] });
    outcomes.push(...(await connector.execute([reply('3', { text: 'late', template: { name: 'ticket_update', language: 'en_US', parameters: ['4107'] } })], context)));
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(sandbox.state.sent.map((s) => s.type)).toEqual(['text', 'document', 'image', 'template']);
    // The v23.0 OpenAPI file lists biz_opaque_callback_data only for calls, though Meta's messages
    // reference documents it on every send (at most 512 characters, echoed in statuses):
    // https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/status/
    for (const sent of sandbox.state.sent) {
      const { biz_opaque_callback_data: tag, ...documentedInSpec } = sent.body as Record<string, unknown>;
      expect(typeof tag === 'string' && tag.length > 0 && tag.length <= 512).toBe(true);
      expect(message(documentedInSpec)).toBe('valid');
    }
  });

  it("the sandbox's answers are valid: send, media metadata", async () => {
    const headers = { authorization: `Bearer ${sandbox.accessToken}`, 'content-type': 'application/json' };
    const sent = await fetch(`${graph}/106540352242922/messages`, { method: 'POST', headers, body: JSON.stringify({ messaging_product: 'whatsapp', to: '447700900123', type: 'text', text: { body: 'hi' } }) });
    expect(messageResponse(await sent.json())).toBe('valid');
    const media = sandbox.addMedia(Buffer.from('x'), 'image/jpeg');
    const info = await fetch(`${graph}/${media.id}`, { headers });
    expect(mediaInfo(await info.json())).toBe('valid');
  });

  it('status webhooks the simulator signs are valid WebhookPayloads', () => {
    for (const body of [simulator.status('wamid.x', '447700900123', 'read', 1_760_000_000), simulator.status('wamid.x', '447700900123', 'failed', 1_760_000_000, { code: 131026, title: 'Message undeliverable', details: 'Unable to deliver' })]) {
      expect(webhook(JSON.parse(body))).toBe('valid');
    }
  });

  // The spec's WebhookPayload describes inbound messages with the outbound Message schema, so even
  // Meta's own examples fail it; message webhooks are held to the shape of Meta's examples instead
  // (the named examples of `POST /whatsapp/webhooks` in the vendored spec).
  it('message webhooks the simulator signs use only fields of Meta\'s own examples of the same type', () => {
    const shape = (value: unknown): unknown =>
      Array.isArray(value) ? (value.length > 0 ? [shape(value[0])] : []) : value && typeof value === 'object' ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shape(v)])) : typeof value;
    const within = (ours: unknown, theirs: unknown, path: string): string[] => {
      if (ours && typeof ours === 'object' && !Array.isArray(ours)) {
        if (!theirs || typeof theirs !== 'object') return [`${path} is an object in ours only`];
        return Object.entries(ours).flatMap(([k, v]) => (k in theirs ? within(v, (theirs as Record<string, unknown>)[k], `${path}.${k}`) : [`${path}.${k} is not in Meta's example`]));
      }
      if (Array.isArray(ours)) return Array.isArray(theirs) ? within(ours[0], theirs[0], `${path}[0]`) : [`${path} is an array in ours only`];
      return ours === theirs || theirs === undefined ? [] : [`${path}: ${String(ours)} where Meta has ${String(theirs)}`];
    };
    const customer = { waId: '16505551234', name: 'Kerry Fisher' };
    const metaExamples = spec.paths['/whatsapp/webhooks']!['post']!.requestBody!.content['application/json']!.examples!;
    const cases: Array<[string, Record<string, unknown>]> = [
      ['Text Message', { type: 'text', text: { body: 'hi' } }],
      ['Image Message', { type: 'image', image: { id: '1', mime_type: 'image/jpeg', sha256: 'x', caption: 'c' } }],
      ['Location Message', { type: 'location', location: { latitude: 1, longitude: 2, name: 'n', address: 'a' } }],
      ['Interactive Button Reply Message', { type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: 'y', title: 'Yes' } } }],
      ['Reaction Message', { type: 'reaction', reaction: { message_id: 'wamid.x', emoji: '👍' } }],
    ];
    for (const [example, content] of cases) {
      const theirs = metaExamples[example];
      expect(theirs, `Meta's example "${example}" in the vendored spec`).toBeDefined();
      const ours = JSON.parse(simulator.message(customer, content, 1_760_000_000).body);
      expect(within(shape(ours), shape(theirs!.value), example)).toEqual([]);
    }
  });

  // The project's own fixtures (test/fixtures/whatsapp) are written by hand: held to the same
  // spec, so a test that reads them reads what Meta would send or answer.
  it("the project's fixtures follow the spec: send requests, the send answer, the media answer, status webhooks", () => {
    for (const name of exampleNames('send-request-')) expect(message(JSON.parse(readExample(name))), name).toBe('valid');
    expect(messageResponse(JSON.parse(readExample('send-response')))).toBe('valid');
    expect(mediaInfo(JSON.parse(readExample('media-get-response')))).toBe('valid');
    for (const name of exampleNames('status-')) expect(webhook(JSON.parse(readExample(name))), name).toBe('valid');
  });

  it('would catch a malformed request (the check itself can fail)', () => {
    expect(message({ messaging_product: 'whatsapp', to: '1', type: 'text', text: { preview_url: 'no' } })).not.toBe('valid');
  });
});
