// The command line as an operator meets it on day two, through the real `wa-crm-sync` process:
// a version, a start that fails loudly, a config check that explains, status that says why,
// pause and resume, a demo that cannot cost anyone their files.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../core/store/store.js';
import { projectRoot, textWebhook } from '../helpers/fixtures.js';
import { recordedServiceForSuite } from '../helpers/recorded-service.js';
import { baseConfig, freePort, waitFor, writeConfig } from '../helpers/service-process.js';
import { freshStoreUrl, tempDir } from '../helpers/stores.js';

const execFileAsync = promisify(execFile);
const bin = join(projectRoot, 'bin/wa-crm-sync.js');

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI with only the environment given (plus PATH), so no variable of the test runner leaks in. */
async function cli(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<CliResult> {
  const env = { PATH: process.env['PATH'] ?? '', ...options.env };
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [bin, ...args], { env, cwd: options.cwd ?? tempDir(), timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

// Each CLI call starts a node process (several seconds on a loaded 2-core machine): the limits
// are room for that, not expectations.
describe('the command line', { timeout: 120_000 }, () => {
  it('prints the version from package.json', async () => {
    const { version } = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const result = await cli([flag]);
      expect(result.code).toBe(0);
      expect(result.stdout.trim()).toBe(version);
    }
  });

  it('start exits 1 and says why when its port is taken', async () => {
    const dir = tempDir();
    const port = await freePort();
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    try {
      const configPath = join(dir, 'wa-crm-sync.yaml');
      writeConfig(configPath, baseConfig({ storeUrl: freshStoreUrl('sqlite').url, port, dir }));
      const result = await cli(['start', '--config', configPath]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`cannot listen on 127.0.0.1:${port}: the port is in use by another process (stop it, or choose another with server.port or --port)`);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it('config check passes the example config as shipped, with only the WhatsApp secrets set', async () => {
    const result = await cli(['config', 'check', '--config', join(projectRoot, 'wa-crm-sync.example.yaml')], { env: { WHATSAPP_APP_SECRET: 'app-secret-0123456789', WHATSAPP_VERIFY_TOKEN: 'verify-token-0123456789' } });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('connectors: hubspot (disabled), salesforce (disabled), zendesk (disabled), webhook (disabled)');
  });

  it('config check explains types, misspellings and $NAME without braces, naming each key path', async () => {
    const dir = tempDir();
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, ['server:', '  prot: 3000', 'whatsapp:', '  appSecret: $APP_SECRET', '  verifyToken: v', 'connectors:', '  webhook:', '    enabled: "yes"', '    url: https://example.com/x', ''].join('\n'));
    const result = await cli(['config', 'check', '--config', path], { env: { APP_SECRET: 'set' } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('warning: whatsapp.appSecret: $APP_SECRET is taken literally; write ${APP_SECRET} to read the environment variable (it is set)');
    expect(result.stderr).toContain('server.prot: unknown key; did you mean server.port?');
    expect(result.stderr).toContain('connectors.webhook.enabled: expected boolean, got string (write true or false without quotes)');
    expect(result.stderr).not.toMatch(/enabled: required/);
  });

  it('reads a .env file in the working directory, and the environment wins over it', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'wa-crm-sync.yaml'), 'whatsapp:\n  appSecret: ${FROM_DOTENV}\n  verifyToken: ${BOTH}\nserver:\n  port: ${PORT_FROM_ENV}\n');
    writeFileSync(join(dir, '.env'), 'FROM_DOTENV=secret-from-the-file\nBOTH=from-file\nPORT_FROM_ENV=notanumber\n');
    const result = await cli(['config', 'check'], { cwd: dir, env: { PORT_FROM_ENV: '4100' } });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const missing = await cli(['config', 'check'], { cwd: dir, env: {} });
    // Without the environment the file's value is used, and it is no port.
    expect(missing.stderr).toContain('server.port: expected number, got string');
  });

  it('demo refuses options out of range and a folder it did not make, leaving the folder as it was', async () => {
    for (const args of [['--customers', '0'], ['--customers', '3x'], ['--messages', '-1']]) {
      const result = await cli(['demo', ...args, '--data-dir', join(tempDir(), 'demo')]);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/expected a whole number from 1 to (1000|100), got/);
    }
    const precious = tempDir();
    writeFileSync(join(precious, 'thesis.txt'), 'years of work');
    const result = await cli(['demo', '--customers', '1', '--messages', '1', '--data-dir', precious]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('already holds files the demo did not make; it is left untouched');
    expect(readFileSync(join(precious, 'thesis.txt'), 'utf8')).toBe('years of work');
  });

  describe('against a running service', () => {
    const suite = recordedServiceForSuite();

    it('says so when a list is empty', async () => {
      expect((await cli(['users', 'list', '--config', suite.configPath])).stdout).toContain('no admin accounts yet');
      expect((await cli(['tokens', 'list', '--config', suite.configPath])).stdout).toContain('no API tokens');
      expect((await cli(['audit', 'log', '--action', 'nothing.like.this', '--config', suite.configPath])).stdout).toContain('no audit records match');
      expect((await cli(['replay', '--config', suite.configPath])).stderr).toContain('There are no dead operations.');
    });

    it('discard marks a dead operation as never to be sent, audited; a replay leaves it, and an id that is not dead is said so', async () => {
      const store = await openStore(suite.storeUrl);
      const { id } = await store.db
        .insertInto('outbox')
        .values({ idempotency_key: 'webhook:message:cli-discard', connector: 'webhook', kind: 'message', ordering_key: 'contact:cli', payload: '{}', state: 'dead', run_at: 0, attempts: 12, max_attempts: 12, locked_by: null, lease_until: null, last_error: 'VendorError: webhook: request rejected (HTTP 400)', result: null, created_at: 0, updated_at: 0 })
        .returning('id')
        .executeTakeFirstOrThrow();
      await store.close();
      const discarded = await cli(['discard', '--id', String(id), '--config', suite.configPath]);
      expect(discarded.code).toBe(0);
      expect(discarded.stdout).toContain('1 dead operation discarded');
      const again = await cli(['discard', '--id', String(id), '--config', suite.configPath]);
      expect(again.code).toBe(1);
      expect(again.stdout).toContain(`not dead, left as they are: ${id}`);
      expect((await cli(['replay', '--all-dead', '--config', suite.configPath])).stdout).toContain('0 dead operations queued again');
      expect((await cli(['audit', 'log', '--action', 'discard.', '--config', suite.configPath])).stdout).toMatch(new RegExp(`discard\\.operations\\s+${id}`));
      const after = await openStore(suite.storeUrl);
      expect((await after.db.selectFrom('outbox').select('state').where('id', '=', id).executeTakeFirstOrThrow()).state).toBe('discarded');
      await after.close();
    });

    it('status shows connector states and why a delivery was flagged', async () => {
      expect(await suite.service.sendWebhook('{"object": "whatsapp_business_account", "entry": 7}')).toBe(200);
      await waitFor(async () => (await cli(['status', '--config', suite.configPath])).stdout.includes('1 flagged'), 60_000, 'the delivery to be flagged');
      const result = await cli(['status', '--config', suite.configPath]);
      expect(result.stdout).toMatch(/^webhook\s+running$/m);
      expect(result.stdout).toMatch(/flagged 1 \(whatsapp, [^)]+\): \S/);
      const json = JSON.parse((await cli(['status', '--json', '--config', suite.configPath])).stdout) as { connectors: { service: boolean }; deliveries: { recentFlagged: Array<{ problems: string[] }> } };
      expect(json.connectors.service).toBe(true);
      expect(json.deliveries.recentFlagged[0]!.problems.length).toBeGreaterThan(0);
    });

    it('pause stops dispatch on the running service and resume starts it again, both audited', async () => {
      const paused = await cli(['pause', 'webhook', '--config', suite.configPath]);
      expect(paused.code).toBe(0);
      await waitFor(async () => /^webhook\s+paused/m.test((await cli(['status', '--config', suite.configPath])).stdout), 60_000, 'status to show the pause');
      const unknown = await cli(['pause', 'hubspott', '--config', suite.configPath]);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('no connector hubspott');

      const before = suite.recorder.messages().length;
      await suite.service.deliver(textWebhook({ from: '447700900321', id: 'wamid.cli.pause', timestamp: 1_760_000_100, body: 'while paused' }));
      // The delivery is stored and processed while paused: the operation waits in the outbox.
      await waitFor(async () => /webhook\s+pending\s+\d+/.test((await cli(['status', '--config', suite.configPath])).stdout), 60_000, 'the operation to wait while paused');
      expect(suite.recorder.messages().length).toBe(before);

      expect((await cli(['resume', 'webhook', '--config', suite.configPath])).code).toBe(0);
      await waitFor(() => suite.recorder.messages().length > before, 60_000, 'the message to go out after resume');
      const log = await cli(['audit', 'log', '--action', 'connector.', '--config', suite.configPath]);
      expect(log.stdout).toMatch(/connector\.resume\s+webhook/);
      expect(log.stdout).toMatch(/connector\.pause\s+webhook/);
    });
  });

  it('status without a running service shows states from the config and the store', async () => {
    const dir = tempDir();
    const port = await freePort();
    const configPath = join(dir, 'wa-crm-sync.yaml');
    const config = baseConfig({ storeUrl: freshStoreUrl('sqlite').url, port, dir, recorderUrl: 'http://127.0.0.1:9/x', webhookEnabled: false });
    writeConfig(configPath, config);
    const result = await cli(['status', '--config', configPath]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^webhook\s+disabled: enabled: false in the config$/m);
    expect(result.stdout).toContain(`no running service answered at http://127.0.0.1:${port}/readyz`);
    expect(result.stdout).toContain('outbox: empty');
  });
});
