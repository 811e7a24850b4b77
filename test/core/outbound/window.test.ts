// The customer service window as CRMs get it: live customer messages queue one write per burst on
// the person's key; history and echoes queue none; the time written is 24 h after the newest live
// message known when the write runs. On both stores.
import { describe, expect, it } from 'vitest';
import { lastInboundAt } from '../../../core/model/repository.js';
import type { ModelChange } from '../../../core/model/types.js';
import { CUSTOMER_SERVICE_WINDOW_MS, WINDOW_KIND, windowDrafts, windowOpenUntil, type WindowPayload } from '../../../core/outbound/window.js';
import { enqueueOperations } from '../../../core/outbox/queries.js';
import { WhatsAppSimulator, type SimulatedCustomer } from '../../../sandbox/whatsapp.js';
import { readExample } from '../../helpers/fixtures.js';
import { enginePerTest } from '../../helpers/engine-per-test.js';
import { STORE_KINDS } from '../../helpers/stores.js';

const ADA: SimulatedCustomer = { waId: '447700900456', name: 'Ada Ortiz' };
// A multiple of 60 s, so the burst below falls in one slice of the default settle time.
const T = 1_780_000_020;
const SETTLE_MS = 60_000;

describe.each(STORE_KINDS)('customer service window writes on %s', (kind) => {
  const t = enginePerTest(kind, () => ({ threadGapMs: 86_400_000, servedNumbers: [] }));
  const simulator = new WhatsAppSimulator('secret');

  const deliver = async (body: string) => {
    await t.inbox.accept('whatsapp', body);
    expect((await t.engine.processPending()).flagged).toBe(0);
  };
  const said = (body: string, at: number) => simulator.message(ADA, { type: 'text', text: { body } }, at).body;
  const drafts = (changes: readonly ModelChange[] = t.changes) => changes.flatMap((c) => windowDrafts(c, SETTLE_MS));

  it('a burst of live messages within one settle time queues one write, on the person\'s key, held back for the settle time', async () => {
    for (let i = 0; i < 5; i++) await deliver(said(`message ${i}`, T + i * 5));
    const all = drafts();
    expect(all).toHaveLength(5);
    const contactId = (await t.store.db.selectFrom('contacts').select('id').executeTakeFirstOrThrow()).id;
    expect(all[0]).toMatchObject({ kind: WINDOW_KIND, orderingKey: `contact:${contactId}`, settleMs: SETTLE_MS, payload: { contactId, lastInboundAt: T * 1000 } });
    expect(new Set(all.map((d) => d.key)).size).toBe(1);
    expect(await enqueueOperations(t.store.db, 'crm', all, { maxAttempts: 5, now: Date.now() })).toBe(1);
    // A message a minute later is another slice: one more write.
    await deliver(said('and one more thing', T + 70));
    expect(await enqueueOperations(t.store.db, 'crm', drafts(), { maxAttempts: 5, now: Date.now() })).toBe(1);
  });

  it('the write carries 24 h after the newest live message known when it runs, never less than its own message', async () => {
    await deliver(said('first', T));
    const [first] = drafts();
    await deliver(said('second', T + 30));
    const payload = first!.payload as WindowPayload;
    const known = (id: string) => lastInboundAt(t.store.db, id);
    expect(await windowOpenUntil(payload, known)).toBe(new Date((T + 30) * 1000 + CUSTOMER_SERVICE_WINDOW_MS).toISOString());
    // Before the store has it (or when it has only older ones), the payload's own time counts.
    expect(await windowOpenUntil(payload, async () => undefined)).toBe(new Date(T * 1000 + CUSTOMER_SERVICE_WINDOW_MS).toISOString());
    expect(await windowOpenUntil(payload, async () => (T - 600) * 1000)).toBe(new Date(T * 1000 + CUSTOMER_SERVICE_WINDOW_MS).toISOString());
  });

  it('an imported chat history and an echo of the business\'s own message move no window', async () => {
    await deliver(readExample('history-chunk'));
    await deliver(readExample('echo-text'));
    expect(t.changes.some((c) => c.type === 'message.recorded')).toBe(true);
    expect(drafts()).toEqual([]);
  });

  it('a redelivered message queues nothing more', async () => {
    const body = said('hello', T);
    await deliver(body);
    const before = drafts().length;
    await deliver(body);
    expect(drafts()).toHaveLength(before);
  });
});
