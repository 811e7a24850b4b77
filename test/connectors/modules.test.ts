// External connector modules (connectors/modules.ts): what an entry of WA_CRM_SYNC_CONNECTOR_MODULES
// imports, and every problem reported at once, with nothing registered from a faulty list.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConnectorModules, moduleSpecifier } from '../../connectors/modules.js';
import { ConfigError } from '../../core/errors.js';
import { tempDir } from '../helpers/stores.js';

/** A module file exporting `source`, in a fresh folder. */
function moduleFile(name: string, source: string): string {
  const path = join(tempDir(), name);
  writeFileSync(path, source);
  return path;
}

const connectorSource = (id: string, as = 'export default') =>
  `${as} { metadata: { id: '${id}' }, settingsSchema: { safeParse: () => ({ success: true }) }, create: () => ({}) };`;

describe('connector modules', () => {
  it('imports paths from the working directory, URLs and package names as written', () => {
    expect(moduleSpecifier('./extra/desk.mjs', '/srv/app')).toBe(pathToFileURL('/srv/app/extra/desk.mjs').href);
    expect(moduleSpecifier('/opt/desk.mjs', '/srv/app')).toBe('file:///opt/desk.mjs');
    expect(moduleSpecifier('file:///opt/desk.mjs')).toBe('file:///opt/desk.mjs');
    expect(moduleSpecifier('@acme/wa-desk')).toBe('@acme/wa-desk');
  });

  it('registers a default export and a `connector` export by their ids; nothing set, nothing loaded', async () => {
    const one = moduleFile('one.mjs', connectorSource('one'));
    const two = moduleFile('two.mjs', connectorSource('two', 'export const connector ='));
    expect(Object.keys(await loadConnectorModules(` ${one} , ${two},`, ['zendesk']))).toEqual(['one', 'two']);
    expect(await loadConnectorModules(undefined, [])).toEqual({});
  });

  it('reports every faulty entry at once: not loadable, not a connector, an id already taken', async () => {
    const good = moduleFile('good.mjs', connectorSource('good'));
    const taken = moduleFile('taken.mjs', connectorSource('zendesk'));
    const notOne = moduleFile('not-one.mjs', 'export default { metadata: { id: "Bad Id" }, create: 1 };');
    const error = await loadConnectorModules([good, './missing.mjs', taken, notOne].join(','), ['whatsapp', 'zendesk'], tempDir()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    const { issues } = error as ConfigError;
    expect(issues).toHaveLength(3);
    expect(issues[0]).toMatch(/^WA_CRM_SYNC_CONNECTOR_MODULES: \.\/missing\.mjs could not be loaded: /);
    expect(issues[1]).toMatch(/taken\.mjs declares the connector id "zendesk", which is already taken \(taken: whatsapp, zendesk, good\)$/);
    expect(issues[2]).toMatch(/not-one\.mjs is not a connector: metadata\.id must be lower-case letters, digits and -, starting with a letter; settingsSchema must be a zod schema; create\(settings, dependencies\) is missing$/);
  });
});
