// Stores for tests: a fresh SQLite file, or a fresh schema on the local PostgreSQL server.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const POSTGRES_URL = process.env['TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

export type StoreKind = 'sqlite' | 'postgres';
export const STORE_KINDS: readonly StoreKind[] = ['sqlite', 'postgres'];

export function tempDir(prefix = 'wa-crm-sync-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A store URL nobody else uses, and a function that removes what it held. */
export function freshStoreUrl(kind: StoreKind): { url: string; drop: () => Promise<void> } {
  if (kind === 'sqlite') return { url: `sqlite:${join(tempDir(), 'store.sqlite')}`, drop: async () => {} };
  const schema = `t_${randomBytes(6).toString('hex')}`;
  return {
    url: `${POSTGRES_URL}?schema=${schema}`,
    drop: async () => {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      await client.query(`drop schema if exists "${schema}" cascade`);
      await client.end();
    },
  };
}
