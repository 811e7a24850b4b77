// The outbound API through the real service process against the WhatsApp, HubSpot, Salesforce
// and Zendesk sandboxes: a template sent by a CRM workflow reaches WhatsApp once and is logged
// on each CRM like any message the business sent; a SIGKILL between accepting a request and
// sending it sends it once after the restart, and the caller's retry changes nothing.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimulatedCustomer } from '../../sandbox/whatsapp.js';
import { CrmSandboxes } from '../helpers/crm-sandboxes.js';
import { projectRoot } from '../helpers/fixtures.js';
import { APP_SECRET, type ServiceProcess, waitFor } from '../helpers/service-process.js';

const run = promisify(execFile);
const bin = join(projectRoot, 'bin/wa-crm-sync.js');

describe('the outbound API end to end', () => {
  const sandboxes = new CrmSandboxes();
  const { whatsapp, hubspot, salesforce, zendesk, simulator } = sandboxes;
  let service: ServiceProcess;
  let configPath: string;
  let token: string;
  const now = () => Math.floor(Date.now() / 1000);
  const ada: SimulatedCustomer = { waId: '447700900701', name: 'Ada Outbound' };
  const ben: SimulatedCustomer = { waId: '447700900702', name: 'Ben Killed' };
  const sentTo = (c: SimulatedCustomer) => whatsapp.state.sent.filter((s) => s.to === `+${c.waId}`);
  const send = (body: unknown, key: string) =>
    fetch(`${service.baseUrl}/api/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
  const state = (id: string) => fetch(`${service.baseUrl}/api/v1/messages/${id}`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.json() as Promise<Record<string, unknown>>);
  const cli = async (...args: string[]) => (await run(process.execPath, [bin, ...args, '--config', configPath])).stdout;

  beforeAll(async () => {
    ({ service, configPath } = await sandboxes.serviceWith());
    await service.start(60_000);
    whatsapp.deliverStatusesTo(`${service.baseUrl}/webhooks/whatsapp`, APP_SECRET);
    token = (await cli('tokens', 'create', 'crm-workflow', '--role', 'viewer', '--permission', 'send')).trim();
  }, 180_000);

  afterAll(async () => {
    if (process.env['DEBUG_E2E']) console.log(service.output.slice(-6000));
    await service.kill('SIGTERM');
    await sandboxes.stop();
  });

  it('`wa-crm-sync templates` lists the account\'s templates with their parameters', { timeout: 60_000 }, async () => {
    const listed = await cli('templates');
    expect(listed).toMatch(/order_shipped\s+en_US\s+APPROVED\s+UTILITY\s+2 parameters \(positional\)/);
    expect(listed).toMatch(/appointment_reminder\s+en_US\s+APPROVED\s+UTILITY\s+2 parameters \(first_name, day\)/);
    expect(listed).toMatch(/welcome_back\s+en_US\s+PENDING/);
  });

  it('a template sent through the API reaches WhatsApp once and is logged on the HubSpot contact, the Salesforce Task and the Zendesk ticket', { timeout: 180_000 }, async () => {
    await service.deliver(simulator.message(ada, { type: 'text', text: { body: 'Has my order left?' } }, now()).body);
    const contactOf = () => hubspot.state.objects['contacts']?.find((r) => r.properties['whatsapp_id'] === `+${ada.waId}`);
    const ticketOf = () => zendesk.state.tickets.find((t) => t.requester_id === zendesk.state.users.find((u) => u.external_id === `+${ada.waId}`)?.id);
    await waitFor(() => contactOf() !== undefined && ticketOf() !== undefined, 90_000, "Ada's records");

    const answer = await send({ to: { phone: '+44 7700 900701' }, template: { name: 'order_shipped', language: 'en_US', parameters: ['Ada', 'A-1042'] } }, 'hubspot-deal-881-won');
    expect(answer.status).toBe(202);
    const id = answer.body['id'] as string;
    const words = 'Hi Ada, your order A-1042 has shipped.';
    await waitFor(() => sentTo(ada).length === 1, 60_000, 'the send');
    await waitFor(() => (hubspot.state.objects['communications'] ?? []).some((c) => (c.properties['hs_communication_body'] ?? '').includes(words)), 90_000, 'the HubSpot communication');
    await waitFor(() => salesforce.state.records['Task']!.some((t) => String(t['Description']).includes(words)), 90_000, 'the Salesforce Task');
    await waitFor(() => ticketOf()!.comments.some((c) => c.body.includes(words)), 90_000, 'the Zendesk comment');
    await waitFor(async () => ['delivered', 'read'].includes(String((await state(id))['state'])), 60_000, 'delivered');

    const view = await state(id);
    expect(view).toMatchObject({ id, kind: 'template', messageIds: [sentTo(ada)[0]!.id], statuses: expect.arrayContaining([expect.objectContaining({ status: 'sent' }), expect.objectContaining({ status: 'delivered' })]) });
    // The caller's retry: the same id, nothing sent again.
    const retried = await send({ to: { phone: '+44 7700 900701' }, template: { name: 'order_shipped', language: 'en_US', parameters: ['Ada', 'A-1042'] } }, 'hubspot-deal-881-won');
    expect(retried).toMatchObject({ status: 202, body: { id } });
    await new Promise((r) => setTimeout(r, 1000));
    expect(sentTo(ada)).toHaveLength(1);
    expect((hubspot.state.objects['communications'] ?? []).filter((c) => (c.properties['hs_communication_body'] ?? '').includes(words))).toHaveLength(1);
    expect(ticketOf()!.comments.filter((c) => c.body.includes(words))).toHaveLength(1);
  });

  it('a SIGKILL between accepting a request and sending it sends it once after the restart', { timeout: 180_000 }, async () => {
    // Paused: the request is accepted and queued, and nothing can send it before the kill.
    await cli('pause', 'whatsapp');
    await new Promise((r) => setTimeout(r, 1500));
    const answer = await send({ to: { phone: ben.waId }, template: { name: 'order_shipped', language: 'en_US', parameters: ['Ben', 'B-7'] } }, 'zendesk-ticket-77-solved');
    expect(answer.status).toBe(202);
    const id = answer.body['id'] as string;
    await service.kill('SIGKILL');
    expect(sentTo(ben)).toHaveLength(0);
    await service.start(60_000);
    // The caller did not see an answer (say) and retries after the restart: the same message.
    const retried = await send({ to: { phone: ben.waId }, template: { name: 'order_shipped', language: 'en_US', parameters: ['Ben', 'B-7'] } }, 'zendesk-ticket-77-solved');
    expect(retried).toMatchObject({ status: 202, body: { id } });
    await cli('resume', 'whatsapp');
    await waitFor(() => sentTo(ben).length === 1, 60_000, "Ben's send");
    await waitFor(async () => ['sent', 'delivered', 'read'].includes(String((await state(id))['state'])), 60_000, 'sent');

    // Killed again right after WhatsApp took a send whose answer never came back: its statuses,
    // redelivered until the restarted service takes them, tell it the send arrived within
    // lostAnswerWaitSeconds, so it is not sent twice.
    whatsapp.loseSendAnswers = 1;
    const second = await send({ to: { phone: ben.waId }, template: { name: 'order_shipped', language: 'en_US', parameters: ['Ben', 'B-8'] } }, 'zendesk-ticket-78-solved');
    expect(second.status).toBe(202);
    await waitFor(() => sentTo(ben).length === 2, 60_000, 'the second send');
    await service.kill('SIGKILL');
    await service.start(60_000);
    const secondId = second.body['id'] as string;
    await waitFor(async () => ['sent', 'delivered', 'read'].includes(String((await state(secondId))['state'])), 90_000, 'the second send settled');
    await new Promise((r) => setTimeout(r, 1000));
    expect(sentTo(ben)).toHaveLength(2);
    expect(whatsapp.state.answersLost).toBe(1);
  });
});
