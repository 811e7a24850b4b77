// Phone numbers: WhatsApp ids to E.164, the variants one person's number can take,
// the formats CRMs store them in, and masking for logs.
import { parsePhoneNumberFromString } from 'libphonenumber-js';

/** A phone number in E.164 form, e.g. `+16505551234`. */
export type E164 = `+${string}`;

const DIGITS = /^\d{7,15}$/;

/**
 * Normalises a WhatsApp id (`16505551234`) or any written phone number with its country code
 * to E.164. Returns undefined when the input holds no plausible international number.
 */
export function toE164(input: string): E164 | undefined {
  const trimmed = input.trim();
  if (trimmed === '') return undefined;
  const withPlus = trimmed.startsWith('+') || trimmed.startsWith('00') ? trimmed.replace(/^00/, '+') : `+${trimmed}`;
  const parsed = parsePhoneNumberFromString(withPlus);
  if (parsed?.isPossible()) return parsed.number as E164;
  // WhatsApp ids are digits with the country code; keep numbers libphonenumber does not know
  // (new ranges, test numbers) rather than losing the contact.
  const digits = withPlus.replace(/[^\d]/g, '');
  return DIGITS.test(digits) ? (`+${digits}` as E164) : undefined;
}

/**
 * The E.164 forms under which one WhatsApp user can appear. WhatsApp ids keep historic
 * mobile formats: Brazil's ninth digit may be absent, Mexico's mobile `1` after +52 and
 * Argentina's mobile `9` after +54 may be present or not.
 */
export function numberVariants(e164: E164): E164[] {
  const digits = e164.slice(1);
  const variants = new Set<string>([digits]);
  if (digits.startsWith('55')) {
    const national = digits.slice(2);
    const area = national.slice(0, 2);
    const subscriber = national.slice(2);
    if (national.length === 10 && /^[6-9]/.test(subscriber)) variants.add(`55${area}9${subscriber}`);
    if (national.length === 11 && subscriber.startsWith('9') && /^[6-9]/.test(subscriber.slice(1))) {
      variants.add(`55${area}${subscriber.slice(1)}`);
    }
  } else if (digits.startsWith('52')) {
    const national = digits.slice(2);
    if (national.length === 11 && national.startsWith('1')) variants.add(`52${national.slice(1)}`);
    if (national.length === 10) variants.add(`521${national}`);
  } else if (digits.startsWith('54')) {
    const national = digits.slice(2);
    if (national.startsWith('9') && national.length === 11) variants.add(`54${national.slice(1)}`);
    if (!national.startsWith('9') && national.length === 10) variants.add(`549${national}`);
  }
  return [...variants].map((d) => `+${d}` as E164);
}

/**
 * Ways the same number is commonly written in a CRM's free-text phone field,
 * for matching existing records: E.164, digits only, international and national formats.
 */
export function writtenForms(e164: E164): string[] {
  const forms = new Set<string>();
  for (const variant of numberVariants(e164)) {
    forms.add(variant);
    forms.add(variant.slice(1));
    forms.add(`00${variant.slice(1)}`);
    const parsed = parsePhoneNumberFromString(variant);
    if (parsed) {
      forms.add(parsed.formatInternational());
      forms.add(parsed.formatNational());
      forms.add(parsed.nationalNumber);
      forms.add(parsed.formatInternational().replace(/\s/g, '-'));
    }
  }
  return [...forms];
}

/** True when two written phone numbers denote the same WhatsApp user. */
export function samePerson(a: string, b: string, defaultCountryE164?: E164): boolean {
  const ea = toE164Loose(a, defaultCountryE164);
  const eb = toE164Loose(b, defaultCountryE164);
  if (!ea || !eb) return false;
  const va = new Set(numberVariants(ea));
  return numberVariants(eb).some((v) => va.has(v));
}

/** Like toE164, but a national number (no country code) takes the country of `reference`. */
export function toE164Loose(input: string, reference?: E164): E164 | undefined {
  const trimmed = input.trim();
  if (trimmed.startsWith('+') || trimmed.startsWith('00')) return toE164(trimmed);
  if (reference) {
    // The calling code, not the country: some ranges (e.g. UK drama numbers) have no country.
    const callingCode = parsePhoneNumberFromString(reference)?.countryCallingCode;
    if (callingCode) {
      const parsed = parsePhoneNumberFromString(trimmed, { defaultCallingCode: callingCode });
      if (parsed?.isPossible()) return parsed.number as E164;
    }
  }
  return toE164(trimmed);
}

/** `+16505551234` → `+16*******34`: enough to tell numbers apart in logs, not to dial them. */
export function maskPhone(value: string): string {
  const digits = value.replace(/[^\d]/g, '');
  if (digits.length < 5) return '***';
  return `+${digits.slice(0, 2)}${'*'.repeat(digits.length - 4)}${digits.slice(-2)}`;
}
