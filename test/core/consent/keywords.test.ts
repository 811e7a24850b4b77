// Consent keywords count only as the whole message: case, accents, separators and surrounding
// punctuation do not matter; a word inside a sentence never opts anyone out.
import { describe, expect, it } from 'vitest';
import { consentFromWords, normaliseWords } from '../../../core/consent/keywords.js';
import { DEFAULT_OPT_IN_KEYWORDS, DEFAULT_OPT_IN_PAYLOADS, DEFAULT_OPT_OUT_KEYWORDS, DEFAULT_OPT_OUT_PAYLOADS } from '../../../core/config/schema.js';

const keywords = { optOut: DEFAULT_OPT_OUT_KEYWORDS, optIn: DEFAULT_OPT_IN_KEYWORDS, optOutPayloads: DEFAULT_OPT_OUT_PAYLOADS, optInPayloads: DEFAULT_OPT_IN_PAYLOADS };
const text = (t: string) => consentFromWords({ text: t, payload: null }, keywords)?.status ?? null;

describe('consent keywords', () => {
  it.each(['STOP', 'stop', '  Stop  ', 'Stop!', 'STOP.', '🛑 stop', 'Arrêt', 'ARRET', 'stopp', 'Baja', 'opt-out', 'OPT OUT', 'unsubscribe', 'PARAR'])('"%s" opts out', (t) => {
    expect(text(t)).toBe('opted_out');
  });

  it.each(['START', 'start', 'Unstop', 'subscribe!', 'opt_in'])('"%s" opts in', (t) => {
    expect(text(t)).toBe('opted_in');
  });

  it.each(["please don't stop", 'stop sending me promos please', 'STOPPED', 'nonstop', 'can you stop?!', 'start over', 'I want to unsubscribe', ''])('"%s" changes nothing', (t) => {
    expect(text(t)).toBeNull();
  });

  it('matches a button payload exactly (after folding), before the visible text', () => {
    expect(consentFromWords({ text: 'Yes please', payload: 'OPT_OUT' }, keywords)).toEqual({ status: 'opted_out', by: 'payload' });
    expect(consentFromWords({ text: 'Stop', payload: 'ORDER_42' }, keywords)).toEqual({ status: 'opted_out', by: 'text' });
    expect(consentFromWords({ text: 'Stop reminders', payload: 'STOP_REMINDERS' }, keywords)).toBeNull();
    expect(consentFromWords({ text: 'Stop reminders', payload: 'STOP_REMINDERS' }, { ...keywords, optOutPayloads: ['stop_reminders'] })?.status).toBe('opted_out');
  });

  it('folds accents, case and separators, and drops punctuation at the ends only', () => {
    expect(normaliseWords('  ArRÊT!! ')).toBe('arret');
    expect(normaliseWords('opt--out')).toBe('opt out');
    expect(normaliseWords("don't stop")).toBe("don't stop");
  });
});
