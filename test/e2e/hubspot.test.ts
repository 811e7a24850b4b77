// The HubSpot connector inside the real service process, against the local HubSpot sandbox:
// setup, adoption of an existing contact, communications on the right contacts, a crash mid-way.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubSpotSandbox } from '../../sandbox/hubspot.js';
import { messagesEnvelope } from '../../sandbox/whatsapp.js';
import { projectRoot, textWebhook } from '../helpers/fixtures.js';
import { baseConfig, freePort, ServiceProcess, waitFor, writeConfig } from '../helpers/service-process.js';
import { freshStoreUrl, tempDir } from '../helpers/stores.js';

const run = promisify(execFile);

describe('HubSpot end to end', () => {
  const sandbox = new HubSpotSandbox({ requests: 100, intervalMs: 10_000 });
  let service: ServiceProcess;
  let configPath: string;

  beforeAll(async () => {
    const baseUrl = await sandbox.start();
    // A rep already keeps this customer, number typed their own way.
    sandbox.state.objects['contacts'] = [
      { id: '1', properties: { firstname: 'Sheena', lastname: 'N. (VIP)', phone: '+1 (650) 555-1234' }, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z' },
    ];
    const dir = tempDir();
    const port = await freePort();
    configPath = join(dir, 'wa-crm-sync.yaml');
    const config = baseConfig({ storeUrl: freshStoreUrl('sqlite').url, port, dir });
    writeConfig(configPath, { ...config, connectors: { hubspot: { enabled: true, accessToken: 'pat-sandbox', baseUrl, threadActivity: 'task', rateLimit: { backoffBaseMs: 100, backoffMaxMs: 1000 } } } });
    service = new ServiceProcess(configPath, port);
    await service.start();
  });

  afterAll(async () => {
    await service.kill('SIGTERM');
    await sandbox.stop();
  });

  it('creates the properties, adopts the existing contact and logs every message once, through a crash', { timeout: 60_000 }, async () => {
    const numbers = ['16505551234', '447700900001', '447700900002', '5511987654321'];
    const ids: string[] = [];
    for (let m = 0; m < 5; m++) {
      for (const [c, from] of numbers.entries()) {
        const id = `wamid.hs-e2e.${c}.${m}`;
        ids.push(id);
        await service.deliver(textWebhook({ from, id, timestamp: 1_760_000_000 + m, body: `hello ${m}`, name: c === 0 ? 'Sheena Nelson' : `Customer ${c}` }));
      }
      if (m === 2) {
        await service.kill('SIGKILL');
        await service.start();
      }
    }
    const communicationLinks = () => sandbox.state.associations.filter((a) => a.from === 'communications').length;
    await waitFor(() => (sandbox.state.objects['communications']?.length ?? 0) >= ids.length && communicationLinks() >= ids.length, 30_000, 'all communications');
    await waitFor(() => (sandbox.state.objects['tasks']?.length ?? 0) >= numbers.length, 10_000, 'a task per thread');

    // The key is unique; the identifiers people read and search by are plain text.
    expect(sandbox.state.properties['contacts']!.map((p) => [p.name, p.hasUniqueValue])).toEqual([
      ['whatsapp_id', true],
      ['whatsapp_bsuid', false],
      ['whatsapp_username', false],
      ['whatsapp_identity_note', false],
      ['whatsapp_marketing_consent', false],
      ['whatsapp_consent_changed_at', false],
      ['whatsapp_window_open_until', false],
    ]);
    // HubSpot does not document unique values on communications; the sandbox ignores them, so messages are created and found again by search.
    expect(sandbox.state.properties['communications']!.map((p) => [p.name, p.hasUniqueValue])).toEqual([['whatsapp_message_id', false]]);

    const contacts = sandbox.state.objects['contacts']!;
    expect(contacts).toHaveLength(4);
    const adopted = contacts.find((c) => c.id === '1')!;
    expect(adopted.properties).toMatchObject({ whatsapp_id: '+16505551234', firstname: 'Sheena', lastname: 'N. (VIP)' });

    const communications = sandbox.state.objects['communications']!;
    expect(communications.map((c) => c.properties['whatsapp_message_id']).sort()).toEqual([...ids].sort());
    expect(communications.every((c) => c.properties['hs_communication_channel_type'] === 'WHATS_APP')).toBe(true);
    for (const communication of communications) {
      const [, , c] = communication.properties['whatsapp_message_id']!.split('.');
      const contact = contacts.find((x) => x.properties['whatsapp_id'] === `+${numbers[Number(c)]}`)!;
      const links = sandbox.state.associations.filter((a) => a.from === 'communications' && a.fromId === communication.id);
      expect(links).toEqual([{ from: 'communications', fromId: communication.id, to: 'contacts', toId: contact.id }]);
    }
    // One conversation thread per customer: one task each, for the contact, never two.
    const tasks = sandbox.state.objects['tasks']!;
    expect(tasks).toHaveLength(numbers.length);
    expect(new Set(tasks.map((t) => t.properties['whatsapp_thread_id'])).size).toBe(numbers.length);
    expect(sandbox.state.associations.filter((a) => a.from === 'tasks').map((a) => a.toId).sort()).toEqual(contacts.map((c) => c.id).sort());
    expect(sandbox.state.overLimit).toBe(0);
  });

  it('takes no webhook calls while the inbox is off, and asks for no signing secret', async () => {
    const response = await fetch(`${service.baseUrl}/webhooks/hubspot`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"OUTGOING_CHANNEL_MESSAGE_CREATED"}' });
    expect(response.status).toBe(404);
    expect(service.output).not.toMatch(/hubspot webhook refused|inbox\.clientSecret/);
  });

  it('reports scopes and setup from the command line', async () => {
    const bin = join(projectRoot, 'bin/wa-crm-sync.js');
    const scopes = await run(process.execPath, [bin, 'scopes', '--config', configPath]);
    expect(scopes.stdout).toContain('hubspot: OK');
    expect(scopes.stdout).toMatch(/missing:\s+\(none\)/);
    const setup = await run(process.execPath, [bin, 'setup', 'hubspot', '--config', configPath]);
    expect(setup.stdout.trim()).toBe('hubspot: already set up, nothing to do');
  });
});

describe('HubSpot end to end: a burst of new customers in one webhook', () => {
  // The sandbox refuses search bodies over 3,000 characters, as HubSpot documents, and its search
  // index lags writes by half a second.
  const sandbox = new HubSpotSandbox({ requests: 1000, intervalMs: 10_000, searchPerSecond: 20, searchIndexDelayMs: 500 });
  let service: ServiceProcess;
  let configPath: string;

  beforeAll(async () => {
    const baseUrl = await sandbox.start();
    const dir = tempDir();
    const port = await freePort();
    configPath = join(dir, 'wa-crm-sync.yaml');
    const config = baseConfig({ storeUrl: freshStoreUrl('sqlite').url, port, dir });
    writeConfig(configPath, { ...config, connectors: { hubspot: { enabled: true, accessToken: 'pat-sandbox', baseUrl, searchRequestsPerSecond: 20, rateLimit: { requests: 1000, intervalMs: 10_000, backoffBaseMs: 100, backoffMaxMs: 1000 } } } });
    service = new ServiceProcess(configPath, port);
    await service.start();
  });

  afterAll(async () => {
    await service.kill('SIGTERM');
    await sandbox.stop();
  });

  it('creates 100 contacts (60 Brazilian, 40 German numbers) from one webhook, with nothing dead', { timeout: 90_000 }, async () => {
    // Brazilian mobiles (+55 11 9xxxx-xxxx: each searched with and without its ninth digit) and
    // German mobiles (+49 151 xxxxxxxx): a few dozen of either already pass 3,000 characters.
    const numbers = [
      ...Array.from({ length: 60 }, (_, i) => `55119${String(87_650_000 + i * 37).padStart(8, '0')}`),
      ...Array.from({ length: 40 }, (_, i) => `49151${String(23_450_000 + i * 41).padStart(8, '0')}`),
    ];
    const body = messagesEnvelope(
      {
        contacts: numbers.map((n, i) => ({ profile: { name: `Burst Customer ${i}` }, wa_id: n })),
        messages: numbers.map((n, i) => ({ from: n, id: `wamid.burst.${i}`, timestamp: String(1_760_000_000 + i), type: 'text', text: { body: `hello ${i}` } })),
      },
      { phoneNumberId: '106540352242922', displayNumber: '15550783881' },
    );
    await service.deliver(body);
    const bin = join(projectRoot, 'bin/wa-crm-sync.js');
    const outbox = async () => (JSON.parse((await run(process.execPath, [bin, 'status', '--json', '--config', configPath])).stdout) as { outbox: Array<{ state: string; count: number }> }).outbox;
    await waitFor(() => (sandbox.state.objects['communications']?.length ?? 0) >= numbers.length, 60_000, 'a communication per customer');
    await waitFor(async () => (await outbox()).every((d) => d.state === 'done' || d.state === 'dead'), 20_000, 'the outbox to settle');

    const contacts = sandbox.state.objects['contacts']!;
    expect(contacts).toHaveLength(100);
    expect(new Set(contacts.map((c) => c.properties['whatsapp_id'])).size).toBe(100);
    expect(contacts.map((c) => c.properties['whatsapp_id']).sort()).toEqual(numbers.map((n) => `+${n}`).sort());
    expect((await outbox()).filter((d) => d.state === 'dead')).toEqual([]);
  });
});

describe('HubSpot end to end: an OAuth app', () => {
  // The sandbox speaks only the date-versioned OAuth endpoints; the v1 ones are gone.
  const scopes = ['crm.objects.contacts.read', 'crm.objects.contacts.write', 'crm.schemas.contacts.read', 'crm.schemas.contacts.write'];
  const sandbox = new HubSpotSandbox({ tokens: {}, oauthApps: { 'client-1': { clientSecret: 'secret-1', refreshToken: 'refresh-1', scopes } } });
  let service: ServiceProcess;

  beforeAll(async () => {
    const baseUrl = await sandbox.start();
    const dir = tempDir();
    const port = await freePort();
    const configPath = join(dir, 'wa-crm-sync.yaml');
    const config = baseConfig({ storeUrl: freshStoreUrl('sqlite').url, port, dir });
    writeConfig(configPath, { ...config, connectors: { hubspot: { enabled: true, oauth: { clientId: 'client-1', clientSecret: 'secret-1', refreshToken: 'refresh-1' }, baseUrl, rateLimit: { backoffBaseMs: 100, backoffMaxMs: 1000 } } } });
    service = new ServiceProcess(configPath, port);
    await service.start();
  });

  afterAll(async () => {
    await service.kill('SIGTERM');
    await sandbox.stop();
  });

  it('refreshes its token, checks its scopes and logs messages with it', { timeout: 60_000 }, async () => {
    await service.deliver(textWebhook({ from: '447700900311', id: 'wamid.oauth.1', timestamp: 1_760_000_000, body: 'hello', name: 'OAuth Customer' }));
    await waitFor(() => (sandbox.state.objects['communications']?.length ?? 0) === 1, 30_000, 'the message logged');
    expect(sandbox.state.oauthTokensIssued).toBeGreaterThanOrEqual(1);
    expect(sandbox.state.objects['contacts']!.map((c) => c.properties['whatsapp_id'])).toEqual(['+447700900311']);
  });
});
