// The README's first command: `wa-crm-sync demo` runs the whole flow with no accounts and
// reports what each CRM holds.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../helpers/fixtures.js';
import { SERVICE_NODE_FLAGS } from '../helpers/service-process.js';
import { tempDir } from '../helpers/stores.js';

const run = promisify(execFile);

describe('demo', () => {
  it('syncs simulated customers into the HubSpot, Salesforce and Zendesk sandboxes and delivers agent replies, with nothing dead', { timeout: 120_000 }, async () => {
    const { stdout } = await run(process.execPath, [...SERVICE_NODE_FLAGS, join(projectRoot, 'bin/wa-crm-sync.js'), 'demo', '--customers', '5', '--messages', '4', '--data-dir', join(tempDir(), 'demo')], { timeout: 110_000 });
    // 5 customers x 4 messages, plus the burst of 20; CRMs also log the 5 acknowledgements and the
    // 4 reply messages (3 texts and a file) sent on WhatsApp.
    expect(stdout).toContain('summary: 40 messages ingested; HubSpot 5 contacts, 49 communications, 5 tasks; Salesforce 5 Leads, 5 Tasks');
    expect(stdout).toContain('Zendesk 5 tickets; 4 agent replies and 5 ticket acknowledgements delivered on WhatsApp');
    expect(stdout).toContain('dead operations: 0');
    expect(stdout).toMatch(/\(existing contact, adopted\)/);
    expect(stdout).toMatch(/\(existing Lead, adopted\)/);
    // Phone numbers are masked in what the demo prints.
    expect(stdout).not.toMatch(/447700900\d{3}/);
  });
});
