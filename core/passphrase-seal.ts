// Authenticated encryption under a passphrase, for backups and for secrets kept in the store:
// AES-256-GCM with a key derived by scrypt from the passphrase and a random salt. A sealed value
// is `magic | salt | iv | ciphertext | tag`; the magic, salt and iv are authenticated too, so
// a value cannot be passed off as another kind or have its header swapped.
import { createCipheriv, createDecipheriv, createHash, randomBytes, scrypt, scryptSync, type CipherGCM, type Decipher } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const SALT_BYTES = 16;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Passphrases shorter than this are refused: they would be the weak link. */
export const MIN_PASSPHRASE_LENGTH = 16;

const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const scryptAsync = promisify(scrypt) as (passphrase: string, salt: Buffer, keylen: number, options: typeof SCRYPT) => Promise<Buffer>;

function keyFrom(passphrase: string, salt: Buffer): Buffer {
  return scryptSync(passphrase, salt, 32, SCRYPT);
}

/**
 * Derived keys of small secrets opened again and again (TOTP secrets at each sign-in), by
 * passphrase and salt: scrypt is slow on purpose, and a sign-in must not pay it every time.
 */
const derivedKeys = new Map<string, Buffer>();
const DERIVED_KEYS_KEPT = 256;

async function cachedKeyFrom(passphrase: string, salt: Buffer): Promise<Buffer> {
  const id = createHash('sha256').update(passphrase).update(salt).digest('hex');
  const known = derivedKeys.get(id);
  if (known) return known;
  const key = await scryptAsync(passphrase, salt, 32, SCRYPT);
  if (derivedKeys.size >= DERIVED_KEYS_KEPT) derivedKeys.delete(derivedKeys.keys().next().value!);
  derivedKeys.set(id, key);
  return key;
}

/** A cipher for a new sealed value, and the head (magic, salt, iv) to write before its output. */
function cipherFor(key: Buffer, magic: Buffer, salt: Buffer): { head: Buffer; cipher: CipherGCM } {
  const iv = randomBytes(IV_BYTES);
  const head = Buffer.concat([magic, salt, iv]);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(head);
  return { head, cipher };
}

function saltOf(sealed: Buffer, magic: Buffer): Buffer {
  return sealed.subarray(magic.length, magic.length + SALT_BYTES);
}

/** A decipher for the ciphertext that follows `head`; its `final` throws unless `tag` matches. */
function decipherFor(key: Buffer, magic: Buffer, head: Buffer, tag: Buffer): Decipher {
  const decipher = createDecipheriv('aes-256-gcm', key, head.subarray(magic.length + SALT_BYTES, magic.length + SALT_BYTES + IV_BYTES));
  decipher.setAAD(head.subarray(0, magic.length + SALT_BYTES + IV_BYTES));
  decipher.setAuthTag(tag);
  return decipher;
}

function sealWith(key: Buffer, salt: Buffer, magic: Buffer, plain: Buffer): Buffer {
  const { head, cipher } = cipherFor(key, magic, salt);
  return Buffer.concat([head, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
}

function unsealWith(key: Buffer, magic: Buffer, sealed: Buffer): Buffer | undefined {
  const { head, tag } = sealedFraming(magic);
  const decipher = decipherFor(key, magic, sealed.subarray(0, head), sealed.subarray(sealed.length - tag));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(head, sealed.length - tag)), decipher.final()]);
  } catch {
    return undefined;
  }
}

/**
 * Seals a value too large to hold in memory (a backup), in the same format as `sealSecret`: write
 * `head`, then everything that comes out of `cipher`, then `tag()` once the cipher has ended.
 */
export function sealingStream(passphrase: string, magic: Buffer): { head: Buffer; cipher: CipherGCM; tag: () => Buffer } {
  const salt = randomBytes(SALT_BYTES);
  const { head, cipher } = cipherFor(keyFrom(passphrase, salt), magic, salt);
  return { head, cipher, tag: () => cipher.getAuthTag() };
}

/** Bytes before the ciphertext (magic, salt, iv) and after it (the tag), for reading a sealed file in parts. */
export function sealedFraming(magic: Buffer): { head: number; tag: number } {
  return { head: magic.length + SALT_BYTES + IV_BYTES, tag: TAG_BYTES };
}

/**
 * Opens a value sealed by `sealingStream` piece by piece: feed it the ciphertext; it throws at the
 * end (on `final`) if the passphrase is wrong or anything was altered, so act on what comes out
 * only where that can still be undone.
 */
export function unsealingStream(passphrase: string, magic: Buffer, head: Buffer, tag: Buffer): Decipher {
  return decipherFor(keyFrom(passphrase, saltOf(head, magic)), magic, head, tag);
}

/** Whether `sealed` starts with `magic` and is long enough to be a sealed value at all. */
export function looksSealed(sealed: Buffer, magic: Buffer): boolean {
  return sealed.length >= magic.length + SALT_BYTES + IV_BYTES + TAG_BYTES && sealed.subarray(0, magic.length).equals(magic);
}

/** Seals a small secret; the key is derived off the event loop and kept for opening it again. */
export async function sealSecret(passphrase: string, magic: Buffer, plain: Buffer): Promise<Buffer> {
  const salt = randomBytes(SALT_BYTES);
  return sealWith(await cachedKeyFrom(passphrase, salt), salt, magic, plain);
}

/** Opens a small secret sealed by sealSecret; undefined when the passphrase is wrong or the value was altered. */
export async function unsealSecret(passphrase: string, magic: Buffer, sealed: Buffer): Promise<Buffer | undefined> {
  if (!looksSealed(sealed, magic)) return undefined;
  return unsealWith(await cachedKeyFrom(passphrase, saltOf(sealed, magic)), magic, sealed);
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
