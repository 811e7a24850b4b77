// Zendesk inside the real service process, against the local Zendesk and WhatsApp sandboxes:
// tickets from chats, setup of the webhook and trigger, an agent's reply reaching the customer
// on WhatsApp (with a file), no echo, the 24-hour window, delivery failures and closed tickets;
// malformed webhook signatures refused; no number, name or text in the service's output.
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WhatsAppSandbox, WhatsAppSimulator } from '../../sandbox/whatsapp.js';
import { SANDBOX_AGENT_ID, ZendeskSandbox } from '../../sandbox/zendesk.js';
import { projectRoot } from '../helpers/fixtures.js';
import { postWithHeaders } from '../helpers/http.js';
import { expectNoPersonalData } from '../helpers/personal-data.js';
import { APP_SECRET, holdsFor, outboxSettled, serviceWith, type ServiceProcess, waitFor } from '../helpers/service-process.js';

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
    // An agent already made Ada an end user, number typed their own way: the connector adopts her.
    zendesk.state.users.push({ id: 901, name: 'Ada L.', phone: '+44 7700 900501', external_id: null, role: 'end-user', created_at: '2026-01-01T00:00:00Z' });
    ({ service, configPath } = await serviceWith(({ config, port }) => ({
      ...config,
      // Debug: every line the service can write is checked for personal data at the end.
      log: { level: 'debug' },
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
    expect(ticket.requester_id).toBe(901);
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
    // No echo: the reply is not written back to the ticket, and no second send follows. Once both
    // connectors have nothing left to do, a bounded quiet period shows nothing else happens.
    await waitFor(async () => (await outboxSettled(service, 'zendesk')) && (await outboxSettled(service, 'whatsapp')), 15_000, 'both connectors done');
    await holdsFor(() => sentTo(customer.waId).length === 3, 1000, 'no second send');
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

  it("a burst Meta delivers shuffled lands in the customer's order in one write; a message after the settle time is marked late", { timeout: 60_000 }, async () => {
    const customer = { waId: '447700900504', name: 'Katherine Johnson' };
    // Six messages written a minute apart (an hour ago), delivered within a second as 3, 0, 5, 1, 4, 2.
    const written = now() - 3600;
    const bodies = Array.from({ length: 6 }, (_, n) => simulator.message(customer, { type: 'text', text: { body: `burst line ${n}` } }, written + n * 60).body);
    const started = Date.now();
    for (const n of [3, 0, 5, 1, 4, 2]) await service.deliver(bodies[n]!);
    const deliveredIn = Date.now() - started;
    await waitFor(() => ticketOf(customer.waId) !== undefined, 20_000, 'the ticket');
    // The premise, not a speed target: the whole burst arrived inside the default 2 s settle time.
    expect(deliveredIn, 'the burst took longer to deliver than the settle time').toBeLessThan(2000);
    await waitFor(() => outboxSettled(service, 'zendesk'), 20_000, 'the burst written');
    const ticket = ticketOf(customer.waId)!;
    const clock = (n: number) => new Date((written + n * 60) * 1000).toISOString().slice(11, 16);
    expect(ticket.comments).toHaveLength(1);
    // Compared with whitespace collapsed: Zendesk reflows what it keeps.
    const flat = (body: string) => body.replace(/\s+/g, ' ');
    expect(flat(ticket.comments[0]!.body)).toBe([0, 1, 2, 3, 4, 5].map((n) => `${clock(n)} UTC burst line ${n}`).join(' '));
    expect(ticket.comments[0]!.body).not.toContain('arrived late');

    // Written between lines 2 and 3, arriving after all of them are on the ticket.
    await service.deliver(simulator.message(customer, { type: 'text', text: { body: 'a straggler' } }, written + 150).body);
    await waitFor(() => ticketOf(customer.waId)!.comments.length === 2, 20_000, 'the late message');
    expect(flat(ticketOf(customer.waId)!.comments[1]!.body)).toBe(`(sent ${new Date((written + 150) * 1000).toISOString().slice(11, 16)} UTC, arrived late) a straggler`);
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

  it('refuses malformed signatures, even those that decode to the right bytes, and stores none of them', async () => {
    const body = JSON.stringify({ ticket_id: '2', external_id: 'malformed' });
    const secret = zendesk.state.webhooks[0]!.secret;
    const timestamp = new Date().toISOString();
    const good = createHmac('sha256', secret).update(timestamp + body).digest('base64');
    const post = (signature: string | string[]) =>
      postWithHeaders(`${service.baseUrl}/webhooks/zendesk`, { 'content-type': 'application/json', 'x-zendesk-webhook-signature-timestamp': timestamp, 'x-zendesk-webhook-signature': signature }, body);
    const metric = async () => Number(/wa_crm_sync_webhooks_total\{source="zendesk",result="stored"\} (\d+)/.exec(await (await fetch(`${service.baseUrl}/metrics`)).text())?.[1] ?? 0);
    const storedBefore = await metric();
    const malformed: Array<[string, string | string[]]> = [
      ['empty', ''],
      ['one byte', Buffer.from(good, 'base64').subarray(0, 1).toString('base64')],
      ['31 of the 32 bytes', Buffer.from(good, 'base64').subarray(0, 31).toString('base64')],
      ['no padding', good.slice(0, -1)],
      ['one character more (odd length)', `${good}A`],
      ['junk after it', `${good}!!`],
      ['sent twice (two header lines)', [good, good]],
      ['the right one and a wrong one (two header lines)', [good, Buffer.alloc(32).toString('base64')]],
      ['a sha256= prefix', `sha256=${good}`],
      ['base64url', Buffer.from(good, 'base64').toString('base64url')],
      ['hex', Buffer.from(good, 'base64').toString('hex')],
    ];
    for (const [what, signature] of malformed) expect(await post(signature), what).toBe(401);
    expect(await metric()).toBe(storedBefore);
    expect(await post(good)).toBe(200);
    expect(await metric()).toBe(storedBefore + 1);
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

  it('kept customers\' numbers, names, their texts and the agents\' replies out of its output', () => {
    // Ada's adoption was logged (so there was a number to leak), masked.
    expect(service.output).toMatch(/"phone":"\+44\*+01".*adopted an existing Zendesk user with the same phone number/);
    expectNoPersonalData(service.output, {
      phones: ['447700900501', '447700900502', '447700900503', '447700900504'],
      values: [
        'Ada Lovelace', 'Ada L.', 'Grace Hopper', 'Alan Turing', 'Katherine Johnson', 'burst line', 'a straggler',
        'My order arrived broken', 'Question about my invoice', 'it broke again',
        'A replacement ships today', 'Your invoice is attached', 'label.pdf', 'jpeg bytes of a broken part',
        zendesk.state.webhooks[0]!.secret, whatsapp.accessToken,
      ],
    });
  });
});
