// The processing thread: deliveries the main thread commits are processed in a worker thread
// with its own store connection, on both stores; its log lines, alerts and queued operations
// reach the main thread; a reload reaches it; stop lets it finish and leaves the store usable.
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { connectorSettingsSchemas } from '../../connectors/registry.js';
import { loadConfig } from '../../core/config/load.js';
import { DeliveryInbox } from '../../core/ingest.js';
import { IntakeReader, IntakeWriter } from '../../core/store/intake.js';
import { createLogger } from '../../core/logger.js';
import { newThreadGateBuffer } from '../../core/store/thread-gate.js';
import { openStore, type Store } from '../../core/store/store.js';
import { ProcessingThread } from '../../server/processing-thread.js';
import { textWebhook } from '../helpers/fixtures.js';
import { baseConfig, waitFor, writeConfig } from '../helpers/service-process.js';
import { freshStoreUrl, STORE_KINDS, tempDir } from '../helpers/stores.js';

function capturedLogger(level: string): { log: ReturnType<typeof createLogger>; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger({ level, destination: sink }), lines };
}

describe.each(STORE_KINDS)('the processing thread on %s', (kind) => {
  let thread: ProcessingThread | undefined;
  let store: Store | undefined;
  let drop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await thread?.stop();
    await store?.close();
    await drop?.();
    await intake?.close();
    thread = store = drop = intake = undefined;
  });
  let intake: IntakeWriter | undefined;

  async function setUp(extra: Record<string, unknown> = {}, options: { intake?: boolean } = {}) {
    const dir = tempDir();
    const fresh = freshStoreUrl(kind);
    drop = fresh.drop;
    const configPath = join(dir, 'wa-crm-sync.yaml');
    writeConfig(configPath, { ...baseConfig({ storeUrl: fresh.url, port: 0, dir }), ...extra });
    const config = loadConfig(configPath, connectorSettingsSchemas, {});
    const storeGate = newThreadGateBuffer();
    store = await openStore(config.store.url, { threadGate: { buffer: storeGate, role: 'priority' } });
    const captured = capturedLogger(config.log.level);
    const alerts: string[] = [];
    if (options.intake) intake = await IntakeWriter.open(store.intakeFile!);
    const inbox = new DeliveryInbox(store, () => thread?.wake(), intake);
    thread = new ProcessingThread({ config, log: captured.log, onQueued: () => undefined, onAlert: (alertKind, severity) => alerts.push(`${alertKind}:${severity}`), storeGate, ...(intake ? { intake } : {}) });
    return { config, configPath, inbox, store, lines: captured.lines, alerts };
  }

  const pendingDeliveries = async (s: Store) => Number((await s.db.selectFrom('webhook_deliveries').select((eb) => eb.fn.countAll().as('n')).where('state', '=', 'pending').executeTakeFirstOrThrow()).n);

  it('processes the deliveries the main thread stored, in its own thread, and stops leaving the store usable', { timeout: 60_000 }, async () => {
    const { inbox, store: s } = await setUp();
    // Stored before the thread runs (as while it starts after the service listens): found all the same.
    await inbox.accept('whatsapp', textWebhook({ from: '15550000001', id: 'wamid.thread.0', timestamp: 1_760_000_000, body: 'before' }));
    thread!.start();
    for (let i = 1; i <= 20; i++) await inbox.accept('whatsapp', textWebhook({ from: `1555000000${i % 3}`, id: `wamid.thread.${i}`, timestamp: 1_760_000_000 + i, body: `message ${i}` }));
    await waitFor(async () => (await pendingDeliveries(s)) === 0, 45_000, 'every delivery processed');
    const messages = await s.db.selectFrom('messages').select('id').execute();
    expect(messages).toHaveLength(21);
    await thread!.stop();
    thread = undefined;
    // The thread's connection is closed: the main thread's writes go through at once.
    await inbox.accept('whatsapp', textWebhook({ from: '15550000001', id: 'wamid.thread.after', timestamp: 1_760_000_100, body: 'after' }));
    expect(await pendingDeliveries(s)).toBe(1);
  });

  it("writes its log lines through the main thread's logger, and takes a new log level on reconfigure", { timeout: 60_000 }, async () => {
    const { inbox, config, lines } = await setUp();
    thread!.start();
    await inbox.accept('whatsapp', '{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"messages":[{"from":"447700900461" "text":{"body":"x"}}]}}]}]}');
    await waitFor(() => lines.some((l) => l['msg'] === 'delivery flagged: parts were not understood'), 45_000, 'the flagged delivery logged');
    expect(lines.find((l) => l['msg'] === 'delivery flagged: parts were not understood')).toMatchObject({ level: 40, thread: 'processing', problems: 1 });
    await thread!.reconfigure({ ...config, log: { ...config.log, level: 'error' } });
    const before = lines.length;
    await inbox.accept('whatsapp', '{"not":"json"');
    // Its line would be posted before its commit, so once it is processed no warning came.
    await waitFor(async () => (await pendingDeliveries(store!)) === 0, 45_000, 'the second delivery processed');
    expect(lines.slice(before).filter((l) => l['thread'] === 'processing')).toEqual([]);
  });

  it('counts the alerts it raises in the main thread', { timeout: 60_000 }, async () => {
    const { inbox, alerts } = await setUp();
    thread!.start();
    const security = JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: 'WABA1', time: 1_760_000_000, changes: [{ field: 'security', value: { display_phone_number: '15550001111', event: 'PIN_CHANGED' } }] }] });
    await inbox.accept('whatsapp', security);
    await waitFor(() => alerts.length > 0, 45_000, 'the alert counted');
    expect(alerts[0]).toMatch(/^account_security:/);
  });

  it.runIf(kind === 'sqlite')('imports what the main thread acknowledged into the intake file, processes it once, and has the main thread delete it', { timeout: 60_000 }, async () => {
    const { inbox, store: s } = await setUp({}, { intake: true });
    // Acknowledged before the thread runs (as while it starts after the service listens): imported all the same.
    await inbox.accept('whatsapp', textWebhook({ from: '15550000001', id: 'wamid.intake.0', timestamp: 1_760_000_000, body: 'before' }));
    expect(await pendingDeliveries(s)).toBe(0);
    thread!.start();
    for (let i = 1; i <= 20; i++) await inbox.accept('whatsapp', textWebhook({ from: `1555000000${i % 3}`, id: `wamid.intake.${i}`, timestamp: 1_760_000_000 + i, body: `message ${i}` }));
    await waitFor(async () => (await s.db.selectFrom('messages').select('id').execute()).length === 21, 45_000, 'every acknowledged delivery processed');
    const reader = IntakeReader.open(s.intakeFile!)!;
    try {
      // Told how far the import is (on disk), the main thread deletes the rows; none is left waiting.
      await waitFor(() => reader.rowsAfter(0, Number.MAX_SAFE_INTEGER, 100).length === 0 && inbox.waiting() === 0, 15_000, 'the imported rows deleted');
    } finally {
      reader.close();
    }
    expect(await s.db.selectFrom('webhook_deliveries').select('id').execute()).toHaveLength(21);
    expect(await pendingDeliveries(s)).toBe(0);
  });
});
