// Runs one backup in its own process, so its peak memory can be read alone.
// Usage: node --import tsx bench/backup-child.ts STORE_URL OUT_FILE
import { writeBackup } from '../core/store/backup.js';
import { openStore } from '../core/store/store.js';

const [url, out] = process.argv.slice(2);
const store = await openStore(url!);
const started = performance.now();
const { bytes } = await writeBackup(store, out!, 'bench backup passphrase, long enough');
const seconds = (performance.now() - started) / 1000;
await store.close();
console.log(JSON.stringify({ seconds, bytes, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
