// The audit trail against someone who can write the store but holds neither the audit key nor
// the places the head is published: the real service logs its head, a backup keeps it, and
// `wa-crm-sync audit verify` (as an admin runs it) finds what the store alone cannot show.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { openStore } from '../../core/store/store.js';
import { projectRoot } from '../helpers/fixtures.js';
import { serviceWith, waitFor, writeConfig, type ServiceProcess } from '../helpers/service-process.js';

const run = promisify(execFile);
const bin = join(projectRoot, 'bin/wa-crm-sync.js');
const BACKUP_KEY = 'backup passphrase for the audit test';

describe('audit trail heads published outside the store', () => {
  let service: ServiceProcess | undefined;
  afterAll(async () => service?.kill());

  it('a trail cut short or re-chained in the store is caught against the logged head and the backup\'s', { timeout: 300_000 }, async () => {
    let storeUrl = '';
    const started = await serviceWith(({ config }) => {
      storeUrl = (config['store'] as { url: string }).url;
      return config;
    });
    service = started.service;
    const { configPath } = started;
    await service.start();
    // The service made its key beside the config, for its user only.
    const keyFile = join(dirname(configPath), 'audit.key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);

    // Three records: a refused request and two config reloads (the service watches its file).
    expect((await fetch(`${service.baseUrl}/admin/api/status`)).status).toBe(401);
    const config = parse(readFileSync(configPath, 'utf8')) as { log: { level: string } };
    writeConfig(configPath, { ...config, log: { level: 'debug' } });
    const store = await openStore(storeUrl);
    const records = async () => Number((await store.db.selectFrom('audit_trail').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
    await waitFor(async () => (await records()) === 2, 20_000, 'the first reload recorded');
    writeConfig(configPath, config);
    await waitFor(async () => (await records()) === 3, 20_000, 'the second reload recorded');

    const env = { ...process.env, WA_CRM_SYNC_BACKUP_KEY: BACKUP_KEY };
    const backupFile = join(dirname(configPath), 'before.backup');
    await run(process.execPath, [bin, 'backup', '--config', configPath, '--out', backupFile], { env });
    expect(await records()).toBe(4);
    await service.kill('SIGTERM');
    const logFile = join(dirname(configPath), 'service.log');
    writeFileSync(logFile, service.output);
    // Logged at start (empty trail) and at shutdown (record 4), never the key.
    expect(service.output).toMatch(/"auditHead":"0:0{64}"/);
    expect(service.output).toMatch(/"auditHead":"4:[0-9a-f]{64}"/);
    expect(service.output).not.toContain(readFileSync(keyFile, 'utf8').trim());

    // The attacker cuts the backup's record off the end and points the stored head at record 3.
    const three = await store.db.selectFrom('audit_trail').select('hash').where('seq', '=', 3).executeTakeFirstOrThrow();
    await store.db.deleteFrom('audit_trail').where('seq', '=', 4).execute();
    await store.db.updateTable('connector_state').set({ value: JSON.stringify({ seq: 3, hash: three.hash }) }).where('key', '=', 'audit-head').execute();
    // The store alone looks intact; the head in the log says otherwise.
    expect((await run(process.execPath, [bin, 'audit', 'verify', '--config', configPath], { env })).stdout).toMatch(/audit trail intact: 3 records/);
    await expect(run(process.execPath, [bin, 'audit', 'verify', '--config', configPath, '--log', logFile], { env })).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/record 4 was published: records were cut off the end/) });

    // Then removes record 2 and re-chains the rest as the old release did (SHA-256), head included.
    const rows = (await store.db.selectFrom('audit_trail').selectAll().orderBy('seq').execute()).filter((r) => r.seq !== 2);
    await store.db.deleteFrom('audit_trail').execute();
    let prev = '0'.repeat(64);
    for (const [i, row] of rows.entries()) {
      const hash = createHash('sha256').update(prev).update(JSON.stringify([i + 1, row.at, row.actor, row.action, row.target, JSON.parse(row.detail)])).digest('hex');
      await store.db.insertInto('audit_trail').values({ ...row, seq: i + 1, prev_hash: prev, hash, key_id: null }).execute();
      prev = hash;
    }
    await store.db.updateTable('connector_state').set({ value: JSON.stringify({ seq: rows.length, hash: prev }) }).where('key', '=', 'audit-head').execute();
    await store.close();
    await expect(run(process.execPath, [bin, 'audit', 'verify', '--config', configPath, '--backup', backupFile], { env })).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/audit trail broken at record 1 of 2: no record is keyed/) });
    expect(existsSync(keyFile)).toBe(true);
  });
});
