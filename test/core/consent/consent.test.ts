// Consent from every source, on both stores: kept per person with time and source, in the order
// the person changed it, never from an imported past; and the question a sender asks before a
// marketing template ("may I?") answered from it.
import { describe, expect, it } from 'vitest';
import { DEFAULT_OPT_IN_KEYWORDS, DEFAULT_OPT_IN_PAYLOADS, DEFAULT_OPT_OUT_KEYWORDS, DEFAULT_OPT_OUT_PAYLOADS } from '../../../core/config/schema.js';
import { consentDrafts } from '../../../core/consent/operation.js';
import { consentOf, mayMessageForMarketing } from '../../../core/consent/store.js';
import type { ModelChange } from '../../../core/model/types.js';
import { WhatsAppSimulator, type SimulatedCustomer } from '../../../sandbox/whatsapp.js';
import { readExample } from '../../helpers/fixtures.js';
import { enginePerTest } from '../../helpers/engine-per-test.js';
import { STORE_KINDS } from '../../helpers/stores.js';

const ADA: SimulatedCustomer = { waId: '447700900456', bsuid: 'GB.80412277419022635518', name: 'Ada Ortiz' };
const T = 1_780_000_000;

describe.each(STORE_KINDS)('consent on %s', (kind) => {
  const consent = { optOut: DEFAULT_OPT_OUT_KEYWORDS, optIn: DEFAULT_OPT_IN_KEYWORDS, optOutPayloads: DEFAULT_OPT_OUT_PAYLOADS, optInPayloads: DEFAULT_OPT_IN_PAYLOADS };
  const t = enginePerTest(kind, () => ({ threadGapMs: 86_400_000, servedNumbers: [], consent }));
  const simulator = new WhatsAppSimulator('secret');

  const deliver = async (body: string) => {
    await t.inbox.accept('whatsapp', body);
    expect((await t.engine.processPending()).flagged).toBe(0);
  };
  const said = (customer: SimulatedCustomer, body: string, at: number) => simulator.message(customer, { type: 'text', text: { body } }, at).body;
  const consentChanges = () => t.changes.filter((c): c is Extract<ModelChange, { type: 'consent.changed' }> => c.type === 'consent.changed');
  const contactId = async () => (await t.store.db.selectFrom('contacts').select('id').executeTakeFirstOrThrow()).id;

  it('a user_preferences stop opts out with source webhook at its time; a stranger is kept as a contact so the opt-out holds', async () => {
    await deliver(simulator.userPreferences(ADA, 'stop', T));
    expect(await consentOf(t.store.db, await contactId())).toMatchObject({ status: 'opted_out', changedAt: T * 1000, source: 'webhook' });
    expect(consentChanges()).toHaveLength(1);
    expect(t.changes.some((c) => c.type === 'contact.upserted')).toBe(true);
    // Found by either identifier.
    expect((await mayMessageForMarketing(t.store.db, { waId: '+447700900456' })).allowed).toBe(false);
    expect((await mayMessageForMarketing(t.store.db, { bsuid: ADA.bsuid! })).allowed).toBe(false);
  });

  it('a whole-message keyword opts out (source keyword) and START opts in again; a sentence containing stop does nothing', async () => {
    await deliver(said(ADA, "please don't stop", T));
    expect(await consentOf(t.store.db, await contactId())).toBeUndefined();
    await deliver(said(ADA, ' Stop! ', T + 10));
    expect(await consentOf(t.store.db, await contactId())).toMatchObject({ status: 'opted_out', source: 'keyword', changedAt: (T + 10) * 1000 });
    const refused = await mayMessageForMarketing(t.store.db, { contactId: await contactId() });
    expect(refused).toMatchObject({ allowed: false });
    expect(refused.reason).toMatch(/opted out of marketing messages .* \(keyword\)/);
    await deliver(said(ADA, 'START', T + 20));
    expect(await mayMessageForMarketing(t.store.db, { contactId: await contactId() })).toMatchObject({ allowed: true, consent: { status: 'opted_in', source: 'keyword' } });
    // The change carries the thread the keyword came in (a helpdesk notes it on its ticket).
    expect(consentChanges().map((c) => [c.consent.status, c.threadId !== null])).toEqual([
      ['opted_out', true],
      ['opted_in', true],
    ]);
  });

  it('a quick-reply button payload opts out with source button', async () => {
    await deliver(simulator.message(ADA, { type: 'button', button: { text: 'Stop promotions', payload: 'UNSUBSCRIBE' } }, T).body);
    expect(await consentOf(t.store.db, await contactId())).toMatchObject({ status: 'opted_out', source: 'button' });
  });

  it('an older change arriving late does not undo a newer one, and a redelivery t.changes nothing', async () => {
    await deliver(simulator.userPreferences(ADA, 'resume', T + 100));
    await deliver(simulator.userPreferences(ADA, 'stop', T));
    await deliver(simulator.userPreferences(ADA, 'resume', T + 100));
    expect(await consentOf(t.store.db, await contactId())).toMatchObject({ status: 'opted_in', changedAt: (T + 100) * 1000 });
    expect(consentChanges()).toHaveLength(1);
  });

  it('a STOP in an imported chat history is the past, not current consent', async () => {
    const history = readExample('history-chunk').replace('Is the workshop open on Saturday?', 'STOP');
    await deliver(history);
    expect(await t.store.db.selectFrom('consents').selectAll().execute()).toEqual([]);
    expect(consentChanges()).toEqual([]);
  });

  it('an opt-out from an echo of the business\'s own message is not the customer\'s', async () => {
    await deliver(readExample('echo-text').replace(/"body": "[^"]*"/, '"body": "STOP"'));
    expect(await t.store.db.selectFrom('consents').selectAll().execute()).toEqual([]);
  });

  it('someone never seen may be sent marketing as far as opt-outs go, and the answer says so', async () => {
    expect(await mayMessageForMarketing(t.store.db, { waId: '447700900999' })).toMatchObject({ allowed: true, contact: undefined });
  });

  it('each consent change becomes one write per CRM on the person\'s key, keyed by the change', async () => {
    await deliver(said(ADA, 'STOP', T));
    const [change] = consentChanges();
    const [draft] = consentDrafts(change!);
    expect(draft).toMatchObject({ kind: 'consent.write', orderingKey: `contact:${change!.contact.id}`, key: `${change!.contact.id}:opted_out:${T * 1000}` });
    expect(draft!.payload).toMatchObject({ status: 'opted_out', source: 'keyword', crmKey: change!.contact.crmKey, threadId: change!.threadId });
  });
});
