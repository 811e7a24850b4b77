// A vendor's answer checked against the zod schema of what a connector reads from it (each
// connector's responses.ts): an answer that does not match is a typed error naming the call and
// what was unexpected, instead of an undefined field read further on as if it were there.
import type { z } from 'zod';
import { VendorError } from './errors.js';

/** The error code of an answer that does not match its schema. */
export const UNEXPECTED_ANSWER = 'UNEXPECTED_ANSWER';

/**
 * `answer` as `schema` parses it, or a VendorError saying where it differs. Not retryable by
 * default (the same call gets the same answer); `retryable` for a vendor whose odd answers pass
 * (a proxy's page, a partial answer). Only paths and zod's words go into the message, never the
 * answer's values, which may be personal data.
 */
export function checkedAnswer<S extends z.ZodType>(vendor: string, action: string, schema: S, answer: unknown, options: { readonly retryable?: boolean } = {}): z.output<S> {
  const parsed = schema.safeParse(answer);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const at = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : '(answer)';
  const more = parsed.error.issues.length > 1 ? ` (and ${parsed.error.issues.length - 1} more)` : '';
  throw new VendorError(vendor, `${action}: unexpected answer: ${at}: ${issue?.message ?? 'unknown shape'}${more}`, { code: UNEXPECTED_ANSWER, retryable: options.retryable ?? false });
}
