// The Salesforce answers the connector reads, as zod schemas: SalesforceApi.call checks each
// answer against its schema, so an answer of another shape is a typed error naming the call and
// the field (core/vendor-answer.ts), not a crash or a silent "no result". Loose objects: Salesforce
// adds fields between API versions, and only the fields named here are read.
import { z } from 'zod';
import type { PersonRecord } from './mappers.js';

const nullableText = z.string().nullable().optional();

/**
 * One record's result in an sObject Collections create, update or upsert (a SaveResult or
 * UpsertResult), and one create's answer. REST names the error code `statusCode`; jsforce's
 * types say `errorCode`. A DUPLICATES_DETECTED error carries the rule's verdict (DuplicateResult):
 * https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_upsert.htm
 * https://developer.salesforce.com/docs/platform/api/guide/sforce-api-objects-duplicateresult.html
 */
export const recordResult = z.looseObject({
  success: z.boolean(),
  id: z.string().nullable().optional(),
  errors: z
    .array(
      z.looseObject({
        statusCode: z.string().optional(),
        errorCode: z.string().optional(),
        message: z.string(),
        fields: z.array(z.string()).optional(),
        duplicateResult: z.looseObject({ duplicateRule: z.string().optional(), allowSave: z.boolean().optional(), errorMessage: z.string().nullable().optional() }).optional(),
      }),
    )
    .optional(),
});
export type RecordResult = z.infer<typeof recordResult>;

/** A collections call's answer: one result per record sent, in their order (same page as recordResult). */
export const recordResults = z.array(recordResult);

/**
 * A SOQL query's records (GET /query, every page fetched by jsforce):
 * https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_query.htm
 */
function queryResult<Record extends z.ZodType>(record: Record) {
  return z.looseObject({ records: z.array(record) });
}

/** A Lead or Contact as the person queries select it (mappers.personFields); the configured identifier fields come by name. */
const personRecordSchema: z.ZodType<PersonRecord> = z.looseObject({ Id: z.string(), FirstName: nullableText, LastName: nullableText, Phone: nullableText, MobilePhone: nullableText });
export const personRecords = queryResult(personRecordSchema);

/** ContentVersion ids of a file already attached (SELECT Id FROM ContentVersion ...). */
export const contentVersionIds = queryResult(z.looseObject({ Id: z.string() }));

/**
 * GET /sobjects/{object}/describe: the object's and its fields' permissions for the running user
 * (field-level security included), and what setup checks of each field:
 * https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_describesobjects_describesobjectresult.htm
 */
export const describeResult = z.looseObject({
  createable: z.boolean(),
  updateable: z.boolean(),
  fields: z.array(
    z.looseObject({
      name: z.string(),
      type: z.string(),
      createable: z.boolean(),
      updateable: z.boolean(),
      nillable: z.boolean(),
      defaultedOnCreate: z.boolean(),
      externalId: z.boolean().optional(),
      unique: z.boolean().optional(),
      picklistValues: z.array(z.looseObject({ value: z.string(), active: z.boolean().optional() })).nullable().optional(),
    }),
  ),
});
export type DescribeResult = z.infer<typeof describeResult>;

/**
 * GET /limits: the org's allowances; the daily API requests one is read (others are not named):
 * https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_limits.htm
 */
export const orgLimits = z.looseObject({ DailyApiRequests: z.looseObject({ Max: z.number(), Remaining: z.number() }).optional() });

/**
 * POST /services/oauth2/token, for the client-credentials and JWT bearer flows: a token, or an
 * OAuth error. Every field is optional: a refusal is told by the status and `error`.
 * https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_client_credentials_flow.htm
 * https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm
 */
export const tokenAnswer = z.looseObject({
  access_token: z.string().optional(),
  instance_url: z.string().optional(),
  error: z.string().optional(),
  error_description: z.string().optional(),
});
