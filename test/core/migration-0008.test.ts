// Migration 0008 converts what earlier releases stored: tokens that named their creator as
// `user:NAME` / `token:NAME` get an owner and a parent (so disabling an account reaches every
// token made from it), and unsalted SHA-256 recovery codes become salted scrypt hashes that
// still accept the codes people wrote down. A store is built as release 0007 left it, then opened.
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { disableUser, hashPassword, verifySignIn } from '../../core/admin/accounts.js';
import { openStore, type Store } from '../../core/store/store.js';
import { freshStoreUrl, STORE_KINDS } from '../helpers/stores.js';

const CODES = ['abcde-01234', 'fedcb-43210'];
const legacyHash = (code: string) => createHash('sha256').update(code).digest('hex');

describe.each(STORE_KINDS)('migration 0008 on %s', (kind) => {
  let store: Store | undefined;
  let drop: () => Promise<void> = async () => {};
  afterEach(async () => {
    await store?.close();
    store = undefined;
    await drop();
  });

  it('gives old tokens their owner and parent, and keeps old recovery codes working, salted', async () => {
    const fresh = freshStoreUrl(kind);
    drop = fresh.drop;
    const old = await openStore(fresh.url, { migrateUpTo: '0007_totp_last_step' });
    const password = 'correct horse battery staple';
    await old.db.insertInto('admin_users').values({
      name: 'alice', role: 'admin', password_hash: await hashPassword(password), totp_secret: 'JBSWY3DPEHPK3PXP',
      recovery_codes: JSON.stringify(CODES.map(legacyHash)), disabled: 0, failed_attempts: 0, locked_until: null, created_at: 1, last_login_at: null,
    } as never).execute();
    const token = (id: string, name: string, createdBy: string, createdAt: number) =>
      ({ id, name, role: 'admin', hash: `h-${id}`, expires_at: Date.now() + 86_400_000, created_at: createdAt, created_by: createdBy, last_used_at: null, revoked: 0 });
    await old.db.insertInto('api_tokens').values([
      token('t-deploy', 'deploy', 'user:alice', 10),
      token('t-child', 'child', 'token:deploy', 20),
      token('t-grandchild', 'grandchild', 'token:child', 30),
      token('t-root', 'root', 'cli:root', 40),
    ] as never).execute();
    await old.close();

    store = await openStore(fresh.url);
    const tokens = await store.db.selectFrom('api_tokens').select(['id', 'owner', 'parent_id']).orderBy('created_at').execute();
    expect(tokens).toEqual([
      { id: 't-deploy', owner: 'alice', parent_id: null },
      { id: 't-child', owner: 'alice', parent_id: 't-deploy' },
      { id: 't-grandchild', owner: 'alice', parent_id: 't-child' },
      { id: 't-root', owner: null, parent_id: null },
    ]);

    const user = await store.db.selectFrom('admin_users').select('recovery_codes').where('name', '=', 'alice').executeTakeFirstOrThrow();
    const stored = JSON.parse(user.recovery_codes) as string[];
    expect(stored).toHaveLength(2);
    for (const entry of stored) expect(entry).toMatch(/^rc1\$/);
    expect(user.recovery_codes).not.toContain(legacyHash(CODES[0]!));

    // A code written down before the upgrade still signs in, once.
    const signedIn = await verifySignIn(store, { name: 'alice', password, code: CODES[0]! });
    expect(signedIn.usedRecoveryCode).toBe(true);
    await expect(verifySignIn(store, { name: 'alice', password, code: CODES[0]! })).rejects.toThrow();

    // Disabling the account now reaches the tokens made by its tokens, not only its own.
    const { tokensRevoked } = await disableUser(store, 'alice');
    expect(tokensRevoked).toBe(3);
    const revoked = await store.db.selectFrom('api_tokens').select(['id', 'revoked']).orderBy('created_at').execute();
    expect(revoked.map((r) => [r.id, Number(r.revoked)])).toEqual([['t-deploy', 1], ['t-child', 1], ['t-grandchild', 1], ['t-root', 0]]);
  }, 60_000);
});
