// Two service instances on one PostgreSQL store, as behind a load balancer: they share the
// deliveries and the outbox, and no operation is executed twice.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { textWebhook } from '../helpers/fixtures.js';
import { Recorder } from '../helpers/recorder.js';
import { baseConfig, freePort, holdsFor, outboxSettled, ServiceProcess, waitFor, writeConfig } from '../helpers/service-process.js';
import { freshStoreUrl, tempDir } from '../helpers/stores.js';

describe('two instances on one PostgreSQL', () => {
  const recorder = new Recorder();
  const instances: ServiceProcess[] = [];
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const store = freshStoreUrl('postgres');
    drop = store.drop;
    const recorderUrl = await recorder.start();
    recorder.delayMs = 5;
    for (const name of ['a', 'b']) {
      const dir = tempDir();
      const port = await freePort();
      const configPath = join(dir, `instance-${name}.yaml`);
      const config = baseConfig({ storeUrl: store.url, port, dir, recorderUrl });
      // Small claims make the two instances race for the same rows.
      writeConfig(configPath, { ...config, outbox: { leaseMs: 5000, pollIntervalMs: 20, claimBatch: 5 } });
      const instance = new ServiceProcess(configPath, port);
      instances.push(instance);
    }
    await Promise.all(instances.map((i) => i.start()));
  });

  afterAll(async () => {
    await Promise.all(instances.map((i) => i.kill('SIGTERM')));
    await recorder.stop();
    await drop();
  });

  it('drain one outbox with no operation executed twice', { timeout: 120_000 }, async () => {
    const total = 300;
    await Promise.all(
      Array.from({ length: 30 }, async (_, c) => {
        for (let m = 0; m < total / 30; m++) {
          // Alternate instances, as a load balancer would.
          const instance = instances[(c + m) % 2]!;
          await instance.deliver(textWebhook({ from: `4477009${String(10000 + c).slice(1)}`, id: `wamid.two.${c}.${m}`, timestamp: 1_760_000_000 + m, body: 'x' }));
        }
      }),
    );
    await waitFor(() => recorder.messages().length >= total, 60_000, 'all messages at the recorder');
    // Everything delivered and nothing left in the shared outbox; then a bounded quiet period for a late duplicate.
    await waitFor(() => outboxSettled(instances[0]!, 'webhook'), 30_000, 'the outbox drained');
    await holdsFor(() => recorder.messages().length === total, 1000, 'no late duplicate');
    expect([...recorder.posts.values()].filter((n) => n > 1)).toEqual([]);
    expect(recorder.messages()).toHaveLength(total);
    const byContact = new Map<string, number[]>();
    for (const e of recorder.messages()) {
      const [, , c, m] = String(e.data['messageId']).split('.');
      byContact.set(c!, [...(byContact.get(c!) ?? []), Number(m)]);
    }
    for (const order of byContact.values()) expect(order).toEqual([...Array(total / 30).keys()]);
  });
});
