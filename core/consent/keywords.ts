// Opt-out and opt-in words a customer writes, and quick-reply button payloads they tap, turned
// into a consent change. Pure: the engine passes the configured lists in. A word counts only as
// the whole message ("STOP", " stop! "), never inside a sentence ("please don't stop").
import type { ConsentStatus, CustomerWords } from './types.js';

export type { CustomerWords } from './types.js';

export interface ConsentKeywords {
  readonly optOut: readonly string[];
  readonly optIn: readonly string[];
  readonly optOutPayloads: readonly string[];
  readonly optInPayloads: readonly string[];
}

/**
 * The form words are compared in: accents folded (ARRÊT = ARRET), case folded, separators
 * (spaces, hyphens, underscores) as one space, punctuation and symbols at either end dropped
 * ("Stop!", "STOP." and "🛑 stop" are STOP), so people's habits match without a list of spellings.
 */
export function normaliseWords(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLocaleLowerCase('und')
    .replace(/[\s_-]+/gu, ' ')
    .replace(/^[\s\p{P}\p{S}]+|[\s\p{P}\p{S}]+$/gu, '');
}

/**
 * Each configured list in normalised form, made once per list: the lists hold the common words of
 * several languages, and normalising all of them for every message took 7 % of processing's CPU
 * under load (issue 26). Keyed by the list itself, so a reloaded config's new lists are normalised anew.
 */
const normalisedLists = new WeakMap<readonly string[], ReadonlySet<string>>();

function normalisedList(list: readonly string[]): ReadonlySet<string> {
  let set = normalisedLists.get(list);
  if (!set) normalisedLists.set(list, (set = new Set(list.map(normaliseWords))));
  return set;
}

/** The consent a message states, or null: payloads first (a button is unambiguous), then the whole text. */
export function consentFromWords(words: CustomerWords, keywords: ConsentKeywords): { readonly status: ConsentStatus; readonly by: 'payload' | 'text' } | null {
  const matches = (value: string | null, list: readonly string[]) => {
    if (value === null) return false;
    const normalised = normaliseWords(value);
    return normalised !== '' && normalisedList(list).has(normalised);
  };
  if (matches(words.payload, keywords.optOutPayloads)) return { status: 'opted_out', by: 'payload' };
  if (matches(words.payload, keywords.optInPayloads)) return { status: 'opted_in', by: 'payload' };
  if (matches(words.text, keywords.optOut)) return { status: 'opted_out', by: 'text' };
  if (matches(words.text, keywords.optIn)) return { status: 'opted_in', by: 'text' };
  return null;
}
