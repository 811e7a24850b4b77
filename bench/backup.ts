// Backup benchmark: SQLite stores holding N webhook deliveries of about 1 KB (the bulk of a real
// store), backed up and restored into an empty store, each in a child process whose peak RSS is
// read. Memory that stays flat from the small store to the ten times larger one shows the rows
// stream rather than sit in memory.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { openStore } from '../core/store/store.js';
import { projectRoot } from '../test/helpers/fixtures.js';
import { tempDir } from '../test/helpers/stores.js';

async function storeWith(rows: number): Promise<string> {
  const url = `sqlite:${join(tempDir('wa-crm-sync-bench-'), 'store.sqlite')}`;
  const store = await openStore(url);
  // Random text, so gzip cannot shrink the work away.
  const body = () => JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'messages', value: { text: randomBytes(450).toString('hex') } }] }] });
  for (let i = 0; i < rows; i += 500) {
    const values = Array.from({ length: Math.min(500, rows - i) }, (_, j) => ({ source: 'whatsapp', received_at: i + j, body: body(), state: 'processed' as const, problems: null, processed_at: i + j }));
    await store.db.insertInto('webhook_deliveries').values(values).execute();
  }
  await store.close();
  return url;
}

function inChild(mode: 'backup' | 'restore', url: string, file: string): Promise<{ seconds: number; bytes: number; maxRssMb: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'bench/backup-child.ts'), mode, url, file], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve, reject) => child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`backup child exited ${code}`)))));
}

export async function benchBackup(metric: (name: string, value: number, digits?: number) => void): Promise<void> {
  const sizes = [20_000, 200_000];
  const backups = [];
  const restores = [];
  for (const rows of sizes) {
    const file = join(tempDir('wa-crm-sync-bench-'), 'store.backup');
    const backup = await inChild('backup', await storeWith(rows), file);
    const restore = await inChild('restore', `sqlite:${join(tempDir('wa-crm-sync-bench-'), 'restored.sqlite')}`, file);
    if (restore.bytes !== rows) throw new Error(`restored ${restore.bytes} rows of ${rows}`);
    backups.push(backup);
    restores.push(restore);
    const size = `${rows / 1000}k_rows`;
    metric(`backup_seconds_${size}`, backup.seconds, 1);
    metric(`backup_mb_written_${size}`, backup.bytes / 1_048_576, 1);
    metric(`backup_peak_rss_mb_${size}`, backup.maxRssMb, 1);
    metric(`restore_seconds_${size}`, restore.seconds, 1);
    metric(`restore_peak_rss_mb_${size}`, restore.maxRssMb, 1);
  }
  metric('backup_peak_rss_ratio_10x_rows', backups[1]!.maxRssMb / backups[0]!.maxRssMb, 2);
  metric('restore_peak_rss_ratio_10x_rows', restores[1]!.maxRssMb / restores[0]!.maxRssMb, 2);
}
