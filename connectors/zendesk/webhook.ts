// Parses a stored Zendesk webhook call (the setup trigger's body) into a helpdesk event: the
// ticket changed, go and read its new comments. Pure; anything else is a problem, kept and flagged.
import { z } from 'zod';
import type { ParsedDelivery } from '../../core/model/types.js';

const triggerBody = z.looseObject({
  ticket_id: z.union([z.string().regex(/^\d+$/), z.number().int().positive()]),
  external_id: z.string().nullish(),
});

export function parseZendeskDelivery(body: string): ParsedDelivery {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { events: [], problems: ['zendesk webhook body is not JSON'] };
  }
  const parsed = triggerBody.safeParse(json);
  if (!parsed.success) return { events: [], problems: [`zendesk webhook body lacks ticket_id: ${parsed.error.issues[0]?.message ?? 'unknown shape'}`] };
  const threadId = parsed.data.external_id?.trim() || null;
  return { events: [{ kind: 'helpdesk', connector: 'zendesk', recordId: String(parsed.data.ticket_id), threadId }], problems: [] };
}
