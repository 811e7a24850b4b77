// Connectors from outside this repository: WA_CRM_SYNC_CONNECTOR_MODULES lists modules (paths,
// file: URLs or package names, comma-separated), each exporting a ConnectorFactory as `default`
// or `connector`. They are imported once at start and registered beside the built-in ones, so a
// fourth vendor is one folder (see connectors/README.md), not an edit of the service.
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ConnectorFactory } from '../core/connector.js';
import { ConfigError, errorMessage } from '../core/errors.js';

/** The environment variable naming the modules. */
export const CONNECTOR_MODULES_VARIABLE = 'WA_CRM_SYNC_CONNECTOR_MODULES';

/** What `import()` is given for one entry: URLs as written, paths from the working directory, package names as they are. */
export function moduleSpecifier(entry: string, cwd = process.cwd()): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(entry) && !/^[a-z]:[\\/]/i.test(entry)) return entry;
  if (entry.startsWith('.') || isAbsolute(entry)) return pathToFileURL(resolve(cwd, entry)).href;
  return entry;
}

/** The problems that keep `value` from being a ConnectorFactory, checked by shape (it was built against core's types, but not by our compiler). */
function factoryProblems(value: unknown): string[] {
  if (value === null || typeof value !== 'object') return ['exports no connector (export a ConnectorFactory as default or as `connector`)'];
  const problems: string[] = [];
  const metadata: unknown = Reflect.get(value, 'metadata');
  const id: unknown = metadata !== null && typeof metadata === 'object' ? Reflect.get(metadata, 'id') : undefined;
  if (typeof id !== 'string' || !/^[a-z][a-z0-9-]*$/.test(id)) problems.push('metadata.id must be lower-case letters, digits and -, starting with a letter');
  const schema: unknown = Reflect.get(value, 'settingsSchema');
  if (schema === null || typeof schema !== 'object' || typeof Reflect.get(schema, 'safeParse') !== 'function') problems.push('settingsSchema must be a zod schema');
  if (typeof Reflect.get(value, 'create') !== 'function') problems.push('create(settings, dependencies) is missing');
  const inbound: unknown = Reflect.get(value, 'inbound');
  if (inbound !== undefined) {
    const ok = inbound !== null && typeof inbound === 'object' && typeof Reflect.get(inbound, 'verify') === 'function' && typeof Reflect.get(inbound, 'parse') === 'function' && typeof Reflect.get(inbound, 'secretSetting') === 'string';
    if (!ok) problems.push('inbound must have secretSetting, missingSecretHint, verify() and parse()');
  }
  return problems;
}

/**
 * Imports the listed modules; every problem (a module that does not load, is not a connector, or
 * takes an id already used) is reported at once in one ConfigError, and none is registered.
 */
export async function loadConnectorModules(list: string | undefined, taken: readonly string[], cwd = process.cwd()): Promise<Record<string, ConnectorFactory<any>>> {
  // `any`: each factory has its own settings type; the config loader checks settings with the factory's own schema.
  const loaded: Record<string, ConnectorFactory<any>> = {};
  const problems: string[] = [];
  const entries = (list ?? '').split(',').map((e) => e.trim()).filter((e) => e !== '');
  for (const entry of entries) {
    let namespace: Record<string, unknown>;
    try {
      namespace = (await import(moduleSpecifier(entry, cwd))) as Record<string, unknown>;
    } catch (error) {
      problems.push(`${CONNECTOR_MODULES_VARIABLE}: ${entry} could not be loaded: ${errorMessage(error)}`);
      continue;
    }
    const factory = namespace['default'] ?? namespace['connector'];
    const wrong = factoryProblems(factory);
    if (wrong.length > 0) {
      problems.push(`${CONNECTOR_MODULES_VARIABLE}: ${entry} is not a connector: ${wrong.join('; ')}`);
      continue;
    }
    const connector = factory as ConnectorFactory<unknown>;
    const id = connector.metadata.id;
    if (taken.includes(id) || id in loaded) {
      problems.push(`${CONNECTOR_MODULES_VARIABLE}: ${entry} declares the connector id "${id}", which is already taken (taken: ${[...taken, ...Object.keys(loaded)].join(', ')})`);
      continue;
    }
    loaded[id] = connector;
  }
  if (problems.length > 0) throw new ConfigError(`connector modules refused:\n  - ${problems.join('\n  - ')}`, problems);
  return loaded;
}
