import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectorSettingsSchemas } from '../../connectors/registry.js';
import { changedKeys, loadConfig, validateConfig } from '../../core/config/load.js';
import { ConfigError } from '../../core/errors.js';
import { tempDir } from '../helpers/stores.js';

const base = { whatsapp: { appSecret: 'a', verifyToken: 'b' } };

function problemsOf(document: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    validateConfig(document, connectorSettingsSchemas, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).issues];
  }
  return [];
}

describe('config', () => {
  it('refuses Zendesk without a WhatsApp access token to send replies with, naming both keys', () => {
    const zendesk = { enabled: true, subdomain: 'acme', email: 'agent@acme.test', apiToken: 't' };
    expect(problemsOf({ ...base, connectors: { zendesk } })).toEqual([
      'whatsapp.accessToken: required when connectors.zendesk is enabled (agents\' replies are sent through the Cloud API with it)',
    ]);
    expect(problemsOf({ whatsapp: { ...base.whatsapp, accessToken: 'EAAG' }, connectors: { zendesk } })).toEqual([]);
  });

  it('accepts the example config file once its environment variables are set', () => {
    const names = ['WHATSAPP_APP_SECRET', 'WHATSAPP_VERIFY_TOKEN', 'WHATSAPP_ACCESS_TOKEN', 'HUBSPOT_ACCESS_TOKEN', 'SALESFORCE_CLIENT_ID', 'SALESFORCE_CLIENT_SECRET', 'ZENDESK_API_TOKEN', 'WEBHOOK_FORWARD_SECRET'];
    const env = Object.fromEntries(names.map((n) => [n, `value-of-${n.toLowerCase()}-0123456789`]));
    expect(() => loadConfig(join(import.meta.dirname, '../../wa-crm-sync.example.yaml'), connectorSettingsSchemas, env)).not.toThrow();
  });

  it('fills defaults for a minimal file', () => {
    const config = validateConfig(base, connectorSettingsSchemas, {});
    expect(config.store.url).toBe('sqlite:./data/wa-crm-sync.sqlite');
    expect(config.server.port).toBe(3000);
    expect(config.whatsapp.graphBaseUrl).toBe('https://graph.facebook.com/v23.0');
    expect(config.sync.threadGapHours).toBe(24);
  });

  it('interpolates ${ENV} and ${ENV:-default}, turning whole numeric references into numbers', () => {
    const config = validateConfig(
      { server: { port: '${PORT}' }, whatsapp: { appSecret: '${SECRET}', verifyToken: 'v-${SUFFIX:-x}' } },
      connectorSettingsSchemas,
      { PORT: '8080', SECRET: 's3' },
    );
    expect(config.server.port).toBe(8080);
    expect(config.whatsapp.appSecret).toBe('s3');
    expect(config.whatsapp.verifyToken).toBe('v-x');
  });

  it('names the key and the variable when an environment variable is missing', () => {
    expect(problemsOf({ whatsapp: { appSecret: '${NOPE}', verifyToken: 'b' } })).toContain(
      'whatsapp.appSecret: environment variable NOPE is not set (export it, or add it to the service\'s environment file)',
    );
  });

  it('says which credential a connector needs when enabled', () => {
    expect(problemsOf({ ...base, connectors: { webhook: { enabled: true } } })).toEqual([
      'connectors.webhook.url: required when enabled (the https URL that receives the events)',
    ]);
    expect(problemsOf({ ...base, connectors: { webhook: { enabled: false } } })).toEqual([]);
  });

  it('asks for a bucket with media in object storage, and for both keys or neither', () => {
    const media = (m: object) => ({ whatsapp: { ...base.whatsapp, media: m } });
    expect(problemsOf(media({ store: 's3' }))).toEqual(['whatsapp.media.s3: required with store: s3 (at least s3.bucket)']);
    expect(problemsOf(media({ store: 's3', s3: { bucket: 'm', accessKeyId: 'AKIA' } }))[0]).toMatch(/^whatsapp\.media\.s3: give both accessKeyId and secretAccessKey, or neither/);
    expect(problemsOf(media({ store: 's3', s3: { bucket: 'm', endpoint: 'http://s3.example.com' } }))[0]).toMatch(/whatsapp\.media\.s3\.endpoint.*must use https/);
    expect(problemsOf(media({ store: 's3', s3: { bucket: 'm', endpoint: 'http://127.0.0.1:9000' } }))).toEqual([]);
  });

  it('refuses plain http to anything but loopback', () => {
    expect(problemsOf({ ...base, connectors: { webhook: { enabled: true, url: 'http://example.com/x' } } })[0]).toMatch(
      /^connectors\.webhook\.url: "http:\/\/example.com\/x" must use https/,
    );
    expect(problemsOf({ ...base, connectors: { webhook: { enabled: true, url: 'http://127.0.0.1:9/x' } } })).toEqual([]);
    expect(problemsOf({ whatsapp: { ...base.whatsapp, graphBaseUrl: 'http://graph.example.com' } })[0]).toMatch(/whatsapp\.graphBaseUrl/);
    // The host is parsed, not matched by its first characters.
    expect(problemsOf({ ...base, connectors: { webhook: { enabled: true, url: 'http://127.evil.example/x' } } })[0]).toMatch(/must use https/);
    expect(problemsOf({ ...base, connectors: { webhook: { enabled: true, url: 'http://127.0.0.2.nip.io/x' } } })[0]).toMatch(/must use https/);
    expect(problemsOf({ ...base, connectors: { webhook: { enabled: true, url: 'http://127.0.0.9:9/x' } } })).toEqual([]);
  });

  it('takes trusted proxies and allowed admin addresses only as IP addresses (and proxies as CIDR blocks)', () => {
    expect(problemsOf({ ...base, server: { trustedProxies: ['10.0.0.0/8', '127.0.0.1', 'fd00::/8'] }, admin: { allowIps: ['192.0.2.7', '::1'] } })).toEqual([]);
    expect(problemsOf({ ...base, server: { trustedProxies: ['loopback', '10.0.0.0/33'] }, admin: { allowIps: ['office'] } })).toEqual([
      'server.trustedProxies[0]: "loopback" is not an IP address or CIDR block; write it like 10.0.0.5 or 10.0.0.0/8',
      'server.trustedProxies[1]: "10.0.0.0/33" is not an IP address or CIDR block; write it like 10.0.0.5 or 10.0.0.0/8',
      'admin.allowIps[0]: "office" is not an IP address; write it like 10.0.0.5 or fd00::5',
    ]);
  });

  it('rejects unknown keys and unknown connectors by name', () => {
    expect(problemsOf({ ...base, sever: {} })[0]).toBe('sever: unknown key; did you mean server?');
    expect(problemsOf({ ...base, connectors: { hubspt: { enabled: true } } })[0]).toMatch(/^connectors\.hubspt: unknown connector; did you mean connectors\.hubspot\? known connectors are /);
  });

  it('suggests the key a misspelt one meant, with its full path as written in the file', () => {
    expect(problemsOf({ ...base, server: { prot: 3000, trustedproxies: [] } })).toEqual([
      'server.prot: unknown key; did you mean server.port?',
      'server.trustedproxies: unknown key; did you mean server.trustedProxies?',
    ]);
    expect(problemsOf({ ...base, alerts: { sinks: [{ type: 'slack', url: 'https://hooks.example.com/x', urll: 'y' }] } })).toEqual(['alerts.sinks[0].urll: unknown key; did you mean alerts.sinks[0].url?']);
    expect(problemsOf({ ...base, connectors: { webhook: { enabled: false, rateLimt: {} } } })).toEqual(['connectors.webhook.rateLimt: unknown key; did you mean connectors.webhook.rateLimit?']);
    expect(problemsOf({ ...base, connectors: { webhok: { enabled: false } } })[0]).toMatch(/^connectors\.webhok: unknown connector; did you mean connectors\.webhook\?/);
    // Nothing close: the keys that are declared there.
    expect(problemsOf({ ...base, sync: { zzzzzz: 1 } })).toEqual(['sync.zzzzzz: unknown key; known keys here: threadGapHours, windowWriteSettleSeconds']);
  });

  it('says which type a value has when it is the wrong one, and never shows the value', () => {
    expect(problemsOf({ ...base, connectors: { webhook: { enabled: 'yes' } } })).toEqual(['connectors.webhook.enabled: expected boolean, got string (write true or false without quotes)']);
    expect(problemsOf({ ...base, server: { port: 'secret-looking' } })).toEqual(['server.port: expected number, got string']);
    expect(problemsOf({ whatsapp: { verifyToken: 'b' } })).toEqual(['whatsapp.appSecret: required (expected string)']);
  });

  it('names list items by index in env problems as in schema problems, and reports each key once', () => {
    expect(problemsOf({ ...base, alerts: { sinks: [{ type: 'slack', url: '${NOPE}' }] } })).toEqual([
      "alerts.sinks[0].url: environment variable NOPE is not set (export it, or add it to the service's environment file)",
    ]);
  });

  it('needs no variables for disabled connectors, and still every one for enabled ones', () => {
    const salesforce = { instanceUrl: 'https://acme.my.salesforce.com', clientCredentials: { clientId: '${SF_ID}', clientSecret: '${SF_SECRET}' } };
    expect(problemsOf({ ...base, connectors: { salesforce: { enabled: false, ...salesforce } } })).toEqual([]);
    expect(problemsOf({ ...base, connectors: { salesforce: { enabled: true, ...salesforce } } })).toEqual([
      "connectors.salesforce.clientCredentials.clientId: environment variable SF_ID is not set (export it, or add it to the service's environment file)",
      "connectors.salesforce.clientCredentials.clientSecret: environment variable SF_SECRET is not set (export it, or add it to the service's environment file)",
    ]);
    // The disabled connector is still configured (its operations keep being queued).
    expect(validateConfig({ ...base, connectors: { salesforce: { enabled: false, ...salesforce } } }, connectorSettingsSchemas, {}).connectors['salesforce']?.enabled).toBe(false);
  });

  it('warns about $NAME without braces, which is taken literally', () => {
    const warnings: string[] = [];
    const config = validateConfig({ whatsapp: { appSecret: '$WHATSAPP_APP_SECRET', verifyToken: 'price$5 ${V:-x}' } }, connectorSettingsSchemas, { WHATSAPP_APP_SECRET: 's' }, { onWarning: (w) => warnings.push(w) });
    expect(config.whatsapp.appSecret).toBe('$WHATSAPP_APP_SECRET');
    expect(warnings).toEqual(['whatsapp.appSecret: $WHATSAPP_APP_SECRET is taken literally; write ${WHATSAPP_APP_SECRET} to read the environment variable (it is set)']);
  });

  it('reports an unreadable file and bad YAML clearly', () => {
    const dir = tempDir();
    expect(() => loadConfig(join(dir, 'missing.yaml'), connectorSettingsSchemas)).toThrow(/cannot read the config file .*ENOENT/);
    writeFileSync(join(dir, 'bad.yaml'), 'whatsapp: [unclosed');
    expect(() => loadConfig(join(dir, 'bad.yaml'), connectorSettingsSchemas)).toThrow(/is not valid YAML/);
  });

  it('lists changed key paths without values', () => {
    const a = validateConfig({ ...base, connectors: { webhook: { enabled: true, url: 'https://x.test/a' } } }, connectorSettingsSchemas, {});
    const b = validateConfig({ ...base, connectors: { webhook: { enabled: false, url: 'https://x.test/a' } } }, connectorSettingsSchemas, {});
    expect(changedKeys(a, b)).toEqual(['connectors.webhook.enabled', 'connectors.webhook.settings.enabled']);
  });
});
