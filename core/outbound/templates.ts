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
  /** Parameters outside the body (a text header's, a button URL's): sends that need them are refused here. */
  readonly otherParameters: number;
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

export type TemplateCheck =
  | { readonly ok: true; readonly template: MessageTemplate; readonly parameterNames: readonly string[] | null }
  | { readonly ok: false; readonly field: string; readonly error: string; readonly hint: string };

/**
 * Whether a template send can go out as asked: the template exists, is approved, in that
 * language, and gets exactly as many parameters as its body has (named templates by name).
 */
export function checkTemplate(
  templates: readonly MessageTemplate[],
  request: { readonly name: string; readonly language: string; readonly parameters: readonly string[] | Readonly<Record<string, string>> },
): TemplateCheck {
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
  if (template.otherParameters > 0) {
    return { ok: false, field: 'template.name', error: `template "${request.name}" has parameters outside its body (header or buttons), which this API does not fill`, hint: 'use a template whose only parameters are in the body' };
  }
  const expected = template.bodyParameters.length;
  if (Array.isArray(request.parameters)) {
    if (template.parameterFormat === 'NAMED' && expected > 0) {
      return { ok: false, field: 'template.parameters', error: `template "${request.name}" takes named parameters`, hint: `give an object: { ${template.bodyParameters.map((p) => `"${p}": "…"`).join(', ')} }` };
    }
    if (request.parameters.length !== expected) {
      return { ok: false, field: 'template.parameters', error: `template "${request.name}" takes ${expected} parameter${expected === 1 ? '' : 's'}, ${request.parameters.length} given`, hint: `its body: ${template.bodyText.slice(0, 300)}` };
    }
    return { ok: true, template, parameterNames: null };
  }
  const given = Object.keys(request.parameters);
  const missing = template.bodyParameters.filter((p) => !given.includes(p));
  const extra = given.filter((p) => !template.bodyParameters.includes(p));
  if (template.parameterFormat !== 'NAMED' || missing.length > 0 || extra.length > 0) {
    const want = template.parameterFormat === 'NAMED' ? `the names ${template.bodyParameters.join(', ')}` : `a list of ${expected}`;
    return { ok: false, field: 'template.parameters', error: `template "${request.name}" takes ${want}${missing.length > 0 ? `; missing ${missing.join(', ')}` : ''}${extra.length > 0 ? `; unknown ${extra.join(', ')}` : ''}`, hint: `its body: ${template.bodyText.slice(0, 300)}` };
  }
  return { ok: true, template, parameterNames: template.bodyParameters };
}
