// One person through every identifier WhatsApp gives, on both stores: the engine keeps one
// contact with a CRM key that never changes; a store from before BSUIDs migrates keeping its keys.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseWhatsAppDelivery } from '../../connectors/whatsapp/webhook.js';
import { Engine } from '../../core/engine.js';
import { DeliveryInbox } from '../../core/ingest.js';
import { createLogger, silentLogger } from '../../core/logger.js';
import { maskBsuid, maskIdentifier, maskUsername } from '../../core/model/identity.js';
import { resolveContact, toContact } from '../../core/model/repository.js';
import type { Contact, ModelChange } from '../../core/model/types.js';
import { openStore, type Store } from '../../core/store/store.js';
import { WhatsAppSimulator, type SimulatedCustomer } from '../../sandbox/whatsapp.js';
import { recordingConnector } from '../helpers/recording-connector.js';
import { freshStoreUrl, STORE_KINDS, tempDir } from '../helpers/stores.js';
import { restoreBackup, writeBackup } from '../../core/store/backup.js';
import { join } from 'node:path';
import { sql } from 'kysely';

const BSUID = 'GB.80412277419022635518';
const NEW_BSUID = 'GB.55512277419022635599';

describe.each(STORE_KINDS)('identities on %s', (kind) => {
  let store: Store;
  let drop: () => Promise<void>;
  let inbox: DeliveryInbox;
  let engine: Engine;
  let changes: ModelChange[];
  const simulator = new WhatsAppSimulator('secret');

  beforeEach(async () => {
    const fresh = freshStoreUrl(kind);
    drop = fresh.drop;
    store = await openStore(fresh.url);
    inbox = new DeliveryInbox(store);
    changes = [];
    const connector = recordingConnector(changes);
    engine = new Engine({ store, parsers: { whatsapp: parseWhatsAppDelivery }, connectors: () => [connector], log: silentLogger(), options: () => ({ threadGapMs: 24 * 3_600_000, servedNumbers: [] }) });
  });
  afterEach(async () => {
    await store.close();
    await drop();
  });

  const deliver = async (body: string) => {
    await inbox.accept('whatsapp', body);
    const result = await engine.processPending();
    expect(result.flagged).toBe(0);
  };
  const contacts = async () => (await store.db.selectFrom('contacts').selectAll().execute()).map(toContact);

  it('keeps one contact and one CRM key from BSUID only, to phone and BSUID, to a new number, to a new BSUID', async () => {
    const hidden: SimulatedCustomer = { waId: null, bsuid: BSUID, username: 'ada.builds', name: 'Ada Ortiz' };
    await deliver(simulator.message(hidden, { type: 'text', text: { body: 'hi, no number' } }, 1_780_000_000).body);
    const [only] = await contacts();
    expect(only).toMatchObject({ waId: null, bsuid: BSUID, username: 'ada.builds', profileName: 'Ada Ortiz', crmKey: BSUID });
    const key = only!.crmKey;

    const shared: SimulatedCustomer = { ...hidden, waId: '447700900456' };
    await deliver(simulator.message(shared, { type: 'text', text: { body: 'here is my number' } }, 1_780_000_100).body);
    await deliver(simulator.numberChange(shared, '447700900789', 1_780_000_200).body);
    await deliver(simulator.bsuidChange({ ...shared, waId: '447700900789' }, NEW_BSUID, 1_780_000_300).body);
    // The old BSUID and the old number still find the same person (Meta may send either late).
    await deliver(simulator.message({ waId: null, bsuid: NEW_BSUID, name: 'Ada Ortiz', username: 'ada.b' }, { type: 'text', text: { body: 'new id, new handle' } }, 1_780_000_400).body);

    const all = await contacts();
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({ crmKey: key, waId: '+447700900789', bsuid: NEW_BSUID, username: 'ada.b' });
    const upserts = changes.filter((c): c is Extract<ModelChange, { type: 'contact.upserted' }> => c.type === 'contact.upserted');
    expect(new Set(upserts.map((c) => c.contact.id)).size).toBe(1);
    expect(upserts.every((c) => c.contact.crmKey === key)).toBe(true);
    // The number change tells the CRMs which number to replace.
    expect(upserts.find((c) => c.previousWaId)?.previousWaId).toBe('+447700900456');
    const identities = (await store.db.selectFrom('contact_identities').select('identity').execute()).map((r) => r.identity).sort();
    expect(identities).toEqual([`bsuid:${NEW_BSUID}`, `bsuid:${BSUID}`, 'wa:+447700900456', 'wa:+447700900789'].sort());
  });

  it('links the BSUID of a user_preferences webhook to a known customer, and keeps a stranger who opted out (the opt-out must hold)', async () => {
    await deliver(simulator.message({ waId: '447700900456', name: 'Ada Ortiz' }, { type: 'text', text: { body: 'hi' } }, 1_780_000_000).body);
    const preferences = (waId: string, bsuid: string) =>
      JSON.stringify({
        object: 'whatsapp_business_account',
        entry: [{ id: '1', changes: [{ field: 'user_preferences', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '1', phone_number_id: simulator.phoneNumberId }, user_preferences: [{ wa_id: waId, user_id: bsuid, category: 'marketing_messages', value: 'stop', timestamp: 1 }] } }] }],
      });
    await deliver(preferences('447700900456', BSUID));
    await deliver(preferences('447700900999', 'GB.00000000000000000001'));
    const all = (await contacts()).sort((a, b) => a.createdAt - b.createdAt);
    expect(all).toHaveLength(2);
    expect(all.find((c) => c.waId === '+447700900456')).toMatchObject({ bsuid: BSUID });
    expect(all.find((c) => c.waId === '+447700900999')).toMatchObject({ bsuid: 'GB.00000000000000000001' });
  });

  it('a BSUID-only status of a message we never sent is recorded under the BSUID', async () => {
    await deliver(simulator.status('wamid.NOTOURS', { waId: null, bsuid: BSUID, name: 'Ada' }, 'delivered', 1_780_000_000));
    const [status] = await store.db.selectFrom('message_statuses').selectAll().execute();
    expect(status).toMatchObject({ message_id: 'wamid.NOTOURS', recipient: BSUID, known_message: 0 });
  });

  it('gives a new person the CRM key of an earlier contact never: a number given up and reassigned gets a key of its own', async () => {
    const first = await resolveContact(store.db, { customer: { waId: '447700900111', bsuid: null, parentBsuid: null, username: null }, profileName: null, now: 1 });
    // The first person moves on; their old number is reassigned to a stranger, who is new to us.
    await store.db.deleteFrom('contact_identities').where('contact_id', '=', first!.contact.id).execute();
    const second = await resolveContact(store.db, { customer: { waId: '447700900111', bsuid: null, parentBsuid: null, username: null }, profileName: null, now: 2 });
    expect(second!.created).toBe(true);
    expect(second!.contact.crmKey).not.toBe(first!.contact.crmKey);
    expect(second!.contact.crmKey).toBe(`wacs:${second!.contact.id}`);
  });

  it('migrates a store from before BSUIDs: keys stay the WhatsApp ids, user ids that are BSUIDs move over', async () => {
    await store.close();
    const fresh = freshStoreUrl(kind);
    const old = await openStore(fresh.url, { migrateUpTo: '0009_outbox_key_queue_media_blobs' });
    const legacy = { created_at: 1, updated_at: 1, profile_name: 'Old Timer' };
    await old.db.insertInto('contacts').values([
      { id: 'c-old', wa_id: '+16505551234', user_id: null, ...legacy },
      { id: 'c-bsuid', wa_id: '+447700900123', user_id: BSUID, ...legacy },
    ] as never).execute();
    await old.db.insertInto('contact_identities').values([
      { identity: 'wa:+16505551234', contact_id: 'c-old' },
      { identity: 'wa:+447700900123', contact_id: 'c-bsuid' },
      { identity: `user:${BSUID}`, contact_id: 'c-bsuid' },
    ]).execute();
    await old.close();

    store = await openStore(fresh.url);
    const drops = drop;
    drop = async () => {
      await drops();
      await fresh.drop();
    };
    const migrated = new Map((await contacts()).map((c) => [c.id, c]));
    expect(migrated.get('c-old')).toMatchObject<Partial<Contact>>({ crmKey: '+16505551234', waId: '+16505551234', bsuid: null, userId: null });
    expect(migrated.get('c-bsuid')).toMatchObject<Partial<Contact>>({ crmKey: '+447700900123', bsuid: BSUID, userId: null });
    // The migrated contacts are found again: by number, and by the BSUID alone.
    const byPhone = await resolveContact(store.db, { customer: { waId: '16505551234', bsuid: 'US.12345678901234567890', parentBsuid: null, username: null }, profileName: null, now: 5 });
    expect(byPhone).toMatchObject({ created: false, contact: { id: 'c-old', crmKey: '+16505551234', bsuid: 'US.12345678901234567890' } });
    const byBsuid = await resolveContact(store.db, { customer: { waId: null, bsuid: BSUID, parentBsuid: null, username: 'timer' }, profileName: null, now: 6 });
    expect(byBsuid).toMatchObject({ created: false, contact: { id: 'c-bsuid', crmKey: '+447700900123' } });
    // And a phone-less contact can be stored now.
    const hidden = await resolveContact(store.db, { customer: { waId: null, bsuid: 'GB.99999999999999999999', parentBsuid: null, username: null }, profileName: null, now: 7 });
    expect(hidden).toMatchObject({ created: true, contact: { waId: null } });
  });
});

describe.each(STORE_KINDS)('a backup from before BSUIDs, restored on %s', (kind) => {
  it('restores with CRM keys and BSUIDs as migration 0013 would give them', async () => {
    const before = freshStoreUrl('sqlite');
    // Every migration but 0013 (0010-0012 came later but sort before it): this release's backup
    // writer needs the tables it saves, and an older release's file simply has fewer of them.
    const old = await openStore(before.url, { migrateUpTo: '0012_history_import' });
    // 0019 (consents) sorts after 0013 too: its table is made by hand, empty, as the writer saves it.
    await sql`create table consents (contact_id text not null, category text not null, status text not null, changed_at integer not null, source text not null, recorded_at integer not null, primary key (contact_id, category))`.execute(old.db);
    // So does 0014 (the outbound API's requests): saved empty, so only its key column matters here.
    await sql`create table outbound_requests (id text primary key)`.execute(old.db);
    await old.db.insertInto('contacts').values([{ id: 'c-bsuid', wa_id: '+447700900123', user_id: BSUID, created_at: 1, updated_at: 1, profile_name: 'Old' }] as never).execute();
    await old.db.insertInto('contact_identities').values([{ identity: `user:${BSUID}`, contact_id: 'c-bsuid' }, { identity: 'wa:+447700900123', contact_id: 'c-bsuid' }]).execute();
    const file = join(tempDir(), 'old.backup');
    await writeBackup(old, file, 'a backup passphrase long enough');
    await old.close();
    const target = freshStoreUrl(kind);
    const store = await openStore(target.url);
    try {
      await restoreBackup(store, file, 'a backup passphrase long enough');
      const [contact] = (await store.db.selectFrom('contacts').selectAll().execute()).map(toContact);
      expect(contact).toMatchObject({ id: 'c-bsuid', crmKey: '+447700900123', bsuid: BSUID, userId: null });
      const found = await resolveContact(store.db, { customer: { waId: null, bsuid: BSUID, parentBsuid: null, username: null }, profileName: null, now: 2 });
      expect(found).toMatchObject({ created: false, contact: { id: 'c-bsuid' } });
    } finally {
      await store.close();
      await target.drop();
    }
  });
});

describe('masking identifiers for logs', () => {
  it('masks BSUIDs, parent BSUIDs and usernames like phone numbers', () => {
    expect(maskBsuid(BSUID)).toBe('GB.80****************18');
    expect(maskIdentifier('GB.ENT.99120044718823340071')).toBe('GB.ENT.99****************71');
    expect(maskIdentifier('+447700900456')).toBe('+44********56');
    expect(maskUsername('ada.builds')).toBe('@a********s');
    expect(maskIdentifier('@ada.builds')).toBe('@a********s');
  });

  it('never writes a BSUID or username in clear to the log', () => {
    const lines: string[] = [];
    const log = createLogger({ destination: { write: (line: string) => void lines.push(line) } });
    log.warn({ bsuid: BSUID, parentBsuid: 'GB.ENT.99120044718823340071', username: 'ada.builds', customer: BSUID, recipient: BSUID }, 'test');
    expect(lines.join('')).not.toMatch(/80412277419022635518|99120044718823340071|ada\.builds/);
    expect(JSON.parse(lines[0]!)).toMatchObject({ bsuid: 'GB.80****************18', username: '@a********s' });
  });
});
