// Several refs written at once (ExecutionContext.setRefs): new and known refs, past one
// statement's worth, a ref named twice, and nothing of another connector touched.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { externalRef, saveExternalRef, saveExternalRefs } from '../../core/model/repository.js';
import { openStore, type Store } from '../../core/store/store.js';
import { freshStoreUrl, STORE_KINDS } from '../helpers/stores.js';

describe.each(STORE_KINDS)('external refs on %s', (kind) => {
  let store: Store;
  let drop: () => Promise<void>;
  beforeEach(async () => {
    const fresh = freshStoreUrl(kind);
    drop = fresh.drop;
    store = await openStore(fresh.url);
  });
  afterEach(async () => {
    await store.close();
    await drop();
  });

  it('writes many refs in one call, replacing known ones, the last of a ref named twice winning', async () => {
    await saveExternalRef(store.db, { connector: 'crm', kind: 'sent', localId: 'm0', externalId: 'old' }, 1);
    await saveExternalRef(store.db, { connector: 'other', kind: 'sent', localId: 'm0', externalId: 'theirs' }, 1);
    const refs = Array.from({ length: 250 }, (_, i) => ({ kind: 'sent', localId: `m${i}`, externalId: `v${i}` }));
    await saveExternalRefs(store.db, 'crm', [...refs, { kind: 'sent', localId: 'm7', externalId: 'again' }], 2);
    expect(await externalRef(store.db, 'crm', 'sent', 'm0')).toBe('v0');
    expect(await externalRef(store.db, 'crm', 'sent', 'm249')).toBe('v249');
    expect(await externalRef(store.db, 'crm', 'sent', 'm7')).toBe('again');
    expect(await externalRef(store.db, 'other', 'sent', 'm0')).toBe('theirs');
    const count = await store.db.selectFrom('external_refs').select((eb) => eb.fn.countAll<number>().as('n')).where('connector', '=', 'crm').executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(250);
  });
});
