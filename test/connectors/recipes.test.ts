// Each CRM's workflow recipe authenticates calls the way its vendor sends them (signed as the
// sandbox senders sign), and refuses forged, stale and unauthenticated ones; the settings say
// what is missing before the service starts.
import { describe, expect, it } from 'vitest';
import { hubspotSettingsSchema } from '../../connectors/hubspot/settings.js';
import { hubspotWorkflowRecipe } from '../../connectors/hubspot/workflow-recipe.js';
import { salesforceFlowRecipe } from '../../connectors/salesforce/flow-recipe.js';
import { salesforceSettingsSchema } from '../../connectors/salesforce/settings.js';
import { zendeskSettingsSchema } from '../../connectors/zendesk/settings.js';
import { zendeskTriggerRecipe } from '../../connectors/zendesk/trigger-recipe.js';
import { workflowWebhookHeaders } from '../../sandbox/hubspot.js';
import { zendeskWebhookSignature } from '../../sandbox/zendesk.js';

const headersOf = (values: Record<string, string>) => (name: string) => values[name.toLowerCase()];
const body = JSON.stringify({ phone: '+44 7700 900123', template: 'order_shipped', param_1: 'Jane', param_2: 'A-1042' });
const raw = Buffer.from(body);
const NOW = Date.parse('2026-12-04T12:00:00Z');

describe('the HubSpot workflow recipe', () => {
  const url = 'https://sync.example.com/api/v1/recipes/hubspot-workflow';
  const clientSecret = 'hubspot-app-client-secret-0001';
  const signed = hubspotSettingsSchema.parse({ enabled: true, accessToken: 'pat', workflowRecipe: { enabled: true, clientSecret, url } });
  const check = (headers: Record<string, string>, settings = signed, rawBody = raw, now = NOW) => hubspotWorkflowRecipe.authenticate(rawBody, headersOf(headers), settings, now);

  it('accepts the v3 signature HubSpot sends for this URL and body', () => {
    expect(check(workflowWebhookHeaders(url, body, clientSecret, NOW - 1000))).toEqual({ ok: true });
  });

  it('refuses a forged signature, another body, another URL and a stale or missing timestamp', () => {
    expect(check(workflowWebhookHeaders(url, body, 'someone-elses-secret', NOW))).toMatchObject({ ok: false, reason: 'bad_signature' });
    expect(check(workflowWebhookHeaders(url, body, clientSecret, NOW), signed, Buffer.from(body.replace('Jane', 'Eve')))).toMatchObject({ ok: false, reason: 'bad_signature' });
    expect(check(workflowWebhookHeaders(`${url}?x=1`, body, clientSecret, NOW))).toMatchObject({ ok: false, reason: 'bad_signature', hint: expect.stringMatching(/workflowRecipe\.url/) });
    expect(check(workflowWebhookHeaders(url, body, clientSecret, NOW - 301_000))).toMatchObject({ ok: false, reason: 'stale' });
    const { 'x-hubspot-request-timestamp': _dropped, ...undated } = workflowWebhookHeaders(url, body, clientSecret, NOW);
    expect(check(undated)).toMatchObject({ ok: false, reason: 'stale' });
    // The v2 signature alone (no v3) is not enough: it has no timestamp, so a capture replays forever.
    const { 'x-hubspot-signature-v3': _v3, ...v2only } = workflowWebhookHeaders(url, body, clientSecret, NOW);
    expect(check(v2only)).toMatchObject({ ok: false, reason: 'bad_signature' });
  });

  it("falls back on the inbox's client secret, and without any asks for one", () => {
    const inboxSecret = hubspotSettingsSchema.parse({ enabled: true, accessToken: 'pat', inbox: { clientSecret }, workflowRecipe: { enabled: true, url } });
    expect(check(workflowWebhookHeaders(url, body, clientSecret, NOW), inboxSecret)).toEqual({ ok: true });
    const none = hubspotSettingsSchema.parse({ enabled: true, accessToken: 'pat', workflowRecipe: { enabled: true, url } });
    expect(check(workflowWebhookHeaders(url, body, clientSecret, NOW), none)).toMatchObject({ ok: false, reason: 'no_secret', hint: expect.stringMatching(/workflowRecipe\.clientSecret/) });
  });

  it('with auth: apiKey, checks the key in the named header', () => {
    const apiKey = 'k'.repeat(32);
    const keyed = hubspotSettingsSchema.parse({ enabled: true, accessToken: 'pat', workflowRecipe: { enabled: true, auth: 'apiKey', apiKey, apiKeyHeader: 'X-Recipe-Key' } });
    expect(check({ 'x-recipe-key': apiKey }, keyed)).toEqual({ ok: true });
    expect(check({ 'x-recipe-key': 'k'.repeat(31) }, keyed)).toMatchObject({ ok: false, reason: 'bad_token', error: 'missing or wrong x-recipe-key header' });
  });

  it('settings: a switched-on recipe needs its URL (signature) or key (apiKey)', () => {
    expect(hubspotSettingsSchema.safeParse({ enabled: true, accessToken: 'pat', workflowRecipe: { enabled: true } }).error?.issues[0]).toMatchObject({ path: ['workflowRecipe', 'url'] });
    expect(hubspotSettingsSchema.safeParse({ enabled: true, accessToken: 'pat', workflowRecipe: { enabled: true, auth: 'apiKey', apiKey: 'short' } }).error?.issues[0]).toMatchObject({ path: ['workflowRecipe', 'apiKey'], message: expect.stringMatching(/24 random characters/) });
    expect(hubspotSettingsSchema.parse({ enabled: true, accessToken: 'pat' }).workflowRecipe.enabled).toBe(false);
  });
});

describe('the Salesforce Flow recipe', () => {
  const token = 's'.repeat(40);
  const settings = salesforceSettingsSchema.parse({ enabled: true, instanceUrl: 'https://acme.my.salesforce.com', accessToken: 't', flowRecipe: { enabled: true, token } });
  it("checks the external credential's custom header, in the configured header", () => {
    expect(salesforceFlowRecipe.authenticate(raw, headersOf({ 'x-wa-crm-sync-key': token }), settings, NOW)).toEqual({ ok: true });
    expect(salesforceFlowRecipe.authenticate(raw, headersOf({ 'x-wa-crm-sync-key': 'S'.repeat(40) }), settings, NOW)).toMatchObject({ ok: false, reason: 'bad_token' });
    expect(salesforceFlowRecipe.authenticate(raw, headersOf({ authorization: `Bearer ${token}` }), settings, NOW)).toMatchObject({ ok: false, reason: 'bad_token' });
    const bearer = salesforceSettingsSchema.parse({ enabled: true, instanceUrl: 'https://acme.my.salesforce.com', accessToken: 't', flowRecipe: { enabled: true, token, header: 'Authorization' } });
    expect(salesforceFlowRecipe.authenticate(raw, headersOf({ authorization: `Bearer ${token}` }), bearer, NOW)).toEqual({ ok: true });
  });
  it('settings: a switched-on recipe needs its token', () => {
    expect(salesforceSettingsSchema.safeParse({ enabled: true, instanceUrl: 'https://acme.my.salesforce.com', accessToken: 't', flowRecipe: { enabled: true } }).error?.issues[0]).toMatchObject({ path: ['flowRecipe', 'token'] });
  });
});

describe('the Zendesk trigger recipe', () => {
  const signingSecret = 'zendesk-recipe-signing-secret-01';
  const settings = zendeskSettingsSchema.parse({ enabled: true, subdomain: 'acme', email: 'a@example.com', apiToken: 't', triggerRecipe: { enabled: true, signingSecret } });
  const at = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const signedHeaders = (timestamp: string, secret = signingSecret, invocation = '8350205582') => ({ 'x-zendesk-webhook-signature': zendeskWebhookSignature(secret, timestamp, body), 'x-zendesk-webhook-signature-timestamp': timestamp, 'x-zendesk-webhook-invocation-id': invocation });

  it("accepts Zendesk's signature and keeps the invocation id as the event id", () => {
    expect(zendeskTriggerRecipe.authenticate(raw, headersOf(signedHeaders(at(NOW - 5000))), settings, NOW)).toEqual({ ok: true, eventId: '8350205582' });
  });
  it('refuses a forged or stale signature; an invocation id that is not one is ignored', () => {
    expect(zendeskTriggerRecipe.authenticate(raw, headersOf(signedHeaders(at(NOW), 'another-secret-of-16+')), settings, NOW)).toMatchObject({ ok: false, reason: 'bad_signature' });
    expect(zendeskTriggerRecipe.authenticate(raw, headersOf(signedHeaders(at(NOW - 301_000))), settings, NOW)).toMatchObject({ ok: false, reason: 'stale' });
    expect(zendeskTriggerRecipe.authenticate(raw, headersOf(signedHeaders(at(NOW), signingSecret, 'x y')), settings, NOW)).toEqual({ ok: true });
  });
  it('with auth: bearer, checks the bearer token', () => {
    const bearerToken = 'b'.repeat(30);
    const bearer = zendeskSettingsSchema.parse({ enabled: true, subdomain: 'acme', email: 'a@example.com', apiToken: 't', triggerRecipe: { enabled: true, auth: 'bearer', bearerToken } });
    expect(zendeskTriggerRecipe.authenticate(raw, headersOf({ authorization: `Bearer ${bearerToken}`, 'x-zendesk-webhook-invocation-id': '77' }), bearer, NOW)).toEqual({ ok: true, eventId: '77' });
    expect(zendeskTriggerRecipe.authenticate(raw, headersOf({ authorization: 'Bearer nope' }), bearer, NOW)).toMatchObject({ ok: false, reason: 'bad_token' });
  });
  it('settings: a switched-on recipe needs its signing secret or bearer token', () => {
    expect(zendeskSettingsSchema.safeParse({ enabled: true, subdomain: 'acme', email: 'a@example.com', apiToken: 't', triggerRecipe: { enabled: true } }).error?.issues[0]).toMatchObject({ path: ['triggerRecipe', 'signingSecret'] });
  });
});
