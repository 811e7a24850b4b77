// The life of an alert on both stores: acknowledged by a person, resolved by hand with a note or
// by the service when its condition clears, opened again when it comes back; each step audited.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../core/logger.js';
import { AlertChangeError, Alerts, listAlerts, openAlerts } from '../../../core/security/alerts.js';
import type { AuditEntry } from '../../../core/security/audit-trail.js';
import { badSignaturesAlert, connectorBlockedAlert, unknownStatusAlert } from '../../../core/security/signals.js';
import { freshStorePerTest } from '../../helpers/store-per-test.js';
import { STORE_KINDS } from '../../helpers/stores.js';

describe.each(STORE_KINDS)('alert lifecycle on %s', (kind) => {
  const current = freshStorePerTest(kind);
  const audited: AuditEntry[] = [];
  const book = () => {
    audited.length = 0;
    return new Alerts({ log: silentLogger(), options: () => ({ throttleMs: 3_600_000, sinkCount: 0, maxAttempts: 1 }), audit: async (entry) => void audited.push(entry) });
  };

  it('an acknowledged alert stays unresolved and stays acknowledged through repeats', async () => {
    const alerts = book();
    const db = current.store.db;
    await alerts.raise(db, unknownStatusAlert('106540352242922', 'read'), 1000);
    const [open] = await openAlerts(db);
    expect(open).toMatchObject({ state: 'open', acknowledgedBy: null, detail: expect.stringMatching(/rotate the access tokens/) });
    const taken = await alerts.acknowledge(db, open!.id, 'user:olga', 2000);
    expect(taken).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'user:olga', acknowledgedAt: 2000 });
    await alerts.raise(db, unknownStatusAlert('106540352242922', 'read'), 3000);
    expect(await openAlerts(db)).toEqual([expect.objectContaining({ id: open!.id, state: 'acknowledged', count: 2 })]);
    await expect(alerts.acknowledge(db, open!.id, 'user:abe')).rejects.toThrow(/is acknowledged by user:olga/);
    await expect(alerts.acknowledge(db, 999, 'user:abe')).rejects.toBeInstanceOf(AlertChangeError);
    expect(audited).toEqual([{ actor: 'user:olga', action: 'alert.acknowledge', target: String(open!.id), detail: { kind: 'unknown_status', severity: 'critical' } }]);
  });

  it('a resolution by hand needs a note, keeps it, and a repeat opens the alert again', async () => {
    const alerts = book();
    const db = current.store.db;
    await alerts.raise(db, unknownStatusAlert('106540352242922', 'read'), 1000);
    const [open] = await openAlerts(db);
    await alerts.acknowledge(db, open!.id, 'user:olga', 1500);
    await expect(alerts.resolveByHand(db, open!.id, 'user:olga', '   ')).rejects.toThrow(/needs a note/);
    const resolved = await alerts.resolveByHand(db, open!.id, 'user:olga', 'another app of ours sends from this number', 2000);
    expect(resolved).toMatchObject({ state: 'resolved', resolvedBy: 'user:olga', resolvedAt: 2000, resolutionNote: 'another app of ours sends from this number' });
    expect(await openAlerts(db)).toEqual([]);
    expect(await listAlerts(db, { resolved: true })).toHaveLength(1);
    await expect(alerts.resolveByHand(db, open!.id, 'user:abe', 'again')).rejects.toThrow(/already resolved \(by user:olga\)/);
    expect(audited.map((e) => e.action)).toEqual(['alert.acknowledge', 'alert.resolve']);
    expect(audited[1]!.detail).toMatchObject({ note: 'another app of ours sends from this number' });
    // The signal comes back: open again, nobody's yet, and the old resolution is gone from it.
    await alerts.raise(db, unknownStatusAlert('106540352242922', 'read'), 3000);
    expect(await openAlerts(db)).toEqual([expect.objectContaining({ id: open!.id, state: 'open', acknowledgedBy: null, resolvedBy: null, resolutionNote: null, count: 2 })]);
  });

  it('the service resolves a cleared condition and a burst that is over, and nothing else', async () => {
    const alerts = book();
    const db = current.store.db;
    await alerts.raise(db, connectorBlockedAlert('zendesk', 'Zendesk refused the token'), 1000);
    await alerts.raise(db, connectorBlockedAlert('hubspot', 'HubSpot refused the token'), 1000);
    await alerts.raise(db, badSignaturesAlert('whatsapp', 20, 300), 1000);
    await alerts.raise(db, badSignaturesAlert('zendesk', 20, 300), 250_000);
    expect(await alerts.resolveCleared(db, { kind: 'credential_refused', key: 'zendesk' }, 'the scope check passed', 5000)).toBe(true);
    expect(await alerts.resolveCleared(db, { kind: 'credential_refused', key: 'zendesk' }, 'the scope check passed', 6000)).toBe(false);
    // 300 s after the whatsapp burst's last alert; the zendesk burst was raised again since.
    expect(await alerts.resolveQuiet(db, 'bad_signatures', 300_000, 'the burst is over', 301_000)).toBe(1);
    const unresolved = (await openAlerts(db)).map((a) => `${a.kind}:${a.title.split(':')[0]}`);
    expect(unresolved.sort()).toEqual(['bad_signatures:20 zendesk webhook calls with a bad signature in 5 minutes', 'credential_refused:hubspot']);
    const resolved = (await listAlerts(db, { resolved: true })).filter((a) => a.state === 'resolved');
    expect(resolved.map((a) => [a.resolvedBy, a.resolutionNote])).toEqual(expect.arrayContaining([['service', 'the scope check passed'], ['service', 'the burst is over']]));
    expect(audited.filter((e) => e.actor === 'service' && e.action === 'alert.resolve')).toHaveLength(2);
  });
});
