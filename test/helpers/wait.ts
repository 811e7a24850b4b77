// Waiting in tests on what can be observed, never on a guessed sleep.
/**
 * For a negative check: `condition` holds at every look for `quietMs` (fails at the first look it
 * does not). Call it once whatever would break it has had its chance to start (an observable
 * condition first, e.g. the work is queued), so the quiet period is a bound, not a guess.
 */
export async function holdsFor(condition: () => boolean | Promise<boolean>, quietMs: number, what: string): Promise<void> {
  const until = Date.now() + quietMs;
  do {
    if (!(await condition())) throw new Error(`no longer true: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  } while (Date.now() < until);
}
