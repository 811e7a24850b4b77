// Backups through the command line while the real service runs, a scheduled backup at start,
// and a restore into an empty store that then holds the same conversations.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../core/store/store.js';
import { projectRoot, textWebhook } from '../helpers/fixtures.js';
import { baseConfig, freePort, ServiceProcess, waitFor, writeConfig } from '../helpers/service-process.js';
import { freshStoreUrl, tempDir } from '../helpers/stores.js';

const run = promisify(execFile);
const KEY = 'a long backup passphrase for tests';

describe('backup and restore end to end', () => {
  let service: ServiceProcess;
  let configPath: string;
  let backupDir: string;
  let storeUrl: string;
  const env = { ...process.env, WA_CRM_SYNC_BACKUP_KEY: KEY };

  beforeAll(async () => {
    const dir = tempDir();
    backupDir = join(dir, 'backups');
    const port = await freePort();
    configPath = join(dir, 'wa-crm-sync.yaml');
    storeUrl = freshStoreUrl('sqlite').url;
    writeConfig(configPath, { ...baseConfig({ storeUrl, port, dir }), backup: { dir: backupDir, everyHours: 24, keep: 3 } });
    const previous = process.env['WA_CRM_SYNC_BACKUP_KEY'];
    process.env['WA_CRM_SYNC_BACKUP_KEY'] = KEY;
    service = new ServiceProcess(configPath, port);
    await service.start();
    if (previous === undefined) delete process.env['WA_CRM_SYNC_BACKUP_KEY'];
    else process.env['WA_CRM_SYNC_BACKUP_KEY'] = previous;
  });
  afterAll(async () => {
    await service.kill('SIGTERM');
  });

  it('writes a scheduled backup at start, another on demand while messages flow, and restores it whole', { timeout: 60_000 }, async () => {
    await waitFor(() => existsSync(backupDir) && readdirSync(backupDir).some((f) => f.endsWith('.backup')), 10_000, 'the scheduled backup');
    const sending = (async () => {
      for (let i = 0; i < 40; i++) await service.deliver(textWebhook({ from: `4477009002${String(i % 5).padStart(2, '0')}`, id: `wamid.BK${i}`, timestamp: 1_760_000_000 + i, body: `hello ${i}` }));
    })();
    const out = join(tempDir(), 'now.backup');
    const { stdout } = await run(process.execPath, [join(projectRoot, 'bin/wa-crm-sync.js'), 'backup', '--config', configPath, '--out', out], { env });
    expect(stdout).toMatch(/^backup written to .*now\.backup \(\d+ bytes, \d+ rows\)/);
    await sending;

    // Restore into an empty store: same messages as the backup held at its moment, consistent (each message with its thread).
    const target = freshStoreUrl('sqlite').url;
    const restoreConfig = join(tempDir(), 'restore.yaml');
    writeConfig(restoreConfig, { whatsapp: { appSecret: 'x', verifyToken: 'y' }, store: { url: target } });
    const restored = await run(process.execPath, [join(projectRoot, 'bin/wa-crm-sync.js'), 'restore', out, '--config', restoreConfig], { env });
    expect(restored.stdout).toMatch(/^restored \d+ rows from the backup of /);
    const store = await openStore(target);
    const messages = await store.db.selectFrom('messages').select(['id', 'thread_id']).execute();
    const threads = new Set((await store.db.selectFrom('threads').select('id').execute()).map((t) => t.id));
    expect(messages.every((m) => threads.has(m.thread_id))).toBe(true);
    await store.close();

    // A second restore into the same (now full) store is refused.
    await expect(run(process.execPath, [join(projectRoot, 'bin/wa-crm-sync.js'), 'restore', out, '--config', restoreConfig], { env })).rejects.toMatchObject({ stderr: expect.stringMatching(/the target store is not empty/) });
    // So is a wrong key.
    await expect(run(process.execPath, [join(projectRoot, 'bin/wa-crm-sync.js'), 'restore', out, '--config', restoreConfig], { env: { ...env, WA_CRM_SYNC_BACKUP_KEY: 'the wrong passphrase, long enough' } })).rejects.toMatchObject({ stderr: expect.stringMatching(/the key is wrong or the file is damaged/) });
  });
});
