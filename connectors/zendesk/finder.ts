// Zendesk end users for WhatsApp customers: each found by our external id (the CRM key), else
// by phone (adopting an unlinked user with the same number), else created; new, adopted and
// changed users are written in bulk jobs of up to 100, whose results are matched back by position.
// https://developer.zendesk.com/api-reference/ticketing/users/users/
import type { ExecutionContext, OperationOutcome } from '../../core/connector.js';
import { SyncError, VendorError } from '../../core/errors.js';
import { samePerson } from '../../core/model/phone.js';
import type { ZendeskApi } from './client.js';
import { endUser, endUserUpdate, type UserPayload } from './mappers.js';
import { REF } from './refs.js';
import { jobStatusAnswer, zendeskUsers, type JobResult, type JobStatus, type ZendeskUser } from './responses.js';
import type { ZendeskSettings } from './settings.js';

/** Whether an update would change anything on the user as read (so an unchanged person costs no job). */
function differs(update: Record<string, unknown>, user: ZendeskUser): boolean {
  return Object.entries(update).some(([key, value]) => {
    if (key === 'user_fields') return Object.entries(value as Record<string, unknown>).some(([field, v]) => (user.user_fields?.[field] ?? null) !== v);
    const current: Record<string, unknown> = { ...user };
    return (current[key] ?? null) !== value;
  });
}

/**
 * The result of the job's `index`-th task. Zendesk lists results in request order, with no
 * external_id (https://developer.zendesk.com/api-reference/ticketing/ticket-management/job_statuses/#results,
 * order confirmed at https://support.zendesk.com/hc/en-us/community/posts/4408861015066); an
 * explicit `index` wins where given, and `fits` cross-checks what a result does carry, so a
 * shifted list is refused rather than trusted.
 */
function jobResult(job: JobStatus, index: number, fits: (result: JobResult) => boolean): JobResult | undefined {
  const results = job.results ?? [];
  const result = results.some((r) => r.index !== undefined) ? results.find((r) => r.index === index) : results[index];
  return result && fits(result) ? result : undefined;
}

/** How long an operation waits for a bulk job before retrying later. */
const JOB_WAIT_MS = 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class ZendeskUserFinder {
  readonly #api: ZendeskApi;
  readonly #settings: ZendeskSettings;

  constructor(api: ZendeskApi, settings: ZendeskSettings) {
    this.#api = api;
    this.#settings = settings;
  }

  /**
   * Finds each customer's end user by our external id, else by phone (adopting it), else
   * creates it; new and adopted users are written in bulk jobs of up to 100.
   */
  async upsert(payloads: readonly UserPayload[], context: ExecutionContext): Promise<OperationOutcome[]> {
    const ids = new Map<string, number>();
    const unlinked: UserPayload[] = [];
    const linked: UserPayload[] = [];
    for (const p of payloads) {
      const known = await context.getRef(REF.user, p.contactId);
      if (known) {
        ids.set(p.contactId, Number(known));
        linked.push(p);
      } else unlinked.push(p);
    }
    const adopt: Array<{ payload: UserPayload; user: ZendeskUser }> = [];
    const current = new Map<number, ZendeskUser>();
    const lookups = [...new Set([...linked.map((p) => String(ids.get(p.contactId))), ...unlinked.map((p) => p.crmKey)])];
    if (lookups.length > 0) {
      // Linked users are read by id (their phone and note decide what an update writes), the rest by our key.
      // https://developer.zendesk.com/api-reference/ticketing/users/users/#show-many-users
      if (linked.length > 0) {
        const users = await this.#api.read(context, 'reading linked users', zendeskUsers, (c) =>
          c.users.get(['users', 'show_many', { ids: [...new Set(linked.map((p) => ids.get(p.contactId)!))].join(',') }]),
        );
        for (const user of users) current.set(user.id, user);
      }
      if (unlinked.length > 0) {
        const users = await this.#api.read(context, 'looking up users by WhatsApp id', zendeskUsers, (c) =>
          c.users.get(['users', 'show_many', { external_ids: unlinked.map((p) => p.crmKey).join(',') }]),
        );
        for (const user of users) {
          const payload = unlinked.find((p) => p.crmKey === user.external_id);
          if (payload) {
            ids.set(payload.contactId, user.id);
            linked.push(payload);
            current.set(user.id, user);
          }
        }
      }
      for (const payload of this.#settings.matchExistingByPhone ? unlinked.filter((p) => !ids.has(p.contactId) && p.phone) : []) {
        const phone = payload.phone!;
        // https://developer.zendesk.com/api-reference/ticketing/users/users/#search-users
        const matches = await this.#api.read(context, 'searching users by phone', zendeskUsers, (c) => c.users.get(['users', 'search', { query: `phone:${phone}` }]));
        const user = matches.find((u) => !u.external_id && u.phone && samePerson(u.phone, phone, phone));
        if (user) adopt.push({ payload, user });
      }
    }
    const failures = new Map<string, SyncError>();
    const creates = unlinked.filter((p) => !ids.has(p.contactId) && !adopt.some((a) => a.payload === p));
    if (creates.length > 0) {
      const job = await this.#runJob(context, 'creating users', (c) =>
        c.users.post(['users', 'create_or_update_many'], { users: creates.map((p) => ({ ...endUser(p), role: 'end-user' })) }),
      );
      for (const [index, p] of creates.entries()) {
        const result = jobResult(job, index, (r) => r.external_id === undefined || r.external_id === p.crmKey);
        if (result?.id && result.error === undefined && result.success !== false) ids.set(p.contactId, result.id);
        else if (result) failures.set(p.contactId, new VendorError('zendesk', `end user for a WhatsApp customer refused: ${result.error ?? result.status ?? 'failed'}${result.details ? ` (${result.details})` : ''}`));
        // No result for this position: the job answered for fewer users than it was given; the retry looks them up by external id.
        else failures.set(p.contactId, new VendorError('zendesk', `creating users: job ${job.id} returned no result for one of ${creates.length} users; will look again`, { retryable: true }));
      }
    }
    // Adopted users get our key and identifiers (so the next look-up finds them directly); linked
    // users get the current number, BSUID and username.
    const updates = [
      ...adopt.map((a) => ({ payload: a.payload, user: a.user, adopted: true })),
      ...linked.flatMap((p) => {
        const user = current.get(ids.get(p.contactId)!);
        return user && differs(endUserUpdate(p, user), user) ? [{ payload: p, user, adopted: false }] : [];
      }),
    ];
    if (updates.length > 0) {
      const job = await this.#runJob(context, 'updating users', (c) =>
        c.users.put(['users', 'update_many'], { users: updates.map((u) => ({ id: u.user.id, ...endUserUpdate(u.payload, u.user) })) }),
      );
      for (const [index, u] of updates.entries()) {
        const result = jobResult(job, index, (r) => r.id === undefined || r.id === u.user.id);
        const action = u.adopted ? 'linked' : 'updated';
        if (!result) failures.set(u.payload.contactId, new VendorError('zendesk', `updating users: job ${job.id} returned no result for user ${u.user.id}; will look again`, { retryable: true }));
        else if (result.error || result.success === false) failures.set(u.payload.contactId, new VendorError('zendesk', `user ${u.user.id} could not be ${action}: ${result.error}`));
        else if (u.adopted) {
          ids.set(u.payload.contactId, u.user.id);
          context.log.info({ zendeskUserId: u.user.id, phone: u.payload.phone }, 'adopted an existing Zendesk user with the same phone number');
        }
      }
    }
    const outcomes: OperationOutcome[] = [];
    for (const p of payloads) {
      const failed = failures.get(p.contactId);
      const id = ids.get(p.contactId);
      if (failed || id === undefined) {
        outcomes.push({ ok: false, error: failed ?? new SyncError('zendesk: no user id came back', { retryable: true }) });
        continue;
      }
      await context.setRef(REF.user, p.contactId, String(id));
      outcomes.push({ ok: true, result: { zendeskUserId: id } });
    }
    return outcomes;
  }

  /** Starts a bulk job and waits for it (polling with growing pauses). */
  async #runJob(context: ExecutionContext, action: string, start: Parameters<ZendeskApi['call']>[2]): Promise<JobStatus> {
    const result = await this.#api.read(context, action, jobStatusAnswer, start);
    if (!result.job_status?.id) throw new VendorError('zendesk', `${action}: no job status in the answer`, { retryable: true });
    let job: JobStatus = result.job_status;
    const giveUpAt = Date.now() + JOB_WAIT_MS;
    for (let wait = 250; ; wait = Math.min(wait * 2, 5000)) {
      if (job.status === 'completed') return job;
      if (job.status === 'failed' || job.status === 'killed') throw new VendorError('zendesk', `${action}: job ${job.status}: ${job.message ?? ''}`, { retryable: true });
      // The job may still finish: a retry finds its users by external id.
      if (Date.now() > giveUpAt || context.signal.aborted) throw new VendorError('zendesk', `${action}: job ${job.id} still ${job.status}; will look again`, { retryable: true });
      await sleep(wait);
      const jobId: string = job.id;
      // https://developer.zendesk.com/api-reference/ticketing/ticket-management/job_statuses/#show-job-status
      const polled = await this.#api.read(context, 'checking a job', jobStatusAnswer, (c) => c.jobstatuses.get(['job_statuses', jobId]));
      job = polled.job_status ?? job;
    }
  }
}
