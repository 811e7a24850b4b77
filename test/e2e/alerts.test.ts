// Security alerts through the real service process: an account webhook, a burst of forged
// webhooks and a refused credential reach a Slack-compatible sink, and `wa-crm-sync alerts` lists them.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoopbackServer } from '../../sandbox/loopback.js';
import { ZendeskSandbox } from '../../sandbox/zendesk.js';
import { projectRoot, readExample } from '../helpers/fixtures.js';
import { serviceWith, type ServiceProcess, waitFor } from '../helpers/service-process.js';

describe('security alerts end to end', () => {
  const sink = new LoopbackServer();
  const received: Array<{ text: string }> = [];
  const zendesk = new ZendeskSandbox({ apiToken: 'the-real-token' });
  let service: ServiceProcess;
  let configPath: string;

  beforeAll(async () => {
    const app = express();
    app.use(express.json());
    app.post('/slack', (req, res) => {
      received.push(req.body as { text: string });
      res.send('ok');
    });
    const sinkUrl = await sink.start(app);
    const zendeskUrl = await zendesk.start();
    ({ service, configPath } = await serviceWith(({ config }) => ({
      ...config,
      whatsapp: { ...config.whatsapp, accessToken: 'EAAG-unused' },
      alerts: { sinks: [{ type: 'slack', url: `${sinkUrl}/slack` }], badSignatures: { count: 5, windowSeconds: 60 } },
      // A revoked token: Zendesk refuses it.
      connectors: { zendesk: { enabled: true, baseUrl: zendeskUrl, email: zendesk.credentials.email, apiToken: 'a-revoked-token', autoSetup: false } },
    })));
    await service.start();
  });

  afterAll(async () => {
    await service.kill('SIGTERM');
    await Promise.all([sink.stop(), zendesk.stop()]);
  });

  it('tells the sink about a PIN change, forged webhooks and a refused credential, and lists them', { timeout: 30_000 }, async () => {
    await service.deliver(readExample('field-security'));
    for (let i = 0; i < 5; i++) expect(await service.sendWebhook('{"object":"whatsapp_business_account","entry":[]}', 'sha256=00')).toBe(401);
    await waitFor(() => received.length >= 3, 15_000, 'three alerts at the sink');
    const texts = received.map((r) => r.text).join('\n');
    expect(texts).toMatch(/:rotating_light: \*wa-crm-sync: WhatsApp number \+15\*+47: two-step verification PIN was changed\*/);
    expect(texts).toMatch(/5 whatsapp webhook calls with a bad signature in 1 minutes/);
    expect(texts).toMatch(/zendesk: credentials refused or missing scopes/);
    const { stdout } = await promisify(execFile)(process.execPath, [join(projectRoot, 'bin/wa-crm-sync.js'), 'alerts', '--json', '--config', configPath]);
    expect((JSON.parse(stdout) as Array<{ kind: string }>).map((a) => a.kind).sort()).toEqual(['account_security', 'bad_signatures', 'credential_refused']);
    const metrics = await (await fetch(`${service.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/wa_crm_sync_alerts_total\{kind="account_security",severity="critical"\} 1/);
  });
});
