// The media directory: files named by the SHA-256 of their bytes, written whole (temporary file,
// then rename), so the same file is stored once and a crash never leaves half a file under its name.
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Stores the bytes under their hash (`sha256` when the caller computed it already); returns the path. */
export async function storeContentAddressed(dir: string, bytes: Uint8Array, sha256 = sha256Hex(bytes)): Promise<string> {
  // Customers' photos and documents: readable by the service's user only.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, sha256);
  const existing = await stat(path).catch(() => undefined);
  if (existing?.size === bytes.byteLength) return path;
  const temp = `${path}.${randomUUID()}.tmp`;
  await writeFile(temp, bytes, { mode: 0o600 });
  await rename(temp, path);
  return path;
}
