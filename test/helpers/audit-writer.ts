// A second process writing to the same store: appends `count` audit records, as a CLI command
// does beside the running service. Usage: node --import tsx audit-writer.ts STORE_URL COUNT ACTOR
import { appendAudit } from '../../core/security/audit-trail.js';
import { openStore } from '../../core/store/store.js';
import { TEST_AUDIT_KEY } from './fixtures.js';

const [url, count, actor] = process.argv.slice(2);
const store = await openStore(url!);
try {
  for (let i = 0; i < Number(count); i++) await appendAudit(store, TEST_AUDIT_KEY, { actor: actor!, action: 'test.write', target: String(i) });
} finally {
  await store.close();
}
