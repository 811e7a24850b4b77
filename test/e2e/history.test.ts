// A coexistence onboarding through the real service and the HubSpot, Salesforce, Zendesk and
// WhatsApp sandboxes: the app's chat history in shuffled chunks, SIGKILLs while it is ingested
// and while it drains; every past message lands once, in order, with its original time and
// direction, in HubSpot and Salesforce; Zendesk opens no ticket and nobody is acknowledged,
// while a live message during the import is handled as usual. With
// `connectors.zendesk.history: solved-tickets`, Zendesk gets one solved ticket per past
// conversation instead, imported exactly once through a lost answer and a SIGKILL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubSpotSandbox } from '../../sandbox/hubspot.js';
import { SalesforceSandbox } from '../../sandbox/salesforce.js';
import { historyWebhooks, WhatsAppSandbox, type PastMessage } from '../../sandbox/whatsapp.js';
import { ZendeskSandbox } from '../../sandbox/zendesk.js';
import { textWebhook } from '../helpers/fixtures.js';
import { outboxSettled, serviceWith, type ServiceProcess, waitFor } from '../helpers/service-process.js';
import { holdsFor } from '../helpers/wait.js';

const CUSTOMERS = ['447700900461', '447700900519', '447700900602'];
const CONVERSATIONS = 6;
const PER_CONVERSATION = 6;
const business = { phoneNumberId: '214880073361540', displayNumber: '15550130147' };

/** Each customer's past: conversations weeks apart, messages a minute apart, both sides taking turns. */
function pastChats(onboardedAt: number): PastMessage[] {
  const past: PastMessage[] = [];
  for (const [c, customer] of CUSTOMERS.entries()) {
    for (let conv = 0; conv < CONVERSATIONS; conv++) {
      for (let m = 0; m < PER_CONVERSATION; m++) {
        past.push({
          id: `wamid.HIST.${c}.${conv}.${m}`,
          customer,
          fromBusiness: m % 2 === 1,
          timestamp: onboardedAt - (170 - conv * 28) * 86_400 + c * 3_600 + m * 60,
          text: `past ${c}.${conv}.${m}`,
        });
      }
    }
  }
  return past;
}

function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('coexistence history import end to end', () => {
  const hubspot = new HubSpotSandbox({ requests: 100, intervalMs: 10_000 });
  const salesforce = new SalesforceSandbox();
  const zendesk = new ZendeskSandbox({ requestsPerMinute: 700 });
  const whatsapp = new WhatsAppSandbox();
  let service: ServiceProcess;

  beforeAll(async () => {
    const hubspotUrl = await hubspot.start();
    const instanceUrl = await salesforce.start();
    const zendeskUrl = await zendesk.start();
    const graphUrl = await whatsapp.start();
    const fast = { backoffBaseMs: 100, backoffMaxMs: 1000 };
    ({ service } = await serviceWith(({ config, port }) => ({
      ...config,
      whatsapp: { ...config.whatsapp, accessToken: whatsapp.accessToken, graphBaseUrl: graphUrl },
      connectors: {
        // Thread notes and ticket acknowledgements are on: history must trigger neither.
        hubspot: { enabled: true, accessToken: 'pat-sandbox', baseUrl: hubspotUrl, threadActivity: 'note', rateLimit: fast },
        // A SIGKILL mid-write is a lost answer: Salesforce's default wait for a late landing is 10 minutes.
        salesforce: { enabled: true, instanceUrl, clientCredentials: { clientId: 'sandbox-client', clientSecret: 'sandbox-secret' }, rateLimit: fast, lostAnswerWaitSeconds: 3 },
        zendesk: { enabled: true, baseUrl: zendeskUrl, ...zendesk.credentials, publicUrl: `http://127.0.0.1:${port}`, autoAcknowledge: { enabled: true }, rateLimit: fast, lostAnswerWaitSeconds: 3 },
      },
    })));
    await service.start();
  });

  afterAll(async () => {
    if (process.env['DEBUG_E2E']) console.log(service.output.slice(-6000));
    await service.kill('SIGTERM');
    await Promise.all([hubspot.stop(), salesforce.stop(), zendesk.stop(), whatsapp.stop()]);
  });

  const communications = () => hubspot.state.objects['communications'] ?? [];
  const tasks = () => salesforce.state.records['Task'] ?? [];

  it('lands every past message once, in order, with its time and direction, through SIGKILLs', { timeout: 300_000 }, async () => {
    const onboardedAt = Math.floor(Date.now() / 1000);
    const past = pastChats(onboardedAt);
    const bodies = shuffled(historyWebhooks(past, business, { chunkSize: 5, onboardedAt }));
    const half = Math.ceil(bodies.length / 2);
    for (const body of bodies.slice(0, half)) await service.deliver(body);
    await service.kill('SIGKILL');
    await service.start();
    // A live message in the middle of the import.
    await service.deliver(textWebhook({ from: '447700900777', id: 'wamid.LIVE.1', timestamp: onboardedAt, body: 'Is anyone there today?', name: 'Live Customer' }));
    for (const body of bodies.slice(half)) await service.deliver(body);
    // A redelivered chunk changes nothing.
    await service.deliver(bodies[0]!);
    await waitFor(() => communications().length > 10, 60_000, 'the import under way');
    await service.kill('SIGKILL');
    await service.start();

    await waitFor(() => communications().length >= past.length + 1, 120_000, 'every message logged in HubSpot');
    await waitFor(async () => (await outboxSettled(service, 'hubspot')) && (await outboxSettled(service, 'salesforce')) && (await outboxSettled(service, 'zendesk')), 120_000, 'the outboxes drained');

    // HubSpot: one communication per message, at its original time, saying who wrote.
    const logged = communications().filter((c) => String(c.properties['whatsapp_message_id']).startsWith('wamid.HIST.'));
    expect(logged.map((c) => c.properties['whatsapp_message_id']).sort()).toEqual(past.map((m) => m.id).sort());
    const byTime = [...logged].sort((a, b) => Date.parse(String(a.properties['hs_timestamp'])) - Date.parse(String(b.properties['hs_timestamp'])));
    expect(byTime.map((c) => c.properties['whatsapp_message_id'])).toEqual([...past].sort((a, b) => a.timestamp - b.timestamp).map((m) => m.id));
    for (const m of past) {
      const c = logged.find((l) => l.properties['whatsapp_message_id'] === m.id)!;
      expect(Date.parse(String(c.properties['hs_timestamp']))).toBe(m.timestamp * 1000);
      expect(String(c.properties['hs_communication_body'])).toContain(m.fromBusiness ? 'WhatsApp message to the customer' : 'WhatsApp message from the customer');
    }
    // No "new conversation" note for the past; the live message got one.
    expect((hubspot.state.objects['notes'] ?? []).length).toBe(1);

    // Salesforce: one Task per past conversation, its transcript every message once, in order, with its time.
    const historyTasks = tasks().filter((t) => String(t['Description']).includes('past '));
    expect(historyTasks).toHaveLength(CUSTOMERS.length * CONVERSATIONS);
    const lines = historyTasks.flatMap((t) => String(t['Description']).split('\n'));
    expect(lines).toHaveLength(past.length);
    for (const task of historyTasks) {
      const texts = String(task['Description']).split('\n').map((l) => /(past [\d.]+)$/.exec(l)![1]!);
      const sorted = [...texts].sort((a, b) => Number(a.split('.').at(-1)) - Number(b.split('.').at(-1)));
      expect(texts).toEqual(sorted);
    }
    for (const m of past) {
      const line = lines.find((l) => l.endsWith(`: ${m.text}`))!;
      expect(line).toContain(`${new Date(m.timestamp * 1000).toISOString().slice(0, 16).replace('T', ' ')}`);
      expect(line).toContain(m.fromBusiness ? 'Us:' : 'Customer:');
    }

    // Zendesk: only the live customer's ticket; WhatsApp: only the live customer's acknowledgement.
    expect(zendesk.state.tickets).toHaveLength(1);
    // The acknowledgement may still be on its way when the CRMs are done.
    await waitFor(() => whatsapp.state.sent.length >= 1, 60_000, "the live customer's acknowledgement");
    await holdsFor(() => whatsapp.state.sent.length === 1, 1000, 'nothing more sent');
    expect(whatsapp.state.sent.map((s) => s.to)).toEqual(['+447700900777']);
  });
});

describe('coexistence history import into Zendesk as solved tickets', () => {
  const zendesk = new ZendeskSandbox({ requestsPerMinute: 700 });
  const whatsapp = new WhatsAppSandbox();
  let service: ServiceProcess;

  beforeAll(async () => {
    const zendeskUrl = await zendesk.start();
    const graphUrl = await whatsapp.start();
    ({ service } = await serviceWith(({ config, port }) => ({
      ...config,
      whatsapp: { ...config.whatsapp, accessToken: whatsapp.accessToken, graphBaseUrl: graphUrl },
      connectors: {
        // Acknowledgements are on: an imported ticket must not send one.
        zendesk: {
          enabled: true,
          baseUrl: zendeskUrl,
          ...zendesk.credentials,
          publicUrl: `http://127.0.0.1:${port}`,
          autoAcknowledge: { enabled: true },
          history: 'solved-tickets',
          // Long enough for every chunk to be delivered before the first import runs.
          historySettleMs: 20_000,
          settleMs: 0,
          rateLimit: { backoffBaseMs: 100, backoffMaxMs: 1000 },
        },
      },
    })));
    await service.start();
  });

  afterAll(async () => {
    if (process.env['DEBUG_E2E']) console.log(service.output.slice(-6000));
    await service.kill('SIGTERM');
    await Promise.all([zendesk.stop(), whatsapp.stop()]);
  });

  const imported = () => zendesk.state.tickets.filter((t) => t.external_id?.startsWith('wa-history:'));

  it('imports one solved ticket per past conversation, every message once as a comment with its time and author, through a lost answer and a SIGKILL', { timeout: 240_000 }, async () => {
    const onboardedAt = Math.floor(Date.now() / 1000);
    const past = pastChats(onboardedAt);
    const bodies = shuffled(historyWebhooks(past, business, { chunkSize: 5, onboardedAt }));
    // The first import's answer is lost after Zendesk did the work.
    zendesk.loseAnswers(1, '/imports/tickets', 'POST');
    for (const body of bodies) await service.deliver(body);
    await service.deliver(textWebhook({ from: '447700900777', id: 'wamid.LIVE.2', timestamp: onboardedAt, body: 'Is anyone there today?', name: 'Live Customer' }));
    await waitFor(() => imported().length >= 3, 120_000, 'the import under way');
    await service.kill('SIGKILL');
    await service.start();
    await waitFor(() => imported().length >= CUSTOMERS.length * CONVERSATIONS, 120_000, 'every past conversation imported');
    await waitFor(async () => await outboxSettled(service, 'zendesk'), 60_000, 'the outbox drained');

    const tickets = imported();
    expect(tickets).toHaveLength(CUSTOMERS.length * CONVERSATIONS);
    expect(new Set(tickets.map((t) => t.external_id)).size).toBe(tickets.length);
    const comments = tickets.flatMap((t) => t.comments);
    expect(comments.map((c) => c.body).sort()).toEqual(past.map((m) => m.text).sort());
    const integrationUser = 1;
    for (const ticket of tickets) {
      expect(ticket.status).toBe('solved');
      expect(ticket.tags).not.toContain('whatsapp');
      expect(ticket.comments.every((c) => c.via.channel === 'import')).toBe(true);
      const times = ticket.comments.map((c) => Date.parse(c.created_at));
      expect(times).toEqual([...times].sort((a, b) => a - b));
      expect(ticket.created_at).toBe(ticket.comments[0]!.created_at);
      expect(ticket.solved_at).toBe(ticket.comments.at(-1)!.created_at);
      // One customer per ticket: its requester.
      expect(new Set(ticket.comments.filter((c) => c.author_id !== integrationUser).map((c) => c.author_id))).toEqual(new Set([ticket.requester_id]));
    }
    for (const m of past) {
      const comment = comments.find((c) => c.body === m.text)!;
      expect(Date.parse(comment.created_at)).toBe(m.timestamp * 1000);
      expect(comment.author_id === integrationUser).toBe(m.fromBusiness);
    }
    // The import whose answer was lost was found again, not repeated.
    expect(service.output).toContain('adopted a history ticket an earlier attempt imported');
    // The live customer still got a live ticket and the only acknowledgement.
    expect(zendesk.state.tickets.filter((t) => t.external_id?.startsWith('wa-history:') !== true)).toHaveLength(1);
    expect(whatsapp.state.sent.map((s) => s.to)).toEqual(['+447700900777']);
  });
});
