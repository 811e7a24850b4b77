// `wa-crm-sync demo`: the whole flow on one machine with no accounts. Local sandboxes stand in
// for the WhatsApp Cloud API, HubSpot, Salesforce and Zendesk; the real service (on SQLite)
// takes signed webhooks from simulated customers and syncs them; sandbox agents answer in
// Zendesk and the replies reach the customers on WhatsApp; one customer's past chats in the
// WhatsApp Business app arrive as a coexistence onboarding; a summary shows what each holds.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { SyncError } from '../core/errors.js';
import { createLogger } from '../core/logger.js';
import { maskIdentifier } from '../core/model/identity.js';
import { outboxDepth } from '../core/outbox/queries.js';
import { HubSpotSandbox, INBOX_APP_SCOPES } from '../sandbox/hubspot.js';
import { SalesforceSandbox } from '../sandbox/salesforce.js';
import { WhatsAppSandbox, WhatsAppSimulator, type PastMessage, type SimulatedCustomer } from '../sandbox/whatsapp.js';
import { SANDBOX_AGENT_ID, ZendeskSandbox } from '../sandbox/zendesk.js';
import { Service } from './service.js';

/** The demo was asked for something it cannot do; the message says what to change. */
export class DemoError extends SyncError {
  override readonly name = 'DemoError';
}

export interface DemoOptions {
  readonly customers: number;
  readonly messagesPerCustomer: number;
  readonly dataDir: string;
  readonly print: (line: string) => void;
}

export interface DemoSummary {
  readonly delivered: number;
  readonly hubspot: { contacts: number; communications: number; tasks: number };
  readonly salesforce: { leads: number; tasks: number; files: number };
  readonly zendesk: { users: number; tickets: number; comments: number };
  /** Agent replies (text and files) the customers received on WhatsApp, and ticket acknowledgements. */
  readonly repliesDelivered: number;
  readonly acknowledgements: number;
  readonly mediaFetched: number;
  readonly dead: number;
  /** The coexistence onboarding: one customer's past chats, and what each CRM shows of them. */
  readonly history: { messages: number; hubspotLogged: number; hubspotAtOriginalTime: number; salesforceTasks: number; zendeskSolvedTickets: number };
  /** The HubSpot inbox: its threads, and whether a HubSpot agent's answer reached the customer (and its status there). */
  readonly inbox: { threads: number; answerDelivered: boolean; answerStatus: string | null };
}

/**
 * An agent answers in the customer's inbox thread (the sandbox signs HubSpot's webhook to the
 * service); resolves once WhatsApp took the answer, or after 60 s without it.
 */
async function answerFromHubSpotInbox(hubspot: HubSpotSandbox, whatsapp: WhatsAppSandbox, customer: SimulatedCustomer & { waId: string }, print: (line: string) => void): Promise<{ delivered: boolean; status: () => string | null }> {
  const thread = hubspot.inbox.threadOf(`+${customer.waId}`);
  if (!thread) {
    print(`HubSpot inbox: no thread for ${customer.name}; no agent answer`);
    return { delivered: false, status: () => null };
  }
  const text = `Hi ${customer.name.split(' ')[0]}, this is Sam from the HubSpot inbox: your order ships today.`;
  const { message } = await hubspot.inbox.agentReplies(thread.id, text);
  print(`a HubSpot agent answered ${customer.name} in the inbox`);
  const deadline = Date.now() + 60_000;
  const reached = () => whatsapp.state.sent.some((m) => JSON.stringify(m.body).includes(text));
  while (!reached() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  // Its sent and delivered statuses are on their way to the service: the drain after this waits for what they queue.
  await whatsapp.deliveriesSettled();
  return { delivered: reached(), status: () => message.status?.statusType ?? null };
}

/** A free loopback port: Zendesk must know the service's URL before it starts (setup registers the webhook). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const FIRST_NAMES = ['Sheena', 'Lucía', 'Kwame', 'Mei', 'Arjun', 'Olga', 'Tomás', 'Amara', 'Yuki', 'Farid', 'Ingrid', 'Chidi'];
const LAST_NAMES = ['Nelson', 'Gómez', 'Mensah', 'Chen', 'Patel', 'Ivanova', 'Silva', 'Okafor', 'Tanaka', 'Haddad', 'Berg', 'Eze'];
// A tiny valid JPEG header is enough for a demo attachment.
const PHOTO = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(2048), Buffer.from([0xff, 0xd9])]);

/** The message mix a customer sends, in order: one of each common type. */
function contentFor(step: number, sandbox: WhatsAppSandbox): Record<string, unknown> {
  switch (step % 6) {
    case 0:
      return { type: 'text', text: { body: 'Hi! Is the blue jacket still available in M?' } };
    case 1: {
      const media = sandbox.addMedia(PHOTO, 'image/jpeg');
      return { type: 'image', image: { id: media.id, mime_type: 'image/jpeg', sha256: media.sha256Base64, caption: 'This one' } };
    }
    case 2:
      return { type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: 'yes', title: 'Yes, reserve it' } } };
    case 3:
      return { type: 'location', location: { latitude: 51.5072, longitude: -0.1276, name: 'Covent Garden store', address: 'London WC2' } };
    case 4:
      return { type: 'text', text: { body: 'Can you deliver on Saturday?' } };
    default:
      return { type: 'reaction', reaction: { message_id: 'wamid.previous', emoji: '👍' } };
  }
}

/**
 * The first customer's past in the WhatsApp Business app (two conversations weeks ago, both
 * sides), which a coexistence onboarding shares: `whatsapp.prepareOnboarding` plays it when the
 * history is requested.
 */
function pastChatsOf(waId: string, now: number): PastMessage[] {
  const day = 86_400;
  const lines: Array<[number, boolean, string]> = [
    [45 * day, false, 'Do you have the green parka in stock?'],
    [45 * day - 240, true, 'Yes, in M and L. Shall we keep one for you?'],
    [45 * day - 600, false, 'Please, an M. I will come by on Friday.'],
    [12 * day, false, 'The zip on my parka broke.'],
    [12 * day - 300, true, 'Sorry about that! Bring it in and we repair it for free.'],
    [12 * day - 900, false, 'Thanks, I will drop it off tomorrow.'],
  ];
  return lines.map(([ago, fromBusiness, text], i) => ({ id: `wamid.DEMO.PAST.${i + 1}`, customer: waId, fromBusiness, timestamp: now - ago, text }));
}

/** Written into the demo's folder: only a folder holding it is ever emptied by a later run. */
export const DEMO_MARKER = '.wa-crm-sync-demo';

/** The demo's option bounds: a customer needs a message to exist; more would only take long on a small machine. */
export const DEMO_LIMITS = { customers: { min: 1, max: 1000 }, messagesPerCustomer: { min: 1, max: 100 } } as const;

/**
 * Makes `dataDir` an empty folder for the demo. A folder that a previous demo made (it holds the
 * marker) is emptied; any other folder with something in it is left alone and refused, since
 * --data-dir pointed at the wrong place must not cost someone their files.
 */
export function prepareDemoDir(dataDir: string): void {
  if (existsSync(dataDir)) {
    if (!statSync(dataDir).isDirectory()) throw new DemoError(`--data-dir ${dataDir} is a file, not a folder; choose a new folder`);
    const entries = readdirSync(dataDir);
    if (entries.length > 0 && !entries.includes(DEMO_MARKER)) {
      throw new DemoError(`--data-dir ${dataDir} already holds files the demo did not make; it is left untouched. Choose a new or empty folder`);
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(join(dataDir, DEMO_MARKER), 'made by wa-crm-sync demo: the next demo run empties this folder\n');
}

export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const { print } = options;
  for (const key of ['customers', 'messagesPerCustomer'] as const) {
    const { min, max } = DEMO_LIMITS[key];
    if (!Number.isInteger(options[key]) || options[key] < min || options[key] > max) throw new DemoError(`${key} must be a whole number from ${min} to ${max}, got ${options[key]}`);
  }
  const dataDir = resolve(options.dataDir);
  prepareDemoDir(dataDir);

  const whatsapp = new WhatsAppSandbox();
  // Every sandbox as its vendor documents itself (their defaults): HubSpot keeps no unique values
  // on communications and has no attachments on them, its search lags writes by a moment, and its
  // daily limit runs by the account's days (US/Eastern); Salesforce's Standard Lead Duplicate Rule
  // alerts; Zendesk processes comment bodies, runs bulk jobs later and indexes users late.
  // The app's token carries the Custom Channels scopes too: the inbox is on (HubSpot's guide lists them).
  const hubspot = new HubSpotSandbox({ searchIndexDelayMs: 500, communicationUniqueValues: 'ignored', communicationAttachments: false, timeZone: 'US/Eastern', dailyLimit: 250_000, tokens: { 'pat-sandbox': [...INBOX_APP_SCOPES] } });
  const salesforce = new SalesforceSandbox({ leadDuplicateRule: 'alert' });
  const zendesk = new ZendeskSandbox();
  const [graphBaseUrl, hubspotUrl, salesforceUrl, zendeskUrl] = await Promise.all([whatsapp.start(), hubspot.start(), salesforce.start(), zendesk.start()]);
  print(`sandboxes: WhatsApp Cloud API ${graphBaseUrl}, HubSpot ${hubspotUrl}, Salesforce ${salesforceUrl}, Zendesk ${zendeskUrl}`);

  const customers: SimulatedCustomer[] = Array.from({ length: options.customers }, (_, i) => {
    const name = `${FIRST_NAMES[i % FIRST_NAMES.length]} ${LAST_NAMES[(i * 5) % LAST_NAMES.length]}`;
    const bsuid = `GB.804122774190${String(10_000 + i)}`;
    // The second customer uses a WhatsApp username and withholds the number: only the BSUID names them.
    if (i === 1) return { waId: null, bsuid, username: name.toLowerCase().replace(' ', '.'), name };
    return { waId: `4477009${String(100_000 + i).slice(1)}`, bsuid, name };
  });
  /** Our key for a customer in every CRM: the first BSUID WhatsApp gave (it comes with every webhook since April 2026). */
  const crmKeyOf = (customer: SimulatedCustomer) => customer.bsuid!;
  // The first customer is already in both CRMs, typed the way a rep would: the sync adopts them.
  const known = customers[0]! as SimulatedCustomer & { waId: string };
  hubspot.state.objects['contacts'] = [
    { id: '1', properties: { firstname: known.name.split(' ')[0]!, lastname: `${known.name.split(' ')[1]} (VIP)`, phone: `+44 7700 9${known.waId.slice(7, 9)} ${known.waId.slice(9)}` }, createdAt: new Date().toISOString(), updatedAt: new Date().toISOString() },
  ];
  salesforce.state.records['Lead']!.push({ Id: '00Q000000000000999', FirstName: known.name.split(' ')[0]!, LastName: known.name.split(' ')[1]!, Company: 'Existing customer', Phone: `0${known.waId.slice(2, 6)} ${known.waId.slice(6)}` });

  const appSecret = randomBytes(24).toString('hex');
  const configPath = join(dataDir, 'demo.yaml');
  const port = await freePort();
  writeFileSync(
    configPath,
    stringify({
      server: { port, host: '127.0.0.1' },
      store: { url: `sqlite:${join(dataDir, 'demo.sqlite')}` },
      log: { level: 'info' },
      whatsapp: { appSecret, verifyToken: randomBytes(8).toString('hex'), accessToken: whatsapp.accessToken, graphBaseUrl, media: { dir: join(dataDir, 'media') }, lostAnswerWaitSeconds: 5 },
      outbox: { pollIntervalMs: 100 },
      // The sandboxes run in this process: a write whose answer our timeout cut (a busy machine)
      // lands within moments, so the demo waits 5 s before looking for it, not production's
      // 1 to 10 minutes (a demo that stalled for them looked dead).
      connectors: {
        // The HubSpot inbox beside the timeline: customers' messages in the inbox, agents answer there.
        hubspot: {
          enabled: true,
          accessToken: 'pat-sandbox',
          baseUrl: hubspotUrl,
          threadActivity: 'task',
          searchIndexWaitSeconds: 2,
          lostAnswerWaitSeconds: 5,
          inbox: { enabled: true, ...hubspot.inbox.credentials, webhookUrl: `http://127.0.0.1:${port}/webhooks/hubspot`, inboxId: hubspot.inbox.state.inboxes[0]!.id },
        },
        salesforce: { enabled: true, instanceUrl: salesforceUrl, clientCredentials: { clientId: 'sandbox-client', clientSecret: 'sandbox-secret' }, mediaFiles: true, lostAnswerWaitSeconds: 5 },
        // The past becomes solved tickets; its chunks arrive within a second here, so a short wait gathers each conversation.
        zendesk: { enabled: true, baseUrl: zendeskUrl, ...zendesk.credentials, publicUrl: `http://127.0.0.1:${port}`, autoAcknowledge: { enabled: true }, history: 'solved-tickets', historySettleMs: 3000, lostAnswerWaitSeconds: 5 },
      },
    }),
  );
  const logPath = join(dataDir, 'service.log');
  const log = createLogger({ level: 'info', destination: pino.destination({ dest: logPath, sync: false }) });
  const service = await Service.start({ configPath, watchConfig: false, log, port });
  print(`service: http://127.0.0.1:${service.port} on SQLite (${join(dataDir, 'demo.sqlite')}), log in ${logPath}`);

  const simulator = new WhatsAppSimulator(appSecret);
  const webhookUrl = `http://127.0.0.1:${service.port}/webhooks/whatsapp`;
  const send = async (body: string) => {
    for (;;) {
      const res = await fetch(webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': simulator.sign(body) }, body });
      if (res.ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const start = Math.floor(Date.now() / 1000) - 3600;
  let delivered = 0;
  for (let step = 0; step < options.messagesPerCustomer; step++) {
    await Promise.all(
      customers.map(async (customer, c) => {
        await send(simulator.message(customer, contentFor(step + c, whatsapp), start + step * 30).body);
        delivered++;
      }),
    );
  }
  // A burst: one customer sends a flurry of messages at once.
  const burst = customers[customers.length - 1]!;
  await Promise.all(Array.from({ length: 20 }, (_, i) => send(simulator.message(burst, { type: 'text', text: { body: `burst message ${i + 1}` } }, start + 3000 + i).body)));
  delivered += 20;
  print(`ingested: ${delivered} webhook deliveries from ${customers.length} customers (text, image, button reply, location, reaction, and a burst of 20; one uses a WhatsApp username and withholds the number)`);

  let depth = await waitForDrain(service, print);

  // Coexistence onboarding: the first customer also wrote to the business's WhatsApp Business
  // app before, and the app shares those chats (in shuffled chunks) when the history is asked
  // for, as `wa-crm-sync history request` does.
  const past = pastChatsOf(known.waId, Math.floor(Date.now() / 1000));
  whatsapp.deliverStatusesTo(webhookUrl, appSecret);
  whatsapp.prepareOnboarding({ business: { phoneNumberId: simulator.phoneNumberId, displayNumber: simulator.displayNumber }, history: past, contacts: [], chunkSize: 2 });
  const requested = await fetch(`${graphBaseUrl}/${simulator.phoneNumberId}/smb_app_data`, {
    method: 'POST',
    headers: { authorization: `Bearer ${whatsapp.accessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ messaging_product: 'whatsapp', sync_type: 'history' }),
  });
  if (!requested.ok) throw new DemoError(`the WhatsApp sandbox refused the history request: HTTP ${requested.status}`);
  await whatsapp.deliveriesSettled();
  print(`coexistence onboarding: WhatsApp shared ${past.length} past messages of ${known.name} from the WhatsApp Business app, in shuffled chunks`);
  depth = await waitForDrain(service, print);

  // Agents answer the first customers in Zendesk; one sends a file. The trigger calls the service.
  const answered = customers.slice(0, Math.min(3, customers.length));
  for (const [i, customer] of answered.entries()) {
    const user = zendesk.state.users.find((u) => u.external_id === crmKeyOf(customer));
    const ticket = zendesk.state.tickets.find((t) => t.requester_id === user?.id);
    if (!ticket) continue;
    const files = i === 0 ? [{ name: 'size-guide.pdf', type: 'application/pdf', data: Buffer.from('%PDF-1.7 size guide') }] : [];
    await zendesk.agentReply(ticket.id, `Hi ${customer.name.split(' ')[0]}, yes: it is reserved for you until Saturday.${files.length ? ' The size guide is attached.' : ''}`, files);
  }
  print(`agents replied in Zendesk to ${answered.length} tickets`);
  depth = await waitForDrain(service, print);

  // A HubSpot agent answers the first customer in the inbox thread their messages were published to.
  const inboxAnswer = await answerFromHubSpotInbox(hubspot, whatsapp, known, print);
  depth = await waitForDrain(service, print);
  await service.stop();
  await Promise.all([whatsapp.stop(), hubspot.stop(), salesforce.stop(), zendesk.stop()]);

  const dead = depth.filter((d) => d.state === 'dead').reduce((n, d) => n + d.count, 0);
  const acknowledgements = whatsapp.state.sent.filter((m) => JSON.stringify(m.body).includes('Your ticket number is')).length;
  const summary: DemoSummary = {
    delivered,
    hubspot: {
      contacts: hubspot.state.objects['contacts']?.length ?? 0,
      communications: hubspot.state.objects['communications']?.length ?? 0,
      tasks: hubspot.state.objects['tasks']?.length ?? 0,
    },
    salesforce: { leads: salesforce.state.records['Lead']!.length, tasks: salesforce.state.records['Task']!.length, files: salesforce.state.records['ContentVersion']!.length },
    zendesk: { users: zendesk.state.users.length, tickets: zendesk.state.tickets.length, comments: zendesk.state.tickets.reduce((n, t) => n + t.comments.length, 0) },
    repliesDelivered: whatsapp.state.sent.length - acknowledgements,
    acknowledgements,
    mediaFetched: Object.keys(whatsapp.state.media).length,
    dead,
    history: historySummary(past, hubspot, salesforce, zendesk),
    inbox: { threads: hubspot.inbox.state.threads.length, answerDelivered: inboxAnswer.delivered, answerStatus: inboxAnswer.status() },
  };

  print('');
  print('HubSpot contacts (communications on each timeline):');
  for (const contact of hubspot.state.objects['contacts'] ?? []) {
    const count = hubspot.state.associations.filter((a) => a.from === 'communications' && a.toId === contact.id).length;
    const name = `${contact.properties['firstname'] ?? ''} ${contact.properties['lastname'] ?? ''}`.trim();
    const withheld = contact.properties['phone'] ? '' : `  (${contact.properties['whatsapp_username'] ?? 'username user'}, number withheld)`;
    print(`  ${name.padEnd(28)} ${maskIdentifier(String(contact.properties['whatsapp_id'] ?? '')).padEnd(24)} ${String(count).padStart(3)} messages${contact.id === '1' ? '  (existing contact, adopted)' : withheld}`);
  }
  print('Salesforce Leads (Task per conversation):');
  for (const lead of salesforce.state.records['Lead']!) {
    const task = salesforce.state.records['Task']!.find((t) => t['WhoId'] === lead.Id);
    const lines = task ? String(task['Description']).split('\n').length : 0;
    print(`  ${`${lead['FirstName'] ?? ''} ${lead['LastName'] ?? ''}`.trim().padEnd(28)} ${maskIdentifier(String(lead['WhatsApp_Id__c'] ?? '')).padEnd(24)} ${String(lines).padStart(3)} transcript lines${lead.Id === '00Q000000000000999' ? '  (existing Lead, adopted)' : ''}`);
  }
  print('Zendesk tickets (customer comments, agent replies sent to WhatsApp):');
  for (const ticket of zendesk.state.tickets) {
    const user = zendesk.state.users.find((u) => u.id === ticket.requester_id);
    const fromCustomer = ticket.comments.filter((c) => c.author_id === ticket.requester_id).length;
    const replies = ticket.comments.filter((c) => c.author_id === SANDBOX_AGENT_ID).length;
    print(`  #${String(ticket.id).padEnd(6)} ${String(user?.name ?? '').padEnd(30)} ${maskIdentifier(String(user?.external_id ?? '')).padEnd(24)} ${String(fromCustomer).padStart(3)} comments, ${replies} agent repl${replies === 1 ? 'y' : 'ies'}, ${ticket.status}${ticket.external_id?.startsWith('wa-history:') ? '  (past conversation, imported)' : ''}`);
  }
  print(`HubSpot inbox: ${summary.inbox.threads} threads; a HubSpot agent's answer ${summary.inbox.answerDelivered ? 'reached the customer on WhatsApp' : 'did NOT reach the customer'} (status on the agent's message: ${summary.inbox.answerStatus ?? 'none'})`);
  print(`The past of ${known.name} (WhatsApp Business app chats, at their original times):`);
  for (const m of past) {
    const logged = (hubspot.state.objects['communications'] ?? []).find((c) => c.properties['whatsapp_message_id'] === m.id);
    const at = logged ? new Date(String(logged.properties['hs_timestamp'])).toISOString().slice(0, 16).replace('T', ' ') : 'not in HubSpot';
    print(`  ${at} UTC  ${m.fromBusiness ? 'business' : 'customer'}: ${m.text}`);
  }
  print(`  HubSpot ${summary.history.hubspotLogged} of ${summary.history.messages} logged (${summary.history.hubspotAtOriginalTime} at their original time); Salesforce ${summary.history.salesforceTasks} past conversation Tasks; Zendesk ${summary.history.zendeskSolvedTickets} solved tickets imported`);
  print('');
  print(
    `summary: ${summary.delivered} messages ingested; HubSpot ${summary.hubspot.contacts} contacts, ${summary.hubspot.communications} communications, ${summary.hubspot.tasks} tasks; Salesforce ${summary.salesforce.leads} Leads, ${summary.salesforce.tasks} Tasks, ${summary.salesforce.files} files; Zendesk ${summary.zendesk.tickets} tickets; ${summary.repliesDelivered} agent replies and ${summary.acknowledgements} ticket acknowledgements delivered on WhatsApp; dead operations: ${summary.dead}`,
  );
  print(`the store stays in ${dataDir} (wa-crm-sync status --config ${configPath})`);
  return summary;
}

/** What the CRMs hold of the past: HubSpot communications (at the original time), Salesforce Tasks, Zendesk solved tickets. */
function historySummary(past: readonly PastMessage[], hubspot: HubSpotSandbox, salesforce: SalesforceSandbox, zendesk: ZendeskSandbox): DemoSummary['history'] {
  const communications = (hubspot.state.objects['communications'] ?? []).filter((c) => past.some((m) => m.id === c.properties['whatsapp_message_id']));
  const atOriginalTime = communications.filter((c) => past.some((m) => m.id === c.properties['whatsapp_message_id'] && Date.parse(String(c.properties['hs_timestamp'])) === m.timestamp * 1000));
  const tasks = salesforce.state.records['Task']!.filter((t) => past.some((m) => m.text && String(t['Description'] ?? '').includes(m.text)));
  const solved = zendesk.state.tickets.filter((t) => t.external_id?.startsWith('wa-history:') && t.status === 'solved');
  return { messages: past.length, hubspotLogged: communications.length, hubspotAtOriginalTime: atOriginalTime.length, salesforceTasks: tasks.length, zendeskSolvedTickets: solved.length };
}

/** Prints progress until every operation and delivery is settled (3 minutes at most); returns the outbox depth. */
async function waitForDrain(service: Service, print: (line: string) => void): Promise<Awaited<ReturnType<typeof outboxDepth>>> {
  const deadline = Date.now() + 180_000;
  let depth = await outboxDepth(service.store.db);
  for (;;) {
    depth = await outboxDepth(service.store.db);
    const open = depth.filter((d) => d.state === 'pending' || d.state === 'in_flight').reduce((n, d) => n + d.count, 0);
    const pending = await service.store.db.selectFrom('webhook_deliveries').select((eb) => eb.fn.countAll<number>().as('n')).where('state', '=', 'pending').executeTakeFirstOrThrow();
    // Acknowledged webhooks processing has not yet imported from the intake are waiting too.
    const waiting = Number(pending.n) + service.inbox.waiting();
    const done = depth.filter((d) => d.state === 'done').map((d) => `${d.connector} ${d.count}`).join(', ');
    print(`  syncing: ${open} operations open, ${waiting} deliveries waiting; done: ${done || 'none yet'}`);
    if (open === 0 && waiting === 0) break;
    if (Date.now() > deadline) {
      print('  stopped waiting after 3 minutes; see `wa-crm-sync status` with the demo config');
      break;
    }
    await new Promise((r) => setTimeout(r, 1500));
  }
  return depth;
}
