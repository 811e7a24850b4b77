// The shape of wa-crm-sync.yaml. Connector sections are checked by each connector's own
// schema (see connectors/registry.ts); this file holds what the service itself needs.
import { isIP } from 'node:net';
import { z } from 'zod';
import { normaliseWords } from '../consent/keywords.js';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/** localhost, ::1 or an IPv4 address in 127.0.0.0/8: parsed, so 127.evil.example is not one. */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || (isIP(hostname) === 4 && hostname.split('.')[0] === '127');
}

/** An IPv4 or IPv6 address as written (no port, no brackets). */
export const ipAddress = z.string().refine((v) => isIP(v) !== 0, { error: (issue) => `"${String(issue.input)}" is not an IP address; write it like 10.0.0.5 or fd00::5` });

/** An address or a CIDR block (10.0.0.0/8, fd00::/8). */
const ipOrBlock = z.string().refine(
  (v) => {
    const [address, prefix, ...rest] = v.split('/');
    const family = isIP(address ?? '');
    if (family === 0 || rest.length > 0) return false;
    return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
  },
  { error: (issue) => `"${String(issue.input)}" is not an IP address or CIDR block; write it like 10.0.0.5 or 10.0.0.0/8` },
);

/** A vendor base URL: https, or plain http only to this machine (sandboxes, tests). */
export const vendorUrl = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a URL; write it like https://api.example.com` });
    return;
  }
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return;
  ctx.addIssue({
    code: 'custom',
    message: `"${value}" must use https (plain http is accepted only for loopback hosts such as 127.0.0.1)`,
  });
});

/** Adds "required when enabled" checks for credential keys to a connector's settings schema. */
export function requiredWhenEnabled<T extends { enabled: boolean }>(
  schema: z.ZodType<T>,
  keys: ReadonlyArray<{ key: keyof T & string; hint: string }>,
): z.ZodType<T> {
  return schema.superRefine((settings, ctx) => {
    if (!settings.enabled) return;
    for (const { key, hint } of keys) {
      const value = settings[key];
      if (value === undefined || value === null || value === '') {
        ctx.addIssue({ code: 'custom', path: [key], message: `required when enabled (${hint})` });
      }
    }
  }) as z.ZodType<T>;
}

const domainName = z
  .string()
  .transform((d) => d.trim().toLowerCase())
  .pipe(z.string().regex(/^(?:[a-z0-9\u00a1-\uffff-]+\.)+[a-z\u00a1-\uffff-]{2,}$/, 'a domain name such as example.com (no scheme or path)'));

/** Rate-limit and retry overrides, common to every connector section. */
export const dispatchOverrides = z
  .strictObject({
    concurrency: z.number().int().min(1).max(64).optional(),
    requests: z.number().int().min(1).optional(),
    intervalMs: z.number().int().min(1).optional(),
    maxAttempts: z.number().int().min(1).max(100).optional(),
    backoffBaseMs: z.number().int().min(1).optional(),
    backoffMaxMs: z.number().int().min(1).optional(),
  })
  .optional();
export type DispatchOverrides = z.infer<typeof dispatchOverrides>;

export const whatsappSection = z.strictObject({
  appSecret: z.string().min(1, 'required: the app secret from Meta App Dashboard > App settings > Basic'),
  verifyToken: z.string().min(1, 'required: any secret string, entered again as "Verify token" in the webhook setup'),
  accessToken: z.string().optional(),
  graphBaseUrl: vendorUrl.default('https://graph.facebook.com/v23.0'),
  /** phone_number_id values this service serves; empty means every number of the account. */
  phoneNumbers: z.array(z.string().regex(/^\d+$/, 'a phone_number_id is digits only')).default([]),
  media: z
    .strictObject({
      fetch: z.boolean().default(true),
      dir: z.string().default('./data/media'),
      maxBytes: z.number().int().min(1).default(100 * 1024 * 1024),
      /**
       * Where the instances share media files: `auto` keeps them in the store on PostgreSQL
       * (`media_blobs`, in backups) and on this disk only with SQLite; `s3` keeps them in
       * S3-compatible object storage (`s3` below), outside the store and its backups.
       */
      store: z.enum(['auto', 's3']).default('auto'),
      s3: z
        .strictObject({
          bucket: z.string().min(1, 'required: the bucket media files go to'),
          region: z.string().min(1).default('us-east-1'),
          /** An S3-compatible server other than AWS (https, or http on this machine). */
          endpoint: vendorUrl.optional(),
          prefix: z.string().default('media/'),
          /** Write them as ${S3_ACCESS_KEY_ID} and ${S3_SECRET_ACCESS_KEY}; without them the library's default chain applies. */
          accessKeyId: z.string().min(1).optional(),
          secretAccessKey: z.string().min(1).optional(),
        })
        .optional(),
    })
    .superRefine((media, ctx) => {
      if (media.store === 's3' && !media.s3) ctx.addIssue({ code: 'custom', path: ['s3'], message: 'required with store: s3 (at least s3.bucket)' });
      if (media.s3 && (media.s3.accessKeyId === undefined) !== (media.s3.secretAccessKey === undefined)) {
        ctx.addIssue({ code: 'custom', path: ['s3'], message: 'give both accessKeyId and secretAccessKey, or neither (the default credential chain)' });
      }
    })
    .prefault({}),
  /**
   * A reply part whose send got no answer (a reset, a timeout) may still have reached the
   * customer: its status webhooks are awaited this long before it is sent again.
   */
  lostAnswerWaitSeconds: z.number().int().min(1).max(3600).default(60),
  /** Coexistence onboarding (the WhatsApp Business app on the same number): its chat history and contacts. */
  history: z
    .strictObject({
      /**
       * Contacts of the app's address book (`smb_app_state_sync`) become contacts in the CRMs,
       * named from it only where no name is known. Off by default: an address book holds more
       * than customers.
       */
      appContacts: z.boolean().default(false),
    })
    .prefault({}),
  /**
   * The WhatsApp Business Account (WABA) id: the outbound API checks templates against the ones
   * approved there (GET /{waba-id}/message_templates). Without it, template sends are refused.
   */
  businessAccountId: z.string().regex(/^\d+$/, 'a WhatsApp Business Account id is digits only').optional(),
  /** How long the account's template list is kept before it is read again. */
  templates: z.strictObject({ cacheSeconds: z.number().int().min(0).max(86_400).default(300) }).prefault({}),
  /**
   * Sends per business number per second (Meta's default throughput is 80), and per customer per
   * minute (Meta's pair rate limit: bursts of up to 45, then about one every 6 seconds; a 131056 answer
   * is retried after its wait), on top of `rateLimit`.
   */
  sendLimits: z
    .strictObject({
      perNumberPerSecond: z.number().int().min(1).max(1000).default(80),
      perCustomerPerMinute: z.number().int().min(1).max(600).default(45),
    })
    .prefault({}),
  rateLimit: dispatchOverrides,
});
export type WhatsAppSection = z.infer<typeof whatsappSection>;

/**
 * Words that stop or resume marketing messages when they are the whole message (case, accents,
 * separators and surrounding punctuation do not matter: "Arrêt!" is ARRET), and quick-reply
 * button payloads that do the same. Defaults: the usual carrier words (STOP, UNSUBSCRIBE, CANCEL,
 * END, QUIT, …) and their common equivalents in German and Scandinavian (STOPP), French (ARRET),
 * Spanish (BAJA, ALTO, CANCELAR), Portuguese (PARAR, PARE, SAIR) and Dutch/German (AFMELDEN,
 * ABMELDEN); START, UNSTOP, SUBSCRIBE and the like to opt in again.
 */
export const DEFAULT_OPT_OUT_KEYWORDS = ['STOP', 'STOP ALL', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'OPT OUT', 'OPTOUT', 'STOPP', 'ARRET', 'BAJA', 'ALTO', 'CANCELAR', 'PARAR', 'PARE', 'SAIR', 'ABMELDEN', 'AFMELDEN'];
export const DEFAULT_OPT_IN_KEYWORDS = ['START', 'UNSTOP', 'SUBSCRIBE', 'RESUME', 'OPT IN', 'OPTIN', 'ALTA', 'ANMELDEN', 'AANMELDEN'];
export const DEFAULT_OPT_OUT_PAYLOADS = ['STOP', 'UNSUBSCRIBE', 'OPT_OUT'];
export const DEFAULT_OPT_IN_PAYLOADS = ['START', 'SUBSCRIBE', 'OPT_IN'];

const keywordList = z.array(z.string().trim().min(1, 'an empty keyword would match nothing; remove it'));

export const consentSection = z
  .strictObject({
    /** Whole messages that opt the person out of marketing messages. */
    optOut: keywordList.default(DEFAULT_OPT_OUT_KEYWORDS),
    /** Whole messages that opt them in again. */
    optIn: keywordList.default(DEFAULT_OPT_IN_KEYWORDS),
    /** Quick-reply button payloads (and interactive reply ids) that opt out. */
    optOutPayloads: keywordList.default(DEFAULT_OPT_OUT_PAYLOADS),
    /** Quick-reply button payloads (and interactive reply ids) that opt in. */
    optInPayloads: keywordList.default(DEFAULT_OPT_IN_PAYLOADS),
  })
  .superRefine((section, ctx) => {
    const optOut = new Set(section.optOut.map(normaliseWords));
    const both = section.optIn.filter((word) => optOut.has(normaliseWords(word)));
    if (both.length > 0) ctx.addIssue({ code: 'custom', path: ['optIn'], message: `${both.join(', ')} is also an opt-out keyword; keep each word in one list` });
  })
  .prefault({});
export type ConsentSection = z.infer<typeof consentSection>;

export const serviceConfigSchema = z.strictObject({
  server: z
    .strictObject({
      port: z.number().int().min(0).max(65535).default(3000),
      host: z.string().default('0.0.0.0'),
      /**
       * Reverse proxies (addresses or CIDR blocks) whose X-Forwarded-For is believed. Empty (the
       * default): the address of whoever connects is the client's, whatever headers it sends.
       */
      trustedProxies: z.array(ipOrBlock).default([]),
      /** Largest webhook body accepted, in bytes. */
      bodyLimitBytes: z.number().int().min(1024).default(1024 * 1024),
      /**
       * On SIGTERM the process has exited within this time, in-flight operations handed back:
       * keep it below the process manager's own stop timeout (Docker 10 s, Kubernetes 30 s).
       */
      shutdownTimeoutMs: z.number().int().min(1000, 'use at least 1000 (ms): in-flight operations need time to be handed back').max(600_000).default(8000),
    })
    .prefault({}),
  store: z
    .strictObject({
      url: z
        .string()
        .regex(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, 'use sqlite:PATH or postgres://USER@HOST:PORT/DATABASE')
        .default('sqlite:./data/wa-crm-sync.sqlite'),
    })
    .prefault({}),
  log: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).prefault({}),
  whatsapp: whatsappSection,
  consent: consentSection,
  sync: z
    .strictObject({
      /** A message after this much silence starts a new thread. */
      threadGapHours: z.number().positive().default(24),
      /**
       * A customer's messages within this many seconds write the customer service window to each
       * CRM once (the write waits this long for the rest of a burst; vendors limit record updates).
       */
      windowWriteSettleSeconds: z.number().int().min(0).max(3600).default(60),
    })
    .prefault({}),
  outbox: z
    .strictObject({
      /** How long a claimed operation stays leased before another worker may take it over. */
      leaseMs: z.number().int().min(500).default(120_000),
      pollIntervalMs: z.number().int().min(10).default(500),
      claimBatch: z.number().int().min(1).max(1000).default(200),
    })
    .prefault({}),
  scopes: z.strictObject({ recheckIntervalMs: z.number().int().min(1000).default(3_600_000) }).prefault({}),
  alerts: z
    .strictObject({
      /** The same alert reaches the sinks at most once in this many minutes (it is still counted and logged). */
      throttleMinutes: z.number().positive().default(60),
      /** This many refused webhook signatures within the window raise an alert. */
      badSignatures: z.strictObject({ count: z.number().int().min(1).default(20), windowSeconds: z.number().int().min(10).default(300) }).prefault({}),
      sinks: z
        .array(
          z.discriminatedUnion('type', [
            z.strictObject({ type: z.literal('webhook'), url: vendorUrl, secret: z.string().min(16, 'use at least 16 characters').optional() }),
            z.strictObject({ type: z.literal('slack'), url: vendorUrl }),
          ]),
        )
        .default([]),
    })
    .prefault({}),
  admin: z
    .strictObject({
      /** Addresses (exact IPs as the service sees them) allowed to use the admin API; empty allows all. */
      allowIps: z.array(ipAddress).default([]),
      /** Browser sessions end after this long without activity, and in any case after absoluteHours. */
      session: z.strictObject({ idleMinutes: z.number().positive().default(30), absoluteHours: z.number().positive().default(12) }).prefault({}),
      /** A file holding the key (16+ characters) that seals admins' TOTP secrets in the store; WA_CRM_SYNC_SECRETS_KEY wins over it. */
      secretsKeyFile: z.string().optional(),
      /** The dashboard reloads its tables this often while it is open and visible; 0 turns that off. Such reloads do not count as activity for idleMinutes. */
      dashboard: z.strictObject({ refreshSeconds: z.number().min(0).default(15) }).prefault({}),
    })
    .prefault({}),
  backup: z
    .strictObject({
      /** Where `wa-crm-sync backup` and scheduled backups write (files are encrypted). */
      dir: z.string().default('./data/backups'),
      /** A file holding the backup passphrase (16+ characters); WA_CRM_SYNC_BACKUP_KEY wins over it. */
      keyFile: z.string().optional(),
      /** Take a backup every this many hours while the service runs; 0 turns scheduled backups off. */
      everyHours: z.number().min(0).default(0),
      /** Scheduled backups kept; older ones are deleted. */
      keep: z.number().int().min(1).default(7),
    })
    .prefault({}),
  retention: z
    .strictObject({
      /** Replace message texts (and the webhook bodies they came in) older than this many days; 0 keeps them. */
      messageBodyDays: z.number().int().min(0).default(0),
    })
    .prefault({}),
  security: z
    .strictObject({
      links: z
        .strictObject({
          /** Your own domains: look-alikes of them are flagged, and links to them never are. */
          brandDomains: z.array(domainName).default([]),
          /** Domains (and subdomains) never flagged, and allowed in agents' replies. */
          allow: z.array(domainName).default([]),
          /** Domains (and subdomains) always flagged. */
          deny: z.array(domainName).default([]),
          /** Agents' replies linking outside brandDomains and allow: `warn` (log and send), `block` (note on the ticket instead), or `off`. */
          outboundReplies: z.enum(['off', 'warn', 'block']).default('warn'),
        })
        .prefault({}),
      /** Run the security self-audit this often while the service runs, raising an alert when a check fails; 0 is off. */
      auditEveryHours: z.number().min(0).default(24),
      /** The file holding the key that chains the audit trail (HMAC); default audit.key beside the config, made at first start. WA_CRM_SYNC_AUDIT_KEY wins over it. */
      auditKeyFile: z.string().optional(),
      /** Log the audit trail's head (newest record number and hash) this often when it changed, and always at start and shutdown; 0 logs only then. */
      auditHeadMinutes: z.number().min(0).default(15),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      /** When set, GET /metrics needs `Authorization: Bearer <this>` (Prometheus: authorization.credentials). */
      bearerToken: z.string().min(16, 'use at least 16 characters').optional(),
      /** When not empty, only these addresses or CIDR blocks (as the service sees them, after server.trustedProxies) may scrape. */
      allowIps: z.array(ipOrBlock).default([]),
    })
    .prefault({}),
  connectors: z.record(z.string(), z.looseObject({ enabled: z.boolean() })).default({}),
});

export type ServiceConfig = z.infer<typeof serviceConfigSchema>;

/** The validated config: service keys plus each configured connector's parsed settings. */
export interface Config extends Omit<ServiceConfig, 'connectors'> {
  readonly connectors: Readonly<Record<string, { readonly enabled: boolean; readonly settings: unknown }>>;
}
