// Authenticated encryption under a passphrase, for backups and for secrets kept in the store:
// AES-256-GCM with a key derived by scrypt from the passphrase and a random salt. A sealed value
// is `magic | salt | iv | ciphertext | tag`; the magic, salt and iv are authenticated too, so
// a value cannot be passed off as another kind or have its header swapped.
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { readFile } from 'node:fs/promises';

const SALT_BYTES = 16;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Passphrases shorter than this are refused: they would be the weak link. */
export const MIN_PASSPHRASE_LENGTH = 16;

function keyFrom(passphrase: string, salt: Buffer): Buffer {
  return scryptSync(passphrase, salt, 32, { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
}

export function seal(passphrase: string, magic: Buffer, plain: Buffer): Buffer {
  const salt = randomBytes(SALT_BYTES);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyFrom(passphrase, salt), iv);
  cipher.setAAD(Buffer.concat([magic, salt, iv]));
  return Buffer.concat([magic, salt, iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
}

/** Whether `sealed` starts with `magic` and is long enough to be a sealed value at all. */
export function looksSealed(sealed: Buffer, magic: Buffer): boolean {
  return sealed.length >= magic.length + SALT_BYTES + IV_BYTES + TAG_BYTES && sealed.subarray(0, magic.length).equals(magic);
}

/** The plain bytes, or undefined when the passphrase is wrong or the value was altered. */
export function unseal(passphrase: string, magic: Buffer, sealed: Buffer): Buffer | undefined {
  if (!looksSealed(sealed, magic)) return undefined;
  const salt = sealed.subarray(magic.length, magic.length + SALT_BYTES);
  const iv = sealed.subarray(magic.length + SALT_BYTES, magic.length + SALT_BYTES + IV_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', keyFrom(passphrase, salt), iv);
  decipher.setAAD(Buffer.concat([magic, salt, iv]));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(magic.length + SALT_BYTES + IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
  } catch {
    return undefined;
  }
}

/**
 * A passphrase from an environment variable or else a key file; undefined when neither is set.
 * Throws `makeError(message)` when the one given is too short or the file cannot be read.
 */
export async function passphraseFrom(options: { env: NodeJS.ProcessEnv; envName: string; keyFile?: string | undefined; makeError: (message: string) => Error }): Promise<string | undefined> {
  const fromEnv = options.env[options.envName];
  if (fromEnv === undefined && !options.keyFile) return undefined;
  const passphrase = fromEnv ?? (await readFile(options.keyFile!, 'utf8').catch(() => '')).trim();
  if (passphrase.length < MIN_PASSPHRASE_LENGTH) {
    throw options.makeError(`the key ${fromEnv !== undefined ? `in ${options.envName}` : `in ${options.keyFile}`} is shorter than ${MIN_PASSPHRASE_LENGTH} characters (or the file is missing); use a long random passphrase`);
  }
  return passphrase;
}
