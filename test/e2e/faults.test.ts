// Random faults through the real service process: the HubSpot, Zendesk and Salesforce sandboxes
// fail a share of requests before or after doing the work (5xx, resets, answers lost or too
// late; Salesforce also expires its sessions), and so does WhatsApp, whose status webhooks echo
// each send's callback data. Every message still lands exactly once, and every agent reply
// reaches its customer exactly once, lost answers included. Every sandbox behaves as its vendor
// documents itself, all at once: HubSpot's search lags writes, its batch results come in no
// order, communications keep no unique values (messages are created and found again by search)
// and the daily limit runs by the account's days; Zendesk processes comment bodies, answers jobs
// by position, forgets Idempotency-Keys after 2 hours (an outage longer than that comes mid-run)
// and indexes users late; Salesforce keeps its Standard Lead Duplicate Rule on. All three carry
// out some requests after their connection dropped (`lands-late`). The test counts
// dead operations (from the store) and doubled records (from the sandboxes) and prints them.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubSpotSandbox } from '../../sandbox/hubspot.js';
import { SalesforceSandbox } from '../../sandbox/salesforce.js';
import { WhatsAppSandbox, WhatsAppSimulator } from '../../sandbox/whatsapp.js';
import { ZendeskSandbox } from '../../sandbox/zendesk.js';
import { openStore } from '../../core/store/store.js';
import { projectRoot } from '../helpers/fixtures.js';
import { APP_SECRET, holdsFor, outboxSettled, serviceWith, type ServiceProcess, waitFor } from '../helpers/service-process.js';

/** FAULT_SEED=n runs the same faults with other seeds (each sandbox's seed is offset by it). */
const seedOffset = Number(process.env['FAULT_SEED'] ?? 0);

describe('random faults end to end', () => {
  // HubSpot as documented: search lags writes, batch results out of input order, search bodies of 3,000 characters at most.
  // Communications without unique values, an account far from UTC with its daily limit.
  const hubspot = new HubSpotSandbox({
    requests: 1000,
    intervalMs: 10_000,
    searchPerSecond: 20,
    searchIndexDelayMs: 300,
    shuffleBatchResults: true,
    communicationUniqueValues: 'ignored',
    timeZone: 'Pacific/Kiritimati',
    dailyLimit: 250_000,
  });
  // Processed bodies, jobs answered by position after a while, users in search only after 1.5 s.
  const zendesk = new ZendeskSandbox({ requestsPerMinute: 2500, searchIndexDelayMs: 1500, jobQueuedMs: 150, jobWorkingMs: 300 });
  const whatsapp = new WhatsAppSandbox();
  // Salesforce with its Standard Lead Duplicate Rule at the default (Allow, with an alert).
  const salesforce = new SalesforceSandbox({ leadDuplicateRule: 'alert' });
  const simulator = new WhatsAppSimulator(APP_SECRET);
  let service: ServiceProcess;
  let configPath: string;
  let storeUrl: string;
  const customers = Array.from({ length: 8 }, (_, i) => ({ waId: `44770090060${i}`, name: `Customer ${i}` }));
  const retryFast = { backoffBaseMs: 50, backoffMaxMs: 400, maxAttempts: 60 };

  beforeAll(async () => {
    const [hubspotUrl, zendeskUrl, graphUrl, salesforceUrl] = await Promise.all([hubspot.start(), zendesk.start(), whatsapp.start(), salesforce.start()]);
    ({ service, configPath } = await serviceWith(({ config, port }) => (storeUrl = (config['store'] as { url: string }).url, {
      ...config,
      // A send whose answer was lost waits for its status webhooks before going out again; the
      // sandbox delivers them within milliseconds, so 5 s is plenty, and a send that never left
      // (a reset before it was handled) goes again inside the test's waits (the default 60 s does not).
      whatsapp: { ...config.whatsapp, accessToken: whatsapp.accessToken, graphBaseUrl: graphUrl, lostAnswerWaitSeconds: 5, rateLimit: retryFast },
      connectors: {
        // A write whose answer was lost may land up to 1 s later (lateMs below): waited out for 2 s, and a create is then
        // searched for 1 s more (the index lags 0.3 s).
        hubspot: { enabled: true, accessToken: 'pat-sandbox', baseUrl: hubspotUrl, timeoutMs: 1000, searchRequestsPerSecond: 20, lostAnswerWaitSeconds: 2, searchIndexWaitSeconds: 1, rateLimit: { ...retryFast, requests: 1000, intervalMs: 10_000 } },
        // A write whose answer was lost may land up to 1.5 s later (lateMs below): waited out for 3 s.
        salesforce: { enabled: true, instanceUrl: salesforceUrl, clientCredentials: { clientId: 'sandbox-client', clientSecret: 'sandbox-secret' }, mediaFiles: true, timeoutMs: 1000, lostAnswerWaitSeconds: 3, rateLimit: retryFast },
        // A write whose answer was lost may land up to 1.5 s later (lateMs below): waited out for 3 s before it is looked for.
        zendesk: { enabled: true, baseUrl: zendeskUrl, ...zendesk.credentials, publicUrl: `http://127.0.0.1:${port}`, timeoutMs: 1000, lostAnswerWaitSeconds: 3, autoAcknowledge: { enabled: true }, rateLimit: { ...retryFast, requests: 2500 } },
      },
    })));
    await service.start();
    // Setup ran at start without faults; from now on a fifth of requests fail.
    await waitFor(() => zendesk.state.triggers.length === 1, 10_000, 'the Zendesk trigger');
    const everything = { rate: 0.2, kinds: ['server-error', 'reset-before', 'reset-after', 'slow'] as const, slowMs: 1500 };
    // Each vendor also carries out some requests after their connection dropped: a retry looking at once finds nothing.
    hubspot.chaos.set({ ...everything, kinds: [...everything.kinds, 'lands-late'], lateMs: 1000, seed: 3 + seedOffset });
    // Zendesk's writes are where a lost answer could write twice: fail a third of them.
    zendesk.chaos.set({ ...everything, rate: 0.35, kinds: [...everything.kinds, 'lands-late'], lateMs: 1500, methods: ['POST', 'PUT'], seed: 5 + seedOffset });
    // Salesforce: the same, and sessions that expire at random (the connector must sign in again).
    salesforce.chaos.set({ ...everything, rate: 0.3, kinds: [...everything.kinds, 'token-expired', 'lands-late'], lateMs: 1500, seed: 7 + seedOffset });
    // WhatsApp, like Meta, reports each send's statuses with its callback data: a send whose
    // answer is lost (or late) is recognised by them instead of going out again.
    whatsapp.deliverStatusesTo(`${service.baseUrl}/webhooks/whatsapp`, APP_SECRET);
    whatsapp.chaos.set({ ...everything, seed: 11 + seedOffset });
  });

  afterAll(async () => {
    if (process.env['DEBUG_E2E']) {
      for (const t of zendesk.state.tickets) console.log(JSON.stringify({ id: t.id, requester: t.requester_id, comments: t.comments.map((c) => c.body.replace(/\n/g, ' | ')) }));
      console.log(JSON.stringify({ comms: hubspot.state.objects['communications']?.length, sent: whatsapp.state.sent.length, tickets: zendesk.state.tickets.length, dealt: [hubspot.chaos.dealt, zendesk.chaos.dealt, whatsapp.chaos.dealt, salesforce.chaos.dealt], salesforceTokens: salesforce.state.tokensIssued }));
      console.log(JSON.stringify({ salesforceFiles: salesforce.state.records['ContentVersion']!.map((f) => ({ id: f.Id, title: f['Title'], task: f['FirstPublishLocationId'] })) }));
      console.log(service.output.split('\n').filter((l) => !l.includes('"level":30')).slice(-40).join('\n'));
    }
    await service.kill('SIGTERM');
    await Promise.all([hubspot.stop(), zendesk.stop(), whatsapp.stop(), salesforce.stop()]);
  });

  it('loses and duplicates nothing', { timeout: 120_000 }, async () => {
    const now = Math.floor(Date.now() / 1000);
    const ids: string[] = [];
    for (let m = 0; m < 5; m++) {
      for (const [c, customer] of customers.entries()) {
        const content = m === 2 ? (() => {
          const photo = whatsapp.addMedia(Buffer.from(`photo ${c}`), 'image/jpeg');
          return { type: 'image', image: { id: photo.id, mime_type: 'image/jpeg', sha256: photo.sha256Base64, caption: `photo c${c}` } };
        })() : { type: 'text', text: { body: `message c${c} m${m}` } };
        const { body, messageId } = simulator.message(customer, content, now - 60 + m);
        ids.push(messageId);
        await service.deliver(body);
      }
      // Each round reaches the tickets as its own update, so there are many writes to fail.
      await new Promise((r) => setTimeout(r, 400));
      if (m === 1) {
        // Zendesk goes down for longer than it keeps Idempotency-Keys: creations whose answers
        // were lost before the outage are retried after their keys are forgotten.
        zendesk.injectFault(503, 60);
        zendesk.advanceClock(2 * 3_600_000 + 60_000);
      }
      // Salesforce ends every session once mid-run, whatever the seed deals (token-expired is one
      // kind in six of three in ten requests: some seeds never deal it), so renewals always happen
      // while writes are in flight.
      if (m === 3) salesforce.expireSessions();
    }
    const ticketsOf = (waId: string) => {
      const users = zendesk.state.users.filter((u) => u.external_id === `+${waId}`);
      return zendesk.state.tickets.filter((t) => users.some((u) => u.id === t.requester_id));
    };
    const textOf = (waId: string) => ticketsOf(waId).flatMap((t) => t.comments.map((c) => c.body)).join('\n');
    await waitFor(
      () => customers.every((customer, c) => [0, 1, 3, 4].every((m) => textOf(customer.waId).includes(`message c${c} m${m}`)) && textOf(customer.waId).includes(`photo c${c} (attached:`)),
      90_000,
      'every message on its ticket',
    );
    await waitFor(() => (hubspot.state.objects['communications']?.length ?? 0) >= ids.length + customers.length, 60_000, 'every message and acknowledgement in HubSpot');

    for (const [c, customer] of customers.entries()) {
      expect(zendesk.state.users.filter((u) => u.external_id === `+${customer.waId}`)).toHaveLength(1);
      expect(ticketsOf(customer.waId)).toHaveLength(1);
      const text = textOf(customer.waId);
      for (const m of [0, 1, 3, 4]) expect(text.split(`message c${c} m${m}`).length - 1).toBe(1);
      expect(text.split(`photo c${c} (attached:`).length - 1).toBe(1);
    }
    const logged = hubspot.state.objects['communications']!.map((r) => r.properties['whatsapp_message_id']!);
    expect(new Set(logged).size).toBe(logged.length);
    expect(ids.every((id) => logged.includes(id))).toBe(true);

    // Salesforce: one Lead and one Task per customer, each message once in the Task, one file per photo.
    const leadOf = (waId: string) => salesforce.state.records['Lead']!.filter((l) => l['WhatsApp_Id__c'] === `+${waId}`);
    const taskOf = (waId: string) => salesforce.state.records['Task']!.filter((t) => leadOf(waId).some((l) => l.Id === t['WhoId']));
    await waitFor(
      () => customers.every((customer, c) => taskOf(customer.waId).length > 0 && [0, 1, 3, 4].every((m) => String(taskOf(customer.waId)[0]!['Description']).includes(`message c${c} m${m}`))),
      60_000,
      'every message on its Salesforce Task',
    );
    await waitFor(() => salesforce.state.records['ContentVersion']!.length >= customers.length, 60_000, 'every photo as a Salesforce file');
    for (const [c, customer] of customers.entries()) {
      expect(leadOf(customer.waId)).toHaveLength(1);
      expect(taskOf(customer.waId)).toHaveLength(1);
      const description = String(taskOf(customer.waId)[0]!['Description']);
      for (const m of [0, 1, 3, 4]) expect(description.split(`message c${c} m${m}`).length - 1).toBe(1);
      expect(salesforce.state.records['ContentVersion']!.filter((f) => f['FirstPublishLocationId'] === taskOf(customer.waId)[0]!.Id)).toHaveLength(1);
    }

    // Agents answer every ticket, faults still on, and the first three sends lose their answer for sure.
    whatsapp.loseSendAnswers = 3;
    for (const customer of customers) await zendesk.agentReply(ticketsOf(customer.waId)[0]!.id, `Reply for ${customer.name}`);
    const sends = (waId: string, text: string) => whatsapp.state.sent.filter((s) => s.to === `+${waId}` && JSON.stringify(s.body).includes(text)).length;
    await waitFor(() => customers.every((customer) => sends(customer.waId, `Reply for ${customer.name}`) >= 1), 60_000, 'every reply sent');
    // A second send would come from a retry still queued: wait until WhatsApp's queue is empty, then a quiet period.
    await waitFor(() => outboxSettled(service, 'whatsapp'), 60_000, 'the WhatsApp sends settled');
    const sentSoFar = whatsapp.state.sent.length;
    await holdsFor(() => whatsapp.state.sent.length === sentSoFar, 1000, 'no send after the queue emptied');
    for (const customer of customers) {
      expect(sends(customer.waId, `Reply for ${customer.name}`)).toBe(1);
      expect(sends(customer.waId, 'Your ticket number is')).toBe(1);
    }
    // Counted directly: dead operations in the store, doubled records in the sandboxes.
    const store = await openStore(storeUrl);
    const dead = await store.db.selectFrom('outbox').select(['connector', 'kind', 'last_error']).where('state', '=', 'dead').execute();
    await store.close();
    const doubled = (keys: readonly string[]) => keys.length - new Set(keys).size;
    const zendeskComments = zendesk.state.tickets.flatMap((t) => t.comments.map((c) => `${t.id}:${c.body}`)).filter((c) => /message c\d m\d|photo c\d/.test(c));
    const counts = {
      seed: seedOffset,
      dead: dead.length,
      doubled: {
        zendeskUsers: doubled(zendesk.state.users.map((u) => String(u.external_id))),
        zendeskTickets: customers.reduce((n, c) => n + Math.max(0, ticketsOf(c.waId).length - 1), 0),
        zendeskComments: customers.reduce((n, customer, c) => n + [0, 1, 3, 4].reduce((k, m) => k + Math.max(0, textOf(customer.waId).split(`message c${c} m${m}`).length - 2), 0), 0),
        hubspotContacts: doubled((hubspot.state.objects['contacts'] ?? []).map((r) => String(r.properties['whatsapp_id']))),
        hubspotCommunications: doubled(logged),
        salesforceLeads: doubled(salesforce.state.records['Lead']!.map((l) => String(l['WhatsApp_Id__c']))),
        salesforceTasks: customers.reduce((n, c) => n + Math.max(0, taskOf(c.waId).length - 1), 0),
        salesforceFiles: doubled(salesforce.state.records['ContentVersion']!.map((f) => `${String(f['FirstPublishLocationId'])}:${String(f['Title'])}`)),
        // Counted after everything settled: a write carried out late has landed by now.
        salesforceFilesOverPhotos: Math.max(0, salesforce.state.records['ContentVersion']!.length - customers.length),
        hubspotFiles: doubled(hubspot.state.files.map((f) => `${f.folderPath}/${f.name}.${f.extension}`)),
        hubspotMediaNotes: doubled((hubspot.state.objects['notes'] ?? []).map((n) => n.properties['hs_attachment_ids']).filter((id): id is string => Boolean(id))),
        zendeskAttachments: customers.reduce((n, customer, c) => n + Math.max(0, textOf(customer.waId).split(`photo c${c} (attached:`).length - 2), 0),
      },
      faults: { hubspot: hubspot.chaos.dealt, zendesk: zendesk.chaos.dealt, salesforce: salesforce.chaos.dealt, whatsapp: whatsapp.chaos.dealt },
      comments: zendeskComments.length,
    };
    console.log(`FAULT_COUNTS ${JSON.stringify(counts)}`);
    expect(dead, JSON.stringify(dead)).toEqual([]);
    expect(Object.values(counts.doubled).every((n) => n === 0), JSON.stringify(counts.doubled)).toBe(true);

    // The faults did happen, of every kind (token expiries at random or the one mid-run).
    const dealt = Object.fromEntries(Object.keys(zendesk.chaos.dealt).map((k) => [k, [zendesk, hubspot, salesforce].reduce((n, s) => n + s.chaos.dealt[k as 'slow'], 0)]));
    expect(Object.entries(dealt).every(([kind, n]) => n > 0 || kind === 'token-expired'), JSON.stringify(dealt)).toBe(true);
    for (const vendor of [hubspot, zendesk, salesforce]) expect(vendor.chaos.dealt['lands-late']).toBeGreaterThan(0);
    expect(salesforce.state.tokensIssued).toBeGreaterThan(1);
    expect(whatsapp.chaos.dealt['server-error'] + whatsapp.chaos.dealt['reset-before']).toBeGreaterThan(0);
    expect(whatsapp.state.answersLost).toBe(3);
    // The statuses of sends whose answer was lost were known as ours: no compromise alert.
    const { stdout } = await promisify(execFile)(process.execPath, [join(projectRoot, 'bin/wa-crm-sync.js'), 'alerts', '--json', '--config', configPath]);
    expect((JSON.parse(stdout) as Array<{ kind: string }>).filter((a) => a.kind === 'unknown_status')).toEqual([]);
  });
});
