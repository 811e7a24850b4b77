// The unit tests of the modules under mutation (stryker.config.json): in-process only, since a
// mutant lives in the test process and a spawned service would run the unmutated code.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'test/core/signature.test.ts',
      'test/core/logger.test.ts',
      'test/core/admin/accounts.test.ts',
      'test/core/admin/roles-sessions.test.ts',
      'test/core/outbox-store.test.ts',
      'test/core/engine.test.ts',
    ],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    maxWorkers: 1,
  },
});
