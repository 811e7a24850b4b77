// The operator's commands against a running service: status shows a dead operation with its
// error, replay sends it again once the cause is fixed, config check explains a bad file.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot, textWebhook } from '../helpers/fixtures.js';
import { Recorder } from '../helpers/recorder.js';
import { baseConfig, freePort, ServiceProcess, waitFor, writeConfig } from '../helpers/service-process.js';
import { freshStoreUrl, tempDir } from '../helpers/stores.js';

const run = promisify(execFile);
const bin = join(projectRoot, 'bin/wa-crm-sync.js');

describe('operator commands', () => {
  const recorder = new Recorder();
  let service: ServiceProcess;
  let configPath: string;
  let dir: string;

  beforeAll(async () => {
    dir = tempDir();
    const recorderUrl = await recorder.start();
    const port = await freePort();
    configPath = join(dir, 'wa-crm-sync.yaml');
    const config = baseConfig({ storeUrl: freshStoreUrl('sqlite').url, port, dir, recorderUrl });
    writeConfig(configPath, { ...config, connectors: { webhook: { enabled: true, url: recorderUrl, timeoutMs: 2000, rateLimit: { maxAttempts: 2, backoffBaseMs: 20, backoffMaxMs: 50 } } } });
    service = new ServiceProcess(configPath, port);
    await service.start();
  });

  afterAll(async () => {
    await service.kill('SIGTERM');
    await recorder.stop();
  });

  async function status(): Promise<{ outbox: Array<{ connector: string; state: string; count: number }> }> {
    const { stdout } = await run(process.execPath, [bin, 'status', '--json', '--config', configPath]);
    return JSON.parse(stdout);
  }

  // Each CLI call starts a node process (3 s each at a load average of 19 on 2 cores) and this
  // test makes several: the limits are wall-clock room for a busy machine, not expectations.
  it('shows a dead operation and replays it once the vendor accepts again', { timeout: 120_000 }, async () => {
    // The endpoint refuses everything: operations go dead after their attempts.
    recorder.failWith = 422;
    await service.deliver(textWebhook({ from: '447700900123', id: 'wamid.cli.1', timestamp: 1_760_000_000, body: 'x' }));
    await waitFor(async () => (await status()).outbox.some((d) => d.state === 'dead' && d.count === 2), 30_000, 'dead operations');
    const { stdout: human } = await run(process.execPath, [bin, 'status', '--config', configPath]);
    expect(human).toMatch(/webhook\s+dead\s+2/);

    const listing = await run(process.execPath, [bin, 'replay', '--config', configPath]).catch((e: { stderr: string; code: number }) => e);
    expect((listing as { code: number }).code).toBe(2);
    expect((listing as { stderr: string }).stderr).toMatch(/VendorError: webhook: request rejected \(HTTP 422\)/);

    recorder.failWith = undefined;
    const { stdout } = await run(process.execPath, [bin, 'replay', '--all-dead', '--connector', 'webhook', '--config', configPath]);
    expect(stdout.trim()).toBe('2 dead operations queued again');
    await waitFor(() => recorder.messages().length === 1, 30_000, 'the replayed message');
    // The vendor has the message before the dispatcher settles the operation: wait for that too.
    await waitFor(async () => (await status()).outbox.every((d) => d.state === 'done'), 30_000, 'the replayed operations to settle');
    expect((await status()).outbox).toEqual([expect.objectContaining({ connector: 'webhook', state: 'done', count: 2 })]);
  });

  it('config check names the key and the fix, and exits non-zero', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'whatsapp:\n  appSecret: s\n  verifyToken: v\nconnectors:\n  webhook:\n    enabled: true\n');
    const result = await run(process.execPath, [bin, 'config', 'check', '--config', bad]).catch((e: { stderr: string; code: number }) => e);
    expect((result as { code: number }).code).toBe(1);
    expect((result as { stderr: string }).stderr).toContain('connectors.webhook.url: required when enabled (the https URL that receives the events)');
  });

  it('commands that call WhatsApp themselves refuse plainly without an access token', { timeout: 60_000 }, async () => {
    for (const args of [['templates'], ['history', 'request', '--phone-number-id', '123']]) {
      const result = await run(process.execPath, [bin, ...args, '--config', configPath]).catch((e: { stderr: string; code: number }) => e);
      expect((result as { code: number }).code, args.join(' ')).toBe(2);
      expect((result as { stderr: string }).stderr).toContain(`${args.slice(0, 2).filter((a) => !a.startsWith('-')).join(' ')}: whatsapp.accessToken is not set`);
    }
  });

  it('stops gracefully on SIGTERM', async () => {
    await service.kill('SIGTERM');
    expect(service.child!.exitCode).toBe(0);
    expect(service.output).toContain('"msg":"wa-crm-sync stopped"');
  });
});
