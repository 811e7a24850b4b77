// Runs one backup or one restore in its own process, so its peak memory can be read alone.
// Usage: node --import tsx bench/backup-child.ts backup|restore STORE_URL FILE
import { restoreBackup, writeBackup } from '../core/store/backup.js';
import { openStore } from '../core/store/store.js';

const BENCH_PASSPHRASE = 'bench backup passphrase, long enough';

const [mode, url, file] = process.argv.slice(2);
const store = await openStore(url!);
const started = performance.now();
const bytes = mode === 'restore' ? (await restoreBackup(store, file!, BENCH_PASSPHRASE)).restored : (await writeBackup(store, file!, BENCH_PASSPHRASE)).bytes;
const seconds = (performance.now() - started) / 1000;
await store.close();
console.log(JSON.stringify({ seconds, bytes, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
