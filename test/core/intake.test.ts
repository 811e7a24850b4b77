// The intake file beside a SQLite store (core/store/intake.ts): webhooks are acknowledged into it
// without waiting for the processing thread's turns at the store, and imported from it into
// webhook_deliveries exactly once, only once they are on disk; imported rows are deleted without
// their ids ever coming back; a backup holds what was acknowledged and not yet imported.
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import SQLite from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { DeliveryInbox } from '../../core/ingest.js';
import { writeBackup } from '../../core/store/backup.js';
import { acknowledgedNotImported, importAcknowledgedIntake, importIntake, intakeCursor, IntakeReader, IntakeWriter } from '../../core/store/intake.js';
import { openStore, sqliteFiles, type Store } from '../../core/store/store.js';
import { newThreadGateBuffer } from '../../core/store/thread-gate.js';
import { waitFor } from '../helpers/service-process.js';
import { freshStoreUrl, tempDir } from '../helpers/stores.js';

const durableMark = (writer: IntakeWriter) => Number(Atomics.load(new BigInt64Array(writer.durableMark), 0));
const deliveries = (store: Store) => store.db.selectFrom('webhook_deliveries').select(['id', 'source', 'body', 'received_at', 'state']).orderBy('id').execute();
const row = (n: number) => ({ source: 'whatsapp', body: `{"n":${n}}`, receivedAt: 1_760_000_000_000 + n });

describe('the intake file of a SQLite store', () => {
  const opened: Array<{ close(): unknown }> = [];
  afterEach(async () => {
    for (const item of opened.splice(0).reverse()) await item.close();
  });

  async function setUp(options: { pruneEveryMs?: number } = {}) {
    const { url } = freshStoreUrl('sqlite');
    const store = await openStore(url);
    opened.push(store);
    const writer = await IntakeWriter.open(store.intakeFile!, options);
    opened.push(writer);
    const reader = IntakeReader.open(store.intakeFile!)!;
    opened.push(reader);
    return { store, writer, reader };
  }

  it('imports each acknowledged row once, in order, and none before it is on disk', async () => {
    const { store, writer, reader } = await setUp();
    writer.append([row(1), row(2), row(3)]);
    // Committed but not flushed: a power cut could still take these rows (and their ids) away.
    expect(durableMark(writer)).toBe(0);
    expect(await importIntake(store, reader, durableMark(writer), 100)).toEqual({ imported: 0, upTo: 0 });
    // Waiting all the same (what `status` counts).
    expect(await acknowledgedNotImported(store)).toBe(3);
    await writer.flush();
    expect(durableMark(writer)).toBe(3);
    expect(await importIntake(store, reader, durableMark(writer), 2)).toEqual({ imported: 2, upTo: 2 });
    expect(await importIntake(store, reader, durableMark(writer), 100)).toEqual({ imported: 1, upTo: 3 });
    expect(await acknowledgedNotImported(store)).toBe(0);
    // Again, and from a second importer (a backup beside the service): nothing twice.
    expect(await importIntake(store, reader, durableMark(writer), 100)).toEqual({ imported: 0, upTo: 3 });
    const second = IntakeReader.open(store.intakeFile!)!;
    opened.push(second);
    expect(await importIntake(store, second, durableMark(writer), 100)).toEqual({ imported: 0, upTo: 3 });
    expect((await deliveries(store)).map((d) => ({ source: d.source, body: d.body, received_at: d.received_at, state: d.state }))).toEqual(
      [1, 2, 3].map((n) => ({ source: 'whatsapp', body: row(n).body, received_at: row(n).receivedAt, state: 'pending' })),
    );
  });

  it('deletes imported rows only once told they are imported, and never hands their ids out again', async () => {
    const { store, writer, reader } = await setUp({ pruneEveryMs: 0 });
    writer.append([row(1), row(2), row(3)]);
    await writer.flush();
    await importIntake(store, reader, 2, 100);
    expect(reader.rowsAfter(0, 100, 100).map((r) => r.id)).toEqual([1, 2, 3]);
    writer.imported(writer.generation, 2);
    await waitFor(() => reader.rowsAfter(0, 100, 100).length === 1, 5000, 'the imported rows deleted');
    expect(reader.rowsAfter(0, 100, 100).map((r) => r.id)).toEqual([3]);
    // Another intake file's cursor is not this one's: nothing is deleted for it.
    writer.imported('another-file', 3);
    await new Promise((r) => setTimeout(r, 50));
    expect(reader.rowsAfter(0, 100, 100).map((r) => r.id)).toEqual([3]);
    await importIntake(store, reader, 3, 100);
    writer.imported(writer.generation, 3);
    await waitFor(() => reader.rowsAfter(0, 100, 100).length === 0, 5000, 'every row deleted');
    // An empty table would give id 1 again without AUTOINCREMENT, and the cursor (3) would pass over it.
    const [next] = writer.append([row(4)]);
    expect(next).toBe(4);
    await writer.flush();
    expect(await importIntake(store, reader, durableMark(writer), 100)).toEqual({ imported: 1, upTo: 4 });
    expect((await deliveries(store)).map((d) => d.body)).toEqual([1, 2, 3, 4].map((n) => row(n).body));
  });

  it('keeps its place across a restart, and starts from 0 in an intake file made anew', async () => {
    const { store, writer, reader } = await setUp();
    writer.append([row(1), row(2)]);
    await writer.flush();
    await importIntake(store, reader, 2, 100);
    await writer.close();
    reader.close();
    opened.splice(opened.indexOf(writer), 1);
    opened.splice(opened.indexOf(reader), 1);
    const again = await IntakeWriter.open(store.intakeFile!);
    opened.push(again);
    // What the closed writer left is on disk and may be imported at once.
    expect(durableMark(again)).toBe(2);
    expect(again.waiting()).toBe(2);
    const rereader = IntakeReader.open(store.intakeFile!)!;
    opened.push(rereader);
    expect(await importIntake(store, rereader, durableMark(again), 100)).toEqual({ imported: 0, upTo: 2 });
    await again.close();
    rereader.close();
    opened.splice(opened.indexOf(again), 2);
    // The file is gone (an operator removed it, or a store restored beside no intake): a new one counts from 1 again.
    for (const file of sqliteFiles(store.intakeFile!)) rmSync(file, { force: true });
    const fresh = await IntakeWriter.open(store.intakeFile!);
    opened.push(fresh);
    expect(fresh.generation).not.toBe(again.generation);
    fresh.append([row(3)]);
    await fresh.flush();
    const freshReader = IntakeReader.open(store.intakeFile!)!;
    opened.push(freshReader);
    expect(await intakeCursor(store.db, fresh.generation)).toBe(0);
    expect(await importIntake(store, freshReader, durableMark(fresh), 100)).toEqual({ imported: 1, upTo: 1 });
    expect((await deliveries(store)).map((d) => d.body)).toEqual([1, 2, 3].map((n) => row(n).body));
  });

  it('goes into a backup when acknowledged and not yet imported, and is not imported twice after it', async () => {
    const { store, writer, reader } = await setUp();
    writer.append([row(1), row(2)]);
    await writer.flush();
    await importIntake(store, reader, 1, 100);
    writer.append([row(3)]);
    await writer.flush();
    const { counts } = await writeBackup(store, join(tempDir(), 'a.backup'), 'a passphrase of enough length');
    expect(counts['webhook_deliveries']).toBe(3);
    // Processing, running on beside the backup, finds nothing left to import.
    expect(await importIntake(store, reader, durableMark(writer), 100)).toEqual({ imported: 0, upTo: 3 });
    expect(await importAcknowledgedIntake(store)).toBe(0);
    expect((await deliveries(store)).map((d) => d.body)).toEqual([1, 2, 3].map((n) => row(n).body));
  });

  it("is the service's alone to read (0600 files), as the store is", async () => {
    const { writer } = await setUp();
    writer.append([row(1)]);
    await writer.flush();
    for (const file of sqliteFiles(writer.path)) expect(statSync(file).mode & 0o777, file).toBe(0o600);
  });

  it('is none for PostgreSQL and for a store in memory: their deliveries go to the store', async () => {
    const memory = await openStore('sqlite::memory:');
    opened.push(memory);
    expect(memory.intakeFile).toBeUndefined();
    const postgres = freshStoreUrl('postgres');
    const pgStore = await openStore(postgres.url);
    opened.push({ close: async () => (await pgStore.close(), await postgres.drop()) });
    expect(pgStore.intakeFile).toBeUndefined();
    expect(await importAcknowledgedIntake(pgStore)).toBe(0);
  });
});

describe('acknowledging a webhook while the processing thread holds the store', () => {
  let worker: Worker | undefined;
  const opened: Array<{ close(): unknown }> = [];
  afterEach(async () => {
    await worker?.terminate();
    worker = undefined;
    for (const item of opened.splice(0).reverse()) await item.close();
  });

  /** A thread joined to the store's gate as processing is, holding it in one transaction for `holdMs` at a time. */
  async function storeHeldByAnotherThread(holdMs: number): Promise<Store> {
    const { url } = freshStoreUrl('sqlite');
    const buffer = newThreadGateBuffer();
    const store = await openStore(url, { threadGate: { buffer, role: 'priority' } });
    opened.push(store);
    const source = new URL('../helpers/gate-worker.ts', import.meta.url).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    worker = new Worker(`import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(source)}); });`, { eval: true, workerData: { url, buffer, mode: 'hold', holdMs, gated: true } });
    await new Promise<void>((resolve) => worker!.on('message', (m: { type: string }) => m.type === 'holding' && resolve()));
    return store;
  }

  it('does not wait for its turn at the store with an intake file (and does without one)', { timeout: 30_000 }, async () => {
    const holdMs = 2000;
    const store = await storeHeldByAnotherThread(holdMs);
    const writer = await IntakeWriter.open(store.intakeFile!);
    opened.push(writer);
    const started = performance.now();
    await new DeliveryInbox(store, () => undefined, writer).accept('whatsapp', '{"n":1}');
    const withIntakeMs = performance.now() - started;
    expect(withIntakeMs).toBeLessThan(holdMs / 2);
    // The same acknowledgement into the store itself waits out the other thread's turn.
    const direct = performance.now();
    await new DeliveryInbox(store).accept('whatsapp', '{"n":2}');
    expect(performance.now() - direct).toBeGreaterThan(holdMs / 4);
    // It is on disk in the intake; the store holds only the one acknowledged directly.
    const file = new SQLite(store.intakeFile!, { readonly: true });
    expect(file.prepare('select body from intake').all()).toEqual([{ body: '{"n":1}' }]);
    file.close();
    expect((await deliveries(store)).map((d) => d.body)).toEqual(['{"n":2}']);
  });
});
