// Backup benchmark: SQLite stores holding N webhook deliveries of about 1 KB (the bulk of a real
// store), backed up in a child process whose peak RSS is read. Memory that stays flat from the
// small store to the ten times larger one shows the rows stream rather than sit in memory.
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

function backupInChild(url: string): Promise<{ seconds: number; bytes: number; maxRssMb: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'bench/backup-child.ts'), url, join(tempDir('wa-crm-sync-bench-'), 'store.backup')], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve, reject) => child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`backup child exited ${code}`)))));
}

export async function benchBackup(metric: (name: string, value: number, digits?: number) => void): Promise<void> {
  const sizes = [20_000, 200_000];
  const results = [];
  for (const rows of sizes) {
    const result = await backupInChild(await storeWith(rows));
    results.push(result);
    metric(`backup_seconds_${rows / 1000}k_rows`, result.seconds, 1);
    metric(`backup_mb_written_${rows / 1000}k_rows`, result.bytes / 1_048_576, 1);
    metric(`backup_peak_rss_mb_${rows / 1000}k_rows`, result.maxRssMb, 1);
  }
  metric('backup_peak_rss_ratio_10x_rows', results[1]!.maxRssMb / results[0]!.maxRssMb, 2);
}
