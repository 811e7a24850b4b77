// Hot reload through the real process: disable a connector, send messages, enable it again:
// all of them arrive. A broken file is refused and the running config stays. SIGHUP reloads a
// config whose change the file watcher cannot see.
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { textWebhook } from '../helpers/fixtures.js';
import { recordedServiceForSuite } from '../helpers/recorded-service.js';
import { Recorder } from '../helpers/recorder.js';
import { baseConfig, freePort, holdsFor, outboxOperations, ServiceProcess, waitFor, writeConfig } from '../helpers/service-process.js';
import { freshStoreUrl, tempDir } from '../helpers/stores.js';

async function connectorState(service: ServiceProcess, id: string): Promise<string | undefined> {
  const res = await fetch(`${service.baseUrl}/readyz`);
  const body = (await res.json()) as { connectors: Array<{ connector: string; state: string }> };
  return body.connectors.find((c) => c.connector === id)?.state;
}

/** Writes the file in place with the webhook connector enabled or not, everything else as it was. */
function setWebhookEnabled(path: string, enabled: boolean): void {
  const config = parse(readFileSync(path, 'utf8')) as { connectors: { webhook: { enabled: boolean } } };
  config.connectors.webhook.enabled = enabled;
  writeFileSync(path, stringify(config));
}

describe('hot reload', () => {
  const suite = recordedServiceForSuite();

  const setEnabled = (enabled: boolean) => setWebhookEnabled(suite.configPath, enabled);

  it('disable a connector, send messages, enable it: all arrive', async () => {
    await suite.service.deliver(textWebhook({ from: '447700900001', id: 'wamid.before', timestamp: 1_760_000_000, body: 'x' }));
    await waitFor(() => suite.recorder.messages().length === 1, 10_000, 'first message');

    setEnabled(false);
    await waitFor(async () => (await connectorState(suite.service, 'webhook')) === 'disabled', 10_000, 'connector disabled');
    for (let i = 0; i < 20; i++) {
      await suite.service.deliver(textWebhook({ from: '447700900001', id: `wamid.while-off.${i}`, timestamp: 1_760_000_010 + i, body: 'x' }));
    }
    // The 20 are queued for the connector (so a running dispatch would have them), and none goes out.
    await waitFor(async () => (await outboxOperations(suite.service, 'webhook', 'pending')) >= 20, 10_000, 'the messages queued while disabled');
    await holdsFor(() => suite.recorder.messages().length === 1, 1000, 'nothing sent while the connector is disabled');
    const metrics = await (await fetch(`${suite.service.baseUrl}/metrics`)).text();
    expect(metrics).toContain('wa_crm_sync_connector_up{connector="webhook"} 0');
    expect(metrics).toContain('wa_crm_sync_connector_state{connector="webhook",state="disabled"} 1');

    setEnabled(true);
    await waitFor(() => suite.recorder.messages().length === 21, 15_000, 'messages sent while disabled');
    expect(suite.recorder.messages().slice(1).map((e) => e.data['messageId'])).toEqual(Array.from({ length: 20 }, (_, i) => `wamid.while-off.${i}`));
    expect(suite.service.output).toMatch(/"changed":\["connectors\.webhook\.enabled"/);
  });

  it('refuses an invalid file with a clear log line and keeps running on the old config', async () => {
    const good = readFileSync(suite.configPath, 'utf8');
    writeFileSync(suite.configPath, good.replace(/url: http:\/\/127\.0\.0\.1/, 'url: http://example.com'));
    await waitFor(() => suite.service.output.includes('config reload refused'), 10_000, 'refusal logged');
    expect(suite.service.output).toMatch(/connectors\.webhook\.url: \\"http:\/\/example\.com[^"]*\\" must use https/);
    expect(await connectorState(suite.service, 'webhook')).toBe('running');
    writeFileSync(suite.configPath, good);
  });

  it('reloads on SIGHUP', async () => {
    setEnabled(false);
    // The watcher may pick this up too; the test below proves SIGHUP works on its own.
    suite.service.child!.kill('SIGHUP');
    await waitFor(async () => (await connectorState(suite.service, 'webhook')) === 'disabled', 10_000, 'disabled after SIGHUP');
    setEnabled(true);
    suite.service.child!.kill('SIGHUP');
    await waitFor(async () => (await connectorState(suite.service, 'webhook')) === 'running', 10_000, 'running after SIGHUP');
  });
});

describe('SIGHUP with a config the file watcher cannot see change', () => {
  // The service is given a symlink (as a ConfigMap or /etc/alternatives setup does); the file it
  // points to lives in another folder and is written in place. The watcher looks at the symlink's
  // folder, which never changes: only the signal can make the service read the file again.
  const recorder = new Recorder();
  let service: ServiceProcess;
  let realPath: string;
  const setEnabled = (enabled: boolean) => setWebhookEnabled(realPath, enabled);

  beforeAll(async () => {
    const recorderUrl = await recorder.start();
    const port = await freePort();
    const configDir = tempDir();
    realPath = join(tempDir(), 'real-config.yaml');
    writeConfig(realPath, baseConfig({ storeUrl: freshStoreUrl('sqlite').url, port, dir: configDir, recorderUrl }));
    const linkPath = join(configDir, 'wa-crm-sync.yaml');
    symlinkSync(realPath, linkPath);
    service = new ServiceProcess(linkPath, port);
    await service.start();
  });

  afterAll(async () => {
    await service.kill('SIGTERM');
    await recorder.stop();
  });

  it('a change the watcher misses stays unapplied until SIGHUP, then applies; and back', async () => {
    expect(await connectorState(service, 'webhook')).toBe('running');
    setEnabled(false);
    // Well past the watcher's 200 ms debounce: had it seen the write, the reload would show here.
    await holdsFor(async () => (await connectorState(service, 'webhook')) === 'running' && !service.output.includes('config reloaded'), 1500, 'no reload without the signal');
    service.child!.kill('SIGHUP');
    await waitFor(async () => (await connectorState(service, 'webhook')) === 'disabled', 10_000, 'disabled after SIGHUP');
    // The state changes as the connectors are rebuilt; the log line comes after the scope check.
    await waitFor(() => /"changed":\["connectors\.webhook\.enabled".*config reloaded/.test(service.output), 10_000, 'the reload logged with what changed');

    setEnabled(true);
    await holdsFor(async () => (await connectorState(service, 'webhook')) === 'disabled', 1500, 'still disabled without the signal');
    service.child!.kill('SIGHUP');
    await waitFor(async () => (await connectorState(service, 'webhook')) === 'running', 10_000, 'running after the second SIGHUP');
  });
});
