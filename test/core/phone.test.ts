import { describe, expect, it } from 'vitest';
import { maskPhone, numberVariants, samePerson, toE164, writtenForms } from '../../core/model/phone.js';

describe('phone numbers', () => {
  it('normalises WhatsApp ids and written numbers to E.164', () => {
    expect(toE164('16505551234')).toBe('+16505551234');
    expect(toE164('+1 (650) 555-1234')).toBe('+16505551234');
    expect(toE164('0044 20 7946 0958')).toBe('+442079460958');
    expect(toE164('not a number')).toBeUndefined();
    expect(toE164('12')).toBeUndefined();
  });

  it('treats a Brazilian number with and without the ninth digit as one person', () => {
    expect(numberVariants('+551187654321')).toContain('+5511987654321');
    expect(numberVariants('+5511987654321')).toContain('+551187654321');
    expect(samePerson('551187654321', '+55 11 98765-4321')).toBe(true);
    // Landlines (subscriber starting 2-5) have no ninth-digit variant.
    expect(numberVariants('+551132654321')).toEqual(['+551132654321']);
  });

  it('treats Mexican and Argentine mobile prefixes as optional', () => {
    expect(numberVariants('+5215512345678')).toContain('+525512345678');
    expect(numberVariants('+5491123456789')).toContain('+541123456789');
  });

  it('lists the common written forms of a number for CRM matching', () => {
    const forms = writtenForms('+16505551234');
    expect(forms).toEqual(expect.arrayContaining(['+16505551234', '16505551234', '+1 650 555 1234', '(650) 555-1234']));
  });

  it('matches a national number against a reference country', () => {
    expect(samePerson('(650) 555-1234', '+16505551234')).toBe(false);
    expect(samePerson('+1 650 555 1234', '+16505551234')).toBe(true);
  });

  it('reads national numbers with the reference number\'s calling code, even in ranges with no country', () => {
    expect(samePerson('07700 900000', '+447700900000', '+447700900000')).toBe(true);
    expect(samePerson('(650) 555-1234', '+16505551234', '+16505551234')).toBe(true);
    expect(samePerson('(650) 555-1299', '+16505551234', '+16505551234')).toBe(false);
  });

  it('masks numbers for logs', () => {
    expect(maskPhone('+16505551234')).toBe('+16*******34');
    expect(maskPhone('16505551234')).not.toContain('5551');
  });
});
