// The README's first command: `wa-crm-sync demo` runs the whole flow with no accounts and
// reports what each CRM holds, one customer's past (a coexistence onboarding) included.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../helpers/fixtures.js';
import { SERVICE_NODE_FLAGS } from '../helpers/service-process.js';
import { tempDir } from '../helpers/stores.js';

const run = promisify(execFile);

describe('demo', () => {
  it('syncs simulated customers into the HubSpot, Salesforce and Zendesk sandboxes, shows one customer\'s past at its original times, and delivers agent replies, with nothing dead', { timeout: 180_000 }, async () => {
    const { stdout } = await run(process.execPath, [...SERVICE_NODE_FLAGS, join(projectRoot, 'bin/wa-crm-sync.js'), 'demo', '--customers', '5', '--messages', '4', '--data-dir', join(tempDir(), 'demo')], { timeout: 170_000 });
    // 5 customers x 4 messages, plus the burst of 20; CRMs also log the 5 acknowledgements and the
    // 4 reply messages (3 texts and a file) sent on WhatsApp.
    // HubSpot also logs the first customer's 6 past messages (the coexistence onboarding), Salesforce
    // their 2 past conversations as Tasks, Zendesk imports those as 2 solved tickets.
    // 56: the HubSpot agent's answer is on the timeline too, as a message the business sent.
    expect(stdout).toContain('summary: 40 messages ingested; HubSpot 5 contacts, 56 communications, 5 tasks; Salesforce 5 Leads, 7 Tasks');
    // Three Zendesk answers (one with a file: two sends) and the HubSpot agent's.
    expect(stdout).toContain('Zendesk 7 tickets; 5 agent replies and 5 ticket acknowledgements delivered on WhatsApp');
    // One inbox thread per customer, the one who withholds the number included.
    expect(stdout).toMatch(/HubSpot inbox: 5 threads; a HubSpot agent's answer reached the customer on WhatsApp \(status on the agent's message: SENT\)/);
    expect(stdout).toContain('HubSpot 6 of 6 logged (6 at their original time); Salesforce 2 past conversation Tasks; Zendesk 2 solved tickets imported');
    // The past reads at its original time: the first message was sent 45 days before the demo ran.
    const first = /(\d{4}-\d{2}-\d{2} \d{2}:\d{2}) UTC {2}customer: Do you have the green parka in stock\?/.exec(stdout);
    expect(first).not.toBeNull();
    expect(Math.abs(Date.parse(`${first![1]!.replace(' ', 'T')}:00Z`) - (Date.now() - 45 * 86_400_000))).toBeLessThan(3_600_000);
    expect(stdout).toMatch(/UTC {2}business: Sorry about that! Bring it in and we repair it for free\./);
    expect(stdout.match(/solved {2}\(past conversation, imported\)/g)).toHaveLength(2);
    expect(stdout).toContain('dead operations: 0');
    expect(stdout).toMatch(/\(existing contact, adopted\)/);
    expect(stdout).toMatch(/\(existing Lead, adopted\)/);
    // Phone numbers are masked in what the demo prints.
    expect(stdout).not.toMatch(/447700900\d{3}/);
  });
});
