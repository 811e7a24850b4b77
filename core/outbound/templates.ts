// Message templates as the outbound API checks them: which exist, in which language, of which
// category, with how many parameters. The source (a connector) lists them; the list is kept for
// a while, so a burst of sends does not read it once per request.

export type TemplateCategory = 'MARKETING' | 'UTILITY' | 'AUTHENTICATION';

export interface MessageTemplate {
  readonly name: string;
  readonly language: string;
  /** `APPROVED` is the only status a send may use. */
  readonly status: string;
  readonly category: TemplateCategory | string;
  /** Positional ({{1}}) or named ({{first_name}}) parameters. */
  readonly parameterFormat: 'POSITIONAL' | 'NAMED';
  /** The body's parameters in order (for named ones, their names; for positional ones, "1", "2", …). */
  readonly bodyParameters: readonly string[];
  /** A text header's parameters (at most one; its name, or "1"). */
  readonly headerParameters: readonly string[];
  /** The text header ('' when none), shown in refusals' hints. */
  readonly headerText: string;
  /** The position (0-based, among all the template's buttons) of each URL button whose URL ends in a parameter: each needs its suffix. */
  readonly urlButtons: readonly number[];
  /** A header of another format (IMAGE, VIDEO, DOCUMENT, LOCATION) needs a media parameter, which this API does not fill. */
  readonly mediaHeader: string | null;
  /** The body text, shown by `wa-crm-sync templates` and logged on CRM records with the parameters filled in. */
  readonly bodyText: string;
}

/** Where templates come from (the messaging connector's account). */
export interface TemplateSource {
  listTemplates(): Promise<readonly MessageTemplate[]>;
}

/** The placeholders of a template text in order of first use: `{{1}}`, `{{name}}`. */
export function placeholdersOf(text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g)) if (!found.includes(match[1]!)) found.push(match[1]!);
  return found;
}

/** The body with its parameters filled in: what the customer reads, as the CRM timeline shows it. */
export function renderTemplateBody(template: MessageTemplate, parameters: readonly string[]): string {
  return template.bodyText.replace(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g, (whole, name: string) => {
    const index = template.bodyParameters.indexOf(name);
    return index >= 0 && parameters[index] !== undefined ? parameters[index]! : whole;
  });
}

/** Keeps a source's list for `ttlMs`; one read at a time, whoever asks meanwhile waits for it. */
export class TemplateCache {
  readonly #source: () => TemplateSource | undefined;
  readonly #ttlMs: () => number;
  #cached: { at: number; templates: readonly MessageTemplate[] } | undefined;
  #reading: Promise<readonly MessageTemplate[]> | undefined;

  constructor(source: () => TemplateSource | undefined, ttlMs: () => number) {
    this.#source = source;
    this.#ttlMs = ttlMs;
  }

  /** The templates, read again when the kept list is older than the TTL; undefined when there is no source. */
  async templates(now = Date.now()): Promise<readonly MessageTemplate[] | undefined> {
    const source = this.#source();
    if (!source) return undefined;
    if (this.#cached && now - this.#cached.at < this.#ttlMs()) return this.#cached.templates;
    this.#reading ??= source
      .listTemplates()
      .then((templates) => {
        this.#cached = { at: Date.now(), templates };
        return templates;
      })
      .finally(() => {
        this.#reading = undefined;
      });
    return this.#reading;
  }

  /** Forgets the kept list (a template was just approved, or the config changed). */
  clear(): void {
    this.#cached = undefined;
  }
}

/** What a request gives a template: body parameters, a text header's, and URL buttons' suffixes. */
export interface TemplateRequest {
  readonly name: string;
  readonly language: string;
  readonly parameters: readonly string[] | Readonly<Record<string, string>>;
  readonly header?: readonly string[] | Readonly<Record<string, string>>;
  readonly buttons?: ReadonlyArray<{ readonly index: number; readonly urlSuffix: string }>;
}

export type TemplateCheck =
  | { readonly ok: true; readonly template: MessageTemplate; readonly parameterNames: readonly string[] | null; readonly headerNames: readonly string[] | null }
  | { readonly ok: false; readonly field: string; readonly error: string; readonly hint: string };

type Refusal = Extract<TemplateCheck, { ok: false }>;

/**
 * Whether one part's parameters (the body's, the header's) match the template: a list of as
 * many for positional templates, an object with exactly the names for named ones. Returns the
 * names in order for named parameters, null for positional ones.
 */
function checkParameters(
  template: MessageTemplate,
  part: { readonly field: string; readonly what: string; readonly expected: readonly string[]; readonly text: string },
  given: readonly string[] | Readonly<Record<string, string>>,
): Refusal | { readonly names: readonly string[] | null } {
  const { field, what, expected, text } = part;
  const hint = `its ${what}: ${text.slice(0, 300)}`;
  if (Array.isArray(given)) {
    if (template.parameterFormat === 'NAMED' && expected.length > 0) {
      return { ok: false, field, error: `template "${template.name}" takes named ${what} parameters`, hint: `give an object: { ${expected.map((p) => `"${p}": "…"`).join(', ')} }` };
    }
    if (given.length !== expected.length) {
      return { ok: false, field, error: `template "${template.name}" takes ${expected.length} ${what} parameter${expected.length === 1 ? '' : 's'}, ${given.length} given`, hint };
    }
    return { names: null };
  }
  const names = Object.keys(given);
  const missing = expected.filter((p) => !names.includes(p));
  const extra = names.filter((p) => !expected.includes(p));
  if (template.parameterFormat !== 'NAMED' || missing.length > 0 || extra.length > 0) {
    const want = template.parameterFormat === 'NAMED' ? (expected.length > 0 ? `the ${what} names ${expected.join(', ')}` : `no ${what} parameters`) : `a list of ${expected.length} ${what} parameter${expected.length === 1 ? '' : 's'}`;
    return { ok: false, field, error: `template "${template.name}" takes ${want}${missing.length > 0 ? `; missing ${missing.join(', ')}` : ''}${extra.length > 0 ? `; unknown ${extra.join(', ')}` : ''}`, hint };
  }
  return { names: expected };
}

/** Each URL button with a parameter gets exactly one suffix, by its position; no other button gets one. */
function checkButtons(template: MessageTemplate, buttons: NonNullable<TemplateRequest['buttons']>): Refusal | undefined {
  const seen = new Set<number>();
  for (const [i, button] of buttons.entries()) {
    if (!template.urlButtons.includes(button.index)) {
      const which = template.urlButtons.length > 0 ? `its URL buttons with a parameter are at index ${template.urlButtons.join(', ')}` : 'it has no URL button with a parameter';
      return { ok: false, field: `template.buttons[${i}].index`, error: `template "${template.name}" has no URL button with a parameter at index ${button.index}`, hint: `${which} (counting every button from 0)` };
    }
    if (seen.has(button.index)) return { ok: false, field: `template.buttons[${i}].index`, error: `button ${button.index} is given twice`, hint: 'give each URL button one urlSuffix' };
    seen.add(button.index);
  }
  const missing = template.urlButtons.filter((index) => !seen.has(index));
  if (missing.length > 0) {
    return { ok: false, field: 'template.buttons', error: `template "${template.name}" has a URL button ending in a parameter at index ${missing.join(', ')}, and no urlSuffix was given for it`, hint: `give "buttons": [${missing.map((index) => `{ "index": ${index}, "urlSuffix": "…" }`).join(', ')}] (the part of the URL after the template's fixed start)` };
  }
  return undefined;
}

/**
 * Whether a template send can go out as asked: the template exists, is approved, in that
 * language, and gets exactly the parameters its body and text header have (named templates by
 * name) and a URL suffix for each URL button that ends in a parameter.
 */
export function checkTemplate(templates: readonly MessageTemplate[], request: TemplateRequest): TemplateCheck {
  const named = templates.filter((t) => t.name === request.name);
  if (named.length === 0) {
    return { ok: false, field: 'template.name', error: `no template named "${request.name}" in the WhatsApp Business Account`, hint: 'list the approved templates with `wa-crm-sync templates` and use one of their names' };
  }
  const template = named.find((t) => t.language === request.language);
  if (!template) {
    return { ok: false, field: 'template.language', error: `template "${request.name}" has no "${request.language}" version`, hint: `use one of: ${named.map((t) => t.language).join(', ')}` };
  }
  if (template.status !== 'APPROVED') {
    return { ok: false, field: 'template.name', error: `template "${request.name}" (${request.language}) is ${template.status}, not APPROVED`, hint: 'only approved templates can be sent; wait for approval or use another template' };
  }
  if (template.mediaHeader) {
    return { ok: false, field: 'template.name', error: `template "${request.name}" has a ${template.mediaHeader} header, which this API does not fill`, hint: 'use a template with a text header or none' };
  }
  const body = checkParameters(template, { field: 'template.parameters', what: 'body', expected: template.bodyParameters, text: template.bodyText }, request.parameters);
  if ('ok' in body) return body;
  const header = checkParameters(template, { field: 'template.header', what: 'header', expected: template.headerParameters, text: template.headerText || '(no text header)' }, request.header ?? []);
  if ('ok' in header) return header;
  const buttons = checkButtons(template, request.buttons ?? []);
  if (buttons) return buttons;
  return { ok: true, template, parameterNames: body.names, headerNames: header.names };
}
