// The running service: config, store, engine, one dispatcher per enabled connector, HTTP.
// Reloads its config on file change and SIGHUP; stops gracefully on SIGTERM.
import { watch, type FSWatcher } from 'node:fs';
import type { Server } from 'node:http';
import { hostname } from 'node:os';
import { basename, dirname, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connectorRegistry, connectorSettingsSchemas, deliveryParsers } from '../connectors/registry.js';
import { changedKeys, loadConfig } from '../core/config/load.js';
import { secretsKey } from '../core/admin/accounts.js';
import type { Config } from '../core/config/schema.js';
import { Engine } from '../core/engine.js';
import { ConfigError, errorMessage, ListenError } from '../core/errors.js';
import { DeliveryInbox } from '../core/ingest.js';
import { createLogger, type Logger } from '../core/logger.js';
import { LogOutput } from '../core/log-output.js';
import { Metrics } from '../core/metrics.js';
import { ConnectorDispatcher } from '../core/outbox/dispatcher.js';
import { RateBudget } from '../core/outbox/rate-budget.js';
import { connectorHealth } from '../core/outbox/health.js';
import { sampleQueues } from '../core/outbox/charts.js';
import { openStore, type Store } from '../core/store/store.js';
import { IntakeWriter } from '../core/store/intake.js';
import { newThreadGateBuffer } from '../core/store/thread-gate.js';
import { openS3Media } from '../core/media-s3.js';
import { shareMedia, shareMediaThroughStore } from '../core/media-store.js';
import { createApp } from './app.js';
import type { ConnectorReadiness } from './readiness.js';
import { Alerts } from '../core/security/alerts.js';
import { alertSinksMetadata } from '../core/security/alert-sinks.js';
import { alertOptions, buildConnectors, engineOptions, type ConfiguredConnector } from './connectors.js';
import { ProcessingThread } from './processing-thread.js';
import { BAD_SIGNATURES, SIGN_IN_FAILURES, badSignaturesAlert } from '../core/security/signals.js';
import { SIGN_IN_WINDOW_MS } from './admin-api.js';
import { EventWindow } from '../core/security/event-window.js';
import { backupPassphrase, backupToDir, lastBackup } from '../core/store/backup.js';
import { purgeMessageBodies } from '../core/model/repository.js';
import { auditService } from './audit.js';
import { inboundConnectors, webhookSecret } from './inbound.js';
import { recipeConnectors } from './recipe-api.js';
import { auditHead, auditKeyPath, formatAuditHead, loadAuditKey, recordAudit, sealLegacyAudit, type AuditEntry, type AuditKey } from '../core/security/audit-trail.js';
import { auditFailedAlert } from '../core/security/signals.js';
import { WhatsAppConnector } from '../connectors/whatsapp/connector.js';
import { KIND as WHATSAPP_KIND } from '../connectors/whatsapp/mappers.js';
import { idempotencyKeyOf } from '../core/outbox/queries.js';
import { TemplateCache } from '../core/outbound/templates.js';

/** Time to send the headers, time to send the whole request, and connections open at once. */
const HTTP_LIMITS = { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, maxConnections: 1024 } as const;
/** How often scheduled backups and the retention purge look whether they are due. */
const HOUSEKEEPING_INTERVAL_MS = 10 * 60_000;
/** How often bursts that are over (bad signatures, failed sign-ins) get their alerts resolved: one indexed query. */
const QUIET_ALERTS_INTERVAL_MS = 5_000;
/** How often the console's queue charts get a sample (one row per connector and minute, whichever instance writes first). */
const QUEUE_SAMPLE_INTERVAL_MS = 60_000;
/** Of the shutdown time, what is kept back for handing operations back and closing the store. */
const SHUTDOWN_RESERVE_MS = 1000;
/** Longest wait for the last log lines to reach their reader before the process exits. */
const SHUTDOWN_LOG_DRAIN_MS = 500;

export interface ServiceOptions {
  readonly configPath: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly log?: Logger;
  /** Reload when the file changes (default true). */
  readonly watchConfig?: boolean;
  /** Overrides server.port (0 picks a free port). */
  readonly port?: number;
}

export { buildConnectors } from './connectors.js';

export class Service {
  config: Config;
  readonly store: Store;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly engine: Engine;
  readonly inbox: DeliveryInbox;
  /** Where acknowledged webhooks wait for processing to import them, on a SQLite store (core/store/intake.ts). */
  readonly #intake: IntakeWriter | undefined;
  readonly alerts: Alerts;
  readonly workerId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  readonly #options: ServiceOptions;
  readonly #budget: RateBudget;
  #connectors = new Map<string, ConfiguredConnector>();
  readonly #dispatchers = new Map<string, ConnectorDispatcher>();
  #server: Server | undefined;
  #watcher: FSWatcher | undefined;
  #running = true;
  /** Turns stored deliveries into operations off the event loop that acknowledges webhooks. */
  #processing: ProcessingThread | undefined;
  #timers: NodeJS.Timeout[] = [];
  #reloading: Promise<unknown> = Promise.resolve();
  /** Refused webhook signatures per source in the current window, for burst alerts. */
  #badSignatures: EventWindow | undefined;
  /** The first scheduled audit comes one period after start (start already checks every connector's scopes). */
  #lastAuditAt = Date.now();
  /** stdout, when this service made its own logger (not when a caller passed one). */
  #logOutput: LogOutput | undefined;

  /** Keys the audit chain; read once at start (from outside the store). */
  readonly auditKey: AuditKey;
  /** The head last written to the log, so the interval logs only a changed one. */
  #publishedAuditHead = '';

  private constructor(options: ServiceOptions, config: Config, store: Store, log: Logger, auditKey: AuditKey, intake: IntakeWriter | undefined) {
    this.#options = options;
    this.#intake = intake;
    this.auditKey = auditKey;
    this.config = config;
    this.store = store;
    this.log = log;
    this.metrics = new Metrics(store, () => this.connectorStates());
    this.#budget = new RateBudget(store);
    this.inbox = new DeliveryInbox(store, () => this.#processing?.wake(), intake);
    this.alerts = new Alerts({
      log,
      registry: this.metrics.registry,
      options: () => alertOptions(this.config),
      audit: (entry) => this.#audit(entry),
    });
    this.engine = new Engine({
      alerts: this.alerts,
      store,
      parsers: deliveryParsers,
      connectors: () => [...this.#connectors.values()].map((c) => c.connector),
      log,
      options: () => engineOptions(this.config),
    });
  }

  #unshareMedia: (() => void) | undefined;

  /**
   * The WhatsApp Business Account's templates, read through the WhatsApp dispatcher (its rate
   * budget and shutdown signal) and kept whatsapp.templates.cacheSeconds.
   */
  readonly templates = new TemplateCache(
    () => {
      const whatsapp = this.#connectors.get('whatsapp')?.connector;
      const dispatcher = this.#dispatchers.get('whatsapp');
      if (!(whatsapp instanceof WhatsAppConnector) || !dispatcher) return undefined;
      return { listTemplates: () => whatsapp.listTemplates(dispatcher.executionContext()) };
    },
    () => this.config.whatsapp.templates.cacheSeconds * 1000,
  );

  static async start(options: ServiceOptions): Promise<Service> {
    const env = options.env ?? process.env;
    const warnings: string[] = [];
    const config = loadConfig(options.configPath, connectorSettingsSchemas, env, { onWarning: (w) => warnings.push(w) });
    const logOutput = options.log ? undefined : new LogOutput(1);
    const log = options.log ?? createLogger({ level: config.log.level, destination: logOutput });
    for (const warning of warnings) log.warn({ warning }, 'config: probably not what was meant');
    const auditKey = await loadAuditKey({ env, keyFile: auditKeyPath(config.security.auditKeyFile, options.configPath), create: true });
    // The processing thread opens the same SQLite file: the two take turns through this gate, the
    // thread acknowledging webhooks first and never blocked (core/store/thread-gate.ts).
    const storeGate = newThreadGateBuffer();
    const store = await openStore(config.store.url, { threadGate: { buffer: storeGate, role: 'priority' } });
    // On SQLite, webhooks are acknowledged into a file of their own, whose commits never wait for
    // processing's turns at the store (core/store/intake.ts).
    const intake = store.intakeFile
      ? await IntakeWriter.open(store.intakeFile).catch(async (error: unknown) => {
          await store.close();
          throw error;
        })
      : undefined;
    const service = new Service(options, config, store, log, auditKey, intake);
    const sealed = await sealLegacyAudit(store, auditKey);
    if (sealed > 0) log.info({ legacyRecords: sealed }, 'audit trail keyed from here on; the records before the audit key are sealed by the one just written');
    await service.#publishAuditHead();
    if (config.security.auditHeadMinutes > 0) service.#timers.push(setInterval(() => void service.#publishAuditHead(), config.security.auditHeadMinutes * 60_000).unref());
    service.#logOutput = logOutput;
    // Instances share no disk: media go through object storage or, on PostgreSQL, the store as well.
    const media = config.whatsapp.media;
    if (media.store === 's3') {
      const shared = await openS3Media(media.s3!).catch(async (error: unknown) => {
        await intake?.close();
        await store.close();
        throw error;
      });
      const unshare = shareMedia(resolve(media.dir), shared);
      service.#unshareMedia = () => {
        unshare();
        shared.close?.();
      };
    } else if (store.dialect === 'postgres') service.#unshareMedia = shareMediaThroughStore(resolve(media.dir), store);
    await service.#applyConnectors(buildConnectors(config, log));
    const processing = new ProcessingThread({
      config,
      log,
      onQueued: () => {
        for (const d of service.#dispatchers.values()) d.wake();
      },
      onAlert: (kind, severity) => service.alerts.count(kind, severity),
      storeGate,
      ...(intake ? { intake } : {}),
    });
    service.#processing = processing;
    service.#timers.push(setInterval(() => void service.#checkAllScopes(), config.scopes.recheckIntervalMs).unref());
    // Housekeeping: scheduled backups and the retention purge (read from the config each time).
    service.#timers.push(setInterval(() => void service.#housekeeping(), HOUSEKEEPING_INTERVAL_MS).unref());
    void service.#housekeeping();
    service.#timers.push(setInterval(() => void service.#resolveQuietAlerts(), QUIET_ALERTS_INTERVAL_MS).unref());
    service.#timers.push(setInterval(() => void service.#sampleQueues(), QUEUE_SAMPLE_INTERVAL_MS).unref());
    void service.#sampleQueues();
    const port = options.port ?? config.server.port;
    try {
      await service.#listen(port, config.server.host);
    } catch (error) {
      // Dispatchers and timers already run: without stopping them the process would stay up
      // half-started, taking operations while nothing can deliver a webhook to it.
      await service.stop();
      throw new ListenError(config.server.host, port, error);
    }
    // After listening: the thread loads the engine and connectors again, which would slow the start
    // that a process manager (and Meta) waits for; deliveries stored meanwhile wait in the store.
    processing.start();
    if (options.watchConfig ?? true) service.#watchConfig();
    log.info({ store: store.description, port: service.port, connectors: service.connectorStates() }, 'wa-crm-sync started');
    return service;
  }

  get port(): number {
    const address = this.#server?.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  connectorStates(): ConnectorReadiness[] {
    return [...this.#connectors.entries()].map(([id, c]) => {
      const dispatcher = this.#dispatchers.get(id);
      if (!c.enabled || !dispatcher) return { connector: id, state: 'disabled' as const };
      const state = dispatcher.state;
      if (state.state === 'blocked') return { connector: id, state: 'blocked' as const, reason: state.reason };
      return dispatcher.paused ? { connector: id, state: 'paused' as const, reason: 'paused by an admin' } : { connector: id, state: 'running' as const };
    });
  }

  dispatcher(id: string): ConnectorDispatcher | undefined {
    return this.#dispatchers.get(id);
  }

  /** Re-reads the config; a bad file is refused and the running config stays. */
  reload(): Promise<{ ok: boolean; changed: string[]; error?: string }> {
    const run = this.#reloading.then(() => this.#reload());
    this.#reloading = run.catch(() => undefined);
    return run;
  }

  async #reload(): Promise<{ ok: boolean; changed: string[]; error?: string }> {
    let next: Config;
    try {
      next = loadConfig(this.#options.configPath, connectorSettingsSchemas, this.#options.env ?? process.env);
    } catch (error) {
      this.log.error({ err: errorMessage(error) }, 'config reload refused; the running config stays');
      await this.#audit({ actor: 'service', action: 'config.reload.refused', detail: { problems: error instanceof ConfigError ? error.issues.length : 1 } });
      return { ok: false, changed: [], error: errorMessage(error) };
    }
    const changed = changedKeys(this.config, next);
    if (changed.length === 0) return { ok: true, changed };
    const needsRestart = changed.filter((k) => k.startsWith('server.') || k.startsWith('store.'));
    if (needsRestart.length > 0) this.log.warn({ keys: needsRestart }, 'these keys take effect only after a restart');
    this.config = next;
    this.log.level = next.log.level;
    await this.#processing?.reconfigure(next);
    await this.#applyConnectors(buildConnectors(next, this.log));
    // Another account or token may list other templates.
    this.templates.clear();
    // Credentials may have been fixed (or revoked) without a settings change here.
    await this.#checkAllScopes();
    this.log.info({ changed, connectors: this.connectorStates() }, 'config reloaded');
    await this.#audit({ actor: 'service', action: 'config.reload', detail: { changed } });
    return { ok: true, changed };
  }

  /** Starts, stops or rebuilds dispatchers so that they match the configured connectors. */
  async #applyConnectors(next: Map<string, ConfiguredConnector>): Promise<void> {
    const previous = this.#connectors;
    for (const [id, dispatcher] of this.#dispatchers) {
      const wanted = next.get(id);
      if (!wanted?.enabled || wanted.fingerprint !== previous.get(id)?.fingerprint) {
        await dispatcher.stop();
        this.#dispatchers.delete(id);
        this.log.info({ connector: id }, wanted?.enabled ? 'connector settings changed; restarting its dispatch' : 'connector disabled; its operations stay queued');
      }
    }
    this.#connectors = next;
    for (const [id, configured] of next) {
      if (!configured.enabled || this.#dispatchers.has(id)) continue;
      const dispatcher = new ConnectorDispatcher({
        connector: configured.connector,
        store: this.store,
        budget: this.#budget,
        applyEffects: (tx, effects, now) => this.engine.applyEffects(tx, effects, now),
        log: this.log,
        metrics: this.metrics,
        ...(id === alertSinksMetadata.id ? {} : { alerts: this.alerts }),
        onSetup: (actions) => this.#audit({ actor: 'service', action: 'setup', target: id, detail: [...actions] }),
        options: {
          workerId: this.workerId,
          leaseMs: this.config.outbox.leaseMs,
          pollIntervalMs: this.config.outbox.pollIntervalMs,
          claimBatch: this.config.outbox.claimBatch,
        },
      });
      this.#dispatchers.set(id, dispatcher);
      await dispatcher.checkScopes({ thenSetup: true });
      dispatcher.start();
    }
  }

  async #checkAllScopes(): Promise<void> {
    for (const dispatcher of this.#dispatchers.values()) await dispatcher.checkScopes({ thenSetup: true });
  }

  async #listen(port: number, host: string): Promise<void> {
    const inbound = inboundConnectors(connectorRegistry);
    const app = createApp({
      log: this.log,
      metrics: this.metrics,
      inbox: this.inbox,
      whatsapp: () => this.config.whatsapp,
      bodyLimitBytes: this.config.server.bodyLimitBytes,
      trustedProxies: this.config.server.trustedProxies,
      onBadSignature: (source) => this.#badSignature(source),
      inbound,
      configured: async (id) => {
        const section = this.config.connectors[id];
        const connector = inbound.find((c) => c.id === id);
        if (!section || !connector) return undefined;
        return { settings: section.settings, secret: await webhookSecret(this.store, connector, section.settings) };
      },
      admin: {
        store: this.store,
        log: this.log,
        connectorStates: () => this.connectorStates(),
        allowIps: () => this.config.admin.allowIps,
        sessionLimits: () => ({ idleMs: this.config.admin.session.idleMinutes * 60_000, absoluteMs: this.config.admin.session.absoluteHours * 3_600_000 }),
        dashboardRefreshSeconds: () => this.config.admin.dashboard.refreshSeconds,
        secretsKey: () => secretsKey(this.#options.env ?? process.env, this.config.admin.secretsKeyFile),
        auditKey: this.auditKey,
        alert: (draft) => this.alerts.report(this.store.db, draft),
        alerts: this.alerts,
        pauseChanged: (id) => this.#dispatchers.get(id)?.pauseChanged(),
        describeRecord: (connector, kind, externalId) => {
          const found = this.#connectors.get(connector)?.connector;
          if (!found) return undefined;
          return found.describeRecord ? found.describeRecord(kind, externalId) : { label: `${kind} ${externalId}` };
        },
        scopeReports: () =>
          [...this.#dispatchers.entries()].flatMap(([connector, d]) => {
            const last = d.lastScopeCheck;
            return last ? [{ connector, at: last.at, ok: last.check.ok, report: last.check.report, ...(last.check.ok ? {} : { reason: last.check.reason }) }] : [];
          }),
      },
      outbound: {
        store: this.store,
        log: this.log,
        planChanges: (tx, changes, now) => this.engine.planChanges(tx, changes, now),
        templates: this.templates,
        businessNumbers: () => this.config.whatsapp.phoneNumbers,
        threadGapMs: () => this.config.sync.threadGapHours * 3_600_000,
        audit: (entry) => this.#audit(entry),
        sendKey: (replyKey) => idempotencyKeyOf('whatsapp', { kind: WHATSAPP_KIND.send, key: replyKey }),
        queued: () => this.#dispatchers.get('whatsapp')?.wake(),
      },
      recipes: {
        recipes: recipeConnectors(connectorRegistry),
        settingsOf: (id) => {
          const section = this.config.connectors[id];
          return section?.enabled ? section.settings : undefined;
        },
        onBadSignature: (source) => this.#badSignature(source),
      },
      metricsAccess: () => this.config.metrics,
      readiness: async () => {
        const store = await this.store.ping().then(() => true, () => false);
        const connectors = this.connectorStates();
        const running = connectors.filter((c) => c.state === 'running').map((c) => c.connector);
        // Degraded: running, yet every recent call failed (before anything is dead).
        const degraded = store ? (await connectorHealth(this.store.db, running)).filter((h) => h.degraded).map((h) => h.connector) : [];
        return { store, connectors, degraded };
      },
    });
    await new Promise<void>((resolve, reject) => {
      this.#server = app.listen(port, host, (error?: Error) => (error ? reject(error) : resolve()));
    });
    // A client trickling its headers or body holds a connection and a socket buffer: bounded.
    this.#server!.headersTimeout = HTTP_LIMITS.headersTimeoutMs;
    this.#server!.requestTimeout = HTTP_LIMITS.requestTimeoutMs;
    this.#server!.maxConnections = HTTP_LIMITS.maxConnections;
  }

  #audit(entry: AuditEntry): Promise<void> {
    return recordAudit(this.store, this.auditKey, this.log, entry);
  }

  /**
   * Writes the audit trail's head to the log, which leaves this machine (a collector, journald)
   * where the store's writer cannot follow: `wa-crm-sync audit verify --log` compares with it.
   */
  async #publishAuditHead(always = false): Promise<void> {
    try {
      const head = formatAuditHead(await auditHead(this.store.db));
      if (!always && head === this.#publishedAuditHead) return;
      this.#publishedAuditHead = head;
      this.log.info({ auditHead: head }, 'audit trail head');
    } catch (error) {
      this.log.error({ err: errorMessage(error) }, 'could not read the audit trail head to publish it; will try again');
    }
  }

  /**
   * Takes a scheduled backup when the last good one is older than backup.everyHours, and purges
   * message texts older than retention.messageBodyDays. Failures are logged and tried again later.
   */
  /** The console's queue depth, oldest age and error rate over time: the outbox keeps only the present. */
  async #sampleQueues(): Promise<void> {
    try {
      await sampleQueues(this.store.db, [...this.#connectors.keys()]);
    } catch (error) {
      this.log.warn({ err: errorMessage(error) }, 'queue sample not taken; the charts miss this minute');
    }
  }

  async #housekeeping(): Promise<void> {
    const { backup, retention } = this.config;
    const now = Date.now();
    try {
      if (backup.everyHours > 0) {
        const last = await lastBackup(this.store);
        if (!last || now - last.at >= backup.everyHours * 3_600_000) {
          const passphrase = await backupPassphrase({ env: this.#options.env ?? process.env, keyFile: backup.keyFile });
          const written = await backupToDir(this.store, resolve(backup.dir), passphrase, backup.keep);
          await this.#audit({ actor: 'service', action: 'backup', target: written.path, detail: { bytes: written.bytes, removed: written.removed } });
          this.log.info({ action: 'backup', path: written.path, bytes: written.bytes, removed: written.removed.length }, 'scheduled backup written');
        }
      }
      const { auditEveryHours } = this.config.security;
      if (auditEveryHours > 0 && now - this.#lastAuditAt >= auditEveryHours * 3_600_000) {
        this.#lastAuditAt = now;
        const checks = await auditService({
          config: this.config,
          configPath: this.#options.configPath,
          store: this.store,
          env: this.#options.env ?? process.env,
          checkScopes: async () => Promise.all([...this.#dispatchers.entries()].map(async ([connector, d]) => ({ connector, check: await d.checkScopes() }))),
        });
        const failed = checks.filter((c) => c.status === 'fail');
        this.log.info({ action: 'audit', pass: checks.length - failed.length, fail: failed.length }, 'security self-audit ran');
        if (failed.length > 0) await this.alerts.raise(this.store.db, auditFailedAlert(failed), now);
      }
      if (retention.messageBodyDays > 0) {
        const purged = await purgeMessageBodies(this.store.db, now - retention.messageBodyDays * 86_400_000);
        if (purged.messages + purged.deliveries > 0) {
          this.log.info({ action: 'retention.purge', days: retention.messageBodyDays, ...purged }, 'message texts past the retention period removed');
          await this.#audit({ actor: 'service', action: 'retention.purge', detail: { days: retention.messageBodyDays, ...purged } });
        }
      }
    } catch (error) {
      this.log.error({ err: errorMessage(error) }, 'housekeeping failed (backup or retention purge); will try again');
    }
  }

  /** A burst alert is over once a whole window passed without it being raised again. */
  async #resolveQuietAlerts(): Promise<void> {
    try {
      await this.alerts.resolveQuiet(this.store.db, BAD_SIGNATURES, this.config.alerts.badSignatures.windowSeconds * 1000, 'the burst of bad signatures is over: none in a whole window');
      await this.alerts.resolveQuiet(this.store.db, SIGN_IN_FAILURES, SIGN_IN_WINDOW_MS, 'the burst of failed sign-ins is over: none in a whole window');
    } catch (error) {
      this.log.warn({ err: errorMessage(error) }, 'could not resolve the alerts of bursts that are over; will try again');
    }
  }

  /** Counts refused signatures per source in a sliding window; a burst raises an alert (repeats are throttled there). */
  #badSignature(source: string): void {
    const { count, windowSeconds } = this.config.alerts.badSignatures;
    if (this.#badSignatures?.windowMs !== windowSeconds * 1000) this.#badSignatures = new EventWindow(windowSeconds * 1000);
    const seen = this.#badSignatures.add(source);
    if (seen < count) return;
    this.#badSignatures.clear(source);
    this.alerts.report(this.store.db, badSignaturesAlert(source, seen, windowSeconds));
  }

  #watchConfig(): void {
    const file = basename(this.#options.configPath);
    let debounce: NodeJS.Timeout | undefined;
    // Watch the folder: editors replace the file rather than write into it.
    this.#watcher = watch(dirname(resolve(this.#options.configPath)), (_event, name) => {
      if (name !== file) return;
      clearTimeout(debounce);
      debounce = setTimeout(() => void this.reload(), 200);
    });
    this.#watcher.unref();
  }

  /**
   * Stops taking work, finishes or hands back in-flight operations and closes the store, within
   * server.shutdownTimeoutMs: requests under way get a quarter of it, running operations what is
   * left but a reserve for handing them back. A log nobody reads never holds this up.
   */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    const deadline = Date.now() + this.config.server.shutdownTimeoutMs;
    const timeLeft = () => Math.max(0, deadline - Date.now());
    this.#watcher?.close();
    for (const timer of this.#timers) clearInterval(timer);
    const closed = new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
    // Idle keep-alive connections would hold close() open; requests under way still finish...
    this.#server?.closeIdleConnections();
    // ...unless they take too long: then their connections are cut.
    if (!(await settlesWithin(closed, timeLeft() / 4))) this.#server?.closeAllConnections();
    await closed;
    // The batch under way finishes; deliveries not reached stay pending for the next start.
    await this.#processing?.stop(timeLeft() / 2);
    const graceMs = Math.max(0, timeLeft() - Math.min(SHUTDOWN_RESERVE_MS, timeLeft() / 4));
    await Promise.all([...this.#dispatchers.values()].map((d) => d.stop(graceMs)));
    this.#unshareMedia?.();
    await this.#publishAuditHead(true);
    // What processing did not import stays in the intake file for the next start.
    await this.#intake?.close();
    await this.store.close();
    this.log.info('wa-crm-sync stopped');
    await this.#logOutput?.drain(Math.min(SHUTDOWN_LOG_DRAIN_MS, timeLeft()));
  }
}

/** Whether `promise` settles within `ms` (it keeps running either way). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true as const), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
