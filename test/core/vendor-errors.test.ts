// One classifier for every vendor's failed answers (core/errors.ts), each vendor's departures from
// the common rule in a table in its own folder. Before it, four status ladders disagreed: a 408 was
// retried from Zendesk and WhatsApp but refused for good from HubSpot; a 403 stopped the Zendesk
// connector but not the others; only Zendesk retried a 409.
import { describe, expect, it } from 'vitest';
import { HUBSPOT_ERRORS, classifyHubSpotError } from '../../connectors/hubspot/client.js';
import { SALESFORCE_ERRORS, classifySalesforceError } from '../../connectors/salesforce/client.js';
import { ZENDESK_ERRORS, zendeskError } from '../../connectors/zendesk/client.js';
import { CredentialError, VendorError, classifyVendorFailure, errorFromHttpStatus, failureVerdict, type VendorErrorTable } from '../../core/errors.js';

const COMMON: VendorErrorTable = { vendor: 'acme' };

describe('vendor failure classifier', () => {
  it.each([
    [401, 'credential'],
    [429, 'rate_limited'],
    [408, 'retry'],
    [500, 'retry'],
    [503, 'retry'],
    [400, 'rejected'],
    [403, 'rejected'],
    [404, 'rejected'],
    [409, 'rejected'],
    [422, 'rejected'],
  ] as const)('reads HTTP %i as %s by the common rule', (status, verdict) => {
    expect(failureVerdict(COMMON, { status, detail: '' })).toBe(verdict);
  });

  it("lets a vendor's code decide before its status, and its status table before the common rule", () => {
    const table: VendorErrorTable = { vendor: 'acme', codes: { LOCKED: 'retry' }, statuses: { 403: 'credential' } };
    expect(failureVerdict(table, { status: 400, code: 'LOCKED', detail: '' })).toBe('retry');
    expect(failureVerdict(table, { status: 403, detail: '' })).toBe('credential');
    expect(failureVerdict(table, { status: 403, code: 'OTHER', detail: '' })).toBe('credential');
    expect(failureVerdict(table, { detail: 'no status, unknown code', code: 'ODD' })).toBe('rejected');
  });

  it('builds the typed error the outbox acts on: credential, retry with the wait, refusal for good', () => {
    const table: VendorErrorTable = { vendor: 'acme', rateLimitWaitMs: 5000, hints: { credential: 'renew the key', 'credential:403': 'ask for access' }, statuses: { 403: 'credential' } };
    const refused = classifyVendorFailure(table, { status: 401, detail: 'key refused' });
    expect(refused).toBeInstanceOf(CredentialError);
    expect(refused.message).toBe('acme: key refused; renew the key');
    expect(classifyVendorFailure(table, { status: 403, detail: 'not yours' }).message).toBe('acme: not yours; ask for access');
    expect(classifyVendorFailure(table, { status: 429, detail: 'slow down' })).toMatchObject({ retryable: true, retryAfterMs: 5000, status: 429 });
    expect(classifyVendorFailure(table, { status: 429, detail: 'slow down', retryAfterMs: 250 })).toMatchObject({ retryAfterMs: 250 });
    expect(classifyVendorFailure(table, { status: 502, detail: 'gateway' })).toMatchObject({ retryable: true, retryAfterMs: undefined });
    const rejected = classifyVendorFailure(table, { status: 422, code: 'Invalid', detail: 'bad field' });
    expect(rejected).toBeInstanceOf(VendorError);
    expect(rejected).toMatchObject({ retryable: false, code: 'Invalid', status: 422 });
  });

  it('gives the same kind of error for the same kind of answer from every vendor', () => {
    // A request timeout (408) passes on a retry everywhere; HubSpot's old ladder refused it for good.
    expect(errorFromHttpStatus('whatsapp', 408, 'timeout').retryable).toBe(true);
    expect(zendeskError('update ticket', 408, {}, null).retryable).toBe(true);
    expect(classifyHubSpotError({ code: 408, body: { message: 'timeout' } }, 'create note').retryable).toBe(true);
    expect(classifySalesforceError({ errorCode: 'ERROR_HTTP_408', message: 'timeout' }, 'upsert Lead').retryable).toBe(true);
    // A refused credential stops the connector everywhere.
    expect(errorFromHttpStatus('whatsapp', 401, 'bad token')).toBeInstanceOf(CredentialError);
    expect(zendeskError('update ticket', 401, {}, null)).toBeInstanceOf(CredentialError);
    expect(classifyHubSpotError({ code: 401, body: { message: 'expired' } }, 'create note')).toBeInstanceOf(CredentialError);
    expect(classifySalesforceError({ errorCode: 'ERROR_HTTP_401', message: 'no' }, 'upsert Lead')).toBeInstanceOf(CredentialError);
    expect(classifySalesforceError({ errorCode: 'INVALID_SESSION_ID', message: 'expired' }, 'upsert Lead')).toBeInstanceOf(CredentialError);
  });

  it("keeps each vendor's documented departures in its table", () => {
    expect(ZENDESK_ERRORS.statuses).toEqual({ 403: 'credential', 409: 'retry' });
    expect(zendeskError('update ticket', 409, { error: 'RecordInvalid' }, null)).toMatchObject({ retryable: true });
    expect(zendeskError('update ticket', 403, {}, null).message).toMatch(/lacks access: wa-crm-sync scopes/);
    expect(zendeskError('list', 429, {}, null)).toMatchObject({ retryable: true, retryAfterMs: 60_000 });
    expect(HUBSPOT_ERRORS.codes).toEqual({ MISSING_SCOPES: 'credential' });
    const scopes = classifyHubSpotError({ code: 403, body: { category: 'MISSING_SCOPES', errors: [{ context: { requiredGranularScopes: ['crm.objects.contacts.write'] } }] } }, 'create contact');
    expect(scopes).toBeInstanceOf(CredentialError);
    expect(scopes.message).toMatch(/lacks scope crm\.objects\.contacts\.write; add them to the private app/);
    expect(classifyHubSpotError({ code: 403, body: { category: 'FORBIDDEN', message: 'portal locked' } }, 'create note')).toMatchObject({ retryable: false });
    expect(classifyHubSpotError({ code: 403, body: { category: 'FORBIDDEN', message: 'portal locked' } }, 'create note')).not.toBeInstanceOf(CredentialError);
    expect(SALESFORCE_ERRORS.codes?.['UNABLE_TO_LOCK_ROW']).toBe('retry');
    expect(classifySalesforceError({ errorCode: 'REQUEST_LIMIT_EXCEEDED', message: 'TotalRequests Limit exceeded' }, 'query')).toMatchObject({ retryable: true, retryAfterMs: 15 * 60_000 });
    expect(classifySalesforceError({ errorCode: 'INSUFFICIENT_ACCESS', message: 'no' }, 'query').message).toMatch(/give the integration user access/);
    expect(classifySalesforceError({ errorCode: 'FIELD_CUSTOM_VALIDATION_EXCEPTION', message: 'no' }, 'upsert')).toMatchObject({ retryable: false });
  });
});
