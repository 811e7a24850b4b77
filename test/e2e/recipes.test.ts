// The CRM workflow recipes through the real service process, called by each CRM's sandbox sender
// as the vendor sends them: a HubSpot workflow's signed "Send a webhook" naming the contact by its
// Record ID, a Salesforce flow's HTTP callout with its custom header, a Zendesk trigger's signed
// webhook with its placeholders filled from the ticket. Each sends its template once, whatever
// the retries, and no secret or number reaches the service's output.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendWorkflowWebhook } from '../../sandbox/hubspot.js';
import { sendFlowHttpCallout } from '../../sandbox/salesforce.js';
import type { SimulatedCustomer } from '../../sandbox/whatsapp.js';
import { CrmSandboxes } from '../helpers/crm-sandboxes.js';
import { APP_SECRET, type ServiceProcess, waitFor } from '../helpers/service-process.js';

const CLIENT_SECRET = 'hubspot-app-client-secret-e2e-01';
const FLOW_TOKEN = 'flow-token-0123456789abcdef0123456789';
const ZENDESK_SECRET = 'zendesk-recipe-signing-secret-e2e';

describe('the CRM workflow recipes end to end', () => {
  const sandboxes = new CrmSandboxes();
  const { whatsapp, hubspot, zendesk, simulator } = sandboxes;
  let service: ServiceProcess;
  let recipeUrl: (path: string) => string;
  const now = () => Math.floor(Date.now() / 1000);
  const ada: SimulatedCustomer = { waId: '447700900801', name: 'Ada Workflow' };
  const bo: SimulatedCustomer = { waId: '447700900802', name: 'Bo Flow' };
  const cy: SimulatedCustomer = { waId: '447700900803', name: 'Cy Trigger' };
  const sentTo = (c: SimulatedCustomer) => whatsapp.state.sent.filter((s) => s.to === `+${c.waId}`);

  beforeAll(async () => {
    ({ service } = await sandboxes.serviceWith(
      (port) => {
        recipeUrl = (path) => `http://127.0.0.1:${port}/api/v1/recipes/${path}`;
        return {
          hubspot: { workflowRecipe: { enabled: true, clientSecret: CLIENT_SECRET, url: recipeUrl('hubspot-workflow') } },
          salesforce: { flowRecipe: { enabled: true, token: FLOW_TOKEN } },
          zendesk: { triggerRecipe: { enabled: true, signingSecret: ZENDESK_SECRET } },
        };
      },
      (config) => ({ ...config, log: { level: 'debug' } }),
    ));
    await service.start(60_000);
    whatsapp.deliverStatusesTo(`${service.baseUrl}/webhooks/whatsapp`, APP_SECRET);
  }, 180_000);

  afterAll(async () => {
    if (process.env['DEBUG_E2E']) console.log(service.output.slice(-6000));
    await service.kill('SIGTERM');
    await sandboxes.stop();
  });

  it("a HubSpot workflow's signed webhook naming the contact's Record ID sends once and is logged on the contact", { timeout: 150_000 }, async () => {
    await service.deliver(simulator.message(ada, { type: 'text', text: { body: 'Where is my order?' } }, now()).body);
    const contactOf = () => hubspot.state.objects['contacts']?.find((r) => r.properties['whatsapp_id'] === `+${ada.waId}`);
    await waitFor(() => contactOf() !== undefined, 90_000, "Ada's HubSpot contact");
    // "Customize request body": Record ID, static values, and two contact properties.
    const body = { record_id: contactOf()!.id, template: 'order_shipped', language: 'en_US', param_1: 'Ada', param_2: 'A-2001' };
    const first = await sendWorkflowWebhook(recipeUrl('hubspot-workflow'), body, { clientSecret: CLIENT_SECRET });
    expect(first).toMatchObject({ status: 202, body: { state: 'queued', kind: 'template' } });
    const retry = await sendWorkflowWebhook(recipeUrl('hubspot-workflow'), body, { clientSecret: CLIENT_SECRET, timestamp: Date.now() + 5 });
    expect(retry.body['id']).toBe(first.body['id']);
    expect((await sendWorkflowWebhook(recipeUrl('hubspot-workflow'), body, { clientSecret: CLIENT_SECRET, signWith: 'forged-secret' })).status).toBe(401);
    const words = 'Hi Ada, your order A-2001 has shipped.';
    await waitFor(() => (hubspot.state.objects['communications'] ?? []).some((c) => (c.properties['hs_communication_body'] ?? '').includes(words)), 90_000, 'the HubSpot communication');
    expect(sentTo(ada)).toHaveLength(1);
  });

  it("a Salesforce flow's HTTP callout with the external credential's header sends once per idempotency_key", { timeout: 120_000 }, async () => {
    const body = { phone: `+${bo.waId}`, template: 'order_shipped', parameters: ['Bo', 'B-3001'], idempotency_key: '006Ab00000XyZ-Closed_Won' };
    const header = { name: 'X-Wa-Crm-Sync-Key', value: FLOW_TOKEN };
    const first = await sendFlowHttpCallout(recipeUrl('salesforce-flow'), body, header);
    expect(first.status).toBe(202);
    expect((await sendFlowHttpCallout(recipeUrl('salesforce-flow'), body, header)).body['id']).toBe(first.body['id']);
    expect((await sendFlowHttpCallout(recipeUrl('salesforce-flow'), body, { ...header, value: 'x'.repeat(40) })).status).toBe(401);
    await waitFor(() => sentTo(bo).length === 1, 60_000, "Bo's send");
    await new Promise((r) => setTimeout(r, 1000));
    expect(sentTo(bo)).toHaveLength(1);
  });

  it("a Zendesk trigger's signed webhook, its placeholders filled from the ticket, sends once across Zendesk's retries", { timeout: 150_000 }, async () => {
    await service.deliver(simulator.message(cy, { type: 'text', text: { body: 'Is my ticket solved?' } }, now()).body);
    const ticketOf = () => zendesk.state.tickets.find((t) => t.requester_id === zendesk.state.users.find((u) => u.external_id === `+${cy.waId}`)?.id);
    await waitFor(() => ticketOf() !== undefined, 90_000, "Cy's ticket");
    const template = '{ "phone": "{{ticket.requester.phone}}", "template": "order_shipped", "language": "en_US", "param_1": "{{ticket.requester.first_name}}", "param_2": "{{ticket.id}}" }';
    const answers = await zendesk.fireTriggerWebhook(ticketOf()!.id, recipeUrl('zendesk-trigger'), template, { signingSecret: ZENDESK_SECRET }, { attempts: 2 });
    expect(answers.map((a) => a.status)).toEqual([202, 202]);
    expect(answers[1]!.body['id']).toBe(answers[0]!.body['id']);
    await waitFor(() => sentTo(cy).length === 1, 60_000, "Cy's send");
    const sent = sentTo(cy)[0]!.body as { template: { components: Array<{ parameters: Array<{ text: string }> }> } };
    expect(sent.template.components[0]!.parameters.map((p) => p.text)).toEqual(['Cy', String(ticketOf()!.id)]);
    await new Promise((r) => setTimeout(r, 1000));
    expect(sentTo(cy)).toHaveLength(1);
  });

  it('no recipe secret, token or customer number reaches the output (debug level)', () => {
    for (const secret of [CLIENT_SECRET, FLOW_TOKEN, ZENDESK_SECRET, ada.waId, bo.waId, cy.waId]) expect(service.output).not.toContain(secret);
  });
});
