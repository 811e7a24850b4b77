// The WhatsApp Cloud API as a destination: fetches the media of received messages into the
// media directory (content-addressed by SHA-256), so CRM connectors can attach the files, and
// sends agents' replies. The class composes the folder: operations.ts (the declared kinds),
// sender.ts and media.ts (their work), client.ts and responses.ts (the Graph API and the answers
// it reads); webhook.ts parses what WhatsApp delivers.
import type { Connector, ConnectorMetadata, ExecutionContext, GrantedScopes, OperationOutcome } from '../../core/connector.js';
import { resolveTuning } from '../../core/connector.js';
import type { WhatsAppSection } from '../../core/config/schema.js';
import { InvalidPayloadError } from '../../core/errors.js';
import type { ModelChange } from '../../core/model/types.js';
import type { MessageTemplate } from '../../core/outbound/templates.js';
import type { OperationTable } from '../../core/operations.js';
import type { OutboxOperation } from '../../core/outbox/queries.js';
import { CloudApiClient, SEND_BUCKET } from './client.js';
import { toMessageTemplate, toOperationDrafts } from './mappers.js';
import { MediaFetcher } from './media.js';
import { whatsappOperations } from './operations.js';
import { ReplySender } from './sender.js';

export class WhatsAppConnector implements Connector {
  readonly features: string[];
  readonly tuning;
  readonly #client: CloudApiClient;
  readonly #operations: OperationTable;

  constructor(
    readonly metadata: ConnectorMetadata,
    private readonly settings: WhatsAppSection,
    mediaDir: string,
  ) {
    this.features = settings.media.fetch ? ['media', 'send'] : ['send'];
    const tuning = resolveTuning(metadata.defaultTuning, settings.rateLimit);
    this.tuning = {
      ...tuning,
      bucketRateLimits: {
        ...tuning.bucketRateLimits,
        [SEND_BUCKET.number]: { requests: settings.sendLimits.perNumberPerSecond, intervalMs: 1000 },
        [SEND_BUCKET.customer]: { requests: settings.sendLimits.perCustomerPerMinute, intervalMs: 60_000 },
      },
    };
    this.#client = new CloudApiClient(settings.graphBaseUrl.replace(/\/$/, ''), settings.accessToken ?? '');
    this.#operations = whatsappOperations(new ReplySender(this.#client, settings), new MediaFetcher(this.#client, settings, mediaDir));
  }

  /** Asks WhatsApp for a coexistence number's app contacts or chat history (see CloudApiClient.requestAppSync). */
  requestAppSync(context: ExecutionContext, phoneNumberId: string, syncType: 'smb_app_state_sync' | 'history'): Promise<string | null> {
    return this.#client.requestAppSync(context, phoneNumberId, syncType);
  }

  /** The WhatsApp Business Account's templates (whatsapp.businessAccountId); refused without the id. */
  async listTemplates(context: ExecutionContext): Promise<MessageTemplate[]> {
    const account = this.settings.businessAccountId;
    if (!account) throw new InvalidPayloadError('whatsapp.businessAccountId is not set: templates are read from the WhatsApp Business Account (WhatsApp Manager > Account tools > the account id)');
    return (await this.#client.listTemplates(context, account)).map(toMessageTemplate);
  }

  plan(change: ModelChange) {
    return toOperationDrafts(change, { fetchMedia: this.settings.media.fetch });
  }

  execute(operations: readonly OutboxOperation[], context: ExecutionContext): Promise<OperationOutcome[]> {
    return this.#operations.execute(operations, context);
  }

  /** Nothing to look up before a retry (see operations.ts). */
  reconcile(operation: OutboxOperation, context: ExecutionContext): Promise<OperationOutcome | undefined> {
    return this.#operations.reconcile(operation, context);
  }

  async grantedScopes(context: ExecutionContext): Promise<GrantedScopes> {
    return this.#client.tokenScopes(context);
  }
}
