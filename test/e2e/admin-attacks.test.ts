// Attacks on the admin surface through the real service process over HTTP, as an outsider on
// this machine would make them: sign-in floods sent all at once, forged forwarding headers,
// audit-trail flooding. Each stays here so that what was fixed stays fixed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { URI, type TOTP } from 'otpauth';
import { addUser, LOCKOUT, type Enrolment } from '../../core/admin/accounts.js';
import { listAudit } from '../../core/security/audit-trail.js';
import { openStore } from '../../core/store/store.js';
import { serviceWith, type ServiceProcess } from '../helpers/service-process.js';

const PASSWORD = 'a long admin password for attacks';

describe('attacks on the admin sign-in, through the real service', () => {
  let service: ServiceProcess;
  let storeUrl = '';
  const enrolments = {} as Record<string, Enrolment>;

  beforeAll(async () => {
    ({ service } = await serviceWith(({ config }) => {
      storeUrl = (config['store'] as { url: string }).url;
      return config;
    }));
    const store = await openStore(storeUrl);
    for (const name of ['mia', 'ned']) enrolments[name] = await addUser(store, { name, role: 'admin', password: PASSWORD });
    await store.close();
    await service.start();
  });
  afterAll(async () => {
    await service.kill('SIGTERM');
  });

  const signIn = async (body: { name: string; password: string; code: string }, headers: Record<string, string> = {}) => {
    const res = await fetch(`${service.baseUrl}/admin/session`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as { error?: string } };
  };
  const accountRow = async (name: string) => {
    const store = await openStore(storeUrl);
    try {
      return await store.db.selectFrom('admin_users').select(['failed_attempts', 'locked_until']).where('name', '=', name).executeTakeFirstOrThrow();
    } finally {
      await store.close();
    }
  };

  it('200 wrong sign-ins sent at once from one address, the right one last: the address limit and the account lock hold', { timeout: 60_000 }, async () => {
    const code = (URI.parse(enrolments['mia']!.totpUri) as TOTP).generate();
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => signIn({ name: 'mia', password: i === 199 ? PASSWORD : 'not the password', code })));
    const count = (status: number) => results.filter((r) => r.status === status).length;
    expect(count(200)).toBe(0);
    // Each attempt took its address slot before it was checked: at most 20 were checked at all.
    expect(count(401)).toBeLessThanOrEqual(20);
    expect(count(401) + count(429) + count(503)).toBe(200);
    expect(count(429)).toBeGreaterThanOrEqual(180);
    // And of those, the account let only LOCKOUT.failures reach its password, then locked.
    const row = await accountRow('mia');
    expect(row.locked_until).toBeGreaterThan(Date.now());
    const store = await openStore(storeUrl);
    const failures = await listAudit(store, { action: 'signin.failure', limit: 500 });
    await store.close();
    expect(failures.filter((r) => (r.detail as { reason?: string }).reason === 'wrong password or code')).toHaveLength(LOCKOUT.failures);
  });
});
