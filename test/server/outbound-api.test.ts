// POST /api/v1/messages and GET /api/v1/messages/{id} over a real store, engine, WhatsApp
// connector and dispatcher against the WhatsApp sandbox: who may call, how bad requests are
// refused (naming the field), each sending rule, and that a retried request sends once.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recordConsent } from '../../core/consent/store.js';
import { startOutboundHarness, type OutboundHarness } from '../helpers/outbound-harness.js';
import { waitFor } from '../helpers/service-process.js';
import { STORE_KINDS } from '../helpers/stores.js';

const CUSTOMER = '447700900123';
const shipped = (to: Record<string, unknown> = { phone: '+44 7700 900123' }) => ({ to, template: { name: 'order_shipped', language: 'en_US', parameters: ['Jane', 'A-1042'] } });

describe.each(STORE_KINDS)('the outbound API on %s', (kind) => {
  let h: OutboundHarness;
  let bearer: string;
  beforeEach(async () => {
    h = await startOutboundHarness(kind);
    bearer = await h.token(['send']);
  });
  afterEach(async () => {
    await h.stop();
  });

  describe('who may call it', () => {
    it('refuses a missing or unknown token with 401 naming the Authorization header, and audits it', async () => {
      const none = await fetch(`${h.baseUrl}/messages`, { method: 'POST', body: '{}' });
      expect(none.status).toBe(401);
      expect(await none.json()).toMatchObject({ field: 'Authorization', hint: expect.stringMatching(/--permission send/) });
      const forged = await h.post('wacs_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', shipped(), 'k1');
      expect(forged.status).toBe(401);
      expect(h.audit.map((a) => a.action)).toContain('api.unauthenticated');
      expect(await h.queued()).toBe(0);
    });

    it('refuses a live token without the send permission with 403, whatever its role, and audits it', async () => {
      const viewer = await h.token([]);
      const answer = await h.post(viewer, shipped(), 'k1');
      expect(answer.status).toBe(403);
      expect(answer.body).toMatchObject({ field: 'Authorization', error: expect.stringMatching(/send permission/) });
      expect(h.audit).toContainEqual(expect.objectContaining({ action: 'api.forbidden', actor: 'token:flow-none' }));
      expect(await h.queued()).toBe(0);
    });
  });

  describe('bad requests, refused naming the field', () => {
    it.each([
      ['no Idempotency-Key', undefined, shipped(), 400, 'Idempotency-Key'],
      ['neither template nor text', 'k', { to: { phone: CUSTOMER } }, 400, 'template'],
      ['both template and text', 'k', { ...shipped(), text: 'hi' }, 400, 'template'],
      ['two ways to name the person', 'k', shipped({ phone: CUSTOMER, bsuid: 'US.1234' }), 400, 'to'],
      ['an unknown field', 'k', { ...shipped(), priority: 'high' }, 400, '(body)'],
      ['parameters that are not strings', 'k', { to: { phone: CUSTOMER }, template: { name: 'order_shipped', language: 'en_US', parameters: [1, 2] } }, 400, 'template.parameters'],
      ['a phone that is no number', 'k', shipped({ phone: 'call me' }), 422, 'to.phone'],
      ['a BSUID that is none', 'k', shipped({ bsuid: 'not-a-bsuid' }), 422, 'to.bsuid'],
      ['a CRM record nobody wrote', 'k', shipped({ record: { connector: 'hubspot', id: '999' } }), 404, 'to.record'],
    ])('%s', async (_what, key, body, status, field) => {
      const answer = await h.post(bearer, body, key);
      expect(answer.status).toBe(status);
      expect(answer.body).toMatchObject({ field, error: expect.any(String), hint: expect.any(String) });
      expect(await h.queued()).toBe(0);
    });

    it('a body that is not JSON is refused with 400 and a hint', async () => {
      const answer = await h.post(bearer, '{"to":', 'k');
      expect(answer).toMatchObject({ status: 400, body: { field: null, error: 'the body is not valid JSON' } });
    });
  });

  describe('the rules, each before anything is queued', () => {
    it('an unknown template, a language it lacks, a template not approved, or the wrong parameter count is refused with 422', async () => {
      const cases: Array<[Record<string, unknown>, string, RegExp]> = [
        [{ name: 'order_shiped', language: 'en_US', parameters: [] }, 'template.name', /no template named/],
        [{ name: 'order_shipped', language: 'de_DE', parameters: ['a', 'b'] }, 'template.language', /no "de_DE" version/],
        [{ name: 'welcome_back', language: 'en_US' }, 'template.name', /PENDING/],
        [{ name: 'order_shipped', language: 'en_US', parameters: ['Jane'] }, 'template.parameters', /takes 2 body parameters, 1 given/],
        [{ name: 'appointment_reminder', language: 'en_US', parameters: { first_name: 'Jane' } }, 'template.parameters', /missing day/],
      ];
      for (const [template, field, error] of cases) {
        const answer = await h.post(bearer, { to: { phone: CUSTOMER }, template }, `k-${JSON.stringify(template)}`);
        expect(answer.status, JSON.stringify(template)).toBe(422);
        expect(answer.body).toMatchObject({ field, error: expect.stringMatching(error) });
      }
      expect(await h.queued()).toBe(0);
      expect(await h.store.db.selectFrom('outbound_requests').selectAll().execute()).toEqual([]);
    });

    it('a marketing template to someone who opted out is refused with 403; a utility template still goes', async () => {
      await h.customerWrites(CUSTOMER);
      const contact = await h.store.db.selectFrom('contacts').select('id').executeTakeFirstOrThrow();
      await recordConsent(h.store.db, { contactId: contact.id, category: 'marketing', status: 'opted_out', changedAt: Date.now() - 1000, source: 'keyword' }, Date.now());
      const marketing = await h.post(bearer, { to: { phone: CUSTOMER }, template: { name: 'spring_sale', language: 'en_US' } }, 'sale-1');
      expect(marketing.status).toBe(403);
      expect(marketing.body).toMatchObject({ field: 'to', error: expect.stringMatching(/opted out of marketing/), hint: expect.stringMatching(/utility template/) });
      expect(await h.queued()).toBe(0);
      const utility = await h.post(bearer, shipped(), 'ship-1');
      expect(utility.status).toBe(202);
    });

    it('free text to someone who never wrote, or last wrote 25 hours ago, is refused with 422 suggesting a template; inside the window it goes', async () => {
      const never = await h.post(bearer, { to: { phone: '447700900999' }, text: 'Hello' }, 't-1');
      expect(never.status).toBe(422);
      expect(never.body).toMatchObject({ field: 'text', error: expect.stringMatching(/never written/), hint: expect.stringMatching(/template/) });
      await h.customerWrites(CUSTOMER, 25 * 3_600_000);
      const late = await h.post(bearer, { to: { phone: CUSTOMER }, text: 'Hello' }, 't-2');
      expect(late.status).toBe(422);
      expect(late.body).toMatchObject({ field: 'text', error: expect.stringMatching(/more than 24 hours ago/) });
      expect(await h.queued()).toBe(0);
      await h.customerWrites(CUSTOMER, 60_000);
      const inside = await h.post(bearer, { to: { phone: CUSTOMER }, text: 'Your parcel is on its way' }, 't-3');
      expect(inside.status).toBe(202);
      await waitFor(() => h.sandbox.state.sent.length === 1, 10_000, 'the send');
      expect(h.sandbox.state.sent[0]).toMatchObject({ to: '+447700900123', type: 'text', body: { text: { body: 'Your parcel is on its way' } } });
    });
  });

  describe('sending', () => {
    it('answers 202 with a message id at once, sends the template once, records it as an outbound message and reports its statuses', async () => {
      const answer = await h.post(bearer, shipped(), 'deal-4411-won');
      expect(answer.status).toBe(202);
      expect(answer.body).toMatchObject({ id: expect.stringMatching(/^msg_[0-9a-f]{24}$/), state: 'queued', kind: 'template' });
      const id = answer.body['id'] as string;
      await waitFor(() => h.sandbox.state.sent.length === 1, 10_000, 'the send');
      expect(h.sandbox.state.sent[0]).toMatchObject({ to: '+447700900123', type: 'template', body: { template: { name: 'order_shipped', language: { code: 'en_US' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'Jane' }, { type: 'text', text: 'A-1042' }] }] } } });
      await waitFor(async () => (await h.get(bearer, id)).body['state'] === 'sent', 10_000, 'state sent');
      const view = await h.get(bearer, id);
      expect(view.body).toMatchObject({ id, kind: 'template', template: { name: 'order_shipped', language: 'en_US', category: 'UTILITY' }, messageIds: [h.sandbox.state.sent[0]!.id] });
      // Recorded like an agent's reply: an outbound message of the person's thread, with its origin and the words sent.
      const message = await h.store.db.selectFrom('messages').selectAll().where('id', '=', h.sandbox.state.sent[0]!.id).executeTakeFirstOrThrow();
      expect(message).toMatchObject({ direction: 'outbound', origin: 'api', text: 'Hi Jane, your order A-1042 has shipped.' });
      // Another token does not see it.
      const other = await h.token(['send']);
      expect((await h.get(other, id)).status).toBe(404);
      expect(h.audit).toContainEqual(expect.objectContaining({ action: 'message.send', target: id }));
    });

    it('a template with a text header and a URL button: each missing or wrong part refused naming its field; given, all three components go out', async () => {
      const tracking = (extra: Record<string, unknown>) => ({ to: { phone: CUSTOMER }, template: { name: 'order_tracking', language: 'en_US', parameters: ['Jane'], ...extra } });
      const cases: Array<[Record<string, unknown>, number, string, RegExp]> = [
        [{ buttons: [{ index: 1, urlSuffix: 'A-1042' }] }, 422, 'template.header', /takes 1 header parameter, 0 given/],
        [{ header: ['A-1042'] }, 422, 'template.buttons', /URL button ending in a parameter at index 1/],
        [{ header: ['A-1042'], buttons: [{ index: 0, urlSuffix: 'A-1042' }] }, 422, 'template.buttons[0].index', /no URL button with a parameter at index 0/],
        [{ header: ['x'.repeat(61)], buttons: [{ index: 1, urlSuffix: 'A-1042' }] }, 400, 'template.header.0', /at most 60 characters/],
        [{ header: ['A-1042'], buttons: [{ index: 1 }] }, 400, 'template.buttons.0.urlSuffix', /./],
      ];
      for (const [extra, status, field, error] of cases) {
        const answer = await h.post(bearer, tracking(extra), `k-${JSON.stringify(extra)}`);
        expect(answer.status, JSON.stringify(extra)).toBe(status);
        expect(answer.body).toMatchObject({ field, error: expect.stringMatching(error) });
      }
      expect(await h.queued()).toBe(0);
      const answer = await h.post(bearer, tracking({ header: ['A-1042'], buttons: [{ index: 1, urlSuffix: 'A-1042?ref=wa' }] }), 'tracking-A-1042');
      expect(answer.status).toBe(202);
      await waitFor(() => h.sandbox.state.sent.length === 1, 10_000, 'the send');
      expect(h.sandbox.state.sent[0]!.body).toMatchObject({
        template: {
          name: 'order_tracking',
          components: [
            { type: 'header', parameters: [{ type: 'text', text: 'A-1042' }] },
            { type: 'body', parameters: [{ type: 'text', text: 'Jane' }] },
            { type: 'button', sub_type: 'url', index: '1', parameters: [{ type: 'text', text: 'A-1042?ref=wa' }] },
          ],
        },
      });
      await waitFor(async () => (await h.get(bearer, answer.body['id'] as string)).body['state'] === 'sent', 10_000, 'state sent');
    });

    it('a retry with the same key and body answers with the same id and sends nothing again; another body under the key is refused with 409', async () => {
      const answers = await Promise.all(Array.from({ length: 5 }, () => h.post(bearer, shipped(), 'order-A-1042-shipped')));
      expect(answers.map((a) => a.status)).toEqual([202, 202, 202, 202, 202]);
      expect(new Set(answers.map((a) => a.body['id'])).size).toBe(1);
      await waitFor(() => h.sandbox.state.sent.length === 1, 10_000, 'the send');
      // The same request with its fields in another order is the same request.
      const later = await h.post(bearer, { template: { parameters: ['Jane', 'A-1042'], language: 'en_US', name: 'order_shipped' }, to: { phone: '+44 7700 900123' } }, 'order-A-1042-shipped');
      expect(later.status).toBe(202);
      expect(later.headers.get('idempotent-replayed')).toBe('true');
      const changed = await h.post(bearer, { ...shipped(), template: { ...shipped().template, parameters: ['Jane', 'A-1043'] } }, 'order-A-1042-shipped');
      expect(changed.status).toBe(409);
      expect(changed.body).toMatchObject({ field: 'Idempotency-Key' });
      await new Promise((r) => setTimeout(r, 300));
      expect(h.sandbox.state.sent).toHaveLength(1);
      expect(await h.queued()).toBe(1);
    });

    it('finds the person by a CRM record id the service wrote, and by a named-parameter template', async () => {
      await h.customerWrites(CUSTOMER);
      const contact = await h.store.db.selectFrom('contacts').select('id').executeTakeFirstOrThrow();
      await h.store.db.insertInto('external_refs').values({ connector: 'hubspot', kind: 'contact', local_id: contact.id, external_id: '5501', updated_at: Date.now() }).execute();
      const answer = await h.post(bearer, { to: { record: { connector: 'hubspot', id: '5501' } }, template: { name: 'appointment_reminder', language: 'en_US', parameters: { day: 'Friday', first_name: 'Jane' } } }, 'appt-1');
      expect(answer.status).toBe(202);
      await waitFor(() => h.sandbox.state.sent.length === 1, 10_000, 'the send');
      expect(h.sandbox.state.sent[0]).toMatchObject({ to: '+447700900123', body: { template: { components: [{ parameters: [{ text: 'Jane', parameter_name: 'first_name' }, { text: 'Friday', parameter_name: 'day' }] }] } } });
    });

    it('a send WhatsApp refuses is failed on the message with the error explained in plain words', async () => {
      // Cached as approved, then gone from the account: WhatsApp answers 132001.
      await h.post(bearer, { to: { phone: '447700900777' }, template: { name: 'appointment_reminder', language: 'en_US', parameters: { first_name: 'A', day: 'B' } } }, 'warm-cache');
      await waitFor(() => h.sandbox.state.sent.length === 1, 10_000, 'the first send');
      h.sandbox.templates.splice(0, h.sandbox.templates.length, ...h.sandbox.templates.filter((t) => t.name !== 'order_shipped'));
      const answer = await h.post(bearer, shipped(), 'gone');
      const id = answer.body['id'] as string;
      await waitFor(async () => (await h.get(bearer, id)).body['state'] === 'failed', 15_000, 'state failed');
      const view = await h.get(bearer, id);
      expect(view.body['reason']).toMatch(/132001[\s\S]*does not exist in this language, or is not approved yet/);
    });
  });
});
