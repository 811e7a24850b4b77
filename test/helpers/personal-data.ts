// What a service's own output (its stdout and stderr, as an admin's log shipper would collect
// them) must never hold in clear: customers' numbers in any written form, their names, the
// texts they and the agents wrote, and secrets.
import { expect } from 'vitest';

export interface PersonalData {
  /** Customers' numbers as digits with the country code (E.164 without "+"). */
  readonly phones?: readonly string[];
  /** Other values that must not appear as given: names, message texts, file names, secrets. */
  readonly values?: readonly string[];
}

/**
 * Fails naming the value and the line it leaked in. A number is looked for by its national
 * part (the digits after a 1-3 digit country code show up in every written form of it) and as
 * typed with spaces or dashes in its last seven digits.
 */
export function expectNoPersonalData(output: string, data: PersonalData): void {
  expect(output.length, 'the service wrote no output at all: nothing was checked').toBeGreaterThan(0);
  const leaks: string[] = [];
  const lineWith = (needle: string) => output.split('\n').find((l) => l.includes(needle))?.slice(0, 300) ?? '';
  for (const phone of data.phones ?? []) {
    const national = phone.slice(-9);
    const last7 = phone.slice(-7);
    for (const form of [national, `${last7.slice(0, 3)}-${last7.slice(3)}`, `${last7.slice(0, 3)} ${last7.slice(3)}`]) {
      if (output.includes(form)) leaks.push(`phone ${phone} as "${form}": ${lineWith(form)}`);
    }
  }
  for (const value of data.values ?? []) {
    if (output.includes(value)) leaks.push(`"${value}": ${lineWith(value)}`);
  }
  expect(leaks, 'personal data or secrets in the service output').toEqual([]);
}
