// Calendar days in a named time zone, for allowances that a vendor resets at its own midnight
// (say, an account's configured zone) rather than at UTC's. Node's Intl knows every IANA zone,
// daylight saving included, so no zone data of our own is needed.

const HOUR = 3_600_000;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    // hourCycle h23: midnight reads 00, not 24.
    formatter = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** Whether Intl knows this zone name (e.g. "America/New_York", "US/Eastern", "UTC"). */
export function isKnownTimeZone(timeZone: string): boolean {
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The wall-clock time in `timeZone` at `instant`, read as if it were UTC (so offsets are differences). */
function wallClock(instant: number, timeZone: string): { asUtc: number; year: number; month: number; day: number } {
  const parts = Object.fromEntries(formatterFor(timeZone).formatToParts(new Date(instant)).map((p) => [p.type, p.value]));
  const [year, month, day] = [Number(parts['year']), Number(parts['month']), Number(parts['day'])];
  const asUtc = Date.UTC(year, month - 1, day, Number(parts['hour']), Number(parts['minute']), Number(parts['second']));
  return { asUtc, year, month, day };
}

/** The instant the calendar day holding `instant` began in `timeZone` (its local midnight). */
export function dayStartIn(instant: number, timeZone = 'UTC'): number {
  const { year, month, day } = wallClock(instant, timeZone);
  const midnightAsUtc = Date.UTC(year, month - 1, day);
  // The zone's offset near midnight; twice, since the offset at our first guess may differ (DST).
  let guess = midnightAsUtc;
  for (let i = 0; i < 2; i++) guess = midnightAsUtc - (wallClock(guess, timeZone).asUtc - guess);
  return guess;
}

/** The instant the next calendar day begins in `timeZone`, after the one holding `instant`. */
export function nextDayStartIn(instant: number, timeZone = 'UTC'): number {
  // A day lasts 23 to 25 hours: 26 hours after this day's start always falls in the next one.
  return dayStartIn(dayStartIn(instant, timeZone) + 26 * HOUR, timeZone);
}
