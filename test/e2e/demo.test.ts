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
  it('syncs simulated customers into the HubSpot and Salesforce sandboxes with nothing dead', { timeout: 120_000 }, async () => {
    const { stdout } = await run(process.execPath, [...SERVICE_NODE_FLAGS, join(projectRoot, 'bin/wa-crm-sync.js'), 'demo', '--customers', '5', '--messages', '4', '--data-dir', join(tempDir(), 'demo')], { timeout: 110_000 });
    // 5 customers x 4 messages, plus the burst of 20.
    expect(stdout).toContain('summary: 40 messages ingested; HubSpot 5 contacts, 40 communications, 5 tasks; Salesforce 5 Leads, 5 Tasks');
    expect(stdout).toContain('dead operations: 0');
    expect(stdout).toMatch(/\(existing contact, adopted\)/);
    expect(stdout).toMatch(/\(existing Lead, adopted\)/);
    // Phone numbers are masked in what the demo prints.
    expect(stdout).not.toMatch(/447700900\d{3}/);
  });
});
