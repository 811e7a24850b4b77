// A connector's standing with its vendor, which decides whether its dispatcher may claim work:
// blocked (credentials refused, scopes missing, setup failed) with the reason and a security
// alert, paused by an admin (shared by every instance through the store), and the latest scope
// check with what it found. Operations stay queued whatever the standing.
import type { Connector, ExecutionContext } from '../connector.js';
import { pausedConnectors } from '../admin/pause.js';
import { errorMessage, SyncError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AlertDraft, Alerts } from '../security/alerts.js';
import { CREDENTIAL_REFUSED, connectorBlockedAlert, overPrivilegedAlert } from '../security/signals.js';
import { checkConnectorScopes, type ScopeCheck } from '../scopes.js';
import type { Store } from '../store/store.js';

/** How often the admin's pause is read from the store (it is shared by every instance). */
const PAUSE_READ_MS = 1000;

export class ConnectorStanding {
  readonly #connector: Connector;
  readonly #store: Store;
  readonly #log: Logger;
  readonly #alerts: Alerts | undefined;
  readonly #onSetup: ((actions: readonly string[]) => Promise<void>) | undefined;
  readonly #context: () => ExecutionContext;
  readonly #wake: () => void;
  #blockedReason: string | undefined;
  #paused = false;
  #pauseReadAt = 0;
  #lastScopeCheck: { at: number; check: ScopeCheck } | undefined;
  #setupDone = false;

  constructor(deps: {
    connector: Connector;
    store: Store;
    log: Logger;
    /** Where a blocked or over-privileged credential is raised as a security alert. */
    alerts?: Alerts;
    /** Told what a setup changed at the vendor (for the audit trail). */
    onSetup?: (actions: readonly string[]) => Promise<void>;
    /** What scope checks and setup call the vendor with. */
    context: () => ExecutionContext;
    /** Dispatch should look again (unblocked). */
    wake: () => void;
  }) {
    this.#connector = deps.connector;
    this.#store = deps.store;
    this.#log = deps.log;
    this.#alerts = deps.alerts;
    this.#onSetup = deps.onSetup;
    this.#context = deps.context;
    this.#wake = deps.wake;
  }

  get #id(): string {
    return this.#connector.metadata.id;
  }

  /** Why dispatch is blocked, or undefined while it is not. */
  get blockedReason(): string | undefined {
    return this.#blockedReason;
  }

  /** The latest scope check (start, reload, the periodic recheck), for the dashboard. */
  get lastScopeCheck(): { at: number; check: ScopeCheck } | undefined {
    return this.#lastScopeCheck;
  }

  /** Whether dispatch is paused by an admin, as last read. */
  get paused(): boolean {
    return this.#paused;
  }

  /**
   * Checks the credentials' scopes with the vendor; blocks or unblocks dispatch accordingly.
   * With `thenSetup`, a connector whose setup has not succeeded yet runs it once the scopes are
   * there (the vendor may have been unreachable at start).
   */
  async checkScopes(options: { thenSetup?: boolean } = {}): Promise<ScopeCheck> {
    const check = await checkConnectorScopes(this.#connector, this.#context());
    this.#lastScopeCheck = { at: Date.now(), check };
    if (check.ok) {
      if (check.report.extra.length > 0) {
        this.#log.warn({ extra: check.report.extra }, 'credentials hold more scopes than needed (over-privileged)');
        this.#raise(overPrivilegedAlert(this.#id, check.report.extra));
      }
      if (options.thenSetup && !this.#setupDone) {
        const setup = await this.runSetup();
        if (!setup.ok) return check;
      }
      this.unblock();
      // Also after a restart, when nothing was blocked in memory but the alert from before is still open.
      this.#alerts?.reportCleared(this.#store.db, { kind: CREDENTIAL_REFUSED, key: this.#id }, 'the credentials were accepted again (the scope check passed)');
    } else if (check.definitive) this.block(check.reason);
    else this.#log.warn({ reason: check.reason }, 'could not check scopes now; keeping the current state');
    return check;
  }

  /** Runs the connector's setup; a failure blocks dispatch with the reason (operations stay queued). */
  async runSetup(): Promise<{ ok: true; actions: string[] } | { ok: false; reason: string }> {
    if (!this.#connector.setup) return { ok: true, actions: [] };
    try {
      const actions = await this.#connector.setup(this.#context());
      this.#setupDone = true;
      for (const action of actions) this.#log.info({ action }, 'setup');
      if (actions.length > 0) await this.#onSetup?.(actions);
      return { ok: true, actions };
    } catch (error) {
      const reason = `setup failed: ${errorMessage(error)}`;
      if (!(error instanceof SyncError) || !error.retryable) this.block(reason);
      else this.#log.warn({ reason }, 'setup could not run now; will try again at the next scope check');
      return { ok: false, reason };
    }
  }

  /** Stops dispatch with a reason (missing scopes, revoked credentials); operations stay queued. */
  block(reason: string): void {
    if (this.#blockedReason === reason) return;
    this.#blockedReason = reason;
    this.#log.error({ reason }, 'connector blocked; its operations stay queued');
    this.#raise(connectorBlockedAlert(this.#id, reason));
  }

  unblock(): void {
    if (this.#blockedReason === undefined) return;
    this.#blockedReason = undefined;
    this.#log.info('connector unblocked; dispatch resumes');
    this.#wake();
  }

  /** An admin paused or resumed the connector: the next look reads the store. */
  pauseChanged(): void {
    this.#pauseReadAt = 0;
  }

  /** Whether an admin paused this connector (read from the store at most once a second). */
  async pausedByAdmin(): Promise<boolean> {
    const now = Date.now();
    if (now - this.#pauseReadAt >= PAUSE_READ_MS) {
      this.#pauseReadAt = now;
      this.#paused = (await pausedConnectors(this.#store)).has(this.#id);
    }
    return this.#paused;
  }

  #raise(alert: AlertDraft): void {
    this.#alerts?.report(this.#store.db, alert);
  }
}
