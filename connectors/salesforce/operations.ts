// The Salesforce operation kinds, declared (core/operations.ts): each with the schema of its
// payload, its batch size and its handler. People and Tasks go in sObject Collections calls of up
// to 200 records, which name each record once (a person's two updates go in turn); files a few
// uploads at a time; consent, window and failed-send writes one at a time:
// https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_upsert.htm
//
// No kind declares a reconcile. Leads, Contacts and Tasks are upserts on External ID + Unique
// fields (setup refuses keys without `unique`), so the upsert itself looks the record up by its
// external key and updates it rather than creating another:
// https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_upsert.htm
// Files (ContentVersion) carry no external id: each attempt queries by Title and the Task they
// are published to before creating (SalesforceWriter.attachFile), once an upload whose answer was
// lost can no longer land. Consent and window writes set the same fields again.
import { CONSENT_KIND, consentPayloadSchema } from '../../core/consent/operation.js';
import { SyncError } from '../../core/errors.js';
import { contactIdentityPayloadSchema } from '../../core/model/identity.js';
import { WINDOW_KIND, windowPayloadSchema } from '../../core/outbound/window.js';
import { declareKind, OperationTable } from '../../core/operations.js';
import type { SalesforceApi } from './client.js';
import { writeSalesforceConsent } from './consent.js';
import { BATCH_SIZE, KIND, activityPayload, failedSendPayload, mediaFilePayload } from './mappers.js';
import type { SalesforceSettings } from './settings.js';
import { writeSalesforceWindow } from './window.js';
import type { SalesforceWriter } from './writer.js';

/** The table: runs of several customers written in segments, `parallelCalls` calls at once (the connector's concurrency). */
export function salesforceOperations(api: SalesforceApi, settings: SalesforceSettings, writer: SalesforceWriter, parallelCalls: number): OperationTable {
  return new OperationTable(
    [
      declareKind({
        kind: KIND.person,
        payload: contactIdentityPayloadSchema,
        batchSize: BATCH_SIZE[KIND.person],
        recordOf: (payload) => payload.contactId,
        handleBatch: (operations, context) => writer.upsertPeople(operations.map((op) => op.payload), context),
      }),
      declareKind({ kind: KIND.activity, payload: activityPayload, batchSize: BATCH_SIZE[KIND.activity], handleBatch: (operations, context) => writer.logActivity(operations.map((op) => op.payload), context) }),
      declareKind({ kind: KIND.media, payload: mediaFilePayload, batchSize: BATCH_SIZE[KIND.media], handle: (op, context) => writer.attachFile(op.payload, context) }),
      declareKind({ kind: CONSENT_KIND, payload: consentPayloadSchema, handle: (op, context) => writeSalesforceConsent(api, settings, op.payload, op.idempotencyKey, context) }),
      declareKind({ kind: KIND.failedSend, payload: failedSendPayload, handle: (op, context) => writer.noteFailedSend(op.payload, context) }),
      declareKind({
        kind: WINDOW_KIND,
        payload: windowPayloadSchema,
        handle: (op, context) => {
          const field = settings.windowOpenUntilField;
          if (!field) throw new SyncError('salesforce: a customer service window write is queued but connectors.salesforce.windowOpenUntilField is null; set it again or discard the operation');
          return writeSalesforceWindow(api, settings, field, op.payload, context);
        },
      }),
    ],
    { segmented: { parallelCalls } },
  );
}
