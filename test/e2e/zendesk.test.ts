// Zendesk inside the real service process, against the local Zendesk and WhatsApp sandboxes:
// tickets from chats, setup of the webhook and trigger, an agent's reply reaching the customer
// on WhatsApp (with a file), no echo, the 24-hour window, delivery failures and closed tickets.
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WhatsAppSandbox, WhatsAppSimulator } from '../../sandbox/whatsapp.js';
import { SANDBOX_AGENT_ID, ZendeskSandbox } from '../../sandbox/zendesk.js';
import { projectRoot } from '../helpers/fixtures.js';
import { APP_SECRET, serviceWith, type ServiceProcess, waitFor } from '../helpers/service-process.js';

describe('Zendesk end to end', () => {
  const zendesk = new ZendeskSandbox({ requestsPerMinute: 700 });
  const whatsapp = new WhatsAppSandbox();
  const simulator = new WhatsAppSimulator(APP_SECRET);
  let service: ServiceProcess;
  let configPath: string;
  const now = () => Math.floor(Date.now() / 1000);
  const ticketOf = (waId: string) => {
    const user = zendesk.state.users.find((u) => u.external_id === `+${waId}`);
    return zendesk.state.tickets.filter((t) => t.requester_id === user?.id).sort((a, b) => b.id - a.id)[0];
  };
  const sentTo = (waId: string) => whatsapp.state.sent.filter((s) => s.to === `+${waId}`);

  beforeAll(async () => {
    const zendeskUrl = await zendesk.start();
    const graphUrl = await whatsapp.start();
    ({ service, configPath } = await serviceWith(({ config, port }) => ({
      ...config,
      whatsapp: { ...config.whatsapp, accessToken: whatsapp.accessToken, graphBaseUrl: graphUrl },
      connectors: {
        zendesk: {
          enabled: true,
          baseUrl: zendeskUrl,
          ...zendesk.credentials,
          publicUrl: `http://127.0.0.1:${port}`,
          tags: ['sales'],
          autoAcknowledge: { enabled: true },
          rateLimit: { backoffBaseMs: 100, backoffMaxMs: 1000 },
        },
      },
    })));
    await service.start();
  });

  afterAll(async () => {
    if (process.env['DEBUG_E2E']) console.log(service.output.slice(-6000));
    await service.kill('SIGTERM');
    await zendesk.stop();
    await whatsapp.stop();
  });

  it('turns chats into tickets, acknowledges them, and sends an agent reply with its file back on WhatsApp, once', { timeout: 60_000 }, async () => {
    const customer = { waId: '447700900501', name: 'Ada Lovelace' };
    const photo = whatsapp.addMedia(Buffer.from('jpeg bytes of a broken part'), 'image/jpeg');
    await service.deliver(simulator.message(customer, { type: 'text', text: { body: 'My order arrived broken' } }, now()).body);
    await service.deliver(simulator.message(customer, { type: 'image', image: { id: photo.id, mime_type: 'image/jpeg', sha256: photo.sha256Base64, caption: 'see' } }, now()).body);
    await waitFor(() => (ticketOf(customer.waId)?.comments.length ?? 0) >= 2, 20_000, 'the ticket with the text and the photo');
    const ticket = ticketOf(customer.waId)!;
    expect(ticket).toMatchObject({ subject: 'WhatsApp conversation with Ada Lovelace', tags: ['whatsapp', 'sales'], status: 'new' });
    expect(ticket.comments[0]!.body).toContain('My order arrived broken');
    expect(ticket.comments.some((c) => c.attachments.length === 1 && c.public)).toBe(true);
    // Setup made the webhook and the trigger; the acknowledgement went out with the ticket number.
    expect(zendesk.state.webhooks).toHaveLength(1);
    expect(zendesk.state.triggers).toHaveLength(1);
    await waitFor(() => sentTo(customer.waId).length >= 1, 10_000, 'the acknowledgement');
    expect(JSON.stringify(sentTo(customer.waId)[0]!.body)).toContain(`#${ticket.id}`);

    const statuses = await zendesk.agentReply(ticket.id, 'Sorry! A replacement ships today. Here is the label.', [{ name: 'label.pdf', type: 'application/pdf', data: Buffer.from('%PDF-1.7 label') }]);
    expect(statuses).toEqual([200]);
    await waitFor(() => sentTo(customer.waId).length >= 3, 15_000, 'the reply text and its file');
    const sent = sentTo(customer.waId);
    expect(sent.map((s) => s.type)).toEqual(['text', 'text', 'document']);
    expect(sent[1]!.body).toMatchObject({ text: { body: 'Sorry! A replacement ships today. Here is the label.' } });
    expect(sent[2]!.body).toMatchObject({ document: { filename: 'label.pdf' } });
    // No echo: the reply is not written back to the ticket, and no second send follows.
    await new Promise((r) => setTimeout(r, 1500));
    expect(ticketOf(customer.waId)!.comments.filter((c) => c.author_id !== SANDBOX_AGENT_ID).every((c) => !c.body.includes('replacement ships'))).toBe(true);
    expect(sentTo(customer.waId)).toHaveLength(3);

    // WhatsApp later reports the file undeliverable: the agent sees an internal note.
    await service.deliver(simulator.status(sent[2]!.id, customer.waId, 'failed', now(), { code: 131026, title: 'Message undeliverable', details: 'Unable to deliver' }));
    await waitFor(() => ticketOf(customer.waId)!.comments.some((c) => !c.public && c.body.includes('131026')), 10_000, 'a note about the failed delivery');
  });

  it('outside the 24-hour window with no template, the reply is not sent and the ticket says why', { timeout: 30_000 }, async () => {
    const customer = { waId: '447700900502', name: 'Grace Hopper' };
    await service.deliver(simulator.message(customer, { type: 'text', text: { body: 'Question about my invoice' } }, now() - 30 * 3600).body);
    await waitFor(() => ticketOf(customer.waId) !== undefined, 15_000, 'the ticket');
    const before = sentTo(customer.waId).length;
    await zendesk.agentReply(ticketOf(customer.waId)!.id, 'Your invoice is attached.');
    await waitFor(() => ticketOf(customer.waId)!.comments.some((c) => !c.public && c.body.includes('24-hour customer service window is closed')), 15_000, 'the note');
    expect(sentTo(customer.waId).length).toBe(before);
  });

  it('a customer writing on a closed ticket gets a follow-up ticket linked to it', { timeout: 30_000 }, async () => {
    const customer = { waId: '447700900503', name: 'Alan Turing' };
    await service.deliver(simulator.message(customer, { type: 'text', text: { body: 'first' } }, now()).body);
    await waitFor(() => ticketOf(customer.waId) !== undefined, 15_000, 'the ticket');
    const first = ticketOf(customer.waId)!;
    zendesk.setStatus(first.id, 'closed');
    await service.deliver(simulator.message(customer, { type: 'text', text: { body: 'it broke again' } }, now()).body);
    await waitFor(() => ticketOf(customer.waId)!.id !== first.id, 15_000, 'the follow-up');
    expect(ticketOf(customer.waId)).toMatchObject({ via_followup_source_id: first.id, external_id: first.external_id });
    expect(ticketOf(customer.waId)!.comments[0]!.body).toBe('it broke again');
  });

  it('refuses unsigned, wrongly signed and stale Zendesk webhook calls', async () => {
    const body = JSON.stringify({ ticket_id: '1', external_id: 'x' });
    const secret = zendesk.state.webhooks[0]!.secret;
    const post = (timestamp: string, signature: string) =>
      fetch(`${service.baseUrl}/webhooks/zendesk`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-zendesk-webhook-signature-timestamp': timestamp, 'x-zendesk-webhook-signature': signature }, body }).then((r) => r.status);
    const sign = (timestamp: string, key = secret) => createHmac('sha256', key).update(timestamp + body).digest('base64');
    const fresh = new Date().toISOString();
    const stale = new Date(Date.now() - 3_600_000).toISOString();
    expect(await post(fresh, '')).toBe(401);
    expect(await post(fresh, sign(fresh, 'not-the-secret'))).toBe(401);
    expect(await post(stale, sign(stale))).toBe(401);
    expect(await post(fresh, sign(fresh))).toBe(200);
  });

  it('reports scopes and setup from the command line', async () => {
    const run = promisify(execFile);
    const bin = join(projectRoot, 'bin/wa-crm-sync.js');
    const scopes = await run(process.execPath, [bin, 'scopes', '--config', configPath]);
    expect(scopes.stdout).toContain('zendesk: OK');
    const setup = await run(process.execPath, [bin, 'setup', 'zendesk', '--config', configPath]);
    expect(setup.stdout.trim()).toBe('zendesk: already set up, nothing to do');
    expect(zendesk.state.webhooks).toHaveLength(1);
    expect(zendesk.state.triggers).toHaveLength(1);
  });
});
