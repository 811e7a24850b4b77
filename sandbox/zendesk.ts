// A local stand-in for the parts of the Zendesk Support API the connector uses, in Zendesk's
// shapes: end users (show_many, search, bulk jobs), tickets with Idempotency-Key, comments,
// uploads and attachment downloads, webhooks with signing secrets and triggers, and signed
// webhook calls when a sandbox agent replies. It enforces the account's per-minute limit, the
// Update Ticket limit and the per-ticket update limit with real 429s and Retry-After. State is
// at GET /_sandbox/state; faults are injected with POST /_sandbox/faults.
//
// It behaves as Zendesk documents, not as our connector would like: comment bodies come back
// processed (whitespace collapsed, HTML stripped, placeholders rendered), bulk jobs run in the
// background (queued, working, completed) and report results by position without external_id,
// Idempotency-Keys are forgotten after 2 hours (the sandbox clock can be moved by tests), new
// users reach the search index after a delay, and any write can lose its answer after the work
// is done (`loseAnswers`, or the random `reset-after` faults of `chaos`).
import { createHash, createHmac, randomBytes } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { Chaos, landLater } from './chaos.js';
import { LoopbackServer } from './loopback.js';

export interface ZendeskSandboxOptions {
  /** The account's requests per minute (Team 200, Growth/Professional 400, Enterprise 700, Enterprise Plus 2,500). */
  readonly requestsPerMinute?: number;
  /** Update Ticket requests per minute for the account. */
  readonly ticketUpdatesPerMinute?: number;
  /** Updates per ticket per 10 minutes. */
  readonly updatesPerTicket?: number;
  readonly email?: string;
  readonly apiToken?: string;
  /** The integration agent's role: admin may manage webhooks and triggers. */
  readonly role?: 'admin' | 'agent';
  /**
   * How long a new user stays out of search results. Zendesk: "It can take up to a few minutes
   * for new tickets, users, and other resources to be indexed for search."
   * https://developer.zendesk.com/api-reference/ticketing/ticket-management/search/
   */
  readonly searchIndexDelayMs?: number;
  /** How long a bulk job stays `queued`, then `working`, before it is done (real time). */
  readonly jobQueuedMs?: number;
  readonly jobWorkingMs?: number;
}

interface SandboxUser {
  id: number;
  name: string;
  phone: string | null;
  external_id: string | null;
  notes?: string | null;
  /** Values of the account's user fields (keys of fields that do not exist are dropped, as Zendesk does). */
  user_fields?: Record<string, unknown>;
  /** The user's tags (set, added and removed through /users/{id}/tags). */
  tags?: string[];
  role: string;
  created_at: string;
}

interface SandboxComment {
  id: number;
  author_id: number;
  public: boolean;
  body: string;
  plain_body: string;
  html_body: string;
  created_at: string;
  via: { channel: string };
  attachments: Array<{ id: number; file_name: string; content_url: string; content_type: string; size: number }>;
}

interface SandboxTicket {
  id: number;
  subject: string;
  status: string;
  requester_id: number;
  external_id: string | null;
  tags: string[];
  brand_id: number | null;
  group_id: number | null;
  custom_fields: Array<{ id: number; value: unknown }>;
  via_followup_source_id: number | null;
  created_at: string;
  updated_at: string;
  /** Set on imported tickets (the Ticket Import API takes it); null otherwise. */
  solved_at?: string | null;
  comments: SandboxComment[];
}

export interface ZendeskSandboxState {
  requests: number;
  rateLimited: number;
  /** 429s by the limit that gave them: account, ticket-update, per-ticket. */
  rateLimitedBy: Record<string, number>;
  users: SandboxUser[];
  tickets: SandboxTicket[];
  webhooks: Array<{ id: string; name: string; endpoint: string; secret: string }>;
  triggers: Array<{ id: number; title: string; conditions: unknown; actions: Array<{ field: string; value: unknown }> }>;
  /** Idempotency-Key hits: a repeated creation answered with the first ticket. */
  idempotentReplays: number;
  /** Webhook calls made to the service and the status each got. */
  webhookCalls: Array<{ ticketId: number; status: number }>;
  /** Custom user fields (`POST /user_fields`). */
  userFields: Array<{ id: number; key: string; type: string; title: string }>;
  /** Update User calls carried out (PUT /users/{id}). */
  userUpdates: number;
  /** Tickets created through the Ticket Import API (`POST /imports/tickets`), which runs no triggers. */
  imports: number;
}

/** The integration's own agent and the sandbox agent who answers customers. */
const INTEGRATION_USER_ID = 1;
export const SANDBOX_AGENT_ID = 900;
const IDEMPOTENCY_TTL_MS = 2 * 3_600_000;

function zendeskError(res: Response, status: number, error: string, description?: string, details?: unknown): void {
  res.status(status).json(description === undefined ? { error: { title: error, message: error } } : { error, description, ...(details ? { details } : {}) });
}

/** A bulk job: it waits in the queue, runs, and only then has its work done and its results. */
interface SandboxJob {
  readonly id: string;
  readonly total: number;
  readonly queuedAt: number;
  status: 'queued' | 'working' | 'completed';
  readonly work: () => unknown[];
  results: unknown[];
}

/**
 * What Zendesk keeps of a comment's `body`: HTML tags stripped, placeholders rendered (unknown
 * ones become empty), runs of spaces collapsed and runs of line breaks made one.
 * https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_comments/#bodies
 */
export function processedCommentBody(body: string, placeholders: Readonly<Record<string, string>>): string {
  return body
    .replace(/<[^>]*>/g, '')
    .replace(/\{\{\s*([\w.]+)\s*\}\}/g, (_match, name: string) => placeholders[name] ?? '')
    .replace(/[ \t\u00a0]+/g, ' ')
    .replace(/ ?\n[\s]*/g, '\n')
    .trim();
}

function samePhone(a: string | null, b: string): boolean {
  if (!a) return false;
  const parsed = parsePhoneNumberFromString(a.startsWith('+') ? a : `+${a}`);
  return (parsed?.number ?? a) === b;
}

/** What Zendesk signs a webhook call with: base64(HMAC-SHA256(signing secret, timestamp + body)) (https://developer.zendesk.com/documentation/webhooks/verifying/). */
export function zendeskWebhookSignature(secret: string, timestamp: string, body: string): string {
  return createHmac('sha256', secret).update(timestamp + body).digest('base64');
}

export class ZendeskSandbox {
  readonly state: ZendeskSandboxState = { requests: 0, rateLimited: 0, rateLimitedBy: {}, users: [], tickets: [], webhooks: [], triggers: [], idempotentReplays: 0, webhookCalls: [], userFields: [], userUpdates: 0, imports: 0 };
  readonly #options: Required<ZendeskSandboxOptions>;
  /** Random faults on API requests (off until set). */
  readonly chaos = new Chaos();
  readonly #server = new LoopbackServer();
  readonly #account: number[] = [];
  readonly #ticketUpdates: number[] = [];
  readonly #perTicket = new Map<number, number[]>();
  /** Update User calls per user in the last minute. */
  readonly #perUser = new Map<number, number[]>();
  readonly #idempotency = new Map<string, { hash: string; at: number; status: number; body: unknown }>();
  /** Bulk jobs in the order they were queued: Zendesk runs an account's jobs one after another. */
  readonly #jobs: SandboxJob[] = [];
  readonly #uploads = new Map<string, { data: Buffer; name: string; type: string }>();
  #faults: Array<{ status: number; count: number; path?: string }> = [];
  #lostAnswers: Array<{ count: number; path?: string; method?: string }> = [];
  /** Requests to carry out late, by method and path prefix (see landLate). */
  readonly #lateLandings: Array<{ method: string; path: string; lateMs: number; count: number }> = [];
  /** Added to the wall clock: tests move time forward past the idempotency window. */
  #clockOffsetMs = 0;
  #nextId = 10_000;
  #baseUrl = '';

  constructor(options: ZendeskSandboxOptions = {}) {
    this.#options = {
      requestsPerMinute: options.requestsPerMinute ?? 700,
      ticketUpdatesPerMinute: options.ticketUpdatesPerMinute ?? 100,
      updatesPerTicket: options.updatesPerTicket ?? 30,
      email: options.email ?? 'integration@sandbox.zendesk.test',
      apiToken: options.apiToken ?? 'zd-sandbox-token',
      role: options.role ?? 'admin',
      searchIndexDelayMs: options.searchIndexDelayMs ?? 1_500,
      jobQueuedMs: options.jobQueuedMs ?? 150,
      jobWorkingMs: options.jobWorkingMs ?? 300,
    };
  }

  /** The sandbox's clock (idempotency window, search index): the wall clock plus `advanceClock`. */
  now(): number {
    return Date.now() + this.#clockOffsetMs;
  }

  /** Moves the sandbox clock forward, e.g. past the 2 hours Zendesk keeps an Idempotency-Key. */
  advanceClock(ms: number): void {
    this.#clockOffsetMs += ms;
  }

  /**
   * The next `count` write requests (optionally only to paths containing `path`, with `method`)
   * are carried out, then their connection is reset instead of answering: the lost answer.
   */
  loseAnswers(count = 1, path?: string, method?: string): void {
    this.#lostAnswers.push({ count, ...(path ? { path } : {}), ...(method ? { method } : {}) });
  }

  /**
   * The next `count` requests `METHOD /path…` (a path prefix under /api/v2, without `.json`) lose
   * their connection at once and are carried out `lateMs` later. Zendesk runs a ticket's creation
   * or update through every trigger and saves it before it knows its answer ("Creating tickets
   * takes a long time because the system has to run each ticket through all your triggers and
   * save data to a database before it knows what the full response looks like",
   * https://developer.zendesk.com/documentation/ticketing/managing-tickets/improving-performance-by-creating-tickets-asynchronously/),
   * and documents no point after which it stops working on a request its caller gave up on.
   */
  landLate(request: string, lateMs: number, count = 1): void {
    const [method = '', path = ''] = request.split(' ');
    this.#lateLandings.push({ method, path, lateMs, count });
  }

  get credentials(): { email: string; apiToken: string } {
    return { email: this.#options.email, apiToken: this.#options.apiToken };
  }

  async start(port = 0): Promise<string> {
    this.#baseUrl = await this.#server.start(this.#app(), port);
    return this.#baseUrl;
  }

  stop(): Promise<void> {
    return this.#server.stop();
  }

  /** Answers the next `count` API requests (optionally only to paths containing `path`) with `status`. */
  injectFault(status: number, count = 1, path?: string): void {
    this.#faults.push({ status, count, ...(path ? { path } : {}) });
  }

  setStatus(ticketId: number, status: 'open' | 'pending' | 'solved' | 'closed'): void {
    const ticket = this.state.tickets.find((t) => t.id === ticketId);
    if (ticket) ticket.status = status;
  }

  /**
   * A sandbox agent answers publicly (with optional files), and every matching trigger calls its
   * webhook as Zendesk does: the trigger's JSON body with placeholders filled, signed with the
   * webhook's secret over timestamp + body. Returns the HTTP statuses the service answered.
   */
  async agentReply(ticketId: number, text: string, files: Array<{ name: string; type: string; data: Buffer }> = []): Promise<number[]> {
    const ticket = this.state.tickets.find((t) => t.id === ticketId);
    if (!ticket) throw new Error(`no ticket ${ticketId}`);
    const attachments = files.map((f) => this.#attachment(this.#upload(f.data, f.name, f.type)));
    ticket.comments.push(this.#comment(SANDBOX_AGENT_ID, true, text, 'web', attachments));
    ticket.status = 'open';
    ticket.updated_at = new Date().toISOString();
    const statuses: number[] = [];
    for (const trigger of this.state.triggers) {
      const tagged = JSON.stringify(trigger.conditions).includes('whatsapp') ? ticket.tags.includes('whatsapp') : true;
      const action = trigger.actions.find((a) => a.field === 'notification_webhook');
      const webhook = action && this.state.webhooks.find((w) => w.id === (action.value as string[])[0]);
      if (!tagged || !action || !webhook) continue;
      const body = String((action.value as string[])[1]).replaceAll('{{ticket.id}}', String(ticket.id)).replaceAll('{{ticket.external_id}}', ticket.external_id ?? '');
      const timestamp = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      const signature = zendeskWebhookSignature(webhook.secret, timestamp, body);
      const response = await fetch(webhook.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-zendesk-webhook-signature': signature, 'x-zendesk-webhook-signature-timestamp': timestamp, 'x-zendesk-webhook-id': webhook.id },
        body,
      }).catch(() => undefined);
      const status = response?.status ?? 0;
      this.state.webhookCalls.push({ ticketId: ticket.id, status });
      statuses.push(status);
    }
    return statuses;
  }

  /**
   * A trigger's "Notify by > Active webhook" action firing for `ticketId`, as Zendesk sends it: the
   * JSON body with its placeholders filled from the ticket and its requester, POSTed with the
   * `x-zendesk-webhook-*` headers (one invocation id, kept by retries) and, per the webhook's
   * authentication, the signature (base64 HMAC-SHA256 of timestamp + body, keyed by the signing
   * secret) or `Authorization: Bearer <token>`. `attempts` sends the same invocation again (a retry).
   * https://developer.zendesk.com/documentation/webhooks/anatomy-of-a-webhook-request/
   * https://developer.zendesk.com/documentation/webhooks/verifying/
   * https://developer.zendesk.com/documentation/webhooks/webhook-security-and-authentication
   */
  async fireTriggerWebhook(
    ticketId: number,
    endpoint: string,
    bodyTemplate: string,
    auth: { readonly signingSecret: string; readonly timestamp?: string } | { readonly bearerToken: string },
    options: { readonly invocationId?: string; readonly attempts?: number } = {},
  ): Promise<Array<{ status: number; body: Record<string, unknown> }>> {
    const ticket = this.state.tickets.find((t) => t.id === ticketId);
    if (!ticket) throw new Error(`no ticket ${ticketId}`);
    const requester = this.state.users.find((u) => u.id === ticket.requester_id);
    const placeholders: Record<string, string> = {
      'ticket.id': String(ticket.id),
      'ticket.external_id': ticket.external_id ?? '',
      'ticket.status': ticket.status,
      'ticket.requester.id': String(ticket.requester_id),
      'ticket.requester.name': requester?.name ?? '',
      'ticket.requester.first_name': (requester?.name ?? '').split(' ')[0] ?? '',
      'ticket.requester.phone': requester?.phone ?? '',
    };
    // Placeholders are filled as text; inside a JSON string a quote in a name would break it, so escape as JSON does.
    const body = bodyTemplate.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (_m, name: string) => JSON.stringify(placeholders[name] ?? '').slice(1, -1));
    const invocationId = options.invocationId ?? String(this.#nextId++);
    const answers: Array<{ status: number; body: Record<string, unknown> }> = [];
    for (let attempt = 0; attempt < (options.attempts ?? 1); attempt++) {
      const timestamp = 'signingSecret' in auth ? (auth.timestamp ?? new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')) : new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      const headers: Record<string, string> = { 'content-type': 'application/json', 'x-zendesk-account-id': '123456', 'x-zendesk-webhook-id': '01HRECIPEWEBHOOK00000000000', 'x-zendesk-webhook-invocation-id': invocationId };
      if ('signingSecret' in auth) {
        headers['x-zendesk-webhook-signature'] = zendeskWebhookSignature(auth.signingSecret, timestamp, body);
        headers['x-zendesk-webhook-signature-timestamp'] = timestamp;
      } else headers['authorization'] = `Bearer ${auth.bearerToken}`;
      const response = await fetch(endpoint, { method: 'POST', headers, body });
      answers.push({ status: response.status, body: (await response.json().catch(() => ({}))) as Record<string, unknown> });
      this.state.webhookCalls.push({ ticketId, status: response.status });
    }
    return answers;
  }

  #comment(authorId: number, isPublic: boolean, body: string, channel: string, attachments: SandboxComment['attachments'] = []): SandboxComment {
    return { id: this.#nextId++, author_id: authorId, public: isPublic, body, plain_body: body, html_body: `<div class="zd-comment"><p>${body.replace(/\n/g, '<br>')}</p></div>`, created_at: new Date().toISOString(), via: { channel }, attachments };
  }

  /** A comment written through the API, kept the way Zendesk keeps it. */
  #apiComment(ticket: SandboxTicket, input: { body?: unknown; html_body?: unknown; public?: boolean; author_id?: number }, attachments: SandboxComment['attachments']): SandboxComment {
    const requester = this.state.users.find((u) => u.id === ticket.requester_id);
    const placeholders = {
      'ticket.id': String(ticket.id),
      'ticket.external_id': ticket.external_id ?? '',
      'ticket.requester.name': requester?.name ?? '',
      'ticket.title': ticket.subject,
      'current_user.name': 'wa-crm-sync',
    };
    const raw = String(input.body ?? input.html_body ?? '');
    return this.#comment(input.author_id ?? INTEGRATION_USER_ID, input.public ?? true, processedCommentBody(raw, placeholders), 'api', attachments);
  }

  #upload(data: Buffer, name: string, type: string): string {
    const token = randomBytes(12).toString('hex');
    this.#uploads.set(token, { data, name, type });
    return token;
  }

  #attachment(token: string): SandboxComment['attachments'][number] {
    const upload = this.#uploads.get(token)!;
    return { id: this.#nextId++, file_name: upload.name, content_url: `${this.#baseUrl}/attachments/token/${token}/?name=${encodeURIComponent(upload.name)}`, content_type: upload.type, size: upload.data.length };
  }

  #limited(window: number[], limit: number, intervalMs: number, now: number): number | undefined {
    while (window.length > 0 && window[0]! <= now - intervalMs) window.shift();
    if (window.length >= limit) return Math.max(1, Math.ceil((window[0]! + intervalMs - now) / 1000));
    window.push(now);
    return undefined;
  }

  #rateLimited(res: Response, by: string, retryAfter: number): void {
    this.state.rateLimited++;
    this.state.rateLimitedBy[by] = (this.state.rateLimitedBy[by] ?? 0) + 1;
    res.set('retry-after', String(retryAfter)).status(429).json({ error: 'TooManyRequests', description: `You have exceeded a rate limit (${by})` });
  }

  /** Authentication, injected faults and the account's per-minute limit, for every API request. */
  #gate = (req: Request, res: Response, next: NextFunction): void => {
    this.state.requests++;
    const basic = `Basic ${Buffer.from(`${this.#options.email}/token:${this.#options.apiToken}`).toString('base64')}`;
    if (req.get('authorization') !== basic) return zendeskError(res, 401, "Couldn't authenticate you");
    const fault = this.#faults.find((f) => f.count > 0 && (!f.path || req.path.includes(f.path)));
    if (fault) {
      fault.count--;
      if (fault.status === 0) {
        req.socket.destroy();
        return;
      }
      return zendeskError(res, fault.status, fault.status >= 500 ? 'InternalError' : 'Error', 'injected fault');
    }
    const wait = this.#limited(this.#account, this.#options.requestsPerMinute, 60_000, Date.now());
    if (wait !== undefined) return this.#rateLimited(res, 'account', wait);
    this.#advanceJobs();
    const lost = req.method !== 'GET' ? this.#lostAnswers.find((l) => l.count > 0 && (!l.path || req.path.includes(l.path)) && (!l.method || l.method === req.method)) : undefined;
    if (lost) {
      lost.count--;
      // The handler does its work; its answer never leaves.
      res.end = (() => {
        req.socket.destroy();
        return res;
      }) as unknown as Response['end'];
    }
    res.set('x-rate-limit', String(this.#options.requestsPerMinute)).set('x-rate-limit-remaining', String(this.#options.requestsPerMinute - this.#account.length));
    next();
  };

  #ticketUpdateAllowed(res: Response, ticketId: number): boolean {
    const now = Date.now();
    const account = this.#limited(this.#ticketUpdates, this.#options.ticketUpdatesPerMinute, 60_000, now);
    if (account !== undefined) {
      this.#rateLimited(res, 'ticket-update', account);
      return false;
    }
    const window = this.#perTicket.get(ticketId) ?? [];
    this.#perTicket.set(ticketId, window);
    const perTicket = this.#limited(window, this.#options.updatesPerTicket, 600_000, now);
    if (perTicket !== undefined) {
      this.#rateLimited(res, 'per-ticket', perTicket);
      return false;
    }
    return true;
  }

  /** Only the keys of user fields that exist are kept. */
  #knownUserFields(input: Record<string, unknown> | undefined): Record<string, unknown> {
    return Object.fromEntries(Object.entries(input ?? {}).filter(([key]) => this.state.userFields.some((f) => f.key === key)));
  }

  #findUsers(predicate: (u: SandboxUser) => boolean): SandboxUser[] {
    return this.state.users.filter(predicate);
  }

  /** The fields a create and an import take from the request as they are. */
  #ticketFieldsOf(body: Record<string, any>): Pick<SandboxTicket, 'subject' | 'requester_id' | 'external_id' | 'tags' | 'brand_id' | 'group_id' | 'custom_fields'> {
    return {
      subject: String(body['subject'] ?? ''),
      requester_id: Number(body['requester_id']),
      external_id: body['external_id'] ?? null,
      tags: body['tags'] ?? [],
      brand_id: body['brand_id'] ?? null,
      group_id: body['group_id'] ?? null,
      custom_fields: body['custom_fields'] ?? [],
    };
  }

  #createTicket(body: Record<string, any>): SandboxTicket {
    const now = new Date().toISOString();
    const comment = body['comment'] ?? {};
    const ticket: SandboxTicket = {
      id: this.#nextId++,
      ...this.#ticketFieldsOf(body),
      status: 'new',
      via_followup_source_id: body['via_followup_source_id'] ?? null,
      created_at: now,
      updated_at: now,
      comments: [],
    };
    ticket.comments.push(this.#apiComment(ticket, comment, (comment.uploads ?? []).map((t: string) => this.#attachment(t))));
    this.state.tickets.push(ticket);
    return ticket;
  }

  /**
   * Queues a bulk job: its work is done when it runs, not when it is asked for, and its answer is
   * only a job status to poll (queued, working, completed).
   * https://developer.zendesk.com/api-reference/ticketing/ticket-management/job_statuses/
   */
  #job(total: number, work: () => unknown[]): { job_status: Record<string, unknown> } {
    const job: SandboxJob = { id: randomBytes(8).toString('hex'), total, queuedAt: Date.now(), status: 'queued', work, results: [] };
    this.#jobs.push(job);
    return { job_status: this.#jobStatus(job) };
  }

  #jobStatus(job: SandboxJob): Record<string, unknown> {
    const done = job.status === 'completed';
    return {
      id: job.id,
      url: `${this.#baseUrl}/api/v2/job_statuses/${job.id}.json`,
      status: job.status,
      total: job.total,
      progress: done ? job.total : 0,
      message: done ? `Completed at ${new Date().toISOString()}` : null,
      results: done ? job.results : null,
    };
  }

  /** Runs queued jobs in order, each once its time has come and every earlier one is done. */
  #advanceJobs(): void {
    const now = Date.now();
    for (const job of this.#jobs) {
      if (job.status === 'completed') continue;
      if (now - job.queuedAt < this.#options.jobQueuedMs) return;
      job.status = 'working';
      if (now - job.queuedAt < this.#options.jobQueuedMs + this.#options.jobWorkingMs) return;
      job.results = job.work();
      job.status = 'completed';
    }
  }

  #app(): express.Express {
    const app = express();
    app.use(express.json({ limit: '10mb' }));
    app.get('/_sandbox/state', (_req, res) => void res.json(this.state));
    app.post('/_sandbox/faults', (req, res) => {
      const { status, count, path } = req.body as { status: number; count?: number; path?: string };
      this.injectFault(status, count ?? 1, path);
      res.json({ ok: true });
    });

    app.get('/attachments/token/:token/', (req, res) => {
      const upload = this.#uploads.get(req.params.token);
      if (!upload) return zendeskError(res, 404, 'RecordNotFound');
      res.type(upload.type).send(upload.data);
    });

    const api = express.Router();
    api.use(this.#gate);
    // node-zendesk adds .json to most paths; Zendesk accepts both.
    api.use((req, _res, next) => {
      req.url = req.url.replace(/\.json(?=$|\?)/, '');
      next();
    });
    // Upload bodies are read before any fault: a request carried out late has lost its socket by then.
    api.use('/uploads', express.raw({ type: () => true, limit: '60mb' }));
    // A request's Idempotency-Key is looked up when it arrives (see POST /tickets).
    api.use((_req, res, next) => {
      res.locals['arrivedAt'] = this.now();
      next();
    });
    api.use(this.chaos.middleware((res) => zendeskError(res, 503, 'ServiceUnavailable', 'Zendesk is temporarily unavailable')));
    api.use((req, res, next) => {
      const late = this.#lateLandings.find((l) => l.count > 0 && l.method === req.method && req.path.startsWith(l.path));
      if (!late) return next();
      late.count--;
      landLater(req, res, next, late.lateMs);
    });
    const route = (path: string) => path;

    api.get(route('/users/me'), (_req, res) => void res.json({ user: { id: INTEGRATION_USER_ID, name: 'wa-crm-sync', email: this.#options.email, role: this.#options.role } }));

    // https://developer.zendesk.com/api-reference/ticketing/users/users/#show-many-users (by ids or external_ids)
    api.get(route('/users/show_many'), (req, res) => {
      const byId = String(req.query['ids'] ?? '').split(',').filter(Boolean).map(Number);
      const ids = String(req.query['external_ids'] ?? '').split(',').filter(Boolean);
      if (ids.length > 100 || byId.length > 100) return zendeskError(res, 400, 'InvalidValue', 'at most 100 ids or external_ids');
      res.json({ users: this.#findUsers((u) => byId.includes(u.id) || (u.external_id !== null && ids.includes(u.external_id))) });
    });

    // https://developer.zendesk.com/api-reference/ticketing/users/user_fields/
    api.get(route('/user_fields'), (_req, res) => void res.json({ user_fields: this.state.userFields, next_page: null, count: this.state.userFields.length }));
    api.post(route('/user_fields'), (req, res) => {
      const input = (req.body as { user_field?: { key?: string; type?: string; title?: string } }).user_field ?? {};
      if (!input.key || !/^[a-z0-9_]+$/.test(input.key) || !input.title) return zendeskError(res, 422, 'RecordInvalid', 'key and title are required; key is lower-case letters, digits and underscores');
      if (this.state.userFields.some((f) => f.key === input.key)) return zendeskError(res, 422, 'RecordInvalid', `Key ${input.key} has already been taken`);
      const field = { id: this.#nextId++, key: input.key, type: input.type ?? 'text', title: input.title };
      this.state.userFields.push(field);
      res.status(201).json({ user_field: field });
    });

    // User tags: add (PUT) and remove (DELETE) leave the other tags alone; both answer the tags held.
    // https://developer.zendesk.com/api-reference/ticketing/ticket-management/tags/#add-tags
    // https://developer.zendesk.com/api-reference/ticketing/ticket-management/tags/#remove-tags
    const userTags = (req: Request, res: Response, change: (user: SandboxUser, tags: string[]) => void) => {
      const user = this.state.users.find((u) => u.id === Number(req.params['id']));
      if (!user) return zendeskError(res, 404, 'RecordNotFound', 'Not found');
      const tags = (req.body as { tags?: unknown }).tags;
      if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string' && /^[^\s,]+$/.test(t))) return zendeskError(res, 400, 'InvalidValue', 'tags must be a list of words without spaces or commas');
      change(user, tags.map((t: string) => t.toLowerCase()));
      res.json({ tags: user.tags ?? [] });
    };
    api.get(route('/users/:id/tags'), (req, res) => {
      const user = this.state.users.find((u) => u.id === Number(req.params['id']));
      if (!user) return zendeskError(res, 404, 'RecordNotFound', 'Not found');
      res.json({ tags: user.tags ?? [] });
    });
    api.put(route('/users/:id/tags'), (req, res) => userTags(req, res, (user, tags) => void (user.tags = [...new Set([...(user.tags ?? []), ...tags])])));
    api.delete(route('/users/:id/tags'), (req, res) => userTags(req, res, (user, tags) => void (user.tags = (user.tags ?? []).filter((t) => !tags.includes(t)))));

    api.get(route('/users/search'), (req, res) => {
      const query = String(req.query['query'] ?? '');
      const phone = /phone:(\+?\d+)/.exec(query)?.[1];
      const external = req.query['external_id'];
      // Search reads an index that new users reach only after a while.
      const indexed = (u: SandboxUser) => this.now() - Date.parse(u.created_at) >= this.#options.searchIndexDelayMs;
      const users = (phone ? this.#findUsers((u) => samePhone(u.phone, phone.startsWith('+') ? phone : `+${phone}`)) : external ? this.#findUsers((u) => u.external_id === external) : []).filter(indexed);
      res.json({ users, count: users.length, next_page: null });
    });

    api.post(route('/users/create_or_update_many'), (req, res) => {
      const users = (req.body as { users?: Array<Partial<SandboxUser>> }).users ?? [];
      if (users.length > 100) return zendeskError(res, 400, 'InvalidValue', 'at most 100 users per job');
      // Results come in request order as { id, action, status, success }, with no external_id:
      // https://developer.zendesk.com/api-reference/ticketing/ticket-management/job_statuses/#results
      // https://support.zendesk.com/hc/en-us/community/posts/4408861015066 (order confirmed by Zendesk)
      const work = () =>
        users.map((input) => {
          let user = input.external_id ? this.state.users.find((u) => u.external_id === input.external_id) : undefined;
          if (user) {
            Object.assign(user, { name: input.name ?? user.name, phone: input.phone ?? user.phone, notes: input.notes ?? user.notes, user_fields: { ...user.user_fields, ...this.#knownUserFields(input.user_fields) } });
            return { id: user.id, action: 'update', status: 'Updated', success: true };
          }
          user = {
            id: this.#nextId++,
            name: input.name ?? 'Unknown',
            phone: input.phone ?? null,
            external_id: input.external_id ?? null,
            notes: input.notes ?? null,
            user_fields: this.#knownUserFields(input.user_fields),
            role: input.role ?? 'end-user',
            created_at: new Date(this.now()).toISOString(),
          };
          this.state.users.push(user);
          return { id: user.id, action: 'create', status: 'Created', success: true };
        });
      res.json(this.#job(users.length, work));
    });

    api.put(route('/users/update_many'), (req, res) => {
      const users = (req.body as { users?: Array<Partial<SandboxUser> & { id: number }> }).users ?? [];
      const work = () =>
        users.map((input) => {
          const user = this.state.users.find((u) => u.id === input.id);
          if (!user) return { id: input.id, action: 'update', error: 'UserNotFound', details: `no user ${input.id}`, status: 'Failed', success: false };
          const { user_fields: fields, ...rest } = input;
          Object.assign(user, Object.fromEntries(Object.entries(rest).filter(([k]) => k !== 'id')));
          if (fields) user.user_fields = { ...user.user_fields, ...this.#knownUserFields(fields) };
          return { id: user.id, action: 'update', status: 'Updated', success: true };
        });
      res.json(this.#job(users.length, work));
    });

    // Update User changes the fields sent and keeps the rest; user_fields merge key by key, and
    // only fields that exist are kept. At most 5 updates per user per minute ("Update User: 5
    // requests per minute per user"): https://developer.zendesk.com/api-reference/ticketing/users/users/#update-user
    // https://developer.zendesk.com/api-reference/introduction/rate-limits/
    api.put(route('/users/:id'), (req, res) => {
      const user = this.state.users.find((u) => u.id === Number(req.params['id']));
      if (!user) return zendeskError(res, 404, 'RecordNotFound', 'Not found');
      const window = this.#perUser.get(user.id) ?? [];
      this.#perUser.set(user.id, window);
      const wait = this.#limited(window, 5, 60_000, Date.now());
      if (wait !== undefined) return this.#rateLimited(res, 'per-user', wait);
      const input = (req.body as { user?: Partial<SandboxUser> }).user;
      if (!input || typeof input !== 'object') return zendeskError(res, 400, 'InvalidValue', 'the body must be { "user": { ... } }');
      const { user_fields: fields, id: _id, ...rest } = input;
      Object.assign(user, rest);
      if (fields) user.user_fields = { ...user.user_fields, ...this.#knownUserFields(fields) };
      this.state.userUpdates++;
      res.json({ user });
    });

    api.get(route('/job_statuses/:id'), (req, res) => {
      const job = this.#jobs.find((j) => j.id === String(req.params.id));
      if (!job) return zendeskError(res, 404, 'RecordNotFound');
      res.json({ job_status: this.#jobStatus(job) });
    });

    api.post(route('/tickets'), (req, res) => {
      const body = (req.body as { ticket?: Record<string, unknown> }).ticket;
      if (!body?.['comment'] || !body['requester_id']) return zendeskError(res, 422, 'RecordInvalid', 'Record validation errors', { base: [{ description: 'comment and requester are required' }] });
      const key = req.get('idempotency-key');
      const hash = createHash('sha256').update(JSON.stringify(req.body)).digest('hex');
      if (key) {
        // Keys live 2 hours; after that the same key creates again.
        // https://developer.zendesk.com/api-reference/ticketing/introduction/#idempotency
        // Zendesk does not document what a repeat gets while the first request with its key is
        // still being carried out; the sandbox takes the worst reading: the key is looked up when
        // the request arrives, so a key stored after that (by a repeat, while this one was
        // delayed) is not seen, and both create.
        const arrivedAt = Number(res.locals['arrivedAt'] ?? this.now());
        const seen = this.#idempotency.get(key);
        if (seen && seen.at <= arrivedAt && arrivedAt - seen.at < IDEMPOTENCY_TTL_MS) {
          if (seen.hash !== hash) return zendeskError(res, 400, 'IdempotentRequestError', "Request parameters don't match the given idempotency key");
          this.state.idempotentReplays++;
          res.set('x-idempotency-lookup', 'hit').status(seen.status).json(seen.body);
          return;
        }
      }
      const followUp = body['via_followup_source_id'];
      if (followUp !== undefined && this.state.tickets.find((t) => t.id === Number(followUp))?.status !== 'closed') {
        return zendeskError(res, 422, 'RecordInvalid', 'Record validation errors', { via_followup_source_id: [{ description: 'is not a closed ticket' }] });
      }
      const ticket = this.#createTicket(body);
      const answer = { ticket: { ...ticket, comments: undefined } };
      if (key) this.#idempotency.set(key, { hash, at: this.now(), status: 201, body: answer });
      res.set('x-idempotency-lookup', 'miss').status(201).json(answer);
    });

    const adminOnly = (res: Response) => {
      if (this.#options.role === 'admin') return true;
      zendeskError(res, 403, 'Forbidden', 'You do not have access to this page');
      return false;
    };
    // The Ticket Import API: admins only; the ticket and each comment keep the times given
    // (none before 1970, no comment in the future), the status given, and no trigger runs.
    // https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_import/#ticket-import
    api.post(route('/imports/tickets'), (req, res) => {
      if (!adminOnly(res)) return;
      const body = (req.body as { ticket?: Record<string, any> }).ticket;
      const comments = (body?.['comments'] ?? []) as Array<{ body?: string; value?: string; html_body?: string; public?: boolean; author_id?: number; created_at?: string }>;
      if (!body || !body['requester_id'] || comments.length === 0) return zendeskError(res, 422, 'RecordInvalid', 'Record validation errors', { base: [{ description: 'requester and at least one comment are required' }] });
      // https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_comments/ (5,000 comments per ticket)
      if (comments.length > 5000) return zendeskError(res, 422, 'RecordInvalid', 'Record validation errors', { comments: [{ description: 'a ticket can contain up to 5000 comments' }] });
      const stamp = (value: unknown, fallback: string) => {
        const at = typeof value === 'string' ? Date.parse(value) : Number.NaN;
        return Number.isNaN(at) ? fallback : new Date(Math.max(0, at)).toISOString();
      };
      const now = new Date().toISOString();
      if (comments.some((c) => c.created_at !== undefined && Date.parse(c.created_at) > Date.now())) {
        return zendeskError(res, 422, 'RecordInvalid', 'Record validation errors', { comments: [{ description: "a comment's created_at cannot be in the future" }] });
      }
      const ticket: SandboxTicket = {
        id: this.#nextId++,
        ...this.#ticketFieldsOf(body),
        status: String(body['status'] ?? 'new'),
        via_followup_source_id: null,
        created_at: stamp(body['created_at'], now),
        updated_at: stamp(body['updated_at'], now),
        solved_at: body['solved_at'] === undefined ? null : stamp(body['solved_at'], now),
        comments: [],
      };
      for (const input of comments) {
        const comment = this.#apiComment(ticket, { body: input.body ?? input.value, html_body: input.html_body, public: input.public ?? true, author_id: input.author_id ?? INTEGRATION_USER_ID }, []);
        ticket.comments.push({ ...comment, created_at: stamp(input.created_at, now), via: { channel: 'import' } });
      }
      this.state.tickets.push(ticket);
      this.state.imports++;
      res.status(201).json({ ticket: { ...ticket, comments: undefined } });
    });

    api.get(route('/tickets'), (req, res) => {
      const external = req.query['external_id'];
      const tickets = this.state.tickets.filter((t) => external === undefined || t.external_id === external).map((t) => ({ ...t, comments: undefined }));
      res.json({ tickets, meta: { has_more: false }, links: { next: null } });
    });

    api.get(route('/tickets/:id'), (req, res) => {
      const ticket = this.state.tickets.find((t) => t.id === Number(req.params.id));
      if (!ticket) return zendeskError(res, 404, 'RecordNotFound', 'Not found');
      res.json({ ticket: { ...ticket, comments: undefined } });
    });

    api.put(route('/tickets/:id'), (req, res) => {
      const ticket = this.state.tickets.find((t) => t.id === Number(req.params.id));
      if (!ticket) return zendeskError(res, 404, 'RecordNotFound', 'Not found');
      if (!this.#ticketUpdateAllowed(res, ticket.id)) return;
      if (ticket.status === 'closed') return zendeskError(res, 422, 'RecordInvalid', 'Record validation errors', { status: [{ description: 'Status: closed prevents ticket update' }] });
      const update = (req.body as { ticket?: { comment?: { body?: string; public?: boolean; author_id?: number; uploads?: string[] }; status?: string; additional_tags?: string[] } }).ticket ?? {};
      for (const tag of update.additional_tags ?? []) if (!ticket.tags.includes(tag)) ticket.tags.push(tag);
      if (update.comment) {
        const attachments = (update.comment.uploads ?? []).filter((t) => this.#uploads.has(t)).map((t) => this.#attachment(t));
        ticket.comments.push(this.#apiComment(ticket, update.comment, attachments));
      }
      if (update.status) ticket.status = update.status;
      ticket.updated_at = new Date().toISOString();
      res.json({ ticket: { ...ticket, comments: undefined }, audit: { id: this.#nextId++, events: [] } });
    });

    api.get(route('/tickets/:id/comments'), (req, res) => {
      const ticket = this.state.tickets.find((t) => t.id === Number(req.params.id));
      if (!ticket) return zendeskError(res, 404, 'RecordNotFound', 'Not found');
      const comments = req.query['sort_order'] === 'desc' ? [...ticket.comments].reverse() : ticket.comments;
      res.json({ comments: comments.slice(0, 100), meta: { has_more: comments.length > 100 }, links: { next: null } });
    });

    api.post(route('/uploads'), (req, res) => {
      const data = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      if (data.length > 50 * 1024 * 1024) return zendeskError(res, 413, 'FileTooLarge', 'Uploads are limited to 50 MB');
      const name = String(req.query['filename'] ?? 'file');
      // Zendesk takes the file's type from the request's Content-Type ("Content-Type: image/png"):
      // https://developer.zendesk.com/api-reference/ticketing/tickets/ticket-attachments/#upload-files
      const token = this.#upload(data, name, req.get('content-type') ?? 'application/octet-stream');
      res.status(201).json({ upload: { token, attachment: this.#attachment(token) } });
    });

    api.get('/webhooks', (req, res) => {
      if (!adminOnly(res)) return;
      const filter = String((req.query['filter'] as Record<string, string> | undefined)?.['name_contains'] ?? req.query['filter[name_contains]'] ?? '');
      res.json({ webhooks: this.state.webhooks.filter((w) => w.name.includes(filter)).map(({ secret: _secret, ...w }) => w), meta: { has_more: false } });
    });
    api.post('/webhooks', (req, res) => {
      if (!adminOnly(res)) return;
      const input = (req.body as { webhook?: { name?: string; endpoint?: string } }).webhook;
      if (!input?.name || !input.endpoint) return zendeskError(res, 400, 'InvalidValue', 'name and endpoint are required');
      const webhook = { id: `01SANDBOX${randomBytes(6).toString('hex').toUpperCase()}`, name: input.name, endpoint: input.endpoint, secret: randomBytes(32).toString('base64') };
      this.state.webhooks.push(webhook);
      res.status(201).json({ webhook: { id: webhook.id, name: webhook.name, endpoint: webhook.endpoint, status: 'active' } });
    });
    api.get('/webhooks/:id/signing_secret', (req, res) => {
      if (!adminOnly(res)) return;
      const webhook = this.state.webhooks.find((w) => w.id === req.params.id);
      if (!webhook) return zendeskError(res, 404, 'RecordNotFound', 'Not found');
      res.json({ signing_secret: { algorithm: 'SHA256', secret: webhook.secret } });
    });
    api.get(route('/triggers/search'), (req, res) => {
      if (!adminOnly(res)) return;
      const query = String(req.query['query'] ?? '');
      res.json({ triggers: this.state.triggers.filter((t) => t.title.includes(query)), count: 0, next_page: null });
    });
    api.post(route('/triggers'), (req, res) => {
      if (!adminOnly(res)) return;
      const input = (req.body as { trigger?: ZendeskSandboxState['triggers'][number] }).trigger;
      if (!input?.title || !input.actions) return zendeskError(res, 422, 'RecordInvalid', 'Record validation errors', { base: [{ description: 'title, conditions and actions are required' }] });
      const trigger = { id: this.#nextId++, title: input.title, conditions: input.conditions, actions: input.actions };
      this.state.triggers.push(trigger);
      res.status(201).json({ trigger });
    });

    app.use('/api/v2', api);
    return app;
  }
}
