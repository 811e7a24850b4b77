// The webhook endpoint of the real service process: handshake, signatures, size limit,
// malformed bodies kept and flagged, health, metrics, and what reaches the logs.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE, readExample, sign, textWebhook } from '../helpers/fixtures.js';
import { postWithHeaders } from '../helpers/http.js';
import { storedDeliveries } from '../helpers/intake.js';
import { APP_SECRET, baseConfig, freePort, ServiceProcess, waitFor, writeConfig } from '../helpers/service-process.js';
import { tempDir } from '../helpers/stores.js';

describe('WhatsApp webhook endpoint', () => {
  let service: ServiceProcess;
  let dbPath: string;
  // The store's deliveries and, after them, those acknowledged into the intake file and not yet imported.
  const deliveries = () => storedDeliveries(dbPath);

  beforeAll(async () => {
    const dir = tempDir();
    dbPath = join(dir, 'store.sqlite');
    const port = await freePort();
    const configPath = join(dir, 'wa-crm-sync.yaml');
    const config = baseConfig({ storeUrl: `sqlite:${dbPath}`, port, dir });
    writeConfig(configPath, { ...config, server: { port, host: '127.0.0.1', bodyLimitBytes: 4096 } });
    service = new ServiceProcess(configPath, port);
    await service.start();
  });
  afterAll(async () => {
    await service.kill('SIGTERM');
  });

  it("answers Meta's verification handshake only with our verify token", async () => {
    const ok = await fetch(`${service.baseUrl}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('1158201444');
    const wrong = await fetch(`${service.baseUrl}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1`);
    expect(wrong.status).toBe(403);
  });

  it('rejects a missing or wrong signature with 401 and stores nothing', async () => {
    const body = readExample('message-text');
    expect(await service.sendWebhook(body, '')).toBe(401);
    expect(await service.sendWebhook(body, sign('another-secret', body))).toBe(401);
    expect(await service.sendWebhook(body, sign(APP_SECRET, `${body} `))).toBe(401);
    expect(deliveries()).toEqual([]);
  });

  it('rejects malformed signatures, even those that decode to the right bytes, and stores nothing', async () => {
    const body = textWebhook({ from: '447700900123', id: 'wamid.forged', timestamp: 1_760_000_000, body: 'forged' });
    const good = sign(APP_SECRET, body);
    const post = (signature: string | string[]) => postWithHeaders(`${service.baseUrl}/webhooks/whatsapp`, { 'content-type': 'application/json', 'x-hub-signature-256': signature }, body);
    const malformed: Array<[string, string | string[]]> = [
      ['the prefix alone', 'sha256='],
      ['one byte', good.slice(0, 'sha256='.length + 2)],
      ['31 of the 32 bytes', good.slice(0, -2)],
      ['odd length: one digit more', `${good}0`],
      ['non-hex junk after it', `${good}zz`],
      ['sent twice (two header lines)', [good, good]],
      ['the right one and a wrong one (two header lines)', [good, `sha256=${'0'.repeat(64)}`]],
      ['SHA256= in capitals', good.replace('sha256=', 'SHA256=')],
      ['sha1= prefix', good.replace('sha256=', 'sha1=')],
      ['no prefix', good.slice('sha256='.length)],
    ];
    for (const [what, signature] of malformed) expect(await post(signature), what).toBe(401);
    expect(deliveries()).toEqual([]);
  });

  it('stores a signed delivery before answering 200', async () => {
    expect(await service.sendWebhook(readExample('message-text'))).toBe(200);
    expect(deliveries()).toHaveLength(1);
    await waitFor(() => deliveries()[0]!.state === 'processed', 5000, 'processing');
  });

  it('refuses bodies over the size limit with 413', async () => {
    const big = JSON.stringify({ object: 'whatsapp_business_account', entry: [], padding: 'x'.repeat(5000) });
    expect(await service.sendWebhook(big)).toBe(413);
  });

  it('refuses a declared 5 GB body with 413 at once and closes the connection instead of draining it', async () => {
    const { connect } = await import('node:net');
    const socket = connect(service.port, '127.0.0.1');
    const started = Date.now();
    socket.write('POST /webhooks/whatsapp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000000000\r\n\r\n{"a":');
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (c: Buffer) => (text += c.toString()));
      socket.on('close', () => resolve(text));
      // Keep sending as a client with 5 GB would: a server that drains never answers.
      const timer = setInterval(() => socket.writable && socket.write('x'.repeat(1024)), 20);
      socket.on('close', () => clearInterval(timer));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('counts a too-large body on /webhooks/zendesk as zendesk, not whatsapp', async () => {
    const before = await (await fetch(`${service.baseUrl}/metrics`)).text();
    const count = (text: string, source: string) => Number(new RegExp(`wa_crm_sync_webhooks_total\\{source="${source}",result="too_large"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    expect((await fetch(`${service.baseUrl}/webhooks/zendesk`, { method: 'POST', body: 'x'.repeat(10_000) })).status).toBe(413);
    const after = await (await fetch(`${service.baseUrl}/metrics`)).text();
    expect([count(after, 'zendesk') - count(before, 'zendesk'), count(after, 'whatsapp') - count(before, 'whatsapp')]).toEqual([1, 0]);
  });

  it('keeps malformed JSON and unknown shapes, flagged, without crashing', async () => {
    expect(await service.sendWebhook('{"broken": ')).toBe(200);
    expect(await service.sendWebhook('{"object":"page","entry":[]}')).toBe(200);
    await waitFor(() => deliveries().filter((d) => d.state === 'flagged').length === 2, 5000, 'flagged deliveries');
    expect((await fetch(`${service.baseUrl}/healthz`)).status).toBe(200);
  });

  it('reports readiness and metrics', async () => {
    const ready = await fetch(`${service.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', store: true });
    const metrics = await (await fetch(`${service.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/wa_crm_sync_webhooks_total\{source="whatsapp",result="bad_signature"\} 13/);
    expect(metrics).toMatch(/wa_crm_sync_webhooks_total\{source="whatsapp",result="too_large"\} 2/); // the 4 kB one and the declared 5 GB one
    expect(metrics).toContain('wa_crm_sync_outbox_operations');
    expect(metrics).toContain('# TYPE wa_crm_sync_connector_up gauge');
  });

  it('keeps message bodies, phone numbers and secrets out of the logs', () => {
    // What the delivered fixture (message-text) carries: its text, the customer's number and name.
    const value = JSON.parse(readExample('message-text')).entry[0].changes[0].value;
    expect(value.messages[0].text.body).toBe('Hello, is my kettle repair ready to collect?');
    expect(service.output).not.toContain(value.messages[0].text.body);
    expect(service.output).not.toContain(FIXTURE.customerWaId);
    expect(service.output).not.toContain(FIXTURE.customerWaId.slice(-7));
    expect(service.output).not.toContain(APP_SECRET);
  });
});
