// A fresh store for each test of a suite (kept apart from stores.ts, which benchmarks import without vitest).
import { afterEach, beforeEach } from 'vitest';
import { openStore, type Store } from '../../core/store/store.js';
import { freshStoreUrl, type StoreKind } from './stores.js';

/** A fresh, migrated store of this kind for each test, closed and dropped after it. */
export function freshStorePerTest(kind: StoreKind): { readonly store: Store; readonly url: string } {
  const current = {} as { store: Store; url: string; drop: () => Promise<void> };
  beforeEach(async () => {
    const fresh = freshStoreUrl(kind);
    current.url = fresh.url;
    current.drop = fresh.drop;
    current.store = await openStore(fresh.url);
  });
  afterEach(async () => {
    await current.store.close();
    await current.drop();
  });
  return current;
}
