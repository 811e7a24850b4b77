// Reads wa-crm-sync.yaml once: YAML, then ${ENV} interpolation, then validation.
// Every problem is reported with its key path and what to do about it.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { serviceConfigSchema, type Config } from './schema.js';

export interface ConnectorSettingsSchemas {
  readonly [connectorId: string]: z.ZodType<unknown>;
}

function keyPath(path: ReadonlyArray<PropertyKey>): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
}

function describeZodIssues(prefix: string, error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = keyPath([...(prefix ? [prefix] : []), ...issue.path]);
    if (issue.code === 'unrecognized_keys') {
      return `${path || '(top level)'}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')} (check the spelling against the README's config reference)`;
    }
    if (issue.code === 'invalid_type' && issue.input === undefined) {
      return `${path}: required (${issue.message})`;
    }
    return `${path || '(top level)'}: ${issue.message}`;
  });
}

const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replaces `${NAME}` and `${NAME:-default}` in every string value; unset names are errors. */
export function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv, path: string[] = [], problems: string[] = []): unknown {
  if (typeof value === 'string') {
    const whole = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}$/.exec(value);
    const replace = (name: string, fallback: string | undefined): string => {
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      problems.push(`${keyPath(path)}: environment variable ${name} is not set (export it, or add it to the service's environment file)`);
      return '';
    };
    if (whole) {
      // A value that is only a reference may turn into a number or boolean (e.g. port: ${PORT}).
      const text = replace(whole[1]!, whole[2]);
      if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
      if (text === 'true' || text === 'false') return text === 'true';
      return text;
    }
    return value.replace(ENV_REFERENCE, (_m, name: string, fallback: string | undefined) => replace(name, fallback));
  }
  if (Array.isArray(value)) return value.map((item, i) => interpolateEnv(item, env, [...path, String(i)], problems));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, interpolateEnv(v, env, [...path, k], problems)]),
    );
  }
  return value;
}

/** Connectors whose agents answer customers through WhatsApp. */
const REPLYING_CONNECTORS = ['zendesk'];

/** Validates an already-parsed config document. Throws ConfigError listing every problem. */
export function validateConfig(document: unknown, schemas: ConnectorSettingsSchemas, env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const interpolated = interpolateEnv(document ?? {}, env, [], problems);
  const parsed = serviceConfigSchema.safeParse(interpolated);
  // A key whose environment variable is missing is reported once, by name, not again as empty.
  const envPaths = new Set(problems.map((p) => p.slice(0, p.indexOf(':'))));
  const notEnvReported = (problem: string) => !envPaths.has(problem.slice(0, problem.indexOf(':')));
  if (!parsed.success) problems.push(...describeZodIssues('', parsed.error).filter(notEnvReported));

  const connectors: Record<string, { enabled: boolean; settings: unknown }> = {};
  if (parsed.success) {
    for (const [id, section] of Object.entries(parsed.data.connectors)) {
      const schema = schemas[id];
      if (!schema) {
        problems.push(`connectors.${id}: unknown connector; known connectors are ${Object.keys(schemas).sort().join(', ')}`);
        continue;
      }
      const settings = schema.safeParse(section);
      if (!settings.success) problems.push(...describeZodIssues(`connectors.${id}`, settings.error).filter(notEnvReported));
      else connectors[id] = { enabled: section.enabled, settings: settings.data };
    }
  }
  // Connectors that send replies on WhatsApp (a helpdesk) need the Cloud API token to send with.
  if (parsed.success && !parsed.data.whatsapp.accessToken) {
    for (const id of REPLYING_CONNECTORS) {
      if (connectors[id]?.enabled) problems.push(`whatsapp.accessToken: required when connectors.${id} is enabled (agents' replies are sent through the Cloud API with it)`);
    }
  }
  if (problems.length > 0 || !parsed.success) {
    throw new ConfigError(`invalid configuration:\n  - ${problems.join('\n  - ')}`, problems);
  }
  return { ...parsed.data, connectors };
}

/** Reads and validates the config file. */
export function loadConfig(path: string, schemas: ConnectorSettingsSchemas, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      `cannot read the config file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message} (pass --config PATH or set WA_CRM_SYNC_CONFIG)`,
    );
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`${path} is not valid YAML: ${(error as Error).message}`);
  }
  return validateConfig(document, schemas, env);
}

/** Key paths whose values differ between two configs; values are not shown (they may be secrets). */
export function changedKeys(before: unknown, after: unknown, path: string[] = []): string[] {
  if (before === after) return [];
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObject(before) && isObject(after)) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    return [...keys].flatMap((k) => changedKeys(before[k], after[k], [...path, k]));
  }
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  return [path.join('.') || '(root)'];
}
