// Salesforce: each WhatsApp customer as a Lead or Contact (the admin's choice), matched to the
// record the org already has, and each conversation thread as one Task kept up to date by
// upsert on an external id. A burst costs few calls: records go in sObject Collections of 200,
// and a thread's Task is rewritten once for all messages that arrived before it was written.
// The class composes the folder: operations.ts (the declared kinds), writer.ts and finder.ts
// (record writes and matching), setup.ts (setup and permissions), client.ts and responses.ts
// (the API and the answers it reads).
import type { Connector, ConnectorMetadata, ExecutionContext, GrantedScopes, OperationOutcome, VendorRecordLink } from '../../core/connector.js';
import { resolveTuning } from '../../core/connector.js';
import { consentDrafts } from '../../core/consent/operation.js';
import type { ModelChange } from '../../core/model/types.js';
import { DEFAULT_WINDOW_WRITE_SETTLE_MS, windowDrafts } from '../../core/outbound/window.js';
import type { OperationTable } from '../../core/operations.js';
import type { OutboxOperation } from '../../core/outbox/queries.js';
import { SalesforceApi } from './client.js';
import { REF, toOperationDrafts } from './mappers.js';
import { salesforceOperations } from './operations.js';
import type { SalesforceSettings } from './settings.js';
import { SalesforceSetup } from './setup.js';
import { SalesforceWriter } from './writer.js';

export class SalesforceConnector implements Connector {
  readonly features = ['records', 'activity'];
  readonly tuning;
  readonly #settings: SalesforceSettings;
  readonly #windowWriteSettleMs: number;
  readonly #operations: OperationTable;
  readonly #setup: SalesforceSetup;

  constructor(
    readonly metadata: ConnectorMetadata,
    settings: SalesforceSettings,
    windowWriteSettleMs = DEFAULT_WINDOW_WRITE_SETTLE_MS,
  ) {
    this.#settings = settings;
    this.#windowWriteSettleMs = windowWriteSettleMs;
    this.tuning = resolveTuning(metadata.defaultTuning, settings.rateLimit);
    const api = new SalesforceApi(settings);
    this.#operations = salesforceOperations(api, settings, new SalesforceWriter(api, settings), this.tuning.concurrency);
    this.#setup = new SalesforceSetup(api, settings);
  }

  /**
   * Records open on their Lightning record page, `/lightning/r/{objectApiName}/{recordId}/view`
   * (the standard__recordPage URL format):
   * https://developer.salesforce.com/docs/atlas.en-us.220.0.lightning.meta/lightning/components_navigation_page_definitions.htm
   */
  describeRecord(kind: string, externalId: string): VendorRecordLink | undefined {
    const object = kind === REF.person ? this.#settings.target : kind === REF.task ? 'Task' : undefined;
    if (!object || !this.#settings.instanceUrl) return object ? { label: `${object} ${externalId}` } : undefined;
    return { label: `${object} ${externalId}`, url: `${this.#settings.instanceUrl.replace(/\/$/, '')}/lightning/r/${object}/${encodeURIComponent(externalId)}/view` };
  }

  plan(change: ModelChange) {
    return [
      ...toOperationDrafts(change, { mediaFiles: this.#settings.mediaFiles }),
      ...consentDrafts(change),
      ...(this.#settings.windowOpenUntilField ? windowDrafts(change, this.#windowWriteSettleMs) : []),
    ];
  }

  /**
   * Heads of several customers in one collections call per kind; one customer's run (their
   * record, messages, files in queue order) as consecutive same-kind calls, stopping at the first
   * that fails: a run of messages of one thread is one Task upsert.
   */
  execute(operations: readonly OutboxOperation[], context: ExecutionContext): Promise<OperationOutcome[]> {
    return this.#operations.execute(operations, context);
  }

  /** Before a write that may have reached Salesforce runs again: no kind has a lookup to make (see operations.ts). */
  reconcile(operation: OutboxOperation, context: ExecutionContext): Promise<OperationOutcome | undefined> {
    return this.#operations.reconcile(operation, context);
  }

  requiredScopes(): string[] {
    return this.#setup.requiredScopes();
  }

  grantedScopes(context: ExecutionContext): Promise<GrantedScopes> {
    return this.#setup.grantedScopes(context);
  }

  setup(context: ExecutionContext): Promise<string[]> {
    return this.#setup.setup(context);
  }
}
