// Template header and URL button parameters, checked against the cached template before anything
// is queued (each refusal names its field), and sent as the components WhatsApp documents.
import { describe, expect, it } from 'vitest';
import { templateComponents } from '../../../connectors/whatsapp/mappers.js';
import { checkTemplate, type MessageTemplate } from '../../../core/outbound/templates.js';

const template = (extra: Partial<MessageTemplate>): MessageTemplate => ({
  name: 'order_update', language: 'en_US', status: 'APPROVED', category: 'UTILITY', parameterFormat: 'POSITIONAL',
  bodyParameters: ['1'], bodyText: 'Hi {{1}}, your order moved.', headerParameters: [], headerText: '', urlButtons: [], mediaHeader: null, ...extra,
});
const ask = (extra: Record<string, unknown> = {}) => ({ name: 'order_update', language: 'en_US', parameters: ['Jane'], ...extra });

describe('template header and button parameters', () => {
  const withHeader = template({ headerParameters: ['1'], headerText: 'Order {{1}}' });
  const withButton = template({ urlButtons: [1] });
  const named = template({ parameterFormat: 'NAMED', bodyParameters: ['first_name'], headerParameters: ['order_id'], headerText: 'Order {{order_id}}' });

  it('a text header\'s parameter is required, one and only one, and the hint shows the header', () => {
    expect(checkTemplate([withHeader], ask())).toEqual({ ok: false, field: 'template.header', error: 'template "order_update" takes 1 header parameter, 0 given', hint: 'its header: Order {{1}}' });
    expect(checkTemplate([withHeader], ask({ header: ['A-1', 'A-2'] }))).toMatchObject({ ok: false, field: 'template.header', error: 'template "order_update" takes 1 header parameter, 2 given' });
    expect(checkTemplate([withHeader], ask({ header: ['A-1042'] }))).toMatchObject({ ok: true, headerNames: null });
    // A header parameter for a template without one is refused too.
    expect(checkTemplate([template({})], ask({ header: ['A-1042'] }))).toMatchObject({ ok: false, field: 'template.header', error: 'template "order_update" takes 0 header parameters, 1 given' });
  });

  it('a named template\'s header goes by name', () => {
    expect(checkTemplate([named], { ...ask({ parameters: { first_name: 'Jane' } }), header: ['A-1042'] })).toMatchObject({ ok: false, field: 'template.header', error: 'template "order_update" takes named header parameters' });
    expect(checkTemplate([named], { ...ask({ parameters: { first_name: 'Jane' } }), header: { order: 'A-1042' } })).toMatchObject({ ok: false, field: 'template.header', error: 'template "order_update" takes the header names order_id; missing order_id; unknown order' });
    expect(checkTemplate([named], { ...ask({ parameters: { first_name: 'Jane' } }), header: { order_id: 'A-1042' } })).toMatchObject({ ok: true, parameterNames: ['first_name'], headerNames: ['order_id'] });
  });

  it('each URL button ending in a parameter needs its suffix by index; other indexes and repeats are refused', () => {
    expect(checkTemplate([withButton], ask())).toMatchObject({ ok: false, field: 'template.buttons', error: expect.stringContaining('URL button ending in a parameter at index 1, and no urlSuffix was given'), hint: expect.stringContaining('{ "index": 1, "urlSuffix": "…" }') });
    expect(checkTemplate([withButton], ask({ buttons: [{ index: 0, urlSuffix: 'A-1042' }] }))).toMatchObject({ ok: false, field: 'template.buttons[0].index', error: 'template "order_update" has no URL button with a parameter at index 0', hint: 'its URL buttons with a parameter are at index 1 (counting every button from 0)' });
    expect(checkTemplate([withButton], ask({ buttons: [{ index: 1, urlSuffix: 'a' }, { index: 1, urlSuffix: 'b' }] }))).toMatchObject({ ok: false, field: 'template.buttons[1].index', error: 'button 1 is given twice' });
    expect(checkTemplate([withButton], ask({ buttons: [{ index: 1, urlSuffix: 'A-1042' }] }))).toMatchObject({ ok: true });
  });

  it('the send carries header, body and button components in WhatsApp\'s shapes', () => {
    expect(templateComponents({ name: 'order_update', language: 'en_US', parameters: ['Jane'], header: ['A-1042'], headerNames: ['order_id'], buttons: [{ index: 1, urlSuffix: 'A-1042' }] })).toEqual([
      { type: 'header', parameters: [{ type: 'text', text: 'A-1042', parameter_name: 'order_id' }] },
      { type: 'body', parameters: [{ type: 'text', text: 'Jane' }] },
      { type: 'button', sub_type: 'url', index: '1', parameters: [{ type: 'text', text: 'A-1042' }] },
    ]);
    expect(templateComponents({ name: 'hello', language: 'en_US', parameters: [] })).toEqual([]);
  });
});
