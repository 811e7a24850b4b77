// Delivers security alerts to the configured sinks: a generic JSON webhook (optionally signed
// like the webhook connector's events) and Slack-compatible incoming webhooks. Runs as an outbox
// connector, so a sink that is down gets the alert later, with retries; one sink failing never
// makes another hear the alert twice.
import { OUTBOUND_SIGNATURE_HEADER, signOutbound } from '../signature.js';
import type { Connector, ConnectorMetadata, DispatchTuning, GrantedScopes, OperationOutcome } from '../connector.js';
import { asSyncError } from '../errors.js';
import { vendorFetch } from '../http.js';
import type { ExecutionContext } from '../connector.js';
import type { OutboxOperation } from '../outbox/queries.js';
import { ALERT_SEND, ALERT_SINKS, type AlertPayload } from './alerts.js';

export type AlertSink = { readonly type: 'webhook'; readonly url: string; readonly secret?: string | undefined } | { readonly type: 'slack'; readonly url: string };

const SEVERITY_ICON: Record<string, string> = { critical: ':rotating_light:', warning: ':warning:', info: ':information_source:' };

export const alertSinksMetadata: ConnectorMetadata = {
  id: ALERT_SINKS,
  displayName: 'Alert sinks',
  featureScopes: {},
  grantScopesHint: '',
  maxBatch: { [ALERT_SEND]: 1 },
  defaultTuning: { concurrency: 2, rateLimit: { requests: 10, intervalMs: 1000 }, maxAttempts: 20, backoffBaseMs: 5000, backoffMaxMs: 30 * 60_000 },
};

/** The body a sink receives. */
export function sinkBody(sink: AlertSink, alert: AlertPayload): string {
  if (sink.type === 'slack') {
    const repeat = alert.count > 1 ? ` (${alert.count} times since ${new Date(alert.firstAt).toISOString()})` : '';
    return JSON.stringify({ text: `${SEVERITY_ICON[alert.severity] ?? ''} *wa-crm-sync: ${alert.title}*${repeat}\n${alert.detail}${alert.auditHead ? `\naudit trail head: ${alert.auditHead}` : ''}` });
  }
  return JSON.stringify({ type: 'alert', service: 'wa-crm-sync', id: alert.id, kind: alert.kind, severity: alert.severity, title: alert.title, detail: alert.detail, count: alert.count, firstAt: new Date(alert.firstAt).toISOString(), lastAt: new Date(alert.lastAt).toISOString(), ...(alert.auditHead ? { auditHead: alert.auditHead } : {}) });
}

export class AlertSinksConnector implements Connector {
  readonly metadata = alertSinksMetadata;
  readonly features: string[] = [];
  readonly tuning: DispatchTuning = alertSinksMetadata.defaultTuning;

  constructor(private readonly sinks: readonly AlertSink[]) {}

  plan() {
    // Alerts queue their deliveries themselves (see Alerts.raise).
    return [];
  }

  async execute(operations: readonly OutboxOperation[], context: ExecutionContext): Promise<OperationOutcome[]> {
    const outcomes: OperationOutcome[] = [];
    for (const op of operations) {
      const alert = op.payload as AlertPayload & { sink: number };
      const sink = this.sinks[alert.sink];
      if (!sink) {
        outcomes.push({ ok: true, result: { skipped: 'the sink was removed from the config' } });
        continue;
      }
      try {
        const body = sinkBody(sink, alert);
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (sink.type === 'webhook' && sink.secret) headers[OUTBOUND_SIGNATURE_HEADER] = signOutbound(sink.secret, body);
        await vendorFetch(context, { vendor: `alert sink ${alert.sink} (${sink.type})`, url: sink.url, method: 'POST', headers, body, timeoutMs: 10_000 });
        outcomes.push({ ok: true });
      } catch (error) {
        outcomes.push({ ok: false, error: asSyncError(error) });
      }
    }
    return outcomes;
  }

  /** A sink accepts a POST or not: sending the same alert again is harmless. */
  async reconcile(): Promise<undefined> {
    return undefined;
  }

  async grantedScopes(): Promise<GrantedScopes> {
    return 'unknown';
  }
}
