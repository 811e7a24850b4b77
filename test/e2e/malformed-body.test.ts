// A signed body that is not JSON: flagged and kept, and the log says where it breaks without
// quoting it (JSON.parse's own message would carry the customer's number into the log).
import { afterAll, describe, expect, it } from 'vitest';
import { expectNoPersonalData } from '../helpers/personal-data.js';
import { serviceWith, waitFor, type ServiceProcess } from '../helpers/service-process.js';

describe('a malformed signed webhook body', () => {
  let service: ServiceProcess | undefined;
  afterAll(async () => service?.kill());

  it('is flagged with its position and length only: no fragment of it reaches the log', { timeout: 60_000 }, async () => {
    ({ service } = await serviceWith(({ config }) => config));
    await service.start();
    const body = '{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"messages":[{"from":"447700900461" "text":{"body":"call me on 07700 900461"}}]}}]}]}';
    expect(await service.sendWebhook(body)).toBe(200);
    await waitFor(() => service!.output.includes('delivery flagged'), 20_000, 'the delivery flagged');
    expect(service.output).toMatch(new RegExp(`"first":"body is not valid JSON \\(${body.length} characters; the first error at position \\d+\\)"`));
    expectNoPersonalData(service.output, { phones: ['447700900461'], values: ['call me on'] });
  });
});
