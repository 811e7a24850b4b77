// Graceful shutdown through the real service process when nobody reads its log any more
// (`wa-crm-sync start | head`, a dead tee, a restarted log shipper): SIGTERM still ends it
// within server.shutdownTimeoutMs, with its in-flight operations handed back in the store.
import type { ChildProcess } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../core/store/store.js';
import { textWebhook } from '../helpers/fixtures.js';
import { Recorder } from '../helpers/recorder.js';
import { serviceWith, type ServiceProcess, waitFor } from '../helpers/service-process.js';

const SHUTDOWN_TIMEOUT_MS = 3000;
/** Slack for a machine shared by many test runs: the deadline itself is the service's to keep. */
const BUSY_MACHINE_SLACK_MS = 2000;

/** The reader of stdout and stderr goes away, as when `head` has read enough. */
async function closeLogReader(child: ChildProcess): Promise<void> {
  child.stdout!.destroy();
  child.stderr!.destroy();
  await new Promise((r) => setTimeout(r, 200));
}

/** Sends SIGTERM; resolves with how the process ended (or 'still running' past the deadline and slack) and how long it took. */
async function terminate(child: ChildProcess): Promise<{ outcome: { code: number | null; signal: NodeJS.Signals | null } | 'still running'; tookMs: number }> {
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const signalledAt = Date.now();
  child.kill('SIGTERM');
  const outcome = await Promise.race([exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), SHUTDOWN_TIMEOUT_MS + BUSY_MACHINE_SLACK_MS))]);
  return { outcome, tookMs: Date.now() - signalledAt };
}

describe('shutdown with the log reader gone', () => {
  const recorder = new Recorder();
  let service: ServiceProcess;
  let storeUrl: string;

  beforeEach(async () => {
    const recorderUrl = await recorder.start();
    ({ service } = await serviceWith(({ config }) => {
      storeUrl = (config['store'] as { url: string }).url;
      return {
        ...config,
        server: { ...(config['server'] as object), shutdownTimeoutMs: SHUTDOWN_TIMEOUT_MS },
        // Leases far longer than the test: only the shutdown itself can have handed them back.
        outbox: { leaseMs: 600_000, pollIntervalMs: 50, claimBatch: 100 },
        // A vendor call may take a minute: only the shutdown deadline can cut it short.
        connectors: { webhook: { enabled: true, url: recorderUrl, timeoutMs: 60_000 } },
      };
    }));
    await service.start();
  });

  afterEach(async () => {
    await service.kill('SIGKILL');
    await recorder.stop();
  });

  it('an idle service exits on SIGTERM when its last log lines meet a closed pipe', async () => {
    // Stopping an idle service logs twice in quick succession; the second line must not be
    // retried against the closed pipe for ever at exit.
    await closeLogReader(service.child!);
    const { outcome, tookMs } = await terminate(service.child!);
    expect(outcome).toEqual({ code: 0, signal: null });
    expect(tookMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS + BUSY_MACHINE_SLACK_MS);
  });

  it('exits on SIGTERM within the shutdown deadline, its in-flight operations released', { timeout: 60_000 }, async () => {
    // The vendor holds every request: the operations are still in flight when SIGTERM comes.
    recorder.delayMs = 120_000;
    for (let m = 0; m < 3; m++) {
      await service.deliver(textWebhook({ from: `4477009001${20 + m}`, id: `wamid.shutdown.${m}`, timestamp: 1_760_000_000 + m, body: `message ${m}` }));
    }
    // Each contact's first operation reaches the vendor and waits there.
    await waitFor(() => recorder.events.length >= 3, 20_000, 'the vendor to hold an operation of each contact');

    const store = await openStore(storeUrl);
    try {
      const inFlight = await store.db.selectFrom('outbox').select(['id', 'locked_by']).where('state', '=', 'in_flight').execute();
      expect(inFlight.length).toBeGreaterThanOrEqual(3);

      await closeLogReader(service.child!);
      const { outcome, tookMs } = await terminate(service.child!);
      expect(outcome).toEqual({ code: 0, signal: null });
      expect(tookMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS + BUSY_MACHINE_SLACK_MS);

      // Handed back: pending again, no lease held, nothing dead.
      const rows = await store.db.selectFrom('outbox').select(['id', 'state', 'locked_by', 'lease_until']).where('id', 'in', inFlight.map((r) => r.id)).execute();
      expect(rows).toHaveLength(inFlight.length);
      for (const row of rows) expect(row).toMatchObject({ state: 'pending', locked_by: null, lease_until: null });
      expect(await store.db.selectFrom('outbox').select('id').where('state', 'in', ['in_flight', 'dead']).execute()).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
