// How a message that points at another one reads in every CRM: a reaction quotes what it reacts
// to, a reply (text, or a tapped button or list option) what it answers. Pure: the engine looks
// the referenced message up in the store (by its id, e.g. a wamid) and hands it in, so every
// connector shows the same words from the message text alone.
import type { Message } from './types.js';

/** The referenced message, as the store holds it; undefined when it never reached us. */
export type ReferencedMessage = Pick<Message, 'text' | 'direction' | 'warnings'>;

/** What a message says about the one it points at. */
export interface ReferencingMessage {
  readonly type: Message['type'];
  /** The message as rendered on its own (e.g. `[reaction 👍]`, `[button reply] Confirm`). */
  readonly text: string;
  /** The id of the message it replies or reacts to. */
  readonly replyToId: string | null;
}

const QUOTE_CHARS = 100;
/** Types whose whole content is a choice among options the business offered: the question is quoted after it. */
const ANSWERS = new Set<Message['type']>(['interactive', 'button']);
/** The note explainReference puts in front of a reply, so quoting a reply quotes its own words. */
const REPLY_PREFIX = /^\(in reply to (?:an earlier message that is not in this record|(?:our|the customer's) message (?:"[^\n]*?"|\(a message with a suspicious link, see above\)))\) /;

function whose(referenced: ReferencedMessage): string {
  return referenced.direction === 'outbound' ? 'our message' : "the customer's message";
}

/**
 * A short quote of a message: its first 100 characters on one line, without the note of what it
 * itself replied to. A message flagged for a suspicious link is not quoted (the link would travel
 * without its warning); the reader is pointed to the message instead.
 */
export function quoteOf(referenced: ReferencedMessage): string {
  if (referenced.warnings.includes('suspicious_link')) return '(a message with a suspicious link, see above)';
  const flat = referenced.text.replace(REPLY_PREFIX, '').replace(/\s+/g, ' ').trim();
  const short = flat.length > QUOTE_CHARS ? `${flat.slice(0, QUOTE_CHARS - 1)}…` : flat;
  return `"${short}"`;
}

/**
 * The text a message is shown with, its reference explained: `[reaction 👍] to our message "…"`
 * (or `[reaction removed] from …`), `[button reply] Yes (answering our message "…")`, and
 * `(in reply to the customer's message "…") text` for other replies. A reference to a message we
 * never received says so, rather than quoting nothing.
 */
export function explainReference(message: ReferencingMessage, referenced: ReferencedMessage | undefined): string {
  if (!message.replyToId) return message.text;
  if (message.type === 'reaction') {
    const preposition = message.text.startsWith('[reaction removed') ? 'from' : 'to';
    return referenced ? `${message.text} ${preposition} ${whose(referenced)} ${quoteOf(referenced)}` : `${message.text} ${preposition} a message that is not in this record`;
  }
  if (ANSWERS.has(message.type)) return referenced ? `${message.text} (answering ${whose(referenced)} ${quoteOf(referenced)})` : message.text;
  return referenced ? `(in reply to ${whose(referenced)} ${quoteOf(referenced)}) ${message.text}` : `(in reply to an earlier message that is not in this record) ${message.text}`;
}
