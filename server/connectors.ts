// What the service builds from its config for the engine: the configured connectors and the
// engine's and alerts' options. Shared by the main thread (dispatch, admin) and the processing
// thread (planning), so both read one config the same way.
import { resolve } from 'node:path';
import { connectorRegistry, whatsappConnector } from '../connectors/registry.js';
import type { Config } from '../core/config/schema.js';
import type { Connector } from '../core/connector.js';
import type { EngineOptions } from '../core/engine.js';
import type { Logger } from '../core/logger.js';
import { AlertSinksConnector, alertSinksMetadata } from '../core/security/alert-sinks.js';
import type { AlertOptions } from '../core/security/alerts.js';

export interface ConfiguredConnector {
  readonly connector: Connector;
  readonly enabled: boolean;
  /** The settings it was built from, to tell whether a reload changed it. */
  readonly fingerprint: string;
}

/** Builds every configured connector (enabled or not: disabled ones still plan, so nothing is missed). */
export function buildConnectors(config: Config, log: Logger): Map<string, ConfiguredConnector> {
  const built = new Map<string, ConfiguredConnector>();
  const deps = { log, mediaDir: resolve(config.whatsapp.media.dir), windowWriteSettleMs: config.sync.windowWriteSettleSeconds * 1000 };
  if (config.whatsapp.accessToken) {
    built.set('whatsapp', {
      connector: whatsappConnector.create(config.whatsapp, deps),
      enabled: true,
      fingerprint: JSON.stringify(config.whatsapp),
    });
  }
  if (config.alerts.sinks.length > 0) {
    built.set(alertSinksMetadata.id, { connector: new AlertSinksConnector(config.alerts.sinks), enabled: true, fingerprint: JSON.stringify(config.alerts.sinks) });
  }
  for (const [id, section] of Object.entries(config.connectors)) {
    const factory = connectorRegistry[id]!;
    built.set(id, { connector: factory.create(section.settings, deps), enabled: section.enabled, fingerprint: JSON.stringify(section) });
  }
  return built;
}

export function engineOptions(config: Config): EngineOptions {
  return {
    threadGapMs: config.sync.threadGapHours * 3_600_000,
    servedNumbers: config.whatsapp.phoneNumbers,
    links: config.security.links,
    history: { appContacts: config.whatsapp.history.appContacts },
    consent: config.consent,
  };
}

export function alertOptions(config: Config): AlertOptions {
  return { throttleMs: config.alerts.throttleMinutes * 60_000, sinkCount: config.alerts.sinks.length, maxAttempts: alertSinksMetadata.defaultTuning.maxAttempts };
}
