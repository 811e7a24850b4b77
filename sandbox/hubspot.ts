// A local stand-in for the parts of HubSpot's API the connector uses, with HubSpot's shapes,
// its batch and search limits, and its rolling burst limit (real 429s). State is inspectable
// at GET /_sandbox/state; faults can be injected with POST /_sandbox/faults.
import { randomUUID } from 'node:crypto';
import { Chaos, landLater } from './chaos.js';
import { LoopbackServer } from './loopback.js';
import express, { type Request, type Response } from 'express';
import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { CUSTOM_CHANNEL_SCOPES, HubSpotInboxSandbox, type InboxSandboxOptions } from './hubspot-inbox.js';

export interface HubSpotSandboxOptions {
  /** Burst limit: requests per rolling window (private apps, Free/Starter: 100 per 10 s). */
  readonly requests?: number;
  readonly intervalMs?: number;
  /** Search endpoints' own limit, per second. */
  readonly searchPerSecond?: number;
  /** Private-app tokens accepted, with their scopes. */
  readonly tokens?: Record<string, string[]>;
  /**
   * Search is eventually consistent: a record created or changed is seen by the search endpoints
   * only this long after the write (batch read sees it at once). HubSpot's search guide: newly
   * created or updated objects can take a few moments to appear in search results.
   * https://developers.hubspot.com/docs/api/crm/search
   */
  readonly searchIndexDelayMs?: number;
  /**
   * Batch answers list their results in no particular order (the documented way to match a result
   * to its input is a property such as the upsert key, or objectWriteTraceId):
   * https://developers.hubspot.com/docs/api-reference/latest/crm/objects/contacts/batch/upsert-contacts
   * On by default: results come back in reverse order, so a caller reading them by position fails.
   */
  readonly shuffleBatchResults?: boolean;
  /**
   * OAuth apps installed in the account, by client id. Only the date-versioned OAuth endpoints are
   * served (token, token/introspect; form-encoded bodies): the v1 endpoints end on 16 February 2027.
   * https://developers.hubspot.com/docs/api-reference/2026-03/authentication/oauth-tokens/refresh-oauth-token
   */
  readonly oauthApps?: Record<string, { clientSecret: string; refreshToken: string; scopes: string[] }>;
  /**
   * The account's time zone, as the account-info API reports it; the daily limit resets at
   * midnight in it, not UTC ("Daily limits reset at midnight based on your time zone setting"):
   * https://developers.hubspot.com/docs/guides/apps/api-usage/usage-details
   * https://developers.hubspot.com/docs/api-reference/latest/account/account-information/get-account-details
   */
  readonly timeZone?: string;
  /** Requests per day of the account (its own calendar day); 429 DAILY beyond. Off when absent. */
  readonly dailyLimit?: number;
  /**
   * What HubSpot does with `hasUniqueValue: true` on a communications property. Unique values are
   * documented for contacts, companies, deals, tickets and custom objects only ("only net new
   * properties can be set to contain a unique value"), not for communications:
   * https://developers.hubspot.com/docs/api/crm/properties#create-unique-identifier-properties
   * `honoured`: unique, upsert by it works; `ignored`: created, but reads back without unique
   * values (so upsert by it is refused); `refused`: the creation answers 400. Default `ignored`.
   */
  readonly communicationUniqueValues?: 'honoured' | 'ignored' | 'refused';
  /**
   * Whether communications have `hs_attachment_ids`. Attachments are documented for notes, not
   * for communications (https://developers.hubspot.com/docs/api-reference/latest/crm/activities/notes/guide);
   * off (default): the property does not exist there and writes to it are refused.
   */
  readonly communicationAttachments?: boolean;
  /** The conversations inbox through Custom Channels (see sandbox/hubspot-inbox.ts). */
  readonly inbox?: InboxSandboxOptions;
}

interface CrmRecord {
  id: string;
  properties: Record<string, string | null>;
  createdAt: string;
  updatedAt: string;
}

interface PropertyDefinition {
  name: string;
  label: string;
  type: string;
  fieldType: string;
  groupName: string;
  hasUniqueValue: boolean;
  /** A dropdown's (enumeration's) allowed values; a write of another value is refused. */
  options?: Array<{ label: string; value: string; displayOrder?: number; hidden: boolean }>;
}

export interface HubSpotSandboxState {
  requests: number;
  rateLimited: number;
  /** Requests that arrived while the burst window was already full (each got a 429). */
  overLimit: number;
  /** 429s by HubSpot policy name. */
  rateLimitedBy: Record<string, number>;
  objects: Record<string, CrmRecord[]>;
  associations: Array<{ from: string; fromId: string; to: string; toId: string }>;
  properties: Record<string, PropertyDefinition[]>;
  oauthTokensIssued: number;
  /** Requests counted by day of the account's time zone (YYYY-MM-DD there). */
  dailyUsage: Record<string, number>;
  /** Files uploaded to the Files API. */
  files: Array<{ id: string; name: string; extension: string; folderPath: string; size: number }>;
  /** Downloads through signed URLs, by file id (the bytes an integration fetched). */
  signedDownloads: string[];
}

/** The `file` field's bytes of a multipart/form-data body (the Files API's upload). */
async function multipartFileBytes(body: unknown, contentType: string | undefined): Promise<Buffer | undefined> {
  if (!Buffer.isBuffer(body)) return undefined;
  const form = await new Response(body, { headers: { 'content-type': contentType ?? '' } }).formData().catch(() => undefined);
  const file = form?.get('file');
  return file instanceof Blob ? Buffer.from(await file.arrayBuffer()) : undefined;
}

function searchableDigits(value: string | null | undefined): string | null {
  if (!value) return null;
  const parsed = value.trim().startsWith('+') ? parsePhoneNumberFromString(value) : undefined;
  return parsed?.nationalNumber ?? (value.replace(/\D/g, '') || null);
}

/**
 * HubSpot's search guide, Limitations: "A query can contain a maximum of 3,000 characters. If the
 * body of your request exceeds 3,000 characters, a 400 error will be returned."
 * https://developers.hubspot.com/docs/api/crm/search#limitations
 */
export const SEARCH_BODY_MAX_CHARS = 3_000;

const DEFAULT_SCOPES = ['crm.objects.contacts.read', 'crm.objects.contacts.write', 'crm.schemas.contacts.read', 'crm.schemas.contacts.write'];
/** A token of an app running the inbox: the contact scopes, the Custom Channels scopes (see CUSTOM_CHANNEL_SCOPES) and Files. */
export const INBOX_APP_SCOPES: readonly string[] = [...DEFAULT_SCOPES, ...Object.values(CUSTOM_CHANNEL_SCOPES), 'files'];
const BATCH_LIMIT = 100;

function error(res: Response, status: number, category: string, message: string, extra: Record<string, unknown> = {}): void {
  res.status(status).json({ status: 'error', message, correlationId: randomUUID(), category, ...extra });
}

export class HubSpotSandbox {
  readonly state: HubSpotSandboxState = { requests: 0, rateLimited: 0, overLimit: 0, rateLimitedBy: {}, objects: {}, associations: [], properties: {}, oauthTokensIssued: 0, dailyUsage: {}, files: [], signedDownloads: [] };
  readonly #options: Required<Omit<HubSpotSandboxOptions, 'inbox'>>;
  /** Custom channels, their accounts, inbox threads and messages, and an agent who answers. */
  readonly inbox: HubSpotInboxSandbox;
  /** What the search index holds of each record, and from when (eventual consistency). */
  readonly #index = new Map<string, Array<{ from: number; properties: Record<string, string | null> }>>();
  readonly #window: number[] = [];
  readonly #searchWindow: number[] = [];
  #faults: Array<{ status: number; count: number }> = [];
  /** Answers to lose after the work is done, by `METHOD /path` (a reset connection instead of the answer). */
  readonly #losses: Array<{ request: string; count: number }> = [];
  /** Requests to carry out late, by `METHOD /path` (see landLate). */
  readonly #lateLandings: Array<{ request: string; lateMs: number; count: number }> = [];
  /** Random faults on API requests (off until set). */
  readonly chaos = new Chaos();
  #nextId = 1000;
  /** Each file's bytes (uploads and files added for agents), served through signed URLs. */
  readonly #fileBytes = new Map<string, Buffer>();
  /** Signed URLs handed out: token to file id and expiry. */
  readonly #signedUrls = new Map<string, { fileId: string; expiresAt: number }>();
  readonly #server = new LoopbackServer();
  /** Added to the wall clock (daily limit, search index): tests move time, e.g. past the account's midnight. */
  #clockOffsetMs = 0;

  /** The sandbox's clock: the wall clock plus `advanceClock`. */
  now(): number {
    return Date.now() + this.#clockOffsetMs;
  }

  advanceClock(ms: number): void {
    this.#clockOffsetMs += ms;
  }

  /** Sets the sandbox clock to `instant` (e.g. a minute before the account's midnight). */
  setClock(instant: number): void {
    this.#clockOffsetMs = instant - Date.now();
  }

  /** The next `count` requests `METHOD /path` are handled, then their answers lost (the connection reset). */
  loseAnswers(request: string, count = 1): void {
    this.#losses.push({ request, count });
  }

  /**
   * The next `count` requests `METHOD /path` lose their connection at once and are carried out
   * `lateMs` later: a server goes on with a request whose caller stopped waiting, so a retry that
   * looks for the work right away finds nothing.
   */
  landLate(request: string, lateMs: number, count = 1): void {
    this.#lateLandings.push({ request, lateMs, count });
  }

  /** The account's calendar day at `instant`, in its time zone. */
  accountDay(instant = this.now()): string {
    return new Intl.DateTimeFormat('en-CA', { timeZone: this.#options.timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(instant));
  }

  constructor(options: HubSpotSandboxOptions = {}) {
    this.#options = {
      requests: options.requests ?? 100,
      intervalMs: options.intervalMs ?? 10_000,
      searchPerSecond: options.searchPerSecond ?? 4,
      tokens: options.tokens ?? { 'pat-sandbox': DEFAULT_SCOPES },
      searchIndexDelayMs: options.searchIndexDelayMs ?? 0,
      shuffleBatchResults: options.shuffleBatchResults ?? true,
      oauthApps: options.oauthApps ?? {},
      timeZone: options.timeZone ?? 'US/Eastern',
      dailyLimit: options.dailyLimit ?? Number.POSITIVE_INFINITY,
      communicationUniqueValues: options.communicationUniqueValues ?? 'ignored',
      communicationAttachments: options.communicationAttachments ?? false,
    };
    this.inbox = new HubSpotInboxSandbox(options.inbox, (id) => this.state.files.some((f) => f.id === id), (bytes, fileName) => this.addFile(bytes, fileName));
    for (const type of ['contacts', 'communications', 'notes']) this.state.properties[type] = [];
    // HubSpot's own properties the connector checks for.
    const builtIn = (name: string) => ({ name, label: name, type: 'string', fieldType: 'text', groupName: 'engagement', hasUniqueValue: false });
    this.state.properties['notes']!.push(builtIn('hs_attachment_ids'));
    if (this.#options.communicationAttachments) this.state.properties['communications']!.push(builtIn('hs_attachment_ids'));
  }

  /** A file in HubSpot Files, as when an agent attaches one in the inbox; returns its id. */
  addFile(bytes: Buffer, fileName: string, folderPath = '/conversations'): string {
    const dot = fileName.lastIndexOf('.');
    const file = { id: String(this.#nextId++), name: dot > 0 ? fileName.slice(0, dot) : fileName, extension: dot > 0 ? fileName.slice(dot + 1) : '', folderPath, size: bytes.byteLength };
    this.state.files.push(file);
    this.#fileBytes.set(file.id, bytes);
    return file.id;
  }

  start(port = 0): Promise<string> {
    return this.#server.start(this.#app(), port);
  }

  stop(): Promise<void> {
    return this.#server.stop();
  }

  #records(type: string): CrmRecord[] {
    return (this.state.objects[type] ??= []);
  }

  /**
   * A value a dropdown property does not allow, described as HubSpot's 400 does ("… was not one of
   * the allowed options"): https://developers.hubspot.com/docs/api/crm/properties
   */
  #invalidOption(type: string, properties: Record<string, string>): string | undefined {
    for (const [name, value] of Object.entries(properties)) {
      const options = (this.state.properties[type] ?? []).find((p) => p.name === name)?.options;
      if (options && value !== '' && !options.some((o) => o.value === value)) return `${name} (${value} was not one of the allowed options)`;
    }
    return undefined;
  }

  #uniqueProperty(type: string, name: string): boolean {
    return (type === 'contacts' && name === 'email') || (this.state.properties[type] ?? []).some((p) => p.name === name && p.hasUniqueValue);
  }

  /** Counts the request against the rolling window; answers 429 and returns false when it is full. */
  #admit(req: Request, res: Response): boolean {
    this.state.requests++;
    const day = this.accountDay();
    if ((this.state.dailyUsage[day] ?? 0) >= this.#options.dailyLimit) {
      this.#count429('DAILY');
      error(res, 429, 'RATE_LIMITS', 'You have reached your daily limit.', { policyName: 'DAILY' });
      return false;
    }
    this.state.dailyUsage[day] = (this.state.dailyUsage[day] ?? 0) + 1;
    const now = Date.now();
    const trim = (log: number[], span: number) => {
      while (log.length > 0 && log[0]! <= now - span) log.shift();
    };
    trim(this.#window, this.#options.intervalMs);
    const headers = {
      'X-HubSpot-RateLimit-Max': String(this.#options.requests),
      'X-HubSpot-RateLimit-Interval-Milliseconds': String(this.#options.intervalMs),
    };
    if (this.#window.length >= this.#options.requests) {
      this.#count429('TEN_SECONDLY_ROLLING');
      res.set({ ...headers, 'X-HubSpot-RateLimit-Remaining': '0' });
      error(res, 429, 'RATE_LIMITS', `You have reached your ten_secondly_rolling limit.`, { policyName: 'TEN_SECONDLY_ROLLING' });
      return false;
    }
    if (req.path.endsWith('/search')) {
      trim(this.#searchWindow, 1000);
      if (this.#searchWindow.length >= this.#options.searchPerSecond) {
        this.#count429('SECONDLY');
        error(res, 429, 'RATE_LIMITS', 'You have reached your secondly limit.', { policyName: 'SECONDLY' });
        return false;
      }
      this.#searchWindow.push(now);
    }
    this.#window.push(now);
    res.set({ ...headers, 'X-HubSpot-RateLimit-Remaining': String(this.#options.requests - this.#window.length) });
    return true;
  }

  #count429(policy: string): void {
    this.state.rateLimited++;
    this.state.overLimit++;
    this.state.rateLimitedBy[policy] = (this.state.rateLimitedBy[policy] ?? 0) + 1;
  }

  #scopesOf(req: Request): string[] | undefined {
    const token = /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1];
    return token === undefined ? undefined : this.#options.tokens[token];
  }

  #upsertRecord(type: string, input: { id?: string; idProperty?: string; properties: Record<string, string> }): { record: CrmRecord; created: boolean } {
    const records = this.#records(type);
    const now = new Date().toISOString();
    const existing = input.idProperty ? records.find((r) => r.properties[input.idProperty!] === input.id) : records.find((r) => r.id === input.id);
    if (existing) {
      Object.assign(existing.properties, input.properties);
      existing.updatedAt = now;
      this.#reindex(type, existing);
      return { record: existing, created: false };
    }
    const properties: Record<string, string | null> = { ...input.properties };
    if (input.idProperty) properties[input.idProperty] = input.id ?? null;
    const record = { id: String(this.#nextId++), properties, createdAt: now, updatedAt: now };
    records.push(record);
    this.#reindex(type, record);
    return { record, created: true };
  }

  /** The search index picks up this state of the record after the indexing delay. */
  #reindex(type: string, record: CrmRecord): void {
    const key = `${type}/${record.id}`;
    const versions = this.#index.get(key) ?? [];
    versions.push({ from: this.now() + this.#options.searchIndexDelayMs, properties: { ...record.properties } });
    this.#index.set(key, versions);
  }

  /**
   * The record as search sees it now: its last indexed state, or undefined when not indexed yet.
   * Records put into the state directly (fixtures) have no history and are indexed as they are.
   */
  #indexed(type: string, record: CrmRecord): CrmRecord | undefined {
    const versions = this.#index.get(`${type}/${record.id}`);
    if (!versions) return record;
    const now = this.now();
    const seen = versions.filter((v) => v.from <= now).pop();
    return seen ? { ...record, properties: seen.properties } : undefined;
  }

  #view(record: CrmRecord, properties: readonly string[] | undefined): CrmRecord {
    const picked = properties ? Object.fromEntries(properties.map((p) => [p, this.#property(record, p)])) : { ...record.properties };
    return { ...record, properties: picked };
  }

  #property(record: CrmRecord, name: string): string | null {
    // HubSpot keeps digit-only copies of phone numbers, without the country code, for searching.
    if (name === 'hs_searchable_calculated_phone_number') return searchableDigits(record.properties['phone']);
    if (name === 'hs_searchable_calculated_mobile_number') return searchableDigits(record.properties['mobilephone']);
    return record.properties[name] ?? null;
  }

  #app(): express.Express {
    const app = express();
    app.use(
      express.json({ limit: '10mb', verify: (req, _res, raw) => void ((req as Request & { bodyChars?: number }).bodyChars = raw.toString('utf8').length) }),
      express.urlencoded({ extended: false }),
    );

    app.get('/_sandbox/state', (_req, res) => void res.json(this.state));
    app.post('/_sandbox/faults', (req, res) => {
      this.#faults.push({ status: Number(req.body.status), count: Number(req.body.count ?? 1) });
      res.json({ ok: true });
    });

    app.post('/oauth/v2/private-apps/get/access-token-info', (req, res) => {
      if (!this.#admit(req, res)) return;
      const scopes = this.#options.tokens[String(req.body.tokenKey)];
      if (!scopes) return error(res, 401, 'INVALID_AUTHENTICATION', 'The token is not valid');
      res.json({ userId: 1, hubId: 12345, appId: 1, scopes });
    });

    // OAuth 2.0 at the date-versioned endpoints, answering with RFC 6749 / 7662 shapes.
    const oauthVersion = '2026-03';
    app.post(`/oauth/${oauthVersion}/token`, (req, res) => {
      if (!this.#admit(req, res)) return;
      if (!req.is('application/x-www-form-urlencoded')) return void res.status(400).json({ error: 'invalid_request', error_description: 'parameters go in a form-encoded body' });
      const body = req.body as Record<string, string>;
      const app = this.#options.oauthApps[body['client_id'] ?? ''];
      if (!app || app.clientSecret !== body['client_secret']) return void res.status(401).json({ error: 'invalid_client', error_description: 'unknown client or wrong secret' });
      if (body['grant_type'] !== 'refresh_token' || body['refresh_token'] !== app.refreshToken) {
        return void res.status(400).json({ error: 'invalid_grant', error_description: 'refresh token is invalid, expired or revoked', status: 'BAD_REFRESH_TOKEN' });
      }
      const accessToken = `oauth-${randomUUID()}`;
      this.#options.tokens[accessToken] = app.scopes;
      this.state.oauthTokensIssued++;
      res.json({ access_token: accessToken, refresh_token: app.refreshToken, expires_in: 1800, token_type: 'bearer', hub_id: 12345, scopes: app.scopes });
    });
    app.post(`/oauth/${oauthVersion}/token/introspect`, (req, res) => {
      if (!this.#admit(req, res)) return;
      const body = req.body as Record<string, string>;
      const app = this.#options.oauthApps[body['client_id'] ?? ''];
      if (!app || app.clientSecret !== body['client_secret']) return void res.status(401).json({ error: 'invalid_client', error_description: 'unknown client or wrong secret' });
      const scopes = this.#options.tokens[body['token'] ?? ''];
      res.json(scopes ? { active: true, token_type: 'access_token', client_id: body['client_id'], hub_id: 12345, scopes, scope: scopes.join(' ') } : { active: false });
    });

    this.inbox.mountRegistration(app);
    app.use((req, res, next) => {
      if (req.path.startsWith('/_sandbox')) return next();
      if (!this.#admit(req, res)) return;
      const fault = this.#faults[0];
      if (fault) {
        if (--fault.count <= 0) this.#faults.shift();
        return error(res, fault.status, 'INJECTED_FAULT', `injected fault ${fault.status}`);
      }
      if (!this.#scopesOf(req)) return error(res, 401, 'INVALID_AUTHENTICATION', 'Authentication credentials not found.');
      next();
    });
    // Multipart uploads are read before any fault: a request carried out late has lost its socket
    // by the time its route runs (the route's own parser then skips the body already read).
    app.use('/files/v3/files', express.raw({ type: 'multipart/form-data', limit: '50mb' }));
    app.use(this.chaos.middleware((res) => error(res, 502, 'BAD_GATEWAY', 'The server encountered a temporary error')));
    app.use((req, res, next) => {
      const loss = this.#losses.find((l) => l.request === `${req.method} ${req.path}`);
      if (loss) {
        if (--loss.count <= 0) this.#losses.splice(this.#losses.indexOf(loss), 1);
        res.end = (() => (req.socket.destroy(), res)) as unknown as Response['end'];
      }
      next();
    });
    app.use((req, res, next) => {
      const late = this.#lateLandings.find((l) => l.request === `${req.method} ${req.path}`);
      if (!late) return next();
      if (--late.count <= 0) this.#lateLandings.splice(this.#lateLandings.indexOf(late), 1);
      // The body is read before the connection goes (the route's own parser then skips it).
      express.raw({ type: () => true, limit: '50mb' })(req, res, () => landLater(req, res, next, late.lateMs));
    });

    this.inbox.mountAccount(app, (req) => this.#scopesOf(req) ?? []);

    // Account details: the time zone the daily limit resets in.
    // https://developers.hubspot.com/docs/api-reference/latest/account/account-information/get-account-details
    app.get(['/account-info/v3/details', '/account-info/2026-03/details'], (_req, res) => {
      const zone = this.#options.timeZone;
      const at = new Date(this.now());
      const local = new Date(at.toLocaleString('en-US', { timeZone: zone }));
      const utc = new Date(at.toLocaleString('en-US', { timeZone: 'UTC' }));
      const offset = local.getTime() - utc.getTime();
      const sign = offset < 0 ? '-' : '+';
      const minutes = Math.abs(offset) / 60_000;
      res.json({
        portalId: 12345,
        accountType: 'STANDARD',
        timeZone: zone,
        companyCurrency: 'USD',
        additionalCurrencies: [],
        utcOffset: `${sign}${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`,
        utcOffsetMilliseconds: offset,
        uiDomain: 'app.hubspot.com',
        dataHostingLocation: 'na1',
      });
    });

    app.get('/crm/v3/properties/:type/:name', (req, res) => {
      const found = (this.state.properties[req.params.type] ?? []).find((p) => p.name === req.params.name);
      if (!found) return error(res, 404, 'OBJECT_NOT_FOUND', `Unable to find property ${req.params.name}`);
      res.json(found);
    });
    app.post('/crm/v3/properties/:type/groups', (req, res) => void res.status(201).json({ name: req.body.name, label: req.body.label, displayOrder: -1, archived: false }));
    app.post('/crm/v3/properties/:type', (req, res) => {
      const list = (this.state.properties[req.params.type] ??= []);
      if (list.some((p) => p.name === req.body.name)) return error(res, 409, 'OBJECT_ALREADY_EXISTS', 'Property already exists');
      let hasUniqueValue = Boolean(req.body.hasUniqueValue);
      if (hasUniqueValue && req.params.type === 'communications') {
        const behaviour = this.#options.communicationUniqueValues;
        if (behaviour === 'refused') return error(res, 400, 'VALIDATION_ERROR', `Unique value properties are not supported for object type ${req.params.type}`);
        if (behaviour === 'ignored') hasUniqueValue = false;
      }
      const property: PropertyDefinition = { name: req.body.name, label: req.body.label, type: req.body.type, fieldType: req.body.fieldType, groupName: req.body.groupName, hasUniqueValue };
      // An enumeration carries its options; HubSpot refuses one without them.
      // https://developers.hubspot.com/docs/api-reference/latest/crm/properties/create-property
      if (req.body.type === 'enumeration') {
        if (!Array.isArray(req.body.options) || req.body.options.length === 0) return error(res, 400, 'VALIDATION_ERROR', 'Enumeration properties need at least one option');
        property.options = req.body.options;
      }
      list.push(property);
      res.status(201).json(property);
    });

    const batch = (res: Response, inOrder: unknown[], errors: unknown[], okStatus = 200) => {
      const results = this.#options.shuffleBatchResults ? [...inOrder].reverse() : inOrder;
      const body = { status: 'COMPLETE', results, startedAt: new Date().toISOString(), completedAt: new Date().toISOString(), ...(errors.length ? { numErrors: errors.length, errors } : {}) };
      res.status(errors.length ? 207 : okStatus).json(body);
    };
    const tooMany = (res: Response, inputs: unknown[]) => {
      if (!Array.isArray(inputs) || inputs.length > BATCH_LIMIT) {
        error(res, 400, 'VALIDATION_ERROR', `Batch inputs must be an array of at most ${BATCH_LIMIT} items`);
        return true;
      }
      return false;
    };

    app.post('/crm/v3/objects/:type/batch/read', (req, res) => {
      const { idProperty, inputs, properties } = req.body as { idProperty?: string; inputs: Array<{ id: string }>; properties?: string[] };
      if (tooMany(res, inputs)) return;
      const records = this.#records(req.params.type);
      const found = inputs.map((i) => records.find((r) => (idProperty ? r.properties[idProperty] === i.id : r.id === i.id))).filter((r): r is CrmRecord => r !== undefined);
      batch(res, found.map((r) => this.#view(r, properties)), []);
    });

    app.post('/crm/v3/objects/:type/batch/upsert', (req, res) => {
      const { inputs } = req.body as { inputs: Array<{ id: string; idProperty: string; properties: Record<string, string> }> };
      if (tooMany(res, inputs)) return;
      const results: unknown[] = [];
      const errors: unknown[] = [];
      for (const input of inputs) {
        if (!this.#uniqueProperty(req.params.type, input.idProperty)) {
          errors.push({ status: 'error', category: 'VALIDATION_ERROR', message: `Property ${input.idProperty} is not a unique identifier`, context: { ids: [input.id] } });
          continue;
        }
        const { record, created } = this.#upsertRecord(req.params.type, input);
        results.push({ ...record, new: created });
      }
      batch(res, results, errors);
    });

    /** The first property HubSpot would refuse on this object type (it does not exist there), if any. */
    const unknownProperty = (type: string, properties: Record<string, string>): string | undefined =>
      type === 'communications' && !this.#options.communicationAttachments && 'hs_attachment_ids' in properties ? 'hs_attachment_ids' : this.#invalidOption(type, properties);

    // Batch create, with associations inline (communication -> contact is type 81, note -> contact 202):
    // https://developers.hubspot.com/docs/guides/api/crm/engagements/communications
    // A value already held by a unique property is refused; a non-unique one is simply stored again.
    app.post('/crm/v3/objects/:type/batch/create', (req, res) => {
      const { inputs } = req.body as { inputs: Array<{ properties: Record<string, string>; associations?: Array<{ to: { id: string }; types: Array<{ associationCategory: string; associationTypeId: number }> }> }> };
      if (tooMany(res, inputs)) return;
      const type = req.params.type;
      for (const input of inputs) {
        const unknown = unknownProperty(type, input.properties);
        if (unknown) return error(res, 400, 'VALIDATION_ERROR', `Property values were not valid: Property "${unknown}" does not exist`);
        const taken = Object.entries(input.properties).find(([name, value]) => this.#uniqueProperty(type, name) && this.#records(type).some((r) => r.properties[name] === value));
        if (taken) return error(res, 409, 'CONFLICT', `A ${type} record with ${taken[0]} ${taken[1]} already exists`);
      }
      const results = inputs.map((input) => {
        const { record } = this.#upsertRecord(type, { properties: input.properties });
        for (const association of input.associations ?? []) {
          const to = association.types.some((t) => t.associationTypeId === 81 || t.associationTypeId === 202) ? 'contacts' : 'unknown';
          this.state.associations.push({ from: type, fromId: record.id, to, toId: String(association.to.id) });
        }
        return record;
      });
      // Batch create answers 201 Created.
      batch(res, results, [], 201);
    });

    app.post('/crm/v3/objects/:type/batch/update', (req, res) => {
      const { inputs } = req.body as { inputs: Array<{ id: string; properties: Record<string, string> }> };
      if (tooMany(res, inputs)) return;
      const results: unknown[] = [];
      const errors: unknown[] = [];
      for (const input of inputs) {
        const record = this.#records(req.params.type).find((r) => r.id === input.id);
        const unknown = unknownProperty(req.params.type, input.properties);
        if (unknown) errors.push({ status: 'error', category: 'VALIDATION_ERROR', message: `Property "${unknown}" does not exist`, context: { ids: [input.id] } });
        else if (!record) errors.push({ status: 'error', category: 'OBJECT_NOT_FOUND', message: `Object ${input.id} not found`, context: { ids: [input.id] } });
        else results.push(this.#upsertRecord(req.params.type, input).record);
      }
      batch(res, results, errors);
    });

    app.post('/crm/v3/objects/:type/search', (req, res) => {
      const { filterGroups = [], properties, limit = 10, after } = req.body as {
        filterGroups?: Array<{ filters: Array<{ propertyName: string; operator: string; value?: string; values?: string[] }> }>;
        properties?: string[];
        limit?: number;
        after?: string;
      };
      const chars = (req as Request & { bodyChars?: number }).bodyChars ?? 0;
      if (chars > SEARCH_BODY_MAX_CHARS) {
        return error(res, 400, 'VALIDATION_ERROR', `The request body of ${chars} characters exceeds the maximum of ${SEARCH_BODY_MAX_CHARS} characters for a search query.`);
      }
      if (limit > 200) return error(res, 400, 'VALIDATION_ERROR', 'limit must be at most 200');
      if (filterGroups.length > 5 || filterGroups.some((g) => g.filters.some((f) => (f.values?.length ?? 0) > 100))) {
        return error(res, 400, 'VALIDATION_ERROR', 'at most 5 filter groups and 100 values per filter');
      }
      const matches = (record: CrmRecord, f: { propertyName: string; operator: string; value?: string; values?: string[] }) => {
        const value = this.#property(record, f.propertyName);
        if (f.operator === 'EQ') return value === f.value;
        if (f.operator === 'IN') return value !== null && (f.values ?? []).includes(value);
        if (f.operator === 'HAS_PROPERTY') return value !== null;
        return false;
      };
      const all = this.#records(req.params.type)
        .map((r) => this.#indexed(req.params.type, r))
        .filter((r): r is CrmRecord => r !== undefined)
        .filter((r) => filterGroups.length === 0 || filterGroups.some((g) => g.filters.every((f) => matches(r, f))));
      const start = Number(after ?? 0);
      const page = all.slice(start, start + limit);
      res.json({
        total: all.length,
        results: page.map((r) => this.#view(r, properties)),
        ...(start + limit < all.length ? { paging: { next: { after: String(start + limit) } } } : {}),
      });
    });

    // Files: upload (multipart) and search by name.
    // https://developers.hubspot.com/docs/guides/api/library/files
    // Upload options may ask for duplicate detection: duplicateValidationStrategy RETURN_EXISTING
    // ("if a duplicate file is found, do not upload a new file and return the found duplicate")
    // within duplicateValidationScope EXACT_FOLDER or ENTIRE_PORTAL
    // (https://developers.hubspot.com/docs/api/files/files). HubSpot does not say how it compares
    // files; the sandbox takes the same name (ours are named by content hash) as a duplicate.
    app.post('/files/v3/files', express.raw({ type: 'multipart/form-data', limit: '50mb' }), async (req, res) => {
      const raw = Buffer.isBuffer(req.body) ? req.body.toString('latin1') : '';
      const fileName = /name="fileName"\r\n\r\n([^\r]*)/.exec(raw)?.[1] ?? /filename="([^"]+)"/.exec(raw)?.[1];
      if (!fileName) return error(res, 400, 'VALIDATION_ERROR', 'a file and fileName are required');
      const folderPath = /name="folderPath"\r\n\r\n([^\r]*)/.exec(raw)?.[1] ?? '/';
      const options = (() => {
        try {
          return JSON.parse(/name="options"\r\n\r\n([^\r]*)/.exec(raw)?.[1] ?? '{}') as { duplicateValidationStrategy?: string; duplicateValidationScope?: string };
        } catch {
          return {};
        }
      })();
      const dot = fileName.lastIndexOf('.');
      const file = { id: String(this.#nextId++), name: dot > 0 ? fileName.slice(0, dot) : fileName, extension: dot > 0 ? fileName.slice(dot + 1) : '', folderPath, size: raw.length };
      const now = new Date().toISOString();
      if (options.duplicateValidationStrategy === 'RETURN_EXISTING') {
        const scope = options.duplicateValidationScope ?? 'ENTIRE_PORTAL';
        const duplicate = this.state.files.find((f) => f.name === file.name && f.extension === file.extension && (scope === 'ENTIRE_PORTAL' || f.folderPath === folderPath));
        if (duplicate) return void res.status(200).json({ ...duplicate, access: 'PRIVATE', createdAt: now, updatedAt: now, archived: false });
      }
      this.state.files.push(file);
      const bytes = await multipartFileBytes(req.body, req.get('content-type'));
      if (bytes) this.#fileBytes.set(file.id, bytes);
      res.status(201).json({ ...file, access: 'PRIVATE', createdAt: now, updatedAt: now, archived: false });
    });
    /**
     * A private file's short-lived URL (expirationSeconds, one hour by default):
     * https://developers.hubspot.com/docs/api-reference/files-files-v3/files/get-files-v3-files-fileId-signed-url
     * The URL carries its own access; no token is needed to fetch it.
     */
    app.get('/files/v3/files/:fileId/signed-url', (req, res) => {
      const file = this.state.files.find((f) => f.id === req.params.fileId);
      if (!file) return error(res, 404, 'OBJECT_NOT_FOUND', `no file ${req.params.fileId}`);
      const seconds = Number(req.query['expirationSeconds'] ?? 3600);
      const token = randomUUID();
      const expiresAt = Date.now() + seconds * 1000;
      this.#signedUrls.set(token, { fileId: file.id, expiresAt });
      res.json({ url: `${req.protocol}://${req.get('host')}/_sandbox/signed-files/${token}/${encodeURIComponent(`${file.name}.${file.extension}`)}`, name: file.name, extension: file.extension, size: file.size, type: 'OTHER', expiresAt: new Date(expiresAt).toISOString() });
    });
    app.get('/files/v3/files/search', (req, res) => {
      const name = typeof req.query['name'] === 'string' ? req.query['name'] : undefined;
      const now = new Date().toISOString();
      res.json({ results: this.state.files.filter((f) => name === undefined || f.name === name).map((f) => ({ ...f, access: 'PRIVATE', createdAt: now, updatedAt: now, archived: false })) });
    });

    // The signed URL itself (HubSpot's file CDN): no token, only the URL's own, until it expires.
    app.get('/_sandbox/signed-files/:token/:name', (req, res) => {
      const signed = this.#signedUrls.get(req.params.token);
      const bytes = signed && signed.expiresAt > Date.now() ? this.#fileBytes.get(signed.fileId) : undefined;
      if (!signed || !bytes) return void res.status(403).send('AccessDenied: Request has expired');
      this.state.signedDownloads.push(signed.fileId);
      res.type('application/octet-stream').send(bytes);
    });

    app.post('/crm/v4/associations/:from/:to/batch/associate/default', (req, res) => {
      const { inputs } = req.body as { inputs: Array<{ from: { id: string }; to: { id: string } }> };
      if (tooMany(res, inputs)) return;
      for (const input of inputs) {
        const exists = this.state.associations.some((a) => a.from === req.params.from && a.fromId === input.from.id && a.to === req.params.to && a.toId === input.to.id);
        if (!exists) this.state.associations.push({ from: req.params.from, fromId: input.from.id, to: req.params.to, toId: input.to.id });
      }
      batch(res, inputs.map((i) => ({ from: { id: i.from.id }, to: { id: i.to.id }, associationSpec: { associationCategory: 'HUBSPOT_DEFINED', associationTypeId: 81 } })), []);
    });

    app.use((req, res) => error(res, 404, 'OBJECT_NOT_FOUND', `sandbox: no route for ${req.method} ${req.path}`));
    return app;
  }
}
