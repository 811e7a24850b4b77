// A local stand-in for the parts of Salesforce's REST API the connector uses: OAuth token,
// describe, SOQL queries of the shapes we send (IN and = conditions joined by OR), sObject
// Collections upsert and update, /limits with a daily allowance and Sforce-Limit-Info, and
// errors in Salesforce's format. State is at GET /_sandbox/state.
// Where Salesforce documents behaviour a caller must survive: sObject Collections answer one
// result per record in input order, each with its own success or errors (allOrNone false: a
// failing record does not stop the others),
// https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_upsert.htm;
// duplicate rules refuse or alert (see leadDuplicateRule); a REST call whose caller gave up can
// still be carried out (`landLate`, the chaos kind `lands-late`). SOQL reads the org's database,
// so a record is in query results as soon as it is written: only SOSL goes through the search
// index that lags writes ("it could take about 15 minutes or more"), and the connector sends no
// SOSL, so this sandbox has no index lag to imitate:
// https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_sosl_about.htm
// https://developer.salesforce.com/docs/platform/salesforce-large-data-volumes-bp/guide/ldv-deployments-concepts-search-architecture.html
import { randomBytes } from 'node:crypto';
import { LoopbackServer } from './loopback.js';
import { Chaos, landLater } from './chaos.js';
import express, { type Request, type Response } from 'express';

export interface SalesforceSandboxOptions {
  /** The daily API allowance (Developer Edition: 15,000). */
  readonly dailyMax?: number;
  readonly accessTokens?: readonly string[];
  readonly clientId?: string;
  readonly clientSecret?: string;
  /**
   * The Standard Lead Duplicate Rule, active in every new org: Leads matching an existing Lead on
   * first name, last name and company are refused with DUPLICATES_DETECTED. 'alert' is its default
   * action ("Allow" with an alert: saved when the request sends `Sforce-Duplicate-Rule-Header:
   * allowSave=true`), 'block' refuses whatever the header says, 'off' deactivates it.
   * https://help.salesforce.com/s/articleView?id=sales.duplicate_rules_standard_lead_rule.htm (Default Action On Create: Allow, with an alert; alert text "Use one of these records?")
   * https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_duplicaterules.htm
   */
  readonly leadDuplicateRule?: 'off' | 'alert' | 'block';
  /** How long the token endpoint takes to answer (a loaded login server); 0 by default. */
  readonly tokenDelayMs?: number;
}

interface FieldSpec {
  name: string;
  type: string;
  createable: boolean;
  updateable: boolean;
  nillable: boolean;
  defaultedOnCreate: boolean;
  externalId: boolean;
  unique: boolean;
  length: number;
  /** A picklist's values; with `restrictedPicklist`, a value outside them is refused. */
  picklistValues?: Array<{ value: string; label: string; active: boolean }>;
  restrictedPicklist?: boolean;
}

type SObject = Record<string, unknown> & { Id: string };

export interface SalesforceSandboxState {
  requests: number;
  tokensIssued: number;
  apiUsed: number;
  records: Record<string, SObject[]>;
  fields: Record<string, FieldSpec[]>;
}

const MAX_COLLECTION = 200;

function field(name: string, extra: Partial<FieldSpec> = {}): FieldSpec {
  return { name, type: 'string', createable: true, updateable: true, nillable: true, defaultedOnCreate: false, externalId: false, unique: false, length: 255, ...extra };
}

/** A converted Lead is read-only: every write on it is refused. */
function convertedLeadError(): { success: false; errors: unknown[] } {
  return { success: false, errors: [{ statusCode: 'CANNOT_UPDATE_CONVERTED_LEAD', message: 'cannot reference converted lead', fields: [] }] };
}

function sfError(res: Response, status: number, errorCode: string, message: string, fields?: string[]): void {
  res.status(status).json([{ message, errorCode, ...(fields ? { fields } : {}) }]);
}

/** Reads SOQL string literals and identifiers; enough for `SELECT … FROM … WHERE a IN (…) OR b = '…'`. */
export function parseSoql(soql: string): { fields: string[]; object: string; conditions: Array<{ field: string; values: string[] }>; join: 'AND' | 'OR' } {
  const match = /^SELECT\s+(.+?)\s+FROM\s+(\w+)(?:\s+WHERE\s+(.+))?$/is.exec(soql.trim());
  if (!match) throw new Error(`unexpected token in ${soql.slice(0, 60)}`);
  const literal = /'((?:[^'\\]|\\.)*)'/g;
  const unescape = (s: string) => s.replace(/\\(.)/g, '$1');
  const conditions: Array<{ field: string; values: string[] }> = [];
  let join: 'AND' | 'OR' = 'OR';
  let rest = match[3] ?? '';
  while (rest.trim() !== '') {
    const head = /^\s*(\w+)\s+(IN|=)\s*/i.exec(rest);
    if (!head) throw new Error(`unexpected condition near ${rest.slice(0, 40)}`);
    rest = rest.slice(head[0].length);
    if (head[2]!.toUpperCase() === 'IN') {
      const close = (() => {
        let inString = false;
        for (let i = 0; i < rest.length; i++) {
          const ch = rest[i];
          if (ch === '\\') i++;
          else if (ch === "'") inString = !inString;
          else if (ch === ')' && !inString) return i;
        }
        return -1;
      })();
      const list = rest.slice(1, close);
      conditions.push({ field: head[1]!, values: [...list.matchAll(literal)].map((m) => unescape(m[1]!)) });
      rest = rest.slice(close + 1);
    } else {
      const value = /^'((?:[^'\\]|\\.)*)'/.exec(rest)!;
      conditions.push({ field: head[1]!, values: [unescape(value[1]!)] });
      rest = rest.slice(value[0].length);
    }
    const joiner = /^\s*(OR|AND)\s+/i.exec(rest);
    if (joiner) {
      join = joiner[1]!.toUpperCase() as 'AND' | 'OR';
      rest = rest.slice(joiner[0].length);
    }
  }
  return { fields: match[1]!.split(',').map((f) => f.trim()), object: match[2]!, conditions, join };
}

export class SalesforceSandbox {
  readonly state: SalesforceSandboxState;
  readonly #options: Required<SalesforceSandboxOptions>;
  /** Duplicate rule verdicts given, by outcome. */
  readonly duplicates = { refused: 0, savedOverAlert: 0 };
  readonly #tokens: Set<string>;
  readonly #server = new LoopbackServer();
  /** Random faults on data API requests, token expiry among them (off until set). */
  readonly chaos = new Chaos();
  #nextId = 1;
  /** Requests to carry out late, by `METHOD /path` under the data API (see landLate). */
  readonly #lateLandings: Array<{ request: string; lateMs: number; count: number }> = [];
  /** Requests to refuse as unauthenticated, expiring every session, by `METHOD /path` (see refuseSessions). */
  readonly #sessionRefusals: Array<{ request: string; count: number }> = [];

  constructor(options: SalesforceSandboxOptions = {}) {
    this.#options = {
      dailyMax: options.dailyMax ?? 15_000,
      accessTokens: options.accessTokens ?? ['00Dsandbox!token'],
      clientId: options.clientId ?? 'sandbox-client',
      clientSecret: options.clientSecret ?? 'sandbox-secret',
      leadDuplicateRule: options.leadDuplicateRule ?? 'alert',
      tokenDelayMs: options.tokenDelayMs ?? 0,
    };
    this.#tokens = new Set(this.#options.accessTokens);
    const person = [field('Id', { createable: false, updateable: false }), field('FirstName'), field('LastName', { nillable: false }), field('Phone'), field('MobilePhone'), field('WhatsApp_Id__c', { externalId: true, unique: true }), field('WhatsApp_BSUID__c'), field('WhatsApp_Username__c'), field('Description', { length: 32_000 }),
      // The consent fields an admin creates per the README: a restricted picklist and a Date/Time.
      // https://help.salesforce.com/s/articleView?id=sf.fields_creating_picklists.htm
      field('WhatsApp_Marketing_Consent__c', { type: 'picklist', restrictedPicklist: true, picklistValues: ['opted_in', 'opted_out'].map((value) => ({ value, label: value, active: true })) }),
      field('WhatsApp_Consent_Changed_At__c', { type: 'datetime' }),
      // The customer service window's end, a Date/Time the admin creates per the README.
      // https://help.salesforce.com/s/articleView?id=sf.custom_field_types.htm
      field('WhatsApp_Window_Open_Until__c', { type: 'datetime' })];
    this.state = {
      requests: 0,
      tokensIssued: 0,
      apiUsed: 0,
      records: { Lead: [], Contact: [], Task: [], ContentVersion: [] },
      fields: {
        Lead: [
          ...person,
          field('Company', { nillable: false }),
          field('IsConverted', { type: 'boolean', createable: false, updateable: false, nillable: false, defaultedOnCreate: true }),
          field('ConvertedContactId', { type: 'reference', createable: false, updateable: false }),
        ],
        Contact: person,
        ContentVersion: ['Title', 'PathOnClient', 'FirstPublishLocationId'].map((n) => field(n)).concat(field('VersionData', { type: 'base64', length: 50_000_000 }), field('Id', { createable: false, updateable: false })),
        Task: ['WhoId', 'Subject', 'ActivityDate', 'Status', 'Priority'].map((n) => field(n)).concat(field('Description', { length: 32_000 }), field('WhatsApp_Thread_Id__c', { externalId: true, unique: true }), field('Id', { createable: false, updateable: false })),
      },
    };
  }

  /**
   * Converts a Lead the way a rep does: a Contact is created with the Lead's names and phone
   * (Lead field mapping copies custom fields only where an admin maps them: not ours here), and
   * the Lead becomes read-only with IsConverted and ConvertedContactId set. Returns the Contact id.
   * https://developer.salesforce.com/docs/atlas.en-us.api.meta/object_ref/sforce_api_calls_convertlead.htm
   */
  convertLead(leadId: string): string {
    const lead = this.state.records['Lead']!.find((l) => l.Id === leadId);
    if (!lead) throw new Error(`no Lead ${leadId}`);
    const contact: SObject = { Id: this.#id('Contact'), FirstName: lead['FirstName'] ?? null, LastName: lead['LastName'], Phone: lead['Phone'] ?? null, MobilePhone: lead['MobilePhone'] ?? null };
    this.state.records['Contact']!.push(contact);
    Object.assign(lead, { IsConverted: true, ConvertedContactId: contact.Id });
    return contact.Id;
  }

  /** The duplicate rule's verdict on a new record, or undefined when it may be saved. */
  #duplicateOf(object: string, record: Record<string, unknown>, req: Request): { success: false; errors: unknown[] } | undefined {
    const rule = this.#options.leadDuplicateRule;
    if (object !== 'Lead' || rule === 'off') return undefined;
    const same = (a: unknown, b: unknown) => String(a ?? '').trim().toLowerCase() === String(b ?? '').trim().toLowerCase();
    const matches = this.state.records['Lead']!.filter(
      (l) => l['IsConverted'] !== true && same(l['FirstName'], record['FirstName']) && same(l['LastName'], record['LastName']) && same(l['Company'], record['Company']),
    );
    if (matches.length === 0) return undefined;
    const allowSave = /(^|;)\s*allowSave=true\b/i.test(req.get('sforce-duplicate-rule-header') ?? '');
    if (rule === 'alert' && allowSave) {
      this.duplicates.savedOverAlert++;
      return undefined;
    }
    this.duplicates.refused++;
    return {
      success: false,
      errors: [
        {
          statusCode: 'DUPLICATES_DETECTED',
          message: 'Use one of these records?',
          fields: [],
          duplicateResult: {
            allowSave: rule === 'alert',
            duplicateRule: 'Standard_Lead_Duplicate_Rule',
            duplicateRuleEntityType: 'Lead',
            errorMessage: 'Use one of these records?',
            matchResults: [{ entityType: 'Lead', matchEngine: 'FuzzyMatchEngine', rule: 'Standard_Lead_Match_Rule_v1_0', size: matches.length, success: true, matchRecords: matches.map((m) => ({ record: { Id: m.Id } })) }],
          },
        },
      ],
    };
  }

  /**
   * The next `count` requests `METHOD /path` (under /services/data/vNN.0) lose their connection at
   * once and are carried out `lateMs` later: Salesforce goes on with a REST call whose caller
   * stopped waiting, for up to 10 minutes ("The timeout limit for REST and SOAP API calls is 10
   * minutes", https://developer.salesforce.com/docs/platform/salesforce-app-limits-cheatsheet/guide/salesforce-app-limits-platform-api.html).
   */
  landLate(request: string, lateMs: number, count = 1): void {
    this.#lateLandings.push({ request, lateMs, count });
  }

  /** The next `count` requests `METHOD /path` (under /services/data/vNN.0) find every session expired (as the chaos kind `token-expired`), and are refused. */
  refuseSessions(request: string, count = 1): void {
    this.#sessionRefusals.push({ request, count });
  }

  /** Makes every issued session invalid, as when Salesforce expires it. */
  expireSessions(): void {
    this.#tokens.clear();
  }

  start(port = 0): Promise<string> {
    return this.#server.start(this.#app(), port);
  }

  stop(): Promise<void> {
    return this.#server.stop();
  }

  #id(object: string): string {
    const prefix = ({ Lead: '00Q', Contact: '003', Task: '00T', ContentVersion: '068' } as Record<string, string>)[object] ?? '001';
    return `${prefix}${String(this.#nextId++).padStart(15, '0')}`;
  }

  /** Applies a record's fields after checking them against describe; returns an error result or undefined. */
  #validate(object: string, record: Record<string, unknown>, creating: boolean): { success: false; errors: unknown[] } | undefined {
    const fields = this.state.fields[object] ?? [];
    for (const name of Object.keys(record)) {
      if (name === 'attributes' || name === 'Id' || name === 'id') continue;
      const spec = fields.find((f) => f.name === name);
      if (!spec || !(creating ? spec.createable : spec.updateable)) {
        return { success: false, errors: [{ statusCode: 'INVALID_FIELD_FOR_INSERT_UPDATE', message: `Unable to create/update fields: ${name}`, fields: [name] }] };
      }
      // A restricted picklist refuses other values: INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST.
      // https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_concepts_core_data_objects.htm
      if (spec.restrictedPicklist && record[name] !== null && !(spec.picklistValues ?? []).some((v) => v.active && v.value === record[name])) {
        return { success: false, errors: [{ statusCode: 'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST', message: `${spec.name}: bad value for restricted picklist field: ${String(record[name])}`, fields: [name] }] };
      }
      if (typeof record[name] === 'string' && (record[name] as string).length > spec.length) {
        return { success: false, errors: [{ statusCode: 'STRING_TOO_LONG', message: `${name}: data value too large`, fields: [name] }] };
      }
    }
    if (creating) {
      const missing = fields.filter((f) => !f.nillable && f.createable && !f.defaultedOnCreate && (record[f.name] === undefined || record[f.name] === ''));
      if (missing.length > 0) {
        return { success: false, errors: [{ statusCode: 'REQUIRED_FIELD_MISSING', message: `Required fields are missing: [${missing.map((f) => f.name).join(', ')}]`, fields: missing.map((f) => f.name) }] };
      }
    }
    return undefined;
  }

  #app(): express.Express {
    const app = express();
    app.use(express.json({ limit: '20mb' }), express.urlencoded({ extended: false }));

    app.get('/_sandbox/state', (_req, res) => void res.json(this.state));

    app.post('/services/oauth2/token', (req, res) => {
      this.state.requests++;
      const grant = String(req.body.grant_type);
      const ok =
        (grant === 'client_credentials' && req.body.client_id === this.#options.clientId && req.body.client_secret === this.#options.clientSecret) ||
        (grant === 'urn:ietf:params:oauth:grant-type:jwt-bearer' && typeof req.body.assertion === 'string' && req.body.assertion.split('.').length === 3);
      if (!ok) return void res.status(400).json({ error: 'invalid_client', error_description: 'invalid client credentials' });
      const token = `00Dsandbox!${randomBytes(12).toString('hex')}`;
      this.#tokens.add(token);
      this.state.tokensIssued++;
      // Issued now, answered after tokenDelayMs: a session can be expired again before its holder has it.
      setTimeout(() => res.json({ access_token: token, instance_url: `http://${req.get('host')}`, token_type: 'Bearer', issued_at: String(Date.now()) }), this.#options.tokenDelayMs);
    });

    const data = express.Router();
    data.use(this.chaos.middleware((res) => sfError(res, 503, 'SERVER_UNAVAILABLE', 'injected fault: server unavailable'), () => this.expireSessions()));
    data.use((req, res, next) => {
      const refusal = this.#sessionRefusals.find((r) => r.request === `${req.method} ${req.path}`);
      if (!refusal) return next();
      if (--refusal.count <= 0) this.#sessionRefusals.splice(this.#sessionRefusals.indexOf(refusal), 1);
      this.expireSessions();
      sfError(res, 401, 'INVALID_SESSION_ID', 'Session expired or invalid');
    });
    data.use((req, res, next) => {
      const late = this.#lateLandings.find((l) => l.request === `${req.method} ${req.path}`);
      if (!late) return next();
      if (--late.count <= 0) this.#lateLandings.splice(this.#lateLandings.indexOf(late), 1);
      landLater(req, res, next, late.lateMs);
    });
    data.use((req, res, next) => {
      this.state.requests++;
      const token = /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1];
      if (!token || !this.#tokens.has(token)) return sfError(res, 401, 'INVALID_SESSION_ID', 'Session expired or invalid');
      if (this.state.apiUsed >= this.#options.dailyMax) return sfError(res, 403, 'REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.');
      this.state.apiUsed++;
      res.set('Sforce-Limit-Info', `api-usage=${this.state.apiUsed}/${this.#options.dailyMax}`);
      next();
    });

    data.get('/limits', (_req, res) => void res.json({ DailyApiRequests: { Max: this.#options.dailyMax, Remaining: this.#options.dailyMax - this.state.apiUsed } }));

    data.get('/sobjects/:object/describe', (req, res) => {
      const fields = this.state.fields[req.params.object];
      if (!fields) return sfError(res, 404, 'NOT_FOUND', `The requested resource does not exist`);
      res.json({ name: req.params.object, createable: true, updateable: true, fields });
    });

    data.get('/query', (req, res) => {
      let parsed: ReturnType<typeof parseSoql>;
      try {
        parsed = parseSoql(String(req.query['q']));
      } catch (error) {
        return sfError(res, 400, 'MALFORMED_QUERY', (error as Error).message);
      }
      const holds = (r: SObject, c: { field: string; values: string[] }) => c.values.includes(String(r[c.field] ?? ''));
      const records = (this.state.records[parsed.object] ?? []).filter(
        (r) => parsed.conditions.length === 0 || (parsed.join === 'AND' ? parsed.conditions.every((c) => holds(r, c)) : parsed.conditions.some((c) => holds(r, c))),
      );
      res.json({
        totalSize: records.length,
        done: true,
        records: records.slice(0, 2000).map((r) => ({ attributes: { type: parsed.object, url: `/services/data/v62.0/sobjects/${parsed.object}/${r.Id}` }, ...Object.fromEntries(parsed.fields.map((f) => [f, r[f] ?? null])) })),
      });
    });

    data.patch('/composite/sobjects/:object/:externalIdField', (req, res) => {
      const { object, externalIdField } = req.params;
      const records = (req.body as { records?: Array<Record<string, unknown>> }).records ?? [];
      if (records.length > MAX_COLLECTION) return sfError(res, 400, 'EXCEEDED_ID_LIMIT', `record count exceeds ${MAX_COLLECTION}`);
      const spec = (this.state.fields[object] ?? []).find((f) => f.name === externalIdField);
      if (!spec?.externalId) return sfError(res, 400, 'INVALID_FIELD', `Field ${externalIdField} is not an external id field`);
      const table = (this.state.records[object] ??= []);
      res.json(
        records.map((record) => {
          const { attributes: _attributes, ...fields } = record;
          const existing = table.find((r) => r[externalIdField] === fields[externalIdField]);
          if (existing?.['IsConverted'] === true) return convertedLeadError();
          const invalid = this.#validate(object, fields, !existing) ?? (existing ? undefined : this.#duplicateOf(object, fields, req));
          if (invalid) return invalid;
          if (existing) {
            Object.assign(existing, fields);
            return { id: existing.Id, success: true, created: false, errors: [] };
          }
          const created = { ...fields, ...(object === 'Lead' ? { IsConverted: false } : {}), Id: this.#id(object) } as SObject;
          table.push(created);
          return { id: created.Id, success: true, created: true, errors: [] };
        }),
      );
    });

    data.post('/sobjects/:object', (req, res) => {
      const object = req.params.object;
      if (!this.state.fields[object]) return sfError(res, 404, 'NOT_FOUND', 'The requested resource does not exist');
      const invalid = this.#validate(object, req.body as Record<string, unknown>, true);
      if (invalid) return void res.status(400).json((invalid.errors as Array<{ statusCode: string; message: string; fields: string[] }>).map((e) => ({ errorCode: e.statusCode, message: e.message, fields: e.fields })));
      const created = { ...(req.body as Record<string, unknown>), Id: this.#id(object) } as SObject;
      (this.state.records[object] ??= []).push(created);
      res.status(201).json({ id: created.Id, success: true, errors: [] });
    });

    data.patch('/composite/sobjects', (req, res) => {
      const records = (req.body as { records?: Array<Record<string, unknown>> }).records ?? [];
      if (records.length > MAX_COLLECTION) return sfError(res, 400, 'EXCEEDED_ID_LIMIT', `record count exceeds ${MAX_COLLECTION}`);
      res.json(
        records.map((record) => {
          const { attributes, id, Id, ...fields } = record as { attributes?: { type?: string }; id?: string; Id?: string };
          const object = attributes?.type ?? '';
          const existing = (this.state.records[object] ?? []).find((r) => r.Id === (id ?? Id));
          if (!existing) return { success: false, errors: [{ statusCode: 'ENTITY_IS_DELETED', message: 'entity is deleted', fields: [] }] };
          if (existing['IsConverted'] === true) return convertedLeadError();
          const invalid = this.#validate(object, fields, false);
          if (invalid) return invalid;
          Object.assign(existing, fields);
          return { id: existing.Id, success: true, errors: [] };
        }),
      );
    });

    app.use(/^\/services\/data\/v\d+\.0/, data);
    app.use((req: Request, res: Response) => sfError(res, 404, 'NOT_FOUND', `sandbox: no route for ${req.method} ${req.path}`));
    return app;
  }
}

/**
 * A flow's HTTP Callout action calling `url` through a named credential, as Salesforce sends it:
 * POST with the JSON body the external service was made from (the flow's values assigned), and the
 * external credential's custom header (its value a formula over an authentication parameter, e.g.
 * {!$Credential.WA_CRM_Sync.Token}). Salesforce adds no signature.
 * https://help.salesforce.com/s/articleView?id=platform.flow_http_callout_configuring.htm&type=5
 * https://help.salesforce.com/s/articleView?id=xcloud.nc_cred_custom_headers.htm&type=5
 */
export async function sendFlowHttpCallout(url: string, body: Readonly<Record<string, unknown>>, header: { readonly name: string; readonly value: string }): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', [header.name]: header.value }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json().catch(() => ({}))) as Record<string, unknown> };
}
