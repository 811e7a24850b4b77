// Reads wa-crm-sync.yaml once: YAML, then ${ENV} interpolation, then validation.
// Every problem is reported with its key path and what to do about it.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { distance } from 'fastest-levenshtein';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { serviceConfigSchema, type Config } from './schema.js';

/** Per connector id: its settings schema, and whether its agents answer customers through WhatsApp (a helpdesk). */
export interface ConnectorSettingsSchemas {
  readonly [connectorId: string]: { readonly settings: z.ZodType<unknown>; readonly sendsReplies: boolean };
}

/** A key path as the YAML reads: `alerts.sinks[0].url`. */
function keyPath(path: ReadonlyArray<PropertyKey>): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
}

/**
 * The keys an object schema declares at `path` inside `schema`, looking through defaults,
 * optionals, pipes, arrays and records; undefined when the path does not lead to an object.
 */
function declaredKeysAt(schema: z.ZodType<unknown>, path: ReadonlyArray<PropertyKey>): string[] | undefined {
  // zod's definitions are read generically here: each wrapper keeps what it wraps in one field.
  let current = (schema as unknown as { _zod: { def: ZodDefinition } })._zod.def;
  const unwrap = (def: ZodDefinition): ZodDefinition => {
    for (let d = def; ; ) {
      const inner = d.innerType ?? d.in;
      if (!inner) return d;
      d = inner._zod.def;
    }
  };
  const objectsOf = (def: ZodDefinition): ZodDefinition[] =>
    def.type === 'union' ? (def.options ?? []).map((o) => unwrap(o._zod.def)).filter((o) => o.type === 'object') : def.type === 'object' ? [def] : [];
  for (const step of path) {
    current = unwrap(current);
    const holder = typeof step === 'string' ? objectsOf(current).find((o) => o.shape?.[step]) : undefined;
    if (holder && typeof step === 'string') current = holder.shape![step]!._zod.def;
    else if (current.type === 'array' && typeof step === 'number' && current.element) current = current.element._zod.def;
    else if (current.type === 'record' && current.valueType) current = current.valueType._zod.def;
    else return undefined;
  }
  const objects = objectsOf(unwrap(current));
  return objects.length > 0 ? [...new Set(objects.flatMap((o) => Object.keys(o.shape ?? {})))] : undefined;
}

interface ZodDefinition {
  readonly type: string;
  readonly shape?: Record<string, { _zod: { def: ZodDefinition } }>;
  readonly innerType?: { _zod: { def: ZodDefinition } };
  readonly in?: { _zod: { def: ZodDefinition } };
  readonly element?: { _zod: { def: ZodDefinition } };
  readonly valueType?: { _zod: { def: ZodDefinition } };
  readonly options?: ReadonlyArray<{ _zod: { def: ZodDefinition } }>;
}

/** The declared key a misspelt one most likely meant: same letters in another case, or a couple of edits away. */
export function closestKey(written: string, declared: readonly string[]): string | undefined {
  const lower = written.toLowerCase();
  const sameLetters = declared.find((k) => k.toLowerCase() === lower);
  if (sameLetters) return sameLetters;
  const letters = (k: string) => [...k.toLowerCase()].sort().join('');
  let best: { key: string; edits: number } | undefined;
  for (const key of declared) {
    // Two swapped letters (prot for port) count as one edit, not the two Levenshtein counts.
    const edits = letters(key) === letters(written) ? 1 : distance(lower, key.toLowerCase());
    if (!best || edits < best.edits) best = { key, edits };
  }
  // A short key two edits away is a different word, not a typo (port and host are).
  return best && best.edits <= Math.max(1, Math.min(3, Math.floor(written.length / 3))) ? best.key : undefined;
}

/** A JavaScript value's type as YAML users write it. */
function typeOfValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return typeof value;
}

function describeZodIssues(prefix: ReadonlyArray<PropertyKey>, schema: z.ZodType<unknown>, error: z.ZodError): string[] {
  return error.issues.flatMap((issue) => {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      const declared = declaredKeysAt(schema, issue.path) ?? [];
      return issue.keys.map((key) => {
        const suggestion = closestKey(key, declared);
        const hint = suggestion ? `did you mean ${keyPath([...path, suggestion])}?` : `known keys here: ${declared.join(', ')}`;
        return `${keyPath([...path, key])}: unknown key; ${hint}`;
      });
    }
    if (issue.code === 'invalid_type') {
      // Only the type is named, never the value: it may be a secret in the wrong place.
      const got = issue.input === undefined ? undefined : typeOfValue(issue.input);
      if (got === undefined) return [`${keyPath(path)}: required (expected ${issue.expected})`];
      return [`${keyPath(path)}: expected ${issue.expected}, got ${got}${issue.expected === 'boolean' && typeof issue.input === 'string' ? ' (write true or false without quotes)' : ''}`];
    }
    return [`${keyPath(path) || '(top level)'}: ${issue.message}`];
  });
}

/** An interpolation problem, with its key path kept as a list so it can be matched against sections. */
interface EnvProblem {
  readonly path: ReadonlyArray<PropertyKey>;
  readonly message: string;
}

const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
/** `$NAME` outside braces: taken literally, and almost always meant as `${NAME}`. */
const BARE_REFERENCE = /(?<![$\\])\$([A-Z_][A-Z0-9_]+)\b/g;

/** Replaces `${NAME}` and `${NAME:-default}` in every string value; unset names are problems, `$NAME` without braces a warning. */
export function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv, path: PropertyKey[] = [], problems: EnvProblem[] = [], warnings: string[] = []): unknown {
  if (typeof value === 'string') {
    for (const bare of value.replace(ENV_REFERENCE, '').matchAll(BARE_REFERENCE)) {
      warnings.push(`${keyPath(path)}: $${bare[1]} is taken literally; write \${${bare[1]}} to read the environment variable${env[bare[1]!] === undefined ? '' : ' (it is set)'}`);
    }
    const whole = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}$/.exec(value);
    const replace = (name: string, fallback: string | undefined): string => {
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      problems.push({ path, message: `${keyPath(path)}: environment variable ${name} is not set (export it, or add it to the service's environment file)` });
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
  if (Array.isArray(value)) return value.map((item, i) => interpolateEnv(item, env, [...path, i], problems, warnings));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateEnv(v, env, [...path, k], problems, warnings)]));
  }
  return value;
}

/** Deletes the value at `path` (a key of a mapping, or an item of a list) when it is there. */
function removeAt(document: unknown, path: ReadonlyArray<PropertyKey>): void {
  let parent = document;
  for (const step of path.slice(0, -1)) parent = parent !== null && typeof parent === 'object' ? (parent as Record<PropertyKey, unknown>)[step] : undefined;
  const last = path.at(-1);
  if (parent === null || typeof parent !== 'object' || last === undefined) return;
  if (Array.isArray(parent) && typeof last === 'number') parent.splice(last, 1, undefined);
  else delete (parent as Record<PropertyKey, unknown>)[last];
  // A mapping left empty (clientCredentials whose two variables are unset) goes too, up to the section.
  if (!Array.isArray(parent) && Object.keys(parent).length === 0 && path.length > 3) removeAt(document, path.slice(0, -1));
}

export interface ValidateOptions {
  /** Told of what is accepted but probably not meant (`$NAME` without braces). */
  readonly onWarning?: (warning: string) => void;
}

/** Validates an already-parsed config document. Throws ConfigError listing every problem. */
export function validateConfig(document: unknown, schemas: ConnectorSettingsSchemas, env: NodeJS.ProcessEnv = process.env, options: ValidateOptions = {}): Config {
  const envProblems: EnvProblem[] = [];
  const warnings: string[] = [];
  const interpolated = interpolateEnv(document ?? {}, env, [], envProblems, warnings) as Record<string, unknown> | null;
  // A disabled connector's credentials are not needed yet: its unset variables are not problems,
  // so the example config (every connector disabled) passes as shipped.
  const sections = (interpolated !== null && typeof interpolated === 'object' ? interpolated['connectors'] : undefined) as Record<string, { enabled?: unknown } | null> | undefined;
  const disabled = (p: EnvProblem) => p.path[0] === 'connectors' && typeof p.path[1] === 'string' && sections?.[p.path[1]]?.enabled !== true;
  const problems = envProblems.filter((p) => !disabled(p)).map((p) => p.message);
  // ...and their keys are left out, as if not written, rather than checked as empty strings.
  for (const p of envProblems.filter(disabled)) removeAt(interpolated, p.path);
  for (const w of warnings) options.onWarning?.(w);
  const parsed = serviceConfigSchema.safeParse(interpolated, { reportInput: true });
  // A key whose environment variable is missing is reported once, by name, not again as empty.
  const envPaths = new Set(envProblems.filter((p) => !disabled(p)).map((p) => keyPath(p.path)));
  const notEnvReported = (problem: string) => !envPaths.has(problem.slice(0, problem.indexOf(':')));
  if (!parsed.success) problems.push(...describeZodIssues([], serviceConfigSchema, parsed.error).filter(notEnvReported));

  const connectors: Record<string, { enabled: boolean; settings: unknown }> = {};
  // Each connector section is checked even when the rest of the file is wrong: all problems at once.
  for (const [id, section] of Object.entries(sections ?? {})) {
    if (section === null || typeof section !== 'object' || Array.isArray(section)) continue;
    {
      const schema = schemas[id]?.settings;
      if (!schema) {
        const suggestion = closestKey(id, Object.keys(schemas));
        problems.push(`connectors.${id}: unknown connector; ${suggestion ? `did you mean connectors.${suggestion}? ` : ''}known connectors are ${Object.keys(schemas).sort().join(', ')}`);
        continue;
      }
      const settings = schema.safeParse(section, { reportInput: true });
      if (!settings.success) problems.push(...describeZodIssues(['connectors', id], schema, settings.error).filter(notEnvReported));
      else connectors[id] = { enabled: (settings.data as { enabled: boolean }).enabled, settings: settings.data };
    }
  }
  // Connectors that send replies on WhatsApp (a helpdesk) need the Cloud API token to send with.
  if (parsed.success && !parsed.data.whatsapp.accessToken) {
    for (const [id, { sendsReplies }] of Object.entries(schemas)) {
      if (sendsReplies && connectors[id]?.enabled) problems.push(`whatsapp.accessToken: required when connectors.${id} is enabled (agents' replies are sent through the Cloud API with it)`);
    }
  }
  if (problems.length > 0 || !parsed.success) {
    const distinct = [...new Set(problems)];
    throw new ConfigError(`invalid configuration:\n  - ${distinct.join('\n  - ')}`, distinct);
  }
  return { ...parsed.data, connectors };
}

/** Reads and validates the config file. */
export function loadConfig(path: string, schemas: ConnectorSettingsSchemas, env: NodeJS.ProcessEnv = process.env, options: ValidateOptions = {}): Config {
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
  return validateConfig(document, schemas, env, options);
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
