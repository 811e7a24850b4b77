// The Salesforce connector inside the real service process, against the local Salesforce
// sandbox: a Contact already in the org adopted, Leads created, one Task per thread, a session
// that expires mid-way refreshed by the client-credentials flow; and no number, name or text in
// the service's output, although it logs the adoption.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SalesforceSandbox } from '../../sandbox/salesforce.js';
import { textWebhook } from '../helpers/fixtures.js';
import { expectNoPersonalData } from '../helpers/personal-data.js';
import { baseConfig, freePort, ServiceProcess, waitFor, writeConfig } from '../helpers/service-process.js';
import { freshStoreUrl, tempDir } from '../helpers/stores.js';

describe('Salesforce end to end', () => {
  const sandbox = new SalesforceSandbox();
  let service: ServiceProcess;

  beforeAll(async () => {
    const instanceUrl = await sandbox.start();
    sandbox.state.records['Lead']!.push({ Id: '00Q000000000000999', FirstName: 'Sheena', LastName: 'N. (key account)', Phone: '(650) 555-1234', Company: 'Acme' });
    const dir = tempDir();
    const port = await freePort();
    const configPath = join(dir, 'wa-crm-sync.yaml');
    writeConfig(configPath, {
      ...baseConfig({ storeUrl: freshStoreUrl('sqlite').url, port, dir }),
      // Debug: every line the service can write is checked for personal data below.
      log: { level: 'debug' },
      connectors: { salesforce: { enabled: true, instanceUrl, clientCredentials: { clientId: 'sandbox-client', clientSecret: 'sandbox-secret' }, rateLimit: { backoffBaseMs: 100, backoffMaxMs: 1000 } } },
    });
    service = new ServiceProcess(configPath, port);
    await service.start();
  });

  afterAll(async () => {
    await service.kill('SIGTERM');
    await sandbox.stop();
  });

  it('adopts the existing Lead, creates the others, and keeps one Task per thread with the whole conversation', { timeout: 60_000 }, async () => {
    const numbers = ['16505551234', '447700900001', '447700900002'];
    for (let m = 0; m < 4; m++) {
      for (const [c, from] of numbers.entries()) {
        await service.deliver(textWebhook({ from, id: `wamid.sf.${c}.${m}`, timestamp: 1_760_000_000 + m * 60, body: `line ${m} from customer ${c}`, name: c === 0 ? 'Sheena Nelson' : `Customer ${c}` }));
      }
      // Salesforce expires the session: the connector must get a new one and carry on.
      if (m === 1) sandbox.expireSessions();
    }
    const tasks = () => sandbox.state.records['Task']!;
    await waitFor(() => tasks().length === 3 && tasks().every((t) => String(t['Description']).split('\n').length === 4), 30_000, 'three complete Tasks');

    // One session at start, and another after Salesforce expired the first.
    expect(sandbox.state.tokensIssued).toBeGreaterThanOrEqual(2);
    const leads = sandbox.state.records['Lead']!;
    expect(leads).toHaveLength(3);
    expect(leads.find((l) => l.Id === '00Q000000000000999')).toMatchObject({ WhatsApp_Id__c: '+16505551234', FirstName: 'Sheena', LastName: 'N. (key account)' });
    for (const [c, from] of numbers.entries()) {
      const lead = leads.find((l) => l['WhatsApp_Id__c'] === `+${from}`)!;
      const task = tasks().find((t) => t['WhoId'] === lead.Id)!;
      // The whole conversation of this customer, in order, each line with its minute (UTC) and speaker.
      expect(task['Description']).toBe(
        [
          `2025-10-09 08:53 UTC  Customer: line 0 from customer ${c}`,
          `2025-10-09 08:54 UTC  Customer: line 1 from customer ${c}`,
          `2025-10-09 08:55 UTC  Customer: line 2 from customer ${c}`,
          `2025-10-09 08:56 UTC  Customer: line 3 from customer ${c}`,
        ].join('\n'),
      );
      expect(task['Subject']).toBe(`WhatsApp conversation with ${c === 0 ? 'Sheena Nelson' : `Customer ${c}`}`);
    }

    // The adoption was logged (so there was a number to leak), masked; nothing else shows one.
    expect(service.output).toMatch(/"phone":"\+16\*+34".*adopted an existing Lead with the same phone number/);
    expectNoPersonalData(service.output, {
      phones: numbers,
      values: ['Sheena Nelson', 'Sheena', 'key account', 'from customer', 'sandbox-secret'],
    });
  });
});

describe('Salesforce end to end: duplicate rules and converted Leads', () => {
  // The Standard Lead Duplicate Rule at its default (Allow, with an alert).
  const sandbox = new SalesforceSandbox({ leadDuplicateRule: 'alert' });
  let service: ServiceProcess;

  beforeAll(async () => {
    const instanceUrl = await sandbox.start();
    // A customer who wrote before is a Lead a rep has since converted into a Contact.
    sandbox.state.records['Lead']!.push({ Id: '00Q000000000000777', FirstName: 'Ana', LastName: 'Souza', Phone: '+5511987650777', WhatsApp_Id__c: '+5511987650777', Company: 'WhatsApp', IsConverted: false });
    const dir = tempDir();
    const port = await freePort();
    const configPath = join(dir, 'wa-crm-sync.yaml');
    writeConfig(configPath, {
      ...baseConfig({ storeUrl: freshStoreUrl('sqlite').url, port, dir }),
      connectors: { salesforce: { enabled: true, instanceUrl, clientCredentials: { clientId: 'sandbox-client', clientSecret: 'sandbox-secret' }, rateLimit: { backoffBaseMs: 100, backoffMaxMs: 1000 } } },
    });
    service = new ServiceProcess(configPath, port);
    await service.start();
  });

  afterAll(async () => {
    await service.kill('SIGTERM');
    await sandbox.stop();
  });

  it('gives two customers called Budi Santoso two Leads, and logs a converted Lead\'s customer on its Contact', { timeout: 60_000 }, async () => {
    const contactId = sandbox.convertLead('00Q000000000000777');
    await service.deliver(textWebhook({ from: '6281234567001', id: 'wamid.dup.1', timestamp: 1_760_000_000, body: 'halo', name: 'Budi Santoso' }));
    await service.deliver(textWebhook({ from: '6281234567002', id: 'wamid.dup.2', timestamp: 1_760_000_001, body: 'halo juga', name: 'Budi Santoso' }));
    await service.deliver(textWebhook({ from: '5511987650777', id: 'wamid.conv.1', timestamp: 1_760_000_002, body: 'oi de novo', name: 'Ana Souza' }));
    const tasks = () => sandbox.state.records['Task']!;
    await waitFor(() => tasks().length === 3, 30_000, 'three Tasks');

    const budis = sandbox.state.records['Lead']!.filter((l) => l['LastName'] === 'Santoso');
    expect(budis.map((l) => l['WhatsApp_Id__c']).sort()).toEqual(['+6281234567001', '+6281234567002']);
    expect(sandbox.duplicates.savedOverAlert).toBeGreaterThanOrEqual(1);
    // The converted Lead was never written to (it refuses writes); its Contact got the Task.
    expect(tasks().filter((t) => t['WhoId'] === contactId)).toHaveLength(1);
    expect(sandbox.state.records['Lead']!.filter((l) => l['LastName'] === 'Souza')).toHaveLength(1);
  });
});
