// The HubSpot inbox (Custom Channels) inside the real service process, against the HubSpot and
// WhatsApp sandboxes: setup registers the channel, a customer's message lands in the inbox thread
// of their number once, and an agent's answer in that thread reaches the customer on WhatsApp
// once (its file too, and through SIGKILLs before and after WhatsApp took it), WhatsApp's
// statuses show on the agent's message; forged and stale webhook signatures are refused.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubSpotSandbox, INBOX_APP_SCOPES } from '../../sandbox/hubspot.js';
import { projectRoot } from '../helpers/fixtures.js';
import { expectNoPersonalData } from '../helpers/personal-data.js';
import { WhatsAppSandbox, WhatsAppSimulator } from '../../sandbox/whatsapp.js';
import { APP_SECRET, holdsFor, outboxOperations, serviceWith, type ServiceProcess, waitFor } from '../helpers/service-process.js';

const run = promisify(execFile);
const bin = join(projectRoot, 'bin/wa-crm-sync.js');

describe('HubSpot inbox end to end', () => {
  const hubspot = new HubSpotSandbox({ tokens: { 'pat-sandbox': [...INBOX_APP_SCOPES] } });
  const whatsapp = new WhatsAppSandbox();
  const simulator = new WhatsAppSimulator(APP_SECRET);
  let service: ServiceProcess;
  let configPath: string;
  let webhookUrl: string;
  const cli = async (...args: string[]) => (await run(process.execPath, [bin, ...args, '--config', configPath])).stdout;
  const now = () => Math.floor(Date.now() / 1000);
  const customer = { waId: '447700900777', name: 'Grace Hopper' };
  const sentTo = (waId: string) => whatsapp.state.sent.filter((s) => s.to === `+${waId}`);
  const inboxMessages = () => hubspot.inbox.state.messages;

  beforeAll(async () => {
    const hubspotUrl = await hubspot.start();
    const graphUrl = await whatsapp.start();
    const { developerApiKey, appId, clientSecret } = hubspot.inbox.credentials;
    ({ service, configPath } = await serviceWith(({ config, port }) => {
      webhookUrl = `http://127.0.0.1:${port}/webhooks/hubspot`;
      return {
        ...config,
        log: { level: 'debug' },
        whatsapp: { ...config.whatsapp, accessToken: whatsapp.accessToken, graphBaseUrl: graphUrl },
        connectors: {
          hubspot: {
            enabled: true,
            accessToken: 'pat-sandbox',
            baseUrl: hubspotUrl,
            rateLimit: { backoffBaseMs: 100, backoffMaxMs: 1000 },
            inbox: { enabled: true, appId, developerApiKey, clientSecret, webhookUrl, inboxId: '501' },
          },
        },
      };
    }));
    await service.start();
    // Every send is followed by its sent and delivered status webhooks, as Meta does.
    whatsapp.deliverStatusesTo(`${service.baseUrl}/webhooks/whatsapp`, APP_SECRET);
  });

  afterAll(async () => {
    if (process.env['DEBUG_E2E']) console.log(service.output.slice(-6000));
    await service.kill('SIGTERM');
    await hubspot.stop();
    await whatsapp.stop();
  });

  it("publishes a customer's message into the inbox thread of their number once, and setup registered the channel", { timeout: 60_000 }, async () => {
    const delivery = simulator.message(customer, { type: 'text', text: { body: 'Where is my parcel?' } }, now()).body;
    await service.deliver(delivery);
    await waitFor(() => inboxMessages().length >= 1, 20_000, 'the message in the inbox');
    // The same webhook again (Meta redelivers) adds nothing.
    await service.deliver(delivery);
    await holdsFor(() => inboxMessages().length === 1, 1500, 'no second inbox message');

    expect(hubspot.inbox.state.channels).toHaveLength(1);
    expect(hubspot.inbox.state.channels[0]).toMatchObject({ name: 'WhatsApp', webhookUrl, capabilities: { threadingModel: 'DELIVERY_IDENTIFIER' } });
    expect(hubspot.inbox.state.channelAccounts).toHaveLength(1);
    const [message] = inboxMessages();
    expect(message).toMatchObject({ direction: 'INCOMING', text: 'Where is my parcel?', senders: [{ deliveryIdentifier: { type: 'HS_PHONE_NUMBER', value: `+${customer.waId}` } }] });
    expect(hubspot.inbox.threadOf(`+${customer.waId}`)?.id).toBe(message!.conversationsThreadId);
  });

  it("publishes a customer's photo after its text, as a file uploaded to HubSpot Files, once", { timeout: 60_000 }, async () => {
    const before = inboxMessages().length;
    const photo = whatsapp.addMedia(Buffer.from('jpeg bytes of a dented box'), 'image/jpeg');
    await service.deliver(simulator.message(customer, { type: 'image', image: { id: photo.id, mime_type: 'image/jpeg', sha256: photo.sha256Base64, caption: 'the box' } }, now()).body);
    await waitFor(() => inboxMessages().some((m) => m.attachments.length === 1), 20_000, 'the photo in the inbox');
    await holdsFor(() => inboxMessages().length === before + 2, 1500, 'the text and the file, once each');
    const [text, file] = inboxMessages().slice(before);
    expect(text!.attachments).toEqual([]);
    expect(file).toMatchObject({ direction: 'INCOMING', text: 'the box', conversationsThreadId: text!.conversationsThreadId });
    expect(hubspot.state.files.map((f) => f.id)).toContain(file!.attachments[0]!.fileId);
  });

  it("sends an agent's answer in the thread to the customer on WhatsApp once, and refuses forged and stale calls", { timeout: 60_000 }, async () => {
    const thread = hubspot.inbox.threadOf(`+${customer.waId}`)!;
    const forged = await hubspot.inbox.agentReplies(thread.id, 'forged', { signWith: 'not-the-client-secret' });
    expect(forged.status).toBe(401);
    const stale = await hubspot.inbox.agentReplies(thread.id, 'stale', { timestamp: Date.now() - 6 * 60_000 });
    expect(stale.status).toBe(401);

    const { message, status } = await hubspot.inbox.agentReplies(thread.id, 'It arrives tomorrow before noon.');
    expect(status).toBe(200);
    await waitFor(() => sentTo(customer.waId).length >= 1, 20_000, "the agent's answer on WhatsApp");
    await holdsFor(() => sentTo(customer.waId).length === 1, 1500, 'no second send');
    const [sent] = sentTo(customer.waId);
    expect(JSON.stringify(sent!.body)).toContain('It arrives tomorrow before noon.');
    // WhatsApp's sent and delivered show as SENT on the agent's message, the customer's read as READ.
    await waitFor(() => message.status?.statusType === 'SENT', 20_000, 'SENT on the agent message');
    await service.deliver(simulator.status(sent!.id, customer.waId, 'read', now()));
    await waitFor(() => message.status?.statusType === 'READ', 20_000, 'READ on the agent message');
    // The reply is not published back into the thread as a second copy of the agent's message.
    await holdsFor(() => inboxMessages().filter((m) => m.direction === 'OUTGOING').length === 3, 1000, 'no echo into the inbox');
  });

  it("shows WhatsApp's failure of an agent's answer as FAILED with WhatsApp's reason", { timeout: 60_000 }, async () => {
    const thread = hubspot.inbox.threadOf(`+${customer.waId}`)!;
    const before = sentTo(customer.waId).length;
    const { message } = await hubspot.inbox.agentReplies(thread.id, 'Here is your invoice.');
    await waitFor(() => sentTo(customer.waId).length === before + 1, 20_000, "the agent's answer on WhatsApp");
    const sent = sentTo(customer.waId)[before]!;
    await service.deliver(simulator.status(sent.id, customer.waId, 'failed', now(), { code: 131026, title: 'Message undeliverable', details: 'The recipient cannot receive this message' }));
    await waitFor(() => message.status?.statusType === 'FAILED', 20_000, 'FAILED on the agent message');
    expect(message.status?.failureDetails?.errorMessage).toMatch(/^WhatsApp could not deliver this message: Message undeliverable \(WhatsApp error 131026\)/);
    // The sandbox's own sent and delivered, however late, do not take it back to SENT.
    await whatsapp.deliveriesSettled();
    await holdsFor(() => message.status?.statusType === 'FAILED', 1000, 'still FAILED');
  });

  it("sends an agent's answer with a file to the customer once: the text, then the file uploaded to WhatsApp", { timeout: 60_000 }, async () => {
    const thread = hubspot.inbox.threadOf(`+${customer.waId}`)!;
    const before = sentTo(customer.waId).length;
    const pdf = Buffer.from('%PDF-1.7 the delivery note');
    const { message } = await hubspot.inbox.agentReplies(thread.id, 'The delivery note is attached.', { file: { bytes: pdf, name: 'delivery-note.pdf' } });
    await waitFor(() => sentTo(customer.waId).length >= before + 2, 20_000, 'the text and the file on WhatsApp');
    await holdsFor(() => sentTo(customer.waId).length === before + 2, 1500, 'each once');
    const [text, file] = sentTo(customer.waId).slice(before);
    expect(text).toMatchObject({ type: 'text' });
    expect(file).toMatchObject({ type: 'document', body: { document: { filename: 'delivery-note.pdf' } } });
    const mediaId = (file!.body as { document: { id: string } }).document.id;
    expect(whatsapp.mediaBytes(mediaId)).toEqual(pdf);
    expect(hubspot.state.signedDownloads).toEqual([message.attachments[0]!.fileId]);
  });

  it("sends an answer once when the service is killed between storing the agent's webhook and sending", { timeout: 90_000 }, async () => {
    const thread = hubspot.inbox.threadOf(`+${customer.waId}`)!;
    const before = sentTo(customer.waId).length;
    const { status } = await hubspot.inbox.agentReplies(thread.id, 'One more thing: the tracking number is in your email.');
    expect(status).toBe(200);
    // Stored (200), then killed at once: reading the message and sending it happen after the restart.
    await service.kill('SIGKILL');
    await service.start();
    await waitFor(() => sentTo(customer.waId).length >= before + 1, 30_000, 'the answer after the restart');
    await holdsFor(() => sentTo(customer.waId).length === before + 1, 2000, 'no second send');
    // Setup ran again at start and found what it made: one channel, one channel account.
    expect(hubspot.inbox.state.channels).toHaveLength(1);
    expect(hubspot.inbox.state.channelAccounts).toHaveLength(1);
  });

  it("sends an answer once when the service is killed after reading the agent's message and before sending it", { timeout: 180_000 }, async () => {
    const thread = hubspot.inbox.threadOf(`+${customer.waId}`)!;
    const before = sentTo(customer.waId).length;
    // Sending paused: the answer is read and its send queued, and nothing can send it before the kill.
    await cli('pause', 'whatsapp');
    // The running service reads the pause within a second: until it has, it could still send.
    const paused = async () => ((await (await fetch(`${service.baseUrl}/readyz`)).json()) as { connectors: Array<{ connector: string; state: string }> }).connectors.some((c) => c.connector === 'whatsapp' && c.state === 'paused');
    await waitFor(paused, 30_000, 'the service to read the pause');
    let message: Awaited<ReturnType<typeof hubspot.inbox.agentReplies>>['message'];
    try {
      ({ message } = await hubspot.inbox.agentReplies(thread.id, 'Your refund is on its way.'));
      await waitFor(async () => (await outboxOperations(service, 'whatsapp', 'pending')) >= 1, 90_000, 'the send queued');
      await service.kill('SIGKILL');
      expect(sentTo(customer.waId)).toHaveLength(before);
      await service.start(60_000);
    } finally {
      // Also when the above fails: the later tests need WhatsApp sending.
      await cli('resume', 'whatsapp');
    }
    await waitFor(() => sentTo(customer.waId).length >= before + 1, 30_000, 'the answer after the restart');
    await waitFor(() => message.status?.statusType === 'SENT', 30_000, 'SENT on the agent message');
    await holdsFor(() => sentTo(customer.waId).length === before + 1, 1500, 'no second send');
  });

  it("sends an answer once when the service is killed after WhatsApp took it but before its answer came back", { timeout: 180_000 }, async () => {
    const thread = hubspot.inbox.threadOf(`+${customer.waId}`)!;
    const before = sentTo(customer.waId).length;
    whatsapp.loseSendAnswers = 1;
    const { message } = await hubspot.inbox.agentReplies(thread.id, 'Anything else I can help with?');
    await waitFor(() => sentTo(customer.waId).length === before + 1, 90_000, 'the send WhatsApp took');
    await service.kill('SIGKILL');
    await service.start(60_000);
    // The send's statuses, redelivered until the restarted service takes them, tell it the send arrived.
    await waitFor(() => message.status?.statusType === 'SENT', 60_000, 'SENT on the agent message');
    await waitFor(async () => (await outboxOperations(service, 'whatsapp', 'pending')) === 0 && (await outboxOperations(service, 'whatsapp', 'in_flight')) === 0, 90_000, 'the send settled');
    expect(sentTo(customer.waId)).toHaveLength(before + 1);
    expect(whatsapp.state.answersLost).toBe(1);
  });

  it("reports FAILED, with the reason, on an agent's answer outside the 24-hour window (no template configured), and sends nothing", { timeout: 60_000 }, async () => {
    const late = { waId: '447700900778', name: 'Ada Byron' };
    // The customer last wrote 25 hours ago.
    await service.deliver(simulator.message(late, { type: 'text', text: { body: 'Any news?' } }, now() - 25 * 3600).body);
    await waitFor(() => hubspot.inbox.threadOf(`+${late.waId}`) !== undefined, 20_000, 'the inbox thread');
    const { message, status } = await hubspot.inbox.agentReplies(hubspot.inbox.threadOf(`+${late.waId}`)!.id, 'Sorry for the wait.');
    expect(status).toBe(200);
    await waitFor(() => message.status?.statusType === 'FAILED', 20_000, 'the FAILED status on the agent message');
    expect(message.status?.failureDetails?.errorMessage).toMatch(/^Not sent to the customer on WhatsApp: .*24/);
    expect(sentTo(late.waId)).toEqual([]);
  });

  it('threads a customer who withholds their number by their BSUID, and the agent answers them on WhatsApp by it, once', { timeout: 60_000 }, async () => {
    const hidden = { waId: null, bsuid: 'GB.70412277419022635519', name: 'Hedy Lamarr' };
    await service.deliver(simulator.message(hidden, { type: 'text', text: { body: 'Can I change the address?' } }, now()).body);
    await waitFor(() => hubspot.inbox.threadOf(hidden.bsuid) !== undefined, 20_000, 'the inbox thread of the BSUID');
    const thread = hubspot.inbox.threadOf(hidden.bsuid)!;
    const published = inboxMessages().filter((m) => m.conversationsThreadId === thread.id);
    expect(published).toMatchObject([{ direction: 'INCOMING', text: 'Can I change the address?', senders: [{ deliveryIdentifier: { type: 'CHANNEL_SPECIFIC_OPAQUE_ID', value: hidden.bsuid }, name: 'Hedy Lamarr' }] }]);
    const { message } = await hubspot.inbox.agentReplies(thread.id, 'Yes, until it ships.');
    const toHidden = () => whatsapp.state.sent.filter((s) => s.to === hidden.bsuid);
    await waitFor(() => toHidden().length >= 1, 20_000, 'the answer to the BSUID');
    await holdsFor(() => toHidden().length === 1, 1500, 'no second send');
    expect(toHidden()[0]).toMatchObject({ by: 'bsuid', type: 'text' });
    await waitFor(() => message.status?.statusType === 'SENT', 20_000, 'SENT on the agent message');
  });

  it("kept customers' numbers, names, texts, agents' answers and the app's secrets out of its output", () => {
    const { developerApiKey, clientSecret } = hubspot.inbox.credentials;
    expectNoPersonalData(service.output, {
      phones: [customer.waId, '447700900778'],
      values: ['Grace Hopper', 'Ada Byron', 'Hedy Lamarr', 'GB.70412277419022635519', 'Can I change the address?', 'Yes, until it ships.', 'Where is my parcel?', 'the box', 'It arrives tomorrow before noon.', 'Here is your invoice.', 'The delivery note is attached.', 'delivery-note', 'Your refund is on its way.', 'Anything else I can help with?', 'Sorry for the wait.', 'tracking number', developerApiKey, clientSecret, whatsapp.accessToken],
    });
  });
});
