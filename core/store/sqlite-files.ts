// The files of a SQLite store on disk: the store itself, and the intake file beside it
// (core/store/intake.ts), each with the two keeps SQLite writes next to it.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

/** The store file and the two SQLite keeps beside it (they hold the same data). */
export function sqliteFiles(path: string): string[] {
  return [path, `${path}-wal`, `${path}-shm`];
}

/** Where the service keeps the webhooks it acknowledged and processing has not yet taken in, for the store at `storePath`. */
export function intakeFileOf(storePath: string): string {
  return `${storePath}-intake`;
}

/**
 * The store holds message texts, phone numbers and session tokens: its folder is the owner's
 * alone (0700) and its files too (0600). SQLite gives the -wal and -shm files the database file's
 * mode, so the file is made 0600 before SQLite opens it; files of an older store are tightened.
 */
export function restrictSqliteFiles(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
  for (const file of sqliteFiles(path)) if (existsSync(file)) chmodSync(file, 0o600);
}
