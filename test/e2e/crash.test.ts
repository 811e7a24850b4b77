// Crash safety through the real service process: 500 messages, SIGKILL at random points of
// ingestion and dispatch, restart each time; every message reaches the vendor exactly once,
// in per-contact order.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { textWebhook } from '../helpers/fixtures.js';
import { Recorder } from '../helpers/recorder.js';
import { baseConfig, freePort, holdsFor, outboxSettled, ServiceProcess, waitFor, writeConfig } from '../helpers/service-process.js';
import { freshStoreUrl, STORE_KINDS, tempDir } from '../helpers/stores.js';

const CONTACTS = 50;
const PER_CONTACT = 10;
const KILLS = 10;

describe.each(STORE_KINDS)('crash safety on %s', (kind) => {
  const recorder = new Recorder();
  let service: ServiceProcess;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const dir = tempDir();
    const store = freshStoreUrl(kind);
    drop = store.drop;
    const recorderUrl = await recorder.start();
    // A slow vendor keeps a backlog of operations in flight when the kills land.
    recorder.delayMs = 60;
    const port = await freePort();
    const configPath = join(dir, 'wa-crm-sync.yaml');
    writeConfig(configPath, baseConfig({ storeUrl: store.url, port, dir, recorderUrl }));
    service = new ServiceProcess(configPath, port);
    await service.start();
  });

  afterAll(async () => {
    await service.kill('SIGTERM');
    await recorder.stop();
    await drop();
  });

  it(`delivers ${CONTACTS * PER_CONTACT} messages exactly once, in order, through ${KILLS} SIGKILLs`, { timeout: 240_000 }, async () => {
    const base = 1_760_000_000;
    let sendingDone = false;
    // Like Meta: one contact's messages in order, each retried until acknowledged; contacts in parallel.
    const senders = Array.from({ length: CONTACTS }, async (_, c) => {
      const from = `1555${String(1000000 + c).slice(1)}`;
      for (let m = 0; m < PER_CONTACT; m++) {
        await service.deliver(textWebhook({ from, id: `wamid.crash.${c}.${m}`, timestamp: base + m, body: `message ${m}` }), 180_000);
        await new Promise((r) => setTimeout(r, Math.random() * 600));
      }
    });
    const sending = Promise.all(senders).then(() => (sendingDone = true));
    const total = CONTACTS * PER_CONTACT;

    // Phase 1: kills at random moments while webhooks are arriving (and dispatch runs behind them).
    let killsDuringIngestion = 0;
    while (killsDuringIngestion < KILLS / 2 && !sendingDone) {
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 600));
      await service.kill('SIGKILL');
      killsDuringIngestion++;
      await service.start();
    }
    await sending;
    // Phase 2: kills while the backlog is being dispatched, each after some progress.
    let killsDuringDispatch = 0;
    let kills = killsDuringIngestion;
    while (kills < KILLS) {
      const seen = recorder.messages().length;
      await waitFor(() => recorder.messages().length > seen || seen >= total, 30_000, 'dispatch progress');
      await new Promise((r) => setTimeout(r, Math.random() * 300));
      if (recorder.messages().length < total) killsDuringDispatch++;
      await service.kill('SIGKILL');
      kills++;
      await service.start();
    }
    await waitFor(() => recorder.messages().length >= CONTACTS * PER_CONTACT, 120_000, 'every message at the recorder');
    // Before judging: nothing left to send or under way (a re-send after the last kill would be
    // among those), then a bounded quiet period in which no late duplicate arrives.
    await waitFor(() => outboxSettled(service, 'webhook'), 60_000, 'the outbox drained');
    const postsSoFar = () => [...recorder.posts.values()].reduce((a, b) => a + b, 0);
    const settledPosts = postsSoFar();
    await holdsFor(() => postsSoFar() === settledPosts, 1000, 'no post after the outbox drained');

    const messages = recorder.messages();
    const duplicates = [...recorder.posts.entries()].filter(([, n]) => n > 1);
    expect(duplicates).toEqual([]);
    expect(messages).toHaveLength(CONTACTS * PER_CONTACT);
    const byContact = new Map<string, number[]>();
    for (const event of messages) {
      const id = String(event.data['messageId']);
      const [, , c, m] = id.split('.');
      byContact.set(c!, [...(byContact.get(c!) ?? []), Number(m)]);
    }
    expect(byContact.size).toBe(CONTACTS);
    for (const order of byContact.values()) expect(order).toEqual([...Array(PER_CONTACT).keys()]);
    // Each contact's record arrived before its first message.
    for (const event of recorder.events.filter((e) => e.type === 'contact')) {
      const first = messages.find((m) => m.data['contactId'] === event.data['contactId']);
      expect(recorder.events.indexOf(event)).toBeLessThan(recorder.events.indexOf(first!));
    }
    expect(kills).toBeGreaterThanOrEqual(KILLS);
    expect(killsDuringIngestion).toBeGreaterThanOrEqual(3);
    expect(killsDuringDispatch).toBeGreaterThanOrEqual(3);
    console.log(`${kind}: ${kills} SIGKILLs (${killsDuringIngestion} during ingestion, ${killsDuringDispatch} during dispatch), ${recorder.lookups} reconcile look-ups`);
  });
});
