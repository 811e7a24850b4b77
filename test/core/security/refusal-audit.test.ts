// Refusals of strangers reach the audit trail once per address, kind and window, with the
// repeats counted in one record: a flood cannot fill the store or the dashboard.
import { describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../../core/security/audit-trail.js';
import { RefusalAudit } from '../../../core/security/refusal-audit.js';

describe('refusal audit', () => {
  const collect = (options = { windowMs: 60_000, maxKeys: 3 }) => {
    const written: AuditEntry[] = [];
    return { written, audit: new RefusalAudit(options, async (e) => void written.push(e)) };
  };

  it('a flood from one address writes one record, then one count of the repeats when the window ends', async () => {
    const { written, audit } = collect();
    for (let i = 0; i < 400; i++) await audit.refused({ actor: 'ip:192.0.2.1', action: 'admin.unauthenticated', target: `GET /x${i}` }, 1000 + i);
    expect(written).toEqual([{ actor: 'ip:192.0.2.1', action: 'admin.unauthenticated', target: 'GET /x0' }]);
    await audit.flush(61_000);
    expect(written[1]).toEqual({ actor: 'ip:192.0.2.1', action: 'admin.unauthenticated.repeated', target: 'GET /x0', detail: { repeats: 399, from: 1000, until: 61_000 } });
    await audit.refused({ actor: 'ip:192.0.2.1', action: 'admin.unauthenticated', target: 'GET /y' }, 62_000);
    expect(written).toHaveLength(3);
  });

  it('keeps addresses and kinds apart, and past maxKeys addresses counts the rest together', async () => {
    const { written, audit } = collect();
    for (let i = 0; i < 50; i++) await audit.refused({ actor: `ip:192.0.2.${i}`, action: 'admin.refused' }, 1000);
    await audit.refused({ actor: 'ip:192.0.2.0', action: 'admin.unauthenticated' }, 1000);
    expect(written.map((e) => `${e.action} ${e.actor}`)).toEqual(['admin.refused ip:192.0.2.0', 'admin.refused ip:192.0.2.1', 'admin.refused ip:192.0.2.2', 'admin.refused ip:*', 'admin.unauthenticated ip:*']);
    await audit.flush(70_000);
    expect(written.at(-1)).toMatchObject({ actor: 'ip:*', action: 'admin.refused.repeated', detail: { repeats: 46 } });
  });
});
