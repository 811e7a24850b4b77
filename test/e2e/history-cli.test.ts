// `wa-crm-sync history request` and `history status` against the running service and the
// WhatsApp sandbox playing a coexistence onboarding: the app's contacts become HubSpot contacts,
// its chats arrive in shuffled chunks, a recent photo's placeholder is filled when its media id
// comes, an old one says WhatsApp did not share it; a second request is refused with the 24-hour rule.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MEDIA_NOT_SHARED_TEXT } from '../../connectors/whatsapp/webhook.js';
import { HubSpotSandbox } from '../../sandbox/hubspot.js';
import { WhatsAppSandbox, type PastMessage } from '../../sandbox/whatsapp.js';
import { projectRoot } from '../helpers/fixtures.js';
import { APP_SECRET, outboxSettled, serviceWith, type ServiceProcess, waitFor } from '../helpers/service-process.js';

const run = promisify(execFile);
const bin = join(projectRoot, 'bin/wa-crm-sync.js');
const business = { phoneNumberId: '214880073361540', displayNumber: '15550130147' };

describe('history commands', () => {
  const hubspot = new HubSpotSandbox({ requests: 100, intervalMs: 10_000 });
  const whatsapp = new WhatsAppSandbox();
  let service: ServiceProcess;
  let configPath: string;
  let past: PastMessage[];

  beforeAll(async () => {
    const hubspotUrl = await hubspot.start();
    const graphUrl = await whatsapp.start();
    ({ service, configPath } = await serviceWith(({ config }) => ({
      ...config,
      whatsapp: { ...config.whatsapp, accessToken: whatsapp.accessToken, graphBaseUrl: graphUrl, phoneNumbers: [business.phoneNumberId], history: { appContacts: true } },
      connectors: { hubspot: { enabled: true, accessToken: 'pat-sandbox', baseUrl: hubspotUrl, rateLimit: { backoffBaseMs: 100, backoffMaxMs: 1000 } } },
    })));
    await service.start();
    whatsapp.deliverStatusesTo(`${service.baseUrl}/webhooks/whatsapp`, APP_SECRET);
    const now = Math.floor(Date.now() / 1000);
    const photo = whatsapp.addMedia(Buffer.from('a photo of the kettle lid'), 'image/jpeg');
    past = [
      { id: 'wamid.P.1', customer: '447700900461', fromBusiness: false, timestamp: now - 40 * 86_400, text: 'Do you repair grinders?' },
      { id: 'wamid.P.2', customer: '447700900461', fromBusiness: true, timestamp: now - 40 * 86_400 + 120, text: 'We do, bring it in.' },
      { id: 'wamid.P.3', customer: '447700900461', fromBusiness: false, timestamp: now - 30 * 86_400, media: { kind: 'image', id: '9990001', mimeType: 'image/jpeg', caption: 'old photo' } },
      { id: 'wamid.P.4', customer: '447700900519', fromBusiness: false, timestamp: now - 3 * 86_400, media: { kind: 'image', id: photo.id, mimeType: 'image/jpeg', caption: 'The lid' } },
      { id: 'wamid.P.5', customer: '447700900519', fromBusiness: true, timestamp: now - 3 * 86_400 + 60, text: 'Thanks, we will look.' },
      { id: 'wamid.P.6', customer: '447700900519', fromBusiness: false, timestamp: now - 3600, text: 'Any news?' },
    ];
    whatsapp.prepareOnboarding({ business, history: past, contacts: [{ phone: '447700900461', fullName: 'Priya Raman' }, { phone: '447700900519', fullName: 'Tomasz Wójcik' }], chunkSize: 2 });
  });

  afterAll(async () => {
    await service.kill('SIGTERM');
    await Promise.all([hubspot.stop(), whatsapp.stop()]);
  });

  const communication = (id: string) => (hubspot.state.objects['communications'] ?? []).find((c) => c.properties['whatsapp_message_id'] === id);

  it('requests both syncs, imports the past and shows its progress', { timeout: 120_000 }, async () => {
    const { stdout } = await run(process.execPath, [bin, 'history', 'request', '--config', configPath]);
    expect(stdout).toContain('smb_app_state_sync: requested');
    expect(stdout).toContain('history: requested');
    expect(stdout).toContain('within 24 hours of onboarding');
    expect(whatsapp.state.appSyncRequests.map((r) => r.syncType)).toEqual(['smb_app_state_sync', 'history']);

    await waitFor(() => past.every((m) => communication(m.id)), 60_000, 'every past message in HubSpot');
    await waitFor(() => String(communication('wamid.P.4')?.properties['hs_communication_body']).includes('The lid'), 30_000, 'the placeholder filled');
    await waitFor(() => outboxSettled(service, 'hubspot'), 30_000, 'the outbox drained');
    expect(String(communication('wamid.P.3')!.properties['hs_communication_body'])).toContain(MEDIA_NOT_SHARED_TEXT);
    expect(Date.parse(String(communication('wamid.P.1')!.properties['hs_timestamp']))).toBe(past[0]!.timestamp * 1000);
    // The address book named the people.
    const contacts = hubspot.state.objects['contacts'] ?? [];
    expect(contacts.map((c) => `${c.properties['firstname']} ${c.properties['lastname']}`).sort()).toEqual(['Priya Raman', 'Tomasz Wójcik']);

    const json = JSON.parse((await run(process.execPath, [bin, 'history', 'status', '--json', '--config', configPath])).stdout);
    expect(json).toMatchObject({ progress: 100, declined: false, messagesStored: past.length });
    expect(json.phases.reduce((n: number, p: { messages: number }) => n + p.messages, 0)).toBeGreaterThanOrEqual(past.length);
    expect(json.connectors.find((c: { connector: string }) => c.connector === 'hubspot')).toMatchObject({ dead: 0 });
    const hubspotImport = json.connectors.find((c: { connector: string }) => c.connector === 'hubspot');
    expect(hubspotImport.done).toBe(hubspotImport.total);
    const text = (await run(process.execPath, [bin, 'history', 'status', '--config', configPath])).stdout;
    expect(text).toMatch(/hubspot\s+\[#{30}\] 100%/);
    expect(text).toContain(`messages stored: ${past.length}`);

    // Once only: a second request is refused, and the command says why.
    const again = await run(process.execPath, [bin, 'history', 'request', '--config', configPath]).catch((error: { stderr: string; code: number }) => error);
    expect((again as { code: number }).code).toBe(1);
    expect((again as { stderr: string }).stderr).toContain('once, within 24 hours of onboarding');
  });
});
