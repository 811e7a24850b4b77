// Setup and permissions: what the configuration needs of the org (objects, fields, external ids,
// required fields) checked through describe, with what to create or tick when it is missing, and
// the running user's object and field permissions.
import type { ExecutionContext, GrantedScopes } from '../../core/connector.js';
import { VendorError } from '../../core/errors.js';
import type { SalesforceApi } from './client.js';
import { consentFieldProblems } from './consent.js';
import { mappedFields, writtenFields } from './mappers.js';
import { describeResult, orgLimits, type DescribeResult } from './responses.js';
import type { SalesforceSettings } from './settings.js';
import { windowFieldProblems } from './window.js';

export class SalesforceSetup {
  readonly #api: SalesforceApi;
  readonly #settings: SalesforceSettings;

  constructor(api: SalesforceApi, settings: SalesforceSettings) {
    this.#api = api;
    this.#settings = settings;
  }

  /** Object and field permissions this configuration needs, as `Object.create`, `Object.Field.update`... */
  requiredScopes(): string[] {
    const scopes: string[] = [];
    for (const [object, fields] of Object.entries(writtenFields(this.#settings))) {
      scopes.push(`${object}.create`, `${object}.update`);
      for (const field of fields) scopes.push(`${object}.${field}.create`, `${object}.${field}.update`);
    }
    return scopes;
  }

  /** The running user's object and field permissions, from describe (which reflects field-level security). */
  async grantedScopes(context: ExecutionContext): Promise<GrantedScopes> {
    const granted: string[] = [];
    for (const object of Object.keys(writtenFields(this.#settings))) {
      const describe = await this.#describe(context, object);
      if (describe.createable) granted.push(`${object}.create`);
      if (describe.updateable) granted.push(`${object}.update`);
      for (const field of describe.fields) {
        if (field.createable) granted.push(`${object}.${field.name}.create`);
        if (field.updateable) granted.push(`${object}.${field.name}.update`);
      }
    }
    const limits = await this.#api.call(context, 'reading the org limits', orgLimits, (c) => c.limits());
    const daily = limits.DailyApiRequests;
    if (daily) context.reportQuota(daily.Remaining, daily.Max);
    // Only what we need is worth listing: every other field would read as over-privilege.
    const wanted = new Set(this.requiredScopes());
    return granted.filter((s) => wanted.has(s));
  }

  /**
   * Checks that both external-id fields exist as external ids and that every field the org
   * requires on create gets a value; says exactly what to create or configure when not.
   */
  async setup(context: ExecutionContext): Promise<string[]> {
    const problems: string[] = [];
    const target = this.#settings.target;
    const described = new Map<string, DescribeResult>();
    const describeOnce = async (object: string) => described.get(object) ?? described.set(object, await this.#describe(context, object)).get(object)!;
    // The identifiers people read and search by: plain text fields (a BSUID and a username change, so no external id).
    for (const [field, label, setting] of [
      [this.#settings.bsuidField, 'WhatsApp BSUID', 'bsuidField'],
      [this.#settings.usernameField, 'WhatsApp Username', 'usernameField'],
    ] as const) {
      const describe = await describeOnce(target);
      if (!describe.fields.some((f) => f.name === field)) {
        problems.push(
          `${target}.${field} does not exist: in Setup > Object Manager > ${target} > Fields & Relationships > New, create a Text(255) field labelled "${label}" with API name ${field.replace(/__c$/, '')} (or set connectors.salesforce.${setting} to a field you have)`,
        );
      }
    }
    for (const [object, field, label] of [
      [target, this.#settings.externalIdField, 'WhatsApp Id'],
      ['Task', this.#settings.taskExternalIdField, 'WhatsApp Thread Id'],
    ] as const) {
      const describe = await describeOnce(object);
      const found = describe.fields.find((f) => f.name === field);
      if (!found) {
        problems.push(
          `${object}.${field} does not exist: in Setup > Object Manager > ${object === 'Task' ? 'Activity' : object} > Fields & Relationships > New, create a Text(255) field labelled "${label}" with API name ${field.replace(/__c$/, '')}, ticking "External ID" and "Unique"`,
        );
      } else if (!found.externalId) {
        problems.push(`${object}.${field} exists but is not an External ID: edit the field and tick "External ID" (and "Unique")`);
      } else if (!found.unique) {
        // Without "Unique", an upsert can match several records (HTTP 300) and, for users without
        // View All Data, miss records they cannot see and create a second one: no exactly-once.
        // Salesforce does not document whether an Activity field can be both External ID and
        // Unique, so we check describe's `unique` rather than assume, and refuse to run without it
        // (a query-then-write path would race the same way). Describe's fields:
        // https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_describesobjects_describesobjectresult.htm
        problems.push(
          `${object}.${field} is an External ID but not Unique, so writes keyed on it are not exactly once: edit the field and tick "Unique" (if Salesforce does not offer it on this object, create the field again with both ticked)`,
        );
      }
      if (object === target) {
        const covered = new Set([...mappedFields(this.#settings), ...Object.keys(this.#settings.defaults)]);
        const required = describe.fields.filter((f) => f.createable && !f.nillable && !f.defaultedOnCreate && f.type !== 'boolean' && !covered.has(f.name));
        for (const f of required) {
          problems.push(`${object}.${f.name} is required by the org on create: set connectors.salesforce.defaults.${f.name} to the value new records should get`);
        }
      }
    }
    problems.push(...consentFieldProblems((await describeOnce(target)).fields, this.#settings));
    if (this.#settings.windowOpenUntilField) problems.push(...windowFieldProblems((await describeOnce(target)).fields, target, this.#settings.windowOpenUntilField));
    if (problems.length > 0) throw new VendorError('salesforce', problems.join('; '));
    return [];
  }

  async #describe(context: ExecutionContext, object: string): Promise<DescribeResult> {
    return this.#api.call(context, `describing ${object}`, describeResult, (c) => c.describe(object));
  }
}
