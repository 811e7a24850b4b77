// The real service for one describe block: a fresh SQLite store, the webhook connector posting to a
// recorder, started before the block's tests and stopped after them.
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { Recorder } from './recorder.js';
import { baseConfig, freePort, ServiceProcess, writeConfig } from './service-process.js';
import { freshStoreUrl, tempDir } from './stores.js';

export interface RecordedService {
  readonly recorder: Recorder;
  /** Set once the block's beforeAll has run. */
  service: ServiceProcess;
  configPath: string;
  /** The suite's store, for a test that sets up rows the service then finds. */
  storeUrl: string;
}

/** Call inside a `describe`: registers the start and the stop of the service with vitest. */
export function recordedServiceForSuite(): RecordedService {
  const suite = { recorder: new Recorder() } as RecordedService;
  beforeAll(async () => {
    const dir = tempDir();
    const recorderUrl = await suite.recorder.start();
    const port = await freePort();
    suite.configPath = join(dir, 'wa-crm-sync.yaml');
    suite.storeUrl = freshStoreUrl('sqlite').url;
    writeConfig(suite.configPath, baseConfig({ storeUrl: suite.storeUrl, port, dir, recorderUrl }));
    suite.service = new ServiceProcess(suite.configPath, port);
    await suite.service.start();
  });
  afterAll(async () => {
    await suite.service?.kill('SIGTERM');
    await suite.recorder.stop();
  });
  return suite;
}
