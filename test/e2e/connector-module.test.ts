// A fourth vendor costs one folder: the fixture connector (test/fixtures/connectors/notedesk.mjs),
// loaded by the real service through WA_CRM_SYNC_CONNECTOR_MODULES, writes a note per WhatsApp
// message to its "vendor" (a small HTTP server here), and turns its signed inbound webhook into an
// agent reply sent through the WhatsApp sandbox; a forged signature is refused, a module that is
// not a connector stops the start with a plain message.
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WhatsAppSandbox, WhatsAppSimulator } from '../../sandbox/whatsapp.js';
import { projectRoot } from '../helpers/fixtures.js';
import { APP_SECRET, outboxSettled, serviceWith, type ServiceProcess, waitFor, writeConfig } from '../helpers/service-process.js';
import { tempDir } from '../helpers/stores.js';

const MODULE = join(projectRoot, 'test/fixtures/connectors/notedesk.mjs');
const SECRET = 'notedesk-signing-secret-0123';

/** The fixture's vendor: notes it was sent, and the agent replies it holds per record. */
function notedeskVendor() {
  const notes: Array<{ threadId: string; messageId: string; text: string }> = [];
  const replies = new Map<string, { id: string; text: string }>();
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/notes') {
        notes.push(JSON.parse(body) as (typeof notes)[number]);
        res.writeHead(201).end();
        return;
      }
      const record = /^\/replies\/([^/]+)$/.exec(req.url ?? '')?.[1];
      const reply = record === undefined ? undefined : replies.get(decodeURIComponent(record));
      if (req.method === 'GET' && reply) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
      else res.writeHead(404).end();
    });
  });
  return {
    notes,
    replies,
    start: () => new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as { port: number }).port}`))),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('a connector module from outside the repository', () => {
  const vendor = notedeskVendor();
  const whatsapp = new WhatsAppSandbox();
  const simulator = new WhatsAppSimulator(APP_SECRET);
  let service: ServiceProcess;
  const now = () => Math.floor(Date.now() / 1000);
  const signed = (body: string, secret = SECRET) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  const callUs = (body: string, signature: string) =>
    fetch(`${service.baseUrl}/webhooks/notedesk`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-notedesk-signature': signature }, body });

  beforeAll(async () => {
    const vendorUrl = await vendor.start();
    const graphUrl = await whatsapp.start();
    ({ service } = await serviceWith(
      ({ config }) => ({
        ...config,
        whatsapp: { ...config.whatsapp, accessToken: whatsapp.accessToken, graphBaseUrl: graphUrl },
        connectors: { notedesk: { enabled: true, url: vendorUrl, webhookSecret: SECRET, timeoutMs: 2000 } },
      }),
      { env: { WA_CRM_SYNC_CONNECTOR_MODULES: MODULE } },
    ));
    await service.start(40_000);
  });

  afterAll(async () => {
    await service.kill('SIGTERM');
    await vendor.stop();
    await whatsapp.stop();
  });

  it('runs its operation for a WhatsApp message, and sends the agent reply its signed webhook announces', { timeout: 60_000 }, async () => {
    const customer = { waId: '447700900777', name: 'Grace Hopper' };
    await service.deliver(simulator.message(customer, { type: 'text', text: { body: 'Is my order on its way?' } }, now()).body);
    await waitFor(() => vendor.notes.length === 1, 20_000, 'the note at the fixture vendor');
    const note = vendor.notes[0]!;
    expect(note.text).toBe('Is my order on its way?');

    vendor.replies.set('rec-1', { id: 'reply-1', text: 'It ships tomorrow morning.' });
    const body = JSON.stringify({ recordId: 'rec-1', threadId: note.threadId });
    const answer = await callUs(body, signed(body));
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ status: 'stored' });
    await waitFor(() => whatsapp.state.sent.some((s) => s.to === `+${customer.waId}`), 20_000, 'the reply on WhatsApp');
    const sent = whatsapp.state.sent.filter((s) => s.to === `+${customer.waId}`);
    expect(sent).toHaveLength(1);
    expect(JSON.stringify(sent[0]!.body)).toContain('It ships tomorrow morning.');
    await waitFor(() => outboxSettled(service, 'notedesk'), 10_000, 'the fixture connector to settle');
  });

  it('refuses a forged signature and counts it under the connector', async () => {
    const body = JSON.stringify({ recordId: 'rec-2', threadId: 'anything' });
    const forged = await callUs(body, signed(body, 'not-the-secret-at-all'));
    expect(forged.status).toBe(401);
    expect(await forged.json()).toEqual({ error: 'invalid signature' });
    const metrics = await (await fetch(`${service.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/wa_crm_sync_webhooks_total\{source="notedesk",result="bad_signature"\} 1/);
  });

  it('a module that is not a connector stops the start with a plain message and exit 1', async () => {
    const dir = tempDir();
    const configPath = join(dir, 'wa-crm-sync.yaml');
    writeConfig(configPath, { whatsapp: { appSecret: APP_SECRET, verifyToken: 'verify-me' } });
    const run = promisify(execFile);
    const failed = await run(process.execPath, [join(projectRoot, 'bin/wa-crm-sync.js'), 'config', 'check', '--config', configPath], {
      env: { ...process.env, WA_CRM_SYNC_CONNECTOR_MODULES: `${MODULE},./no/such/module.mjs,${join(projectRoot, 'dist/core/errors.js')}` },
      cwd: dir,
    }).catch((error: { code: number; stderr: string }) => error);
    expect(failed).toMatchObject({ code: 1 });
    const { stderr } = failed as { stderr: string };
    expect(stderr).toMatch(/^connector modules refused:\n {2}- WA_CRM_SYNC_CONNECTOR_MODULES: \.\/no\/such\/module\.mjs could not be loaded: /);
    expect(stderr).toMatch(/dist\/core\/errors\.js is not a connector: exports no connector \(export a ConnectorFactory as default or as `connector`\)/);
    expect(stderr).not.toMatch(/notedesk\.mjs/);
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});
