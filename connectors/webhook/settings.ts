// `connectors.webhook` in wa-crm-sync.yaml.
import { z } from 'zod';
import { dispatchOverrides, requiredWhenEnabled, vendorUrl } from '../../core/config/schema.js';

export const WEBHOOK_EVENTS = ['contact', 'message', 'status'] as const;

export const webhookSettingsSchema = requiredWhenEnabled(
  z.strictObject({
    enabled: z.boolean(),
    /** Where each event is POSTed. `GET {url}/{idempotency key}` must answer 200 or 404 (see README). */
    url: vendorUrl.optional(),
    /** Signs each body: `X-Wa-Crm-Sync-Signature: sha256=<hex HMAC-SHA256>`. */
    secret: z.string().min(16, 'use at least 16 characters').optional(),
    timeoutMs: z.number().int().min(100).default(10_000),
    events: z.array(z.enum(WEBHOOK_EVENTS)).default([...WEBHOOK_EVENTS]),
    rateLimit: dispatchOverrides,
  }),
  [{ key: 'url', hint: 'the https URL that receives the events' }],
);
export type WebhookSettings = z.infer<typeof webhookSettingsSchema>;
