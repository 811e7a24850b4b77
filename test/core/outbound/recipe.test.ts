// The recipe payload, pure: how a CRM's flat body becomes an outbound message request, how each
// mistake is refused naming the payload's own field, how repeated calls are recognised, and how a
// shared token is checked.
import { describe, expect, it } from 'vitest';
import { authenticateSharedToken, recipeIdempotencyKey, recipeRequest, type RecipeSettings } from '../../../core/outbound/recipe.js';

const off: RecipeSettings = { enabled: true };
const mapped = (body: unknown, settings: RecipeSettings = off) => recipeRequest(body, 'hubspot', settings);
const refusedField = (body: unknown, settings: RecipeSettings = off) => {
  const result = mapped(body, settings);
  if (result.ok) throw new Error('expected a refusal');
  return result.answer.status === 202 ? undefined : result.answer.refusal;
};

describe('mapping a recipe payload', () => {
  it('numbered param_ fields become positional parameters in number order, numbers as text', () => {
    const result = mapped({ phone: '+44 7700 900123', template: 'order_shipped', language: 'en_US', param_2: 1042, param_1: 'Jane' });
    expect(result).toMatchObject({ ok: true, request: { to: { phone: '+44 7700 900123' }, template: { name: 'order_shipped', language: 'en_US', parameters: ['Jane', '1042'] } }, paramFields: ['param_1', 'param_2'] });
  });

  it('named param_ fields fill a named template, and a parameters list fills a positional one', () => {
    expect(mapped({ phone: '447700900123', template: 'appointment_reminder', param_first_name: 'Jane', param_day: 'Friday' })).toMatchObject({ ok: true, request: { template: { parameters: { first_name: 'Jane', day: 'Friday' } } } });
    expect(mapped({ phone: '447700900123', template: 'order_shipped', parameters: ['Jane', 7] })).toMatchObject({ ok: true, request: { template: { parameters: ['Jane', '7'] } }, paramFields: ['parameters.0', 'parameters.1'] });
  });

  it("the recipe's template and sender apply when the payload names none; a record id is this connector's record", () => {
    const result = mapped({ record_id: 5501 }, { enabled: true, template: { name: 'welcome', language: 'de' }, from: '106540352242922' });
    expect(result).toMatchObject({ ok: true, request: { to: { record: { connector: 'hubspot', id: '5501' } }, template: { name: 'welcome', language: 'de', parameters: [] }, from: '106540352242922' } });
  });

  it('a payload template other than the configured one does not borrow its language', () => {
    expect(mapped({ phone: '447700900123', template: 'other' }, { enabled: true, template: { name: 'welcome', language: 'de' } })).toMatchObject({ ok: true, request: { template: { name: 'other', language: 'en_US' } } });
  });

  it('an empty property (HubSpot and Zendesk send "" for an unset one) counts as missing, and is refused by name', () => {
    expect(refusedField({ phone: '', template: 't' })).toMatchObject({ status: 400, field: 'phone', error: expect.stringMatching(/all missing or empty/) });
    expect(refusedField({ phone: '447700900123', template: 't', param_1: 'Jane', param_2: ' ' })).toMatchObject({ field: 'param_2', error: 'param_2 is empty (is the property or placeholder set on this record?)' });
    expect(refusedField({ phone: '447700900123', template: 't', parameters: ['Jane', ''] })).toMatchObject({ field: 'parameters.1' });
  });

  it('refuses each malformed payload naming the field', () => {
    expect(refusedField({ phone: '447700900123', template: 't', param_1: 'a', param_3: 'c' })).toMatchObject({ field: 'param_2', error: expect.stringMatching(/without gaps/) });
    expect(refusedField({ phone: '447700900123', template: 't', param_1: 'a', param_name: 'c' })).toMatchObject({ field: 'param_1', error: expect.stringMatching(/mix of numbered/) });
    expect(refusedField({ phone: '447700900123', template: 't', parameters: ['a'], param_1: 'a' })).toMatchObject({ field: 'param_1' });
    expect(refusedField({ phone: '447700900123', template: 't', firstname: 'Jane' })).toMatchObject({ field: 'firstname', error: 'unknown field firstname', hint: expect.stringMatching(/phone, bsuid, record_id/) });
    expect(refusedField({ phone: '447700900123', bsuid: 'US.1', template: 't' })).toMatchObject({ field: 'phone', error: 'give exactly one of phone, bsuid or record_id' });
    expect(refusedField({ phone: '447700900123' })).toMatchObject({ field: 'template', error: expect.stringMatching(/no template/) });
    expect(refusedField({ phone: '447700900123', template: { name: 't' } })).toMatchObject({ field: 'template', error: 'template: must be a text or a number' });
    expect(refusedField({ phone: '447700900123', text: 'hi', template: 't' })).toMatchObject({ field: 'text' });
    expect(refusedField([{ phone: '1' }])).toMatchObject({ field: '(body)' });
  });

  it('free text is passed on as text (the 24-hour rule is the outbound API\'s)', () => {
    expect(mapped({ phone: '447700900123', text: 'Your order left' })).toMatchObject({ ok: true, request: { to: { phone: '447700900123' }, text: 'Your order left' } });
  });
});

describe('recognising a repeated call', () => {
  it("the payload's idempotency_key wins, then the vendor's event id, then the payload itself (keys in any order)", () => {
    expect(recipeIdempotencyKey({ idempotency_key: 'deal-881-won', phone: '1' }, 'inv-1')).toBe('deal-881-won');
    expect(recipeIdempotencyKey({ idempotency_key: 881 }, undefined)).toBe('881');
    // A key the API would refuse (a space, from a formula joining a stage name) is hashed, still one per value.
    const spaced = recipeIdempotencyKey({ idempotency_key: '006Ab-Closed Won' }, undefined);
    expect(spaced).toMatch(/^key:[0-9a-f]{64}$/);
    expect(recipeIdempotencyKey({ idempotency_key: '006Ab-Closed Won' }, undefined)).toBe(spaced);
    expect(recipeIdempotencyKey({ idempotency_key: '006Ab-Closed Lost' }, undefined)).not.toBe(spaced);
    expect(recipeIdempotencyKey({ phone: '1' }, '8350205582')).toBe('event:8350205582');
    const a = recipeIdempotencyKey({ phone: '1', template: 't', param_1: 'x' }, undefined);
    expect(a).toMatch(/^payload:[0-9a-f]{64}$/);
    expect(recipeIdempotencyKey({ param_1: 'x', template: 't', phone: '1' }, undefined)).toBe(a);
    expect(recipeIdempotencyKey({ phone: '1', template: 't', param_1: 'y' }, undefined)).not.toBe(a);
  });
});

describe('a shared token', () => {
  const token = 'a'.repeat(32);
  const headers = (values: Record<string, string>) => (name: string) => values[name];
  it('passes only the configured token, in the configured header; authorization wants Bearer', () => {
    expect(authenticateSharedToken(headers({ 'x-key': token }), 'x-key', token, 'p')).toEqual({ ok: true });
    expect(authenticateSharedToken(headers({ 'x-key': `${token}b` }), 'x-key', token, 'p')).toMatchObject({ ok: false, reason: 'bad_token', error: 'missing or wrong x-key header' });
    expect(authenticateSharedToken(headers({}), 'x-key', token, 'p')).toMatchObject({ ok: false, reason: 'bad_token' });
    expect(authenticateSharedToken(headers({ authorization: `Bearer ${token}` }), 'authorization', token, 'p')).toEqual({ ok: true });
    expect(authenticateSharedToken(headers({ authorization: token }), 'authorization', token, 'p')).toMatchObject({ ok: false });
  });
  it('without a configured token every call is refused as a setup problem, naming the setting', () => {
    expect(authenticateSharedToken(headers({ 'x-key': '' }), 'x-key', undefined, 'connectors.salesforce.flowRecipe.token')).toMatchObject({ ok: false, reason: 'no_secret', hint: expect.stringMatching(/connectors\.salesforce\.flowRecipe\.token/) });
  });
});
