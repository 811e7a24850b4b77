// Hot reload through the real process: disable a connector, send messages, enable it again:
// all of them arrive. A broken file is refused and the running config stays.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { textWebhook } from '../helpers/fixtures.js';
import { Recorder } from '../helpers/recorder.js';
import { baseConfig, freePort, ServiceProcess, waitFor, writeConfig } from '../helpers/service-process.js';
import { freshStoreUrl, tempDir } from '../helpers/stores.js';

async function connectorState(service: ServiceProcess, id: string): Promise<string | undefined> {
  const res = await fetch(`${service.baseUrl}/readyz`);
  const body = (await res.json()) as { connectors: Array<{ connector: string; state: string }> };
  return body.connectors.find((c) => c.connector === id)?.state;
}

describe('hot reload', () => {
  const recorder = new Recorder();
  let service: ServiceProcess;
  let configPath: string;

  const setEnabled = (enabled: boolean) => {
    const config = parse(readFileSync(configPath, 'utf8')) as { connectors: { webhook: { enabled: boolean } } };
    config.connectors.webhook.enabled = enabled;
    writeFileSync(configPath, stringify(config));
  };

  beforeAll(async () => {
    const dir = tempDir();
    const recorderUrl = await recorder.start();
    const port = await freePort();
    configPath = join(dir, 'wa-crm-sync.yaml');
    writeConfig(configPath, baseConfig({ storeUrl: freshStoreUrl('sqlite').url, port, dir, recorderUrl }));
    service = new ServiceProcess(configPath, port);
    await service.start();
  });

  afterAll(async () => {
    await service.kill('SIGTERM');
    await recorder.stop();
  });

  it('disable a connector, send messages, enable it: all arrive', async () => {
    await service.deliver(textWebhook({ from: '447700900001', id: 'wamid.before', timestamp: 1_760_000_000, body: 'x' }));
    await waitFor(() => recorder.messages().length === 1, 10_000, 'first message');

    setEnabled(false);
    await waitFor(async () => (await connectorState(service, 'webhook')) === 'disabled', 10_000, 'connector disabled');
    for (let i = 0; i < 20; i++) {
      await service.deliver(textWebhook({ from: '447700900001', id: `wamid.while-off.${i}`, timestamp: 1_760_000_010 + i, body: 'x' }));
    }
    await new Promise((r) => setTimeout(r, 1000));
    expect(recorder.messages()).toHaveLength(1);
    const metrics = await (await fetch(`${service.baseUrl}/metrics`)).text();
    expect(metrics).toContain('wa_crm_sync_connector_up{connector="webhook",state="disabled"} 0');

    setEnabled(true);
    await waitFor(() => recorder.messages().length === 21, 15_000, 'messages sent while disabled');
    expect(recorder.messages().slice(1).map((e) => e.data['messageId'])).toEqual(Array.from({ length: 20 }, (_, i) => `wamid.while-off.${i}`));
    expect(service.output).toMatch(/"changed":\["connectors\.webhook\.enabled"/);
  });

  it('refuses an invalid file with a clear log line and keeps running on the old config', async () => {
    const good = readFileSync(configPath, 'utf8');
    writeFileSync(configPath, good.replace(/url: http:\/\/127\.0\.0\.1/, 'url: http://example.com'));
    await waitFor(() => service.output.includes('config reload refused'), 10_000, 'refusal logged');
    expect(service.output).toMatch(/connectors\.webhook\.url: \\"http:\/\/example\.com[^"]*\\" must use https/);
    expect(await connectorState(service, 'webhook')).toBe('running');
    writeFileSync(configPath, good);
  });

  it('reloads on SIGHUP', async () => {
    setEnabled(false);
    // The watcher may pick this up too; SIGHUP must work on its own.
    service.child!.kill('SIGHUP');
    await waitFor(async () => (await connectorState(service, 'webhook')) === 'disabled', 10_000, 'disabled after SIGHUP');
    setEnabled(true);
    service.child!.kill('SIGHUP');
    await waitFor(async () => (await connectorState(service, 'webhook')) === 'running', 10_000, 'running after SIGHUP');
  });
});
