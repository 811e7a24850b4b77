// The processing thread imports the connectors to plan operations and never calls a vendor: the
// CRM SDKs are loaded by a connector's first call, not by importing it (core/load-on-first-use.ts),
// so that thread does not carry them (about 16 MB of RSS). Checked on the built service (dist/).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../helpers/fixtures.js';

const SDKS = ['@hubspot/api-client', 'jsforce', 'node-zendesk'];

/**
 * The vendor SDKs whose entry module is loaded once `modules` are imported (they are CommonJS, so
 * listed in the require cache). A few of HubSpot's enum model files, imported on their own, are not the SDK.
 */
function sdksLoadedBy(modules: readonly string[]): string[] {
  const imports = modules.map((m) => `await import(${JSON.stringify(pathToFileURL(join(projectRoot, m)).href)});`).join('\n');
  const script = `${imports}
import { createRequire } from 'node:module';
const require = createRequire(${JSON.stringify(pathToFileURL(join(projectRoot, 'package.json')).href)});
console.log(JSON.stringify(${JSON.stringify(SDKS)}.filter((name) => require.resolve(name) in require.cache)));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: projectRoot, encoding: 'utf8' })) as string[];
}

describe('vendor SDKs', () => {
  it("are not loaded by importing what the processing thread imports (the connectors and the delivery parsers)", () => {
    expect(sdksLoadedBy(['dist/server/connectors.js', 'dist/connectors/registry.js'])).toEqual([]);
  });

  it('are seen by this check once something imports one (so the check above can fail)', () => {
    expect(sdksLoadedBy(['node_modules/jsforce/index.js'])).toEqual(['jsforce']);
  });
});
